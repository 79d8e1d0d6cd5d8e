//! What a run measured: latencies per request kind with their percentiles,
//! counts of outcomes and of errors by kind, and the phase's duration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// The latencies of one kind of request, in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    /// Records one request's latency.
    pub fn record(&mut self, latency: Duration) {
        self.0
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    /// The distribution's summary; `None` when nothing was recorded.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.0.is_empty() {
            return None;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let ms = |micros: u32| f64::from(micros) / 1000.0;
        let total: u64 = sorted.iter().map(|&m| u64::from(m)).sum();
        Some(LatencySummary {
            count: sorted.len() as u64,
            mean_ms: total as f64 / sorted.len() as f64 / 1000.0,
            p50_ms: ms(percentile(&sorted, 50.0)),
            p90_ms: ms(percentile(&sorted, 90.0)),
            p99_ms: ms(percentile(&sorted, 99.0)),
            max_ms: ms(sorted[sorted.len() - 1]),
        })
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted, non-empty values:
/// the smallest value that at least `p` % of the values do not exceed.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// How many requests.
    pub count: u64,
    /// Their mean latency.
    pub mean_ms: f64,
    /// The median.
    pub p50_ms: f64,
    /// The 90th percentile.
    pub p90_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// The slowest.
    pub max_ms: f64,
}

/// Everything one phase recorded.
#[derive(Debug, Clone, Default)]
pub struct PhaseStats {
    /// Latencies by request kind (`enroll`, `checkin`, `full_upload` …).
    pub latencies: BTreeMap<&'static str, Latencies>,
    /// Outcomes by name (`unchanged`, `delta_upload`, …).
    pub counts: BTreeMap<&'static str, u64>,
    /// Failed requests by request kind and error kind.
    pub errors: BTreeMap<String, u64>,
}

impl PhaseStats {
    /// Records a request's latency.
    pub fn latency(&mut self, request: &'static str, latency: Duration) {
        self.latencies.entry(request).or_default().record(latency);
    }

    /// Counts one outcome.
    pub fn count(&mut self, outcome: &'static str) {
        *self.counts.entry(outcome).or_default() += 1;
    }

    /// Counts one failed request.
    pub fn error(&mut self, request: &str, kind: &str) {
        *self.errors.entry(format!("{request}: {kind}")).or_default() += 1;
    }

    /// Adds another recorder's numbers to these.
    pub fn merge(&mut self, other: PhaseStats) {
        for (request, latencies) in other.latencies {
            self.latencies
                .entry(request)
                .or_default()
                .0
                .extend(latencies.0);
        }
        for (outcome, n) in other.counts {
            *self.counts.entry(outcome).or_default() += n;
        }
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
    }

    /// The phase's report, for a phase that took `elapsed`.
    pub fn report(&self, name: &str, elapsed: Duration) -> PhaseReport {
        let seconds = elapsed.as_secs_f64();
        let per_second = |n: u64| {
            if seconds > 0.0 {
                n as f64 / seconds
            } else {
                0.0
            }
        };
        PhaseReport {
            phase: name.to_owned(),
            seconds,
            counts: self
                .counts
                .iter()
                .map(|(&k, &n)| (k.to_owned(), n))
                .collect(),
            rates: self
                .counts
                .iter()
                .map(|(&k, &n)| (k.to_owned(), per_second(n)))
                .collect(),
            latency: self
                .latencies
                .iter()
                .filter_map(|(&k, l)| Some((k.to_owned(), l.summary()?)))
                .collect(),
            errors: self.errors.clone(),
        }
    }
}

/// One phase's results, as printed and as `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseReport {
    /// `enroll`, `initial` or `steady`.
    pub phase: String,
    /// How long it took.
    pub seconds: f64,
    /// Outcomes by name.
    pub counts: BTreeMap<String, u64>,
    /// Outcomes per second of the phase.
    pub rates: BTreeMap<String, f64>,
    /// Latencies by request kind.
    pub latency: BTreeMap<String, LatencySummary>,
    /// Failed requests by `request: kind`.
    pub errors: BTreeMap<String, u64>,
}

impl PhaseReport {
    /// The report as a human-readable table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "phase {} ({:.1} s)", self.phase, self.seconds);
        for (name, n) in &self.counts {
            let rate = self.rates.get(name).copied().unwrap_or(0.0);
            let _ = writeln!(out, "  {name:<22} {n:>10}  {rate:>10.1}/s");
        }
        if !self.latency.is_empty() {
            let _ = writeln!(
                out,
                "  {:<22} {:>10} {:>9} {:>9} {:>9} {:>9}",
                "latency (ms)", "count", "p50", "p90", "p99", "max"
            );
            for (request, l) in &self.latency {
                let _ = writeln!(
                    out,
                    "  {request:<22} {:>10} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                    l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
                );
            }
        }
        if self.errors.is_empty() {
            let _ = writeln!(out, "  no errors");
        } else {
            let _ = writeln!(out, "  errors");
            for (kind, n) in &self.errors {
                let _ = writeln!(out, "    {kind:<40} {n:>8}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), 50);
        assert_eq!(percentile(&sorted, 90.0), 90);
        assert_eq!(percentile(&sorted, 99.0), 99);
        assert_eq!(percentile(&sorted, 100.0), 100);
        assert_eq!(percentile(&[7], 1.0), 7);
        assert_eq!(percentile(&[1, 2, 3], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
        // One slow request in a hundred shows at p99 only when it is the
        // hundredth percentile's own.
        let mut tail = vec![1; 99];
        tail.push(1000);
        assert_eq!(percentile(&tail, 99.0), 1);
        assert_eq!(percentile(&tail, 100.0), 1000);
    }

    #[test]
    fn summaries_are_in_milliseconds() {
        let mut l = Latencies::default();
        assert_eq!(l.summary(), None);
        for ms in [3, 1, 2, 10] {
            l.record(Duration::from_millis(ms));
        }
        let s = l.summary().unwrap();
        assert_eq!(s.count, 4);
        assert_eq!((s.p50_ms, s.p90_ms, s.max_ms), (2.0, 10.0, 10.0));
        assert_eq!(s.mean_ms, 4.0);
    }

    #[test]
    fn phases_merge_and_report_rates_and_errors() {
        let mut a = PhaseStats::default();
        a.count("unchanged");
        a.latency("checkin", Duration::from_millis(4));
        let mut b = PhaseStats::default();
        b.count("unchanged");
        b.count("delta_upload");
        b.latency("checkin", Duration::from_millis(8));
        b.error("checkin", "503 unavailable");
        a.merge(b);
        let report = a.report("steady", Duration::from_secs(2));
        assert_eq!(report.counts["unchanged"], 2);
        assert_eq!(report.rates["unchanged"], 1.0);
        assert_eq!(report.rates["delta_upload"], 0.5);
        assert_eq!(report.latency["checkin"].count, 2);
        assert_eq!(report.errors["checkin: 503 unavailable"], 1);
        let table = report.table();
        assert!(table.contains("phase steady (2.0 s)"), "{table}");
        assert!(table.contains("checkin: 503 unavailable"), "{table}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["latency"]["checkin"]["max_ms"], 8.0);
    }
}

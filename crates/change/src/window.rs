//! Maintenance windows and change freezes (RLO-1). A window recurs in the
//! customer's time zone by an RFC 5545 recurrence rule (a subset: DAILY,
//! WEEKLY, MONTHLY and YEARLY with INTERVAL, BYDAY, BYMONTHDAY, BYMONTH,
//! BYSETPOS, WKST, COUNT and UNTIL), expanded with jiff against the time
//! zone database bundled into the binary, so that every machine computes the
//! same instants. Across daylight saving an occurrence starts at its local
//! start time read as RFC 5545 reads it (in a gap, with the offset before the
//! gap, so 02:30 becomes 03:30; in a fold, the first of the two) and lasts its
//! duration in elapsed time, as calendar programs show it. A freeze cancels
//! every occurrence it overlaps, whole. Searches look at most [`HORIZON`]
//! ahead, so a rule that never occurs again still terminates.

use std::sync::LazyLock;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Span, Timestamp};
use rivet_core::validate::Invalid;
use serde::{Deserialize, Serialize};

/// How far ahead searches look: two years (731 days).
pub const HORIZON: SignedDuration = SignedDuration::from_hours(24 * 731);
/// The longest occurrence of a window: seven days.
pub const MAX_DURATION: SignedDuration = SignedDuration::from_hours(24 * 7);
/// The longest freeze: 366 days.
pub const MAX_FREEZE: SignedDuration = SignedDuration::from_hours(24 * 366);
/// The most occurrences a rule's COUNT may ask for.
pub const MAX_COUNT: u32 = 10_000;

// The database compiled into the binary (jiff's `tzdb-bundle-always`), not
// /usr/share/zoneinfo: a window must open at the same instant on the server,
// on a developer's laptop and on a fresh CI machine, whatever tzdata each has.
static TZDB: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// A half-open span of time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Interval {
    /// The first instant inside.
    pub start: Timestamp,
    /// The first instant after.
    pub end: Timestamp,
}

impl Interval {
    /// Whether `at` lies inside.
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }

    /// Whether the two share an instant.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The elapsed time from start to end.
    pub fn duration(&self) -> SignedDuration {
        self.start.duration_until(self.end)
    }
}

/// A maintenance window as a person or the API writes it, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// The window's name, a label (`sunday-night`).
    pub name: String,
    /// The customer's IANA time zone (`Europe/Berlin`).
    pub time_zone: String,
    /// The local date and time of the first occurrence (DTSTART).
    pub start: DateTime,
    /// The RFC 5545 recurrence rule (`FREQ=WEEKLY;BYDAY=SU`).
    pub rrule: String,
    /// How long each occurrence lasts, elapsed (`2h`, `PT2H`).
    pub duration: SignedDuration,
}

/// A validated maintenance window. It serialises as its [`WindowSpec`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "WindowSpec", into = "WindowSpec")]
pub struct Window {
    spec: WindowSpec,
    tz: TimeZone,
    rule: Rule,
}

impl PartialEq for Window {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for Window {}

impl TryFrom<WindowSpec> for Window {
    type Error = Invalid;
    fn try_from(spec: WindowSpec) -> Result<Self, Invalid> {
        Window::new(spec)
    }
}

impl From<Window> for WindowSpec {
    fn from(w: Window) -> WindowSpec {
        w.spec
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

impl Window {
    /// Validates a window, naming the first field that is wrong.
    pub fn new(spec: WindowSpec) -> Result<Window, Invalid> {
        rivet_core::host::label("name", &spec.name)?;
        let tz = TZDB
            .get(&spec.time_zone)
            .ok()
            .filter(|tz| !tz.is_unknown())
            .ok_or_else(|| {
                invalid(
                    "time_zone",
                    format!(
                        "{:?} is not a time zone of the IANA database (e.g. Europe/Berlin)",
                        spec.time_zone.chars().take(80).collect::<String>()
                    ),
                )
            })?;
        if !(1970..=2200).contains(&spec.start.year()) {
            return Err(invalid("start", "the year must be between 1970 and 2200"));
        }
        if !spec.duration.is_positive() {
            return Err(invalid("duration", "must be longer than zero"));
        }
        if spec.duration > MAX_DURATION {
            return Err(invalid(
                "duration",
                format!("at most 7 days, not {:#}", spec.duration),
            ));
        }
        let rule = Rule::parse(&spec.rrule, &tz).map_err(|reason| invalid("rrule", reason))?;
        Ok(Window { spec, tz, rule })
    }

    /// The window's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The window as it was written.
    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    /// The window's time zone, from the bundled database: to show its
    /// occurrences in the customer's local time.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The occurrence open at `at`, freezes not considered. Occurrences
    /// that overlap or touch are one.
    pub fn occurrence_at(&self, at: Timestamp) -> Option<Interval> {
        let after = at.checked_add(SignedDuration::from_nanos(1)).ok()?;
        self.occurrences(at, after)
            .into_iter()
            .find(|o| o.contains(at))
    }

    /// The occurrences that overlap `[from, to)`, merged where they overlap
    /// or touch, freezes not considered; `to` is cut to [`HORIZON`] after
    /// `from`. For a calendar.
    pub fn occurrences(&self, from: Timestamp, to: Timestamp) -> Vec<Interval> {
        openings(std::slice::from_ref(self), &[], from, to)
    }

    /// Each occurrence (unmerged) that overlaps `[from, to)`, in order.
    fn expand(&self, from: Timestamp, to: Timestamp) -> Vec<Interval> {
        let to = to.min(later(from, HORIZON));
        let duration = self.spec.duration;
        let first = self.spec.start.date();
        let time = self.spec.start.time();
        let rule = &self.rule;
        // Without COUNT the expansion may jump to the period where an
        // occurrence overlapping `from` can start (two days of slack for
        // offsets); with COUNT every occurrence since DTSTART counts.
        let first_period = if rule.count.is_some() {
            0
        } else {
            let earliest = earlier(from, duration + SignedDuration::from_hours(48));
            rule.period_of(first, self.tz.to_datetime(earliest).date())
                .max(0)
        };
        let last_date = self
            .tz
            .to_datetime(to)
            .date()
            .saturating_add(Span::new().days(1));
        let mut out = Vec::new();
        let mut counted = 0u32;
        let mut period = first_period;
        loop {
            let Some(period_start) = rule.period_start(first, period) else {
                return out;
            };
            if period_start > last_date {
                return out;
            }
            for date in rule.dates_in(first, period_start) {
                if date < first {
                    continue;
                }
                let Some(start) = local_instant(&self.tz, date, time) else {
                    return out;
                };
                if rule.until.is_some_and(|until| start > until) {
                    return out;
                }
                if let Some(count) = rule.count {
                    if counted >= count {
                        return out;
                    }
                    counted += 1;
                }
                if start >= to {
                    return out;
                }
                let end = later(start, duration);
                if end > from {
                    out.push(Interval { start, end });
                }
            }
            period += 1;
        }
    }
}

/// The instant a local date and time means in `tz`, read as RFC 5545 reads
/// it: in a gap with the offset before the gap (later by the gap), in a fold
/// the first of the two. That is jiff's "compatible" disambiguation.
fn local_instant(tz: &TimeZone, date: Date, time: Time) -> Option<Timestamp> {
    tz.to_ambiguous_timestamp(date.to_datetime(time))
        .compatible()
        .ok()
}

/// `at` plus `d`, or the last instant there is.
pub(crate) fn later(at: Timestamp, d: SignedDuration) -> Timestamp {
    at.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// `at` less `d`, or the first instant there is.
pub(crate) fn earlier(at: Timestamp, d: SignedDuration) -> Timestamp {
    at.checked_sub(d).unwrap_or(Timestamp::MIN)
}

/// Sorts intervals and merges those that overlap or touch.
fn merge(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(intervals.len());
    for i in intervals {
        match out.last_mut() {
            Some(last) if i.start <= last.end => last.end = last.end.max(i.end),
            _ => out.push(i),
        }
    }
    out
}

/// A change freeze as written, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeSpec {
    /// When it begins (UTC).
    pub start: Timestamp,
    /// When it ends (UTC), exclusive.
    pub end: Timestamp,
    /// Why (`year-end closing`).
    pub reason: String,
}

/// A validated change freeze: no window occurrence that overlaps it opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FreezeSpec", into = "FreezeSpec")]
pub struct Freeze {
    spec: FreezeSpec,
}

impl TryFrom<FreezeSpec> for Freeze {
    type Error = Invalid;
    fn try_from(spec: FreezeSpec) -> Result<Self, Invalid> {
        Freeze::new(spec)
    }
}

impl From<Freeze> for FreezeSpec {
    fn from(f: Freeze) -> FreezeSpec {
        f.spec
    }
}

impl Freeze {
    /// Validates a freeze: start before end, at most [`MAX_FREEZE`] long, a
    /// reason of 1 to 500 characters.
    pub fn new(spec: FreezeSpec) -> Result<Freeze, Invalid> {
        if spec.start >= spec.end {
            return Err(invalid("end", "must be after start"));
        }
        if spec.start.duration_until(spec.end) > MAX_FREEZE {
            return Err(invalid("end", "a freeze lasts at most 366 days"));
        }
        let reason = spec.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(invalid("reason", "must be 1 to 500 characters"));
        }
        Ok(Freeze { spec })
    }

    /// When the freeze holds.
    pub fn interval(&self) -> Interval {
        Interval {
            start: self.spec.start,
            end: self.spec.end,
        }
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.spec.reason
    }
}

/// When a host with these windows may be worked on within `[from, to)` (cut
/// to [`HORIZON`]): every occurrence of every window, less those a freeze
/// overlaps, merged where they overlap or touch. For a calendar.
pub fn openings(
    windows: &[Window],
    freezes: &[Freeze],
    from: Timestamp,
    to: Timestamp,
) -> Vec<Interval> {
    let frozen: Vec<Interval> = freezes.iter().map(Freeze::interval).collect();
    let to = to.min(later(from, HORIZON));
    // Expanding from a week (the longest occurrence) earlier finds the
    // occurrences an opening at `from` merges with, so it is reported with
    // its real start.
    let all = windows
        .iter()
        .flat_map(|w| w.expand(earlier(from, MAX_DURATION), to))
        .filter(|o| !frozen.iter().any(|f| f.overlaps(o)))
        .collect();
    let mut merged = merge(all);
    merged.retain(|o| o.end > from);
    merged
}

/// The next window for a host after `after`: the opening that is open at
/// `after` (with its real start) or else the next to open, within
/// [`HORIZON`]. `None` when no window opens in that time.
pub fn next_opening(windows: &[Window], freezes: &[Freeze], after: Timestamp) -> Option<Interval> {
    openings(windows, freezes, after, later(after, HORIZON))
        .into_iter()
        .next()
}

/// Whether one of the host's windows is open at `at` and no freeze cancels it.
pub fn is_open(windows: &[Window], freezes: &[Freeze], at: Timestamp) -> bool {
    let after = later(at, SignedDuration::from_nanos(1));
    openings(windows, freezes, at, after)
        .iter()
        .any(|o| o.contains(at))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frequency {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// A parsed recurrence rule, restricted to what maintenance windows need.
#[derive(Debug, Clone)]
struct Rule {
    freq: Frequency,
    interval: i64,
    /// Weekdays with their ordinal in the month (0: every one).
    by_day: Vec<(i8, Weekday)>,
    by_month_day: Vec<i8>,
    by_month: Vec<i8>,
    by_set_pos: Vec<i16>,
    week_start: Weekday,
    count: Option<u32>,
    until: Option<Timestamp>,
}

impl Rule {
    /// Parses the rule text; the error says which part is wrong and why.
    fn parse(text: &str, tz: &TimeZone) -> Result<Rule, String> {
        let text = text.trim();
        let text = match text.get(..6) {
            Some(p) if p.eq_ignore_ascii_case("RRULE:") => &text[6..],
            _ => text,
        };
        let mut rule = Rule {
            freq: Frequency::Daily,
            interval: 1,
            by_day: vec![],
            by_month_day: vec![],
            by_month: vec![],
            by_set_pos: vec![],
            week_start: Weekday::Monday,
            count: None,
            until: None,
        };
        let mut seen: Vec<String> = Vec::new();
        let mut freq = None;
        for part in text.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not NAME=VALUE"))?;
            let key = key.trim().to_ascii_uppercase();
            let value = value.trim();
            if seen.contains(&key) {
                return Err(format!("{key} is given twice"));
            }
            seen.push(key.clone());
            match key.as_str() {
                "FREQ" => {
                    freq = Some(match value.to_ascii_uppercase().as_str() {
                        "DAILY" => Frequency::Daily,
                        "WEEKLY" => Frequency::Weekly,
                        "MONTHLY" => Frequency::Monthly,
                        "YEARLY" => Frequency::Yearly,
                        "HOURLY" | "MINUTELY" | "SECONDLY" => {
                            return Err(format!(
                                "FREQ={value}: a maintenance window recurs at most daily (DAILY, WEEKLY, MONTHLY or YEARLY)"
                            ));
                        }
                        _ => return Err(format!("FREQ: {value:?} is not a frequency")),
                    })
                }
                "INTERVAL" => rule.interval = number(&key, value, 1, 1000)?,
                "COUNT" => rule.count = Some(number(&key, value, 1, i64::from(MAX_COUNT))? as u32),
                "UNTIL" => rule.until = Some(until(value, tz)?),
                "WKST" => rule.week_start = weekday(value)?,
                "BYMONTH" => {
                    rule.by_month = list(value, |v| Ok(number(&key, v, 1, 12)? as i8))?;
                }
                "BYMONTHDAY" => {
                    rule.by_month_day = list(value, |v| {
                        let d = number(&key, v, -31, 31)?;
                        if d == 0 {
                            return Err("BYMONTHDAY: 0 is not a day of the month".into());
                        }
                        Ok(d as i8)
                    })?;
                }
                "BYSETPOS" => {
                    rule.by_set_pos = list(value, |v| {
                        let p = number(&key, v, -366, 366)?;
                        if p == 0 {
                            return Err("BYSETPOS: 0 is not a position".into());
                        }
                        Ok(p as i16)
                    })?;
                }
                "BYDAY" => rule.by_day = list(value, by_day)?,
                "BYHOUR" | "BYMINUTE" | "BYSECOND" => {
                    return Err(format!(
                        "{key} is not supported: the window's start gives the time of day"
                    ));
                }
                "BYYEARDAY" | "BYWEEKNO" => {
                    return Err(format!(
                        "{key} is not supported in maintenance windows (use BYMONTH, BYMONTHDAY or BYDAY)"
                    ));
                }
                _ => return Err(format!("{key} is not a recurrence rule part")),
            }
        }
        rule.freq = freq.ok_or("FREQ is missing (e.g. FREQ=WEEKLY;BYDAY=SU)")?;
        rule.check()?;
        Ok(rule)
    }

    /// The combinations RFC 5545 forbids or this subset leaves out.
    fn check(&self) -> Result<(), String> {
        let ordinals = self.by_day.iter().any(|&(n, _)| n != 0);
        match self.freq {
            Frequency::Daily | Frequency::Weekly if ordinals => {
                return Err("BYDAY with an ordinal (2TU) needs FREQ=MONTHLY or YEARLY".into());
            }
            Frequency::Weekly if !self.by_month_day.is_empty() => {
                return Err("BYMONTHDAY cannot be used with FREQ=WEEKLY".into());
            }
            Frequency::Daily if !self.by_set_pos.is_empty() => {
                return Err("BYSETPOS cannot be used with FREQ=DAILY".into());
            }
            Frequency::Yearly
                if self.by_month.is_empty()
                    && !(self.by_day.is_empty() && self.by_month_day.is_empty()) =>
            {
                return Err("FREQ=YEARLY with BYDAY or BYMONTHDAY needs BYMONTH".into());
            }
            _ => {}
        }
        if !self.by_set_pos.is_empty() && self.by_day.is_empty() && self.by_month_day.is_empty() {
            return Err("BYSETPOS needs BYDAY or BYMONTHDAY".into());
        }
        if self.count.is_some() && self.until.is_some() {
            return Err("COUNT and UNTIL cannot both be given".into());
        }
        Ok(())
    }

    /// The first day of period `k` (0 is DTSTART's).
    fn period_start(&self, first: Date, k: i64) -> Option<Date> {
        let n = k.checked_mul(self.interval)?;
        match self.freq {
            Frequency::Daily => first.checked_add(Span::new().try_days(n).ok()?).ok(),
            Frequency::Weekly => week_start(first, self.week_start)
                .checked_add(Span::new().try_weeks(n).ok()?)
                .ok(),
            Frequency::Monthly => first
                .first_of_month()
                .checked_add(Span::new().try_months(n).ok()?)
                .ok(),
            Frequency::Yearly => {
                let year = i16::try_from(i64::from(first.year()) + n).ok()?;
                Date::new(year, 1, 1).ok()
            }
        }
    }

    /// The period that holds `date` (negative before DTSTART's).
    fn period_of(&self, first: Date, date: Date) -> i64 {
        let units = match self.freq {
            Frequency::Daily => first.duration_until(date).as_hours() / 24,
            Frequency::Weekly => week_start(first, self.week_start)
                .duration_until(date)
                .as_hours()
                .div_euclid(24 * 7),
            Frequency::Monthly => {
                (i64::from(date.year()) - i64::from(first.year())) * 12 + i64::from(date.month())
                    - i64::from(first.month())
            }
            Frequency::Yearly => i64::from(date.year()) - i64::from(first.year()),
        };
        units.div_euclid(self.interval)
    }

    /// The dates the rule selects in the period starting on `start`, in order.
    fn dates_in(&self, first: Date, start: Date) -> Vec<Date> {
        let month_ok = |d: Date| self.by_month.is_empty() || self.by_month.contains(&d.month());
        let mut dates: Vec<Date> = match self.freq {
            Frequency::Daily => {
                let ok = month_ok(start)
                    && (self.by_month_day.is_empty() || self.month_day_matches(start))
                    && (self.by_day.is_empty()
                        || self.by_day.iter().any(|&(_, w)| w == start.weekday()));
                if ok { vec![start] } else { vec![] }
            }
            Frequency::Weekly => (0..7)
                .filter_map(|i| start.checked_add(Span::new().days(i)).ok())
                .filter(|&d| month_ok(d))
                .filter(|d| {
                    if self.by_day.is_empty() {
                        d.weekday() == first.weekday()
                    } else {
                        self.by_day.iter().any(|&(_, w)| w == d.weekday())
                    }
                })
                .collect(),
            Frequency::Monthly if month_ok(start) => self.days_of_month(first, start),
            Frequency::Monthly => vec![],
            Frequency::Yearly => {
                let mut months = if self.by_month.is_empty() {
                    vec![first.month()]
                } else {
                    self.by_month.clone()
                };
                months.sort_unstable();
                months.dedup();
                months
                    .into_iter()
                    .filter_map(|m| Date::new(start.year(), m, 1).ok())
                    .flat_map(|m| self.days_of_month(first, m))
                    .collect()
            }
        };
        if !self.by_set_pos.is_empty() {
            let len = dates.len() as i64;
            let mut picked: Vec<Date> = self
                .by_set_pos
                .iter()
                .filter_map(|&p| {
                    let i = if p > 0 {
                        i64::from(p) - 1
                    } else {
                        len + i64::from(p)
                    };
                    usize::try_from(i).ok().and_then(|i| dates.get(i).copied())
                })
                .collect();
            picked.sort();
            picked.dedup();
            dates = picked;
        }
        dates
    }

    /// The days of the month starting on `month` that BYMONTHDAY and BYDAY
    /// select, or DTSTART's day of the month when neither is given (months
    /// without that day are skipped, as RFC 5545 says).
    fn days_of_month(&self, first: Date, month: Date) -> Vec<Date> {
        let days = month.days_in_month();
        (1..=days)
            .filter_map(|d| Date::new(month.year(), month.month(), d).ok())
            .filter(|&d| {
                if self.by_day.is_empty() && self.by_month_day.is_empty() {
                    return d.day() == first.day();
                }
                let by_month_day = self.by_month_day.is_empty() || self.month_day_matches(d);
                let by_day = self.by_day.is_empty()
                    || self.by_day.iter().any(|&(n, w)| {
                        w == d.weekday()
                            && match n {
                                0 => true,
                                n if n > 0 => (d.day() - 1) / 7 + 1 == n,
                                n => (days - d.day()) / 7 + 1 == -n,
                            }
                    });
                by_month_day && by_day
            })
            .collect()
    }

    fn month_day_matches(&self, d: Date) -> bool {
        let days = d.days_in_month();
        self.by_month_day.iter().any(|&m| {
            if m > 0 {
                d.day() == m
            } else {
                d.day() == days + 1 + m
            }
        })
    }
}

/// The first day of the week (starting on `week_start`) that holds `date`.
fn week_start(date: Date, week_start: Weekday) -> Date {
    let back = week_start.until(date.weekday());
    date.saturating_sub(Span::new().days(back))
}

fn number(key: &str, value: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = value
        .trim_start_matches('+')
        .parse()
        .map_err(|_| format!("{key}: {value:?} is not a number"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("{key}: {n} is not between {min} and {max}"));
    }
    Ok(n)
}

fn list<T>(value: &str, each: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    value.split(',').map(|v| each(v.trim())).collect()
}

fn weekday(value: &str) -> Result<Weekday, String> {
    Ok(match value.to_ascii_uppercase().as_str() {
        "MO" => Weekday::Monday,
        "TU" => Weekday::Tuesday,
        "WE" => Weekday::Wednesday,
        "TH" => Weekday::Thursday,
        "FR" => Weekday::Friday,
        "SA" => Weekday::Saturday,
        "SU" => Weekday::Sunday,
        _ => {
            return Err(format!(
                "{value:?} is not a weekday (MO, TU, WE, TH, FR, SA or SU)"
            ));
        }
    })
}

/// One BYDAY entry: `SU`, `2TU`, `-1FR`.
fn by_day(value: &str) -> Result<(i8, Weekday), String> {
    let split = value.len().saturating_sub(2);
    let (ordinal, day) = value
        .split_at_checked(split)
        .ok_or_else(|| format!("BYDAY: {value:?} is not a weekday"))?;
    let day = weekday(day).map_err(|e| format!("BYDAY: {e}"))?;
    if ordinal.is_empty() {
        return Ok((0, day));
    }
    let n = number("BYDAY", ordinal, -5, 5)?;
    if n == 0 {
        return Err(format!("BYDAY: {value:?}: the ordinal cannot be 0"));
    }
    Ok((n as i8, day))
}

/// UNTIL as a date (`20261231`, the whole day), a local date-time
/// (`20261231T020000`) or a UTC one (`20261231T020000Z`).
fn until(value: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let bad = || format!("UNTIL: {value:?} is not YYYYMMDD or YYYYMMDDTHHMMSS[Z]");
    let (body, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(body) => (body, true),
        None => (value, false),
    };
    let local = if body.len() == 8 {
        Date::strptime("%Y%m%d", body)
            .map_err(|_| bad())?
            .to_datetime(Time::MAX)
    } else {
        DateTime::strptime("%Y%m%dT%H%M%S", body).map_err(|_| bad())?
    };
    let zone = if utc { TimeZone::UTC } else { tz.clone() };
    zone.to_ambiguous_timestamp(local)
        .compatible()
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Result<Rule, String> {
        Rule::parse(text, &TimeZone::UTC)
    }

    #[test]
    fn rule_errors_name_the_part() {
        assert!(
            rule("FREQ=WEEKLY;BYDAY=XX")
                .unwrap_err()
                .contains("\"XX\" is not a weekday")
        );
        assert!(rule("BYDAY=SU").unwrap_err().contains("FREQ is missing"));
        assert!(rule("FREQ=HOURLY").unwrap_err().contains("at most daily"));
        assert!(
            rule("FREQ=WEEKLY;BYDAY=2TU")
                .unwrap_err()
                .contains("ordinal")
        );
        assert!(rule("FREQ=DAILY;BYHOUR=2").unwrap_err().contains("BYHOUR"));
        assert!(
            rule("FREQ=DAILY;FREQ=WEEKLY")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            rule("FREQ=DAILY;COUNT=3;UNTIL=20260101")
                .unwrap_err()
                .contains("COUNT and UNTIL")
        );
        assert!(
            rule("FREQ=YEARLY;BYDAY=MO")
                .unwrap_err()
                .contains("BYMONTH")
        );
        assert!(rule("FREQ=MONTHLY;BYMONTHDAY=0").is_err());
        assert!(rule("RRULE:FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2").is_ok());
    }

    #[test]
    fn periods_round_trip() {
        let first = Date::new(2026, 1, 15).unwrap();
        for text in [
            "FREQ=DAILY;INTERVAL=3",
            "FREQ=WEEKLY;INTERVAL=2",
            "FREQ=MONTHLY",
            "FREQ=YEARLY",
        ] {
            let r = rule(text).unwrap();
            for k in 0..40 {
                let start = r.period_start(first, k).unwrap();
                assert_eq!(r.period_of(first, start), k, "{text} period {k}");
            }
        }
    }

    #[test]
    fn intervals_merge_when_they_touch() {
        let t = |s| Timestamp::from_second(s).unwrap();
        let merged = merge(vec![
            Interval {
                start: t(10),
                end: t(20),
            },
            Interval {
                start: t(0),
                end: t(10),
            },
            Interval {
                start: t(30),
                end: t(40),
            },
        ]);
        assert_eq!(
            merged,
            vec![
                Interval {
                    start: t(0),
                    end: t(20)
                },
                Interval {
                    start: t(30),
                    end: t(40)
                }
            ]
        );
    }
}

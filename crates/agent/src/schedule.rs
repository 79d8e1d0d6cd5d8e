//! When the agent collects, checks in and waits (AGT-1): a pure state
//! machine over the time passed in and random numbers passed in, so that
//! every decision of the service loop is tested without waiting.
//!
//! The agent collects its inventory every `checkin_interval_secs` (the
//! server says how often) give or take 10 %, so that hosts started together
//! spread out. Between collections it long-polls the server, each poll held
//! at most until the next collection, and polls start as far apart as the
//! server says (a large fleet polls less often, so that the server keeps
//! up). A failure waits an exponentially growing, jittered time before the
//! next try.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rivet_core::agent::CheckinResponse;

/// How often to collect until the server says otherwise.
pub const DEFAULT_INTERVAL_SECS: u32 = 900;
/// The shortest collection interval the agent accepts from a server.
pub const MIN_INTERVAL_SECS: u32 = 60;
/// The longest (a week).
pub const MAX_INTERVAL_SECS: u32 = 7 * 24 * 3600;
/// The longest poll until the server says otherwise.
pub const DEFAULT_MAX_WAIT_SECS: u32 = 300;
/// Polls start at least this far apart, so that a server that answers at
/// once cannot make the agent spin.
pub const MIN_POLL_GAP_SECS: u32 = rivet_core::agent::MIN_POLL_INTERVAL_SECS;
/// Collections start at least this far apart, whatever `collect_now` says.
pub const MIN_COLLECTION_GAP_SECS: i64 = 10;
/// How much the interval varies either way.
const INTERVAL_JITTER: f64 = 0.10;
/// How much a backoff delay varies either way.
const BACKOFF_JITTER: f64 = 0.20;

/// How long to wait after failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial_secs: u32,
    /// The longest wait.
    pub max_secs: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_secs: 5,
            max_secs: 300,
        }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (at least one):
    /// `initial · 2^(failures−1)`, at most `max`, varied by ±20 % with
    /// `random` in [0, 1), and never more than `max`.
    pub fn delay(&self, failures: u32, random: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let base = u64::from(self.initial_secs.max(1)).saturating_mul(1 << exponent);
        let base = base.min(u64::from(self.max_secs.max(1))) as f64;
        let varied = base * (1.0 - BACKOFF_JITTER + 2.0 * BACKOFF_JITTER * unit(random));
        Duration::from_secs_f64(varied.clamp(1.0, f64::from(self.max_secs.max(1))))
    }
}

/// What the service loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Collect the inventory, then check in without waiting.
    Collect,
    /// Check in, letting the server hold the request up to `wait_secs`.
    Poll {
        /// How long the server may hold the request.
        wait_secs: u32,
    },
    /// Nothing until then.
    Sleep {
        /// When to decide again.
        until: Timestamp,
    },
}

/// The service loop's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    backoff: Backoff,
    interval_secs: u32,
    max_wait_secs: u32,
    poll_interval_secs: u32,
    next_collection: Timestamp,
    last_collection: Option<Timestamp>,
    last_poll: Option<Timestamp>,
    failures: u32,
    retry_at: Option<Timestamp>,
}

impl Schedule {
    /// The schedule of an agent starting at `now` whose last accepted
    /// inventory (if any) was collected at `last_collected`: it collects at
    /// once if that is older than an interval, and otherwise when its
    /// interval is up, so that restarts do not each cause a collection.
    pub fn new(
        backoff: Backoff,
        last_collected: Option<Timestamp>,
        now: Timestamp,
        random: f64,
    ) -> Self {
        let mut schedule = Schedule {
            backoff,
            interval_secs: DEFAULT_INTERVAL_SECS,
            max_wait_secs: DEFAULT_MAX_WAIT_SECS,
            poll_interval_secs: MIN_POLL_GAP_SECS,
            next_collection: now,
            last_collection: None,
            last_poll: None,
            failures: 0,
            retry_at: None,
        };
        if let Some(at) = last_collected.filter(|at| *at <= now) {
            schedule.next_collection = at + schedule.jittered_interval(random);
        }
        schedule
    }

    /// What to do at `now`.
    pub fn next_action(&self, now: Timestamp) -> Action {
        if let Some(until) = self.retry_at.filter(|at| *at > now) {
            return Action::Sleep { until };
        }
        if now >= self.next_collection {
            return Action::Collect;
        }
        if let Some(until) = self
            .last_poll
            .map(|at| at + SignedDuration::from_secs(self.poll_interval_secs.into()))
            .filter(|at| *at > now)
        {
            return Action::Sleep {
                until: until.min(self.next_collection),
            };
        }
        if self.max_wait_secs == 0 {
            // A server that does not hold requests: no point polling.
            return Action::Sleep {
                until: self.next_collection,
            };
        }
        let until_collection = self.next_collection.duration_since(now).as_secs();
        let wait_secs = u32::try_from(until_collection)
            .unwrap_or(u32::MAX)
            .min(self.max_wait_secs);
        Action::Poll { wait_secs }
    }

    /// A collection succeeded at `now`; the next one is due an interval
    /// (±10 %, by `random`) later.
    pub fn collected(&mut self, now: Timestamp, random: f64) {
        self.last_collection = Some(now);
        self.next_collection = now + self.jittered_interval(random);
    }

    /// Makes a collection due at `now` (the loop has no inventory to
    /// report).
    pub fn collect_at(&mut self, now: Timestamp) {
        self.next_collection = self.next_collection.min(now);
    }

    /// A check-in (poll or after a collection) started at `started`
    /// succeeded with `response`, at `now`.
    pub fn checked_in(&mut self, response: &CheckinResponse, started: Timestamp, now: Timestamp) {
        self.failures = 0;
        self.retry_at = None;
        self.last_poll = Some(started);
        self.max_wait_secs = response.max_wait_secs;
        self.poll_interval_secs = response
            .poll_interval_secs
            .clamp(MIN_POLL_GAP_SECS, MAX_INTERVAL_SECS);
        let interval = response
            .checkin_interval_secs
            .clamp(MIN_INTERVAL_SECS, MAX_INTERVAL_SECS);
        if interval != self.interval_secs {
            self.interval_secs = interval;
            // A shorter interval takes effect now, not after the old one.
            let latest = now + SignedDuration::from_secs(interval.into());
            self.next_collection = self.next_collection.min(latest);
        }
        if response.collect_now {
            let earliest = self
                .last_collection
                .map(|at| at + SignedDuration::from_secs(MIN_COLLECTION_GAP_SECS))
                .unwrap_or(now);
            self.next_collection = self.next_collection.min(earliest.max(now));
        }
    }

    /// Something failed at `now`; returns how long the loop waits before
    /// the next try (by the backoff, jittered by `random`).
    pub fn failed(&mut self, now: Timestamp, random: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = self.backoff.delay(self.failures, random);
        // Delays are at most max_secs (u32 seconds): they fit.
        let signed = SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX);
        self.retry_at = Some(now.saturating_add(signed).unwrap_or(now));
        delay
    }

    /// How many failures in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next collection is due.
    pub fn next_collection(&self) -> Timestamp {
        self.next_collection
    }

    /// The interval the server asked for (clamped to what the agent accepts).
    pub fn interval_secs(&self) -> u32 {
        self.interval_secs
    }

    fn jittered_interval(&self, random: f64) -> SignedDuration {
        let factor = 1.0 - INTERVAL_JITTER + 2.0 * INTERVAL_JITTER * unit(random);
        SignedDuration::from_secs_f64(f64::from(self.interval_secs) * factor)
    }
}

/// `random` forced into [0, 1): a bad random number must not break the
/// schedule.
fn unit(random: f64) -> f64 {
    if random.is_finite() {
        random.clamp(0.0, 1.0 - f64::EPSILON)
    } else {
        0.5
    }
}

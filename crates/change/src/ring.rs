//! Ring plans and promotion (RLO-2, RLO-4): a change goes to the pilot ring
//! first (hosts the customer names), then ring by ring to the broad one. The
//! next ring is approved when the ring's hosts have all finished, its soak
//! period has passed since the last of them finished, no problem report is
//! open, its failures stayed under the threshold and nothing was rolled
//! back. The decision lists every reason it holds, as data the server shows
//! and audits.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use rivet_core::id::HostId;
use rivet_core::validate::Invalid;
use serde::{Deserialize, Serialize};

/// The soak period when a ring names none: one week (RLO-2).
pub const DEFAULT_SOAK: SignedDuration = SignedDuration::from_hours(24 * 7);
/// The longest soak period: 90 days.
pub const MAX_SOAK: SignedDuration = SignedDuration::from_hours(24 * 90);
/// The most rings a plan may have.
pub const MAX_RINGS: usize = 16;

/// A customer's problem report about a change on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProblemReportId(pub uuid::Uuid);

/// How many failed hosts halt a ring: failures reaching it halt the rollout
/// and hold the promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureThreshold {
    /// This many failed hosts (at least 1).
    Hosts(u32),
    /// This percentage of the ring's hosts (1 to 100), at least one host.
    Percent(u8),
}

impl Default for FailureThreshold {
    /// One failed host: the conservative default; broad rings usually raise it.
    fn default() -> Self {
        FailureThreshold::Hosts(1)
    }
}

impl FailureThreshold {
    /// The number of failed hosts that halts a ring of `hosts` hosts.
    pub fn limit(self, hosts: u32) -> u32 {
        match self {
            FailureThreshold::Hosts(n) => n,
            // Integer arithmetic, rounded up: 10 % of 25 hosts is 3.
            FailureThreshold::Percent(p) => {
                (u64::from(hosts) * u64::from(p)).div_ceil(100).max(1) as u32
            }
        }
    }
}

fn default_soak() -> SignedDuration {
    DEFAULT_SOAK
}

/// One ring of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ring {
    /// Its name, a label (`pilot`, `broad`).
    pub name: String,
    /// Hosts named for the ring (the pilot's are named by the customer).
    #[serde(default)]
    pub hosts: BTreeSet<HostId>,
    /// Groups whose hosts are in the ring; the server resolves them.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// How long the ring runs the change before the next ring is approved,
    /// counted from when its last host finished; elapsed time, written in
    /// hours (`168h`, `PT168H`).
    #[serde(default = "default_soak")]
    pub soak: SignedDuration,
    /// How many failed hosts halt the rollout.
    #[serde(default)]
    pub failure_threshold: FailureThreshold,
    /// The most hosts of the ring with a job in flight at once; none: no limit.
    #[serde(default)]
    pub max_in_flight: Option<u32>,
}

impl Ring {
    /// A ring with the defaults: a week's soak, one failure halts, no limit.
    pub fn new(name: &str) -> Ring {
        Ring {
            name: name.into(),
            hosts: BTreeSet::new(),
            groups: BTreeSet::new(),
            soak: DEFAULT_SOAK,
            failure_threshold: FailureThreshold::default(),
            max_in_flight: None,
        }
    }
}

/// A validated, ordered list of rings, pilot first, broad last. It
/// serialises as the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Ring>", into = "Vec<Ring>")]
pub struct RingPlan {
    rings: Vec<Ring>,
}

impl TryFrom<Vec<Ring>> for RingPlan {
    type Error = Invalid;
    fn try_from(rings: Vec<Ring>) -> Result<Self, Invalid> {
        RingPlan::new(rings)
    }
}

impl From<RingPlan> for Vec<Ring> {
    fn from(plan: RingPlan) -> Vec<Ring> {
        plan.rings
    }
}

fn invalid(field: &'static str, ring: &str, reason: impl std::fmt::Display) -> Invalid {
    Invalid {
        field,
        reason: format!("ring {ring:?}: {reason}"),
    }
}

impl RingPlan {
    /// Validates the rings: 1 to [`MAX_RINGS`] with unique names, soak at
    /// most [`MAX_SOAK`], a threshold of at least one host or 1 to 100 %, a
    /// limit in flight of at least 1, no host in two rings, and a pilot
    /// that names its hosts when other rings follow it.
    pub fn new(rings: Vec<Ring>) -> Result<RingPlan, Invalid> {
        if rings.is_empty() || rings.len() > MAX_RINGS {
            return Err(Invalid {
                field: "rings",
                reason: format!("a plan has 1 to {MAX_RINGS} rings, not {}", rings.len()),
            });
        }
        let mut names = BTreeSet::new();
        let mut hosts = BTreeSet::new();
        for ring in &rings {
            rivet_core::host::label("name", &ring.name)?;
            if !names.insert(ring.name.as_str()) {
                return Err(invalid("name", &ring.name, "the name is used twice"));
            }
            for group in &ring.groups {
                rivet_core::host::label("groups", group)?;
            }
            if let Some(host) = ring.hosts.iter().find(|h| !hosts.insert(**h)) {
                return Err(invalid(
                    "hosts",
                    &ring.name,
                    format!("host {host} is in two rings"),
                ));
            }
            if ring.soak.is_negative() || ring.soak > MAX_SOAK {
                return Err(invalid(
                    "soak",
                    &ring.name,
                    "the soak period is 0 to 90 days",
                ));
            }
            match ring.failure_threshold {
                FailureThreshold::Hosts(0) => {
                    return Err(invalid(
                        "failure_threshold",
                        &ring.name,
                        "at least one host",
                    ));
                }
                FailureThreshold::Percent(p) if !(1..=100).contains(&p) => {
                    return Err(invalid("failure_threshold", &ring.name, "1 to 100 percent"));
                }
                _ => {}
            }
            if ring.max_in_flight == Some(0) {
                return Err(invalid("max_in_flight", &ring.name, "at least one host"));
            }
        }
        if rings.len() > 1 && rings[0].hosts.is_empty() {
            return Err(invalid(
                "hosts",
                &rings[0].name,
                "the pilot ring names its hosts (the customer's pilot devices)",
            ));
        }
        Ok(RingPlan { rings })
    }

    /// A single ring holding every host: no pilot, no soak to wait for.
    pub fn single(name: &str) -> RingPlan {
        RingPlan {
            rings: vec![Ring::new(name)],
        }
    }

    /// The rings, pilot first.
    pub fn rings(&self) -> &[Ring] {
        &self.rings
    }

    /// The ring named `name` and its position.
    pub fn find(&self, name: &str) -> Option<(usize, &Ring)> {
        self.rings.iter().enumerate().find(|(_, r)| r.name == name)
    }
}

/// A problem report still open against a host of the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenProblem {
    /// The report.
    pub id: ProblemReportId,
    /// The host it is about.
    pub host: HostId,
}

/// How a ring's jobs went so far: what the promotion decides on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingOutcome {
    /// Hosts with a job in the ring.
    pub hosts: u32,
    /// Hosts whose job succeeded.
    pub succeeded: u32,
    /// Hosts whose job failed.
    pub failed: Vec<HostId>,
    /// Hosts whose change was rolled back.
    pub rolled_back: Vec<HostId>,
    /// When the last host finished; none while any is unfinished.
    pub finished_at: Option<Timestamp>,
    /// Problem reports open against the ring's hosts.
    pub open_problems: Vec<OpenProblem>,
}

/// Why the next ring is not approved yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Hold {
    /// Hosts of the ring have not finished their job.
    HostsUnfinished {
        /// How many.
        unfinished: u32,
    },
    /// The soak period runs until `until`.
    SoakRemaining {
        /// When it ends.
        until: Timestamp,
    },
    /// A problem report is open.
    ProblemReportOpen {
        /// The report.
        id: ProblemReportId,
        /// The host it is about.
        host: HostId,
    },
    /// Failed hosts reached the ring's failure threshold.
    FailureThresholdReached {
        /// Failed hosts (rolled back ones included).
        failed: u32,
        /// The number that halts.
        threshold: u32,
    },
    /// The change was rolled back on a host.
    RolledBack {
        /// The host.
        host: HostId,
    },
}

/// Whether the ring after this one may start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Promotion {
    /// Approved: the soak ended at `since` with nothing against it.
    Approved {
        /// When the soak ended.
        since: Timestamp,
    },
    /// Not yet, or not without a person: every reason that holds.
    Held {
        /// The reasons.
        reasons: Vec<Hold>,
    },
}

impl Promotion {
    /// Whether the next ring is approved.
    pub fn is_approved(&self) -> bool {
        matches!(self, Promotion::Approved { .. })
    }
}

/// Decides at `at` whether the ring after `ring` is approved. The soak is
/// counted from when the ring's last host finished, not from its start:
/// every host then runs the change for the whole soak, however long the
/// ring took through its windows. It passes at exactly `finished_at + soak`.
pub fn promotion(ring: &Ring, outcome: &RingOutcome, at: Timestamp) -> Promotion {
    let mut reasons = Vec::new();
    let failed = (outcome.failed.len() + outcome.rolled_back.len()) as u32;
    let unfinished = outcome
        .hosts
        .saturating_sub(outcome.succeeded)
        .saturating_sub(failed);
    let mut since = None;
    match outcome.finished_at {
        Some(finished) if unfinished == 0 => {
            let until = crate::window::later(finished, ring.soak);
            if at < until {
                reasons.push(Hold::SoakRemaining { until });
            }
            since = Some(until);
        }
        _ => reasons.push(Hold::HostsUnfinished { unfinished }),
    }
    reasons.extend(
        outcome
            .open_problems
            .iter()
            .map(|p| Hold::ProblemReportOpen {
                id: p.id,
                host: p.host,
            }),
    );
    let threshold = ring.failure_threshold.limit(outcome.hosts);
    if failed >= threshold {
        reasons.push(Hold::FailureThresholdReached { failed, threshold });
    }
    reasons.extend(
        outcome
            .rolled_back
            .iter()
            .map(|&host| Hold::RolledBack { host }),
    );
    match since {
        Some(since) if reasons.is_empty() => Promotion::Approved { since },
        _ => Promotion::Held { reasons },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_thresholds_round_up_in_integers() {
        assert_eq!(FailureThreshold::Percent(10).limit(25), 3);
        // 10 % of 30 is exactly 3; floating point would make it 4.
        assert_eq!(FailureThreshold::Percent(10).limit(30), 3);
        assert_eq!(FailureThreshold::Percent(1).limit(5), 1);
        assert_eq!(FailureThreshold::Percent(100).limit(7), 7);
        assert_eq!(FailureThreshold::Hosts(2).limit(1000), 2);
    }
}

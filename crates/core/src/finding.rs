//! Findings (ASM-2 to ASM-6): what the matching engine found on a host, and
//! the rules the server applies to them: the severity class, the lifecycle
//! states, the priority (ASM-4) and the deadline policy (ASM-5). Pure: the
//! time is passed in.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::host::Criticality;

/// A severity class, ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The advisory gives no rating Rivet can read.
    #[default]
    Unknown,
    /// Rated as no risk (CVSS 0.0).
    None,
    /// Low (Ubuntu's `negligible` too).
    Low,
    /// Medium (Red Hat's `Moderate`).
    Medium,
    /// High (Red Hat's `Important`).
    High,
    /// Critical.
    Critical,
}

impl Level {
    /// Every class, least severe first.
    pub const ALL: [Level; 6] = [
        Level::Unknown,
        Level::None,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ];

    /// The class of a CVSS base score (FIRST's bands).
    pub fn of_score(score: f64) -> Level {
        match score {
            s if s >= 9.0 => Level::Critical,
            s if s >= 7.0 => Level::High,
            s if s >= 4.0 => Level::Medium,
            s if s > 0.0 => Level::Low,
            _ => Level::None,
        }
    }

    /// The class of a vendor's word, or `None` when it is not one of the
    /// usual words.
    pub fn of_word(word: &str) -> Option<Level> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "critical" => Level::Critical,
            "important" | "high" => Level::High,
            "moderate" | "medium" => Level::Medium,
            "low" | "negligible" => Level::Low,
            "none" => Level::None,
            _ => return None,
        })
    }

    /// The lower-case name (`high`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Unknown => "unknown",
            Level::None => "none",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// The class named `name` (as [`Level::name`] gives it).
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// Where a finding stands (ASM-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FindingState {
    /// The host is affected.
    Open,
    /// An inventory proved the host no longer affected (the package was
    /// updated or removed, a fixed kernel runs).
    Fixed,
    /// Affected, but a workaround is recorded.
    Mitigated,
    /// Affected, and the risk is accepted by an exception until it expires.
    Accepted,
    /// A VEX statement says the host's package is not affected.
    NotAffected,
}

impl FindingState {
    /// Every state.
    pub const ALL: [FindingState; 5] = [
        FindingState::Open,
        FindingState::Fixed,
        FindingState::Mitigated,
        FindingState::Accepted,
        FindingState::NotAffected,
    ];

    /// The snake-case name (`not_affected`).
    pub fn name(self) -> &'static str {
        match self {
            FindingState::Open => "open",
            FindingState::Fixed => "fixed",
            FindingState::Mitigated => "mitigated",
            FindingState::Accepted => "accepted",
            FindingState::NotAffected => "not_affected",
        }
    }

    /// The state named `name`.
    pub fn from_name(name: &str) -> Option<FindingState> {
        FindingState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the finding still needs remediation and so has a deadline.
    pub fn is_actionable(self) -> bool {
        matches!(self, FindingState::Open)
    }
}

/// What a deadline is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CountFrom {
    /// The advisory's publication (the host's first finding when the
    /// advisory gives no date).
    Published,
    /// When the host was first found affected.
    Found,
}

impl CountFrom {
    /// The snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            CountFrom::Published => "published",
            CountFrom::Found => "found",
        }
    }

    /// The value named `name`.
    pub fn from_name(name: &str) -> Option<CountFrom> {
        [CountFrom::Published, CountFrom::Found]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// A tenant's remediation deadlines (ASM-5), in days per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeadlinePolicy {
    /// Known exploited (CISA KEV), whatever the severity.
    pub kev_days: u32,
    /// Critical.
    pub critical_days: u32,
    /// High.
    pub high_days: u32,
    /// Medium, and advisories without a rating.
    pub medium_days: u32,
    /// Low and none.
    pub low_days: u32,
    /// What the days are counted from.
    pub count_from: CountFrom,
}

impl Default for DeadlinePolicy {
    /// Known exploited or critical 3 days, high 7, medium 30, low 90,
    /// counted from the advisory's publication.
    fn default() -> Self {
        DeadlinePolicy {
            kev_days: 3,
            critical_days: 3,
            high_days: 7,
            medium_days: 30,
            low_days: 90,
            count_from: CountFrom::Published,
        }
    }
}

/// The longest deadline a policy may set, in days (ten years).
pub const MAX_DEADLINE_DAYS: u32 = 3650;

/// A policy value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl DeadlinePolicy {
    /// Checks every value is between 0 (due at once) and
    /// [`MAX_DEADLINE_DAYS`], and that a known-exploited deadline is not
    /// longer than the critical one.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (field, days) in [
            ("kev_days", self.kev_days),
            ("critical_days", self.critical_days),
            ("high_days", self.high_days),
            ("medium_days", self.medium_days),
            ("low_days", self.low_days),
        ] {
            if days > MAX_DEADLINE_DAYS {
                return Err(PolicyError {
                    field,
                    message: format!("at most {MAX_DEADLINE_DAYS} days, not {days}"),
                });
            }
        }
        if self.kev_days > self.critical_days {
            return Err(PolicyError {
                field: "kev_days",
                message: format!(
                    "a known exploited vulnerability cannot wait longer ({} days) than a critical one ({} days)",
                    self.kev_days, self.critical_days
                ),
            });
        }
        Ok(())
    }

    /// The days a finding of this class has.
    pub fn days(&self, level: Level, kev: bool) -> u32 {
        let by_level = match level {
            Level::Critical => self.critical_days,
            Level::High => self.high_days,
            Level::Medium | Level::Unknown => self.medium_days,
            Level::Low | Level::None => self.low_days,
        };
        if kev {
            by_level.min(self.kev_days)
        } else {
            by_level
        }
    }

    /// When a finding falls due: its days counted from the advisory's
    /// publication or from when the host was first found affected.
    pub fn due_at(
        &self,
        level: Level,
        kev: bool,
        published: Option<Timestamp>,
        first_found: Timestamp,
    ) -> Timestamp {
        let start = match (self.count_from, published) {
            (CountFrom::Published, Some(p)) => p,
            _ => first_found,
        };
        let days = SignedDuration::from_hours(24 * i64::from(self.days(level, kev)));
        start.checked_add(days).unwrap_or(Timestamp::MAX)
    }
}

/// A finding's priority (ASM-4), 0 to 100: the severity's base (critical
/// 70, high 55, medium 40, low 20, none 5, unknown 35), up to +4 by where
/// the CVSS score lies in its class, +20 when known exploited, up to +10 by
/// the EPSS probability, and the host's criticality (critical +10, high +5,
/// low −10).
pub fn priority(
    level: Level,
    score: Option<f64>,
    kev: bool,
    epss: Option<f64>,
    criticality: Option<Criticality>,
) -> u8 {
    let base: f64 = match level {
        Level::Critical => 70.0,
        Level::High => 55.0,
        Level::Medium => 40.0,
        Level::Low => 20.0,
        Level::None => 5.0,
        Level::Unknown => 35.0,
    };
    // Within its class's CVSS band a higher score ranks higher, by up to
    // +4 (9.0 to 10.0 is the critical band). A score of another class (the
    // vendor rated higher) refines nothing.
    let band = match level {
        Level::Critical => Some((9.0, 1.0)),
        Level::High => Some((7.0, 2.0)),
        Level::Medium => Some((4.0, 3.0)),
        Level::Low => Some((0.0, 4.0)),
        Level::None | Level::Unknown => None,
    };
    let refine = match (score.filter(|s| s.is_finite()), band) {
        (Some(s), Some((low, width))) if Level::of_score(s) == level => {
            ((s - low) / width).clamp(0.0, 1.0) * 4.0
        }
        _ => 0.0,
    };
    let exploited = if kev { 20.0 } else { 0.0 };
    let likely = epss
        .filter(|p| p.is_finite())
        .map(|p| p.clamp(0.0, 1.0) * 10.0)
        .unwrap_or(0.0);
    let host = match criticality {
        Some(Criticality::Critical) => 10.0,
        Some(Criticality::High) => 5.0,
        Some(Criticality::Medium) | None => 0.0,
        Some(Criticality::Low) => -10.0,
    };
    (base + refine + exploited + likely + host).clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    const DAY: i64 = 86_400;

    #[test]
    fn deadlines_follow_the_class_and_known_exploitation() {
        let p = DeadlinePolicy::default();
        let published = Some(at(100 * DAY));
        let found = at(120 * DAY);
        assert_eq!(
            p.due_at(Level::Critical, false, published, found),
            at(103 * DAY)
        );
        assert_eq!(
            p.due_at(Level::High, false, published, found),
            at(107 * DAY)
        );
        assert_eq!(
            p.due_at(Level::Medium, false, published, found),
            at(130 * DAY)
        );
        assert_eq!(
            p.due_at(Level::Unknown, false, published, found),
            at(130 * DAY)
        );
        assert_eq!(p.due_at(Level::Low, false, published, found), at(190 * DAY));
        // Known exploited: 3 days even when rated low.
        assert_eq!(p.due_at(Level::Low, true, published, found), at(103 * DAY));
        // No publication date: counted from the finding.
        assert_eq!(p.due_at(Level::High, false, None, found), at(127 * DAY));
        let from_found = DeadlinePolicy {
            count_from: CountFrom::Found,
            ..p
        };
        assert_eq!(
            from_found.due_at(Level::High, false, published, found),
            at(127 * DAY)
        );
    }

    #[test]
    fn a_policy_out_of_range_names_its_field() {
        let too_long = DeadlinePolicy {
            low_days: MAX_DEADLINE_DAYS + 1,
            ..DeadlinePolicy::default()
        };
        assert_eq!(too_long.validate().unwrap_err().field, "low_days");
        let kev_later = DeadlinePolicy {
            kev_days: 10,
            ..DeadlinePolicy::default()
        };
        assert_eq!(kev_later.validate().unwrap_err().field, "kev_days");
        assert!(DeadlinePolicy::default().validate().is_ok());
    }

    #[test]
    fn priority_ranks_exploitation_and_criticality() {
        let medium = priority(Level::Medium, Some(5.0), false, None, None);
        let medium_kev = priority(Level::Medium, Some(5.0), true, None, None);
        let critical = priority(Level::Critical, Some(9.8), false, None, None);
        assert!(medium_kev > medium);
        assert!(critical > medium);
        assert!(
            priority(Level::High, Some(7.5), false, Some(0.9), None)
                > priority(Level::High, Some(7.5), false, Some(0.01), None)
        );
        assert!(
            priority(Level::High, None, false, None, Some(Criticality::Critical))
                > priority(Level::High, None, false, None, Some(Criticality::Low))
        );
        assert_eq!(
            priority(
                Level::Critical,
                Some(10.0),
                true,
                Some(1.0),
                Some(Criticality::Critical)
            ),
            100
        );
        assert_eq!(
            priority(
                Level::None,
                Some(0.0),
                false,
                Some(f64::NAN),
                Some(Criticality::Low)
            ),
            0
        );
    }

    #[test]
    fn names_round_trip() {
        for l in Level::ALL {
            assert_eq!(Level::from_name(l.name()), Some(l));
        }
        for s in FindingState::ALL {
            assert_eq!(FindingState::from_name(s.name()), Some(s));
        }
        assert_eq!(Level::from_name("severe"), None);
    }
}

//! One severity per advisory, normalised from what the advisory model holds
//! (ADV-3): the highest CVSS base score, and the vendor's word rating
//! (`Important`, Ubuntu's priority `medium`), whichever class is higher.
//!
//! AlmaLinux and Rocky Linux OSV records carry no severity field; like Red
//! Hat's errata they begin their summary with the rating (`Important:
//! firefox security update`), and that word is read as the vendor rating.

use rivet_advisory::model::{Advisory, SeverityKind};

/// A severity class, ordered from least to most severe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The advisory gives no rating Rivet can read.
    #[default]
    Unknown,
    /// Rated as no risk (CVSS 0.0, Ubuntu `negligible` is `Low`).
    None,
    /// Low.
    Low,
    /// Medium (Red Hat's `Moderate`).
    Medium,
    /// High (Red Hat's `Important`).
    High,
    /// Critical.
    Critical,
}

impl Level {
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
}

/// An advisory's normalised severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Severity {
    /// The class.
    pub level: Level,
    /// The highest CVSS base score, when the advisory has one.
    pub score: Option<f64>,
}

/// The severity of an advisory: the higher of its highest CVSS score's
/// class and its vendor rating.
pub fn of_advisory(advisory: &Advisory) -> Severity {
    let score = advisory
        .severity
        .iter()
        .filter(|s| !matches!(s.kind, SeverityKind::Vendor(_)))
        .filter_map(|s| s.score)
        .fold(None, |max: Option<f64>, s| {
            Some(max.map_or(s, |m| m.max(s)))
        });
    let vendor = advisory
        .severity
        .iter()
        .filter_map(|s| s.vendor_rating.as_deref().and_then(Level::of_word))
        .max()
        .or_else(|| {
            let title = advisory.title.as_deref()?;
            let (word, _) = title.split_once(':')?;
            Level::of_word(word)
        });
    let level = score
        .map(Level::of_score)
        .into_iter()
        .chain(vendor)
        .max()
        .unwrap_or_default();
    Severity { level, score }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_words_have_classes() {
        assert_eq!(Level::of_score(9.8), Level::Critical);
        assert_eq!(Level::of_score(7.0), Level::High);
        assert_eq!(Level::of_score(0.0), Level::None);
        assert_eq!(Level::of_word("Important"), Level::of_word("high"));
        assert_eq!(Level::of_word("Moderate"), Some(Level::Medium));
        assert_eq!(Level::of_word("security update"), None);
        assert!(Level::Critical > Level::High && Level::Low > Level::Unknown);
    }
}

//! One severity per advisory, normalised from what the advisory model holds
//! (ADV-3): the highest CVSS base score, and the vendor's word rating
//! (`Important`, Ubuntu's priority `medium`), whichever class is higher.
//!
//! AlmaLinux and Rocky Linux OSV records carry no severity field; like Red
//! Hat's errata they begin their summary with the rating (`Important:
//! firefox security update`), and that word is read as the vendor rating.

use rivet_advisory::model::{Advisory, SeverityKind};

pub use rivet_core::finding::Level;

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

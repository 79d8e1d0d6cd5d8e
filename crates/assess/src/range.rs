//! OSV version ranges, compiled once and evaluated many times, by the OSV
//! schema's evaluation algorithm: events sorted by version (`introduced: 0`
//! before everything), the last event at or below the version decides
//! (`introduced` turns affected on, `fixed` off at the fix, `last_affected`
//! off above it), and `limit` events bound the range (`*` is infinity; a
//! version must be below at least one limit). `GIT` ranges are not compiled:
//! commits have no order without the repository.
//!
//! Sorting happens when the index is built, since it does not depend on the
//! installed version; every event version is validated then, so a range
//! that compiled can always be compared against a valid installed version.

use std::cmp::Ordering;
use std::sync::Arc;

use rivet_advisory::model::{Event, Range, RangeKind};
use rivet_core::version::{self, Scheme};

/// What an event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Introduced,
    Fixed,
    LastAffected,
}

/// One sorted event; `version` is `None` for `introduced: 0`.
#[derive(Debug, Clone)]
struct Point {
    kind: Kind,
    version: Option<Arc<str>>,
}

/// A range ready for evaluation.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRange {
    /// The scheme its versions compare under (`SEMVER` ranges use SemVer
    /// whatever the ecosystem).
    pub scheme: Scheme,
    points: Vec<Point>,
    /// `None` stands for `*`.
    limits: Vec<Option<Arc<str>>>,
}

/// The result of evaluating a version against one range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome<'r> {
    /// The version is not in the range.
    Outside,
    /// The version is in the range; the fix is the next `fixed` event above
    /// it, `None` when the range has none (no fix yet, or only
    /// `last_affected`).
    Inside { fixed: Option<&'r Arc<str>> },
}

/// Compares two versions both known to be valid under `scheme`.
pub(crate) fn cmp(scheme: Scheme, a: &str, b: &str) -> Ordering {
    // Both sides were validated before; an error cannot happen, and Equal
    // would only make an impossible case conservative.
    version::compare(scheme, a, b).unwrap_or(Ordering::Equal)
}

impl CompiledRange {
    /// Compiles a range of an entry whose ecosystem compares under
    /// `scheme`. `Ok(None)` for a `GIT` range; `Err` names the first
    /// version that is not valid under the scheme.
    pub fn compile(range: &Range, scheme: Scheme) -> Result<Option<CompiledRange>, String> {
        let scheme = match range.kind {
            RangeKind::Git => return Ok(None),
            RangeKind::Semver => Scheme::Semver,
            RangeKind::Ecosystem => scheme,
        };
        let valid = |v: &str| {
            version::validate(scheme, v)
                .map(|()| Arc::<str>::from(v))
                .map_err(|reason| {
                    format!("event version {v:?} is not a valid {scheme} version: {reason}")
                })
        };
        let mut points = Vec::with_capacity(range.events.len());
        let mut limits = Vec::new();
        for event in &range.events {
            match event {
                Event::Introduced(v) if v == "0" => points.push(Point {
                    kind: Kind::Introduced,
                    version: None,
                }),
                Event::Introduced(v) => points.push(Point {
                    kind: Kind::Introduced,
                    version: Some(valid(v)?),
                }),
                Event::Fixed(v) => points.push(Point {
                    kind: Kind::Fixed,
                    version: Some(valid(v)?),
                }),
                Event::LastAffected(v) => points.push(Point {
                    kind: Kind::LastAffected,
                    version: Some(valid(v)?),
                }),
                Event::Limit(v) if v == "*" => limits.push(None),
                Event::Limit(v) => limits.push(Some(valid(v)?)),
            }
        }
        // A stable sort: events of equal versions keep the document's order.
        points.sort_by(|a, b| match (&a.version, &b.version) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => cmp(scheme, a, b),
        });
        Ok(Some(CompiledRange {
            scheme,
            points,
            limits,
        }))
    }

    /// Evaluates a version that is valid under [`Self::scheme`].
    pub fn evaluate(&self, v: &str) -> Outcome<'_> {
        let before_limits = self.limits.is_empty()
            || self.limits.iter().any(|limit| match limit {
                None => true,
                Some(limit) => cmp(self.scheme, v, limit) == Ordering::Less,
            });
        if !before_limits {
            return Outcome::Outside;
        }
        let mut vulnerable = false;
        // The first fixed or last_affected event the version has not reached.
        let mut next: Option<Option<&Arc<str>>> = None;
        for point in &self.points {
            let order = point
                .version
                .as_deref()
                .map_or(Ordering::Greater, |p| cmp(self.scheme, v, p));
            match point.kind {
                Kind::Introduced => {
                    if order != Ordering::Less {
                        vulnerable = true;
                    }
                }
                Kind::Fixed => {
                    if order != Ordering::Less {
                        vulnerable = false;
                    } else if next.is_none() {
                        next = Some(point.version.as_ref());
                    }
                }
                Kind::LastAffected => {
                    if order == Ordering::Greater {
                        vulnerable = false;
                    } else if next.is_none() {
                        next = Some(None);
                    }
                }
            }
        }
        if vulnerable {
            Outcome::Inside {
                fixed: next.flatten(),
            }
        } else {
            Outcome::Outside
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(events: Vec<Event>) -> CompiledRange {
        let r = Range {
            kind: RangeKind::Ecosystem,
            repo: None,
            events,
        };
        CompiledRange::compile(&r, Scheme::Deb).unwrap().unwrap()
    }

    #[test]
    fn unsorted_events_are_sorted_first() {
        // [1.0, 1.2) and [2.0, 2.3), given out of order.
        let r = range(vec![
            Event::Fixed("2.3".into()),
            Event::Introduced("2.0".into()),
            Event::Fixed("1.2".into()),
            Event::Introduced("1.0".into()),
        ]);
        let at = |v| match r.evaluate(v) {
            Outcome::Outside => None,
            Outcome::Inside { fixed } => Some(fixed.map(|f| f.to_string())),
        };
        assert_eq!(at("0.9"), None);
        assert_eq!(at("1.0"), Some(Some("1.2".into())));
        assert_eq!(at("1.2"), None);
        assert_eq!(at("2.1"), Some(Some("2.3".into())));
        assert_eq!(at("2.3"), None);
    }

    #[test]
    fn git_ranges_are_not_compiled_and_bad_versions_are_named() {
        let git = Range {
            kind: RangeKind::Git,
            repo: Some("https://example.org/x".into()),
            events: vec![Event::Introduced("abc".into())],
        };
        assert!(CompiledRange::compile(&git, Scheme::Deb).unwrap().is_none());
        let bad = Range {
            kind: RangeKind::Ecosystem,
            repo: None,
            events: vec![Event::Fixed("not a version".into())],
        };
        let err = CompiledRange::compile(&bad, Scheme::Deb).unwrap_err();
        assert!(err.contains("not a version"), "{err}");
    }
}

//! SemVer 2.0.0 versions, as crates.io and npm use them:
//! `MAJOR.MINOR.PATCH[-pre.release][+build]`, ordered by precedence
//! (build metadata ignored, a pre-release before its release, numeric
//! identifiers before alphanumeric ones).
//!
//! Written here rather than taken from the `semver` crate, which is Cargo's
//! dialect: it refuses the leading `v` that npm's parser accepts (`v1.2.3`)
//! and numbers beyond `u64`. Rivet accepts the `v` and compares numbers of any
//! length exactly; everything else follows the SemVer grammar strictly
//! (three components, no leading zeros in numbers, no empty identifiers).

use std::cmp::Ordering;

/// A parsed SemVer version borrowing from its string.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    /// Major, minor and patch digits, without leading zeros.
    pub core: [&'a str; 3],
    /// The dot-separated pre-release identifiers, empty for a release.
    pub pre: &'a str,
    /// Build metadata, ignored by comparison.
    pub build: &'a str,
}

/// Why a string is not a SemVer version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Nothing at all.
    #[error("version is empty")]
    Empty,
    /// Not exactly MAJOR.MINOR.PATCH before `-` or `+`.
    #[error("expected MAJOR.MINOR.PATCH, found {0:?}")]
    Core(String),
    /// `01.2.3`, `1.2.3-01`.
    #[error("number {0:?} has a leading zero")]
    LeadingZero(String),
    /// `1.2.3-`, `1.2.3-a..b`, `1.2.3+`.
    #[error("empty identifier in {0}")]
    EmptyIdentifier(&'static str),
    /// A character outside `[0-9A-Za-z-]` in an identifier.
    #[error("invalid character {0:?} in {1}")]
    BadChar(char, &'static str),
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parse a SemVer version; a single leading `v` is allowed, as npm allows it.
pub fn parse(s: &str) -> Result<Version<'_>, Invalid> {
    if s.is_empty() {
        return Err(Invalid::Empty);
    }
    let text = s.strip_prefix('v').unwrap_or(s);
    let (rest, build) = text.split_once('+').unwrap_or((text, ""));
    let (core, pre) = rest.split_once('-').unwrap_or((rest, ""));
    let mut parts = core.split('.');
    let mut numbers = [""; 3];
    for number in &mut numbers {
        match parts.next() {
            Some(n) if is_number(n) => *number = n,
            _ => return Err(Invalid::Core(core.to_owned())),
        }
    }
    if parts.next().is_some() {
        return Err(Invalid::Core(core.to_owned()));
    }
    if let Some(n) = numbers.iter().find(|n| n.len() > 1 && n.starts_with('0')) {
        return Err(Invalid::LeadingZero((*n).to_owned()));
    }
    if rest.len() > core.len() {
        identifiers(pre, "pre-release", true)?;
    }
    if text.len() > rest.len() {
        identifiers(build, "build metadata", false)?;
    }
    Ok(Version {
        core: numbers,
        pre,
        build,
    })
}

fn identifiers(list: &str, what: &'static str, numbers_strict: bool) -> Result<(), Invalid> {
    for id in list.split('.') {
        if id.is_empty() {
            return Err(Invalid::EmptyIdentifier(what));
        }
        if let Some(c) = id.chars().find(|&c| !c.is_ascii_alphanumeric() && c != '-') {
            return Err(Invalid::BadChar(c, what));
        }
        if numbers_strict && is_number(id) && id.len() > 1 && id.starts_with('0') {
            return Err(Invalid::LeadingZero(id.to_owned()));
        }
    }
    Ok(())
}

/// Precedence of two pre-release identifiers.
fn cmp_identifier(a: &str, b: &str) -> Ordering {
    match (is_number(a), is_number(b)) {
        (true, true) => super::cmp_digits(a.as_bytes(), b.as_bytes()),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let core = self
            .core
            .iter()
            .zip(&other.core)
            .map(|(a, b)| super::cmp_digits(a.as_bytes(), b.as_bytes()))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal);
        core.then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let mut a = self.pre.split('.');
                let mut b = other.pre.split('.');
                loop {
                    match (a.next(), b.next()) {
                        (None, None) => return Ordering::Equal,
                        (None, Some(_)) => return Ordering::Less,
                        (Some(_), None) => return Ordering::Greater,
                        (Some(x), Some(y)) => match cmp_identifier(x, y) {
                            Ordering::Equal => {}
                            unequal => return unequal,
                        },
                    }
                }
            }
        })
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    #[test]
    fn precedence() {
        assert_eq!(cmp("1.0.0-alpha", "1.0.0"), Ordering::Less);
        assert_eq!(cmp("1.0.0-alpha.1", "1.0.0-alpha.beta"), Ordering::Less);
        assert_eq!(cmp("1.0.0-beta.11", "1.0.0-beta.2"), Ordering::Greater);
        assert_eq!(cmp("1.2.3+a", "v1.2.3+b"), Ordering::Equal);
        assert_eq!(
            cmp("18446744073709551616.0.0", "18446744073709551615.0.0"),
            Ordering::Greater
        );
    }

    #[test]
    fn strict_grammar() {
        assert!(parse("1.2").is_err());
        assert!(parse("1.2.3.4").is_err());
        assert!(parse("01.2.3").is_err());
        assert!(parse("1.2.3-01").is_err());
        assert!(parse("1.2.3-").is_err());
        assert!(parse("1.2.3+").is_err());
        assert!(parse("1.2.3-a_b").is_err());
        assert!(parse("1.2.3+001").is_ok());
    }
}

//! Python package versions under PEP 440, parsed and ordered by `pep440_rs`
//! (the parser behind uv), which agrees with pypa/packaging, the reference
//! pip uses, on every upstream and generated vector.
//!
//! packaging 22 dropped "legacy" versions such as `0.1-bulbasaur`; pip no
//! longer installs them and neither does uv, so Rivet reports them invalid
//! rather than guess at setuptools' pre-2014 order.

use std::cmp::Ordering;
use std::str::FromStr;

/// A parsed PEP 440 version.
#[derive(Debug, Clone)]
pub struct Version(pep440_rs::Version);

impl Version {
    /// The version in its normal form (`1.0-RC1` → `1.0rc1`).
    pub fn normalized(&self) -> String {
        self.0.to_string()
    }
}

/// Why a string is not a PEP 440 version (the parser's own explanation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a PEP 440 version: {0}")]
pub struct Invalid(String);

/// Parse a PEP 440 version (surrounding whitespace, a leading `v` and the
/// spellings PEP 440 normalises, such as `-rc.1` or `.post`, are accepted).
pub fn parse(s: &str) -> Result<Version, Invalid> {
    pep440_rs::Version::from_str(s)
        .map(Version)
        .map_err(|e| Invalid(e.to_string()))
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_orders() {
        assert_eq!(parse("1.0-RC1").unwrap().normalized(), "1.0rc1");
        assert!(parse("1.0.dev1").unwrap() < parse("1.0a1").unwrap());
        assert!(parse("1!0.1").unwrap() > parse("99").unwrap());
        assert!(parse("0.1-bulbasaur").is_err());
    }
}

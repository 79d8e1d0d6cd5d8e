//! Version ranges as people type them when searching: `<3.0.11`,
//! `>=1.2,<2`, `=2.36-9+deb12u4`. Each bound is compared under the scheme
//! of the package it is applied to.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::{Scheme, compare};

/// A comparison in a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
        }
    }
}

/// Every bound must hold: `>=1.2,<2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    bounds: Vec<(Op, String)>,
}

/// A range that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version range {range:?}: {reason}")]
pub struct BadRange {
    /// The text given.
    pub range: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for Range {
    type Err = BadRange;
    fn from_str(s: &str) -> Result<Self, BadRange> {
        let bad = |reason: &str| BadRange {
            range: s.chars().take(200).collect(),
            reason: reason.into(),
        };
        if s.len() > 200 {
            return Err(bad("longer than 200 characters"));
        }
        let mut bounds = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let (op, version) = [
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("!=", Op::Ne),
                ("==", Op::Eq),
                ("<", Op::Lt),
                (">", Op::Gt),
                ("=", Op::Eq),
            ]
            .into_iter()
            .find_map(|(sym, op)| part.strip_prefix(sym).map(|v| (op, v.trim())))
            .unwrap_or((Op::Eq, part));
            if version.is_empty() || version.contains(char::is_whitespace) {
                return Err(bad(
                    "each bound is an operator (= != < <= > >=) and a version, bounds separated by commas",
                ));
            }
            bounds.push((op, version.to_owned()));
        }
        Ok(Range { bounds })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .bounds
            .iter()
            .map(|(op, v)| format!("{}{v}", op.symbol()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl Range {
    /// Whether `version` lies in the range under `scheme`. A version or
    /// bound the scheme cannot parse is outside.
    pub fn contains(&self, scheme: Scheme, version: &str) -> bool {
        self.bounds
            .iter()
            .all(|(op, bound)| compare(scheme, version, bound).is_ok_and(|ord| op.holds(ord)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_compare_under_the_scheme() {
        let r: Range = ">=3.0.0,<3.0.11-1~deb12u2".parse().unwrap();
        assert!(r.contains(Scheme::Deb, "3.0.11-1~deb12u1"));
        assert!(!r.contains(Scheme::Deb, "3.0.11-1~deb12u2"));
        assert!(!r.contains(Scheme::Deb, "2.9"));
        let exact: Range = "1:2.3".parse().unwrap();
        assert!(exact.contains(Scheme::Rpm, "1:2.3"));
        assert!(!exact.contains(Scheme::Rpm, "2.3"));
        assert_eq!(r.to_string(), ">=3.0.0,<3.0.11-1~deb12u2");
    }

    #[test]
    fn malformed_ranges_say_how_to_write_them() {
        for bad in ["", "<", ">=1,", "< 1 2"] {
            let err = bad.parse::<Range>().unwrap_err();
            assert!(err.to_string().contains("operator"), "{bad:?}: {err}");
        }
    }
}

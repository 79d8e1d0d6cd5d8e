//! Debian versions, `[epoch:]upstream[-revision]`, parsed with dpkg's
//! validity rules (`parseversion` in dpkg's lib/dpkg/parsehelp.c) and ordered
//! as dpkg's `verrevcmp`: `~` sorts before everything, even the end of the
//! string, letters before other symbols, digit runs as numbers.
//!
//! dpkg only warns about a version that does not start with a digit or holds a
//! character outside its alphabet, and `dpkg --compare-versions` then goes on;
//! every other dpkg tool refuses such a version in a package, so Rivet treats
//! the warnings as errors too, rather than order strings no archive can carry.

use std::cmp::Ordering;

/// A parsed Debian version borrowing from its string.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    /// The epoch, 0 when absent.
    pub epoch: u32,
    /// The upstream version (between the epoch and the last hyphen).
    pub upstream: &'a str,
    /// The Debian revision, empty when absent (which compares like `0`).
    pub revision: &'a str,
}

/// Why a string is not a Debian version; the messages are dpkg's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Empty, or only blanks.
    #[error("version string is empty")]
    Empty,
    /// A blank inside the version.
    #[error("version string has embedded spaces")]
    EmbeddedSpaces,
    /// `:1.0`, `a:1.0` (no digits where `strtol` starts reading).
    #[error("epoch in version is empty")]
    EpochEmpty,
    /// `1a:1.0`.
    #[error("epoch in version is not number")]
    EpochNotNumber,
    /// `-1:1.0`.
    #[error("epoch in version is negative")]
    EpochNegative,
    /// More than 2147483647.
    #[error("epoch in version is too big")]
    EpochTooBig,
    /// `1:`.
    #[error("nothing after colon in version number")]
    NothingAfterColon,
    /// `1.0-`.
    #[error("revision number is empty")]
    RevisionEmpty,
    /// `-1`, `1:-1`.
    #[error("version number is empty")]
    UpstreamEmpty,
    /// `a1.0` (a warning in dpkg, refused by its package tools).
    #[error("version number does not start with digit")]
    NotStartingWithDigit,
    /// A character outside `[A-Za-z0-9.+~:-]` in the upstream version.
    #[error("invalid character {0:?} in version number")]
    UpstreamChar(char),
    /// A character outside `[A-Za-z0-9.+~]` in the revision.
    #[error("invalid character {0:?} in revision number")]
    RevisionChar(char),
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parse a Debian version as dpkg does, blanks around it ignored.
pub fn parse(s: &str) -> Result<Version<'_>, Invalid> {
    let s = s.trim_matches(is_blank);
    if s.is_empty() {
        return Err(Invalid::Empty);
    }
    if s.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err(Invalid::EmbeddedSpaces);
    }
    let (epoch, rest) = match s.split_once(':') {
        Some((epoch, "")) => {
            parse_epoch(epoch)?;
            return Err(Invalid::NothingAfterColon);
        }
        Some((epoch, rest)) => (parse_epoch(epoch)?, rest),
        None => (0, s),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((_, "")) => return Err(Invalid::RevisionEmpty),
        Some((upstream, revision)) => (upstream, revision),
        None => (rest, ""),
    };
    let Some(first) = upstream.chars().next() else {
        return Err(Invalid::UpstreamEmpty);
    };
    if !first.is_ascii_digit() {
        return Err(Invalid::NotStartingWithDigit);
    }
    if let Some(at) = first_outside(upstream, b".-+~:") {
        return Err(Invalid::UpstreamChar(char_at(upstream, at)));
    }
    if let Some(at) = first_outside(revision, b".+~") {
        return Err(Invalid::RevisionChar(char_at(revision, at)));
    }
    Ok(Version {
        epoch,
        upstream,
        revision,
    })
}

/// The byte offset of the first character that is neither ASCII alphanumeric
/// nor one of `symbols` (a byte scan: this runs on every comparison).
fn first_outside(text: &str, symbols: &[u8]) -> Option<usize> {
    text.bytes()
        .position(|b| !b.is_ascii_alphanumeric() && !symbols.contains(&b))
}

fn char_at(text: &str, at: usize) -> char {
    text.get(at..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or('\u{FFFD}')
}

/// The epoch: digits that must run right up to the colon.
///
/// dpkg reads it with `strtol`, which also takes a sign (`+1:`, `-0:`), but apt
/// then orders such a version differently from dpkg; Policy calls the epoch an
/// unsigned integer, so a sign is refused here rather than compared two ways.
fn parse_epoch(digits: &str) -> Result<u32, Invalid> {
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return Err(match digits.as_bytes().first() {
            Some(b'-') if digits[1..].bytes().any(|b| b.is_ascii_digit()) => Invalid::EpochNegative,
            Some(b'+' | b'-') if digits[1..].bytes().any(|b| b.is_ascii_digit()) => {
                Invalid::EpochNotNumber
            }
            _ => Invalid::EpochEmpty,
        });
    }
    if end != digits.len() {
        return Err(Invalid::EpochNotNumber);
    }
    if super::trim_zeros(digits.as_bytes()).len() > 10 {
        return Err(Invalid::EpochTooBig);
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|&v| v <= i32::MAX as u32)
        .ok_or(Invalid::EpochTooBig)
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream.as_bytes(), other.upstream.as_bytes()))
            .then_with(|| verrevcmp(self.revision.as_bytes(), other.revision.as_bytes()))
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

/// The weight of a non-digit character in dpkg's order; 0 is the end.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternate non-digit runs (by [`order`]) and digit runs
/// (as numbers) until one side wins.
pub fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        let start_a = i;
        while digit(a, i) {
            i += 1;
        }
        let start_b = j;
        while digit(b, j) {
            j += 1;
        }
        match super::cmp_digits(&a[start_a..i], &b[start_b..j]) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    #[test]
    fn tilde_sorts_before_the_end() {
        assert_eq!(cmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0~~", "1.0~"), Ordering::Less);
        assert_eq!(cmp("1.0-1~bpo1", "1.0-1"), Ordering::Less);
    }

    #[test]
    fn epoch_and_revision() {
        assert_eq!(cmp("1:0.1", "9.9"), Ordering::Greater);
        assert_eq!(cmp("0:1.0", "1.0-0"), Ordering::Equal);
        assert_eq!(cmp("1.0-10", "1.0-9"), Ordering::Greater);
    }

    #[test]
    fn dpkg_refuses() {
        assert_eq!(parse("").unwrap_err(), Invalid::Empty);
        assert_eq!(parse("1 0").unwrap_err(), Invalid::EmbeddedSpaces);
        assert_eq!(parse(":1").unwrap_err(), Invalid::EpochEmpty);
        assert_eq!(parse("a:1").unwrap_err(), Invalid::EpochEmpty);
        assert_eq!(parse("1a:1").unwrap_err(), Invalid::EpochNotNumber);
        assert_eq!(parse("-1:1").unwrap_err(), Invalid::EpochNegative);
        assert_eq!(parse("+1:1").unwrap_err(), Invalid::EpochNotNumber);
        assert_eq!(parse("2147483648:1").unwrap_err(), Invalid::EpochTooBig);
        assert!(parse("2147483647:1").is_ok());
        assert_eq!(parse("1:").unwrap_err(), Invalid::NothingAfterColon);
        assert_eq!(parse("1-").unwrap_err(), Invalid::RevisionEmpty);
        assert_eq!(parse("1:-1").unwrap_err(), Invalid::UpstreamEmpty);
        assert_eq!(parse("a1").unwrap_err(), Invalid::NotStartingWithDigit);
        assert_eq!(parse("1_0").unwrap_err(), Invalid::UpstreamChar('_'));
        assert_eq!(parse("1-a:b").unwrap_err(), Invalid::EpochNotNumber);
        assert_eq!(parse("1-a=b").unwrap_err(), Invalid::RevisionChar('='));
    }
}

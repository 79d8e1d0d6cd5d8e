//! Version comparison under each ecosystem's own rules.
//!
//! A finding is only as right as the comparison behind it: one wrong answer is a
//! missed patch or a false alarm on every host with that package. Each scheme
//! lives in its own module and follows the real tool it is named after (dpkg,
//! librpm, apk-tools, pypa/packaging, SemVer 2.0 as npm reads it, Maven's
//! `ComparableVersion`); [`compare`] is the one entry point, and
//! [`run_vercmp`] is the `rivet vercmp` filter over lines of `A<TAB>B`.

pub mod apk;
pub mod deb;
pub mod maven;
pub mod pep440;
pub mod range;
pub mod rpm;
pub mod semver;

use std::cmp::Ordering;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::str::FromStr;

/// The version schemes Rivet compares, one per family of package managers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian and Ubuntu packages, as dpkg compares them.
    Deb,
    /// RPM packages (`[epoch:]version[-release]`), as librpm's `labelCompare`.
    Rpm,
    /// Alpine apk packages (also Alpaquita, Wolfi, Chainguard), as apk-tools 3.
    Apk,
    /// Python packages, PEP 440 as pypa/packaging implements it.
    Pep440,
    /// SemVer 2.0 (crates.io, npm).
    Semver,
    /// Maven artifacts, as Maven's `ComparableVersion`.
    Maven,
}

impl Scheme {
    /// Every scheme, in a fixed order.
    pub const ALL: [Scheme; 6] = [
        Scheme::Deb,
        Scheme::Rpm,
        Scheme::Apk,
        Scheme::Pep440,
        Scheme::Semver,
        Scheme::Maven,
    ];

    /// The name used on the command line (`deb`, `rpm`, …).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Deb => "deb",
            Scheme::Rpm => "rpm",
            Scheme::Apk => "apk",
            Scheme::Pep440 => "pep440",
            Scheme::Semver => "semver",
            Scheme::Maven => "maven",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scheme name that is not one of [`Scheme::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown version scheme {0:?} (expected deb, rpm, apk, pep440, semver or maven)")]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name() == s)
            .ok_or_else(|| UnknownScheme(s.to_owned()))
    }
}

/// Which operand of a comparison a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The left operand.
    A,
    /// The right operand.
    B,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// Why a version string is not valid under its scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// Not a Debian version.
    #[error(transparent)]
    Deb(#[from] deb::Invalid),
    /// Not an RPM version.
    #[error(transparent)]
    Rpm(#[from] rpm::Invalid),
    /// Not an apk version.
    #[error(transparent)]
    Apk(#[from] apk::Invalid),
    /// Not a PEP 440 version.
    #[error(transparent)]
    Pep440(#[from] pep440::Invalid),
    /// Not a SemVer version.
    #[error(transparent)]
    Semver(#[from] semver::Invalid),
    /// Not a Maven version.
    #[error(transparent)]
    Maven(#[from] maven::Invalid),
}

/// A comparison that could not be made because one operand is not a valid
/// version; when both are invalid, the error is about A.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{side} {version:?}: {reason}")]
pub struct InvalidVersion {
    /// The operand at fault.
    pub side: Side,
    /// The operand as given.
    pub version: String,
    /// What is wrong with it.
    pub reason: Reason,
}

/// Tag an operand's parse error with its side.
fn on<T, E: Into<Reason>>(side: Side, version: &str, r: Result<T, E>) -> Result<T, InvalidVersion> {
    r.map_err(|e| InvalidVersion {
        side,
        version: version.to_owned(),
        reason: e.into(),
    })
}

/// Compare two versions under `scheme`'s rules.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, InvalidVersion> {
    macro_rules! both {
        ($module:ident) => {{
            let va = on(Side::A, a, $module::parse(a))?;
            let vb = on(Side::B, b, $module::parse(b))?;
            Ok(va.cmp(&vb))
        }};
    }
    match scheme {
        Scheme::Deb => both!(deb),
        Scheme::Rpm => both!(rpm),
        Scheme::Apk => both!(apk),
        Scheme::Pep440 => both!(pep440),
        Scheme::Semver => both!(semver),
        Scheme::Maven => both!(maven),
    }
}

/// Check that `version` is valid under `scheme`, without comparing it.
pub fn validate(scheme: Scheme, version: &str) -> Result<(), Reason> {
    match scheme {
        Scheme::Deb => deb::parse(version).map(drop).map_err(Reason::from),
        Scheme::Rpm => rpm::parse(version).map(drop).map_err(Reason::from),
        Scheme::Apk => apk::parse(version).map(drop).map_err(Reason::from),
        Scheme::Pep440 => pep440::parse(version).map(drop).map_err(Reason::from),
        Scheme::Semver => semver::parse(version).map(drop).map_err(Reason::from),
        Scheme::Maven => maven::parse(version).map(drop).map_err(Reason::from),
    }
}

/// What [`run_vercmp`] saw: the caller exits 1 when `invalid` is not zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VercmpSummary {
    /// Input lines read (each produced one output line).
    pub lines: u64,
    /// Lines answered with `invalid: …`.
    pub invalid: u64,
}

/// The `rivet vercmp` filter: read lines `A<TAB>B` and write, per line, `-1`,
/// `0`, `1` or `invalid: <side and reason>`.
///
/// Line ends may be `\n` or `\r\n`; a line without a tab, or that is not UTF-8,
/// is answered `invalid: …` like a bad version. Output is buffered here, so
/// pass the raw stream (`io::stdout().lock()`); it is flushed before returning.
pub fn run_vercmp(
    scheme: Scheme,
    mut input: impl BufRead,
    output: impl Write,
) -> io::Result<VercmpSummary> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, output);
    let mut line = Vec::with_capacity(256);
    let mut summary = VercmpSummary::default();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        summary.lines += 1;
        let mut text: &[u8] = &line;
        text = text.strip_suffix(b"\n").unwrap_or(text);
        text = text.strip_suffix(b"\r").unwrap_or(text);
        let answer = match std::str::from_utf8(text) {
            Err(e) => Err(format!("line is not UTF-8 (byte {})", e.valid_up_to() + 1)),
            Ok(text) => match text.split_once('\t') {
                None => Err("line has no tab between A and B".to_owned()),
                Some((a, b)) => compare(scheme, a, b).map_err(|e| e.to_string()),
            },
        };
        match answer {
            Ok(Ordering::Less) => out.write_all(b"-1\n")?,
            Ok(Ordering::Equal) => out.write_all(b"0\n")?,
            Ok(Ordering::Greater) => out.write_all(b"1\n")?,
            Err(why) => {
                summary.invalid += 1;
                writeln!(out, "invalid: {why}")?;
            }
        }
    }
    out.flush()?;
    Ok(summary)
}

/// Compare two runs of ASCII digits as unbounded natural numbers.
///
/// Several tools compare digit runs of any length this way (rpm, dpkg), and
/// for the others it is the exact answer where a fixed-width integer would
/// overflow.
pub(crate) fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let a = trim_zeros(a);
    let b = trim_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The digits with leading zeros removed (`"000"` becomes empty, i.e. zero).
pub(crate) fn trim_zeros(digits: &[u8]) -> &[u8] {
    let start = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    &digits[start..]
}

impl serde::Serialize for Scheme {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Scheme {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_names_round_trip() {
        for scheme in Scheme::ALL {
            assert_eq!(scheme.name().parse::<Scheme>(), Ok(scheme));
        }
        assert!("dpkg".parse::<Scheme>().is_err());
    }

    #[test]
    fn vercmp_answers_each_line() {
        let input = b"1.0\t1.1\n2:1\t1:9\r\n1.0\t1.0\nno tab\n1:\t1\n\xff\t1\n";
        let mut out = Vec::new();
        let summary = run_vercmp(Scheme::Deb, &input[..], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-1\n1\n0\ninvalid: line has no tab between A and B\n\
             invalid: A \"1:\": nothing after colon in version number\n\
             invalid: line is not UTF-8 (byte 1)\n"
        );
        assert_eq!(
            summary,
            VercmpSummary {
                lines: 6,
                invalid: 3
            }
        );
    }

    #[test]
    fn invalid_names_the_side() {
        let e = compare(Scheme::Deb, "1.0", "a1").unwrap_err();
        assert_eq!(e.side, Side::B);
        assert_eq!(e.version, "a1");
    }

    #[test]
    fn digits_compare_as_numbers() {
        assert_eq!(cmp_digits(b"0010", b"9"), Ordering::Greater);
        assert_eq!(cmp_digits(b"000", b""), Ordering::Equal);
        assert_eq!(cmp_digits(b"123", b"124"), Ordering::Less);
    }
}

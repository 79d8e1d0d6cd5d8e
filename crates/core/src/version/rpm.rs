//! RPM versions: `[epoch:]version[-release]` split as librpm's `parseEVR` and
//! ordered as `rpm.labelCompare` (rpm 4.18): epoch, version and release each
//! compared with `rpmvercmp`, a missing epoch counting as `0` and a missing
//! release sorting before any release. Also NEVRA strings, the
//! `name-[epoch:]version-release.arch` that `rpm -qa` prints.
//!
//! rpmvercmp compares alphanumeric runs and skips everything else, so almost
//! any string is a version to librpm; Rivet refuses only what no package can
//! carry: an empty version, blanks and control characters.

use std::cmp::Ordering;

/// A parsed RPM `[epoch:]version[-release]`, borrowing from its string.
#[derive(Debug, Clone, Copy)]
pub struct Evr<'a> {
    /// The epoch's digits, `None` when absent (compared as `0`).
    pub epoch: Option<&'a str>,
    /// The version.
    pub version: &'a str,
    /// The release, `None` when there is no hyphen.
    pub release: Option<&'a str>,
}

/// Why a string is not an RPM version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Nothing at all.
    #[error("version is empty")]
    Empty,
    /// `1:` or `-1`: nothing between the epoch and the release.
    #[error("version part is empty")]
    VersionEmpty,
    /// A blank or control character, which no RPM header field holds.
    #[error("contains {0:?}, not allowed in a version")]
    BadChar(char),
}

/// Parse an EVR as librpm's `parseEVR`: an epoch only when the string starts
/// with digits followed by `:`, the release after the last hyphen.
pub fn parse(s: &str) -> Result<Evr<'_>, Invalid> {
    if s.is_empty() {
        return Err(Invalid::Empty);
    }
    // A byte scan first: this runs on every comparison, and versions are ASCII.
    if s.bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || !b.is_ascii())
        && let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Invalid::BadChar(c));
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (epoch, rest) = match s[digits..].strip_prefix(':') {
        Some(rest) => (Some(&s[..digits]), rest),
        None => (None, s),
    };
    let (version, release) = match rest.rsplit_once('-') {
        Some((version, release)) => (version, Some(release)),
        None => (rest, None),
    };
    if version.is_empty() {
        return Err(Invalid::VersionEmpty);
    }
    Ok(Evr {
        epoch,
        version,
        release,
    })
}

impl Ord for Evr<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        fn epoch(e: Option<&str>) -> &str {
            match e {
                None | Some("") => "0",
                Some(e) => e,
            }
        }
        rpmvercmp(epoch(self.epoch), epoch(other.epoch))
            .then_with(|| rpmvercmp(self.version, other.version))
            .then_with(|| match (self.release, other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

impl PartialOrd for Evr<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Evr<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Evr<'_> {}

/// librpm's `rpmvercmp` on two version (or release, or epoch) strings.
///
/// Alphanumeric runs are compared in turn (digits as numbers, letters as
/// bytes, digits newer than letters); other characters only separate them,
/// except `~`, which sorts before everything including the end, and `^`,
/// which sorts after the end but before anything else.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let at = |s: &[u8], k: usize| s.get(k).copied().unwrap_or(0);
    let is_sep = |c: u8| c != 0 && !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while is_sep(at(a, i)) {
            i += 1;
        }
        while is_sep(at(b, j)) {
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        if ca == b'~' || cb == b'~' {
            if ca != b'~' {
                return Ordering::Greater;
            }
            if cb != b'~' {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == b'^' || cb == b'^' {
            if ca == 0 {
                return Ordering::Less;
            }
            if cb == 0 {
                return Ordering::Greater;
            }
            if ca != b'^' {
                return Ordering::Greater;
            }
            if cb != b'^' {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == 0 || cb == 0 {
            break;
        }
        let numeric = ca.is_ascii_digit();
        let class = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (start_a, start_b) = (i, j);
        while class(at(a, i)) {
            i += 1;
        }
        while class(at(b, j)) {
            j += 1;
        }
        let (run_a, run_b) = (&a[start_a..i], &b[start_b..j]);
        // A run of the other class is empty here: numbers beat letters.
        if run_b.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            super::cmp_digits(run_a, run_b)
        } else {
            run_a.cmp(run_b)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    let (rest_a, rest_b) = (i < a.len(), j < b.len());
    rest_a.cmp(&rest_b)
}

/// A package as `rpm -qa` names it: `name-[epoch:]version-release[.arch]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nevra<'a> {
    /// The package name (may itself contain hyphens).
    pub name: &'a str,
    /// The epoch's digits, when written.
    pub epoch: Option<&'a str>,
    /// The version.
    pub version: &'a str,
    /// The release.
    pub release: &'a str,
    /// The architecture, when the string ends in a known one (`gpg-pubkey`
    /// entries have none).
    pub arch: Option<&'a str>,
}

impl<'a> Nevra<'a> {
    /// The version part, for comparison under [`Evr`]'s order.
    pub fn evr(&self) -> Evr<'a> {
        Evr {
            epoch: self.epoch,
            version: self.version,
            release: Some(self.release),
        }
    }
}

/// Why a string is not a NEVRA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNevra {
    /// Fewer than the two hyphens that separate name, version and release.
    #[error("expected name-version-release, found too few hyphens")]
    MissingParts,
    /// One of name, version or release is empty.
    #[error("the {0} is empty")]
    EmptyPart(&'static str),
    /// An epoch that is not digits.
    #[error("epoch {0:?} is not a number")]
    BadEpoch(String),
    /// A blank or control character.
    #[error("contains {0:?}, not allowed in a package name")]
    BadChar(char),
}

/// Architectures recognised at the end of a NEVRA: a release may contain
/// dots (`1.el9_2.1`), so only a known name is taken as the architecture.
pub const ARCHES: &[&str] = &[
    "noarch",
    "x86_64",
    "i386",
    "i486",
    "i586",
    "i686",
    "athlon",
    "amd64",
    "ia32e",
    "x86_64_v2",
    "x86_64_v3",
    "x86_64_v4",
    "aarch64",
    "arm64",
    "armv5tel",
    "armv6l",
    "armv6hl",
    "armv7l",
    "armv7hl",
    "armv7hnl",
    "ppc",
    "ppc64",
    "ppc64le",
    "ppc64p7",
    "s390",
    "s390x",
    "riscv64",
    "loongarch64",
    "mips",
    "mipsel",
    "mips64",
    "mips64el",
    "sparc",
    "sparc64",
    "sparcv9",
    "ia64",
    "alpha",
    "src",
    "nosrc",
    "(none)",
];

/// Parse the forms `rpm -qa` and friends print: `name-version-release.arch`,
/// `name-epoch:version-release.arch`, yum's `epoch:name-version-release.arch`,
/// `name-version-release` (no arch), and file names ending in `.rpm`.
pub fn parse_nevra(s: &str) -> Result<Nevra<'_>, InvalidNevra> {
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidNevra::BadChar(c));
    }
    let mut rest = s.strip_suffix(".rpm").unwrap_or(s);
    let mut arch = None;
    if let Some((head, tail)) = rest.rsplit_once('.')
        && ARCHES.contains(&tail)
    {
        arch = Some(tail);
        rest = head;
    }
    let (head, release) = rest.rsplit_once('-').ok_or(InvalidNevra::MissingParts)?;
    let (mut name, mut version) = head.rsplit_once('-').ok_or(InvalidNevra::MissingParts)?;
    let mut epoch = None;
    if let Some((e, v)) = version.split_once(':') {
        epoch = Some(e);
        version = v;
    } else if let Some((e, n)) = name.split_once(':') {
        epoch = Some(e);
        name = n;
    }
    if let Some(e) = epoch
        && (e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(InvalidNevra::BadEpoch(e.to_owned()));
    }
    for (part, what) in [(name, "name"), (version, "version"), (release, "release")] {
        if part.is_empty() {
            return Err(InvalidNevra::EmptyPart(what));
        }
    }
    Ok(Nevra {
        name,
        epoch,
        version,
        release,
        arch,
    })
}

/// `[epoch:]version[-release]` as Rivet writes an rpm's version: the epoch
/// only when rpm gives one, the release only when there is one.
pub fn evr(epoch: Option<&str>, version: &str, release: &str) -> String {
    let vr = if release.is_empty() {
        version.to_owned()
    } else {
        format!("{version}-{release}")
    };
    match epoch {
        Some(e) => format!("{e}:{vr}"),
        None => vr,
    }
}

/// Splits a source rpm's file name, `name-version-release.src.rpm` (or
/// `.nosrc.rpm`), into name, version and release.
pub fn parse_source_rpm(file: &str) -> Option<(&str, &str, &str)> {
    let stem = file
        .strip_suffix(".src.rpm")
        .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty())
        .then_some((name, version, release))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_rpm_names() {
        assert_eq!(
            parse_source_rpm("kernel-5.14.0-427.13.1.el9_4.src.rpm"),
            Some(("kernel", "5.14.0", "427.13.1.el9_4"))
        );
        assert_eq!(
            parse_source_rpm("python-dateutil-2.8.1-7.el9.src.rpm"),
            Some(("python-dateutil", "2.8.1", "7.el9"))
        );
        assert_eq!(parse_source_rpm("foo.src.rpm"), None);
        assert_eq!(parse_source_rpm("foo-1-2.noarch.rpm"), None);
    }

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    #[test]
    fn evr_parts() {
        let evr = parse("2:1.0-3.el9").unwrap();
        assert_eq!(
            (evr.epoch, evr.version, evr.release),
            (Some("2"), "1.0", Some("3.el9"))
        );
        // Not an epoch: rpm's parseEVR wants digits right before the colon.
        let evr = parse("a:1").unwrap();
        assert_eq!((evr.epoch, evr.version, evr.release), (None, "a:1", None));
    }

    #[test]
    fn label_compare_rules() {
        assert_eq!(cmp("1.0", "0:1.0"), Ordering::Equal);
        assert_eq!(cmp("1.0", "1.0-1"), Ordering::Less);
        assert_eq!(cmp("1-", "1"), Ordering::Greater);
        assert_eq!(cmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0^git1", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0^git1", "1.0.1"), Ordering::Less);
        assert_eq!(cmp("1:1", "2"), Ordering::Greater);
    }

    #[test]
    fn nevra_forms() {
        let n = parse_nevra("bash-5.1.8-6.el9_1.x86_64").unwrap();
        assert_eq!(
            (n.name, n.epoch, n.version, n.release, n.arch),
            ("bash", None, "5.1.8", "6.el9_1", Some("x86_64"))
        );
        let n = parse_nevra("perl-Scalar-List-Utils-4:1.56-462.el9.x86_64").unwrap();
        assert_eq!(
            (n.name, n.epoch, n.version, n.release),
            ("perl-Scalar-List-Utils", Some("4"), "1.56", "462.el9")
        );
        let n = parse_nevra("1:openssl-3.0.7-24.el9.x86_64").unwrap();
        assert_eq!((n.name, n.epoch), ("openssl", Some("1")));
        let n = parse_nevra("gpg-pubkey-fd431d51-4ae0493b").unwrap();
        assert_eq!(
            (n.name, n.version, n.release, n.arch),
            ("gpg-pubkey", "fd431d51", "4ae0493b", None)
        );
        let n = parse_nevra("kernel-5.14.0-362.8.1.el9_3.src.rpm").unwrap();
        assert_eq!((n.release, n.arch), ("362.8.1.el9_3", Some("src")));
        assert_eq!(parse_nevra("bash"), Err(InvalidNevra::MissingParts));
        assert_eq!(parse_nevra("-1-2"), Err(InvalidNevra::EmptyPart("name")));
        assert!(matches!(
            parse_nevra("x-a:1-2"),
            Err(InvalidNevra::BadEpoch(_))
        ));
    }
}

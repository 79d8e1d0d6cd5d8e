//! Which advisory ecosystem a host's packages belong to (ASM-1), and how
//! advisories and packages of an ecosystem are keyed so that they meet.
//!
//! A host's ecosystem comes from its os-release and nothing else: Debian 12
//! is `Debian:12`, Ubuntu 22.04 `Ubuntu:22.04:LTS`, AlmaLinux 9.4
//! `AlmaLinux:9`, Alpine 3.20.3 `Alpine:v3.20`. An operating system Rivet
//! has no rule for gets no distribution matching and a reason saying so —
//! never a guess from `ID_LIKE` or a product name.
//!
//! Advisories and packages meet under a *key*: the ecosystem name and the
//! release, without qualifiers (Ubuntu's `LTS` and `Pro`, Red Hat's
//! repository suffix `::appstream`), so that `Ubuntu:Pro:18.04:LTS` and
//! `Ubuntu:18.04:LTS` advisories both reach an Ubuntu 18.04 host, as the OSV
//! data intends.

use std::fmt;

use rivet_advisory::model;
use rivet_core::inventory::{OsRelease, PackageFormat};
use rivet_core::version::Scheme;

/// Which of a package's names an ecosystem's advisories use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Naming {
    /// The source package (Debian and Ubuntu by dpkg's `Source`, Alpine and
    /// Alpaquita by apk's origin), compared at the source version.
    Source,
    /// The binary package itself, at its own version: AlmaLinux and Rocky
    /// Linux OSV name every binary rpm with its EVR, Red Hat CSAF names
    /// binary rpms by purl, and language ecosystems have only one name.
    Binary,
}

/// The naming an ecosystem (by its OSV name) uses.
///
/// AlmaLinux is `Binary` although the OSV schema calls its names source
/// packages: the published records list binary rpms (`kernel-64k-core`,
/// `grub2-efi-x64`, `python3-perf`) each with its own EVR, and a binary-only
/// name would never be found under a source name.
pub fn naming_of(ecosystem_name: &str) -> Naming {
    match ecosystem_name {
        "Debian"
        | "Ubuntu"
        | "Alpine"
        | "Alpaquita"
        | "BellSoft Hardened Containers"
        | "Echo"
        | "Mageia"
        | "openEuler"
        | "SUSE"
        | "openSUSE" => Naming::Source,
        _ => Naming::Binary,
    }
}

/// The ecosystem a host's (or a language package's) packages are assessed
/// under. Built by [`of_os`], [`of_host`] or [`Ecosystem::language`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ecosystem {
    name: String,
    release: Option<String>,
    osv: String,
    key: String,
    naming: Naming,
    scheme: Scheme,
    format: Option<PackageFormat>,
}

impl Ecosystem {
    fn distro(
        name: &str,
        release: String,
        osv: String,
        format: PackageFormat,
    ) -> Result<Ecosystem, UnknownEcosystem> {
        Ok(Ecosystem {
            naming: naming_of(name),
            scheme: format.scheme(),
            key: key(name, Some(&release)),
            name: name.to_owned(),
            release: Some(release),
            osv,
            format: Some(format),
        })
    }

    /// A language ecosystem by its OSV name (`crates.io`, `PyPI`, `npm`,
    /// `Go`, `Maven`), or `None` when Rivet cannot compare its versions.
    pub fn language(name: &str) -> Option<Ecosystem> {
        let scheme = model::scheme_of(name)?;
        if matches!(scheme, Scheme::Deb | Scheme::Rpm | Scheme::Apk) {
            return None;
        }
        Some(Ecosystem {
            name: name.to_owned(),
            release: None,
            osv: name.to_owned(),
            key: name.to_owned(),
            naming: Naming::Binary,
            scheme,
            format: None,
        })
    }

    /// The OSV ecosystem name (`Ubuntu`, `AlmaLinux`, `crates.io`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The release as the key spells it (`22.04`, `9`, `v3.20`,
    /// `enterprise_linux:9`); `None` for language ecosystems.
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    /// The full OSV ecosystem string the vendor publishes for this host
    /// (`Ubuntu:22.04:LTS`), for display.
    pub fn osv(&self) -> &str {
        &self.osv
    }

    /// The key advisories and packages of this ecosystem meet under
    /// (`Ubuntu:22.04`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Which of a package's names the advisories use.
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// How versions compare.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The package format a host of this ecosystem installs (`None` for a
    /// language ecosystem).
    pub fn format(&self) -> Option<PackageFormat> {
        self.format
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.osv)
    }
}

/// Why a host gets no distribution matching.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{reason}")]
pub struct UnknownEcosystem {
    /// What is missing or unknown, in words for the user.
    pub reason: String,
}

impl UnknownEcosystem {
    fn new(reason: impl Into<String>) -> UnknownEcosystem {
        UnknownEcosystem {
            reason: reason.into(),
        }
    }
}

/// The ecosystem of a host, from its os-release (ASM-1).
pub fn of_host(os: Option<&OsRelease>) -> Result<Ecosystem, UnknownEcosystem> {
    match os {
        Some(os) => of_os(os),
        None => Err(UnknownEcosystem::new(
            "the operating system is not known (no os-release); name it to match distribution advisories",
        )),
    }
}

/// The ecosystem of an operating system, from its os-release `ID` and
/// `VERSION_ID`.
pub fn of_os(os: &OsRelease) -> Result<Ecosystem, UnknownEcosystem> {
    let id = os.id.as_str();
    let version = os.version_id.as_deref().map(str::trim).unwrap_or("");
    let need_version = || {
        UnknownEcosystem::new(format!(
            "os-release ID {id:?} without a VERSION_ID: the release cannot be told (a testing or rolling release?)"
        ))
    };
    let malformed = || {
        UnknownEcosystem::new(format!(
            "os-release ID {id:?} with VERSION_ID {version:?}: not a release number Rivet can read"
        ))
    };
    if version.is_empty() {
        return Err(need_version());
    }
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = |i: usize| {
        parts
            .get(i)
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .copied()
    };
    match id {
        "debian" => {
            let major = numeric(0).ok_or_else(malformed)?;
            Ecosystem::distro(
                "Debian",
                major.into(),
                format!("Debian:{major}"),
                PackageFormat::Deb,
            )
        }
        "ubuntu" => {
            let (year, month) = numeric(0).zip(numeric(1)).ok_or_else(malformed)?;
            let release = format!("{year}.{month}");
            // Ubuntu's long-term releases are the .04 of even years.
            let lts = month == "04" && year.parse::<u32>().is_ok_and(|y| y % 2 == 0);
            let osv = if lts {
                format!("Ubuntu:{release}:LTS")
            } else {
                format!("Ubuntu:{release}")
            };
            Ecosystem::distro("Ubuntu", release, osv, PackageFormat::Deb)
        }
        "almalinux" | "rocky" => {
            let name = if id == "rocky" {
                "Rocky Linux"
            } else {
                "AlmaLinux"
            };
            let major = numeric(0).ok_or_else(malformed)?;
            Ecosystem::distro(
                name,
                major.into(),
                format!("{name}:{major}"),
                PackageFormat::Rpm,
            )
        }
        "rhel" => {
            let major = numeric(0).ok_or_else(malformed)?;
            let release = format!("enterprise_linux:{major}");
            Ecosystem::distro(
                "Red Hat",
                release.clone(),
                format!("Red Hat:{release}"),
                PackageFormat::Rpm,
            )
        }
        "alpine" => {
            let (major, minor) = numeric(0).zip(numeric(1)).ok_or_else(malformed)?;
            let release = format!("v{major}.{minor}");
            Ecosystem::distro(
                "Alpine",
                release.clone(),
                format!("Alpine:{release}"),
                PackageFormat::Apk,
            )
        }
        "alpaquita" => {
            // Numbered LTS releases (`23`) and the rolling `stream`, verbatim.
            if !version.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(malformed());
            }
            Ecosystem::distro(
                "Alpaquita",
                version.into(),
                format!("Alpaquita:{version}"),
                PackageFormat::Apk,
            )
        }
        other => Err(UnknownEcosystem::new(format!(
            "no advisory ecosystem is known for os-release ID {other:?} (known: debian, ubuntu, almalinux, rocky, rhel, alpine, alpaquita)"
        ))),
    }
}

/// Whether the OSV schema lets this ecosystem's entries omit the release
/// (`Debian`, `AlmaLinux`), in which case they apply to every release.
/// Elsewhere an unscoped entry (a Red Hat CSAF product without a platform)
/// is not matched to any host: it would cross releases.
pub(crate) fn release_optional(name: &str) -> bool {
    matches!(name, "Debian" | "AlmaLinux")
}

/// The key an ecosystem name and release meet under.
pub(crate) fn key(name: &str, release: Option<&str>) -> String {
    match release {
        Some(release) => format!("{name}:{release}"),
        None => name.to_owned(),
    }
}

/// The key of an advisory's ecosystem: qualifiers dropped (Ubuntu's
/// `LTS`/`Pro`, which [`model::Ecosystem::parse`] already separates, and Red
/// Hat's repository after `::`).
pub(crate) fn advisory_key(ecosystem: &model::Ecosystem) -> String {
    let release = ecosystem.release.as_deref().map(|r| {
        if ecosystem.name == "Red Hat" {
            r.split("::").next().unwrap_or(r)
        } else {
            r
        }
    });
    key(&ecosystem.name, release)
}

/// The OSV ecosystem of a package URL type (`cargo` → `crates.io`).
pub fn of_purl_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "cargo" => "crates.io",
        "pypi" => "PyPI",
        "npm" => "npm",
        "golang" => "Go",
        "maven" => "Maven",
        "gem" => "RubyGems",
        "nuget" => "NuGet",
        "composer" => "Packagist",
        "hex" => "Hex",
        "pub" => "Pub",
        "hackage" => "Hackage",
        "cran" => "CRAN",
        "swift" => "SwiftURL",
        _ => return None,
    })
}

/// A package name as its ecosystem compares names: PyPI folds case and
/// treats runs of `-`, `_` and `.` as one `-` (PEP 503); others compare as
/// written.
pub(crate) fn normalize_name<'a>(ecosystem_name: &str, name: &'a str) -> std::borrow::Cow<'a, str> {
    if ecosystem_name != "PyPI" {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
            continue;
        }
        if separator && !out.is_empty() {
            out.push('-');
        }
        separator = false;
        out.push(c.to_ascii_lowercase());
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(id: &str, version: &str) -> OsRelease {
        OsRelease {
            id: id.into(),
            version_id: Some(version.into()),
            ..OsRelease::default()
        }
    }

    #[test]
    fn hosts_map_to_osv_ecosystems() {
        for (id, version, osv, key) in [
            ("debian", "12", "Debian:12", "Debian:12"),
            ("ubuntu", "22.04", "Ubuntu:22.04:LTS", "Ubuntu:22.04"),
            ("ubuntu", "23.04", "Ubuntu:23.04", "Ubuntu:23.04"),
            ("ubuntu", "24.10", "Ubuntu:24.10", "Ubuntu:24.10"),
            ("almalinux", "9.4", "AlmaLinux:9", "AlmaLinux:9"),
            ("rocky", "8.10", "Rocky Linux:8", "Rocky Linux:8"),
            ("alpine", "3.20.3", "Alpine:v3.20", "Alpine:v3.20"),
            (
                "alpaquita",
                "stream",
                "Alpaquita:stream",
                "Alpaquita:stream",
            ),
            (
                "rhel",
                "9.4",
                "Red Hat:enterprise_linux:9",
                "Red Hat:enterprise_linux:9",
            ),
        ] {
            let e = of_os(&os(id, version)).unwrap();
            assert_eq!((e.osv(), e.key()), (osv, key), "{id} {version}");
        }
    }

    #[test]
    fn unknown_systems_say_why() {
        let e = of_os(&os("fedora", "40")).unwrap_err();
        assert!(e.reason.contains("\"fedora\""), "{e}");
        let e = of_os(&OsRelease {
            id: "debian".into(),
            ..OsRelease::default()
        })
        .unwrap_err();
        assert!(e.reason.contains("VERSION_ID"), "{e}");
        assert!(of_os(&os("alpine", "edge")).is_err());
        assert!(of_host(None).is_err());
    }

    #[test]
    fn advisory_keys_drop_qualifiers() {
        let k = |s: &str| advisory_key(&model::Ecosystem::parse(s));
        assert_eq!(k("Ubuntu:Pro:18.04:LTS"), "Ubuntu:18.04");
        assert_eq!(
            k("Red Hat:enterprise_linux:9::appstream"),
            "Red Hat:enterprise_linux:9"
        );
        assert_eq!(k("crates.io"), "crates.io");
        assert_eq!(k("Alpine:v3.20"), "Alpine:v3.20");
    }

    #[test]
    fn pypi_names_are_normalised() {
        assert_eq!(
            normalize_name("PyPI", "Zope.Interface__x"),
            "zope-interface-x"
        );
        assert_eq!(normalize_name("crates.io", "Foo_bar"), "Foo_bar");
    }
}

//! Package pools: the real package names and versions simulated hosts are
//! made of, built once from the shared data and then shared by every host.
//!
//! - **Debian 12**: the dpkg status files of a minbase install (every host
//!   has those packages) and of a development machine (the rest to choose
//!   from), read with the agent's own dpkg parser.
//! - **AlmaLinux 8, 9, 10**: every binary package an AlmaLinux OSV record
//!   names, with every fixed version the records give, so that a host can run
//!   an older (vulnerable) or the newest (fixed) build.
//! - **Ubuntu 22.04, 24.04**: there is no Ubuntu package list in the shared
//!   data, only two OSV records. Hosts get Debian 12's package names with
//!   Ubuntu-style rebuild versions (`…build1`), and the binaries the Ubuntu
//!   records name keep their real version history.
//! - **Alpine 3.20**: no Alpine data is shared at all. Hosts get the base
//!   image's packages (a hand-written list, see [`ALPINE_BASE`]) and, as
//!   optional packages, Debian's source package names (mostly upstream
//!   project names, as Alpine uses) with their upstream versions as `-rN`
//!   releases.
//!
//! Versions newer than any real one are made by [`bump`] when a simulated
//! host upgrades past the newest known build.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use anyhow::{Context, Result, bail};
use rivet_core::inventory::{OsRelease, PackageFormat};
use rivet_core::version::{self, Scheme};
use serde::Deserialize;

/// The operating systems the simulator can play: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Distro {
    /// Debian 12.
    Debian,
    /// Ubuntu LTS releases.
    Ubuntu,
    /// AlmaLinux 8, 9 and 10.
    AlmaLinux,
    /// Alpine 3.20.
    Alpine,
}

impl Distro {
    /// Every distribution, in a fixed order.
    pub const ALL: [Distro; 4] = [
        Distro::Debian,
        Distro::Ubuntu,
        Distro::AlmaLinux,
        Distro::Alpine,
    ];

    /// The name used in `--mix` and reports (os-release's `ID`).
    pub fn name(self) -> &'static str {
        match self {
            Distro::Debian => "debian",
            Distro::Ubuntu => "ubuntu",
            Distro::AlmaLinux => "almalinux",
            Distro::Alpine => "alpine",
        }
    }

    /// The distribution called `name`.
    pub fn from_name(name: &str) -> Option<Distro> {
        Distro::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Its package format.
    pub fn format(self) -> PackageFormat {
        match self {
            Distro::Debian | Distro::Ubuntu => PackageFormat::Deb,
            Distro::AlmaLinux => PackageFormat::Rpm,
            Distro::Alpine => PackageFormat::Apk,
        }
    }
}

/// One package a host of a release may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The binary package's name.
    pub name: String,
    /// Its architecture.
    pub architecture: String,
    /// The source package's name.
    pub source_name: String,
    /// Known versions, oldest first; never empty.
    pub versions: Vec<String>,
    /// Whether every host of the release has it.
    pub essential: bool,
}

/// One release of a distribution and the packages its hosts are drawn from.
#[derive(Debug, Clone)]
pub struct Release {
    /// Its os-release fields.
    pub os: OsRelease,
    /// How often hosts of the distribution run this release, relative to its
    /// other releases.
    pub weight: u32,
    /// The primary architecture in the package manager's naming.
    pub architecture: &'static str,
    /// The running kernel's release.
    pub kernel: String,
    /// The packages; essential ones first is not required.
    pub slots: Vec<Slot>,
    /// The chance that an average host has a given non-essential package,
    /// chosen so that hosts average [`Release::target_packages`].
    pub optional_share: f64,
}

impl Release {
    fn new(
        distro: Distro,
        os: OsRelease,
        weight: u32,
        kernel: &str,
        mut slots: Vec<Slot>,
    ) -> Result<Release> {
        if slots.is_empty() {
            bail!(
                "no packages for {}",
                os.pretty_name.as_deref().unwrap_or(&os.id)
            );
        }
        slots.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
        slots.dedup_by(|a, b| a.name == b.name && a.architecture == b.architecture);
        let essential = slots.iter().filter(|s| s.essential).count();
        let optional = slots.len() - essential;
        let target = Release::target_packages(distro);
        let optional_share = if optional == 0 {
            0.0
        } else {
            (target.saturating_sub(essential) as f64 / optional as f64).clamp(0.0, 1.0)
        };
        Ok(Release {
            os,
            weight,
            architecture: match distro.format() {
                PackageFormat::Deb => "amd64",
                PackageFormat::Rpm | PackageFormat::Apk => "x86_64",
            },
            kernel: kernel.to_owned(),
            slots,
            optional_share,
        })
    }

    /// How many packages a host of this distribution has on average.
    pub fn target_packages(distro: Distro) -> usize {
        match distro {
            Distro::Alpine => 150,
            _ => 700,
        }
    }
}

/// Every release the simulator can play, by distribution.
#[derive(Debug, Clone)]
pub struct Pools {
    releases: BTreeMap<Distro, Vec<Release>>,
}

impl Pools {
    /// The releases of `distro`.
    pub fn releases(&self, distro: Distro) -> &[Release] {
        self.releases.get(&distro).map_or(&[], Vec::as_slice)
    }

    /// Builds every pool from the shared data directory (`…/shared/data`).
    pub fn load(data_dir: &std::path::Path) -> Result<Pools> {
        let read = |relative: &str| {
            let path = data_dir.join(relative);
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        let text = |relative: &str| -> Result<String> {
            String::from_utf8(read(relative)?).with_context(|| format!("{relative} is not UTF-8"))
        };
        let minbase = text("inventories/debian12-minbase.dpkg-status")?;
        let devbox = text("inventories/debian12-devbox.dpkg-status")?;
        let mut ubuntu_records = Vec::new();
        let sample_dir = data_dir.join("osv/ubuntu-sample");
        let entries = std::fs::read_dir(&sample_dir)
            .with_context(|| format!("cannot list {}", sample_dir.display()))?;
        let mut names: Vec<_> = entries
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot list {}", sample_dir.display()))?;
        names.sort();
        for path in names
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
        {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            ubuntu_records.push(
                parse_osv(&bytes).with_context(|| format!("cannot parse {}", path.display()))?,
            );
        }
        let alma_zip = read("osv/AlmaLinux-all.zip")?;
        let alma_records = osv_zip_records(&alma_zip).context("osv/AlmaLinux-all.zip")?;
        Pools::build(&minbase, &devbox, &ubuntu_records, &alma_records)
    }

    /// Builds every pool from the files' contents.
    pub fn build(
        minbase_status: &str,
        devbox_status: &str,
        ubuntu_records: &[OsvRecord],
        alma_records: &[OsvRecord],
    ) -> Result<Pools> {
        let debian = debian_slots(minbase_status, devbox_status)?;
        let mut releases = BTreeMap::new();
        releases.insert(
            Distro::Debian,
            vec![Release::new(
                Distro::Debian,
                os(
                    "debian",
                    "12",
                    "Debian GNU/Linux 12 (bookworm)",
                    &[],
                    "bookworm",
                ),
                1,
                "6.1.0-28-amd64",
                debian.clone(),
            )?],
        );
        releases.insert(
            Distro::Ubuntu,
            [
                (
                    "22.04",
                    "Ubuntu 22.04.5 LTS",
                    "jammy",
                    "5.15.0-125-generic",
                    60,
                ),
                (
                    "24.04",
                    "Ubuntu 24.04.1 LTS",
                    "noble",
                    "6.8.0-48-generic",
                    40,
                ),
            ]
            .into_iter()
            .map(|(version, pretty, codename, kernel, weight)| {
                Release::new(
                    Distro::Ubuntu,
                    os("ubuntu", version, pretty, &["debian"], codename),
                    weight,
                    kernel,
                    ubuntu_slots(&debian, ubuntu_records, version),
                )
            })
            .collect::<Result<_>>()?,
        );
        let alma = alma_slots(alma_records);
        releases.insert(
            Distro::AlmaLinux,
            [
                ("8", "8.10", "AlmaLinux 8.10 (Cerulean Leopard)", 30),
                ("9", "9.5", "AlmaLinux 9.5 (Teal Serval)", 60),
                ("10", "10.0", "AlmaLinux 10.0 (Purple Lion)", 10),
            ]
            .into_iter()
            .filter_map(|(major, version, pretty, weight)| {
                let slots = alma.get(major)?.clone();
                let kernel = slots
                    .iter()
                    .find(|s| s.name == "kernel-core")
                    .and_then(|s| s.versions.last())
                    .map(|v| format!("{}.x86_64", strip_epoch(v)))
                    .unwrap_or_else(|| format!("el{major}.x86_64"));
                Some(Release::new(
                    Distro::AlmaLinux,
                    os(
                        "almalinux",
                        version,
                        pretty,
                        &["rhel", "centos", "fedora"],
                        "",
                    ),
                    weight,
                    &kernel,
                    slots,
                ))
            })
            .collect::<Result<_>>()?,
        );
        if releases[&Distro::AlmaLinux].is_empty() {
            bail!("the AlmaLinux OSV records name no packages of releases 8, 9 or 10");
        }
        releases.insert(
            Distro::Alpine,
            vec![Release::new(
                Distro::Alpine,
                os("alpine", "3.20.3", "Alpine Linux v3.20", &[], ""),
                1,
                "6.6.58-0-virt",
                alpine_slots(&debian),
            )?],
        );
        Ok(Pools { releases })
    }
}

fn os(id: &str, version: &str, pretty: &str, like: &[&str], codename: &str) -> OsRelease {
    OsRelease {
        id: id.to_owned(),
        version_id: Some(version.to_owned()),
        pretty_name: Some(pretty.to_owned()),
        id_like: like.iter().map(|s| (*s).to_owned()).collect(),
        version_codename: Some(codename.to_owned()).filter(|c| !c.is_empty()),
    }
}

/// Debian's packages: minbase's are essential, the development machine's
/// are optional.
fn debian_slots(minbase_status: &str, devbox_status: &str) -> Result<Vec<Slot>> {
    use rivet_agent::packages::dpkg::parse_status;
    let minbase = parse_status(minbase_status, "debian12-minbase.dpkg-status");
    let devbox = parse_status(devbox_status, "debian12-devbox.dpkg-status");
    for collected in [&minbase, &devbox] {
        if let Some(problem) = collected.problems.first() {
            bail!(
                "{} line {}: {}",
                problem.source,
                problem.line.unwrap_or(0),
                problem.message
            );
        }
    }
    if minbase.packages.is_empty() || devbox.packages.is_empty() {
        bail!("a Debian dpkg status file lists no installed packages");
    }
    let essential: BTreeSet<&str> = minbase.packages.iter().map(|p| p.name.as_str()).collect();
    let mut slots: Vec<Slot> = devbox
        .packages
        .iter()
        .chain(minbase.packages.iter())
        .map(|p| Slot {
            name: p.name.clone(),
            architecture: p.architecture.clone(),
            source_name: p.source_name.clone(),
            versions: vec![p.version.clone()],
            essential: essential.contains(p.name.as_str()),
        })
        .collect();
    // The development machine's version wins over minbase's: it is listed
    // first and `dedup` keeps the first.
    slots.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    slots.dedup_by(|a, b| a.name == b.name && a.architecture == b.architecture);
    Ok(slots)
}

/// Ubuntu's packages for `release` (`22.04`): Debian's names as Ubuntu
/// rebuilds, and the real version histories of the binaries the Ubuntu OSV
/// records name for that release.
fn ubuntu_slots(debian: &[Slot], records: &[OsvRecord], release: &str) -> Vec<Slot> {
    let mut slots: BTreeMap<(String, String), Slot> = debian
        .iter()
        .map(|s| {
            let slot = Slot {
                versions: s.versions.iter().map(|v| format!("{v}build1")).collect(),
                ..s.clone()
            };
            ((s.name.clone(), s.architecture.clone()), slot)
        })
        .collect();
    for affected in records.iter().flat_map(|r| &r.affected) {
        let mut parts = affected.package.ecosystem.split(':');
        if parts.next() != Some("Ubuntu") || !parts.any(|p| p == release) {
            continue;
        }
        let mut versions: Vec<String> = affected
            .versions
            .iter()
            .cloned()
            .chain(affected.fixed())
            .filter(|v| version::validate(Scheme::Deb, v).is_ok())
            .collect();
        sort_versions(Scheme::Deb, &mut versions);
        // The newest few: older ones belong to earlier releases.
        let versions = versions.split_off(versions.len().saturating_sub(6));
        if versions.is_empty() {
            continue;
        }
        for binary in affected.binaries() {
            if binary.ends_with("-dbgsym") {
                continue;
            }
            let architecture = if binary.ends_with("-doc") {
                "all"
            } else {
                "amd64"
            };
            let key = (binary.clone(), architecture.to_owned());
            let essential = slots.get(&key).is_some_and(|s| s.essential);
            slots.insert(
                key,
                Slot {
                    name: binary,
                    architecture: architecture.to_owned(),
                    source_name: affected.package.name.clone(),
                    versions: versions.clone(),
                    essential,
                },
            );
        }
    }
    slots.into_values().collect()
}

/// AlmaLinux's packages by major release (`"9"`): every package the OSV
/// records name, with every fixed version, oldest first.
fn alma_slots(records: &[OsvRecord]) -> BTreeMap<String, Vec<Slot>> {
    let mut versions: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for affected in records.iter().flat_map(|r| &r.affected) {
        let Some(release) = affected.package.ecosystem.strip_prefix("AlmaLinux:") else {
            continue;
        };
        let major = release.split('.').next().unwrap_or(release);
        versions
            .entry((major.to_owned(), affected.package.name.clone()))
            .or_default()
            .extend(
                affected
                    .fixed()
                    .filter(|v| version::validate(Scheme::Rpm, v).is_ok()),
            );
    }
    let mut out: BTreeMap<String, Vec<Slot>> = BTreeMap::new();
    for ((major, name), set) in versions {
        if set.is_empty() {
            continue;
        }
        let mut list: Vec<String> = set.into_iter().collect();
        sort_versions(Scheme::Rpm, &mut list);
        let noarch = [
            "-doc",
            "-docs",
            "-common",
            "-data",
            "-filesystem",
            "-langpacks",
        ]
        .iter()
        .any(|s| name.ends_with(s));
        out.entry(major).or_default().push(Slot {
            essential: ALMA_BASE.contains(&name.as_str()),
            architecture: if noarch { "noarch" } else { "x86_64" }.to_owned(),
            source_name: name.clone(),
            name,
            versions: list,
        });
    }
    out
}

/// Packages of every AlmaLinux host (those the records name are essential).
const ALMA_BASE: &[&str] = &[
    "bash",
    "glibc",
    "glibc-common",
    "kernel",
    "kernel-core",
    "kernel-modules",
    "openssl",
    "openssl-libs",
    "openssh",
    "openssh-server",
    "openssh-clients",
    "systemd",
    "systemd-libs",
    "sudo",
    "curl",
    "libcurl",
    "dnf",
    "rpm",
    "rpm-libs",
    "python3",
    "python3-libs",
    "tzdata",
    "ca-certificates",
];

/// The packages of the `alpine:3.20` base image (name, version), written
/// down by hand: the shared data holds nothing from Alpine.
pub const ALPINE_BASE: &[(&str, &str)] = &[
    ("alpine-baselayout", "3.6.5-r0"),
    ("alpine-baselayout-data", "3.6.5-r0"),
    ("alpine-keys", "2.4-r1"),
    ("apk-tools", "2.14.4-r0"),
    ("busybox", "1.36.1-r29"),
    ("busybox-binsh", "1.36.1-r29"),
    ("ca-certificates-bundle", "20240705-r0"),
    ("libcrypto3", "3.3.2-r0"),
    ("libssl3", "3.3.2-r0"),
    ("musl", "1.2.5-r0"),
    ("musl-utils", "1.2.5-r0"),
    ("scanelf", "1.3.7-r2"),
    ("ssl_client", "1.36.1-r29"),
    ("zlib", "1.3.1-r1"),
];

/// Alpine's packages: the base image, and Debian's source packages as
/// upstream projects.
fn alpine_slots(debian: &[Slot]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = ALPINE_BASE
        .iter()
        .map(|(name, version)| Slot {
            name: (*name).to_owned(),
            architecture: "x86_64".to_owned(),
            source_name: (*name).to_owned(),
            versions: vec![(*version).to_owned()],
            essential: true,
        })
        .collect();
    let base: BTreeSet<&str> = ALPINE_BASE.iter().map(|(n, _)| *n).collect();
    let mut seen = BTreeSet::new();
    for slot in debian {
        let name = slot.source_name.as_str();
        if base.contains(name) || !seen.insert(name) {
            continue;
        }
        let Some(upstream) = upstream_version(&slot.versions[0]) else {
            continue;
        };
        let versions: Vec<String> = (0..3).map(|r| format!("{upstream}-r{r}")).collect();
        if versions
            .iter()
            .all(|v| version::validate(Scheme::Apk, v).is_ok())
        {
            slots.push(Slot {
                name: name.to_owned(),
                architecture: "x86_64".to_owned(),
                source_name: name.to_owned(),
                versions,
                essential: false,
            });
        }
    }
    slots
}

/// The upstream part of a Debian version (`1:2.36-9+deb12u4` → `2.36`),
/// up to the first character apk's versions do not allow there.
fn upstream_version(debian: &str) -> Option<&str> {
    let without_epoch = strip_epoch(debian);
    let upstream = without_epoch
        .rsplit_once('-')
        .map_or(without_epoch, |(u, _)| u);
    let end = upstream
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(upstream.len());
    let upstream = upstream[..end].trim_end_matches('.');
    (!upstream.is_empty() && upstream.starts_with(|c: char| c.is_ascii_digit())).then_some(upstream)
}

fn strip_epoch(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, v)| v)
}

fn sort_versions(scheme: Scheme, versions: &mut Vec<String>) {
    versions.sort_by(|a, b| version::compare(scheme, a, b).unwrap_or(a.cmp(b)));
    versions.dedup_by(|a, b| version::compare(scheme, a, b) == Ok(std::cmp::Ordering::Equal));
}

/// The `n`-th version (counting from one) of an increasing series newer
/// than `version` under `format`'s rules: a simulated update past the
/// newest known build.
pub fn bump(format: PackageFormat, version: &str, n: u32) -> String {
    match format {
        PackageFormat::Deb => format!("{version}+sim{n}"),
        PackageFormat::Rpm => format!("{version}.sim{n}"),
        PackageFormat::Apk => match version.rsplit_once("-r") {
            Some((upstream, release)) if release.parse::<u32>().is_ok() => {
                let release: u32 = release.parse().unwrap_or(0);
                format!("{upstream}-r{}", release.saturating_add(n))
            }
            _ => format!("{version}-r{n}"),
        },
    }
}

/// The fields of an OSV record the pools use.
#[derive(Debug, Clone, Deserialize)]
pub struct OsvRecord {
    /// The affected packages.
    #[serde(default)]
    pub affected: Vec<OsvAffected>,
}

/// One affected package of an OSV record.
#[derive(Debug, Clone, Deserialize)]
pub struct OsvAffected {
    /// Its ecosystem and name.
    pub package: OsvPackage,
    /// Its version ranges.
    #[serde(default)]
    pub ranges: Vec<OsvRange>,
    /// Explicitly listed affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Ecosystem-specific data (Ubuntu lists binaries here).
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
}

/// An OSV package.
#[derive(Debug, Clone, Deserialize)]
pub struct OsvPackage {
    /// The ecosystem (`AlmaLinux:9`, `Ubuntu:22.04:LTS`).
    pub ecosystem: String,
    /// The package's name.
    pub name: String,
}

/// An OSV range: its events as `{"introduced": …}`, `{"fixed": …}` objects.
#[derive(Debug, Clone, Deserialize)]
pub struct OsvRange {
    /// The events.
    #[serde(default)]
    pub events: Vec<BTreeMap<String, String>>,
}

impl OsvAffected {
    /// Every fixed version of its ranges.
    pub fn fixed(&self) -> impl Iterator<Item = String> + '_ {
        self.ranges
            .iter()
            .flat_map(|r| &r.events)
            .filter_map(|e| e.get("fixed").cloned())
    }

    /// The binary packages Ubuntu lists for it.
    fn binaries(&self) -> Vec<String> {
        self.ecosystem_specific
            .as_ref()
            .and_then(|e| e.get("binaries"))
            .and_then(|b| b.as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|b| b.get("binary_name")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Parses one OSV JSON record.
pub fn parse_osv(bytes: &[u8]) -> Result<OsvRecord> {
    Ok(serde_json::from_slice(bytes)?)
}

/// Every JSON record in a zip archive of OSV records.
pub fn osv_zip_records(zip_bytes: &[u8]) -> Result<Vec<OsvRecord>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .context("not a readable zip archive")?;
    let mut records = Vec::with_capacity(archive.len());
    let mut buffer = Vec::new();
    for index in 0..archive.len() {
        let mut member = archive
            .by_index(index)
            .with_context(|| format!("member {index}"))?;
        if !member.name().ends_with(".json") {
            continue;
        }
        let name = member.name().to_owned();
        buffer.clear();
        member
            .read_to_end(&mut buffer)
            .with_context(|| format!("cannot read {name}"))?;
        records.push(parse_osv(&buffer).with_context(|| format!("cannot parse {name}"))?);
    }
    Ok(records)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, OnceLock};

    use super::*;

    /// The pools from the real shared data, built once per test binary.
    pub(crate) fn real_pools() -> Arc<Pools> {
        static POOLS: OnceLock<Arc<Pools>> = OnceLock::new();
        POOLS
            .get_or_init(|| {
                let data =
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
                Arc::new(Pools::load(&data).expect("the shared data must be readable"))
            })
            .clone()
    }

    #[test]
    fn debian_is_built_from_both_status_files() {
        let pools = real_pools();
        let [debian] = pools.releases(Distro::Debian) else {
            panic!("one Debian release");
        };
        assert_eq!(debian.os.version_codename.as_deref(), Some("bookworm"));
        let essential = debian.slots.iter().filter(|s| s.essential).count();
        assert_eq!(essential, 89, "every minbase package is essential");
        assert!(debian.slots.len() >= 744, "{}", debian.slots.len());
        let libc = debian.slots.iter().find(|s| s.name == "libc6").unwrap();
        assert!(libc.essential);
        assert!(
            libc.versions[0].starts_with("2.36-9"),
            "{:?}",
            libc.versions
        );
        assert!(debian.optional_share > 0.8 && debian.optional_share <= 1.0);
    }

    #[test]
    fn almalinux_releases_carry_real_version_histories() {
        let pools = real_pools();
        let releases = pools.releases(Distro::AlmaLinux);
        let majors: Vec<&str> = releases
            .iter()
            .map(|r| r.os.version_id.as_deref().unwrap())
            .collect();
        assert_eq!(majors, ["8.10", "9.5", "10.0"]);
        let nine = &releases[1];
        assert!(nine.slots.len() > 2000, "{}", nine.slots.len());
        assert!(nine.kernel.contains("el9") && nine.kernel.ends_with(".x86_64"));
        // Versions are sorted by rpm's rules: each is newer than the one before.
        let openssl = nine.slots.iter().find(|s| s.name == "openssl").unwrap();
        assert!(openssl.essential);
        assert!(openssl.versions.len() > 3);
        for pair in openssl.versions.windows(2) {
            assert_eq!(
                version::compare(Scheme::Rpm, &pair[0], &pair[1]),
                Ok(std::cmp::Ordering::Less)
            );
        }
        // About 700 packages per host from thousands to choose from.
        assert!(nine.optional_share < 0.5);
    }

    #[test]
    fn ubuntu_uses_the_real_records_for_their_binaries() {
        let pools = real_pools();
        let jammy = &pools.releases(Distro::Ubuntu)[0];
        assert_eq!(jammy.os.version_id.as_deref(), Some("22.04"));
        let libcurl = jammy.slots.iter().find(|s| s.name == "libcurl4").unwrap();
        assert_eq!(libcurl.source_name, "curl");
        assert!(libcurl.versions.len() > 1);
        assert!(libcurl.versions.iter().all(|v| v.starts_with("7.81.0-1")));
        assert!(!jammy.slots.iter().any(|s| s.name.ends_with("-dbgsym")));
        let bash = jammy.slots.iter().find(|s| s.name == "bash").unwrap();
        assert!(bash.versions[0].ends_with("build1"));
    }

    #[test]
    fn alpine_has_its_base_and_valid_apk_versions() {
        let pools = real_pools();
        let [alpine] = pools.releases(Distro::Alpine) else {
            panic!("one Alpine release");
        };
        assert_eq!(
            alpine.slots.iter().filter(|s| s.essential).count(),
            ALPINE_BASE.len()
        );
        assert!(alpine.slots.len() > 200);
        for slot in &alpine.slots {
            for v in &slot.versions {
                assert!(version::validate(Scheme::Apk, v).is_ok(), "{v}");
            }
        }
    }

    #[test]
    fn upstream_versions_lose_epoch_revision_and_suffixes() {
        assert_eq!(upstream_version("1:2.36-9+deb12u4"), Some("2.36"));
        assert_eq!(upstream_version("9.2p1-2+deb12u3"), Some("9.2"));
        assert_eq!(upstream_version("20230311"), Some("20230311"));
        assert_eq!(upstream_version("3.0.11-1~deb12u2"), Some("3.0.11"));
        assert_eq!(upstream_version("a1-1"), None);
    }

    #[test]
    fn bumped_versions_are_newer_and_keep_increasing() {
        for (format, scheme, version) in [
            (PackageFormat::Deb, Scheme::Deb, "2.36-9+deb12u4"),
            (PackageFormat::Rpm, Scheme::Rpm, "32:9.16.23-0.22.el9_5"),
            (PackageFormat::Apk, Scheme::Apk, "1.36.1-r29"),
        ] {
            let mut previous = version.to_owned();
            for n in 1..4 {
                let next = bump(format, version, n);
                assert!(version::validate(scheme, &next).is_ok(), "{next}");
                assert_eq!(
                    version::compare(scheme, &previous, &next),
                    Ok(std::cmp::Ordering::Less),
                    "{previous} < {next}"
                );
                previous = next;
            }
        }
    }

    #[test]
    fn broken_inputs_are_reported() {
        assert!(parse_osv(b"{").is_err());
        let err = osv_zip_records(b"not a zip").unwrap_err();
        assert!(format!("{err:#}").contains("zip"), "{err:#}");
        let err = Pools::build("", "", &[], &[]).unwrap_err();
        assert!(err.to_string().contains("no installed packages"), "{err}");
        let err = Pools::load(std::path::Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent"), "{err}");
    }
}

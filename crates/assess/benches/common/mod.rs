//! What the benchmarks share: the real advisory sets, the pool of 20,000
//! distinct AlmaLinux 9 packages, and a generated fleet of 100,000 hosts
//! (AlmaLinux 9, Debian 12 and Ubuntu 22.04, some with crates) against the
//! AlmaLinux and crates.io sets plus Debian and Ubuntu advisories generated
//! on real Debian package names.

// Each benchmark uses part of this module.
#![allow(dead_code)]

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rivet_advisory::model::{Location, SignatureStatus};
use rivet_advisory::{Advisory, ReadOptions, osv};
use rivet_agent::packages::dpkg;
use rivet_assess::ecosystem::of_os;
use rivet_assess::{Ecosystem, Fleet, Index, InstalledPackage, PackageId, PackageRef};
use rivet_core::inventory::{OsRelease, PackageFormat};
use rivet_core::version::{Scheme, compare};
use serde_json::{Value, json};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");

/// Reads an OSV archive of `shared/data/osv/`.
pub fn read(name: &str) -> Vec<Advisory> {
    let options = ReadOptions::new("bench", "2026-11-23T00:00:00Z".parse().unwrap());
    osv::read(Path::new(&format!("{DATA}osv/{name}")), &options)
        .unwrap()
        .map(|a| a.unwrap())
        .collect()
}

/// One generated OSV record, through the real OSV reader.
pub fn record(record: &Value) -> Advisory {
    let bytes = serde_json::to_vec(record).unwrap();
    let options = ReadOptions::new("bench", "2026-11-23T00:00:00Z".parse().unwrap());
    let location = Location::file(format!("{}.json", record["id"].as_str().unwrap()));
    let provenance = options.provenance(&location, &bytes, SignatureStatus::Unsigned);
    osv::parse(&bytes, osv::Syntax::Json, provenance).unwrap()
}

/// An ecosystem from an os-release ID and VERSION_ID.
pub fn ecosystem(id: &str, version: &str) -> Ecosystem {
    of_os(&OsRelease {
        id: id.into(),
        version_id: Some(version.into()),
        ..OsRelease::default()
    })
    .unwrap()
}

/// An owned AlmaLinux package for the pools.
pub struct Owned {
    pub name: String,
    pub version: String,
}

impl Owned {
    pub fn as_ref(&self) -> PackageRef<'_> {
        PackageRef {
            format: Some(PackageFormat::Rpm),
            name: &self.name,
            version: &self.version,
            architecture: "x86_64",
            source_name: &self.name,
            source_version: &self.version,
            ecosystem: None,
        }
    }

    pub fn installed(&self) -> InstalledPackage {
        InstalledPackage {
            format: Some(PackageFormat::Rpm),
            name: self.name.clone(),
            version: self.version.clone(),
            architecture: "x86_64".into(),
            source_name: self.name.clone(),
            source_version: self.version.clone(),
            ecosystem: None,
            purl: None,
        }
    }
}

/// A version just below `fixed` (its last non-zero digit run minus one).
pub fn below(fixed: &str) -> String {
    let b = fixed.as_bytes();
    let mut end = b.len();
    while end > 0 {
        if b[end - 1].is_ascii_digit() {
            let mut start = end;
            while start > 0 && b[start - 1].is_ascii_digit() {
                start -= 1;
            }
            if let Ok(n) = fixed[start..end].parse::<u64>()
                && n > 0
            {
                return format!("{}{}{}", &fixed[..start], n - 1, &fixed[end..]);
            }
            end = start;
        } else {
            end -= 1;
        }
    }
    fixed.to_owned()
}

/// Every (name, fixed version) pair of an ecosystem, in document order.
pub fn fixes(advisories: &[Advisory], ecosystem: &str) -> Vec<(String, String)> {
    let mut fixes = Vec::new();
    for a in advisories {
        for x in &a.affected {
            if x.ecosystem == ecosystem {
                for f in &x.fixed {
                    fixes.push((x.package.clone(), f.clone()));
                }
            }
        }
    }
    fixes
}

/// A pool of 20,000 distinct packages: AlmaLinux 9 names at versions
/// below, at and above their fixes, and names no advisory knows.
pub fn almalinux_pool(fixes: &[(String, String)]) -> Vec<Owned> {
    let mut pool: Vec<Owned> = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, (name, fixed)) in fixes.iter().enumerate() {
        let version = match i % 3 {
            0 => below(fixed),
            1 => fixed.clone(),
            _ => format!("{fixed}.1"),
        };
        if seen.insert((name.clone(), version.clone())) {
            pool.push(Owned {
                name: name.clone(),
                version,
            });
        }
        if pool.len() == 14_000 {
            break;
        }
    }
    while pool.len() < 20_000 {
        pool.push(Owned {
            name: format!("local-package-{}", pool.len()),
            version: "1.0-1.el9".into(),
        });
    }
    pool
}

/// A small deterministic generator (splitmix64), so that every run builds
/// the same fleet.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The patch levels a package is found at across the fleet, oldest first,
/// and how many hosts in a thousand run each.
const LEVELS: usize = 6;
const SPREAD: [u64; LEVELS] = [50, 100, 350, 250, 150, 100];

/// The version of a source at a patch level (2 is the one in the real
/// inventory): Debian point releases and security updates, or Ubuntu's.
fn level(base: &str, level: usize, ubuntu: bool) -> String {
    let suffix = if ubuntu { "ubuntu0.22.04." } else { "+deb12u" };
    match level {
        0 => format!("{base}~rc1"),
        1 => format!("{base}~rc2"),
        2 if ubuntu => format!("{base}{suffix}0"),
        2 => base.to_owned(),
        3 => format!("{base}{suffix}1"),
        4 => format!("{base}{suffix}2"),
        _ => format!("{base}{suffix}9"),
    }
}

/// A binary package of the Debian inventories.
struct Binary {
    name: String,
    version: String,
    architecture: String,
    source: usize,
}

/// The generated fleet: every distinct package by id, the advisories, and
/// each host's ecosystem and packages drawn deterministically.
///
/// Every distribution's packages come in [`LEVELS`] patch levels, and a
/// host runs each of its packages at one level, most hosts a few updates
/// behind ([`SPREAD`]): AlmaLinux 9 names at their six newest fixed
/// versions, Debian and Ubuntu binaries at generated levels of their real
/// version, against advisories most of whose fixes are older than any host.
pub struct World {
    /// AlmaLinux and crates.io (real), Debian 12 and Ubuntu 22.04
    /// (generated).
    pub advisories: Vec<Advisory>,
    /// Every distinct package, by id.
    pub packages: Vec<(PackageId, InstalledPackage)>,
    /// AlmaLinux 9, Debian 12, Ubuntu 22.04.
    pub ecosystems: [Ecosystem; 3],
    /// The hosts.
    pub hosts: u32,
    /// First id of each distribution's packages (AlmaLinux, Debian,
    /// Ubuntu): binary `b` at level `l` is `first + b * LEVELS + l`; and how
    /// many binaries each has.
    firsts: [PackageId; 3],
    counts: [usize; 3],
    /// AlmaLinux packages no advisory names.
    locals: (PackageId, usize),
    crates: (PackageId, usize),
    binaries: Vec<Binary>,
    /// Debian source names and versions.
    pub sources: Vec<(String, String)>,
}

/// Where a patch level falls for one host and one package.
fn pick_level(host: u32, item: u64) -> usize {
    let r = mix((u64::from(host) << 24) ^ item) % 1_000;
    let mut acc = 0;
    SPREAD
        .iter()
        .position(|s| {
            acc += s;
            r < acc
        })
        .unwrap_or(LEVELS - 1)
}

impl World {
    /// Reads and generates everything for `hosts` hosts.
    pub fn new(hosts: u32) -> World {
        let mut advisories = read("AlmaLinux-all.zip");
        advisories.extend(read("crates.io-all.zip"));
        let mut packages: Vec<(PackageId, InstalledPackage)> = Vec::new();
        let push = |packages: &mut Vec<(PackageId, InstalledPackage)>, p: InstalledPackage| {
            let id = packages.len() as PackageId;
            packages.push((id, p));
        };

        // AlmaLinux 9: each name at its six newest fixes (below the oldest
        // when it has fewer, the newest repeated above).
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, fixed) in fixes(&advisories, "AlmaLinux:9") {
            by_name.entry(name).or_default().push(fixed);
        }
        let rpm = |a: &str, b: &str| compare(Scheme::Rpm, a, b).unwrap_or(Ordering::Equal);
        let first_alma = packages.len() as PackageId;
        for (name, mut fixed) in by_name.iter().map(|(n, f)| (n, f.clone())) {
            fixed.sort_by(|a, b| rpm(a, b));
            fixed.dedup_by(|a, b| rpm(a, b).is_eq());
            let mut points = vec![below(&fixed[0])];
            points.extend(fixed);
            let newest = points[points.len() - 1].clone();
            let mut levels: Vec<String> = points.split_off(points.len().saturating_sub(LEVELS));
            levels.resize(LEVELS, newest);
            for version in levels {
                let owned = Owned {
                    name: name.clone(),
                    version,
                };
                push(&mut packages, owned.installed());
            }
        }
        let alma_count = by_name.len();
        let first_local = packages.len() as PackageId;
        for i in 0..1_000 {
            let owned = Owned {
                name: format!("local-package-{i}"),
                version: "1.0-1.el9".into(),
            };
            push(&mut packages, owned.installed());
        }

        // Crates below, at and above their fixes.
        let mut crates = BTreeSet::new();
        for (name, fixed) in fixes(&advisories, "crates.io") {
            crates.insert((name.clone(), below(&fixed)));
            crates.insert((name.clone(), fixed.clone()));
            crates.insert((name, format!("{fixed}-1")));
        }
        let first_crate = packages.len() as PackageId;
        for (name, version) in &crates {
            if let Some(p) = InstalledPackage::from_purl(&format!("pkg:cargo/{name}@{version}")) {
                push(&mut packages, p);
            }
        }
        let crates = (first_crate, packages.len() - first_crate as usize);

        // The real Debian 12 binaries and their sources.
        let mut binaries = Vec::new();
        let mut sources: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut names = BTreeSet::new();
        for file in ["debian12-devbox", "debian12-minbase"] {
            let path = format!("{DATA}inventories/{file}.dpkg-status");
            let text = std::fs::read_to_string(&path).unwrap();
            for p in dpkg::parse_status(&text, &path).packages {
                if !names.insert(p.name.clone()) {
                    continue;
                }
                let next = sources.len();
                let source = *sources
                    .entry((p.source_name.clone(), p.source_version.clone()))
                    .or_insert(next);
                binaries.push(Binary {
                    name: p.name,
                    version: p.version,
                    architecture: p.architecture,
                    source,
                });
            }
        }
        let mut sources: Vec<((String, String), usize)> = sources.into_iter().collect();
        sources.sort_by_key(|(_, i)| *i);
        let sources: Vec<(String, String)> = sources.into_iter().map(|(s, _)| s).collect();
        let mut firsts = [first_alma, 0, 0];
        for (first, ubuntu) in firsts[1..].iter_mut().zip([false, true]) {
            *first = packages.len() as PackageId;
            for b in &binaries {
                let (source, base) = &sources[b.source];
                for l in 0..LEVELS {
                    let source_version = level(base, l, ubuntu);
                    let version = if b.version == *base {
                        source_version.clone()
                    } else {
                        level(&b.version, l, ubuntu)
                    };
                    push(
                        &mut packages,
                        InstalledPackage {
                            format: Some(PackageFormat::Deb),
                            name: b.name.clone(),
                            version,
                            architecture: b.architecture.clone(),
                            source_name: source.clone(),
                            source_version,
                            ecosystem: None,
                            purl: None,
                        },
                    );
                }
            }
        }

        // 3,000 advisories per distribution. They gather on some sources (a
        // few have very many, like a kernel or a browser), and nine in ten
        // were fixed before the oldest level any host runs.
        for (ubuntu, ecosystem, prefix) in [
            (false, "Debian:12", "DSA-BENCH"),
            (true, "Ubuntu:22.04:LTS", "USN-BENCH"),
        ] {
            for i in 0..3_000u64 {
                let r = mix(i ^ (u64::from(ubuntu) << 40));
                // A skewed pick: the square of a uniform number.
                let u = (r % 10_000) as f64 / 10_000.0;
                let (source, base) = &sources[(u * u * sources.len() as f64) as usize];
                let fix = match (r >> 20) % 1_000 {
                    0..900 => 0,
                    900..950 => 1,
                    950..975 => 2,
                    975..990 => 3,
                    990..997 => 4,
                    _ => 5,
                };
                let mut events = vec![
                    json!({"introduced": "0"}),
                    json!({"fixed": level(base, fix, ubuntu)}),
                ];
                if (r >> 40).is_multiple_of(5) && fix > 1 {
                    // Introduced by a recent update: older hosts are safe.
                    events[0] = json!({"introduced": level(base, 1, ubuntu)});
                }
                advisories.push(record(&json!({
                    "id": format!("{prefix}-{i}"),
                    "modified": "2026-01-01T00:00:00Z",
                    "aliases": [format!("CVE-2026-{i}")],
                    "affected": [{
                        "package": {"ecosystem": ecosystem, "name": source},
                        "ranges": [{"type": "ECOSYSTEM", "events": events}]
                    }]
                })));
            }
        }
        World {
            advisories,
            packages,
            ecosystems: [
                ecosystem("almalinux", "9.4"),
                ecosystem("debian", "12"),
                ecosystem("ubuntu", "22.04"),
            ],
            hosts,
            counts: [alma_count, binaries.len(), binaries.len()],
            firsts,
            locals: (first_local, 1_000),
            crates,
            binaries,
            sources,
        }
    }

    /// A host's ecosystem: half AlmaLinux 9, a quarter each Debian 12 and
    /// Ubuntu 22.04.
    pub fn kind(&self, host: u32) -> usize {
        match host % 4 {
            0 | 1 => 0,
            2 => 1,
            _ => 2,
        }
    }

    /// A host's packages, each at the host's patch level for it: on
    /// AlmaLinux 450 advisory-named packages and 250 local ones; on Debian
    /// and Ubuntu 700 of the inventories' binaries; and 20 crates on one
    /// host in five.
    pub fn host_packages(&self, host: u32, out: &mut Vec<PackageId>) {
        out.clear();
        let h = host as usize;
        let kind = self.kind(host);
        let (first, count) = (self.firsts[kind], self.counts[kind]);
        let at_level = |b: usize| first + (b * LEVELS + pick_level(host, b as u64)) as PackageId;
        if kind == 0 {
            // The stride of the assess benchmark's pool draws.
            let draw = |i: usize, n: usize| (h.wrapping_mul(7_919) + i.wrapping_mul(104_729)) % n;
            out.extend((0..450).map(|i| at_level(draw(i, count))));
            let (local, n) = self.locals;
            out.extend((0..250).map(|i| local + draw(i, n) as PackageId));
        } else {
            // Each host leaves out a few of the binaries.
            let skip = count.saturating_sub(700);
            let from = (mix(u64::from(host)) % (skip as u64 + 1)) as usize;
            out.extend(
                (0..count)
                    .filter(|b| *b < from || *b >= from + skip)
                    .map(at_level),
            );
        }
        if host.is_multiple_of(5) {
            let (first, n) = self.crates;
            out.extend(
                (0..20u64)
                    .map(|i| first + (mix((u64::from(host) << 8) | i) % n as u64) as PackageId),
            );
        }
    }

    /// The index of every advisory.
    pub fn index(&self) -> Index {
        Index::build(&self.advisories)
    }

    /// The fleet of every host against `index`, loaded as the server loads
    /// it at startup ([`Fleet::set_hosts`]).
    pub fn fleet(&self, index: Index) -> Fleet {
        let mut fleet = Fleet::new(index);
        fleet.learn_packages(self.packages.iter().cloned());
        fleet
            .set_hosts((0..self.hosts).map(|host| {
                let mut ids = Vec::with_capacity(720);
                self.host_packages(host, &mut ids);
                let ecosystem = self.ecosystems[self.kind(host)].clone();
                (host, Ok(ecosystem), ids)
            }))
            .unwrap();
        fleet
    }

    /// A Debian or Ubuntu binary's package id at a patch level.
    pub fn deb_package(&self, ubuntu: bool, binary: &str, level: usize) -> Option<PackageId> {
        let b = self.binaries.iter().position(|b| b.name == binary)?;
        let first = self.firsts[if ubuntu { 2 } else { 1 }];
        Some(first + (b * LEVELS + level.min(LEVELS - 1)) as PackageId)
    }

    /// The source the most binaries of the inventories come from.
    pub fn busiest_source(&self) -> &(String, String) {
        let mut counts = vec![0usize; self.sources.len()];
        for b in &self.binaries {
            counts[b.source] += 1;
        }
        let most = (0..counts.len()).max_by_key(|s| counts[*s]).unwrap_or(0);
        &self.sources[most]
    }

    /// A new Debian 12 advisory, fixed above every level, for a source.
    pub fn new_debian_advisory(&self, id: &str, source: &str, base: &str) -> Advisory {
        record(&json!({
            "id": id,
            "modified": "2026-02-01T00:00:00Z",
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": source},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": format!("{base}+deb12u10")}]}]
            }]
        }))
    }
}

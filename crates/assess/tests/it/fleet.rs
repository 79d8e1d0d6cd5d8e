//! The incremental fleet state against `assess()` from scratch: every
//! change to hosts or advisories is mirrored in a plain model (each host's
//! ecosystem and package set), and after each one every host's
//! `host_matches` must equal `assess()` of its packages under the current
//! index, and the hosts an advisory change reports must be exactly those
//! whose matches changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rivet_advisory::model::Advisory;
use rivet_advisory::{ReadOptions, osv};
use rivet_assess::ecosystem::of_os;
use rivet_assess::{
    Ecosystem, Fleet, FleetError, HostKey, HostMatches, Index, InstalledPackage, PackageId,
    UnknownEcosystem, Verdict, assess,
};
use rivet_core::inventory::PackageFormat::{self, Deb, Rpm};
use serde_json::json;

use crate::differential_rpm::bump;
use crate::{at, data, os, osv_record, package};

type HostEcosystem = Result<Ecosystem, UnknownEcosystem>;

/// What the fleet should hold: the packages by id and each host's
/// ecosystem and package set.
#[derive(Default)]
struct Model {
    catalog: BTreeMap<PackageId, InstalledPackage>,
    hosts: BTreeMap<HostKey, (HostEcosystem, BTreeSet<PackageId>)>,
}

impl Model {
    fn learn(&mut self, fleet: &mut Fleet, packages: Vec<(PackageId, InstalledPackage)>) {
        self.catalog.extend(packages.iter().cloned());
        fleet.learn_packages(packages);
    }

    fn set(&mut self, fleet: &mut Fleet, host: HostKey, eco: HostEcosystem, ids: &[PackageId]) {
        fleet.set_host(host, eco.clone(), ids).unwrap();
        self.hosts
            .insert(host, (eco, ids.iter().copied().collect()));
    }

    fn change(&mut self, fleet: &mut Fleet, host: HostKey, added: &[u32], removed: &[u32]) {
        fleet.change_host(host, added, removed).unwrap();
        let set = &mut self.hosts.get_mut(&host).unwrap().1;
        for id in removed {
            set.remove(id);
        }
        set.extend(added);
    }

    /// What `assess()` says of a host from scratch.
    fn expected(&self, index: &Index, host: HostKey) -> HostMatches {
        let (eco, ids) = &self.hosts[&host];
        let a = assess(
            index,
            eco.clone(),
            ids.iter().map(|id| self.catalog[id].as_ref()),
        );
        HostMatches {
            ecosystem: eco.clone(),
            findings: a.findings,
            not_affected: a.not_affected,
            problems: a.problems,
        }
    }

    /// Asserts that every host's matches are `assess()`'s, and returns them.
    fn check(&self, fleet: &Fleet) -> BTreeMap<HostKey, HostMatches> {
        let mut all = BTreeMap::new();
        for host in self.hosts.keys() {
            let ours = fleet.host_matches(*host).expect("the host is in the fleet");
            assert_eq!(ours, self.expected(fleet.index(), *host), "host {host}");
            all.insert(*host, ours);
        }
        assert_eq!(fleet.stats().hosts, self.hosts.len());
        all
    }
}

/// The hosts whose matches differ between two snapshots.
fn changed(
    before: &BTreeMap<HostKey, HostMatches>,
    after: &BTreeMap<HostKey, HostMatches>,
) -> Vec<HostKey> {
    before
        .iter()
        .filter(|(host, m)| after.get(*host) != Some(*m))
        .map(|(host, _)| *host)
        .collect()
}

fn eco(id: &str, version: &str) -> HostEcosystem {
    of_os(&os(id, version))
}

/// An advisory with one range `[0, fixed)` for one package.
fn advisory(id: &str, ecosystem: &str, name: &str, fixed: &str) -> Advisory {
    osv_record(
        json!({"id": id, "modified": "2025-01-01T00:00:00Z", "aliases": [format!("CVE-{id}")],
        "affected": [{"package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}),
    )
}

fn deb(name: &str, version: &str, source: &str) -> InstalledPackage {
    package(Deb, name, version, "amd64", (source, version)).into()
}

fn rpm(format: PackageFormat, name: &str, version: &str) -> InstalledPackage {
    package(format, name, version, "x86_64", (name, version)).into()
}

/// A small world: Debian, Ubuntu, AlmaLinux and RHEL packages, a crate, and
/// advisories of each, one of them on the bare `Debian` ecosystem (every
/// release).
fn world() -> (Fleet, Model) {
    let index = Index::build(&[
        advisory("DSA-1", "Debian:12", "openssl", "3.0.13-1"),
        advisory("DSA-2", "Debian", "curl", "7.88.1-11"),
        advisory("USN-1", "Ubuntu:22.04:LTS", "curl", "7.81.0-1ubuntu1.16"),
        advisory("RUSTSEC-1", "crates.io", "smallvec", "1.6.1"),
        advisory("ALSA-1", "AlmaLinux:9", "openssl-libs", "1:3.0.7-25.el9"),
        advisory("DSA-3", "Debian:12", "broken", "2.0"),
    ]);
    let mut fleet = Fleet::new(index);
    let mut model = Model::default();
    let packages = vec![
        (0, deb("libssl3", "3.0.11-1", "openssl")),
        (1, deb("openssl", "3.0.11-1", "openssl")),
        (2, deb("libssl3", "3.0.13-1", "openssl")),
        (3, deb("curl", "7.88.1-10", "curl")),
        (4, deb("libcurl4", "7.88.1-10", "curl")),
        (5, deb("bash", "5.2.15-2", "bash")),
        (6, deb("local-tool", "1.0", "local-tool")),
        (
            7,
            InstalledPackage::from_purl("pkg:cargo/smallvec@1.6.0").unwrap(),
        ),
        (8, rpm(Rpm, "openssl-libs", "1:3.0.7-24.el9")),
        (9, rpm(Rpm, "bash", "5.1.8-6.el9")),
        (10, deb("curl", "7.81.0-1ubuntu1.15", "curl")),
        (11, deb("broken", "not a version", "broken")),
        (12, deb("libcurl4", "7.88.1-11", "curl")),
    ];
    model.learn(&mut fleet, packages);
    model.set(&mut fleet, 1, eco("debian", "12"), &[0, 1, 3, 5, 6, 7]);
    model.set(&mut fleet, 2, eco("debian", "12"), &[2, 4, 5, 11]);
    model.set(&mut fleet, 3, eco("debian", "11"), &[0, 3, 4]);
    model.set(&mut fleet, 4, eco("ubuntu", "22.04"), &[10, 5, 7]);
    model.set(&mut fleet, 5, eco("almalinux", "9.4"), &[8, 9, 7]);
    model.set(&mut fleet, 6, eco("fedora", "40"), &[8, 7]);
    (fleet, model)
}

#[test]
fn hosts_match_as_assess_does() {
    let (fleet, model) = world();
    let all = model.check(&fleet);
    let ids = |h: HostKey| -> Vec<&str> {
        all[&h]
            .findings
            .iter()
            .map(|m| m.advisory.id.as_str())
            .collect()
    };
    assert_eq!(ids(1), ["DSA-2", "DSA-1", "DSA-1", "RUSTSEC-1"]);
    // The bare `Debian` advisory reaches Debian 11; Debian 12's does not.
    assert_eq!(ids(3), ["DSA-2", "DSA-2"]);
    assert_eq!(ids(4), ["USN-1", "RUSTSEC-1"]);
    assert_eq!(ids(5), ["ALSA-1", "RUSTSEC-1"]);
    // An unknown OS: its rpm is not matched, its crate is.
    assert!(all[&6].ecosystem.is_err());
    assert_eq!(ids(6), ["RUSTSEC-1"]);
    // Host 2 has an invalid version under an advisory: a problem, kept per
    // package like the matches.
    assert_eq!(all[&2].problems.len(), 1);
    assert_eq!(all[&2].problems[0].package, "broken");
    let stats = fleet.stats();
    assert_eq!(stats.findings, 12);
    assert_eq!(stats.findings as usize, findings_of(&all));
    assert_eq!(stats.ecosystems, 5);
    assert_eq!(stats.memberships, 21);
}

#[test]
fn change_host_equals_a_fresh_set_host() {
    let (mut fleet, mut model) = world();
    // Host 1 upgrades openssl (0 → 2), drops bash and the crate, gains
    // libcurl4 and a package named by nothing.
    model.change(&mut fleet, 1, &[2, 4], &[0, 5, 7]);
    // Removing what the host does not hold, and adding what it holds, do
    // nothing.
    model.change(&mut fleet, 1, &[2, 3], &[9, 12]);
    let incremental = fleet.host_matches(1).unwrap();
    model.set(&mut fleet, 7, eco("debian", "12"), &[1, 2, 3, 4, 6]);
    assert_eq!(fleet.host_matches(7).unwrap(), incremental);
    let all = model.check(&fleet);
    let ids: Vec<&str> = all[&1]
        .findings
        .iter()
        .map(|m| m.advisory.id.as_str())
        .collect();
    assert_eq!(ids, ["DSA-2", "DSA-2", "DSA-1"]);
    // An id both removed and added ends up held.
    model.change(&mut fleet, 1, &[3], &[]);
    fleet.change_host(1, &[5], &[5]).unwrap();
    model.change(&mut fleet, 1, &[5], &[]);
    model.check(&fleet);
}

#[test]
fn a_package_no_advisory_names_costs_no_finding() {
    let (mut fleet, mut model) = world();
    let before = fleet.stats();
    let matches = fleet.host_matches(5).unwrap();
    model.learn(
        &mut fleet,
        vec![(100, rpm(Rpm, "in-house-agent", "2.3-1.el9"))],
    );
    model.change(&mut fleet, 5, &[100], &[]);
    let after = fleet.stats();
    assert_eq!(after.pairs, before.pairs + 1);
    assert_eq!(after.memberships, before.memberships + 1);
    assert_eq!(
        (after.noted_pairs, after.affected_pairs, after.findings),
        (before.noted_pairs, before.affected_pairs, before.findings)
    );
    assert_eq!(fleet.host_matches(5).unwrap(), matches);
    assert_eq!(fleet.hosts_with_package("in-house-agent"), [5]);
    model.check(&fleet);
}

#[test]
fn insert_advisory_reports_exactly_the_hosts_whose_matches_changed() {
    let (mut fleet, model) = world();
    let mut before = model.check(&fleet);
    let steps = [
        // A new Debian 12 advisory for bash: hosts 1 and 2, not Debian 11,
        // not Ubuntu's or AlmaLinux's bash.
        advisory("DSA-4", "Debian:12", "bash", "5.2.15-3"),
        // The bare ecosystem reaches every Debian release.
        advisory("DSA-5", "Debian", "openssl", "3.0.12-1"),
        // A new version of DSA-2 whose fix is older than host 3's curl:
        // hosts 1 and 3 lose it; host 2's libcurl4 was and stays affected.
        advisory("DSA-2", "Debian", "curl", "7.88.1-9"),
        // Re-filing an advisory unchanged changes no host.
        advisory("DSA-4", "Debian:12", "bash", "5.2.15-3"),
        // An advisory for a package no host has.
        advisory("DSA-6", "Debian:12", "nginx", "1.22.1-10"),
        // A crate, across ecosystems (and the unknown one).
        advisory("RUSTSEC-2", "crates.io", "smallvec", "1.6.2"),
        // Not affecting anything installed (fixed below every version).
        advisory("ALSA-2", "AlmaLinux:9", "openssl-libs", "1:3.0.1-1.el9"),
        // A withdrawn version of an advisory withdraws it.
        {
            let mut a = advisory("DSA-1", "Debian:12", "openssl", "3.0.13-1");
            a.withdrawn = Some(at());
            a
        },
    ];
    let expected: [&[HostKey]; 8] = [
        &[1, 2],
        &[1, 3],
        &[1, 2, 3],
        &[],
        &[],
        &[1, 4, 5, 6],
        &[],
        &[1],
    ];
    for (advisory, expected) in steps.iter().zip(expected) {
        let reported = fleet.insert_advisory(advisory);
        let after = model.check(&fleet);
        assert_eq!(reported, changed(&before, &after), "{}", advisory.id);
        assert_eq!(reported, expected, "{}", advisory.id);
        before = after;
    }
}

#[test]
fn remove_advisory_reports_exactly_the_hosts_whose_matches_changed() {
    let (mut fleet, model) = world();
    let mut before = model.check(&fleet);
    for (key, expected) in [
        ("DSA-2", &[1, 2, 3][..]),
        ("RUSTSEC-1", &[1, 4, 5, 6]),
        ("RUSTSEC-1", &[]),
        ("no-such-document", &[]),
        ("DSA-3", &[2]),
    ] {
        // Hand-made records are read from `{id}.json`.
        let key = format!("{key}@{key}.json");
        let reported = fleet.remove_advisory(&key);
        let after = model.check(&fleet);
        assert_eq!(reported, changed(&before, &after), "{key}");
        assert_eq!(reported, expected, "{key}");
        before = after;
    }
    assert!(before[&2].problems.is_empty());
}

#[test]
fn vex_statements_move_findings_to_not_affected() {
    let index = Index::build(&[advisory(
        "CVE-2099-0001",
        "Red Hat:enterprise_linux:9::baseos",
        "foo",
        "1.2-1.el9",
    )]);
    let mut fleet = Fleet::new(index);
    let mut model = Model::default();
    model.learn(
        &mut fleet,
        vec![
            (0, rpm(Rpm, "foo", "1.1-1.el9")),
            (1, rpm(Rpm, "foo", "1.0-1.el9")),
        ],
    );
    model.set(&mut fleet, 10, eco("rhel", "9.4"), &[0]);
    model.set(&mut fleet, 11, eco("rhel", "9.4"), &[1]);
    let before = model.check(&fleet);
    let reported = fleet.insert_advisory(&crate::rules::vex("1.1-1.el9"));
    let after = model.check(&fleet);
    assert_eq!(reported, [10]);
    assert_eq!(reported, changed(&before, &after));
    assert!(after[&10].findings.is_empty());
    assert!(matches!(
        after[&10].not_affected[0].verdict,
        Verdict::NotAffected { .. }
    ));
    assert_eq!(after[&11].findings.len(), 1);
    assert_eq!(fleet.stats().not_affected, 1);
}

#[test]
fn remove_host_leaves_every_bitmap() {
    let (mut fleet, mut model) = world();
    let before = fleet.stats();
    assert_eq!(fleet.hosts_with_package("local-tool"), [1]);
    assert_eq!(fleet.hosts_with_package("curl"), [1, 3, 4]);
    assert!(fleet.remove_host(1));
    model.hosts.remove(&1);
    assert!(!fleet.remove_host(1));
    assert_eq!(fleet.host_matches(1), None);
    assert!(fleet.hosts_with_package("local-tool").is_empty());
    assert_eq!(fleet.hosts_with_package("curl"), [3, 4]);
    let after = fleet.stats();
    // Host 1 alone held libssl3 and openssl 3.0.11, curl, local-tool and
    // the crate on Debian 12; bash it shares with host 2.
    assert_eq!(after.pairs, before.pairs - 5);
    assert_eq!(after.memberships, before.memberships - 6);
    assert_eq!(after.findings, before.findings - 4);
    // A later advisory does not report it.
    assert_eq!(
        fleet.insert_advisory(&advisory("DSA-7", "Debian:12", "bash", "9")),
        [2]
    );
    model.check(&fleet);
    assert_eq!(
        fleet.change_host(1, &[0], &[]),
        Err(FleetError::UnknownHost(1))
    );
}

#[test]
fn an_ecosystem_change_moves_the_host() {
    let (mut fleet, mut model) = world();
    // Host 3 is upgraded from Debian 11 to Debian 12 with the same packages:
    // DSA-1 (Debian 12 only) now reaches its libssl3.
    model.set(&mut fleet, 3, eco("debian", "12"), &[0, 3, 4]);
    let all = model.check(&fleet);
    let ids: Vec<&str> = all[&3]
        .findings
        .iter()
        .map(|m| m.advisory.id.as_str())
        .collect();
    assert_eq!(ids, ["DSA-2", "DSA-2", "DSA-1"]);
    // Debian 11 is left with no host and no pair.
    let stats = fleet.stats();
    assert_eq!(stats.ecosystems, 4);
    // Host 6's OS becomes known: its rpm is matched now.
    model.set(&mut fleet, 6, eco("almalinux", "9.1"), &[8, 7]);
    let all = model.check(&fleet);
    assert_eq!(all[&6].findings.len(), 2);
    assert_eq!(fleet.stats().ecosystems, 3);
    // A new advisory for Debian 11 reaches no host.
    assert!(
        fleet
            .insert_advisory(&advisory("DSA-8", "Debian:11", "curl", "9"))
            .is_empty()
    );
}

#[test]
fn unknown_package_ids_are_reported_and_the_rest_applied() {
    let (mut fleet, mut model) = world();
    assert!(fleet.knows_package(5) && !fleet.knows_package(999));
    assert_eq!(
        fleet.change_host(2, &[999, 1, 998], &[]),
        Err(FleetError::UnknownPackages(vec![999, 998]))
    );
    model.hosts.get_mut(&2).unwrap().1.insert(1);
    assert_eq!(
        fleet.set_host(8, eco("debian", "12"), &[3, 997]),
        Err(FleetError::UnknownPackages(vec![997]))
    );
    model
        .hosts
        .insert(8, (eco("debian", "12"), BTreeSet::from([3])));
    // Learning is idempotent: a known id is not read again.
    fleet.learn_packages([(3, deb("curl", "0.1-1", "curl"))]);
    model.check(&fleet);
}

#[test]
fn reevaluate_counts_and_changes_nothing() {
    let (mut fleet, model) = world();
    let before = model.check(&fleet);
    let stats = fleet.stats();
    let done = fleet.reevaluate();
    assert_eq!(done.hosts, 6);
    assert_eq!(done.pairs, stats.pairs);
    assert_eq!(done.findings as u64, stats.findings);
    assert_eq!(model.check(&fleet), before);
    assert_eq!(fleet.stats(), stats);
}

#[test]
fn set_hosts_equals_set_host_one_by_one() {
    let (one_by_one, model) = world();
    let mut bulk = Fleet::new(one_by_one.index().clone());
    bulk.learn_packages(model.catalog.clone());
    let mut one_by_one = Fleet::new(one_by_one.index().clone());
    one_by_one.learn_packages(model.catalog.clone());
    // 3,000 hosts over several batches, keys out of order, one host given
    // twice in a batch and one again in a later batch, some unknown ids.
    let ecosystems = [
        eco("debian", "12"),
        eco("debian", "11"),
        eco("ubuntu", "22.04"),
        eco("fedora", "40"),
    ];
    let mut rng = Rng(7);
    let mut hosts: Vec<(HostKey, HostEcosystem, Vec<PackageId>)> = (0..3_000u32)
        .map(|i| {
            let host = (i * 7_919) % 3_001;
            let ids = (0..6).map(|_| rng.below(14) as PackageId).collect();
            (host, ecosystems[rng.below(4)].clone(), ids)
        })
        .collect();
    hosts.insert(10, (hosts[3].0, eco("debian", "12"), vec![0, 1, 2]));
    hosts.push((hosts[5].0, eco("ubuntu", "22.04"), vec![10, 7, 10, 999]));
    for (host, eco, ids) in &hosts {
        let _ = one_by_one.set_host(*host, eco.clone(), ids);
    }
    assert_eq!(
        bulk.set_hosts(hosts.clone()),
        Err(FleetError::UnknownPackages(vec![13, 999]))
    );
    assert!(bulk.stats().findings > 1_000);
    assert_eq!(bulk.stats(), one_by_one.stats());
    for (host, _, _) in &hosts {
        assert_eq!(bulk.host_matches(*host), one_by_one.host_matches(*host));
    }
    // Later changes see the same state.
    let a = advisory("DSA-9", "Debian:12", "curl", "9");
    assert_eq!(bulk.insert_advisory(&a), one_by_one.insert_advisory(&a));
}

/// A deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

#[test]
fn the_fleet_equals_assess_on_almalinux_data() {
    let zip = data!("osv/AlmaLinux-all.zip");
    let advisories: Vec<_> = osv::read(Path::new(zip), &ReadOptions::new("osv:AlmaLinux", at()))
        .unwrap()
        .map(|a| a.unwrap())
        .collect();
    // Installed versions below, at and above real fixes, for AlmaLinux 8 and
    // 9, and local packages no advisory names.
    let mut versions: BTreeSet<(String, String, String)> = BTreeSet::new();
    for a in advisories.iter().step_by(7) {
        for x in &a.affected {
            let release = x.parsed_ecosystem.release.clone().unwrap_or_default();
            for fixed in &x.fixed {
                for v in [bump(fixed, -1), Some(fixed.clone()), bump(fixed, 1)]
                    .into_iter()
                    .flatten()
                {
                    versions.insert((release.clone(), x.package.clone(), v));
                }
            }
        }
    }
    let mut pools: BTreeMap<String, Vec<PackageId>> = BTreeMap::new();
    let mut model = Model::default();
    let mut fleet = Fleet::new(Index::build(&advisories));
    let mut packages = Vec::new();
    for (id, (release, name, version)) in versions.into_iter().enumerate() {
        pools.entry(release).or_default().push(id as PackageId);
        packages.push((id as PackageId, rpm(Rpm, &name, &version)));
    }
    let local = packages.len() as PackageId;
    for i in 0..200 {
        packages.push((local + i, rpm(Rpm, &format!("local-{i}"), "1.0-1")));
    }
    model.learn(&mut fleet, packages);
    let releases: Vec<String> = pools.keys().cloned().collect();
    assert!(releases.contains(&"8".to_owned()) && releases.contains(&"9".to_owned()));
    let mut rng = Rng(0x5eed_f1ee_7000_0001);
    let draw = |rng: &mut Rng, release: &str, n: usize| -> Vec<PackageId> {
        let pool = &pools[release];
        let mut ids: Vec<PackageId> = (0..n).map(|_| pool[rng.below(pool.len())]).collect();
        ids.extend((0..n / 4).map(|_| local + rng.below(200) as PackageId));
        ids
    };
    for host in 0..300 {
        let release = &releases[rng.below(releases.len())];
        let ids = draw(&mut rng, release, 100);
        model.set(
            &mut fleet,
            host,
            eco("almalinux", &format!("{release}.2")),
            &ids,
        );
    }
    let mut before = model.check(&fleet);
    let findings: usize = before.values().map(|m| m.findings.len()).sum();
    assert!(findings > 3_000, "{findings} findings");
    // Packages upgraded and removed on some hosts.
    for host in (0..300).step_by(11) {
        let (eco, ids) = model.hosts[&host].clone();
        let release = eco.as_ref().unwrap().release().unwrap().to_owned();
        let removed: Vec<PackageId> = ids.iter().copied().step_by(5).collect();
        let added = draw(&mut rng, &release, 10);
        model.change(&mut fleet, host, &added, &removed);
    }
    let after = model.check(&fleet);
    assert!(!changed(&before, &after).is_empty());
    before = after;
    // A real advisory withdrawn, then filed again.
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    for m in before.values().flat_map(|m| &m.findings) {
        *named.entry(m.advisory.document_key.as_str()).or_default() += 1;
    }
    let busiest = named.iter().max_by_key(|(_, n)| **n).unwrap().0;
    let busiest = advisories
        .iter()
        .find(|a| a.document_key() == *busiest)
        .unwrap();
    let reported = fleet.remove_advisory(&busiest.document_key());
    let after = model.check(&fleet);
    assert!(reported.len() > 10, "{} hosts", reported.len());
    assert_eq!(reported, changed(&before, &after));
    let again = fleet.insert_advisory(busiest);
    let restored = model.check(&fleet);
    assert_eq!(again, reported);
    assert_eq!(restored, before);
    // A full re-evaluation changes nothing.
    let done = fleet.reevaluate();
    assert_eq!(done.findings, findings_of(&restored));
    assert_eq!(model.check(&fleet), restored);
}

fn findings_of(all: &BTreeMap<HostKey, HostMatches>) -> usize {
    all.values().map(|m| m.findings.len()).sum()
}

//! The whole fleet's matches, kept up to date incrementally (ASM-1, ASM-8):
//! the server's in-memory state on top of the [`Index`].
//!
//! The server stores each distinct installed package once, under an integer
//! [`PackageId`], and each host under a [`HostKey`]. Hosts share most of
//! their packages, and a package's verdicts depend only on the package and
//! the host's ecosystem, so the unit of work is one *pair* (ecosystem,
//! package id), evaluated once however many hosts hold it:
//!
//! - ecosystems are interned to a small slot number (a host whose ecosystem
//!   is unknown gets a slot too: its language packages are still matched);
//! - per slot, each pair some host holds has the set of its holders, a
//!   compressed bitmap of host keys, and its evaluation when it is not empty
//!   (most packages match nothing, and keep no evaluation at all);
//! - per host, only its slot and the ids of its pairs that have an
//!   evaluation, so that [`Fleet::host_matches`] reads a few memos instead of
//!   evaluating hundreds of packages. A host's full package list is not kept:
//!   it lives in the bitmaps, at about two bytes per (host, package).
//!
//! The server loads its hosts at startup with [`Fleet::set_hosts`], then
//! follows each host's changes with [`Fleet::change_host`].
//!
//! A pair is evaluated when its first holder arrives and forgotten when its
//! last holder leaves, so a host's new package costs an evaluation only when
//! no other host of its ecosystem has it. An advisory filed or withdrawn
//! re-evaluates only the pairs under the [`PackageKey`]s [`Index::insert`]
//! and [`Index::remove`] return, and reports the hosts whose matches
//! changed.
//!
//! Package ids the fleet has not learned are never guessed at: they are left
//! out of the host and returned in [`FleetError::UnknownPackages`], the rest
//! of the change applied.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

use rivet_advisory::model::Advisory;
use rivet_core::inventory::PackageFormat;
use roaring::RoaringBitmap;

use crate::assessment::{package_order, report_order};
use crate::ecosystem::{self, Ecosystem, UnknownEcosystem};
use crate::index::{EvalProblem, Evaluation, Index, Match, PackageKey, Verdict};
use crate::package::{InstalledPackage, PackageRef};

/// A host, by the server's host sequence number.
pub type HostKey = u32;

/// A distinct installed package, by the server's interned package id.
pub type PackageId = u32;

/// A change the fleet could not apply in full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// The host was never set (with [`Fleet::set_host`]), or was removed.
    #[error("host {0} is not in the fleet")]
    UnknownHost(HostKey),
    /// Package ids that were never learned (with [`Fleet::learn_packages`]):
    /// they were left out, the rest of the change was applied.
    #[error("{} package ids are not known to the fleet (first: {:?}); learn them first", .0.len(), .0.first())]
    UnknownPackages(Vec<PackageId>),
}

/// One host's current matches, as [`crate::assess`] would report them for
/// the same packages.
#[derive(Debug, Clone, PartialEq)]
pub struct HostMatches {
    /// The host's ecosystem, or why it has none.
    pub ecosystem: Result<Ecosystem, UnknownEcosystem>,
    /// Affected packages, one per package and advisory, sorted by package,
    /// version, architecture and advisory id.
    pub findings: Vec<Match>,
    /// Matches a VEX statement says do not apply, in the same order.
    pub not_affected: Vec<Match>,
    /// Versions that could not be compared, in package order.
    pub problems: Vec<EvalProblem>,
}

/// What a full re-evaluation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reevaluation {
    /// Distinct (ecosystem, package) pairs evaluated.
    pub pairs: usize,
    /// Hosts in the fleet.
    pub hosts: usize,
    /// Findings over all hosts (a package affected by an advisory on a
    /// host).
    pub findings: usize,
}

/// Sizes of the fleet, for the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FleetStats {
    /// Hosts.
    pub hosts: usize,
    /// Distinct packages learned.
    pub packages: usize,
    /// Ecosystems some host is in.
    pub ecosystems: usize,
    /// Distinct (ecosystem, package) pairs some host holds.
    pub pairs: usize,
    /// Of them, pairs with something to say (a match or a problem).
    pub noted_pairs: usize,
    /// Of them, pairs affected by at least one advisory.
    pub affected_pairs: usize,
    /// (host, package) memberships: the sum of the hosts' package counts.
    pub memberships: u64,
    /// Findings over all hosts.
    pub findings: u64,
    /// VEX-cleared matches over all hosts.
    pub not_affected: u64,
    /// The hosts' bitmaps, serialised (about their size in memory).
    pub bitmap_bytes: u64,
}

/// The hash of the fleet's maps, whose keys are the server's sequence
/// numbers: a multiplication spreads them, where SipHash would cost more
/// than the rest of a lookup (and there is no untrusted key to defend
/// against).
#[derive(Debug, Clone, Copy, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by package id or host key.
type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// A distinct package, stored compactly: its strings one after the other.
#[derive(Debug, Clone)]
struct Stored {
    text: Box<str>,
    /// Where name, version, architecture, source name, source version and
    /// language ecosystem end in `text`.
    ends: [u32; 6],
    format: Option<PackageFormat>,
    language: bool,
}

impl Stored {
    /// `None` when the package's strings exceed 4 GiB together.
    fn of(p: &InstalledPackage) -> Option<Stored> {
        let fields = [
            p.name.as_str(),
            &p.version,
            &p.architecture,
            &p.source_name,
            &p.source_version,
            p.ecosystem.as_deref().unwrap_or(""),
        ];
        let mut text = String::with_capacity(fields.iter().map(|f| f.len()).sum());
        let mut ends = [0u32; 6];
        for (end, field) in ends.iter_mut().zip(fields) {
            text.push_str(field);
            *end = u32::try_from(text.len()).ok()?;
        }
        Some(Stored {
            text: text.into_boxed_str(),
            ends,
            format: p.format,
            language: p.ecosystem.is_some(),
        })
    }

    fn field(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..self.ends[i] as usize).unwrap_or("")
    }

    fn as_ref(&self) -> PackageRef<'_> {
        PackageRef {
            format: self.format,
            name: self.field(0),
            version: self.field(1),
            architecture: self.field(2),
            source_name: self.field(3),
            source_version: self.field(4),
            ecosystem: self.language.then(|| self.field(5)),
        }
    }
}

/// A pair's evaluation, kept only when it is not empty.
#[derive(Debug, Clone)]
struct Noted {
    /// Matches sorted by advisory id, as `assess` orders a package's.
    evaluation: Evaluation,
    findings: u32,
}

/// One (ecosystem, package) pair some host holds.
#[derive(Debug, Clone, Default)]
struct Pair {
    holders: RoaringBitmap,
    noted: Option<Box<Noted>>,
}

/// An interned ecosystem and its pairs.
#[derive(Debug, Clone)]
struct Slot {
    ecosystem: Result<Ecosystem, UnknownEcosystem>,
    pairs: IdMap<Pair>,
    hosts: usize,
}

/// Hosts of [`Fleet::set_hosts`] not applied yet: per slot, their
/// memberships as package id (high half) and index in `hosts` (low half).
#[derive(Debug, Default)]
struct Batch {
    hosts: Vec<HostKey>,
    slots: Vec<(u32, Vec<u64>)>,
}

#[derive(Debug, Clone)]
struct Host {
    slot: u32,
    /// Its pairs that have an evaluation, sorted.
    noted: Vec<PackageId>,
}

/// The fleet's hosts, their packages and their matches against an
/// [`Index`]; see the module documentation.
#[derive(Debug, Clone)]
pub struct Fleet {
    index: Index,
    packages: IdMap<Stored>,
    /// Package ids by every name an advisory can file them under: binary
    /// name, source name and normalised language name.
    names: HashMap<Box<str>, Vec<PackageId>>,
    slots: Vec<Slot>,
    slot_of: HashMap<Result<Ecosystem, String>, u32>,
    hosts: IdMap<Host>,
}

impl Fleet {
    /// An empty fleet matched against `index`.
    pub fn new(index: Index) -> Fleet {
        Fleet {
            index,
            packages: IdMap::default(),
            names: HashMap::new(),
            slots: Vec::new(),
            slot_of: HashMap::new(),
            hosts: IdMap::default(),
        }
    }

    /// The advisories the fleet is matched against.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Registers distinct packages by id. Idempotent: a known id is not read
    /// again (the server's ids name immutable package rows). A package whose
    /// strings exceed 4 GiB together is not learned.
    pub fn learn_packages(
        &mut self,
        packages: impl IntoIterator<Item = (PackageId, InstalledPackage)>,
    ) {
        for (id, package) in packages {
            let Entry::Vacant(slot) = self.packages.entry(id) else {
                continue;
            };
            let Some(stored) = Stored::of(&package) else {
                continue;
            };
            let p = stored.as_ref();
            let mut names = vec![p.name, p.source_name];
            let normalised = p
                .ecosystem
                .map(|lang| ecosystem::normalize_name(lang, p.name));
            names.extend(normalised.as_deref());
            names.sort_unstable();
            names.dedup();
            for name in names {
                self.names.entry(name.into()).or_default().push(id);
            }
            slot.insert(stored);
        }
    }

    /// Whether a package id has been learned.
    pub fn knows_package(&self, id: PackageId) -> bool {
        self.packages.contains_key(&id)
    }

    /// Sets a host's ecosystem (from its os-release by
    /// [`ecosystem::of_host`], or why it has none) and its whole package
    /// set, replacing whatever the host had: for a new host, a host whose
    /// ecosystem changed, or a full resynchronisation.
    pub fn set_host(
        &mut self,
        host: HostKey,
        ecosystem: Result<Ecosystem, UnknownEcosystem>,
        packages: &[PackageId],
    ) -> Result<(), FleetError> {
        self.enter(host, ecosystem);
        self.hold(host, packages)
    }

    /// Enters a host under its ecosystem with no packages, replacing
    /// whatever it had; returns its ecosystem's slot.
    fn enter(&mut self, host: HostKey, ecosystem: Result<Ecosystem, UnknownEcosystem>) -> u32 {
        self.remove_host(host);
        let slot = self.intern(ecosystem);
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.hosts += 1;
        }
        self.hosts.insert(
            host,
            Host {
                slot,
                noted: Vec::new(),
            },
        );
        slot
    }

    /// Sets many hosts, as [`Fleet::set_host`] one after the other would, for
    /// loading the fleet: memberships are applied in batches of
    /// [`Fleet::BATCH`] hosts grouped by package, so that each pair's bitmap
    /// is reached once per batch instead of once per host (100,000 hosts of
    /// 700 packages: 6 s instead of 21 s on two cores). Package ids not
    /// learned are left out and returned together, each once.
    pub fn set_hosts(
        &mut self,
        hosts: impl IntoIterator<Item = (HostKey, Result<Ecosystem, UnknownEcosystem>, Vec<PackageId>)>,
    ) -> Result<(), FleetError> {
        let mut batch = Batch::default();
        let mut unknown = Vec::new();
        for (host, ecosystem, ids) in hosts {
            // A host given twice: its first set must be applied before it is
            // replaced.
            if batch.hosts.len() >= Self::BATCH || batch.hosts.contains(&host) {
                self.apply(&mut batch, &mut unknown);
            }
            let slot = self.enter(host, ecosystem);
            let index = batch.hosts.len() as u64;
            batch.hosts.push(host);
            let members = match batch.slots.iter().position(|(s, _)| *s == slot) {
                Some(at) => &mut batch.slots[at].1,
                None => {
                    batch.slots.push((slot, Vec::new()));
                    let last = batch.slots.len() - 1;
                    &mut batch.slots[last].1
                }
            };
            members.extend(ids.into_iter().map(|id| (u64::from(id) << 32) | index));
        }
        self.apply(&mut batch, &mut unknown);
        unknown.sort_unstable();
        unknown.dedup();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(FleetError::UnknownPackages(unknown))
        }
    }

    /// Hosts per batch of [`Fleet::set_hosts`].
    pub const BATCH: usize = 1024;

    /// Applies the memberships of a batch of hosts that were set, grouped by
    /// pair; the batch is left empty.
    fn apply(&mut self, batch: &mut Batch, unknown: &mut Vec<PackageId>) {
        for (slot_no, members) in &mut batch.slots {
            let Some(slot) = self.slots.get_mut(*slot_no as usize) else {
                continue;
            };
            members.sort_unstable();
            members.dedup();
            let mut rest = &members[..];
            while let Some(first) = rest.first() {
                let id = (first >> 32) as PackageId;
                let run = rest
                    .iter()
                    .position(|m| (m >> 32) as PackageId != id)
                    .unwrap_or(rest.len());
                let (run, next) = rest.split_at(run);
                rest = next;
                let pair = match slot.pairs.entry(id) {
                    Entry::Occupied(pair) => pair.into_mut(),
                    Entry::Vacant(vacant) => {
                        let Some(package) = self.packages.get(&id) else {
                            unknown.push(id);
                            continue;
                        };
                        vacant.insert(Pair {
                            holders: RoaringBitmap::new(),
                            noted: evaluate(&self.index, &slot.ecosystem, package),
                        })
                    }
                };
                for member in run {
                    let Some(&host) = batch.hosts.get((member & 0xFFFF_FFFF) as usize) else {
                        continue;
                    };
                    let new = pair.holders.try_push(host).is_ok() || pair.holders.insert(host);
                    // A host's ids come in increasing order: its list stays
                    // sorted.
                    if new
                        && pair.noted.is_some()
                        && let Some(h) = self.hosts.get_mut(&host)
                    {
                        h.noted.push(id);
                    }
                }
            }
        }
        batch.slots.clear();
        batch.hosts.clear();
    }

    /// A host's package set changed by these ids (what the store computed):
    /// `removed` are dropped first, then `added` are added, so an id in both
    /// ends up held. Only pairs no host of its ecosystem held before are
    /// evaluated.
    pub fn change_host(
        &mut self,
        host: HostKey,
        added: &[PackageId],
        removed: &[PackageId],
    ) -> Result<(), FleetError> {
        let Some(h) = self.hosts.get_mut(&host) else {
            return Err(FleetError::UnknownHost(host));
        };
        if let Some(slot) = self.slots.get_mut(h.slot as usize) {
            for id in removed {
                let Entry::Occupied(mut pair) = slot.pairs.entry(*id) else {
                    continue;
                };
                if !pair.get_mut().holders.remove(host) {
                    continue;
                }
                if pair.get().noted.is_some()
                    && let Ok(at) = h.noted.binary_search(id)
                {
                    h.noted.remove(at);
                }
                if pair.get().holders.is_empty() {
                    pair.remove();
                }
            }
        }
        self.hold(host, added)
    }

    /// Removes a host: it leaves every bitmap of its ecosystem. Returns
    /// whether it was in the fleet.
    pub fn remove_host(&mut self, host: HostKey) -> bool {
        let Some(h) = self.hosts.remove(&host) else {
            return false;
        };
        if let Some(slot) = self.slots.get_mut(h.slot as usize) {
            slot.hosts = slot.hosts.saturating_sub(1);
            slot.pairs.retain(|_, pair| {
                pair.holders.remove(host);
                !pair.holders.is_empty()
            });
        }
        true
    }

    /// The host's current matches: findings (verdict affected) and
    /// VEX-cleared ones, sorted by package name, version, architecture and
    /// advisory id, and its problems — the same lists in the same order as
    /// [`crate::assess`] gives for the same packages. `None` for a host not
    /// in the fleet.
    pub fn host_matches(&self, host: HostKey) -> Option<HostMatches> {
        let h = self.hosts.get(&host)?;
        let slot = self.slots.get(h.slot as usize)?;
        let mut noted: Vec<(PackageRef<'_>, &Noted)> = h
            .noted
            .iter()
            .filter_map(|id| {
                let package = self.packages.get(id)?.as_ref();
                Some((package, slot.pairs.get(id)?.noted.as_deref()?))
            })
            .collect();
        noted.sort_by(|a, b| package_order(&a.0, &b.0));
        let mut out = HostMatches {
            ecosystem: slot.ecosystem.clone(),
            findings: Vec::new(),
            not_affected: Vec::new(),
            problems: Vec::new(),
        };
        for (_, n) in noted {
            for m in &n.evaluation.matches {
                match m.verdict {
                    Verdict::Affected => out.findings.push(m.clone()),
                    Verdict::NotAffected { .. } => out.not_affected.push(m.clone()),
                }
            }
            out.problems.extend(n.evaluation.problems.iter().cloned());
        }
        out.findings.sort_by(report_order);
        out.not_affected.sort_by(report_order);
        Some(out)
    }

    /// Files an advisory, or replaces an earlier version of the same
    /// document; re-evaluates only the pairs under the keys its old and new
    /// versions name. Returns the hosts whose [`Fleet::host_matches`]
    /// changed, sorted.
    pub fn insert_advisory(&mut self, advisory: &Advisory) -> Vec<HostKey> {
        let keys = self.index.insert(advisory);
        self.refresh(&keys)
    }

    /// Withdraws an advisory document by its [`Advisory::document_key`];
    /// returns the hosts whose matches changed, sorted.
    pub fn remove_advisory(&mut self, document_key: &str) -> Vec<HostKey> {
        let keys = self.index.remove(document_key);
        self.refresh(&keys)
    }

    /// Forgets every evaluation and evaluates every pair some host holds
    /// once, as after a new index.
    pub fn reevaluate(&mut self) -> Reevaluation {
        for h in self.hosts.values_mut() {
            h.noted.clear();
        }
        let mut done = Reevaluation {
            hosts: self.hosts.len(),
            ..Reevaluation::default()
        };
        for slot in &mut self.slots {
            for (id, pair) in &mut slot.pairs {
                done.pairs += 1;
                pair.noted = self
                    .packages
                    .get(id)
                    .and_then(|p| evaluate(&self.index, &slot.ecosystem, p));
                let Some(noted) = &pair.noted else {
                    continue;
                };
                done.findings += noted.findings as usize * pair.holders.len() as usize;
                for host in &pair.holders {
                    if let Some(h) = self.hosts.get_mut(&host) {
                        h.noted.push(*id);
                    }
                }
            }
        }
        for h in self.hosts.values_mut() {
            h.noted.sort_unstable();
            h.noted.shrink_to_fit();
        }
        done
    }

    /// The hosts holding a package of this (binary) name, in any version,
    /// sorted.
    pub fn hosts_with_package(&self, name: &str) -> Vec<HostKey> {
        let Some(ids) = self.names.get(name) else {
            return Vec::new();
        };
        let mut hosts = RoaringBitmap::new();
        for id in ids {
            if self.packages.get(id).is_none_or(|p| p.field(0) != name) {
                continue;
            }
            for slot in &self.slots {
                if let Some(pair) = slot.pairs.get(id) {
                    hosts |= &pair.holders;
                }
            }
        }
        hosts.iter().collect()
    }

    /// Sizes for the operator. Walks the pairs (not the hosts).
    pub fn stats(&self) -> FleetStats {
        let mut stats = FleetStats {
            hosts: self.hosts.len(),
            packages: self.packages.len(),
            ..FleetStats::default()
        };
        for slot in self.slots.iter().filter(|s| s.hosts > 0) {
            stats.ecosystems += 1;
            stats.pairs += slot.pairs.len();
            for pair in slot.pairs.values() {
                let holders = pair.holders.len();
                stats.memberships += holders;
                stats.bitmap_bytes += pair.holders.serialized_size() as u64;
                let Some(noted) = &pair.noted else {
                    continue;
                };
                stats.noted_pairs += 1;
                let findings = u64::from(noted.findings);
                if findings > 0 {
                    stats.affected_pairs += 1;
                }
                stats.findings += findings * holders;
                let cleared = noted.evaluation.matches.len() as u64 - findings;
                stats.not_affected += cleared * holders;
            }
        }
        stats
    }

    /// The slot of an ecosystem, made on first sight.
    fn intern(&mut self, ecosystem: Result<Ecosystem, UnknownEcosystem>) -> u32 {
        let name = ecosystem.clone().map_err(|e| e.reason);
        if let Some(slot) = self.slot_of.get(&name) {
            return *slot;
        }
        let slot = self.slots.len() as u32;
        self.slots.push(Slot {
            ecosystem,
            pairs: IdMap::default(),
            hosts: 0,
        });
        self.slot_of.insert(name, slot);
        slot
    }

    /// Adds packages to a host that is in the fleet, evaluating the pairs
    /// no host held.
    fn hold(&mut self, host: HostKey, ids: &[PackageId]) -> Result<(), FleetError> {
        let Some(h) = self.hosts.get_mut(&host) else {
            return Err(FleetError::UnknownHost(host));
        };
        let Some(slot) = self.slots.get_mut(h.slot as usize) else {
            return Err(FleetError::UnknownHost(host));
        };
        let mut unknown = Vec::new();
        let before = h.noted.len();
        for id in ids {
            // The pair first: held by another host, it needs no package.
            let pair = match slot.pairs.entry(*id) {
                Entry::Occupied(pair) => pair.into_mut(),
                Entry::Vacant(vacant) => {
                    let Some(package) = self.packages.get(id) else {
                        unknown.push(*id);
                        continue;
                    };
                    vacant.insert(Pair {
                        holders: RoaringBitmap::new(),
                        noted: evaluate(&self.index, &slot.ecosystem, package),
                    })
                }
            };
            // Hosts mostly arrive in key order: appending skips the search.
            let new = pair.holders.try_push(host).is_ok() || pair.holders.insert(host);
            if new && pair.noted.is_some() {
                h.noted.push(*id);
            }
        }
        if h.noted.len() > before {
            h.noted.sort_unstable();
            h.noted.dedup();
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(FleetError::UnknownPackages(unknown))
        }
    }

    /// Evaluates again the pairs filed under `keys`; returns the holders of
    /// those whose evaluation changed.
    fn refresh(&mut self, keys: &[PackageKey]) -> Vec<HostKey> {
        let mut candidates: Vec<PackageId> = keys
            .iter()
            .filter_map(|k| self.names.get(k.name.as_str()))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut changed = RoaringBitmap::new();
        for slot in &mut self.slots {
            let host_ecosystem = slot.ecosystem.as_ref().ok();
            for id in &candidates {
                let (Some(pair), Some(package)) = (slot.pairs.get_mut(id), self.packages.get(id))
                else {
                    continue;
                };
                let p = package.as_ref();
                if !keys.iter().any(|k| filed_under(host_ecosystem, &p, k)) {
                    continue;
                }
                let fresh = evaluate(&self.index, &slot.ecosystem, package);
                let same = match (&fresh, &pair.noted) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.evaluation == b.evaluation,
                    _ => false,
                };
                if same {
                    continue;
                }
                changed |= &pair.holders;
                let (was, is) = (pair.noted.is_some(), fresh.is_some());
                pair.noted = fresh;
                if was == is {
                    continue;
                }
                for host in &pair.holders {
                    let Some(h) = self.hosts.get_mut(&host) else {
                        continue;
                    };
                    match (h.noted.binary_search(id), is) {
                        (Err(at), true) => h.noted.insert(at, *id),
                        (Ok(at), false) => {
                            h.noted.remove(at);
                        }
                        _ => {}
                    }
                }
            }
        }
        changed.iter().collect()
    }
}

/// A pair's evaluation, `None` when there is nothing to say.
fn evaluate(
    index: &Index,
    ecosystem: &Result<Ecosystem, UnknownEcosystem>,
    package: &Stored,
) -> Option<Box<Noted>> {
    let mut evaluation = index.evaluate(ecosystem.as_ref().ok(), &package.as_ref());
    if evaluation.is_empty() {
        return None;
    }
    evaluation
        .matches
        .sort_by(|a, b| a.advisory.id.cmp(&b.advisory.id));
    let findings = evaluation
        .matches
        .iter()
        .filter(|m| m.verdict == Verdict::Affected)
        .count();
    Some(Box::new(Noted {
        evaluation,
        findings: u32::try_from(findings).unwrap_or(u32::MAX),
    }))
}

/// Whether [`Index::evaluate`] looks up `package` on a host of `host`
/// under `key`: its own key, or for Debian and AlmaLinux, whose advisories
/// may omit the release, the bare ecosystem name.
fn filed_under(host: Option<&Ecosystem>, package: &PackageRef<'_>, key: &PackageKey) -> bool {
    let Some(own) = Index::package_key(host, package) else {
        return false;
    };
    own.name == key.name
        && own.naming == key.naming
        && (own.ecosystem == key.ecosystem
            || (package.ecosystem.is_none()
                && host.is_some_and(|h| {
                    ecosystem::release_optional(h.name()) && key.ecosystem == h.name()
                })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_packages_read_back_as_given() {
        let p = InstalledPackage {
            format: Some(PackageFormat::Deb),
            name: "libssl3".into(),
            version: "3.0.11-1~deb12u2".into(),
            architecture: "amd64".into(),
            source_name: "openssl".into(),
            source_version: "3.0.11-1~deb12u2".into(),
            ecosystem: None,
            purl: None,
        };
        assert_eq!(Stored::of(&p).unwrap().as_ref(), p.as_ref());
        let c = InstalledPackage::from_purl("pkg:pypi/Zope.Interface@5.0").unwrap();
        assert_eq!(Stored::of(&c).unwrap().as_ref(), c.as_ref());
        let empty = InstalledPackage {
            ecosystem: Some(String::new()),
            ..p
        };
        assert_eq!(Stored::of(&empty).unwrap().as_ref().ecosystem, Some(""));
    }
}

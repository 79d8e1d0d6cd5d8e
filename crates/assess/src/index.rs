//! The matching index (ASM-1): every affected entry of every advisory,
//! compiled once and filed under `(ecosystem key, package name)`, so that
//! evaluating a package that no advisory names is two hash lookups.
//!
//! The unit of work is one *distinct* package under one ecosystem
//! ([`Index::evaluate`]): 100,000 hosts share most of their packages, so the
//! server evaluates each interned package once and a host's findings are the
//! union over its packages. When an advisory arrives, changes or is
//! withdrawn, [`Index::insert`] and [`Index::remove`] return the
//! `(ecosystem, name)` keys it touches, and only the distinct packages under
//! those keys need evaluating again.
//!
//! Rules, per affected entry:
//! - withdrawn advisories are never filed;
//! - the package is looked up by the name the ecosystem uses ([`Naming`]):
//!   source package and source version for Debian, Ubuntu and Alpine, the
//!   binary rpm and its EVR for AlmaLinux, Rocky Linux and Red Hat;
//! - Ubuntu's `binaries` list, when present, must name the binary package;
//! - `architectures`, when present, must contain the package's architecture
//!   (`amd64` and `x86_64`, `arm64` and `aarch64` … are the same machine); a
//!   `noarch`/`all` package matches only a list that names `noarch` or
//!   `all`; a package of unknown architecture is not excluded;
//! - the version is affected when it is in the `versions` list (equal under
//!   the scheme: `0:1.2-3` is `1.2-3` in rpm) or in any range (see
//!   [`crate::range`]); a missing rpm epoch is epoch 0 on both sides;
//! - several entries of one advisory for one package give one match; its
//!   fixed version is the highest of theirs, `None` when any has none;
//! - a `not_affected` (VEX) statement for the package and version whose
//!   vulnerability is one of the advisory's ids turns the match into a
//!   not-affected verdict.

use std::collections::HashMap;
use std::sync::Arc;

use rivet_advisory::model::{Advisory, Status};
use rivet_core::Timestamp;
use rivet_core::version::{self, Scheme};

use crate::ecosystem::{self, Ecosystem, Naming, naming_of};
use crate::kernel;
use crate::package::PackageRef;
use crate::range::{CompiledRange, Outcome, cmp};
use crate::severity::{self, Severity};

/// What a match needs to know about its advisory, shared by every match of
/// it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AdvisorySummary {
    /// The advisory's id (`ALSA-2025:10073`, `USN-2330-1`, `RUSTSEC-2016-0001`).
    pub id: String,
    /// The id plus the document it came from (the same id can be published
    /// for several releases).
    pub document_key: String,
    /// Other ids of the vulnerability: the advisory's aliases, then the CVE
    /// ids among `related` and `upstream` (AlmaLinux, Ubuntu and Alpaquita
    /// name the CVEs they fix there).
    pub aliases: Vec<String>,
    /// One-line summary.
    pub title: Option<String>,
    /// Normalised severity.
    pub severity: Severity,
    /// First published.
    pub published: Option<Timestamp>,
    /// A link for people: the first `ADVISORY` reference, else the first
    /// reference.
    pub url: Option<String>,
}

impl AdvisorySummary {
    fn of(advisory: &Advisory) -> AdvisorySummary {
        let mut aliases = advisory.aliases.clone();
        for id in advisory.related.iter().chain(&advisory.upstream) {
            if id.starts_with("CVE-") && !aliases.contains(id) && *id != advisory.id {
                aliases.push(id.clone());
            }
        }
        let url = advisory
            .references
            .iter()
            .find(|r| r.kind.eq_ignore_ascii_case("advisory"))
            .or(advisory.references.first())
            .map(|r| r.url.clone());
        AdvisorySummary {
            id: advisory.id.clone(),
            document_key: advisory.document_key(),
            aliases,
            title: advisory.title.clone(),
            severity: severity::of_advisory(advisory),
            published: advisory.published,
            url,
        }
    }

    /// The advisory's id and its aliases.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The CVE ids among [`Self::ids`], for enrichment (KEV, EPSS).
    pub fn cves(&self) -> impl Iterator<Item = &str> {
        self.ids().filter(|id| id.starts_with("CVE-"))
    }
}

/// The engine's answer for one package and one advisory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The installed version is affected.
    Affected,
    /// A VEX statement says this package is not affected (ASM-2).
    NotAffected {
        /// The id of the document that says so.
        statement: String,
    },
}

/// One advisory that applies to one installed package.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Match {
    /// The binary package's name.
    pub package: Arc<str>,
    /// Its installed version.
    pub installed_version: Arc<str>,
    /// Its architecture.
    pub architecture: Arc<str>,
    /// The source package it was built from.
    pub source_package: Arc<str>,
    /// The source package's version.
    pub source_version: Arc<str>,
    /// The advisory.
    pub advisory: Arc<AdvisorySummary>,
    /// The ecosystem of the advisory's entry, as published (`Ubuntu:Pro:22.04:LTS`).
    pub ecosystem: Arc<str>,
    /// The version that fixes it, under the name the ecosystem uses (the
    /// source version for Debian and Ubuntu); `None` when no fix is known.
    pub fixed_version: Option<Arc<str>>,
    /// Whether the package is part of the kernel, whose fix only takes
    /// effect after a reboot (ASM-7, [`kernel::fix_state`]).
    pub kernel: bool,
    /// Affected, or not affected by a VEX statement.
    pub verdict: Verdict,
}

/// A package the engine could not judge against some advisory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EvalProblem {
    /// The package's name.
    pub package: String,
    /// The version at fault.
    pub version: String,
    /// The ecosystem it was evaluated under.
    pub ecosystem: String,
    /// What was wrong.
    pub message: String,
}

/// Everything the engine says about one package.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Advisories that name the package, affected or not affected by VEX.
    pub matches: Vec<Match>,
    /// Comparisons that could not be made (an installed version invalid
    /// under the ecosystem's scheme).
    pub problems: Vec<EvalProblem>,
}

impl Evaluation {
    /// True when nothing applies and nothing went wrong.
    pub fn is_empty(&self) -> bool {
        self.matches.is_empty() && self.problems.is_empty()
    }
}

/// An affected entry that was not filed, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexProblem {
    /// The advisory document (`id@member`).
    pub document: String,
    /// The entry's ecosystem and package.
    pub ecosystem: String,
    /// The package name.
    pub package: String,
    /// What was wrong.
    pub message: String,
}

/// Counts of what the index holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    /// Advisory documents filed.
    pub documents: usize,
    /// Withdrawn documents, not filed.
    pub withdrawn: usize,
    /// Affected entries filed.
    pub entries: usize,
    /// Of them, not-affected (VEX) statements.
    pub not_affected: usize,
    /// Entries not filed: an ecosystem whose versions Rivet cannot compare,
    /// or no package name.
    pub unsupported: usize,
    /// Entries not filed: a version invalid under the ecosystem's scheme
    /// (listed in [`Index::problems`]).
    pub invalid: usize,
}

/// Names the distinct packages an advisory touches: those with this name
/// (binary or source, as `naming` says) under this ecosystem key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PackageKey {
    /// The ecosystem key (`AlmaLinux:9`, `Ubuntu:22.04`, `crates.io`).
    pub ecosystem: String,
    /// The package name (normalised for PyPI).
    pub name: String,
    /// Whether `name` is a binary or a source package name.
    pub naming: Naming,
}

#[derive(Debug, Clone)]
struct Entry {
    advisory: u32,
    ecosystem: Arc<str>,
    naming: Naming,
    scheme: Scheme,
    not_affected: bool,
    ranges: Vec<CompiledRange>,
    versions: Vec<Box<str>>,
    fixed: Vec<Arc<str>>,
    architectures: Vec<Box<str>>,
    binaries: Vec<Box<str>>,
    vulnerability: Option<Box<str>>,
}

#[derive(Debug, Clone)]
struct Document {
    summary: Arc<AdvisorySummary>,
    entries: Vec<u32>,
    keys: Vec<PackageKey>,
}

/// Every advisory's entries, filed for lookup by ecosystem and package name.
#[derive(Debug, Clone, Default)]
pub struct Index {
    documents: Vec<Option<Document>>,
    by_key: HashMap<String, u32>,
    entries: Vec<Option<Entry>>,
    files: HashMap<Box<str>, HashMap<Box<str>, Vec<u32>>>,
    problems: Vec<IndexProblem>,
    stats: IndexStats,
}

impl Index {
    /// An index of these advisories.
    pub fn build<'a>(advisories: impl IntoIterator<Item = &'a Advisory>) -> Index {
        let mut index = Index::default();
        for advisory in advisories {
            index.insert(advisory);
        }
        index
    }

    /// Files an advisory, replacing an earlier version of the same document
    /// (same [`Advisory::document_key`]); a withdrawn one is only removed.
    /// Returns the keys whose distinct packages must be evaluated again:
    /// those of the old version and of the new.
    pub fn insert(&mut self, advisory: &Advisory) -> Vec<PackageKey> {
        let document_key = advisory.document_key();
        let mut touched = self.remove(&document_key);
        if advisory.withdrawn.is_some() {
            self.stats.withdrawn += 1;
            return touched;
        }
        let slot = self.documents.len() as u32;
        let summary = Arc::new(AdvisorySummary::of(advisory));
        let mut document = Document {
            summary,
            entries: Vec::new(),
            keys: Vec::new(),
        };
        for affected in &advisory.affected {
            if affected.status == Status::UnderInvestigation {
                continue;
            }
            let Some(scheme) = affected.scheme else {
                self.stats.unsupported += 1;
                continue;
            };
            if affected.package.is_empty() {
                self.stats.unsupported += 1;
                continue;
            }
            let eco = &affected.parsed_ecosystem;
            let problem = |message: String| IndexProblem {
                document: document_key.clone(),
                ecosystem: affected.ecosystem.clone(),
                package: affected.package.clone(),
                message,
            };
            let mut ranges = Vec::with_capacity(affected.ranges.len());
            let mut invalid = None;
            for range in &affected.ranges {
                match CompiledRange::compile(range, scheme) {
                    Ok(Some(r)) => ranges.push(r),
                    Ok(None) => {}
                    Err(message) => invalid = invalid.or(Some(message)),
                }
            }
            let mut versions = Vec::with_capacity(affected.versions.len());
            for v in &affected.versions {
                match version::validate(scheme, v) {
                    Ok(()) => versions.push(Box::from(v.as_str())),
                    Err(reason) => {
                        invalid = invalid.or(Some(format!(
                            "listed version {v:?} is not a valid {scheme} version: {reason}"
                        )));
                    }
                }
            }
            if let Some(message) = invalid {
                self.stats.invalid += 1;
                self.problems.push(problem(message));
                continue;
            }
            let key = ecosystem::advisory_key(eco);
            let name = ecosystem::normalize_name(&eco.name, &affected.package).into_owned();
            let entry = Entry {
                advisory: slot,
                ecosystem: affected.ecosystem.as_str().into(),
                naming: naming_of(&eco.name),
                scheme,
                not_affected: affected.status == Status::NotAffected,
                ranges,
                versions,
                fixed: affected
                    .fixed
                    .iter()
                    .filter(|f| version::validate(scheme, f).is_ok())
                    .map(|f| Arc::from(f.as_str()))
                    .collect(),
                architectures: affected
                    .architectures
                    .iter()
                    .map(|a| Box::from(a.as_str()))
                    .collect(),
                binaries: affected
                    .binaries
                    .iter()
                    .map(|b| Box::from(b.name.as_str()))
                    .collect(),
                vulnerability: affected.vulnerability.as_deref().map(Box::from),
            };
            let id = self.entries.len() as u32;
            self.stats.entries += 1;
            self.stats.not_affected += usize::from(entry.not_affected);
            let package_key = PackageKey {
                ecosystem: key,
                name,
                naming: entry.naming,
            };
            self.files
                .entry(package_key.ecosystem.as_str().into())
                .or_default()
                .entry(package_key.name.as_str().into())
                .or_default()
                .push(id);
            self.entries.push(Some(entry));
            document.entries.push(id);
            if !document.keys.contains(&package_key) {
                document.keys.push(package_key);
            }
        }
        touched.extend(document.keys.iter().cloned());
        touched.sort();
        touched.dedup();
        self.by_key.insert(document_key, slot);
        self.documents.push(Some(document));
        self.stats.documents += 1;
        touched
    }

    /// Removes a document by its [`Advisory::document_key`]; returns the keys
    /// it touched (none when it was not filed).
    pub fn remove(&mut self, document_key: &str) -> Vec<PackageKey> {
        let Some(slot) = self.by_key.remove(document_key) else {
            return Vec::new();
        };
        let Some(document) = self.documents[slot as usize].take() else {
            return Vec::new();
        };
        for id in &document.entries {
            if let Some(entry) = self.entries[*id as usize].take() {
                self.stats.entries -= 1;
                self.stats.not_affected -= usize::from(entry.not_affected);
            }
        }
        for key in &document.keys {
            if let Some(names) = self.files.get_mut(key.ecosystem.as_str())
                && let Some(ids) = names.get_mut(key.name.as_str())
            {
                ids.retain(|id| self.entries[*id as usize].is_some());
                if ids.is_empty() {
                    names.remove(key.name.as_str());
                }
            }
        }
        self.stats.documents -= 1;
        document.keys
    }

    /// Entries that could not be filed, with why.
    pub fn problems(&self) -> &[IndexProblem] {
        &self.problems
    }

    /// Counts of what is filed.
    pub fn stats(&self) -> IndexStats {
        self.stats
    }

    /// The summary of a filed document.
    pub fn advisory(&self, document_key: &str) -> Option<&Arc<AdvisorySummary>> {
        let slot = *self.by_key.get(document_key)?;
        self.documents[slot as usize].as_ref().map(|d| &d.summary)
    }

    /// The key a package is filed under in an ecosystem, which the server
    /// compares with the keys [`Index::insert`] returns.
    pub fn package_key(host: Option<&Ecosystem>, package: &PackageRef<'_>) -> Option<PackageKey> {
        let (eco_name, key) = match package.ecosystem {
            Some(lang) => (lang, lang),
            None => {
                let host = host?;
                (host.name(), host.key())
            }
        };
        let naming = naming_of(eco_name);
        let name = match naming {
            Naming::Source => package.source_name,
            Naming::Binary => package.name,
        };
        Some(PackageKey {
            ecosystem: key.to_owned(),
            name: ecosystem::normalize_name(eco_name, name).into_owned(),
            naming,
        })
    }

    /// Evaluates one distinct package: a language package under its own
    /// ecosystem, an OS package under the host's (`None`: no distribution
    /// matching, so nothing). Cheap when no advisory names the package: two
    /// or three hash lookups and no allocation.
    pub fn evaluate(&self, host: Option<&Ecosystem>, package: &PackageRef<'_>) -> Evaluation {
        let (eco_name, key, unscoped) = match package.ecosystem {
            Some(lang) => (lang, lang, None),
            None => match host {
                Some(host) => (
                    host.name(),
                    host.key(),
                    ecosystem::release_optional(host.name()).then(|| host.name()),
                ),
                None => return Evaluation::default(),
            },
        };
        let naming = naming_of(eco_name);
        let (name, version) = match naming {
            Naming::Source => (package.source_name, package.source_version),
            Naming::Binary => (package.name, package.version),
        };
        let name = ecosystem::normalize_name(eco_name, name);
        // Entries scoped to the release, and for Debian and AlmaLinux, whose
        // release suffix the OSV schema makes optional, entries of the bare
        // name, which apply to every release.
        let lists = [Some(key), unscoped.filter(|u| *u != key)]
            .into_iter()
            .flatten()
            .filter_map(|k| self.files.get(k)?.get(name.as_ref()));
        let mut evaluation = Evaluation::default();
        let mut judge = Judge::new(package, version, eco_name);
        for ids in lists {
            for id in ids {
                if let Some(entry) = &self.entries[*id as usize] {
                    judge.entry(entry, &mut evaluation.problems);
                }
            }
        }
        if judge.found.is_empty() {
            return evaluation;
        }
        let kernel = kernel::is_kernel(package);
        // The package's strings are shared by all its matches.
        let name: Arc<str> = package.name.into();
        let installed: Arc<str> = package.version.into();
        let architecture: Arc<str> = package.architecture.into();
        let source: Arc<str> = package.source_name.into();
        let source_version: Arc<str> = package.source_version.into();
        for found in judge.found {
            let Some(document) = &self.documents[found.advisory as usize] else {
                continue;
            };
            let summary = &document.summary;
            let statement = judge.statements.iter().find_map(|(vulnerability, slot)| {
                let by = self.summary(*slot)?;
                let applies = match vulnerability {
                    Some(v) => summary.ids().any(|own| own == *v),
                    None => by.ids().any(|id| summary.ids().any(|own| own == id)),
                };
                applies.then(|| by.id.clone())
            });
            evaluation.matches.push(Match {
                package: name.clone(),
                installed_version: installed.clone(),
                architecture: architecture.clone(),
                source_package: source.clone(),
                source_version: source_version.clone(),
                advisory: summary.clone(),
                ecosystem: found.ecosystem.clone(),
                fixed_version: found.fixed.flatten(),
                kernel,
                verdict: match statement {
                    Some(statement) => Verdict::NotAffected { statement },
                    None => Verdict::Affected,
                },
            });
        }
        evaluation
    }

    fn summary(&self, advisory: u32) -> Option<&Arc<AdvisorySummary>> {
        self.documents[advisory as usize]
            .as_ref()
            .map(|d| &d.summary)
    }
}

/// One advisory found affecting the package, while its entries are judged.
struct Found<'i> {
    advisory: u32,
    ecosystem: &'i Arc<str>,
    /// `None` until an entry matched; `Some(None)` when one had no fix.
    fixed: Option<Option<Arc<str>>>,
}

/// Judges the entries filed under one package's name.
struct Judge<'p, 'i> {
    package: &'p PackageRef<'p>,
    version: &'p str,
    ecosystem: &'p str,
    /// Per scheme: whether the version is valid under it (checked once).
    valid: [Option<bool>; 6],
    found: Vec<Found<'i>>,
    /// Not-affected statements that apply: the vulnerability they speak of
    /// (`None`: every id of their document) and their document's slot.
    statements: Vec<(Option<&'i str>, u32)>,
}

impl<'p, 'i> Judge<'p, 'i> {
    fn new(package: &'p PackageRef<'p>, version: &'p str, ecosystem: &'p str) -> Self {
        Judge {
            package,
            version,
            ecosystem,
            valid: [None; 6],
            found: Vec::new(),
            statements: Vec::new(),
        }
    }

    /// Whether the version is valid under `scheme`; the first time it is
    /// not, a problem is recorded.
    fn valid(&mut self, scheme: Scheme, problems: &mut Vec<EvalProblem>) -> bool {
        let slot = Scheme::ALL.iter().position(|s| *s == scheme).unwrap_or(0);
        if let Some(ok) = self.valid[slot] {
            return ok;
        }
        let result = version::validate(scheme, self.version);
        if let Err(reason) = &result {
            problems.push(EvalProblem {
                package: self.package.name.to_owned(),
                version: self.version.to_owned(),
                ecosystem: self.ecosystem.to_owned(),
                message: format!("not a valid {scheme} version: {reason}"),
            });
        }
        self.valid[slot] = Some(result.is_ok());
        result.is_ok()
    }

    fn entry(&mut self, entry: &'i Entry, problems: &mut Vec<EvalProblem>) {
        // An OS package is only compared with entries of its own format's
        // scheme (a deb converted onto an rpm host is not an rpm).
        if let Some(format) = self.package.format
            && format.scheme() != entry.scheme
        {
            return;
        }
        if !entry.binaries.is_empty()
            && entry.naming == Naming::Source
            && !entry.binaries.iter().any(|b| &**b == self.package.name)
        {
            return;
        }
        if !architecture_matches(&entry.architectures, self.package.architecture) {
            return;
        }
        let mut inside: Option<Option<Arc<str>>> = None;
        let listed = !entry.versions.is_empty() && {
            self.valid(entry.scheme, problems)
                && entry
                    .versions
                    .iter()
                    .any(|v| cmp(entry.scheme, self.version, v) == std::cmp::Ordering::Equal)
        };
        for range in &entry.ranges {
            if !self.valid(range.scheme, problems) {
                continue;
            }
            if let Outcome::Inside { fixed } = range.evaluate(self.version) {
                let fixed = fixed.cloned();
                inside = Some(match inside {
                    None => fixed,
                    Some(previous) => highest(range.scheme, previous, fixed),
                });
            }
        }
        if inside.is_none() && listed {
            // Listed but in no range: the lowest fix above the version, if the
            // entry names one.
            inside = Some(
                entry
                    .fixed
                    .iter()
                    .filter(|f| cmp(entry.scheme, f, self.version) == std::cmp::Ordering::Greater)
                    .min_by(|a, b| cmp(entry.scheme, a, b))
                    .cloned(),
            );
        }
        if entry.not_affected {
            // A statement without versions or ranges covers every version.
            let covers = inside.is_some() || (entry.ranges.is_empty() && entry.versions.is_empty());
            if covers {
                self.statements
                    .push((entry.vulnerability.as_deref(), entry.advisory));
            }
            return;
        }
        let Some(fixed) = inside else {
            return;
        };
        match self.found.iter_mut().find(|f| f.advisory == entry.advisory) {
            Some(found) => {
                found.fixed = Some(match found.fixed.take() {
                    None => fixed,
                    Some(previous) => highest(entry.scheme, previous, fixed),
                });
            }
            None => self.found.push(Found {
                advisory: entry.advisory,
                ecosystem: &entry.ecosystem,
                fixed: Some(fixed),
            }),
        }
    }
}

/// The higher of two fixes; no fix dominates.
fn highest(scheme: Scheme, a: Option<Arc<str>>, b: Option<Arc<str>>) -> Option<Arc<str>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if cmp(scheme, &a, &b) == std::cmp::Ordering::Less {
            b
        } else {
            a
        }),
        _ => None,
    }
}

/// Architecture names that denote the same machine in different package
/// formats.
const SAME_MACHINE: &[&[&str]] = &[
    &["amd64", "x86_64"],
    &["arm64", "aarch64"],
    &["i386", "i486", "i586", "i686", "x86"],
    &["ppc64el", "ppc64le"],
    &["armhf", "armv7hl", "armv7"],
];

/// Whether an entry limited to `allowed` architectures applies to a package
/// of architecture `arch`.
pub(crate) fn architecture_matches(allowed: &[Box<str>], arch: &str) -> bool {
    if allowed.is_empty() || arch.is_empty() {
        return true;
    }
    let family = SAME_MACHINE.iter().find(|f| f.contains(&arch));
    allowed.iter().any(|a| {
        let a = &**a;
        a == arch || family.is_some_and(|f| f.contains(&a))
    })
}

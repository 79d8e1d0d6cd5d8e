//! A whole host assessed at once: its ecosystem from os-release, every
//! package evaluated, the matches split into findings and VEX-cleared ones.
//! `rivet scan` uses this; the server keeps a [`crate::Fleet`], which
//! evaluates each distinct package once and reports the same lists.

use std::cmp::Ordering;

use rivet_core::inventory::HostFacts;

use crate::ecosystem::{self, Ecosystem, UnknownEcosystem};
use crate::index::{EvalProblem, Index, Match, Verdict};

use crate::package::PackageRef;

/// What the engine says about one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    /// The host's ecosystem, when its OS is known.
    pub ecosystem: Option<Ecosystem>,
    /// Why its OS packages were not matched, when its OS is not known.
    pub unknown_ecosystem: Option<UnknownEcosystem>,
    /// Affected packages, one per package and advisory, sorted by package,
    /// version and advisory id.
    pub findings: Vec<Match>,
    /// Matches a VEX statement says do not apply.
    pub not_affected: Vec<Match>,
    /// Versions that could not be compared.
    pub problems: Vec<EvalProblem>,
    /// Packages looked at.
    pub packages: usize,
    /// Of them, OS packages not matched because the ecosystem is unknown.
    pub unmatched_packages: usize,
}

/// Assesses a host: its ecosystem from `host.os`, then every package.
pub fn assess_host<'a>(
    index: &Index,
    host: &HostFacts,
    packages: impl IntoIterator<Item = PackageRef<'a>>,
) -> Assessment {
    assess(index, ecosystem::of_host(host.os.as_ref()), packages)
}

/// Assesses packages under a known (or knowingly unknown) ecosystem.
pub fn assess<'a>(
    index: &Index,
    ecosystem: Result<Ecosystem, UnknownEcosystem>,
    packages: impl IntoIterator<Item = PackageRef<'a>>,
) -> Assessment {
    let mut out = Assessment::default();
    match ecosystem {
        Ok(e) => out.ecosystem = Some(e),
        Err(e) => out.unknown_ecosystem = Some(e),
    }
    // Evaluated in package order, each package's matches in advisory order,
    // then one stable sort: the same steps as `Fleet::host_matches`, so that
    // both report the same list in the same order.
    let mut packages: Vec<PackageRef<'a>> = packages.into_iter().collect();
    packages.sort_by(package_order);
    for package in packages {
        out.packages += 1;
        if package.ecosystem.is_none() && out.ecosystem.is_none() {
            out.unmatched_packages += 1;
            continue;
        }
        let mut evaluation = index.evaluate(out.ecosystem.as_ref(), &package);
        evaluation
            .matches
            .sort_by(|a, b| a.advisory.id.cmp(&b.advisory.id));
        for m in evaluation.matches {
            match m.verdict {
                Verdict::Affected => out.findings.push(m),
                Verdict::NotAffected { .. } => out.not_affected.push(m),
            }
        }
        out.problems.extend(evaluation.problems);
    }
    out.findings.sort_by(report_order);
    out.not_affected.sort_by(report_order);
    out
}

/// The order packages are evaluated in, which is the order their problems
/// are reported in: name, version, architecture, then the rest, so that it
/// does not depend on the order they were given in.
pub(crate) fn package_order(a: &PackageRef<'_>, b: &PackageRef<'_>) -> Ordering {
    fn key<'a>(p: &PackageRef<'a>) -> impl Ord + use<'a> {
        (
            p.name,
            p.version,
            p.architecture,
            p.source_name,
            p.source_version,
            p.ecosystem,
            p.format.map(|f| f as u8),
        )
    }
    key(a).cmp(&key(b))
}

/// The order matches are reported in: package, version, architecture,
/// advisory id.
pub(crate) fn report_order(a: &Match, b: &Match) -> Ordering {
    (
        &a.package,
        &a.installed_version,
        &a.architecture,
        &a.advisory.id,
    )
        .cmp(&(
            &b.package,
            &b.installed_version,
            &b.architecture,
            &b.advisory.id,
        ))
}

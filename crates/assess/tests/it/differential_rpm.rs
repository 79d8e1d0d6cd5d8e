//! The whole AlmaLinux OSV set against librpm: inventories built from the
//! set's own package names and fixed versions (just below, at and above
//! each fix, with and without epochs), every verdict of the engine checked
//! against `reference_osv.py` with python3-rpm's `labelCompare`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use rivet_advisory::{ReadOptions, osv};
use rivet_assess::ecosystem::of_os;
use rivet_assess::{Index, PackageRef, Verdict};
use rivet_core::inventory::PackageFormat;

use crate::{at, data, os, python_with, reference_verdicts};

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/reference_osv.py");

/// The digit runs of a string, as (start, end) byte offsets.
fn digit_runs(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// `s` with its last digit run changed by `delta` (skipping runs that would
/// go below zero); `None` when no run can change.
pub fn bump(s: &str, delta: i64) -> Option<String> {
    for (start, end) in digit_runs(s).into_iter().rev() {
        let Ok(n) = s[start..end].parse::<i64>() else {
            continue;
        };
        if n + delta < 0 {
            continue;
        }
        return Some(format!("{}{}{}", &s[..start], n + delta, &s[end..]));
    }
    None
}

/// Installed versions around a fixed EVR: below, at, above, and epoch
/// variants.
fn around(fixed: &str) -> Vec<String> {
    let (epoch, rest) = match fixed.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (Some(e), rest)
        }
        _ => (None, fixed),
    };
    let mut out = vec![fixed.to_owned()];
    out.extend(bump(fixed, -1));
    out.extend(bump(fixed, 1));
    match epoch {
        Some(e) => {
            out.push(rest.to_owned());
            out.push(format!("{}:{rest}", e.parse::<u64>().unwrap() + 1));
            out.extend(bump(rest, 1));
        }
        None => {
            out.push(format!("0:{fixed}"));
            out.push(format!("1:{fixed}"));
            out.extend(bump(fixed, -1).map(|below| format!("1:{below}")));
        }
    }
    out
}

#[test]
fn almalinux_verdicts_agree_with_librpm() {
    let zip = data!("osv/AlmaLinux-all.zip");
    let advisories: Vec<_> = osv::read(Path::new(zip), &ReadOptions::new("osv:AlmaLinux", at()))
        .unwrap()
        .map(|a| a.unwrap())
        .collect();
    let index = Index::build(&advisories);
    assert_eq!(index.stats().documents, advisories.len());
    assert!(index.problems().is_empty(), "{:?}", &index.problems()[..1]);

    // (release, name) -> installed versions to ask about.
    let mut queries: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    // (release, name) -> the documents that name it.
    let mut documents: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for advisory in &advisories {
        // An advisory lists many binaries of one source at one EVR
        // (kernel-core, kernel-modules, … ); each of its fixed versions is
        // asked about under the first name that has it, which keeps the
        // reference run short without leaving any fixed version out.
        let mut covered = BTreeSet::new();
        for affected in &advisory.affected {
            let release = affected.parsed_ecosystem.release.clone().unwrap();
            let key = (release, affected.package.clone());
            documents
                .entry(key.clone())
                .or_default()
                .insert(advisory.document_key());
            let versions = queries.entry(key).or_default();
            for fixed in &affected.fixed {
                if covered.insert(fixed.clone()) {
                    versions.extend(around(fixed));
                }
            }
        }
    }
    queries.retain(|_, versions| !versions.is_empty());
    let mut lines = String::new();
    let mut engine = Vec::new();
    let (mut affected, mut not_affected) = (0usize, 0usize);
    for ((release, name), versions) in &queries {
        let eco = of_os(&os("almalinux", &format!("{release}.1"))).unwrap();
        for v in versions {
            lines.push_str(&format!("AlmaLinux:{release}\t{name}\t{v}\n"));
            let p = PackageRef {
                format: Some(PackageFormat::Rpm),
                name,
                version: v,
                architecture: "x86_64",
                source_name: name,
                source_version: v,
                ecosystem: None,
            };
            let e = index.evaluate(Some(&eco), &p);
            assert!(e.problems.is_empty(), "{name} {v}: {:?}", e.problems);
            let mut found: Vec<String> = e
                .matches
                .iter()
                .inspect(|m| assert_eq!(m.verdict, Verdict::Affected))
                .map(|m| {
                    format!(
                        "{}={}",
                        m.advisory.document_key,
                        m.fixed_version.as_deref().unwrap_or("-")
                    )
                })
                .collect();
            found.sort();
            affected += found.len();
            engine.push(found.join(" "));
        }
    }
    let Some(python) = python_with("rpm", "python3-rpm") else {
        return;
    };
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(lines.as_bytes()).unwrap();
    let reference = reference_verdicts(
        python,
        &[REFERENCE, "rpm", zip, file.path().to_str().unwrap()],
    );
    assert_eq!(reference.len(), engine.len());
    let mut disagreements = Vec::new();
    for ((query, ours), theirs) in lines.lines().zip(&engine).zip(&reference) {
        if ours != theirs {
            disagreements.push(format!("{query}\n  rivet: {ours}\n  librpm: {theirs}"));
        }
    }
    // Every document naming the package that did not match is a
    // not-affected verdict.
    for (key, versions) in &queries {
        not_affected += documents[key].len() * versions.len();
    }
    not_affected -= affected;
    eprintln!(
        "AlmaLinux differential: {} queries, {affected} affected and {not_affected} not-affected verdicts, {} disagreements",
        engine.len(),
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} queries disagree, first ones:\n{}",
        disagreements.len(),
        engine.len(),
        disagreements[..disagreements.len().min(10)].join("\n")
    );
    assert!(
        affected > 10_000 && not_affected > 10_000,
        "the inventory exercises both verdicts"
    );
}

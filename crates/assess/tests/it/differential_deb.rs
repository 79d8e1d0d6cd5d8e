//! Real Debian 12 inventories (dpkg status files, read by the agent's
//! parser) against generated Debian advisories of every shape — fixes
//! below, at and above the installed source version, `last_affected`,
//! `limit`, unsorted events, several ranges, version lists, epochs,
//! withdrawn records — every verdict checked against `reference_osv.py`
//! with python3-apt's `version_compare`.

use std::collections::BTreeMap;
use std::io::Write;

use rivet_agent::packages::dpkg;
use rivet_assess::ecosystem::of_os;
use rivet_assess::{Index, PackageRef};
use serde_json::{Value, json};

use crate::differential_rpm::bump;
use crate::{data, os, osv_record, python_with, reference_verdicts};

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/reference_osv.py");

/// A small deterministic generator (xorshift64*), so that a failure can be
/// reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &'a [String]) -> &'a str {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// Versions around `v`, lowest-ish first: below, at and above it.
fn around(v: &str) -> (Vec<String>, Vec<String>) {
    let mut below = vec![format!("{v}~1")];
    below.extend(bump(v, -1));
    let mut above = vec![format!("{v}+b1")];
    above.extend(bump(v, 1));
    match v.split_once(':') {
        Some((_, rest)) => below.push(rest.to_owned()),
        None => above.push(format!("1:{v}")),
    }
    (below, above)
}

/// One generated affected entry for source `name` at version `v`.
fn entry(rng: &mut Rng, name: &str, v: &str) -> Value {
    let (below, above) = around(v);
    let at = [v.to_owned()];
    let any: Vec<String> = below.iter().chain(&at).chain(&above).cloned().collect();
    let ev = |kind: &str, x: &str| {
        let mut event = serde_json::Map::new();
        event.insert(kind.to_owned(), Value::from(x));
        Value::Object(event)
    };
    let ranges = |events: Vec<Value>| json!([{"type": "ECOSYSTEM", "events": events}]);
    let (ranges, versions) = match rng.next() % 9 {
        0 => (
            ranges(vec![ev("introduced", "0"), ev("fixed", rng.pick(&any))]),
            json!([]),
        ),
        1 => (
            ranges(vec![
                ev("introduced", rng.pick(&any)),
                ev("fixed", rng.pick(&above)),
            ]),
            json!([]),
        ),
        2 => (
            ranges(vec![
                ev("introduced", "0"),
                ev("last_affected", rng.pick(&any)),
            ]),
            json!([]),
        ),
        3 => (
            ranges(vec![
                ev("introduced", rng.pick(&below)),
                ev("limit", rng.pick(&any)),
            ]),
            json!([]),
        ),
        4 => {
            // Two intervals in one range, events shuffled.
            let mut events = vec![
                ev("introduced", "0"),
                ev("fixed", rng.pick(&below)),
                ev("introduced", rng.pick(&at)),
                ev("fixed", rng.pick(&above)),
            ];
            for i in (1..events.len()).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                events.swap(i, j);
            }
            (ranges(events), json!([]))
        }
        5 => (
            json!([
                {"type": "ECOSYSTEM", "events": [ev("introduced", "0"), ev("fixed", rng.pick(&below))]},
                {"type": "ECOSYSTEM", "events": [ev("introduced", rng.pick(&any)), ev("fixed", rng.pick(&above))]},
            ]),
            json!([]),
        ),
        6 => (
            json!([{"type": "GIT", "repo": "https://example.org/x", "events": [ev("introduced", "0"), ev("fixed", "abc")]}]),
            json!([rng.pick(&any), rng.pick(&any)]),
        ),
        7 => (ranges(vec![ev("introduced", rng.pick(&any))]), json!([])),
        _ => (
            ranges(vec![
                ev("introduced", "0"),
                ev("limit", "*"),
                ev("fixed", rng.pick(&any)),
            ]),
            json!([rng.pick(&above)]),
        ),
    };
    json!({"package": {"ecosystem": "Debian:12", "name": name}, "ranges": ranges, "versions": versions})
}

#[test]
fn debian_verdicts_agree_with_dpkg() {
    let mut packages = Vec::new();
    for file in [
        data!("inventories/debian12-minbase.dpkg-status"),
        data!("inventories/debian12-devbox.dpkg-status"),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        let collected = dpkg::parse_status(&text, file);
        assert!(collected.problems.is_empty(), "{:?}", collected.problems);
        packages.extend(collected.packages);
    }
    // Distinct source packages, each with three generated advisories; every
    // twentieth record is withdrawn.
    let mut sources: BTreeMap<(String, String), ()> = BTreeMap::new();
    for p in &packages {
        sources.insert((p.source_name.clone(), p.source_version.clone()), ());
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut records = Vec::new();
    for (name, version) in sources.keys() {
        for _ in 0..3 {
            let n = records.len();
            let mut record = json!({"id": format!("DEB-TEST-{n}"), "aliases": [format!("CVE-2099-{n}")],
                "affected": [entry(&mut rng, name, version)]});
            if rng.next().is_multiple_of(3) {
                // A second entry for the same package in the same record.
                record["affected"]
                    .as_array_mut()
                    .unwrap()
                    .push(entry(&mut rng, name, version));
            }
            if n % 20 == 19 {
                record["withdrawn"] = json!("2025-01-01T00:00:00Z");
            }
            records.push(record);
        }
    }
    let advisories: Vec<_> = records.iter().cloned().map(osv_record).collect();
    let index = Index::build(&advisories);
    assert!(index.problems().is_empty(), "{:?}", index.problems());

    let eco = of_os(&os("debian", "12")).unwrap();
    let mut engine: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut affected = 0;
    for p in &packages {
        let e = index.evaluate(Some(&eco), &PackageRef::from(p));
        assert!(e.problems.is_empty(), "{:?}", e.problems);
        let mut found: Vec<String> = e
            .matches
            .iter()
            .map(|m| {
                format!(
                    "{}={}",
                    m.advisory.document_key,
                    m.fixed_version.as_deref().unwrap_or("-")
                )
            })
            .collect();
        found.sort();
        let found = found.join(" ");
        let key = (p.source_name.clone(), p.source_version.clone());
        // Every binary of one source version gets the same verdicts.
        if let Some(earlier) = engine.get(&key) {
            assert_eq!(earlier, &found, "{} from {key:?}", p.name);
        } else {
            affected += e.matches.len();
            engine.insert(key, found);
        }
    }
    let Some(python) = python_with("apt_pkg", "python3-apt") else {
        return;
    };
    let mut advisories_file = tempfile::NamedTempFile::new().unwrap();
    serde_json::to_writer(&mut advisories_file, &records).unwrap();
    advisories_file.flush().unwrap();
    let mut queries = tempfile::NamedTempFile::new().unwrap();
    for (name, version) in engine.keys() {
        writeln!(queries, "Debian:12\t{name}\t{version}").unwrap();
    }
    queries.flush().unwrap();
    let reference = reference_verdicts(
        python,
        &[
            REFERENCE,
            "deb",
            advisories_file.path().to_str().unwrap(),
            queries.path().to_str().unwrap(),
        ],
    );
    assert_eq!(reference.len(), engine.len());
    let disagreements: Vec<String> = engine
        .iter()
        .zip(&reference)
        .filter(|((_, ours), theirs)| *ours != *theirs)
        .map(|((key, ours), theirs)| format!("{key:?}\n  rivet: {ours}\n  dpkg:  {theirs}"))
        .collect();
    // Each live document naming a source version's package is a verdict.
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    for a in advisories.iter().filter(|a| a.withdrawn.is_none()) {
        *named.entry(a.affected[0].package.as_str()).or_default() += 1;
    }
    let verdicts: usize = engine
        .keys()
        .map(|(name, _)| named.get(name.as_str()).copied().unwrap_or(0))
        .sum();
    eprintln!(
        "Debian differential: {} source versions, {} advisories, {affected} affected and {} not-affected verdicts, {} disagreements",
        engine.len(),
        records.len(),
        verdicts - affected,
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements, first ones:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(10)].join("\n")
    );
    assert!(
        affected > 200,
        "the generated advisories affect something ({affected})"
    );
}

//! The matching engine on the real AlmaLinux and crates.io sets (5,680 +
//! 1,206 advisories): building the index, one distinct package (named by
//! many advisories, and named by none), one host of 700 packages, a fleet
//! of 100,000 hosts drawn from a pool of 20,000 distinct packages with one
//! evaluation per distinct package, and one new advisory with the
//! re-evaluation of the packages it touches.

mod common;

use std::collections::HashSet;
use std::hint::black_box;

use common::{Owned, almalinux_pool, below, fixes, read};
use criterion::Criterion;
use rivet_assess::ecosystem::of_os;
use rivet_assess::{Evaluation, Index, Naming, assess};
use rivet_core::inventory::OsRelease;

fn main() {
    let mut advisories = read("AlmaLinux-all.zip");
    advisories.extend(read("crates.io-all.zip"));
    let mut c = Criterion::default().sample_size(10).configure_from_args();

    c.bench_function("index/build_almalinux_and_crates_io", |b| {
        b.iter(|| black_box(Index::build(&advisories)).stats())
    });
    let index = Index::build(&advisories);
    let eco = of_os(&OsRelease {
        id: "almalinux".into(),
        version_id: Some("9.4".into()),
        ..OsRelease::default()
    })
    .unwrap();

    // Every AlmaLinux 9 (name, fixed version) pair, in document order.
    let fixes = fixes(&advisories, "AlmaLinux:9");
    let oldest_kernel = fixes
        .iter()
        .filter(|(n, _)| n == "kernel-core")
        .map(|(_, f)| below(f))
        .min_by(|a, b| rivet_core::version::compare(eco.scheme(), a, b).unwrap())
        .unwrap();
    let kernel = Owned {
        name: "kernel-core".into(),
        version: oldest_kernel,
    };
    let hits = index.evaluate(Some(&eco), &kernel.as_ref()).matches.len();
    eprintln!("kernel-core {}: {hits} advisories", kernel.version);
    c.bench_function("evaluate/one_package_named_by_many", |b| {
        b.iter(|| black_box(index.evaluate(Some(&eco), black_box(&kernel.as_ref()))))
    });
    let unknown = Owned {
        name: "no-advisory-names-this".into(),
        version: "1.0-1.el9".into(),
    };
    c.bench_function("evaluate/one_package_named_by_none", |b| {
        b.iter(|| black_box(index.evaluate(Some(&eco), black_box(&unknown.as_ref()))))
    });

    // A pool of 20,000 distinct packages: AlmaLinux 9 names at versions
    // below, at and above their fixes, and names no advisory knows.
    let pool = almalinux_pool(&fixes);

    // One host: 700 packages spread over the pool.
    let host: Vec<&Owned> = (0..700).map(|i| &pool[(i * 28) % pool.len()]).collect();
    let findings = assess(&index, Ok(eco.clone()), host.iter().map(|p| p.as_ref()))
        .findings
        .len();
    eprintln!("one host of 700 packages: {findings} findings");
    c.bench_function("host/700_packages", |b| {
        b.iter(|| {
            black_box(assess(
                &index,
                Ok(eco.clone()),
                host.iter().map(|p| p.as_ref()),
            ))
        })
    });

    // A patched host: 500 advisory-named packages at their newest fixed
    // version, 200 that no advisory names.
    let mut newest: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for (name, fixed) in &fixes {
        let slot = newest.entry(name).or_insert(fixed);
        if rivet_core::version::compare(eco.scheme(), slot, fixed)
            .unwrap()
            .is_lt()
        {
            *slot = fixed;
        }
    }
    let step = newest.len() / 500;
    let mut patched: Vec<Owned> = newest
        .iter()
        .step_by(step.max(1))
        .take(500)
        .map(|(n, v)| Owned {
            name: n.to_string(),
            version: v.to_string(),
        })
        .collect();
    for i in 0..200 {
        patched.push(Owned {
            name: format!("local-package-{i}"),
            version: "1.0-1.el9".into(),
        });
    }
    let findings = assess(&index, Ok(eco.clone()), patched.iter().map(Owned::as_ref))
        .findings
        .len();
    eprintln!(
        "patched host of {} packages: {findings} findings",
        patched.len()
    );
    c.bench_function("host/700_packages_patched", |b| {
        b.iter(|| {
            black_box(assess(
                &index,
                Ok(eco.clone()),
                patched.iter().map(Owned::as_ref),
            ))
        })
    });

    // The fleet: every distinct package evaluated once (what the server
    // memoises) …
    let evaluate_pool = || -> Vec<Evaluation> {
        pool.iter()
            .map(|p| index.evaluate(Some(&eco), &p.as_ref()))
            .collect()
    };
    let memo = evaluate_pool();
    let matched = memo.iter().filter(|e| !e.matches.is_empty()).count();
    eprintln!(
        "pool of {} distinct packages: {matched} named by an advisory",
        pool.len()
    );
    c.bench_function("fleet/evaluate_20000_distinct_packages", |b| {
        b.iter(|| black_box(evaluate_pool()))
    });
    // … and 100,000 hosts of 700 packages each drawn from the pool, their
    // findings the union of their packages' memoised matches.
    c.bench_function("fleet/union_100000_hosts_of_700_from_memo", |b| {
        b.iter(|| {
            let mut total = 0usize;
            let mut findings = Vec::with_capacity(1024);
            for h in 0..100_000usize {
                findings.clear();
                for i in 0..700usize {
                    let p = (h.wrapping_mul(7_919) + i.wrapping_mul(104_729)) % memo.len();
                    findings.extend(memo[p].matches.iter());
                }
                total += findings.len();
            }
            black_box(total)
        })
    });

    // One new advisory (the largest AlmaLinux 9 one, filed again as a new
    // version of itself): into the full index, and the distinct packages
    // under the keys it touches evaluated again.
    let newcomer = advisories
        .iter()
        .filter(|a| a.affected.iter().any(|x| x.ecosystem == "AlmaLinux:9"))
        .max_by_key(|a| a.affected.len())
        .unwrap()
        .clone();
    c.bench_function("advisory/insert_one_and_reevaluate_touched", |b| {
        b.iter_batched(
            || index.clone(),
            |mut index| {
                let touched: HashSet<String> = index
                    .insert(&newcomer)
                    .into_iter()
                    .filter(|k| k.naming == Naming::Binary && k.ecosystem == eco.key())
                    .map(|k| k.name)
                    .collect();
                let again: usize = pool
                    .iter()
                    .filter(|p| touched.contains(p.name.as_str()))
                    .map(|p| index.evaluate(Some(&eco), &p.as_ref()).matches.len())
                    .sum();
                black_box(again)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    c.final_summary();
}

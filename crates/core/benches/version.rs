//! Comparisons per second for each version scheme on the real sets in
//! `shared/data/versions/`, and the `rivet vercmp` filter on a million lines.
//! After criterion's groups, `reference_rates.py` times apt_pkg and librpm on
//! the same deb and rpm pairs in the same run, for comparison.

use std::hint::black_box;
use std::process::Command;

use criterion::{Criterion, Throughput};
use rivet_core::version::{Scheme, compare, run_vercmp};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/versions/"
);

/// The data sets per scheme: file name and whether it is `a<TAB>b<TAB>…`.
const SETS: &[(Scheme, &str)] = &[
    (Scheme::Deb, "scalibr-debian-versions-generated.txt"),
    (Scheme::Rpm, "rpm-almalinux-generated.txt"),
    (Scheme::Apk, "apk-upstream.tsv"),
    (Scheme::Pep440, "scalibr-pypi-versions-generated.txt"),
    (Scheme::Semver, "scalibr-semver-versions.txt"),
    (Scheme::Maven, "scalibr-maven-versions.txt"),
];

/// The valid pairs of a vector file (`a op b`, or apk's `a<TAB>op<TAB>b`).
fn pairs(scheme: Scheme, file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{DATA}{file}")).expect("reading the data set");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(['\t', ' ']).collect();
            (f.len() == 3).then(|| (f[0].to_owned(), f[2].to_owned()))
        })
        .filter(|(a, b)| compare(scheme, a, b).is_ok())
        .collect()
}

fn compare_sets(c: &mut Criterion) {
    let mut group = c.benchmark_group("compare");
    for &(scheme, file) in SETS {
        let pairs = pairs(scheme, file);
        group.throughput(Throughput::Elements(pairs.len() as u64));
        group.bench_function(scheme.name(), |b| {
            b.iter(|| {
                for (x, y) in &pairs {
                    black_box(compare(scheme, black_box(x), black_box(y)).ok());
                }
            })
        });
    }
    group.finish();
}

fn vercmp_filter(c: &mut Criterion) {
    let pairs = pairs(Scheme::Deb, SETS[0].1);
    let mut input = Vec::new();
    while input.len() < 1_000_000 * 24 {
        for (a, b) in &pairs {
            input.extend_from_slice(format!("{a}\t{b}\n").as_bytes());
        }
    }
    let lines = input.iter().filter(|&&c| c == b'\n').count() as u64;
    let mut group = c.benchmark_group("vercmp_filter");
    group.sample_size(10);
    group.throughput(Throughput::Elements(lines));
    group.bench_function("deb", |b| {
        b.iter(|| run_vercmp(Scheme::Deb, &input[..], std::io::sink()).expect("to a sink"))
    });
    group.finish();
}

/// apt_pkg's and librpm's rates on the same pairs, from Debian's python3.
fn reference_rates() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/reference_rates.py");
    let deb = format!("{DATA}{}", SETS[0].1);
    let rpm = format!("{DATA}{}", SETS[1].1);
    match Command::new("/usr/bin/python3")
        .args([script, &deb, &rpm])
        .status()
    {
        Ok(status) if status.success() => {}
        other => println!("reference rates unavailable: {other:?}"),
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    compare_sets(&mut c);
    vercmp_filter(&mut c);
    c.final_summary();
    reference_rates();
}

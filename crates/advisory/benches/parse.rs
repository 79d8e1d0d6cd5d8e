//! Parsing the whole AlmaLinux OSV archive (5,680 documents, 71,329 affected
//! entries) from disk into normalised advisories.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput};
use rivet_advisory::{ReadOptions, osv};

const ARCHIVE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/osv/AlmaLinux-all.zip"
);

fn main() {
    let options = ReadOptions::new("osv:AlmaLinux", "2026-11-23T00:00:00Z".parse().unwrap());
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let mut group = c.benchmark_group("osv");
    group.throughput(Throughput::Elements(5_680));
    group.bench_function("almalinux_all_zip", |b| {
        b.iter(|| {
            let advisories = osv::read(Path::new(ARCHIVE), &options).unwrap();
            let affected: usize = advisories.map(|a| a.unwrap().affected.len()).sum();
            assert_eq!(black_box(affected), 71_329);
        })
    });
    group.finish();
    c.final_summary();
}

//! Parsing dpkg's status file of a Debian 12 development machine (744
//! packages); the goal is well under 50 ms.

use criterion::{Criterion, criterion_group, criterion_main};
use rivet_agent::packages::dpkg::parse_status;

const DEVBOX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/inventories/debian12-devbox.dpkg-status"
);

fn dpkg_status(c: &mut Criterion) {
    let text = std::fs::read_to_string(DEVBOX).expect("the shared data beside the checkout");
    c.bench_function("dpkg parse_status devbox (744 packages)", |b| {
        b.iter(|| parse_status(std::hint::black_box(&text), "status"))
    });
}

criterion_group!(benches, dpkg_status);
criterion_main!(benches);

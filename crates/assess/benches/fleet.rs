//! The server's fleet state ([`rivet_assess::Fleet`]) at full scale:
//! 100,000 hosts of 700 packages (AlmaLinux 9, Debian 12, Ubuntu 22.04,
//! crates on one host in five) against the real AlmaLinux and crates.io sets
//! and 6,000 generated Debian and Ubuntu advisories. Measured: building the
//! fleet, a full re-evaluation, one host's change and matches, and one new
//! advisory. Goals on a 2-core machine: full ≤ 10 s, one host ≤ 5 ms, one
//! advisory ≤ 1 s.

mod common;

use std::hint::black_box;

use common::World;
use criterion::{BatchSize, Criterion, SamplingMode};
use rivet_advisory::Advisory;

fn main() {
    let world = World::new(100_000);
    let index = world.index();
    let mut c = Criterion::default().sample_size(10).configure_from_args();

    // Seconds per iteration: one iteration per sample.
    let mut full = c.benchmark_group("fleet");
    full.sampling_mode(SamplingMode::Flat);
    full.bench_function("build_100000_hosts", |b| {
        b.iter_with_large_drop(|| world.fleet(index.clone()))
    });
    let mut fleet = world.fleet(index.clone());
    let stats = fleet.stats();
    eprintln!("{stats:?}");
    full.bench_function("reevaluate_100000_hosts", |b| {
        b.iter(|| black_box(fleet.reevaluate()))
    });
    full.finish();
    let done = fleet.reevaluate();
    eprintln!("{done:?}");

    // One Debian host (host 2) and one AlmaLinux host (host 0).
    for host in [0, 2] {
        let m = fleet.host_matches(host).unwrap();
        eprintln!(
            "host {host} ({}): {} findings, {} not affected",
            m.ecosystem.as_ref().unwrap(),
            m.findings.len(),
            m.not_affected.len()
        );
        c.bench_function(&format!("host/matches_{host}"), |b| {
            b.iter(|| black_box(fleet.host_matches(host)))
        });
    }
    // Host 2 (Debian) moves three packages to another patch level (the next
    // id), reads its matches, and moves them back.
    let mut ids = Vec::new();
    world.host_packages(2, &mut ids);
    let before: Vec<u32> = ids[..3].to_vec();
    let after: Vec<u32> = before.iter().map(|id| id + 1).collect();
    c.bench_function("host/change_3_packages_and_matches", |b| {
        b.iter(|| {
            fleet.change_host(2, &after, &before).unwrap();
            let m = fleet.host_matches(2);
            fleet.change_host(2, &before, &after).unwrap();
            black_box(m)
        })
    });

    // A new advisory: the largest AlmaLinux 9 one under a new id, and a
    // Debian 12 one for the source most binaries come from.
    let largest = world
        .advisories
        .iter()
        .filter(|a| a.affected.iter().any(|x| x.ecosystem == "AlmaLinux:9"))
        .max_by_key(|a| a.affected.len())
        .unwrap()
        .clone();
    let (source, base) = world.busiest_source().clone();
    let mut n = 0u32;
    let mut fresh = |kind: &str| -> Advisory {
        n += 1;
        if kind == "alma" {
            let mut a = largest.clone();
            a.id = format!("ALSA-BENCH-{n}");
            a
        } else {
            world.new_debian_advisory(&format!("DSA-NEW-{n}"), &source, &base)
        }
    };
    let reached = fleet.insert_advisory(&fresh("alma")).len();
    eprintln!(
        "{} (AlmaLinux 9, {} entries) reaches {reached} hosts",
        largest.id,
        largest.affected.len()
    );
    let reached = fleet.insert_advisory(&fresh("debian")).len();
    eprintln!("a Debian 12 advisory for {source} reaches {reached} hosts");
    for kind in ["alma", "debian"] {
        c.bench_function(&format!("advisory/insert_new_{kind}"), |b| {
            b.iter_batched(
                || fresh(kind),
                |a| black_box(fleet.insert_advisory(&a)).len(),
                BatchSize::SmallInput,
            )
        });
    }
    eprintln!("{:?}", fleet.stats());
    c.final_summary();
}

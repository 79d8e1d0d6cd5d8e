//! Peak memory of the fleet state at full scale (the fleet of
//! `benches/fleet.rs`): the process's VmHWM and VmRSS before and after
//! building it and after a full re-evaluation, and the fleet's sizes.
//! The raw advisories are dropped once indexed, as the server keeps only
//! the index.

mod common;

use common::World;

/// VmHWM and VmRSS from /proc/self/status, in MiB.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or("?".to_owned(), |kb| format!("{} MiB", kb / 1024))
    };
    format!("VmHWM {}, VmRSS {}", field("VmHWM:"), field("VmRSS:"))
}

fn main() {
    let mut world = World::new(100_000);
    let index = world.index();
    world.advisories = Vec::new();
    println!("index built, advisories dropped: {}", memory());
    let mut fleet = world.fleet(index);
    println!("fleet of {} hosts built: {}", world.hosts, memory());
    println!("{:#?}", fleet.stats());
    let done = fleet.reevaluate();
    println!("reevaluated {done:?}: {}", memory());
}

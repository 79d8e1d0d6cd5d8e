//! The agent's integration tests: one binary, one module per collector or
//! concern; `peer` and `rivet_peer` are a real TLS server for the client.

mod apk;
mod checkin;
mod cli;
mod config;
mod dpkg;
mod fingerprint;
mod host;
mod live;
mod peer;
mod pinning;
mod processes;
mod reboot;
mod rivet_peer;
mod rpm;
mod schedule;
mod state;

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;

/// The collection time the tests stamp inventories with.
pub fn at() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

/// A scenario's root under `tests/data/`.
pub fn data(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(scenario)
}

/// A fixture file's text from `tests/fixtures/`.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// True if `program` can be run. A missing program fails the test under
/// CI=true (CI must install it) and skips it elsewhere, with a message.
pub fn have_tool(program: &str, debian_package: &str) -> bool {
    if Command::new(program).arg("--version").output().is_ok() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{program} is missing: CI must install the Debian package {debian_package}");
    }
    eprintln!("skipped: {program} is missing (apt-get install {debian_package})");
    false
}

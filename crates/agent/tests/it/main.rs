//! The agent's integration tests: one binary, one module per collector or
//! concern. Everything that talks to a server talks to the real one
//! (`server`), over TLS on SQLite; `testhost` makes real Debian systems for
//! the agent binary to run in, `aptrepo` a signed apt repository for them,
//! and `gate` sits between an agent and the server to time a race.

mod apk;
mod aptrepo;
mod checkin;
mod cli;
mod config;
mod debian_host;
mod dpkg;
mod fingerprint;
mod gate;
mod host;
mod live;
mod pinning;
mod pki;
mod processes;
mod reboot;
mod rpm;
mod schedule;
mod server;
mod service;
mod state;
mod testhost;

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

fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// True if `program` can be run. A missing program fails the test under
/// CI=true (CI must install it) and skips it elsewhere, with a message.
pub fn have_tool(program: &str, debian_package: &str) -> bool {
    if Command::new(program).arg("--version").output().is_ok() {
        return true;
    }
    if under_ci() {
        panic!("{program} is missing: CI must install the Debian package {debian_package}");
    }
    eprintln!("skipped: {program} is missing (apt-get install {debian_package})");
    false
}

/// True if the tests run as root, which `what` needs. Not root fails the
/// test under CI=true and skips it elsewhere, with a message.
pub fn have_root(what: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().nth(1))
        == Some("0");
    if root {
        return true;
    }
    if under_ci() {
        panic!("{what} need root, and CI runs as root");
    }
    eprintln!("skipped: {what} need root");
    false
}

/// Command output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copies the directory tree `from` into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A private copy of the debian-reboot root, to change.
pub fn debian_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    copy_tree(&data("debian-reboot"), root.path());
    root
}

fn dpkg_status(root: &Path) -> PathBuf {
    root.join("var/lib/dpkg/status")
}

/// The packages in a root's dpkg status, in the file's order.
pub fn package_names(root: &Path) -> Vec<String> {
    std::fs::read_to_string(dpkg_status(root))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("Package: "))
        .map(str::to_owned)
        .collect()
}

/// Removes the package `name` from a root's dpkg status; returns its
/// version.
pub fn remove_package(root: &Path, name: &str) -> String {
    let path = dpkg_status(root);
    let status = std::fs::read_to_string(&path).unwrap();
    let (gone, kept): (Vec<&str>, Vec<&str>) = status
        .split("\n\n")
        .partition(|stanza| stanza.starts_with(&format!("Package: {name}\n")));
    let [stanza] = gone[..] else {
        panic!("{name} is not in {}", path.display());
    };
    std::fs::write(&path, kept.join("\n\n")).unwrap();
    stanza
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap()
        .to_owned()
}

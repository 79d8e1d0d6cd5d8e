//! rivet-assess's integration tests, one binary. Real data is read from
//! `shared/data/` beside the checkout; it is never copied into the
//! repository. The differential tests compare every verdict with a
//! reference evaluator in Debian's python3 (python3-rpm, python3-apt).

mod differential_deb;
mod differential_rpm;
mod fleet;
mod repository;
mod rules;
mod scan;

use std::process::Command;

use rivet_advisory::model::{Advisory, Location, SignatureStatus};
use rivet_advisory::{ReadOptions, osv};
use rivet_core::Timestamp;
use rivet_core::inventory::{OsRelease, Package, PackageFormat};
use serde_json::Value;

/// Path of a file in `shared/data/`.
#[macro_export]
macro_rules! data {
    ($path:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/", $path)
    };
}

/// The fixed time the tests stamp provenance with (time is a parameter).
pub fn at() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

/// Reads one OSV record given as JSON, through the real OSV reader.
pub fn osv_record(record: Value) -> Advisory {
    let bytes = serde_json::to_vec(&record).unwrap();
    let options = ReadOptions::new("test", at());
    let location = Location::file(format!("{}.json", record["id"].as_str().unwrap()));
    let provenance = options.provenance(&location, &bytes, SignatureStatus::Unsigned);
    osv::parse(&bytes, osv::Syntax::Json, provenance).unwrap()
}

/// An os-release with an ID and a VERSION_ID.
pub fn os(id: &str, version: &str) -> OsRelease {
    OsRelease {
        id: id.into(),
        version_id: Some(version.into()),
        ..OsRelease::default()
    }
}

/// An installed package.
pub fn package(
    format: PackageFormat,
    name: &str,
    version: &str,
    arch: &str,
    source: (&str, &str),
) -> Package {
    Package {
        format,
        name: name.into(),
        version: version.into(),
        architecture: arch.into(),
        source_name: source.0.into(),
        source_version: source.1.into(),
        repository: None,
        installed_at: None,
    }
}

/// Debian's python3 with a module, or `None` when it is not installed.
/// Under `CI=true` a missing reference implementation fails the test
/// instead: CI installs python3-rpm and python3-apt.
pub fn python_with(module: &str, package: &str) -> Option<Command> {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(Command::new("/usr/bin/python3"));
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "/usr/bin/python3 cannot import {module}: install {package} (CI must run the differential test)"
    );
    eprintln!("skipped: /usr/bin/python3 cannot import {module} (install {package})");
    None
}

/// Runs the reference evaluator (`python` with `args`) and returns its
/// output lines, one verdict per query, failing the test with its stderr
/// when it fails.
pub fn reference_verdicts(mut python: Command, args: &[&str]) -> Vec<String> {
    let output = python.args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

//! `rivet scan` (ASM-8): the real binary assesses a real dpkg status file
//! offline against OSV records written here, in every output format.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn data(path: &str) -> String {
    format!("{}/../../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn rivet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rivet"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

fn osv(dir: &Path, id: &str, package: &str, fixed: &str, alias: &str) {
    let record = json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2026-11-01T00:00:00Z",
        "published": "2026-10-01T00:00:00Z",
        "aliases": [alias],
        "summary": format!("{package} issue"),
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]
        }]
    });
    std::fs::write(dir.join(format!("{id}.json")), record.to_string()).unwrap();
}

#[test]
fn rivet_scan_matches_source_packages_of_a_dpkg_status_file() {
    let dir = tempfile::tempdir().unwrap();
    // systemd's binary libsystemd0 is installed at 252.39-1~deb12u2 (its
    // source, systemd, is what Debian's advisories name); zlib at
    // 1:1.2.13.dfsg-1, where the epoch decides.
    osv(
        dir.path(),
        "DSA-9001-1",
        "systemd",
        "252.40-1~deb12u1",
        "CVE-2026-0001",
    );
    osv(
        dir.path(),
        "DSA-9002-1",
        "systemd",
        "252.39-1~deb12u1",
        "CVE-2026-0002",
    );
    osv(dir.path(), "DSA-9003-1", "zlib", "1.3-1", "CVE-2026-0003");
    let inventory = data("inventories/debian12-minbase.dpkg-status");
    let advisories = dir.path().to_str().unwrap();
    let args = [
        "scan",
        "--inventory",
        &inventory,
        "--os",
        "debian:12",
        "--advisories",
        advisories,
    ];

    let out = rivet(&[&args[..], &["--format", "json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let ids: Vec<&str> = findings
        .iter()
        .map(|f| f["advisory_id"].as_str().unwrap())
        .collect();
    // DSA-9002 is fixed in an older version than the installed one, and
    // 1.3-1 (epoch 0) is older than 1:1.2.13: only DSA-9001 applies, to
    // every binary of systemd the host has.
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| *id == "DSA-9001-1"), "{ids:?}");
    let libsystemd = findings
        .iter()
        .find(|f| f["package"] == "libsystemd0")
        .unwrap_or_else(|| panic!("no libsystemd0 finding: {findings:?}"));
    assert_eq!(libsystemd["installed_version"], "252.39-1~deb12u2");
    assert_eq!(libsystemd["source_package"], "systemd");
    assert_eq!(libsystemd["fixed_version"], "252.40-1~deb12u1");
    assert_eq!(libsystemd["aliases"], json!(["CVE-2026-0001"]));
    assert_eq!(libsystemd["kev"], false);

    let out = rivet(&[&args[..], &["--format", "sarif"]].concat());
    assert!(out.status.success());
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        findings.len()
    );

    let out = rivet(&args);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("DSA-9001-1") && table.contains("libsystemd0"),
        "{table}"
    );
    assert!(!table.contains("DSA-9003-1"), "{table}");
}

#[test]
fn rivet_scan_names_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.status");
    let out = rivet(&[
        "scan",
        "--inventory",
        missing.to_str().unwrap(),
        "--advisories",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nowhere.status"), "{stderr}");

    let inventory = data("inventories/debian12-minbase.dpkg-status");
    let out = rivet(&[
        "scan",
        "--inventory",
        &inventory,
        "--os",
        "debian",
        "--advisories",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("debian"), "{stderr}");
}

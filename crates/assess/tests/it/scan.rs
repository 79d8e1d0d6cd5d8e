//! The `scan` library: inventories in every import format, advisories from
//! the paths `rivet advisories import` takes, KEV enrichment, the three
//! output formats, and errors that name the file and the fault.

use std::path::{Path, PathBuf};

use rivet_advisory::{ReadOptions, kev, osv};
use rivet_agent::packages::dpkg;
use rivet_assess::scan::render::{OutputFormat, render};
use rivet_assess::scan::{
    InventoryFormat, ScanError, ScanOptions, parse_inventory, parse_os, read_advisories, run,
};
use serde_json::{Value, json};

use crate::{at, data};

fn rendered(report: &rivet_assess::scan::Report, format: OutputFormat) -> String {
    let mut out = Vec::new();
    render(report, format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// A KEV-listed CVE from the real catalogue, and a source package with a
/// `Source:` field from the real devbox inventory.
fn kev_cve_and_source() -> (String, String, String) {
    let bytes = std::fs::read(data!("kev/known_exploited_vulnerabilities.json")).unwrap();
    let catalog = kev::parse(&bytes, &Default::default()).unwrap();
    let cve = catalog.entries[0].cve.clone();
    let text = std::fs::read_to_string(data!("inventories/debian12-devbox.dpkg-status")).unwrap();
    let p = dpkg::parse_status(&text, "devbox")
        .packages
        .into_iter()
        .find(|p| p.source_name != p.name)
        .unwrap();
    (cve, p.source_name, p.source_version)
}

#[test]
fn a_dpkg_status_scan_finds_kev_listed_advisories_in_every_output_format() {
    let (cve, source, version) = kev_cve_and_source();
    let dir = tempfile::tempdir().unwrap();
    let fixed = format!("{version}+deb12u9");
    let record = json!({"id": "DSA-9999-1", "summary": "Critical: test", "aliases": [cve],
        "affected": [{"package": {"ecosystem": "Debian:12", "name": source},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]});
    std::fs::create_dir(dir.path().join("debian")).unwrap();
    std::fs::write(
        dir.path().join("debian/DSA-9999-1.json"),
        record.to_string(),
    )
    .unwrap();
    std::fs::write(dir.path().join("debian/broken.json"), "{\"id\": ").unwrap();
    let options = ScanOptions {
        inventory: data!("inventories/debian12-devbox.dpkg-status").into(),
        format: InventoryFormat::DpkgStatus,
        os: Some(parse_os("debian:12").unwrap()),
        // The KEV catalogue among the advisory paths, as the import takes it.
        advisories: vec![
            dir.path().to_owned(),
            data!("kev/known_exploited_vulnerabilities.json").into(),
        ],
        kev: None,
        fetched_at: at(),
    };
    let report = run(&options).unwrap();
    assert_eq!(report.advisories, 1);
    assert_eq!(report.rejected.len(), 1);
    assert!(
        report.rejected[0].file.ends_with("broken.json"),
        "{:?}",
        report.rejected
    );
    assert!(!report.findings.is_empty());
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.kev && *f.matched.source_package == *source)
    );

    let json: Value = serde_json::from_str(&rendered(&report, OutputFormat::Json)).unwrap();
    assert_eq!(json["ecosystem"], "Debian:12");
    let finding = &json["findings"][0];
    for field in [
        "package",
        "installed_version",
        "source_package",
        "advisory_id",
        "aliases",
        "fixed_version",
        "severity",
        "kev",
    ] {
        assert!(!finding[field].is_null(), "{field} in {finding}");
    }
    assert_eq!(finding["advisory_id"], "DSA-9999-1");
    assert_eq!(finding["aliases"][0], cve.as_str());
    assert_eq!(finding["fixed_version"], fixed.as_str());
    assert_eq!(finding["severity"], "critical");
    assert_eq!(finding["kev"], true);
    assert_eq!(json["summary"]["findings"], report.findings.len());

    let sarif: Value = serde_json::from_str(&rendered(&report, OutputFormat::Sarif)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 1);
    assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "DSA-9999-1");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), report.findings.len());
    assert!(
        results
            .iter()
            .all(|r| r["ruleIndex"] == 0 && r["level"] == "error")
    );

    let table = rendered(&report, OutputFormat::Table);
    assert!(
        table.contains("PACKAGE") && table.contains("DSA-9999-1") && table.contains("Debian:12"),
        "{table}"
    );
    assert!(table.contains("rejected"), "{table}");
}

#[test]
fn ubuntu_sample_advisories_match_by_source_and_binaries() {
    let raw: Value = serde_json::from_str(
        &std::fs::read_to_string(data!("osv/ubuntu-sample/UBUNTU-CVE-2025-0665.json")).unwrap(),
    )
    .unwrap();
    let jammy = raw["affected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["package"]["ecosystem"] == "Ubuntu:22.04:LTS")
        .unwrap();
    let fixed = jammy["ranges"][0]["events"][1]["fixed"].as_str().unwrap();
    let old = jammy["versions"][0].as_str().unwrap();
    let status = format!(
        "Package: libcurl4\nStatus: install ok installed\nArchitecture: amd64\nSource: curl\nVersion: {old}\n\n\
         Package: libcurl-unlisted\nStatus: install ok installed\nArchitecture: amd64\nSource: curl\nVersion: {old}\n"
    );
    let inventory = parse_inventory(
        "status",
        status.as_bytes(),
        InventoryFormat::DpkgStatus,
        Some(parse_os("ubuntu:22.04").unwrap()),
    )
    .unwrap();
    let set = read_advisories(&[data!("osv/ubuntu-sample").into()], at()).unwrap();
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let index = rivet_assess::Index::build(&set.advisories);
    let report = rivet_assess::scan::scan(&index, &inventory, None);
    let ids: Vec<(&str, &str, Option<&str>)> = report
        .findings
        .iter()
        .map(|f| {
            (
                &*f.matched.package,
                f.matched.advisory.id.as_str(),
                f.matched.fixed_version.as_deref(),
            )
        })
        .collect();
    // libcurl4 is among the record's binaries; libcurl-unlisted is not.
    assert_eq!(ids, [("libcurl4", "UBUNTU-CVE-2025-0665", Some(fixed))]);
    assert_eq!(&*report.findings[0].matched.ecosystem, "Ubuntu:22.04:LTS");
    assert!(
        report.findings[0]
            .matched
            .advisory
            .aliases
            .contains(&"CVE-2025-0665".to_owned())
    );
}

#[test]
fn cyclonedx_language_packages_match_the_crates_io_archive() {
    let zip = data!("osv/crates.io-all.zip");
    // The first live advisory whose range starts at a real version: that
    // version is affected, and its fix is the range's.
    let (id, name, introduced, fixed) = osv::read(Path::new(zip), &ReadOptions::new("t", at()))
        .unwrap()
        .map(|a| a.unwrap())
        .filter(|a| a.withdrawn.is_none())
        .find_map(|a| {
            let x = a.affected.first()?;
            let events = &x.ranges.first()?.events;
            match (events.first()?, events.get(1)?) {
                (rivet_advisory::Event::Introduced(i), rivet_advisory::Event::Fixed(f))
                    if i != "0" && x.ranges.len() == 1 && x.architectures.is_empty() =>
                {
                    Some((a.id.clone(), x.package.clone(), i.clone(), f.clone()))
                }
                _ => None,
            }
        })
        .unwrap();
    let bom = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "library", "name": name, "version": introduced, "purl": format!("pkg:cargo/{name}@{introduced}")},
        {"type": "library", "name": "left-pad", "version": "1.0.0", "purl": "pkg:npm/left-pad@1.0.0"},
        {"type": "library", "name": "bash", "version": "5.2.15-2",
         "purl": "pkg:deb/debian/bash@5.2.15-2?arch=amd64&distro=debian-12",
         "components": [{"type": "library", "name": "x", "version": "1.0", "purl": "pkg:gem/x@1.0"}]}
    ]});
    let inventory = parse_inventory(
        "bom.json",
        bom.to_string().as_bytes(),
        InventoryFormat::CycloneDx,
        None,
    )
    .unwrap();
    assert_eq!(inventory.packages.len(), 4, "{:?}", inventory.packages);
    assert_eq!(inventory.host.os.as_ref().unwrap().id, "debian");
    assert!(inventory.skipped.is_empty(), "{:?}", inventory.skipped);
    let set = read_advisories(&[PathBuf::from(zip)], at()).unwrap();
    let index = rivet_assess::Index::build(&set.advisories);
    let report = rivet_assess::scan::scan(&index, &inventory, None);
    let found = report
        .findings
        .iter()
        .find(|f| f.matched.advisory.id == id)
        .unwrap();
    assert_eq!(&*found.matched.package, name);
    assert_eq!(found.matched.fixed_version.as_deref(), Some(fixed.as_str()));
    assert_eq!(&*found.matched.ecosystem, "crates.io");
}

#[test]
fn errors_name_the_file_and_the_fault() {
    let bad = "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\nPackage: b\nVersion: 1\n";
    let err = parse_inventory(
        "status.txt",
        bad.as_bytes(),
        InventoryFormat::DpkgStatus,
        None,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("status.txt") && text.contains("line 6") && text.contains("Status"),
        "{text}"
    );
    let err = parse_inventory(
        "x.json",
        b"{\"bomFormat\": \"SPDX\"}",
        InventoryFormat::CycloneDx,
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("bomFormat"), "{err}");
    let err = parse_inventory("empty", b"\n", InventoryFormat::ApkInstalled, None).unwrap_err();
    assert!(matches!(err, ScanError::NoPackages { .. }), "{err}");
    let err = parse_inventory("bin", b"\xff\xfe", InventoryFormat::RpmQa, None).unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");
    assert!(
        "rpm"
            .parse::<InventoryFormat>()
            .unwrap_err()
            .to_string()
            .contains("dpkg-status")
    );
    assert!(
        parse_os("debian")
            .unwrap_err()
            .to_string()
            .contains("ID:VERSION_ID")
    );
    let err = read_advisories(&[PathBuf::from("/nonexistent/advisories")], at()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/advisories"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("all.zip");
    std::fs::write(&truncated, b"PK\x03\x04 not really").unwrap();
    let err = read_advisories(&[truncated], at()).unwrap_err();
    assert!(err.to_string().contains("all.zip"), "{err}");
}

#[test]
fn an_unknown_os_is_said_and_nothing_is_guessed() {
    let rpm_qa = "bash-5.1.8-9.el9.x86_64\nopenssl-3.0.7-27.el9.x86_64\n";
    let inventory = parse_inventory(
        "rpm-qa.txt",
        rpm_qa.as_bytes(),
        InventoryFormat::RpmQa,
        None,
    )
    .unwrap();
    let set = read_advisories(&[data!("osv/AlmaLinux-all.zip").into()], at()).unwrap();
    let index = rivet_assess::Index::build(&set.advisories);
    let report = rivet_assess::scan::scan(&index, &inventory, None);
    assert!(report.findings.is_empty());
    assert_eq!(report.assessment.unmatched_packages, 2);
    let json: Value = serde_json::from_str(&rendered(&report, OutputFormat::Json)).unwrap();
    assert!(
        json["unknown_ecosystem"]
            .as_str()
            .unwrap()
            .contains("not known"),
        "{json}"
    );
    // Told the OS, the same inventory is matched.
    let inventory = parse_inventory(
        "rpm-qa.txt",
        rpm_qa.as_bytes(),
        InventoryFormat::RpmQa,
        Some(parse_os("almalinux:9.4").unwrap()),
    )
    .unwrap();
    let report = rivet_assess::scan::scan(&index, &inventory, None);
    assert!(
        report
            .findings
            .iter()
            .any(|f| &*f.matched.package == "openssl")
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| &*f.matched.ecosystem == "AlmaLinux:9")
    );
}

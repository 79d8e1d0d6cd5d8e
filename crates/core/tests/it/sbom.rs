//! SBOM and CSV exports and agentless imports on real data: the dpkg status
//! of a Debian 12 machine (744 packages, 103 with an epoch) from
//! ../shared/data, CycloneDX documents written by cyclonedx-python-lib, and
//! the exports checked by independent tools: the official CycloneDX 1.5 JSON
//! schema, packageurl-python and Python's csv reader (tests/it/sbom_check.py).
//!
//! The independent checks need `python3 -m pip install
//! 'cyclonedx-python-lib[json-validation]==11.12.0'`; without it they fail
//! when `CI=true` and are skipped otherwise. `RIVET_PYTHON` names another
//! interpreter.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use rivet_core::Timestamp;
use rivet_core::inventory::{OsRelease, Package, PackageFormat};
use rivet_core::sbom::{
    CSV_HEADER, SbomHost, cyclonedx_sbom, packages_csv, parse_cyclonedx, parse_rpm_qa,
};
use serde_json::Value;
use uuid::Uuid;

const DEVBOX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/inventories/debian12-devbox.dpkg-status"
);
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sbom");
const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/sbom_check.py");
const SERIAL: Uuid = Uuid::from_u128(0x0190_4f6c_7a2b_7cde_8f01_2345_6789_abcd);

fn at() -> Timestamp {
    "2024-06-01T12:00:00Z".parse().unwrap()
}

/// The installed packages of a dpkg status file, read as the agent reads
/// them (the agent's parser cannot be used here: rivet-agent depends on
/// rivet-core). Only what the test data holds is handled.
fn dpkg_status(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let mut fields = BTreeMap::new();
        for line in stanza.lines().filter(|l| !l.starts_with([' ', '\t'])) {
            let (key, value) = line.split_once(':').expect("a field line");
            fields.insert(key, value.trim());
        }
        if !fields["Status"].ends_with(" installed") {
            continue;
        }
        let name = fields["Package"];
        let version = fields["Version"];
        let (source_name, source_version) = match fields.get("Source") {
            None => (name, version),
            Some(source) => match source.split_once(" (") {
                Some((n, v)) => (n, v.trim_end_matches(')')),
                None => (*source, version),
            },
        };
        packages.push(Package {
            format: PackageFormat::Deb,
            name: name.into(),
            version: version.into(),
            architecture: fields["Architecture"].into(),
            source_name: source_name.into(),
            source_version: source_version.into(),
            repository: None,
            installed_at: None,
        });
    }
    packages
}

fn devbox() -> Vec<Package> {
    let text = std::fs::read_to_string(DEVBOX).expect("../shared/data beside the checkout");
    dpkg_status(&text)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn os(id: &str, version: &str, pretty: &str) -> OsRelease {
    OsRelease {
        id: id.into(),
        version_id: Some(version.into()),
        pretty_name: Some(pretty.into()),
        ..OsRelease::default()
    }
}

fn host(name: &str, os: OsRelease, arch: &str) -> SbomHost {
    SbomHost {
        name: name.into(),
        os: Some(os),
        architecture: Some(arch.into()),
    }
}

/// Three hosts as Rivet would export them: the Debian machine, an AlmaLinux
/// host imported from `rpm -qa`, an Alpine host.
fn hosts() -> Vec<(SbomHost, Vec<Package>)> {
    let rpm = parse_rpm_qa(&fixture("almalinux9.rpm-qa")).unwrap();
    let mut apk = Vec::new();
    for (name, version, origin) in [
        ("musl", "1.2.4_git20230717-r4", "musl"),
        ("libcrypto3", "3.1.4-r5", "openssl"),
        ("libstdc++", "13.2.1_git20231014-r0", "gcc"),
        ("busybox-binsh", "1.36.1-r15", "busybox"),
    ] {
        apk.push(Package {
            format: PackageFormat::Apk,
            name: name.into(),
            version: version.into(),
            architecture: "x86_64".into(),
            source_name: origin.into(),
            source_version: version.into(),
            repository: None,
            installed_at: None,
        });
    }
    vec![
        (
            host(
                "devbox",
                os("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
                "amd64",
            ),
            devbox(),
        ),
        (
            host(
                "alma",
                os("almalinux", "9.4", "AlmaLinux 9.4 (Seafoam Ocelot)"),
                "x86_64",
            ),
            rpm,
        ),
        (
            host(
                "edge",
                os("alpine", "3.19.1", "Alpine Linux v3.19"),
                "x86_64",
            ),
            apk,
        ),
    ]
}

#[test]
fn the_devbox_round_trips_through_cyclonedx() {
    let packages = devbox();
    assert_eq!(packages.len(), 744);
    assert_eq!(
        packages.iter().filter(|p| p.version.contains(':')).count(),
        103
    );
    let (host, _) = hosts().swap_remove(0);
    let text = cyclonedx_sbom(&host, &packages, SERIAL, at(), "0.1.0");
    let back = parse_cyclonedx(&text).unwrap();
    assert_eq!(back.packages, packages);
    assert_eq!(back.host.hostname.as_deref(), Some("devbox"));
    let os = back.host.os.as_ref().unwrap();
    assert_eq!(
        (
            os.id.as_str(),
            os.version_id.as_deref(),
            os.pretty_name.as_deref()
        ),
        ("debian", Some("12"), Some("Debian GNU/Linux 12 (bookworm)"))
    );
    assert_eq!(back.skipped_total(), 1, "only the OS component");
}

#[test]
fn rpm_and_apk_hosts_round_trip() {
    for (host, packages) in hosts().into_iter().skip(1) {
        let text = cyclonedx_sbom(&host, &packages, SERIAL, at(), "0.1.0");
        assert_eq!(
            parse_cyclonedx(&text).unwrap().packages,
            packages,
            "{}",
            host.name
        );
    }
}

#[test]
fn rpm_qa_fixture_versions() {
    let packages = parse_rpm_qa(&fixture("almalinux9.rpm-qa")).unwrap();
    let plain = parse_rpm_qa(&fixture("almalinux9-plain.rpm-qa")).unwrap();
    // The same host listed both ways: names, architectures and (epoch-less)
    // versions agree; only the rich listing knows epochs and sources.
    assert_eq!(packages.len(), plain.len());
    for (rich, plain) in packages.iter().zip(&plain) {
        assert_eq!(rich.name, plain.name);
        assert_eq!(rich.architecture, plain.architecture);
        let bare = rich
            .version
            .split_once(':')
            .map_or(rich.version.as_str(), |(_, v)| v);
        assert_eq!(bare, plain.version, "{}", rich.name);
    }
    let openssl = packages.iter().find(|p| p.name == "openssl-libs").unwrap();
    assert_eq!(openssl.version, "1:3.0.7-27.el9");
    assert_eq!(
        (
            openssl.source_name.as_str(),
            openssl.source_version.as_str()
        ),
        ("openssl", "1:3.0.7-27.el9")
    );
    let bash = packages.iter().find(|p| p.name == "bash").unwrap();
    assert_eq!(bash.version, "5.1.8-9.el9");
}

#[test]
fn documents_from_cyclonedx_python_lib_import() {
    for spec in ["1.4", "1.6"] {
        let got = parse_cyclonedx(&fixture(&format!("python-lib-{spec}.cdx.json"))).unwrap();
        let mut summary: Vec<String> = got
            .packages
            .iter()
            .map(|p| {
                format!(
                    "{:?} {} {} {} {} {}",
                    p.format, p.name, p.version, p.architecture, p.source_name, p.source_version
                )
            })
            .collect();
        summary.sort();
        assert_eq!(
            summary,
            [
                "Apk libstdc++ 12.2.1_git20220924-r10 x86_64 gcc 12.2.1_git20220924-r10",
                "Deb libc6 2.36-9+deb12u4 amd64 glibc 2.36-9+deb12u4",
                "Deb login 1:4.13+dfsg1-1+b1 amd64 shadow 1:4.13+dfsg1-1",
                "Rpm openssl-libs 1:3.0.7-27.el9 x86_64 openssl 1:3.0.7-27.el9",
            ],
            "{spec}"
        );
        let skipped: Vec<(&str, usize)> =
            got.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            skipped,
            [
                ("(no purl)", 1),
                ("npm", 1),
                ("operating-system", 1),
                ("pypi", 1)
            ],
            "{spec}"
        );
        let os = got.host.os.unwrap();
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref()),
            ("debian", Some("12.5"))
        );
        assert_eq!(got.host.hostname, None, "a container is not a host");
    }
}

fn python() -> String {
    std::env::var("RIVET_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs sbom_check.py on each (name, SBOM, CSV), in one process; `None` when
/// its Python modules are missing and CI is not running.
fn independent_check(exports: &[(&str, String, String)]) -> Option<Vec<Value>> {
    let dir = std::env::temp_dir().join(format!("rivet-sbom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths: Vec<PathBuf> = Vec::new();
    for (name, sbom, csv) in exports {
        let (sbom_path, csv_path) = (
            dir.join(format!("{name}.cdx.json")),
            dir.join(format!("{name}.csv")),
        );
        std::fs::write(&sbom_path, sbom).unwrap();
        std::fs::write(&csv_path, csv).unwrap();
        paths.extend([sbom_path, csv_path]);
    }
    let output = Command::new(python()).arg(CHECK).args(&paths).output();
    for path in &paths {
        let _ = std::fs::remove_file(path);
    }
    let missing = match &output {
        Err(e) => Some(format!("{}: {e}", python())),
        Ok(o) if o.status.code() == Some(3) => {
            Some(String::from_utf8_lossy(&o.stderr).trim().to_owned())
        }
        Ok(_) => None,
    };
    if let Some(why) = missing {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "the CycloneDX validator is missing and CI=true ({why}); install it with \
             python3 -m pip install 'cyclonedx-python-lib[json-validation]==11.12.0'"
        );
        println!(
            "SKIPPED: {why}; python3 -m pip install 'cyclonedx-python-lib[json-validation]==11.12.0'"
        );
        return None;
    }
    let output = output.unwrap();
    assert!(
        output.status.success(),
        "sbom_check.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

/// What packageurl-python must read back from a package's purl.
fn expected_purl(p: &Package, os: &OsRelease) -> Value {
    let (kind, name, version, epoch) = match p.format {
        PackageFormat::Deb => ("deb", p.name.to_lowercase(), p.version.clone(), None),
        PackageFormat::Apk => ("apk", p.name.to_lowercase(), p.version.clone(), None),
        PackageFormat::Rpm => match p.version.split_once(':') {
            Some((e, v)) => ("rpm", p.name.clone(), v.to_owned(), Some(e.to_owned())),
            None => ("rpm", p.name.clone(), p.version.clone(), None),
        },
    };
    let mut qualifiers = serde_json::Map::new();
    qualifiers.insert("arch".into(), p.architecture.clone().into());
    qualifiers.insert(
        "distro".into(),
        format!("{}-{}", os.id, os.version_id.as_deref().unwrap()).into(),
    );
    if let Some(e) = epoch {
        qualifiers.insert("epoch".into(), e.into());
    }
    serde_json::json!({
        "type": kind,
        "namespace": os.id,
        "name": name,
        "version": version,
        "qualifiers": qualifiers,
    })
}

#[test]
fn exports_pass_the_cyclonedx_schema_and_independent_parsers() {
    let hosts = hosts();
    let exports: Vec<(&str, String, String)> = hosts
        .iter()
        .map(|(host, packages)| {
            let sbom = cyclonedx_sbom(host, packages, SERIAL, at(), "0.1.0");
            (host.name.as_str(), sbom, packages_csv(packages))
        })
        .collect();
    let Some(reports) = independent_check(&exports) else {
        return;
    };
    assert_eq!(reports.len(), hosts.len());
    for ((host, packages), report) in hosts.iter().zip(&reports) {
        assert_eq!(
            report["schema_errors"],
            serde_json::json!([]),
            "{}: not valid CycloneDX 1.5",
            host.name
        );
        let os = host.os.as_ref().unwrap();
        let expected: Vec<Value> = packages.iter().map(|p| expected_purl(p, os)).collect();
        assert_eq!(
            report["purls"].as_array().unwrap(),
            &expected,
            "{}",
            host.name
        );
        let rows = report["csv_rows"].as_array().unwrap();
        assert_eq!(rows[0], serde_json::json!(CSV_HEADER));
        assert_eq!(rows.len(), packages.len() + 1);
        for (row, p) in rows[1..].iter().zip(packages) {
            let format = format!("{:?}", p.format).to_lowercase();
            let installed = p.installed_at.map(|t| t.to_string()).unwrap_or_default();
            assert_eq!(
                row,
                &serde_json::json!([
                    format,
                    p.name,
                    p.version,
                    p.architecture,
                    p.source_name,
                    p.source_version,
                    p.repository.as_deref().unwrap_or(""),
                    installed,
                ])
            );
        }
    }
}

/// The schema check can fail: a BOM with a component type CycloneDX does
/// not define, and a serial number that is no URN, are reported.
#[test]
fn the_schema_check_catches_an_invalid_bom() {
    let (host, packages) = hosts().swap_remove(2);
    let sbom = cyclonedx_sbom(&host, &packages, SERIAL, at(), "0.1.0")
        .replacen("\"library\"", "\"librarian\"", 1)
        .replacen("urn:uuid:", "uuid:", 1);
    let Some(reports) = independent_check(&[("invalid", sbom, packages_csv(&packages))]) else {
        return;
    };
    let report = &reports[0];
    let errors = report["schema_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let text = format!("{errors:?}");
    assert!(
        text.contains("librarian") && text.contains("serialNumber"),
        "{text}"
    );
}

//! OSV archives and files from shared/data, counted and spot-checked.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rivet_advisory::{Event, RangeKind, SeverityKind, Status, osv};
use rivet_core::version::Scheme;

use crate::{data, options, read_all};

#[test]
fn almalinux_archive_keeps_every_document() {
    let (advisories, errors) = read_all(
        osv::read(
            Path::new(data!("osv/AlmaLinux-all.zip")),
            &options("osv:AlmaLinux"),
        )
        .unwrap(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(advisories.len(), 5_680);
    let ids: HashSet<&str> = advisories.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), 5_637);
    let keys: HashSet<String> = advisories.iter().map(|a| a.document_key()).collect();
    assert_eq!(keys.len(), 5_680, "document keys are unique");
    let affected: usize = advisories.iter().map(|a| a.affected.len()).sum();
    assert_eq!(affected, 71_329);

    // ALSA-2025:10873 is published in the folders of AlmaLinux 8, 9 and 10;
    // all three documents are kept, each under its own key. (In this snapshot
    // the 37 ids published in several folders are byte-identical copies, each
    // covering every release, which the affected total above counts per copy.)
    let copies: Vec<_> = advisories
        .iter()
        .filter(|a| a.id == "ALSA-2025:10873")
        .collect();
    assert_eq!(copies.len(), 3);
    let members: HashSet<&str> = copies
        .iter()
        .map(|a| a.provenance.location.member.as_deref().unwrap())
        .collect();
    assert_eq!(
        members,
        HashSet::from([
            "almalinux8/ALSA-2025:10873.json",
            "almalinux9/ALSA-2025:10873.json",
            "almalinux10/ALSA-2025:10873.json"
        ])
    );
    let ecosystems: HashSet<&str> = copies[0]
        .affected
        .iter()
        .map(|a| a.ecosystem.as_str())
        .collect();
    assert_eq!(
        ecosystems,
        HashSet::from(["AlmaLinux:8", "AlmaLinux:9", "AlmaLinux:10"])
    );

    let alma10 = copies
        .iter()
        .find(|a| {
            a.provenance.location.member.as_deref() == Some("almalinux10/ALSA-2025:10873.json")
        })
        .unwrap();
    let java = &alma10.affected[0];
    assert_eq!(java.ecosystem, "AlmaLinux:10");
    assert_eq!(java.package, "java-21-openjdk");
    assert_eq!(java.scheme, Some(Scheme::Rpm));
    assert_eq!(java.parsed_ecosystem.release.as_deref(), Some("10"));
    assert_eq!(java.fixed, ["1:21.0.8.0.9-1.el10.alma.1"]);
    assert_eq!(java.status, Status::Affected);
    assert_eq!(alma10.related[0], "CVE-2025-30749");
    assert_eq!(
        alma10.published.unwrap().to_string(),
        "2025-07-16T00:00:00Z"
    );
    assert_eq!(alma10.provenance.source, "osv:AlmaLinux");

    // Every document's ecosystem orders versions as RPM.
    assert!(
        advisories
            .iter()
            .flat_map(|a| &a.affected)
            .all(|a| a.scheme == Some(Scheme::Rpm))
    );
}

#[test]
fn rustsec_archive_has_semver_ranges_and_scores() {
    let (advisories, errors) = read_all(
        osv::read(
            Path::new(data!("osv/crates.io-all.zip")),
            &options("osv:crates.io"),
        )
        .unwrap(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(advisories.len(), 1_206);
    let a = advisories
        .iter()
        .find(|a| a.id == "RUSTSEC-2016-0001")
        .unwrap();
    assert_eq!(a.aliases, ["CVE-2016-10931", "GHSA-34p9-f4q3-c4r7"]);
    let openssl = &a.affected[0];
    assert_eq!(
        (openssl.package.as_str(), openssl.scheme),
        ("openssl", Some(Scheme::Semver))
    );
    assert_eq!(openssl.purl.as_deref(), Some("pkg:cargo/openssl"));
    assert_eq!(openssl.ranges[0].kind, RangeKind::Semver);
    assert_eq!(
        openssl.ranges[0].events,
        [
            Event::Introduced("0.0.0-0".into()),
            Event::Fixed("0.9.0".into())
        ]
    );
    assert_eq!(openssl.fixed, ["0.9.0"]);
    assert_eq!(a.severity[0].kind, SeverityKind::CvssV3);
    assert_eq!(a.severity[0].score, Some(8.1));
    let withdrawn = advisories.iter().filter(|a| a.withdrawn.is_some()).count();
    assert!(
        withdrawn > 0,
        "withdrawn RustSec advisories are kept, marked"
    );
}

#[test]
fn pypa_yaml_archive_keeps_versions_and_timestamps_as_text() {
    let (advisories, errors) = read_all(
        osv::read(
            Path::new(data!("osv/PyPI-yaml-all.zip")),
            &options("osv:PyPI"),
        )
        .unwrap(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(advisories.len(), 2_661);
    let a = advisories
        .iter()
        .find(|a| a.id == "PYSEC-2021-335")
        .unwrap();
    let ac = &a.affected[0];
    assert_eq!(
        (ac.package.as_str(), ac.scheme),
        ("accesscontrol", Some(Scheme::Pep440))
    );
    assert_eq!(ac.versions, ["4.0", "4.1", "4.2", "5.0", "5.1"]);
    assert_eq!(ac.ranges[0].kind, RangeKind::Git);
    assert_eq!(
        ac.ranges[0].repo.as_deref(),
        Some("https://github.com/zopefoundation/AccessControl")
    );
    // Git commits are not versions: only the ECOSYSTEM range's fixes count.
    assert_eq!(ac.fixed, ["4.3", "5.2"]);
    assert_eq!(
        a.modified.unwrap().to_string(),
        "2021-09-26T23:32:08.989778Z"
    );
    // Unquoted YAML timestamps (the PyPA set has them) are read as instants too.
    let unquoted = advisories.iter().filter(|a| a.modified.is_some()).count();
    assert_eq!(unquoted, 2_661);
}

#[test]
fn ubuntu_records_have_releases_and_binaries() {
    let (advisories, errors) = read_all(
        osv::read(
            Path::new(data!("osv/ubuntu-sample")),
            &options("osv:Ubuntu"),
        )
        .unwrap(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(advisories.len(), 2);
    let cve = advisories
        .iter()
        .find(|a| a.id == "UBUNTU-CVE-2025-0665")
        .unwrap();
    let jammy = cve
        .affected
        .iter()
        .find(|a| a.ecosystem == "Ubuntu:22.04:LTS")
        .unwrap();
    assert_eq!(jammy.parsed_ecosystem.name, "Ubuntu");
    assert_eq!(jammy.parsed_ecosystem.release.as_deref(), Some("22.04"));
    assert_eq!(jammy.parsed_ecosystem.variant.as_deref(), Some("LTS"));
    assert_eq!(jammy.scheme, Some(Scheme::Deb));
    assert_eq!(jammy.package, "curl");
    assert_eq!(jammy.fixed, ["7.81.0-1ubuntu1.20"]);
    let libcurl4 = jammy
        .binaries
        .iter()
        .find(|b| b.name == "libcurl4")
        .unwrap();
    assert_eq!(libcurl4.version.as_deref(), Some("7.81.0-1ubuntu1.20"));
    let interim = cve
        .affected
        .iter()
        .find(|a| a.ecosystem == "Ubuntu:24.10")
        .unwrap();
    assert_eq!(interim.parsed_ecosystem.variant, None);
    let usn = advisories.iter().find(|a| a.id == "USN-2330-1").unwrap();
    assert_eq!(usn.upstream.len(), 6);
}

#[test]
fn every_listed_ecosystem_is_kept_and_known_ones_have_a_scheme() {
    let list: HashMap<String, String> =
        serde_json::from_slice(&std::fs::read(data!("osv/ecosystems.json")).unwrap()).unwrap();
    let expected = [
        ("Debian", Scheme::Deb),
        ("Ubuntu", Scheme::Deb),
        ("AlmaLinux", Scheme::Rpm),
        ("Rocky Linux", Scheme::Rpm),
        ("Red Hat", Scheme::Rpm),
        ("SUSE", Scheme::Rpm),
        ("openSUSE", Scheme::Rpm),
        ("Azure Linux", Scheme::Rpm),
        ("Photon OS", Scheme::Rpm),
        ("openEuler", Scheme::Rpm),
        ("Mageia", Scheme::Rpm),
        ("Alpine", Scheme::Apk),
        ("Alpaquita", Scheme::Apk),
        ("Wolfi", Scheme::Apk),
        ("Chainguard", Scheme::Apk),
        ("crates.io", Scheme::Semver),
        ("npm", Scheme::Semver),
        ("Go", Scheme::Semver),
        ("PyPI", Scheme::Pep440),
        ("Maven", Scheme::Maven),
    ];
    for (name, scheme) in expected {
        assert!(list.contains_key(name), "{name} is in ecosystems.json");
        assert_eq!(rivet_advisory::scheme_of(name), Some(scheme), "{name}");
    }
    // Ecosystems without a known ordering are kept without a scheme.
    for name in ["Hackage", "Packagist", "NuGet", "Linux", "GitHub Actions"] {
        assert!(list.contains_key(name));
        assert_eq!(rivet_advisory::scheme_of(name), None, "{name}");
    }
}

/// The server stores each normalised advisory as JSON and reads it back to
/// assess: every AlmaLinux and crates.io document survives the round trip
/// unchanged.
#[test]
fn normalised_advisories_round_trip_through_json() {
    for (archive, source) in [
        (data!("osv/AlmaLinux-all.zip"), "osv:AlmaLinux"),
        (data!("osv/crates.io-all.zip"), "osv:crates.io"),
    ] {
        let (advisories, errors) =
            read_all(osv::read(Path::new(archive), &options(source)).unwrap());
        assert!(errors.is_empty(), "{errors:?}");
        assert!(advisories.len() > 1000);
        for a in &advisories {
            let text = serde_json::to_string(a).unwrap();
            let back: rivet_advisory::Advisory =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", a.document_key()));
            assert_eq!(&back, a, "{}", a.document_key());
        }
    }
}

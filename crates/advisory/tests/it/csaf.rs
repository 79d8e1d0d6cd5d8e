//! CSAF documents from shared/data: every OASIS example and Red Hat's VEX.

use std::path::Path;

use rivet_advisory::integrity::HashAlgorithm;
use rivet_advisory::{RemediationCategory, SeverityKind, SignatureStatus, Status, csaf};
use rivet_core::version::Scheme;

use crate::{data, options, read_all};

#[test]
fn every_oasis_example_parses() {
    let (advisories, errors) = read_all(
        csaf::read(
            Path::new(data!("csaf/oasis-examples/csaf")),
            &options("csaf:oasis"),
        )
        .unwrap(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(advisories.len(), 19);
    let bsi = advisories.iter().find(|a| a.id == "BSI-2022-0001").unwrap();
    assert!(!bsi.affected.is_empty());
    let vex = advisories
        .iter()
        .find(|a| a.id == "2022-EVD-UC-01-NA-001")
        .unwrap();
    assert!(vex.affected.iter().any(|a| a.status == Status::NotAffected));
    let rhsa = advisories
        .iter()
        .find(|a| a.id == "RHSA-2021:5217")
        .unwrap();
    assert_eq!(
        rhsa.remediations[0].category,
        RemediationCategory::VendorFix
    );
}

#[test]
fn red_hat_vex_yields_fixed_rpms_with_evrs() {
    let path = data!("csaf/redhat-vex-cve-2023-20593.json");
    let bytes = std::fs::read(path).unwrap();
    let document = rivet_advisory::RawDocument {
        location: rivet_advisory::Location::file(path),
        bytes,
    };
    let a = csaf::parse_document(
        &document,
        &options("csaf:redhat"),
        SignatureStatus::Unsigned,
    )
    .unwrap();
    assert_eq!(a.id, "CVE-2023-20593");
    assert_eq!(
        a.title.as_deref(),
        Some("hw: amd: Cross-Process Information Leak")
    );
    let kernel = a
        .affected
        .iter()
        .find(|x| {
            x.package == "kernel"
                && x.ecosystem == "Red Hat:enterprise_linux:7::client"
                && x.status == Status::Affected
                && !x.fixed.is_empty()
        })
        .unwrap();
    assert_eq!(kernel.scheme, Some(Scheme::Rpm));
    assert_eq!(kernel.fixed, ["3.10.0-1160.99.1.el7"]);
    for arch in ["ppc64", "ppc64le", "s390x", "src", "x86_64"] {
        assert!(kernel.architectures.iter().any(|a| a == arch), "{arch}");
    }
    assert_eq!(kernel.vulnerability.as_deref(), Some("CVE-2023-20593"));
    // A non-zero epoch comes from the purl's epoch qualifier (or the product id).
    let iwl = a
        .affected
        .iter()
        .find(|x| x.package == "iwl1000-firmware")
        .unwrap();
    assert_eq!(iwl.fixed, ["1:39.31.5.1-81.el7_9"]);
    assert_eq!(iwl.architectures, ["noarch"]);
    // Known-affected products without a version: every version is affected.
    let rhel6 = a
        .affected
        .iter()
        .find(|x| x.package == "kernel" && x.ecosystem == "Red Hat:enterprise_linux:6")
        .unwrap();
    assert!(rhel6.fixed.is_empty());
    let fixed_entries = a.affected.iter().filter(|x| !x.fixed.is_empty()).count();
    assert!(fixed_entries > 100, "{fixed_entries}");
    let v3 = a
        .severity
        .iter()
        .find(|s| s.kind == SeverityKind::CvssV3)
        .unwrap();
    assert_eq!(v3.score, Some(6.5));
    assert!(
        a.severity
            .iter()
            .any(|s| s.vendor_rating.as_deref() == Some("Moderate"))
    );
    assert!(
        a.remediations
            .iter()
            .any(|r| r.category == RemediationCategory::Workaround)
    );
    assert_eq!(a.workarounds.len(), 1);
}

#[test]
fn provider_metadata_and_rolie_feeds_list_documents() {
    let meta = csaf::parse_provider_metadata(
        &std::fs::read(data!(
            "csaf/oasis-examples/provider-metadata/example-01-provider-metadata.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(meta.role, "csaf_trusted_provider");
    assert_eq!(
        meta.feeds[0].url,
        "https://www.example.com/.well-known/csaf/feed-tlp-white.json"
    );
    assert_eq!(meta.feeds[0].tlp_label.as_deref(), Some("WHITE"));
    assert_eq!(
        meta.public_openpgp_keys[0].fingerprint.as_deref(),
        Some("8F5F267907B2C4559DB360DB2294BA7D2B2298B1")
    );
    let links = csaf::parse_rolie_feed(
        &std::fs::read(data!(
            "csaf/oasis-examples/ROLIE/example-01-feed-tlp-white.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0].url,
        "https://psirt.domain.tld/advisories/csaf/2020/2020-ESA-001.json"
    );
    assert_eq!(
        links[0].hashes,
        [(
            HashAlgorithm::Sha512,
            "https://psirt.domain.tld/advisories/csaf/2020/2020-ESA-001.json.sha512".to_owned()
        )]
    );
    assert_eq!(
        links[0].signature.as_deref(),
        Some("https://psirt.domain.tld/advisories/csaf/2020/2020-ESA-001.json.asc")
    );
}

#[test]
fn directory_listings_list_documents() {
    let base = "https://security.access.redhat.com/data/csaf/v2/vex/";
    let links = csaf::parse_changes_csv(
        base,
        b"\"2023/cve-2023-20593.json\",\"2025-11-21T14:22:53+00:00\"\n\"2024/cve-2024-1.json\",\"2025-11-20T00:00:00+00:00\"\n",
    )
    .unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(
        links[0].url,
        "https://security.access.redhat.com/data/csaf/v2/vex/2023/cve-2023-20593.json"
    );
    assert_eq!(
        links[0].updated.unwrap().to_string(),
        "2025-11-21T14:22:53Z"
    );
    assert_eq!(
        links[0].signature.as_deref(),
        Some(&*format!("{}.asc", links[0].url))
    );
    assert!(csaf::parse_changes_csv(base, b"\"a.json\",\"yesterday\"\n").is_err());
    let index = csaf::parse_index_txt(base, "2023/cve-2023-20593.json\n\n2024/x.json\n");
    assert_eq!(index.len(), 2);
    assert_eq!(index[1].hashes.len(), 2);
}

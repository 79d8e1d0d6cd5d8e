//! Bad input never panics: garbage, truncated documents and archives, and
//! inputs above the limits are reported with where and why.

use std::io::{Cursor, Write};

use proptest::prelude::*;
use rivet_advisory::{
    Documents, Limits, Location, ParseError, RawDocument, SignatureStatus, SourceError, csaf, epss,
    kev, osv,
};

use crate::{data, options, read_all};

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

const GOOD: &[u8] = br#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-1"}]}]}]}"#;

#[test]
fn a_bad_member_is_reported_and_the_rest_go_on() {
    let zip = zip_of(&[
        ("a/X-1.json", GOOD),
        (
            "a/BAD.json",
            br#"{"id":"X-2","affected":[{"ranges":[{"type":"ECOSYSTEM","events":7}]}]}"#,
        ),
        ("b/X-1.json", GOOD),
        ("README.md", b"not a document"),
    ]);
    let documents = Documents::zip(Cursor::new(zip), "test.zip", Limits::default()).unwrap();
    let (ok, errors) = read_all(rivet_advisory::Advisories::new(
        documents,
        options("t"),
        osv::parse_document,
    ));
    assert_eq!(ok.len(), 2);
    assert_ne!(ok[0].document_key(), ok[1].document_key());
    assert_eq!(errors.len(), 1);
    let error = &errors[0];
    assert_eq!(error.location, Location::member("test.zip", "a/BAD.json"));
    match &error.reason {
        ParseError::Json { path, line, .. } => {
            assert_eq!(path, "affected[0].ranges[0].events");
            assert_eq!(*line, 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("test.zip!a/BAD.json: invalid JSON at affected[0]")
    );
}

#[test]
fn a_truncated_archive_fails_as_a_whole() {
    let bytes = std::fs::read(data!("osv/crates.io-all.zip")).unwrap();
    let truncated = bytes[..bytes.len() / 2].to_vec();
    let err = Documents::zip(
        Cursor::new(truncated),
        "crates.io-all.zip",
        Limits::default(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, SourceError::Archive { .. }), "{err}");
    assert!(err.to_string().contains("truncated or corrupt"));
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_document_bytes: 100,
        max_archive_members: 2,
    };
    let zip = zip_of(&[("a.json", GOOD), ("b.json", b"{}"), ("c.json", b"{}")]);
    let err = Documents::zip(Cursor::new(zip), "z", limits).err().unwrap();
    assert!(matches!(
        err,
        SourceError::TooManyMembers {
            members: 3,
            limit: 2,
            ..
        }
    ));
    let zip = zip_of(&[("a.json", GOOD), ("b.json", b"{}")]);
    let results: Vec<_> = Documents::zip(Cursor::new(zip), "z", limits)
        .unwrap()
        .collect();
    assert!(matches!(
        results[0].as_ref().unwrap_err().reason,
        ParseError::TooLarge { limit: 100 }
    ));
    assert!(results[1].is_ok());
    assert!(matches!(
        kev::parse(&[b' '; 200], &limits),
        Err(ParseError::TooLarge { .. })
    ));
}

#[test]
fn yaml_errors_name_the_field() {
    let doc = RawDocument {
        location: Location::file("x.yaml"),
        bytes: b"id: PYSEC-1\naffected:\n- ranges:\n  - type: ECOSYSTEM\n    events: nope\n"
            .to_vec(),
    };
    let err = osv::parse_document(&doc, &options("t")).unwrap_err();
    assert!(
        err.to_string().contains("affected[0].ranges[0].events"),
        "{err}"
    );
}

fn truncations(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    (0..bytes.len())
        .step_by((bytes.len() / 97).max(1))
        .map(move |n| &bytes[..n])
}

#[test]
fn truncated_documents_fail_cleanly() {
    let csaf_bytes = std::fs::read(data!("csaf/oasis-examples/csaf/rhsa-2021_5186.json")).unwrap();
    for part in truncations(&csaf_bytes) {
        let doc = RawDocument {
            location: Location::file("x.json"),
            bytes: part.to_vec(),
        };
        assert!(csaf::parse_document(&doc, &options("t"), SignatureStatus::Unsigned).is_err());
    }
    let kev_bytes = std::fs::read(data!("kev/known_exploited_vulnerabilities.json")).unwrap();
    for part in truncations(&kev_bytes[..20_000]) {
        assert!(kev::parse(part, &Limits::default()).is_err());
    }
    let epss_bytes = std::fs::read(data!("epss/epss_scores-sample.csv")).unwrap();
    for part in truncations(&epss_bytes) {
        if let Ok(rows) = epss::read(part) {
            rows.for_each(drop);
        }
    }
    for part in truncations(GOOD) {
        assert!(
            osv::parse(
                part,
                osv::Syntax::Json,
                options("t").provenance(&Location::file("x"), part, SignatureStatus::Unsigned)
            )
            .is_err()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let provenance = options("t").provenance(&Location::file("x"), &bytes, SignatureStatus::Unsigned);
        let _ = osv::parse(&bytes, osv::Syntax::Json, provenance.clone());
        let _ = osv::parse(&bytes, osv::Syntax::Yaml, provenance.clone());
        let _ = csaf::parse(&bytes, provenance);
        let _ = kev::parse(&bytes, &Limits::default());
        let _ = csaf::parse_provider_metadata(&bytes);
        let _ = csaf::parse_rolie_feed(&bytes);
        let _ = csaf::parse_changes_csv("https://x/", &bytes);
        if let Ok(rows) = epss::read(bytes.as_slice()) {
            rows.for_each(drop);
        }
        if let Ok(docs) = Documents::zip(Cursor::new(bytes.clone()), "z", Limits::default()) {
            docs.for_each(drop);
        }
    }

    #[test]
    fn mangled_osv_never_panics(cut in 0..GOOD.len(), byte in any::<u8>()) {
        let mut bytes = GOOD.to_vec();
        bytes[cut] = byte;
        let provenance = options("t").provenance(&Location::file("x"), &bytes, SignatureStatus::Unsigned);
        let _ = osv::parse(&bytes, osv::Syntax::Json, provenance);
    }
}

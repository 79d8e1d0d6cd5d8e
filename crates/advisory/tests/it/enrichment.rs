//! KEV and EPSS enrichment records from shared/data.

use rivet_advisory::kev::{self, Ransomware};
use rivet_advisory::{Limits, epss};

use crate::data;

#[test]
fn kev_catalog_has_every_entry() {
    let catalog = kev::parse(
        &std::fs::read(data!("kev/known_exploited_vulnerabilities.json")).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(catalog.entries.len(), 1_404);
    assert!(catalog.rejected.is_empty());
    assert_eq!(catalog.version, "2025.08.25");
    let git = catalog.get("CVE-2025-48384").unwrap();
    assert_eq!(git.date_added.to_string(), "2025-08-25");
    assert_eq!(git.due_date.to_string(), "2025-09-15");
    assert_eq!(git.ransomware, Ransomware::Unknown);
    assert_eq!(git.cwes, ["CWE-59", "CWE-436"]);
    let known = catalog
        .entries
        .iter()
        .filter(|e| e.ransomware == Ransomware::Known)
        .count();
    assert_eq!(known, 293);
}

#[test]
fn kev_entry_with_a_bad_date_is_set_aside() {
    let json = br#"{"title":"t","catalogVersion":"1","dateReleased":"2025-08-25T17:04:19.9796Z","vulnerabilities":[
        {"cveID":"CVE-1","dateAdded":"2025-01-01","dueDate":"2025-01-22","knownRansomwareCampaignUse":"Known"},
        {"cveID":"CVE-2","dateAdded":"soon","dueDate":"2025-01-22"}]}"#;
    let catalog = kev::parse(json, &Limits::default()).unwrap();
    assert_eq!(catalog.entries.len(), 1);
    assert_eq!(catalog.entries[0].ransomware, Ransomware::Known);
    assert_eq!(catalog.rejected.len(), 1);
    assert_eq!(catalog.rejected[0].0, 1);
    assert!(catalog.rejected[0].1.to_string().contains("dateAdded"));
}

#[test]
fn epss_sample_has_every_row() {
    let file = std::fs::File::open(data!("epss/epss_scores-sample.csv")).unwrap();
    let scores = epss::read(file).unwrap();
    assert_eq!(scores.model_version, "v2026.06.15");
    assert_eq!(scores.score_date.to_string(), "2026-09-29T12:00:22Z");
    let rows: Vec<_> = scores.collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 52);
    assert_eq!(rows[0].cve, "CVE-1999-0001");
    assert_eq!(rows[0].epss, 0.03351);
    assert_eq!(rows[0].percentile, 0.88255);
}

#[test]
fn epss_bad_rows_are_reported_and_the_rest_go_on() {
    let text = "#model_version:v1,score_date:2026-01-01T00:00:00Z\ncve,epss,percentile\nCVE-1,0.5,0.9\nCVE-2,x,0.1\nCVE-3,0.1,0.2\n";
    let rows: Vec<_> = epss::read(text.as_bytes()).unwrap().collect();
    assert_eq!(rows.len(), 3);
    assert!(rows[0].is_ok() && rows[2].is_ok());
    let err = rows[1].as_ref().unwrap_err().to_string();
    assert!(err.contains("line 4"), "{err}");
    assert!(epss::read("cve,epss,percentile\n".as_bytes()).is_err());
}

//! Advisory intake (ADV-1, ADV-2): one uploaded file — an OSV or CSAF
//! document, an OSV archive (`all.zip`), the CISA KEV catalog or an EPSS
//! file — read into normalised records. Reading is pure and synchronous (the
//! caller runs it off the async threads); storing is the store's job.
//!
//! A malformed document is skipped and reported with its location and
//! reason while the rest goes on; a file that cannot be read as a whole (a
//! truncated archive) fails the upload, and nothing of it is stored.

use std::io::Cursor;

use rivet_advisory::model::{Advisory, Format, SeverityKind, SignatureStatus, Status};
use rivet_advisory::{Documents, Location, RawDocument, ReadOptions, csaf, epss, kev, osv};
use rivet_core::Timestamp;
use rivet_store::{AdvisoryRecord, AffectedPackage, EpssRecord, KevRecord};
use serde::Serialize;

/// What a file held.
#[derive(Debug)]
pub enum Parsed {
    /// Advisory documents (OSV or CSAF), and the ones that failed.
    Advisories {
        /// The records to store.
        records: Vec<AdvisoryRecord>,
        /// Documents skipped, with why.
        rejected: Vec<Rejection>,
    },
    /// The KEV catalog.
    Kev {
        /// Its version.
        version: String,
        /// Its entries.
        entries: Vec<KevRecord>,
        /// Entries skipped.
        rejected: Vec<Rejection>,
    },
    /// EPSS scores.
    Epss {
        /// The scores.
        scores: Vec<EpssRecord>,
        /// Rows skipped.
        rejected: Vec<Rejection>,
    },
}

/// A document (or entry) that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Rejection {
    /// The file, with the archive member or entry where there is one.
    pub file: String,
    /// What was wrong.
    pub reason: String,
}

/// Reads an uploaded file named `name`. `Err` means the file as a whole is
/// unusable (nothing of it may be stored).
pub fn read(
    name: &str,
    bytes: Vec<u8>,
    source: &str,
    fetched_at: Timestamp,
) -> Result<Parsed, String> {
    let options = ReadOptions::new(source, fetched_at);
    let lower = name.to_ascii_lowercase();
    if bytes.starts_with(b"PK\x03\x04") || lower.ends_with(".zip") {
        let documents =
            Documents::zip(Cursor::new(bytes), name, options.limits).map_err(|e| e.to_string())?;
        let mut records = Vec::new();
        let mut rejected = Vec::new();
        for doc in documents {
            match doc.and_then(|d| parse_document(&d, &options)) {
                Ok(a) => records.push(record(&a)),
                Err(e) => rejected.push(Rejection {
                    file: e.location.to_string(),
                    reason: e.reason.to_string(),
                }),
            }
        }
        return Ok(Parsed::Advisories { records, rejected });
    }
    if lower.ends_with(".csv") || bytes.starts_with(b"#model_version") {
        return read_epss(name, &bytes);
    }
    if is_kev(&bytes) {
        let catalog = kev::parse(&bytes, &options.limits).map_err(|e| format!("{name}: {e}"))?;
        let rejected = catalog
            .rejected
            .iter()
            .map(|(i, e)| Rejection {
                file: format!("{name}: vulnerabilities[{i}]"),
                reason: e.to_string(),
            })
            .collect();
        let entries = catalog
            .entries
            .iter()
            .map(|e| KevRecord {
                cve: e.cve.clone(),
                date_added: e.date_added.to_string(),
                due_date: e.due_date.to_string(),
                ransomware: format!("{:?}", e.ransomware),
                vendor: e.vendor.clone(),
                product: e.product.clone(),
                name: e.name.clone(),
                required_action: e.required_action.clone(),
            })
            .collect();
        return Ok(Parsed::Kev {
            version: catalog.version.clone(),
            entries,
            rejected,
        });
    }
    let document = RawDocument {
        location: Location::file(name),
        bytes,
    };
    Ok(match parse_document(&document, &options) {
        Ok(a) => Parsed::Advisories {
            records: vec![record(&a)],
            rejected: Vec::new(),
        },
        Err(e) => Parsed::Advisories {
            records: Vec::new(),
            rejected: vec![Rejection {
                file: e.location.to_string(),
                reason: e.reason.to_string(),
            }],
        },
    })
}

/// CSAF documents name their version near the top; anything else that is
/// JSON or YAML is read as OSV.
fn parse_document(
    doc: &RawDocument,
    options: &ReadOptions,
) -> Result<Advisory, rivet_advisory::DocumentError> {
    let head = &doc.bytes[..doc.bytes.len().min(64 * 1024)];
    if contains(head, b"\"csaf_version\"") {
        csaf::parse_document(doc, options, SignatureStatus::Unsigned)
    } else {
        osv::parse_document(doc, options)
    }
}

fn is_kev(bytes: &[u8]) -> bool {
    contains(&bytes[..bytes.len().min(4096)], b"\"catalogVersion\"")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn read_epss(name: &str, bytes: &[u8]) -> Result<Parsed, String> {
    let scores = epss::read(bytes).map_err(|e| format!("{name}: {e}"))?;
    let (model_version, score_date) = (scores.model_version.clone(), scores.score_date);
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    for (row, score) in scores.enumerate() {
        match score {
            Ok(s) => out.push(EpssRecord {
                cve: s.cve,
                score: s.epss,
                percentile: s.percentile,
                score_date,
                model_version: model_version.clone(),
            }),
            Err(e) => rejected.push(Rejection {
                file: format!("{name}: row {}", row + 1),
                reason: e.to_string(),
            }),
        }
    }
    Ok(Parsed::Epss {
        scores: out,
        rejected,
    })
}

/// The severity class of a CVSS base score.
pub fn severity_class(score: f64) -> &'static str {
    match score {
        s if s >= 9.0 => "critical",
        s if s >= 7.0 => "high",
        s if s >= 4.0 => "medium",
        s if s > 0.0 => "low",
        _ => "none",
    }
}

/// The stored form of an advisory.
pub fn record(a: &Advisory) -> AdvisoryRecord {
    let score = a
        .severity
        .iter()
        .filter_map(|s| s.score)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    // A vendor's word for the severity, when it is one of the usual words
    // (documents put other texts there too).
    let vendor = a
        .severity
        .iter()
        .find_map(|s| match (&s.kind, &s.vendor_rating) {
            (SeverityKind::Vendor(_), Some(r)) => {
                let r = r.to_lowercase();
                const WORDS: [&str; 9] = [
                    "critical",
                    "important",
                    "high",
                    "moderate",
                    "medium",
                    "low",
                    "negligible",
                    "none",
                    "unknown",
                ];
                WORDS.contains(&r.as_str()).then_some(r)
            }
            _ => None,
        });
    let mut packages = Vec::new();
    for affected in a.affected.iter().filter(|x| x.status == Status::Affected) {
        let row = |fixed: Option<&String>| AffectedPackage {
            ecosystem: affected.ecosystem.clone(),
            ecosystem_name: affected.parsed_ecosystem.name.clone(),
            package: affected.package.clone(),
            fixed: fixed.cloned(),
        };
        if affected.fixed.is_empty() {
            packages.push(row(None));
        } else {
            packages.extend(affected.fixed.iter().map(|f| row(Some(f))));
        }
    }
    AdvisoryRecord {
        key: a.document_key(),
        id: a.id.clone(),
        format: match a.format {
            Format::Osv => "osv".into(),
            Format::Csaf => "csaf".into(),
        },
        title: a.title.clone(),
        published: a.published,
        modified: a.modified,
        withdrawn: a.withdrawn,
        severity_score: score,
        severity: vendor.or_else(|| score.map(|s| severity_class(s).to_owned())),
        aliases: a.aliases.clone(),
        packages,
        source: a.provenance.source.clone(),
        location: a.provenance.location.to_string(),
        fetched_at: a.provenance.fetched_at,
        content_sha256: a.provenance.content_sha256.clone(),
        signature: match &a.provenance.signature {
            SignatureStatus::Unsigned => "unsigned".into(),
            SignatureStatus::Verified { fingerprint } => format!("verified:{fingerprint}"),
            SignatureStatus::Failed { reason } => format!("failed:{reason}"),
        },
        body: serde_json::to_string(a).unwrap_or_else(|_| "{}".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn an_osv_document_becomes_a_record() {
        let doc = br#"{"id": "RUSTSEC-2099-0001", "modified": "2024-01-02T00:00:00Z", "aliases": ["CVE-2099-1"],
            "affected": [{"package": {"ecosystem": "crates.io", "name": "foo"},
              "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.3"}]}]}],
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#;
        let Parsed::Advisories { records, rejected } =
            read("foo.json", doc.to_vec(), "upload", at()).unwrap()
        else {
            panic!("not advisories")
        };
        assert!(rejected.is_empty());
        let r = &records[0];
        assert_eq!(r.id, "RUSTSEC-2099-0001");
        assert_eq!(r.key, "RUSTSEC-2099-0001@foo.json");
        assert_eq!(r.severity_score, Some(9.8));
        assert_eq!(r.severity.as_deref(), Some("critical"));
        assert_eq!(r.packages[0].fixed.as_deref(), Some("1.2.3"));
        assert_eq!(r.packages[0].ecosystem_name, "crates.io");
        assert!(r.body.contains("\"fixed\":[\"1.2.3\"]"), "{}", r.body);
    }

    #[test]
    fn bad_input_is_reported_not_fatal() {
        let Parsed::Advisories { records, rejected } =
            read("x.json", b"{\"id\": 5}".to_vec(), "u", at()).unwrap()
        else {
            panic!()
        };
        assert!(records.is_empty());
        assert_eq!(rejected[0].file, "x.json");
        let truncated = read("osv.zip", b"PK\x03\x04 not really".to_vec(), "u", at());
        assert!(truncated.unwrap_err().contains("zip"));
        assert_eq!(severity_class(6.5), "medium");
    }
}

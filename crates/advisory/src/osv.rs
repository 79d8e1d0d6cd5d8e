//! OSV records (JSON or YAML) read into the normalised model: single files,
//! directory trees, and osv.dev's `all.zip` archives, member by member.

use std::path::Path;

use rivet_core::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{DocumentError, ParseError, SourceError, from_json, from_yaml};
use crate::model::{
    Advisory, Affected, Binary, Ecosystem, Event, Format, Provenance, Range, RangeKind, Reference,
    Severity, SeverityKind, SignatureStatus, Status,
};
use crate::source::{Advisories, Documents, RawDocument, ReadOptions};

/// The two syntaxes OSV records are published in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// JSON, as osv.dev serves it.
    Json,
    /// YAML, as the PyPA advisory database keeps it.
    Yaml,
}

impl Syntax {
    /// The syntax a file name implies: `.yaml`/`.yml` is YAML, anything else JSON.
    pub fn of(name: &str) -> Syntax {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Syntax::Yaml
        } else {
            Syntax::Json
        }
    }
}

/// Reads every OSV record under `path` (a file, a directory tree or a `.zip`).
pub fn read(path: &Path, options: &ReadOptions) -> Result<Advisories, SourceError> {
    let documents = Documents::open(path, options.limits)?;
    Ok(Advisories::new(documents, options.clone(), parse_document))
}

/// Parses one OSV document, choosing the syntax by its location's name.
pub fn parse_document(
    document: &RawDocument,
    options: &ReadOptions,
) -> Result<Advisory, DocumentError> {
    let location = &document.location;
    let name = location.member.as_deref().unwrap_or(&location.container);
    let provenance = options.provenance(location, &document.bytes, SignatureStatus::Unsigned);
    parse(&document.bytes, Syntax::of(name), provenance).map_err(|e| e.at(location))
}

/// Parses one OSV record from its bytes.
pub fn parse(bytes: &[u8], syntax: Syntax, provenance: Provenance) -> Result<Advisory, ParseError> {
    let raw: RawRecord = match syntax {
        Syntax::Json => from_json(bytes)?,
        Syntax::Yaml => from_yaml(bytes)?,
    };
    normalise(raw, provenance)
}

#[derive(Deserialize)]
struct RawRecord {
    id: String,
    #[serde(default, deserialize_with = "nullable")]
    aliases: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    related: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    upstream: Vec<String>,
    summary: Option<String>,
    details: Option<String>,
    published: Option<String>,
    modified: Option<String>,
    withdrawn: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    severity: Vec<RawSeverity>,
    #[serde(default, deserialize_with = "nullable")]
    affected: Vec<RawAffected>,
    #[serde(default, deserialize_with = "nullable")]
    references: Vec<RawReference>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    #[serde(default, deserialize_with = "nullable")]
    ranges: Vec<RawRange>,
    #[serde(default, deserialize_with = "nullable")]
    versions: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    severity: Vec<RawSeverity>,
    ecosystem_specific: Option<Value>,
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    #[serde(default)]
    ecosystem: String,
    #[serde(default)]
    name: String,
    purl: Option<String>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    repo: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
    limit: Option<String>,
}

#[derive(Deserialize)]
struct RawReference {
    #[serde(rename = "type", default)]
    kind: String,
    url: String,
}

/// An absent list and a `null` list both mean empty.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn normalise(raw: RawRecord, provenance: Provenance) -> Result<Advisory, ParseError> {
    if raw.id.trim().is_empty() {
        return Err(ParseError::invalid("id", "is empty"));
    }
    let mut severity: Vec<Severity> = raw.severity.iter().map(|s| severity_of(s, None)).collect();
    let mut affected = Vec::with_capacity(raw.affected.len());
    for (index, entry) in raw.affected.into_iter().enumerate() {
        for s in &entry.severity {
            let rated = severity_of(s, None);
            if !severity.contains(&rated) {
                severity.push(rated);
            }
        }
        affected.push(affected_of(entry).map_err(|e| match e {
            ParseError::Invalid { field, message } => ParseError::Invalid {
                field: format!("affected[{index}].{field}"),
                message,
            },
            other => other,
        })?);
    }
    Ok(Advisory {
        id: raw.id,
        format: Format::Osv,
        aliases: raw.aliases,
        related: raw.related,
        upstream: raw.upstream,
        title: raw.summary.filter(|s| !s.is_empty()),
        details: raw.details.filter(|s| !s.is_empty()),
        published: timestamp("published", raw.published.as_deref())?,
        modified: timestamp("modified", raw.modified.as_deref())?,
        withdrawn: timestamp("withdrawn", raw.withdrawn.as_deref())?,
        severity,
        affected,
        references: raw
            .references
            .into_iter()
            .map(|r| Reference {
                kind: r.kind,
                url: r.url,
            })
            .collect(),
        workarounds: Vec::new(),
        remediations: Vec::new(),
        exploitation: Vec::new(),
        provenance,
    })
}

fn affected_of(raw: RawAffected) -> Result<Affected, ParseError> {
    let (ecosystem, package, purl) = match raw.package {
        Some(p) => (p.ecosystem, p.name, p.purl),
        None => Default::default(),
    };
    let parsed_ecosystem = Ecosystem::parse(&ecosystem);
    let mut ranges = Vec::with_capacity(raw.ranges.len());
    for (index, range) in raw.ranges.into_iter().enumerate() {
        let kind = match range.kind.as_str() {
            "ECOSYSTEM" => RangeKind::Ecosystem,
            "SEMVER" => RangeKind::Semver,
            "GIT" => RangeKind::Git,
            other => {
                return Err(ParseError::invalid(
                    format!("ranges[{index}].type"),
                    format!("unknown range type {other:?}"),
                ));
            }
        };
        let events = range
            .events
            .into_iter()
            .filter_map(|e| {
                // Exactly one key per event in valid OSV; the first present wins.
                e.introduced
                    .map(Event::Introduced)
                    .or(e.fixed.map(Event::Fixed))
                    .or(e.last_affected.map(Event::LastAffected))
                    .or(e.limit.map(Event::Limit))
            })
            .collect();
        ranges.push(Range {
            kind,
            repo: range.repo,
            events,
        });
    }
    let specific = [&raw.ecosystem_specific, &raw.database_specific];
    Ok(Affected {
        scheme: parsed_ecosystem.scheme(),
        parsed_ecosystem,
        ecosystem,
        package,
        purl,
        cpe: None,
        status: Status::Affected,
        fixed: fixed_versions(&ranges),
        ranges,
        versions: raw.versions,
        architectures: architectures(&specific),
        binaries: raw
            .ecosystem_specific
            .as_ref()
            .map(binaries)
            .unwrap_or_default(),
        vulnerability: None,
    })
}

/// The `fixed` versions of the non-git ranges, first occurrence first.
pub(crate) fn fixed_versions(ranges: &[Range]) -> Vec<String> {
    let mut fixed: Vec<String> = Vec::new();
    for range in ranges.iter().filter(|r| r.kind != RangeKind::Git) {
        for event in &range.events {
            if let Event::Fixed(v) = event
                && !fixed.contains(v)
            {
                fixed.push(v.clone());
            }
        }
    }
    fixed
}

/// Architectures named in `ecosystem_specific` or `database_specific`
/// (`arch`, `architectures`, or RustSec's `affects.arch`).
fn architectures(specific: &[&Option<Value>]) -> Vec<String> {
    let mut found = Vec::new();
    for value in specific.iter().filter_map(|v| v.as_ref()) {
        for pointer in ["/arch", "/architectures", "/affects/arch"] {
            match value.pointer(pointer) {
                Some(Value::String(s)) => found.push(s.clone()),
                Some(Value::Array(items)) => {
                    found.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned)));
                }
                _ => {}
            }
        }
    }
    found.dedup();
    found
}

/// Binary packages from `ecosystem_specific.binaries`: Ubuntu's
/// `{binary_name, binary_version}` objects, SUSE's `{name: version}` maps,
/// or plain names.
fn binaries(specific: &Value) -> Vec<Binary> {
    let Some(Value::Array(items)) = specific.get("binaries") else {
        return Vec::new();
    };
    let text = |v: &Value| v.as_str().map(str::to_owned);
    items
        .iter()
        .flat_map(|item| match item {
            Value::String(name) => vec![Binary {
                name: name.clone(),
                version: None,
            }],
            Value::Object(map) if map.contains_key("binary_name") => map
                .get("binary_name")
                .and_then(text)
                .map(|name| Binary {
                    name,
                    version: map.get("binary_version").and_then(text),
                })
                .into_iter()
                .collect(),
            Value::Object(map) => map
                .iter()
                .map(|(name, version)| Binary {
                    name: name.clone(),
                    version: text(version),
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn severity_of(raw: &RawSeverity, vulnerability: Option<&str>) -> Severity {
    let cvss = |kind| Severity {
        kind,
        score: cvss_score(&raw.score),
        vector: Some(raw.score.clone()),
        vendor_rating: None,
        vulnerability: vulnerability.map(str::to_owned),
    };
    match raw.kind.as_str() {
        "CVSS_V2" => cvss(SeverityKind::CvssV2),
        "CVSS_V3" => cvss(SeverityKind::CvssV3),
        "CVSS_V4" => cvss(SeverityKind::CvssV4),
        other => Severity {
            kind: SeverityKind::Vendor(other.to_owned()),
            score: None,
            vector: None,
            vendor_rating: Some(raw.score.clone()),
            vulnerability: vulnerability.map(str::to_owned),
        },
    }
}

/// The CVSS base score of a vector string (v2, v3.x or v4.0), or `None` when
/// the vector is not one the `cvss` crate accepts.
pub fn cvss_score(vector: &str) -> Option<f64> {
    if vector.starts_with("CVSS:4") {
        vector
            .parse::<cvss::v4::Vector>()
            .ok()
            .map(|v| v.score().value())
    } else if vector.starts_with("CVSS:3") {
        vector
            .parse::<cvss::v3::Vector>()
            .ok()
            .map(|v| v.score().value())
    } else {
        vector
            .parse::<cvss::v2::Vector>()
            .ok()
            .map(|v| v.score().value())
    }
}

/// Reads an OSV or CSAF timestamp. RFC 3339 is expected; a date-time without
/// an offset, or a bare date, is taken as UTC because some feeds publish those.
pub(crate) fn timestamp(field: &str, text: Option<&str>) -> Result<Option<Timestamp>, ParseError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(Some(t));
    }
    let utc = jiff::tz::TimeZone::UTC;
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>()
        && let Ok(t) = utc.to_timestamp(dt)
    {
        return Ok(Some(t));
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>()
        && let Ok(t) = utc.to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
    {
        return Ok(Some(t));
    }
    Err(ParseError::invalid(
        field,
        format!("{text:?} is not an RFC 3339 timestamp"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        at: String,
        v: Vec<String>,
    }

    #[test]
    fn yaml_scalars_keep_their_text() {
        let p: Probe = from_yaml(b"at: 2023-07-24T14:58:05.562874Z\nv: [4.10, 0, 1.0]\n").unwrap();
        assert_eq!(p.at, "2023-07-24T14:58:05.562874Z");
        assert_eq!(p.v, ["4.10", "0", "1.0"]);
    }

    #[test]
    fn cvss_scores_are_computed() {
        assert_eq!(
            cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some(9.8)
        );
        assert_eq!(
            cvss_score("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some(8.1)
        );
        assert_eq!(cvss_score("AV:N/AC:L/Au:N/C:P/I:P/A:P"), Some(7.5));
        assert_eq!(cvss_score("nonsense"), None);
    }
}

//! CISA's Known Exploited Vulnerabilities catalog, read into enrichment
//! records keyed by CVE id (ADV-1, ASM-4). An entry that does not parse is
//! set aside with its index and reason; the rest of the catalog is kept.

use jiff::civil::Date;
use rivet_core::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ParseError, from_json};
use crate::source::Limits;

/// The catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// The catalog's title.
    pub title: String,
    /// Its version (`2025.08.25`).
    pub version: String,
    /// When it was released.
    pub released: Option<Timestamp>,
    /// The entries that parsed.
    pub entries: Vec<Entry>,
    /// Entries that did not parse: their index and why.
    pub rejected: Vec<(usize, ParseError)>,
}

impl Catalog {
    /// The entry for a CVE id.
    pub fn get(&self, cve: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.cve == cve)
    }
}

/// One known exploited vulnerability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The CVE id, the key for enrichment.
    pub cve: String,
    /// The vendor or project.
    pub vendor: String,
    /// The product.
    pub product: String,
    /// CISA's name for the vulnerability.
    pub name: String,
    /// When CISA added it to the catalog.
    pub date_added: Date,
    /// The remediation deadline for US federal agencies.
    pub due_date: Date,
    /// Short description.
    pub description: String,
    /// The action CISA requires.
    pub required_action: String,
    /// Whether it is known to be used in ransomware campaigns.
    pub ransomware: Ransomware,
    /// Notes (links).
    pub notes: String,
    /// CWE ids.
    pub cwes: Vec<String>,
}

/// `knownRansomwareCampaignUse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ransomware {
    /// Known to be used.
    Known,
    /// Not known.
    Unknown,
    /// A value CISA has not used before.
    Other(String),
}

#[derive(Deserialize)]
struct RawCatalog {
    #[serde(default)]
    title: String,
    #[serde(rename = "catalogVersion", default)]
    version: String,
    #[serde(rename = "dateReleased")]
    released: Option<String>,
    vulnerabilities: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    vendor_project: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    vulnerability_name: String,
    date_added: String,
    due_date: String,
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    required_action: String,
    #[serde(default)]
    known_ransomware_campaign_use: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    cwes: Vec<String>,
}

/// Parses the catalog JSON (`known_exploited_vulnerabilities.json`).
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Catalog, ParseError> {
    if bytes.len() as u64 > limits.max_document_bytes {
        return Err(ParseError::TooLarge {
            limit: limits.max_document_bytes,
        });
    }
    let raw: RawCatalog = from_json(bytes)?;
    let mut entries = Vec::with_capacity(raw.vulnerabilities.len());
    let mut rejected = Vec::new();
    for (index, value) in raw.vulnerabilities.into_iter().enumerate() {
        match entry(value) {
            Ok(e) => entries.push(e),
            Err(e) => rejected.push((index, e)),
        }
    }
    Ok(Catalog {
        title: raw.title,
        version: raw.version,
        released: crate::osv::timestamp("dateReleased", raw.released.as_deref())?,
        entries,
        rejected,
    })
}

fn entry(value: Value) -> Result<Entry, ParseError> {
    let raw: RawEntry = serde_path_to_error::deserialize(value).map_err(ParseError::json)?;
    let date = |field: &str, text: &str| {
        text.parse::<Date>()
            .map_err(|e| ParseError::invalid(field, format!("{text:?}: {e}")))
    };
    Ok(Entry {
        date_added: date("dateAdded", &raw.date_added)?,
        due_date: date("dueDate", &raw.due_date)?,
        ransomware: match raw.known_ransomware_campaign_use.as_str() {
            "Known" => Ransomware::Known,
            "Unknown" => Ransomware::Unknown,
            other => Ransomware::Other(other.to_owned()),
        },
        cve: raw.cve_id,
        vendor: raw.vendor_project,
        product: raw.product,
        name: raw.vulnerability_name,
        description: raw.short_description,
        required_action: raw.required_action,
        notes: raw.notes,
        cwes: raw.cwes,
    })
}

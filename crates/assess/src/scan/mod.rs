//! `rivet scan` as a library (ASM-8): the same engine the server runs, on an
//! inventory file, offline, like a CI scanner. This module is the I/O edge
//! of the crate: it reads the inventory (with the parsers the server's host
//! import uses), the advisories (the same paths `rivet advisories import`
//! accepts: OSV and CSAF files, directories of them, `all.zip` archives, a
//! KEV catalogue among them), runs the engine and hands a [`Report`] to
//! [`render`]. The time is a parameter here too: it only stamps the
//! advisories' provenance.

pub mod render;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rivet_advisory::model::{Advisory, SignatureStatus};
use rivet_advisory::{DocumentError, Documents, Location, RawDocument, ReadOptions, SourceError};
use rivet_advisory::{csaf, kev, osv};
use rivet_agent::packages::{Collected, apk, dpkg};
use rivet_core::Timestamp;
use rivet_core::inventory::{HostFacts, OsRelease};
use rivet_core::sbom;
use serde_json::Value;

use crate::assessment::{Assessment, assess_host};
use crate::index::{Index, Match};
use crate::package::InstalledPackage;

/// The inventory formats `rivet scan` reads, as the host import does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InventoryFormat {
    /// `/var/lib/dpkg/status`.
    DpkgStatus,
    /// `rpm -qa` output (plain NEVRA lines or tab-separated fields).
    RpmQa,
    /// `/lib/apk/db/installed`.
    ApkInstalled,
    /// A CycloneDX JSON SBOM (OS packages by `pkg:deb`, `pkg:rpm`, `pkg:apk`
    /// purls; language packages by `pkg:cargo`, `pkg:pypi`, …).
    CycloneDx,
}

impl InventoryFormat {
    /// Every format, in a fixed order.
    pub const ALL: [InventoryFormat; 4] = [
        InventoryFormat::DpkgStatus,
        InventoryFormat::RpmQa,
        InventoryFormat::ApkInstalled,
        InventoryFormat::CycloneDx,
    ];

    /// The name on the command line (`dpkg-status`, …).
    pub fn name(self) -> &'static str {
        match self {
            InventoryFormat::DpkgStatus => "dpkg-status",
            InventoryFormat::RpmQa => "rpm-qa",
            InventoryFormat::ApkInstalled => "apk-installed",
            InventoryFormat::CycloneDx => "cyclonedx",
        }
    }
}

impl InventoryFormat {
    /// Tells the format from the file's beginning: JSON is CycloneDX, a
    /// `Package:` field dpkg's status file, a `P:` line apk's database, and
    /// anything else `rpm -qa` output (which [`parse_inventory`] checks
    /// line by line).
    pub fn detect(bytes: &[u8]) -> InventoryFormat {
        let head = &bytes[..bytes.len().min(64 * 1024)];
        let text = String::from_utf8_lossy(head);
        if text.trim_start().starts_with('{') {
            return InventoryFormat::CycloneDx;
        }
        for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            if line.starts_with("Package:") {
                return InventoryFormat::DpkgStatus;
            }
            if line.starts_with("P:") {
                return InventoryFormat::ApkInstalled;
            }
        }
        InventoryFormat::RpmQa
    }
}

impl fmt::Display for InventoryFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for InventoryFormat {
    type Err = ScanError;
    fn from_str(s: &str) -> Result<Self, ScanError> {
        InventoryFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| ScanError::UnknownFormat(s.to_owned()))
    }
}

/// Why a scan could not run; each names the file and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The inventory is not text.
    #[error("{path}: not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// The file.
        path: String,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// The inventory is malformed.
    #[error("{path}: not a valid {format} file: {message}")]
    Inventory {
        /// The file.
        path: String,
        /// The format it was read as.
        format: InventoryFormat,
        /// What is wrong, with the line or JSON path.
        message: String,
    },
    /// The inventory lists no packages.
    #[error("{path}: holds no packages (is it a {format} file?)")]
    NoPackages {
        /// The file.
        path: String,
        /// The format it was read as.
        format: InventoryFormat,
    },
    /// An advisory source cannot be read as a whole (a truncated archive).
    #[error(transparent)]
    Advisories(#[from] SourceError),
    /// A KEV catalogue that does not parse.
    #[error("{path}: not a readable KEV catalogue: {message}")]
    Kev {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An `--os` value that is not `ID:VERSION_ID`.
    #[error("OS {value:?}: {message}")]
    Os {
        /// The value given.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// An inventory format name that is not known.
    #[error(
        "unknown inventory format {0:?} (expected dpkg-status, rpm-qa, apk-installed or cyclonedx)"
    )]
    UnknownFormat(String),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ScanError + '_ {
    move |source| ScanError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads an OS given as `ID:VERSION_ID` (`debian:12`, `ubuntu:22.04`,
/// `almalinux:9.4`), as os-release would name it.
pub fn parse_os(value: &str) -> Result<OsRelease, ScanError> {
    let bad = |message: &str| ScanError::Os {
        value: value.to_owned(),
        message: message.to_owned(),
    };
    let (id, version) = value
        .split_once(':')
        .ok_or_else(|| bad("expected ID:VERSION_ID as os-release names them, e.g. debian:12"))?;
    let id = id.trim().to_ascii_lowercase();
    let version = version.trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if !token(&id) || !token(version) {
        return Err(bad(
            "ID and VERSION_ID must be non-empty words of letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(OsRelease {
        id,
        version_id: Some(version.to_owned()),
        ..OsRelease::default()
    })
}

/// An inventory read for scanning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanInventory {
    /// Where it came from (the file name), for messages and SARIF.
    pub source: String,
    /// Host facts it gives (an SBOM's OS), with the OS override applied.
    pub host: HostFacts,
    /// OS and language packages.
    pub packages: Vec<InstalledPackage>,
    /// SBOM components that are no package Rivet can assess, by purl type.
    pub skipped: BTreeMap<String, usize>,
}

/// Reads an inventory file.
pub fn read_inventory(
    path: &Path,
    format: InventoryFormat,
    os: Option<OsRelease>,
) -> Result<ScanInventory, ScanError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| {
            f.take(sbom::MAX_IMPORT_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(io_error(path))?;
    parse_inventory(&path.display().to_string(), &bytes, format, os)
}

/// Parses an inventory's bytes; `name` names it in errors. `os`, when
/// given, replaces whatever OS the inventory says (a dpkg status file says
/// none).
pub fn parse_inventory(
    name: &str,
    bytes: &[u8],
    format: InventoryFormat,
    os: Option<OsRelease>,
) -> Result<ScanInventory, ScanError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ScanError::NotUtf8 {
        path: name.to_owned(),
        offset: e.valid_up_to(),
    })?;
    let invalid = |message: String| ScanError::Inventory {
        path: name.to_owned(),
        format,
        message,
    };
    if bytes.len() > sbom::MAX_IMPORT_BYTES {
        return Err(invalid(format!(
            "larger than {} bytes",
            sbom::MAX_IMPORT_BYTES
        )));
    }
    let mut inventory = ScanInventory {
        source: name.to_owned(),
        ..ScanInventory::default()
    };
    let collected = |c: Collected| -> Result<Vec<InstalledPackage>, ScanError> {
        if let Some(problem) = c.problems.first() {
            let place = problem
                .line
                .map(|l| format!("line {l}: "))
                .unwrap_or_default();
            return Err(invalid(format!(
                "{place}{} ({} malformed records in all)",
                problem.message,
                c.problems.len()
            )));
        }
        Ok(c.packages.into_iter().map(InstalledPackage::from).collect())
    };
    match format {
        InventoryFormat::DpkgStatus => {
            inventory.packages = collected(dpkg::parse_status(text, name))?;
        }
        InventoryFormat::ApkInstalled => {
            inventory.packages = collected(apk::parse_installed(text, name))?;
        }
        InventoryFormat::RpmQa => {
            let packages = sbom::parse_rpm_qa(text).map_err(|e| invalid(e.to_string()))?;
            inventory.packages = packages.into_iter().map(InstalledPackage::from).collect();
        }
        InventoryFormat::CycloneDx => {
            let imported = sbom::parse_cyclonedx(text).map_err(|e| invalid(e.to_string()))?;
            inventory.host = imported.host;
            inventory.skipped = imported.skipped;
            inventory.packages = imported
                .packages
                .into_iter()
                .map(InstalledPackage::from)
                .collect();
            // parse_cyclonedx keeps OS packages only and counts the others;
            // the language packages among them are assessed too.
            let value: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
            for package in language_packages(&value) {
                if let Some(kind) = package
                    .purl
                    .as_deref()
                    .and_then(rivet_advisory::purl::Purl::parse)
                    .map(|p| p.kind)
                    && let Some(count) = inventory.skipped.get_mut(&kind)
                {
                    *count -= 1;
                    if *count == 0 {
                        inventory.skipped.remove(&kind);
                    }
                }
                inventory.packages.push(package);
            }
        }
    }
    if inventory.packages.is_empty() {
        return Err(ScanError::NoPackages {
            path: name.to_owned(),
            format,
        });
    }
    if let Some(os) = os {
        inventory.host.os = Some(os);
    }
    Ok(inventory)
}

/// The language packages of a CycloneDX BOM (already validated by
/// [`sbom::parse_cyclonedx`]), from their purls, at any depth of nesting.
fn language_packages(bom: &Value) -> Vec<InstalledPackage> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = vec![bom];
    while let Some(node) = stack.pop() {
        let Some(components) = node.get("components").and_then(Value::as_array) else {
            continue;
        };
        for component in components.iter().rev() {
            if let Some(package) = component
                .get("purl")
                .and_then(Value::as_str)
                .and_then(InstalledPackage::from_purl)
            {
                out.push(package);
            }
            stack.push(component);
        }
    }
    out
}

/// A document that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// The file, with the archive member where there is one.
    pub file: String,
    /// What was wrong.
    pub reason: String,
}

impl From<DocumentError> for Rejected {
    fn from(e: DocumentError) -> Self {
        Rejected {
            file: e.location.to_string(),
            reason: e.reason.to_string(),
        }
    }
}

/// Known exploited CVEs (CISA KEV), for enrichment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kev {
    /// The catalogue's version.
    pub version: String,
    cves: HashSet<String>,
}

impl Kev {
    /// A catalogue of these CVE ids.
    pub fn new(version: impl Into<String>, cves: impl IntoIterator<Item = String>) -> Kev {
        Kev {
            version: version.into(),
            cves: cves.into_iter().collect(),
        }
    }

    /// Whether a CVE is known to be exploited.
    pub fn contains(&self, cve: &str) -> bool {
        self.cves.contains(cve)
    }

    /// How many CVEs it lists.
    pub fn len(&self) -> usize {
        self.cves.len()
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.cves.is_empty()
    }

    fn parse(name: &str, bytes: &[u8]) -> Result<Kev, ScanError> {
        let catalog =
            kev::parse(bytes, &rivet_advisory::Limits::default()).map_err(|e| ScanError::Kev {
                path: name.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Kev::new(
            catalog.version,
            catalog.entries.into_iter().map(|e| e.cve),
        ))
    }
}

/// Reads a KEV catalogue (`known_exploited_vulnerabilities.json`).
pub fn read_kev(path: &Path) -> Result<Kev, ScanError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    Kev::parse(&path.display().to_string(), &bytes)
}

/// What the advisory paths held.
#[derive(Debug, Clone, Default)]
pub struct AdvisorySet {
    /// The advisories read.
    pub advisories: Vec<Advisory>,
    /// Documents that could not be read, with why; the rest were used.
    pub rejected: Vec<Rejected>,
    /// A KEV catalogue found among the paths.
    pub kev: Option<Kev>,
    /// Files that hold no advisories (EPSS scores), not used by a scan.
    pub ignored: Vec<String>,
}

/// The files a path stands for, as `rivet advisories import` takes them: the
/// file itself, or every `.json`, `.yaml`, `.yml`, `.zip` and `.csv` file
/// under a directory, sorted.
fn advisory_files(path: &Path) -> Result<Vec<PathBuf>, ScanError> {
    let meta = std::fs::metadata(path).map_err(io_error(path))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let p = entry.path();
            // Symbolic links are not followed, as the advisory reader does.
            let kind = entry.file_type().map_err(io_error(&p))?;
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_file() {
                let ext = p
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if matches!(ext.as_str(), "json" | "yaml" | "yml" | "zip" | "csv") {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the advisories under these paths (files, directories, zip
/// archives), as `rivet advisories import` does: CSAF documents are told
/// from OSV ones by their `csaf_version`; a KEV catalogue among them is
/// kept for enrichment; EPSS files are set aside. A malformed document is
/// rejected with its location and the rest are read; a source that cannot
/// be read as a whole fails the call. `fetched_at` stamps the provenance.
pub fn read_advisories(paths: &[PathBuf], fetched_at: Timestamp) -> Result<AdvisorySet, ScanError> {
    let options = ReadOptions::new("scan", fetched_at);
    let limit = options.limits.max_document_bytes;
    let mut set = AdvisorySet::default();
    for path in paths {
        for file in advisory_files(path)? {
            let name = file.display().to_string();
            let lower = name.to_ascii_lowercase();
            let mut head = [0u8; 4];
            let head_len = File::open(&file)
                .and_then(|mut f| f.read(&mut head))
                .map_err(io_error(&file))?;
            if lower.ends_with(".zip") || head[..head_len] == *b"PK\x03\x04" {
                let reader = File::open(&file).map_err(io_error(&file))?;
                for document in Documents::zip(reader, name.clone(), options.limits)? {
                    match document.and_then(|d| parse_document(&d, &options)) {
                        Ok(a) => set.advisories.push(a),
                        Err(e) => set.rejected.push(e.into()),
                    }
                }
                continue;
            }
            let size = std::fs::metadata(&file).map_err(io_error(&file))?.len();
            if size > limit {
                set.rejected.push(Rejected {
                    file: name,
                    reason: format!("document is larger than the limit of {limit} bytes"),
                });
                continue;
            }
            let bytes = std::fs::read(&file).map_err(io_error(&file))?;
            if lower.ends_with(".csv") || bytes.starts_with(b"#model_version") {
                set.ignored.push(name);
                continue;
            }
            if contains(&bytes[..bytes.len().min(4096)], b"\"catalogVersion\"") {
                set.kev = Some(Kev::parse(&name, &bytes)?);
                continue;
            }
            let document = RawDocument {
                location: Location::file(name),
                bytes,
            };
            match parse_document(&document, &options) {
                Ok(a) => set.advisories.push(a),
                Err(e) => set.rejected.push(e.into()),
            }
        }
    }
    Ok(set)
}

/// CSAF documents name their version near the top; anything else is OSV.
fn parse_document(doc: &RawDocument, options: &ReadOptions) -> Result<Advisory, DocumentError> {
    let head = &doc.bytes[..doc.bytes.len().min(64 * 1024)];
    if contains(head, b"\"csaf_version\"") {
        csaf::parse_document(doc, options, SignatureStatus::Unsigned)
    } else {
        osv::parse_document(doc, options)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One affected package in a scan, with its enrichment.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What the engine matched.
    pub matched: Match,
    /// Whether one of the advisory's CVEs is known to be exploited.
    pub kev: bool,
}

/// A scan's result, ready to render.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The inventory's name.
    pub inventory: String,
    /// The engine's assessment (its findings without enrichment).
    pub assessment: Assessment,
    /// The findings with KEV enrichment, in the assessment's order.
    pub findings: Vec<Finding>,
    /// The KEV catalogue's version, when one was used.
    pub kev_version: Option<String>,
    /// Advisory documents that could not be read.
    pub rejected: Vec<Rejected>,
    /// SBOM components not assessed, by purl type.
    pub skipped: BTreeMap<String, usize>,
    /// Advisory documents indexed.
    pub advisories: usize,
}

/// Assesses an inventory against an index, with KEV enrichment.
pub fn scan(index: &Index, inventory: &ScanInventory, kev: Option<&Kev>) -> Report {
    let assessment = assess_host(
        index,
        &inventory.host,
        inventory.packages.iter().map(InstalledPackage::as_ref),
    );
    let findings = assessment
        .findings
        .iter()
        .map(|m| Finding {
            kev: kev.is_some_and(|kev| m.advisory.cves().any(|c| kev.contains(c))),
            matched: m.clone(),
        })
        .collect();
    Report {
        inventory: inventory.source.clone(),
        findings,
        assessment,
        kev_version: kev.map(|k| k.version.clone()),
        rejected: Vec::new(),
        skipped: inventory.skipped.clone(),
        advisories: index.stats().documents,
    }
}

/// Everything `rivet scan` is given.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The inventory file.
    pub inventory: PathBuf,
    /// Its format.
    pub format: InventoryFormat,
    /// The OS, overriding what the inventory says.
    pub os: Option<OsRelease>,
    /// Advisory files, directories and archives.
    pub advisories: Vec<PathBuf>,
    /// A KEV catalogue, overriding one found among the advisories.
    pub kev: Option<PathBuf>,
    /// The time that stamps the advisories' provenance.
    pub fetched_at: Timestamp,
}

/// Reads everything, builds the index and scans: `rivet scan` without the
/// printing.
pub fn run(options: &ScanOptions) -> Result<Report, ScanError> {
    let inventory = read_inventory(&options.inventory, options.format, options.os.clone())?;
    let set = read_advisories(&options.advisories, options.fetched_at)?;
    let kev = match &options.kev {
        Some(path) => Some(read_kev(path)?),
        None => set.kev,
    };
    let index = Index::build(&set.advisories);
    let mut report = scan(&index, &inventory, kev.as_ref());
    report.rejected = set.rejected;
    Ok(report)
}

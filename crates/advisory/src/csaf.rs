//! CSAF 2.0 advisories and VEX documents read into the normalised model, and
//! the discovery documents around them: `provider-metadata.json`, ROLIE feeds
//! and directory listings (`changes.csv`, `index.txt`), read into plain lists
//! of document URLs with their checksum and signature URLs. Fetching is the
//! caller's.
//!
//! For RPM products (Red Hat and the OASIS examples) package names and fixed
//! EVRs are derived from the product's purl (`pkg:rpm/redhat/name@v-r?arch=…&epoch=…`)
//! or, lacking one, from a `name-epoch:version-release.arch` product id, and
//! the ecosystem is named as OSV names it (`Red Hat:enterprise_linux:8::baseos`),
//! so that matching treats them like OSV records.

use std::collections::HashMap;
use std::path::Path;

use rivet_core::version::Scheme;
use serde::Deserialize;

use crate::error::{DocumentError, ParseError, SourceError, from_json};
use crate::model::{
    Advisory, Affected, Ecosystem, Event, Format, Provenance, Range, RangeKind, Reference,
    Remediation, RemediationCategory, Severity, SeverityKind, SignatureStatus, Status,
};
use crate::osv::{cvss_score, timestamp};
use crate::purl::Purl;
use crate::source::{Advisories, Documents, RawDocument, ReadOptions};

/// Reads every CSAF document (`*.json`) under `path`, unsigned.
pub fn read(path: &Path, options: &ReadOptions) -> Result<Advisories, SourceError> {
    let documents = Documents::open(path, options.limits)?;
    Ok(Advisories::new(
        documents,
        options.clone(),
        |document, options| parse_document(document, options, SignatureStatus::Unsigned),
    ))
}

/// Parses one CSAF document whose integrity the caller checked with
/// [`crate::integrity::check`].
pub fn parse_document(
    document: &RawDocument,
    options: &ReadOptions,
    signature: SignatureStatus,
) -> Result<Advisory, DocumentError> {
    let location = &document.location;
    if document.bytes.len() as u64 > options.limits.max_document_bytes {
        return Err(ParseError::TooLarge {
            limit: options.limits.max_document_bytes,
        }
        .at(location));
    }
    let provenance = options.provenance(location, &document.bytes, signature);
    parse(&document.bytes, provenance).map_err(|e| e.at(location))
}

/// Parses one CSAF 2.0 document from its bytes.
pub fn parse(bytes: &[u8], provenance: Provenance) -> Result<Advisory, ParseError> {
    let raw: RawCsaf = from_json(bytes)?;
    normalise(raw, provenance)
}

#[derive(Deserialize)]
struct RawCsaf {
    document: RawDocumentMeta,
    product_tree: Option<RawProductTree>,
    #[serde(default)]
    vulnerabilities: Vec<RawVulnerability>,
}

#[derive(Deserialize)]
struct RawDocumentMeta {
    // Required by CSAF; any category is read the same way.
    #[serde(rename = "category")]
    _category: String,
    csaf_version: String,
    title: String,
    tracking: RawTracking,
    publisher: RawPublisher,
    aggregate_severity: Option<RawAggregateSeverity>,
    #[serde(default)]
    notes: Vec<RawNote>,
    #[serde(default)]
    references: Vec<RawReference>,
}

#[derive(Deserialize)]
struct RawTracking {
    id: String,
    initial_release_date: Option<String>,
    current_release_date: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Deserialize)]
struct RawPublisher {
    name: String,
    namespace: Option<String>,
}

#[derive(Deserialize)]
struct RawAggregateSeverity {
    namespace: Option<String>,
    text: String,
}

#[derive(Deserialize)]
struct RawNote {
    category: String,
    text: String,
}

#[derive(Deserialize)]
struct RawReference {
    #[serde(default)]
    category: Option<String>,
    url: String,
}

#[derive(Deserialize, Default)]
struct RawProductTree {
    #[serde(default)]
    branches: Vec<RawBranch>,
    #[serde(default)]
    full_product_names: Vec<RawProduct>,
    #[serde(default)]
    relationships: Vec<RawRelationship>,
}

#[derive(Deserialize)]
struct RawBranch {
    category: String,
    name: String,
    product: Option<RawProduct>,
    #[serde(default)]
    branches: Vec<RawBranch>,
}

#[derive(Deserialize, Clone)]
struct RawProduct {
    name: String,
    product_id: String,
    product_identification_helper: Option<RawHelper>,
}

#[derive(Deserialize, Clone)]
struct RawHelper {
    cpe: Option<String>,
    purl: Option<String>,
}

#[derive(Deserialize)]
struct RawRelationship {
    full_product_name: RawProduct,
    product_reference: String,
    relates_to_product_reference: String,
}

#[derive(Deserialize)]
struct RawVulnerability {
    cve: Option<String>,
    #[serde(default)]
    ids: Vec<RawId>,
    title: Option<String>,
    #[serde(default)]
    notes: Vec<RawNote>,
    #[serde(default)]
    product_status: RawProductStatus,
    #[serde(default)]
    remediations: Vec<RawRemediation>,
    #[serde(default)]
    scores: Vec<RawScore>,
    #[serde(default)]
    threats: Vec<RawThreat>,
    #[serde(default)]
    references: Vec<RawReference>,
}

#[derive(Deserialize)]
struct RawId {
    text: String,
}

#[derive(Deserialize, Default)]
struct RawProductStatus {
    #[serde(default)]
    first_affected: Vec<String>,
    #[serde(default)]
    first_fixed: Vec<String>,
    #[serde(default)]
    fixed: Vec<String>,
    #[serde(default)]
    known_affected: Vec<String>,
    #[serde(default)]
    known_not_affected: Vec<String>,
    #[serde(default)]
    last_affected: Vec<String>,
    #[serde(default)]
    under_investigation: Vec<String>,
}

#[derive(Deserialize)]
struct RawRemediation {
    category: String,
    #[serde(default)]
    details: String,
    url: Option<String>,
    #[serde(default)]
    product_ids: Vec<String>,
}

#[derive(Deserialize)]
struct RawScore {
    cvss_v2: Option<RawCvss>,
    cvss_v3: Option<RawCvss>,
    cvss_v4: Option<RawCvss>,
}

#[derive(Deserialize)]
struct RawCvss {
    #[serde(rename = "vectorString")]
    vector: String,
    #[serde(rename = "baseScore")]
    base_score: Option<f64>,
}

#[derive(Deserialize)]
struct RawThreat {
    category: String,
    details: String,
}

/// What the product tree says about one product id.
#[derive(Debug, Clone, Default)]
struct Product {
    name: String,
    cpe: Option<String>,
    purl: Option<String>,
    /// The vendor branch the product sits under.
    vendor: Option<String>,
    /// For a relationship: the component's product id and the platform's.
    component: Option<String>,
    platform: Option<String>,
}

fn collect_branches(
    branches: &[RawBranch],
    vendor: Option<&str>,
    out: &mut HashMap<String, Product>,
) {
    for branch in branches {
        let vendor = if branch.category == "vendor" {
            Some(branch.name.as_str())
        } else {
            vendor
        };
        if let Some(p) = &branch.product {
            out.insert(p.product_id.clone(), product_of(p, vendor));
        }
        collect_branches(&branch.branches, vendor, out);
    }
}

fn product_of(p: &RawProduct, vendor: Option<&str>) -> Product {
    let helper = p.product_identification_helper.as_ref();
    Product {
        name: p.name.clone(),
        cpe: helper.and_then(|h| h.cpe.clone()),
        purl: helper.and_then(|h| h.purl.clone()),
        vendor: vendor.map(str::to_owned),
        component: None,
        platform: None,
    }
}

fn products(tree: &RawProductTree) -> HashMap<String, Product> {
    let mut out = HashMap::new();
    collect_branches(&tree.branches, None, &mut out);
    for p in &tree.full_product_names {
        out.insert(p.product_id.clone(), product_of(p, None));
    }
    for r in &tree.relationships {
        let component = out.get(&r.product_reference).cloned().unwrap_or_default();
        let mut product = product_of(&r.full_product_name, component.vendor.as_deref());
        product.component = Some(r.product_reference.clone());
        product.platform = Some(r.relates_to_product_reference.clone());
        out.insert(r.full_product_name.product_id.clone(), product);
    }
    out
}

/// An RPM package identity: name, EVR (epoch only when not 0) and arch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rpm {
    name: String,
    evr: Option<String>,
    arch: Option<String>,
    namespace: Option<String>,
}

const RPM_ARCHES: &[&str] = &[
    "noarch", "src", "x86_64", "i686", "i386", "aarch64", "ppc64le", "ppc64", "s390x", "s390",
    "armv7hl", "ppc",
];

fn rpm_from_purl(purl: &str) -> Option<Rpm> {
    let p = Purl::parse(purl).filter(|p| p.kind == "rpm")?;
    let evr = p.version.as_ref().map(|v| match p.qualifier("epoch") {
        Some(epoch) if epoch != "0" => format!("{epoch}:{v}"),
        _ => v.clone(),
    });
    Some(Rpm {
        arch: p.qualifier("arch").map(str::to_owned),
        namespace: p.namespace.clone(),
        name: p.name,
        evr,
    })
}

/// `name-epoch:version-release.arch`, as Red Hat writes product ids. The
/// explicit epoch is required, so that ordinary product names are not misread.
fn rpm_from_nevra(text: &str) -> Option<Rpm> {
    let (rest, arch) = text.rsplit_once('.')?;
    if !RPM_ARCHES.contains(&arch) {
        return None;
    }
    let (rest, release) = rest.rsplit_once('-')?;
    let (name, epoch_version) = rest.rsplit_once('-')?;
    let (epoch, version) = epoch_version.split_once(':')?;
    if name.is_empty() || version.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let evr = if epoch.is_empty() || epoch == "0" {
        format!("{version}-{release}")
    } else {
        format!("{epoch}:{version}-{release}")
    };
    Some(Rpm {
        name: name.to_owned(),
        evr: Some(evr),
        arch: Some(arch.to_owned()),
        namespace: None,
    })
}

/// The OSV ecosystem name of an RPM purl namespace.
fn rpm_ecosystem_name(namespace: Option<&str>, vendor: Option<&str>) -> String {
    match namespace.map(str::to_ascii_lowercase).as_deref() {
        Some("redhat") => "Red Hat".into(),
        Some("suse") => "SUSE".into(),
        Some("opensuse") => "openSUSE".into(),
        Some("almalinux") => "AlmaLinux".into(),
        Some("rocky-linux" | "rocky") => "Rocky Linux".into(),
        Some(other) => other.into(),
        None => match vendor {
            Some(v) if v.starts_with("Red Hat") => "Red Hat".into(),
            Some(v) => v.into(),
            None => "RPM".into(),
        },
    }
}

/// The ecosystem of an RPM on a platform: for Red Hat, OSV's
/// `Red Hat:<CPE without cpe:/[oa]:redhat:>`.
fn rpm_ecosystem(name: &str, platform_cpe: Option<&str>) -> String {
    let suffix = platform_cpe.and_then(|cpe| {
        ["cpe:/o:redhat:", "cpe:/a:redhat:"]
            .iter()
            .find_map(|prefix| cpe.strip_prefix(prefix))
    });
    match suffix {
        Some(suffix) if name == "Red Hat" => format!("Red Hat:{suffix}"),
        _ => name.to_owned(),
    }
}

/// Which product status list a product id was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    Fixed,
    KnownAffected,
    FirstAffected,
    LastAffected,
    NotAffected,
    UnderInvestigation,
}

impl Listed {
    fn status(self) -> Status {
        match self {
            Listed::NotAffected => Status::NotAffected,
            Listed::UnderInvestigation => Status::UnderInvestigation,
            _ => Status::Affected,
        }
    }
}

/// Turns one product id in one status list into an [`Affected`] entry.
fn affected_of(
    product_id: &str,
    listed: Listed,
    products: &HashMap<String, Product>,
    vulnerability: Option<&str>,
) -> Affected {
    let product = products
        .get(product_id)
        .cloned()
        .unwrap_or_else(|| Product {
            name: product_id.to_owned(),
            ..Product::default()
        });
    let component = product.component.as_deref().and_then(|c| products.get(c));
    let platform = product.platform.as_deref().and_then(|p| products.get(p));
    let purl = component
        .and_then(|c| c.purl.clone())
        .or_else(|| product.purl.clone());
    let rpm = purl
        .as_deref()
        .and_then(rpm_from_purl)
        .or_else(|| product.component.as_deref().and_then(rpm_from_nevra))
        .or_else(|| rpm_from_nevra(product_id))
        .or_else(|| {
            product_id
                .split_once(':')
                .and_then(|(_, nevra)| rpm_from_nevra(nevra))
        });
    let cpe = platform
        .and_then(|p| p.cpe.clone())
        .or_else(|| product.cpe.clone());
    let vendor = component
        .and_then(|c| c.vendor.clone())
        .or(product.vendor.clone());
    let mut affected = Affected {
        parsed_ecosystem: Ecosystem::parse(""),
        scheme: None,
        ecosystem: String::new(),
        package: component.map_or(product.name.clone(), |c| c.name.clone()),
        purl,
        cpe,
        status: listed.status(),
        ranges: Vec::new(),
        versions: Vec::new(),
        fixed: Vec::new(),
        architectures: Vec::new(),
        binaries: Vec::new(),
        vulnerability: vulnerability.map(str::to_owned),
    };
    let Some(rpm) = rpm else {
        // Not a package Rivet can match by version: kept by product name, so
        // that the finding can still be reviewed by hand.
        affected.ecosystem = vendor.unwrap_or_default();
        affected.parsed_ecosystem = Ecosystem::parse(&affected.ecosystem);
        return affected;
    };
    let ecosystem_name = rpm_ecosystem_name(rpm.namespace.as_deref(), vendor.as_deref());
    affected.ecosystem = rpm_ecosystem(&ecosystem_name, affected.cpe.as_deref());
    affected.parsed_ecosystem = Ecosystem::parse(&affected.ecosystem);
    // An RPM is compared as an RPM whatever its vendor is called.
    affected.scheme = Some(Scheme::Rpm);
    affected.package = rpm.name;
    affected.architectures = rpm.arch.into_iter().collect();
    let range = |events| Range {
        kind: RangeKind::Ecosystem,
        repo: None,
        events,
    };
    let zero = || Event::Introduced("0".into());
    match (listed, rpm.evr) {
        (Listed::Fixed, Some(evr)) => {
            affected.ranges = vec![range(vec![zero(), Event::Fixed(evr.clone())])];
            affected.fixed = vec![evr];
        }
        (Listed::FirstAffected, Some(evr)) => {
            affected.ranges = vec![range(vec![Event::Introduced(evr)])];
        }
        (Listed::LastAffected, Some(evr)) => {
            affected.ranges = vec![range(vec![zero(), Event::LastAffected(evr)])];
        }
        (Listed::KnownAffected | Listed::FirstAffected | Listed::LastAffected, None) => {
            affected.ranges = vec![range(vec![zero()])];
        }
        (_, Some(evr)) => affected.versions = vec![evr],
        (_, None) => {}
    }
    affected
}

/// Affected entries, merging those that differ only in architecture (Red Hat
/// lists one product per architecture).
#[derive(Default)]
struct AffectedList {
    entries: Vec<Affected>,
    index: HashMap<String, usize>,
}

impl AffectedList {
    fn add(&mut self, entry: Affected) {
        let key = format!(
            "{:?}|{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}",
            entry.vulnerability,
            entry.status,
            entry.ecosystem,
            entry.package,
            entry.ranges,
            entry.versions,
            entry.cpe,
            entry.scheme
        );
        match self.index.get(&key) {
            Some(&i) => {
                let existing = &mut self.entries[i];
                for arch in entry.architectures {
                    if !existing.architectures.contains(&arch) {
                        existing.architectures.push(arch);
                    }
                }
            }
            None => {
                self.index.insert(key, self.entries.len());
                self.entries.push(entry);
            }
        }
    }
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn normalise(raw: RawCsaf, provenance: Provenance) -> Result<Advisory, ParseError> {
    let doc = raw.document;
    if doc.csaf_version != "2.0" {
        return Err(ParseError::invalid(
            "document.csaf_version",
            format!("{:?} is not 2.0", doc.csaf_version),
        ));
    }
    if doc.tracking.id.trim().is_empty() {
        return Err(ParseError::invalid("document.tracking.id", "is empty"));
    }
    let tree = raw.product_tree.unwrap_or_default();
    let products = products(&tree);
    let id = doc.tracking.id;
    let mut aliases = Vec::new();
    for alias in doc.tracking.aliases {
        push_unique(&mut aliases, alias);
    }
    let mut severity = Vec::new();
    if let Some(aggregate) = doc.aggregate_severity {
        severity.push(Severity {
            kind: SeverityKind::Vendor(aggregate.namespace.unwrap_or(doc.publisher.name.clone())),
            score: None,
            vector: None,
            vendor_rating: Some(aggregate.text),
            vulnerability: None,
        });
    }
    let describe = |notes: &[RawNote]| {
        let texts: Vec<&str> = notes
            .iter()
            .filter(|n| matches!(n.category.as_str(), "summary" | "description" | "general"))
            .map(|n| n.text.as_str())
            .collect();
        (!texts.is_empty()).then(|| texts.join("\n\n"))
    };
    let mut details = describe(&doc.notes);
    let mut references = Vec::new();
    for r in doc.references {
        push_unique(&mut references, reference(r));
    }
    let mut affected = AffectedList::default();
    let mut remediations = Vec::new();
    let mut workarounds = Vec::new();
    let mut exploitation = Vec::new();
    for vulnerability in raw.vulnerabilities {
        let cve = vulnerability.cve.clone();
        let vuln = cve.as_deref();
        if let Some(cve) = &cve {
            push_unique(&mut aliases, cve.clone());
        }
        for other in vulnerability.ids {
            push_unique(&mut aliases, other.text);
        }
        if details.is_none() {
            details = describe(&vulnerability.notes).or(vulnerability.title.clone());
        }
        for score in &vulnerability.scores {
            for (kind, cvss) in [
                (SeverityKind::CvssV2, &score.cvss_v2),
                (SeverityKind::CvssV3, &score.cvss_v3),
                (SeverityKind::CvssV4, &score.cvss_v4),
            ] {
                if let Some(cvss) = cvss {
                    push_unique(
                        &mut severity,
                        Severity {
                            kind,
                            score: cvss_score(&cvss.vector).or(cvss.base_score),
                            vector: Some(cvss.vector.clone()),
                            vendor_rating: None,
                            vulnerability: cve.clone(),
                        },
                    );
                }
            }
        }
        for threat in &vulnerability.threats {
            match threat.category.as_str() {
                "impact" => push_unique(
                    &mut severity,
                    Severity {
                        kind: SeverityKind::Vendor(
                            doc.publisher
                                .namespace
                                .clone()
                                .unwrap_or(doc.publisher.name.clone()),
                        ),
                        score: None,
                        vector: None,
                        vendor_rating: Some(threat.details.clone()),
                        vulnerability: cve.clone(),
                    },
                ),
                "exploit_status" => push_unique(&mut exploitation, threat.details.clone()),
                _ => {}
            }
        }
        for r in vulnerability.references {
            push_unique(&mut references, reference(r));
        }
        let status = &vulnerability.product_status;
        for (list, listed) in [
            (&status.fixed, Listed::Fixed),
            (&status.first_fixed, Listed::Fixed),
            (&status.known_affected, Listed::KnownAffected),
            (&status.first_affected, Listed::FirstAffected),
            (&status.last_affected, Listed::LastAffected),
            (&status.known_not_affected, Listed::NotAffected),
            (&status.under_investigation, Listed::UnderInvestigation),
        ] {
            for product_id in list {
                affected.add(affected_of(product_id, listed, &products, vuln));
            }
        }
        for r in vulnerability.remediations {
            let category = RemediationCategory::parse(&r.category);
            if matches!(
                category,
                RemediationCategory::Workaround | RemediationCategory::Mitigation
            ) {
                push_unique(&mut workarounds, r.details.clone());
            }
            remediations.push(Remediation {
                category,
                details: r.details,
                url: r.url,
                vulnerability: cve.clone(),
                products: r.product_ids.len(),
            });
        }
    }
    aliases.retain(|a| *a != id);
    Ok(Advisory {
        id,
        format: Format::Csaf,
        aliases,
        related: Vec::new(),
        upstream: Vec::new(),
        title: Some(doc.title),
        details,
        published: timestamp(
            "document.tracking.initial_release_date",
            doc.tracking.initial_release_date.as_deref(),
        )?,
        modified: timestamp(
            "document.tracking.current_release_date",
            doc.tracking.current_release_date.as_deref(),
        )?,
        withdrawn: None,
        severity,
        affected: affected.entries,
        references,
        workarounds,
        remediations,
        exploitation,
        provenance,
    })
}

fn reference(r: RawReference) -> Reference {
    Reference {
        kind: r.category.unwrap_or_else(|| "external".into()),
        url: r.url,
    }
}

/// A link to one CSAF document, with where its checksums and signature are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentLink {
    /// The document's URL.
    pub url: String,
    /// When the provider last changed it, as the listing says.
    pub updated: Option<rivet_core::Timestamp>,
    /// Checksum URLs. From ROLIE, the ones the feed names; from a directory
    /// listing, both conventional candidates (`.sha256`, `.sha512`), of which
    /// the provider publishes at least one.
    pub hashes: Vec<(crate::integrity::HashAlgorithm, String)>,
    /// The detached OpenPGP signature's URL.
    pub signature: Option<String>,
}

impl DocumentLink {
    /// A document in a directory-based distribution: checksums and signature
    /// sit beside it, by convention.
    fn beside(url: String, updated: Option<rivet_core::Timestamp>) -> DocumentLink {
        use crate::integrity::HashAlgorithm;
        DocumentLink {
            hashes: vec![
                (HashAlgorithm::Sha256, format!("{url}.sha256")),
                (HashAlgorithm::Sha512, format!("{url}.sha512")),
            ],
            signature: Some(format!("{url}.asc")),
            updated,
            url,
        }
    }
}

/// A provider's `provider-metadata.json`, as far as discovery needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// Where the metadata itself lives.
    pub canonical_url: String,
    /// The provider's role (`csaf_provider`, `csaf_trusted_provider`, …).
    pub role: String,
    /// The publisher's name.
    pub publisher: String,
    /// Directory-based distributions (base URLs holding `changes.csv`, `index.txt`).
    pub directory_urls: Vec<String>,
    /// ROLIE feeds.
    pub feeds: Vec<Feed>,
    /// The provider's OpenPGP keys.
    pub public_openpgp_keys: Vec<PublicKeyLink>,
}

/// A ROLIE feed named by provider metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// The feed's URL.
    pub url: String,
    /// Its TLP label (`WHITE`, `GREEN`, …).
    pub tlp_label: Option<String>,
    /// Its summary.
    pub summary: Option<String>,
}

/// Where a provider's OpenPGP key is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyLink {
    /// The key's fingerprint, as the provider states it.
    pub fingerprint: Option<String>,
    /// Where to get it.
    pub url: String,
}

#[derive(Deserialize)]
struct RawProviderMetadata {
    canonical_url: String,
    role: String,
    publisher: RawPublisher,
    #[serde(default)]
    distributions: Vec<RawDistribution>,
    #[serde(default)]
    public_openpgp_keys: Vec<RawKeyLink>,
}

#[derive(Deserialize)]
struct RawDistribution {
    directory_url: Option<String>,
    rolie: Option<RawRolie>,
}

#[derive(Deserialize)]
struct RawRolie {
    #[serde(default)]
    feeds: Vec<RawFeed>,
}

#[derive(Deserialize)]
struct RawFeed {
    url: String,
    tlp_label: Option<String>,
    summary: Option<String>,
}

#[derive(Deserialize)]
struct RawKeyLink {
    fingerprint: Option<String>,
    url: String,
}

/// Parses `provider-metadata.json`.
pub fn parse_provider_metadata(bytes: &[u8]) -> Result<ProviderMetadata, ParseError> {
    let raw: RawProviderMetadata = from_json(bytes)?;
    let mut directory_urls = Vec::new();
    let mut feeds = Vec::new();
    for distribution in raw.distributions {
        directory_urls.extend(distribution.directory_url);
        for feed in distribution.rolie.map(|r| r.feeds).unwrap_or_default() {
            feeds.push(Feed {
                url: feed.url,
                tlp_label: feed.tlp_label,
                summary: feed.summary,
            });
        }
    }
    Ok(ProviderMetadata {
        canonical_url: raw.canonical_url,
        role: raw.role,
        publisher: raw.publisher.name,
        directory_urls,
        feeds,
        public_openpgp_keys: raw
            .public_openpgp_keys
            .into_iter()
            .map(|k| PublicKeyLink {
                fingerprint: k.fingerprint,
                url: k.url,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
struct RawRolieDocument {
    feed: RawRolieFeed,
}

#[derive(Deserialize)]
struct RawRolieFeed {
    #[serde(default)]
    entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    link: Vec<RawLink>,
    updated: Option<String>,
    content: Option<RawContent>,
}

#[derive(Deserialize)]
struct RawLink {
    rel: String,
    href: String,
}

#[derive(Deserialize)]
struct RawContent {
    src: String,
}

/// Parses a ROLIE feed into its documents' links. An entry without a
/// document URL (no `content.src`, no `self` link) is skipped.
pub fn parse_rolie_feed(bytes: &[u8]) -> Result<Vec<DocumentLink>, ParseError> {
    use crate::integrity::HashAlgorithm;
    let raw: RawRolieDocument = from_json(bytes)?;
    let mut links = Vec::with_capacity(raw.feed.entry.len());
    for (index, entry) in raw.feed.entry.into_iter().enumerate() {
        let url = entry.content.map(|c| c.src).or_else(|| {
            entry
                .link
                .iter()
                .find(|l| l.rel == "self")
                .map(|l| l.href.clone())
        });
        let Some(url) = url else { continue };
        let hashes = entry
            .link
            .iter()
            .filter(|l| l.rel == "hash")
            .filter_map(|l| HashAlgorithm::of(&l.href).map(|a| (a, l.href.clone())))
            .collect();
        let signature = entry
            .link
            .iter()
            .find(|l| l.rel == "signature")
            .map(|l| l.href.clone());
        links.push(DocumentLink {
            url,
            updated: timestamp(
                &format!("feed.entry[{index}].updated"),
                entry.updated.as_deref(),
            )?,
            hashes,
            signature,
        });
    }
    Ok(links)
}

/// Joins a directory URL and a relative path from its listing.
fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Parses a directory distribution's `changes.csv` (`"path","timestamp"`
/// rows, newest first) into document links under `directory_url`.
pub fn parse_changes_csv(
    directory_url: &str,
    bytes: &[u8],
) -> Result<Vec<DocumentLink>, ParseError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut links = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ParseError::Csv {
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let (Some(path), Some(time)) = (record.get(0), record.get(1)) else {
            return Err(ParseError::Csv {
                line,
                message: "expected two columns: path and timestamp".into(),
            });
        };
        if path.trim().is_empty() {
            continue;
        }
        let updated = timestamp("timestamp", Some(time)).map_err(|e| ParseError::Csv {
            line,
            message: e.to_string(),
        })?;
        links.push(DocumentLink::beside(
            join(directory_url, path.trim()),
            updated,
        ));
    }
    Ok(links)
}

/// Parses a directory distribution's `index.txt` (one relative path a line).
pub fn parse_index_txt(directory_url: &str, text: &str) -> Vec<DocumentLink> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|path| DocumentLink::beside(join(directory_url, path), None))
        .collect()
}

//! The normalised advisory model every format is read into: what is affected,
//! how badly, what fixes it, and where the record came from (ADV-2, ADV-3).

use std::fmt;

use rivet_core::Timestamp;
use rivet_core::version::Scheme;

/// One advisory document, normalised. OSV records, CSAF advisories and VEX
/// documents all become this.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Advisory {
    /// The document's own id (`ALSA-2025:10873`, `RUSTSEC-2016-0001`, a CSAF tracking id).
    pub id: String,
    /// The format it was read from.
    pub format: Format,
    /// Other ids of the same vulnerability (CVE, GHSA, …).
    pub aliases: Vec<String>,
    /// Ids of related but different records.
    pub related: Vec<String>,
    /// Ids of the upstream records this one is derived from (OSV `upstream`).
    pub upstream: Vec<String>,
    /// One-line summary or title.
    pub title: Option<String>,
    /// Longer description.
    pub details: Option<String>,
    /// First published.
    pub published: Option<Timestamp>,
    /// Last modified.
    pub modified: Option<Timestamp>,
    /// When the record was withdrawn; withdrawn records are kept, marked.
    pub withdrawn: Option<Timestamp>,
    /// Severity ratings, computed CVSS base scores and vendor ratings.
    pub severity: Vec<Severity>,
    /// Affected (or, from VEX, not affected) packages and products.
    pub affected: Vec<Affected>,
    /// Links.
    pub references: Vec<Reference>,
    /// Workaround and mitigation texts, for findings that cannot be patched yet.
    pub workarounds: Vec<String>,
    /// Vendor remediations (CSAF), by category.
    pub remediations: Vec<Remediation>,
    /// Known exploitation stated by the document itself (CSAF `exploit_status` threats).
    pub exploitation: Vec<String>,
    /// Where, when and how trustworthily the document was obtained.
    pub provenance: Provenance,
}

impl Advisory {
    /// A key naming this document uniquely within its source: the id plus the
    /// archive member or location. The same id can exist in several documents
    /// (AlmaLinux publishes `ALSA-2025:10873` for releases 8, 9 and 10); keyed
    /// this way none of them overwrites another.
    pub fn document_key(&self) -> String {
        let place = self
            .provenance
            .location
            .member
            .as_deref()
            .unwrap_or(&self.provenance.location.container);
        format!("{}@{}", self.id, place)
    }

    /// Every fixed version named by any affected entry.
    pub fn fixed_versions(&self) -> impl Iterator<Item = &str> {
        self.affected
            .iter()
            .flat_map(|a| a.fixed.iter().map(String::as_str))
    }
}

/// The format a document was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// OSV JSON or YAML.
    Osv,
    /// CSAF 2.0 (advisory or VEX).
    Csaf,
}

/// One severity rating.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Severity {
    /// Which scale.
    pub kind: SeverityKind,
    /// The base score, computed from the vector (or the document's own score
    /// when the vector cannot be computed).
    pub score: Option<f64>,
    /// The CVSS vector string.
    pub vector: Option<String>,
    /// A vendor's word rating (`Moderate`, `high`).
    pub vendor_rating: Option<String>,
    /// The vulnerability (CVE) within the document this rating is for; `None`
    /// when it is for the whole advisory.
    pub vulnerability: Option<String>,
}

/// The scale of a [`Severity`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeverityKind {
    /// CVSS v2.
    CvssV2,
    /// CVSS v3.0 or v3.1.
    CvssV3,
    /// CVSS v4.0.
    CvssV4,
    /// A vendor's own rating, named by its namespace or OSV type (`Ubuntu`).
    Vendor(String),
}

/// A package (or product) an advisory speaks about.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Affected {
    /// The full ecosystem string as published (`Ubuntu:22.04:LTS`,
    /// `Red Hat:enterprise_linux:8::baseos`).
    pub ecosystem: String,
    /// The ecosystem string taken apart.
    pub parsed_ecosystem: Ecosystem,
    /// The version scheme to compare this package's versions with; `None` when
    /// unknown (no guessing, ASM-1).
    pub scheme: Option<Scheme>,
    /// The package name (source package for Debian/Ubuntu/AlmaLinux OSV).
    pub package: String,
    /// Package URL, when given.
    pub purl: Option<String>,
    /// CPE, when given (CSAF products).
    pub cpe: Option<String>,
    /// Whether the package is affected (VEX can say it is not).
    pub status: Status,
    /// Version ranges.
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions.
    pub versions: Vec<String>,
    /// Fixed versions, derived from the `fixed` events of non-git ranges.
    pub fixed: Vec<String>,
    /// Architectures the entry is limited to; empty means all.
    pub architectures: Vec<String>,
    /// Binary packages built from this source package (Ubuntu, SUSE).
    pub binaries: Vec<Binary>,
    /// The vulnerability (CVE) within the document this entry is for; `None`
    /// when it is for the whole advisory.
    pub vulnerability: Option<String>,
}

/// Affectedness of an [`Affected`] entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Affected in the given ranges (OSV entries always are).
    Affected,
    /// Stated not affected (VEX `known_not_affected`).
    NotAffected,
    /// The vendor is still investigating.
    UnderInvestigation,
}

/// A binary package built from an affected source package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Binary {
    /// The binary package name.
    pub name: String,
    /// Its fixed version, when given.
    pub version: Option<String>,
}

/// An OSV ecosystem string taken apart: `Ubuntu:Pro:18.04:LTS` is name
/// `Ubuntu`, release `18.04`, variant `Pro:LTS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Ecosystem {
    /// The ecosystem's name (`Ubuntu`, `AlmaLinux`, `crates.io`).
    pub name: String,
    /// The release it is scoped to (`22.04`, `8`, `v3.16`, a Red Hat CPE suffix).
    pub release: Option<String>,
    /// Qualifiers besides the release (`LTS`, `Pro:LTS`).
    pub variant: Option<String>,
}

impl Ecosystem {
    /// Takes an ecosystem string apart. Only Ubuntu puts qualifiers around the
    /// release; for every other ecosystem everything after the first colon is
    /// the release (a Red Hat CPE suffix or a Maven repository URL contains colons).
    pub fn parse(ecosystem: &str) -> Ecosystem {
        let (name, rest) = match ecosystem.split_once(':') {
            Some((name, rest)) => (name, Some(rest).filter(|r| !r.is_empty())),
            None => (ecosystem, None),
        };
        let (release, variant) = match rest {
            Some(rest) if name == "Ubuntu" => {
                let (qualifiers, releases): (Vec<&str>, Vec<&str>) = rest
                    .split(':')
                    .partition(|part| matches!(*part, "LTS" | "Pro" | "FIPS" | "ESM"));
                let join = |parts: Vec<&str>| Some(parts.join(":")).filter(|s| !s.is_empty());
                (join(releases), join(qualifiers))
            }
            rest => (rest.map(str::to_owned), None),
        };
        Ecosystem {
            name: name.to_owned(),
            release,
            variant,
        }
    }

    /// The version scheme of this ecosystem, or `None` when Rivet does not
    /// know how it orders versions.
    pub fn scheme(&self) -> Option<Scheme> {
        scheme_of(&self.name)
    }
}

/// The version scheme of an OSV ecosystem name (the part before the first
/// colon), per the OSV schema's ecosystem list.
pub fn scheme_of(ecosystem_name: &str) -> Option<Scheme> {
    Some(match ecosystem_name {
        "Debian" | "Ubuntu" | "Echo" => Scheme::Deb,
        "AlmaLinux" | "Rocky Linux" | "Red Hat" | "SUSE" | "openSUSE" | "Azure Linux"
        | "Photon OS" | "openEuler" | "Mageia" | "TuxCare" => Scheme::Rpm,
        "Alpine"
        | "Alpaquita"
        | "BellSoft Hardened Containers"
        | "Wolfi"
        | "Chainguard"
        | "MinimOS" => Scheme::Apk,
        "crates.io" | "npm" | "Go" => Scheme::Semver,
        "PyPI" => Scheme::Pep440,
        "Maven" => Scheme::Maven,
        _ => return None,
    })
}

/// A version range of an affected package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    /// How the range's versions are to be read.
    pub kind: RangeKind,
    /// The git repository, for [`RangeKind::Git`].
    pub repo: Option<String>,
    /// The events in document order.
    pub events: Vec<Event>,
}

/// The kind of a [`Range`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeKind {
    /// Versions of the ecosystem's own scheme.
    Ecosystem,
    /// SemVer 2.0 versions.
    Semver,
    /// Git commits.
    Git,
}

/// One event of a [`Range`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Affected from this version on (`0`: from the beginning).
    Introduced(String),
    /// Fixed in this version.
    Fixed(String),
    /// The last affected version.
    LastAffected(String),
    /// Nothing at or above this version is affected by this range.
    Limit(String),
}

/// A link from an advisory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reference {
    /// The link's kind (`ADVISORY`, `FIX`, `self`, `external`, …).
    pub kind: String,
    /// The URL.
    pub url: String,
}

/// A remediation a vendor offers (CSAF).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Remediation {
    /// What kind of remediation.
    pub category: RemediationCategory,
    /// The vendor's text.
    pub details: String,
    /// A link to more, when given.
    pub url: Option<String>,
    /// The vulnerability (CVE) it is for.
    pub vulnerability: Option<String>,
    /// The number of products it applies to.
    pub products: usize,
}

/// The CSAF remediation categories.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationCategory {
    /// An update from the vendor fixes it.
    VendorFix,
    /// A workaround.
    Workaround,
    /// A mitigation.
    Mitigation,
    /// The vendor will not fix it.
    NoFixPlanned,
    /// No remediation exists yet.
    NoneAvailable,
    /// A category this version of Rivet does not know.
    Other(String),
}

impl RemediationCategory {
    /// Reads a CSAF remediation category.
    pub fn parse(category: &str) -> RemediationCategory {
        match category {
            "vendor_fix" => RemediationCategory::VendorFix,
            "workaround" => RemediationCategory::Workaround,
            "mitigation" => RemediationCategory::Mitigation,
            "no_fix_planned" => RemediationCategory::NoFixPlanned,
            "none_available" => RemediationCategory::NoneAvailable,
            other => RemediationCategory::Other(other.to_owned()),
        }
    }
}

/// Where a record came from, when, and whether its signature held (ADV-2, ADV-5).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// The source's label as the caller named it (`osv:AlmaLinux`, a provider URL).
    pub source: String,
    /// The file, URL or archive member.
    pub location: Location,
    /// When the caller fetched it (time is a parameter, never read here).
    pub fetched_at: Timestamp,
    /// SHA-256 of the document's bytes, lower-case hex.
    pub content_sha256: String,
    /// The outcome of the signature check.
    pub signature: SignatureStatus,
}

/// A document's location: a file path or URL, and the member inside it when
/// it is an archive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// The file path or URL.
    pub container: String,
    /// The archive member, when the document came from an archive.
    pub member: Option<String>,
}

impl Location {
    /// A location that is a plain file or URL.
    pub fn file(container: impl Into<String>) -> Location {
        Location {
            container: container.into(),
            member: None,
        }
    }

    /// A member of an archive.
    pub fn member(container: impl Into<String>, member: impl Into<String>) -> Location {
        Location {
            container: container.into(),
            member: Some(member.into()),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.member {
            Some(member) => write!(f, "{}!{}", self.container, member),
            None => f.write_str(&self.container),
        }
    }
}

/// The outcome of checking a document's signature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// No signature was checked (none published, or none asked for).
    Unsigned,
    /// A trusted key's signature over the exact bytes verified.
    Verified {
        /// The fingerprint of the key that made it, upper-case hex.
        fingerprint: String,
    },
    /// A checksum or signature was present and did not hold.
    Failed {
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems_are_taken_apart() {
        let e = Ecosystem::parse("Ubuntu:22.04:LTS");
        assert_eq!(
            (e.name.as_str(), e.release.as_deref(), e.variant.as_deref()),
            ("Ubuntu", Some("22.04"), Some("LTS"))
        );
        let e = Ecosystem::parse("Ubuntu:Pro:18.04:LTS");
        assert_eq!(
            (e.release.as_deref(), e.variant.as_deref()),
            (Some("18.04"), Some("Pro:LTS"))
        );
        let e = Ecosystem::parse("Red Hat:rhel_aus:8.4::appstream");
        assert_eq!(e.release.as_deref(), Some("rhel_aus:8.4::appstream"));
        let e = Ecosystem::parse("crates.io");
        assert_eq!((e.name.as_str(), e.release), ("crates.io", None));
        assert_eq!(Ecosystem::parse("AlmaLinux:9").scheme(), Some(Scheme::Rpm));
        assert_eq!(Ecosystem::parse("Hackage").scheme(), None);
    }
}

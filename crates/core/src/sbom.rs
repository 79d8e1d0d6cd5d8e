//! A host's software in the formats other tools speak, and back (INV-7,
//! INV-8): a CycloneDX 1.5 JSON bill of materials and a CSV sheet for export;
//! `rpm -qa` output and CycloneDX SBOMs (from Rivet, syft, trivy …) for hosts
//! without an agent. Every function is pure: the caller passes the time, the
//! serial number and the text, and gets text or packages back.
//!
//! Packages are identified by package URLs (purl, ECMA-427) as syft and trivy
//! write them: `pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12`,
//! the rpm epoch in an `epoch` qualifier, the deb epoch inside the version.
//! Imports refuse what they cannot trust — too large an input, a malformed
//! line, a version no package manager could carry — with an error that names
//! the line or the JSON path, rather than guessing.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;
use crate::inventory::{HostFacts, OsRelease, Package, PackageFormat};
use crate::version::rpm::{evr, parse_source_rpm};
use crate::version::{self, rpm};

/// The largest import accepted, in bytes. A syft SBOM that lists every file
/// of a large host stays well below; anything bigger is a mistake or abuse.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// The most lines an `rpm -qa` import may have (a large host has ~5,000).
pub const MAX_IMPORT_LINES: usize = 200_000;
/// The most components a CycloneDX import may have, nested ones included.
pub const MAX_IMPORT_COMPONENTS: usize = 500_000;
/// The longest name, version or architecture an import accepts, in bytes.
pub const MAX_FIELD_BYTES: usize = 512;

/// The CycloneDX version [`cyclonedx_sbom`] writes.
pub const CYCLONEDX_SPEC_VERSION: &str = "1.5";

/// Property names Rivet writes on components, and reads back on import.
pub mod property {
    /// The source package's name.
    pub const SOURCE_NAME: &str = "rivet:source_name";
    /// The source package's version.
    pub const SOURCE_VERSION: &str = "rivet:source_version";
    /// The repository the package came from.
    pub const REPOSITORY: &str = "rivet:repository";
    /// When the package was installed (RFC 3339).
    pub const INSTALLED_AT: &str = "rivet:installed_at";
    /// The host's primary architecture, on the host component.
    pub const ARCHITECTURE: &str = "rivet:architecture";
}

/// The host an SBOM describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbomHost {
    /// The name people know the host by (its host name or display name).
    pub name: String,
    /// Its operating system, which also gives package URLs their vendor and
    /// `distro` qualifier.
    pub os: Option<OsRelease>,
    /// Its primary architecture (`amd64`, `x86_64` …).
    pub architecture: Option<String>,
}

impl SbomHost {
    /// The SBOM host for an inventory's facts, under `name`.
    pub fn from_facts(name: impl Into<String>, facts: &HostFacts) -> Self {
        SbomHost {
            name: name.into(),
            os: facts.os.clone(),
            architecture: facts.architecture.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// The CycloneDX document. One set of types serves export and import: export
// fills what Rivet knows; import tolerates every field being absent and
// ignores fields it does not know (1.2 to 1.7 differ elsewhere, not here).

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Bom {
    bom_format: String,
    spec_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial_number: Option<String>,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
    components: Vec<Component>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    // An array of tools before 1.5, an object of components and services
    // since: import does not need it, so any shape is accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<Component>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Component {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    bom_ref: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<Component>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Property {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

impl Component {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.as_deref())
            .filter(|v| !v.is_empty())
    }
}

fn prop(name: &str, value: impl Into<String>) -> Property {
    Property {
        name: name.to_owned(),
        value: Some(value.into()),
    }
}

// ---------------------------------------------------------------------------
// Export.

/// A CycloneDX 1.5 JSON SBOM of `packages` installed on `host`, pretty
/// printed.
///
/// The host is the BOM's subject (`metadata.component`, type `device`); its
/// operating system is a component of type `operating-system` on which every
/// package depends, as syft and trivy describe images. Packages are
/// components of type `library` (what syft and trivy emit for dpkg, rpm and
/// apk packages) with a purl, their source package and, when known, the
/// repository and install time as `rivet:` properties.
///
/// The result is text rather than a `serde_json::Value` so that fields keep
/// the order of the specification (`bomFormat` first), which people reading
/// the file expect; `serde_json::Value` would sort them.
pub fn cyclonedx_sbom(
    host: &SbomHost,
    packages: &[Package],
    serial: Uuid,
    at: Timestamp,
    tool_version: &str,
) -> String {
    let os = host.os.as_ref();
    let mut refs: HashMap<String, usize> = HashMap::new();
    let mut components = Vec::with_capacity(packages.len() + 1);
    let mut package_refs = Vec::with_capacity(packages.len());

    if let Some(os) = os {
        components.push(Component {
            kind: "operating-system".into(),
            bom_ref: Some("os".into()),
            name: os.id.clone(),
            version: os.version_id.clone(),
            description: os.pretty_name.clone(),
            ..Component::default()
        });
    }
    for package in packages {
        let purl = package_purl(package, os);
        // bom-refs must be unique; a purl repeats only when the same package
        // is listed twice (rpm can record a package twice), so a counter
        // after the first keeps them apart.
        let seen = refs.entry(purl.clone()).or_insert(0);
        *seen += 1;
        let bom_ref = match *seen {
            1 => purl.clone(),
            n => format!("{purl}|{n}"),
        };
        let mut properties = vec![
            prop(property::SOURCE_NAME, &package.source_name),
            prop(property::SOURCE_VERSION, &package.source_version),
        ];
        if let Some(repository) = &package.repository {
            properties.push(prop(property::REPOSITORY, repository));
        }
        if let Some(installed_at) = package.installed_at {
            properties.push(prop(property::INSTALLED_AT, installed_at.to_string()));
        }
        package_refs.push(bom_ref.clone());
        components.push(Component {
            kind: "library".into(),
            bom_ref: Some(bom_ref),
            name: package.name.clone(),
            version: Some(package.version.clone()),
            purl: Some(purl),
            properties,
            ..Component::default()
        });
    }

    let mut host_properties = Vec::new();
    if let Some(arch) = &host.architecture {
        host_properties.push(prop(property::ARCHITECTURE, arch));
    }
    let mut dependencies = Vec::new();
    if os.is_some() {
        dependencies.push(Dependency {
            reference: "host".into(),
            depends_on: vec!["os".into()],
        });
        dependencies.push(Dependency {
            reference: "os".into(),
            depends_on: package_refs,
        });
    } else {
        dependencies.push(Dependency {
            reference: "host".into(),
            depends_on: package_refs,
        });
    }

    let bom = Bom {
        bom_format: "CycloneDX".into(),
        spec_version: CYCLONEDX_SPEC_VERSION.into(),
        serial_number: Some(serial.urn().to_string()),
        version: 1,
        metadata: Some(Metadata {
            timestamp: Some(at.to_string()),
            tools: Some(serde_json::json!({
                "components": [{
                    "type": "application",
                    "name": "Rivet",
                    "version": tool_version,
                }]
            })),
            component: Some(Component {
                kind: "device".into(),
                bom_ref: Some("host".into()),
                name: host.name.clone(),
                description: os.and_then(|os| os.pretty_name.clone()),
                properties: host_properties,
                ..Component::default()
            }),
        }),
        components,
        dependencies,
    };
    // Serialising plain strings, vectors and a json! value cannot fail.
    serde_json::to_string_pretty(&bom).unwrap_or_default()
}

/// The OS family whose package format is `format`, judged from os-release's
/// `ID` and `ID_LIKE`.
fn os_format(os: &OsRelease) -> Option<PackageFormat> {
    let ids = std::iter::once(os.id.as_str()).chain(os.id_like.iter().map(String::as_str));
    let mut format = None;
    for id in ids {
        format = format.or(match id.to_ascii_lowercase().as_str() {
            "debian" | "ubuntu" => Some(PackageFormat::Deb),
            "alpine" => Some(PackageFormat::Apk),
            "rhel" | "fedora" | "centos" | "suse" | "opensuse" | "sles" | "amzn" | "mariner"
            | "azurelinux" | "almalinux" | "rocky" | "ol" => Some(PackageFormat::Rpm),
            _ => None,
        });
    }
    format
}

/// The package URL of `package`, with the vendor and `distro` qualifier of
/// `os` when the package is in the OS's own format (an rpm database on a
/// Debian host is not Debian's).
pub fn package_purl(package: &Package, os: Option<&OsRelease>) -> String {
    let os = os.filter(|os| os_format(os) == Some(package.format) && !os.id.is_empty());
    let (kind, default_vendor) = match package.format {
        PackageFormat::Deb => ("deb", Some("debian")),
        PackageFormat::Rpm => ("rpm", None),
        PackageFormat::Apk => ("apk", Some("alpine")),
    };
    // Red Hat publishes its own purls (in its VEX files) under `redhat`, not
    // os-release's `rhel`.
    let vendor = match os.map(|os| os.id.to_ascii_lowercase()) {
        Some(id) if id == "rhel" => Some("redhat".to_owned()),
        Some(id) => Some(id),
        None => default_vendor.map(str::to_owned),
    };
    // The deb and apk type definitions make names case-insensitive and
    // lowercase; rpm names are case-sensitive.
    let name = match package.format {
        PackageFormat::Rpm => package.name.clone(),
        PackageFormat::Deb | PackageFormat::Apk => package.name.to_ascii_lowercase(),
    };
    let (epoch, version) = match package.format {
        PackageFormat::Rpm => split_epoch(&package.version),
        PackageFormat::Deb | PackageFormat::Apk => (None, package.version.as_str()),
    };
    let mut qualifiers: Vec<(&str, String)> = Vec::new();
    if !package.architecture.is_empty() {
        qualifiers.push(("arch", package.architecture.clone()));
    }
    if let Some(os) = os {
        let distro = match &os.version_id {
            Some(v) => format!("{}-{v}", os.id.to_ascii_lowercase()),
            None => os.id.to_ascii_lowercase(),
        };
        qualifiers.push(("distro", distro));
    }
    if let Some(epoch) = epoch {
        qualifiers.push(("epoch", epoch.to_owned()));
    }
    purl::build(kind, vendor.as_deref(), &name, version, &qualifiers)
}

/// `2:1.0-3` → (`Some("2")`, `1.0-3`), as librpm's parseEVR splits it.
fn split_epoch(version: &str) -> (Option<&str>, &str) {
    match version.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (Some(e), rest)
        }
        _ => (None, version),
    }
}

/// The columns of [`packages_csv`], in order.
pub const CSV_HEADER: [&str; 8] = [
    "format",
    "name",
    "version",
    "architecture",
    "source_name",
    "source_version",
    "repository",
    "installed_at",
];

/// `packages` as CSV (RFC 4180: CRLF line ends, a header row, fields with a
/// comma, quote or line break quoted and inner quotes doubled).
///
/// A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
/// gets a leading `'`, so that a spreadsheet shows it as text instead of
/// running it as a formula (OWASP's advice against CSV injection). Names
/// and versions from a package database never start with those characters;
/// the guard matters for packages imported from an SBOM someone else wrote.
pub fn packages_csv(packages: &[Package]) -> String {
    let mut out = String::new();
    write_csv_row(&mut out, CSV_HEADER.iter().copied());
    for p in packages {
        let format = match p.format {
            PackageFormat::Deb => "deb",
            PackageFormat::Rpm => "rpm",
            PackageFormat::Apk => "apk",
        };
        let installed_at = p.installed_at.map(|t| t.to_string()).unwrap_or_default();
        write_csv_row(
            &mut out,
            [
                format,
                &p.name,
                &p.version,
                &p.architecture,
                &p.source_name,
                &p.source_version,
                p.repository.as_deref().unwrap_or(""),
                &installed_at,
            ],
        );
    }
    out
}

fn write_csv_row<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let guard = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
        let quote = guard || cell.contains([',', '"', '\r', '\n']);
        if quote {
            out.push('"');
        }
        if guard {
            out.push('\'');
        }
        for c in cell.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        if quote {
            out.push('"');
        }
    }
    out.push_str("\r\n");
}

// ---------------------------------------------------------------------------
// Import.

/// Why an import was refused; it names the line or JSON path at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The input is larger than [`MAX_IMPORT_BYTES`].
    #[error("the input is {size} bytes; at most {limit} are accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input has more lines than [`MAX_IMPORT_LINES`].
    #[error("the input has more than {limit} lines")]
    TooManyLines {
        /// The limit.
        limit: usize,
    },
    /// The SBOM has more components than [`MAX_IMPORT_COMPONENTS`].
    #[error("the SBOM has more than {limit} components")]
    TooManyComponents {
        /// The limit.
        limit: usize,
    },
    /// Nothing but blank lines.
    #[error("the input is empty")]
    Empty,
    /// A line of a text format is wrong.
    #[error("line {line}{}: {message}", field.map(|f| format!(", field {f}")).unwrap_or_default())]
    Line {
        /// The line, counted from 1.
        line: usize,
        /// The field in that line, when one is at fault.
        field: Option<&'static str>,
        /// What is wrong.
        message: String,
    },
    /// The input is not JSON, or a JSON value has the wrong type.
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// The line, counted from 1.
        line: usize,
        /// The column, counted from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A field of the SBOM is wrong.
    #[error("{path}: {message}")]
    Field {
        /// Where, as a JSON path (`components[3].purl`).
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn line_error(line: usize, field: Option<&'static str>, message: impl Into<String>) -> ImportError {
    ImportError::Line {
        line,
        field,
        message: message.into(),
    }
}

fn check_size(text: &str) -> Result<(), ImportError> {
    if text.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge {
            size: text.len(),
            limit: MAX_IMPORT_BYTES,
        });
    }
    Ok(())
}

/// Why a name, version or architecture cannot be a package's.
fn check_token(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if value.len() > MAX_FIELD_BYTES {
        return Err(format!(
            "the {what} is {} bytes long; at most {MAX_FIELD_BYTES} are accepted",
            value.len()
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("the {what} {value:?} contains {c:?}"));
    }
    Ok(())
}

fn check_version(format: PackageFormat, value: &str) -> Result<(), String> {
    check_token(value, "version")?;
    version::validate(format.scheme(), value).map_err(|reason| {
        format!(
            "{value:?} is not a valid {} version: {reason}",
            format.scheme().name()
        )
    })
}

/// Parses `rpm -qa` output: plain NEVRA lines (`bash-5.1.8-9.el9.x86_64`),
/// or tab-separated `NAME EPOCH VERSION RELEASE ARCH [SOURCERPM
/// [INSTALLTIME]]` lines such as the agent's query format or
/// `rpm -qa --qf '%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n'`.
/// The first line decides which for the whole input.
///
/// Versions are built as the agent builds them: `[epoch:]version-release`,
/// the epoch omitted when rpm prints `(none)`. `%{EPOCHNUM}` prints `0` for
/// a package without an epoch; when no line says `(none)`, a `0` is taken to
/// mean that and omitted too (rpm compares a missing epoch as 0, so the two
/// order the same). The source package's name and version come from the
/// source rpm's file name, with the binary's epoch; without one they are the
/// package's own. `gpg-pubkey` entries (imported signing keys) are skipped.
/// Plain `rpm -qa` prints no epochs and no source package.
pub fn parse_rpm_qa(text: &str) -> Result<Vec<Package>, ImportError> {
    check_size(text)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().take(MAX_IMPORT_LINES + 1).collect();
    if lines.len() > MAX_IMPORT_LINES {
        return Err(ImportError::TooManyLines {
            limit: MAX_IMPORT_LINES,
        });
    }
    let Some(first) = lines.iter().find(|l| !l.trim().is_empty()) else {
        return Err(ImportError::Empty);
    };
    let tabbed = first.contains('\t');
    let epoch_none_printed = tabbed
        && lines
            .iter()
            .any(|l| l.split('\t').nth(1).is_some_and(|e| e.trim() == "(none)"));
    let mut packages = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let package = if tabbed {
            parse_rpm_tabbed(line, number, epoch_none_printed)?
        } else {
            parse_rpm_nevra(line.trim(), number)?
        };
        packages.extend(package);
    }
    Ok(packages)
}

fn parse_rpm_nevra(line: &str, number: usize) -> Result<Option<Package>, ImportError> {
    if line.contains('\t') {
        return Err(line_error(
            number,
            None,
            "a tab in a plain `rpm -qa` listing (the first line has none)",
        ));
    }
    let nevra = rpm::parse_nevra(line).map_err(|e| {
        line_error(
            number,
            None,
            format!("{line:?} is not name-version-release.arch: {e}"),
        )
    })?;
    if nevra.name == "gpg-pubkey" {
        return Ok(None);
    }
    let version = evr(nevra.epoch, nevra.version, nevra.release);
    check_token(nevra.name, "name").map_err(|m| line_error(number, Some("name"), m))?;
    check_version(PackageFormat::Rpm, &version)
        .map_err(|m| line_error(number, Some("version"), m))?;
    Ok(Some(Package {
        format: PackageFormat::Rpm,
        name: nevra.name.to_owned(),
        version: version.clone(),
        architecture: nevra.arch.unwrap_or("").to_owned(),
        source_name: nevra.name.to_owned(),
        source_version: version,
        repository: None,
        installed_at: None,
    }))
}

const RPM_FIELDS: [&str; 7] = [
    "name",
    "epoch",
    "version",
    "release",
    "arch",
    "sourcerpm",
    "installtime",
];

fn parse_rpm_tabbed(
    line: &str,
    number: usize,
    epoch_none_printed: bool,
) -> Result<Option<Package>, ImportError> {
    let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
    if !(5..=7).contains(&fields.len()) {
        return Err(line_error(
            number,
            None,
            format!(
                "expected 5 to 7 tab-separated fields ({}), found {}",
                RPM_FIELDS.join(", "),
                fields.len()
            ),
        ));
    }
    let field = |i: usize| {
        fields
            .get(i)
            .copied()
            .filter(|f| !f.is_empty() && *f != "(none)")
    };
    let at = |i: usize, message: String| line_error(number, Some(RPM_FIELDS[i]), message);
    let name = fields[0];
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    check_token(name, "name").map_err(|m| at(0, m))?;
    let epoch = match field(1) {
        None => None,
        Some("0") if !epoch_none_printed => None,
        Some(e) if e.bytes().all(|b| b.is_ascii_digit()) => Some(e),
        Some(e) => return Err(at(1, format!("epoch {e:?} is not a number"))),
    };
    let version_part = field(2).ok_or_else(|| at(2, "the version is empty".into()))?;
    let release = field(3).unwrap_or("");
    let version = evr(epoch, version_part, release);
    check_version(PackageFormat::Rpm, &version).map_err(|m| at(2, m))?;
    let architecture = field(4).unwrap_or("");
    if !architecture.is_empty() {
        check_token(architecture, "architecture").map_err(|m| at(4, m))?;
    }
    let (source_name, source_version) = match field(5) {
        None => (name.to_owned(), version.clone()),
        Some(file) => {
            let (n, v, r) = parse_source_rpm(file)
                .ok_or_else(|| at(5, format!("{file:?} is not name-version-release.src.rpm")))?;
            (n.to_owned(), evr(epoch, v, r))
        }
    };
    let installed_at = match field(6) {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .ok()
                .and_then(|s| Timestamp::from_second(s).ok())
                .ok_or_else(|| at(6, format!("{t:?} is not seconds since 1970")))?,
        ),
    };
    Ok(Some(Package {
        format: PackageFormat::Rpm,
        name: name.to_owned(),
        version,
        architecture: architecture.to_owned(),
        source_name,
        source_version,
        repository: None,
        installed_at,
    }))
}

/// What [`parse_cyclonedx`] found in an SBOM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycloneDxImport {
    /// The dpkg, rpm and apk packages, in document order.
    pub packages: Vec<Package>,
    /// Components that are not OS packages, counted by purl type (`npm`,
    /// `pypi` …), `operating-system` for OS components, or `(no purl)`, so
    /// that the caller can say "12 components skipped: not OS packages".
    pub skipped: BTreeMap<String, usize>,
    /// Host facts the SBOM gives: the OS (from an `operating-system`
    /// component, else from the packages' `distro` qualifiers), and the host
    /// name and architecture when the SBOM describes a host (a `device`, as
    /// Rivet writes).
    pub host: HostFacts,
}

impl CycloneDxImport {
    /// How many components were skipped in all.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

/// Parses a CycloneDX JSON SBOM (spec versions 1.2 to 1.7; Rivet's, syft's
/// and trivy's are the ones met in practice) into the OS packages it lists.
///
/// Components with a purl of type `deb`, `rpm` or `apk` become packages, at
/// any depth of nesting: the format from the purl type, architecture from
/// `arch`, an rpm epoch (or trivy's deb epoch) from `epoch`. The source
/// package comes from Rivet's `rivet:` properties, trivy's
/// `aquasecurity:trivy:Src*`, syft's `syft:metadata:*` properties or syft's
/// `upstream` qualifier, in that order, and is the package itself without
/// any. Other components are skipped and counted.
pub fn parse_cyclonedx(json: &str) -> Result<CycloneDxImport, ImportError> {
    check_size(json)?;
    let json = json.strip_prefix('\u{feff}').unwrap_or(json);
    let bom: Bom = serde_json::from_str(json).map_err(|e| {
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        ImportError::Json {
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    let field = |path: &str, message: String| ImportError::Field {
        path: path.to_owned(),
        message,
    };
    if bom.bom_format != "CycloneDX" {
        return Err(field(
            "bomFormat",
            format!(
                "is {:?}, not \"CycloneDX\": not a CycloneDX BOM",
                bom.bom_format
            ),
        ));
    }
    let minor = bom
        .spec_version
        .strip_prefix("1.")
        .and_then(|m| m.parse::<u32>().ok());
    if !minor.is_some_and(|m| (2..=7).contains(&m)) {
        return Err(field(
            "specVersion",
            format!(
                "{:?} is not a CycloneDX JSON version Rivet reads (1.2 to 1.7)",
                bom.spec_version
            ),
        ));
    }

    let mut out = CycloneDxImport::default();
    let mut walker = Walker {
        out: &mut out,
        seen: 0,
        distro: None,
    };
    walker.walk(&bom.components, "components")?;
    let distro = walker.distro.take();

    if let Some(host) = bom.metadata.as_ref().and_then(|m| m.component.as_ref())
        && host.kind == "device"
    {
        out.host.hostname = Some(host.name.clone()).filter(|n| !n.is_empty());
        out.host.architecture = host.property(property::ARCHITECTURE).map(str::to_owned);
    }
    if out.host.os.is_none() {
        out.host.os = distro.and_then(|d| os_from_distro(&d));
    }
    Ok(out)
}

struct Walker<'a> {
    out: &'a mut CycloneDxImport,
    seen: usize,
    distro: Option<String>,
}

impl Walker<'_> {
    fn walk(&mut self, components: &[Component], path: &str) -> Result<(), ImportError> {
        for (i, component) in components.iter().enumerate() {
            self.seen += 1;
            if self.seen > MAX_IMPORT_COMPONENTS {
                return Err(ImportError::TooManyComponents {
                    limit: MAX_IMPORT_COMPONENTS,
                });
            }
            let here = format!("{path}[{i}]");
            self.component(component, &here)?;
            if !component.components.is_empty() {
                self.walk(&component.components, &format!("{here}.components"))?;
            }
        }
        Ok(())
    }

    fn skip(&mut self, kind: &str) {
        *self.out.skipped.entry(kind.to_owned()).or_insert(0) += 1;
    }

    fn component(&mut self, c: &Component, path: &str) -> Result<(), ImportError> {
        if c.kind == "operating-system" {
            if self.out.host.os.is_none() && !c.name.is_empty() {
                self.out.host.os = Some(OsRelease {
                    id: c.name.to_ascii_lowercase(),
                    version_id: c.version.clone().filter(|v| !v.is_empty()),
                    pretty_name: c.description.clone().filter(|d| !d.is_empty()),
                    ..OsRelease::default()
                });
            }
            self.skip("operating-system");
            return Ok(());
        }
        let Some(text) = c.purl.as_deref().filter(|p| !p.is_empty()) else {
            self.skip("(no purl)");
            return Ok(());
        };
        let err = |field: &str, message: String| ImportError::Field {
            path: format!("{path}.{field}"),
            message,
        };
        let purl = purl::parse(text).map_err(|e| err("purl", format!("{text:?}: {e}")))?;
        let format = match purl.kind.as_str() {
            "deb" => PackageFormat::Deb,
            "rpm" => PackageFormat::Rpm,
            "apk" => PackageFormat::Apk,
            other => {
                self.skip(other);
                return Ok(());
            }
        };
        let package =
            component_package(c, &purl, format).map_err(|(field, message)| err(field, message))?;
        if self.distro.is_none() {
            self.distro = purl.qualifier("distro").map(str::to_owned);
        }
        self.out.packages.push(package);
        Ok(())
    }
}

/// The package a component with an OS purl describes; an error names the
/// component's field at fault.
fn component_package(
    c: &Component,
    purl: &purl::Purl,
    format: PackageFormat,
) -> Result<Package, (&'static str, String)> {
    // The component's name keeps the case the purl lowercased (deb, apk).
    let name = if c.name.eq_ignore_ascii_case(&purl.name) {
        c.name.clone()
    } else {
        purl.name.clone()
    };
    check_token(&name, "name").map_err(|m| ("purl", m))?;
    let mut version = match purl.version.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => v.to_owned(),
        None => c.version.clone().filter(|v| !v.is_empty()).ok_or((
            "version",
            "neither the purl nor the component gives a version".to_owned(),
        ))?,
    };
    let epoch = purl.qualifier("epoch");
    if let Some(e) = epoch {
        if !e.bytes().all(|b| b.is_ascii_digit()) {
            return Err(("purl", format!("epoch {e:?} is not a number")));
        }
        // rpm purls carry the epoch only here; trivy does the same for deb.
        if split_epoch(&version).0.is_none() && format != PackageFormat::Apk {
            version = format!("{e}:{version}");
        }
    }
    check_version(format, &version).map_err(|m| ("purl", m))?;
    let architecture = purl.qualifier("arch").unwrap_or("").to_owned();
    if !architecture.is_empty() {
        check_token(&architecture, "architecture").map_err(|m| ("purl", m))?;
    }
    let (source_name, source_version) = component_source(c, purl, format, &name, &version);
    check_token(&source_name, "source name").map_err(|m| ("properties", m))?;
    check_version(format, &source_version)
        .map_err(|m| ("properties", format!("source package: {m}")))?;
    let installed_at = match c.property(property::INSTALLED_AT) {
        None => None,
        Some(t) => Some(t.parse::<Timestamp>().map_err(|e| {
            (
                "properties",
                format!(
                    "{}: {t:?} is not an RFC 3339 time: {e}",
                    property::INSTALLED_AT
                ),
            )
        })?),
    };
    Ok(Package {
        format,
        name,
        version,
        architecture,
        source_name,
        source_version,
        repository: c.property(property::REPOSITORY).map(str::to_owned),
        installed_at,
    })
}

/// The source package's name and version, from whichever tool's
/// description the component carries.
fn component_source(
    c: &Component,
    purl: &purl::Purl,
    format: PackageFormat,
    name: &str,
    version: &str,
) -> (String, String) {
    let own = |n: &str, v: Option<String>| (n.to_owned(), v.unwrap_or_else(|| version.to_owned()));
    if let Some(n) = c.property(property::SOURCE_NAME) {
        return own(n, c.property(property::SOURCE_VERSION).map(str::to_owned));
    }
    if let Some(n) = c.property("aquasecurity:trivy:SrcName") {
        let v = c.property("aquasecurity:trivy:SrcVersion").map(|v| {
            let epoch = c
                .property("aquasecurity:trivy:SrcEpoch")
                .filter(|e| *e != "0");
            let release = c.property("aquasecurity:trivy:SrcRelease").unwrap_or("");
            evr(epoch, v, release)
        });
        return own(n, v);
    }
    let binary_epoch = split_epoch(version).0;
    let from_source_rpm = |file: &str| {
        parse_source_rpm(file).map(|(n, v, r)| (n.to_owned(), evr(binary_epoch, v, r)))
    };
    match format {
        PackageFormat::Deb => {
            if let Some(n) = c.property("syft:metadata:source") {
                return own(
                    n,
                    c.property("syft:metadata:sourceVersion").map(str::to_owned),
                );
            }
        }
        PackageFormat::Rpm => {
            if let Some(found) = c
                .property("syft:metadata:sourceRpm")
                .and_then(from_source_rpm)
            {
                return found;
            }
        }
        PackageFormat::Apk => {
            if let Some(n) = c.property("syft:metadata:originPackage") {
                return own(n, None);
            }
        }
    }
    // syft's purl qualifier: a source rpm file name for rpm, `name` or
    // `name@version` for deb and apk.
    if let Some(upstream) = purl.qualifier("upstream") {
        if format == PackageFormat::Rpm {
            if let Some(found) = from_source_rpm(upstream) {
                return found;
            }
        } else {
            return match upstream.split_once('@') {
                Some((n, v)) if !v.is_empty() => own(n, Some(v.to_owned())),
                _ => own(upstream, None),
            };
        }
    }
    own(name, None)
}

/// `debian-12`, `rhel-9.3`, `opensuse-leap-15.5` → an OS; codenames alone
/// (`bookworm`) say too little.
fn os_from_distro(distro: &str) -> Option<OsRelease> {
    let (id, version) = distro.rsplit_once('-')?;
    (!id.is_empty() && version.starts_with(|c: char| c.is_ascii_digit())).then(|| OsRelease {
        id: id.to_ascii_lowercase(),
        version_id: Some(version.to_owned()),
        ..OsRelease::default()
    })
}

/// Package URLs (ECMA-427): building and parsing the parts Rivet uses.
mod purl {
    use std::fmt::Write as _;

    /// A parsed purl, its parts percent-decoded.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Purl {
        pub kind: String,
        pub namespace: Option<String>,
        pub name: String,
        pub version: Option<String>,
        pub qualifiers: Vec<(String, String)>,
    }

    impl Purl {
        pub fn qualifier(&self, key: &str) -> Option<&str> {
            self.qualifiers
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
    }

    /// Percent-encodes everything but the characters the specification
    /// forbids encoding: letters, digits, `.-_~` and the colon.
    fn encode(out: &mut String, s: &str) {
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b':') {
                out.push(b as char);
            } else {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        }
    }

    /// The canonical purl: qualifiers sorted by key, empty values left out.
    pub fn build(
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        version: &str,
        qualifiers: &[(&str, String)],
    ) -> String {
        let mut out = format!("pkg:{kind}/");
        if let Some(ns) = namespace {
            for segment in ns.split('/').filter(|s| !s.is_empty()) {
                encode(&mut out, segment);
                out.push('/');
            }
        }
        encode(&mut out, name);
        if !version.is_empty() {
            out.push('@');
            encode(&mut out, version);
        }
        let mut qualifiers: Vec<_> = qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
        qualifiers.sort_by_key(|(k, _)| *k);
        for (i, (key, value)) in qualifiers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(key);
            out.push('=');
            encode(&mut out, value);
        }
        out
    }

    fn decode(s: &str) -> Result<String, String> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-encoding in {s:?}"))?;
                out.push(hex);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).map_err(|_| format!("{s:?} decodes to bytes that are not UTF-8"))
    }

    /// Parses a purl as the specification's "how to parse" says: subpath,
    /// qualifiers and version split off from the right, then type,
    /// namespace and name from the left.
    pub fn parse(s: &str) -> Result<Purl, String> {
        let rest = match s.split_once(':') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("pkg") => rest,
            _ => return Err("does not start with \"pkg:\"".into()),
        };
        let rest = rest.trim_start_matches('/');
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (kind, path) = rest.split_once('/').ok_or("has no name after the type")?;
        if kind.is_empty() {
            return Err("has an empty type".into());
        }
        let path = path.trim_end_matches('/');
        let (path, version) = match path.rsplit_once('@') {
            Some((p, v)) => (p, Some(decode(v)?)),
            None => (path, None),
        };
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, n)) => (Some(ns), n),
            None => (None, path),
        };
        let name = decode(name)?;
        if name.is_empty() {
            return Err("has an empty name".into());
        }
        let namespace = match namespace {
            Some(ns) => Some(
                ns.split('/')
                    .filter(|s| !s.is_empty())
                    .map(decode)
                    .collect::<Result<Vec<_>, _>>()?
                    .join("/"),
            ),
            None => None,
        };
        let mut qualifiers = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("qualifier {pair:?} has no '='"))?;
            let value = decode(value)?;
            if !value.is_empty() {
                qualifiers.push((key.to_ascii_lowercase(), value));
            }
        }
        Ok(Purl {
            kind: kind.to_ascii_lowercase(),
            namespace,
            name,
            version,
            qualifiers,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn builds_canonical_purls() {
            let q = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
                pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
            };
            assert_eq!(
                build(
                    "deb",
                    Some("debian"),
                    "attr",
                    "1:2.4.47-2+b1",
                    &q(&[("arch", "amd64")])
                ),
                "pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64"
            );
            assert_eq!(
                build(
                    "rpm",
                    Some("almalinux"),
                    "openssl",
                    "3.0.7-27.el9",
                    &q(&[
                        ("epoch", "1"),
                        ("distro", "almalinux-9"),
                        ("arch", "x86_64")
                    ])
                ),
                "pkg:rpm/almalinux/openssl@3.0.7-27.el9?arch=x86_64&distro=almalinux-9&epoch=1"
            );
            assert_eq!(
                build(
                    "apk",
                    Some("alpine"),
                    "libstdc++",
                    "12.2.1_git20220924-r10",
                    &[]
                ),
                "pkg:apk/alpine/libstdc%2B%2B@12.2.1_git20220924-r10"
            );
            assert_eq!(
                build(
                    "deb",
                    None,
                    "a b",
                    "1",
                    &q(&[("distro", "x/y"), ("arch", "")])
                ),
                "pkg:deb/a%20b@1?distro=x%2Fy"
            );
        }

        #[test]
        fn parses_what_other_tools_write() {
            let p = parse("pkg:deb/debian/login@1%3A4.13%2Bdfsg1-1%2Bb1?arch=amd64&upstream=shadow&distro=debian-12")
                .unwrap();
            assert_eq!(p.kind, "deb");
            assert_eq!(p.namespace.as_deref(), Some("debian"));
            assert_eq!(p.name, "login");
            assert_eq!(p.version.as_deref(), Some("1:4.13+dfsg1-1+b1"));
            assert_eq!(p.qualifier("upstream"), Some("shadow"));
            let p = parse("PKG:RPM/centerim@4.22.10-1.el6?ARCH=i686&epoch=1#sub/path").unwrap();
            assert_eq!((p.kind.as_str(), p.namespace.as_deref()), ("rpm", None));
            assert_eq!(p.qualifier("arch"), Some("i686"));
            assert_eq!(p.qualifier("epoch"), Some("1"));
            let p = parse("pkg:npm/%40angular/core@16.0.0").unwrap();
            assert_eq!(p.namespace.as_deref(), Some("@angular"));
            for bad in [
                "deb/debian/x@1",
                "pkg:deb",
                "pkg:/x",
                "pkg:deb/debian/@1",
                "pkg:deb/x@1%2",
                "pkg:deb/x@1%zz",
                "pkg:deb/x@%ff",
                "pkg:deb/x@1?arch",
            ] {
                assert!(parse(bad).is_err(), "{bad} parsed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(format: PackageFormat, name: &str, version: &str, arch: &str) -> Package {
        Package {
            format,
            name: name.into(),
            version: version.into(),
            architecture: arch.into(),
            source_name: name.into(),
            source_version: version.into(),
            repository: None,
            installed_at: None,
        }
    }

    fn os(id: &str, version: &str) -> OsRelease {
        OsRelease {
            id: id.into(),
            version_id: Some(version.into()),
            ..OsRelease::default()
        }
    }

    #[test]
    fn purls_follow_the_type_definitions() {
        let mut deb = pkg(PackageFormat::Deb, "openssl", "3.0.11-1~deb12u2", "amd64");
        assert_eq!(
            package_purl(&deb, Some(&os("debian", "12"))),
            "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"
        );
        // The deb epoch stays in the version; the colon is never encoded.
        deb.version = "1:2.3+dfsg-1".into();
        assert_eq!(
            package_purl(&deb, Some(&os("ubuntu", "22.04"))),
            "pkg:deb/ubuntu/openssl@1:2.3%2Bdfsg-1?arch=amd64&distro=ubuntu-22.04"
        );
        let rpm = pkg(PackageFormat::Rpm, "openssl", "1:3.0.7-27.el9", "x86_64");
        assert_eq!(
            package_purl(&rpm, Some(&os("almalinux", "9"))),
            "pkg:rpm/almalinux/openssl@3.0.7-27.el9?arch=x86_64&distro=almalinux-9&epoch=1"
        );
        assert_eq!(
            package_purl(&rpm, Some(&os("rhel", "9.4"))),
            "pkg:rpm/redhat/openssl@3.0.7-27.el9?arch=x86_64&distro=rhel-9.4&epoch=1"
        );
        // rpm's database on a Debian host: no vendor, no distro.
        assert_eq!(
            package_purl(&rpm, Some(&os("debian", "12"))),
            "pkg:rpm/openssl@3.0.7-27.el9?arch=x86_64&epoch=1"
        );
        let apk = pkg(PackageFormat::Apk, "openssl", "3.1.4-r5", "x86_64");
        assert_eq!(
            package_purl(&apk, Some(&os("alpine", "3.19"))),
            "pkg:apk/alpine/openssl@3.1.4-r5?arch=x86_64&distro=alpine-3.19"
        );
        assert_eq!(
            package_purl(&apk, None),
            "pkg:apk/alpine/openssl@3.1.4-r5?arch=x86_64"
        );
    }

    fn host() -> SbomHost {
        SbomHost {
            name: "db-1".into(),
            os: Some(OsRelease {
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                ..os("debian", "12")
            }),
            architecture: Some("amd64".into()),
        }
    }

    const SERIAL: Uuid = Uuid::from_u128(0x3e67_1687_395b_41f5_a30f_a589_21a6_9b79);

    fn at() -> Timestamp {
        "2024-05-06T07:08:09Z".parse().unwrap()
    }

    #[test]
    fn sbom_document_shape() {
        let mut libc = pkg(PackageFormat::Deb, "libc6", "2.36-9+deb12u4", "amd64");
        libc.source_name = "glibc".into();
        libc.repository = Some("bookworm-security".into());
        libc.installed_at = Some(at());
        let dup = pkg(PackageFormat::Deb, "bash", "5.2.15-2+b2", "amd64");
        let text = cyclonedx_sbom(&host(), &[libc, dup.clone(), dup], SERIAL, at(), "0.1.0");
        assert!(
            text.trim_start()
                .starts_with("{\n  \"bomFormat\": \"CycloneDX\"")
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["specVersion"], "1.5");
        assert_eq!(
            v["serialNumber"],
            "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
        );
        assert_eq!(v["version"], 1);
        assert_eq!(v["metadata"]["timestamp"], "2024-05-06T07:08:09Z");
        assert_eq!(v["metadata"]["tools"]["components"][0]["version"], "0.1.0");
        assert_eq!(v["metadata"]["component"]["type"], "device");
        assert_eq!(v["metadata"]["component"]["name"], "db-1");
        let components = v["components"].as_array().unwrap();
        assert_eq!(components.len(), 4);
        assert_eq!(components[0]["type"], "operating-system");
        assert_eq!(components[0]["name"], "debian");
        assert_eq!(components[0]["version"], "12");
        let libc = &components[1];
        assert_eq!(libc["type"], "library");
        assert_eq!(libc["version"], "2.36-9+deb12u4");
        assert_eq!(
            libc["purl"],
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        let props: Vec<(&str, &str)> = libc["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["value"].as_str().unwrap()))
            .collect();
        assert_eq!(
            props,
            [
                ("rivet:source_name", "glibc"),
                ("rivet:source_version", "2.36-9+deb12u4"),
                ("rivet:repository", "bookworm-security"),
                ("rivet:installed_at", "2024-05-06T07:08:09Z"),
            ]
        );
        // The same package twice: two distinct bom-refs.
        assert_ne!(components[2]["bom-ref"], components[3]["bom-ref"]);
        assert_eq!(v["dependencies"][1]["ref"], "os");
        assert_eq!(
            v["dependencies"][1]["dependsOn"].as_array().unwrap().len(),
            3
        );
    }

    #[test]
    fn csv_quotes_and_guards_formulas() {
        let mut p = pkg(PackageFormat::Deb, "=HYPERLINK(\"x\")", "1,2", "amd64");
        p.source_name = "-1+2".into();
        p.repository = Some("line\nbreak".into());
        p.installed_at = Some(at());
        let csv = packages_csv(&[p, pkg(PackageFormat::Rpm, "bash", "5.1.8-9.el9", "x86_64")]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "format,name,version,architecture,source_name,source_version,repository,installed_at"
        );
        assert_eq!(
            lines[1],
            "deb,\"'=HYPERLINK(\"\"x\"\")\",\"1,2\",amd64,\"'-1+2\",\"1,2\",\"line\nbreak\",2024-05-06T07:08:09Z"
        );
        assert_eq!(lines[2], "rpm,bash,5.1.8-9.el9,x86_64,bash,5.1.8-9.el9,,");
        assert_eq!(lines[3], "");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn rpm_qa_plain() {
        let text = "bash-5.1.8-9.el9.x86_64\n\
                    gpg-pubkey-8483c65d-5ccc5b19\n\
                    \n\
                    python3-dateutil-1:2.8.1-7.el9.noarch\r\n\
                    kernel-5.14.0-427.13.1.el9_4\n";
        let packages = parse_rpm_qa(text).unwrap();
        assert_eq!(packages.len(), 3);
        assert_eq!(
            packages[0],
            pkg(PackageFormat::Rpm, "bash", "5.1.8-9.el9", "x86_64")
        );
        assert_eq!(packages[1].name, "python3-dateutil");
        assert_eq!(packages[1].version, "1:2.8.1-7.el9");
        assert_eq!(packages[2].version, "5.14.0-427.13.1.el9_4");
        assert_eq!(packages[2].architecture, "");

        let err = parse_rpm_qa("bash-5.1.8-9.el9.x86_64\nnonsense\n").unwrap_err();
        assert_eq!(
            err,
            ImportError::Line {
                line: 2,
                field: None,
                message: "\"nonsense\" is not name-version-release.arch: \
                          expected name-version-release, found too few hyphens"
                    .into()
            }
        );
        assert!(err.to_string().starts_with("line 2: "));
        let err = parse_rpm_qa("bash-5.1.8-9.el9.x86_64\nfoo-1-2\tx\n").unwrap_err();
        assert!(matches!(err, ImportError::Line { line: 2, .. }), "{err}");
        assert_eq!(parse_rpm_qa(" \n\n").unwrap_err(), ImportError::Empty);
    }

    #[test]
    fn rpm_qa_tabbed_matches_the_agents_versions() {
        // The agent's query format: %{EPOCH} prints (none), so an explicit 0
        // is kept, as the agent keeps it.
        let text = "tzdata\t2\t2024a\t1.el9\tnoarch\ttzdata-2024a-1.el9.src.rpm\t1700000000\n\
                    gpg-pubkey\t(none)\tf05d99de\t6b04cd97\t(none)\t(none)\t1795476887\n\
                    bash\t(none)\t5.1.8\t9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm\t1700000000\n\
                    zero\t0\t1.0\t1.el9\tx86_64\t(none)\t(none)\n";
        let packages = parse_rpm_qa(text).unwrap();
        assert_eq!(packages.len(), 3);
        assert_eq!(packages[0].version, "2:2024a-1.el9");
        assert_eq!(packages[0].source_version, "2:2024a-1.el9");
        assert_eq!(
            packages[0].installed_at,
            Some(Timestamp::from_second(1_700_000_000).unwrap())
        );
        assert_eq!(packages[1].version, "5.1.8-9.el9");
        assert_eq!(packages[2].version, "0:1.0-1.el9");
        assert_eq!(packages[2].source_name, "zero");

        // %{EPOCHNUM}: 0 means no epoch.
        let text = "openssl-libs\t1\t3.0.7\t27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\n\
                    bash\t0\t5.1.8\t9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm\n";
        let packages = parse_rpm_qa(text).unwrap();
        assert_eq!(packages[0].version, "1:3.0.7-27.el9");
        assert_eq!(
            (
                packages[0].source_name.as_str(),
                packages[0].source_version.as_str()
            ),
            ("openssl", "1:3.0.7-27.el9")
        );
        assert_eq!(packages[1].version, "5.1.8-9.el9");
        assert_eq!(packages[1].installed_at, None);
    }

    #[test]
    fn rpm_qa_errors_name_line_and_field() {
        let cases = [
            ("a\tx\t1\t1\tnoarch\n", 1, Some("epoch")),
            ("a\t(none)\t1\t1\n", 1, None),
            (
                "a\t(none)\t1\t1\tnoarch\nb\t(none)\t1\t1\tnoarch\tb.rpm\n",
                2,
                Some("sourcerpm"),
            ),
            (
                "a\t(none)\t1\t1\tnoarch\t(none)\tyesterday\n",
                1,
                Some("installtime"),
            ),
            ("a\t(none)\t\t1\tnoarch\n", 1, Some("version")),
            ("\t(none)\t1\t1\tnoarch\n", 1, Some("name")),
            ("a\t(none)\t1\t1\tnoarch\nnevra-1-1.x86_64\n", 2, None),
        ];
        for (text, line, field) in cases {
            match parse_rpm_qa(text) {
                Err(ImportError::Line {
                    line: l, field: f, ..
                }) => {
                    assert_eq!((l, f), (line, field), "{text:?}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let e = parse_rpm_qa("a\tx\t1\t1\tnoarch\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, field epoch: epoch \"x\" is not a number"
        );
    }

    #[test]
    fn imports_refuse_oversized_input() {
        let big = "a".repeat(MAX_IMPORT_BYTES + 1);
        assert!(matches!(
            parse_rpm_qa(&big),
            Err(ImportError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_cyclonedx(&big),
            Err(ImportError::TooLarge { .. })
        ));
        let many = "\n".repeat(MAX_IMPORT_LINES + 1);
        assert_eq!(
            parse_rpm_qa(&many),
            Err(ImportError::TooManyLines {
                limit: MAX_IMPORT_LINES
            })
        );
    }

    #[test]
    fn round_trip_through_cyclonedx() {
        let mut deb = pkg(
            PackageFormat::Deb,
            "libpam-modules",
            "1.5.2-6+deb12u1",
            "amd64",
        );
        deb.source_name = "pam".into();
        let mut deb_epoch = pkg(PackageFormat::Deb, "login", "1:4.13+dfsg1-1+b1", "amd64");
        deb_epoch.source_name = "shadow".into();
        deb_epoch.source_version = "1:4.13+dfsg1-1".into();
        deb_epoch.repository = Some("debian-security".into());
        deb_epoch.installed_at = Some(at());
        let mut rpm = pkg(
            PackageFormat::Rpm,
            "openssl-libs",
            "1:3.0.7-27.el9",
            "x86_64",
        );
        rpm.source_name = "openssl".into();
        let mut apk = pkg(
            PackageFormat::Apk,
            "libstdc++",
            "12.2.1_git20220924-r10",
            "x86_64",
        );
        apk.source_name = "gcc".into();
        apk.source_version = "12.2.1_git20220924-r10".into();
        for (host_os, packages) in [
            (Some(os("debian", "12")), vec![deb, deb_epoch]),
            (Some(os("almalinux", "9.4")), vec![rpm.clone()]),
            (None, vec![rpm]),
            (Some(os("alpine", "3.19.1")), vec![apk]),
        ] {
            let host = SbomHost {
                os: host_os.clone(),
                ..host()
            };
            let text = cyclonedx_sbom(&host, &packages, SERIAL, at(), "0.1.0");
            let back = parse_cyclonedx(&text).unwrap();
            assert_eq!(back.packages, packages);
            assert_eq!(back.host.hostname.as_deref(), Some("db-1"));
            assert_eq!(back.host.architecture.as_deref(), Some("amd64"));
            assert_eq!(
                back.host.os.as_ref().map(|o| &o.id),
                host_os.as_ref().map(|o| &o.id)
            );
            let skipped = if host_os.is_some() { 1 } else { 0 };
            assert_eq!(back.skipped_total(), skipped);
        }
    }

    #[test]
    fn reads_syft_and_trivy_conventions() {
        let json = r#"{
          "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
          "metadata": {"tools": [{"vendor": "x", "name": "y"}],
                       "component": {"type": "container", "name": "registry/image:1"}},
          "components": [
            {"type": "library", "name": "libssl3", "version": "3.0.15-1~deb12u1",
             "purl": "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&upstream=openssl&distro=debian-12"},
            {"type": "library", "name": "login", "version": "1:4.13+dfsg1-1+b1",
             "purl": "pkg:deb/debian/login@1%3A4.13%2Bdfsg1-1%2Bb1?arch=amd64&distro=debian-12",
             "properties": [{"name": "syft:metadata:source", "value": "shadow"},
                            {"name": "syft:metadata:sourceVersion", "value": "1:4.13+dfsg1-1"}]},
            {"type": "library", "name": "libgcrypt20", "version": "1.10.1-3",
             "purl": "pkg:deb/ubuntu/libgcrypt20@1.10.1-3?arch=amd64&distro=ubuntu-22.04&epoch=2",
             "properties": [{"name": "aquasecurity:trivy:SrcName", "value": "libgcrypt20"},
                            {"name": "aquasecurity:trivy:SrcEpoch", "value": "2"},
                            {"name": "aquasecurity:trivy:SrcVersion", "value": "1.10.1"},
                            {"name": "aquasecurity:trivy:SrcRelease", "value": "3"}]},
            {"type": "library", "name": "acl", "version": "2.2.53-1.el8",
             "purl": "pkg:rpm/centos/acl@2.2.53-1.el8?arch=aarch64&epoch=1&distro=centos-8.3.2011",
             "properties": [{"name": "syft:metadata:sourceRpm", "value": "acl-2.2.53-1.el8.src.rpm"}]},
            {"type": "library", "name": "audit-libs",
             "purl": "pkg:rpm/rocky/audit-libs@3.0.7-104.el9?arch=x86_64&upstream=audit-3.0.7-104.el9.src.rpm"},
            {"type": "application", "name": "app", "components": [
              {"type": "library", "name": "busybox-binsh", "version": "1.36.1-r15",
               "purl": "pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64",
               "properties": [{"name": "syft:metadata:originPackage", "value": "busybox"}]},
              {"type": "library", "name": "left-pad", "purl": "pkg:npm/left-pad@1.3.0"}
            ]},
            {"type": "file", "name": "/etc/passwd"},
            {"type": "operating-system", "name": "debian", "version": "12",
             "description": "Debian GNU/Linux 12 (bookworm)"}
          ]
        }"#;
        let got = parse_cyclonedx(json).unwrap();
        let summary: Vec<(&str, &str, &str, &str, &str)> = got
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.architecture.as_str(),
                    p.source_name.as_str(),
                    p.source_version.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "libssl3",
                    "3.0.15-1~deb12u1",
                    "amd64",
                    "openssl",
                    "3.0.15-1~deb12u1"
                ),
                (
                    "login",
                    "1:4.13+dfsg1-1+b1",
                    "amd64",
                    "shadow",
                    "1:4.13+dfsg1-1"
                ),
                (
                    "libgcrypt20",
                    "2:1.10.1-3",
                    "amd64",
                    "libgcrypt20",
                    "2:1.10.1-3"
                ),
                ("acl", "1:2.2.53-1.el8", "aarch64", "acl", "1:2.2.53-1.el8"),
                (
                    "audit-libs",
                    "3.0.7-104.el9",
                    "x86_64",
                    "audit",
                    "3.0.7-104.el9"
                ),
                (
                    "busybox-binsh",
                    "1.36.1-r15",
                    "x86_64",
                    "busybox",
                    "1.36.1-r15"
                ),
            ]
        );
        assert_eq!(got.packages[5].format, PackageFormat::Apk);
        let skipped: Vec<(&str, usize)> =
            got.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            skipped,
            [("(no purl)", 2), ("npm", 1), ("operating-system", 1)]
        );
        let os = got.host.os.unwrap();
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref()),
            ("debian", Some("12"))
        );
        // Not a host: the image's name is no host name.
        assert_eq!(got.host.hostname, None);
    }

    #[test]
    fn os_from_distro_qualifier_when_no_os_component() {
        let json = r#"{"bomFormat": "CycloneDX", "specVersion": "1.4", "components": [
            {"type": "library", "name": "bash",
             "purl": "pkg:rpm/redhat/bash@5.1.8-9.el9?arch=x86_64&distro=rhel-9.3"}]}"#;
        let got = parse_cyclonedx(json).unwrap();
        let os = got.host.os.unwrap();
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref()),
            ("rhel", Some("9.3"))
        );
        assert_eq!(os_from_distro("bookworm"), None);
        assert_eq!(
            os_from_distro("opensuse-leap-15.5").unwrap().id,
            "opensuse-leap"
        );
    }

    #[test]
    fn cyclonedx_errors_say_where() {
        let wrap = |components: &str| {
            format!(
                r#"{{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": {components}}}"#
            )
        };
        let field = |json: &str| match parse_cyclonedx(json) {
            Err(ImportError::Field { path, .. }) => path,
            other => panic!("{json}: {other:?}"),
        };
        assert_eq!(
            field(&wrap(
                r#"[{"type":"library","name":"x","purl":"pkg:deb/debian/x@1%zz"}]"#
            )),
            "components[0].purl"
        );
        assert_eq!(
            field(&wrap(
                r#"[{"type":"application","name":"a","components":[{"type":"library","name":"x","purl":"pkg:deb/debian/x"}]}]"#
            )),
            "components[0].components[0].version"
        );
        assert_eq!(
            field(&wrap(
                r#"[{"type":"library","name":"x","purl":"pkg:deb/debian/x@not a version"}]"#
            )),
            "components[0].purl"
        );
        assert_eq!(
            field(&wrap(
                r#"[{"type":"library","name":"x","purl":"pkg:rpm/x@1-1?epoch=one"}]"#
            )),
            "components[0].purl"
        );
        assert_eq!(
            field(&wrap(
                r#"[{"type":"library","name":"x","purl":"pkg:apk/alpine/x@1.0-r0","properties":[{"name":"rivet:installed_at","value":"yesterday"}]}]"#
            )),
            "components[0].properties"
        );
        assert_eq!(
            field(r#"{"bomFormat": "SPDX", "specVersion": "1.5"}"#),
            "bomFormat"
        );
        assert_eq!(
            field(r#"{"bomFormat": "CycloneDX", "specVersion": "2.0"}"#),
            "specVersion"
        );
        match parse_cyclonedx("{\n  \"bomFormat\": \"CycloneDX\",\n  \"components\": 7\n}") {
            Err(ImportError::Json { line, message, .. }) => {
                assert_eq!(line, 3);
                assert!(
                    message.starts_with("invalid type: integer `7`"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_cyclonedx("not json"),
            Err(ImportError::Json {
                line: 1,
                column: 2,
                ..
            })
        ));
    }
}

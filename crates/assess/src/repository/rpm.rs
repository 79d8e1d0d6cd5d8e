//! rpm-md metadata (`repodata/`): `primary.xml`, the packages a dnf
//! repository offers (name, arch, epoch/version/release, source rpm), and
//! `updateinfo.xml`, its errata (id, type, severity, issued date,
//! references with their CVEs, and the packages each brings).
//!
//! Read with `quick-xml`'s pull parser, one event at a time: AlmaLinux's
//! BaseOS `primary.xml` is over 20 MB and holds far more (file lists,
//! dependencies, descriptions) than Rivet needs, so nothing is built for an
//! element that is not read.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use rivet_core::version::rpm::{evr, parse, parse_source_rpm};

use super::{Erratum, ErratumKind, ErratumPackage, Limits, MetadataError, OfferedPackage};

/// The line of byte `offset` in `text`, from 1.
fn line_of(text: &str, offset: u64) -> usize {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A pull parser over `text` that names positions by line.
struct Xml<'a> {
    reader: Reader<&'a [u8]>,
    text: &'a str,
    file: &'a str,
    /// Where the last event started.
    start: u64,
}

impl<'a> Xml<'a> {
    fn new(text: &'a str, file: &'a str) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        // Not trimmed: an entity splits a text in several events, and
        // trimming each would eat the blanks around it.
        config.trim_text(false);
        config.expand_empty_elements = true;
        Xml {
            reader,
            text,
            file,
            start: 0,
        }
    }

    fn next(&mut self) -> Result<Event<'a>, MetadataError> {
        self.start = self.reader.buffer_position();
        self.reader.read_event().map_err(|e| {
            MetadataError::new(self.file, format!("not well-formed XML: {e}"))
                .at(line_of(self.text, self.reader.error_position()))
        })
    }

    /// The line of the last event (where its markup starts, after the
    /// blanks before it).
    fn line(&self) -> usize {
        let from = usize::try_from(self.start)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        let blanks = self.text.as_bytes()[from..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        line_of(self.text, (from + blanks) as u64)
    }

    fn error(&self, line: usize, element: &str, message: impl Into<String>) -> MetadataError {
        MetadataError::new(self.file, message)
            .at(line)
            .field(format!("<{element}>"))
    }

    /// The text up to the end of the element just opened (entities
    /// resolved), skipping any child elements.
    fn text_of(&mut self, element: &str) -> Result<String, MetadataError> {
        let mut out = String::new();
        let mut depth = 0usize;
        loop {
            match self.next()? {
                Event::Text(t) if depth == 0 => out.push_str(&t.xml10_content()),
                Event::CData(t) if depth == 0 => out.push_str(&t.into_inner()),
                Event::GeneralRef(r) => {
                    let raw = format!("&{};", r.xml10_content());
                    let resolved = quick_xml::escape::unescape(&raw).map_err(|e| {
                        self.error(self.line(), element, format!("unknown entity {raw}: {e}"))
                    })?;
                    if depth == 0 {
                        out.push_str(&resolved);
                    }
                }
                Event::Start(_) => depth += 1,
                Event::End(_) if depth == 0 => return Ok(out.trim().to_owned()),
                Event::End(_) => depth -= 1,
                Event::Eof => {
                    return Err(self.error(
                        self.line(),
                        element,
                        "the file ends inside the element",
                    ));
                }
                _ => {}
            }
        }
    }

    /// An attribute's value, unescaped; `None` when absent.
    fn attr(
        &self,
        e: &BytesStart<'_>,
        name: &str,
        element: &str,
    ) -> Result<Option<String>, MetadataError> {
        let bad = |m: String| {
            MetadataError::new(self.file, m)
                .at(self.line())
                .field(format!("<{element}> attribute {name}"))
        };
        match e.try_get_attribute(name) {
            Ok(None) => Ok(None),
            Ok(Some(a)) => a
                .normalized_value(XmlVersion::Implicit1_0)
                .map(|v| Some(v.trim().to_owned()))
                .map_err(|err| bad(format!("malformed value: {err}"))),
            Err(err) => Err(bad(format!("malformed attributes: {err}"))),
        }
    }
}

fn local(e: &BytesStart<'_>) -> String {
    let name = e.name();
    let local = name.local_name();
    let local: &str = local.as_ref();
    local.to_owned()
}

/// The name of the document's root element.
pub fn root_element(text: &str, file: &str) -> Result<String, MetadataError> {
    let mut xml = Xml::new(text, file);
    loop {
        match xml.next()? {
            Event::Start(e) => return Ok(local(&e)),
            Event::Eof => return Err(MetadataError::new(file, "an XML file without an element")),
            _ => {}
        }
    }
}

/// `[epoch:]version-release` of an rpm, the epoch written only when it is
/// not 0 (`primary.xml` writes `epoch="0"` for every package without one).
fn rpm_evr(epoch: Option<&str>, version: &str, release: &str) -> String {
    let epoch = epoch.filter(|e| !e.is_empty() && e.bytes().any(|b| b != b'0'));
    evr(epoch, version, release)
}

/// Checks `name`/`epoch`/`version`/`release` and builds the EVR.
fn checked_evr(
    xml: &Xml<'_>,
    line: usize,
    element: &str,
    epoch: Option<&str>,
    version: Option<&str>,
    release: Option<&str>,
    names: (&str, &str, &str),
) -> Result<String, MetadataError> {
    let field = |name: &str| format!("<{element}> attribute {name}");
    let missing = |name: &str| {
        MetadataError::new(xml.file, "missing")
            .at(line)
            .field(field(name))
    };
    let version = version
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(names.1))?;
    let release = release.unwrap_or("");
    if let Some(e) = epoch
        && !e.is_empty()
        && !e.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(
            MetadataError::new(xml.file, format!("epoch {e:?} is not a number"))
                .at(line)
                .field(field(names.0)),
        );
    }
    let evr = rpm_evr(epoch, version, release);
    parse(&evr).map_err(|e| {
        MetadataError::new(xml.file, format!("{evr:?} is not an rpm version: {e}"))
            .at(line)
            .field(field(if release.is_empty() { names.1 } else { names.2 }))
    })?;
    Ok(evr)
}

fn check_name(xml: &Xml<'_>, line: usize, field: String, value: &str) -> Result<(), MetadataError> {
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(
            MetadataError::new(xml.file, format!("not a name: {value:?}"))
                .at(line)
                .field(field),
        );
    }
    Ok(())
}

/// Parses `primary.xml`; source rpms (`arch` `src`) are skipped.
pub fn parse_primary(
    text: &str,
    file: &str,
    limits: &Limits,
) -> Result<Vec<OfferedPackage>, MetadataError> {
    let mut xml = Xml::new(text, file);
    let mut out = Vec::new();
    loop {
        match xml.next()? {
            Event::Start(e) if local(&e) == "package" => {
                let line = xml.line();
                if out.len() >= limits.max_records {
                    return Err(MetadataError::new(
                        file,
                        format!("more than {} packages", limits.max_records),
                    )
                    .at(line));
                }
                if let Some(p) = primary_package(&mut xml, line)? {
                    out.push(p);
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// One `<package>` of `primary.xml`, read to its end.
fn primary_package(
    xml: &mut Xml<'_>,
    line: usize,
) -> Result<Option<OfferedPackage>, MetadataError> {
    let (mut name, mut arch, mut sourcerpm) = (None, None, None);
    // epoch, ver, rel and the line of `<version>`.
    type Version = (Option<String>, Option<String>, Option<String>, usize);
    let mut version: Option<Version> = None;
    let mut depth = 0usize;
    loop {
        match xml.next()? {
            Event::Start(e) => {
                let element = local(&e);
                match (depth, element.as_str()) {
                    (0, "name") => name = Some(xml.text_of("name")?),
                    (0, "arch") => arch = Some(xml.text_of("arch")?),
                    (0, "version") => {
                        version = Some((
                            xml.attr(&e, "epoch", "version")?,
                            xml.attr(&e, "ver", "version")?,
                            xml.attr(&e, "rel", "version")?,
                            xml.line(),
                        ));
                        depth += 1;
                    }
                    (1, "sourcerpm") => sourcerpm = Some(xml.text_of("rpm:sourcerpm")?),
                    _ => depth += 1,
                }
            }
            Event::End(_) if depth == 0 => break,
            Event::End(_) => depth -= 1,
            Event::Eof => {
                return Err(xml.error(line, "package", "the file ends inside the package"));
            }
            _ => {}
        }
    }
    let missing = |what: &str| xml.error(line, "package", format!("no <{what}>"));
    let name = name.ok_or_else(|| missing("name"))?;
    check_name(xml, line, "<name>".into(), &name)?;
    let arch = arch.ok_or_else(|| missing("arch"))?;
    check_name(xml, line, "<arch>".into(), &arch)?;
    if arch == "src" || arch == "nosrc" {
        return Ok(None);
    }
    let (epoch, ver, rel, vline) = version.ok_or_else(|| missing("version"))?;
    let version = checked_evr(
        xml,
        vline,
        "version",
        epoch.as_deref(),
        ver.as_deref(),
        rel.as_deref(),
        ("epoch", "ver", "rel"),
    )?;
    let (source_name, source_version) = match sourcerpm.as_deref().filter(|s| !s.is_empty()) {
        None => (name.clone(), version.clone()),
        Some(file) => {
            let (n, v, r) = parse_source_rpm(file).ok_or_else(|| {
                xml.error(
                    line,
                    "rpm:sourcerpm",
                    format!("not a source rpm file name: {file:?}"),
                )
            })?;
            // A source rpm's file name has no epoch; the binary's is the
            // package's, as the agent's rpm inventory writes it.
            (n.to_owned(), rpm_evr(epoch.as_deref(), v, r))
        }
    };
    Ok(Some(OfferedPackage {
        name,
        arch,
        version,
        source_name,
        source_version,
    }))
}

/// Parses `updateinfo.xml`.
pub fn parse_updateinfo(
    text: &str,
    file: &str,
    limits: &Limits,
) -> Result<Vec<Erratum>, MetadataError> {
    let mut xml = Xml::new(text, file);
    let mut out = Vec::new();
    loop {
        match xml.next()? {
            Event::Start(e) if local(&e) == "update" => {
                let line = xml.line();
                if out.len() >= limits.max_records {
                    return Err(MetadataError::new(
                        file,
                        format!("more than {} errata", limits.max_records),
                    )
                    .at(line));
                }
                let kind = xml.attr(&e, "type", "update")?.unwrap_or_default();
                let kind = ErratumKind::parse(&kind).ok_or_else(|| {
                    MetadataError::new(
                        file,
                        format!("{kind:?} is not one of security, bugfix, enhancement, newpackage"),
                    )
                    .at(line)
                    .field("<update> attribute type")
                })?;
                out.push(update(&mut xml, line, kind, limits)?);
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// One `<update>`, read to its end.
fn update(
    xml: &mut Xml<'_>,
    line: usize,
    kind: ErratumKind,
    limits: &Limits,
) -> Result<Erratum, MetadataError> {
    let mut erratum = Erratum {
        id: String::new(),
        kind,
        severity: None,
        issued: None,
        title: None,
        cves: Vec::new(),
        references: Vec::new(),
        packages: Vec::new(),
    };
    let mut depth = 0usize;
    let too_many = |xml: &Xml<'_>| {
        xml.error(
            xml.line(),
            "update",
            format!(
                "more than {} references or packages in one erratum",
                limits.max_fields
            ),
        )
    };
    loop {
        match xml.next()? {
            Event::Start(e) => {
                let element = local(&e);
                match (depth, element.as_str()) {
                    (0, "id") => erratum.id = xml.text_of("id")?,
                    (0, "title") => erratum.title = Some(xml.text_of("title")?),
                    (0, "severity") => {
                        erratum.severity = Some(xml.text_of("severity")?).filter(|s| !s.is_empty())
                    }
                    (0, "issued") => {
                        erratum.issued = xml.attr(&e, "date", "issued")?;
                        depth += 1;
                    }
                    (_, "reference") => {
                        if erratum.cves.len() + erratum.references.len() >= limits.max_fields {
                            return Err(too_many(xml));
                        }
                        let id = xml.attr(&e, "id", "reference")?.unwrap_or_default();
                        let kind = xml.attr(&e, "type", "reference")?.unwrap_or_default();
                        if kind == "cve" || id.starts_with("CVE-") {
                            erratum.cves.push(id);
                        } else if !id.is_empty() {
                            erratum.references.push(id);
                        }
                        depth += 1;
                    }
                    (_, "package") => {
                        if erratum.packages.len() >= limits.max_fields {
                            return Err(too_many(xml));
                        }
                        let pline = xml.line();
                        let get = |xml: &Xml<'_>, a: &str| xml.attr(&e, a, "package");
                        let name = get(xml, "name")?.unwrap_or_default();
                        check_name(xml, pline, "<package> attribute name".into(), &name)?;
                        let arch = get(xml, "arch")?.unwrap_or_default();
                        check_name(xml, pline, "<package> attribute arch".into(), &arch)?;
                        let version = checked_evr(
                            xml,
                            pline,
                            "package",
                            get(xml, "epoch")?.as_deref(),
                            get(xml, "version")?.as_deref(),
                            get(xml, "release")?.as_deref(),
                            ("epoch", "version", "release"),
                        )?;
                        if arch != "src" {
                            erratum.packages.push(ErratumPackage {
                                name,
                                arch,
                                version,
                            });
                        }
                        depth += 1;
                    }
                    _ => depth += 1,
                }
            }
            Event::End(_) if depth == 0 => break,
            Event::End(_) => depth -= 1,
            Event::Eof => {
                return Err(xml.error(line, "update", "the file ends inside the erratum"));
            }
            _ => {}
        }
    }
    if erratum.id.is_empty() || erratum.id.contains(char::is_whitespace) {
        return Err(xml.error(line, "id", format!("not an erratum id: {:?}", erratum.id)));
    }
    erratum.cves.sort();
    erratum.cves.dedup();
    erratum
        .packages
        .sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
    erratum.packages.dedup();
    Ok(erratum)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str =
        include_str!("../../tests/fixtures/repository/almalinux9-baseos-primary.xml");
    const UPDATEINFO: &str =
        include_str!("../../tests/fixtures/repository/almalinux9-baseos-updateinfo.xml");

    #[test]
    fn primary_packages_with_epochs_and_sources() {
        let p = parse_primary(PRIMARY, "primary.xml", &Limits::default()).unwrap();
        let openssl = p.iter().find(|p| p.name == "openssl").unwrap();
        assert_eq!(openssl.arch, "x86_64");
        assert_eq!(openssl.version, "1:3.0.7-27.el9");
        assert_eq!(
            (
                openssl.source_name.as_str(),
                openssl.source_version.as_str()
            ),
            ("openssl", "1:3.0.7-27.el9")
        );
        let tzdata = p.iter().find(|p| p.name == "tzdata").unwrap();
        assert_eq!(
            (tzdata.arch.as_str(), tzdata.version.as_str()),
            ("noarch", "2024a-1.el9")
        );
        assert!(p.iter().all(|p| p.arch != "src"));
    }

    #[test]
    fn updateinfo_errata_with_cves_and_packages() {
        let e = parse_updateinfo(UPDATEINFO, "updateinfo.xml", &Limits::default()).unwrap();
        let sec = e.iter().find(|e| e.id == "ALSA-2024:2447").unwrap();
        assert_eq!(sec.kind, ErratumKind::Security);
        assert_eq!(sec.severity.as_deref(), Some("Moderate"));
        assert_eq!(sec.issued.as_deref(), Some("2024-04-30 00:00:00"));
        assert_eq!(
            sec.cves,
            [
                "CVE-2023-5678",
                "CVE-2023-6129",
                "CVE-2023-6237",
                "CVE-2024-0727"
            ]
        );
        assert_eq!(sec.references, ["RHSA-2024:2447"]);
        assert_eq!(
            sec.title.as_deref(),
            Some("Moderate: openssl security & bug fix update")
        );
        assert!(sec.packages.contains(&ErratumPackage {
            name: "openssl".into(),
            arch: "x86_64".into(),
            version: "1:3.0.7-27.el9".into(),
        }));
        assert!(e.iter().any(|e| e.kind == ErratumKind::Bugfix));
        assert!(e.iter().any(|e| e.kind == ErratumKind::Enhancement));
    }

    #[test]
    fn errors_name_line_and_element() {
        let limits = Limits::default();
        let bad_version = "<metadata>\n<package type=\"rpm\">\n  <name>a</name>\n  <arch>x86_64</arch>\n  \
                           <version epoch=\"x\" ver=\"1\" rel=\"1\"/>\n</package>\n</metadata>";
        let e = parse_primary(bad_version, "primary.xml", &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "primary.xml line 5, <version> attribute epoch: epoch \"x\" is not a number"
        );
        let no_arch = "<metadata>\n<package>\n<name>a</name>\n</package></metadata>";
        let e = parse_primary(no_arch, "primary.xml", &limits).unwrap_err();
        assert_eq!(e.to_string(), "primary.xml line 2, <package>: no <arch>");
        let bad_type = "<updates>\n\n<update type=\"feature\"><id>X-1</id></update></updates>";
        let e = parse_updateinfo(bad_type, "updateinfo.xml", &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "updateinfo.xml line 3, <update> attribute type: \"feature\" is not one of security, bugfix, enhancement, newpackage"
        );
        let broken = "<updates>\n<update type=\"bugfix\">\n<id>X</id>\n</updat>";
        let e = parse_updateinfo(broken, "updateinfo.xml", &limits).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("updateinfo.xml line 4: not well-formed XML"),
            "{e}"
        );
        let no_version = "<updates><update type=\"bugfix\"><id>X</id><pkglist><collection>\n\
                          <package name=\"a\" arch=\"noarch\" release=\"1\"/></collection></pkglist></update></updates>";
        let e = parse_updateinfo(no_version, "u.xml", &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "u.xml line 2, <package> attribute version: missing"
        );
    }

    #[test]
    fn records_are_capped() {
        let limits = Limits {
            max_records: 1,
            ..Limits::default()
        };
        let e = parse_primary(PRIMARY, "primary.xml", &limits).unwrap_err();
        assert!(e.to_string().contains("more than 1 packages"), "{e}");
    }
}

//! dpkg's database, read directly from `/var/lib/dpkg/status` (deb822
//! paragraphs, one per package).
//!
//! The parser is hand-written rather than `deb822-fast`: that crate rejects a
//! whole file at the first malformed paragraph and its errors carry no line
//! numbers, while an inventory must skip one bad paragraph, say where it was,
//! and keep the other packages.
//!
//! Which packages count: dpkg's third `Status` word is the package's state.
//! `installed` and `triggers-awaiting`/`triggers-pending` (configured, only a
//! trigger outstanding) are installed whatever the wanted action (`install`,
//! `hold`, or `deinstall` not yet carried out). `half-installed`, `unpacked`,
//! `half-configured` and the `reinstreq` flag are reported as unfinished;
//! `config-files` and `not-installed` leave no package behind and are skipped.

use rivet_core::inventory::{Package, PackageFormat, UnfinishedPackage};

use super::{Collected, PackageError, problem};
use crate::rootfs::{DATABASE_LIMIT, Root};
use crate::stanza::{Stanza, stanzas};

/// Where dpkg keeps its status file.
pub const STATUS: &str = "/var/lib/dpkg/status";

/// Reads and parses dpkg's status file under `root`.
pub fn read_status(root: &Root) -> Result<Collected, PackageError> {
    let path = root.path(STATUS);
    let text = root.read(STATUS, DATABASE_LIMIT)?.unwrap_or_default();
    Ok(parse_status(&text, &path.display().to_string()))
}

/// Parses the text of a dpkg status file; `source` names it in problems.
pub fn parse_status(text: &str, source: &str) -> Collected {
    let mut out = Collected::default();
    for stanza in stanzas(text) {
        match parse_paragraph(&stanza) {
            Ok(Entry::Installed(package)) => out.packages.push(package),
            Ok(Entry::Unfinished(package)) => out.unfinished.push(package),
            Ok(Entry::Absent) => {}
            Err((line, message)) => out.problems.push(problem(source, line, message)),
        }
    }
    out
}

enum Entry {
    Installed(Package),
    Unfinished(UnfinishedPackage),
    Absent,
}

/// The fields this module needs from one paragraph.
#[derive(Default)]
struct Fields<'a> {
    package: Option<&'a str>,
    status: Option<&'a str>,
    version: Option<&'a str>,
    architecture: Option<&'a str>,
    source: Option<&'a str>,
}

fn parse_paragraph(stanza: &Stanza<'_>) -> Result<Entry, (usize, String)> {
    let mut fields = Fields::default();
    for (offset, line) in stanza.lines.iter().enumerate() {
        let number = stanza.line + offset;
        if line.starts_with([' ', '\t']) {
            if offset == 0 {
                return Err((number, "continuation line without a field".into()));
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err((number, format!("not a field: {line:?}")));
        };
        // Field names are case-insensitive in deb822.
        let slot = match name.len() {
            7 if name.eq_ignore_ascii_case("Package") => &mut fields.package,
            6 if name.eq_ignore_ascii_case("Status") => &mut fields.status,
            7 if name.eq_ignore_ascii_case("Version") => &mut fields.version,
            12 if name.eq_ignore_ascii_case("Architecture") => &mut fields.architecture,
            6 if name.eq_ignore_ascii_case("Source") => &mut fields.source,
            _ => continue,
        };
        *slot = Some(value.trim());
    }
    let line = stanza.line;
    let name = fields
        .package
        .filter(|name| !name.is_empty())
        .ok_or((line, "paragraph without a Package field".to_owned()))?;
    let status = fields
        .status
        .ok_or_else(|| (line, format!("package {name}: no Status field")))?;
    let words: Vec<&str> = status.split_whitespace().collect();
    let [_want, flag, state] = words[..] else {
        return Err((line, format!("package {name}: malformed Status {status:?}")));
    };
    if matches!(state, "not-installed" | "config-files") {
        return Ok(Entry::Absent);
    }
    let version = fields
        .version
        .filter(|v| !v.is_empty())
        .ok_or_else(|| (line, format!("package {name}: no Version field")))?;
    let architecture = fields
        .architecture
        .ok_or_else(|| (line, format!("package {name}: no Architecture field")))?;
    let (source_name, source_version) = match fields.source {
        None => (name, version),
        Some(source) => parse_source(source)
            .map(|(n, v)| (n, v.unwrap_or(version)))
            .ok_or_else(|| (line, format!("package {name}: malformed Source {source:?}")))?,
    };
    let package = Package {
        format: PackageFormat::Deb,
        name: name.to_owned(),
        version: version.to_owned(),
        architecture: architecture.to_owned(),
        source_name: source_name.to_owned(),
        source_version: source_version.to_owned(),
        repository: None,
        installed_at: None,
    };
    Ok(match (flag, state) {
        ("ok", "installed" | "triggers-awaiting" | "triggers-pending") => Entry::Installed(package),
        ("reinstreq", _) => Entry::Unfinished(UnfinishedPackage {
            package,
            state: format!("reinstreq {state}"),
        }),
        _ => Entry::Unfinished(UnfinishedPackage {
            package,
            state: state.to_owned(),
        }),
    })
}

/// Splits `name` or `name (version)`.
fn parse_source(source: &str) -> Option<(&str, Option<&str>)> {
    match source.split_once(' ') {
        None => Some((source, None)),
        Some((name, rest)) => {
            let version = rest.trim().strip_prefix('(')?.strip_suffix(')')?.trim();
            (!version.is_empty()).then_some((name, Some(version)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Package: bash
Status: install ok installed
Priority: required
Architecture: amd64
Version: 5.2.15-2+b7
Source: bash (5.2.15-2)
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
 .
 more text

Package: adduser
Status: hold ok installed
Architecture: all
Version: 3.134

Package: libfoo1
Status: install ok half-configured
Architecture: amd64
Source: foo
Version: 1.0-1

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 0.9-1

Package: broken
this line is not a field
Version: 1

 orphan continuation
Package: x
";

    #[test]
    fn reads_installed_unfinished_and_reports_malformed_paragraphs() {
        let out = parse_status(SAMPLE, "status");
        let names: Vec<&str> = out.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["bash", "adduser"]);
        let bash = &out.packages[0];
        assert_eq!(bash.version, "5.2.15-2+b7");
        assert_eq!(
            (bash.source_name.as_str(), bash.source_version.as_str()),
            ("bash", "5.2.15-2")
        );
        let adduser = &out.packages[1];
        assert_eq!(
            (
                adduser.source_name.as_str(),
                adduser.source_version.as_str()
            ),
            ("adduser", "3.134")
        );
        assert_eq!(out.unfinished.len(), 1);
        assert_eq!(out.unfinished[0].state, "half-configured");
        assert_eq!(out.unfinished[0].package.source_name, "foo");
        assert_eq!(out.unfinished[0].package.source_version, "1.0-1");
        let lines: Vec<Option<usize>> = out.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(29), Some(32)], "{:?}", out.problems);
        assert!(out.problems[0].message.contains("not a field"));
    }

    #[test]
    fn source_field_forms() {
        assert_eq!(parse_source("bash"), Some(("bash", None)));
        assert_eq!(
            parse_source("bash (5.2.15-2)"),
            Some(("bash", Some("5.2.15-2")))
        );
        assert_eq!(parse_source("bash 5.2"), None);
        assert_eq!(parse_source("bash ()"), None);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        for text in [
            "",
            ":",
            "Package:",
            "Package: a\nStatus:",
            "Status: a b c\n",
            "\u{0}\n\n\t",
        ] {
            let _ = parse_status(text, "x");
        }
    }
}

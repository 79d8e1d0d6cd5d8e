//! apk's database, read directly from `/lib/apk/db/installed`: one record per
//! package, separated by blank lines, each line a one-letter key, a colon and
//! the value (`P:` name, `V:` version, `A:` architecture, `o:` origin, the
//! aports source package). An origin's packages share its version, so the
//! source version is the package's version. apk records neither the
//! repository nor the install time here.

use rivet_core::inventory::{Package, PackageFormat};

use super::{Collected, PackageError, problem};
use crate::rootfs::{DATABASE_LIMIT, Root};
use crate::stanza::{Stanza, stanzas};

/// Where apk keeps its database of installed packages.
pub const INSTALLED: &str = "/lib/apk/db/installed";

/// Reads and parses apk's installed database under `root`.
pub fn read_installed(root: &Root) -> Result<Collected, PackageError> {
    let path = root.path(INSTALLED);
    let text = root.read(INSTALLED, DATABASE_LIMIT)?.unwrap_or_default();
    Ok(parse_installed(&text, &path.display().to_string()))
}

/// Parses the text of apk's installed database; `source` names it in
/// problems.
pub fn parse_installed(text: &str, source: &str) -> Collected {
    let mut out = Collected::default();
    for stanza in stanzas(text) {
        match parse_record(&stanza) {
            Ok(package) => out.packages.push(package),
            Err((line, message)) => out.problems.push(problem(source, line, message)),
        }
    }
    out
}

fn parse_record(stanza: &Stanza<'_>) -> Result<Package, (usize, String)> {
    let (mut name, mut version, mut arch, mut origin) = (None, None, None, None);
    for (offset, line) in stanza.lines.iter().enumerate() {
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b':' {
            return Err((stanza.line + offset, format!("not a field: {line:?}")));
        }
        let value = &line[2..];
        match bytes[0] {
            b'P' => name = Some(value),
            b'V' => version = Some(value),
            b'A' => arch = Some(value),
            b'o' => origin = Some(value),
            _ => {}
        }
    }
    let line = stanza.line;
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or((line, "record without a P: (name) field".to_owned()))?;
    let version = version
        .filter(|v| !v.is_empty())
        .ok_or_else(|| (line, format!("package {name}: no V: (version) field")))?;
    let arch = arch.ok_or_else(|| (line, format!("package {name}: no A: (architecture) field")))?;
    Ok(Package {
        format: PackageFormat::Apk,
        name: name.to_owned(),
        version: version.to_owned(),
        architecture: arch.to_owned(),
        source_name: origin.filter(|o| !o.is_empty()).unwrap_or(name).to_owned(),
        source_version: version.to_owned(),
        repository: None,
        installed_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_malformed_lines() {
        let text = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\nP:libcrypto3\nV:3.3.2-r0\nA:x86_64\no:openssl\n\nP:bad\nnonsense\n\nV:1\n";
        let out = parse_installed(text, "installed");
        assert_eq!(out.packages.len(), 2);
        assert_eq!(out.packages[1].source_name, "openssl");
        assert_eq!(out.packages[1].source_version, "3.3.2-r0");
        let lines: Vec<Option<usize>> = out.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(13), Some(15)]);
    }
}

//! apt's `Packages` index (`dists/SUITE/COMPONENT/binary-ARCH/Packages`):
//! deb822 stanzas, one per binary package, of which Rivet reads `Package`,
//! `Version`, `Architecture` and `Source` (`name` or `name (version)`).
//!
//! Hand-written, like the agent's dpkg status reader, rather than with
//! `deb822-fast`: a refused file must say on which line and in which field
//! it went wrong, which that crate's errors do not carry, and a stanza is
//! read here without building a map of its twenty-odd fields (a Packages
//! file has some 60,000 stanzas).

use rivet_core::version::deb;

use super::{Limits, MetadataError, OfferedPackage};

/// The fields of one stanza Rivet needs, with their line numbers.
#[derive(Default)]
struct Stanza<'a> {
    line: usize,
    fields: usize,
    package: Option<(&'a str, usize)>,
    version: Option<(&'a str, usize)>,
    architecture: Option<(&'a str, usize)>,
    source: Option<(&'a str, usize)>,
}

/// Parses a `Packages` file; `file` names it in errors.
pub fn parse_packages(
    text: &str,
    file: &str,
    limits: &Limits,
) -> Result<Vec<OfferedPackage>, MetadataError> {
    let mut out = Vec::new();
    let mut stanza: Option<Stanza<'_>> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            if let Some(s) = stanza.take() {
                push(&mut out, s, file, limits)?;
            }
            continue;
        }
        let current = stanza.get_or_insert_with(|| Stanza {
            line: number,
            ..Stanza::default()
        });
        if line.starts_with([' ', '\t']) {
            if current.fields == 0 {
                return Err(
                    MetadataError::new(file, "continuation line without a field").at(number),
                );
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(
                MetadataError::new(file, format!("not a field: {:?}", clip(line))).at(number),
            );
        };
        current.fields += 1;
        if current.fields > limits.max_fields {
            return Err(MetadataError::new(
                file,
                format!("more than {} fields in one stanza", limits.max_fields),
            )
            .at(current.line));
        }
        // Field names are case-insensitive in deb822.
        let slot = match name.len() {
            7 if name.eq_ignore_ascii_case("Package") => &mut current.package,
            7 if name.eq_ignore_ascii_case("Version") => &mut current.version,
            12 if name.eq_ignore_ascii_case("Architecture") => &mut current.architecture,
            6 if name.eq_ignore_ascii_case("Source") => &mut current.source,
            _ => continue,
        };
        if slot.is_some() {
            return Err(
                MetadataError::new(file, "the field appears twice in one stanza")
                    .at(number)
                    .field(format!("field {name}")),
            );
        }
        *slot = Some((value.trim(), number));
    }
    if let Some(s) = stanza {
        push(&mut out, s, file, limits)?;
    }
    Ok(out)
}

fn push(
    out: &mut Vec<OfferedPackage>,
    s: Stanza<'_>,
    file: &str,
    limits: &Limits,
) -> Result<(), MetadataError> {
    if out.len() >= limits.max_records {
        return Err(
            MetadataError::new(file, format!("more than {} packages", limits.max_records))
                .at(s.line),
        );
    }
    let missing = |field: &str| {
        MetadataError::new(file, "missing in this stanza")
            .at(s.line)
            .field(format!("field {field}"))
    };
    let bad = |line: usize, field: &str, message: String| {
        MetadataError::new(file, message)
            .at(line)
            .field(format!("field {field}"))
    };
    let (name, line) = s.package.ok_or_else(|| missing("Package"))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad(
            line,
            "Package",
            format!("not a package name: {:?}", clip(name)),
        ));
    }
    let (version, line) = s.version.ok_or_else(|| missing("Version"))?;
    deb::parse(version).map_err(|e| {
        bad(
            line,
            "Version",
            format!("{:?} is not a Debian version: {e}", clip(version)),
        )
    })?;
    let (arch, line) = s.architecture.ok_or_else(|| missing("Architecture"))?;
    if arch.is_empty() || arch.contains(char::is_whitespace) {
        return Err(bad(
            line,
            "Architecture",
            format!("not an architecture: {:?}", clip(arch)),
        ));
    }
    let (source_name, source_version) = match s.source {
        None => (name, version),
        Some((source, line)) => {
            let (source_name, source_version) = parse_source(source).ok_or_else(|| {
                bad(
                    line,
                    "Source",
                    format!("expected NAME or NAME (VERSION), found {:?}", clip(source)),
                )
            })?;
            let source_version = source_version.unwrap_or(version);
            deb::parse(source_version).map_err(|e| {
                bad(
                    line,
                    "Source",
                    format!("{:?} is not a Debian version: {e}", clip(source_version)),
                )
            })?;
            (source_name, source_version)
        }
    };
    out.push(OfferedPackage {
        name: name.to_owned(),
        arch: arch.to_owned(),
        version: version.to_owned(),
        source_name: source_name.to_owned(),
        source_version: source_version.to_owned(),
    });
    Ok(())
}

/// Splits `name` or `name (version)`.
fn parse_source(source: &str) -> Option<(&str, Option<&str>)> {
    match source.split_once(' ') {
        None => (!source.is_empty()).then_some((source, None)),
        Some((name, rest)) => {
            let version = rest.trim().strip_prefix('(')?.strip_suffix(')')?.trim();
            (!name.is_empty() && !version.is_empty()).then_some((name, Some(version)))
        }
    }
}

/// At most 80 characters of a value, for a message.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<OfferedPackage>, MetadataError> {
        parse_packages(text, "Packages", &Limits::default())
    }

    #[test]
    fn reads_debian_stanzas_with_sources() {
        let text = "Package: bash\nSource: bash (5.2.15-2)\nVersion: 5.2.15-2+b7\nInstalled-Size: 7164\n\
                    Architecture: amd64\nDescription: GNU Bourne Again SHell\n Bash is an sh-compatible shell.\n .\n More.\n\n\
                    package: tzdata\nversion: 2025b-0+deb12u1\narchitecture: all\n\n\n\
                    Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u10\nArchitecture: amd64\n";
        let p = parse(text).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0],
            OfferedPackage {
                name: "bash".into(),
                arch: "amd64".into(),
                version: "5.2.15-2+b7".into(),
                source_name: "bash".into(),
                source_version: "5.2.15-2".into(),
            }
        );
        assert_eq!(
            (p[1].source_name.as_str(), p[1].source_version.as_str()),
            ("tzdata", "2025b-0+deb12u1")
        );
        assert_eq!(
            (p[2].source_name.as_str(), p[2].source_version.as_str()),
            ("glibc", "2.36-9+deb12u10")
        );
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let cases = [
            (
                "Package: a\nVersion: 1.0\nArchitecture: amd64\n\nPackage: b\nVersion: one\nArchitecture: amd64\n",
                "Packages line 6, field Version: \"one\" is not a Debian version: version number does not start with digit",
            ),
            (
                "Package: a\nArchitecture: amd64\n",
                "Packages line 1, field Version: missing in this stanza",
            ),
            (
                "Package: a\nVersion: 1\nVersion: 2\nArchitecture: all\n",
                "Packages line 3, field Version: the field appears twice in one stanza",
            ),
            (
                "Package: a\nSource: b (1.0\nVersion: 1\nArchitecture: all\n",
                "Packages line 2, field Source: expected NAME or NAME (VERSION), found \"b (1.0\"",
            ),
            (
                " continued\n",
                "Packages line 1: continuation line without a field",
            ),
            (
                "Package: a\nno colon here\n",
                "Packages line 2: not a field: \"no colon here\"",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(parse(text).unwrap_err().to_string(), message, "{text:?}");
        }
    }

    #[test]
    fn records_and_fields_are_capped() {
        let limits = Limits {
            max_records: 1,
            max_fields: 3,
            ..Limits::default()
        };
        let two = "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nVersion: 1\nArchitecture: all\n";
        let e = parse_packages(two, "P", &limits).unwrap_err();
        assert_eq!(e.to_string(), "P line 5: more than 1 packages");
        let wide = "Package: a\nVersion: 1\nArchitecture: all\nX: y\n";
        let e = parse_packages(wide, "P", &limits).unwrap_err();
        assert_eq!(e.to_string(), "P line 1: more than 3 fields in one stanza");
    }

    #[test]
    fn the_fixture_parses() {
        let text = include_str!("../../tests/fixtures/repository/bookworm-main-amd64.Packages");
        let p = parse(text).unwrap();
        assert!(p.len() >= 8, "{}", p.len());
        assert!(
            p.iter()
                .any(|p| p.name == "libsystemd0" && p.source_name == "systemd")
        );
    }
}

//! rpm's database, queried with `rpm -qa --queryformat` (the database itself
//! is SQLite or Berkeley DB depending on the release; the `rpm` program reads
//! all of them).
//!
//! Each line is `NAME EPOCH VERSION RELEASE ARCH SOURCERPM INSTALLTIME`,
//! tab-separated; rpm prints `(none)` for a missing epoch or source rpm. The
//! `gpg-pubkey` pseudo-packages (imported signing keys) are skipped. The
//! source package's version comes from the source rpm's file name, which
//! carries no epoch: the binary's epoch is used, as rpm builds give both the
//! same epoch.

use std::path::Path;
use std::process::Command;

use jiff::Timestamp;
use rivet_core::inventory::{Package, PackageFormat};
use rivet_core::version::rpm::{evr, parse_source_rpm};

use super::{Collected, PackageError, problem};
use crate::rootfs::Root;

/// The query format; [`parse_query`] reads its output.
pub const QUERY_FORMAT: &str =
    "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{INSTALLTIME}\\n";

/// Where distributions keep the rpm database, newest convention first.
const DATABASE_DIRS: [&str; 2] = ["/usr/lib/sysimage/rpm", "/var/lib/rpm"];

/// The rpm database directory under `root` (absolute within the root), if
/// there is one.
pub fn database_path(root: &Root) -> Option<&'static str> {
    DATABASE_DIRS.into_iter().find(|dir| {
        ["rpmdb.sqlite", "Packages", "Packages.db"]
            .iter()
            .any(|file| root.path(dir).join(file).is_file())
    })
}

/// Runs `rpm -qa` against the database under `root` and parses its output.
pub fn invoke_query(root: &Root) -> Result<Collected, PackageError> {
    // The database path is passed explicitly: rpm's compiled-in default
    // differs between distributions (Debian's rpm uses ~/.rpmdb).
    let dbpath = database_path(root).unwrap_or("/var/lib/rpm");
    let output =
        rpm_command(root.dir(), dbpath)
            .output()
            .map_err(|source| PackageError::Spawn {
                program: "rpm",
                source,
            })?;
    if !output.status.success() {
        return Err(PackageError::Failed {
            program: "rpm",
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let text =
        String::from_utf8(output.stdout).map_err(|_| PackageError::NotUtf8 { program: "rpm" })?;
    Ok(parse_query(&text, "rpm -qa"))
}

fn rpm_command(root: &Path, dbpath: &str) -> Command {
    let mut command = Command::new("rpm");
    command.env("LC_ALL", "C").arg("--root").arg(root).args([
        "--dbpath",
        dbpath,
        "-qa",
        "--queryformat",
        QUERY_FORMAT,
    ]);
    command
}

/// Parses the output of `rpm -qa --queryformat` with [`QUERY_FORMAT`].
pub fn parse_query(text: &str, source: &str) -> Collected {
    let mut out = Collected::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(Some(package)) => out.packages.push(package),
            Ok(None) => {}
            Err(message) => out.problems.push(problem(source, index + 1, message)),
        }
    }
    out
}

fn parse_line(line: &str) -> Result<Option<Package>, String> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [name, epoch, version, release, arch, sourcerpm, installtime] = fields[..] else {
        return Err(format!(
            "expected 7 tab-separated fields, found {}",
            fields.len()
        ));
    };
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    if name.is_empty() || version.is_empty() {
        return Err("empty name or version".into());
    }
    let epoch = match epoch {
        "(none)" | "" => None,
        e if e.bytes().all(|b| b.is_ascii_digit()) => Some(e),
        e => return Err(format!("package {name}: epoch {e:?} is not a number")),
    };
    let evr = |version: &str, release: &str| evr(epoch, version, release);
    let (source_name, source_version) = match sourcerpm {
        "(none)" | "" => (name.to_owned(), evr(version, release)),
        file => {
            let (n, v, r) = parse_source_rpm(file)
                .ok_or_else(|| format!("package {name}: malformed source rpm {file:?}"))?;
            (n.to_owned(), evr(v, r))
        }
    };
    let installed_at = match installtime {
        "(none)" | "" => None,
        t => Some(
            t.parse::<i64>()
                .ok()
                .and_then(|s| Timestamp::from_second(s).ok())
                .ok_or_else(|| format!("package {name}: install time {t:?} is not a time"))?,
        ),
    };
    Ok(Some(Package {
        format: PackageFormat::Rpm,
        name: name.to_owned(),
        version: evr(version, release),
        architecture: arch.to_owned(),
        source_name,
        source_version,
        repository: None,
        installed_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_pubkeys_and_bad_lines() {
        let text = "tzdata\t2\t2024a\t1.el9\tnoarch\ttzdata-2024a-1.el9.src.rpm\t1795476884\n\
                    gpg-pubkey\t(none)\tf05d99de\t6b04cd97\t(none)\t(none)\t1795476887\n\
                    bash\t(none)\t5.1.8\t9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm\t1700000000\n\
                    short\tline\n\
                    bad\tx\t1\t1\tnoarch\t(none)\t1\n";
        let out = parse_query(text, "rpm -qa");
        assert_eq!(out.packages.len(), 2);
        assert_eq!(out.packages[0].version, "2:2024a-1.el9");
        assert_eq!(out.packages[0].source_version, "2:2024a-1.el9");
        assert_eq!(out.packages[1].version, "5.1.8-9.el9");
        assert_eq!(
            out.packages[1].installed_at,
            Some(Timestamp::from_second(1_700_000_000).unwrap())
        );
        let lines: Vec<Option<usize>> = out.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(4), Some(5)]);
    }
}

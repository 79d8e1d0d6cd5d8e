//! dpkg's status files of real Debian 12 systems, checked against dpkg-query.

use std::collections::BTreeSet;
use std::process::Command;

use rivet_agent::packages::dpkg::parse_status;
use rivet_core::inventory::{Package, PackageFormat};

use crate::have_tool;

const MINBASE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/inventories/debian12-minbase.dpkg-status"
);
const DEVBOX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/inventories/debian12-devbox.dpkg-status"
);

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path} (shared/ beside the checkout): {e}"))
}

fn find<'a>(packages: &'a [Package], name: &str) -> &'a Package {
    packages
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn fields(p: &Package) -> (&str, &str, &str, &str, &str) {
    (
        &p.name,
        &p.version,
        &p.architecture,
        &p.source_name,
        &p.source_version,
    )
}

#[test]
fn minbase_has_89_packages() {
    let out = parse_status(&read(MINBASE), MINBASE);
    assert_eq!(out.packages.len(), 89);
    assert!(
        out.unfinished.is_empty() && out.problems.is_empty(),
        "{:?}",
        out.problems
    );
    assert!(out.packages.iter().all(|p| p.format == PackageFormat::Deb));
    let packages = &out.packages;
    assert_eq!(
        fields(find(packages, "bash")),
        ("bash", "5.2.15-2+b13", "amd64", "bash", "5.2.15-2")
    );
    assert_eq!(
        fields(find(packages, "libc6")),
        (
            "libc6",
            "2.36-9+deb12u14",
            "amd64",
            "glibc",
            "2.36-9+deb12u14"
        )
    );
    assert_eq!(
        fields(find(packages, "mount")),
        (
            "mount",
            "2.38.1-5+deb12u3",
            "amd64",
            "util-linux",
            "2.38.1-5+deb12u3"
        )
    );
}

#[test]
fn devbox_has_744_packages_609_from_another_source() {
    let text = read(DEVBOX);
    let out = parse_status(&text, DEVBOX);
    assert_eq!(out.packages.len(), 744);
    assert!(
        out.unfinished.is_empty() && out.problems.is_empty(),
        "{:?}",
        out.problems
    );
    // dpkg writes Source only where it differs from the package's own name
    // or version, so these are exactly the paragraphs with a Source field.
    let with_source = out
        .packages
        .iter()
        .filter(|p| p.source_name != p.name || p.source_version != p.version)
        .count();
    assert_eq!(with_source, 609);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("Source:")).count(),
        609
    );
    let packages = &out.packages;
    assert_eq!(
        fields(find(packages, "bash")),
        ("bash", "5.2.15-2+b8", "amd64", "bash", "5.2.15-2")
    );
    assert_eq!(
        fields(find(packages, "libssl3")),
        (
            "libssl3",
            "3.0.19-1~deb12u2",
            "amd64",
            "openssl",
            "3.0.19-1~deb12u2"
        )
    );
    assert_eq!(
        fields(find(packages, "libgcc-s1")),
        (
            "libgcc-s1",
            "12.2.0-14+deb12u1",
            "amd64",
            "gcc-12",
            "12.2.0-14+deb12u1"
        )
    );
    assert_eq!(
        fields(find(packages, "tzdata")),
        (
            "tzdata",
            "2025b-0+deb12u2",
            "all",
            "tzdata",
            "2025b-0+deb12u2"
        )
    );
}

/// The installed packages as dpkg-query reads the same status file.
fn dpkg_query(status: &str) -> BTreeSet<(String, String, String, String, String)> {
    let admindir = tempfile::tempdir().unwrap();
    std::fs::copy(status, admindir.path().join("status")).unwrap();
    std::fs::create_dir(admindir.path().join("updates")).unwrap();
    let output = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.path().display()))
        .args([
            "-W",
            "-f=${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\n",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (f[0] == "installed").then(|| {
                (
                    f[1].into(),
                    f[2].into(),
                    f[3].into(),
                    f[4].into(),
                    f[5].into(),
                )
            })
        })
        .collect()
}

#[test]
fn equals_dpkg_query_on_both_status_files() {
    if !have_tool("dpkg-query", "dpkg") {
        return;
    }
    for path in [MINBASE, DEVBOX] {
        let ours: BTreeSet<_> = parse_status(&read(path), path)
            .packages
            .iter()
            .map(|p| {
                let (a, b, c, d, e) = fields(p);
                (a.into(), b.into(), c.into(), d.into(), e.into())
            })
            .collect();
        let theirs = dpkg_query(path);
        assert_eq!(theirs.len(), if path == MINBASE { 89 } else { 744 });
        assert_eq!(ours, theirs, "{path}");
    }
}

#[test]
fn malformed_paragraphs_are_reported_with_file_and_line_and_skipped() {
    let mut text = read(MINBASE);
    text.push_str("\nPackage: broken\nStatus: install ok installed\nVersion 1.0\n");
    let out = parse_status(&text, "status");
    assert_eq!(out.packages.len(), 89);
    assert_eq!(out.problems.len(), 1);
    let problem = &out.problems[0];
    assert_eq!(problem.source, "status");
    assert_eq!(problem.line, Some(text.lines().count()));
}

#[test]
fn collect_reports_problems_with_the_files_path() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("var/lib/dpkg");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = read(MINBASE);
    text.push_str("\nPackage: broken\nStatus: install ok\nVersion: 1\n");
    std::fs::write(dir.join("status"), &text).unwrap();
    let inventory = rivet_agent::collect(root.path(), crate::at()).unwrap();
    assert_eq!(inventory.packages.len(), 89);
    assert_eq!(inventory.problems.len(), 1, "{:?}", inventory.problems);
    let problem = &inventory.problems[0];
    assert_eq!(problem.source, dir.join("status").display().to_string());
    assert_eq!(problem.line, Some(text.lines().count() - 2));
    assert!(
        problem.message.contains("malformed Status"),
        "{}",
        problem.message
    );
}

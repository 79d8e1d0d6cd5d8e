//! rpm: the parser on output captured from rpm 4.18, and the whole backend
//! against a real rpm database that the test builds and installs.

use std::path::Path;
use std::process::Command;

use rivet_agent::packages::rpm::parse_query;
use rivet_agent::packages::{Backend, rpm::QUERY_FORMAT};
use rivet_agent::rootfs::Root;
use rivet_core::inventory::{PackageFormat, RebootReason};

use crate::{at, fixture, have_tool};

#[test]
fn captured_output() {
    let out = parse_query(&fixture("rpm-qa-captured.txt"), "rpm -qa");
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let summary: Vec<(&str, &str, &str, &str)> = out
        .packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.source_name.as_str(),
                p.source_version.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("tzdata", "2:2024a-1.el9", "tzdata", "2:2024a-1.el9"),
            (
                "kernel-core",
                "5.14.0-427.13.1.el9_4",
                "kernel-core",
                "5.14.0-427.13.1.el9_4"
            ),
            ("hello", "1.0-1", "hello", "1.0-1"),
            ("glibc", "2.34-100.el9_4.2", "glibc", "2.34-100.el9_4.2"),
        ]
    );
    assert!(
        out.packages
            .iter()
            .all(|p| p.format == PackageFormat::Rpm && p.architecture == "noarch")
    );
    assert_eq!(
        out.packages[0].installed_at.unwrap().as_second(),
        1_795_476_884
    );
}

/// Builds a noarch rpm with rpmbuild into `topdir`; returns its path.
fn build_rpm(
    topdir: &Path,
    name: &str,
    version: &str,
    release: &str,
    epoch: Option<u32>,
) -> std::path::PathBuf {
    std::fs::create_dir_all(topdir).unwrap();
    let spec = topdir.join(format!("{name}-{version}-{release}.spec"));
    let epoch = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: {release}\n{epoch}Summary: Rivet test package\n\
             License: MIT\nBuildArch: noarch\n%description\nRivet test package.\n%files\n"
        ),
    )
    .unwrap();
    let output = Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", topdir.display()))
        .args(["--quiet", "-bb"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "rpmbuild: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    topdir.join(format!("RPMS/noarch/{name}-{version}-{release}.noarch.rpm"))
}

#[test]
fn real_rpm_database_in_a_root() {
    if !have_tool("rpm", "rpm") || !have_tool("rpmbuild", "rpm") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let topdir = work.path().join("build");
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
    let rpms = [
        build_rpm(&topdir, "kernel-core", "5.14.0", "362.8.1.el9_3", None),
        build_rpm(&topdir, "kernel-core", "5.14.0", "427.13.1.el9_4", None),
        build_rpm(&topdir, "bash", "5.1.8", "9.el9", None),
        build_rpm(&topdir, "tzdata", "2024a", "1.el9", Some(2)),
    ];
    let output = Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "--nodeps", "-i"])
        .args(&rpms)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "rpm -i: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Booted long before the install, on the older kernel.
    std::fs::write(root.join("proc/stat"), "cpu 1 2 3\nbtime 1700000000\n").unwrap();
    std::fs::write(
        root.join("proc/sys/kernel/osrelease"),
        "5.14.0-362.8.1.el9_3.noarch\n",
    )
    .unwrap();

    assert_eq!(Backend::detect(&Root::new(&root)), [Backend::Rpm]);
    let inventory = rivet_agent::collect(&root, at()).unwrap();
    let mut nevras: Vec<String> = inventory
        .packages
        .iter()
        .map(|p| format!("{}-{}.{}", p.name, p.version, p.architecture))
        .collect();
    nevras.sort();
    assert_eq!(
        nevras,
        [
            "bash-5.1.8-9.el9.noarch",
            "kernel-core-5.14.0-362.8.1.el9_3.noarch",
            "kernel-core-5.14.0-427.13.1.el9_4.noarch",
            "tzdata-2:2024a-1.el9.noarch",
        ]
    );
    assert!(inventory.packages.iter().all(|p| p.installed_at.is_some()));
    let releases: Vec<&str> = inventory
        .host
        .installed_kernels
        .iter()
        .map(|k| k.release.as_str())
        .collect();
    assert_eq!(
        releases,
        [
            "5.14.0-362.8.1.el9_3.noarch",
            "5.14.0-427.13.1.el9_4.noarch"
        ]
    );
    let reasons = &inventory.reboot.reasons;
    assert!(inventory.reboot.required);
    assert!(reasons.contains(&RebootReason::NewerKernel {
        running: "5.14.0-362.8.1.el9_3.noarch".into(),
        newest: "5.14.0-427.13.1.el9_4.noarch".into(),
    }));
    let core: Vec<&str> = reasons
        .iter()
        .filter_map(|r| match r {
            RebootReason::CorePackageUpdated { package, .. } => Some(package.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(core, ["kernel-core", "kernel-core"]);
}

#[test]
fn query_format_matches_the_parser() {
    assert_eq!(QUERY_FORMAT.matches("\\t").count(), 6);
    assert!(QUERY_FORMAT.ends_with("\\n"));
}

//! apk's installed database, from an Alpine 3.20 root.

use rivet_agent::packages::apk::parse_installed;
use rivet_core::inventory::{PackageFormat, PackageManager, RebootReason};

use crate::{at, data};

#[test]
fn installed_database() {
    let path = data("alpine").join("lib/apk/db/installed");
    let out = parse_installed(&std::fs::read_to_string(&path).unwrap(), "installed");
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_eq!(out.packages.len(), 16);
    let libssl = out.packages.iter().find(|p| p.name == "libssl3").unwrap();
    assert_eq!(
        (
            libssl.version.as_str(),
            libssl.architecture.as_str(),
            libssl.source_name.as_str(),
            libssl.source_version.as_str()
        ),
        ("3.3.2-r0", "x86_64", "openssl", "3.3.2-r0")
    );
    assert!(out.packages.iter().all(|p| p.format == PackageFormat::Apk));
}

#[test]
fn alpine_root() {
    let inventory = rivet_agent::collect(&data("alpine"), at()).unwrap();
    let host = &inventory.host;
    assert_eq!(host.os.as_ref().unwrap().id, "alpine");
    assert_eq!(host.architecture.as_deref(), Some("x86_64"));
    assert_eq!(host.hostname.as_deref(), Some("alpine1"));
    assert_eq!(host.package_managers, [PackageManager::Apk]);
    let kernels: Vec<&str> = host
        .installed_kernels
        .iter()
        .map(|k| k.release.as_str())
        .collect();
    assert_eq!(
        kernels,
        ["6.6.58-0-lts"],
        "linux-firmware-none is no kernel; vmlinuz-lts is no release"
    );
    // apk replaces the kernel package in place: the running one is gone.
    assert_eq!(
        inventory.reboot.reasons,
        [RebootReason::RunningKernelRemoved {
            running: "6.6.49-0-lts".into()
        }]
    );
    assert_eq!(inventory.packages.len(), 16);
    assert_eq!(inventory.collected_at, at());
}

//! Host facts: os-release variants, addresses, virtualisation, names.

use std::net::IpAddr;

use rivet_agent::host::network::parse_ip_addr;
use rivet_agent::host::os_release::read_os_release;
use rivet_agent::host::virt::detect;
use rivet_agent::rootfs::Root;
use rivet_core::inventory::{OsRelease, PackageManager, VirtualizationKind};

use crate::{at, data, fixture};

fn os(scenario: &str) -> OsRelease {
    read_os_release(&Root::new(data(scenario)))
        .unwrap()
        .unwrap()
}

#[test]
fn os_release_variants() {
    let debian = os("debian-reboot");
    assert_eq!(
        (
            debian.id.as_str(),
            debian.version_id.as_deref(),
            debian.version_codename.as_deref()
        ),
        ("debian", Some("12"), Some("bookworm"))
    );
    assert_eq!(
        debian.pretty_name.as_deref(),
        Some("Debian GNU/Linux 12 (bookworm)")
    );

    let ubuntu = os("ubuntu"); // only /usr/lib/os-release exists
    assert_eq!(
        (ubuntu.id.as_str(), ubuntu.version_id.as_deref()),
        ("ubuntu", Some("22.04"))
    );
    assert_eq!(ubuntu.id_like, ["debian"]);
    assert_eq!(ubuntu.version_codename.as_deref(), Some("jammy"));

    let alma = os("almalinux");
    assert_eq!(
        (alma.id.as_str(), alma.version_id.as_deref()),
        ("almalinux", Some("9.4"))
    );
    assert_eq!(alma.id_like, ["rhel", "centos", "fedora"]);
    assert_eq!(
        alma.pretty_name.as_deref(),
        Some("AlmaLinux 9.4 (Seafoam Ocelot)")
    );
    assert_eq!(alma.version_codename, None);

    let alpine = os("alpine");
    assert_eq!(
        (alpine.id.as_str(), alpine.version_id.as_deref()),
        ("alpine", Some("3.20.3"))
    );
    assert!(alpine.id_like.is_empty());

    assert_eq!(
        read_os_release(&Root::new(data("no-such-root"))).unwrap(),
        None
    );
}

#[test]
fn addresses_from_captured_ip_output() {
    let addresses = parse_ip_addr(fixture("ip-j-addr.json").as_bytes()).unwrap();
    let summary: Vec<(&str, IpAddr, u8)> = addresses
        .iter()
        .map(|a| (a.interface.as_str(), a.address, a.prefix_len))
        .collect();
    assert_eq!(
        summary,
        [
            ("eth0", "192.0.2.2".parse().unwrap(), 24),
            ("eth0", "fd00::2".parse().unwrap(), 64),
            ("eth0", "fe80::fc:ff:fe00:1".parse().unwrap(), 64),
        ]
    );
    assert!(parse_ip_addr(b"not json").is_err());
}

#[test]
fn debian_root_facts() {
    let inventory = rivet_agent::collect(&data("debian-reboot"), at()).unwrap();
    let host = &inventory.host;
    assert_eq!(host.hostname.as_deref(), Some("web1"));
    assert_eq!(host.fqdn.as_deref(), Some("web1.example.org"));
    assert_eq!(
        host.machine_id.as_deref(),
        Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    );
    assert_eq!(host.architecture.as_deref(), Some("amd64"));
    assert_eq!(host.running_kernel.as_deref(), Some("6.1.0-18-amd64"));
    assert_eq!(host.boot_time.unwrap().as_second(), 1_795_400_000);
    assert_eq!(
        host.package_managers,
        [PackageManager::Dpkg, PackageManager::Apt]
    );
    assert!(
        host.addresses.is_empty(),
        "addresses are read only on a live root"
    );
    let virt = host.virtualization.as_ref().unwrap();
    assert_eq!(
        (virt.kind, virt.technology.as_deref()),
        (VirtualizationKind::Vm, Some("qemu"))
    );
    let kernels: Vec<(&str, Option<&str>)> = host
        .installed_kernels
        .iter()
        .map(|k| (k.release.as_str(), k.version.as_deref()))
        .collect();
    assert_eq!(
        kernels,
        [
            ("6.1.0-18-amd64", Some("6.1.76-1")),
            ("6.1.0-21-amd64", Some("6.1.90-1"))
        ]
    );
    assert!(inventory.problems.is_empty(), "{:?}", inventory.problems);
}

#[test]
fn container_hints() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("run")).unwrap();
    std::fs::write(root.path().join("run/.containerenv"), "").unwrap();
    let virt = detect(&Root::new(root.path())).unwrap();
    assert_eq!(
        (virt.kind, virt.technology.as_deref()),
        (VirtualizationKind::Container, Some("podman"))
    );
    std::fs::write(root.path().join(".dockerenv"), "").unwrap();
    assert_eq!(
        detect(&Root::new(root.path()))
            .unwrap()
            .technology
            .as_deref(),
        Some("docker")
    );
}

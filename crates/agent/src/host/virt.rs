//! Virtualisation: container hints in the root, `systemd-detect-virt` on a
//! live host, and the firmware's DMI strings as a fallback.

use std::process::Command;

use rivet_core::inventory::{Virtualization, VirtualizationKind};

use crate::rootfs::{Root, SMALL_FILE_LIMIT};

/// The container technologies systemd-detect-virt names.
const CONTAINERS: [&str; 10] = [
    "openvz",
    "lxc",
    "lxc-libvirt",
    "systemd-nspawn",
    "docker",
    "podman",
    "rkt",
    "wsl",
    "proot",
    "pouch",
];

/// Detects how the system under `root` is virtualised; `None` if unknown.
pub fn detect(root: &Root) -> Option<Virtualization> {
    container_hint(root)
        .or_else(|| root.is_live().then(invoke_detect_virt).flatten())
        .or_else(|| {
            let read = |file: &str| {
                root.read(&format!("/sys/class/dmi/id/{file}"), SMALL_FILE_LIMIT)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            };
            parse_dmi(&read("sys_vendor"), &read("product_name"))
        })
}

/// Files container engines leave in the container's root.
pub fn container_hint(root: &Root) -> Option<Virtualization> {
    let technology = if root.exists("/.dockerenv") {
        "docker".to_owned()
    } else if root.exists("/run/.containerenv") {
        "podman".to_owned()
    } else {
        // systemd writes the container manager's name here at boot.
        let name = root
            .read("/run/systemd/container", SMALL_FILE_LIMIT)
            .ok()??;
        name.trim().to_owned()
    };
    (!technology.is_empty()).then_some(Virtualization {
        kind: VirtualizationKind::Container,
        technology: Some(technology),
    })
}

/// Runs `systemd-detect-virt` (it exits 1 after printing `none`).
pub fn invoke_detect_virt() -> Option<Virtualization> {
    let output = Command::new("systemd-detect-virt").output().ok()?;
    parse_detect_virt(&String::from_utf8_lossy(&output.stdout))
}

/// Parses systemd-detect-virt's output.
pub fn parse_detect_virt(text: &str) -> Option<Virtualization> {
    let name = text.trim();
    if name.is_empty() {
        return None;
    }
    Some(match name {
        "none" => Virtualization {
            kind: VirtualizationKind::None,
            technology: None,
        },
        name => Virtualization {
            kind: if CONTAINERS.contains(&name) {
                VirtualizationKind::Container
            } else {
                VirtualizationKind::Vm
            },
            technology: Some(name.to_owned()),
        },
    })
}

/// Recognises hypervisors from `/sys/class/dmi/id/sys_vendor` and
/// `product_name`, after systemd's own DMI table.
pub fn parse_dmi(vendor: &str, product: &str) -> Option<Virtualization> {
    let (vendor, product) = (vendor.trim(), product.trim());
    if vendor.is_empty() && product.is_empty() {
        return None;
    }
    let table: [(&str, &str); 9] = [
        ("KVM", "kvm"),
        ("QEMU", "qemu"),
        ("VMware", "vmware"),
        ("VirtualBox", "oracle"),
        ("innotek GmbH", "oracle"),
        ("Xen", "xen"),
        ("Bochs", "bochs"),
        ("Amazon EC2", "amazon"),
        ("Google Compute Engine", "google"),
    ];
    let technology = table
        .iter()
        .find(|(needle, _)| vendor.starts_with(needle) || product.starts_with(needle))
        .map(|(_, name)| *name)
        .or(
            (vendor == "Microsoft Corporation" && product == "Virtual Machine")
                .then_some("microsoft"),
        );
    Some(match technology {
        Some(name) => Virtualization {
            kind: VirtualizationKind::Vm,
            technology: Some(name.to_owned()),
        },
        None => Virtualization {
            kind: VirtualizationKind::None,
            technology: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_virt_and_dmi() {
        assert_eq!(
            parse_detect_virt("docker\n").unwrap().kind,
            VirtualizationKind::Container
        );
        assert_eq!(
            parse_detect_virt("kvm\n").unwrap().kind,
            VirtualizationKind::Vm
        );
        assert_eq!(
            parse_detect_virt("none\n").unwrap().kind,
            VirtualizationKind::None
        );
        assert_eq!(parse_detect_virt(""), None);
        let vm = parse_dmi("QEMU\n", "Standard PC (Q35 + ICH9, 2009)\n").unwrap();
        assert_eq!(vm.technology.as_deref(), Some("qemu"));
        let hyperv = parse_dmi("Microsoft Corporation", "Virtual Machine").unwrap();
        assert_eq!(hyperv.technology.as_deref(), Some("microsoft"));
        assert_eq!(
            parse_dmi("Dell Inc.", "PowerEdge R650").unwrap().kind,
            VirtualizationKind::None
        );
        assert_eq!(parse_dmi("", ""), None);
    }
}

//! Host facts (INV-2): names, OS, kernels, architecture, virtualisation, boot
//! time, addresses and the package managers present. Files are read under the
//! root; commands that describe the running system (`ip`,
//! `systemd-detect-virt`) run only when the root is live.

pub mod kernel;
pub mod network;
pub mod os_release;
pub mod virt;

use std::collections::HashMap;

use rivet_core::inventory::{HostFacts, Package, PackageManager, Problem};

use crate::rootfs::{ReadError, Root, SMALL_FILE_LIMIT};

/// Where the programs of package managers are looked for.
const PROGRAM_DIRS: [&str; 4] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/// The host's name: the kernel's on the live system, else `/etc/hostname`.
pub fn hostname(root: &Root) -> Option<String> {
    hostname_with(root.is_live(), &mut |path| {
        root.read(path, SMALL_FILE_LIMIT).ok().flatten()
    })
}

fn hostname_with(live: bool, read: &mut dyn FnMut(&str) -> Option<String>) -> Option<String> {
    live.then(|| read("/proc/sys/kernel/hostname"))
        .flatten()
        .or_else(|| read("/etc/hostname"))
        .and_then(|text| network::parse_hostname(&text))
}

/// Collects the host facts of the system under `root`, given its installed
/// packages; what cannot be read is added to `problems` and left empty.
pub fn collect_facts(root: &Root, packages: &[Package], problems: &mut Vec<Problem>) -> HostFacts {
    let mut read = |path: &str| -> Option<String> {
        match root.read(path, SMALL_FILE_LIMIT) {
            Ok(text) => text,
            Err(e) => {
                problems.push(read_problem(&e));
                None
            }
        }
    };
    let live = root.is_live();
    let hostname = hostname_with(live, &mut read);
    let fqdn = hostname
        .as_deref()
        .and_then(|name| network::parse_hosts_fqdn(&read("/etc/hosts").unwrap_or_default(), name));
    let machine_id = read("/etc/machine-id")
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty() && id != "uninitialized");
    let running_kernel = read("/proc/sys/kernel/osrelease")
        .map(|release| release.trim().to_owned())
        .filter(|release| !release.is_empty());
    let boot_time = read("/proc/stat").and_then(|stat| kernel::parse_boot_time(&stat));
    let architecture = read("/etc/apk/arch")
        .map(|arch| arch.trim().to_owned())
        .or_else(|| primary_architecture(packages))
        .or_else(|| live.then(|| std::env::consts::ARCH.to_owned()));
    let os = os_release::read_os_release(root).unwrap_or_else(|e| {
        problems.push(read_problem(&e));
        None
    });
    let addresses = if live {
        network::invoke_ip_addr().unwrap_or_else(|e| {
            problems.push(Problem {
                source: "ip -j addr".into(),
                line: None,
                message: e.to_string(),
            });
            Vec::new()
        })
    } else {
        Vec::new()
    };
    HostFacts {
        hostname,
        fqdn,
        machine_id,
        os,
        architecture,
        running_kernel,
        installed_kernels: kernel::installed_kernels(packages, &kernel::boot_images(root)),
        virtualization: virt::detect(root),
        boot_time,
        addresses,
        package_managers: package_managers(root),
    }
}

/// The package managers whose programs exist under `root`.
pub fn package_managers(root: &Root) -> Vec<PackageManager> {
    PackageManager::ALL
        .into_iter()
        .filter(|manager| {
            PROGRAM_DIRS
                .iter()
                .any(|dir| root.path(dir).join(manager.program()).is_file())
        })
        .collect()
}

/// The architecture most packages have, `all` and `noarch` aside: the one
/// the package manager calls native.
pub fn primary_architecture(packages: &[Package]) -> Option<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for package in packages {
        if !matches!(package.architecture.as_str(), "all" | "noarch" | "(none)") {
            *counts.entry(package.architecture.as_str()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(arch, _)| arch.to_owned())
}

/// A problem for a file that could not be read.
pub fn read_problem(error: &ReadError) -> Problem {
    let path = match error {
        ReadError::Io { path, .. }
        | ReadError::TooLarge { path, .. }
        | ReadError::NotUtf8 { path } => path,
    };
    Problem {
        source: path.display().to_string(),
        line: None,
        message: error.to_string(),
    }
}

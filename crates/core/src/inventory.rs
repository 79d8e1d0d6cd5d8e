//! A host's inventory as the agent reports it (INV-2, INV-3, INV-5): host
//! facts, installed packages, whether a reboot is required, and processes that
//! still use deleted files. Plain serialisable data, so that the agent, the
//! server's store and `rivet scan` share one shape; collecting it is the
//! agent's job.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::version::Scheme;

/// Everything the agent collected about one host at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// When the collection ran (passed in by the caller, never read here).
    pub collected_at: Timestamp,
    /// Facts about the host itself.
    pub host: HostFacts,
    /// Installed packages of every package format found on the host.
    pub packages: Vec<Package>,
    /// Packages a package manager left half-way (unpacked, half-configured …):
    /// their files may be on disk, but they are not cleanly installed.
    pub unfinished_packages: Vec<UnfinishedPackage>,
    /// Whether the host must reboot, and why.
    pub reboot: RebootStatus,
    /// Processes that still map files which have since been deleted or
    /// replaced, typically by an update; they must restart.
    pub stale_processes: Vec<StaleProcess>,
    /// What could not be read or parsed; the rest of the inventory is valid.
    pub problems: Vec<Problem>,
}

/// Facts about a host (INV-2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// The kernel's host name.
    pub hostname: Option<String>,
    /// The fully qualified domain name, if the host's files give one.
    pub fqdn: Option<String>,
    /// `/etc/machine-id`.
    pub machine_id: Option<String>,
    /// The operating system, from os-release.
    pub os: Option<OsRelease>,
    /// The primary architecture as the host's package manager names it
    /// (`amd64` for dpkg, `x86_64` for rpm and apk).
    pub architecture: Option<String>,
    /// The running kernel's release (`uname -r`); known only on a live host.
    pub running_kernel: Option<String>,
    /// Kernels installed on disk, newest last.
    pub installed_kernels: Vec<InstalledKernel>,
    /// Whether the host is a virtual machine or container, and which.
    pub virtualization: Option<Virtualization>,
    /// When the running kernel booted.
    pub boot_time: Option<Timestamp>,
    /// The host's IP addresses, loopback excluded.
    pub addresses: Vec<Address>,
    /// The package-manager programs present.
    pub package_managers: Vec<PackageManager>,
}

/// The fields of os-release(5) that Rivet uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    /// `ID`, e.g. `debian`, `ubuntu`, `almalinux`, `alpine`.
    pub id: String,
    /// `VERSION_ID`, e.g. `12`, `22.04`, `9.4`, `3.20.3`.
    pub version_id: Option<String>,
    /// `PRETTY_NAME`.
    pub pretty_name: Option<String>,
    /// `ID_LIKE`, split on spaces.
    pub id_like: Vec<String>,
    /// `VERSION_CODENAME`, e.g. `bookworm`.
    pub version_codename: Option<String>,
}

/// A kernel installed on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledKernel {
    /// The kernel's release as `uname -r` would print it when it runs.
    pub release: String,
    /// The package that installed it, if known.
    pub package: Option<String>,
    /// That package's version, compared under the package format's scheme.
    pub version: Option<String>,
    /// That package's format, which decides how versions compare.
    pub format: Option<PackageFormat>,
}

/// How a host is virtualised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Virtualization {
    /// A virtual machine, a container, or bare metal.
    pub kind: VirtualizationKind,
    /// The technology in systemd-detect-virt's vocabulary (`kvm`, `vmware`,
    /// `docker`, `podman` …), if known.
    pub technology: Option<String>,
}

/// Whether a host is a virtual machine, a container, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtualizationKind {
    /// Bare metal.
    None,
    /// A virtual machine.
    Vm,
    /// A container.
    Container,
}

/// One IP address of one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// The interface name, e.g. `eth0`.
    pub interface: String,
    /// The address.
    pub address: IpAddr,
    /// The prefix length of its network.
    pub prefix_len: u8,
}

/// A package-manager program present on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    /// Debian's package tool.
    Dpkg,
    /// Debian's front end.
    Apt,
    /// The RPM package tool.
    Rpm,
    /// The RHEL family's front end.
    Dnf,
    /// dnf's predecessor.
    Yum,
    /// SUSE's front end.
    Zypper,
    /// Alpine's package tool.
    Apk,
}

impl PackageManager {
    /// Every package manager, in a fixed order.
    pub const ALL: [PackageManager; 7] = [
        PackageManager::Dpkg,
        PackageManager::Apt,
        PackageManager::Rpm,
        PackageManager::Dnf,
        PackageManager::Yum,
        PackageManager::Zypper,
        PackageManager::Apk,
    ];

    /// The name of its program (`apt` stands for `apt-get` and `apt`).
    pub fn program(self) -> &'static str {
        match self {
            PackageManager::Dpkg => "dpkg",
            PackageManager::Apt => "apt-get",
            PackageManager::Rpm => "rpm",
            PackageManager::Dnf => "dnf",
            PackageManager::Yum => "yum",
            PackageManager::Zypper => "zypper",
            PackageManager::Apk => "apk",
        }
    }
}

/// The format a package was installed in, which decides how its versions
/// compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageFormat {
    /// A Debian package, from dpkg's database.
    Deb,
    /// An RPM package, from rpm's database.
    Rpm,
    /// An Alpine package, from apk's database.
    Apk,
}

impl PackageFormat {
    /// The version scheme its versions compare under.
    pub fn scheme(self) -> Scheme {
        match self {
            PackageFormat::Deb => Scheme::Deb,
            PackageFormat::Rpm => Scheme::Rpm,
            PackageFormat::Apk => Scheme::Apk,
        }
    }
}

/// An installed package (INV-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Which database it came from.
    pub format: PackageFormat,
    /// The binary package's name.
    pub name: String,
    /// Its full version (`[epoch:]version[-revision]` for deb and rpm).
    pub version: String,
    /// Its architecture (`amd64`, `all`, `x86_64`, `noarch` …).
    pub architecture: String,
    /// The source package it was built from (the name itself if none given).
    pub source_name: String,
    /// The source package's version (the binary's version if none given).
    pub source_version: String,
    /// The repository it was installed from, when the database records it.
    pub repository: Option<String>,
    /// When it was installed or last updated, when the database records it.
    pub installed_at: Option<Timestamp>,
}

/// A package a package manager did not finish installing or removing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnfinishedPackage {
    /// The package as its database describes it.
    pub package: Package,
    /// The state the database gives, e.g. dpkg's `half-configured`.
    pub state: String,
}

/// Whether a host must reboot (INV-5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootStatus {
    /// True when at least one reason applies.
    pub required: bool,
    /// Every reason found.
    pub reasons: Vec<RebootReason>,
}

impl RebootStatus {
    /// The status for these reasons.
    pub fn from_reasons(reasons: Vec<RebootReason>) -> Self {
        RebootStatus {
            required: !reasons.is_empty(),
            reasons,
        }
    }
}

/// One reason a host must reboot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RebootReason {
    /// Debian's `/var/run/reboot-required` exists; the packages that asked
    /// for it are listed in `reboot-required.pkgs`.
    RebootRequiredFile {
        /// The packages named in `reboot-required.pkgs`.
        packages: Vec<String>,
    },
    /// A newer kernel is installed than the one running.
    NewerKernel {
        /// The running kernel's release.
        running: String,
        /// The newest installed kernel's release.
        newest: String,
    },
    /// The running kernel's package is no longer installed.
    RunningKernelRemoved {
        /// The running kernel's release.
        running: String,
    },
    /// A core package (kernel, glibc, systemd …) was updated after boot, as
    /// dnf's needs-restarting judges it.
    CorePackageUpdated {
        /// The package's name.
        package: String,
        /// When it was installed.
        installed_at: Timestamp,
    },
}

/// A process that maps files which were deleted or replaced since it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleProcess {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub command: String,
    /// The systemd unit it belongs to, if any (`ssh.service`).
    pub unit: Option<String>,
    /// The deleted files it still maps.
    pub deleted_files: Vec<String>,
}

/// Something the agent could not read or parse; collection went on without
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The file or command concerned.
    pub source: String,
    /// The line in that file, counted from 1, if it applies.
    pub line: Option<usize>,
    /// What was wrong.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboot_reasons_serialise_with_a_kind_tag() {
        let status = RebootStatus::from_reasons(vec![RebootReason::NewerKernel {
            running: "6.1.0-18-amd64".into(),
            newest: "6.1.0-21-amd64".into(),
        }]);
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["required"], true);
        assert_eq!(json["reasons"][0]["kind"], "newer_kernel");
        let back: RebootStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
    }

    #[test]
    fn formats_map_to_their_version_schemes() {
        assert_eq!(PackageFormat::Deb.scheme(), Scheme::Deb);
        assert_eq!(PackageFormat::Rpm.scheme(), Scheme::Rpm);
        assert_eq!(PackageFormat::Apk.scheme(), Scheme::Apk);
    }
}

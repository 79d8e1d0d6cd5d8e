//! Whether a host must reboot (INV-5). Three rules, each a reason:
//! Debian's `/var/run/reboot-required` flag file; a newer kernel installed
//! than the one running (compared under the kernel package's version scheme);
//! and, where the database records install times (rpm), dnf needs-restarting's
//! rule that a core package updated after boot needs a reboot. The rules are
//! pure over [`RebootInputs`]; only [`read_reboot_required`] reads files.

use std::cmp::Ordering;

use jiff::Timestamp;
use rivet_core::inventory::{InstalledKernel, Package, RebootReason, RebootStatus};
use rivet_core::version;

use crate::rootfs::{ReadError, Root, SMALL_FILE_LIMIT};

/// The flag file Debian's packages create when they need a reboot.
pub const REBOOT_REQUIRED: &str = "/var/run/reboot-required";
/// The packages that created it, one per line.
pub const REBOOT_REQUIRED_PKGS: &str = "/var/run/reboot-required.pkgs";

/// Packages whose update needs a reboot, as dnf's needs-restarting lists them
/// (after Red Hat's solution 27943), plus `kernel-core`, which carries the
/// kernel image since RHEL 8.
pub const CORE_PACKAGES: [&str; 11] = [
    "kernel",
    "kernel-core",
    "kernel-rt",
    "glibc",
    "linux-firmware",
    "systemd",
    "udev",
    "dbus",
    "dbus-broker",
    "dbus-daemon",
    "microcode_ctl",
];

/// What the reboot rules look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct RebootInputs<'a> {
    /// The packages listed in `reboot-required.pkgs`, if the flag file exists.
    pub reboot_required: Option<&'a [String]>,
    /// The running kernel's release.
    pub running_kernel: Option<&'a str>,
    /// The installed kernels, oldest first.
    pub installed_kernels: &'a [InstalledKernel],
    /// True in a container, whose running kernel belongs to the host outside.
    pub in_container: bool,
    /// The installed packages.
    pub packages: &'a [Package],
    /// When the running kernel booted.
    pub boot_time: Option<Timestamp>,
}

/// Applies every rule.
pub fn assess(inputs: &RebootInputs<'_>) -> RebootStatus {
    let mut reasons = Vec::new();
    if let Some(packages) = inputs.reboot_required {
        reasons.push(RebootReason::RebootRequiredFile {
            packages: packages.to_vec(),
        });
    }
    if !inputs.in_container {
        reasons.extend(
            inputs
                .running_kernel
                .and_then(|running| kernel_reason(running, inputs.installed_kernels)),
        );
    }
    if let Some(boot) = inputs.boot_time {
        for package in inputs.packages {
            if let Some(installed_at) = package.installed_at
                && installed_at > boot
                && CORE_PACKAGES.contains(&package.name.as_str())
            {
                reasons.push(RebootReason::CorePackageUpdated {
                    package: package.name.clone(),
                    installed_at,
                });
            }
        }
    }
    RebootStatus::from_reasons(reasons)
}

/// The kernel rule: the running kernel is no longer installed, or an
/// installed one has a newer package version.
fn kernel_reason(running: &str, installed: &[InstalledKernel]) -> Option<RebootReason> {
    let packaged: Vec<&InstalledKernel> =
        installed.iter().filter(|k| k.version.is_some()).collect();
    let newest = *packaged.last()?;
    let Some(current) = installed.iter().find(|k| k.release == running) else {
        return Some(RebootReason::RunningKernelRemoved {
            running: running.to_owned(),
        });
    };
    let (Some(format), Some(current_version), Some(newest_version)) =
        (current.format, &current.version, &newest.version)
    else {
        return None;
    };
    let newer = newest.format == Some(format)
        && version::compare(format.scheme(), newest_version, current_version)
            == Ok(Ordering::Greater);
    newer.then(|| RebootReason::NewerKernel {
        running: running.to_owned(),
        newest: newest.release.clone(),
    })
}

/// The packages named in `reboot-required.pkgs` if the flag file exists
/// under `root`; `None` if it does not.
pub fn read_reboot_required(root: &Root) -> Result<Option<Vec<String>>, ReadError> {
    if !root.exists(REBOOT_REQUIRED) {
        return Ok(None);
    }
    let pkgs = root
        .read(REBOOT_REQUIRED_PKGS, SMALL_FILE_LIMIT)?
        .unwrap_or_default();
    Ok(Some(parse_reboot_required_pkgs(&pkgs)))
}

/// The package names in `reboot-required.pkgs`, in order, once each.
pub fn parse_reboot_required_pkgs(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkgs_file_is_deduplicated() {
        assert_eq!(
            parse_reboot_required_pkgs("linux-image-6.1.0-21-amd64\nlibc6\nlibc6\n\n"),
            ["linux-image-6.1.0-21-amd64", "libc6"]
        );
    }
}

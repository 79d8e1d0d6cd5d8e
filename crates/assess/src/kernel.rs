//! Kernels and ASM-7: a kernel fix is installed when the package is updated,
//! but it protects the host only once the host runs it. [`is_kernel`] marks
//! the matches this concerns; [`fix_state`] tells the finding layer whether
//! a fixed kernel is actually running, installed but waiting for a reboot,
//! or not installed.

use std::cmp::Ordering;

use rivet_core::inventory::{HostFacts, PackageFormat, RebootReason, RebootStatus};
use rivet_core::version;

use crate::package::PackageRef;

/// The rpm source packages of kernels (RHEL and its rebuilds, Oracle's UEK).
const RPM_KERNEL_SOURCES: [&str; 3] = ["kernel", "kernel-rt", "kernel-uek"];
/// Alpine's kernel flavours (`linux-lts`, `linux-virt` …).
const APK_KERNELS: [&str; 5] = [
    "linux-lts",
    "linux-virt",
    "linux-edge",
    "linux-rpi",
    "linux-stable",
];

/// Whether a package is built from a kernel's source package, so that its
/// fix needs a reboot: Debian's and Ubuntu's `linux` and `linux-signed-*`
/// sources and `linux-image-*`/`linux-modules-*` binaries, the rpm
/// `kernel` sources (and `kernel-core*`, `kernel-modules*` … by name when
/// the source is not known), Alpine's `linux-<flavour>` packages. Language packages
/// never are.
pub fn is_kernel(package: &PackageRef<'_>) -> bool {
    match package.format {
        Some(PackageFormat::Deb) => {
            package.source_name == "linux"
                || package.source_name.starts_with("linux-signed")
                || package.name.starts_with("linux-image-")
                || package.name.starts_with("linux-modules-")
        }
        Some(PackageFormat::Rpm) => {
            // Plain `rpm -qa` gives no source package: then the image and
            // module packages are known by name.
            RPM_KERNEL_SOURCES.contains(&package.source_name)
                || RPM_KERNEL_SOURCES.contains(&package.name)
                || ["kernel-core", "kernel-modules", "kernel-rt-", "kernel-uek-"]
                    .iter()
                    .any(|prefix| package.name.starts_with(prefix))
        }
        Some(PackageFormat::Apk) => {
            APK_KERNELS.contains(&package.source_name) || APK_KERNELS.contains(&package.name)
        }
        None => false,
    }
}

/// Whether a kernel fix protects the host yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelFix {
    /// The running kernel's package is at or above the fixed version.
    Running,
    /// A fixed kernel is installed, but the host still runs an older one:
    /// remediated after the next reboot.
    PendingReboot,
    /// No installed kernel is at or above the fixed version.
    NotInstalled,
    /// A fixed kernel is installed, but which kernel runs is not known (an
    /// imported inventory, or a running kernel without a package).
    Unknown,
}

/// Whether a kernel at or above `fixed_version` runs on the host.
///
/// The host's installed kernels carry their package's version and format
/// (the agent records them); each is compared with `fixed_version` under
/// its format's scheme. The running kernel is found by its release
/// (`uname -r`). When it is not known, the reboot status decides: a newer
/// kernel or a removed running kernel means the fix waits for a reboot.
pub fn fix_state(host: &HostFacts, reboot: &RebootStatus, fixed_version: &str) -> KernelFix {
    let at_least_fixed = |version: Option<&String>, format: Option<PackageFormat>| {
        matches!(
            (version, format),
            (Some(v), Some(f)) if version::compare(f.scheme(), v, fixed_version)
                .is_ok_and(|o| o != Ordering::Less)
        )
    };
    let fixed_installed = host
        .installed_kernels
        .iter()
        .any(|k| at_least_fixed(k.version.as_ref(), k.format));
    let running = host.running_kernel.as_deref().and_then(|release| {
        host.installed_kernels
            .iter()
            .find(|k| k.release == release && k.version.is_some() && k.format.is_some())
    });
    match running {
        Some(k) if at_least_fixed(k.version.as_ref(), k.format) => KernelFix::Running,
        _ if !fixed_installed => KernelFix::NotInstalled,
        Some(_) => KernelFix::PendingReboot,
        None => {
            let kernel_reason = reboot.reasons.iter().any(|r| {
                matches!(
                    r,
                    RebootReason::NewerKernel { .. } | RebootReason::RunningKernelRemoved { .. }
                )
            });
            if kernel_reason {
                KernelFix::PendingReboot
            } else {
                KernelFix::Unknown
            }
        }
    }
}

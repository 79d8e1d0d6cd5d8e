//! Kernels: the running one (`/proc/sys/kernel/osrelease`), the installed
//! ones from the package list (`linux-image-*` for dpkg, `kernel-core` and
//! `kernel` for rpm, `linux-<flavour>` for apk) and from `/boot/vmlinuz-*`,
//! and the boot time from `/proc/stat`.

use std::cmp::Ordering;

use jiff::Timestamp;
use rivet_core::inventory::{InstalledKernel, Package, PackageFormat};
use rivet_core::version;

use crate::rootfs::Root;

/// The rpm packages that install a kernel image.
const RPM_KERNELS: [&str; 6] = [
    "kernel-core",
    "kernel",
    "kernel-rt-core",
    "kernel-rt",
    "kernel-uek-core",
    "kernel-uek",
];

/// Alpine's kernel flavours (`linux-lts`, `linux-virt` …); `linux-firmware`,
/// `linux-headers` and `linux-pam` are not kernels.
const APK_FLAVOURS: [&str; 5] = ["lts", "virt", "edge", "rpi", "stable"];

/// The kernel a package installs, with its `uname -r` release.
pub fn kernel_of(package: &Package) -> Option<InstalledKernel> {
    let release = match package.format {
        PackageFormat::Deb => {
            let rest = package.name.strip_prefix("linux-image-")?;
            if !rest.starts_with(|c: char| c.is_ascii_digit()) {
                return None; // a metapackage such as linux-image-amd64
            }
            rest.strip_suffix("-unsigned").unwrap_or(rest).to_owned()
        }
        PackageFormat::Rpm => {
            if !RPM_KERNELS.contains(&package.name.as_str()) {
                return None;
            }
            let vr = package
                .version
                .split_once(':')
                .map_or(package.version.as_str(), |(_, vr)| vr);
            format!("{vr}.{}", package.architecture)
        }
        PackageFormat::Apk => {
            let flavour = package.name.strip_prefix("linux-")?;
            if !APK_FLAVOURS.contains(&flavour) {
                return None;
            }
            let (upstream, rel) = package.version.rsplit_once("-r")?;
            format!("{upstream}-{rel}-{flavour}")
        }
    };
    Some(InstalledKernel {
        release,
        package: Some(package.name.clone()),
        version: Some(package.version.clone()),
        format: Some(package.format),
    })
}

/// The installed kernels: those from packages, then any other
/// `/boot/vmlinuz-*`; packaged kernels sorted oldest to newest under their
/// format's version scheme, unpackaged ones first.
pub fn installed_kernels(packages: &[Package], boot_images: &[String]) -> Vec<InstalledKernel> {
    let mut kernels: Vec<InstalledKernel> = Vec::new();
    for kernel in packages.iter().filter_map(kernel_of) {
        // On RHEL both kernel and kernel-core exist for one release.
        if !kernels.iter().any(|k| k.release == kernel.release) {
            kernels.push(kernel);
        }
    }
    for release in boot_images {
        if !kernels.iter().any(|k| &k.release == release) {
            kernels.push(InstalledKernel {
                release: release.clone(),
                package: None,
                version: None,
                format: None,
            });
        }
    }
    kernels.sort_by(compare_kernels);
    kernels
}

/// Orders kernels by their package versions; unpackaged ones by release.
pub fn compare_kernels(a: &InstalledKernel, b: &InstalledKernel) -> Ordering {
    match (&a.version, &b.version, a.format) {
        (Some(va), Some(vb), Some(format)) if a.format == b.format => {
            version::compare(format.scheme(), va, vb).unwrap_or_else(|_| va.cmp(vb))
        }
        _ => (a.version.is_some(), &a.release).cmp(&(b.version.is_some(), &b.release)),
    }
}

/// The releases of the kernel images in `/boot` (`vmlinuz-<release>`).
pub fn boot_images(root: &Root) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.path("/boot")) else {
        return Vec::new();
    };
    let mut releases: Vec<String> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let release = name.strip_prefix("vmlinuz-")?;
            // Alpine names images after the flavour (vmlinuz-lts), not a release.
            release
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| release.to_owned())
        })
        .collect();
    releases.sort();
    releases
}

/// The boot time from the text of `/proc/stat` (`btime <seconds>`).
pub fn parse_boot_time(stat: &str) -> Option<Timestamp> {
    let seconds = stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse::<i64>()
        .ok()?;
    Timestamp::from_second(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(format: PackageFormat, name: &str, version: &str, arch: &str) -> Package {
        Package {
            format,
            name: name.into(),
            version: version.into(),
            architecture: arch.into(),
            source_name: name.into(),
            source_version: version.into(),
            repository: None,
            installed_at: None,
        }
    }

    #[test]
    fn kernels_from_each_format() {
        let deb = PackageFormat::Deb;
        let packages = [
            package(deb, "linux-image-6.1.0-21-amd64", "6.1.90-1", "amd64"),
            package(deb, "linux-image-amd64", "6.1.90-1", "amd64"),
            package(deb, "linux-image-6.1.0-18-amd64", "6.1.76-1", "amd64"),
        ];
        let kernels = installed_kernels(
            &packages,
            &["6.1.0-18-amd64".into(), "5.10.0-1-amd64".into()],
        );
        let releases: Vec<&str> = kernels.iter().map(|k| k.release.as_str()).collect();
        assert_eq!(
            releases,
            ["5.10.0-1-amd64", "6.1.0-18-amd64", "6.1.0-21-amd64"]
        );

        let rpm = package(
            PackageFormat::Rpm,
            "kernel-core",
            "5.14.0-427.13.1.el9_4",
            "x86_64",
        );
        assert_eq!(
            kernel_of(&rpm).unwrap().release,
            "5.14.0-427.13.1.el9_4.x86_64"
        );
        let apk = package(PackageFormat::Apk, "linux-lts", "6.6.58-r0", "x86_64");
        assert_eq!(kernel_of(&apk).unwrap().release, "6.6.58-0-lts");
        assert!(
            kernel_of(&package(
                PackageFormat::Apk,
                "linux-pam",
                "1.6.1-r0",
                "x86_64"
            ))
            .is_none()
        );
    }

    #[test]
    fn boot_time_from_proc_stat() {
        let stat = "cpu  1 2 3\nintr 5\nbtime 1763800000\nprocesses 9\n";
        assert_eq!(
            parse_boot_time(stat),
            Some(Timestamp::from_second(1_763_800_000).unwrap())
        );
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }
}

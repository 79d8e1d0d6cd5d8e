//! Reboot required: Debian's flag file, newer kernels, core packages updated
//! after boot, and containers.

use jiff::Timestamp;
use rivet_agent::host::kernel::kernel_of;
use rivet_agent::packages::rpm::parse_query;
use rivet_agent::reboot::{RebootInputs, assess};
use rivet_core::inventory::{RebootReason, RebootStatus};

use crate::{at, data, fixture};

#[test]
fn debian_flag_file_and_newer_kernel() {
    let inventory = rivet_agent::collect(&data("debian-reboot"), at()).unwrap();
    assert_eq!(
        inventory.reboot,
        RebootStatus {
            required: true,
            reasons: vec![
                RebootReason::RebootRequiredFile {
                    packages: vec!["linux-image-6.1.0-21-amd64".into(), "libc6".into()]
                },
                RebootReason::NewerKernel {
                    running: "6.1.0-18-amd64".into(),
                    newest: "6.1.0-21-amd64".into()
                },
            ]
        }
    );
}

fn ts(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).unwrap()
}

#[test]
fn rpm_core_packages_after_boot() {
    // The captured packages were installed at 1795476884.
    let packages = parse_query(&fixture("rpm-qa-captured.txt"), "rpm -qa").packages;
    let kernels: Vec<_> = packages.iter().filter_map(kernel_of).collect();
    let inputs = |boot| RebootInputs {
        running_kernel: Some("5.14.0-427.13.1.el9_4.noarch"),
        installed_kernels: &kernels,
        packages: &packages,
        boot_time: Some(ts(boot)),
        ..RebootInputs::default()
    };
    let after_boot = assess(&inputs(1_795_000_000));
    let names: Vec<&str> = after_boot
        .reasons
        .iter()
        .map(|r| match r {
            RebootReason::CorePackageUpdated { package, .. } => package.as_str(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        ["kernel-core", "glibc"],
        "tzdata and hello are no core packages"
    );
    assert_eq!(
        assess(&inputs(1_795_500_000)),
        RebootStatus::default(),
        "booted after the update"
    );
}

#[test]
fn containers_ignore_the_hosts_kernel_and_nothing_means_no_reboot() {
    let inventory = rivet_agent::collect(&data("debian-reboot"), at()).unwrap();
    let kernels = &inventory.host.installed_kernels;
    let running = RebootInputs {
        running_kernel: Some("6.1.0-18-amd64"),
        installed_kernels: kernels,
        ..RebootInputs::default()
    };
    assert!(assess(&running).required);
    assert!(
        !assess(&RebootInputs {
            in_container: true,
            ..running
        })
        .required
    );
    let current = RebootInputs {
        running_kernel: Some("6.1.0-21-amd64"),
        ..running
    };
    assert!(!assess(&current).required);
    let removed = RebootInputs {
        running_kernel: Some("6.1.0-9-amd64"),
        ..running
    };
    assert_eq!(
        assess(&removed).reasons,
        [RebootReason::RunningKernelRemoved {
            running: "6.1.0-9-amd64".into()
        }]
    );
    assert_eq!(assess(&RebootInputs::default()), RebootStatus::default());
}

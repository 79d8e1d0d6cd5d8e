//! apk's installed database, from an Alpine 3.20 root, also as the real
//! server holds it after a check-in.

use rivet_agent::packages::apk::parse_installed;
use rivet_core::inventory::{PackageFormat, PackageManager, RebootReason};

use crate::server::Rivet;
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

/// The fixture's records read plainly: name, version, architecture and
/// origin (the source package).
fn records() -> Vec<[String; 4]> {
    let text = std::fs::read_to_string(data("alpine").join("lib/apk/db/installed")).unwrap();
    let mut records: Vec<[String; 4]> = text
        .split("\n\n")
        .filter(|r| !r.trim().is_empty())
        .map(|record| {
            let field = |key: &str| {
                record
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .unwrap_or_else(|| panic!("{key} missing in {record}"))
                    .to_owned()
            };
            [field("P:"), field("V:"), field("A:"), field("o:")]
        })
        .collect();
    records.sort();
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_holds_the_alpine_packages_with_their_origins() {
    let rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    rivet_agent::checkin_once(agent.state.path(), &data("alpine"), rivet.now())
        .await
        .unwrap();
    let held = rivet.packages(&agent.host).await;
    let mut listed: Vec<[String; 4]> = held
        .iter()
        .map(|p| {
            assert_eq!(p.format, PackageFormat::Apk);
            assert_eq!(p.source_version, p.version, "{}", p.name);
            [
                p.name.clone(),
                p.version.clone(),
                p.architecture.clone(),
                p.source_name.clone(),
            ]
        })
        .collect();
    listed.sort();
    let expected = records();
    assert_eq!(expected.len(), 16);
    assert_eq!(listed, expected);
    assert!(
        listed
            .iter()
            .any(|[name, _, _, origin]| name == "libssl3" && origin == "openssl")
    );
    let detail = rivet.host(&agent.host).await;
    assert_eq!(detail["os_id"], "alpine");
    rivet.finish().await;
}

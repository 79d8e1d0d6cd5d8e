//! rpm: the parser on output captured from rpm 4.18, the whole backend
//! against a real rpm database that the test builds and installs, and a
//! root that dnf installed from a signed repository, reported to the real
//! server.

use std::path::Path;
use std::process::Command;

use rivet_agent::packages::rpm::parse_query;
use rivet_agent::packages::{Backend, rpm::QUERY_FORMAT};
use rivet_agent::rootfs::Root;
use rivet_core::inventory::{PackageFormat, RebootReason};

use crate::{at, fixture, have_tool};

#[test]
fn captured_output() {
    let out = parse_query(&fixture("rpm-qa-captured.txt"), "rpm -qa");
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let summary: Vec<(&str, &str, &str, &str)> = out
        .packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.source_name.as_str(),
                p.source_version.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("tzdata", "2:2024a-1.el9", "tzdata", "2:2024a-1.el9"),
            (
                "kernel-core",
                "5.14.0-427.13.1.el9_4",
                "kernel-core",
                "5.14.0-427.13.1.el9_4"
            ),
            ("hello", "1.0-1", "hello", "1.0-1"),
            ("glibc", "2.34-100.el9_4.2", "glibc", "2.34-100.el9_4.2"),
        ]
    );
    assert!(
        out.packages
            .iter()
            .all(|p| p.format == PackageFormat::Rpm && p.architecture == "noarch")
    );
    assert_eq!(
        out.packages[0].installed_at.unwrap().as_second(),
        1_795_476_884
    );
}

/// Builds a noarch rpm with rpmbuild into `topdir`; returns its path.
fn build_rpm(
    topdir: &Path,
    name: &str,
    version: &str,
    release: &str,
    epoch: Option<u32>,
) -> std::path::PathBuf {
    std::fs::create_dir_all(topdir).unwrap();
    let spec = topdir.join(format!("{name}-{version}-{release}.spec"));
    let epoch = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: {release}\n{epoch}Summary: Rivet test package\n\
             License: MIT\nBuildArch: noarch\n%description\nRivet test package.\n%files\n"
        ),
    )
    .unwrap();
    let output = Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", topdir.display()))
        .args(["--quiet", "-bb"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "rpmbuild: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    topdir.join(format!("RPMS/noarch/{name}-{version}-{release}.noarch.rpm"))
}

#[test]
fn real_rpm_database_in_a_root() {
    if !have_tool("rpm", "rpm") || !have_tool("rpmbuild", "rpm") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let topdir = work.path().join("build");
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
    let rpms = [
        build_rpm(&topdir, "kernel-core", "5.14.0", "362.8.1.el9_3", None),
        build_rpm(&topdir, "kernel-core", "5.14.0", "427.13.1.el9_4", None),
        build_rpm(&topdir, "bash", "5.1.8", "9.el9", None),
        build_rpm(&topdir, "tzdata", "2024a", "1.el9", Some(2)),
    ];
    let output = Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "--nodeps", "-i"])
        .args(&rpms)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "rpm -i: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Booted long before the install, on the older kernel.
    std::fs::write(root.join("proc/stat"), "cpu 1 2 3\nbtime 1700000000\n").unwrap();
    std::fs::write(
        root.join("proc/sys/kernel/osrelease"),
        "5.14.0-362.8.1.el9_3.noarch\n",
    )
    .unwrap();

    assert_eq!(Backend::detect(&Root::new(&root)), [Backend::Rpm]);
    let inventory = rivet_agent::collect(&root, at()).unwrap();
    let mut nevras: Vec<String> = inventory
        .packages
        .iter()
        .map(|p| format!("{}-{}.{}", p.name, p.version, p.architecture))
        .collect();
    nevras.sort();
    assert_eq!(
        nevras,
        [
            "bash-5.1.8-9.el9.noarch",
            "kernel-core-5.14.0-362.8.1.el9_3.noarch",
            "kernel-core-5.14.0-427.13.1.el9_4.noarch",
            "tzdata-2:2024a-1.el9.noarch",
        ]
    );
    assert!(inventory.packages.iter().all(|p| p.installed_at.is_some()));
    let releases: Vec<&str> = inventory
        .host
        .installed_kernels
        .iter()
        .map(|k| k.release.as_str())
        .collect();
    assert_eq!(
        releases,
        [
            "5.14.0-362.8.1.el9_3.noarch",
            "5.14.0-427.13.1.el9_4.noarch"
        ]
    );
    let reasons = &inventory.reboot.reasons;
    assert!(inventory.reboot.required);
    assert!(reasons.contains(&RebootReason::NewerKernel {
        running: "5.14.0-362.8.1.el9_3.noarch".into(),
        newest: "5.14.0-427.13.1.el9_4.noarch".into(),
    }));
    let core: Vec<&str> = reasons
        .iter()
        .filter_map(|r| match r {
            RebootReason::CorePackageUpdated { package, .. } => Some(package.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(core, ["kernel-core", "kernel-core"]);
}

#[test]
fn query_format_matches_the_parser() {
    assert_eq!(QUERY_FORMAT.matches("\\t").count(), 6);
    assert!(QUERY_FORMAT.ends_with("\\n"));
}

/// `rpm -qa` in `root`: name, epoch, version, release, architecture and
/// source rpm of each package.
fn rpm_qa(root: &Path) -> Vec<[String; 6]> {
    let output = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm", "-qa", "--qf"])
        .arg("%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n")
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut packages: Vec<[String; 6]> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let fields: Vec<String> = line.split('\t').map(str::to_owned).collect();
            fields.try_into().unwrap()
        })
        .collect();
    packages.sort();
    packages
}

/// Runs `command`, failing the test with its output if it fails.
fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A signed repository of two noarch packages (one a subpackage, so its
/// source rpm is the other's), installed with dnf into an installroot as on
/// an EL 9 system; the agent's inventory of that root matches `rpm -qa`,
/// and the server holds it after a check-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dnf_installroot_reports_its_packages_to_the_server() {
    for (tool, package) in [
        ("rpmbuild", "rpm"),
        ("rpmsign", "rpm"),
        ("createrepo_c", "createrepo-c"),
        ("dnf", "dnf"),
        ("gpg", "gnupg"),
    ] {
        if !have_tool(tool, package) {
            return;
        }
    }
    let work = tempfile::tempdir().unwrap();
    let dir = |name: &str| {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let (topdir, repo, root, home, gnupg) = (
        dir("build"),
        dir("repo"),
        dir("root"),
        dir("home"),
        dir("gnupg"),
    );
    let spec = topdir.join("rivet-tools.spec");
    std::fs::write(
        &spec,
        "Name: rivet-tools\nVersion: 2.1\nRelease: 3.el9\nEpoch: 1\nSummary: Rivet test package\n\
         License: MIT\nBuildArch: noarch\n%description\nRivet test package.\n\
         %package -n rivet-hello\nSummary: Rivet test subpackage\n\
         %description -n rivet-hello\nRivet test subpackage.\n%files\n%files -n rivet-hello\n",
    )
    .unwrap();
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", topdir.display()))
        .args(["--quiet", "-bb"])
        .arg(&spec));
    let rpms: Vec<std::path::PathBuf> = std::fs::read_dir(topdir.join("RPMS/noarch"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rpms.len(), 2);

    // Signed with a test key, which dnf checks and imports.
    let gpg = || {
        let mut gpg = Command::new("gpg");
        gpg.arg("--homedir")
            .arg(&gnupg)
            .args(["--batch", "--quiet"]);
        gpg
    };
    run(gpg().args([
        "--passphrase",
        "",
        "--quick-gen-key",
        "Rivet test rpm <tests@rivet.invalid>",
        "rsa2048",
        "sign",
        "never",
    ]));
    run(Command::new("rpmsign")
        .args(["--addsign", "--define", "_gpg_name Rivet test rpm"])
        .arg("--define")
        .arg(format!("_gpg_path {}", gnupg.display()))
        .args(["--define", "__gpg /usr/bin/gpg"])
        .args(&rpms));
    let key = gpg().args(["--armor", "--export"]).output().unwrap().stdout;
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&gnupg)
        .args(["--kill", "gpg-agent"])
        .status();
    std::fs::write(work.path().join("key.asc"), key).unwrap();
    for rpm in &rpms {
        std::fs::copy(rpm, repo.join(rpm.file_name().unwrap())).unwrap();
    }
    run(Command::new("createrepo_c").arg("-q").arg(&repo));
    let repos = dir("repos.d");
    std::fs::write(
        repos.join("test.repo"),
        format!(
            "[test]\nname=Rivet test\nbaseurl=file://{}\ngpgcheck=1\ngpgkey=file://{}\n",
            repo.display(),
            work.path().join("key.asc").display()
        ),
    )
    .unwrap();
    // Debian's rpm keeps its database in ~/.rpmdb; EL 9 in /var/lib/rpm.
    std::fs::write(home.join(".rpmmacros"), "%_dbpath /var/lib/rpm\n").unwrap();
    run(Command::new("dnf")
        .env("HOME", &home)
        .arg(format!("--installroot={}", root.display()))
        .arg(format!("--setopt=reposdir={}", repos.display()))
        .args(["--releasever=9", "--disablerepo=*", "--enablerepo=test"])
        .args(["-y", "-q", "install", "rivet-tools", "rivet-hello"]));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy(
        crate::data("almalinux").join("etc/os-release"),
        root.join("etc/os-release"),
    )
    .unwrap();

    let qa = rpm_qa(&root);
    assert!(
        qa.iter().any(|p| p[0] == "gpg-pubkey"),
        "dnf imported the key: {qa:?}"
    );
    let expected: Vec<[String; 4]> = qa
        .iter()
        .filter(|[name, ..]| name != "gpg-pubkey")
        .map(|[name, epoch, version, release, arch, source_rpm]| {
            let epoch = match epoch.as_str() {
                "(none)" => String::new(),
                e => format!("{e}:"),
            };
            [
                name.clone(),
                format!("{epoch}{version}-{release}"),
                arch.clone(),
                source_rpm.clone(),
            ]
        })
        .collect();
    assert_eq!(expected.len(), 2);
    let inventory = rivet_agent::collect(&root, at()).unwrap();
    assert!(inventory.problems.is_empty(), "{:?}", inventory.problems);
    let as_rpm_lists = |packages: &[rivet_core::inventory::Package]| {
        let mut listed: Vec<[String; 4]> = packages
            .iter()
            .map(|p| {
                assert_eq!(p.format, PackageFormat::Rpm);
                // The source rpm's file name carries no epoch.
                let source_version = p
                    .source_version
                    .split_once(':')
                    .map_or(p.source_version.as_str(), |(_, vr)| vr);
                [
                    p.name.clone(),
                    p.version.clone(),
                    p.architecture.clone(),
                    format!("{}-{source_version}.src.rpm", p.source_name),
                ]
            })
            .collect();
        listed.sort();
        listed
    };
    assert_eq!(as_rpm_lists(&inventory.packages), expected);
    assert_eq!(
        inventory.host.os.as_ref().map(|os| os.id.as_str()),
        Some("almalinux")
    );

    // Reported to the server, which holds the same.
    let rivet = crate::server::Rivet::start().await;
    let agent = rivet.agent().await;
    let report = rivet_agent::checkin_once(agent.state.path(), &root, rivet.now())
        .await
        .unwrap();
    assert!(report.uploaded.is_some());
    let held = rivet.packages(&agent.host).await;
    assert_eq!(as_rpm_lists(&held), expected);
    let hello = held.iter().find(|p| p.name == "rivet-hello").unwrap();
    assert_eq!(
        (
            hello.version.as_str(),
            hello.source_name.as_str(),
            hello.source_version.as_str()
        ),
        ("1:2.1-3.el9", "rivet-tools", "1:2.1-3.el9")
    );
    assert_eq!(rivet.host(&agent.host).await["os_id"], "almalinux");
    rivet.finish().await;
}

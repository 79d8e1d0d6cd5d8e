//! A real Debian 12 test host with the agent binary inside: it enrolls over
//! TLS with the server's CA pinned, and the server then holds exactly the
//! packages dpkg lists in the host; a package installed with apt from a
//! signed local repository and one purged with dpkg reach the server's
//! history with the next `rivet-agent once`.

use std::collections::BTreeMap;

use rivet_agent::state::StateDir;
use rivet_core::inventory::{Package, PackageFormat};

use crate::aptrepo::{AptRepo, Deb};
use crate::server::{Change, Options, Rivet};
use crate::testhost::TestHost;
use crate::{have_tool, text};

/// The server's packages in the shape `TestHost::dpkg_packages` lists them.
fn listed(packages: &[Package]) -> Vec<[String; 5]> {
    let mut listed: Vec<[String; 5]> = packages
        .iter()
        .map(|p| {
            assert_eq!(p.format, PackageFormat::Deb);
            [
                p.name.clone(),
                p.version.clone(),
                p.architecture.clone(),
                p.source_name.clone(),
                p.source_version.clone(),
            ]
        })
        .collect();
    listed.sort();
    listed
}

/// The version of each package, by name.
fn versions(packages: &[[String; 5]]) -> BTreeMap<String, String> {
    packages
        .iter()
        .map(|[name, version, ..]| (name.clone(), version.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debian_host_reports_its_dpkg_packages_and_their_changes() {
    let Some(host) = TestHost::bookworm("web-e2e-1") else {
        return;
    };
    if !have_tool("apt-ftparchive", "apt-utils")
        || !have_tool("gpg", "gnupg")
        || !have_tool("dpkg-deb", "dpkg")
    {
        return;
    }
    // The binary signs its requests with the wall clock.
    let rivet = Rivet::start_with(Options {
        wall_clock: true,
        ..Options::default()
    })
    .await;
    host.install_agent();
    let token = rivet.token().await;
    let fingerprint = rivet.fingerprint().to_openssl();
    let url = rivet.url();
    let out = tokio::task::block_in_place(|| {
        host.run(&[
            "rivet-agent",
            "enroll",
            "--server",
            &url,
            "--ca-fingerprint",
            &fingerprint,
            "--token",
            &token,
        ])
    });
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("enrolled as host "), "{stdout}");
    assert!(!stdout.contains("trusting"), "the CA was pinned: {stdout}");
    let enrollment = StateDir::new(host.path("var/lib/rivet-agent"))
        .enrollment()
        .unwrap()
        .expect("enrolled");
    let id = enrollment.host.to_string();

    let out = tokio::task::block_in_place(|| host.run(&["rivet-agent", "once"]));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("checked in: uploaded the whole inventory"),
        "{stdout}"
    );
    let before = host.dpkg_packages();
    assert!(before.len() > 80, "a minbase system: {}", before.len());
    assert_eq!(
        listed(&rivet.packages(&id).await),
        before,
        "the server holds exactly the host's dpkg packages"
    );
    let detail = rivet.host(&id).await;
    assert_eq!(detail["name"], "web-e2e-1");
    assert_eq!(detail["os_id"], "debian");
    assert_eq!(detail["os_version"], "12");
    assert_eq!(detail["package_count"], before.len());
    let facts = &detail["facts"]["host"];
    assert_eq!(facts["hostname"], "web-e2e-1", "the host's own UTS name");
    assert_eq!(facts["machine_id"], host.machine_id());

    // Install a package with apt from the signed local repository, and
    // purge one of the host's own.
    let repo = AptRepo::start(&[Deb {
        name: "rivet-hello",
        version: "1.0-1",
    }])
    .await;
    repo.configure(&host);
    let purged = "tzdata";
    let purged_version = versions(&before)[purged].clone();
    tokio::task::block_in_place(|| {
        host.run(&["apt-get", "update"]);
        host.run(&["apt-get", "install", "-y", "rivet-hello"]);
        host.run(&["dpkg", "--purge", purged]);
    });
    let out = tokio::task::block_in_place(|| host.run(&["rivet-agent", "once"]));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("as a delta (+1 −1 packages); 2 software changes recorded"),
        "{stdout}"
    );
    let after = host.dpkg_packages();
    assert_eq!(versions(&after).get("rivet-hello").unwrap(), "1.0-1");
    assert!(!versions(&after).contains_key(purged));
    assert_eq!(listed(&rivet.packages(&id).await), after);
    let mut history = rivet.history(&id).await;
    history.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        history,
        [
            Change {
                change: "installed".into(),
                name: "rivet-hello".into(),
                old_version: None,
                new_version: Some("1.0-1".into()),
            },
            Change {
                change: "removed".into(),
                name: purged.into(),
                old_version: Some(purged_version),
                new_version: None,
            },
        ]
    );
    eprintln!(
        "test host: the server held the host's {} dpkg packages, then {} after apt-get install and dpkg --purge",
        before.len(),
        after.len()
    );
    rivet.finish().await;
}

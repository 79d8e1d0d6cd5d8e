//! Check-ins over real TLS: the whole inventory when asked, a delta from
//! the inventory the server accepted, the whole inventory again when the
//! server refuses a delta, signatures the server verifies, and the errors
//! that stop the agent. The service loop runs against the same peer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use rivet_agent::api::ApiError;
use rivet_agent::checkin::{Sent, plan_upload};
use rivet_agent::enroll::EnrollOptions;
use rivet_agent::schedule::Backoff;
use rivet_agent::service::{ServiceOptions, Sources, Stopped};
use rivet_agent::state::{Collected, StateDir};
use rivet_agent::{CheckinError, ServerUrl};
use rivet_core::agent::{InventoryUpload, InventoryWanted};
use rivet_core::host::digest;

use crate::peer::{Peer, Pki};
use crate::rivet_peer::{self, Side};
use crate::{at, data};

/// An enrolled agent in a temporary state directory, its peer and a
/// private copy of the debian-reboot root to change.
struct Setup {
    peer: Peer,
    side: Arc<Mutex<Side>>,
    state: tempfile::TempDir,
    root: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Setup {
        let pki = Pki::new("Rivet CA", &["127.0.0.1"]);
        let side = Arc::new(Mutex::new(Side::default()));
        let peer = Peer::start(&pki, rivet_peer::answers(side.clone(), at())).await;
        let state = tempfile::tempdir().unwrap();
        let options = EnrollOptions {
            server: ServerUrl::parse(&peer.url()).unwrap(),
            token: rivet_peer::token(),
            ca_fingerprint: None,
            state_dir: state.path().to_owned(),
            hostname: "web1".into(),
            force: false,
        };
        rivet_agent::enroll(&options, at()).await.unwrap();
        let root = tempfile::tempdir().unwrap();
        copy_tree(&data("debian-reboot"), root.path());
        Setup {
            peer,
            side,
            state,
            root,
        }
    }

    fn want(&self, wanted: InventoryWanted) {
        self.side.lock().unwrap().wanted.push_back(wanted);
    }

    fn held_digest(&self) -> Option<String> {
        let side = self.side.lock().unwrap();
        side.held.as_ref().map(|h| digest(h).to_string())
    }

    async fn once(&self) -> Result<rivet_agent::CheckinReport, CheckinError> {
        rivet_agent::checkin_once(self.state.path(), self.root.path(), at()).await
    }

    /// Removes the package `name` from the root's dpkg status.
    fn remove_package(&self, name: &str) {
        let path = self.root.path().join("var/lib/dpkg/status");
        let status = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = status
            .split("\n\n")
            .filter(|stanza| !stanza.starts_with(&format!("Package: {name}\n")))
            .collect();
        assert_eq!(
            kept.len() + 1,
            status.split("\n\n").count(),
            "{name} not found"
        );
        std::fs::write(&path, kept.join("\n\n")).unwrap();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn first_package(root: &Path) -> String {
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Package: "))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_whole_inventory_then_a_delta_from_what_the_server_accepted() {
    let setup = Setup::new().await;
    setup.want(InventoryWanted::Full);
    let first = setup.once().await.unwrap();
    assert_eq!(first.uploaded.as_ref().unwrap().sent, Sent::Full);
    assert_eq!(setup.held_digest(), Some(first.digest.to_string()));
    let accepted = StateDir::new(setup.state.path())
        .last_inventory()
        .unwrap()
        .expect("the accepted inventory is kept");
    assert_eq!(accepted.digest, first.digest);
    assert!(
        first
            .to_string()
            .starts_with("checked in: uploaded the whole inventory")
    );

    let package = first_package(setup.root.path());
    setup.remove_package(&package);
    setup.want(InventoryWanted::Delta {
        base: first.digest.clone(),
    });
    let second = setup.once().await.unwrap();
    assert_eq!(
        second.uploaded.as_ref().unwrap().sent,
        Sent::Delta {
            added: 0,
            removed: 1
        }
    );
    assert_ne!(second.digest, first.digest);
    // The server rebuilt exactly the agent's inventory from the delta.
    assert_eq!(setup.held_digest(), Some(second.digest.to_string()));
    assert_eq!(setup.side.lock().unwrap().uploads, ["full", "delta"]);
    let line = second.to_string();
    assert!(line.contains("as a delta (+0 −1 packages)"), "{line}");
}

#[tokio::test]
async fn a_refused_delta_is_followed_by_the_whole_inventory() {
    let setup = Setup::new().await;
    setup.want(InventoryWanted::Full);
    let first = setup.once().await.unwrap();
    // The server lost what it held but still names the old base.
    setup.side.lock().unwrap().held = None;
    setup.remove_package(&first_package(setup.root.path()));
    setup.want(InventoryWanted::Delta { base: first.digest });
    let second = setup.once().await.unwrap();
    assert_eq!(second.uploaded.unwrap().sent, Sent::FullAfterConflict);
    assert_eq!(
        setup.side.lock().unwrap().uploads,
        ["full", "delta", "full"]
    );
    assert_eq!(setup.held_digest(), Some(second.digest.to_string()));
}

#[tokio::test]
async fn a_delta_from_another_base_is_never_sent() {
    let setup = Setup::new().await;
    setup.want(InventoryWanted::Full);
    setup.once().await.unwrap();
    let other = "0".repeat(64).try_into().unwrap();
    setup.want(InventoryWanted::Delta { base: other });
    let report = setup.once().await.unwrap();
    assert_eq!(report.uploaded.unwrap().sent, Sent::Full);
}

#[tokio::test]
async fn an_inventory_the_server_already_holds_becomes_the_base() {
    let setup = Setup::new().await;
    let report = setup.once().await.unwrap();
    assert!(report.uploaded.is_none());
    assert_eq!(
        report.to_string(),
        format!(
            "checked in: the server holds inventory {}…",
            &report.digest.as_str()[..12]
        )
    );
    let accepted = StateDir::new(setup.state.path()).last_inventory().unwrap();
    assert_eq!(accepted.map(|a| a.digest), Some(report.digest));
    // Signed with the time passed in, and verified by the server.
    assert_eq!(setup.side.lock().unwrap().checkin_times, [at().as_second()]);
}

#[tokio::test]
async fn a_revoked_agent_learns_why() {
    let setup = Setup::new().await;
    setup.side.lock().unwrap().revoked = true;
    let error = setup.once().await.unwrap_err();
    assert_eq!(error.unauthenticated(), Some("this agent was revoked"));
    assert!(
        StateDir::new(setup.state.path())
            .last_inventory()
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn clock_skew_carries_the_servers_time() {
    let setup = Setup::new().await;
    setup.side.lock().unwrap().skewed = true;
    let error = setup.once().await.unwrap_err();
    let CheckinError::Api(ApiError::ClockSkew {
        message,
        server_time,
    }) = &error
    else {
        panic!("{error}");
    };
    assert!(message.contains("900 s"), "{message}");
    assert_eq!(
        *server_time,
        Some("2026-11-23T12:00:00Z".parse::<Timestamp>().unwrap())
    );
    assert_eq!(
        error.unauthenticated(),
        None,
        "skew does not stop the agent"
    );
}

#[test]
fn uploads_are_planned_from_the_accepted_inventory_only() {
    let base = rivet_agent::collect_inventory(&data("debian-reboot"), at()).unwrap();
    let mut changed = base.inventory.clone();
    changed.packages.pop();
    let current = Collected::new(changed);
    let delta = InventoryWanted::Delta {
        base: base.digest.clone(),
    };
    assert_eq!(
        plan_upload(&InventoryWanted::Nothing, Some(&base), &current),
        None
    );
    assert!(matches!(
        plan_upload(&InventoryWanted::Full, Some(&base), &current),
        Some(InventoryUpload::Full { .. })
    ));
    match plan_upload(&delta, Some(&base), &current) {
        Some(InventoryUpload::Delta { delta }) => {
            assert_eq!(
                (delta.base, delta.digest),
                (base.digest.clone(), current.digest.clone())
            );
            assert_eq!((delta.added.len(), delta.removed.len()), (0, 1));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        plan_upload(&delta, None, &current),
        Some(InventoryUpload::Full { .. })
    ));
    let elsewhere = InventoryWanted::Delta {
        base: current.digest.clone(),
    };
    assert!(matches!(
        plan_upload(&elsewhere, Some(&base), &current),
        Some(InventoryUpload::Full { .. })
    ));
}

fn service_options(setup: &Setup) -> ServiceOptions {
    ServiceOptions {
        state_dir: setup.state.path().to_owned(),
        root: setup.root.path().to_owned(),
        backoff: Backoff::default(),
    }
}

#[tokio::test]
async fn the_service_uploads_at_start_and_stops_when_asked() {
    let setup = Setup::new().await;
    setup.want(InventoryWanted::Full);
    let side = setup.side.clone();
    let uploaded = async move {
        while side.lock().unwrap().uploads.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let sources = Sources {
        clock: &at,
        random: &|| 0.5,
    };
    let stopped = rivet_agent::service::run(&service_options(&setup), sources, uploaded)
        .await
        .unwrap();
    assert_eq!(stopped, Stopped::Shutdown);
    assert_eq!(setup.side.lock().unwrap().uploads, ["full"]);
}

#[tokio::test]
async fn the_service_stops_when_the_agent_is_revoked() {
    let setup = Setup::new().await;
    setup.side.lock().unwrap().revoked = true;
    let sources = Sources {
        clock: &at,
        random: &|| 0.5,
    };
    let stopped =
        rivet_agent::service::run(&service_options(&setup), sources, std::future::pending())
            .await
            .unwrap();
    assert_eq!(
        stopped,
        Stopped::Unauthenticated {
            message: "this agent was revoked".into()
        }
    );
    drop(setup.peer);
}

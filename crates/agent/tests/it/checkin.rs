//! Check-ins against the real server over TLS: the whole inventory first,
//! then deltas from the inventory the server accepted, the whole inventory
//! again when the server refuses a delta or names another base, signatures
//! and times the server verifies, and the errors that stop the agent.

use rivet_agent::api::ApiError;
use rivet_agent::checkin::{Sent, plan_upload};
use rivet_agent::state::{Collected, StateDir};
use rivet_agent::{CheckinError, CheckinReport};
use rivet_core::agent::{InventoryUpload, InventoryWanted};

use crate::gate::Gate;
use crate::pki::Pki;
use crate::server::{Agent, Change, Files, Options, Rivet};
use crate::{at, copy_tree, data, debian_root, package_names, remove_package};

async fn once(rivet: &Rivet, agent: &Agent, root: &std::path::Path) -> CheckinReport {
    rivet_agent::checkin_once(agent.state.path(), root, rivet.now())
        .await
        .unwrap()
}

async fn held_digest(rivet: &Rivet, host: &str) -> String {
    rivet.host(host).await["inventory_digest"]
        .as_str()
        .expect("the server holds an inventory")
        .to_owned()
}

fn removed(name: &str, version: &str) -> Change {
    Change {
        change: "removed".into(),
        name: name.into(),
        old_version: Some(version.into()),
        new_version: None,
    }
}

fn installed(name: &str, version: &str) -> Change {
    Change {
        change: "installed".into(),
        name: name.into(),
        old_version: None,
        new_version: Some(version.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_inventory_then_a_delta_from_what_the_server_accepted() {
    let rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    let root = debian_root();
    let first = once(&rivet, &agent, root.path()).await;
    assert_eq!(first.uploaded.as_ref().unwrap().sent, Sent::Full);
    let line = first.to_string();
    assert!(
        line.starts_with("checked in: uploaded the whole inventory")
            && line.ends_with("; 0 software changes recorded"),
        "{line}"
    );
    assert_eq!(
        held_digest(&rivet, &agent.host).await,
        first.digest.as_str()
    );
    let collected = rivet_agent::collect_inventory(root.path(), at()).unwrap();
    assert_eq!(
        rivet.packages(&agent.host).await,
        collected.inventory.packages,
        "the server holds exactly the root's packages"
    );
    let accepted = StateDir::new(agent.state.path())
        .last_inventory()
        .unwrap()
        .expect("the accepted inventory is kept");
    assert_eq!(accepted.digest, first.digest);
    assert!(rivet.history(&agent.host).await.is_empty(), "a baseline");

    let package = package_names(root.path())[0].clone();
    let version = remove_package(root.path(), &package);
    let second = once(&rivet, &agent, root.path()).await;
    assert_eq!(
        second.uploaded.as_ref().unwrap().sent,
        Sent::Delta {
            added: 0,
            removed: 1
        }
    );
    assert_ne!(second.digest, first.digest);
    // The server rebuilt exactly the agent's inventory from the delta.
    assert_eq!(
        held_digest(&rivet, &agent.host).await,
        second.digest.as_str()
    );
    let line = second.to_string();
    assert!(
        line.contains("as a delta (+0 −1 packages); 1 software changes recorded"),
        "{line}"
    );
    assert_eq!(
        rivet.history(&agent.host).await,
        [removed(&package, &version)]
    );
    rivet.finish().await;
}

/// A clone of an agent (a host restored from a snapshot, say) uploads
/// between another copy's check-in and its delta: the server refuses the
/// delta and the agent sends its whole inventory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delta_is_followed_by_the_whole_inventory() {
    let pki = Pki::new("Rivet test CA");
    let rivet = Rivet::start_with(Options {
        files: Some(Files {
            leaf: pki.leaf(&["127.0.0.1"]),
            ca: pki.ca.clone(),
            name: "127.0.0.1".into(),
        }),
        ..Options::default()
    })
    .await;
    let gate = Gate::start(&pki.leaf(&["127.0.0.1"]), &pki.ca, rivet.addr()).await;
    let state = tempfile::tempdir().unwrap();
    let enrolled = rivet
        .enroll_at(&gate.url, state.path(), Some(rivet.fingerprint()))
        .await;
    let agent = Agent {
        state,
        host: enrolled.enrollment.host.to_string(),
    };
    let root = debian_root();
    assert_eq!(
        once(&rivet, &agent, root.path())
            .await
            .uploaded
            .unwrap()
            .sent,
        Sent::Full
    );

    let clone_state = tempfile::tempdir().unwrap();
    copy_tree(agent.state.path(), clone_state.path());
    let clone_root = debian_root();
    let names = package_names(root.path());
    let clone_version = remove_package(clone_root.path(), &names[0]);
    let version = remove_package(root.path(), &names[1]);

    let mut held = gate.hold_next_upload();
    let (state_dir, root_dir, now) = (
        agent.state.path().to_owned(),
        root.path().to_owned(),
        rivet.now(),
    );
    let checkin =
        tokio::spawn(async move { rivet_agent::checkin_once(&state_dir, &root_dir, now).await });
    // The server named the inventory both copies hold as the base.
    held.arrived().await;
    let clone = rivet_agent::checkin_once(clone_state.path(), clone_root.path(), rivet.now())
        .await
        .unwrap();
    assert!(matches!(
        clone.uploaded.unwrap().sent,
        Sent::Delta { removed: 1, .. }
    ));
    held.release();
    let report = checkin.await.unwrap().unwrap();
    assert_eq!(
        report.uploaded.as_ref().unwrap().sent,
        Sent::FullAfterConflict
    );
    assert!(
        report.to_string().contains("(the server refused a delta)"),
        "{report}"
    );
    assert_eq!(
        held_digest(&rivet, &agent.host).await,
        report.digest.as_str()
    );
    let by_change_and_name =
        |a: &Change, b: &Change| (&a.change, &a.name).cmp(&(&b.change, &b.name));
    let mut history = rivet.history(&agent.host).await;
    history.sort_by(by_change_and_name);
    // The clone's removal, then this copy's whole inventory against it.
    let mut expected = vec![
        removed(&names[0], &clone_version),
        installed(&names[0], &clone_version),
        removed(&names[1], &version),
    ];
    expected.sort_by(by_change_and_name);
    assert_eq!(history, expected);
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_from_another_base_is_never_sent() {
    let rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    let root = debian_root();
    once(&rivet, &agent, root.path()).await;
    // A clone of the agent reports another inventory first.
    let clone_state = tempfile::tempdir().unwrap();
    copy_tree(agent.state.path(), clone_state.path());
    let clone_root = debian_root();
    let names = package_names(root.path());
    remove_package(clone_root.path(), &names[0]);
    rivet_agent::checkin_once(clone_state.path(), clone_root.path(), rivet.now())
        .await
        .unwrap();
    // The server names the clone's inventory as the base, which this copy
    // never had accepted.
    remove_package(root.path(), &names[1]);
    let report = once(&rivet, &agent, root.path()).await;
    assert_eq!(report.uploaded.unwrap().sent, Sent::Full);
    assert_eq!(
        held_digest(&rivet, &agent.host).await,
        report.digest.as_str()
    );
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_the_server_already_holds_becomes_the_base() {
    let rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    let root = debian_root();
    let first = once(&rivet, &agent, root.path()).await;
    // The agent lost its record of what the server accepted.
    std::fs::remove_file(agent.state.path().join("last-inventory.json")).unwrap();
    let report = once(&rivet, &agent, root.path()).await;
    assert!(report.uploaded.is_none());
    assert_eq!(
        report.to_string(),
        format!(
            "checked in: the server holds inventory {}…",
            &first.digest.as_str()[..12]
        )
    );
    let accepted = StateDir::new(agent.state.path()).last_inventory().unwrap();
    assert_eq!(accepted.map(|a| a.digest), Some(first.digest));
    // So the next change goes as a delta.
    remove_package(root.path(), &package_names(root.path())[0]);
    let report = once(&rivet, &agent, root.path()).await;
    assert!(matches!(
        report.uploaded.unwrap().sent,
        Sent::Delta { removed: 1, .. }
    ));
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_agent_learns_why() {
    let rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    rivet.revoke(&agent.host).await;
    let error = rivet_agent::checkin_once(agent.state.path(), &data("debian-reboot"), rivet.now())
        .await
        .unwrap_err();
    let message = error.unauthenticated().expect("refused as unauthenticated");
    assert!(message.contains("this agent was revoked"), "{message}");
    assert!(
        StateDir::new(agent.state.path())
            .last_inventory()
            .unwrap()
            .is_none()
    );
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_signed_with_the_time_given_and_checked_against_the_servers() {
    let rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    let root = data("debian-reboot");
    let ahead = |secs| rivet.now() + jiff::SignedDuration::from_secs(secs);
    // Within the server's five minutes: accepted.
    rivet_agent::checkin_once(agent.state.path(), &root, ahead(290))
        .await
        .unwrap();
    let error = rivet_agent::checkin_once(agent.state.path(), &root, ahead(900))
        .await
        .unwrap_err();
    let CheckinError::Api(ApiError::ClockSkew {
        message,
        server_time,
    }) = &error
    else {
        panic!("{error}");
    };
    assert!(message.contains("is 900 s from the server's"), "{message}");
    // From the answer's Date header, which hyper writes from the wall clock.
    assert!(server_time.is_some());
    assert_eq!(
        error.unauthenticated(),
        None,
        "skew does not stop the agent"
    );
    rivet.finish().await;
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

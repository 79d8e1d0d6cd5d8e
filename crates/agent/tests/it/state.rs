//! The state directory: files written atomically with owner-only
//! permissions, read back as written, and damage reported by file.

use std::os::unix::fs::PermissionsExt;

use rivet_agent::ServerUrl;
use rivet_agent::state::{Collected, Enrollment, Identity, StateDir, StateError, write_atomic};
use rivet_core::agent::AgentKey;

use crate::{at, data};

fn identity(ca: &[u8]) -> Identity {
    let ca = rustls_pki_types::CertificateDer::from(ca.to_vec());
    Identity {
        enrollment: Enrollment {
            server: ServerUrl::parse("https://rivet.example.org:8443").unwrap(),
            host: rivet_core::id::HostId::new(at(), [1; 10]),
            tenant: rivet_core::id::TenantId::new(at(), [2; 10]),
            ca_fingerprint: rivet_agent::CaFingerprint::of(&ca).to_string(),
            enrolled_at: at(),
        },
        key: AgentKey::from_bytes([7; 32]),
        ca,
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn an_identity_round_trips_with_owner_only_files() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("var/lib/rivet-agent");
    let state = StateDir::new(&dir);
    assert!(matches!(
        state.load_identity(),
        Err(StateError::NotEnrolled { .. })
    ));
    let ca = crate::pki::Pki::new("Rivet CA").ca;
    state.save_identity(&identity(&ca)).unwrap();
    assert_eq!(mode(&dir), 0o700);
    for file in ["agent.key", "ca.pem", "agent.json"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    let loaded = state.load_identity().unwrap();
    assert_eq!(loaded.enrollment, identity(&ca).enrollment);
    assert_eq!(loaded.key.to_bytes(), [7; 32]);
    assert_eq!(loaded.ca.as_ref(), ca.as_ref());
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    let error = state.ensure_not_enrolled().unwrap_err();
    assert!(error.to_string().contains("--force"), "{error}");
}

#[test]
fn a_replaced_ca_or_a_damaged_key_is_reported_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let ca = crate::pki::Pki::new("Rivet CA").ca;
    state.save_identity(&identity(&ca)).unwrap();

    let other = crate::pki::Pki::new("Other CA").ca;
    let other_pem = {
        let state2 = tempfile::tempdir().unwrap();
        StateDir::new(state2.path())
            .save_identity(&identity(&other))
            .unwrap();
        std::fs::read(state2.path().join("ca.pem")).unwrap()
    };
    std::fs::write(dir.path().join("ca.pem"), other_pem).unwrap();
    let error = state.load_identity().unwrap_err().to_string();
    assert!(
        error.contains("ca.pem") && error.contains("not the enrolled CA"),
        "{error}"
    );

    state.save_identity(&identity(&ca)).unwrap();
    std::fs::write(dir.path().join("agent.key"), "not a key\n").unwrap();
    let error = state.load_identity().unwrap_err().to_string();
    assert!(
        error.contains("agent.key") && error.contains("hex"),
        "{error}"
    );

    std::fs::write(dir.path().join("agent.json"), "{").unwrap();
    let error = state.enrollment().unwrap_err().to_string();
    assert!(error.contains("agent.json"), "{error}");
}

#[test]
fn the_accepted_inventory_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    state.create().unwrap();
    assert_eq!(state.last_inventory().unwrap(), None);
    let collected = rivet_agent::collect_inventory(&data("debian-reboot"), at()).unwrap();
    state.save_last_inventory(&collected.inventory).unwrap();
    let loaded: Collected = state.last_inventory().unwrap().unwrap();
    assert_eq!(loaded, collected);
    assert_eq!(mode(&dir.path().join("last-inventory.json")), 0o600);
}

#[test]
fn a_new_enrollment_forgets_the_old_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let ca = crate::pki::Pki::new("Rivet CA").ca;
    state.save_identity(&identity(&ca)).unwrap();
    let collected = rivet_agent::collect_inventory(&data("debian-reboot"), at()).unwrap();
    state.save_last_inventory(&collected.inventory).unwrap();
    state.save_identity(&identity(&ca)).unwrap();
    assert_eq!(state.last_inventory().unwrap(), None);
}

#[test]
fn atomic_writes_replace_whole_files_and_fix_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    std::fs::write(&path, "old and long content").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A stale temporary file with loose permissions from a crashed run.
    let temp = dir.path().join(".file.tmp");
    std::fs::write(&temp, "stale").unwrap();
    std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o666)).unwrap();
    write_atomic(&path, b"new").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(mode(&path), 0o600);
    assert!(!temp.exists());
    let error = write_atomic(&dir.path().join("missing/file"), b"x").unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
}

//! `rivet-agent inventory` prints the inventory as JSON.

use std::process::Command;

use rivet_core::inventory::Inventory;

use crate::data;

#[test]
fn inventory_command_prints_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_rivet-agent"))
        .args(["inventory", "--output", "json", "--root"])
        .arg(data("debian-reboot"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inventory: Inventory = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inventory.host.hostname.as_deref(), Some("web1"));
    assert_eq!(inventory.packages.len(), 6);
    assert!(inventory.reboot.required);
}

#[test]
fn unreadable_package_database_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let status = root.path().join("var/lib/dpkg/status");
    // A directory where the file should be: it exists but cannot be read.
    std::fs::create_dir_all(&status).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_rivet-agent"))
        .args(["inventory", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Dpkg") && stderr.contains("status"),
        "{stderr}"
    );
}

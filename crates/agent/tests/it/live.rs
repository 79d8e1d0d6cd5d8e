//! The collector on this machine's own root.

use std::path::Path;

use crate::at;

#[test]
fn collects_this_host() {
    let inventory = rivet_agent::collect(Path::new("/"), at()).unwrap();
    let host = &inventory.host;
    assert!(host.os.is_some());
    assert!(host.running_kernel.is_some());
    assert!(host.boot_time.is_some());
    assert!(host.architecture.is_some());
    if Path::new("/var/lib/dpkg/status").exists() {
        assert!(!inventory.packages.is_empty());
    }
    serde_json::to_string(&inventory).unwrap();
}

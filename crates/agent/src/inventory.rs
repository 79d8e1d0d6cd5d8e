//! The whole inventory of one system: host facts, packages, reboot status and
//! stale processes, collected under a root directory.
//!
//! A package database that exists but cannot be read fails the collection:
//! an inventory without its packages would read, on the server, as every
//! package removed. Everything else that cannot be read is a [`Problem`] in
//! the inventory, and collection goes on.

use std::path::Path;

use jiff::Timestamp;
use rivet_core::inventory::{Inventory, Problem, RebootStatus, VirtualizationKind};

use crate::host::{self, read_problem};
use crate::packages::{Backend, PackageError};
use crate::processes;
use crate::reboot::{self, RebootInputs};
use crate::rootfs::Root;

/// Why no inventory could be collected.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A package database exists but could not be read.
    #[error("cannot read the {backend:?} package database")]
    Packages {
        /// Which database.
        backend: Backend,
        /// Why.
        source: PackageError,
    },
}

/// Collects the inventory of the system under `root` (`/` for this host);
/// `at` is the time the collection is stamped with.
pub fn collect(root: &Path, at: Timestamp) -> Result<Inventory, CollectError> {
    let _span = tracing::info_span!("inventory", root = %root.display()).entered();
    let root = Root::new(root);
    let mut packages = Vec::new();
    let mut unfinished_packages = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    for backend in Backend::detect(&root) {
        let collected = backend
            .collect(&root)
            .map_err(|source| CollectError::Packages { backend, source })?;
        packages.extend(collected.packages);
        unfinished_packages.extend(collected.unfinished);
        problems.extend(collected.problems);
    }

    let host = host::collect_facts(&root, &packages, &mut problems);
    let reboot_required = reboot::read_reboot_required(&root).unwrap_or_else(|e| {
        problems.push(read_problem(&e));
        // The flag file exists (only its package list failed to read).
        Some(Vec::new())
    });
    let in_container = host
        .virtualization
        .as_ref()
        .is_some_and(|v| v.kind == VirtualizationKind::Container);
    let reboot: RebootStatus = reboot::assess(&RebootInputs {
        reboot_required: reboot_required.as_deref(),
        running_kernel: host.running_kernel.as_deref(),
        installed_kernels: &host.installed_kernels,
        in_container,
        packages: &packages,
        boot_time: host.boot_time,
    });
    let stale_processes = processes::scan(&root);
    Ok(Inventory {
        collected_at: at,
        host,
        packages,
        unfinished_packages,
        reboot,
        stale_processes,
        problems,
    })
}

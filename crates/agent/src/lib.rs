//! Rivet's agent as a library: collecting a host's inventory (INV-2, INV-3,
//! INV-5) under a root directory. The `rivet-agent` binary is a thin command
//! line over it; enrollment and check-in arrive with their issues.

pub mod host;
pub mod inventory;
pub mod packages;
pub mod processes;
pub mod reboot;
pub mod rootfs;
mod stanza;

pub use inventory::{CollectError, collect};

//! Rivet's agent as a library: collecting a host's inventory (INV-2, INV-3,
//! INV-5) under a root directory, enrolling with the server over a pinned
//! TLS connection (INV-1), and checking in with long polling (AGT-1). The
//! `rivet-agent` binary is a thin command line over it.

pub mod api;
pub mod checkin;
pub mod config;
pub mod enroll;
pub mod fingerprint;
pub mod host;
pub mod inventory;
pub mod packages;
pub mod processes;
pub mod reboot;
pub mod rootfs;
pub mod schedule;
pub mod service;
mod stanza;
pub mod state;
pub mod tls;

pub use api::ServerUrl;
pub use checkin::{Agent, CheckinError, CheckinReport, checkin_once, collect_inventory};
pub use enroll::{EnrollError, EnrollOptions, Enrolled, enroll};
pub use fingerprint::CaFingerprint;
pub use inventory::{CollectError, collect};

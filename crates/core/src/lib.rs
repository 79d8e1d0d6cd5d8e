//! Rivet's pure core: the domain's types and rules. Nothing here performs I/O,
//! spawns tasks or reads the clock; the current time is always a parameter, so
//! that every time-dependent rule can be tested exhaustively in microseconds.

pub mod access;
pub mod agent;
pub mod audit;
pub mod finding;
pub mod host;
pub mod id;
pub mod inventory;
pub mod job;
pub mod notify;
pub mod page;
pub mod sbom;
pub mod secret;
pub mod tenant;
pub mod update;
pub mod user;
pub mod validate;
pub mod version;

pub use jiff::Timestamp;

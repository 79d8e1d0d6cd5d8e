//! The Rivet server (`rivet server`) and the admin command line that talks
//! to it: configuration, the HTTP API, first-start bootstrap, and the CLI's
//! client side.

pub mod api;
pub mod assessor;
pub mod bootstrap;
pub mod cli;
pub mod clock;
pub mod config;
pub mod intake;
pub mod notify;
pub mod password;
pub mod patch_cycle;
pub mod rollout;
pub mod schedule;
pub mod serve;
pub mod sync;
pub mod tls;
pub mod updates;

/// Makes ring the process's rustls crypto provider (reqwest and sqlx both
/// use rustls; Rivet builds them without a default provider so that only
/// one is compiled in). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

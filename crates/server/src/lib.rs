//! The Rivet server (`rivet server`) and the admin command line that talks
//! to it: configuration, the HTTP API, first-start bootstrap, and the CLI's
//! client side.

pub mod api;
pub mod bootstrap;
pub mod cli;
pub mod clock;
pub mod config;
pub mod password;
pub mod serve;

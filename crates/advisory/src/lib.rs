//! Advisory intake: reads OSV, CSAF 2.0, CISA KEV and FIRST EPSS into one
//! normalised model ([`Advisory`]) and enrichment records ([`kev`], [`epss`]).
//!
//! The crate parses and verifies; it never fetches and never reads the clock.
//! Callers hand in bytes, files, directories or zip archives together with a
//! [`ReadOptions`] (source label, fetch time, limits) and iterate the results:
//! every document yields its own `Result`, so one bad document is reported with
//! its location and the rest go on, while a source that is broken as a whole
//! (a truncated archive, an unreadable directory) fails once, up front.

pub mod csaf;
pub mod epss;
pub mod error;
pub mod integrity;
pub mod kev;
pub mod model;
pub mod osv;
pub mod purl;
pub mod source;

pub use error::{DocumentError, ParseError, SourceError};
pub use model::*;
pub use source::{Advisories, Documents, Limits, RawDocument, ReadOptions};

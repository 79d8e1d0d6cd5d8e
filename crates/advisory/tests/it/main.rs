//! rivet-advisory's integration tests, one binary (each extra file under
//! tests/ would be another binary to link). Real data is read from
//! `shared/data/` beside the checkout; it is never copied into the repository.

mod csaf;
mod enrichment;
mod integrity;
mod osv;
mod robustness;

use rivet_advisory::{Advisory, DocumentError, ReadOptions};

/// Path of a file in `shared/data/`.
#[macro_export]
macro_rules! data {
    ($path:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/", $path)
    };
}

/// Options with a fixed fetch time (time is a parameter).
pub fn options(source: &str) -> ReadOptions {
    ReadOptions::new(source, "2026-11-23T08:00:00Z".parse().unwrap())
}

/// Reads everything from a path, split into advisories and errors.
pub fn read_all(
    results: impl Iterator<Item = Result<Advisory, DocumentError>>,
) -> (Vec<Advisory>, Vec<DocumentError>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(a) => ok.push(a),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

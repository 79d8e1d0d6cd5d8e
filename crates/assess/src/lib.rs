//! Rivet's matching engine (ASM-1, ASM-2, ASM-7, ASM-8): which advisories
//! affect which installed packages, under each ecosystem's own version
//! rules. The engine is pure — no I/O, no clock — except [`scan`], the edge
//! that reads files for `rivet scan`.
//!
//! - [`ecosystem`]: a host's OSV ecosystem from its os-release, and the keys
//!   advisories and packages meet under;
//! - [`Index`]: every advisory's affected entries compiled and filed by
//!   `(ecosystem, package name)`; [`Index::evaluate`] judges one distinct
//!   package; [`Index::insert`] and [`Index::remove`] say which keys a new
//!   or withdrawn advisory touches;
//! - [`assess_host`]: a whole host at once;
//! - [`Fleet`]: every host of the server at once, kept up to date
//!   incrementally as hosts and advisories change;
//! - [`kernel`]: whether a kernel fix is actually running (ASM-7);
//! - [`repository`] and [`updates`]: what a host's approved repositories
//!   offer that it lacks, and its class (ASM-3).
//!
//! How the server is meant to use it at scale: hosts share most packages,
//! and a package's verdicts depend only on `(ecosystem key, format, name,
//! version, architecture, source name, source version)`. The server interns
//! packages by that tuple, evaluates each distinct one once per index
//! generation (in parallel: evaluations are independent and the index is
//! shared read-only), and a host's findings are the union of its packages'
//! matches. A new advisory re-evaluates only the distinct packages under
//! the [`PackageKey`]s that [`Index::insert`] returns. [`Fleet`] does all
//! of this for the server.

pub mod assessment;
pub mod ecosystem;
pub mod fleet;
pub mod index;
pub mod kernel;
pub mod package;
mod range;
pub mod repository;
pub mod scan;
pub mod severity;
pub mod updates;

pub use assessment::{Assessment, assess, assess_host};
pub use ecosystem::{Ecosystem, Naming, UnknownEcosystem};
pub use fleet::{Fleet, FleetError, FleetStats, HostKey, HostMatches, PackageId, Reevaluation};
pub use index::{
    AdvisorySummary, EvalProblem, Evaluation, Index, IndexProblem, IndexStats, Match, PackageKey,
    Verdict,
};
pub use package::{InstalledPackage, PackageRef};
pub use severity::{Level, Severity};

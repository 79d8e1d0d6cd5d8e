//! Installed packages (INV-3) from the package databases a host has: dpkg,
//! rpm and apk, a closed set of backends, each in its own module with a pure
//! `parse_*` over the database's text and a `read_*`/`invoke_*` that fetches
//! that text from a root.

pub mod apk;
pub mod dpkg;
pub mod rpm;

use rivet_core::inventory::{Package, PackageFormat, Problem, UnfinishedPackage};

use crate::rootfs::{ReadError, Root};

/// A package database Rivet can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// `/var/lib/dpkg/status`.
    Dpkg,
    /// The rpm database, through the `rpm` program.
    Rpm,
    /// `/lib/apk/db/installed`.
    Apk,
}

/// What a backend read: the packages, the unfinished ones, and the records it
/// had to skip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Cleanly installed packages.
    pub packages: Vec<Package>,
    /// Packages left half-way by the package manager.
    pub unfinished: Vec<UnfinishedPackage>,
    /// Malformed records, skipped.
    pub problems: Vec<Problem>,
}

/// A package database that exists but could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Reading the database's file failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The package manager's program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The package manager's program failed.
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: &'static str,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it wrote to standard error.
        stderr: String,
    },
    /// The program's output is not UTF-8.
    #[error("{program} wrote output that is not UTF-8")]
    NotUtf8 {
        /// The program.
        program: &'static str,
    },
}

impl Backend {
    /// Every backend, in a fixed order.
    pub const ALL: [Backend; 3] = [Backend::Dpkg, Backend::Rpm, Backend::Apk];

    /// The backends whose database exists under `root`.
    pub fn detect(root: &Root) -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|backend| match backend {
                Backend::Dpkg => root.exists(dpkg::STATUS),
                Backend::Rpm => rpm::database_path(root).is_some(),
                Backend::Apk => root.exists(apk::INSTALLED),
            })
            .collect()
    }

    /// The format of the packages it reports.
    pub fn format(self) -> PackageFormat {
        match self {
            Backend::Dpkg => PackageFormat::Deb,
            Backend::Rpm => PackageFormat::Rpm,
            Backend::Apk => PackageFormat::Apk,
        }
    }

    /// Reads the installed packages under `root`.
    pub fn collect(self, root: &Root) -> Result<Collected, PackageError> {
        let _span = tracing::debug_span!("packages", backend = ?self).entered();
        match self {
            Backend::Dpkg => dpkg::read_status(root),
            Backend::Rpm => rpm::invoke_query(root),
            Backend::Apk => apk::read_installed(root),
        }
    }
}

/// A problem at a line of a database file.
fn problem(source: &str, line: usize, message: impl Into<String>) -> Problem {
    Problem {
        source: source.to_owned(),
        line: Some(line),
        message: message.into(),
    }
}

//! The root directory an inventory is collected from: `/` on a live host, a
//! chroot or a fixture tree in tests. Every file the collectors read goes
//! through [`Root`], which resolves paths under the root and caps how much of
//! a file is read, so that a corrupt or hostile file cannot exhaust memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Files such as os-release or a process's `comm`: a few hundred bytes.
pub const SMALL_FILE_LIMIT: u64 = 64 * 1024;
/// Package databases: dpkg's status of a large desktop is a few MiB.
pub const DATABASE_LIMIT: u64 = 256 * 1024 * 1024;

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file exists but reading it failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is larger than the limit for its kind.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// The file is not UTF-8 text.
    #[error("{path} is not UTF-8 text")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
}

/// The root directory of the system being inventoried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    /// A root at this directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Root(dir.into())
    }

    /// The root directory itself.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// True for `/`: the live system, whose running kernel, processes and
    /// network the agent can also ask commands about.
    pub fn is_live(&self) -> bool {
        self.0 == Path::new("/")
    }

    /// The path of `rel` (absolute within the system, like `/etc/os-release`)
    /// under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel.trim_start_matches('/'))
    }

    /// True if `rel` exists under the root.
    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// Reads `rel` as text, at most `limit` bytes; `None` if it does not exist.
    pub fn read(&self, rel: &str, limit: u64) -> Result<Option<String>, ReadError> {
        read_limited(&self.path(rel), limit)
    }
}

/// Reads a file as text, at most `limit` bytes; `None` if it does not exist.
pub fn read_limited(path: &Path, limit: u64) -> Result<Option<String>, ReadError> {
    let io_error = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(e)),
    };
    // Files under /proc report a size of 0, so the limit is enforced while
    // reading rather than from the metadata.
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| ReadError::NotUtf8 {
            path: path.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_under_the_root() {
        let root = Root::new("/srv/host");
        assert_eq!(
            root.path("/etc/os-release"),
            Path::new("/srv/host/etc/os-release")
        );
        assert!(!root.is_live());
        assert!(Root::new("/").is_live());
    }

    #[test]
    fn reads_are_capped_and_missing_files_are_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), "x".repeat(100)).unwrap();
        let root = Root::new(dir.path());
        assert!(matches!(
            root.read("/big", 10),
            Err(ReadError::TooLarge { .. })
        ));
        assert_eq!(root.read("/big", 100).unwrap().unwrap().len(), 100);
        assert_eq!(root.read("/absent", 10).unwrap(), None);
    }
}

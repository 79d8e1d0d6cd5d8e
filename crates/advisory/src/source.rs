//! Where documents come from: single files, directory trees and zip archives
//! (osv.dev's `all.zip`), read one document at a time within [`Limits`].
//!
//! [`Documents`] yields each document's bytes with its [`Location`]; the format
//! readers ([`crate::osv`], [`crate::csaf`]) turn them into advisories. Only one
//! document is in memory at a time, whatever the size of the archive.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use rivet_core::Timestamp;
use sha2::{Digest, Sha256};

use crate::error::{DocumentError, ParseError, SourceError};
use crate::model::{Advisory, Location, Provenance, SignatureStatus};

/// Bounds on what a reader accepts, so that hostile input cannot exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest single document, in bytes (default 64 MiB).
    pub max_document_bytes: u64,
    /// The most members an archive may have (default 1,000,000).
    pub max_archive_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 64 * 1024 * 1024,
            max_archive_members: 1_000_000,
        }
    }
}

/// What the caller tells a reader about the source being read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// The source's label, kept in every record's provenance.
    pub source: String,
    /// When the caller fetched the source.
    pub fetched_at: Timestamp,
    /// Size limits.
    pub limits: Limits,
}

impl ReadOptions {
    /// Options with the default limits.
    pub fn new(source: impl Into<String>, fetched_at: Timestamp) -> ReadOptions {
        ReadOptions {
            source: source.into(),
            fetched_at,
            limits: Limits::default(),
        }
    }

    /// The provenance of a document read with these options.
    pub fn provenance(
        &self,
        location: &Location,
        bytes: &[u8],
        signature: SignatureStatus,
    ) -> Provenance {
        Provenance {
            source: self.source.clone(),
            location: location.clone(),
            fetched_at: self.fetched_at,
            content_sha256: hex::encode(Sha256::digest(bytes)),
            signature,
        }
    }
}

/// One document's bytes and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDocument {
    /// The file, URL or archive member.
    pub location: Location,
    /// The content.
    pub bytes: Vec<u8>,
}

/// Something a zip archive can be read from.
pub trait ArchiveReader: Read + Seek {}
impl<T: Read + Seek> ArchiveReader for T {}

/// The documents of a file, a directory tree or a zip archive, one at a time.
///
/// Only files whose names end in one of the wanted extensions are yielded
/// (`.json`, `.yaml`, `.yml` unless told otherwise), in a stable order: sorted
/// paths for directories, the archive's own order for zips.
pub struct Documents {
    inner: Inner,
    limits: Limits,
    extensions: &'static [&'static str],
}

enum Inner {
    Files(std::vec::IntoIter<PathBuf>),
    Zip {
        name: String,
        archive: Box<zip::ZipArchive<Box<dyn ArchiveReader>>>,
        next: usize,
    },
}

/// The extensions of OSV and CSAF documents.
pub const DOCUMENT_EXTENSIONS: &[&str] = &["json", "yaml", "yml"];

impl Documents {
    /// Opens a path: a directory is walked recursively, a file ending in `.zip`
    /// is read as an archive, any other file is one document.
    pub fn open(path: &Path, limits: Limits) -> Result<Documents, SourceError> {
        let io_error = |source| SourceError::Io {
            path: path.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io_error)?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            files.retain(|f| has_extension(f, DOCUMENT_EXTENSIONS));
            files.sort();
            return Ok(Documents {
                inner: Inner::Files(files.into_iter()),
                limits,
                extensions: DOCUMENT_EXTENSIONS,
            });
        }
        if has_extension(path, &["zip"]) {
            let file = File::open(path).map_err(io_error)?;
            return Documents::zip(file, path.display().to_string(), limits);
        }
        Ok(Documents {
            inner: Inner::Files(vec![path.to_path_buf()].into_iter()),
            limits,
            extensions: &[],
        })
    }

    /// Reads a zip archive from any seekable reader (a file, or bytes the
    /// caller downloaded in a `Cursor`). A truncated or corrupt archive, or
    /// one with too many members, fails here as a whole.
    pub fn zip(
        reader: impl Read + Seek + 'static,
        name: impl Into<String>,
        limits: Limits,
    ) -> Result<Documents, SourceError> {
        let name = name.into();
        let reader: Box<dyn ArchiveReader> = Box::new(reader);
        let archive = zip::ZipArchive::new(reader).map_err(|e| SourceError::Archive {
            path: name.clone(),
            reason: e.to_string(),
        })?;
        if archive.len() > limits.max_archive_members {
            return Err(SourceError::TooManyMembers {
                path: name,
                members: archive.len(),
                limit: limits.max_archive_members,
            });
        }
        Ok(Documents {
            inner: Inner::Zip {
                name,
                archive: Box::new(archive),
                next: 0,
            },
            limits,
            extensions: DOCUMENT_EXTENSIONS,
        })
    }
}

impl Iterator for Documents {
    type Item = Result<RawDocument, DocumentError>;

    fn next(&mut self) -> Option<Self::Item> {
        let limit = self.limits.max_document_bytes;
        match &mut self.inner {
            Inner::Files(files) => {
                let path = files.next()?;
                let location = Location::file(path.display().to_string());
                Some(
                    File::open(&path)
                        .and_then(|f| read_limited(f, limit))
                        .map_err(|e| ParseError::Read(e.to_string()).at(&location))
                        .and_then(|bytes| {
                            bytes
                                .ok_or(ParseError::TooLarge { limit }.at(&location))
                                .map(|bytes| RawDocument { location, bytes })
                        }),
                )
            }
            Inner::Zip {
                name,
                archive,
                next,
            } => loop {
                if *next >= archive.len() {
                    return None;
                }
                let index = *next;
                *next += 1;
                let member = match archive.by_index(index) {
                    Ok(member) => member,
                    Err(e) => {
                        let location = Location::member(name.clone(), format!("#{index}"));
                        return Some(Err(ParseError::Read(e.to_string()).at(&location)));
                    }
                };
                if member.is_dir() || !has_extension(Path::new(member.name()), self.extensions) {
                    continue;
                }
                let location = Location::member(name.clone(), member.name());
                if member.size() > limit {
                    return Some(Err(ParseError::TooLarge { limit }.at(&location)));
                }
                return Some(match read_limited(member, limit) {
                    Ok(Some(bytes)) => Ok(RawDocument { location, bytes }),
                    Ok(None) => Err(ParseError::TooLarge { limit }.at(&location)),
                    Err(e) => Err(ParseError::Read(e.to_string()).at(&location)),
                });
            },
        }
    }
}

/// Reads at most `limit` bytes; `None` when there is more.
pub(crate) fn read_limited(reader: impl Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    extensions.is_empty()
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let io_error = |source| SourceError::Io {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let kind = entry.file_type().map_err(io_error)?;
        // Symbolic links are not followed: a link cycle would never end.
        if kind.is_dir() {
            walk(&entry.path(), files)?;
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    Ok(())
}

/// The advisories of a [`Documents`] source, read by one format's parser.
/// Each item is one document's advisory or the error that document had.
pub struct Advisories {
    documents: Documents,
    options: ReadOptions,
    parse: fn(&RawDocument, &ReadOptions) -> Result<Advisory, DocumentError>,
}

impl Advisories {
    /// Reads each document of `documents` with `parse`.
    pub fn new(
        documents: Documents,
        options: ReadOptions,
        parse: fn(&RawDocument, &ReadOptions) -> Result<Advisory, DocumentError>,
    ) -> Advisories {
        Advisories {
            documents,
            options,
            parse,
        }
    }
}

impl Iterator for Advisories {
    type Item = Result<Advisory, DocumentError>;

    fn next(&mut self) -> Option<Self::Item> {
        let document = self.documents.next()?;
        Some(document.and_then(|document| (self.parse)(&document, &self.options)))
    }
}

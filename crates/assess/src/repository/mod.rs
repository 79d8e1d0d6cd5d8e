//! Repository metadata (ASM-3): what an apt or dnf repository offers, read
//! from the files the repository itself publishes — apt's `Packages`
//! ([`apt`]), rpm-md's `primary.xml` and `updateinfo.xml` ([`rpm`]) — plain,
//! gzip or xz. Pure: bytes in, records out, nothing read from disk or the
//! network.
//!
//! Metadata comes from outside and can be large (Debian's main `Packages`
//! is about 60 MB), so every reader is bounded by [`Limits`]: the size after
//! decompression, the number of records and the fields of one record. A
//! file that breaks a rule is refused whole with a [`MetadataError`] naming
//! the file, the line, and the field or element at fault: importing half a
//! repository would report updates that are not there, or hide ones that are.

pub mod apt;
pub mod rpm;

use std::borrow::Cow;
use std::io::Read;

use serde::{Deserialize, Serialize};

/// Bounds on what a metadata file may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes after decompression (the compressed size is the caller's
    /// business: it bounds the upload).
    pub max_bytes: u64,
    /// Packages (stanzas, `<package>`) or errata (`<update>`) in one file.
    pub max_records: usize,
    /// Fields of one `Packages` stanza; references or packages of one
    /// erratum.
    pub max_fields: usize,
}

impl Default for Limits {
    /// 1 GiB, 500,000 records, 1,000 fields: Debian's and AlmaLinux's
    /// largest files (about 60 MB and 65,000 packages; 15,000 errata) with
    /// room to spare.
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 30,
            max_records: 500_000,
            max_fields: 1_000,
        }
    }
}

/// A metadata file that cannot be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {message}", .line.map(|l| format!(" line {l}")).unwrap_or_default(), .field.as_ref().map(|f| format!(", {f}")).unwrap_or_default())]
pub struct MetadataError {
    /// The file, as the caller named it.
    pub file: String,
    /// The line (from 1), when the fault has one.
    pub line: Option<usize>,
    /// The field (`field Version`) or element (`<version> attribute ver`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl MetadataError {
    pub(crate) fn new(file: &str, message: impl Into<String>) -> Self {
        MetadataError {
            file: file.to_owned(),
            line: None,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    pub(crate) fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// A binary package a repository offers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OfferedPackage {
    /// The binary package's name.
    pub name: String,
    /// Its architecture (`amd64`, `all`, `x86_64`, `noarch`).
    pub arch: String,
    /// Its version under the repository's scheme (an rpm's `[epoch:]v-r`,
    /// the epoch only when not 0).
    pub version: String,
    /// The source package it was built from (its own name when the
    /// metadata names none).
    pub source_name: String,
    /// The source package's version (its own version when none is given).
    pub source_version: String,
}

/// What an erratum (an rpm-md `updateinfo.xml` `<update>`) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErratumKind {
    /// Fixes security issues.
    Security,
    /// Fixes bugs.
    Bugfix,
    /// Adds features.
    Enhancement,
    /// A package new to the repository.
    Newpackage,
}

impl ErratumKind {
    /// The name in `updateinfo.xml`, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ErratumKind::Security => "security",
            ErratumKind::Bugfix => "bugfix",
            ErratumKind::Enhancement => "enhancement",
            ErratumKind::Newpackage => "newpackage",
        }
    }

    /// The kind of its name, or `None`.
    pub fn parse(name: &str) -> Option<ErratumKind> {
        [
            ErratumKind::Security,
            ErratumKind::Bugfix,
            ErratumKind::Enhancement,
            ErratumKind::Newpackage,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// One package an erratum updates to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ErratumPackage {
    /// The binary package's name.
    pub name: String,
    /// Its architecture.
    pub arch: String,
    /// The version the erratum brings (`[epoch:]v-r`).
    pub version: String,
}

/// A vendor's erratum: an update of a repository with its class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erratum {
    /// Its id (`ALSA-2024:1234`).
    pub id: String,
    /// Security, bug fix, enhancement or new package.
    pub kind: ErratumKind,
    /// The vendor's severity (`Important`), when given.
    pub severity: Option<String>,
    /// When it was issued, as the file writes it (`2024-03-12 10:00:00`).
    pub issued: Option<String>,
    /// Its title.
    pub title: Option<String>,
    /// The CVEs among its references.
    pub cves: Vec<String>,
    /// The ids of its other references (`RHSA-2024:1234`, bug numbers).
    pub references: Vec<String>,
    /// The packages it updates to.
    pub packages: Vec<ErratumPackage>,
}

/// The kinds of metadata file Rivet reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataKind {
    /// apt's `Packages`.
    Packages,
    /// rpm-md's `primary.xml`.
    Primary,
    /// rpm-md's `updateinfo.xml`.
    Updateinfo,
}

impl MetadataKind {
    /// The name in the API (`packages`, `primary`, `updateinfo`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetadataKind::Packages => "packages",
            MetadataKind::Primary => "primary",
            MetadataKind::Updateinfo => "updateinfo",
        }
    }
}

/// A metadata file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metadata {
    /// An apt `Packages` file.
    Packages(Vec<OfferedPackage>),
    /// An rpm-md `primary.xml`.
    Primary(Vec<OfferedPackage>),
    /// An rpm-md `updateinfo.xml`.
    Updateinfo(Vec<Erratum>),
}

impl Metadata {
    /// Which kind of file it was.
    pub fn kind(&self) -> MetadataKind {
        match self {
            Metadata::Packages(_) => MetadataKind::Packages,
            Metadata::Primary(_) => MetadataKind::Primary,
            Metadata::Updateinfo(_) => MetadataKind::Updateinfo,
        }
    }
}

/// Reads a metadata file of any kind: decompressed by its magic bytes,
/// then told apart by its content (XML whose root is `<metadata>` or
/// `<updates>`, or else deb822 stanzas), so that the caller need not trust
/// a file name.
pub fn read(bytes: &[u8], file: &str, limits: &Limits) -> Result<Metadata, MetadataError> {
    let bytes = decompress(bytes, file, limits)?;
    let text = utf8(&bytes, file)?;
    let start = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if start.starts_with('<') {
        match rpm::root_element(text, file)?.as_str() {
            "metadata" => rpm::parse_primary(text, file, limits).map(Metadata::Primary),
            "updates" => rpm::parse_updateinfo(text, file, limits).map(Metadata::Updateinfo),
            other => Err(MetadataError::new(
                file,
                format!(
                    "an XML file whose root is <{other}>: expected primary.xml's <metadata> or updateinfo.xml's <updates>"
                ),
            )),
        }
    } else {
        apt::parse_packages(text, file, limits).map(Metadata::Packages)
    }
}

/// The bytes of a file, decompressed when they start with gzip's or xz's
/// magic number, at most `limits.max_bytes` of them.
pub fn decompress<'a>(
    bytes: &'a [u8],
    file: &str,
    limits: &Limits,
) -> Result<Cow<'a, [u8]>, MetadataError> {
    let too_large = || {
        MetadataError::new(
            file,
            format!("larger than {} bytes decompressed", limits.max_bytes),
        )
    };
    let out = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(limits.max_bytes.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| MetadataError::new(file, format!("not valid gzip: {e}")))?;
        out
    } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        let mut out = Vec::new();
        liblzma::read::XzDecoder::new_multi_decoder(bytes)
            .take(limits.max_bytes.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| MetadataError::new(file, format!("not valid xz: {e}")))?;
        out
    } else {
        for (magic, name) in [
            (&[0x28, 0xb5, 0x2f, 0xfd][..], "zstd"),
            (b"BZh", "bzip2"),
            (&[0x04, 0x22, 0x4d, 0x18], "lz4"),
        ] {
            if bytes.starts_with(magic) {
                return Err(MetadataError::new(
                    file,
                    format!("{name}-compressed: upload it plain, gzip- or xz-compressed"),
                ));
            }
        }
        if bytes.len() as u64 > limits.max_bytes {
            return Err(too_large());
        }
        return Ok(Cow::Borrowed(bytes));
    };
    if out.len() as u64 > limits.max_bytes {
        return Err(too_large());
    }
    Ok(Cow::Owned(out))
}

/// The text of a file, or the line where it stops being UTF-8.
fn utf8<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, MetadataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        MetadataError::new(file, "not UTF-8 text").at(line)
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    const PACKAGES: &str = "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\n";

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn xz(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        liblzma::read::XzEncoder::new(bytes, 1)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn plain_gzip_and_xz_read_alike() {
        let limits = Limits::default();
        let plain = read(PACKAGES.as_bytes(), "Packages", &limits).unwrap();
        assert_eq!(plain.kind(), MetadataKind::Packages);
        assert_eq!(
            read(&gzip(PACKAGES.as_bytes()), "Packages.gz", &limits).unwrap(),
            plain
        );
        assert_eq!(
            read(&xz(PACKAGES.as_bytes()), "Packages.xz", &limits).unwrap(),
            plain
        );
    }

    #[test]
    fn decompressed_size_is_capped() {
        let limits = Limits {
            max_bytes: 1000,
            ..Limits::default()
        };
        let big = vec![b'a'; 100_000];
        for (bytes, name) in [(gzip(&big), "x.gz"), (xz(&big), "x.xz"), (big.clone(), "x")] {
            let e = decompress(&bytes, name, &limits).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("{name}: larger than 1000 bytes decompressed")
            );
        }
    }

    #[test]
    fn other_compressions_and_bad_streams_are_named() {
        let limits = Limits::default();
        let e = read(&[0x28, 0xb5, 0x2f, 0xfd, 0], "primary.xml.zst", &limits).unwrap_err();
        assert!(e.to_string().contains("zstd-compressed"), "{e}");
        let e = read(&[0x1f, 0x8b, 1, 2, 3], "Packages.gz", &limits).unwrap_err();
        assert!(
            e.to_string().starts_with("Packages.gz: not valid gzip"),
            "{e}"
        );
        let e = read(b"Package: a\n\xff\n", "Packages", &limits).unwrap_err();
        assert_eq!(e.to_string(), "Packages line 2: not UTF-8 text");
    }

    #[test]
    fn xml_is_told_apart_by_its_root() {
        let limits = Limits::default();
        let e = read(b"<?xml version=\"1.0\"?>\n<repomd/>", "repomd.xml", &limits).unwrap_err();
        assert!(e.to_string().contains("root is <repomd>"), "{e}");
        let m = read(b"<updates></updates>", "updateinfo.xml", &limits).unwrap();
        assert_eq!(m, Metadata::Updateinfo(Vec::new()));
    }
}

//! The errors of advisory intake, saying what went wrong and where: the file,
//! the archive member, and the JSON path and line when the parser knows them.

use crate::model::Location;

/// Why one document could not be read into the model. The document is skipped;
/// the others in the same source are not affected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The JSON is malformed or does not have the expected shape.
    #[error("invalid JSON at {path} (line {line}, column {column}): {message}")]
    Json {
        /// Where in the document, as a JSON path (`affected[3].ranges`, `.` for the root).
        path: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The YAML is malformed or does not have the expected shape.
    #[error("invalid YAML at {path}: {message}")]
    Yaml {
        /// Where in the document, as a path of keys and indices.
        path: String,
        /// The parser's message, with line and column when it knows them.
        message: String,
    },
    /// CSV (EPSS, a CSAF `changes.csv`) that cannot be read.
    #[error("invalid CSV at line {line}: {message}")]
    Csv {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A field is present but its value is not acceptable.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field, as a path (`modified`, `document.tracking.id`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The document is larger than [`crate::Limits::max_document_bytes`].
    #[error("document is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The document could not be read (I/O, or a damaged archive member).
    #[error("reading failed: {0}")]
    Read(String),
}

/// A document that failed, with where it came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct DocumentError {
    /// The file, URL or archive member.
    pub location: Location,
    /// What was wrong.
    pub reason: ParseError,
}

/// A source that cannot be read at all: nothing from it should be trusted.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path or reader could not be opened or listed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The zip archive is truncated or corrupt.
    #[error("{path}: not a readable zip archive (truncated or corrupt?): {reason}")]
    Archive {
        /// The archive.
        path: String,
        /// What the zip reader said.
        reason: String,
    },
    /// The archive has more members than [`crate::Limits::max_archive_members`].
    #[error("{path}: archive has {members} members, more than the limit of {limit}")]
    TooManyMembers {
        /// The archive.
        path: String,
        /// Its number of members.
        members: usize,
        /// The limit.
        limit: usize,
    },
    /// A single-document source (KEV catalog, EPSS file) that failed to parse.
    #[error(transparent)]
    Document(#[from] DocumentError),
}

impl ParseError {
    /// A serde_json error, with the JSON path from serde_path_to_error.
    pub(crate) fn json(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        let inner = err.into_inner();
        ParseError::Json {
            path,
            line: inner.line(),
            column: inner.column(),
            message: inner.to_string(),
        }
    }

    /// A serde_norway (YAML) error, with the path of keys.
    pub(crate) fn yaml(err: serde_path_to_error::Error<serde_norway::Error>) -> Self {
        ParseError::Yaml {
            path: err.path().to_string(),
            message: err.into_inner().to_string(),
        }
    }

    /// A field whose value is not acceptable.
    pub(crate) fn invalid(field: impl Into<String>, message: impl ToString) -> Self {
        ParseError::Invalid {
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// Attaches the location this error happened at.
    pub(crate) fn at(self, location: &Location) -> DocumentError {
        DocumentError {
            location: location.clone(),
            reason: self,
        }
    }
}

/// Parses JSON into `T`, reporting the JSON path and line of the first error.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(ParseError::json)?;
    de.end().map_err(|e| ParseError::Json {
        path: ".".into(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    Ok(value)
}

/// Parses YAML into `T`. Target fields are strings, so unquoted timestamps and
/// numbers (`modified: 2023-07-24T14:58:05Z`, `- 4.0`) keep their exact text.
pub(crate) fn from_yaml<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ParseError> {
    let de = serde_norway::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(ParseError::yaml)
}

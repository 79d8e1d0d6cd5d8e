//! The agent's configuration: `/etc/rivet-agent/config.toml` and then the
//! drop-ins `/etc/rivet-agent/config.d/*.toml` in name order, a later file's
//! keys replacing an earlier one's. Every file is optional; nothing is
//! created. Each fragment is read on its own with unknown keys refused, so
//! that a mistake is reported with its file, line and key; the merged
//! result becomes [`Settings`].

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::schedule::Backoff;
use crate::state::DEFAULT_STATE_DIR;

/// The main configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/rivet-agent/config.toml";
/// No configuration file is this large.
const CONFIG_LIMIT: u64 = 256 * 1024;

/// `rivet-agent default-config`: every key at its default, explained.
pub const DEFAULT_CONFIG: &str = r#"# Rivet agent configuration: /etc/rivet-agent/config.toml.
# Files in /etc/rivet-agent/config.d/*.toml are read after this one, in name
# order; a key set in a later file replaces the earlier value.

# Where the agent keeps its key, the server's CA, its enrollment and the last
# inventory the server accepted. Created with mode 0700.
state_dir = "/var/lib/rivet-agent"

# The root directory of the system to inventory: / for this host.
root = "/"

# How much to log: "error", "warn", "info", "debug" or "trace".
log = "info"

# The longest wait between retries when the server cannot be reached, in
# seconds (retries start at 5 s and double up to this).
max_backoff_secs = 300
"#;

/// The agent's settings after all files were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The root directory to inventory.
    pub root: PathBuf,
    /// How much to log.
    pub log: LogLevel,
    /// The longest wait between retries.
    pub max_backoff_secs: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            root: PathBuf::from("/"),
            log: LogLevel::Info,
            max_backoff_secs: Backoff::default().max_secs,
        }
    }
}

impl Settings {
    /// The retry policy these settings ask for.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            max_secs: self.max_backoff_secs,
            ..Backoff::default()
        }
    }
}

/// How much to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// What the agent does (the default).
    Info,
    /// Details.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for tracing::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

/// One file's keys, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fragment {
    state_dir: Option<AbsolutePath>,
    root: Option<AbsolutePath>,
    log: Option<LogLevel>,
    max_backoff_secs: Option<BackoffSecs>,
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "PathBuf")]
struct AbsolutePath(PathBuf);

impl TryFrom<PathBuf> for AbsolutePath {
    type Error = String;
    fn try_from(path: PathBuf) -> Result<Self, String> {
        if path.is_absolute() {
            Ok(AbsolutePath(path))
        } else {
            Err(format!("{} is not an absolute path", path.display()))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "i64")]
struct BackoffSecs(u32);

impl TryFrom<i64> for BackoffSecs {
    type Error = String;
    fn try_from(secs: i64) -> Result<Self, String> {
        match u32::try_from(secs) {
            Ok(secs @ 5..=86_400) => Ok(BackoffSecs(secs)),
            _ => Err(format!(
                "{secs} is out of range: between 5 and 86400 seconds"
            )),
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is too large to be a configuration file.
    #[error("{}: larger than {CONFIG_LIMIT} bytes", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A syntax error, an unknown key or a bad value.
    #[error("{}{}: {message}", .path.display(), .line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line (from 1), when known.
        line: Option<usize>,
        /// What is wrong, and the offending line's text.
        message: String,
    },
}

/// Reads `main` (usually [`DEFAULT_CONFIG_PATH`]) and the `*.toml` files of
/// the `config.d` directory beside it. Missing files are fine.
pub fn load(main: &Path) -> Result<Settings, ConfigError> {
    let mut files = Vec::new();
    if let Some(text) = read_config(main)? {
        files.push((main.to_owned(), text));
    }
    let drop_ins = main.with_file_name("config.d");
    for path in drop_in_files(&drop_ins)? {
        if let Some(text) = read_config(&path)? {
            files.push((path, text));
        }
    }
    from_files(&files)
}

/// The settings of these files' texts, applied in order.
pub fn from_files(files: &[(PathBuf, String)]) -> Result<Settings, ConfigError> {
    let mut settings = Settings::default();
    for (path, text) in files {
        let fragment: Fragment = toml::from_str(text).map_err(|e| invalid(path, text, &e))?;
        if let Some(AbsolutePath(dir)) = fragment.state_dir {
            settings.state_dir = dir;
        }
        if let Some(AbsolutePath(dir)) = fragment.root {
            settings.root = dir;
        }
        if let Some(level) = fragment.log {
            settings.log = level;
        }
        if let Some(BackoffSecs(secs)) = fragment.max_backoff_secs {
            settings.max_backoff_secs = secs;
        }
    }
    Ok(settings)
}

/// The `*.toml` files in `dir`, in name order; none if it does not exist.
fn drop_in_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfigError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ConfigError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") && !path.is_dir() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

fn read_config(path: &Path) -> Result<Option<String>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut text = String::new();
    file.take(CONFIG_LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > CONFIG_LIMIT {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(Some(text))
}

/// A TOML error as file, line, message and the line's text.
fn invalid(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let message = error.message().trim().to_owned();
    let Some(span) = error.span() else {
        return ConfigError::Invalid {
            path: path.to_owned(),
            line: None,
            message,
        };
    };
    let start = span.start.min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or_default().trim();
    ConfigError::Invalid {
        path: path.to_owned(),
        line: Some(line),
        message: if line_text.is_empty() {
            message
        } else {
            format!("{message} (in `{line_text}`)")
        },
    }
}

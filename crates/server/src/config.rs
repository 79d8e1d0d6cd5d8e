//! The server's configuration: one TOML file (`--config`), then `RIVET_*`
//! environment variables over it, then validation. `rivet default-config`
//! prints [`DEFAULT_CONFIG`], and a test proves that text parses to exactly
//! [`Config::default`], so the annotated default cannot drift from the code.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The annotated default configuration, as `rivet default-config` prints it.
pub const DEFAULT_CONFIG: &str = r#"# Rivet server configuration. Every key is optional; shown are the defaults.
# Environment variables override the file: each key names its variable.

[server]
# Address and port of the HTTP API.                          RIVET_LISTEN
listen = "127.0.0.1:8440"
# Where Rivet keeps its data (the embedded database).        RIVET_DATA_DIR
data_dir = "./rivet-data"
# Largest request body accepted, in bytes.                   RIVET_MAX_BODY_BYTES
max_body_bytes = 1048576
# Requests served at once; more wait their turn.             RIVET_MAX_CONCURRENT_REQUESTS
max_concurrent_requests = 256
# A request that takes longer is answered 503, in seconds
# (advisory uploads and source syncs may take 30 minutes).  RIVET_REQUEST_TIMEOUT_SECS
request_timeout_secs = 30

[database]
# Empty: SQLite in <data_dir>/rivet.db (WAL mode).
# postgres://user:password@host:5432/rivet selects PostgreSQL. RIVET_DATABASE_URL
url = ""
# Connections in the pool.                                   RIVET_DATABASE_MAX_CONNECTIONS
max_connections = 16

[auth]
# The provider tenant's name, set on first start.            RIVET_PROVIDER_NAME
provider_name = "Provider"
# Lifetime of the token `rivet login` obtains, in hours.      RIVET_LOGIN_TOKEN_HOURS
login_token_hours = 12
# Longest lifetime an API token may be given, in days.       RIVET_MAX_TOKEN_DAYS
max_token_days = 365
# Failed logins allowed per user name within the window;
# further attempts are refused (429) until it passes.        RIVET_LOGIN_MAX_FAILURES
login_max_failures = 5
# The window, in seconds.                                    RIVET_LOGIN_WINDOW_SECS
login_window_secs = 300

[advisories]
# Largest advisory upload (an OSV archive, the KEV catalog…), in bytes.
#                                                            RIVET_ADVISORY_MAX_UPLOAD_BYTES
max_upload_bytes = 268435456

[tls]
# "auto": Rivet makes its own CA under <data_dir>/tls on first start and a
#   server certificate signed by it; agents pin the CA's fingerprint.
# "files": the PEM chain in cert_file (ending with the CA agents pin) and
#   the key in key_file.
# "off": plain HTTP, only behind a proxy that terminates TLS (agents
#   refuse http:// URLs).                                    RIVET_TLS_MODE
mode = "auto"
# PEM certificate chain, in "files" mode.                    RIVET_TLS_CERT_FILE
cert_file = ""
# PEM private key, in "files" mode.                          RIVET_TLS_KEY_FILE
key_file = ""
# More DNS names or IP addresses for the certificate in "auto" mode,
# besides the listen address, this host's name and loopback.
# Comma-separated in the variable.                           RIVET_TLS_NAMES
names = []

[agents]
# The URL agents reach this server at, shown in enrollment commands;
# empty: https://<server.listen>.                            RIVET_PUBLIC_URL
public_url = ""
# How often agents collect and report their inventory, in seconds
# (each agent adds up to 10 % jitter).                       RIVET_CHECKIN_INTERVAL_SECS
checkin_interval_secs = 900
# How long a check-in may wait for work (long polling), in seconds.
#                                                            RIVET_MAX_WAIT_SECS
max_wait_secs = 60
# Check-ins waiting at once; beyond this they are answered at once.
#                                                            RIVET_MAX_WAITING_CHECKINS
max_waiting_checkins = 10000
# Polls per second the whole fleet makes between collections: each agent
# is told to poll every <agents> / polls_per_sec seconds (at least 5 s
# apart, at most a collection interval), so that a large fleet does not
# poll faster than the server answers, and about polls_per_sec ·
# max_wait_secs check-ins wait at once.                      RIVET_POLLS_PER_SEC
polls_per_sec = 100
# Largest inventory upload, in bytes.                        RIVET_MAX_INVENTORY_BYTES
max_inventory_bytes = 16777216
# Default and longest lifetime of an enrollment token, in hours.
#                                                            RIVET_ENROLLMENT_TOKEN_HOURS
enrollment_token_hours = 24
#                                                            RIVET_MAX_ENROLLMENT_TOKEN_HOURS
max_enrollment_token_hours = 720

[notify]
# Notifications (downtime notices, tests) wait in the outbox until due;
# the sender looks for due ones this often, in seconds.     RIVET_NOTIFY_POLL_SECS
poll_secs = 30
# How long one delivery (an e-mail, a webhook POST) may take, in seconds.
#                                                            RIVET_NOTIFY_TIMEOUT_SECS
timeout_secs = 20
# The SMTP server e-mail goes through; empty: e-mail is not sent (each
# attempt fails, is retried, and shows in `rivet notifications list`).
#                                                            RIVET_SMTP_HOST
smtp_host = ""
# Its port: 587 for starttls, 465 for tls.                   RIVET_SMTP_PORT
smtp_port = 587
# "starttls": connect, then require TLS (STARTTLS);
# "tls": TLS from the start (SMTPS);
# "none": no TLS, only to a relay on loopback (127.0.0.1, ::1, localhost).
#                                                            RIVET_SMTP_TLS
smtp_tls = "starttls"
# The user to log in as; empty: no login.                    RIVET_SMTP_USERNAME
smtp_username = ""
# Its password.                                              RIVET_SMTP_PASSWORD
smtp_password = ""
# The sender, e.g. "Rivet <rivet@provider.example>"; needed with smtp_host.
#                                                            RIVET_SMTP_FROM
from = ""

[log]
# A tracing filter, e.g. "info" or "rivet_server=debug".     RIVET_LOG
filter = "info"
"#;

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// Advisory intake.
    pub advisories: AdvisoryConfig,
    /// TLS for the API.
    pub tls: TlsConfig,
    /// Agents.
    pub agents: AgentsConfig,
    /// Notifications.
    pub notify: NotifyConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port of the HTTP API.
    pub listen: SocketAddr,
    /// Where Rivet keeps its data.
    pub data_dir: PathBuf,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Requests served at once.
    pub max_concurrent_requests: usize,
    /// Request timeout, in seconds.
    pub request_timeout_secs: u64,
}

/// `[database]`
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Empty for the embedded SQLite database, or a `postgres://` URL.
    pub url: String,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &rivet_store::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The provider tenant's name, set on first start.
    pub provider_name: String,
    /// Lifetime of a login token, in hours.
    pub login_token_hours: u32,
    /// Longest lifetime of an API token, in days.
    pub max_token_days: u32,
    /// Failed logins allowed per user name within the window.
    pub login_max_failures: u32,
    /// The window, in seconds.
    pub login_window_secs: u64,
}

/// `[advisories]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvisoryConfig {
    /// Largest advisory upload, in bytes.
    pub max_upload_bytes: usize,
}

impl Default for AdvisoryConfig {
    fn default() -> Self {
        AdvisoryConfig {
            max_upload_bytes: 256 * 1024 * 1024,
        }
    }
}

/// `[tls]`
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Where the certificate comes from.
    pub mode: TlsMode,
    /// The PEM chain, in `files` mode.
    pub cert_file: PathBuf,
    /// The PEM key, in `files` mode.
    pub key_file: PathBuf,
    /// More names for the certificate, in `auto` mode.
    pub names: NameList,
}

/// Where the API's certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Rivet's own CA.
    #[default]
    Auto,
    /// Configured files.
    Files,
    /// Plain HTTP behind a TLS-terminating proxy.
    Off,
}

impl std::str::FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(TlsMode::Auto),
            "files" => Ok(TlsMode::Files),
            "off" => Ok(TlsMode::Off),
            _ => Err("expected auto, files or off".into()),
        }
    }
}

/// A list of names, comma-separated in an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct NameList(pub Vec<String>);

impl std::ops::Deref for NameList {
    type Target = Vec<String>;
    fn deref(&self) -> &Vec<String> {
        &self.0
    }
}

impl std::str::FromStr for NameList {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(NameList(
            s.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

/// `[agents]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    /// The URL agents reach the server at.
    pub public_url: String,
    /// Inventory interval, in seconds.
    pub checkin_interval_secs: u32,
    /// Longest long poll, in seconds.
    pub max_wait_secs: u32,
    /// Check-ins waiting at once.
    pub max_waiting_checkins: usize,
    /// Polls per second of the whole fleet between collections.
    pub polls_per_sec: u32,
    /// Largest inventory upload, in bytes.
    pub max_inventory_bytes: usize,
    /// Default lifetime of an enrollment token, in hours.
    pub enrollment_token_hours: u32,
    /// Longest lifetime of an enrollment token, in hours.
    pub max_enrollment_token_hours: u32,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            public_url: String::new(),
            checkin_interval_secs: 900,
            max_wait_secs: 60,
            max_waiting_checkins: 10_000,
            polls_per_sec: 100,
            max_inventory_bytes: 16 * 1024 * 1024,
            enrollment_token_hours: 24,
            max_enrollment_token_hours: 720,
        }
    }
}

/// `[notify]`
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// How often the sender looks for due notifications, in seconds.
    pub poll_secs: u64,
    /// How long one delivery may take, in seconds.
    pub timeout_secs: u64,
    /// The SMTP server; empty: no e-mail.
    pub smtp_host: String,
    /// Its port.
    pub smtp_port: u16,
    /// How the connection is secured.
    pub smtp_tls: SmtpTls,
    /// The user to log in as; empty: no login.
    pub smtp_username: String,
    /// Its password.
    pub smtp_password: String,
    /// The sender mailbox.
    pub from: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            poll_secs: 30,
            timeout_secs: 20,
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: String::new(),
            smtp_password: String::new(),
            from: String::new(),
        }
    }
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.smtp_password.is_empty() {
            ""
        } else {
            "***"
        };
        f.debug_struct("NotifyConfig")
            .field("poll_secs", &self.poll_secs)
            .field("timeout_secs", &self.timeout_secs)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &password)
            .field("from", &self.from)
            .finish()
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain, upgraded with STARTTLS, which is required.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No TLS: only to a relay on loopback.
    None,
}

impl std::str::FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "starttls" => Ok(SmtpTls::Starttls),
            "tls" => Ok(SmtpTls::Tls),
            "none" => Ok(SmtpTls::None),
            _ => Err("expected starttls, tls or none".into()),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter.
    pub filter: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8440)),
            data_dir: PathBuf::from("./rivet-data"),
            max_body_bytes: 1024 * 1024,
            max_concurrent_requests: 256,
            request_timeout_secs: 30,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 16,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            provider_name: "Provider".into(),
            login_token_hours: 12,
            max_token_days: 365,
            login_max_failures: 5,
            login_window_secs: 300,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
        }
    }
}

/// A configuration that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid (the message names line, column and key).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// An environment variable has a value of the wrong form.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Why its value is wrong.
        message: String,
    },
    /// A value is out of its allowed range.
    #[error("{key}: {message}")]
    Invalid {
        /// The key, as `section.key`.
        key: &'static str,
        /// Why.
        message: String,
    },
}

impl NotifyConfig {
    /// The SMTP settings make sense together: a sender with a server, and no
    /// plain-text SMTP beyond this machine.
    fn validate_smtp(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if self.smtp_host.is_empty() {
            return Ok(());
        }
        if self.smtp_port == 0 {
            return invalid("notify.smtp_port", "must not be 0".into());
        }
        if let Err(e) = self.from.parse::<lettre::message::Mailbox>() {
            return invalid(
                "notify.from",
                format!(
                    "{:?} is not a sender address (e.g. \"Rivet <rivet@provider.example>\"): {e}",
                    self.from
                ),
            );
        }
        let host = self.smtp_host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if self.smtp_tls == SmtpTls::None && !loopback {
            return invalid(
                "notify.smtp_tls",
                format!(
                    "\"none\" sends mail in clear and is allowed only to a relay on loopback, not to {:?}; use starttls or tls",
                    self.smtp_host
                ),
            );
        }
        Ok(())
    }
}

impl Config {
    /// Reads the file (if any), applies environment overrides from `env`
    /// (a lookup, so tests need not touch the process environment) and
    /// validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Config::parse(&text).map_err(|message| ConfigError::Parse {
                    path: path.to_owned(),
                    message,
                })?
            }
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text; the error names line, column and key.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parsed<T: std::str::FromStr>(var: &'static str, value: String) -> Result<T, ConfigError>
        where
            T::Err: fmt::Display,
        {
            value.trim().parse().map_err(|e: T::Err| ConfigError::Env {
                var,
                message: format!("{value:?}: {e}"),
            })
        }
        macro_rules! env_override {
            ($($var:literal => $field:expr),* $(,)?) => {$(
                if let Some(value) = env($var) {
                    $field = parsed($var, value)?;
                }
            )*};
        }
        env_override!(
            "RIVET_LISTEN" => self.server.listen,
            "RIVET_DATA_DIR" => self.server.data_dir,
            "RIVET_MAX_BODY_BYTES" => self.server.max_body_bytes,
            "RIVET_MAX_CONCURRENT_REQUESTS" => self.server.max_concurrent_requests,
            "RIVET_REQUEST_TIMEOUT_SECS" => self.server.request_timeout_secs,
            "RIVET_DATABASE_URL" => self.database.url,
            "RIVET_DATABASE_MAX_CONNECTIONS" => self.database.max_connections,
            "RIVET_PROVIDER_NAME" => self.auth.provider_name,
            "RIVET_LOGIN_TOKEN_HOURS" => self.auth.login_token_hours,
            "RIVET_MAX_TOKEN_DAYS" => self.auth.max_token_days,
            "RIVET_LOGIN_MAX_FAILURES" => self.auth.login_max_failures,
            "RIVET_LOGIN_WINDOW_SECS" => self.auth.login_window_secs,
            "RIVET_ADVISORY_MAX_UPLOAD_BYTES" => self.advisories.max_upload_bytes,
            "RIVET_TLS_MODE" => self.tls.mode,
            "RIVET_TLS_CERT_FILE" => self.tls.cert_file,
            "RIVET_TLS_KEY_FILE" => self.tls.key_file,
            "RIVET_TLS_NAMES" => self.tls.names,
            "RIVET_PUBLIC_URL" => self.agents.public_url,
            "RIVET_CHECKIN_INTERVAL_SECS" => self.agents.checkin_interval_secs,
            "RIVET_MAX_WAIT_SECS" => self.agents.max_wait_secs,
            "RIVET_MAX_WAITING_CHECKINS" => self.agents.max_waiting_checkins,
            "RIVET_POLLS_PER_SEC" => self.agents.polls_per_sec,
            "RIVET_MAX_INVENTORY_BYTES" => self.agents.max_inventory_bytes,
            "RIVET_ENROLLMENT_TOKEN_HOURS" => self.agents.enrollment_token_hours,
            "RIVET_MAX_ENROLLMENT_TOKEN_HOURS" => self.agents.max_enrollment_token_hours,
            "RIVET_NOTIFY_POLL_SECS" => self.notify.poll_secs,
            "RIVET_NOTIFY_TIMEOUT_SECS" => self.notify.timeout_secs,
            "RIVET_SMTP_HOST" => self.notify.smtp_host,
            "RIVET_SMTP_PORT" => self.notify.smtp_port,
            "RIVET_SMTP_TLS" => self.notify.smtp_tls,
            "RIVET_SMTP_USERNAME" => self.notify.smtp_username,
            "RIVET_SMTP_PASSWORD" => self.notify.smtp_password,
            "RIVET_SMTP_FROM" => self.notify.from,
            "RIVET_LOG" => self.log.filter,
        );
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        fn range(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::Invalid {
                    key,
                    message: format!("{value} is outside {min}..={max}"),
                })
            }
        }
        range(
            "server.max_body_bytes",
            self.server.max_body_bytes as u64,
            1024,
            1 << 30,
        )?;
        range(
            "server.max_concurrent_requests",
            self.server.max_concurrent_requests as u64,
            1,
            100_000,
        )?;
        range(
            "server.request_timeout_secs",
            self.server.request_timeout_secs,
            1,
            3600,
        )?;
        range(
            "database.max_connections",
            u64::from(self.database.max_connections),
            1,
            1000,
        )?;
        range(
            "auth.login_token_hours",
            u64::from(self.auth.login_token_hours),
            1,
            24 * 90,
        )?;
        range(
            "auth.max_token_days",
            u64::from(self.auth.max_token_days),
            1,
            3650,
        )?;
        range(
            "auth.login_max_failures",
            u64::from(self.auth.login_max_failures),
            1,
            1000,
        )?;
        range(
            "auth.login_window_secs",
            self.auth.login_window_secs,
            1,
            86_400,
        )?;
        rivet_core::validate::display_name("auth.provider_name", &self.auth.provider_name, 100)
            .map_err(|e| ConfigError::Invalid {
                key: "auth.provider_name",
                message: e.reason,
            })?;
        range(
            "agents.checkin_interval_secs",
            u64::from(self.agents.checkin_interval_secs),
            10,
            86_400,
        )?;
        range(
            "agents.max_wait_secs",
            u64::from(self.agents.max_wait_secs),
            0,
            3600,
        )?;
        range(
            "agents.polls_per_sec",
            u64::from(self.agents.polls_per_sec),
            1,
            100_000,
        )?;
        range(
            "agents.max_inventory_bytes",
            self.agents.max_inventory_bytes as u64,
            64 * 1024,
            1 << 30,
        )?;
        range(
            "agents.max_enrollment_token_hours",
            u64::from(self.agents.max_enrollment_token_hours),
            1,
            24 * 365,
        )?;
        range(
            "agents.enrollment_token_hours",
            u64::from(self.agents.enrollment_token_hours),
            1,
            u64::from(self.agents.max_enrollment_token_hours),
        )?;
        let public = &self.agents.public_url;
        if !(public.is_empty() || public.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                key: "agents.public_url",
                message: format!("{public:?} must be an https:// URL (agents talk TLS only)"),
            });
        }
        range("notify.poll_secs", self.notify.poll_secs, 1, 3600)?;
        range("notify.timeout_secs", self.notify.timeout_secs, 1, 300)?;
        self.notify.validate_smtp()?;
        let url = &self.database.url;
        if !(url.is_empty() || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid {
                key: "database.url",
                message: format!(
                    "{} is not a postgres:// URL (leave it empty for the embedded database)",
                    rivet_store::redact_url(url)
                ),
            });
        }
        Ok(())
    }

    /// The URL agents reach this server at.
    pub fn agent_url(&self) -> String {
        if self.agents.public_url.is_empty() {
            format!("https://{}", self.server.listen)
        } else {
            self.agents.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// The database URL to connect to: the configured PostgreSQL server, or
    /// SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite:{}", self.server.data_dir.join("rivet.db").display())
        } else {
            self.database.url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_printed_default_is_the_default() {
        assert_eq!(Config::parse(DEFAULT_CONFIG).unwrap(), Config::default());
        assert_eq!(Config::load(None, no_env).unwrap(), Config::default());
    }

    #[test]
    fn every_override_is_documented() {
        let source = include_str!("config.rs");
        let code = &source[source.find("env_override!(\n").unwrap()..];
        let vars: Vec<&str> = code
            .lines()
            .filter_map(|l| l.trim().strip_prefix("\"RIVET_")?.split('"').next())
            .collect();
        assert!(vars.len() >= 14, "{vars:?}");
        for var in vars {
            let var = format!("RIVET_{var}");
            assert!(
                DEFAULT_CONFIG.contains(&var),
                "{var} is not in DEFAULT_CONFIG"
            );
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = |k: &str| match k {
            "RIVET_DATABASE_URL" => Some("postgres://rivet:pw@db/rivet".to_owned()),
            "RIVET_LISTEN" => Some("0.0.0.0:9000".to_owned()),
            _ => None,
        };
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.database_url(), "postgres://rivet:pw@db/rivet");
        assert_eq!(c.server.listen.port(), 9000);
        assert!(
            !format!("{c:?}").contains("pw@"),
            "secrets stay out of Debug"
        );
        assert_eq!(
            Config::default().database_url(),
            "sqlite:./rivet-data/rivet.db"
        );
    }

    #[test]
    fn smtp_settings_are_checked_and_the_password_hidden() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = Config::load(
            None,
            env(&[
                ("RIVET_SMTP_HOST", "mail.provider.example"),
                ("RIVET_SMTP_TLS", "tls"),
                ("RIVET_SMTP_PORT", "465"),
                ("RIVET_SMTP_USERNAME", "rivet"),
                ("RIVET_SMTP_PASSWORD", "hunter2-secret"),
                ("RIVET_SMTP_FROM", "Rivet <rivet@provider.example>"),
            ]),
        )
        .unwrap();
        assert_eq!((c.notify.smtp_tls, c.notify.smtp_port), (SmtpTls::Tls, 465));
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
        let err = Config::load(None, env(&[("RIVET_SMTP_HOST", "mail.provider.example")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("notify.from"), "{err}");
        let err = Config::load(
            None,
            env(&[
                ("RIVET_SMTP_HOST", "mail.provider.example"),
                ("RIVET_SMTP_FROM", "rivet@provider.example"),
                ("RIVET_SMTP_TLS", "none"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("notify.smtp_tls"), "{err}");
        let c = Config::load(
            None,
            env(&[
                ("RIVET_SMTP_HOST", "127.0.0.1"),
                ("RIVET_SMTP_FROM", "rivet@provider.example"),
                ("RIVET_SMTP_TLS", "none"),
            ]),
        );
        assert!(c.is_ok(), "{c:?}");
        let err = Config::load(None, env(&[("RIVET_SMTP_TLS", "ssl")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RIVET_SMTP_TLS"), "{err}");
    }

    #[test]
    fn errors_say_where() {
        let err = Config::parse("[server]\nlisten = 5\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = Config::parse("[server]\nlisen = \"x\"\n").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
        let env = |k: &str| (k == "RIVET_MAX_BODY_BYTES").then(|| "lots".to_owned());
        let err = Config::load(None, env).unwrap_err().to_string();
        assert!(
            err.contains("RIVET_MAX_BODY_BYTES") && err.contains("lots"),
            "{err}"
        );
        let env = |k: &str| (k == "RIVET_DATABASE_URL").then(|| "mysql://x".to_owned());
        let err = Config::load(None, env).unwrap_err().to_string();
        assert!(err.starts_with("database.url"), "{err}");
        let env = |k: &str| (k == "RIVET_MAX_BODY_BYTES").then(|| "1".to_owned());
        assert!(
            Config::load(None, env)
                .unwrap_err()
                .to_string()
                .contains("server.max_body_bytes")
        );
    }
}

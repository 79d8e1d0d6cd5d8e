//! Rivet's storage: one [`Store`] over SQLite (the embedded default) or
//! PostgreSQL, picked from the database URL. SQL is written once, as runtime
//! strings with `$1` placeholders that both dialects accept, and run on the
//! pool of whichever backend is configured. Each dialect has its own
//! migrations folder, numbered in lockstep.
//!
//! Every change the API makes goes through a method that writes the change
//! and its audit entry in one transaction, so that no change is ever stored
//! without its entry, nor an entry without its change.

mod advisories;
mod audit;
mod changes;
mod error;
mod exceptions;
mod findings;
mod hosts;
pub(crate) mod jobs;
mod notifications;
mod repositories;
mod row;
mod sources;
mod tenants;
#[cfg(feature = "test-support")]
pub mod testing;
mod tokens;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use advisories::{
    AdvisoryFilter, AdvisoryRecord, AdvisorySummary, AffectedPackage, EpssRecord, ImportCounts,
    KevRecord,
};
pub use audit::{AuditFilter, Verification};
pub use changes::{
    ChangeFilter, ChangeSetting, ProblemReport, StoredChange, StoredFreeze, StoredRollout,
    StoredWindow,
};
pub use error::StoreError;
pub use exceptions::{ExceptionKind, FindingException, NewException};
pub use findings::{
    AssessedHost, ExposureSummary, Finding, FindingChanges, FindingDraft, FindingFilter,
    HostFindingsDraft,
};
pub use hosts::{
    AgentIdentity, EnrollRefusal, EnrollmentToken, HistoryEntry, Host, HostFilter, HostSource,
    InventoryOutcome, InventoryRefusal, InventoryStored, InventoryWrite, NewEnrollment,
};
pub use jobs::{JobKind, JobState, ReportReceipt, StoredJob};
pub use notifications::{
    FailOutcome, MAX_NOTIFICATION_ATTEMPTS, NewNotification, Notification, NotificationState,
    SecretChange, TenantNotifications,
};
pub use repositories::{
    ErratumOffer, NewRepository, OpenFixRow, Repository, RepositoryErratum, RepositoryKind,
    RepositoryPackage, UpdateHost,
};
pub use sources::{AdvisorySource, NewSource};
pub use tokens::{NewToken, TokenOwner};
pub use users::{NewUser, UserPatch};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded database, in WAL mode.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Rivet's persistent state. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    interned: std::sync::Arc<hosts::Interned>,
    writer: std::sync::Arc<Writer>,
    /// Where inventories queue for their writer (`None` in the writer's
    /// own copy, so that the writer stops when the last store is dropped).
    inventory_jobs: Option<tokio::sync::mpsc::Sender<hosts::InventoryJob>>,
}

/// SQLite takes one writer at a time. Its own wait for the lock sleeps in
/// growing steps (up to 100 ms), so writers of this process queue here
/// instead, first come first served, and find the lock free. The queue also
/// counts commits, to checkpoint the write-ahead log now and then: under a
/// steady stream of readers SQLite's own passive checkpoints never get to
/// restart the log, which then grows without bound.
#[derive(Default)]
struct Writer {
    commits_since_checkpoint: tokio::sync::Mutex<u32>,
}

/// Write transactions between two checkpoints of SQLite's log.
const COMMITS_PER_CHECKPOINT: u32 = 1000;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

/// Runs `$body` with `$pool` bound to the backend's pool. The body is
/// compiled once per dialect, so the same SQL serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` inside a write transaction bound to `$tx`, committing if the
/// body completes and rolling back if it returns early with an error.
/// SQLite's transaction begins IMMEDIATE so that two writers queue on the
/// lock instead of failing when a read upgrades to a write.
macro_rules! in_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite(pool) => {
                let mut commits = $store.writer.commits_since_checkpoint.lock().await;
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                *commits += 1;
                if *commits >= $crate::COMMITS_PER_CHECKPOINT {
                    *commits = 0;
                    $crate::checkpoint(pool).await;
                }
                out
            }
            $crate::Pool::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

pub(crate) use in_tx;
pub(crate) use on_pool;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long a statement waits for a lock or a connection.
    pub busy_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

impl Store {
    /// Connects to `url`: `sqlite:PATH` (the file is created if missing) or
    /// `postgres://…`.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Store, StoreError> {
        let pool = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::BadUrl(format!("{}: {e}", redact_url(url))))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Temporary b-trees (sorting, IN lists) in memory, not in a
                // temporary file.
                .pragma("temp_store", "memory")
                // Writing an inventory reads the interned packages' index
                // and the host's rows: a cache of 2 MB (the default) rereads
                // many of those pages every time. 16 MB, allocated as used.
                .pragma("cache_size", "-16384")
                .busy_timeout(options.busy_timeout);
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.busy_timeout)
                .connect_with(connect)
                .await?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::BadUrl(format!("{}: {e}", redact_url(url))))?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.busy_timeout)
                .connect_with(connect)
                .await?;
            Pool::Postgres(pool)
        } else {
            return Err(StoreError::BadUrl(format!(
                "{}: expected sqlite:PATH or postgres://…",
                redact_url(url)
            )));
        };
        let mut store = Store {
            pool,
            interned: Default::default(),
            writer: Default::default(),
            inventory_jobs: None,
        };
        let (jobs, queue) = tokio::sync::mpsc::channel(hosts::INVENTORY_QUEUE);
        tokio::spawn(hosts::write_inventories(store.clone(), queue));
        store.inventory_jobs = Some(jobs);
        Ok(store)
    }

    /// The backend this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations this build knows and the database lacks.
    #[tracing::instrument(skip(self))]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every connection (on shutdown, and before dropping a test database).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

/// Copies SQLite's write-ahead log into the database and truncates it,
/// waiting (up to the busy timeout) for the readers still using it. Called
/// with the writer's lock held. A checkpoint that cannot finish is only
/// logged: the next one catches up.
async fn checkpoint(pool: &SqlitePool) {
    let result: Result<(i64, i64, i64), sqlx::Error> =
        sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(pool)
            .await;
    match result {
        Ok((0, _, _)) => {}
        Ok((_, log, copied)) => {
            tracing::warn!(
                log,
                copied,
                "SQLite checkpoint blocked by readers; retried later"
            )
        }
        Err(error) => tracing::warn!(%error, "SQLite checkpoint failed"),
    }
}

/// The URL with any password replaced, fit for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://rivet:s3cret@db:5432/rivet"),
            "postgres://rivet:***@db:5432/rivet"
        );
        assert_eq!(
            redact_url("postgres://rivet@db/rivet"),
            "postgres://rivet@db/rivet"
        );
        assert_eq!(
            redact_url("sqlite:./rivet-data/rivet.db"),
            "sqlite:./rivet-data/rivet.db"
        );
    }

    #[test]
    fn migrations_are_in_lockstep() {
        let names = |dialect: &str| {
            let dir = format!("{}/migrations/{dialect}", env!("CARGO_MANIFEST_DIR"));
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let sqlite = names("sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(
            sqlite,
            names("postgres"),
            "every migration needs both dialects, numbered alike"
        );
    }
}

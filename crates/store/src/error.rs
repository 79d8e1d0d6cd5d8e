//! The store's error type.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one Rivet can use.
    #[error("database URL {0}")]
    BadUrl(String),
    /// A uniqueness or other constraint would be broken.
    #[error("{0}")]
    Conflict(String),
    /// The request cannot be carried out as asked (e.g. deleting the provider).
    #[error("{0}")]
    Refused(String),
    /// A listing cursor that this store did not hand out.
    #[error("the cursor {0:?} is not valid for this listing")]
    BadCursor(String),
    /// A stored row that does not decode into a domain value.
    #[error("corrupt {table} row {id}: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's key.
        id: String,
        /// What does not decode.
        reason: String,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A write batched with others failed (or its writer stopped).
    #[error("database error in a batched write: {0}")]
    Batch(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database could not be reached (as opposed to refusing
    /// or failing a statement): worth a retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            )
        )
    }

    /// Turns a unique-constraint violation into a [`StoreError::Conflict`]
    /// with `message`; passes other errors through.
    pub(crate) fn conflict_on_unique(err: sqlx::Error, message: impl FnOnce() -> String) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(message())
            }
            _ => StoreError::Database(err),
        }
    }
}

//! Throwaway databases for tests (feature `test-support`): a fresh SQLite
//! file, or a fresh database on the PostgreSQL server named by
//! `RIVET_TEST_DATABASE_URL`, migrated and ready.

use std::path::PathBuf;

use crate::{ConnectOptions, Store};

/// The environment variable naming the PostgreSQL server tests may use.
pub const POSTGRES_ENV: &str = "RIVET_TEST_DATABASE_URL";

/// A migrated database that exists for one test.
pub struct TestDatabase {
    /// The store on it.
    pub store: Store,
    /// Its URL, for tests that open it another way (e.g. the CLI).
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

fn unique_name() -> String {
    format!("rivet_test_{}", uuid::Uuid::new_v4().simple())
}

impl TestDatabase {
    /// A new SQLite database in a fresh temporary directory.
    pub async fn sqlite() -> TestDatabase {
        let dir = std::env::temp_dir().join(unique_name());
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        let url = format!("sqlite:{}", dir.join("rivet.db").display());
        let store = connect(&url).await;
        TestDatabase {
            store,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A new database on the PostgreSQL server of `RIVET_TEST_DATABASE_URL`.
    /// Without that variable the test is skipped (returns `None`) — except
    /// under `CI=true`, where nothing may be skipped, so it fails.
    pub async fn postgres() -> Option<TestDatabase> {
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{POSTGRES_ENV} is not set, and in CI the PostgreSQL tests must run");
            }
            eprintln!("skipped: {POSTGRES_ENV} is not set (the README's test command sets it)");
            return None;
        };
        let name = unique_name();
        let admin = sqlx::PgPool::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", crate::redact_url(&admin_url)));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create a test database");
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let store = connect(&url).await;
        Some(TestDatabase {
            store,
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// Closes the store and removes the database.
    pub async fn drop_database(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            }
        }
    }
}

async fn connect(url: &str) -> Store {
    let options = ConnectOptions {
        max_connections: 4,
        ..ConnectOptions::default()
    };
    let store = Store::connect(url, &options)
        .await
        .expect("connect to the test database");
    store.migrate().await.expect("migrate the test database");
    store
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

impl Store {
    /// Runs raw SQL, bypassing the store's rules: for tests that play an
    /// attacker with database access.
    pub async fn execute_raw_for_tests(&self, sql: &str) -> Result<(), crate::StoreError> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        crate::on_pool!(self, pool => {
            sqlx::query(sql).execute(pool).await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:55432/postgres", "x"),
            "postgres://postgres@127.0.0.1:55432/x"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
        assert_eq!(
            with_database("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}

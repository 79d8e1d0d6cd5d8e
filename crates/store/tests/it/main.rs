//! The storage suite: one story of tests, run on SQLite always and on
//! PostgreSQL when `RIVET_TEST_DATABASE_URL` names a server (the README's
//! test command starts a throwaway one; in CI it must run).

mod storage;

/// Declares each listed `async fn(Store)` in `storage` as a test on every
/// backend: `sqlite::name` and `postgres::name`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = rivet_store::testing::TestDatabase::sqlite().await;
                    crate::storage::$name(db.store.clone()).await;
                    db.drop_database().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = rivet_store::testing::TestDatabase::postgres().await else {
                        return;
                    };
                    crate::storage::$name(db.store.clone()).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

on_every_backend!(
    bootstrap_happens_once,
    tenants_are_created_renamed_and_deleted,
    listings_show_only_visible_tenants,
    pages_follow_their_cursor,
    users_keep_their_customer_limits,
    password_change_revokes_tokens,
    tokens_are_revoked_and_touched,
    every_change_is_chained_in_the_audit_log,
    audit_log_is_append_only_and_edits_are_caught,
    concurrent_changes_keep_one_chain,
    advisories_import_idempotently,
    advisories_are_found_by_filter,
    kev_and_epss_are_joined_by_cve,
    due_sources_are_claimed_once,
    inventories_stored_together_keep_their_own_outcomes,
    a_new_inventory_records_each_change_once,
    findings_follow_their_lifecycle,
    changes_keep_their_revision_and_their_tenant,
    job_reports_are_recorded_once,
    repositories_are_scoped_to_tenants,
    repository_metadata_is_replaced_whole,
    update_reads_group_hosts_by_package,
    notifications_are_queued_once_claimed_and_given_up,
);

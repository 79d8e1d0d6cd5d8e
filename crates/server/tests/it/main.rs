//! The server's test suite: the API in-process (route × role × tenant
//! matrix, bad input, flows) and the real `rivet` binary over a socket.
//! Every case runs on SQLite, and on PostgreSQL when
//! `RIVET_TEST_DATABASE_URL` is set (always in CI).

mod advisories;
mod agents;
mod bad_input;
mod changes;
mod cli;
mod findings;
mod flows;
mod harness;
mod hosts_cli;
mod matrix;
mod notifications;
mod rollouts;
mod scan_cli;
mod sync;
mod updates;
mod windows;

/// Declares each listed `async fn(harness::TestServer)` as a test on every
/// backend: `sqlite::name` and `postgres::name`.
macro_rules! on_every_backend {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = rivet_store::testing::TestDatabase::sqlite().await;
                    let server = crate::harness::TestServer::start(db).await;
                    crate::$module::$name(&server).await;
                    server.finish().await;
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
                    let server = crate::harness::TestServer::start(db).await;
                    crate::$module::$name(&server).await;
                    server.finish().await;
                }
            )*
        }
    };
}

on_every_backend!(
    matrix::every_route_every_role_own_and_foreign_tenant,
    matrix::unauthenticated_calls_get_401,
    bad_input::malformed_bodies_change_nothing,
    bad_input::bad_ids_and_queries_are_400,
    bad_input::oversized_bodies_are_413,
    flows::login_issues_a_token_and_throttles_failures,
    flows::tokens_expire_are_revoked_and_cannot_widen,
    flows::limited_provider_users_cannot_escalate,
    flows::the_last_admin_stays,
    flows::password_change_revokes_tokens,
    flows::pagination_walks_every_list,
    flows::health_and_openapi_are_served,
    cli::cli_manages_tenants_users_tokens_and_audit,
    cli::audit_verify_catches_an_edited_row,
    hosts_cli::hosts_are_managed_from_the_command_line,
    hosts_cli::host_commands_refuse_bad_input,
    advisories::real_data_imports_completely_and_idempotently,
    advisories::enrichment_joins_on_cve,
    findings::findings_equal_rivet_scan_and_follow_inventories,
    findings::exceptions_accept_findings_until_they_expire,
    findings::host_edits_and_deletions_reach_the_assessment,
    rollouts::a_change_rolls_out_ring_by_ring_and_is_rolled_back,
    advisories::bad_advisory_input_is_rejected_without_harm,
    sync::csaf_provider_documents_are_checked_before_use,
    sync::osv_archives_and_failures_by_url,
    sync::the_scheduler_syncs_due_sources,
    sync::source_passwords_are_not_shown,
    updates::hosts_missing_updates_are_classed_per_tenant,
    windows::windows_open_at_the_right_instants_across_daylight_saving,
    windows::bad_windows_are_refused_naming_the_field,
    windows::a_freeze_pushes_a_host_to_its_following_opening,
    windows::host_windows_follow_groups_and_the_attribute,
    windows::tenants_and_roles_are_kept_apart,
    windows::ring_plans_round_trip_and_count_hosts,
    windows::the_calendar_shows_openings_cancellations_and_changes,
    windows::windows_are_managed_from_the_command_line,
    notifications::notifications_are_sent_once_lead_time_before_the_window,
    notifications::failing_notification_webhooks_are_retried_with_backoff,
    notifications::notification_settings_are_validated_and_kept_to_their_tenant,
);

/// Change requests (issue 7), in a module of their own so that
/// `cargo test -- changes` selects them.
mod changes_suite {
    on_every_backend!(
        changes::a_normal_change_is_approved_by_the_cab_and_the_customer,
        changes::work_outside_a_window_needs_the_customer,
        changes::concurrent_votes_all_count,
        changes::a_rejection_needs_a_comment_and_a_revision_returns_a_draft,
        changes::an_emergency_change_is_expedited_and_reviewed_by_someone_else,
        changes::standard_changes_fit_their_template_or_are_refused,
        changes::a_major_version_is_never_automatic,
        changes::a_customer_order_becomes_a_draft,
        changes::a_patch_cycle_turns_open_findings_into_a_change,
        changes::bad_change_input_is_refused_naming_the_field,
        changes::changes_from_the_command_line,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_from_a_running_server_on_sqlite() {
    notifications::the_server_sends_what_the_cli_asks(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_from_a_running_server_on_postgres() {
    let Some(db) = rivet_store::testing::TestDatabase::postgres().await else {
        return;
    };
    notifications::the_server_sends_what_the_cli_asks(Some(db.url.clone())).await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_over_tls_on_sqlite() {
    agents::agents_enroll_report_and_are_revoked(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_over_tls_on_postgres() {
    let Some(db) = rivet_store::testing::TestDatabase::postgres().await else {
        return;
    };
    agents::agents_enroll_report_and_are_revoked(Some(db.url.clone())).await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reports_a_root_on_sqlite() {
    agents::the_agent_enrolls_and_reports_a_root(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reports_a_root_on_postgres() {
    let Some(db) = rivet_store::testing::TestDatabase::postgres().await else {
        return;
    };
    agents::the_agent_enrolls_and_reports_a_root(Some(db.url.clone())).await;
    db.drop_database().await;
}

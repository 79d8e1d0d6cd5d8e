//! Jobs (RLO-4, REP-3): one per host of a change's rollout. The rollout
//! driver creates them pending and dispatches them when the host's ring and
//! window allow; the host's agent receives its dispatched jobs on every
//! check-in until it reports each one. A report is recorded once: a repeat
//! (the agent retrying after a lost answer) changes nothing, so the server
//! never counts a job twice.

use rivet_core::Timestamp;
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::id::{HostId, TenantId};
use rivet_core::job::{Job, JobOutcome, JobPackage, JobReport, RebootPolicy};
use serde::{Deserialize, Serialize};

use crate::audit::append_audit;
use crate::row::{corrupt, json_rows, micros, opt_timestamp, parse, summary, timestamp};
use crate::{Store, StoreError, in_tx, on_pool};

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Planned; not yet handed to the agent.
    Pending,
    /// Handed to the agent; waiting for its report.
    Dispatched,
    /// Reported: installed and verified.
    Succeeded,
    /// Reported: failed, host as before.
    Failed,
    /// Reported: installed, then rolled back.
    RolledBack,
    /// Reported: refused by a pre-check.
    Refused,
    /// Reported: failed, and the agent could not restore the host.
    RollbackFailed,
    /// Never run (the rollout was aborted).
    Skipped,
}

impl JobState {
    /// The name stored.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Dispatched => "dispatched",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::RolledBack => "rolled_back",
            JobState::Refused => "refused",
            JobState::RollbackFailed => "rollback_failed",
            JobState::Skipped => "skipped",
        }
    }

    fn of_name(name: &str) -> Option<JobState> {
        Some(match name {
            "pending" => JobState::Pending,
            "dispatched" => JobState::Dispatched,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "rolled_back" => JobState::RolledBack,
            "refused" => JobState::Refused,
            "rollback_failed" => JobState::RollbackFailed,
            "skipped" => JobState::Skipped,
            _ => return None,
        })
    }

    /// The state a report's outcome leads to.
    pub fn of_outcome(outcome: JobOutcome) -> JobState {
        match outcome {
            JobOutcome::Succeeded => JobState::Succeeded,
            JobOutcome::Failed => JobState::Failed,
            JobOutcome::RolledBack => JobState::RolledBack,
            JobOutcome::Refused => JobState::Refused,
            JobOutcome::RollbackFailed => JobState::RollbackFailed,
        }
    }

    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Pending | JobState::Dispatched)
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Installs the change's versions.
    Install,
    /// Restores the versions before a rolled-back change.
    Rollback,
}

impl JobKind {
    fn name(self) -> &'static str {
        match self {
            JobKind::Install => "install",
            JobKind::Rollback => "rollback",
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredJob {
    /// Its id.
    pub id: String,
    /// The change it carries out.
    pub change_id: String,
    /// The change's tenant.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant_id: TenantId,
    /// The host.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub host_id: HostId,
    /// Install or roll back.
    pub kind: JobKind,
    /// The host's ring in the rollout.
    pub ring: String,
    /// Its state.
    pub state: JobState,
    /// The packages in order.
    pub packages: Vec<JobPackage>,
    /// Not before…
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub not_before: Timestamp,
    /// …and not after (the window's end).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub not_after: Option<Timestamp>,
    /// Whether the host may reboot.
    pub reboot: RebootPolicy,
    /// When it was planned.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When it was handed out.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub dispatched_at: Option<Timestamp>,
    /// When its report arrived.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub reported_at: Option<Timestamp>,
    /// The agent's report.
    pub report: Option<JobReport>,
}

impl StoredJob {
    /// The job as its agent receives it.
    pub fn to_job(&self) -> Job {
        Job {
            id: self.id.clone(),
            change_id: self.change_id.clone(),
            packages: self.packages.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            reboot: self.reboot,
        }
    }
}

/// What became of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportReceipt {
    /// Recorded now.
    Recorded(StoredJob),
    /// The job had its report already: nothing changed.
    Repeated(StoredJob),
    /// The job is not this host's, or not handed out.
    NotOpen,
}

const JOB_COLUMNS: &str = "id, change_id, tenant_id, host_id, kind, ring, state, packages, not_before, \
    not_after, reboot, created_at, dispatched_at, reported_at, report";

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    change_id: String,
    tenant_id: String,
    host_id: String,
    kind: String,
    ring: String,
    state: String,
    packages: String,
    not_before: i64,
    not_after: Option<i64>,
    reboot: String,
    created_at: i64,
    dispatched_at: Option<i64>,
    reported_at: Option<i64>,
    report: Option<String>,
}

fn json<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("jobs", key, e.to_string()))
}

impl JobRow {
    fn into_job(self) -> Result<StoredJob, StoreError> {
        let key = self.id.clone();
        Ok(StoredJob {
            change_id: self.change_id,
            tenant_id: parse("jobs", &key, &self.tenant_id)?,
            host_id: parse("jobs", &key, &self.host_id)?,
            kind: match self.kind.as_str() {
                "install" => JobKind::Install,
                "rollback" => JobKind::Rollback,
                other => return Err(corrupt("jobs", &key, format!("kind {other:?}"))),
            },
            ring: self.ring,
            state: JobState::of_name(&self.state)
                .ok_or_else(|| corrupt("jobs", &key, format!("state {:?}", self.state)))?,
            packages: json(&key, &self.packages)?,
            not_before: timestamp("jobs", &key, self.not_before)?,
            not_after: opt_timestamp("jobs", &key, self.not_after)?,
            reboot: json(&key, &format!("\"{}\"", self.reboot))?,
            created_at: timestamp("jobs", &key, self.created_at)?,
            dispatched_at: opt_timestamp("jobs", &key, self.dispatched_at)?,
            reported_at: opt_timestamp("jobs", &key, self.reported_at)?,
            report: self.report.as_deref().map(|r| json(&key, r)).transpose()?,
            id: self.id,
        })
    }
}

fn reboot_name(policy: RebootPolicy) -> &'static str {
    match policy {
        RebootPolicy::InWindow => "in_window",
        RebootPolicy::NotifyUser => "notify_user",
        RebootPolicy::Never => "never",
    }
}

/// Jobs written per statement.
const JOBS_PER_STATEMENT: usize = 1000;

/// The rows of new jobs, as one JSON array per statement.
pub(crate) fn job_rows(jobs: &[StoredJob]) -> Result<Vec<String>, StoreError> {
    let mut rows = Vec::with_capacity(jobs.len());
    for j in jobs {
        let packages = serde_json::to_string(&j.packages)
            .map_err(|e| corrupt("jobs", &j.id, e.to_string()))?;
        rows.push((
            j.id.as_str(),
            j.change_id.as_str(),
            j.tenant_id.to_string(),
            j.host_id.to_string(),
            j.kind.name(),
            j.ring.as_str(),
            j.state.name(),
            packages,
            micros(j.not_before),
            j.not_after.map(micros),
            reboot_name(j.reboot),
            j.dispatched_at.map(micros),
        ));
    }
    jobs_chunks(&rows)
}

fn jobs_chunks<T: Serialize>(rows: &[T]) -> Result<Vec<String>, StoreError> {
    rows.chunks(JOBS_PER_STATEMENT).map(json_rows).collect()
}

/// The statement inserting a JSON array of job rows (`$1`) at `$2`.
pub(crate) fn insert_jobs_sql(backend: crate::Backend) -> &'static str {
    match backend {
        crate::Backend::Sqlite => {
            "INSERT INTO jobs (id, change_id, tenant_id, host_id, kind, ring, state, packages, not_before, \
             not_after, reboot, dispatched_at, created_at) \
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
             value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, $2 FROM json_each($1)"
        }
        crate::Backend::Postgres => {
            "INSERT INTO jobs (id, change_id, tenant_id, host_id, kind, ring, state, packages, not_before, \
             not_after, reboot, dispatched_at, created_at) \
             SELECT v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5, v ->> 6, v ->> 7, \
             (v ->> 8)::BIGINT, (v ->> 9)::BIGINT, v ->> 10, (v ->> 11)::BIGINT, $2 \
             FROM jsonb_array_elements($1::jsonb) AS v"
        }
    }
}

/// Inserts jobs inside a transaction.
macro_rules! insert_jobs {
    ($store:expr, $tx:ident, $jobs:expr, $at:expr) => {{
        let sql = $crate::jobs::insert_jobs_sql($store.backend());
        for chunk in $crate::jobs::job_rows($jobs)? {
            sqlx::query(sql)
                .bind(chunk)
                .bind($crate::row::micros($at))
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(crate) use insert_jobs;

impl Store {
    /// Stores a rollout's new jobs (pending, or as given), in one
    /// transaction with one audit entry for the change.
    pub async fn create_jobs(
        &self,
        jobs: &[StoredJob],
        actor: &Actor,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(first) = jobs.first() else {
            return Ok(());
        };
        in_tx!(self, tx => {
            insert_jobs!(self, tx, jobs, at);
            append_audit!(tx, AuditEvent {
                at,
                actor: actor.clone(),
                action: "change.jobs".into(),
                target_kind: "change".into(),
                target_id: Some(first.change_id.clone()),
                tenant_id: Some(first.tenant_id),
                before: None,
                after: summary(&serde_json::json!({"jobs": jobs.len(), "kind": first.kind})),
            });
        });
        Ok(())
    }

    /// The hosts with a job handed out and not yet reported.
    pub async fn hosts_with_dispatched_jobs(&self) -> Result<Vec<HostId>, StoreError> {
        let rows: Vec<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT DISTINCT host_id FROM jobs WHERE state = 'dispatched'")
                .fetch_all(pool)
                .await?
        });
        rows.iter().map(|(h,)| parse("jobs", h, h)).collect()
    }

    /// A change's jobs, by id.
    pub async fn jobs_of_change(&self, change: &str) -> Result<Vec<StoredJob>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE change_id = $1 ORDER BY id");
        let rows: Vec<JobRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(change).fetch_all(pool).await?
        });
        rows.into_iter().map(JobRow::into_job).collect()
    }

    /// The jobs handed to a host and not yet reported, oldest first.
    pub async fn dispatched_jobs(&self, host: HostId) -> Result<Vec<StoredJob>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE host_id = $1 AND state = 'dispatched' ORDER BY id LIMIT 100"
        );
        let rows: Vec<JobRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(host.to_string())
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(JobRow::into_job).collect()
    }

    /// Moves jobs from one state to another (pending → dispatched, pending
    /// → skipped), each only if it is still in `from`. Returns how many
    /// moved.
    pub async fn move_jobs(
        &self,
        ids: &[String],
        from: JobState,
        to: JobState,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = match self.backend() {
            crate::Backend::Sqlite => {
                "UPDATE jobs SET state = $3, dispatched_at = CASE WHEN $3 = 'dispatched' THEN $4 ELSE dispatched_at END \
                 WHERE state = $2 AND id IN (SELECT value FROM json_each($1))"
            }
            crate::Backend::Postgres => {
                "UPDATE jobs SET state = $3, dispatched_at = CASE WHEN $3 = 'dispatched' THEN $4 ELSE dispatched_at END \
                 WHERE state = $2 AND id IN (SELECT jsonb_array_elements_text($1::jsonb))"
            }
        };
        let mut moved = 0;
        in_tx!(self, tx => {
            for chunk in ids.chunks(JOBS_PER_STATEMENT) {
                moved += sqlx::query(sql)
                    .bind(json_rows(&chunk)?)
                    .bind(from.name())
                    .bind(to.name())
                    .bind(micros(at))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
        });
        Ok(moved)
    }

    /// Records a host's report of one of its dispatched jobs, audited. A
    /// repeated report of a job already reported changes nothing.
    pub async fn report_job(
        &self,
        host: HostId,
        job: &str,
        report: &JobReport,
        at: Timestamp,
    ) -> Result<ReportReceipt, StoreError> {
        let text =
            serde_json::to_string(report).map_err(|e| corrupt("jobs", job, e.to_string()))?;
        let state = JobState::of_outcome(report.outcome);
        let select = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND host_id = $2");
        let receipt = in_tx!(self, tx => {
            let row: Option<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                .bind(job)
                .bind(host.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            match row.map(JobRow::into_job).transpose()? {
                None => ReportReceipt::NotOpen,
                Some(j) if j.state.is_final() => ReportReceipt::Repeated(j),
                Some(j) if j.state != JobState::Dispatched => ReportReceipt::NotOpen,
                Some(j) => {
                    sqlx::query("UPDATE jobs SET state = $2, reported_at = $3, report = $4 WHERE id = $1")
                        .bind(job)
                        .bind(state.name())
                        .bind(micros(at))
                        .bind(&text)
                        .execute(&mut *tx)
                        .await?;
                    append_audit!(tx, AuditEvent {
                        at,
                        actor: Actor::agent(host),
                        action: "job.report".into(),
                        target_kind: "job".into(),
                        target_id: Some(j.id.clone()),
                        tenant_id: Some(j.tenant_id),
                        before: None,
                        after: summary(&serde_json::json!({"change": j.change_id, "outcome": report.outcome,
                            "packages": report.packages.len(), "rebooted": report.rebooted})),
                    });
                    ReportReceipt::Recorded(StoredJob {
                        state,
                        reported_at: Some(at),
                        report: Some(report.clone()),
                        ..j
                    })
                }
            }
        });
        Ok(receipt)
    }
}

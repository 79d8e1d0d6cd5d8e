//! Findings (ASM-2 to ASM-5): what the matching engine finds on each host,
//! kept with its lifecycle. The engine says what is affected now; the store
//! turns that into rows: new ones open (with their deadline from the
//! tenant's policy), rows no longer matched are fixed, rows matched again
//! reopen, and a finding under an exception keeps its state.

use std::collections::HashMap;

use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::finding::{CountFrom, DeadlinePolicy, FindingState, Level};
use rivet_core::id::{HostId, TenantId};
use rivet_core::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};

use crate::audit::append_audit;
use crate::row::{Bind, corrupt, json_rows, micros, opt_timestamp, timestamp, visible};
use crate::{Backend, Store, StoreError, in_tx, on_pool};

/// What the engine finds affected (or VEX-cleared) on a host now: one per
/// advisory document and package.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingDraft {
    /// The advisory document's key.
    pub advisory_key: String,
    /// The advisory's id (`ALSA-2024:1234`).
    pub advisory_id: String,
    /// Its CVE and other ids.
    pub aliases: Vec<String>,
    /// The binary package's name.
    pub package: String,
    /// Its architecture.
    pub architecture: String,
    /// The installed version (the highest affected one, when several are
    /// installed).
    pub installed_version: String,
    /// The source package the advisory names.
    pub source_package: String,
    /// The first version that fixes it, if there is one.
    pub fixed_version: Option<String>,
    /// The advisory's severity class.
    pub severity: Level,
    /// Its highest CVSS base score.
    pub score: Option<f64>,
    /// Whether CISA lists one of its CVEs as known exploited.
    pub kev: bool,
    /// The highest EPSS probability of its CVEs.
    pub epss: Option<f64>,
    /// The priority (ASM-4).
    pub priority: u8,
    /// `Open`, or `NotAffected` when a VEX statement clears it.
    pub state: FindingState,
    /// A fixed kernel is installed but the host has not rebooted into it.
    pub pending_reboot: bool,
    /// When the advisory was published.
    pub published_at: Option<Timestamp>,
}

/// A host's findings as the engine sees them now.
#[derive(Debug, Clone)]
pub struct HostFindingsDraft {
    /// The host.
    pub host: HostId,
    /// Everything affected or cleared on it.
    pub findings: Vec<FindingDraft>,
}

/// What [`Store::sync_findings`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FindingChanges {
    /// New findings.
    pub opened: u64,
    /// Findings no longer matched.
    pub fixed: u64,
    /// Fixed findings matched again.
    pub reopened: u64,
    /// Findings whose details changed (installed version, severity …).
    pub updated: u64,
    /// Hosts that no longer exist (deleted meanwhile): skipped.
    pub unknown_hosts: u64,
}

impl std::ops::AddAssign for FindingChanges {
    fn add_assign(&mut self, o: Self) {
        self.opened += o.opened;
        self.fixed += o.fixed;
        self.reopened += o.reopened;
        self.updated += o.updated;
        self.unknown_hosts += o.unknown_hosts;
    }
}

/// A finding as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    /// Its number on this server.
    pub id: i64,
    /// The host's tenant.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant_id: TenantId,
    /// The host.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub host_id: HostId,
    /// The host's name.
    pub host_name: String,
    /// The advisory document's key.
    pub advisory_key: String,
    /// The advisory's id.
    pub advisory_id: String,
    /// Its CVE and other ids.
    pub aliases: Vec<String>,
    /// The binary package.
    pub package: String,
    /// Its architecture.
    pub architecture: String,
    /// The installed (affected) version.
    pub installed_version: String,
    /// The source package the advisory names.
    pub source_package: String,
    /// The first fixed version; none when there is no fix yet.
    pub fixed_version: Option<String>,
    /// The severity class.
    pub severity: Level,
    /// The highest CVSS base score.
    pub score: Option<f64>,
    /// Known exploited (CISA KEV).
    pub kev: bool,
    /// The highest EPSS probability of its CVEs.
    pub epss: Option<f64>,
    /// 0 to 100 (ASM-4).
    pub priority: u8,
    /// Where it stands.
    pub state: FindingState,
    /// A fixed kernel waits for a reboot (ASM-7).
    pub pending_reboot: bool,
    /// When the advisory was published.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub published_at: Option<Timestamp>,
    /// When the host was (last) found affected.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub first_found_at: Timestamp,
    /// When it must be remediated (open findings).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub due_at: Option<Timestamp>,
    /// Open and past its deadline at the time of the listing.
    pub overdue: bool,
    /// When an inventory proved it fixed.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub fixed_at: Option<Timestamp>,
    /// Last change.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// Which findings to list.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Of one tenant.
    pub tenant: Option<TenantId>,
    /// Of one host.
    pub host: Option<HostId>,
    /// Of one advisory: its id or a CVE among its aliases.
    pub advisory: Option<String>,
    /// Of these severity classes.
    pub severities: Vec<Level>,
    /// Known exploited or not.
    pub kev: Option<bool>,
    /// In these states (all when empty).
    pub states: Vec<FindingState>,
    /// Open and past their deadline at this time.
    pub overdue_at: Option<Timestamp>,
}

/// Counts of a tenant's (or every visible tenant's) findings: the exposure
/// summary (REP-1 builds on it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExposureSummary {
    /// Findings per state.
    pub by_state: HashMap<String, u64>,
    /// Open findings per severity class.
    pub open_by_severity: HashMap<String, u64>,
    /// Open findings past their deadline.
    pub overdue: u64,
    /// Open known-exploited findings.
    pub open_kev: u64,
    /// Hosts with at least one open finding.
    pub affected_hosts: u64,
    /// Hosts waiting for a reboot to run a fixed kernel.
    pub hosts_pending_reboot: u64,
}

/// The row the store keeps per finding, as read back for a sync.
struct HeldFinding {
    id: i64,
    state: FindingState,
    installed_version: String,
    fixed_version: Option<String>,
    severity: String,
    kev: bool,
    epss: Option<f64>,
    priority: i64,
    pending_reboot: bool,
    first_found_at: i64,
    due_at: Option<i64>,
}

type HeldRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    bool,
    Option<f64>,
    i64,
    bool,
    i64,
    Option<i64>,
);

/// The statements of a sync, per backend; rows travel as one JSON array.
struct SyncSql {
    insert: &'static str,
    update: &'static str,
    fix: &'static str,
    /// `$1` `[[id, due_at], …]`.
    due: &'static str,
}

/// Deadlines written per statement when a policy changes.
const DUE_PER_STATEMENT: usize = 5000;

impl SyncSql {
    fn of(backend: Backend) -> SyncSql {
        match backend {
            Backend::Sqlite => SyncSql {
                insert: "INSERT INTO findings (tenant_id, host_seq, advisory_key, advisory_id, aliases, package, \
                    architecture, installed_version, source_package, fixed_version, severity, score, kev, epss, \
                    priority, state, pending_reboot, published_at, first_found_at, due_at, fixed_at, updated_at) \
                    SELECT $1, $2, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
                    value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, value ->> 12, \
                    value ->> 13, value ->> 14, value ->> 15, $3, value ->> 16, NULL, $3 FROM json_each($4)",
                update: "UPDATE findings SET installed_version = j.value ->> 1, fixed_version = j.value ->> 2, \
                    severity = j.value ->> 3, score = j.value ->> 4, kev = j.value ->> 5, epss = j.value ->> 6, \
                    priority = j.value ->> 7, state = j.value ->> 8, pending_reboot = j.value ->> 9, \
                    first_found_at = j.value ->> 10, due_at = j.value ->> 11, fixed_at = NULL, \
                    advisory_id = j.value ->> 12, aliases = j.value ->> 13, source_package = j.value ->> 14, \
                    published_at = j.value ->> 15, updated_at = $1 \
                    FROM json_each($2) AS j WHERE findings.id = j.value ->> 0",
                fix: "UPDATE findings SET state = 'fixed', fixed_at = $1, updated_at = $1, pending_reboot = FALSE \
                    WHERE id IN (SELECT value FROM json_each($2))",
                due: "UPDATE findings SET due_at = j.value ->> 1 FROM json_each($1) AS j \
                    WHERE findings.id = j.value ->> 0",
            },
            Backend::Postgres => SyncSql {
                insert: "INSERT INTO findings (tenant_id, host_seq, advisory_key, advisory_id, aliases, package, \
                    architecture, installed_version, source_package, fixed_version, severity, score, kev, epss, \
                    priority, state, pending_reboot, published_at, first_found_at, due_at, fixed_at, updated_at) \
                    SELECT $1, $2, e ->> 0, e ->> 1, e ->> 2, e ->> 3, e ->> 4, e ->> 5, e ->> 6, e ->> 7, e ->> 8, \
                    (e ->> 9)::double precision, (e ->> 10)::boolean, (e ->> 11)::double precision, (e ->> 12)::bigint, \
                    e ->> 13, (e ->> 14)::boolean, (e ->> 15)::bigint, $3, (e ->> 16)::bigint, NULL, $3 \
                    FROM jsonb_array_elements($4::jsonb) AS t (e)",
                update: "UPDATE findings SET installed_version = e ->> 1, fixed_version = e ->> 2, \
                    severity = e ->> 3, score = (e ->> 4)::double precision, kev = (e ->> 5)::boolean, \
                    epss = (e ->> 6)::double precision, priority = (e ->> 7)::bigint, state = e ->> 8, \
                    pending_reboot = (e ->> 9)::boolean, first_found_at = (e ->> 10)::bigint, \
                    due_at = (e ->> 11)::bigint, fixed_at = NULL, advisory_id = e ->> 12, aliases = e ->> 13, \
                    source_package = e ->> 14, published_at = (e ->> 15)::bigint, updated_at = $1 \
                    FROM jsonb_array_elements($2::jsonb) AS t (e) WHERE findings.id = (e ->> 0)::bigint",
                fix: "UPDATE findings SET state = 'fixed', fixed_at = $1, updated_at = $1, pending_reboot = FALSE \
                    WHERE id IN (SELECT jsonb_array_elements_text($2::jsonb)::bigint)",
                due: "UPDATE findings SET due_at = (e ->> 1)::bigint FROM jsonb_array_elements($1::jsonb) AS t (e) \
                    WHERE findings.id = (e ->> 0)::bigint",
            },
        }
    }
}

/// A tenant's stored deadline policy: `$1` the tenant.
const POLICY_SQL: &str = "SELECT kev_days, critical_days, high_days, medium_days, low_days, count_from \
    FROM deadline_policies WHERE tenant_id = $1";

type PolicyRow = (i64, i64, i64, i64, i64, String);

fn policy_from_row(tenant: &str, row: PolicyRow) -> Result<DeadlinePolicy, StoreError> {
    let (kev, critical, high, medium, low, from) = row;
    let days = |v: i64| {
        u32::try_from(v).map_err(|e| corrupt("deadline_policies", tenant, format!("{v} days: {e}")))
    };
    Ok(DeadlinePolicy {
        kev_days: days(kev)?,
        critical_days: days(critical)?,
        high_days: days(high)?,
        medium_days: days(medium)?,
        low_days: days(low)?,
        count_from: CountFrom::from_name(&from)
            .ok_or_else(|| corrupt("deadline_policies", tenant, format!("count_from {from:?}")))?,
    })
}

/// The state a held finding takes when the engine reports it again.
fn next_state(held: FindingState, found: FindingState) -> FindingState {
    match (held, found) {
        // An exception or a workaround outlives new inventories.
        (FindingState::Accepted | FindingState::Mitigated, FindingState::Open) => held,
        _ => found,
    }
}

impl Store {
    /// The deadline policy of a tenant: its own, or the defaults.
    pub async fn deadline_policy(&self, tenant: TenantId) -> Result<DeadlinePolicy, StoreError> {
        let row: Option<PolicyRow> = on_pool!(self, pool => {
            sqlx::query_as(POLICY_SQL)
            .bind(tenant.to_string())
            .fetch_optional(pool)
            .await?
        });
        row.map_or(Ok(DeadlinePolicy::default()), |row| {
            policy_from_row(&tenant.to_string(), row)
        })
    }

    /// Sets a tenant's deadline policy and moves the deadlines of its open
    /// findings to it, in one transaction with its audit entry.
    pub async fn set_deadline_policy(
        &self,
        tenant: TenantId,
        policy: &DeadlinePolicy,
        actor: &rivet_core::audit::Actor,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        policy
            .validate()
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        let before = self.deadline_policy(tenant).await?;
        let held = self.open_finding_dates(tenant).await?;
        let sql = SyncSql::of(self.backend());
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO deadline_policies (tenant_id, kev_days, critical_days, high_days, medium_days, low_days, \
                 count_from, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (tenant_id) DO UPDATE SET kev_days = $2, critical_days = $3, high_days = $4, \
                 medium_days = $5, low_days = $6, count_from = $7, updated_at = $8, updated_by = $9",
            )
            .bind(tenant.to_string())
            .bind(i64::from(policy.kev_days))
            .bind(i64::from(policy.critical_days))
            .bind(i64::from(policy.high_days))
            .bind(i64::from(policy.medium_days))
            .bind(i64::from(policy.low_days))
            .bind(policy.count_from.name())
            .bind(micros(at))
            .bind(&actor.name)
            .execute(&mut *tx)
            .await?;
            // The new deadlines, computed by the policy's own rules, are
            // written a few thousand at a time, each batch one statement.
            let mut due: Vec<(i64, i64)> = Vec::with_capacity(held.len());
            for (id, severity, kev, published, found) in &held {
                let level = Level::from_name(severity).unwrap_or_default();
                let at = policy.due_at(
                    level,
                    *kev,
                    opt_timestamp("findings", &id.to_string(), *published)?,
                    timestamp("findings", &id.to_string(), *found)?,
                );
                due.push((*id, micros(at)));
            }
            for chunk in due.chunks(DUE_PER_STATEMENT) {
                sqlx::query(sql.due)
                    .bind(json_rows(&chunk)?)
                    .execute(&mut *tx)
                    .await?;
            }
            append_audit!(tx, rivet_core::audit::AuditEvent {
                at,
                actor: actor.clone(),
                action: "tenant.deadline_policy".into(),
                target_kind: "tenant".into(),
                target_id: Some(tenant.to_string()),
                tenant_id: Some(tenant),
                before: crate::row::summary(&before),
                after: crate::row::summary(policy),
            });
        });
        Ok(())
    }

    /// `(id, severity, kev, published_at, first_found_at)` of a tenant's
    /// open findings.
    async fn open_finding_dates(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<(i64, String, bool, Option<i64>, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, severity, kev, published_at, first_found_at FROM findings \
                 WHERE tenant_id = $1 AND state = 'open'",
            )
            .bind(tenant.to_string())
            .fetch_all(pool)
            .await?
        }))
    }

    /// Brings the stored findings of these hosts in line with what the
    /// engine finds on them now, in one transaction: new findings open with
    /// their deadline, findings no longer found are fixed, fixed ones found
    /// again reopen (their deadline counted anew), changed details are
    /// updated, and a finding under an exception or workaround keeps that
    /// state. Unchanged findings are not written.
    #[tracing::instrument(skip_all, fields(hosts = hosts.len()))]
    pub async fn sync_findings(
        &self,
        hosts: &[HostFindingsDraft],
        at: Timestamp,
    ) -> Result<FindingChanges, StoreError> {
        let sql = SyncSql::of(self.backend());
        let mut policies: HashMap<String, DeadlinePolicy> = HashMap::new();
        let now = micros(at);
        let changes = in_tx!(self, tx => {
            let mut changes = FindingChanges::default();
            for draft in hosts {
                let host: Option<(i64, String)> =
                    sqlx::query_as("SELECT seq, tenant_id FROM hosts WHERE id = $1")
                        .bind(draft.host.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((seq, tenant)) = host else {
                    changes.unknown_hosts += 1;
                    continue;
                };
                if !policies.contains_key(&tenant) {
                    let row: Option<PolicyRow> = sqlx::query_as(POLICY_SQL)
                        .bind(&tenant)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let policy = match row {
                        None => DeadlinePolicy::default(),
                        Some(row) => policy_from_row(&tenant, row)?,
                    };
                    policies.insert(tenant.clone(), policy);
                }
                let policy = policies[&tenant];
                let rows: Vec<HeldRow> = sqlx::query_as(
                    "SELECT id, advisory_key, package, architecture, state, installed_version, fixed_version, \
                     severity, kev, epss, priority, pending_reboot, first_found_at, due_at \
                     FROM findings WHERE host_seq = $1",
                )
                .bind(seq)
                .fetch_all(&mut *tx)
                .await?;
                let mut held: HashMap<(String, String, String), HeldFinding> = HashMap::with_capacity(rows.len());
                for (id, advisory_key, package, architecture, state, installed_version, fixed_version, severity, kev, epss, priority, pending_reboot, first_found_at, due_at) in rows {
                    let state = FindingState::from_name(&state)
                        .ok_or_else(|| corrupt("findings", &id.to_string(), format!("state {state:?}")))?;
                    held.insert(
                        (advisory_key, package, architecture),
                        HeldFinding { id, state, installed_version, fixed_version, severity, kev, epss, priority, pending_reboot, first_found_at, due_at },
                    );
                }
                let due = |f: &FindingDraft, found: i64| -> Option<i64> {
                    let found = Timestamp::from_microsecond(found).unwrap_or(at);
                    (f.state == FindingState::Open)
                        .then(|| micros(policy.due_at(f.severity, f.kev, f.published_at, found)))
                };
                let mut inserts = Vec::new();
                let mut updates = Vec::new();
                for f in &draft.findings {
                    let key = (f.advisory_key.clone(), f.package.clone(), f.architecture.clone());
                    match held.remove(&key) {
                        None => {
                            changes.opened += 1;
                            inserts.push(serde_json::json!([
                                f.advisory_key, f.advisory_id, json_rows(&f.aliases)?, f.package, f.architecture,
                                f.installed_version, f.source_package, f.fixed_version, f.severity.name(),
                                f.score, f.kev, f.epss, f.priority, f.state.name(), f.pending_reboot,
                                f.published_at.map(micros), due(f, now),
                            ]));
                        }
                        Some(h) => {
                            let reopened = h.state == FindingState::Fixed;
                            let state = next_state(h.state, f.state);
                            let first_found = if reopened { now } else { h.first_found_at };
                            let due_at = if state == FindingState::Open { due(f, first_found) } else { h.due_at };
                            let same = !reopened
                                && state == h.state
                                && h.installed_version == f.installed_version
                                && h.fixed_version == f.fixed_version
                                && h.severity == f.severity.name()
                                && h.kev == f.kev
                                && h.epss == f.epss
                                && h.priority == i64::from(f.priority)
                                && h.pending_reboot == f.pending_reboot
                                && h.due_at == due_at;
                            if same {
                                continue;
                            }
                            if reopened {
                                changes.reopened += 1;
                            } else {
                                changes.updated += 1;
                            }
                            updates.push(serde_json::json!([
                                h.id, f.installed_version, f.fixed_version, f.severity.name(), f.score, f.kev,
                                f.epss, f.priority, state.name(), f.pending_reboot, first_found, due_at,
                                f.advisory_id, json_rows(&f.aliases)?, f.source_package, f.published_at.map(micros),
                            ]));
                        }
                    }
                }
                // What is held but no longer found is fixed.
                let fixed: Vec<i64> = held
                    .values()
                    .filter(|h| h.state != FindingState::Fixed)
                    .map(|h| h.id)
                    .collect();
                changes.fixed += fixed.len() as u64;
                if !inserts.is_empty() {
                    sqlx::query(sql.insert)
                        .bind(&tenant)
                        .bind(seq)
                        .bind(now)
                        .bind(json_rows(&inserts)?)
                        .execute(&mut *tx)
                        .await?;
                }
                if !updates.is_empty() {
                    sqlx::query(sql.update)
                        .bind(now)
                        .bind(json_rows(&updates)?)
                        .execute(&mut *tx)
                        .await?;
                }
                if !fixed.is_empty() {
                    sqlx::query(sql.fix)
                        .bind(now)
                        .bind(json_rows(&fixed)?)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            changes
        });
        Ok(changes)
    }

    /// Findings of the visible tenants, by the filter, highest priority
    /// first (then by id). `now` decides what is overdue.
    pub async fn list_findings(
        &self,
        vis: &Visibility,
        filter: &FindingFilter,
        page: &PageRequest,
        now: Timestamp,
    ) -> Result<Page<Finding>, StoreError> {
        // The cursor is "priority:id" of the last row.
        let (after_priority, after_id) = match &page.after {
            None => (i64::MAX, 0),
            Some(c) => c
                .split_once(':')
                .and_then(|(p, i)| Some((p.parse().ok()?, i.parse().ok()?)))
                .ok_or_else(|| StoreError::BadCursor(c.clone()))?,
        };
        let (vis_sql, vis_binds) = visible(vis, "f.tenant_id", 4);
        let mut binds: Vec<Bind> = vis_binds.into_iter().map(Bind::Text).collect();
        let mut conditions = vec![vis_sql];
        let bind = |binds: &mut Vec<Bind>, value: Bind| {
            binds.push(value);
            format!("${}", 3 + binds.len())
        };
        if let Some(t) = filter.tenant {
            let p = bind(&mut binds, Bind::Text(t.to_string()));
            conditions.push(format!("f.tenant_id = {p}"));
        }
        if let Some(h) = filter.host {
            let p = bind(&mut binds, Bind::Text(h.to_string()));
            conditions.push(format!("h.id = {p}"));
        }
        if let Some(a) = &filter.advisory {
            let p = bind(&mut binds, Bind::Text(a.clone()));
            conditions.push(format!(
                "(f.advisory_id = {p} OR EXISTS (SELECT 1 FROM advisory_aliases aa \
                 WHERE aa.advisory_key = f.advisory_key AND aa.alias = {p}))"
            ));
        }
        if !filter.severities.is_empty() {
            let ps: Vec<String> = filter
                .severities
                .iter()
                .map(|l| bind(&mut binds, Bind::Text(l.name().to_owned())))
                .collect();
            conditions.push(format!("f.severity IN ({})", ps.join(", ")));
        }
        if let Some(k) = filter.kev {
            conditions.push(if k {
                "f.kev".into()
            } else {
                "NOT f.kev".into()
            });
        }
        if !filter.states.is_empty() {
            let ps: Vec<String> = filter
                .states
                .iter()
                .map(|s| bind(&mut binds, Bind::Text(s.name().to_owned())))
                .collect();
            conditions.push(format!("f.state IN ({})", ps.join(", ")));
        }
        if let Some(t) = filter.overdue_at {
            let p = bind(&mut binds, Bind::Int(micros(t)));
            conditions.push(format!("f.state = 'open' AND f.due_at < {p}"));
        }
        let sql = format!(
            "SELECT f.id, f.tenant_id, h.id AS host_id, h.name AS host_name, f.advisory_key, f.advisory_id, f.aliases, f.package, \
             f.architecture, f.installed_version, f.source_package, f.fixed_version, f.severity, f.score, f.kev, \
             f.epss, f.priority, f.state, f.pending_reboot, f.published_at, f.first_found_at, f.due_at, \
             f.fixed_at, f.updated_at \
             FROM findings f JOIN hosts h ON h.seq = f.host_seq \
             WHERE (f.priority < $1 OR (f.priority = $1 AND f.id > $2)) AND {} \
             ORDER BY f.priority DESC, f.id LIMIT $3",
            conditions.join(" AND ")
        );
        let rows: Vec<FindingRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, FindingRow>(sqlx::AssertSqlSafe(sql))
                .bind(after_priority)
                .bind(after_id)
                .bind(page.fetch());
            for b in &binds {
                q = match b {
                    Bind::Text(t) => q.bind(t),
                    Bind::Int(i) => q.bind(*i),
                };
            }
            q.fetch_all(pool).await?
        });
        let findings = rows
            .into_iter()
            .map(|r| finding_from_row(r, now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(findings, page, |f| {
            format!("{}:{}", f.priority, f.id)
        }))
    }

    /// Counts of the visible tenants' findings (of one tenant with
    /// `tenant`); `now` decides what is overdue.
    pub async fn exposure_summary(
        &self,
        vis: &Visibility,
        tenant: Option<TenantId>,
        now: Timestamp,
    ) -> Result<ExposureSummary, StoreError> {
        let (vis_sql, mut binds) = visible(vis, "f.tenant_id", 2);
        let mut condition = vis_sql;
        if let Some(t) = tenant {
            binds.push(t.to_string());
            condition = format!("{condition} AND f.tenant_id = ${}", 1 + binds.len());
        }
        let queries = [
            format!("SELECT f.state, COUNT(*) FROM findings f WHERE {condition} GROUP BY f.state"),
            format!(
                "SELECT f.severity, COUNT(*) FROM findings f WHERE f.state = 'open' AND {condition} GROUP BY f.severity"
            ),
            format!(
                "SELECT 'overdue', COUNT(*) FROM findings f WHERE f.state = 'open' AND f.due_at < $1 AND {condition} \
                 UNION ALL SELECT 'kev', COUNT(*) FROM findings f WHERE f.state = 'open' AND f.kev AND {condition} \
                 UNION ALL SELECT 'hosts', COUNT(DISTINCT f.host_seq) FROM findings f WHERE f.state = 'open' AND {condition} \
                 UNION ALL SELECT 'reboot', COUNT(DISTINCT f.host_seq) FROM findings f WHERE f.pending_reboot AND {condition}"
            ),
        ];
        let mut results: Vec<Vec<(String, i64)>> = Vec::new();
        for sql in queries {
            let rows: Vec<(String, i64)> = on_pool!(self, pool => {
                let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql)).bind(micros(now));
                for b in &binds {
                    q = q.bind(b);
                }
                q.fetch_all(pool).await?
            });
            results.push(rows);
        }
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let totals: HashMap<String, u64> = results[2]
            .iter()
            .map(|(k, n)| (k.clone(), count(*n)))
            .collect();
        Ok(ExposureSummary {
            by_state: results[0]
                .iter()
                .map(|(k, n)| (k.clone(), count(*n)))
                .collect(),
            open_by_severity: results[1]
                .iter()
                .map(|(k, n)| (k.clone(), count(*n)))
                .collect(),
            overdue: totals.get("overdue").copied().unwrap_or(0),
            open_kev: totals.get("kev").copied().unwrap_or(0),
            affected_hosts: totals.get("hosts").copied().unwrap_or(0),
            hosts_pending_reboot: totals.get("reboot").copied().unwrap_or(0),
        })
    }
}

/// A finding as read for a listing.
#[derive(sqlx::FromRow)]
struct FindingRow {
    id: i64,
    tenant_id: String,
    host_id: String,
    host_name: String,
    advisory_key: String,
    advisory_id: String,
    aliases: String,
    package: String,
    architecture: String,
    installed_version: String,
    source_package: String,
    fixed_version: Option<String>,
    severity: String,
    score: Option<f64>,
    kev: bool,
    epss: Option<f64>,
    priority: i64,
    state: String,
    pending_reboot: bool,
    published_at: Option<i64>,
    first_found_at: i64,
    due_at: Option<i64>,
    fixed_at: Option<i64>,
    updated_at: i64,
}

fn finding_from_row(row: FindingRow, now: Timestamp) -> Result<Finding, StoreError> {
    let FindingRow {
        id,
        tenant_id,
        host_id,
        host_name,
        advisory_key,
        advisory_id,
        aliases,
        package,
        architecture,
        installed_version,
        source_package,
        fixed_version,
        severity,
        score,
        kev,
        epss,
        priority,
        state,
        pending_reboot,
        published_at,
        first_found_at,
        due_at,
        fixed_at,
        updated_at,
    } = row;
    let key = id.to_string();
    let bad = |what: &str, value: &str| corrupt("findings", &key, format!("{what} {value:?}"));
    let state = FindingState::from_name(&state).ok_or_else(|| bad("state", &state))?;
    let due_at = opt_timestamp("findings", &key, due_at)?;
    Ok(Finding {
        id,
        tenant_id: crate::row::parse("findings", &key, &tenant_id)?,
        host_id: crate::row::parse("findings", &key, &host_id)?,
        host_name,
        advisory_key,
        advisory_id,
        aliases: serde_json::from_str(&aliases).map_err(|_| bad("aliases", &aliases))?,
        package,
        architecture,
        installed_version,
        source_package,
        fixed_version,
        severity: Level::from_name(&severity).ok_or_else(|| bad("severity", &severity))?,
        score,
        kev,
        epss,
        priority: u8::try_from(priority).map_err(|_| bad("priority", &priority.to_string()))?,
        state,
        pending_reboot,
        published_at: opt_timestamp("findings", &key, published_at)?,
        first_found_at: timestamp("findings", &key, first_found_at)?,
        overdue: state.is_actionable() && due_at.is_some_and(|d| d < now),
        due_at,
        fixed_at: opt_timestamp("findings", &key, fixed_at)?,
        updated_at: timestamp("findings", &key, updated_at)?,
    })
}

/// A host as the assessment needs it.
#[derive(Debug, Clone)]
pub struct AssessedHost {
    /// The store's compact key for it.
    pub seq: i64,
    /// The host.
    pub id: HostId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its operating system, when it has reported one.
    pub os: Option<rivet_core::inventory::OsRelease>,
    /// How much the business depends on it.
    pub criticality: Option<rivet_core::host::Criticality>,
}

/// The part of a host's stored facts the assessment reads.
#[derive(Deserialize)]
struct FactsOs {
    host: HostOs,
}

#[derive(Deserialize)]
struct HostOs {
    os: Option<rivet_core::inventory::OsRelease>,
}

impl Store {
    /// `(key, updated_at)` of the advisory documents stored or replaced at
    /// or after `since` (micros), oldest first.
    pub async fn advisory_changes_since(
        &self,
        since: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT key, updated_at FROM advisories WHERE updated_at >= $1 ORDER BY updated_at, key")
                .bind(since)
                .fetch_all(pool)
                .await?
        }))
    }

    /// `(key, body)` of these advisory documents.
    pub async fn advisory_bodies(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT key, body FROM advisories WHERE key IN (SELECT value FROM json_each($1))"
            }
            Backend::Postgres => {
                "SELECT key, body FROM advisories WHERE key IN (SELECT jsonb_array_elements_text($1::jsonb))"
            }
        };
        Ok(on_pool!(self, pool => {
            sqlx::query_as(sql).bind(json_rows(&keys)?).fetch_all(pool).await?
        }))
    }

    /// Interned packages by id: all of them with `ids` empty.
    pub async fn packages_by_id(
        &self,
        ids: &[i64],
    ) -> Result<Vec<(i64, rivet_core::inventory::Package)>, StoreError> {
        let sql = "SELECT id, CAST(NULL AS BIGINT) AS installed_at, format, name, version, architecture, source_name, \
                   source_version, repository FROM packages";
        let rows: Vec<crate::hosts::PackageRow> = on_pool!(self, pool => {
            if ids.is_empty() {
                sqlx::query_as(sql).fetch_all(pool).await?
            } else {
                let filter = match self.backend() {
                    Backend::Sqlite => "id IN (SELECT value FROM json_each($1))",
                    Backend::Postgres => "id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)",
                };
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql} WHERE {filter}")))
                    .bind(json_rows(&ids)?)
                    .fetch_all(pool)
                    .await?
            }
        });
        rows.into_iter()
            .map(crate::hosts::package_from_row)
            .collect()
    }

    /// Every host with its facts (`seq` = one host only).
    pub async fn assessed_hosts(&self, seq: Option<i64>) -> Result<Vec<AssessedHost>, StoreError> {
        type Row = (i64, String, String, Option<String>, Option<String>);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, id, tenant_id, facts, criticality FROM hosts WHERE $1 < 0 OR seq = $1 ORDER BY seq",
            )
            .bind(seq.unwrap_or(-1))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(seq, id, tenant, facts, criticality)| {
                let key = seq.to_string();
                Ok(AssessedHost {
                    seq,
                    id: crate::row::parse("hosts", &key, &id)?,
                    tenant_id: crate::row::parse("hosts", &key, &tenant)?,
                    // Only the OS of the facts, without keeping the rest.
                    os: facts
                        .map(|f| {
                            serde_json::from_str::<FactsOs>(&f)
                                .map_err(|e| corrupt("hosts", &key, format!("facts: {e}")))
                        })
                        .transpose()?
                        .and_then(|f| f.host.os),
                    criticality: criticality
                        .map(|c| {
                            serde_json::from_value(serde_json::Value::String(c.clone()))
                                .map_err(|_| corrupt("hosts", &key, format!("criticality {c:?}")))
                        })
                        .transpose()?,
                })
            })
            .collect()
    }

    /// The package ids of the hosts `from..=to` (by seq), as `(seq,
    /// package_id)` in that order.
    pub async fn host_package_ids(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT host_seq, package_id FROM host_packages WHERE host_seq >= $1 AND host_seq <= $2 \
                 ORDER BY host_seq, package_id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        }))
    }
}

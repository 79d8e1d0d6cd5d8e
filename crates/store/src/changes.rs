//! Change management's records (CHG, RLO): changes, maintenance windows,
//! change freezes, a tenant's change settings and problem reports.
//!
//! The change engine (crate `rivet-change`) makes every decision; the store
//! keeps its documents as JSON with the columns listings filter on beside
//! them, and audits every write in the same transaction. A change carries a
//! revision: a write based on an older read is refused, so two approvers
//! acting at once cannot lose one another's vote.

use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::id::{HostId, TenantId};
use rivet_core::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::append_audit;
use crate::row::{corrupt, micros, opt_timestamp, parse, summary, timestamp, visible};
use crate::{Store, StoreError, in_tx, on_pool};

/// A change as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredChange {
    /// Its id.
    pub id: String,
    /// The tenant whose hosts it changes.
    pub tenant_id: TenantId,
    /// `standard`, `normal` or `emergency`.
    pub kind: String,
    /// Its state's name.
    pub state: String,
    /// Its title.
    pub title: String,
    /// An emergency change waiting for its review.
    pub review_due: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// Raised by every write.
    pub revision: i64,
    /// The engine's document.
    pub body: Value,
}

/// What a listing of changes selects.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    /// One tenant's.
    pub tenant: Option<TenantId>,
    /// In one of these states (any when empty).
    pub states: Vec<String>,
    /// Only emergency changes waiting for their review.
    pub review_due: bool,
}

/// A maintenance window as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredWindow {
    /// Its id.
    pub id: String,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The group of hosts it is for; every host of the tenant when `None`.
    pub group: Option<String>,
    /// Its name, unique in the tenant.
    pub name: String,
    /// The engine's window.
    pub body: Value,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
}

/// A change freeze as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFreeze {
    /// Its id.
    pub id: String,
    /// The tenant it holds for; every tenant when `None`.
    pub tenant_id: Option<TenantId>,
    /// When it begins.
    pub starts_at: Timestamp,
    /// When it ends.
    pub ends_at: Timestamp,
    /// Why.
    pub reason: String,
    /// Who declared it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
}

/// A customer's problem report on a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProblemReport {
    /// Its id.
    pub id: String,
    /// The change whose rollout it concerns.
    pub change_id: String,
    /// The change's tenant.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant_id: TenantId,
    /// The host, if one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub host_id: Option<HostId>,
    /// Who reported it.
    pub reported_by: String,
    /// What is wrong.
    pub text: String,
    /// When it was reported.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub opened_at: Timestamp,
    /// When it was closed.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub closed_at: Option<Timestamp>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// How it was resolved.
    pub resolution: Option<String>,
}

/// A tenant's change settings, each a document of the engine (the
/// templates a list of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSetting {
    /// The ring plan.
    RingPlan,
    /// The update-class policy.
    UpdatePolicy,
    /// The approval policy.
    ApprovalPolicy,
    /// The templates of standard changes.
    ChangeTemplates,
    /// The patch cycle: which open findings become changes, when.
    PatchCycle,
}

impl ChangeSetting {
    /// The name stored and audited.
    pub fn name(self) -> &'static str {
        match self {
            ChangeSetting::RingPlan => "ring_plan",
            ChangeSetting::UpdatePolicy => "update_policy",
            ChangeSetting::ApprovalPolicy => "approval_policy",
            ChangeSetting::ChangeTemplates => "change_templates",
            ChangeSetting::PatchCycle => "patch_cycle",
        }
    }
}

/// A change's rollout as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRollout {
    /// The change.
    pub change_id: String,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The rollout's state's name.
    pub state: String,
    /// Raised by every write.
    pub revision: i64,
    /// When it began.
    pub created_at: Timestamp,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// The engine's rollout.
    pub body: Value,
}

#[derive(sqlx::FromRow)]
struct RolloutRow {
    change_id: String,
    tenant_id: String,
    state: String,
    revision: i64,
    created_at: i64,
    updated_at: i64,
    body: String,
}

impl RolloutRow {
    fn into_rollout(self) -> Result<StoredRollout, StoreError> {
        let key = self.change_id.clone();
        Ok(StoredRollout {
            tenant_id: parse("rollouts", &key, &self.tenant_id)?,
            state: self.state,
            revision: self.revision,
            created_at: timestamp("rollouts", &key, self.created_at)?,
            updated_at: timestamp("rollouts", &key, self.updated_at)?,
            body: serde_json::from_str(&self.body)
                .map_err(|e| corrupt("rollouts", &key, e.to_string()))?,
            change_id: self.change_id,
        })
    }
}

const ROLLOUT_COLUMNS: &str = "change_id, tenant_id, state, revision, created_at, updated_at, body";

const CHANGE_COLUMNS: &str =
    "id, tenant_id, kind, state, title, review_due, created_at, updated_at, revision, body";

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: String,
    tenant_id: String,
    kind: String,
    state: String,
    title: String,
    review_due: bool,
    created_at: i64,
    updated_at: i64,
    revision: i64,
    body: String,
}

impl ChangeRow {
    fn into_change(self) -> Result<StoredChange, StoreError> {
        let key = self.id.clone();
        Ok(StoredChange {
            tenant_id: parse("changes", &key, &self.tenant_id)?,
            kind: self.kind,
            state: self.state,
            title: self.title,
            review_due: self.review_due,
            created_at: timestamp("changes", &key, self.created_at)?,
            updated_at: timestamp("changes", &key, self.updated_at)?,
            revision: self.revision,
            body: serde_json::from_str(&self.body)
                .map_err(|e| corrupt("changes", &key, e.to_string()))?,
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct WindowRow {
    id: String,
    tenant_id: String,
    host_group: Option<String>,
    name: String,
    body: String,
    created_by: String,
    created_at: i64,
}

impl WindowRow {
    fn into_window(self) -> Result<StoredWindow, StoreError> {
        let key = self.id.clone();
        Ok(StoredWindow {
            tenant_id: parse("maintenance_windows", &key, &self.tenant_id)?,
            group: self.host_group,
            name: self.name,
            body: serde_json::from_str(&self.body)
                .map_err(|e| corrupt("maintenance_windows", &key, e.to_string()))?,
            created_by: self.created_by,
            created_at: timestamp("maintenance_windows", &key, self.created_at)?,
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct FreezeRow {
    id: String,
    tenant_id: Option<String>,
    starts_at: i64,
    ends_at: i64,
    reason: String,
    created_by: String,
    created_at: i64,
}

impl FreezeRow {
    fn into_freeze(self) -> Result<StoredFreeze, StoreError> {
        let key = self.id.clone();
        Ok(StoredFreeze {
            tenant_id: self
                .tenant_id
                .map(|t| parse("change_freezes", &key, &t))
                .transpose()?,
            starts_at: timestamp("change_freezes", &key, self.starts_at)?,
            ends_at: timestamp("change_freezes", &key, self.ends_at)?,
            reason: self.reason,
            created_by: self.created_by,
            created_at: timestamp("change_freezes", &key, self.created_at)?,
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ProblemRow {
    id: String,
    change_id: String,
    tenant_id: String,
    host_id: Option<String>,
    reported_by: String,
    text: String,
    opened_at: i64,
    closed_at: Option<i64>,
    closed_by: Option<String>,
    resolution: Option<String>,
}

impl ProblemRow {
    fn into_report(self) -> Result<ProblemReport, StoreError> {
        let key = self.id.clone();
        Ok(ProblemReport {
            change_id: self.change_id,
            tenant_id: parse("problem_reports", &key, &self.tenant_id)?,
            host_id: self
                .host_id
                .map(|h| parse("problem_reports", &key, &h))
                .transpose()?,
            reported_by: self.reported_by,
            text: self.text,
            opened_at: timestamp("problem_reports", &key, self.opened_at)?,
            closed_at: opt_timestamp("problem_reports", &key, self.closed_at)?,
            closed_by: self.closed_by,
            resolution: self.resolution,
            id: self.id,
        })
    }
}

const PROBLEM_COLUMNS: &str = "id, change_id, tenant_id, host_id, reported_by, text, opened_at, \
    closed_at, closed_by, resolution";

/// An audit entry about one of a tenant's change records.
fn audited(
    at: Timestamp,
    actor: &Actor,
    action: &str,
    (kind, id): (&str, &str),
    tenant: Option<TenantId>,
    before: Option<String>,
    after: Option<String>,
) -> AuditEvent {
    AuditEvent {
        at,
        actor: actor.clone(),
        action: action.into(),
        target_kind: kind.into(),
        target_id: Some(id.to_owned()),
        tenant_id: tenant,
        before,
        after,
    }
}

fn body_text(table: &'static str, id: &str, body: &Value) -> Result<String, StoreError> {
    serde_json::to_string(body).map_err(|e| corrupt(table, id, e.to_string()))
}

impl Store {
    /// Stores a new change (revision 1), audited as `change.create`.
    pub async fn create_change(
        &self,
        change: &StoredChange,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<StoredChange, StoreError> {
        let body = body_text("changes", &change.id, &change.body)?;
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO changes (id, tenant_id, kind, state, title, review_due, created_at, updated_at, \
                 revision, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8)",
            )
            .bind(&change.id)
            .bind(change.tenant_id.to_string())
            .bind(&change.kind)
            .bind(&change.state)
            .bind(&change.title)
            .bind(change.review_due)
            .bind(micros(at))
            .bind(&body)
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, audited(at, actor, "change.create", ("change", &change.id),
                Some(change.tenant_id), None, summary(&change.body)));
        });
        Ok(StoredChange {
            created_at: at,
            updated_at: at,
            revision: 1,
            ..change.clone()
        })
    }

    /// Writes a change read at `change.revision`, audited as `action` with
    /// `note` (the state before and after, a comment, a vote). `None` when
    /// the change was written meanwhile (read it again and retry) or does
    /// not exist.
    pub async fn save_change(
        &self,
        change: &StoredChange,
        action: &str,
        note: Value,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<StoredChange>, StoreError> {
        let body = body_text("changes", &change.id, &change.body)?;
        let saved = in_tx!(self, tx => {
            let written = sqlx::query(
                "UPDATE changes SET state = $3, title = $4, review_due = $5, updated_at = $6, \
                 revision = revision + 1, body = $7 WHERE id = $1 AND revision = $2",
            )
            .bind(&change.id)
            .bind(change.revision)
            .bind(&change.state)
            .bind(&change.title)
            .bind(change.review_due)
            .bind(micros(at))
            .bind(&body)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if written == 1 {
                append_audit!(tx, audited(at, actor, action, ("change", &change.id),
                    Some(change.tenant_id), None, summary(&note)));
            }
            written == 1
        });
        Ok(saved.then(|| StoredChange {
            updated_at: at,
            revision: change.revision + 1,
            ..change.clone()
        }))
    }

    /// A change by id.
    pub async fn change(&self, id: &str) -> Result<Option<StoredChange>, StoreError> {
        let sql = format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE id = $1");
        let row: Option<ChangeRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.map(ChangeRow::into_change).transpose()
    }

    /// Changes of the visible tenants, newest first.
    pub async fn list_changes(
        &self,
        vis: &Visibility,
        filter: &ChangeFilter,
        page: &PageRequest,
    ) -> Result<Page<StoredChange>, StoreError> {
        let (vis_sql, mut binds) = visible(vis, "tenant_id", 3);
        let mut condition = vis_sql;
        if let Some(t) = filter.tenant {
            binds.push(t.to_string());
            condition = format!("{condition} AND tenant_id = ${}", 2 + binds.len());
        }
        if !filter.states.is_empty() {
            let mut slots = Vec::new();
            for state in &filter.states {
                binds.push(state.clone());
                slots.push(format!("${}", 2 + binds.len()));
            }
            condition = format!("{condition} AND state IN ({})", slots.join(", "));
        }
        if filter.review_due {
            condition = format!("{condition} AND review_due");
        }
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE id < $1 AND {condition} ORDER BY id DESC LIMIT $2"
        );
        let after = page
            .after
            .clone()
            .unwrap_or_else(|| "\u{10FFFF}".to_owned());
        let rows: Vec<ChangeRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, ChangeRow>(sqlx::AssertSqlSafe(sql)).bind(after).bind(page.fetch());
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?
        });
        let items = rows
            .into_iter()
            .map(ChangeRow::into_change)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |c| c.id.clone()))
    }

    /// Changes in one of these states, of every tenant (the rollout
    /// driver's work list).
    pub async fn changes_in_states(
        &self,
        states: &[&str],
    ) -> Result<Vec<StoredChange>, StoreError> {
        let slots: Vec<String> = (1..=states.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE state IN ({}) ORDER BY id",
            if slots.is_empty() {
                "NULL".to_owned()
            } else {
                slots.join(", ")
            }
        );
        let rows: Vec<ChangeRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, ChangeRow>(sqlx::AssertSqlSafe(sql));
            for s in states {
                q = q.bind(*s);
            }
            q.fetch_all(pool).await?
        });
        rows.into_iter().map(ChangeRow::into_change).collect()
    }

    /// Stores a maintenance window, audited. A name already used in the
    /// tenant is a conflict.
    pub async fn create_window(
        &self,
        window: &StoredWindow,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<StoredWindow, StoreError> {
        let body = body_text("maintenance_windows", &window.id, &window.body)?;
        let taken: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM maintenance_windows WHERE tenant_id = $1 AND name = $2")
                .bind(window.tenant_id.to_string())
                .bind(&window.name)
                .fetch_optional(pool)
                .await?
        });
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "the tenant already has a window named {:?}",
                window.name
            )));
        }
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO maintenance_windows (id, tenant_id, host_group, name, body, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&window.id)
            .bind(window.tenant_id.to_string())
            .bind(&window.group)
            .bind(&window.name)
            .bind(&body)
            .bind(&actor.name)
            .bind(micros(at))
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, audited(at, actor, "window.create", ("window", &window.id),
                Some(window.tenant_id), None, summary(&window.body)));
        });
        Ok(StoredWindow {
            created_by: actor.name.clone(),
            created_at: at,
            ..window.clone()
        })
    }

    /// The windows of the visible tenants (of one with `tenant`), by name.
    pub async fn list_windows(
        &self,
        vis: &Visibility,
        tenant: Option<TenantId>,
    ) -> Result<Vec<StoredWindow>, StoreError> {
        let (vis_sql, mut binds) = visible(vis, "tenant_id", 1);
        let mut condition = vis_sql;
        if let Some(t) = tenant {
            binds.push(t.to_string());
            condition = format!("{condition} AND tenant_id = ${}", binds.len());
        }
        let sql = format!(
            "SELECT id, tenant_id, host_group, name, body, created_by, created_at \
             FROM maintenance_windows WHERE {condition} ORDER BY tenant_id, name LIMIT 10000"
        );
        let rows: Vec<WindowRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, WindowRow>(sqlx::AssertSqlSafe(sql));
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?
        });
        rows.into_iter().map(WindowRow::into_window).collect()
    }

    /// A window by id.
    pub async fn window(&self, id: &str) -> Result<Option<StoredWindow>, StoreError> {
        let row: Option<WindowRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, tenant_id, host_group, name, body, created_by, created_at \
                 FROM maintenance_windows WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(WindowRow::into_window).transpose()
    }

    /// Deletes a window, audited. Whether it existed.
    pub async fn delete_window(
        &self,
        id: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(window) = self.window(id).await? else {
            return Ok(false);
        };
        in_tx!(self, tx => {
            sqlx::query("DELETE FROM maintenance_windows WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            append_audit!(tx, audited(at, actor, "window.delete", ("window", id),
                Some(window.tenant_id), summary(&window.body), None));
        });
        Ok(true)
    }

    /// Declares a change freeze, audited.
    pub async fn create_freeze(
        &self,
        freeze: &StoredFreeze,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<StoredFreeze, StoreError> {
        let stored = StoredFreeze {
            created_by: actor.name.clone(),
            created_at: at,
            ..freeze.clone()
        };
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO change_freezes (id, tenant_id, starts_at, ends_at, reason, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&freeze.id)
            .bind(freeze.tenant_id.map(|t| t.to_string()))
            .bind(micros(freeze.starts_at))
            .bind(micros(freeze.ends_at))
            .bind(&freeze.reason)
            .bind(&actor.name)
            .bind(micros(at))
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, audited(at, actor, "freeze.create", ("freeze", &freeze.id),
                freeze.tenant_id, None, summary(&stored)));
        });
        Ok(stored)
    }

    /// Freezes that hold for the visible tenants (or, with `tenant`, for
    /// that one) and have not ended by `after`; those for every tenant
    /// included. Earliest first.
    pub async fn list_freezes(
        &self,
        vis: &Visibility,
        tenant: Option<TenantId>,
        after: Timestamp,
    ) -> Result<Vec<StoredFreeze>, StoreError> {
        let (vis_sql, mut binds) = visible(vis, "tenant_id", 2);
        let mut condition = format!("(tenant_id IS NULL OR {vis_sql})");
        if let Some(t) = tenant {
            binds.push(t.to_string());
            condition = format!(
                "{condition} AND (tenant_id IS NULL OR tenant_id = ${})",
                1 + binds.len()
            );
        }
        let sql = format!(
            "SELECT id, tenant_id, starts_at, ends_at, reason, created_by, created_at FROM change_freezes \
             WHERE ends_at > $1 AND {condition} ORDER BY starts_at, id LIMIT 10000"
        );
        let rows: Vec<FreezeRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, FreezeRow>(sqlx::AssertSqlSafe(sql)).bind(micros(after));
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?
        });
        rows.into_iter().map(FreezeRow::into_freeze).collect()
    }

    /// A freeze by id.
    pub async fn freeze(&self, id: &str) -> Result<Option<StoredFreeze>, StoreError> {
        let row: Option<FreezeRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, tenant_id, starts_at, ends_at, reason, created_by, created_at \
                 FROM change_freezes WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(FreezeRow::into_freeze).transpose()
    }

    /// Lifts a freeze, audited. Whether it existed.
    pub async fn delete_freeze(
        &self,
        id: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(freeze) = self.freeze(id).await? else {
            return Ok(false);
        };
        in_tx!(self, tx => {
            sqlx::query("DELETE FROM change_freezes WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            append_audit!(tx, audited(at, actor, "freeze.delete", ("freeze", id),
                freeze.tenant_id, summary(&freeze), None));
        });
        Ok(true)
    }

    /// A tenant's change setting, if it set one.
    pub async fn change_setting(
        &self,
        tenant: TenantId,
        setting: ChangeSetting,
    ) -> Result<Option<Value>, StoreError> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT body FROM change_settings WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.to_string())
                .bind(setting.name())
                .fetch_optional(pool)
                .await?
        });
        row.map(|(body,)| {
            serde_json::from_str(&body)
                .map_err(|e| corrupt("change_settings", setting.name(), e.to_string()))
        })
        .transpose()
    }

    /// Sets a tenant's change setting, audited with the value before.
    pub async fn set_change_setting(
        &self,
        tenant: TenantId,
        setting: ChangeSetting,
        body: &Value,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let before = self.change_setting(tenant, setting).await?;
        let text = body_text("change_settings", setting.name(), body)?;
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO change_settings (tenant_id, name, body, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET body = $3, updated_by = $4, updated_at = $5",
            )
            .bind(tenant.to_string())
            .bind(setting.name())
            .bind(&text)
            .bind(&actor.name)
            .bind(micros(at))
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, audited(at, actor, &format!("tenant.{}", setting.name()),
                ("tenant", &tenant.to_string()), Some(tenant), before.as_ref().and_then(summary), summary(body)));
        });
        Ok(())
    }

    /// Files a problem report, audited.
    pub async fn open_problem_report(
        &self,
        report: &ProblemReport,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let at = report.opened_at;
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO problem_reports (id, change_id, tenant_id, host_id, reported_by, text, opened_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&report.id)
            .bind(&report.change_id)
            .bind(report.tenant_id.to_string())
            .bind(report.host_id.map(|h| h.to_string()))
            .bind(&report.reported_by)
            .bind(&report.text)
            .bind(micros(at))
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, audited(at, actor, "problem.open", ("change", &report.change_id),
                Some(report.tenant_id), None, summary(report)));
        });
        Ok(())
    }

    /// Closes an open problem report, audited. The report as closed; `None`
    /// when there is no such open report.
    pub async fn close_problem_report(
        &self,
        id: &str,
        resolution: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<ProblemReport>, StoreError> {
        let sql = format!("SELECT {PROBLEM_COLUMNS} FROM problem_reports WHERE id = $1");
        let closed = in_tx!(self, tx => {
            let written = sqlx::query(
                "UPDATE problem_reports SET closed_at = $2, closed_by = $3, resolution = $4 \
                 WHERE id = $1 AND closed_at IS NULL",
            )
            .bind(id)
            .bind(micros(at))
            .bind(&actor.name)
            .bind(resolution)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if written == 1 {
                let row: ProblemRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let report = row.into_report()?;
                append_audit!(tx, audited(at, actor, "problem.close", ("change", &report.change_id),
                    Some(report.tenant_id), None, summary(&report)));
                Some(report)
            } else {
                None
            }
        });
        Ok(closed)
    }

    /// A problem report by id.
    pub async fn problem_report(&self, id: &str) -> Result<Option<ProblemReport>, StoreError> {
        let sql = format!("SELECT {PROBLEM_COLUMNS} FROM problem_reports WHERE id = $1");
        let row: Option<ProblemRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.map(ProblemRow::into_report).transpose()
    }

    /// A change's problem reports, oldest first.
    pub async fn problem_reports(&self, change: &str) -> Result<Vec<ProblemReport>, StoreError> {
        let sql = format!(
            "SELECT {PROBLEM_COLUMNS} FROM problem_reports WHERE change_id = $1 ORDER BY opened_at, id LIMIT 10000"
        );
        let rows: Vec<ProblemRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(change).fetch_all(pool).await?
        });
        rows.into_iter().map(ProblemRow::into_report).collect()
    }

    /// Starts a change's rollout: the rollout (revision 1) and its jobs, in
    /// one transaction, audited as `rollout.start`. A conflict if the change
    /// has one already.
    pub async fn create_rollout(
        &self,
        rollout: &StoredRollout,
        jobs: &[crate::StoredJob],
        actor: &Actor,
        at: Timestamp,
    ) -> Result<StoredRollout, StoreError> {
        let body = body_text("rollouts", &rollout.change_id, &rollout.body)?;
        let exists: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT change_id FROM rollouts WHERE change_id = $1")
                .bind(&rollout.change_id)
                .fetch_optional(pool)
                .await?
        });
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "change {} has a rollout already",
                rollout.change_id
            )));
        }
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO rollouts (change_id, tenant_id, state, revision, created_at, updated_at, body) \
                 VALUES ($1, $2, $3, 1, $4, $4, $5)",
            )
            .bind(&rollout.change_id)
            .bind(rollout.tenant_id.to_string())
            .bind(&rollout.state)
            .bind(micros(at))
            .bind(&body)
            .execute(&mut *tx)
            .await?;
            crate::jobs::insert_jobs!(self, tx, jobs, at);
            append_audit!(tx, audited(at, actor, "rollout.start", ("change", &rollout.change_id),
                Some(rollout.tenant_id), None,
                summary(&serde_json::json!({"state": rollout.state, "jobs": jobs.len()}))));
        });
        Ok(StoredRollout {
            revision: 1,
            created_at: at,
            updated_at: at,
            ..rollout.clone()
        })
    }

    /// A change's rollout.
    pub async fn rollout(&self, change: &str) -> Result<Option<StoredRollout>, StoreError> {
        let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE change_id = $1");
        let row: Option<RolloutRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(change).fetch_optional(pool).await?
        });
        row.map(RolloutRow::into_rollout).transpose()
    }

    /// Rollouts in one of these states (the driver's work list).
    pub async fn rollouts_in_states(
        &self,
        states: &[&str],
    ) -> Result<Vec<StoredRollout>, StoreError> {
        let slots: Vec<String> = (1..=states.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE state IN ({}) ORDER BY change_id",
            if slots.is_empty() {
                "NULL".to_owned()
            } else {
                slots.join(", ")
            }
        );
        let rows: Vec<RolloutRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, RolloutRow>(sqlx::AssertSqlSafe(sql));
            for s in states {
                q = q.bind(*s);
            }
            q.fetch_all(pool).await?
        });
        rows.into_iter().map(RolloutRow::into_rollout).collect()
    }

    /// Writes a rollout read at `rollout.revision`, with new jobs (rollback
    /// jobs) if any; audited as `action` when `action` is given (the
    /// driver's routine dispatches are not: the jobs record them). `None`
    /// when it was written meanwhile.
    pub async fn save_rollout(
        &self,
        rollout: &StoredRollout,
        jobs: &[crate::StoredJob],
        action: Option<(&str, Value)>,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<StoredRollout>, StoreError> {
        let body = body_text("rollouts", &rollout.change_id, &rollout.body)?;
        let saved = in_tx!(self, tx => {
            let written = sqlx::query(
                "UPDATE rollouts SET state = $3, revision = revision + 1, updated_at = $4, body = $5 \
                 WHERE change_id = $1 AND revision = $2",
            )
            .bind(&rollout.change_id)
            .bind(rollout.revision)
            .bind(&rollout.state)
            .bind(micros(at))
            .bind(&body)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if written == 1 {
                crate::jobs::insert_jobs!(self, tx, jobs, at);
                if let Some((action, note)) = &action {
                    append_audit!(tx, audited(at, actor, action, ("change", &rollout.change_id),
                        Some(rollout.tenant_id), None, summary(note)));
                }
            }
            written == 1
        });
        Ok(saved.then(|| StoredRollout {
            revision: rollout.revision + 1,
            updated_at: at,
            ..rollout.clone()
        }))
    }
}

//! Online advisory sources (ADV-2): where the server fetches OSV archives,
//! CSAF providers, the KEV catalog and EPSS scores, and when it next should.
//! A replica claims a due source with a lease, so that two replicas never
//! sync the same source at once.

use rivet_core::Timestamp;
use rivet_core::audit::{Actor, AuditEvent};
use serde::Serialize;

use crate::audit::append_audit;
use crate::row::{micros, opt_timestamp, summary, timestamp};
use crate::{Store, StoreError, in_tx, on_pool};

/// A source as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdvisorySource {
    /// Its id (a UUID).
    pub id: String,
    /// A unique name.
    pub name: String,
    /// `osv`, `csaf`, `kev` or `epss`.
    pub kind: String,
    /// The URL: an OSV document or archive, a CSAF `provider-metadata.json`,
    /// the KEV catalog, an EPSS CSV.
    pub url: String,
    /// Seconds between syncs.
    pub interval_secs: i64,
    /// Armored OpenPGP keys trusted for this source (CSAF), besides those
    /// the provider metadata names.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub public_keys: String,
    /// Whether the scheduler syncs it.
    pub enabled: bool,
    /// When it was added.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When the scheduler syncs it next.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub next_sync_at: Timestamp,
    /// When it was last synced.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_sync_at: Option<Timestamp>,
    /// `ok` or `failed`.
    pub last_status: Option<String>,
    /// What the last sync did or why it failed.
    pub last_message: Option<String>,
}

/// A source to add.
#[derive(Debug, Clone)]
pub struct NewSource {
    /// Its id.
    pub id: String,
    /// A unique name.
    pub name: String,
    /// `osv`, `csaf`, `kev` or `epss`.
    pub kind: String,
    /// The URL.
    pub url: String,
    /// Seconds between syncs.
    pub interval_secs: i64,
    /// Armored OpenPGP keys.
    pub public_keys: String,
}

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: String,
    name: String,
    kind: String,
    url: String,
    interval_secs: i64,
    public_keys: String,
    enabled: bool,
    created_at: i64,
    next_sync_at: i64,
    last_sync_at: Option<i64>,
    last_status: Option<String>,
    last_message: Option<String>,
}

const SOURCE_COLUMNS: &str = "id, name, kind, url, interval_secs, public_keys, enabled, created_at, \
    next_sync_at, last_sync_at, last_status, last_message";

impl SourceRow {
    fn into_source(self) -> Result<AdvisorySource, StoreError> {
        let id = &self.id;
        Ok(AdvisorySource {
            created_at: timestamp("advisory_sources", id, self.created_at)?,
            next_sync_at: timestamp("advisory_sources", id, self.next_sync_at)?,
            last_sync_at: opt_timestamp("advisory_sources", id, self.last_sync_at)?,
            id: self.id,
            name: self.name,
            kind: self.kind,
            url: self.url,
            interval_secs: self.interval_secs,
            public_keys: self.public_keys,
            enabled: self.enabled,
            last_status: self.last_status,
            last_message: self.last_message,
        })
    }
}

fn event(
    at: Timestamp,
    actor: &Actor,
    action: &str,
    before: Option<&AdvisorySource>,
    after: Option<&AdvisorySource>,
) -> AuditEvent {
    let source = after.or(before);
    AuditEvent {
        at,
        actor: actor.clone(),
        action: action.to_owned(),
        target_kind: "advisory-source".into(),
        target_id: source.map(|s| s.id.clone()),
        tenant_id: None,
        before: before.map(redacted).as_ref().and_then(summary),
        after: after.map(redacted).as_ref().and_then(summary),
    }
}

/// A source fit for the audit log: no password from its URL.
fn redacted(source: &AdvisorySource) -> AdvisorySource {
    AdvisorySource {
        url: crate::redact_url(&source.url),
        ..source.clone()
    }
}

impl Store {
    /// Adds a source, due at once.
    pub async fn create_source(
        &self,
        new: &NewSource,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<AdvisorySource, StoreError> {
        let source = AdvisorySource {
            id: new.id.clone(),
            name: new.name.clone(),
            kind: new.kind.clone(),
            url: new.url.clone(),
            interval_secs: new.interval_secs,
            public_keys: new.public_keys.clone(),
            enabled: true,
            created_at: at,
            next_sync_at: at,
            last_sync_at: None,
            last_status: None,
            last_message: None,
        };
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO advisory_sources (id, name, kind, url, interval_secs, public_keys, enabled, \
                 created_at, updated_at, next_sync_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8)",
            )
            .bind(&source.id)
            .bind(&source.name)
            .bind(&source.kind)
            .bind(&source.url)
            .bind(source.interval_secs)
            .bind(&source.public_keys)
            .bind(true)
            .bind(micros(at))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::conflict_on_unique(e, || format!("a source named {:?} already exists", new.name)))?;
            append_audit!(tx, event(at, actor, "advisory-source.create", None, Some(&source)));
        });
        Ok(source)
    }

    /// Every source, by name.
    pub async fn list_sources(&self) -> Result<Vec<AdvisorySource>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SOURCE_COLUMNS} FROM advisory_sources ORDER BY name"
        ));
        let rows: Vec<SourceRow> =
            on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        rows.into_iter().map(SourceRow::into_source).collect()
    }

    /// One source.
    pub async fn get_source(&self, id: &str) -> Result<Option<AdvisorySource>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SOURCE_COLUMNS} FROM advisory_sources WHERE id = $1"
        ));
        let row: Option<SourceRow> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?);
        row.map(SourceRow::into_source).transpose()
    }

    /// Removes a source (what it imported stays); `false` if it does not exist.
    pub async fn delete_source(
        &self,
        id: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(before) = self.get_source(id).await? else {
            return Ok(false);
        };
        in_tx!(self, tx => {
            let done = sqlx::query("DELETE FROM advisory_sources WHERE id = $1").bind(id).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            append_audit!(tx, event(at, actor, "advisory-source.delete", Some(&before), None));
        });
        Ok(true)
    }

    /// Claims the enabled source that is most overdue at `at`, leasing it to
    /// `owner` for `lease_secs`; `None` when nothing is due or every due
    /// source is leased by another replica.
    pub async fn claim_due_source(
        &self,
        at: Timestamp,
        owner: &str,
        lease_secs: i64,
    ) -> Result<Option<AdvisorySource>, StoreError> {
        let now = micros(at);
        let claimed: Option<(String,)> = in_tx!(self, tx => {
            let due: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM advisory_sources WHERE enabled = $1 AND next_sync_at <= $2 \
                 AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_sync_at LIMIT 5",
            )
            .bind(true)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let mut claimed = None;
            for (id,) in due {
                // The condition repeats the check, so that of two replicas
                // racing for one source exactly one update takes effect.
                let done = sqlx::query(
                    "UPDATE advisory_sources SET lease_until = $1, lease_owner = $2 WHERE id = $3 \
                     AND (lease_until IS NULL OR lease_until < $4)",
                )
                .bind(now + lease_secs * 1_000_000)
                .bind(owner)
                .bind(&id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    claimed = Some((id,));
                    break;
                }
            }
            claimed
        });
        match claimed {
            Some((id,)) => self.get_source(&id).await,
            None => Ok(None),
        }
    }

    /// Records a sync's outcome, releases the lease and schedules the next
    /// sync `interval_secs` after `at`.
    pub async fn record_sync(
        &self,
        id: &str,
        ok: bool,
        message: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(before) = self.get_source(id).await? else {
            return Ok(());
        };
        let after = AdvisorySource {
            last_sync_at: Some(at),
            last_status: Some(if ok { "ok" } else { "failed" }.into()),
            last_message: Some(message.chars().take(4000).collect()),
            next_sync_at: at + jiff::SignedDuration::from_secs(before.interval_secs),
            ..before.clone()
        };
        in_tx!(self, tx => {
            sqlx::query(
                "UPDATE advisory_sources SET last_sync_at = $1, last_status = $2, last_message = $3, \
                 next_sync_at = $4, lease_until = NULL, lease_owner = NULL, updated_at = $1 WHERE id = $5",
            )
            .bind(micros(at))
            .bind(&after.last_status)
            .bind(&after.last_message)
            .bind(micros(after.next_sync_at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, event(at, actor, "advisory-source.sync", None, Some(&after)));
        });
        Ok(())
    }
}

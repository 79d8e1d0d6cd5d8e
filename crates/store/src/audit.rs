//! The audit chain in the database: appending inside the transaction of the
//! change it records, listing, and verifying the whole chain.

use rivet_core::access::Visibility;
use rivet_core::audit::{Actor, ActorKind, AuditEntry, AuditEvent, ChainBreak, ChainVerifier};
use rivet_core::id::TenantId;
use rivet_core::page::{Page, PageRequest};

use crate::row::{corrupt, parse, timestamp, visible};
use crate::{Store, StoreError, in_tx, on_pool};

/// Appends `$event` (an [`rivet_core::audit::AuditEvent`]) to the chain
/// inside the open transaction `$tx`. Bumping the head first takes its row
/// lock, so concurrent appends queue and each links to the one before.
macro_rules! append_audit {
    ($tx:ident, $event:expr) => {{
        let event: rivet_core::audit::AuditEvent = $event;
        let (seq, prev_hash): (i64, String) =
            sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *$tx)
                .await?;
        let entry = event.chain(seq - 1, &prev_hash);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_name, token_id, action, \
             target_kind, target_id, tenant_id, before_json, after_json, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(entry.seq)
        .bind(entry.at.as_microsecond())
        .bind(entry.actor.kind.as_str())
        .bind(&entry.actor.id)
        .bind(&entry.actor.name)
        .bind(&entry.actor.token_id)
        .bind(&entry.action)
        .bind(&entry.target_kind)
        .bind(&entry.target_id)
        .bind(entry.tenant_id.map(|t| t.to_string()))
        .bind(&entry.before)
        .bind(&entry.after)
        .bind(&entry.prev_hash)
        .bind(&entry.hash)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&entry.hash)
            .execute(&mut *$tx)
            .await?;
        entry
    }};
}
pub(crate) use append_audit;

/// Filters for the audit listing.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries whose action starts with this (e.g. `user.`).
    pub action_prefix: Option<String>,
    /// Only entries about this record.
    pub target_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    at: i64,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: String,
    token_id: Option<String>,
    action: String,
    target_kind: String,
    target_id: Option<String>,
    tenant_id: Option<String>,
    before_json: Option<String>,
    after_json: Option<String>,
    prev_hash: String,
    hash: String,
}

const AUDIT_COLUMNS: &str = "seq, at, actor_kind, actor_id, actor_name, token_id, action, \
    target_kind, target_id, tenant_id, before_json, after_json, prev_hash, hash";

impl AuditRow {
    fn into_entry(self) -> Result<AuditEntry, StoreError> {
        let id = self.seq.to_string();
        let kind = match self.actor_kind.as_str() {
            "user" => ActorKind::User,
            "system" => ActorKind::System,
            "agent" => ActorKind::Agent,
            other => {
                return Err(corrupt(
                    "audit_log",
                    &id,
                    format!("unknown actor kind {other:?}"),
                ));
            }
        };
        Ok(AuditEntry {
            seq: self.seq,
            at: timestamp("audit_log", &id, self.at)?,
            actor: Actor {
                kind,
                id: self.actor_id,
                name: self.actor_name,
                token_id: self.token_id,
            },
            action: self.action,
            target_kind: self.target_kind,
            target_id: self.target_id,
            tenant_id: self
                .tenant_id
                .map(|t| parse::<TenantId>("audit_log", &id, &t))
                .transpose()?,
            before: self.before_json,
            after: self.after_json,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// The outcome of verifying the chain.
pub type Verification = Result<i64, ChainBreak>;

impl Store {
    /// Lists audit entries the principal may see, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn list_audit(
        &self,
        vis: &Visibility,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let after: i64 = match &page.after {
            None => 0,
            Some(c) => c.parse().map_err(|_| StoreError::BadCursor(c.clone()))?,
        };
        let (vis_sql, vis_binds) = visible(vis, "tenant_id", 5);
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 \
             AND ($2 = '' OR substr(action, 1, length($2)) = $2) AND ($3 = '' OR target_id = $3) AND {vis_sql} \
             ORDER BY seq LIMIT $4"
        );
        let prefix = filter.action_prefix.clone().unwrap_or_default();
        let target = filter.target_id.clone().unwrap_or_default();
        let rows: Vec<AuditRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(&prefix)
                .bind(&target)
                .bind(page.fetch());
            for t in &vis_binds {
                q = q.bind(t);
            }
            q.fetch_all(pool).await?
        });
        let entries = rows
            .into_iter()
            .map(AuditRow::into_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(entries, page, |e| e.seq.to_string()))
    }

    /// Records an action that changes no stored record of its own (a
    /// round of assessment asked for by a user).
    pub async fn record_audit(&self, event: AuditEvent) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            append_audit!(tx, event);
        });
        Ok(())
    }

    /// The newest entry's sequence number and hash.
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(pool)
                .await?
        }))
    }

    /// Verifies the whole chain, page by page; `Ok` carries the number of
    /// entries checked, `Err` names the first broken link.
    #[tracing::instrument(skip(self))]
    pub async fn verify_audit(&self) -> Result<Verification, StoreError> {
        let (head_seq, head_hash) = self.audit_head().await?;
        let mut verifier = ChainVerifier::default();
        let mut after = 0i64;
        loop {
            let rows: Vec<AuditRow> = on_pool!(self, pool => {
                sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 1000"
                )))
                .bind(after)
                .bind(head_seq)
                .fetch_all(pool)
                .await?
            });
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for row in rows {
                let entry = row.into_entry()?;
                if let Err(broken) = verifier.check(&entry) {
                    return Ok(Err(broken));
                }
            }
        }
        Ok(verifier.finish(head_seq, &head_hash))
    }
}

//! Exceptions (ASM-6): a risk accepted, or a workaround recorded, for an
//! advisory on one host, a group of hosts or a whole tenant, with reason,
//! approver and expiry. The open findings they cover become accepted or
//! mitigated; when one expires or is revoked, its findings reopen, with an
//! audit entry.

use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::id::{HostId, TenantId};
use rivet_core::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};

use crate::audit::append_audit;
use crate::row::{corrupt, micros, opt_timestamp, parse, summary, timestamp, visible};
use crate::{Store, StoreError, in_tx, on_pool};

/// What an exception does to the findings it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    /// The risk is accepted: the findings are `accepted`.
    Accept,
    /// A workaround is in place: the findings are `mitigated`.
    Workaround,
}

impl ExceptionKind {
    fn name(self) -> &'static str {
        match self {
            ExceptionKind::Accept => "accept",
            ExceptionKind::Workaround => "workaround",
        }
    }

    fn state(self) -> &'static str {
        match self {
            ExceptionKind::Accept => "accepted",
            ExceptionKind::Workaround => "mitigated",
        }
    }
}

/// A new exception.
#[derive(Debug, Clone)]
pub struct NewException {
    /// Its id.
    pub id: String,
    /// The tenant whose findings it covers.
    pub tenant_id: TenantId,
    /// Accept or workaround.
    pub kind: ExceptionKind,
    /// The advisory's id or one of its aliases (a CVE).
    pub advisory: String,
    /// One host of the tenant…
    pub host: Option<HostId>,
    /// …or one group of its hosts; every host of the tenant when neither.
    pub group: Option<String>,
    /// Why.
    pub reason: String,
    /// Who approved it.
    pub approver: String,
    /// When it ends and its findings reopen.
    pub expires_at: Timestamp,
}

/// An exception as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FindingException {
    /// Its id.
    pub id: String,
    /// The tenant.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant_id: TenantId,
    /// Accept or workaround.
    pub kind: ExceptionKind,
    /// The advisory's id or alias.
    pub advisory: String,
    /// The host it covers, if one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub host_id: Option<HostId>,
    /// The group it covers, if one.
    pub group: Option<String>,
    /// Why.
    pub reason: String,
    /// Who approved it.
    pub approver: String,
    /// When it ends.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    /// Who recorded it.
    pub created_by: String,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
    /// When its expiry reopened its findings.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub ended_at: Option<Timestamp>,
    /// Findings it covers now.
    pub findings: i64,
}

/// Which of a tenant's open findings an exception covers: `$1` tenant,
/// `$2` advisory, `$3` host seq or NULL, `$4` group or NULL.
const COVERED: &str = "f.tenant_id = $1 \
    AND (f.advisory_id = $2 OR EXISTS (SELECT 1 FROM advisory_aliases aa \
         WHERE aa.advisory_key = f.advisory_key AND aa.alias = $2)) \
    AND ($3 IS NULL OR f.host_seq = $3) \
    AND ($4 IS NULL OR EXISTS (SELECT 1 FROM host_labels l \
         WHERE l.host_seq = f.host_seq AND l.kind = 'group' AND l.value = $4))";

const EXCEPTION_COLUMNS: &str = "e.id, e.tenant_id, e.kind, e.advisory, h.id AS host_id, e.host_group, \
    e.reason, e.approver, e.expires_at, e.created_by, e.created_at, e.revoked_at, e.ended_at, \
    (SELECT COUNT(*) FROM findings f WHERE f.exception_id = e.id AND f.state IN ('accepted', 'mitigated')) AS findings";

#[derive(sqlx::FromRow)]
struct ExceptionRow {
    id: String,
    tenant_id: String,
    kind: String,
    advisory: String,
    host_id: Option<String>,
    host_group: Option<String>,
    reason: String,
    approver: String,
    expires_at: i64,
    created_by: String,
    created_at: i64,
    revoked_at: Option<i64>,
    ended_at: Option<i64>,
    findings: i64,
}

impl ExceptionRow {
    fn into_exception(self) -> Result<FindingException, StoreError> {
        let key = self.id.clone();
        Ok(FindingException {
            tenant_id: parse("finding_exceptions", &key, &self.tenant_id)?,
            kind: match self.kind.as_str() {
                "accept" => ExceptionKind::Accept,
                "workaround" => ExceptionKind::Workaround,
                other => {
                    return Err(corrupt(
                        "finding_exceptions",
                        &key,
                        format!("kind {other:?}"),
                    ));
                }
            },
            advisory: self.advisory,
            host_id: self
                .host_id
                .map(|h| parse("finding_exceptions", &key, &h))
                .transpose()?,
            group: self.host_group,
            reason: self.reason,
            approver: self.approver,
            expires_at: timestamp("finding_exceptions", &key, self.expires_at)?,
            created_by: self.created_by,
            created_at: timestamp("finding_exceptions", &key, self.created_at)?,
            revoked_at: opt_timestamp("finding_exceptions", &key, self.revoked_at)?,
            ended_at: opt_timestamp("finding_exceptions", &key, self.ended_at)?,
            findings: self.findings,
            id: self.id,
        })
    }
}

fn event(at: Timestamp, actor: &Actor, action: &str, e: &FindingException) -> AuditEvent {
    AuditEvent {
        at,
        actor: actor.clone(),
        action: action.into(),
        target_kind: "exception".into(),
        target_id: Some(e.id.clone()),
        tenant_id: Some(e.tenant_id),
        before: None,
        after: summary(e),
    }
}

/// Puts the open findings an exception covers under it, in a transaction.
macro_rules! cover {
    ($tx:ident, $id:expr, $tenant:expr, $kind:expr, $advisory:expr, $host_seq:expr, $group:expr, $at:expr) => {{
        let sql = format!(
            "UPDATE findings SET state = '{}', exception_id = $5, updated_at = $6 \
             WHERE id IN (SELECT f.id FROM findings f WHERE f.state = 'open' AND {COVERED})",
            $kind.state()
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind($tenant)
            .bind($advisory)
            .bind($host_seq)
            .bind($group)
            .bind($id)
            .bind(micros($at))
            .execute(&mut *$tx)
            .await?
            .rows_affected()
    }};
}

/// Reopens the findings under an exception.
macro_rules! uncover {
    ($tx:ident, $id:expr, $at:expr) => {{
        sqlx::query(
            "UPDATE findings SET state = 'open', exception_id = NULL, updated_at = $2 \
             WHERE exception_id = $1 AND state IN ('accepted', 'mitigated')",
        )
        .bind($id)
        .bind(micros($at))
        .execute(&mut *$tx)
        .await?
        .rows_affected()
    }};
}

macro_rules! fetch_exception {
    ($exec:expr, $id:expr) => {{
        let sql = format!(
            "SELECT {EXCEPTION_COLUMNS} FROM finding_exceptions e LEFT JOIN hosts h ON h.seq = e.host_seq WHERE e.id = $1"
        );
        sqlx::query_as::<_, ExceptionRow>(sqlx::AssertSqlSafe(sql))
            .bind($id)
            .fetch_optional($exec)
            .await?
            .map(ExceptionRow::into_exception)
            .transpose()?
    }};
}

impl Store {
    /// Records an exception and puts the open findings it covers under it,
    /// audited. `None` when its host is not one of its tenant's.
    pub async fn create_exception(
        &self,
        new: &NewException,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<FindingException>, StoreError> {
        let out = in_tx!(self, tx => {
            let host_seq: Option<i64> = match new.host {
                None => None,
                Some(h) => {
                    let row: Option<(i64,)> =
                        sqlx::query_as("SELECT seq FROM hosts WHERE id = $1 AND tenant_id = $2")
                            .bind(h.to_string())
                            .bind(new.tenant_id.to_string())
                            .fetch_optional(&mut *tx)
                            .await?;
                    match row {
                        Some((seq,)) => Some(seq),
                        None => return Ok(None),
                    }
                }
            };
            sqlx::query(
                "INSERT INTO finding_exceptions (id, tenant_id, kind, advisory, host_seq, host_group, reason, \
                 approver, expires_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&new.id)
            .bind(new.tenant_id.to_string())
            .bind(new.kind.name())
            .bind(&new.advisory)
            .bind(host_seq)
            .bind(&new.group)
            .bind(&new.reason)
            .bind(&new.approver)
            .bind(micros(new.expires_at))
            .bind(&actor.name)
            .bind(micros(at))
            .execute(&mut *tx)
            .await?;
            cover!(tx, &new.id, new.tenant_id.to_string(), new.kind, &new.advisory, host_seq, &new.group, at);
            let created = fetch_exception!(&mut *tx, &new.id)
                .ok_or_else(|| corrupt("finding_exceptions", &new.id, "vanished".into()))?;
            append_audit!(tx, event(at, actor, "exception.create", &created));
            Some(created)
        });
        Ok(out)
    }

    /// An exception by id.
    pub async fn get_exception(&self, id: &str) -> Result<Option<FindingException>, StoreError> {
        Ok(on_pool!(self, pool => fetch_exception!(pool, id)))
    }

    /// Exceptions of the visible tenants (of one with `tenant`), newest
    /// first.
    pub async fn list_exceptions(
        &self,
        vis: &Visibility,
        tenant: Option<TenantId>,
        page: &PageRequest,
    ) -> Result<Page<FindingException>, StoreError> {
        let (vis_sql, mut binds) = visible(vis, "e.tenant_id", 3);
        let mut condition = vis_sql;
        if let Some(t) = tenant {
            binds.push(t.to_string());
            condition = format!("{condition} AND e.tenant_id = ${}", 2 + binds.len());
        }
        let sql = format!(
            "SELECT {EXCEPTION_COLUMNS} FROM finding_exceptions e LEFT JOIN hosts h ON h.seq = e.host_seq \
             WHERE e.id < $1 AND {condition} ORDER BY e.id DESC LIMIT $2"
        );
        let after = page
            .after
            .clone()
            .unwrap_or_else(|| "\u{10FFFF}".to_owned());
        let rows: Vec<ExceptionRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, ExceptionRow>(sqlx::AssertSqlSafe(sql)).bind(after).bind(page.fetch());
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?
        });
        let items = rows
            .into_iter()
            .map(ExceptionRow::into_exception)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |e| e.id.clone()))
    }

    /// Revokes an exception: its findings reopen. `None` if it does not
    /// exist; unchanged if it already ended.
    pub async fn revoke_exception(
        &self,
        id: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<FindingException>, StoreError> {
        let out = in_tx!(self, tx => {
            match fetch_exception!(&mut *tx, id) {
                None => None,
                Some(e) if e.revoked_at.is_some() || e.ended_at.is_some() => Some(e),
                Some(_) => {
                    sqlx::query("UPDATE finding_exceptions SET revoked_at = $2, ended_at = $2 WHERE id = $1")
                        .bind(id)
                        .bind(micros(at))
                        .execute(&mut *tx)
                        .await?;
                    uncover!(tx, id, at);
                    let e = fetch_exception!(&mut *tx, id)
                        .ok_or_else(|| corrupt("finding_exceptions", id, "vanished".into()))?;
                    append_audit!(tx, event(at, actor, "exception.revoke", &e));
                    Some(e)
                }
            }
        });
        Ok(out)
    }

    /// Ends the exceptions expired at `at` (their findings reopen, one
    /// audit entry each) and, with `cover`, puts findings opened since under
    /// the active ones (the caller knows whether any were: covering costs a
    /// statement per active exception). Returns how many exceptions ended
    /// and how many findings were newly covered.
    pub async fn apply_exceptions(
        &self,
        at: Timestamp,
        cover: bool,
    ) -> Result<(u64, u64), StoreError> {
        type Active = (
            String,
            String,
            String,
            String,
            Option<i64>,
            Option<String>,
            i64,
        );
        let active: Vec<Active> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, tenant_id, kind, advisory, host_seq, host_group, expires_at FROM finding_exceptions \
                 WHERE ended_at IS NULL AND ($1 OR expires_at <= $2)",
            )
            .bind(cover)
            .bind(micros(at))
            .fetch_all(pool)
            .await?
        });
        let (mut ended, mut covered) = (0, 0);
        for (id, tenant, kind, advisory, host_seq, group, expires_at) in active {
            let kind = if kind == "workaround" {
                ExceptionKind::Workaround
            } else {
                ExceptionKind::Accept
            };
            if expires_at <= micros(at) {
                in_tx!(self, tx => {
                    sqlx::query("UPDATE finding_exceptions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
                        .bind(&id)
                        .bind(micros(at))
                        .execute(&mut *tx)
                        .await?;
                    uncover!(tx, &id, at);
                    if let Some(e) = fetch_exception!(&mut *tx, &id) {
                        append_audit!(tx, event(at, &Actor::system(), "exception.expire", &e));
                    }
                });
                ended += 1;
            } else if cover {
                covered += in_tx!(self, tx => {
                    cover!(tx, &id, tenant, kind, &advisory, host_seq, &group, at)
                });
            }
        }
        Ok((ended, covered))
    }
}

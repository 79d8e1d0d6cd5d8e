//! Tenants: the provider and its customers.

use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::id::{TenantId, UserId};
use rivet_core::page::{Page, PageRequest};
use rivet_core::tenant::{Tenant, TenantKind};

use crate::audit::append_audit;
use crate::row::{micros, parse, summary, timestamp, visible};
use crate::{NewUser, Store, StoreError, in_tx, on_pool};

/// Inserts a tenant row in the open transaction `$tx`.
macro_rules! insert_tenant {
    ($tx:ident, $tenant:expr) => {{
        let tenant: &Tenant = $tenant;
        sqlx::query("INSERT INTO tenants (id, name, kind, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(tenant.id.to_string())
            .bind(&tenant.name)
            .bind(tenant.kind.as_str())
            .bind(micros(tenant.created_at))
            .bind(micros(tenant.updated_at))
            .execute(&mut *$tx)
            .await
            .map_err(|e| {
                StoreError::conflict_on_unique(e, || format!("a tenant named {:?} already exists", tenant.name))
            })?;
    }};
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    name: String,
    kind: String,
    created_at: i64,
    updated_at: i64,
}

impl TenantRow {
    fn into_tenant(self) -> Result<Tenant, StoreError> {
        Ok(Tenant {
            id: parse("tenants", &self.id, &self.id)?,
            kind: parse("tenants", &self.id, &self.kind)?,
            created_at: timestamp("tenants", &self.id, self.created_at)?,
            updated_at: timestamp("tenants", &self.id, self.updated_at)?,
            name: self.name,
        })
    }
}

const TENANT_COLUMNS: &str = "id, name, kind, created_at, updated_at";

fn event(
    at: Timestamp,
    actor: &Actor,
    action: &str,
    before: Option<&Tenant>,
    after: Option<&Tenant>,
) -> AuditEvent {
    let tenant = after.or(before);
    AuditEvent {
        at,
        actor: actor.clone(),
        action: action.to_owned(),
        target_kind: "tenant".into(),
        target_id: tenant.map(|t| t.id.to_string()),
        tenant_id: tenant.map(|t| t.id),
        before: before.and_then(summary),
        after: after.and_then(summary),
    }
}

impl Store {
    /// The provider tenant, once bootstrap has created it.
    pub async fn provider_tenant(&self) -> Result<Option<Tenant>, StoreError> {
        let sql =
            "SELECT id, name, kind, created_at, updated_at FROM tenants WHERE kind = 'provider'";
        let row: Option<TenantRow> =
            on_pool!(self, pool => sqlx::query_as(sql).fetch_optional(pool).await?);
        row.map(TenantRow::into_tenant).transpose()
    }

    /// Creates the provider tenant and its first admin user, if there is no
    /// provider yet, in one transaction. Returns whether it did.
    #[tracing::instrument(skip(self, admin))]
    pub async fn bootstrap(
        &self,
        provider_name: &str,
        admin: NewUser,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let tenant = Tenant {
            id: admin.tenant_id,
            name: provider_name.to_owned(),
            kind: TenantKind::Provider,
            created_at: at,
            updated_at: at,
        };
        let actor = Actor::system();
        let created = in_tx!(self, tx => {
            let existing: Option<(String,)> =
                sqlx::query_as("SELECT id FROM tenants WHERE kind = 'provider'")
                    .fetch_optional(&mut *tx)
                    .await?;
            if existing.is_some() {
                false
            } else {
                insert_tenant!(tx, &tenant);
                append_audit!(tx, event(at, &actor, "tenant.create", None, Some(&tenant)));
                let user = crate::users::insert_user!(tx, &admin, at);
                append_audit!(tx, crate::users::event(at, &actor, "user.create", None, Some(&user)));
                true
            }
        });
        Ok(created)
    }

    /// Creates a customer tenant. `grant_to` names a provider user limited
    /// to some customers who gets the new one added to their limits.
    #[tracing::instrument(skip(self, actor))]
    pub async fn create_tenant(
        &self,
        id: TenantId,
        name: &str,
        grant_to: Option<UserId>,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id,
            name: name.to_owned(),
            kind: TenantKind::Customer,
            created_at: at,
            updated_at: at,
        };
        in_tx!(self, tx => {
            insert_tenant!(tx, &tenant);
            append_audit!(tx, event(at, actor, "tenant.create", None, Some(&tenant)));
            if let Some(user) = grant_to {
                sqlx::query("INSERT INTO user_customers (user_id, tenant_id) VALUES ($1, $2)")
                    .bind(user.to_string())
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(tenant)
    }

    /// One tenant.
    pub async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        let sql = "SELECT id, name, kind, created_at, updated_at FROM tenants WHERE id = $1";
        let row: Option<TenantRow> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(id.to_string()).fetch_optional(pool).await?
        });
        row.map(TenantRow::into_tenant).transpose()
    }

    /// The tenants visible to a principal, ordered by id (creation).
    pub async fn list_tenants(
        &self,
        vis: &Visibility,
        page: &PageRequest,
    ) -> Result<Page<Tenant>, StoreError> {
        let after = cursor_id(page)?;
        let (vis_sql, vis_binds) = visible(vis, "id", 3);
        let sql = format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id > $1 AND {vis_sql} ORDER BY id LIMIT $2"
        );
        let rows: Vec<TenantRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, TenantRow>(sqlx::AssertSqlSafe(sql)).bind(&after).bind(page.fetch());
            for t in &vis_binds {
                q = q.bind(t);
            }
            q.fetch_all(pool).await?
        });
        let tenants = rows
            .into_iter()
            .map(TenantRow::into_tenant)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(tenants, page, |t| t.id.to_string()))
    }

    /// Renames a tenant; `None` if it does not exist.
    #[tracing::instrument(skip(self, actor))]
    pub async fn rename_tenant(
        &self,
        id: TenantId,
        name: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<Tenant>, StoreError> {
        let Some(before) = self.get_tenant(id).await? else {
            return Ok(None);
        };
        let after = Tenant {
            name: name.to_owned(),
            updated_at: at,
            ..before.clone()
        };
        in_tx!(self, tx => {
            let done = sqlx::query("UPDATE tenants SET name = $1, updated_at = $2 WHERE id = $3")
                .bind(&after.name)
                .bind(micros(at))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::conflict_on_unique(e, || format!("a tenant named {name:?} already exists")))?;
            if done.rows_affected() == 0 {
                return Ok(None);
            }
            append_audit!(tx, event(at, actor, "tenant.update", Some(&before), Some(&after)));
        });
        Ok(Some(after))
    }

    /// Deletes a customer tenant that has no users left; `false` if it does
    /// not exist. The provider can never be deleted.
    #[tracing::instrument(skip(self, actor))]
    pub async fn delete_tenant(
        &self,
        id: TenantId,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(before) = self.get_tenant(id).await? else {
            return Ok(false);
        };
        if before.kind == TenantKind::Provider {
            return Err(StoreError::Refused(
                "the provider tenant cannot be deleted".into(),
            ));
        }
        in_tx!(self, tx => {
            let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE tenant_id = $1")
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
            if users > 0 {
                return Err(StoreError::Refused(format!(
                    "tenant {:?} still has {users} user(s); delete them first",
                    before.name
                )));
            }
            sqlx::query("DELETE FROM user_customers WHERE tenant_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            append_audit!(tx, event(at, actor, "tenant.delete", Some(&before), None));
        });
        Ok(true)
    }
}

/// The id after which a listing ordered by id continues.
pub(crate) fn cursor_id(page: &PageRequest) -> Result<String, StoreError> {
    match &page.after {
        None => Ok(String::new()),
        Some(c) if uuid_like(c) => Ok(c.clone()),
        Some(c) => Err(StoreError::BadCursor(c.clone())),
    }
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

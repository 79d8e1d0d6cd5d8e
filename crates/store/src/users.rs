//! Users: provider staff and customer users, with their roles and, for
//! provider users, the customers they are limited to.

use std::collections::{BTreeMap, BTreeSet};

use rivet_core::Timestamp;
use rivet_core::access::{CustomerScope, Role, Visibility};
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::id::{TenantId, UserId};
use rivet_core::page::{Page, PageRequest};
use rivet_core::user::User;

use crate::audit::append_audit;
use crate::row::{micros, parse, summary, timestamp, visible};
use crate::tenants::cursor_id;
use crate::{Store, StoreError, in_tx, on_pool};

/// A user to create. The password is already hashed.
#[derive(Clone)]
pub struct NewUser {
    /// The new user's id.
    pub id: UserId,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// The unique login name.
    pub username: String,
    /// A name to show.
    pub display_name: String,
    /// The role.
    pub role: Role,
    /// An argon2id PHC string.
    pub password_hash: String,
    /// For provider users: which customers they may see.
    pub customers: CustomerScope,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// A new display name.
    pub display_name: Option<String>,
    /// A new role.
    pub role: Option<Role>,
    /// New customer limits.
    pub customers: Option<CustomerScope>,
    /// Disable or enable the user.
    pub disabled: Option<bool>,
}

/// Inserts a user (and its customer limits) in the open transaction `$tx`
/// and evaluates to the stored [`User`].
macro_rules! insert_user {
    ($tx:ident, $new:expr, $at:expr) => {{
        let new: &$crate::NewUser = $new;
        let at: rivet_core::Timestamp = $at;
        let all = matches!(new.customers, rivet_core::access::CustomerScope::All);
        sqlx::query(
            "INSERT INTO users (id, tenant_id, username, display_name, role, password_hash, \
             all_customers, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(new.id.to_string())
        .bind(new.tenant_id.to_string())
        .bind(&new.username)
        .bind(&new.display_name)
        .bind(new.role.as_str())
        .bind(&new.password_hash)
        .bind(all)
        .bind(false)
        .bind(at.as_microsecond())
        .bind(at.as_microsecond())
        .execute(&mut *$tx)
        .await
        .map_err(|e| {
            $crate::StoreError::conflict_on_unique(e, || {
                format!("a user named {:?} already exists", new.username)
            })
        })?;
        $crate::users::replace_customers!($tx, new.id, &new.customers);
        rivet_core::user::User {
            id: new.id,
            tenant_id: new.tenant_id,
            username: new.username.clone(),
            display_name: new.display_name.clone(),
            role: new.role,
            customers: new.customers.clone(),
            disabled: false,
            created_at: at,
            updated_at: at,
        }
    }};
}
pub(crate) use insert_user;

/// Replaces a user's customer limits in the open transaction `$tx`.
macro_rules! replace_customers {
    ($tx:ident, $user:expr, $scope:expr) => {{
        let user: rivet_core::id::UserId = $user;
        sqlx::query("DELETE FROM user_customers WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *$tx)
            .await?;
        if let rivet_core::access::CustomerScope::Only(set) = $scope {
            for tenant in set {
                sqlx::query("INSERT INTO user_customers (user_id, tenant_id) VALUES ($1, $2)")
                    .bind(user.to_string())
                    .bind(tenant.to_string())
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    }};
}
pub(crate) use replace_customers;

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    tenant_id: String,
    username: String,
    display_name: String,
    role: String,
    password_hash: String,
    all_customers: bool,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
}

const USER_COLUMNS: &str = "id, tenant_id, username, display_name, role, password_hash, \
    all_customers, disabled, created_at, updated_at";

impl UserRow {
    fn into_user(
        self,
        customers: &BTreeMap<String, BTreeSet<TenantId>>,
    ) -> Result<(User, String), StoreError> {
        let id = &self.id;
        let scope = if self.all_customers {
            CustomerScope::All
        } else {
            CustomerScope::Only(customers.get(id).cloned().unwrap_or_default())
        };
        let user = User {
            id: parse("users", id, id)?,
            tenant_id: parse("users", id, &self.tenant_id)?,
            role: parse("users", id, &self.role)?,
            created_at: timestamp("users", id, self.created_at)?,
            updated_at: timestamp("users", id, self.updated_at)?,
            customers: scope,
            disabled: self.disabled,
            display_name: self.display_name,
            username: self.username,
        };
        Ok((user, self.password_hash))
    }
}

/// The audit event for a change to a user.
pub(crate) fn event(
    at: Timestamp,
    actor: &Actor,
    action: &str,
    before: Option<&User>,
    after: Option<&User>,
) -> AuditEvent {
    let user = after.or(before);
    AuditEvent {
        at,
        actor: actor.clone(),
        action: action.to_owned(),
        target_kind: "user".into(),
        target_id: user.map(|u| u.id.to_string()),
        tenant_id: user.map(|u| u.tenant_id),
        before: before.and_then(summary),
        after: after.and_then(summary),
    }
}

impl Store {
    async fn users_where(
        &self,
        condition: &str,
        binds: &[String],
        limit: Option<i64>,
    ) -> Result<Vec<(User, String)>, StoreError> {
        let limit_sql = if limit.is_some() {
            format!(" LIMIT ${}", binds.len() + 1)
        } else {
            String::new()
        };
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE {condition} ORDER BY id{limit_sql}");
        let rows: Vec<UserRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql));
            for b in binds {
                q = q.bind(b);
            }
            if let Some(limit) = limit {
                q = q.bind(limit);
            }
            q.fetch_all(pool).await?
        });
        // One query for the customer limits of every user on the page.
        let limited: Vec<&str> = rows
            .iter()
            .filter(|r| !r.all_customers)
            .map(|r| r.id.as_str())
            .collect();
        let mut customers: BTreeMap<String, BTreeSet<TenantId>> = BTreeMap::new();
        if !limited.is_empty() {
            let params: Vec<String> = (1..=limited.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT user_id, tenant_id FROM user_customers WHERE user_id IN ({})",
                params.join(", ")
            );
            let pairs: Vec<(String, String)> = on_pool!(self, pool => {
                let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
                for id in &limited {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await?
            });
            for (user, tenant) in pairs {
                let tenant = parse("user_customers", &user, &tenant)?;
                customers.entry(user).or_default().insert(tenant);
            }
        }
        rows.into_iter().map(|r| r.into_user(&customers)).collect()
    }

    /// One user.
    pub async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let mut found = self.users_where("id = $1", &[id.to_string()], None).await?;
        Ok(found.pop().map(|(u, _)| u))
    }

    /// A user and their password hash, by login name.
    pub async fn user_credentials(
        &self,
        username: &str,
    ) -> Result<Option<(User, String)>, StoreError> {
        let mut found = self
            .users_where("username = $1", &[username.to_owned()], None)
            .await?;
        Ok(found.pop())
    }

    /// The users visible to a principal, optionally of one tenant, ordered by id.
    pub async fn list_users(
        &self,
        vis: &Visibility,
        tenant: Option<TenantId>,
        page: &PageRequest,
    ) -> Result<Page<User>, StoreError> {
        let after = cursor_id(page)?;
        let (vis_sql, vis_binds) = visible(vis, "tenant_id", 3);
        let condition = format!("id > $1 AND ($2 = '' OR tenant_id = $2) AND {vis_sql}");
        let mut binds = vec![after, tenant.map(|t| t.to_string()).unwrap_or_default()];
        binds.extend(vis_binds);
        let users = self
            .users_where(&condition, &binds, Some(page.fetch()))
            .await?;
        let users = users.into_iter().map(|(u, _)| u).collect();
        Ok(Page::from_rows(users, page, |u: &User| u.id.to_string()))
    }

    /// Creates a user.
    #[tracing::instrument(skip(self, actor))]
    pub async fn create_user(
        &self,
        new: &NewUser,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<User, StoreError> {
        Ok(in_tx!(self, tx => {
            let user = insert_user!(tx, new, at);
            append_audit!(tx, event(at, actor, "user.create", None, Some(&user)));
            user
        }))
    }

    /// Changes a user; `None` if it does not exist.
    #[tracing::instrument(skip(self, actor))]
    pub async fn update_user(
        &self,
        id: UserId,
        patch: &UserPatch,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        let Some(before) = self.get_user(id).await? else {
            return Ok(None);
        };
        let after = User {
            display_name: patch
                .display_name
                .clone()
                .unwrap_or_else(|| before.display_name.clone()),
            role: patch.role.unwrap_or(before.role),
            customers: patch
                .customers
                .clone()
                .unwrap_or_else(|| before.customers.clone()),
            disabled: patch.disabled.unwrap_or(before.disabled),
            updated_at: at,
            ..before.clone()
        };
        in_tx!(self, tx => {
            let done = sqlx::query(
                "UPDATE users SET display_name = $1, role = $2, all_customers = $3, disabled = $4, \
                 updated_at = $5 WHERE id = $6",
            )
            .bind(&after.display_name)
            .bind(after.role.as_str())
            .bind(matches!(after.customers, CustomerScope::All))
            .bind(after.disabled)
            .bind(micros(at))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(None);
            }
            replace_customers!(tx, id, &after.customers);
            append_audit!(tx, event(at, actor, "user.update", Some(&before), Some(&after)));
        });
        Ok(Some(after))
    }

    /// Replaces a user's password hash; `false` if the user does not exist.
    /// Every token of the user is revoked, so that a stolen token dies with
    /// the password it came from.
    #[tracing::instrument(skip(self, password_hash, actor))]
    pub async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(user) = self.get_user(id).await? else {
            return Ok(false);
        };
        in_tx!(self, tx => {
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(micros(at))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            let revoked = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(micros(at))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let mut e = event(at, actor, "user.set-password", None, None);
            e.target_id = Some(user.id.to_string());
            e.tenant_id = Some(user.tenant_id);
            e.after = Some(serde_json::json!({ "username": user.username, "tokens_revoked": revoked }).to_string());
            append_audit!(tx, e);
        });
        Ok(true)
    }

    /// Deletes a user and their tokens; `false` if the user does not exist.
    #[tracing::instrument(skip(self, actor))]
    pub async fn delete_user(
        &self,
        id: UserId,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(before) = self.get_user(id).await? else {
            return Ok(false);
        };
        in_tx!(self, tx => {
            sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM user_customers WHERE user_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            append_audit!(tx, event(at, actor, "user.delete", Some(&before), None));
        });
        Ok(true)
    }

    /// How many enabled admins the provider has (the last one may not go).
    pub async fn count_enabled_admins(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = $1")
                .bind(false)
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }
}

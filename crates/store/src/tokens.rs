//! API tokens: stored as the hash of their secret, with scopes, an expiry
//! and a revocation time.

use std::collections::BTreeSet;

use rivet_core::Timestamp;
use rivet_core::access::{Permission, Visibility};
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::id::{TenantId, TokenId, UserId};
use rivet_core::page::{Page, PageRequest};
use rivet_core::user::ApiToken;

use crate::audit::append_audit;
use crate::row::{micros, opt_timestamp, parse, summary, timestamp, visible};
use crate::tenants::cursor_id;
use crate::{Store, StoreError, in_tx, on_pool};

/// A token to create.
#[derive(Clone)]
pub struct NewToken {
    /// The token's id.
    pub id: TokenId,
    /// The user it acts for.
    pub user_id: UserId,
    /// That user's tenant.
    pub tenant_id: TenantId,
    /// What it is for.
    pub name: String,
    /// SHA-256 of the secret.
    pub secret_hash: String,
    /// What it may do.
    pub scopes: BTreeSet<Permission>,
    /// When it stops working.
    pub expires_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: String,
    user_id: String,
    tenant_id: String,
    name: String,
    secret_hash: String,
    scopes: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, user_id, tenant_id, name, secret_hash, scopes, created_at, \
    expires_at, revoked_at, last_used_at";

impl TokenRow {
    fn into_token(self) -> Result<(ApiToken, String), StoreError> {
        let id = &self.id;
        let scopes = self
            .scopes
            .split_whitespace()
            .map(|s| parse::<Permission>("api_tokens", id, s))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let token = ApiToken {
            id: parse("api_tokens", id, id)?,
            user_id: parse("api_tokens", id, &self.user_id)?,
            tenant_id: parse("api_tokens", id, &self.tenant_id)?,
            created_at: timestamp("api_tokens", id, self.created_at)?,
            expires_at: timestamp("api_tokens", id, self.expires_at)?,
            revoked_at: opt_timestamp("api_tokens", id, self.revoked_at)?,
            last_used_at: opt_timestamp("api_tokens", id, self.last_used_at)?,
            name: self.name,
            scopes,
        };
        Ok((token, self.secret_hash))
    }
}

fn scopes_text(scopes: &BTreeSet<Permission>) -> String {
    scopes
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn event(
    at: Timestamp,
    actor: &Actor,
    action: &str,
    before: Option<&ApiToken>,
    after: Option<&ApiToken>,
) -> AuditEvent {
    let token = after.or(before);
    AuditEvent {
        at,
        actor: actor.clone(),
        action: action.to_owned(),
        target_kind: "token".into(),
        target_id: token.map(|t| t.id.to_string()),
        tenant_id: token.map(|t| t.tenant_id),
        before: before.and_then(summary),
        after: after.and_then(summary),
    }
}

/// Which tokens a listing shows.
#[derive(Debug, Clone)]
pub enum TokenOwner {
    /// Only this user's tokens.
    User(UserId),
    /// Every token of the visible tenants.
    Visible(Visibility),
}

impl Store {
    /// Creates a token.
    #[tracing::instrument(skip(self, new, actor), fields(token = %new.id))]
    pub async fn create_token(
        &self,
        new: &NewToken,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<ApiToken, StoreError> {
        let token = ApiToken {
            id: new.id,
            user_id: new.user_id,
            tenant_id: new.tenant_id,
            name: new.name.clone(),
            scopes: new.scopes.clone(),
            created_at: at,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO api_tokens (id, user_id, tenant_id, name, secret_hash, scopes, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(new.id.to_string())
            .bind(new.user_id.to_string())
            .bind(new.tenant_id.to_string())
            .bind(&new.name)
            .bind(&new.secret_hash)
            .bind(scopes_text(&new.scopes))
            .bind(micros(at))
            .bind(micros(new.expires_at))
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, event(at, actor, "token.create", None, Some(&token)));
        });
        Ok(token)
    }

    /// A token and the hash of its secret.
    pub async fn get_token(&self, id: TokenId) -> Result<Option<(ApiToken, String)>, StoreError> {
        let sql = "SELECT id, user_id, tenant_id, name, secret_hash, scopes, created_at, expires_at, \
                   revoked_at, last_used_at FROM api_tokens WHERE id = $1";
        let row: Option<TokenRow> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(id.to_string()).fetch_optional(pool).await?
        });
        row.map(TokenRow::into_token).transpose()
    }

    /// Tokens, ordered by id.
    pub async fn list_tokens(
        &self,
        owner: &TokenOwner,
        page: &PageRequest,
    ) -> Result<Page<ApiToken>, StoreError> {
        let after = cursor_id(page)?;
        let (condition, binds) = match owner {
            TokenOwner::User(user) => ("user_id = $3".to_owned(), vec![user.to_string()]),
            TokenOwner::Visible(vis) => visible(vis, "tenant_id", 3),
        };
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id > $1 AND {condition} ORDER BY id LIMIT $2"
        );
        let rows: Vec<TokenRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(sql)).bind(&after).bind(page.fetch());
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?
        });
        let tokens = rows
            .into_iter()
            .map(|r| r.into_token().map(|(t, _)| t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(tokens, page, |t| t.id.to_string()))
    }

    /// Revokes a token; `None` if it does not exist. Revoking a revoked
    /// token changes nothing and records nothing.
    #[tracing::instrument(skip(self, actor))]
    pub async fn revoke_token(
        &self,
        id: TokenId,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<ApiToken>, StoreError> {
        let Some((before, _)) = self.get_token(id).await? else {
            return Ok(None);
        };
        if before.revoked_at.is_some() {
            return Ok(Some(before));
        }
        let after = ApiToken {
            revoked_at: Some(at),
            ..before.clone()
        };
        in_tx!(self, tx => {
            let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(micros(at))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 1 {
                append_audit!(tx, event(at, actor, "token.revoke", Some(&before), Some(&after)));
            }
        });
        Ok(Some(after))
    }

    /// Records that a token was used. Bookkeeping, not a change: not audited,
    /// and written at most once a minute per token to spare the database.
    pub async fn touch_token(&self, id: TokenId, at: Timestamp) -> Result<(), StoreError> {
        let stale_before = micros(at) - 60_000_000;
        in_tx!(self, tx => {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
                 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(micros(at))
            .bind(id.to_string())
            .bind(stale_before)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }
}

//! `/tokens`: API tokens. Everyone manages their own; `token:manage` reads
//! and revokes the tokens of every visible tenant.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use rivet_core::access::{Permission, Principal};
use rivet_core::id::TokenId;
use rivet_core::user::ApiToken;
use rivet_core::validate;
use rivet_store::TokenOwner;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{IssuedToken, issue_token};
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor};

/// Lifetime of a token when none is asked for, in days.
const DEFAULT_TOKEN_DAYS: u32 = 90;

/// A new token for the caller.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What the token is for.
    pub name: String,
    /// What it may do; default: everything the caller may. Never more.
    pub scopes: Option<BTreeSet<Permission>>,
    /// Lifetime in days (default 90, at most `auth.max_token_days`).
    pub expires_in_days: Option<u32>,
}

/// Tokens: the caller's own, or with `token:manage` every visible one.
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<ApiToken>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<ApiToken>>, ApiError> {
    let owner = if caller.may(Permission::TokenManage) {
        TokenOwner::Visible(caller.visibility())
    } else {
        TokenOwner::User(caller.user_id)
    };
    Ok(Json(
        api.store.list_tokens(&owner, &q.request()?).await?.into(),
    ))
}

/// Creates a token for the caller. Its scopes cannot exceed the caller's
/// own permissions, so a narrow token cannot mint a wider one.
#[utoipa::path(post, path = "/tokens", tag = "tokens",
    security(("bearer" = [])),
    request_body = NewTokenRequest,
    responses((status = 201, body = IssuedToken), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<NewTokenRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    validate::display_name("name", &req.name, 100)?;
    let held = caller.effective_permissions();
    let scopes = req.scopes.unwrap_or_else(|| held.clone());
    if let Some(extra) = scopes.difference(&held).next() {
        return Err(ApiError::forbidden(format!(
            "scopes: you do not hold {extra}, so no token of yours can"
        )));
    }
    let max = api.config.auth.max_token_days;
    let days = req.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS.min(max));
    if days == 0 || days > max {
        return Err(ApiError::invalid(
            "expires_in_days",
            format!("must be between 1 and {max}"),
        ));
    }
    let user = api
        .store
        .get_user(caller.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let expires_at = api.clock.now() + jiff::SignedDuration::from_hours(24 * i64::from(days));
    let issued = issue_token(&api, &user, req.name, scopes, expires_at, &actor(&caller)).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Finds a token the caller may manage: its own, or any visible one with
/// `token:manage`.
async fn find(api: &Api, caller: &Principal, id: &str) -> Result<ApiToken, ApiError> {
    let id: TokenId = id
        .parse()
        .map_err(|e: rivet_core::id::InvalidId| ApiError::bad_request(e.to_string()))?;
    let (token, _) = api
        .store
        .get_token(id)
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    let own = token.user_id == caller.user_id;
    let managed = caller.may(Permission::TokenManage) && caller.can_see(token.tenant_id);
    if own || managed {
        Ok(token)
    } else {
        Err(ApiError::not_found("token"))
    }
}

/// One token.
#[utoipa::path(get, path = "/tokens/{id}", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, body = ApiToken), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    Ok(Json(find(&api, &caller, &id).await?))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, body = ApiToken), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    let token = find(&api, &caller, &id).await?;
    let revoked = api
        .store
        .revoke_token(token.id, &actor(&caller), api.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    Ok(Json(revoked))
}

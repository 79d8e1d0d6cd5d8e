//! `/users`: provider staff and customer users.

use axum::extract::State;
use axum::http::StatusCode;
use rivet_core::access::{CustomerScope, Permission, Principal, Role};
use rivet_core::id::{TenantId, UserId};
use rivet_core::tenant::TenantKind;
use rivet_core::user::User;
use rivet_core::validate;
use rivet_store::{NewUser, UserPatch};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, actor, random, require, visible};

/// `?tenant=&limit=&after=`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only users of this tenant.
    pub tenant: Option<String>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// The tenant the user belongs to.
    pub tenant_id: TenantId,
    /// The login name: 1 to 64 of a-z, 0-9, '.', '_', '-'.
    pub username: String,
    /// A name to show (default: the username).
    pub display_name: Option<String>,
    /// A provider role for provider users, a customer role for customer users.
    pub role: Role,
    /// The initial password (at least 12 characters).
    pub password: String,
    /// Provider users only: the customers they may see (default: all).
    pub customers: Option<CustomerScope>,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// A new display name.
    pub display_name: Option<String>,
    /// A new role (of the user's tenant's kind).
    pub role: Option<Role>,
    /// New customer limits (provider users only).
    pub customers: Option<CustomerScope>,
    /// Disable (true) or enable (false) the user.
    pub disabled: Option<bool>,
}

/// A password set by an administrator.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The new password (at least 12 characters).
    pub password: String,
}

fn parse_id(id: &str) -> Result<UserId, ApiError> {
    id.parse()
        .map_err(|e: rivet_core::id::InvalidId| ApiError::bad_request(e.to_string()))
}

/// The users the caller may see.
#[utoipa::path(get, path = "/users", tag = "users",
    security(("bearer" = ["user:read"])),
    params(UserQuery),
    responses((status = 200, body = Page<User>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<UserQuery>,
) -> Result<Json<Page<User>>, ApiError> {
    require(&caller, Permission::UserRead)?;
    let tenant = q
        .tenant
        .as_deref()
        .map(super::tenants::parse_id)
        .transpose()?;
    let page = rivet_core::page::PageRequest::new(q.limit, q.after)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let users = api
        .store
        .list_users(&caller.visibility(), tenant, &page)
        .await?;
    Ok(Json(users.into()))
}

/// Checks a role and customer limits against the user's tenant and the
/// caller's own limits: a caller limited to some customers can grant no
/// more than it has.
async fn check_grant(
    api: &Api,
    caller: &Principal,
    kind: TenantKind,
    role: Role,
    customers: Option<&CustomerScope>,
) -> Result<(), ApiError> {
    if role.tenant_kind() != kind {
        return Err(ApiError::invalid(
            "role",
            format!(
                "{role} is a {} role, but the user belongs to a {kind} tenant",
                role.tenant_kind()
            ),
        ));
    }
    let Some(scope) = customers else {
        return Ok(());
    };
    if kind == TenantKind::Customer {
        return Err(ApiError::invalid(
            "customers",
            "only provider users can be limited to customers",
        ));
    }
    if let CustomerScope::Only(set) = scope {
        for id in set {
            let tenant = if caller.can_see(*id) {
                api.store.get_tenant(*id).await?
            } else {
                None
            };
            if !tenant.is_some_and(|t| t.kind == TenantKind::Customer) {
                return Err(ApiError::invalid(
                    "customers",
                    format!("{id} is not a customer tenant"),
                ));
            }
        }
    }
    if !within(scope, &caller.customers) {
        return Err(ApiError::forbidden(
            "you are limited to some customers and cannot grant access to others",
        ));
    }
    Ok(())
}

/// Whether `scope` grants no more than `limit`.
fn within(scope: &CustomerScope, limit: &CustomerScope) -> bool {
    match (scope, limit) {
        (_, CustomerScope::All) => true,
        (CustomerScope::All, CustomerScope::Only(_)) => false,
        (CustomerScope::Only(s), CustomerScope::Only(l)) => s.is_subset(l),
    }
}

/// Creates a user.
#[utoipa::path(post, path = "/users", tag = "users",
    security(("bearer" = ["user:write"])),
    request_body = NewUserRequest,
    responses((status = 201, body = User), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<NewUserRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    require(&caller, Permission::UserWrite)?;
    visible(&caller, req.tenant_id, "tenant")?;
    let tenant = api
        .store
        .get_tenant(req.tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    validate::username(&req.username)?;
    let display_name = req
        .display_name
        .clone()
        .unwrap_or_else(|| req.username.clone());
    validate::display_name("display_name", &display_name, 200)?;
    validate::password(&req.password, &req.username)?;
    // A provider user limited to some customers creates users limited alike.
    let customers = match (&req.customers, tenant.kind) {
        (Some(c), _) => Some(c.clone()),
        (None, TenantKind::Provider) => Some(caller.customers.clone()),
        (None, TenantKind::Customer) => None,
    };
    check_grant(&api, &caller, tenant.kind, req.role, customers.as_ref()).await?;
    let password = req.password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::password::hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let now = api.clock.now();
    let new = NewUser {
        id: UserId::new(now, random()),
        tenant_id: tenant.id,
        username: req.username,
        display_name,
        role: req.role,
        password_hash: hash,
        customers: customers.unwrap_or(CustomerScope::All),
    };
    let user = api.store.create_user(&new, &actor(&caller), now).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Finds a user the caller may see.
async fn find(api: &Api, caller: &Principal, id: &str) -> Result<User, ApiError> {
    let id = parse_id(id)?;
    let user = api
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    visible(caller, user.tenant_id, "user")?;
    Ok(user)
}

/// Fails unless the caller may manage `target`: a caller limited to some
/// customers may not touch a provider user who sees more than it does (a
/// customer's user sees only its own tenant, which the caller can see).
fn may_manage(caller: &Principal, target: &User) -> Result<(), ApiError> {
    let provider_user =
        target.tenant_id == caller.tenant_id && caller.tenant_kind == TenantKind::Provider;
    if !provider_user || within(&target.customers, &caller.customers) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "this user sees customers you are not allowed to see",
        ))
    }
}

/// Refuses to leave the provider without an enabled admin.
async fn keep_an_admin(api: &Api, before: &User, still_admin: bool) -> Result<(), ApiError> {
    if before.role == Role::Admin
        && !before.disabled
        && !still_admin
        && api.store.count_enabled_admins().await? <= 1
    {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "this is the last enabled admin",
        ));
    }
    Ok(())
}

/// One user.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    security(("bearer" = ["user:read"])),
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    require(&caller, Permission::UserRead)?;
    Ok(Json(find(&api, &caller, &id).await?))
}

/// Changes a user's display name, role, customer limits or state.
#[utoipa::path(patch, path = "/users/{id}", tag = "users",
    security(("bearer" = ["user:write"])),
    params(("id" = String, Path, description = "User id")),
    request_body = UserUpdate,
    responses((status = 200, body = User), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(req): Json<UserUpdate>,
) -> Result<Json<User>, ApiError> {
    require(&caller, Permission::UserWrite)?;
    let before = find(&api, &caller, &id).await?;
    may_manage(&caller, &before)?;
    if let Some(name) = &req.display_name {
        validate::display_name("display_name", name, 200)?;
    }
    let tenant = api
        .store
        .get_tenant(before.tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let role = req.role.unwrap_or(before.role);
    check_grant(&api, &caller, tenant.kind, role, req.customers.as_ref()).await?;
    keep_an_admin(
        &api,
        &before,
        role == Role::Admin && !req.disabled.unwrap_or(before.disabled),
    )
    .await?;
    let patch = UserPatch {
        display_name: req.display_name,
        role: req.role,
        customers: req.customers,
        disabled: req.disabled,
    };
    let user = api
        .store
        .update_user(before.id, &patch, &actor(&caller), api.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(user))
}

/// Deletes a user and their tokens.
#[utoipa::path(delete, path = "/users/{id}", tag = "users",
    security(("bearer" = ["user:write"])),
    params(("id" = String, Path, description = "User id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Permission::UserWrite)?;
    let user = find(&api, &caller, &id).await?;
    may_manage(&caller, &user)?;
    if user.id == caller.user_id {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "you cannot delete yourself",
        ));
    }
    keep_an_admin(&api, &user, false).await?;
    if !api
        .store
        .delete_user(user.id, &actor(&caller), api.clock.now())
        .await?
    {
        return Err(ApiError::not_found("user"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a user's password and revokes all of their tokens.
#[utoipa::path(put, path = "/users/{id}/password", tag = "users",
    security(("bearer" = ["user:write"])),
    params(("id" = String, Path, description = "User id")),
    request_body = PasswordReset,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reset_password(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(req): Json<PasswordReset>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Permission::UserWrite)?;
    let user = find(&api, &caller, &id).await?;
    may_manage(&caller, &user)?;
    validate::password(&req.password, &user.username)?;
    let hash = tokio::task::spawn_blocking(move || crate::password::hash(&req.password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    api.store
        .set_password(user.id, &hash, &actor(&caller), api.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use rivet_core::Timestamp;

    #[test]
    fn grants_stay_within_limits() {
        let at = Timestamp::from_second(1).unwrap();
        let a = TenantId::new(at, [1; 10]);
        let b = TenantId::new(at, [2; 10]);
        let only =
            |ids: &[TenantId]| CustomerScope::Only(ids.iter().copied().collect::<BTreeSet<_>>());
        assert!(within(&CustomerScope::All, &CustomerScope::All));
        assert!(within(&only(&[a]), &CustomerScope::All));
        assert!(!within(&CustomerScope::All, &only(&[a])));
        assert!(within(&only(&[a]), &only(&[a, b])));
        assert!(!within(&only(&[a, b]), &only(&[a])));
    }
}

//! `/tenants`: the provider and its customers.

use axum::extract::State;
use axum::http::StatusCode;
use rivet_core::access::{CustomerScope, Permission};
use rivet_core::id::TenantId;
use rivet_core::tenant::Tenant;
use rivet_core::validate;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor, random, require, visible};

/// A new customer tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// A unique name, 1 to 100 characters.
    pub name: String,
}

/// Changes to a tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    /// A new unique name.
    pub name: String,
}

pub(crate) fn parse_id(id: &str) -> Result<TenantId, ApiError> {
    id.parse()
        .map_err(|e: rivet_core::id::InvalidId| ApiError::bad_request(e.to_string()))
}

/// The tenants the caller may see.
#[utoipa::path(get, path = "/tenants", tag = "tenants",
    security(("bearer" = ["tenant:read"])),
    params(PageQuery),
    responses((status = 200, body = Page<Tenant>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Tenant>>, ApiError> {
    require(&caller, Permission::TenantRead)?;
    let page = api
        .store
        .list_tenants(&caller.visibility(), &q.request()?)
        .await?;
    Ok(Json(page.into()))
}

/// Creates a customer tenant. A provider user limited to some customers
/// gets the new customer added to their limits.
#[utoipa::path(post, path = "/tenants", tag = "tenants",
    security(("bearer" = ["tenant:write"])),
    request_body = NewTenant,
    responses((status = 201, body = Tenant), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    require(&caller, Permission::TenantWrite)?;
    validate::display_name("name", &req.name, 100)?;
    let now = api.clock.now();
    let grant_to = match caller.customers {
        CustomerScope::All => None,
        CustomerScope::Only(_) => Some(caller.user_id),
    };
    let tenant = api
        .store
        .create_tenant(
            TenantId::new(now, random()),
            &req.name,
            grant_to,
            &actor(&caller),
            now,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

async fn find(
    api: &Api,
    caller: &rivet_core::access::Principal,
    id: &str,
) -> Result<Tenant, ApiError> {
    let id = parse_id(id)?;
    visible(caller, id, "tenant")?;
    api.store
        .get_tenant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))
}

/// One tenant.
#[utoipa::path(get, path = "/tenants/{id}", tag = "tenants",
    security(("bearer" = ["tenant:read"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Tenant), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    require(&caller, Permission::TenantRead)?;
    Ok(Json(find(&api, &caller, &id).await?))
}

/// Renames a tenant.
#[utoipa::path(patch, path = "/tenants/{id}", tag = "tenants",
    security(("bearer" = ["tenant:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = TenantUpdate,
    responses((status = 200, body = Tenant), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(req): Json<TenantUpdate>,
) -> Result<Json<Tenant>, ApiError> {
    require(&caller, Permission::TenantWrite)?;
    let tenant = find(&api, &caller, &id).await?;
    validate::display_name("name", &req.name, 100)?;
    let updated = api
        .store
        .rename_tenant(tenant.id, &req.name, &actor(&caller), api.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(updated))
}

/// Deletes a customer tenant that has no users left.
#[utoipa::path(delete, path = "/tenants/{id}", tag = "tenants",
    security(("bearer" = ["tenant:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Permission::TenantWrite)?;
    let tenant = find(&api, &caller, &id).await?;
    if !api
        .store
        .delete_tenant(tenant.id, &actor(&caller), api.clock.now())
        .await?
    {
        return Err(ApiError::not_found("tenant"));
    }
    Ok(StatusCode::NO_CONTENT)
}

//! `/exceptions` (ASM-6): accept the risk of an advisory, or record a
//! workaround, for one host, a group of hosts or a whole tenant, with
//! reason, approver and expiry; revoke one. Expired ones end by themselves
//! in the assessment's next round and their findings reopen.

use axum::extract::State;
use rivet_core::Timestamp;
use rivet_core::access::{Permission, Principal};
use rivet_core::id::{HostId, TenantId};
use rivet_store::{ExceptionKind, FindingException, NewException};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor, require, visible};

/// The longest an exception may run: a year, then it is decided again.
const MAX_EXCEPTION_DAYS: i64 = 366;
/// Longest reason.
const MAX_REASON: usize = 4000;

/// `POST /exceptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateException {
    /// The tenant whose findings it covers.
    #[schema(value_type = String)]
    pub tenant: TenantId,
    /// `accept` (the findings become accepted) or `workaround` (mitigated).
    pub kind: ExceptionKind,
    /// The advisory's id or one of its aliases (a CVE).
    pub advisory: String,
    /// One host of the tenant…
    #[schema(value_type = Option<String>)]
    pub host: Option<HostId>,
    /// …or one group of its hosts; every host of the tenant when neither.
    pub group: Option<String>,
    /// Why the risk is accepted, or what the workaround is.
    pub reason: String,
    /// Who approved it; the caller when absent.
    pub approver: Option<String>,
    /// When it ends (RFC 3339), at most a year ahead.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// Records an exception; the open findings it covers are accepted or
/// mitigated until it expires.
#[utoipa::path(post, path = "/exceptions", tag = "findings",
    security(("bearer" = ["host:write"])),
    request_body = CreateException,
    responses((status = 201, body = FindingException), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<CreateException>,
) -> Result<(axum::http::StatusCode, Json<FindingException>), ApiError> {
    require(&caller, Permission::HostWrite)?;
    visible(&caller, req.tenant, "tenant")?;
    api.store
        .get_tenant(req.tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let now = api.clock.now();
    rivet_core::validate::display_name("advisory", &req.advisory, 200)?;
    if req.reason.trim().is_empty() || req.reason.len() > MAX_REASON {
        return Err(ApiError::invalid(
            "reason",
            format!("must say why, in 1 to {MAX_REASON} bytes"),
        ));
    }
    let approver = req
        .approver
        .clone()
        .unwrap_or_else(|| caller.username.clone());
    rivet_core::validate::display_name("approver", &approver, 200)?;
    if let Some(g) = &req.group {
        rivet_core::validate::display_name("group", g, 200)?;
    }
    if req.host.is_some() && req.group.is_some() {
        return Err(ApiError::invalid(
            "group",
            "name a host or a group, not both",
        ));
    }
    let latest = now + jiff::SignedDuration::from_hours(24 * MAX_EXCEPTION_DAYS);
    if req.expires_at <= now || req.expires_at > latest {
        return Err(ApiError::invalid(
            "expires_at",
            format!("must be after now and at most {MAX_EXCEPTION_DAYS} days ahead"),
        ));
    }
    let new = NewException {
        // Time first, so that ids sort by creation (listings are newest
        // first by id).
        id: format!(
            "exc-{:013x}-{}",
            now.as_millisecond().max(0),
            hex::encode(super::random::<6>())
        ),
        tenant_id: req.tenant,
        kind: req.kind,
        advisory: req.advisory.trim().to_owned(),
        host: req.host,
        group: req.group.clone(),
        reason: req.reason.trim().to_owned(),
        approver,
        expires_at: req.expires_at,
    };
    let created = api
        .store
        .create_exception(&new, &actor(&caller), now)
        .await?
        .ok_or_else(|| ApiError::not_found("host"))?;
    Ok((axum::http::StatusCode::CREATED, Json(created)))
}

/// Which exceptions.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExceptionQuery {
    /// Of this tenant.
    pub tenant: Option<TenantId>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// Exceptions of the visible tenants, newest first.
#[utoipa::path(get, path = "/exceptions", tag = "findings",
    security(("bearer" = ["host:read"])),
    params(ExceptionQuery),
    responses((status = 200, body = Page<FindingException>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<ExceptionQuery>,
) -> Result<Json<Page<FindingException>>, ApiError> {
    require(&caller, Permission::HostRead)?;
    let page = PageQuery {
        limit: q.limit,
        after: q.after.clone(),
    }
    .request()?;
    Ok(Json(
        api.store
            .list_exceptions(&caller.visibility(), q.tenant, &page)
            .await?
            .into(),
    ))
}

/// One exception.
#[utoipa::path(get, path = "/exceptions/{id}", tag = "findings",
    security(("bearer" = ["host:read"])),
    params(("id" = String, Path, description = "Exception id")),
    responses((status = 200, body = FindingException), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<FindingException>, ApiError> {
    require(&caller, Permission::HostRead)?;
    Ok(Json(find(&api, &caller, &id).await?))
}

/// An exception the caller may see, or 404.
async fn find(api: &Api, caller: &Principal, id: &str) -> Result<FindingException, ApiError> {
    let e = api
        .store
        .get_exception(id)
        .await?
        .ok_or_else(|| ApiError::not_found("exception"))?;
    visible(caller, e.tenant_id, "exception")?;
    Ok(e)
}

/// Revokes an exception: its findings reopen.
#[utoipa::path(post, path = "/exceptions/{id}/revoke", tag = "findings",
    security(("bearer" = ["host:write"])),
    params(("id" = String, Path, description = "Exception id")),
    responses((status = 200, body = FindingException), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<FindingException>, ApiError> {
    require(&caller, Permission::HostWrite)?;
    find(&api, &caller, &id).await?;
    let e = api
        .store
        .revoke_exception(&id, &actor(&caller), api.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("exception"))?;
    Ok(Json(e))
}

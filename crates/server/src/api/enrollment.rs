//! `/enrollment-tokens` (INV-1): single-use, expiring tokens that an agent
//! trades for its own identity. The secret is shown once, with the exact
//! `rivet-agent enroll` command line including the CA fingerprint to pin.

use axum::extract::State;
use axum::http::StatusCode;
use rivet_core::access::Permission;
use rivet_core::agent::EnrollmentSecret;
use rivet_core::host::HostAttributes;
use rivet_core::id::{EnrollmentId, TenantId};
use rivet_store::{EnrollmentToken, NewEnrollment};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor, random, require, visible};

/// A new enrollment token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentRequest {
    /// The tenant enrolled hosts join.
    pub tenant: TenantId,
    /// Lifetime in seconds (default `agents.enrollment_token_hours`, at
    /// most `agents.max_enrollment_token_hours`).
    pub expires_in_secs: Option<u64>,
    /// The attributes enrolled hosts start with (ring, groups, tags …).
    #[serde(default)]
    pub attributes: HostAttributes,
    /// What the token is for.
    #[serde(default)]
    pub note: String,
}

/// A created enrollment token: its secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct IssuedEnrollment {
    /// The record.
    pub token: EnrollmentToken,
    /// The secret to give `rivet-agent enroll --token`.
    pub secret: String,
    /// The SHA-256 fingerprint of the CA agents must pin (absent when the
    /// server does not terminate TLS itself).
    pub ca_fingerprint: Option<String>,
    /// The command to run on the host.
    pub enroll_command: String,
}

/// `?tenant=` and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EnrollmentQuery {
    /// Only this tenant's tokens.
    pub tenant: Option<TenantId>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// Creates a single-use enrollment token for a tenant.
#[utoipa::path(post, path = "/enrollment-tokens", tag = "hosts",
    security(("bearer" = ["host:enroll"])),
    request_body = NewEnrollmentRequest,
    responses((status = 201, body = IssuedEnrollment), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<NewEnrollmentRequest>,
) -> Result<(StatusCode, Json<IssuedEnrollment>), ApiError> {
    require(&caller, Permission::HostEnroll)?;
    visible(&caller, req.tenant, "tenant")?;
    api.store
        .get_tenant(req.tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    req.attributes.validate()?;
    if req.note.chars().count() > 200 || req.note.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "note",
            "at most 200 characters without control characters",
        ));
    }
    let agents = &api.config.agents;
    let max = u64::from(agents.max_enrollment_token_hours) * 3600;
    let secs = req
        .expires_in_secs
        .unwrap_or(u64::from(agents.enrollment_token_hours) * 3600);
    if secs == 0 || secs > max {
        return Err(ApiError::invalid(
            "expires_in_secs",
            format!("must be between 1 and {max}"),
        ));
    }
    let now = api.clock.now();
    let id = EnrollmentId::new(now, random());
    let secret = EnrollmentSecret::new(id, random());
    let new = NewEnrollment {
        id,
        tenant_id: req.tenant,
        secret_hash: secret.hash(),
        attributes: req.attributes,
        note: req.note,
        expires_at: now + jiff::SignedDuration::from_secs(secs as i64),
    };
    let token = api
        .store
        .create_enrollment(&new, &actor(&caller), now)
        .await?;
    let ca_fingerprint = api.tls.as_ref().map(|t| t.ca_fingerprint.clone());
    let exposed = secret.expose();
    let mut enroll_command = format!(
        "rivet-agent enroll --server {} --token {exposed}",
        api.config.agent_url()
    );
    if let Some(fp) = &ca_fingerprint {
        enroll_command.push_str(&format!(" --ca-fingerprint {fp}"));
    }
    Ok((
        StatusCode::CREATED,
        Json(IssuedEnrollment {
            token,
            secret: exposed,
            ca_fingerprint,
            enroll_command,
        }),
    ))
}

/// Enrollment tokens of the visible tenants.
#[utoipa::path(get, path = "/enrollment-tokens", tag = "hosts",
    security(("bearer" = ["host:enroll"])),
    params(EnrollmentQuery),
    responses((status = 200, body = Page<EnrollmentToken>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<EnrollmentQuery>,
) -> Result<Json<Page<EnrollmentToken>>, ApiError> {
    require(&caller, Permission::HostEnroll)?;
    let page = PageQuery {
        limit: q.limit,
        after: q.after,
    }
    .request()?;
    Ok(Json(
        api.store
            .list_enrollments(&caller.visibility(), q.tenant, &page)
            .await?
            .into(),
    ))
}

/// Revokes an unused enrollment token.
#[utoipa::path(post, path = "/enrollment-tokens/{id}/revoke", tag = "hosts",
    security(("bearer" = ["host:enroll"])),
    params(("id" = String, Path, description = "Enrollment token id")),
    responses((status = 200, body = EnrollmentToken), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<EnrollmentId>,
) -> Result<Json<EnrollmentToken>, ApiError> {
    require(&caller, Permission::HostEnroll)?;
    let (token, _) = api
        .store
        .get_enrollment(id)
        .await?
        .ok_or_else(|| ApiError::not_found("enrollment token"))?;
    visible(&caller, token.tenant_id, "enrollment token")?;
    let now = api.clock.now();
    let revoked = api
        .store
        .revoke_enrollment(id, &actor(&caller), now)
        .await?
        .ok_or_else(|| ApiError::not_found("enrollment token"))?;
    Ok(Json(revoked))
}

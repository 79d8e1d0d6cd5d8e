//! `/audit`: reading and verifying the audit log.

use axum::extract::State;
use rivet_core::access::Permission;
use rivet_core::audit::{AuditEntry, ChainBreak};
use rivet_store::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Query};
use super::{Api, Page, require};

/// `?action=&target=&limit=&after=`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only actions starting with this, e.g. `user.`.
    pub action: Option<String>,
    /// Only entries about this record id.
    pub target: Option<String>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// Audit entries of the tenants the caller may see, oldest first.
#[utoipa::path(get, path = "/audit", tag = "audit",
    security(("bearer" = ["audit:read"])),
    params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    require(&caller, Permission::AuditRead)?;
    for (field, value) in [("action", &q.action), ("target", &q.target)] {
        if value.as_ref().is_some_and(|v| v.len() > 200) {
            return Err(ApiError::bad_request(format!(
                "{field}: at most 200 characters"
            )));
        }
    }
    let page = rivet_core::page::PageRequest::new(q.limit, q.after)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let filter = AuditFilter {
        action_prefix: q.action,
        target_id: q.target,
    };
    Ok(Json(
        api.store
            .list_audit(&caller.visibility(), &filter, &page)
            .await?
            .into(),
    ))
}

/// The result of verifying the chain.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    /// Whether every link holds.
    pub intact: bool,
    /// How many entries were checked (up to the break).
    pub entries: i64,
    /// The first broken link, if any.
    pub broken: Option<ChainBreak>,
}

/// Verifies the whole audit chain and names the first broken link.
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    security(("bearer" = ["audit:verify"])),
    responses((status = 200, body = Verification), (status = 403, body = ErrorBody)))]
pub async fn verify(
    State(api): State<Api>,
    Caller(caller): Caller,
) -> Result<Json<Verification>, ApiError> {
    require(&caller, Permission::AuditVerify)?;
    Ok(Json(match api.store.verify_audit().await? {
        Ok(entries) => Verification {
            intact: true,
            entries,
            broken: None,
        },
        Err(broken) => Verification {
            intact: false,
            entries: broken.seq - 1,
            broken: Some(broken),
        },
    }))
}

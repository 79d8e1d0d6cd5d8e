//! `/findings`: what the assessment found on the hosts (ASM-2 to ASM-5),
//! filtered by tenant, host, advisory, severity, KEV, state and deadline;
//! the exposure summary; the tenants' deadline policies; the assessment's
//! status, and a round on demand.

use axum::extract::State;
use rivet_core::access::{Permission, Principal};
use rivet_core::finding::{DeadlinePolicy, FindingState, Level};
use rivet_core::id::{HostId, TenantId};
use rivet_store::{ExposureSummary, Finding, FindingFilter};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor, require, visible};
use crate::assessor::AssessmentStatus;

/// Which findings; every condition given must hold.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingQuery {
    /// Of this tenant.
    pub tenant: Option<TenantId>,
    /// Of this host.
    pub host: Option<HostId>,
    /// Of this advisory: its id or one of its aliases (a CVE).
    pub advisory: Option<String>,
    /// Of these severities, comma-separated (`critical,high`).
    pub severity: Option<String>,
    /// Known exploited (true) or not (false).
    pub kev: Option<bool>,
    /// In these states, comma-separated (`open,accepted`); all when absent.
    pub state: Option<String>,
    /// Only open findings past their deadline.
    pub overdue: Option<bool>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// Parses a comma-separated list with `parse`, naming the bad item.
fn list_of<T>(
    field: &str,
    text: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Vec<T>, ApiError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            parse(item).ok_or_else(|| {
                ApiError::invalid(field, format!("{item:?} is not one of {expected}"))
            })
        })
        .collect()
}

impl FindingQuery {
    fn filter(&self, api: &Api) -> Result<FindingFilter, ApiError> {
        Ok(FindingFilter {
            tenant: self.tenant,
            host: self.host,
            advisory: self.advisory.clone(),
            severities: list_of(
                "severity",
                self.severity.as_deref(),
                Level::from_name,
                "critical, high, medium, low, none, unknown",
            )?,
            kev: self.kev,
            states: list_of(
                "state",
                self.state.as_deref(),
                FindingState::from_name,
                "open, fixed, mitigated, accepted, not_affected",
            )?,
            overdue_at: (self.overdue == Some(true)).then(|| api.clock.now()),
        })
    }
}

/// Findings of the visible tenants, highest priority first.
#[utoipa::path(get, path = "/findings", tag = "findings",
    security(("bearer" = ["host:read"])),
    params(FindingQuery),
    responses((status = 200, body = Page<Finding>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<FindingQuery>,
) -> Result<Json<Page<Finding>>, ApiError> {
    require(&caller, Permission::HostRead)?;
    let filter = q.filter(&api)?;
    page_of(&api, &caller, &filter, &q).await
}

/// A page of the findings `filter` selects, as `q` pages them.
async fn page_of(
    api: &Api,
    caller: &Principal,
    filter: &FindingFilter,
    q: &FindingQuery,
) -> Result<Json<Page<Finding>>, ApiError> {
    let page = PageQuery {
        limit: q.limit,
        after: q.after.clone(),
    }
    .request()?;
    Ok(Json(
        api.store
            .list_findings(&caller.visibility(), filter, &page, api.clock.now())
            .await?
            .into(),
    ))
}

/// One host's findings (all states), highest priority first.
#[utoipa::path(get, path = "/hosts/{id}/findings", tag = "findings",
    security(("bearer" = ["host:read"])),
    params(("id" = String, Path, description = "Host id"), FindingQuery),
    responses((status = 200, body = Page<Finding>), (status = 404, body = ErrorBody)))]
pub async fn of_host(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
    Query(q): Query<FindingQuery>,
) -> Result<Json<Page<Finding>>, ApiError> {
    require(&caller, Permission::HostRead)?;
    let host = api
        .store
        .get_host(id)
        .await?
        .ok_or_else(|| ApiError::not_found("host"))?;
    visible(&caller, host.tenant_id, "host")?;
    let mut filter = q.filter(&api)?;
    filter.host = Some(id);
    page_of(&api, &caller, &filter, &q).await
}

/// The tenant of a summary.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Of this tenant only; every visible tenant when absent.
    pub tenant: Option<TenantId>,
}

/// Exposure: findings per state and severity, overdue, known exploited,
/// affected hosts.
#[utoipa::path(get, path = "/findings/summary", tag = "findings",
    security(("bearer" = ["host:read"])),
    params(SummaryQuery),
    responses((status = 200, body = ExposureSummary), (status = 403, body = ErrorBody)))]
pub async fn summary(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<ExposureSummary>, ApiError> {
    require(&caller, Permission::HostRead)?;
    Ok(Json(
        api.store
            .exposure_summary(&caller.visibility(), q.tenant, api.clock.now())
            .await?,
    ))
}

/// Whether the assessment is loaded, and its last round.
#[utoipa::path(get, path = "/assessment", tag = "findings",
    security(("bearer" = ["host:read"])),
    responses((status = 200, body = AssessmentStatus)))]
pub async fn status(
    State(api): State<Api>,
    Caller(caller): Caller,
) -> Result<Json<AssessmentStatus>, ApiError> {
    require(&caller, Permission::HostRead)?;
    Ok(Json(api.assessor.status()))
}

/// Runs an assessment round now (changed hosts, new advisories) and waits
/// for it.
#[utoipa::path(post, path = "/assessment", tag = "findings",
    security(("bearer" = ["host:write"])),
    responses((status = 200, body = AssessmentStatus), (status = 403, body = ErrorBody)))]
pub async fn run(
    State(api): State<Api>,
    Caller(caller): Caller,
) -> Result<Json<AssessmentStatus>, ApiError> {
    require(&caller, Permission::HostWrite)?;
    let status = api.assessor.run_now().await;
    api.store
        .record_audit(rivet_core::audit::AuditEvent {
            at: api.clock.now(),
            actor: actor(&caller),
            action: "assessment.run".into(),
            target_kind: "assessment".into(),
            target_id: None,
            tenant_id: None,
            before: None,
            after: serde_json::to_string(&status.last_changes).ok(),
        })
        .await?;
    Ok(Json(status))
}

/// A tenant's deadline policy (its own or the defaults).
#[utoipa::path(get, path = "/tenants/{id}/deadline-policy", tag = "findings",
    security(("bearer" = ["tenant:read"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = DeadlinePolicy), (status = 404, body = ErrorBody)))]
pub async fn get_policy(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
) -> Result<Json<DeadlinePolicy>, ApiError> {
    require(&caller, Permission::TenantRead)?;
    visible(&caller, id, "tenant")?;
    Ok(Json(api.store.deadline_policy(id).await?))
}

/// Sets a tenant's deadline policy; open findings get their new deadlines.
#[utoipa::path(put, path = "/tenants/{id}/deadline-policy", tag = "findings",
    security(("bearer" = ["tenant:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = DeadlinePolicy,
    responses((status = 200, body = DeadlinePolicy), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_policy(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
    Json(policy): Json<DeadlinePolicy>,
) -> Result<Json<DeadlinePolicy>, ApiError> {
    require(&caller, Permission::TenantWrite)?;
    visible(&caller, id, "tenant")?;
    api.store
        .get_tenant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    policy
        .validate()
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    api.store
        .set_deadline_policy(id, &policy, &actor(&caller), api.clock.now())
        .await?;
    Ok(Json(policy))
}

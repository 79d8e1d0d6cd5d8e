//! The HTTP API under `/api/v1`: JSON in and out, one error type, keyset
//! pagination on every list, and an OpenAPI document generated from the
//! handlers themselves (`/api/v1/openapi.json`). `/healthz` and `/readyz`
//! sit outside it for load balancers and orchestrators.
//!
//! Every handler authenticates through [`extract::Caller`], checks one
//! permission, and treats records of tenants the caller may not see as
//! absent (404), so that a customer cannot even learn that another
//! customer's record exists.

mod advisories;
pub mod agent;
mod audit;
mod auth;
pub mod changes;
mod enrollment;
pub mod error;
mod exceptions;
pub mod extract;
mod findings;
mod hosts;
mod notifications;
mod repositories;
mod rollouts;
mod sources;
mod tenants;
mod tokens;
mod users;
pub(crate) mod windows;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rivet_core::access::{Permission, Principal};
use rivet_core::audit::{Actor, ActorKind};
use rivet_core::id::TenantId;
use rivet_store::Store;
use serde::{Deserialize, Serialize};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::Clock;
use crate::config::Config;
use error::{ApiError, ErrorKind};

pub use auth::LoginThrottle;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct Api {
    /// The store.
    pub store: Store,
    /// The clock (a [`crate::clock::ManualClock`] in tests).
    pub clock: Arc<dyn Clock>,
    /// The configuration.
    pub config: Arc<Config>,
    /// Failed-login bookkeeping.
    pub logins: Arc<LoginThrottle>,
    /// Downloads for advisory sources.
    pub fetcher: crate::sync::Fetcher,
    /// Agents' buffered check-ins and waiting long polls.
    pub hub: Arc<agent::Hub>,
    /// The CA agents pin, when the server speaks TLS itself.
    pub tls: Option<TlsInfo>,
    /// The assessment: findings kept current with inventories and
    /// advisories.
    pub assessor: Arc<crate::assessor::Assessor>,
    /// The rollout driver's lock and wake-up call.
    pub rollouts: Arc<crate::rollout::Rollouts>,
}

/// What enrollment commands tell agents about the server's TLS.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// The lowercase hex SHA-256 of the CA certificate.
    pub ca_fingerprint: String,
}

impl Api {
    /// The API state over `store`.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config) -> Self {
        let logins = Arc::new(LoginThrottle::new(
            config.auth.login_max_failures,
            Duration::from_secs(config.auth.login_window_secs),
        ));
        Api {
            store,
            clock,
            fetcher: crate::sync::Fetcher::new(config.advisories.max_upload_bytes),
            config: Arc::new(config),
            logins,
            hub: Arc::default(),
            tls: None,
            assessor: Arc::default(),
            rollouts: Arc::default(),
        }
    }
}

/// The OpenAPI document and the router it describes, built together so that
/// no route escapes the document.
pub fn router_and_openapi() -> (Router<Api>, OpenApi) {
    let v1 = OpenApiRouter::<Api>::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::whoami))
        .routes(routes!(auth::change_password))
        .routes(routes!(tenants::list, tenants::create))
        .routes(routes!(tenants::get, tenants::update, tenants::delete))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(users::reset_password))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::get, tokens::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(audit::verify))
        .routes(routes!(advisories::import))
        .routes(routes!(advisories::list))
        .routes(routes!(advisories::get))
        .routes(routes!(sources::list, sources::create))
        .routes(routes!(sources::get, sources::delete))
        .routes(routes!(sources::sync))
        .routes(routes!(agent::enroll))
        .routes(routes!(agent::checkin))
        .routes(routes!(agent::upload_inventory))
        .routes(routes!(agent::report_job))
        .routes(routes!(enrollment::list, enrollment::create))
        .routes(routes!(enrollment::revoke))
        .routes(routes!(hosts::list))
        .routes(routes!(hosts::get, hosts::delete))
        .routes(routes!(hosts::set_attributes))
        .routes(routes!(hosts::revoke))
        .routes(routes!(hosts::collect))
        .routes(routes!(hosts::packages))
        .routes(routes!(hosts::history))
        .routes(routes!(hosts::export))
        .routes(routes!(hosts::import))
        .routes(routes!(findings::list))
        .routes(routes!(findings::summary))
        .routes(routes!(findings::of_host))
        .routes(routes!(findings::status, findings::run))
        .routes(routes!(findings::get_policy, findings::set_policy))
        .routes(routes!(exceptions::create, exceptions::list))
        .routes(routes!(exceptions::get))
        .routes(routes!(exceptions::revoke))
        .routes(routes!(rollouts::get))
        .routes(routes!(rollouts::pause))
        .routes(routes!(rollouts::resume))
        .routes(routes!(rollouts::abort))
        .routes(routes!(rollouts::roll_back))
        .routes(routes!(rollouts::report_problem))
        .routes(routes!(rollouts::close_problem))
        .routes(routes!(rollouts::run))
        .routes(routes!(repositories::list, repositories::create))
        .routes(routes!(repositories::get, repositories::delete))
        .routes(routes!(repositories::import))
        .routes(routes!(repositories::of_host))
        .routes(routes!(repositories::summary))
        .routes(routes!(windows::create_window, windows::list_windows))
        .routes(routes!(windows::get_window, windows::delete_window))
        .routes(routes!(windows::create_freeze, windows::list_freezes))
        .routes(routes!(windows::delete_freeze))
        .routes(routes!(windows::calendar))
        .routes(routes!(windows::of_host))
        .routes(routes!(windows::get_ring_plan, windows::set_ring_plan))
        .routes(routes!(changes::create, changes::list))
        .routes(routes!(changes::order))
        .routes(routes!(changes::get, changes::amend))
        .routes(routes!(changes::submit))
        .routes(routes!(changes::expedite))
        .routes(routes!(changes::revise))
        .routes(routes!(changes::schedule))
        .routes(routes!(changes::cancel))
        .routes(routes!(changes::review))
        .routes(routes!(changes::approve))
        .routes(routes!(changes::reject))
        .routes(routes!(
            changes::get_approval_policy,
            changes::set_approval_policy
        ))
        .routes(routes!(
            changes::get_update_policy,
            changes::set_update_policy
        ))
        .routes(routes!(changes::get_templates, changes::set_templates))
        .routes(routes!(changes::get_patch_cycle, changes::set_patch_cycle))
        .routes(routes!(changes::run_patch_cycle))
        .routes(routes!(
            notifications::get_settings,
            notifications::set_settings
        ))
        .routes(routes!(notifications::test))
        .routes(routes!(notifications::list));
    let (router, mut doc) = OpenApiRouter::<Api>::new()
        .nest("/api/v1", v1)
        .split_for_parts();
    doc.info.title = "Rivet".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some("Patch and change management: the HTTP API.".into());
    doc.info.contact = None;
    doc.info.license = Some(utoipa::openapi::License::new("Apache-2.0"));
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "agent",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "Authorization",
                    "Rivet-Agent host=<id>,time=<unix seconds>,signature=<Ed25519, hex>",
                ),
            )),
        );
    (router, doc)
}

/// The whole application: the API, its document, the health endpoints and
/// the limits that protect them.
pub fn app(api: Api) -> Router {
    let (router, doc) = router_and_openapi();
    let doc = Arc::new(doc);
    let config = api.config.clone();
    router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::new(ErrorKind::NotFound, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorKind::MethodNotAllowed,
                "this endpoint does not take that method",
            )
        })
        .with_state(api)
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal("a handler panicked").into_response()
                }))
                .layer(TraceLayer::new_for_http())
                .layer(axum::middleware::from_fn_with_state(
                    Duration::from_secs(config.server.request_timeout_secs),
                    deadline,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    Arc::new(tokio::sync::Semaphore::new(
                        config.server.max_concurrent_requests,
                    )),
                    limit_concurrency,
                ))
                .layer(DefaultBodyLimit::max(config.server.max_body_bytes)),
        )
}

/// Holds a request until fewer than `server.max_concurrent_requests` are
/// being served. Agents' requests are exempt: check-ins wait for work by
/// design and are bounded by `agents.max_waiting_checkins`, and inventory
/// uploads have their own bound.
async fn limit_concurrency(
    State(permits): State<Arc<tokio::sync::Semaphore>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.uri().path().starts_with("/api/v1/agent/") {
        return next.run(req).await;
    }
    match permits.acquire().await {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::internal("request limiter closed").into_response(),
    }
}

/// How long an advisory upload, a source sync or a repository's metadata
/// upload may take: they fetch, parse and store tens of thousands of
/// records.
pub const LONG_REQUEST: Duration = Duration::from_secs(30 * 60);

/// Answers 503 when a request outlives its deadline: `server.request_timeout_secs`,
/// or [`LONG_REQUEST`] for advisory uploads and syncs.
async fn deadline(
    State(short): State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let long = path == "/api/v1/advisories/import"
        || (path.starts_with("/api/v1/advisory-sources/") && path.ends_with("/sync"))
        || (path.starts_with("/api/v1/repositories/") && path.ends_with("/metadata"));
    // A check-in may wait up to agents.max_wait_secs (at most an hour) for
    // work; its own limit ends it, this one only catches a hung one.
    let limit = if long || path == "/api/v1/agent/checkin" {
        LONG_REQUEST
    } else {
        short
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorKind::Unavailable,
            format!("the request took longer than {} seconds", limit.as_secs()),
        )
        .into_response(),
    }
}

async fn readyz(State(api): State<Api>) -> Response {
    match api.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Fails with 403 unless the caller holds `permission`.
pub(crate) fn require(caller: &Principal, permission: Permission) -> Result<(), ApiError> {
    if caller.may(permission) {
        Ok(())
    } else {
        Err(ApiError::lacks(permission))
    }
}

/// Fails with 404 (as if absent) unless the caller may see `tenant`.
pub(crate) fn visible(caller: &Principal, tenant: TenantId, what: &str) -> Result<(), ApiError> {
    if caller.can_see(tenant) {
        Ok(())
    } else {
        Err(ApiError::not_found(what))
    }
}

/// The audit log's record of who acted.
pub(crate) fn actor(caller: &Principal) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: Some(caller.user_id.to_string()),
        name: caller.username.clone(),
        token_id: Some(caller.token_id.to_string()),
    }
}

/// Fresh random bytes for ids and secrets.
pub(crate) fn random<const N: usize>() -> [u8; N] {
    rand::random()
}

/// `?limit=&after=` on every listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    pub(crate) fn request(&self) -> Result<rivet_core::page::PageRequest, ApiError> {
        rivet_core::page::PageRequest::new(self.limit, self.after.clone())
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

/// One page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> From<rivet_core::page::Page<T>> for Page<T> {
    fn from(p: rivet_core::page::Page<T>) -> Self {
        Page {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use rivet_core::access::Role;

    #[test]
    fn docs_match_the_roles() {
        let doc = include_str!("../../../../docs/access.md");
        for role in Role::ALL {
            let perms: Vec<&str> = role.permissions().iter().map(|p| p.as_str()).collect();
            let row = format!("| {role} | {} | {} |", role.tenant_kind(), perms.join(" "));
            assert!(doc.contains(&row), "docs/access.md lacks the row {row}");
        }
    }
}

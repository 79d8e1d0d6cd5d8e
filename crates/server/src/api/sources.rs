//! `/advisory-sources`: the online sources the server syncs on a schedule
//! (OSV archives by URL, CSAF providers, the KEV catalog, EPSS scores).

use axum::extract::State;
use axum::http::StatusCode;
use rivet_core::access::Permission;
use rivet_store::{AdvisorySource, NewSource};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path};
use super::{Api, actor, require};
use crate::sync::SyncReport;

/// A source to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSourceRequest {
    /// A unique name.
    pub name: String,
    /// `osv` (a document or `all.zip`), `csaf` (a provider's
    /// `provider-metadata.json`), `kev` (the catalog JSON) or `epss` (a CSV).
    pub kind: String,
    /// The URL (http or https).
    pub url: String,
    /// Hours between syncs (default 6).
    pub interval_hours: Option<u32>,
    /// Armored OpenPGP public keys to trust for a CSAF provider, besides the
    /// keys its metadata names.
    pub public_keys: Option<String>,
}

/// Every source.
#[utoipa::path(get, path = "/advisory-sources", tag = "advisories",
    security(("bearer" = ["advisory:read"])),
    responses((status = 200, body = super::Page<AdvisorySource>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
) -> Result<Json<super::Page<AdvisorySource>>, ApiError> {
    require(&caller, Permission::AdvisoryRead)?;
    Ok(Json(super::Page {
        items: api
            .store
            .list_sources()
            .await?
            .into_iter()
            .map(redacted)
            .collect(),
        next_cursor: None,
    }))
}

/// Adds a source; it is synced at the scheduler's next tick.
#[utoipa::path(post, path = "/advisory-sources", tag = "advisories",
    security(("bearer" = ["advisory:write"])),
    request_body = NewSourceRequest,
    responses((status = 201, body = AdvisorySource), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<NewSourceRequest>,
) -> Result<(StatusCode, Json<AdvisorySource>), ApiError> {
    require(&caller, Permission::AdvisoryWrite)?;
    rivet_core::validate::display_name("name", &req.name, 100)?;
    if !matches!(req.kind.as_str(), "osv" | "csaf" | "kev" | "epss") {
        return Err(ApiError::invalid(
            "kind",
            format!("{:?} is not one of osv, csaf, kev, epss", req.kind),
        ));
    }
    if !(req.url.starts_with("https://") || req.url.starts_with("http://"))
        || req.url.len() > 2000
        || req.url.chars().any(char::is_whitespace)
    {
        return Err(ApiError::invalid(
            "url",
            "must be an http:// or https:// URL of at most 2000 characters",
        ));
    }
    let hours = req.interval_hours.unwrap_or(6);
    if !(1..=24 * 30).contains(&hours) {
        return Err(ApiError::invalid(
            "interval_hours",
            "must be between 1 and 720",
        ));
    }
    let public_keys = req.public_keys.unwrap_or_default();
    if public_keys.len() > 1024 * 1024 {
        return Err(ApiError::invalid("public_keys", "at most 1 MiB"));
    }
    if !public_keys.trim().is_empty() {
        rivet_advisory::integrity::Keyring::from_armored(&[&public_keys])
            .map_err(|e| ApiError::invalid("public_keys", e))?;
    }
    let now = api.clock.now();
    let new = NewSource {
        id: uuid::Uuid::from_bytes(super::random()).to_string(),
        name: req.name,
        kind: req.kind,
        url: req.url,
        interval_secs: i64::from(hours) * 3600,
        public_keys,
    };
    let source = api.store.create_source(&new, &actor(&caller), now).await?;
    Ok((StatusCode::CREATED, Json(redacted(source))))
}

/// A source as shown: a password in its URL is never shown back.
fn redacted(mut source: AdvisorySource) -> AdvisorySource {
    source.url = rivet_store::redact_url(&source.url);
    source
}

async fn find(api: &Api, id: &str) -> Result<AdvisorySource, ApiError> {
    if id.len() > 100 {
        return Err(ApiError::bad_request("id: at most 100 characters"));
    }
    api.store
        .get_source(id)
        .await?
        .ok_or_else(|| ApiError::not_found("advisory source"))
}

/// One source, with the outcome of its last sync.
#[utoipa::path(get, path = "/advisory-sources/{id}", tag = "advisories",
    security(("bearer" = ["advisory:read"])),
    params(("id" = String, Path, description = "Source id")),
    responses((status = 200, body = AdvisorySource), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<AdvisorySource>, ApiError> {
    require(&caller, Permission::AdvisoryRead)?;
    Ok(Json(redacted(find(&api, &id).await?)))
}

/// Removes a source; what it imported stays.
#[utoipa::path(delete, path = "/advisory-sources/{id}", tag = "advisories",
    security(("bearer" = ["advisory:write"])),
    params(("id" = String, Path, description = "Source id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Permission::AdvisoryWrite)?;
    let source = find(&api, &id).await?;
    if !api
        .store
        .delete_source(&source.id, &actor(&caller), api.clock.now())
        .await?
    {
        return Err(ApiError::not_found("advisory source"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Syncs a source now and reports what it did (a source that cannot be
/// fetched reports `ok: false` with the reason; the outcome is recorded).
#[utoipa::path(post, path = "/advisory-sources/{id}/sync", tag = "advisories",
    security(("bearer" = ["advisory:write"])),
    params(("id" = String, Path, description = "Source id")),
    responses((status = 200, body = SyncReport), (status = 404, body = ErrorBody)))]
pub async fn sync(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<SyncReport>, ApiError> {
    require(&caller, Permission::AdvisoryWrite)?;
    let source = find(&api, &id).await?;
    Ok(Json(
        crate::sync::sync(
            &api.store,
            &api.fetcher,
            &source,
            &actor(&caller),
            api.clock.now(),
        )
        .await,
    ))
}

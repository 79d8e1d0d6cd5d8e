//! `/advisories`: importing advisory files (OSV, CSAF, KEV, EPSS), listing
//! and showing advisories with their KEV and EPSS enrichment. Advisories are
//! public knowledge shared by every tenant; importing is for the provider.

use axum::body::Body;
use axum::extract::State;
use rivet_core::access::Permission;
use rivet_store::{AdvisoryFilter, AdvisorySummary, EpssRecord, ImportCounts, KevRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, actor, require};
use crate::intake::{self, Parsed, Rejection};

/// `?name=`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The file's name (its extension tells YAML from JSON, `.zip`, `.csv`).
    pub name: Option<String>,
    /// A label for the source, kept in each record's provenance (default: `upload`).
    pub source: Option<String>,
}

/// What an import did, in documents (or entries, for KEV and EPSS).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// New documents.
    pub imported: u64,
    /// Documents replaced by a newer version.
    pub updated: u64,
    /// Documents already stored.
    pub unchanged: u64,
    /// Documents skipped as malformed.
    pub rejected: u64,
    /// Why each was skipped (the first 1,000).
    pub errors: Vec<Rejection>,
}

/// The most errors one report lists.
const MAX_REPORTED_ERRORS: usize = 1000;

impl ImportReport {
    fn new(counts: ImportCounts, rejected: Vec<Rejection>) -> Self {
        ImportReport {
            imported: counts.imported,
            updated: counts.updated,
            unchanged: counts.unchanged,
            rejected: rejected.len() as u64,
            errors: rejected.into_iter().take(MAX_REPORTED_ERRORS).collect(),
        }
    }
}

/// Imports one file: an OSV or CSAF document (JSON; OSV also YAML), an OSV
/// `all.zip` archive, the CISA KEV catalog (JSON) or an EPSS scores file
/// (CSV). Malformed documents are skipped and listed; a file that cannot be
/// read as a whole stores nothing. Importing the same file again changes
/// nothing; a document with a newer `modified` replaces the stored one.
#[utoipa::path(post, path = "/advisories/import", tag = "advisories",
    security(("bearer" = ["advisory:write"])),
    params(ImportQuery),
    request_body(content = String, content_type = "application/octet-stream", description = "The file"),
    responses((status = 200, body = ImportReport), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<ImportQuery>,
    body: Body,
) -> Result<Json<ImportReport>, ApiError> {
    require(&caller, Permission::AdvisoryWrite)?;
    let name = q.name.unwrap_or_else(|| "upload.json".into());
    let source = q.source.unwrap_or_else(|| "upload".into());
    for (field, value) in [("name", &name), ("source", &source)] {
        if value.is_empty() || value.len() > 500 || value.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "{field}: 1 to 500 characters, no control characters"
            )));
        }
    }
    let limit = api.config.advisories.max_upload_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the upload is larger than {limit} bytes (advisories.max_upload_bytes)"),
        )
    })?;
    let now = api.clock.now();
    let label = format!("{source}: {name}");
    let parsed =
        tokio::task::spawn_blocking(move || intake::read(&name, bytes.to_vec(), &source, now))
            .await
            .map_err(ApiError::internal)?
            .map_err(|reason| ApiError::invalid("file", reason))?;
    let who = actor(&caller);
    let report = match parsed {
        Parsed::Advisories { records, rejected } => {
            let counts = api
                .store
                .import_advisories(&records, &label, &who, now)
                .await?;
            api.assessor.wake();
            ImportReport::new(counts, rejected)
        }
        Parsed::Kev {
            version,
            entries,
            rejected,
        } => {
            let counts = api.store.import_kev(&entries, &version, &who, now).await?;
            api.assessor.wake();
            ImportReport::new(counts, rejected)
        }
        Parsed::Epss { scores, rejected } => {
            let counts = api.store.import_epss(&scores, &who, now).await?;
            ImportReport::new(counts, rejected)
        }
    };
    tracing::info!(source = %label, imported = report.imported, updated = report.updated, unchanged = report.unchanged, rejected = report.rejected, "advisory import");
    Ok(Json(report))
}

/// `?ecosystem=&package=&cve=&kev=&severity=&limit=&after=`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdvisoryQuery {
    /// An ecosystem name (`AlmaLinux`) or full ecosystem (`AlmaLinux:9`).
    pub ecosystem: Option<String>,
    /// A package name.
    pub package: Option<String>,
    /// An id or alias (a CVE).
    pub cve: Option<String>,
    /// Only advisories whose CVE is in the KEV catalog.
    pub kev: Option<bool>,
    /// At least this severity: critical, high, medium or low.
    pub severity: Option<String>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// Advisories, filtered.
#[utoipa::path(get, path = "/advisories", tag = "advisories",
    security(("bearer" = ["advisory:read"])),
    params(AdvisoryQuery),
    responses((status = 200, body = Page<AdvisorySummary>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<AdvisoryQuery>,
) -> Result<Json<Page<AdvisorySummary>>, ApiError> {
    require(&caller, Permission::AdvisoryRead)?;
    let min_score = match q.severity.as_deref() {
        None => None,
        Some("critical") => Some(9.0),
        Some("high") => Some(7.0),
        Some("medium") => Some(4.0),
        Some("low") => Some(0.1),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "severity: {other:?} is not one of critical, high, medium, low"
            )));
        }
    };
    for (field, value) in [
        ("ecosystem", &q.ecosystem),
        ("package", &q.package),
        ("cve", &q.cve),
    ] {
        if value.as_ref().is_some_and(|v| v.len() > 200) {
            return Err(ApiError::bad_request(format!(
                "{field}: at most 200 characters"
            )));
        }
    }
    let page = rivet_core::page::PageRequest::new(q.limit, q.after)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let filter = AdvisoryFilter {
        ecosystem: q.ecosystem,
        package: q.package,
        cve: q.cve,
        kev: q.kev.unwrap_or(false),
        min_score,
    };
    Ok(Json(
        api.store.list_advisories(&filter, &page).await?.into(),
    ))
}

/// An advisory's documents with their KEV and EPSS enrichment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdvisoryDetail {
    /// The id asked for.
    pub id: String,
    /// Every document with that id (one per release, for some vendors).
    pub documents: Vec<AdvisoryDocument>,
    /// KEV entries of the advisory's CVEs.
    pub kev: Vec<KevRecord>,
    /// EPSS scores of the advisory's CVEs.
    pub epss: Vec<EpssRecord>,
}

/// One document of an advisory.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdvisoryDocument {
    /// The listing's fields.
    #[serde(flatten)]
    pub summary: AdvisorySummary,
    /// The whole normalised record.
    #[schema(value_type = Object)]
    pub record: Value,
}

/// One advisory by id (or document key), with KEV and EPSS joined on its CVEs.
#[utoipa::path(get, path = "/advisories/{id}", tag = "advisories",
    security(("bearer" = ["advisory:read"])),
    params(("id" = String, Path, description = "Advisory id or document key")),
    responses((status = 200, body = AdvisoryDetail), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<AdvisoryDetail>, ApiError> {
    require(&caller, Permission::AdvisoryRead)?;
    if id.len() > 500 {
        return Err(ApiError::bad_request("id: at most 500 characters"));
    }
    let found = api.store.get_advisory(&id).await?;
    if found.is_empty() {
        return Err(ApiError::not_found("advisory"));
    }
    let mut cves: Vec<String> = Vec::new();
    let mut documents = Vec::new();
    for (summary, body) in found {
        let record: Value = serde_json::from_str(&body).map_err(ApiError::internal)?;
        for alias in record["aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if alias.starts_with("CVE-") && !cves.iter().any(|c| c == alias) {
                cves.push(alias.to_owned());
            }
        }
        if summary.id.starts_with("CVE-") && !cves.contains(&summary.id) {
            cves.push(summary.id.clone());
        }
        documents.push(AdvisoryDocument { summary, record });
    }
    let mut kev = Vec::new();
    let mut epss = Vec::new();
    for cve in cves.iter().take(100) {
        kev.extend(api.store.kev(cve).await?);
        epss.extend(api.store.epss(cve).await?);
    }
    Ok(Json(AdvisoryDetail {
        id,
        documents,
        kev,
        epss,
    }))
}

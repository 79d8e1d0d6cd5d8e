//! `/repositories` and the missing updates (ASM-3): the apt and dnf
//! repositories whose metadata the server knows — one tenant's, or
//! provider-wide for every tenant — their metadata uploads, and what each
//! host's approved repositories offer that it lacks.
//!
//! Writing repositories needs `advisory:write`: what a repository offers is
//! vendor content like advisories and errata, and approving one decides
//! which sources hosts may be updated from (ADV-5), the security officer's
//! call. `tenant:write` (administrators only) would leave the security
//! officer out; `host:write` would let operators approve sources. A
//! provider-wide repository serves every tenant, so only a caller who sees
//! every tenant may create, fill or delete one. Reading needs `host:read`;
//! another customer's repository is absent (404).

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use rivet_assess::repository::{Limits, Metadata, MetadataKind, read};
use rivet_core::access::{Permission, Principal, Visibility};
use rivet_core::id::{HostId, TenantId};
use rivet_core::update::UpdateClass;
use rivet_store::{
    NewRepository, Repository, RepositoryErratum, RepositoryKind, RepositoryPackage,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor, require, visible};
use crate::updates::{HostUpdates, UpdateSummary};

/// `POST /repositories`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRepository {
    /// The tenant whose hosts it serves; absent for a provider-wide
    /// repository that serves every tenant's hosts.
    #[schema(value_type = Option<String>)]
    pub tenant: Option<TenantId>,
    /// Its name (`bookworm-security`), unique per tenant.
    pub name: String,
    /// `apt` or `rpm`.
    pub kind: RepositoryKind,
    /// The ecosystem of the hosts it serves, as Rivet names it
    /// (`Debian:12`, `Ubuntu:22.04`, `AlmaLinux:9`, `Rocky Linux:9`,
    /// `Red Hat:enterprise_linux:9`).
    pub ecosystem: String,
    /// Everything it offers fixes security issues (Debian's
    /// `bookworm-security`).
    #[serde(default)]
    pub security: bool,
    /// Approved for hosts' updates (default false: an unapproved
    /// repository is ignored).
    #[serde(default)]
    pub approved: bool,
}

/// The ecosystem key of a repository, or why it is not one: a distribution
/// whose package format is the repository's kind.
fn ecosystem_key(text: &str, kind: RepositoryKind) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::invalid("ecosystem", format!("{text:?}: {why}"));
    let (name, release) = text
        .split_once(':')
        .ok_or_else(|| bad("expected NAME:RELEASE, e.g. Debian:12 or AlmaLinux:9"))?;
    let release = if name == "Ubuntu" {
        release.strip_suffix(":LTS").unwrap_or(release)
    } else {
        release
    };
    if release.is_empty() || release.len() > 100 || release.contains(char::is_whitespace) {
        return Err(bad("the release is empty or malformed"));
    }
    let fits = match kind {
        RepositoryKind::Apt => matches!(name, "Debian" | "Ubuntu"),
        RepositoryKind::Rpm => matches!(name, "AlmaLinux" | "Rocky Linux" | "Red Hat"),
    };
    if !fits {
        return Err(bad(&format!(
            "not a distribution of {} repositories (apt: Debian, Ubuntu; rpm: AlmaLinux, Rocky Linux, Red Hat)",
            kind.as_str()
        )));
    }
    Ok(format!("{name}:{release}"))
}

/// Fails unless the caller may write `repository`'s tenant (or, for a
/// provider-wide one, sees every tenant); another customer's is absent.
fn may_write(caller: &Principal, tenant: Option<TenantId>) -> Result<(), ApiError> {
    match tenant {
        Some(t) => visible(caller, t, "repository"),
        None if caller.visibility() == Visibility::All => Ok(()),
        None => Err(ApiError::forbidden(
            "a provider-wide repository serves every tenant: only a user who sees every tenant may change one",
        )),
    }
}

/// Creates a repository (not yet holding any metadata).
#[utoipa::path(post, path = "/repositories", tag = "repositories",
    security(("bearer" = ["advisory:write"])),
    request_body = CreateRepository,
    responses((status = 201, body = Repository), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<CreateRepository>,
) -> Result<(StatusCode, Json<Repository>), ApiError> {
    require(&caller, Permission::AdvisoryWrite)?;
    if let Some(t) = req.tenant {
        visible(&caller, t, "tenant")?;
        api.store
            .get_tenant(t)
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
    }
    may_write(&caller, req.tenant)?;
    rivet_core::validate::display_name("name", &req.name, 200)?;
    let ecosystem = ecosystem_key(&req.ecosystem, req.kind)?;
    let now = api.clock.now();
    let new = NewRepository {
        // Time first, so that listings (by id) are in creation order.
        id: format!(
            "repo-{:013x}-{}",
            now.as_millisecond().max(0),
            hex::encode(super::random::<6>())
        ),
        tenant_id: req.tenant,
        name: req.name.trim().to_owned(),
        kind: req.kind,
        ecosystem,
        security: req.security,
        approved: req.approved,
    };
    let created = api
        .store
        .create_repository(&new, &actor(&caller), now)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Which repositories.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RepositoryQuery {
    /// Only this tenant's own (not the provider-wide ones).
    pub tenant: Option<TenantId>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// The provider-wide repositories and the visible tenants' own.
#[utoipa::path(get, path = "/repositories", tag = "repositories",
    security(("bearer" = ["host:read"])),
    params(RepositoryQuery),
    responses((status = 200, body = Page<Repository>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<RepositoryQuery>,
) -> Result<Json<Page<Repository>>, ApiError> {
    require(&caller, Permission::HostRead)?;
    let page = PageQuery {
        limit: q.limit,
        after: q.after.clone(),
    }
    .request()?;
    Ok(Json(
        api.store
            .list_repositories(&caller.visibility(), q.tenant, &page)
            .await?
            .into(),
    ))
}

/// A repository the caller may see, or 404.
async fn find(api: &Api, caller: &Principal, id: &str) -> Result<Repository, ApiError> {
    let r = api
        .store
        .get_repository(id)
        .await?
        .ok_or_else(|| ApiError::not_found("repository"))?;
    if let Some(t) = r.tenant_id {
        visible(caller, t, "repository")?;
    }
    Ok(r)
}

/// One repository.
#[utoipa::path(get, path = "/repositories/{id}", tag = "repositories",
    security(("bearer" = ["host:read"])),
    params(("id" = String, Path, description = "Repository id")),
    responses((status = 200, body = Repository), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Repository>, ApiError> {
    require(&caller, Permission::HostRead)?;
    Ok(Json(find(&api, &caller, &id).await?))
}

/// Deletes a repository and what it offers.
#[utoipa::path(delete, path = "/repositories/{id}", tag = "repositories",
    security(("bearer" = ["advisory:write"])),
    params(("id" = String, Path, description = "Repository id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Permission::AdvisoryWrite)?;
    let r = find(&api, &caller, &id).await?;
    may_write(&caller, r.tenant_id)?;
    api.store
        .delete_repository(&id, &actor(&caller), api.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("repository"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?name=` of a metadata upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetadataQuery {
    /// The file's name, for messages (`Packages.xz`).
    pub name: Option<String>,
}

/// What a metadata upload stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetadataReport {
    /// The repository after the import.
    pub repository: Repository,
    /// What the file was: `packages`, `primary` or `updateinfo`.
    pub stored: String,
    /// Packages or errata it held (duplicates stored once).
    pub records: usize,
    /// SHA-256 of the file as uploaded.
    pub digest: String,
}

/// Uploads a metadata file: apt `Packages`, or rpm-md `primary.xml` or
/// `updateinfo.xml`; plain, gzip or xz. It replaces what the repository
/// offers (a `primary.xml` or `Packages` its packages, an `updateinfo.xml`
/// its errata) whole, or, when the file breaks a rule, changes nothing and
/// says which line and field.
#[utoipa::path(put, path = "/repositories/{id}/metadata", tag = "repositories",
    security(("bearer" = ["advisory:write"])),
    params(("id" = String, Path, description = "Repository id"), MetadataQuery),
    request_body(content = String, content_type = "application/octet-stream", description = "The file"),
    responses((status = 200, body = MetadataReport), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(q): Query<MetadataQuery>,
    body: Body,
) -> Result<Json<MetadataReport>, ApiError> {
    require(&caller, Permission::AdvisoryWrite)?;
    let repository = find(&api, &caller, &id).await?;
    may_write(&caller, repository.tenant_id)?;
    let name = q.name.unwrap_or_else(|| match repository.kind {
        RepositoryKind::Apt => "Packages".into(),
        RepositoryKind::Rpm => "repodata".into(),
    });
    if name.is_empty() || name.len() > 500 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "name: 1 to 500 characters, no control characters",
        ));
    }
    let limit = api.config.advisories.max_upload_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the upload is larger than {limit} bytes (advisories.max_upload_bytes)"),
        )
    })?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let file = name.clone();
    let metadata = tokio::task::spawn_blocking(move || read(&bytes, &file, &Limits::default()))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::invalid("file", e))?;
    let fits = matches!(
        (repository.kind, metadata.kind()),
        (RepositoryKind::Apt, MetadataKind::Packages)
            | (
                RepositoryKind::Rpm,
                MetadataKind::Primary | MetadataKind::Updateinfo
            )
    );
    if !fits {
        return Err(ApiError::invalid(
            "file",
            format!(
                "{name}: a {} file does not belong in an {} repository",
                metadata.kind().as_str(),
                repository.kind.as_str()
            ),
        ));
    }
    let who = actor(&caller);
    let now = api.clock.now();
    let stored = metadata.kind().as_str().to_owned();
    let (after, records) = match metadata {
        Metadata::Packages(packages) | Metadata::Primary(packages) => {
            let rows: Vec<RepositoryPackage> = packages
                .into_iter()
                .map(|p| RepositoryPackage {
                    name: p.name,
                    arch: p.arch,
                    version: p.version,
                    source_name: p.source_name,
                    source_version: p.source_version,
                })
                .collect();
            let after = api
                .store
                .import_repository_packages(&id, &rows, &digest, &who, now)
                .await?;
            (after, rows.len())
        }
        Metadata::Updateinfo(errata) => {
            let rows: Vec<RepositoryErratum> = errata
                .into_iter()
                .map(|e| RepositoryErratum {
                    id: e.id,
                    kind: e.kind.as_str().to_owned(),
                    severity: e.severity,
                    issued: e.issued,
                    title: e.title,
                    cves: e.cves,
                    references: e.references,
                    packages: e
                        .packages
                        .into_iter()
                        .map(|p| (p.name, p.arch, p.version))
                        .collect(),
                })
                .collect();
            let after = api
                .store
                .import_repository_errata(&id, &rows, &digest, &who, now)
                .await?;
            (after, rows.len())
        }
    };
    let repository = after.ok_or_else(|| ApiError::not_found("repository"))?;
    tracing::info!(repository = %id, stored, records, "repository metadata import");
    Ok(Json(MetadataReport {
        repository,
        stored,
        records,
        digest,
    }))
}

/// `?class=` of a host's updates.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UpdateQuery {
    /// Only these classes, comma-separated (`security,major`); `major`
    /// selects every major upgrade, whatever its class.
    pub class: Option<String>,
}

/// A host's missing updates: what its approved repositories offer that is
/// newer than what it has, classed (ASM-3).
#[utoipa::path(get, path = "/hosts/{id}/updates", tag = "repositories",
    security(("bearer" = ["host:read"])),
    params(("id" = String, Path, description = "Host id"), UpdateQuery),
    responses((status = 200, body = HostUpdates), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn of_host(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
    Query(q): Query<UpdateQuery>,
) -> Result<Json<HostUpdates>, ApiError> {
    require(&caller, Permission::HostRead)?;
    let classes: Vec<UpdateClass> = q
        .class
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|c| {
            UpdateClass::parse(c).ok_or_else(|| {
                ApiError::invalid(
                    "class",
                    format!("{c:?} is not one of security, bugfix, enhancement, middleware, major"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let host = api
        .store
        .update_hosts(&caller.visibility(), None, Some(id))
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("host"))?;
    let mut updates = crate::updates::for_host(&api.store, &host).await?;
    updates
        .updates
        .retain(|u| crate::updates::selected(u, &classes));
    Ok(Json(updates))
}

/// The tenant of a summary.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Of this tenant only; every visible tenant when absent.
    pub tenant: Option<TenantId>,
}

/// Hosts with missing updates per class.
#[utoipa::path(get, path = "/updates/summary", tag = "repositories",
    security(("bearer" = ["host:read"])),
    params(SummaryQuery),
    responses((status = 200, body = UpdateSummary), (status = 403, body = ErrorBody)))]
pub async fn summary(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<UpdateSummary>, ApiError> {
    require(&caller, Permission::HostRead)?;
    Ok(Json(
        crate::updates::summary(&api.store, &caller.visibility(), q.tenant).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems_fit_the_kind() {
        let key = |t: &str, k| ecosystem_key(t, k).map_err(|e| e.message);
        assert_eq!(key("Debian:12", RepositoryKind::Apt).unwrap(), "Debian:12");
        assert_eq!(
            key("Ubuntu:22.04:LTS", RepositoryKind::Apt).unwrap(),
            "Ubuntu:22.04"
        );
        assert_eq!(
            key("Red Hat:enterprise_linux:9", RepositoryKind::Rpm).unwrap(),
            "Red Hat:enterprise_linux:9"
        );
        assert!(
            key("Debian:12", RepositoryKind::Rpm)
                .unwrap_err()
                .contains("not a distribution of rpm")
        );
        assert!(key("debian12", RepositoryKind::Apt).is_err());
        assert!(key("AlmaLinux:", RepositoryKind::Rpm).is_err());
    }
}

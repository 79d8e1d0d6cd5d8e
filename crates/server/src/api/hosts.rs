//! `/hosts`: the CMDB (INV-2 to INV-8). Listing and search, a host's facts,
//! attributes, packages and software history, SBOM and CSV exports, imports
//! of hosts without an agent, and revoking an agent or asking it for a fresh
//! inventory.

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rivet_core::Timestamp;
use rivet_core::access::{Permission, Principal};
use rivet_core::host::{HostAttributes, InventoryRest, canonicalize, digest};
use rivet_core::id::{HostId, TenantId};
use rivet_core::inventory::{HostFacts, Inventory, Package, RebootStatus};
use rivet_core::sbom::{self, SbomHost};
use rivet_core::version::range::Range;
use rivet_store::{HistoryEntry, Host, HostFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor, random, require, visible};

/// Search conditions; every one given must hold.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HostQuery {
    /// Only this tenant's hosts.
    pub tenant: Option<TenantId>,
    /// Operating system (os-release `ID`, e.g. `debian`).
    pub os: Option<String>,
    /// Operating system version (`VERSION_ID`, e.g. `12`).
    pub os_version: Option<String>,
    /// Names containing this text.
    pub name: Option<String>,
    /// Hosts with a package of this name…
    pub package: Option<String>,
    /// …in this version range, e.g. `<3.0.11-1~deb12u2` or `>=1.2,<2`.
    pub version: Option<String>,
    /// Hosts with this tag.
    pub tag: Option<String>,
    /// Hosts in this group.
    pub group: Option<String>,
    /// Hosts in this ring.
    pub ring: Option<String>,
    /// Hosts in this environment.
    pub environment: Option<String>,
    /// Hosts seen at or after this time (RFC 3339).
    pub seen_after: Option<String>,
    /// Hosts not seen since this time (RFC 3339), or never.
    pub seen_before: Option<String>,
    /// Hosts that do (true) or do not (false) need a reboot.
    pub reboot_required: Option<bool>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

fn time_param(field: &str, value: &Option<String>) -> Result<Option<Timestamp>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            v.parse::<Timestamp>().map_err(|e| {
                ApiError::invalid(field, format!("{v:?} is not an RFC 3339 time: {e}"))
            })
        })
        .transpose()
}

fn text_param(field: &str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.is_empty() || v.len() > 256 => {
            Err(ApiError::invalid(field, "must be 1 to 256 characters"))
        }
        other => Ok(other.clone()),
    }
}

impl HostQuery {
    fn filter(&self) -> Result<HostFilter, ApiError> {
        let version = self
            .version
            .as_deref()
            .map(|v| {
                v.parse::<Range>()
                    .map_err(|e| ApiError::invalid("version", e))
            })
            .transpose()?;
        if version.is_some() && self.package.is_none() {
            return Err(ApiError::invalid(
                "version",
                "needs package: a range of which package's versions?",
            ));
        }
        Ok(HostFilter {
            tenant: self.tenant,
            os: text_param("os", &self.os)?,
            os_version: text_param("os_version", &self.os_version)?,
            name: text_param("name", &self.name)?,
            package: text_param("package", &self.package)?,
            version,
            tag: text_param("tag", &self.tag)?,
            group: text_param("group", &self.group)?,
            ring: text_param("ring", &self.ring)?,
            environment: text_param("environment", &self.environment)?,
            seen_after: time_param("seen_after", &self.seen_after)?,
            seen_before: time_param("seen_before", &self.seen_before)?,
            reboot_required: self.reboot_required,
        })
    }
}

/// A host with its facts.
#[derive(Serialize, ToSchema)]
pub struct HostDetail {
    /// The host.
    #[serde(flatten)]
    pub host: Host,
    /// Its last inventory but the packages: facts, reboot reasons, stale
    /// processes, problems.
    #[schema(value_type = Option<Object>)]
    pub facts: Option<InventoryRest>,
}

/// Finds a host the caller may see.
async fn find(api: &Api, caller: &Principal, id: HostId) -> Result<Host, ApiError> {
    let host = api
        .store
        .get_host(id)
        .await?
        .ok_or_else(|| ApiError::not_found("host"))?;
    visible(caller, host.tenant_id, "host")?;
    Ok(host)
}

/// Hosts of the visible tenants matching the query.
#[utoipa::path(get, path = "/hosts", tag = "hosts",
    security(("bearer" = ["host:read"])),
    params(HostQuery),
    responses((status = 200, body = Page<Host>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<HostQuery>,
) -> Result<Json<Page<Host>>, ApiError> {
    require(&caller, Permission::HostRead)?;
    let filter = q.filter()?;
    let page = PageQuery {
        limit: q.limit,
        after: q.after.clone(),
    }
    .request()?;
    Ok(Json(
        api.store
            .list_hosts(&caller.visibility(), &filter, &page)
            .await?
            .into(),
    ))
}

/// One host with its facts.
#[utoipa::path(get, path = "/hosts/{id}", tag = "hosts",
    security(("bearer" = ["host:read"])),
    params(("id" = String, Path, description = "Host id")),
    responses((status = 200, body = HostDetail), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
) -> Result<Json<HostDetail>, ApiError> {
    require(&caller, Permission::HostRead)?;
    let host = find(&api, &caller, id).await?;
    let facts = api.store.host_facts(id).await?;
    Ok(Json(HostDetail { host, facts }))
}

/// Deletes a host with its packages and history; its agent is refused
/// from then on.
#[utoipa::path(delete, path = "/hosts/{id}", tag = "hosts",
    security(("bearer" = ["host:write"])),
    params(("id" = String, Path, description = "Host id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Permission::HostWrite)?;
    find(&api, &caller, id).await?;
    api.store
        .delete_host(id, &actor(&caller), api.clock.now())
        .await?;
    api.hub.wake(id);
    api.assessor.host_touched(id);
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a host's attributes (INV-6).
#[utoipa::path(put, path = "/hosts/{id}/attributes", tag = "hosts",
    security(("bearer" = ["host:write"])),
    params(("id" = String, Path, description = "Host id")),
    request_body = HostAttributes,
    responses((status = 200, body = Host), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_attributes(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
    Json(attributes): Json<HostAttributes>,
) -> Result<Json<Host>, ApiError> {
    require(&caller, Permission::HostWrite)?;
    attributes.validate()?;
    find(&api, &caller, id).await?;
    let host = api
        .store
        .set_host_attributes(id, &attributes, &actor(&caller), api.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("host"))?;
    // Its criticality weighs in its findings' priorities.
    api.assessor.host_touched(id);
    Ok(Json(host))
}

/// Revokes a host's agent: its next request is refused and it stops.
#[utoipa::path(post, path = "/hosts/{id}/revoke", tag = "hosts",
    security(("bearer" = ["host:enroll"])),
    params(("id" = String, Path, description = "Host id")),
    responses((status = 200, body = Host), (status = 404, body = ErrorBody),
        (status = 409, description = "The host has no agent", body = ErrorBody)))]
pub async fn revoke(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
) -> Result<Json<Host>, ApiError> {
    require(&caller, Permission::HostEnroll)?;
    let host = find(&api, &caller, id).await?;
    if host.source != rivet_store::HostSource::Agent {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!("host {} has no agent to revoke", host.name),
        ));
    }
    let host = api
        .store
        .revoke_agent(id, &actor(&caller), api.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("host"))?;
    api.hub.wake(id);
    Ok(Json(host))
}

/// Asks a host's agent for a fresh inventory: a waiting check-in is
/// answered at once, otherwise the next one asks.
#[utoipa::path(post, path = "/hosts/{id}/collect", tag = "hosts",
    security(("bearer" = ["host:write"])),
    params(("id" = String, Path, description = "Host id")),
    responses((status = 202, body = Host), (status = 404, body = ErrorBody)))]
pub async fn collect(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
) -> Result<(StatusCode, Json<Host>), ApiError> {
    require(&caller, Permission::HostWrite)?;
    find(&api, &caller, id).await?;
    let host = api
        .store
        .request_collect(id, &actor(&caller), api.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("host"))?;
    api.hub.wake(id);
    Ok((StatusCode::ACCEPTED, Json(host)))
}

/// A host's installed packages (all of them, in name order).
#[utoipa::path(get, path = "/hosts/{id}/packages", tag = "hosts",
    security(("bearer" = ["host:read"])),
    params(("id" = String, Path, description = "Host id")),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)))]
pub async fn packages(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
) -> Result<Json<Vec<Package>>, ApiError> {
    require(&caller, Permission::HostRead)?;
    find(&api, &caller, id).await?;
    Ok(Json(api.store.host_packages(id).await?))
}

/// A host's software history, newest first (INV-4).
#[utoipa::path(get, path = "/hosts/{id}/history", tag = "hosts",
    security(("bearer" = ["host:read"])),
    params(("id" = String, Path, description = "Host id"), PageQuery),
    responses((status = 200, body = Page<HistoryEntry>), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<HistoryEntry>>, ApiError> {
    require(&caller, Permission::HostRead)?;
    find(&api, &caller, id).await?;
    Ok(Json(
        api.store.host_history(id, &q.request()?).await?.into(),
    ))
}

/// `?format=` of an export.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `cyclonedx` (CycloneDX 1.5 JSON) or `csv`.
    pub format: ExportFormat,
}

/// An export format.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
    /// CSV, one package per row.
    Csv,
}

/// A host's software as a CycloneDX 1.5 SBOM or as CSV (INV-8).
#[utoipa::path(get, path = "/hosts/{id}/export", tag = "hosts",
    security(("bearer" = ["host:read"])),
    params(("id" = String, Path, description = "Host id"), ExportQuery),
    responses((status = 200, description = "The document: application/vnd.cyclonedx+json or text/csv", body = String),
        (status = 404, body = ErrorBody)))]
pub async fn export(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    require(&caller, Permission::HostRead)?;
    let host = find(&api, &caller, id).await?;
    let packages = api.store.host_packages(id).await?;
    let safe_name: String = host
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (content_type, body, extension) = match q.format {
        ExportFormat::Cyclonedx => {
            let facts = api
                .store
                .host_facts(id)
                .await?
                .map(|f| f.host)
                .unwrap_or_default();
            let sbom_host = SbomHost::from_facts(host.name.clone(), &facts);
            let now = api.clock.now();
            let serial = uuid::Builder::from_unix_timestamp_millis(
                u64::try_from(now.as_millisecond()).unwrap_or(0),
                &random(),
            )
            .into_uuid();
            let doc = sbom::cyclonedx_sbom(
                &sbom_host,
                &packages,
                serial,
                now,
                env!("CARGO_PKG_VERSION"),
            );
            ("application/vnd.cyclonedx+json", doc, "cdx.json")
        }
        ExportFormat::Csv => (
            "text/csv; charset=utf-8",
            sbom::packages_csv(&packages),
            "csv",
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe_name}.{extension}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// `?tenant=&name=&format=` of an import.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The tenant the host belongs to.
    pub tenant: TenantId,
    /// The host's name; importing again under the same name updates it and
    /// records the software changes.
    pub name: String,
    /// What the body is.
    pub format: ImportFormat,
    /// The host's operating system as os-release names it, `ID:VERSION_ID`
    /// (`debian:12`, `almalinux:9.4`), which decides the advisories its
    /// packages are matched against; a CycloneDX SBOM may name it itself.
    pub os: Option<String>,
}

/// What an import's body is.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImportFormat {
    /// `/var/lib/dpkg/status`.
    DpkgStatus,
    /// `rpm -qa` output (plain NEVRA lines or tab-separated fields).
    RpmQa,
    /// `/lib/apk/db/installed`.
    ApkInstalled,
    /// A CycloneDX JSON SBOM.
    Cyclonedx,
}

/// What an import did.
#[derive(Serialize, ToSchema)]
pub struct ImportReport {
    /// The host.
    pub host: Host,
    /// Packages it now has.
    pub packages: usize,
    /// Software changes recorded (none for a first import).
    pub changes: usize,
    /// Components of an SBOM that are not OS packages, skipped, by kind.
    pub skipped: std::collections::BTreeMap<String, usize>,
}

/// Creates or updates a host without an agent from its package database
/// or an SBOM (INV-7). Bad input is refused whole, naming the line.
#[utoipa::path(post, path = "/hosts/import", tag = "hosts",
    security(("bearer" = ["host:write"])),
    params(ImportQuery),
    request_body(content = String, description = "The file", content_type = "application/octet-stream"),
    responses((status = 200, body = ImportReport), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<ImportQuery>,
    body: Body,
) -> Result<Json<ImportReport>, ApiError> {
    require(&caller, Permission::HostWrite)?;
    visible(&caller, q.tenant, "tenant")?;
    api.store
        .get_tenant(q.tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    rivet_core::validate::display_name("name", &q.name, 253)?;
    let limit = api.config.agents.max_inventory_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the file is larger than {limit} bytes (agents.max_inventory_bytes)"),
        )
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| ApiError::invalid("body", format!("not UTF-8 text: {e}")))?;
    let mut facts = HostFacts::default();
    let mut skipped = std::collections::BTreeMap::new();
    let packages = match q.format {
        ImportFormat::DpkgStatus => agent_parsed(rivet_agent::packages::dpkg::parse_status(
            text,
            "dpkg status",
        ))?,
        ImportFormat::ApkInstalled => agent_parsed(rivet_agent::packages::apk::parse_installed(
            text,
            "apk installed",
        ))?,
        ImportFormat::RpmQa => {
            sbom::parse_rpm_qa(text).map_err(|e| ApiError::invalid("body", e))?
        }
        ImportFormat::Cyclonedx => {
            let imported = sbom::parse_cyclonedx(text).map_err(|e| ApiError::invalid("body", e))?;
            facts = imported.host;
            skipped = imported.skipped;
            imported.packages
        }
    };
    if packages.is_empty() {
        return Err(ApiError::invalid("body", "holds no packages"));
    }
    if let Some(os) = &q.os {
        facts.os = Some(
            rivet_assess::scan::parse_os(os).map_err(|e| ApiError::invalid("os", e.to_string()))?,
        );
    }
    let now = api.clock.now();
    let mut inventory = Inventory {
        collected_at: now,
        host: facts,
        packages,
        unfinished_packages: Vec::new(),
        reboot: RebootStatus::default(),
        stale_processes: Vec::new(),
        problems: Vec::new(),
    };
    super::agent::validate_inventory(&inventory)?;
    canonicalize(&mut inventory);
    let digest = digest(&inventory);
    let (host, stored) = api
        .store
        .import_host(
            HostId::new(now, random()),
            q.tenant,
            &q.name,
            &inventory,
            &digest,
            &actor(&caller),
            now,
        )
        .await?;
    api.assessor.host_changed(stored.seq, &[], &[], true);
    Ok(Json(ImportReport {
        host,
        packages: stored.packages,
        changes: stored.changes,
        skipped,
    }))
}

/// The packages an agent parser read, or the first malformed record.
fn agent_parsed(collected: rivet_agent::packages::Collected) -> Result<Vec<Package>, ApiError> {
    if let Some(problem) = collected.problems.first() {
        let place = problem
            .line
            .map(|l| format!("line {l}: "))
            .unwrap_or_default();
        return Err(ApiError::invalid(
            "body",
            format!(
                "{place}{} ({} malformed records in all)",
                problem.message,
                collected.problems.len()
            ),
        ));
    }
    Ok(collected.packages)
}

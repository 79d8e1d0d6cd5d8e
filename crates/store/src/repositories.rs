//! Repositories (ASM-3): the apt and dnf repositories whose metadata the
//! server knows — of one tenant, or provider-wide (no tenant) — with the
//! packages and errata each offers, and the reads the missing-updates
//! computation makes. Importing metadata replaces a repository's packages
//! (or errata) in one transaction, with its audit entry: a reader sees the
//! old list or the new one, never half of either.

use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::id::{HostId, TenantId};
use rivet_core::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};

use crate::audit::append_audit;
use crate::row::{corrupt, json_rows, micros, opt_timestamp, parse, summary, timestamp, visible};
use crate::{Backend, Store, StoreError, in_tx, on_pool};

/// An erratum as one JSON row: id, kind, severity, issued, title, CVEs and
/// references (each a JSON array in text).
type ErratumRow<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    String,
    String,
);

/// Rows written per statement when importing metadata.
const ROWS_PER_STATEMENT: usize = 5000;

/// The kind of repository, by the metadata it publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RepositoryKind {
    /// An apt repository (`Packages`).
    Apt,
    /// An rpm-md repository (`primary.xml`, `updateinfo.xml`).
    Rpm,
}

impl RepositoryKind {
    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RepositoryKind::Apt => "apt",
            RepositoryKind::Rpm => "rpm",
        }
    }
}

/// A repository to create.
#[derive(Debug, Clone)]
pub struct NewRepository {
    /// Its id.
    pub id: String,
    /// Its tenant; `None` for a provider-wide repository every tenant's
    /// hosts may use.
    pub tenant_id: Option<TenantId>,
    /// Its name, unique per tenant (and among provider-wide ones).
    pub name: String,
    /// apt or rpm.
    pub kind: RepositoryKind,
    /// The ecosystem key of the hosts it serves (`Debian:12`).
    pub ecosystem: String,
    /// Everything it offers fixes security issues.
    pub security: bool,
    /// Approved for hosts' updates.
    pub approved: bool,
}

/// A repository as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Repository {
    /// Its id.
    pub id: String,
    /// Its tenant; absent for a provider-wide repository.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub tenant_id: Option<TenantId>,
    /// Its name.
    pub name: String,
    /// apt or rpm.
    pub kind: RepositoryKind,
    /// The ecosystem key of the hosts it serves (`Debian:12`, `AlmaLinux:9`).
    pub ecosystem: String,
    /// A security repository: everything it offers fixes security issues.
    pub security: bool,
    /// Approved for hosts' updates; unapproved ones are ignored.
    pub approved: bool,
    /// Packages it offers.
    pub package_count: i64,
    /// Errata it publishes.
    pub erratum_count: i64,
    /// SHA-256 of the last package list imported.
    pub metadata_digest: Option<String>,
    /// When it was imported.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub imported_at: Option<Timestamp>,
    /// SHA-256 of the last errata file imported.
    pub errata_digest: Option<String>,
    /// When it was imported.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub errata_imported_at: Option<Timestamp>,
    /// Who created it.
    pub created_by: String,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last change.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// A package a repository offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryPackage {
    /// Binary package name.
    pub name: String,
    /// Architecture.
    pub arch: String,
    /// Version.
    pub version: String,
    /// Source package.
    pub source_name: String,
    /// Source version.
    pub source_version: String,
}

/// An erratum of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryErratum {
    /// Its id.
    pub id: String,
    /// `security`, `bugfix`, `enhancement` or `newpackage`.
    pub kind: String,
    /// The vendor's severity.
    pub severity: Option<String>,
    /// When issued, as the vendor writes it.
    pub issued: Option<String>,
    /// Its title.
    pub title: Option<String>,
    /// Its CVEs.
    pub cves: Vec<String>,
    /// Its other references.
    pub references: Vec<String>,
    /// `(name, arch, version)` of the packages it brings.
    pub packages: Vec<(String, String, String)>,
}

/// A package version an erratum brings, as the missing-updates computation
/// reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErratumOffer {
    /// The repository.
    pub repository_id: String,
    /// The erratum.
    pub erratum_id: String,
    /// Its kind.
    pub kind: String,
    /// Binary package name.
    pub name: String,
    /// Architecture.
    pub arch: String,
    /// Version.
    pub version: String,
}

/// A host as the missing-updates computation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateHost {
    /// The store's compact key.
    pub seq: i64,
    /// Its id.
    pub id: HostId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// os-release `ID`.
    pub os_id: Option<String>,
    /// os-release `VERSION_ID`.
    pub os_version: Option<String>,
}

/// The fixed version of an open finding, for the missing updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFixRow {
    /// The host.
    pub host_seq: i64,
    /// The binary package.
    pub package: String,
    /// Its architecture.
    pub architecture: String,
    /// The first fixed version.
    pub fixed_version: String,
    /// The advisory.
    pub advisory_id: String,
}

const REPOSITORY_COLUMNS: &str = "id, tenant_id, name, kind, ecosystem, security, approved, package_count, \
    erratum_count, metadata_digest, imported_at, errata_digest, errata_imported_at, created_by, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct RepositoryRow {
    id: String,
    tenant_id: Option<String>,
    name: String,
    kind: String,
    ecosystem: String,
    security: bool,
    approved: bool,
    package_count: i64,
    erratum_count: i64,
    metadata_digest: Option<String>,
    imported_at: Option<i64>,
    errata_digest: Option<String>,
    errata_imported_at: Option<i64>,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

impl RepositoryRow {
    fn into_repository(self) -> Result<Repository, StoreError> {
        const T: &str = "repositories";
        let key = self.id.clone();
        Ok(Repository {
            tenant_id: self.tenant_id.map(|t| parse(T, &key, &t)).transpose()?,
            kind: match self.kind.as_str() {
                "apt" => RepositoryKind::Apt,
                "rpm" => RepositoryKind::Rpm,
                other => return Err(corrupt(T, &key, format!("kind {other:?}"))),
            },
            name: self.name,
            ecosystem: self.ecosystem,
            security: self.security,
            approved: self.approved,
            package_count: self.package_count,
            erratum_count: self.erratum_count,
            metadata_digest: self.metadata_digest,
            imported_at: opt_timestamp(T, &key, self.imported_at)?,
            errata_digest: self.errata_digest,
            errata_imported_at: opt_timestamp(T, &key, self.errata_imported_at)?,
            created_by: self.created_by,
            created_at: timestamp(T, &key, self.created_at)?,
            updated_at: timestamp(T, &key, self.updated_at)?,
            id: self.id,
        })
    }
}

fn event(
    at: Timestamp,
    actor: &Actor,
    action: &str,
    before: Option<&Repository>,
    after: Option<&Repository>,
) -> AuditEvent {
    let r = after.or(before);
    AuditEvent {
        at,
        actor: actor.clone(),
        action: action.into(),
        target_kind: "repository".into(),
        target_id: r.map(|r| r.id.clone()),
        tenant_id: r.and_then(|r| r.tenant_id),
        before: before.and_then(summary),
        after: after.and_then(summary),
    }
}

macro_rules! fetch_repository {
    ($exec:expr, $id:expr) => {{
        let sql = format!("SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE id = $1");
        sqlx::query_as::<_, RepositoryRow>(sqlx::AssertSqlSafe(sql))
            .bind($id)
            .fetch_optional($exec)
            .await?
            .map(RepositoryRow::into_repository)
            .transpose()?
    }};
}

/// `column IN (…)` over the JSON array bound at `$param`: text values, or
/// integers with `integer`.
fn json_in(backend: Backend, column: &str, param: usize, integer: bool) -> String {
    match (backend, integer) {
        (Backend::Sqlite, _) => format!("{column} IN (SELECT value FROM json_each(${param}))"),
        (Backend::Postgres, false) => {
            format!("{column} IN (SELECT jsonb_array_elements_text(${param}::jsonb))")
        }
        (Backend::Postgres, true) => {
            format!("{column} IN (SELECT jsonb_array_elements_text(${param}::jsonb)::bigint)")
        }
    }
}

/// The statements that write imported rows, per backend; rows travel as
/// one JSON array of arrays in `$2` (`$1` the repository).
struct ImportSql {
    packages: &'static str,
    errata: &'static str,
    erratum_packages: &'static str,
}

impl ImportSql {
    fn of(backend: Backend) -> ImportSql {
        match backend {
            Backend::Sqlite => ImportSql {
                packages: "INSERT INTO repository_packages (repository_id, name, arch, version, source_name, source_version) \
                    SELECT $1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each($2) \
                    WHERE true ON CONFLICT DO NOTHING",
                errata: "INSERT INTO repository_errata (repository_id, id, kind, severity, issued, title, cves, refs) \
                    SELECT $1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6 \
                    FROM json_each($2) WHERE true ON CONFLICT DO NOTHING",
                erratum_packages: "INSERT INTO repository_erratum_packages (repository_id, erratum_id, name, arch, version) \
                    SELECT $1, value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each($2) \
                    WHERE true ON CONFLICT DO NOTHING",
            },
            Backend::Postgres => ImportSql {
                packages: "INSERT INTO repository_packages (repository_id, name, arch, version, source_name, source_version) \
                    SELECT $1, e ->> 0, e ->> 1, e ->> 2, e ->> 3, e ->> 4 FROM jsonb_array_elements($2::jsonb) AS t (e) \
                    ON CONFLICT DO NOTHING",
                errata: "INSERT INTO repository_errata (repository_id, id, kind, severity, issued, title, cves, refs) \
                    SELECT $1, e ->> 0, e ->> 1, e ->> 2, e ->> 3, e ->> 4, e ->> 5, e ->> 6 \
                    FROM jsonb_array_elements($2::jsonb) AS t (e) ON CONFLICT DO NOTHING",
                erratum_packages: "INSERT INTO repository_erratum_packages (repository_id, erratum_id, name, arch, version) \
                    SELECT $1, e ->> 0, e ->> 1, e ->> 2, e ->> 3 FROM jsonb_array_elements($2::jsonb) AS t (e) \
                    ON CONFLICT DO NOTHING",
            },
        }
    }
}

impl Store {
    /// Creates a repository, audited. A duplicate name (per tenant, or
    /// among provider-wide ones) is a conflict.
    pub async fn create_repository(
        &self,
        new: &NewRepository,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Repository, StoreError> {
        let created = in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO repositories (id, tenant_id, name, kind, ecosystem, security, approved, package_count, \
                 erratum_count, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, $9, $9)",
            )
            .bind(&new.id)
            .bind(new.tenant_id.map(|t| t.to_string()))
            .bind(&new.name)
            .bind(new.kind.as_str())
            .bind(&new.ecosystem)
            .bind(new.security)
            .bind(new.approved)
            .bind(&actor.name)
            .bind(micros(at))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::conflict_on_unique(e, || format!("a repository named {:?} already exists", new.name)))?;
            let created = fetch_repository!(&mut *tx, &new.id)
                .ok_or_else(|| corrupt("repositories", &new.id, "vanished".into()))?;
            append_audit!(tx, event(at, actor, "repository.create", None, Some(&created)));
            created
        });
        Ok(created)
    }

    /// A repository by id.
    pub async fn get_repository(&self, id: &str) -> Result<Option<Repository>, StoreError> {
        Ok(on_pool!(self, pool => fetch_repository!(pool, id)))
    }

    /// The provider-wide repositories and those of the visible tenants
    /// (with `tenant`, only that tenant's own), by id.
    pub async fn list_repositories(
        &self,
        vis: &Visibility,
        tenant: Option<TenantId>,
        page: &PageRequest,
    ) -> Result<Page<Repository>, StoreError> {
        let (vis_sql, mut binds) = visible(vis, "tenant_id", 3);
        let mut condition = format!("(tenant_id IS NULL OR {vis_sql})");
        if let Some(t) = tenant {
            binds.push(t.to_string());
            condition = format!("{condition} AND tenant_id = ${}", 2 + binds.len());
        }
        let sql = format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE id > $1 AND {condition} ORDER BY id LIMIT $2"
        );
        let after = page.after.clone().unwrap_or_default();
        let rows: Vec<RepositoryRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, RepositoryRow>(sqlx::AssertSqlSafe(sql)).bind(after).bind(page.fetch());
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?
        });
        let items = rows
            .into_iter()
            .map(RepositoryRow::into_repository)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |r| r.id.clone()))
    }

    /// Deletes a repository with everything it offers, audited. `None` if
    /// it does not exist.
    pub async fn delete_repository(
        &self,
        id: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<Repository>, StoreError> {
        let out = in_tx!(self, tx => {
            match fetch_repository!(&mut *tx, id) {
                None => None,
                Some(before) => {
                    // Children first: SQLite's cascade would delete the
                    // erratum packages through two levels, row by row.
                    for table in ["repository_erratum_packages", "repository_errata", "repository_packages"] {
                        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE repository_id = $1")))
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query("DELETE FROM repositories WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    append_audit!(tx, event(at, actor, "repository.delete", Some(&before), None));
                    Some(before)
                }
            }
        });
        Ok(out)
    }

    /// Replaces the packages a repository offers with `packages` (duplicates
    /// stored once), in one transaction with its audit entry. `None` if
    /// the repository does not exist.
    #[tracing::instrument(skip(self, packages, actor), fields(packages = packages.len()))]
    pub async fn import_repository_packages(
        &self,
        id: &str,
        packages: &[RepositoryPackage],
        digest: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<Repository>, StoreError> {
        let sql = ImportSql::of(self.backend());
        let chunks = packages
            .chunks(ROWS_PER_STATEMENT)
            .map(|chunk| {
                let rows: Vec<[&str; 5]> = chunk
                    .iter()
                    .map(|p| {
                        [
                            &*p.name,
                            &*p.arch,
                            &*p.version,
                            &*p.source_name,
                            &*p.source_version,
                        ]
                    })
                    .collect();
                json_rows(&rows)
            })
            .collect::<Result<Vec<String>, _>>()?;
        let out = in_tx!(self, tx => {
            match fetch_repository!(&mut *tx, id) {
                None => None,
                Some(before) => {
                    sqlx::query("DELETE FROM repository_packages WHERE repository_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for rows in &chunks {
                        sqlx::query(sql.packages).bind(id).bind(rows).execute(&mut *tx).await?;
                    }
                    sqlx::query(
                        "UPDATE repositories SET package_count = (SELECT COUNT(*) FROM repository_packages WHERE repository_id = $1), \
                         metadata_digest = $2, imported_at = $3, updated_at = $3 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(digest)
                    .bind(micros(at))
                    .execute(&mut *tx)
                    .await?;
                    let after = fetch_repository!(&mut *tx, id)
                        .ok_or_else(|| corrupt("repositories", id, "vanished".into()))?;
                    append_audit!(tx, event(at, actor, "repository.import", Some(&before), Some(&after)));
                    Some(after)
                }
            }
        });
        Ok(out)
    }

    /// Replaces a repository's errata, like
    /// [`Store::import_repository_packages`].
    #[tracing::instrument(skip(self, errata, actor), fields(errata = errata.len()))]
    pub async fn import_repository_errata(
        &self,
        id: &str,
        errata: &[RepositoryErratum],
        digest: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<Repository>, StoreError> {
        let sql = ImportSql::of(self.backend());
        let as_json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let mut erratum_chunks = Vec::new();
        for chunk in errata.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<ErratumRow<'_>> = chunk
                .iter()
                .map(|e| {
                    (
                        e.id.as_str(),
                        e.kind.as_str(),
                        e.severity.as_deref(),
                        e.issued.as_deref(),
                        e.title.as_deref(),
                        as_json(&e.cves),
                        as_json(&e.references),
                    )
                })
                .collect();
            erratum_chunks.push(json_rows(&rows)?);
        }
        let package_rows: Vec<[&str; 4]> = errata
            .iter()
            .flat_map(|e| {
                e.packages
                    .iter()
                    .map(move |(n, a, v)| [&*e.id, &**n, &**a, &**v])
            })
            .collect();
        let package_chunks = package_rows
            .chunks(ROWS_PER_STATEMENT)
            .map(json_rows)
            .collect::<Result<Vec<String>, _>>()?;
        let out = in_tx!(self, tx => {
            match fetch_repository!(&mut *tx, id) {
                None => None,
                Some(before) => {
                    for table in ["repository_erratum_packages", "repository_errata"] {
                        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE repository_id = $1")))
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    for rows in &erratum_chunks {
                        sqlx::query(sql.errata).bind(id).bind(rows).execute(&mut *tx).await?;
                    }
                    for rows in &package_chunks {
                        sqlx::query(sql.erratum_packages).bind(id).bind(rows).execute(&mut *tx).await?;
                    }
                    sqlx::query(
                        "UPDATE repositories SET erratum_count = (SELECT COUNT(*) FROM repository_errata WHERE repository_id = $1), \
                         errata_digest = $2, errata_imported_at = $3, updated_at = $3 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(digest)
                    .bind(micros(at))
                    .execute(&mut *tx)
                    .await?;
                    let after = fetch_repository!(&mut *tx, id)
                        .ok_or_else(|| corrupt("repositories", id, "vanished".into()))?;
                    append_audit!(tx, event(at, actor, "repository.import_errata", Some(&before), Some(&after)));
                    Some(after)
                }
            }
        });
        Ok(out)
    }

    /// The approved repositories of `ecosystem` a host of `tenant` may
    /// use: the tenant's own and the provider-wide ones.
    pub async fn approved_repositories(
        &self,
        tenant: TenantId,
        ecosystem: &str,
    ) -> Result<Vec<Repository>, StoreError> {
        let sql = format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE ecosystem = $1 AND approved \
             AND (tenant_id IS NULL OR tenant_id = $2) ORDER BY id"
        );
        let rows: Vec<RepositoryRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(ecosystem)
                .bind(tenant.to_string())
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(RepositoryRow::into_repository)
            .collect()
    }

    /// `(repository id, package)` of the packages these repositories offer
    /// under these names.
    pub async fn repository_offers(
        &self,
        repositories: &[String],
        names: &[String],
    ) -> Result<Vec<(String, RepositoryPackage)>, StoreError> {
        if repositories.is_empty() || names.is_empty() {
            return Ok(Vec::new());
        }
        let b = self.backend();
        let sql = format!(
            "SELECT repository_id, name, arch, version, source_name, source_version FROM repository_packages \
             WHERE {} AND {}",
            json_in(b, "repository_id", 1, false),
            json_in(b, "name", 2, false)
        );
        type Row = (String, String, String, String, String, String);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(json_rows(repositories)?)
                .bind(json_rows(names)?)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(r, name, arch, version, source_name, source_version)| {
                (
                    r,
                    RepositoryPackage {
                        name,
                        arch,
                        version,
                        source_name,
                        source_version,
                    },
                )
            })
            .collect())
    }

    /// The package versions the errata of these repositories bring under
    /// these names.
    pub async fn repository_erratum_offers(
        &self,
        repositories: &[String],
        names: &[String],
    ) -> Result<Vec<ErratumOffer>, StoreError> {
        if repositories.is_empty() || names.is_empty() {
            return Ok(Vec::new());
        }
        let b = self.backend();
        let sql = format!(
            "SELECT p.repository_id, p.erratum_id, e.kind, p.name, p.arch, p.version \
             FROM repository_erratum_packages p JOIN repository_errata e \
             ON e.repository_id = p.repository_id AND e.id = p.erratum_id WHERE {} AND {}",
            json_in(b, "p.repository_id", 1, false),
            json_in(b, "p.name", 2, false)
        );
        type Row = (String, String, String, String, String, String);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(json_rows(repositories)?)
                .bind(json_rows(names)?)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(repository_id, erratum_id, kind, name, arch, version)| ErratumOffer {
                    repository_id,
                    erratum_id,
                    kind,
                    name,
                    arch,
                    version,
                },
            )
            .collect())
    }

    /// The hosts of the visible tenants (of one tenant, or one host) with
    /// their operating system, by seq.
    pub async fn update_hosts(
        &self,
        vis: &Visibility,
        tenant: Option<TenantId>,
        host: Option<HostId>,
    ) -> Result<Vec<UpdateHost>, StoreError> {
        let (vis_sql, mut binds) = visible(vis, "tenant_id", 1);
        let mut condition = vis_sql;
        if let Some(t) = tenant {
            binds.push(t.to_string());
            condition = format!("{condition} AND tenant_id = ${}", binds.len());
        }
        if let Some(h) = host {
            binds.push(h.to_string());
            condition = format!("{condition} AND id = ${}", binds.len());
        }
        let sql = format!(
            "SELECT seq, id, tenant_id, os_id, os_version FROM hosts WHERE {condition} ORDER BY seq"
        );
        type Row = (i64, String, String, Option<String>, Option<String>);
        let rows: Vec<Row> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql));
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(seq, id, tenant, os_id, os_version)| {
                let key = seq.to_string();
                Ok(UpdateHost {
                    seq,
                    id: parse("hosts", &key, &id)?,
                    tenant_id: parse("hosts", &key, &tenant)?,
                    os_id,
                    os_version,
                })
            })
            .collect()
    }

    /// The distinct package ids installed on these hosts.
    pub async fn distinct_package_ids(&self, hosts: &[i64]) -> Result<Vec<i64>, StoreError> {
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT package_id FROM host_packages WHERE {}",
            json_in(self.backend(), "host_seq", 1, true)
        );
        let rows: Vec<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(json_rows(hosts)?).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// `(host seq, package id)` of these hosts holding these packages.
    pub async fn hosts_holding(
        &self,
        hosts: &[i64],
        packages: &[i64],
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        if hosts.is_empty() || packages.is_empty() {
            return Ok(Vec::new());
        }
        let b = self.backend();
        let sql = format!(
            "SELECT host_seq, package_id FROM host_packages WHERE {} AND {} ORDER BY host_seq",
            json_in(b, "host_seq", 1, true),
            json_in(b, "package_id", 2, true)
        );
        Ok(on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(json_rows(hosts)?)
                .bind(json_rows(packages)?)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The open findings with a fixed version on these hosts, for
    /// packages of these names.
    pub async fn open_fixes(
        &self,
        hosts: &[i64],
        names: &[String],
    ) -> Result<Vec<OpenFixRow>, StoreError> {
        if hosts.is_empty() || names.is_empty() {
            return Ok(Vec::new());
        }
        let b = self.backend();
        let sql = format!(
            "SELECT host_seq, package, architecture, fixed_version, advisory_id FROM findings \
             WHERE state = 'open' AND fixed_version IS NOT NULL AND {} AND {}",
            json_in(b, "host_seq", 1, true),
            json_in(b, "package", 2, false)
        );
        type Row = (i64, String, String, String, String);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(json_rows(hosts)?)
                .bind(json_rows(names)?)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(host_seq, package, architecture, fixed_version, advisory_id)| OpenFixRow {
                    host_seq,
                    package,
                    architecture,
                    fixed_version,
                    advisory_id,
                },
            )
            .collect())
    }
}

//! Advisories, CISA KEV and FIRST EPSS (ADV-1..ADV-3): imported in batches,
//! each batch in one transaction, idempotently — a document already stored
//! with the same content is unchanged, a newer `modified` replaces it, an
//! older one does not.

use std::collections::HashMap;

use rivet_core::Timestamp;
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::page::{Page, PageRequest};
use serde::Serialize;

use crate::audit::append_audit;
use crate::row::{micros, opt_timestamp, params_from, timestamp, values};
use crate::{Store, StoreError, in_tx, on_pool};

/// An advisory document ready to store: the columns Rivet searches by, and
/// the whole normalised record as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisoryRecord {
    /// Unique per document (see the import code for how it is formed).
    pub key: String,
    /// The advisory's id.
    pub id: String,
    /// `osv` or `csaf`.
    pub format: String,
    /// Title or summary.
    pub title: Option<String>,
    /// First published.
    pub published: Option<Timestamp>,
    /// Last modified.
    pub modified: Option<Timestamp>,
    /// Withdrawn at.
    pub withdrawn: Option<Timestamp>,
    /// The highest CVSS base score.
    pub severity_score: Option<f64>,
    /// A severity class or vendor rating.
    pub severity: Option<String>,
    /// Other ids (CVE, GHSA…).
    pub aliases: Vec<String>,
    /// What it affects.
    pub packages: Vec<AffectedPackage>,
    /// The source's label.
    pub source: String,
    /// File, URL or archive member.
    pub location: String,
    /// When it was fetched.
    pub fetched_at: Timestamp,
    /// SHA-256 of the document's bytes.
    pub content_sha256: String,
    /// `unsigned`, `verified:<fingerprint>` or `failed:<reason>`.
    pub signature: String,
    /// The normalised record as JSON.
    pub body: String,
}

/// One affected package of an advisory, as matching looks it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedPackage {
    /// The ecosystem as published (`Ubuntu:22.04:LTS`).
    pub ecosystem: String,
    /// Its name (`Ubuntu`).
    pub ecosystem_name: String,
    /// The package.
    pub package: String,
    /// A fixed version, if one is known.
    pub fixed: Option<String>,
}

/// What an import did, counted in documents (or entries, for KEV and EPSS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    /// New.
    pub imported: u64,
    /// Replaced by a newer version.
    pub updated: u64,
    /// Already there (the same, or newer).
    pub unchanged: u64,
}

impl std::ops::AddAssign for ImportCounts {
    fn add_assign(&mut self, o: Self) {
        self.imported += o.imported;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
    }
}

/// An advisory as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdvisorySummary {
    /// The document key.
    pub key: String,
    /// The advisory's id.
    pub id: String,
    /// `osv` or `csaf`.
    pub format: String,
    /// Title.
    pub title: Option<String>,
    /// First published.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub published: Option<Timestamp>,
    /// Last modified.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub modified: Option<Timestamp>,
    /// Withdrawn at.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub withdrawn: Option<Timestamp>,
    /// The highest CVSS base score.
    pub severity_score: Option<f64>,
    /// Severity class or vendor rating.
    pub severity: Option<String>,
    /// Where it came from.
    pub source: String,
    /// File, URL or archive member.
    pub location: String,
    /// The signature status.
    pub signature: String,
}

/// Filters for the advisory listing.
#[derive(Debug, Clone, Default)]
pub struct AdvisoryFilter {
    /// Only advisories affecting this ecosystem name (`AlmaLinux`) or full
    /// ecosystem (`AlmaLinux:9`).
    pub ecosystem: Option<String>,
    /// Only advisories affecting this package.
    pub package: Option<String>,
    /// Only advisories with this id or alias (a CVE).
    pub cve: Option<String>,
    /// Only advisories with an alias in the KEV catalog.
    pub kev: bool,
    /// Only advisories with at least this CVSS base score.
    pub min_score: Option<f64>,
}

/// A CISA KEV entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KevRecord {
    /// The CVE.
    pub cve: String,
    /// When CISA added it (`YYYY-MM-DD`).
    pub date_added: String,
    /// The remediation due date for US federal agencies.
    pub due_date: String,
    /// `Known` or `Unknown` use in ransomware campaigns.
    pub ransomware: String,
    /// The vendor.
    pub vendor: String,
    /// The product.
    pub product: String,
    /// The vulnerability's name.
    pub name: String,
    /// CISA's required action.
    pub required_action: String,
}

/// An EPSS score as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EpssRecord {
    /// The CVE.
    pub cve: String,
    /// Probability of exploitation in the next 30 days.
    pub score: f64,
    /// Its percentile among all scores.
    pub percentile: f64,
    /// The day the score is for.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub score_date: Timestamp,
    /// The model that produced it.
    pub model_version: String,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    key: String,
    id: String,
    format: String,
    title: Option<String>,
    published: Option<i64>,
    modified: Option<i64>,
    withdrawn: Option<i64>,
    severity_score: Option<f64>,
    severity: Option<String>,
    source: String,
    location: String,
    signature: String,
    /// Selected only when showing one advisory.
    #[sqlx(default)]
    body: Option<String>,
}

const SUMMARY_COLUMNS: &str = "a.key, a.id, a.format, a.title, a.published, a.modified, a.withdrawn, \
    a.severity_score, a.severity, a.source, a.location, a.signature";

impl SummaryRow {
    fn into_summary(self) -> Result<AdvisorySummary, StoreError> {
        let k = &self.key;
        Ok(AdvisorySummary {
            published: opt_timestamp("advisories", k, self.published)?,
            modified: opt_timestamp("advisories", k, self.modified)?,
            withdrawn: opt_timestamp("advisories", k, self.withdrawn)?,
            key: self.key,
            id: self.id,
            format: self.format,
            title: self.title,
            severity_score: self.severity_score,
            severity: self.severity,
            source: self.source,
            location: self.location,
            signature: self.signature,
        })
    }
}

const KEV_SELECT: &str =
    "SELECT cve, date_added, due_date, ransomware, vendor, product, name, required_action FROM kev";

/// Rows per multi-row INSERT: well under both dialects' parameter limits.
const ROWS_PER_INSERT: usize = 500;

impl Store {
    /// Rows per INSERT for bulk loads. PostgreSQL gains from many rows per
    /// statement (fewer round trips). SQLite does not: binding a `$N`
    /// parameter looks its name up in a list (`sqlite3_bind_parameter_name`
    /// is linear), so a statement's binding cost grows with the square of
    /// its parameters — a profile of the AlmaLinux import spent 61 % there
    /// with 500 rows per statement. A tenth of that is the sweet spot
    /// between that and the per-statement cost of single rows.
    pub(crate) fn rows_per_insert(&self, rows: usize) -> usize {
        match self.backend() {
            crate::Backend::Sqlite => (rows / 10).max(1),
            crate::Backend::Postgres => rows,
        }
    }
}

impl Store {
    /// Stores a batch of advisory documents in one transaction and records
    /// one audit entry for it. `label` names the batch in that entry.
    #[tracing::instrument(skip(self, records, actor), fields(documents = records.len()))]
    pub async fn import_advisories(
        &self,
        records: &[AdvisoryRecord],
        label: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<ImportCounts, StoreError> {
        // Later documents of a batch win over earlier ones with the same key,
        // by the same rule as against the store.
        let mut latest: HashMap<&str, &AdvisoryRecord> = HashMap::new();
        let mut counts = ImportCounts::default();
        for r in records {
            match latest.get(r.key.as_str()) {
                Some(prev) if !replaces(r, prev.modified, &prev.content_sha256) => {
                    counts.unchanged += 1
                }
                Some(_) => {
                    counts.unchanged += 1;
                    latest.insert(&r.key, r);
                }
                None => {
                    latest.insert(&r.key, r);
                }
            }
        }
        let mut batch: Vec<&AdvisoryRecord> = latest.into_values().collect();
        batch.sort_by(|a, b| a.key.cmp(&b.key));
        in_tx!(self, tx => {
            let mut fresh: Vec<&AdvisoryRecord> = Vec::new();
            for chunk in batch.chunks(self.rows_per_insert(ROWS_PER_INSERT)) {
                let sql = format!(
                    "SELECT key, content_sha256, modified FROM advisories WHERE key IN ({})",
                    params_from(1, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (String, String, Option<i64>)>(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q.bind(&r.key);
                }
                let existing: HashMap<String, (String, Option<i64>)> =
                    q.fetch_all(&mut *tx).await?.into_iter().map(|(k, h, m)| (k, (h, m))).collect();
                let mut replaced: Vec<&str> = Vec::new();
                for r in chunk {
                    match existing.get(&r.key) {
                        None => {
                            counts.imported += 1;
                            fresh.push(r);
                        }
                        Some((hash, modified)) => {
                            let modified = opt_timestamp("advisories", &r.key, *modified)?;
                            if replaces(r, modified, hash) {
                                counts.updated += 1;
                                replaced.push(&r.key);
                                fresh.push(r);
                            } else {
                                counts.unchanged += 1;
                            }
                        }
                    }
                }
                if !replaced.is_empty() {
                    let sql = format!("DELETE FROM advisories WHERE key IN ({})", params_from(1, replaced.len()));
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for k in &replaced {
                        q = q.bind(*k);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            for chunk in fresh.chunks(self.rows_per_insert(ROWS_PER_INSERT)) {
                let sql = format!(
                    "INSERT INTO advisories (key, id, format, title, published, modified, withdrawn, \
                     severity_score, severity, source, location, fetched_at, content_sha256, signature, \
                     body, imported_at, updated_at) VALUES {}",
                    values(chunk.len(), 17)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(&r.key)
                        .bind(&r.id)
                        .bind(&r.format)
                        .bind(&r.title)
                        .bind(r.published.map(micros))
                        .bind(r.modified.map(micros))
                        .bind(r.withdrawn.map(micros))
                        .bind(r.severity_score)
                        .bind(&r.severity)
                        .bind(&r.source)
                        .bind(&r.location)
                        .bind(micros(r.fetched_at))
                        .bind(&r.content_sha256)
                        .bind(&r.signature)
                        .bind(&r.body)
                        .bind(micros(at))
                        .bind(micros(at));
                }
                q.execute(&mut *tx).await?;
            }
            let aliases: Vec<(&str, &str)> = fresh
                .iter()
                .flat_map(|r| {
                    let mut seen = std::collections::BTreeSet::new();
                    r.aliases.iter().filter(move |a| seen.insert(a.as_str())).map(move |a| (r.key.as_str(), a.as_str()))
                })
                .collect();
            for chunk in aliases.chunks(self.rows_per_insert(ROWS_PER_INSERT * 4)) {
                let sql = format!("INSERT INTO advisory_aliases (advisory_key, alias) VALUES {}", values(chunk.len(), 2));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (k, a) in chunk {
                    q = q.bind(*k).bind(*a);
                }
                q.execute(&mut *tx).await?;
            }
            let packages: Vec<(&str, &AffectedPackage)> =
                fresh.iter().flat_map(|r| r.packages.iter().map(move |p| (r.key.as_str(), p))).collect();
            for chunk in packages.chunks(self.rows_per_insert(ROWS_PER_INSERT * 2)) {
                let sql = format!(
                    "INSERT INTO advisory_packages (advisory_key, ecosystem, ecosystem_name, package, fixed) VALUES {}",
                    values(chunk.len(), 5)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (k, p) in chunk {
                    q = q.bind(*k).bind(&p.ecosystem).bind(&p.ecosystem_name).bind(&p.package).bind(&p.fixed);
                }
                q.execute(&mut *tx).await?;
            }
            if counts.imported + counts.updated > 0 {
                append_audit!(tx, AuditEvent {
                    at,
                    actor: actor.clone(),
                    action: "advisory.import".into(),
                    target_kind: "advisory".into(),
                    target_id: None,
                    tenant_id: None,
                    before: None,
                    after: Some(serde_json::json!({"source": label, "counts": counts}).to_string()),
                });
            }
        });
        Ok(counts)
    }

    /// Advisories, filtered, ordered by key.
    pub async fn list_advisories(
        &self,
        filter: &AdvisoryFilter,
        page: &PageRequest,
    ) -> Result<Page<AdvisorySummary>, StoreError> {
        let after = page.after.clone().unwrap_or_default();
        let mut conditions = vec!["a.key > $1".to_owned()];
        let mut binds: Vec<String> = vec![after];
        let next = |binds: &mut Vec<String>, v: String| {
            binds.push(v);
            format!("${}", binds.len() + 1)
        };
        if let Some(e) = &filter.ecosystem {
            let p = next(&mut binds, e.clone());
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM advisory_packages p WHERE p.advisory_key = a.key AND (p.ecosystem_name = {p} OR p.ecosystem = {p}))"
            ));
        }
        if let Some(pkg) = &filter.package {
            let p = next(&mut binds, pkg.clone());
            conditions.push(format!("EXISTS (SELECT 1 FROM advisory_packages p WHERE p.advisory_key = a.key AND p.package = {p})"));
        }
        if let Some(cve) = &filter.cve {
            let p = next(&mut binds, cve.clone());
            conditions.push(format!(
                "(a.id = {p} OR EXISTS (SELECT 1 FROM advisory_aliases x WHERE x.advisory_key = a.key AND x.alias = {p}))"
            ));
        }
        if filter.kev {
            conditions.push(
                "(EXISTS (SELECT 1 FROM kev k WHERE k.cve = a.id) OR EXISTS (SELECT 1 FROM advisory_aliases x \
                 JOIN kev k ON k.cve = x.alias WHERE x.advisory_key = a.key))"
                    .to_owned(),
            );
        }
        // The limit is $2; the rest are numbered after it.
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM advisories a WHERE {}{} ORDER BY a.key LIMIT $2",
            conditions.join(" AND "),
            if filter.min_score.is_some() {
                format!(" AND a.severity_score >= ${}", binds.len() + 2)
            } else {
                String::new()
            }
        );
        let rows: Vec<SummaryRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, SummaryRow>(sqlx::AssertSqlSafe(sql)).bind(&binds[0]).bind(page.fetch());
            for b in &binds[1..] {
                q = q.bind(b);
            }
            if let Some(score) = filter.min_score {
                q = q.bind(score);
            }
            q.fetch_all(pool).await?
        });
        let items = rows
            .into_iter()
            .map(SummaryRow::into_summary)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |a| a.key.clone()))
    }

    /// Every document with this id or key, with its normalised body.
    pub async fn get_advisory(
        &self,
        id: &str,
    ) -> Result<Vec<(AdvisorySummary, String)>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, a.body FROM advisories a WHERE a.id = $1 OR a.key = $1 ORDER BY a.key"
        );
        let rows: Vec<SummaryRow> = on_pool!(self, pool => {
            sqlx::query_as::<_, SummaryRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|mut r| {
                let body = r.body.take().unwrap_or_default();
                Ok((r.into_summary()?, body))
            })
            .collect()
    }

    /// How many advisory documents and affected-package rows are stored.
    pub async fn count_advisories(&self) -> Result<(i64, i64), StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT (SELECT COUNT(*) FROM advisories), (SELECT COUNT(*) FROM advisory_packages)")
                .fetch_one(pool)
                .await?
        }))
    }

    /// Replaces the KEV catalog's entries: new CVEs are imported, changed
    /// ones updated, the rest unchanged.
    #[tracing::instrument(skip(self, entries, actor), fields(entries = entries.len()))]
    pub async fn import_kev(
        &self,
        entries: &[KevRecord],
        catalog_version: &str,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<ImportCounts, StoreError> {
        let mut counts = ImportCounts::default();
        in_tx!(self, tx => {
            let existing: HashMap<String, KevRecord> = sqlx::query_as::<_, KevRecord>(KEV_SELECT)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|k| (k.cve.clone(), k))
                .collect();
            let mut changed: Vec<&KevRecord> = Vec::new();
            for e in entries {
                match existing.get(&e.cve) {
                    None => {
                        counts.imported += 1;
                        changed.push(e);
                    }
                    Some(old) if old != e => {
                        counts.updated += 1;
                        changed.push(e);
                    }
                    Some(_) => counts.unchanged += 1,
                }
            }
            for e in &changed {
                sqlx::query("DELETE FROM kev WHERE cve = $1").bind(&e.cve).execute(&mut *tx).await?;
            }
            for chunk in changed.chunks(self.rows_per_insert(ROWS_PER_INSERT)) {
                let sql = format!(
                    "INSERT INTO kev (cve, date_added, due_date, ransomware, vendor, product, name, required_action, \
                     catalog_version, imported_at) VALUES {}",
                    values(chunk.len(), 10)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for e in chunk {
                    q = q
                        .bind(&e.cve)
                        .bind(&e.date_added)
                        .bind(&e.due_date)
                        .bind(&e.ransomware)
                        .bind(&e.vendor)
                        .bind(&e.product)
                        .bind(&e.name)
                        .bind(&e.required_action)
                        .bind(catalog_version)
                        .bind(micros(at));
                }
                q.execute(&mut *tx).await?;
            }
            if !changed.is_empty() {
                append_audit!(tx, AuditEvent {
                    at,
                    actor: actor.clone(),
                    action: "kev.import".into(),
                    target_kind: "kev".into(),
                    target_id: Some(catalog_version.to_owned()),
                    tenant_id: None,
                    before: None,
                    after: Some(serde_json::json!({"catalog_version": catalog_version, "counts": counts}).to_string()),
                });
            }
        });
        Ok(counts)
    }

    /// The KEV entry of a CVE.
    pub async fn kev(&self, cve: &str) -> Result<Option<KevRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{KEV_SELECT} WHERE cve = $1"));
        Ok(on_pool!(self, pool => {
            sqlx::query_as::<_, KevRecord>(sql).bind(cve).fetch_optional(pool).await?
        }))
    }

    /// Stores EPSS scores: a score for a newer day replaces the stored one.
    #[tracing::instrument(skip(self, scores, actor), fields(scores = scores.len()))]
    pub async fn import_epss(
        &self,
        scores: &[EpssRecord],
        actor: &Actor,
        at: Timestamp,
    ) -> Result<ImportCounts, StoreError> {
        let mut counts = ImportCounts::default();
        in_tx!(self, tx => {
            let existing: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>("SELECT cve, score_date FROM epss")
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
            let mut changed: Vec<&EpssRecord> = Vec::new();
            for s in scores {
                match existing.get(&s.cve) {
                    None => {
                        counts.imported += 1;
                        changed.push(s);
                    }
                    Some(day) if *day < micros(s.score_date) => {
                        counts.updated += 1;
                        changed.push(s);
                    }
                    Some(_) => counts.unchanged += 1,
                }
            }
            for s in &changed {
                sqlx::query("DELETE FROM epss WHERE cve = $1").bind(&s.cve).execute(&mut *tx).await?;
            }
            for chunk in changed.chunks(self.rows_per_insert(ROWS_PER_INSERT)) {
                let sql = format!(
                    "INSERT INTO epss (cve, score, percentile, score_date, model_version) VALUES {}",
                    values(chunk.len(), 5)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for s in chunk {
                    q = q.bind(&s.cve).bind(s.score).bind(s.percentile).bind(micros(s.score_date)).bind(&s.model_version);
                }
                q.execute(&mut *tx).await?;
            }
            if !changed.is_empty() {
                append_audit!(tx, AuditEvent {
                    at,
                    actor: actor.clone(),
                    action: "epss.import".into(),
                    target_kind: "epss".into(),
                    target_id: None,
                    tenant_id: None,
                    before: None,
                    after: Some(serde_json::json!({"counts": counts}).to_string()),
                });
            }
        });
        Ok(counts)
    }

    /// Every CVE in CISA's known-exploited catalogue.
    pub async fn kev_cves(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows: Vec<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT cve FROM kev").fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|(c,)| c).collect())
    }

    /// The EPSS score of a CVE.
    pub async fn epss(&self, cve: &str) -> Result<Option<EpssRecord>, StoreError> {
        let row: Option<(String, f64, f64, i64, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT cve, score, percentile, score_date, model_version FROM epss WHERE cve = $1")
                .bind(cve)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(cve, score, percentile, day, model_version)| {
            Ok(EpssRecord {
                score_date: timestamp("epss", &cve, day)?,
                cve,
                score,
                percentile,
                model_version,
            })
        })
        .transpose()
    }
}

/// Whether `new` should replace a stored document with `modified` and
/// `hash`: only if it differs and is strictly newer. A document without a
/// `modified` date never replaces one that has one.
fn replaces(new: &AdvisoryRecord, modified: Option<Timestamp>, hash: &str) -> bool {
    if new.content_sha256 == hash {
        return false;
    }
    match (new.modified, modified) {
        (Some(n), Some(o)) => n > o,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

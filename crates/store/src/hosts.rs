//! Hosts, the CMDB (INV-1 to INV-8): enrollment tokens, hosts with their
//! agent identity and attributes, their current packages and the history of
//! every software change.
//!
//! Packages are interned: each distinct package (format, name, version,
//! architecture, source, repository) is one row of `packages`, and a host's
//! package set is a list of those rows' ids, so 100,000 hosts with mostly
//! the same packages store each string once. The store keeps a map from a
//! package's key to its id in memory; ids never change once written, so the
//! map is right for every replica.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::agent::AgentPublicKey;
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::host::{
    ChangeKind, Criticality, HostAttributes, HostRole, InventoryDigest, InventoryRest,
    ManagedScope, Responsibility, software_changes,
};
use rivet_core::id::{EnrollmentId, HostId, TenantId};
use rivet_core::inventory::{Inventory, Package, PackageFormat};
use rivet_core::page::{Page, PageRequest};
use rivet_core::version::range::Range;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::append_audit;
use crate::row::{
    Bind, corrupt, json_rows, micros, opt_timestamp, params_from, parse, summary, timestamp,
    visible,
};
use crate::tenants::cursor_id;
use crate::{Store, StoreError, in_tx, on_pool};

/// An enrollment token as stored (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentToken {
    /// The token's id.
    pub id: EnrollmentId,
    /// The tenant an enrolled host joins.
    pub tenant_id: TenantId,
    /// The attributes an enrolled host starts with.
    pub attributes: HostAttributes,
    /// What the token is for.
    pub note: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When it stops working.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    /// When a host used it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub used_at: Option<Timestamp>,
    /// The host that used it.
    pub host_id: Option<HostId>,
    /// When it was revoked unused.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
}

/// An enrollment token to create.
#[derive(Debug, Clone)]
pub struct NewEnrollment {
    /// Its id.
    pub id: EnrollmentId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// SHA-256 of the secret.
    pub secret_hash: String,
    /// The attributes an enrolled host starts with.
    pub attributes: HostAttributes,
    /// What it is for.
    pub note: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// Why an enrollment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnrollRefusal {
    /// No such token, or the secret does not match.
    #[error("the enrollment token is not valid")]
    Unknown,
    /// The token was used before.
    #[error("the enrollment token was already used")]
    Used,
    /// The token expired.
    #[error("the enrollment token has expired")]
    Expired,
    /// The token was revoked.
    #[error("the enrollment token was revoked")]
    Revoked,
}

/// How a host came into the CMDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostSource {
    /// It runs an agent.
    Agent,
    /// Its software was imported (INV-7).
    Import,
}

/// A host in the CMDB.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Host {
    /// Its id (for an agent's host, the agent's identity).
    pub id: HostId,
    /// Its tenant: the customer (or the provider itself).
    pub tenant_id: TenantId,
    /// Its name: the FQDN or host name its agent reports, or the name given
    /// at import.
    pub name: String,
    /// Agent or import.
    pub source: HostSource,
    /// The operating system's os-release `ID`.
    pub os_id: Option<String>,
    /// Its `VERSION_ID`.
    pub os_version: Option<String>,
    /// Its `PRETTY_NAME`.
    pub os_name: Option<String>,
    /// The primary architecture.
    pub architecture: Option<String>,
    /// Whether the host must reboot.
    pub reboot_required: bool,
    /// How many packages it has installed.
    pub package_count: i64,
    /// The agent's version.
    pub agent_version: Option<String>,
    /// When its agent enrolled.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub enrolled_at: Option<Timestamp>,
    /// When its agent was revoked.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
    /// The digest of the inventory held.
    pub inventory_digest: Option<InventoryDigest>,
    /// When that inventory was collected.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub inventory_at: Option<Timestamp>,
    /// When its agent last checked in.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_seen_at: Option<Timestamp>,
    /// When someone asked for a fresh inventory that has not arrived yet.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub collect_requested_at: Option<Timestamp>,
    /// Its attributes (INV-6).
    pub attributes: HostAttributes,
    /// When it was created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When its record last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// What the server needs to authenticate an agent and answer its check-in,
/// read in one query.
#[derive(Debug, Clone)]
pub struct AgentIdentity {
    /// The host.
    pub host_id: HostId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The agent's public key (none for an imported host).
    pub public_key: Option<AgentPublicKey>,
    /// When the agent was revoked.
    pub revoked_at: Option<Timestamp>,
    /// The digest of the inventory held.
    pub inventory_digest: Option<InventoryDigest>,
    /// When a fresh inventory was asked for.
    pub collect_requested_at: Option<Timestamp>,
}

/// Which hosts a listing shows; every condition must hold.
#[derive(Debug, Clone, Default)]
pub struct HostFilter {
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only this OS (os-release `ID`).
    pub os: Option<String>,
    /// Only this OS version (`VERSION_ID`).
    pub os_version: Option<String>,
    /// Names containing this text.
    pub name: Option<String>,
    /// Only hosts with a package of this name…
    pub package: Option<String>,
    /// …in this version range (needs `package`).
    pub version: Option<Range>,
    /// Only hosts with this tag.
    pub tag: Option<String>,
    /// Only hosts in this group.
    pub group: Option<String>,
    /// Only hosts in this ring.
    pub ring: Option<String>,
    /// Only hosts in this environment.
    pub environment: Option<String>,
    /// Only hosts seen at or after this time.
    pub seen_after: Option<Timestamp>,
    /// Only hosts last seen before this time (or never).
    pub seen_before: Option<Timestamp>,
    /// Only hosts that do (or do not) need a reboot.
    pub reboot_required: Option<bool>,
}

/// One recorded software change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    /// Its sequence number on this server (the listing's order).
    pub id: i64,
    /// When the change was observed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub observed_at: Timestamp,
    /// What happened.
    pub change: ChangeKind,
    /// The package's format.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub format: PackageFormat,
    /// The package's name.
    pub name: String,
    /// Its architecture.
    pub architecture: String,
    /// The version before.
    pub old_version: Option<String>,
    /// The version after.
    pub new_version: Option<String>,
    /// The change request that made it, when a rollout did.
    pub change_request: Option<String>,
}

/// An agent's inventory to store (see [`Store::store_inventory`]).
#[derive(Debug)]
pub struct InventoryWrite {
    /// The host it is for.
    pub host: HostId,
    /// The inventory, canonical.
    pub inventory: Inventory,
    /// Its digest.
    pub digest: InventoryDigest,
    /// The inventory the host must still hold (the base of a delta).
    pub expected_base: Option<InventoryDigest>,
    /// When it arrived.
    pub at: Timestamp,
}

/// What storing an inventory came to.
pub type InventoryOutcome = Result<Result<InventoryStored, InventoryRefusal>, StoreError>;

/// An inventory waiting for the writer, with what the caller prepared.
pub(crate) struct InventoryJob {
    write: InventoryWrite,
    ids: Vec<i64>,
    facts: String,
    done: tokio::sync::oneshot::Sender<InventoryOutcome>,
}

/// Inventories waiting for the writer at most.
pub(crate) const INVENTORY_QUEUE: usize = 256;
/// Inventories written in one transaction at most.
const INVENTORIES_PER_BATCH: usize = 64;

/// The writer of inventories: takes whatever jobs are waiting (at most a
/// batch), writes them in one transaction and answers each. It stops when
/// every store handing it jobs is gone.
pub(crate) async fn write_inventories(
    store: Store,
    mut jobs: tokio::sync::mpsc::Receiver<InventoryJob>,
) {
    let mut batch = Vec::with_capacity(INVENTORIES_PER_BATCH);
    while jobs.recv_many(&mut batch, INVENTORIES_PER_BATCH).await > 0 {
        match store.write_inventory_batch(&batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    // A caller that gave up waiting needs no answer.
                    let _ = job.done.send(Ok(outcome));
                }
            }
            Err(error) if batch.len() > 1 => {
                // One inventory can fail them all: each again on its own.
                tracing::warn!(%error, inventories = batch.len(), "writing inventories together failed; writing each alone");
                for job in batch.drain(..) {
                    let outcome = store
                        .write_inventory_batch(std::slice::from_ref(&job))
                        .await
                        .and_then(|mut outcomes| {
                            outcomes
                                .pop()
                                .ok_or_else(|| StoreError::Batch("no outcome".into()))
                        });
                    let _ = job.done.send(outcome);
                }
            }
            Err(error) => {
                if let Some(job) = batch.pop() {
                    let _ = job.done.send(Err(error));
                }
            }
        }
    }
}

/// How an inventory was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryStored {
    /// Software changes recorded in the history.
    pub changes: usize,
    /// Packages the host now has.
    pub packages: usize,
    /// The host's compact key in this store.
    pub seq: i64,
    /// Interned ids of the packages the host gained, sorted.
    pub added: Vec<i64>,
    /// Interned ids of the packages it lost, sorted.
    pub removed: Vec<i64>,
}

/// The in-memory map from a package's key to its row id.
#[derive(Debug, Default)]
pub(crate) struct Interned {
    ids: Mutex<HashMap<[u8; 16], i64>>,
}

/// Beyond this many packages the map starts over, bounding its memory
/// (about 50 MB); the database stays the truth.
const MAX_INTERNED: usize = 1_000_000;

fn package_key(p: &Package) -> [u8; 16] {
    let mut h = Sha256::new();
    for field in [
        format_str(p.format),
        &p.name,
        &p.version,
        &p.architecture,
        &p.source_name,
        &p.source_version,
        p.repository.as_deref().unwrap_or("\u{0}none"),
    ] {
        h.update((field.len() as u32).to_be_bytes());
        h.update(field.as_bytes());
    }
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn format_str(f: PackageFormat) -> &'static str {
    match f {
        PackageFormat::Deb => "deb",
        PackageFormat::Rpm => "rpm",
        PackageFormat::Apk => "apk",
    }
}

fn parse_format(table: &'static str, id: &str, s: &str) -> Result<PackageFormat, StoreError> {
    match s {
        "deb" => Ok(PackageFormat::Deb),
        "rpm" => Ok(PackageFormat::Rpm),
        "apk" => Ok(PackageFormat::Apk),
        other => Err(corrupt(
            table,
            id,
            format!("unknown package format {other:?}"),
        )),
    }
}

#[derive(sqlx::FromRow)]
struct EnrollmentRow {
    id: String,
    tenant_id: String,
    secret_hash: String,
    attributes: String,
    note: String,
    created_by: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    host_id: Option<String>,
    revoked_at: Option<i64>,
}

const ENROLLMENT_COLUMNS: &str = "id, tenant_id, secret_hash, attributes, note, created_by, \
    created_at, expires_at, used_at, host_id, revoked_at";

impl EnrollmentRow {
    fn into_token(self) -> Result<(EnrollmentToken, String), StoreError> {
        const T: &str = "enrollment_tokens";
        let id = &self.id;
        let token = EnrollmentToken {
            id: parse(T, id, id)?,
            tenant_id: parse(T, id, &self.tenant_id)?,
            attributes: serde_json::from_str(&self.attributes)
                .map_err(|e| corrupt(T, id, e.to_string()))?,
            note: self.note,
            created_by: self.created_by,
            created_at: timestamp(T, id, self.created_at)?,
            expires_at: timestamp(T, id, self.expires_at)?,
            used_at: opt_timestamp(T, id, self.used_at)?,
            host_id: self
                .host_id
                .as_deref()
                .map(|h| parse(T, id, h))
                .transpose()?,
            revoked_at: opt_timestamp(T, id, self.revoked_at)?,
        };
        Ok((token, self.secret_hash))
    }
}

#[derive(sqlx::FromRow)]
struct HostRow {
    seq: i64,
    id: String,
    tenant_id: String,
    name: String,
    source: String,
    agent_version: Option<String>,
    enrolled_at: Option<i64>,
    revoked_at: Option<i64>,
    os_id: Option<String>,
    os_version: Option<String>,
    os_name: Option<String>,
    architecture: Option<String>,
    reboot_required: bool,
    package_count: i64,
    inventory_digest: Option<String>,
    inventory_at: Option<i64>,
    last_seen_at: Option<i64>,
    collect_requested_at: Option<i64>,
    environment: Option<String>,
    role: Option<String>,
    criticality: Option<String>,
    owner: Option<String>,
    responsible: Option<String>,
    managed_scope: String,
    ring: Option<String>,
    maintenance_window: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const HOST_COLUMNS: &str = "h.seq, h.id, h.tenant_id, h.name, h.source, \
    h.agent_version, h.enrolled_at, h.revoked_at, h.os_id, h.os_version, h.os_name, \
    h.architecture, h.reboot_required, h.package_count, h.inventory_digest, h.inventory_at, \
    h.last_seen_at, h.collect_requested_at, h.environment, h.role, h.criticality, h.owner, \
    h.responsible, h.managed_scope, h.ring, h.maintenance_window, h.created_at, h.updated_at";

/// A stored enum value read back through its serde name.
fn enum_from_str<T: serde::de::DeserializeOwned>(id: &str, value: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|e| corrupt("hosts", id, e.to_string()))
}

fn enum_value<T: serde::de::DeserializeOwned>(
    id: &str,
    value: Option<String>,
) -> Result<Option<T>, StoreError> {
    value.map(|v| enum_from_str(id, &v)).transpose()
}

fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl HostRow {
    fn into_host(self, labels: &[(String, String)]) -> Result<Host, StoreError> {
        const T: &str = "hosts";
        let id = self.id.clone();
        let id = id.as_str();
        let managed_scope = self
            .managed_scope
            .split_whitespace()
            .map(|s| enum_from_str::<ManagedScope>(id, s))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let attributes = HostAttributes {
            environment: self.environment,
            role: enum_value::<HostRole>(id, self.role)?,
            criticality: enum_value::<Criticality>(id, self.criticality)?,
            owner: self.owner,
            responsible: enum_value::<Responsibility>(id, self.responsible)?,
            managed_scope,
            groups: labels
                .iter()
                .filter(|(k, _)| k == "group")
                .map(|(_, v)| v.clone())
                .collect(),
            tags: labels
                .iter()
                .filter(|(k, _)| k == "tag")
                .map(|(_, v)| v.clone())
                .collect(),
            ring: self.ring,
            maintenance_window: self.maintenance_window,
        };
        Ok(Host {
            id: parse(T, id, id)?,
            tenant_id: parse(T, id, &self.tenant_id)?,
            name: self.name,
            source: match self.source.as_str() {
                "agent" => HostSource::Agent,
                "import" => HostSource::Import,
                other => return Err(corrupt(T, id, format!("unknown source {other:?}"))),
            },
            os_id: self.os_id,
            os_version: self.os_version,
            os_name: self.os_name,
            architecture: self.architecture,
            reboot_required: self.reboot_required,
            package_count: self.package_count,
            agent_version: self.agent_version,
            enrolled_at: opt_timestamp(T, id, self.enrolled_at)?,
            revoked_at: opt_timestamp(T, id, self.revoked_at)?,
            inventory_digest: self
                .inventory_digest
                .map(|d| InventoryDigest::try_from(d).map_err(|e| corrupt(T, id, e)))
                .transpose()?,
            inventory_at: opt_timestamp(T, id, self.inventory_at)?,
            last_seen_at: opt_timestamp(T, id, self.last_seen_at)?,
            collect_requested_at: opt_timestamp(T, id, self.collect_requested_at)?,
            attributes,
            created_at: timestamp(T, id, self.created_at)?,
            updated_at: timestamp(T, id, self.updated_at)?,
        })
    }
}

fn scope_text(scope: &BTreeSet<ManagedScope>) -> String {
    scope.iter().map(enum_text).collect::<Vec<_>>().join(" ")
}

fn enroll_event(at: Timestamp, actor: &Actor, action: &str, token: &EnrollmentToken) -> AuditEvent {
    AuditEvent {
        at,
        actor: actor.clone(),
        action: action.to_owned(),
        target_kind: "enrollment_token".into(),
        target_id: Some(token.id.to_string()),
        tenant_id: Some(token.tenant_id),
        before: None,
        after: summary(token),
    }
}

fn host_event(
    at: Timestamp,
    actor: &Actor,
    action: &str,
    before: Option<&Host>,
    after: Option<&Host>,
) -> AuditEvent {
    let host = after.or(before);
    AuditEvent {
        at,
        actor: actor.clone(),
        action: action.to_owned(),
        target_kind: "host".into(),
        target_id: host.map(|h| h.id.to_string()),
        tenant_id: host.map(|h| h.tenant_id),
        before: before.and_then(summary),
        after: after.and_then(summary),
    }
}

/// Replaces a host's groups and tags inside a transaction.
macro_rules! write_labels {
    ($tx:ident, $seq:expr, $attrs:expr) => {{
        sqlx::query("DELETE FROM host_labels WHERE host_seq = $1")
            .bind($seq)
            .execute(&mut *$tx)
            .await?;
        for (kind, set) in [("group", &$attrs.groups), ("tag", &$attrs.tags)] {
            for value in set {
                sqlx::query("INSERT INTO host_labels (host_seq, kind, value) VALUES ($1, $2, $3)")
                    .bind($seq)
                    .bind(kind)
                    .bind(value)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    }};
}

/// One host with its labels, found by a condition on `h` with one
/// parameter; evaluates to `Option<Host>`.
macro_rules! fetch_host {
    ($exec:expr, $condition:literal, $bind:expr) => {{
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts h WHERE {}", $condition);
        let row: Option<HostRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind($bind)
            .fetch_optional($exec)
            .await?;
        match row {
            None => None,
            Some(row) => {
                let labels: Vec<(String, String)> = sqlx::query_as(
                    "SELECT kind, value FROM host_labels WHERE host_seq = $1 ORDER BY kind, value",
                )
                .bind(row.seq)
                .fetch_all($exec)
                .await?;
                Some(row.into_host(&labels)?)
            }
        }
    }};
}

pub(crate) type PackageRow = (
    i64,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

pub(crate) fn package_from_row(row: PackageRow) -> Result<(i64, Package), StoreError> {
    let (
        id,
        installed_at,
        format,
        name,
        version,
        architecture,
        source_name,
        source_version,
        repository,
    ) = row;
    let key = id.to_string();
    Ok((
        id,
        Package {
            format: parse_format("packages", &key, &format)?,
            name,
            version,
            architecture,
            source_name,
            source_version,
            repository,
            installed_at: installed_at
                .map(|s| {
                    Timestamp::from_second(s)
                        .map_err(|e| corrupt("host_packages", &key, e.to_string()))
                })
                .transpose()?,
        },
    ))
}

/// A host's packages by the host's id, in no particular order.
const HOST_PACKAGES_BY_ID_SQL: &str = "SELECT hp.package_id, hp.installed_at, p.format, p.name, \
    p.version, p.architecture, p.source_name, p.source_version, p.repository \
    FROM hosts h JOIN host_packages hp ON hp.host_seq = h.seq \
    JOIN packages p ON p.id = hp.package_id WHERE h.id = $1";

impl Store {
    /// Creates an enrollment token.
    #[tracing::instrument(skip(self, new, actor), fields(token = %new.id))]
    pub async fn create_enrollment(
        &self,
        new: &NewEnrollment,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<EnrollmentToken, StoreError> {
        let token = EnrollmentToken {
            id: new.id,
            tenant_id: new.tenant_id,
            attributes: new.attributes.clone(),
            note: new.note.clone(),
            created_by: actor.name.clone(),
            created_at: at,
            expires_at: new.expires_at,
            used_at: None,
            host_id: None,
            revoked_at: None,
        };
        let attributes = serde_json::to_string(&new.attributes)
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO enrollment_tokens (id, tenant_id, secret_hash, attributes, note, created_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(new.id.to_string())
            .bind(new.tenant_id.to_string())
            .bind(&new.secret_hash)
            .bind(&attributes)
            .bind(&new.note)
            .bind(&actor.name)
            .bind(micros(at))
            .bind(micros(new.expires_at))
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, enroll_event(at, actor, "enrollment_token.create", &token));
        });
        Ok(token)
    }

    /// An enrollment token by id, with its secret's hash.
    pub async fn get_enrollment(
        &self,
        id: EnrollmentId,
    ) -> Result<Option<(EnrollmentToken, String)>, StoreError> {
        let sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollment_tokens WHERE id = $1");
        let row: Option<EnrollmentRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(pool).await?
        });
        row.map(EnrollmentRow::into_token).transpose()
    }

    /// The enrollment tokens of the visible tenants, optionally of one.
    pub async fn list_enrollments(
        &self,
        vis: &Visibility,
        tenant: Option<TenantId>,
        page: &PageRequest,
    ) -> Result<Page<EnrollmentToken>, StoreError> {
        let after = cursor_id(page)?;
        let (condition, mut binds) = visible(vis, "tenant_id", 3);
        let tenant_condition = match tenant {
            Some(t) => {
                binds.push(t.to_string());
                format!("AND tenant_id = ${}", 2 + binds.len())
            }
            None => String::new(),
        };
        let sql = format!(
            "SELECT {ENROLLMENT_COLUMNS} FROM enrollment_tokens WHERE id > $1 AND {condition} {tenant_condition} ORDER BY id LIMIT $2"
        );
        let rows: Vec<EnrollmentRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&after).bind(page.fetch());
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?
        });
        let tokens = rows
            .into_iter()
            .map(|r| r.into_token().map(|(t, _)| t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(tokens, page, |t| t.id.to_string()))
    }

    /// Revokes an unused enrollment token; `None` if it does not exist.
    pub async fn revoke_enrollment(
        &self,
        id: EnrollmentId,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<EnrollmentToken>, StoreError> {
        let Some((before, _)) = self.get_enrollment(id).await? else {
            return Ok(None);
        };
        if before.revoked_at.is_some() || before.used_at.is_some() {
            return Ok(Some(before));
        }
        let after = EnrollmentToken {
            revoked_at: Some(at),
            ..before
        };
        in_tx!(self, tx => {
            sqlx::query("UPDATE enrollment_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL AND used_at IS NULL")
                .bind(micros(at))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            append_audit!(tx, enroll_event(at, actor, "enrollment_token.revoke", &after));
        });
        Ok(Some(after))
    }

    /// Trades an enrollment token for a new host with the agent's public
    /// key. The token is used up in the same transaction that creates the
    /// host, so that two agents racing with one token get one host.
    #[tracing::instrument(skip(self, secret_matches, public_key))]
    #[allow(clippy::too_many_arguments)]
    pub async fn enroll_host(
        &self,
        token_id: EnrollmentId,
        secret_matches: impl Fn(&str) -> bool,
        host_id: HostId,
        public_key: &AgentPublicKey,
        hostname: &str,
        agent_version: &str,
        at: Timestamp,
    ) -> Result<Result<Host, EnrollRefusal>, StoreError> {
        let sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollment_tokens WHERE id = $1");
        let result = in_tx!(self, tx => {
            let row: Option<EnrollmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(token_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            let refusal = match row.map(EnrollmentRow::into_token).transpose()? {
                None => Err(EnrollRefusal::Unknown),
                Some((_, hash)) if !secret_matches(&hash) => Err(EnrollRefusal::Unknown),
                Some((t, _)) if t.used_at.is_some() => Err(EnrollRefusal::Used),
                Some((t, _)) if t.revoked_at.is_some() => Err(EnrollRefusal::Revoked),
                Some((t, _)) if t.expires_at <= at => Err(EnrollRefusal::Expired),
                Some((t, _)) => Ok(t),
            };
            match refusal {
                Err(refusal) => Err(refusal),
                Ok(token) => {
                    let claimed = sqlx::query(
                        "UPDATE enrollment_tokens SET used_at = $1, host_id = $2 WHERE id = $3 AND used_at IS NULL",
                    )
                    .bind(micros(at))
                    .bind(host_id.to_string())
                    .bind(token_id.to_string())
                    .execute(&mut *tx)
                    .await?;
                    if claimed.rows_affected() != 1 {
                        Err(EnrollRefusal::Used)
                    } else {
                        let a = &token.attributes;
                        let seq: (i64,) = sqlx::query_as(
                            "INSERT INTO hosts (id, tenant_id, name, source, public_key, agent_version, enrolled_at, \
                             reboot_required, package_count, environment, role, criticality, owner, responsible, \
                             managed_scope, ring, maintenance_window, created_at, updated_at) \
                             VALUES ($1, $2, $3, 'agent', $4, $5, $6, FALSE, 0, $7, $8, $9, $10, $11, $12, $13, $14, $6, $6) \
                             RETURNING seq",
                        )
                        .bind(host_id.to_string())
                        .bind(token.tenant_id.to_string())
                        .bind(hostname)
                        .bind(public_key.to_string())
                        .bind(agent_version)
                        .bind(micros(at))
                        .bind(&a.environment)
                        .bind(a.role.as_ref().map(enum_text))
                        .bind(a.criticality.as_ref().map(enum_text))
                        .bind(&a.owner)
                        .bind(a.responsible.as_ref().map(enum_text))
                        .bind(scope_text(&a.managed_scope))
                        .bind(&a.ring)
                        .bind(&a.maintenance_window)
                        .fetch_one(&mut *tx)
                        .await?;
                        write_labels!(tx, seq.0, a);
                        let host = fetch_host!(&mut *tx, "h.seq = $1", seq.0)
                            .ok_or_else(|| corrupt("hosts", &host_id.to_string(), "vanished".into()))?;
                        let actor = Actor {
                            kind: rivet_core::audit::ActorKind::Agent,
                            id: Some(host_id.to_string()),
                            name: hostname.to_owned(),
                            token_id: None,
                        };
                        append_audit!(tx, host_event(at, &actor, "host.enroll", None, Some(&host)));
                        Ok(host)
                    }
                }
            }
        });
        Ok(result)
    }
}

/// Why an inventory was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryRefusal {
    /// The host does not exist (any more).
    #[error("no such host")]
    UnknownHost,
    /// A delta was computed from an inventory the server no longer holds.
    #[error("the server holds inventory {held:?}, not the delta's base")]
    BaseMismatch {
        /// What the server holds.
        held: Option<InventoryDigest>,
    },
}

/// Replaces the package set of host `$seq` with `$packages` (whose interned
/// ids are `$ids`, in the same order), records the software changes unless
/// `$baseline`, and evaluates to the number of changes.
///
/// Each step is one statement whatever the number of packages: the rows
/// travel as one JSON array (see [`PackageSql`]), because a statement per
/// row, or a bound parameter per value, made the statements' overhead the
/// bulk of a full inventory's cost. Only the packages that changed are read
/// back in full, to record what changed.
macro_rules! write_packages {
    ($store:expr, $tx:ident, $seq:expr, $packages:expr, $ids:expr, $baseline:expr, $at:expr) => {{
        let seq: i64 = $seq;
        let packages: &[Package] = $packages;
        let ids: &[i64] = $ids;
        let sql = PackageSql::of($store.backend());
        let old_at: HashMap<i64, Option<i64>> = sqlx::query_as::<_, (i64, Option<i64>)>(
            "SELECT package_id, installed_at FROM host_packages WHERE host_seq = $1",
        )
        .bind(seq)
        .fetch_all(&mut *$tx)
        .await?
        .into_iter()
        .collect();
        let mut new_at: HashMap<i64, Option<i64>> = HashMap::with_capacity(ids.len());
        for (id, p) in ids.iter().zip(packages) {
            new_at.insert(*id, p.installed_at.map(|t| t.as_second()));
        }
        let mut removed: Vec<i64> = old_at
            .keys()
            .copied()
            .filter(|id| !new_at.contains_key(id))
            .collect();
        removed.sort_unstable();
        let mut added: Vec<(i64, Option<i64>)> = Vec::new();
        let mut retimed: Vec<(i64, Option<i64>)> = Vec::new();
        for (id, installed) in &new_at {
            match old_at.get(id) {
                None => added.push((*id, *installed)),
                Some(before) if before != installed => retimed.push((*id, *installed)),
                Some(_) => {}
            }
        }
        added.sort_unstable();
        // What was removed, in full, while it is still there to read.
        let gone: Vec<(i64, Package)> = if !$baseline && !removed.is_empty() {
            sqlx::query_as::<_, PackageRow>(sql.removed_packages)
                .bind(seq)
                .bind(json_rows(&removed)?)
                .fetch_all(&mut *$tx)
                .await?
                .into_iter()
                .map(package_from_row)
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        if !removed.is_empty() {
            sqlx::query(sql.delete_packages)
                .bind(seq)
                .bind(json_rows(&removed)?)
                .execute(&mut *$tx)
                .await?;
        }
        if !added.is_empty() {
            sqlx::query(sql.insert_packages)
                .bind(seq)
                .bind(json_rows(&added)?)
                .execute(&mut *$tx)
                .await?;
        }
        if !retimed.is_empty() {
            sqlx::query(sql.retime_packages)
                .bind(seq)
                .bind(json_rows(&retimed)?)
                .execute(&mut *$tx)
                .await?;
        }
        let mut changes = 0usize;
        if !$baseline && (!removed.is_empty() || !added.is_empty()) {
            // The unchanged packages are in both lists and so never a
            // change: compare what left with what came.
            let (gone_ids, gone_packages): (Vec<i64>, Vec<Package>) = gone.into_iter().unzip();
            let added_ids: std::collections::HashSet<i64> =
                added.iter().map(|(id, _)| *id).collect();
            let (came_ids, came_packages): (Vec<i64>, Vec<Package>) = ids
                .iter()
                .zip(packages)
                .filter(|(id, _)| added_ids.contains(id))
                .map(|(id, p)| (*id, p.clone()))
                .unzip();
            // The changes borrow from the two lists; find a package's id by
            // its place in its list.
            let id_of = |p: &Package, list: &[Package], list_ids: &[i64]| -> Option<i64> {
                list.iter()
                    .position(|q| std::ptr::eq(q, p))
                    .map(|i| list_ids[i])
            };
            let history: Vec<(&'static str, Option<i64>, Option<i64>)> =
                software_changes(&gone_packages, &came_packages)
                    .iter()
                    .map(|c| {
                        (
                            c.kind.as_str(),
                            c.old.and_then(|p| id_of(p, &gone_packages, &gone_ids)),
                            c.new.and_then(|p| id_of(p, &came_packages, &came_ids)),
                        )
                    })
                    .collect();
            changes = history.len();
            if !history.is_empty() {
                sqlx::query(sql.insert_history)
                    .bind(seq)
                    .bind(micros($at))
                    .bind(json_rows(&history)?)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
        (
            changes,
            added.into_iter().map(|(id, _)| id).collect::<Vec<i64>>(),
            removed,
        )
    }};
}

/// The statements that write a host's package set, each taking its rows as
/// one JSON array parameter, in the dialect of a backend. Binding a
/// parameter per value instead costs SQLite a lookup per parameter that
/// grows with their number, and both backends a statement per few dozen
/// rows.
struct PackageSql {
    /// `$1` host, `$2` `[package_id, …]`: those of the host's rows, with
    /// their packages.
    removed_packages: &'static str,
    /// `$1` host, `$2` `[package_id, …]`.
    delete_packages: &'static str,
    /// `$1` host, `$2` `[[package_id, installed_at], …]`.
    insert_packages: &'static str,
    /// `$1` host, `$2` `[[package_id, installed_at], …]`.
    retime_packages: &'static str,
    /// `$1` host, `$2` observed at, `$3` `[[change, old_id, new_id], …]`,
    /// inserted in that order.
    insert_history: &'static str,
    /// `$1` `[[key, format, name, version, architecture, source_name,
    /// source_version, repository], …]`: the packages not yet interned.
    intern_packages: &'static str,
    /// `$1` `[key, …]`: `(key, id)` of those packages.
    package_ids: &'static str,
}

impl PackageSql {
    const SQLITE: PackageSql = PackageSql {
        removed_packages: "SELECT hp.package_id, hp.installed_at, p.format, p.name, p.version, p.architecture, \
            p.source_name, p.source_version, p.repository \
            FROM host_packages hp JOIN packages p ON p.id = hp.package_id \
            WHERE hp.host_seq = $1 AND hp.package_id IN (SELECT value FROM json_each($2))",
        delete_packages: "DELETE FROM host_packages WHERE host_seq = $1 AND package_id IN (SELECT value FROM json_each($2))",
        insert_packages: "INSERT INTO host_packages (host_seq, package_id, installed_at) \
            SELECT $1, value ->> 0, value ->> 1 FROM json_each($2) ORDER BY key",
        retime_packages: "UPDATE host_packages SET installed_at = j.value ->> 1 FROM json_each($2) AS j \
            WHERE host_packages.host_seq = $1 AND host_packages.package_id = j.value ->> 0",
        insert_history: "INSERT INTO host_history (host_seq, observed_at, change, old_package_id, new_package_id) \
            SELECT $1, $2, value ->> 0, value ->> 1, value ->> 2 FROM json_each($3) ORDER BY key",
        // "WHERE true" tells SQLite's parser that ON CONFLICT is not a join's.
        intern_packages: "INSERT INTO packages (key, format, name, version, architecture, source_name, source_version, repository) \
            SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7 \
            FROM json_each($1) WHERE true ON CONFLICT (key) DO NOTHING",
        package_ids: "SELECT key, id FROM packages WHERE key IN (SELECT value FROM json_each($1))",
    };
    const POSTGRES: PackageSql = PackageSql {
        removed_packages: "SELECT hp.package_id, hp.installed_at, p.format, p.name, p.version, p.architecture, \
            p.source_name, p.source_version, p.repository \
            FROM host_packages hp JOIN packages p ON p.id = hp.package_id \
            WHERE hp.host_seq = $1 AND hp.package_id IN (SELECT jsonb_array_elements_text($2::jsonb)::bigint)",
        delete_packages: "DELETE FROM host_packages WHERE host_seq = $1 \
            AND package_id IN (SELECT jsonb_array_elements_text($2::jsonb)::bigint)",
        insert_packages: "INSERT INTO host_packages (host_seq, package_id, installed_at) \
            SELECT $1, (e ->> 0)::bigint, (e ->> 1)::bigint FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t (e, n) ORDER BY n",
        retime_packages: "UPDATE host_packages SET installed_at = (e ->> 1)::bigint FROM jsonb_array_elements($2::jsonb) AS t (e) \
            WHERE host_packages.host_seq = $1 AND host_packages.package_id = (e ->> 0)::bigint",
        insert_history: "INSERT INTO host_history (host_seq, observed_at, change, old_package_id, new_package_id) \
            SELECT $1, $2, e ->> 0, (e ->> 1)::bigint, (e ->> 2)::bigint \
            FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS t (e, n) ORDER BY n",
        intern_packages: "INSERT INTO packages (key, format, name, version, architecture, source_name, source_version, repository) \
            SELECT e ->> 0, e ->> 1, e ->> 2, e ->> 3, e ->> 4, e ->> 5, e ->> 6, e ->> 7 \
            FROM jsonb_array_elements($1::jsonb) AS t (e) ON CONFLICT (key) DO NOTHING",
        package_ids: "SELECT key, id FROM packages WHERE key IN (SELECT jsonb_array_elements_text($1::jsonb))",
    };

    fn of(backend: crate::Backend) -> &'static PackageSql {
        match backend {
            crate::Backend::Sqlite => &Self::SQLITE,
            crate::Backend::Postgres => &Self::POSTGRES,
        }
    }
}

/// A package to intern, as `PackageSql::intern_packages` takes it: key,
/// format, name, version, architecture, source name and version, repository.
type InternRow<'a> = (
    String,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
);

impl Store {
    /// The ids of `packages`, in order, writing the ones never seen before.
    #[tracing::instrument(skip_all, fields(packages = packages.len()))]
    pub async fn intern_packages(&self, packages: &[Package]) -> Result<Vec<i64>, StoreError> {
        let keys: Vec<[u8; 16]> = packages.iter().map(package_key).collect();
        let mut ids: Vec<Option<i64>> = {
            let known = self.interned.ids.lock().unwrap_or_else(|e| e.into_inner());
            keys.iter().map(|k| known.get(k).copied()).collect()
        };
        let missing: Vec<usize> = (0..packages.len()).filter(|&i| ids[i].is_none()).collect();
        if !missing.is_empty() {
            let sql = PackageSql::of(self.backend());
            let rows: Vec<InternRow<'_>> = missing
                .iter()
                .map(|&i| {
                    let p = &packages[i];
                    (
                        hex::encode(keys[i]),
                        format_str(p.format),
                        p.name.as_str(),
                        p.version.as_str(),
                        p.architecture.as_str(),
                        p.source_name.as_str(),
                        p.source_version.as_str(),
                        p.repository.as_deref(),
                    )
                })
                .collect();
            let wanted: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
            let found: HashMap<String, i64> = in_tx!(self, tx => {
                sqlx::query(sql.intern_packages)
                    .bind(json_rows(&rows)?)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query_as::<_, (String, i64)>(sql.package_ids)
                    .bind(json_rows(&wanted)?)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect()
            });
            let mut known = self.interned.ids.lock().unwrap_or_else(|e| e.into_inner());
            if known.len() + missing.len() > MAX_INTERNED {
                known.clear();
            }
            for i in missing {
                let id = *found.get(&hex::encode(keys[i])).ok_or_else(|| {
                    corrupt(
                        "packages",
                        &hex::encode(keys[i]),
                        "interned package not found".into(),
                    )
                })?;
                known.insert(keys[i], id);
                ids[i] = Some(id);
            }
        }
        Ok(ids.into_iter().map(|id| id.unwrap_or_default()).collect())
    }

    /// What authenticating an agent and answering its check-in needs.
    pub async fn agent_identity(&self, host: HostId) -> Result<Option<AgentIdentity>, StoreError> {
        type Row = (
            String,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<i64>,
        );
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT tenant_id, public_key, revoked_at, inventory_digest, collect_requested_at FROM hosts WHERE id = $1",
            )
            .bind(host.to_string())
            .fetch_optional(pool)
            .await?
        });
        let Some((tenant, key, revoked, digest, collect)) = row else {
            return Ok(None);
        };
        let id = host.to_string();
        Ok(Some(AgentIdentity {
            host_id: host,
            tenant_id: parse("hosts", &id, &tenant)?,
            public_key: key
                .map(|k| AgentPublicKey::try_from(k).map_err(|e| corrupt("hosts", &id, e)))
                .transpose()?,
            revoked_at: opt_timestamp("hosts", &id, revoked)?,
            inventory_digest: digest
                .map(|d| InventoryDigest::try_from(d).map_err(|e| corrupt("hosts", &id, e)))
                .transpose()?,
            collect_requested_at: opt_timestamp("hosts", &id, collect)?,
        }))
    }

    /// Hosts with an agent that may check in (enrolled, not revoked).
    pub async fn count_agents(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM hosts WHERE public_key IS NOT NULL AND revoked_at IS NULL")
                .fetch_one(pool)
                .await?
        });
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Records when agents last checked in, many at once (the server
    /// buffers check-ins and writes them every few seconds).
    #[tracing::instrument(skip_all, fields(hosts = seen.len()))]
    pub async fn record_check_ins(
        &self,
        seen: &[(HostId, Timestamp, String)],
    ) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        in_tx!(self, tx => {
            for (host, at, version) in seen {
                sqlx::query(
                    "UPDATE hosts SET last_seen_at = $1, agent_version = $2 \
                     WHERE id = $3 AND (last_seen_at IS NULL OR last_seen_at < $1)",
                )
                .bind(micros(*at))
                .bind(version)
                .bind(host.to_string())
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// A host's current packages, in canonical order.
    pub async fn host_packages(&self, host: HostId) -> Result<Vec<Package>, StoreError> {
        let rows: Vec<PackageRow> = on_pool!(self, pool => {
            sqlx::query_as(HOST_PACKAGES_BY_ID_SQL)
                .bind(host.to_string())
                .fetch_all(pool)
                .await?
        });
        let mut packages: Vec<Package> = rows
            .into_iter()
            .map(|r| package_from_row(r).map(|(_, p)| p))
            .collect::<Result<_, _>>()?;
        packages.sort_by(rivet_core::host::package_order);
        Ok(packages)
    }

    /// Stores an agent's inventory (canonical, with its digest) as the
    /// host's current one and records what changed. With `expected_base`,
    /// the host must still hold that inventory (a delta was applied to it).
    ///
    /// Inventories arriving together are written together, in one
    /// transaction (group commit) by one writer task: a transaction writes
    /// every page it dirtied to the journal once, and inventories written
    /// together share most of them (the hosts table, the packages' index,
    /// the history's last pages).
    #[tracing::instrument(skip_all, fields(host = %write.host, packages = write.inventory.packages.len()))]
    pub async fn store_inventory(&self, write: InventoryWrite) -> InventoryOutcome {
        let jobs = self
            .inventory_jobs
            .as_ref()
            .ok_or_else(|| StoreError::Batch("this store has no inventory writer".into()))?;
        let ids = self.intern_packages(&write.inventory.packages).await?;
        let facts = serde_json::to_string(&InventoryRest::of(&write.inventory))
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        let (done, outcome) = tokio::sync::oneshot::channel();
        jobs.send(InventoryJob {
            write,
            ids,
            facts,
            done,
        })
        .await
        .map_err(|_| StoreError::Batch("the inventory writer has stopped".into()))?;
        outcome.await.unwrap_or_else(|_| {
            Err(StoreError::Batch(
                "the inventory writer stopped before writing".into(),
            ))
        })
    }

    /// Writes `jobs` in one transaction and returns each one's outcome in
    /// order. A refused inventory (unknown host, stale base) is refused
    /// before it writes anything, so it needs no savepoint (savepoints
    /// journal every page they change: they cost more than the writes); a
    /// failing statement fails the whole transaction.
    async fn write_inventory_batch(
        &self,
        jobs: &[InventoryJob],
    ) -> Result<Vec<Result<InventoryStored, InventoryRefusal>>, StoreError> {
        Ok(in_tx!(self, tx => {
            let mut outcomes = Vec::with_capacity(jobs.len());
            for job in jobs {
                let outcome: Result<InventoryStored, InventoryRefusal> = {
                    let InventoryWrite { host, inventory, digest, expected_base, at } = &job.write;
                    let at = *at;
                    let row: Option<(i64, Option<String>, String)> = sqlx::query_as(
                        "SELECT seq, inventory_digest, source FROM hosts WHERE id = $1",
                    )
                    .bind(host.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                    match row {
                        None => Err(InventoryRefusal::UnknownHost),
                        Some((_, held, _)) if expected_base.as_ref().is_some_and(|b| held.as_deref() != Some(b.as_str())) => {
                            Err(InventoryRefusal::BaseMismatch {
                                held: held.and_then(|h| InventoryDigest::try_from(h).ok()),
                            })
                        }
                        Some((seq, held, source)) => {
                    let baseline = held.is_none();
                    let (changes, added, removed) = write_packages!(self, tx, seq, &inventory.packages, &job.ids, baseline, at);
                    let os = inventory.host.os.as_ref();
                    let name = if source == "agent" {
                        inventory.host.fqdn.clone().or_else(|| inventory.host.hostname.clone())
                    } else {
                        None
                    };
                    sqlx::query(
                        "UPDATE hosts SET name = COALESCE($1, name), os_id = $2, os_version = $3, os_name = $4, \
                         architecture = $5, reboot_required = $6, package_count = $7, facts = $8, \
                         inventory_digest = $9, inventory_at = $10, last_seen_at = $11, updated_at = $11, \
                         collect_requested_at = CASE WHEN collect_requested_at <= $10 THEN NULL ELSE collect_requested_at END \
                         WHERE seq = $12",
                    )
                    .bind(name)
                    .bind(os.map(|o| o.id.clone()))
                    .bind(os.and_then(|o| o.version_id.clone()))
                    .bind(os.and_then(|o| o.pretty_name.clone()))
                    .bind(inventory.host.architecture.clone())
                    .bind(inventory.reboot.required)
                    .bind(inventory.packages.len() as i64)
                    .bind(&job.facts)
                    .bind(digest.as_str())
                    .bind(micros(inventory.collected_at))
                    .bind(micros(at))
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                    Ok(InventoryStored { changes, packages: inventory.packages.len(), seq, added, removed })
                        }
                    }
                };
                outcomes.push(outcome);
            }
            outcomes
        }))
    }

    /// Creates or updates a host without an agent from imported software
    /// (INV-7): found again by tenant and name.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, name = name))]
    #[allow(clippy::too_many_arguments)]
    pub async fn import_host(
        &self,
        new_id: HostId,
        tenant: TenantId,
        name: &str,
        inventory: &Inventory,
        digest: &InventoryDigest,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<(Host, InventoryStored), StoreError> {
        let ids = self.intern_packages(&inventory.packages).await?;
        let facts = serde_json::to_string(&InventoryRest::of(inventory))
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        let os = inventory.host.os.as_ref();
        let out = in_tx!(self, tx => {
            let existing: Option<(i64, bool)> = sqlx::query_as(
                "SELECT seq, inventory_digest IS NULL FROM hosts WHERE tenant_id = $1 AND name = $2 AND source = 'import'",
            )
            .bind(tenant.to_string())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let before = match existing {
                Some((seq, _)) => fetch_host!(&mut *tx, "h.seq = $1", seq),
                None => None,
            };
            let (seq, baseline) = match existing {
                Some((seq, baseline)) => (seq, baseline),
                None => {
                    let (seq,): (i64,) = sqlx::query_as(
                        "INSERT INTO hosts (id, tenant_id, name, source, reboot_required, package_count, managed_scope, created_at, updated_at) \
                         VALUES ($1, $2, $3, 'import', FALSE, 0, '', $4, $4) RETURNING seq",
                    )
                    .bind(new_id.to_string())
                    .bind(tenant.to_string())
                    .bind(name)
                    .bind(micros(at))
                    .fetch_one(&mut *tx)
                    .await?;
                    (seq, true)
                }
            };
            let (changes, added, removed) = write_packages!(self, tx, seq, &inventory.packages, &ids, baseline, at);
            sqlx::query(
                "UPDATE hosts SET os_id = COALESCE($1, os_id), os_version = COALESCE($2, os_version), \
                 os_name = COALESCE($3, os_name), architecture = COALESCE($4, architecture), package_count = $5, \
                 facts = $6, inventory_digest = $7, inventory_at = $8, updated_at = $8 WHERE seq = $9",
            )
            .bind(os.map(|o| o.id.clone()))
            .bind(os.and_then(|o| o.version_id.clone()))
            .bind(os.and_then(|o| o.pretty_name.clone()))
            .bind(inventory.host.architecture.clone())
            .bind(inventory.packages.len() as i64)
            .bind(&facts)
            .bind(digest.as_str())
            .bind(micros(at))
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            let host = fetch_host!(&mut *tx, "h.seq = $1", seq)
                .ok_or_else(|| corrupt("hosts", name, "vanished".into()))?;
            let action = if before.is_some() { "host.reimport" } else { "host.import" };
            append_audit!(tx, host_event(at, actor, action, before.as_ref(), Some(&host)));
            (host, InventoryStored { changes, packages: inventory.packages.len(), seq, added, removed })
        });
        Ok(out)
    }

    /// A host by id, if it exists.
    pub async fn get_host(&self, id: HostId) -> Result<Option<Host>, StoreError> {
        Ok(on_pool!(self, pool => fetch_host!(pool, "h.id = $1", id.to_string())))
    }

    /// A host's facts: its inventory but the packages.
    pub async fn host_facts(&self, id: HostId) -> Result<Option<InventoryRest>, StoreError> {
        let row: Option<(Option<String>,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT facts FROM hosts WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        row.and_then(|(f,)| f)
            .map(|f| {
                serde_json::from_str(&f)
                    .map_err(|e| corrupt("hosts", &id.to_string(), e.to_string()))
            })
            .transpose()
    }

    /// The hosts of the visible tenants that match `filter`, by id.
    #[tracing::instrument(skip(self, vis))]
    pub async fn list_hosts(
        &self,
        vis: &Visibility,
        filter: &HostFilter,
        page: &PageRequest,
    ) -> Result<Page<Host>, StoreError> {
        let mut after = cursor_id(page)?;
        let mut hosts: Vec<Host> = Vec::new();
        // A version range is checked here, under each package's own
        // scheme, so rows are fetched in batches until the page is full.
        loop {
            let batch = self.host_rows(vis, filter, &after, page.fetch()).await?;
            let exhausted = (batch.len() as i64) < page.fetch();
            if let Some((last, _)) = batch.last() {
                after = last.id.to_string();
            }
            for (host, versions) in batch {
                let in_range = match (&filter.version, versions) {
                    (Some(range), Some(versions)) => versions
                        .iter()
                        .any(|(format, v)| range.contains(format.scheme(), v)),
                    _ => true,
                };
                if in_range {
                    hosts.push(host);
                }
            }
            if exhausted || hosts.len() as i64 >= page.fetch() {
                break;
            }
        }
        hosts.truncate(page.fetch() as usize);
        Ok(Page::from_rows(hosts, page, |h| h.id.to_string()))
    }

    /// One batch of hosts for [`Store::list_hosts`], each with the versions
    /// of the filter's package when there is one.
    #[allow(clippy::type_complexity)]
    async fn host_rows(
        &self,
        vis: &Visibility,
        filter: &HostFilter,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(Host, Option<Vec<(PackageFormat, String)>>)>, StoreError> {
        let mut binds: Vec<Bind> = Vec::new();
        let (vis_sql, vis_binds) = visible(vis, "h.tenant_id", 3);
        binds.extend(vis_binds.into_iter().map(Bind::Text));
        let mut conditions = vec![vis_sql];
        let bind = |binds: &mut Vec<Bind>, value: Bind| {
            binds.push(value);
            format!("${}", 2 + binds.len())
        };
        if let Some(t) = filter.tenant {
            conditions.push(format!(
                "h.tenant_id = {}",
                bind(&mut binds, Bind::Text(t.to_string()))
            ));
        }
        for (column, value) in [
            ("h.os_id", &filter.os),
            ("h.os_version", &filter.os_version),
            ("h.ring", &filter.ring),
            ("h.environment", &filter.environment),
        ] {
            if let Some(v) = value {
                conditions.push(format!(
                    "{column} = {}",
                    bind(&mut binds, Bind::Text(v.clone()))
                ));
            }
        }
        if let Some(name) = &filter.name {
            let escaped = name
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            conditions.push(format!(
                "LOWER(h.name) LIKE {} ESCAPE '\\'",
                bind(
                    &mut binds,
                    Bind::Text(format!("%{}%", escaped.to_lowercase()))
                )
            ));
        }
        for (kind, value) in [("tag", &filter.tag), ("group", &filter.group)] {
            if let Some(v) = value {
                conditions.push(format!(
                    "EXISTS (SELECT 1 FROM host_labels l WHERE l.host_seq = h.seq AND l.kind = '{kind}' AND l.value = {})",
                    bind(&mut binds, Bind::Text(v.clone()))
                ));
            }
        }
        if let Some(t) = filter.seen_after {
            conditions.push(format!(
                "h.last_seen_at >= {}",
                bind(&mut binds, Bind::Int(micros(t)))
            ));
        }
        if let Some(t) = filter.seen_before {
            conditions.push(format!(
                "(h.last_seen_at IS NULL OR h.last_seen_at < {})",
                bind(&mut binds, Bind::Int(micros(t)))
            ));
        }
        if let Some(r) = filter.reboot_required {
            conditions.push(format!(
                "h.reboot_required = {}",
                if r { "TRUE" } else { "FALSE" }
            ));
        }
        let package_param = filter
            .package
            .as_ref()
            .map(|p| bind(&mut binds, Bind::Text(p.clone())));
        if let Some(param) = &package_param {
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM packages p JOIN host_packages hp ON hp.package_id = p.id \
                 WHERE p.name = {param} AND hp.host_seq = h.seq)"
            ));
        }
        let sql = format!(
            "SELECT {HOST_COLUMNS} FROM hosts h WHERE h.id > $1 AND {} ORDER BY h.id LIMIT $2",
            conditions.join(" AND ")
        );
        let (rows, labels, versions): (
            Vec<HostRow>,
            Vec<(i64, String, String)>,
            Vec<(i64, String, String)>,
        ) = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, HostRow>(sqlx::AssertSqlSafe(sql)).bind(after).bind(limit);
            for b in &binds {
                q = match b {
                    Bind::Text(t) => q.bind(t),
                    Bind::Int(i) => q.bind(*i),
                };
            }
            let rows = q.fetch_all(pool).await?;
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            let mut labels = Vec::new();
            let mut versions = Vec::new();
            if !seqs.is_empty() {
                let sql = format!(
                    "SELECT host_seq, kind, value FROM host_labels WHERE host_seq IN ({}) ORDER BY kind, value",
                    params_from(1, seqs.len())
                );
                let mut q = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql));
                for s in &seqs {
                    q = q.bind(*s);
                }
                labels = q.fetch_all(pool).await?;
                if let Some(package) = &filter.package {
                    let sql = format!(
                        "SELECT hp.host_seq, p.format, p.version FROM host_packages hp JOIN packages p ON p.id = hp.package_id \
                         WHERE p.name = $1 AND hp.host_seq IN ({})",
                        params_from(2, seqs.len())
                    );
                    let mut q = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql)).bind(package);
                    for s in &seqs {
                        q = q.bind(*s);
                    }
                    versions = q.fetch_all(pool).await?;
                }
            }
            (rows, labels, versions)
        });
        let mut by_host: HashMap<i64, Vec<(String, String)>> = HashMap::new();
        for (seq, kind, value) in labels {
            by_host.entry(seq).or_default().push((kind, value));
        }
        let mut versions_by_host: HashMap<i64, Vec<(PackageFormat, String)>> = HashMap::new();
        for (seq, format, version) in versions {
            let format = parse_format("packages", &seq.to_string(), &format)?;
            versions_by_host
                .entry(seq)
                .or_default()
                .push((format, version));
        }
        rows.into_iter()
            .map(|row| {
                let seq = row.seq;
                let labels = by_host.remove(&seq).unwrap_or_default();
                let host = row.into_host(&labels)?;
                let versions = filter
                    .package
                    .as_ref()
                    .map(|_| versions_by_host.remove(&seq).unwrap_or_default());
                Ok((host, versions))
            })
            .collect()
    }
}

impl Store {
    /// Replaces a host's attributes; `None` if it does not exist.
    #[tracing::instrument(skip(self, attributes, actor))]
    pub async fn set_host_attributes(
        &self,
        id: HostId,
        attributes: &HostAttributes,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<Host>, StoreError> {
        let a = attributes;
        let out = in_tx!(self, tx => {
            match fetch_host!(&mut *tx, "h.id = $1", id.to_string()) {
                None => None,
                Some(before) => {
                    let (seq,): (i64,) = sqlx::query_as(
                        "UPDATE hosts SET environment = $1, role = $2, criticality = $3, owner = $4, responsible = $5, \
                         managed_scope = $6, ring = $7, maintenance_window = $8, updated_at = $9 WHERE id = $10 RETURNING seq",
                    )
                    .bind(&a.environment)
                    .bind(a.role.as_ref().map(enum_text))
                    .bind(a.criticality.as_ref().map(enum_text))
                    .bind(&a.owner)
                    .bind(a.responsible.as_ref().map(enum_text))
                    .bind(scope_text(&a.managed_scope))
                    .bind(&a.ring)
                    .bind(&a.maintenance_window)
                    .bind(micros(at))
                    .bind(id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                    write_labels!(tx, seq, a);
                    let after = fetch_host!(&mut *tx, "h.seq = $1", seq)
                        .ok_or_else(|| corrupt("hosts", &id.to_string(), "vanished".into()))?;
                    append_audit!(tx, host_event(at, actor, "host.update", Some(&before), Some(&after)));
                    Some(after)
                }
            }
        });
        Ok(out)
    }

    /// Revokes a host's agent: its requests are refused from now on.
    /// `None` if the host does not exist.
    #[tracing::instrument(skip(self, actor))]
    pub async fn revoke_agent(
        &self,
        id: HostId,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<Host>, StoreError> {
        let out = in_tx!(self, tx => {
            match fetch_host!(&mut *tx, "h.id = $1", id.to_string()) {
                None => None,
                Some(before) if before.revoked_at.is_some() || before.source != HostSource::Agent => Some(before),
                Some(before) => {
                    sqlx::query("UPDATE hosts SET revoked_at = $1, updated_at = $1 WHERE id = $2")
                        .bind(micros(at))
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                    let after = Host { revoked_at: Some(at), updated_at: at, ..before.clone() };
                    append_audit!(tx, host_event(at, actor, "host.revoke", Some(&before), Some(&after)));
                    Some(after)
                }
            }
        });
        Ok(out)
    }

    /// Asks a host's agent for a fresh inventory at its next check-in.
    pub async fn request_collect(
        &self,
        id: HostId,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Option<Host>, StoreError> {
        let out = in_tx!(self, tx => {
            match fetch_host!(&mut *tx, "h.id = $1", id.to_string()) {
                None => None,
                Some(before) => {
                    sqlx::query("UPDATE hosts SET collect_requested_at = $1 WHERE id = $2")
                        .bind(micros(at))
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                    let after = Host { collect_requested_at: Some(at), ..before.clone() };
                    append_audit!(tx, host_event(at, actor, "host.collect", None, Some(&after)));
                    Some(after)
                }
            }
        });
        Ok(out)
    }

    /// Clears a request for a fresh inventory made at `asked` (not a newer
    /// one): the agent collected since and the server holds the result.
    pub async fn collect_done(&self, id: HostId, asked: Timestamp) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            sqlx::query("UPDATE hosts SET collect_requested_at = NULL WHERE id = $1 AND collect_requested_at <= $2")
                .bind(id.to_string())
                .bind(micros(asked))
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Deletes a host, its packages and its history; `false` if it did not
    /// exist. Its agent is refused from then on.
    #[tracing::instrument(skip(self, actor))]
    pub async fn delete_host(
        &self,
        id: HostId,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let out = in_tx!(self, tx => {
            match fetch_host!(&mut *tx, "h.id = $1", id.to_string()) {
                None => false,
                Some(before) => {
                    let (seq,): (i64,) = sqlx::query_as("SELECT seq FROM hosts WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_one(&mut *tx)
                        .await?;
                    for table in ["host_packages", "host_history", "host_labels", "findings"] {
                        let sql = format!("DELETE FROM {table} WHERE host_seq = $1");
                        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(seq).execute(&mut *tx).await?;
                    }
                    sqlx::query("DELETE FROM hosts WHERE seq = $1").bind(seq).execute(&mut *tx).await?;
                    append_audit!(tx, host_event(at, actor, "host.delete", Some(&before), None));
                    true
                }
            }
        });
        Ok(out)
    }

    /// A host's software history, newest first.
    pub async fn host_history(
        &self,
        id: HostId,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        let before: i64 = match &page.after {
            None => i64::MAX,
            Some(c) => c.parse().map_err(|_| StoreError::BadCursor(c.clone()))?,
        };
        type Row = (
            i64,
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT hh.id, hh.observed_at, hh.change, \
                   COALESCE(n.format, o.format), COALESCE(n.name, o.name), COALESCE(n.architecture, o.architecture), \
                   o.version, n.version, hh.change_request, o.name, n.name \
                 FROM host_history hh JOIN hosts h ON h.seq = hh.host_seq \
                 LEFT JOIN packages o ON o.id = hh.old_package_id \
                 LEFT JOIN packages n ON n.id = hh.new_package_id \
                 WHERE h.id = $1 AND hh.id < $2 ORDER BY hh.id DESC LIMIT $3",
            )
            .bind(id.to_string())
            .bind(before)
            .bind(page.fetch())
            .fetch_all(pool)
            .await?
        });
        let entries = rows
            .into_iter()
            .map(
                |(
                    hid,
                    observed,
                    change,
                    format,
                    name,
                    arch,
                    old_version,
                    new_version,
                    cr,
                    _,
                    _,
                )| {
                    let key = hid.to_string();
                    Ok(HistoryEntry {
                        id: hid,
                        observed_at: timestamp("host_history", &key, observed)?,
                        change: ChangeKind::parse(&change).ok_or_else(|| {
                            corrupt("host_history", &key, format!("unknown change {change:?}"))
                        })?,
                        format: parse_format(
                            "host_history",
                            &key,
                            format.as_deref().unwrap_or(""),
                        )?,
                        name: name.unwrap_or_default(),
                        architecture: arch.unwrap_or_default(),
                        old_version,
                        new_version,
                        change_request: cr,
                    })
                },
            )
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_rows(entries, page, |e| e.id.to_string()))
    }
}

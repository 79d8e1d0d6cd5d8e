//! The agents' side of the API (INV-1, AGT-1): enrollment, check-in with
//! long polling, and inventory uploads. See `rivet_core::agent` for the
//! protocol and its request signatures.
//!
//! Check-ins are the most frequent request the server answers, so one costs
//! one indexed read: the host's key, revocation, inventory digest and
//! pending collection request come in one row, and the time it was seen is
//! buffered in memory and written for many hosts at once by [`Hub::flush`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use rivet_core::Timestamp;
use rivet_core::agent::{
    AgentAuthError, AgentAuthorization, CheckinRequest, CheckinResponse, EnrollRequest,
    EnrollResponse, EnrollmentSecret, InventoryReceipt, InventoryUpload, InventoryWanted,
    poll_interval_secs,
};
use rivet_core::host::{InventoryDigest, canonicalize, digest};
use rivet_core::id::HostId;
use rivet_core::inventory::Inventory;
use rivet_core::job::{Job, JobReport};
use rivet_store::{
    AgentIdentity, InventoryRefusal, InventoryWrite, ReportReceipt, Store, StoredJob,
};
use tokio::sync::{Notify, Semaphore};

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::Json;
use super::{Api, random};

/// Largest check-in or enrollment body.
const SMALL_BODY: usize = 64 * 1024;
/// Inventory uploads processed at once; more wait (bounds memory).
const UPLOADS_AT_ONCE: usize = 32;

/// What the server keeps in memory about agents: check-ins not yet written,
/// and check-ins waiting for work.
pub struct Hub {
    seen: Mutex<HashMap<HostId, (Timestamp, String)>>,
    waiting: Mutex<HashMap<HostId, Arc<Notify>>>,
    waiting_count: AtomicUsize,
    uploads: Semaphore,
    /// Agents that may check in, as last counted: paces their polls.
    agents: AtomicU64,
    /// Hosts with jobs handed out and not reported: only their check-ins
    /// read the jobs table, the others stay one read.
    with_jobs: Mutex<HashSet<HostId>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            seen: Mutex::default(),
            waiting: Mutex::default(),
            waiting_count: AtomicUsize::new(0),
            uploads: Semaphore::new(UPLOADS_AT_ONCE),
            agents: AtomicU64::new(0),
            with_jobs: Mutex::default(),
        }
    }
}

impl Hub {
    fn saw(&self, host: HostId, at: Timestamp, version: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host, (at, version.to_owned()));
    }

    /// Writes the buffered check-in times.
    pub async fn flush(&self, store: &Store) -> Result<usize, rivet_store::StoreError> {
        let batch: Vec<(HostId, Timestamp, String)> = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.drain().map(|(h, (at, v))| (h, at, v)).collect()
        };
        for part in batch.chunks(2000) {
            store.record_check_ins(part).await?;
        }
        Ok(batch.len())
    }

    /// Notes hosts with jobs handed out, and ends their waiting check-ins
    /// so that their agents get the jobs now.
    pub fn jobs_waiting(&self, hosts: &[HostId]) {
        let fresh: Vec<HostId> = {
            let mut with = self.with_jobs.lock().unwrap_or_else(|e| e.into_inner());
            hosts.iter().copied().filter(|h| with.insert(*h)).collect()
        };
        for host in fresh {
            self.wake(host);
        }
    }

    fn may_have_jobs(&self, host: HostId) -> bool {
        self.with_jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&host)
    }

    fn no_jobs(&self, host: HostId) {
        self.with_jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&host);
    }

    /// Ends a waiting check-in of `host` now (revocation, a collection
    /// request, and later, new work).
    pub fn wake(&self, host: HostId) {
        if let Some(notify) = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&host)
        {
            notify.notify_waiters();
        }
    }

    /// Waits until woken or `limit` passes; `false` if too many wait
    /// already.
    async fn wait(&self, host: HostId, limit: Duration, max_waiting: usize) -> bool {
        if self.waiting_count.fetch_add(1, Ordering::SeqCst) >= max_waiting {
            self.waiting_count.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        let notify = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(host)
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone();
        let _ = tokio::time::timeout(limit, notify.notified()).await;
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            // Only the map and this wait hold it: nobody else waits.
            if Arc::strong_count(&notify) == 2 {
                waiting.remove(&host);
            }
        }
        self.waiting_count.fetch_sub(1, Ordering::SeqCst);
        true
    }

    /// Check-ins waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting_count.load(Ordering::SeqCst)
    }
}

/// Ticks of the flusher between two counts of the agents.
const TICKS_PER_AGENT_COUNT: u32 = 30;

/// Writes buffered check-ins every `every` and counts the agents every
/// [`TICKS_PER_AGENT_COUNT`] ticks (and at once), until the task is dropped.
pub async fn run_flusher(api: Api, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    loop {
        tick.tick().await;
        if let Err(e) = api.hub.flush(&api.store).await {
            tracing::warn!(error = %e, "cannot record check-ins");
        }
        if ticks.is_multiple_of(TICKS_PER_AGENT_COUNT) {
            match api.store.count_agents().await {
                Ok(n) => api.hub.agents.store(n, Ordering::Relaxed),
                Err(e) => tracing::warn!(error = %e, "cannot count the agents"),
            }
        }
        ticks = ticks.wrapping_add(1);
    }
}

async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| {
            ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("the request body is larger than {limit} bytes"),
            )
        })
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs every valid document a tenth of its parsing
    // time; only a document that fails is read again to name the place.
    let error = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let kind = |e: &serde_json::Error| {
        if e.is_data() {
            ErrorKind::Invalid
        } else {
            ErrorKind::BadRequest
        }
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            Err(ApiError::new(kind(&inner), format!("{path}: {inner}")))
        }
        // Valid up to what follows it.
        Ok(_) => Err(ApiError::new(kind(&error), error.to_string())),
    }
}

/// Authenticates a signed agent request.
async fn authenticate(
    api: &Api,
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    now: Timestamp,
) -> Result<AgentIdentity, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthenticated("agent requests need a signed Authorization header")
        })?;
    let auth =
        AgentAuthorization::parse(header).map_err(|e| ApiError::unauthenticated(e.to_string()))?;
    let identity = current_identity(api, auth.host).await?;
    let Some(key) = &identity.public_key else {
        return Err(ApiError::unauthenticated("this host has no agent"));
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    auth.verify(key, method.as_str(), path, body, now)
        .map_err(|e| match e {
            AgentAuthError::ClockSkew { .. } => ApiError::new(ErrorKind::ClockSkew, e.to_string()),
            other => ApiError::unauthenticated(other.to_string()),
        })?;
    Ok(identity)
}

/// A host's agent identity as it is now: refused if the host is gone or
/// its agent revoked.
async fn current_identity(api: &Api, host: HostId) -> Result<AgentIdentity, ApiError> {
    let identity = api.store.agent_identity(host).await?.ok_or_else(|| {
        ApiError::unauthenticated("this agent's host is not known here (deleted?); enroll again")
    })?;
    if let Some(at) = identity.revoked_at {
        return Err(ApiError::unauthenticated(format!(
            "this agent was revoked at {at}; enroll again with a new token"
        )));
    }
    Ok(identity)
}

fn short_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(())
}

/// Trades a single-use enrollment token and the agent's public key for a
/// host identity.
#[utoipa::path(post, path = "/agent/enroll", tag = "agents",
    request_body = EnrollRequest,
    responses(
        (status = 201, description = "Enrolled", body = EnrollResponse),
        (status = 401, description = "The token is unknown, used, expired or revoked", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ))]
pub async fn enroll(
    State(api): State<Api>,
    Json(req): Json<EnrollRequest>,
) -> Result<(StatusCode, Json<EnrollResponse>), ApiError> {
    let now = api.clock.now();
    let secret = EnrollmentSecret::parse(req.token.trim())
        .ok_or_else(|| ApiError::unauthenticated("that is not a Rivet enrollment token (rve_…)"))?;
    short_text("hostname", &req.hostname, 253)?;
    short_text("agent_version", &req.agent_version, 64)?;
    let host_id = HostId::new(now, random());
    let outcome = api
        .store
        .enroll_host(
            secret.id,
            |hash| secret.matches(hash),
            host_id,
            &req.public_key,
            &req.hostname,
            &req.agent_version,
            now,
        )
        .await?;
    match outcome {
        Ok(host) => {
            tracing::info!(host = %host.id, tenant = %host.tenant_id, name = %host.name, "agent enrolled");
            Ok((
                StatusCode::CREATED,
                Json(EnrollResponse {
                    host: host.id,
                    tenant: host.tenant_id,
                    checkin_interval_secs: api.config.agents.checkin_interval_secs,
                }),
            ))
        }
        Err(refusal) => Err(ApiError::unauthenticated(refusal.to_string())),
    }
}

/// An agent's check-in: answers at once when the server wants the inventory
/// or a fresh collection, else waits up to `wait_secs` for work.
#[utoipa::path(post, path = "/agent/checkin", tag = "agents",
    request_body = CheckinRequest,
    responses(
        (status = 200, description = "What the agent should do", body = CheckinResponse),
        (status = 401, description = "Unknown, revoked or badly signed agent; or its clock is off (kind clock_skew)", body = ErrorBody),
    ),
    security(("agent" = [])))]
pub async fn checkin(
    State(api): State<Api>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CheckinResponse>, ApiError> {
    let bytes = read_body(body, SMALL_BODY).await?;
    let now = api.clock.now();
    let mut identity = authenticate(&api, &headers, &method, &uri, &bytes, now).await?;
    let req: CheckinRequest = parse_json(&bytes)?;
    short_text("agent_version", &req.agent_version, 64)?;
    api.hub.saw(identity.host_id, now, &req.agent_version);
    let agents = &api.config.agents;
    let wanted =
        |identity: &AgentIdentity| match (&req.inventory_digest, &identity.inventory_digest) {
            (None, _) => InventoryWanted::Nothing,
            (Some(ours), Some(held)) if ours == held => InventoryWanted::Nothing,
            (Some(_), Some(held)) => InventoryWanted::Delta { base: held.clone() },
            (Some(_), None) => InventoryWanted::Full,
        };
    let mut inventory = wanted(&identity);
    if let (Some(asked), Some(after)) = (identity.collect_requested_at, req.collected_after)
        && asked <= after
        && inventory == InventoryWanted::Nothing
    {
        // A collection since the request found what the server holds: the
        // request is done. (A changed inventory clears it when stored.)
        api.store.collect_done(identity.host_id, asked).await?;
        identity.collect_requested_at = None;
    }
    let mut collect_now = identity.collect_requested_at.is_some();
    let mut jobs = jobs_of(&api, identity.host_id).await?;
    let wait = req.wait_secs.min(agents.max_wait_secs);
    if inventory == InventoryWanted::Nothing && !collect_now && jobs.is_empty() && wait > 0 {
        let woken = api
            .hub
            .wait(
                identity.host_id,
                Duration::from_secs(u64::from(wait)),
                agents.max_waiting_checkins,
            )
            .await;
        if woken {
            // Whatever happened meanwhile (a revocation, a request for a
            // fresh inventory) decides the answer.
            identity = current_identity(&api, identity.host_id).await?;
            inventory = wanted(&identity);
            collect_now = identity.collect_requested_at.is_some();
            jobs = jobs_of(&api, identity.host_id).await?;
        }
    }
    Ok(Json(CheckinResponse {
        inventory,
        collect_now,
        checkin_interval_secs: agents.checkin_interval_secs,
        max_wait_secs: agents.max_wait_secs,
        poll_interval_secs: poll_interval_secs(
            api.hub.agents.load(Ordering::Relaxed),
            agents.polls_per_sec,
            agents.checkin_interval_secs,
        ),
        server_time: api.clock.now(),
        jobs,
    }))
}

/// The jobs handed to a host and not yet reported; read only for hosts
/// the hub knows to have some.
async fn jobs_of(api: &Api, host: HostId) -> Result<Vec<Job>, ApiError> {
    if !api.hub.may_have_jobs(host) {
        return Ok(Vec::new());
    }
    let jobs = api.store.dispatched_jobs(host).await?;
    if jobs.is_empty() {
        api.hub.no_jobs(host);
    }
    Ok(jobs.iter().map(StoredJob::to_job).collect())
}

/// What became of a job report.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReportAnswer {
    /// The job.
    pub job: String,
    /// `false` when the job had its report already (a retry): nothing
    /// changed.
    pub recorded: bool,
}

/// An agent reports how a job ended (REP-3). A repeated report (the agent
/// retrying after a lost answer) is answered alike and changes nothing.
#[utoipa::path(post, path = "/agent/jobs/{id}/report", tag = "agents",
    params(("id" = String, Path, description = "Job id")),
    request_body = rivet_core::job::JobReport,
    responses(
        (status = 200, description = "Recorded (or already recorded)", body = ReportAnswer),
        (status = 401, description = "Unknown, revoked or badly signed agent", body = ErrorBody),
        (status = 404, description = "No such job handed to this host", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("agent" = [])))]
pub async fn report_job(
    State(api): State<Api>,
    axum::extract::Path(id): axum::extract::Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ReportAnswer>, ApiError> {
    let bytes = read_body(body, SMALL_BODY).await?;
    let now = api.clock.now();
    let identity = authenticate(&api, &headers, &method, &uri, &bytes, now).await?;
    let report: JobReport = parse_json(&bytes)?;
    report
        .validate()
        .map_err(|e| ApiError::new(ErrorKind::Invalid, e.to_string()))?;
    match api
        .store
        .report_job(identity.host_id, &id, &report, now)
        .await?
    {
        ReportReceipt::Recorded(_) => {
            api.rollouts.wake();
            Ok(Json(ReportAnswer {
                job: id,
                recorded: true,
            }))
        }
        ReportReceipt::Repeated(_) => Ok(Json(ReportAnswer {
            job: id,
            recorded: false,
        })),
        ReportReceipt::NotOpen => Err(ApiError::not_found("job")),
    }
}

/// Stores an agent's inventory, whole or as a delta from the one held.
#[utoipa::path(put, path = "/agent/inventory", tag = "agents",
    request_body(content = Object, description = "An InventoryUpload: {\"full\":{\"inventory\":…}} or {\"delta\":{\"delta\":…}}"),
    responses(
        (status = 200, description = "Stored", body = InventoryReceipt),
        (status = 401, description = "Unknown, revoked or badly signed agent", body = ErrorBody),
        (status = 409, description = "The delta's base is not what the server holds: send the whole inventory", body = ErrorBody),
        (status = 413, description = "Larger than agents.max_inventory_bytes", body = ErrorBody),
        (status = 422, description = "The inventory is invalid (the message names the field)", body = ErrorBody),
    ),
    security(("agent" = [])))]
pub async fn upload_inventory(
    State(api): State<Api>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<InventoryReceipt>, ApiError> {
    let _permit = api
        .hub
        .uploads
        .acquire()
        .await
        .map_err(|_| ApiError::internal("upload semaphore closed"))?;
    let bytes = read_body(body, api.config.agents.max_inventory_bytes).await?;
    let now = api.clock.now();
    let identity = authenticate(&api, &headers, &method, &uri, &bytes, now).await?;
    let upload: InventoryUpload = parse_json(&bytes)?;
    drop(bytes);
    let host = identity.host_id;
    let (inventory, base): (Inventory, Option<InventoryDigest>) = match upload {
        InventoryUpload::Full { mut inventory } => {
            validate_inventory(&inventory)?;
            canonicalize(&mut inventory);
            (inventory, None)
        }
        InventoryUpload::Delta { delta } => {
            if identity.inventory_digest.as_ref() != Some(&delta.base) {
                return Err(ApiError::new(
                    ErrorKind::Conflict,
                    "the delta's base is not the inventory the server holds; send the whole inventory",
                ));
            }
            let base = delta.base.clone();
            let packages = api.store.host_packages(host).await?;
            let inventory = delta.apply(packages).map_err(|e| {
                ApiError::new(
                    ErrorKind::Conflict,
                    format!("{e}; send the whole inventory"),
                )
            })?;
            validate_inventory(&inventory)?;
            (inventory, Some(base))
        }
    };
    let digest = digest(&inventory);
    let stored = api
        .store
        .store_inventory(InventoryWrite {
            host,
            inventory,
            digest: digest.clone(),
            expected_base: base,
            at: now,
        })
        .await?;
    match stored {
        Ok(stored) => {
            tracing::debug!(%host, packages = stored.packages, changes = stored.changes, "inventory stored");
            api.assessor
                .host_changed(stored.seq, &stored.added, &stored.removed, false);
            Ok(Json(InventoryReceipt {
                digest,
                changes: stored.changes,
            }))
        }
        Err(InventoryRefusal::UnknownHost) => Err(ApiError::unauthenticated(
            "this agent's host is not known here (deleted?); enroll again",
        )),
        Err(e @ InventoryRefusal::BaseMismatch { .. }) => Err(ApiError::new(
            ErrorKind::Conflict,
            format!("{e}; send the whole inventory"),
        )),
    }
}

/// Most packages one inventory may list.
pub const MAX_PACKAGES: usize = 100_000;
/// Longest text field of a package.
const MAX_FIELD: usize = 1024;

/// Checks an inventory's sizes and that every version is valid under its
/// format's scheme, naming the first package that is not.
pub(crate) fn validate_inventory(inventory: &Inventory) -> Result<(), ApiError> {
    if inventory.packages.len() > MAX_PACKAGES {
        return Err(ApiError::invalid(
            "inventory.packages",
            format!("at most {MAX_PACKAGES} packages"),
        ));
    }
    for (i, p) in inventory.packages.iter().enumerate() {
        for (field, value) in [
            ("name", &p.name),
            ("version", &p.version),
            ("architecture", &p.architecture),
            ("source_name", &p.source_name),
            ("source_version", &p.source_version),
        ] {
            if value.is_empty() || value.len() > MAX_FIELD || value.chars().any(char::is_control) {
                return Err(ApiError::invalid(
                    &format!("inventory.packages[{i}].{field}"),
                    format!("must be 1 to {MAX_FIELD} characters without control characters"),
                ));
            }
        }
        if let Err(reason) = rivet_core::version::validate(p.format.scheme(), &p.version) {
            return Err(ApiError::invalid(
                &format!("inventory.packages[{i}].version"),
                format!(
                    "{:?} is not a valid {} version: {reason}",
                    p.version,
                    p.format.scheme().name()
                ),
            ));
        }
    }
    if let Some(name) = inventory
        .host
        .fqdn
        .as_ref()
        .or(inventory.host.hostname.as_ref())
    {
        short_text("inventory.host.hostname", name, 253)?;
    }
    Ok(())
}

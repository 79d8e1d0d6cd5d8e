//! A load run's three phases against a live server:
//!
//! 1. **enroll**: hosts the state file does not have yet get an enrollment
//!    token each (the administrator's call) and enroll with a fresh key;
//! 2. **initial**: every host checks in once and uploads what the server
//!    asks for (a whole inventory, for a host the server has never seen);
//! 3. **steady**: for the given duration, check-ins at the given rate spread
//!    over the hosts, a fraction of them after an inventory change.
//!
//! Each phase runs `concurrency` workers that take the next unit of work
//! from a shared counter; each worker keeps its own [`PhaseStats`], merged
//! when the phase ends, so that recording never contends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rivet_core::agent::{
    AgentKey, CheckinRequest, EnrollRequest, InventoryUpload, InventoryWanted,
};
use rivet_core::host::{HostAttributes, InventoryDelta, InventoryDigest, digest};
use rivet_core::id::{HostId, TenantId};
use rivet_core::inventory::Inventory;
use serde::Serialize;

use crate::client::{AdminToken, Api, is_conflict};
use crate::clock;
use crate::fleet::{HostSpec, Mix};
use crate::pool::Pools;
use crate::schedule::{Spread, changes, due};
use crate::state::{FORMAT, FleetState, HostRecord};
use crate::stats::{PhaseReport, PhaseStats};

/// The agent version the simulated hosts report.
pub const AGENT_VERSION: &str = concat!("rivet-sim/", env!("CARGO_PKG_VERSION"));

/// How the administrator authenticates, for enrolling.
#[derive(Clone)]
pub enum AdminAuth {
    /// A user name and password, to log in with.
    Password {
        /// The user.
        username: String,
        /// The password.
        password: String,
    },
    /// An API token (`rvt_…`).
    Token(AdminToken),
    /// None given: the state file must already hold every host.
    None,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminAuth::Password { username, .. } => {
                write!(
                    f,
                    "Password {{ username: {username:?}, password: <redacted> }}"
                )
            }
            AdminAuth::Token(token) => write!(f, "Token({token:?})"),
            AdminAuth::None => f.write_str("None"),
        }
    }
}

/// A validated run's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's base URL.
    pub server: String,
    /// The administrator's credentials.
    pub admin: AdminAuth,
    /// The tenant new hosts enroll into.
    pub tenant: Option<TenantId>,
    /// How many hosts.
    pub hosts: u32,
    /// Steady check-ins per second; 0 for as fast as possible.
    pub rate: f64,
    /// How long the steady phase lasts.
    pub duration: Duration,
    /// The fraction of steady check-ins that follow an inventory change.
    pub changed: f64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The distribution mix.
    pub mix: Mix,
    /// The fleet's seed.
    pub seed: u64,
    /// The state file.
    pub state: std::path::PathBuf,
    /// Whether to continue with the fleet in the state file.
    pub reuse: bool,
}

/// One simulated host during a run.
struct SimHost {
    spec: HostSpec,
    id: HostId,
    key: AgentKey,
    run: tokio::sync::Mutex<HostRun>,
}

/// Where a host's inventory stands.
#[derive(Debug, Clone, Default)]
struct HostRun {
    generation: u32,
    /// The digest of `generation`'s inventory, once computed.
    digest: Option<InventoryDigest>,
    /// The generation the server holds, and its digest once computed.
    acked: Option<(u32, Option<InventoryDigest>)>,
}

/// What every worker shares.
struct Shared {
    api: Api,
    pools: Arc<Pools>,
}

/// A whole run's results.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The server.
    pub server: String,
    /// Hosts driven.
    pub hosts: usize,
    /// Hosts by distribution.
    pub distributions: std::collections::BTreeMap<String, u64>,
    /// The seed.
    pub seed: u64,
    /// Target steady rate (0: as fast as possible).
    pub rate: f64,
    /// Steady phase's length in seconds.
    pub duration_secs: f64,
    /// Fraction of steady check-ins after a change.
    pub changed: f64,
    /// Concurrency.
    pub concurrency: usize,
    /// Each phase's report.
    pub phases: Vec<PhaseReport>,
}

/// Runs every phase and saves the fleet; progress goes to standard error.
pub async fn run(settings: Settings, pools: Arc<Pools>, api: Api) -> Result<Results> {
    let (mut state, seed, mix) = open_state(&settings)?;
    let ctx = Arc::new(Shared { api, pools });
    let mut phases = Vec::new();

    let wanted = settings.hosts as usize;
    if state.hosts.len() < wanted {
        let admin = admin_token(&ctx.api, &settings.admin).await?;
        let tenant = settings
            .tenant
            .context("enrolling hosts needs --tenant (the tenant's id)")?;
        eprintln!(
            "enrolling {} hosts ({} in the state file already)…",
            wanted - state.hosts.len(),
            state.hosts.len()
        );
        let (records, report) = enroll(
            &ctx,
            &admin,
            tenant,
            &mix,
            seed,
            state.hosts.len() as u32..settings.hosts,
            settings.concurrency,
        )
        .await;
        eprint!("{}", report.table());
        phases.push(report);
        // Hosts after a failed enrollment would leave a gap in the indexes;
        // keep the enrolled ones up to the first failure.
        for record in records {
            match record {
                Some(record) => state.hosts.push(record),
                None => break,
            }
        }
        state.save(&settings.state)?;
        if state.hosts.len() < wanted {
            bail!(
                "only {} of {wanted} hosts are enrolled (see the errors above); the state file {} keeps them for --reuse",
                state.hosts.len(),
                settings.state.display()
            );
        }
    }

    let hosts: Arc<Vec<SimHost>> = Arc::new(
        state.hosts[..wanted]
            .iter()
            .map(|r| {
                Ok(SimHost {
                    spec: HostSpec::new(&ctx.pools, &mix, seed, r.index),
                    id: r.id,
                    key: r.agent_key()?,
                    run: tokio::sync::Mutex::new(HostRun {
                        generation: r.generation,
                        digest: None,
                        acked: r.acked.map(|g| (g, None)),
                    }),
                })
            })
            .collect::<Result<_>>()?,
    );
    let mut distributions = std::collections::BTreeMap::new();
    for host in hosts.iter() {
        *distributions
            .entry(host.spec.distro.name().to_owned())
            .or_insert(0) += 1;
    }

    eprintln!("initial check-in of {wanted} hosts…");
    let report = initial(&ctx, &hosts, settings.concurrency).await;
    eprint!("{}", report.table());
    phases.push(report);
    save_progress(&mut state, &hosts, &settings.state).await?;

    if !settings.duration.is_zero() {
        eprintln!(
            "steady check-ins for {} s at {}…",
            settings.duration.as_secs_f64(),
            if settings.rate > 0.0 {
                format!("{} per second", settings.rate)
            } else {
                "full speed".to_owned()
            }
        );
        let report = steady(&ctx, &hosts, &settings, seed).await;
        eprint!("{}", report.table());
        phases.push(report);
        save_progress(&mut state, &hosts, &settings.state).await?;
    }

    Ok(Results {
        server: settings.server.clone(),
        hosts: wanted,
        distributions,
        seed,
        rate: settings.rate,
        duration_secs: settings.duration.as_secs_f64(),
        changed: settings.changed,
        concurrency: settings.concurrency,
        phases,
    })
}

/// The fleet to continue with (the state file's, with `--reuse`) or a new
/// one, with the seed and mix its inventories derive from.
fn open_state(settings: &Settings) -> Result<(FleetState, u64, Mix)> {
    if settings.reuse {
        let state = FleetState::load(&settings.state)?;
        if state.server != settings.server {
            bail!(
                "the state file's hosts are enrolled with {}, not {}",
                state.server,
                settings.server
            );
        }
        if state.seed != settings.seed || state.mix != settings.mix {
            eprintln!(
                "note: reusing the fleet's own seed {} and mix from {}",
                state.seed,
                settings.state.display()
            );
        }
        let (seed, mix) = (state.seed, state.mix.clone());
        return Ok((state, seed, mix));
    }
    if settings.state.exists() {
        bail!(
            "the state file {} exists: pass --reuse to drive its fleet, or remove it to enroll a new one",
            settings.state.display()
        );
    }
    let state = FleetState {
        format: FORMAT,
        server: settings.server.clone(),
        tenant: settings.tenant,
        seed: settings.seed,
        mix: settings.mix.clone(),
        hosts: Vec::new(),
    };
    Ok((state, settings.seed, settings.mix.clone()))
}

async fn admin_token(api: &Api, auth: &AdminAuth) -> Result<AdminToken> {
    match auth {
        AdminAuth::Password { username, password } => api.login(username, password).await,
        AdminAuth::Token(token) => Ok(token.clone()),
        AdminAuth::None => bail!(
            "enrolling hosts needs an administrator: pass --username with --password-env, or --api-token-env"
        ),
    }
}

/// Enrolls hosts `indexes`, `None` for each that failed.
async fn enroll(
    ctx: &Arc<Shared>,
    admin: &AdminToken,
    tenant: TenantId,
    mix: &Mix,
    seed: u64,
    indexes: std::ops::Range<u32>,
    concurrency: usize,
) -> (Vec<Option<HostRecord>>, PhaseReport) {
    let next = Arc::new(AtomicU64::new(u64::from(indexes.start)));
    let started = clock::monotonic();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(indexes.len()).max(1) {
        let (ctx, admin, mix, next, end) = (
            ctx.clone(),
            admin.clone(),
            mix.clone(),
            next.clone(),
            indexes.end,
        );
        workers.spawn(async move {
            let mut stats = PhaseStats::default();
            let mut enrolled = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= u64::from(end) {
                    break;
                }
                let index = index as u32;
                let spec = HostSpec::new(&ctx.pools, &mix, seed, index);
                let record = enroll_one(&ctx, &admin, tenant, &spec, &mut stats).await;
                enrolled.push((index, record));
            }
            (stats, enrolled)
        });
    }
    let mut stats = PhaseStats::default();
    let mut records = vec![None; indexes.len()];
    while let Some(joined) = workers.join_next().await {
        let Ok((worker_stats, enrolled)) = joined else {
            stats.error("worker", "panicked");
            continue;
        };
        stats.merge(worker_stats);
        for (index, record) in enrolled {
            records[(index - indexes.start) as usize] = record;
        }
    }
    (records, stats.report("enroll", started.elapsed()))
}

async fn enroll_one(
    ctx: &Shared,
    admin: &AdminToken,
    tenant: TenantId,
    spec: &HostSpec,
    stats: &mut PhaseStats,
) -> Option<HostRecord> {
    let attributes = HostAttributes {
        tags: ["rivet-sim".to_owned(), spec.distro.name().to_owned()].into(),
        ..HostAttributes::default()
    };
    let note = format!("rivet-sim host {}", spec.index);
    let t = clock::monotonic();
    let secret = ctx
        .api
        .enrollment_token(admin, tenant, &attributes, &note)
        .await;
    stats.latency("enrollment_token", t.elapsed());
    let secret = secret
        .map_err(|e| stats.error("enrollment_token", &e.kind))
        .ok()?;
    let key = AgentKey::from_bytes(rand::random());
    let request = EnrollRequest {
        token: secret,
        public_key: key.public(),
        hostname: spec.hostname(),
        agent_version: AGENT_VERSION.to_owned(),
    };
    let t = clock::monotonic();
    let enrolled = ctx.api.enroll(&request).await;
    stats.latency("enroll", t.elapsed());
    let enrolled = enrolled.map_err(|e| stats.error("enroll", &e.kind)).ok()?;
    stats.count("enrolled");
    Some(HostRecord {
        index: spec.index,
        id: enrolled.host,
        key: hex::encode(key.to_bytes()),
        generation: 0,
        acked: None,
    })
}

/// Every host checks in once, as fast as the concurrency allows.
async fn initial(ctx: &Arc<Shared>, hosts: &Arc<Vec<SimHost>>, concurrency: usize) -> PhaseReport {
    let count = hosts.len() as u64;
    let started = clock::monotonic();
    let stats = workers(
        concurrency,
        move |n| {
            (n < count).then_some(Work {
                host: n as usize,
                change: false,
                due: None,
            })
        },
        ctx,
        hosts,
        started,
    )
    .await;
    stats.report("initial", started.elapsed())
}

/// Check-ins at the set rate for the set duration.
async fn steady(
    ctx: &Arc<Shared>,
    hosts: &Arc<Vec<SimHost>>,
    settings: &Settings,
    seed: u64,
) -> PhaseReport {
    let spread = Spread::new(hosts.len() as u64, seed);
    let (rate, changed, duration) = (settings.rate, settings.changed, settings.duration);
    let started = clock::monotonic();
    let end = started + duration;
    let stats = workers(
        settings.concurrency,
        move |n| {
            let due = due(n, rate);
            if due.is_some_and(|d| d >= duration) || (due.is_none() && clock::monotonic() >= end) {
                return None;
            }
            Some(Work {
                host: spread.host(n) as usize,
                change: changes(seed, n, changed),
                due,
            })
        },
        ctx,
        hosts,
        started,
    )
    .await;
    stats.report("steady", started.elapsed())
}

/// One check-in to make.
struct Work {
    host: usize,
    change: bool,
    /// When it is due after the phase's start; `None` for at once.
    due: Option<Duration>,
}

/// Runs `concurrency` workers over the work `plan` gives for the numbers
/// 0, 1, 2 … until it gives `None`.
async fn workers(
    concurrency: usize,
    plan: impl Fn(u64) -> Option<Work> + Send + Sync + 'static,
    ctx: &Arc<Shared>,
    hosts: &Arc<Vec<SimHost>>,
    started: Instant,
) -> PhaseStats {
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (ctx, hosts, plan, next) = (ctx.clone(), hosts.clone(), plan.clone(), next.clone());
        set.spawn(async move {
            let mut stats = PhaseStats::default();
            while let Some(work) = plan(next.fetch_add(1, Ordering::Relaxed)) {
                if let Some(due) = work.due {
                    let at = started + due;
                    let now = clock::monotonic();
                    if at > now {
                        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    } else {
                        // How far behind the schedule the check-in starts:
                        // the server (or the simulator) does not keep up.
                        stats.latency("schedule_lag", now - at);
                    }
                }
                visit(&ctx, &hosts[work.host], work.change, &mut stats).await;
            }
            stats
        });
    }
    let mut stats = PhaseStats::default();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(worker) => stats.merge(worker),
            Err(_) => stats.error("worker", "panicked"),
        }
    }
    stats
}

/// One check-in of `host`, after an inventory change if `change`, and the
/// upload the server asks for.
async fn visit(ctx: &Shared, host: &SimHost, change: bool, stats: &mut PhaseStats) {
    let mut run = host.run.lock().await;
    if change {
        run.generation += 1;
        run.digest = None;
    }
    let generation = run.generation;
    let mut current: Option<Inventory> = None;
    let digest_now = match &run.digest {
        Some(d) => d.clone(),
        None => {
            let inventory = host.spec.inventory(&ctx.pools, generation, clock::wall());
            let d = digest(&inventory);
            current = Some(inventory);
            run.digest = Some(d.clone());
            d
        }
    };
    let request = CheckinRequest {
        agent_version: AGENT_VERSION.to_owned(),
        inventory_digest: Some(digest_now.clone()),
        wait_secs: 0,
        collected_after: None,
    };
    let t = clock::monotonic();
    let answer = ctx.api.checkin(host.id, &host.key, &request).await;
    stats.latency("checkin", t.elapsed());
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => return stats.error("checkin", &e.kind),
    };
    stats.count("checkin");
    if answer.collect_now {
        stats.count("collect_now");
    }
    let inventory = |current: Option<Inventory>| {
        current.unwrap_or_else(|| host.spec.inventory(&ctx.pools, generation, clock::wall()))
    };
    match answer.inventory {
        InventoryWanted::Nothing => {
            stats.count(if change {
                "changed_not_asked"
            } else {
                "unchanged"
            });
            run.acked = Some((generation, Some(digest_now)));
        }
        InventoryWanted::Full => {
            let upload = InventoryUpload::Full {
                inventory: inventory(current),
            };
            if send(ctx, host, &upload, &digest_now, "full_upload", stats).await {
                run.acked = Some((generation, Some(digest_now)));
            }
        }
        InventoryWanted::Delta { base } => {
            let base_inventory = match run.acked {
                Some((g, Some(ref d))) if *d == base => {
                    Some(host.spec.inventory(&ctx.pools, g, clock::wall()))
                }
                Some((g, None)) => Some(host.spec.inventory(&ctx.pools, g, clock::wall()))
                    .filter(|i| digest(i) == base),
                _ => None,
            };
            let new = inventory(current);
            let sent = match base_inventory {
                Some(base_inventory) => {
                    let upload = InventoryUpload::Delta {
                        delta: InventoryDelta::between(&base_inventory, &new),
                    };
                    match upload_timed(ctx, host, &upload, "delta_upload", stats).await {
                        Ok(receipt) => Some(check_receipt(
                            receipt.digest,
                            &digest_now,
                            "delta_upload",
                            stats,
                        )),
                        Err(e) if is_conflict(&e) => {
                            stats.count("delta_conflict");
                            None
                        }
                        Err(e) => {
                            stats.error("delta_upload", &e.kind);
                            Some(false)
                        }
                    }
                }
                None => {
                    // The server holds an inventory this host never had
                    // (another run's, or a lost upload's): only a whole one
                    // can help.
                    stats.count("delta_base_unknown");
                    None
                }
            };
            let ok = match sent {
                Some(ok) => ok,
                None => {
                    let upload = InventoryUpload::Full { inventory: new };
                    send(ctx, host, &upload, &digest_now, "full_upload", stats).await
                }
            };
            if ok {
                run.acked = Some((generation, Some(digest_now)));
            }
        }
    }
}

/// Uploads and counts the outcome under `what`; true if the server took it.
async fn send(
    ctx: &Shared,
    host: &SimHost,
    upload: &InventoryUpload,
    expected: &InventoryDigest,
    what: &'static str,
    stats: &mut PhaseStats,
) -> bool {
    match upload_timed(ctx, host, upload, what, stats).await {
        Ok(receipt) => check_receipt(receipt.digest, expected, what, stats),
        Err(e) => {
            stats.error(what, &e.kind);
            false
        }
    }
}

async fn upload_timed(
    ctx: &Shared,
    host: &SimHost,
    upload: &InventoryUpload,
    what: &'static str,
    stats: &mut PhaseStats,
) -> Result<rivet_core::agent::InventoryReceipt, crate::client::RequestError> {
    let t = clock::monotonic();
    let result = ctx.api.upload(host.id, &host.key, upload).await;
    stats.latency(what, t.elapsed());
    result
}

/// Counts an accepted upload; a receipt for another digest than the one
/// sent is an error (the server computed the digest differently).
fn check_receipt(
    got: InventoryDigest,
    expected: &InventoryDigest,
    what: &'static str,
    stats: &mut PhaseStats,
) -> bool {
    if got == *expected {
        stats.count(what);
        true
    } else {
        stats.error(what, "receipt for another digest");
        false
    }
}

/// Writes each host's generations back to the state file.
async fn save_progress(
    state: &mut FleetState,
    hosts: &[SimHost],
    path: &std::path::Path,
) -> Result<()> {
    for (record, host) in state.hosts.iter_mut().zip(hosts) {
        let run = host.run.lock().await;
        record.generation = run.generation;
        record.acked = run.acked.as_ref().map(|(g, _)| *g);
    }
    state.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_server;
    use crate::pool::tests::real_pools;

    fn settings(server: &str, state: &std::path::Path, hosts: u32) -> Settings {
        Settings {
            server: server.to_owned(),
            admin: AdminAuth::Password {
                username: "admin".into(),
                password: "right".into(),
            },
            tenant: Some(TenantId(uuid::Uuid::from_u128(7))),
            hosts,
            rate: 0.0,
            duration: Duration::from_millis(1500),
            changed: 0.5,
            concurrency: 4,
            mix: Mix::parse("debian=40,ubuntu=30,almalinux=20,alpine=10").unwrap(),
            seed: 9,
            state: state.to_owned(),
            reuse: false,
        }
    }

    fn phase<'r>(results: &'r Results, name: &str) -> &'r PhaseReport {
        results.phases.iter().find(|p| p.phase == name).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fleet_enrolls_uploads_and_sends_deltas_then_is_reused() {
        let (url, held) = fake_server::start().await;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("fleet.json");
        let api = Api::new(&url, None, 4).unwrap();

        let results = run(settings(&url, &state, 12), real_pools(), api.clone())
            .await
            .unwrap();
        let enroll = phase(&results, "enroll");
        assert_eq!(enroll.counts["enrolled"], 12);
        assert!(enroll.errors.is_empty(), "{:?}", enroll.errors);
        let initial = phase(&results, "initial");
        assert_eq!(initial.counts["full_upload"], 12);
        assert!(initial.errors.is_empty(), "{:?}", initial.errors);
        let steady = phase(&results, "steady");
        assert!(steady.errors.is_empty(), "{:?}", steady.errors);
        assert!(steady.counts["unchanged"] > 0, "{:?}", steady.counts);
        assert!(steady.counts["delta_upload"] > 0, "{:?}", steady.counts);
        assert!(
            !steady.counts.contains_key("full_upload"),
            "{:?}",
            steady.counts
        );
        assert!(steady.latency.contains_key("checkin"));
        assert_eq!(
            held.lock().unwrap().deltas as u64,
            steady.counts["delta_upload"]
        );

        // The server holds exactly what the state file says each host has.
        let saved = FleetState::load(&state).unwrap();
        let pools = real_pools();
        for record in &saved.hosts {
            assert_eq!(record.acked, Some(record.generation));
            let spec = HostSpec::new(&pools, &saved.mix, saved.seed, record.index);
            let ours = digest(&spec.inventory(&pools, record.generation, clock::wall()));
            let theirs = digest(held.lock().unwrap().hosts[&record.id].1.as_ref().unwrap());
            assert_eq!(ours, theirs, "host {}", record.index);
        }

        // Without --reuse an existing fleet is not overwritten.
        let err = run(settings(&url, &state, 12), real_pools(), api.clone())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("--reuse"), "{err}");

        // With it, the fleet grows by three; the old hosts need no upload.
        let mut again = settings(&url, &state, 15);
        again.reuse = true;
        again.duration = Duration::ZERO;
        let results = run(again, real_pools(), api).await.unwrap();
        assert_eq!(phase(&results, "enroll").counts["enrolled"], 3);
        let initial = phase(&results, "initial");
        assert_eq!(initial.counts["unchanged"], 12);
        assert_eq!(initial.counts["full_upload"], 3);
        assert_eq!(results.phases.len(), 2, "no steady phase for duration 0");
        assert_eq!(FleetState::load(&state).unwrap().hosts.len(), 15);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_are_counted_by_kind_and_bad_logins_stop_the_run() {
        let (url, held) = fake_server::start().await;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("fleet.json");
        let api = Api::new(&url, None, 2).unwrap();

        let mut wrong = settings(&url, &state, 2);
        wrong.admin = AdminAuth::Password {
            username: "admin".into(),
            password: "wrong".into(),
        };
        let err = run(wrong, real_pools(), api.clone()).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("401 unauthenticated"),
            "{err:#}"
        );

        let mut first = settings(&url, &state, 3);
        first.duration = Duration::ZERO;
        run(first, real_pools(), api.clone()).await.unwrap();
        // The server loses two hosts' inventories and one host altogether.
        {
            let mut held = held.lock().unwrap();
            let ids: Vec<HostId> = FleetState::load(&state)
                .unwrap()
                .hosts
                .iter()
                .map(|h| h.id)
                .collect();
            held.hosts.get_mut(&ids[0]).unwrap().1 = None;
            held.hosts.get_mut(&ids[1]).unwrap().1 = None;
            held.hosts.remove(&ids[2]);
        }
        let mut again = settings(&url, &state, 3);
        again.reuse = true;
        again.duration = Duration::ZERO;
        let results = run(again, real_pools(), api).await.unwrap();
        let initial = phase(&results, "initial");
        assert_eq!(initial.counts["full_upload"], 2);
        assert_eq!(initial.errors["checkin: 401 unauthenticated"], 1);
    }
}

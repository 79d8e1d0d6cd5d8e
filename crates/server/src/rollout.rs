//! The rollout driver (RLO-2, RLO-4, RLO-7): it starts approved changes
//! when they fall due, hands jobs to agents as their ring, window and the
//! limits allow, reads the agents' reports back into each rollout, and
//! ends the change when its rollout ends. The engine (`rivet_change`)
//! decides every step; the driver only reads the store, applies the
//! engine's decisions at the clock's time and writes them back.
//!
//! One task runs [`tick`] periodically and when woken (a report arrived, a
//! change was approved). People's controls (pause, problem reports) take
//! the same lock, so the driver and a person never write a rollout at once.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rivet_change::change::{Change, ChangeKind, ChangeState, Patch};
use rivet_change::ring::RingPlan;
use rivet_change::rollout::{
    JobResult, JobState as HostJobState, PackageTarget, RebootPolicy, Rollout, RolloutInput,
    RolloutState, TargetHost, Urgency,
};
use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::audit::Actor;
use rivet_core::finding::FindingState;
use rivet_core::host::HostRole;
use rivet_core::id::{HostId, UserId};
use rivet_core::inventory::OsRelease;
use rivet_core::job::{JobOutcome, JobPackage};
use rivet_core::page::PageRequest;
use rivet_core::version::{Scheme, compare};
use rivet_store::{
    ChangeSetting, FindingFilter, Host, JobKind, JobState, StoreError, StoredChange, StoredJob,
    StoredRollout,
};
use serde::Serialize;
use tokio::sync::{Mutex, Notify};

use crate::api::Api;
use crate::schedule::{TenantWindows, freezes_for};

/// The user id the driver acts as in a change's history: Rivet itself.
pub const RIVET: UserId = UserId(uuid::Uuid::nil());

/// Rollout states the driver still works on.
const ACTIVE: [&str; 4] = ["running", "paused", "halted", "rolling_back"];

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TickSummary {
    /// Changes whose rollout started.
    pub started: u32,
    /// Jobs handed to agents.
    pub dispatched: u32,
    /// Agents' reports read into rollouts.
    pub reports: u32,
    /// Changes whose rollout ended (completed, failed, rolled back).
    pub ended: u32,
    /// Changes that could not be started or advanced, with why.
    pub problems: Vec<String>,
}

/// The driver's shared state: the lock people's controls take too, and
/// its wake-up call.
#[derive(Debug, Default)]
pub struct Rollouts {
    lock: Mutex<()>,
    wake: Notify,
}

impl Rollouts {
    /// Asks for a pass soon.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Holds off the driver while a person changes a rollout.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }
}

/// Runs the driver until the server stops: a pass every `every`, and when
/// woken.
pub async fn run(api: Api, every: Duration) {
    match api.store.hosts_with_dispatched_jobs().await {
        Ok(hosts) => api.hub.jobs_waiting(&hosts),
        Err(e) => tracing::error!(error = %e, "cannot read the hosts with jobs"),
    }
    loop {
        if let Err(e) = tick(&api).await {
            tracing::warn!(error = %e, "rollout pass failed");
        }
        let _ = tokio::time::timeout(every, api.rollouts.wake.notified()).await;
    }
}

/// One pass: start the changes that fall due, then advance every active
/// rollout.
pub async fn tick(api: &Api) -> Result<TickSummary, StoreError> {
    let _held = api.rollouts.lock().await;
    let now = api.clock.now();
    let mut summary = TickSummary::default();
    for stored in api
        .store
        .changes_in_states(&["approved", "scheduled"])
        .await?
    {
        match start_if_due(api, stored, now).await {
            Ok(true) => summary.started += 1,
            Ok(false) => {}
            Err(Problem::Store(e)) => return Err(e),
            Err(Problem::Refused(why)) => summary.problems.push(why),
        }
    }
    for stored in api.store.rollouts_in_states(&ACTIVE).await? {
        let id = stored.change_id.clone();
        match advance(api, stored, now, &mut summary).await {
            Ok(()) => {}
            Err(Problem::Store(e)) => return Err(e),
            Err(Problem::Refused(why)) => summary.problems.push(format!("{id}: {why}")),
        }
    }
    Ok(summary)
}

/// Why a change could not be driven.
pub(crate) enum Problem {
    Store(StoreError),
    Refused(String),
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Problem::Store(e)
    }
}

/// The change document of a stored change (its votes, kept beside its
/// fields under `approvals`, are not the driver's concern).
pub(crate) fn change_of(stored: &StoredChange) -> Result<Change, Problem> {
    serde_json::from_value(stored.body.clone())
        .map_err(|e| Problem::Refused(format!("change {} does not read: {e}", stored.id)))
}

/// The stored change with `change` written back, its votes kept.
pub(crate) fn with_change(stored: &StoredChange, change: &Change) -> StoredChange {
    let mut body = serde_json::to_value(change).unwrap_or_default();
    if let (Some(votes), serde_json::Value::Object(map)) = (stored.body.get("approvals"), &mut body)
    {
        map.insert("approvals".into(), votes.clone());
    }
    StoredChange {
        state: change.state().as_str().to_owned(),
        review_due: change.needs_review(),
        body,
        ..stored.clone()
    }
}

/// Writes a change's transition made by the driver, audited.
async fn save(
    api: &Api,
    stored: &StoredChange,
    change: &Change,
    action: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let note = serde_json::json!({"from": stored.state, "to": change.state().as_str()});
    Ok(api
        .store
        .save_change(
            &with_change(stored, change),
            action,
            note,
            &Actor::system(),
            at,
        )
        .await?
        .is_some())
}

/// Starts a change's rollout if it is due: a scheduled change at its
/// planned start, an expedited emergency change at once (RLO-7).
async fn start_if_due(api: &Api, stored: StoredChange, now: Timestamp) -> Result<bool, Problem> {
    let mut change = change_of(&stored)?;
    let emergency = *change.kind() == ChangeKind::Emergency;
    let due = match change.state() {
        ChangeState::Approved => emergency && now >= change.timeframe().earliest_start,
        ChangeState::Scheduled => change.planned_start().is_some_and(|p| now >= p),
        _ => false,
    };
    if !due {
        return Ok(false);
    }
    let input = rollout_input(api, &change, now).await?;
    let rollout = match Rollout::new(input, now) {
        Ok(r) => r,
        Err(e) => {
            change
                .start(now, RIVET)
                .and_then(|()| change.fail(now, RIVET, &format!("no rollout: {e}")))
                .map_err(|e| Problem::Refused(e.to_string()))?;
            save(api, &stored, &change, "change.fail", now).await?;
            return Err(Problem::Refused(format!("change {}: {e}", stored.id)));
        }
    };
    change
        .start(now, RIVET)
        .map_err(|e| Problem::Refused(e.to_string()))?;
    if !save(api, &stored, &change, "change.start", now).await? {
        // Someone wrote the change meanwhile: the next pass sees it anew.
        return Ok(false);
    }
    let jobs = jobs_of(&stored, &rollout, now);
    let doc = StoredRollout {
        change_id: stored.id.clone(),
        tenant_id: stored.tenant_id,
        state: rollout.state().name().to_owned(),
        revision: 1,
        created_at: now,
        updated_at: now,
        body: serde_json::to_value(&rollout).unwrap_or_default(),
    };
    api.store
        .create_rollout(&doc, &jobs, &Actor::system(), now)
        .await?;
    tracing::info!(change = %stored.id, jobs = jobs.len(), unscheduled = rollout.unscheduled().len(), "rollout started");
    Ok(true)
}

/// A job's id: one install job per host and change, one rollback job.
fn job_id(change: &str, host: HostId, kind: JobKind) -> String {
    match kind {
        JobKind::Install => format!("{change}.{host}"),
        JobKind::Rollback => format!("{change}.{host}.rollback"),
    }
}

/// The rollout's jobs as the store keeps them (all pending).
fn jobs_of(stored: &StoredChange, rollout: &Rollout, now: Timestamp) -> Vec<StoredJob> {
    rollout
        .jobs()
        .values()
        .map(|j| {
            let (not_before, not_after) = match j.job.start {
                rivet_change::rollout::PlannedStart::Window { window } => {
                    (window.start, Some(window.end))
                }
                rivet_change::rollout::PlannedStart::AtOnce { at } => (at, None),
            };
            StoredJob {
                id: job_id(&stored.id, j.job.host, JobKind::Install),
                change_id: stored.id.clone(),
                tenant_id: stored.tenant_id,
                host_id: j.job.host,
                kind: JobKind::Install,
                ring: j.job.ring.clone(),
                state: JobState::Pending,
                packages: j.job.packages.clone(),
                not_before,
                not_after,
                reboot: j.job.reboot,
                created_at: now,
                dispatched_at: None,
                reported_at: None,
                report: None,
            }
        })
        .collect()
}

/// Everything the engine plans a change's rollout from: the packages in
/// installation order, each host's ring, windows and reboot policy, its own
/// packages where the change names advisories, the ring plan and freezes.
async fn rollout_input(
    api: &Api,
    change: &Change,
    now: Timestamp,
) -> Result<RolloutInput, Problem> {
    let tenant = change.tenant();
    let ordered = change
        .install_order(&BTreeMap::new())
        .map_err(|e| Problem::Refused(e.to_string()))?;
    let packages: Vec<PackageTarget> = ordered
        .into_iter()
        .filter_map(|p| match p {
            Patch::Package {
                name,
                version,
                arch,
                ..
            } => Some(JobPackage {
                name: name.clone(),
                version: version.clone(),
                architecture: arch.clone(),
            }),
            Patch::Advisory { .. } => None,
        })
        .collect();
    let advisories: Vec<&str> = change
        .patches()
        .iter()
        .filter_map(|p| match p {
            Patch::Advisory { id, .. } => Some(id.as_str()),
            Patch::Package { .. } => None,
        })
        .collect();
    let targets = crate::api::changes::target_hosts(&api.store, change).await?;
    let schemes: HashMap<HostId, Scheme> = targets.iter().map(|h| (h.id, scheme_of(h))).collect();
    let fixes = advisory_fixes(api, tenant, &advisories, &schemes, now).await?;
    let plan: RingPlan = match api
        .store
        .change_setting(tenant, ChangeSetting::RingPlan)
        .await?
    {
        Some(doc) => serde_json::from_value(doc)
            .map_err(|e| Problem::Refused(format!("the tenant's ring plan does not read: {e}")))?,
        None => RingPlan::single("broad"),
    };
    let windows = TenantWindows::read(&api.store, tenant).await?;
    let mut hosts = Vec::new();
    for host in targets {
        // The ring rule the API shows (`GET /tenants/{id}/ring-plan`); a
        // host whose ring attribute names no ring of the plan gets no job
        // until the attribute or the plan is fixed.
        let ring = match crate::api::windows::ring_of(&plan, &host) {
            crate::api::windows::Placement::Ring(name) => name.to_owned(),
            crate::api::windows::Placement::Unknown(name) => {
                tracing::warn!(host = %host.id, ring = name, "host's ring is not in the plan; no job");
                continue;
            }
        };
        let own = fixes.get(&host.id).map(|extra| {
            let mut mine = packages.clone();
            for p in extra {
                if !mine
                    .iter()
                    .any(|m| m.name == p.name && m.architecture == p.architecture)
                {
                    mine.push(p.clone());
                }
            }
            mine
        });
        hosts.push(TargetHost {
            host: host.id,
            ring,
            windows: windows.of_host(&host),
            reboot: match host.attributes.role {
                Some(HostRole::Client) => RebootPolicy::NotifyUser,
                _ => RebootPolicy::InWindow,
            },
            packages: own.or_else(|| (!advisories.is_empty()).then(|| packages.clone())),
        });
    }
    Ok(RolloutInput {
        packages,
        urgency: if *change.kind() == ChangeKind::Emergency {
            Urgency::Emergency
        } else {
            Urgency::Normal
        },
        earliest_start: change
            .planned_start()
            .unwrap_or(change.timeframe().earliest_start),
        hosts,
        rings: plan,
        freezes: freezes_for(&api.store, tenant, now).await?,
    })
}

/// Per host, the packages that fix the change's advisories there: each
/// open finding's package at its fixed version (the highest, where several
/// findings name one package).
async fn advisory_fixes(
    api: &Api,
    tenant: rivet_core::id::TenantId,
    advisories: &[&str],
    schemes: &HashMap<HostId, Scheme>,
    now: Timestamp,
) -> Result<HashMap<HostId, Vec<JobPackage>>, StoreError> {
    let mut best: HashMap<(HostId, String, String), String> = HashMap::new();
    let mut fixes: HashMap<HostId, Vec<JobPackage>> = HashMap::new();
    for advisory in advisories {
        let filter = FindingFilter {
            tenant: Some(tenant),
            advisory: Some((*advisory).to_owned()),
            states: vec![FindingState::Open],
            ..Default::default()
        };
        let mut page = PageRequest::new(Some(u64::from(rivet_core::page::MAX_LIMIT)), None)
            .unwrap_or_else(|_| PageRequest::first());
        loop {
            let found = api
                .store
                .list_findings(&Visibility::All, &filter, &page, now)
                .await?;
            for f in found.items {
                let Some(fixed) = f.fixed_version else {
                    continue;
                };
                let Some(scheme) = schemes.get(&f.host_id) else {
                    // Not one of the change's targets.
                    continue;
                };
                let key = (f.host_id, f.package.clone(), f.architecture.clone());
                let newer = match best.get(&key) {
                    Some(held) => compare(*scheme, &fixed, held).is_ok_and(|o| o.is_gt()),
                    None => true,
                };
                if newer {
                    best.insert(key, fixed);
                }
            }
            match found.next_cursor {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
    }
    for ((host, name, arch), version) in best {
        fixes.entry(host).or_default().push(JobPackage {
            name,
            version,
            architecture: Some(arch).filter(|a| !a.is_empty()),
        });
    }
    for list in fixes.values_mut() {
        list.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(fixes)
}

/// The version scheme of a host's packages, from its OS (dpkg's when the
/// OS is not known: a finding needs a known ecosystem anyway).
fn scheme_of(host: &Host) -> Scheme {
    let os = host.os_id.as_ref().map(|id| OsRelease {
        id: id.clone(),
        version_id: host.os_version.clone(),
        pretty_name: None,
        id_like: Vec::new(),
        version_codename: None,
    });
    rivet_assess::ecosystem::of_host(os.as_ref())
        .map(|e| e.scheme())
        .unwrap_or(Scheme::Deb)
}

/// The engine's result for an agent's outcome.
fn result_of(outcome: JobOutcome) -> JobResult {
    match outcome {
        JobOutcome::Succeeded => JobResult::Succeeded,
        // The host is as before: a failure that cost nothing but time.
        JobOutcome::Failed | JobOutcome::RolledBack | JobOutcome::Refused => JobResult::RolledBack,
        JobOutcome::RollbackFailed => JobResult::Failed,
    }
}

/// Reads the agents' reports into a rollout, hands out the jobs that are
/// due, writes it back, and ends the change when the rollout ended.
async fn advance(
    api: &Api,
    stored: StoredRollout,
    now: Timestamp,
    summary: &mut TickSummary,
) -> Result<(), Problem> {
    let mut rollout: Rollout = serde_json::from_value(stored.body.clone())
        .map_err(|e| Problem::Refused(format!("the rollout document does not read: {e}")))?;
    let before = rollout.clone();
    let jobs = api.store.jobs_of_change(&stored.change_id).await?;
    let by_id: HashMap<&str, &StoredJob> = jobs.iter().map(|j| (j.id.as_str(), j)).collect();
    // Reports first, in the order they arrived.
    let mut reported: Vec<&StoredJob> = jobs.iter().filter(|j| j.report.is_some()).collect();
    reported.sort_by_key(|j| j.reported_at);
    for job in reported {
        let (Some(report), Some(at)) = (&job.report, job.reported_at) else {
            continue;
        };
        let Some(state) = rollout.job(job.host_id).map(|j| j.state) else {
            continue;
        };
        let applied = match (job.kind, state) {
            (JobKind::Install, HostJobState::Dispatched | HostJobState::Running) => rollout
                .record_result(job.host_id, result_of(report.outcome), at)
                .is_ok(),
            (JobKind::Rollback, HostJobState::RollbackDispatched) => rollout
                .record_rollback(job.host_id, report.outcome == JobOutcome::Succeeded, at)
                .is_ok(),
            _ => false,
        };
        summary.reports += u32::from(applied);
    }
    // Jobs the rollout skipped (aborted, rolled back) leave the register's
    // pending list.
    let skipped: Vec<String> = jobs
        .iter()
        .filter(|j| j.state == JobState::Pending)
        .filter(|j| {
            rollout
                .job(j.host_id)
                .is_some_and(|h| h.state == HostJobState::Skipped)
        })
        .map(|j| j.id.clone())
        .collect();
    api.store
        .move_jobs(&skipped, JobState::Pending, JobState::Skipped, now)
        .await?;
    // Then the jobs now due.
    let mut dispatch = Vec::new();
    let mut rollbacks = Vec::new();
    for host in rollout.due_jobs(now) {
        let Some(state) = rollout.job(host).map(|j| j.state) else {
            continue;
        };
        if rollout.dispatch(host, now).is_err() {
            continue;
        }
        if state == HostJobState::RollbackPending {
            let install = by_id.get(job_id(&stored.change_id, host, JobKind::Install).as_str());
            rollbacks.push(rollback_job(&stored, host, install.copied(), now));
        } else {
            dispatch.push(job_id(&stored.change_id, host, JobKind::Install));
        }
    }
    if rollout == before {
        return Ok(());
    }
    let doc = StoredRollout {
        state: rollout.state().name().to_owned(),
        body: serde_json::to_value(&rollout).unwrap_or_default(),
        ..stored.clone()
    };
    let action = (rollout.state() != before.state()).then(|| {
        (
            "rollout.state",
            serde_json::json!({"from": before.state().name(), "to": rollout.state().name(), "state": rollout.state()}),
        )
    });
    let Some(_) = api
        .store
        .save_rollout(&doc, &rollbacks, action, &Actor::system(), now)
        .await?
    else {
        return Ok(());
    };
    let moved = api
        .store
        .move_jobs(&dispatch, JobState::Pending, JobState::Dispatched, now)
        .await?;
    summary.dispatched += u32::try_from(moved).unwrap_or(u32::MAX) + rollbacks.len() as u32;
    let handed: Vec<HostId> = rollout
        .jobs()
        .iter()
        .filter(|(_, j)| {
            matches!(
                j.state,
                HostJobState::Dispatched | HostJobState::RollbackDispatched
            )
        })
        .map(|(h, _)| *h)
        .collect();
    api.hub.jobs_waiting(&handed);
    if matches!(
        rollout.state(),
        RolloutState::Completed | RolloutState::RolledBack | RolloutState::Aborted
    ) {
        end_change(api, &stored.change_id, &rollout, now).await?;
        summary.ended += 1;
    }
    Ok(())
}

/// A rollback job: the versions the install job's report says were there
/// before, at once.
fn rollback_job(
    stored: &StoredRollout,
    host: HostId,
    install: Option<&StoredJob>,
    now: Timestamp,
) -> StoredJob {
    let packages: Vec<JobPackage> = install
        .and_then(|j| j.report.as_ref())
        .map(|r| {
            r.packages
                .iter()
                .filter_map(|p| {
                    Some(JobPackage {
                        name: p.name.clone(),
                        version: p.from.clone()?,
                        architecture: None,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    StoredJob {
        id: job_id(&stored.change_id, host, JobKind::Rollback),
        change_id: stored.change_id.clone(),
        tenant_id: stored.tenant_id,
        host_id: host,
        kind: JobKind::Rollback,
        ring: install.map(|j| j.ring.clone()).unwrap_or_default(),
        state: JobState::Dispatched,
        packages,
        not_before: now,
        not_after: None,
        reboot: install.map_or(RebootPolicy::InWindow, |j| j.reboot),
        created_at: now,
        dispatched_at: Some(now),
        reported_at: None,
        report: None,
    }
}

/// Ends the change of a finished rollout: completed when every host
/// succeeded, failed when some did not or it was aborted, rolled back.
async fn end_change(api: &Api, id: &str, rollout: &Rollout, now: Timestamp) -> Result<(), Problem> {
    let Some(stored) = api.store.change(id).await? else {
        return Ok(());
    };
    let mut change = change_of(&stored)?;
    if change.state() != ChangeState::InProgress {
        return Ok(());
    }
    let total = rollout.jobs().len();
    let failed: Vec<String> = rollout
        .jobs()
        .iter()
        .filter(|(_, j)| j.state != HostJobState::Succeeded)
        .map(|(h, j)| format!("{h} {}", j.state.name()))
        .collect();
    let unscheduled = rollout.unscheduled().len();
    let note = if unscheduled > 0 {
        format!("; {unscheduled} hosts had no window")
    } else {
        String::new()
    };
    let (result, action) = match rollout.state() {
        RolloutState::RolledBack => (
            change.roll_back(now, RIVET, &format!("rolled back on {total} hosts{note}")),
            "change.roll_back",
        ),
        RolloutState::Aborted => (
            change.fail(
                now,
                RIVET,
                &format!("rollout aborted; not done: {}{note}", failed.join(", ")),
            ),
            "change.fail",
        ),
        _ if failed.is_empty() => (
            change.complete(now, RIVET, &format!("installed on {total} hosts{note}")),
            "change.complete",
        ),
        _ => (
            change.fail(
                now,
                RIVET,
                &format!(
                    "{} of {total} hosts failed: {}{note}",
                    failed.len(),
                    failed.join(", ")
                ),
            ),
            "change.fail",
        ),
    };
    result.map_err(|e| Problem::Refused(e.to_string()))?;
    save(api, &stored, &change, action, now).await?;
    Ok(())
}

//! The server's assessment (issue 6): the fleet's matches kept in memory by
//! [`rivet_assess::Fleet`] and the findings the store keeps from them.
//!
//! One task owns the work. At start it builds the advisory index and the
//! fleet from the store and brings every host's findings in line. Then it
//! waits: an inventory stored (`host_changed`) re-evaluates only that host's
//! changed packages; advisories stored since the last look re-evaluate only
//! the packages they name, and only the hosts whose matches changed have
//! their findings written. [`Assessor::run_now`] waits for one such round
//! (the API's `POST /assessment/run`, and tests).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivet_advisory::model::Advisory;
use rivet_assess::ecosystem;
use rivet_assess::fleet::{Fleet, HostKey, PackageId};
use rivet_assess::kernel::{KernelFix, fix_state};
use rivet_assess::{Ecosystem, Index, Match, UnknownEcosystem};
use rivet_core::Timestamp;
use rivet_core::finding::{FindingState, priority};
use rivet_core::host::Criticality;
use rivet_core::id::HostId;
use rivet_store::{
    AssessedHost, FindingChanges, FindingDraft, HostFindingsDraft, Store, StoreError,
};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;

/// Advisory bodies read per query.
const ADVISORY_PAGE: usize = 2000;
/// Hosts whose packages are read per query while loading.
const HOSTS_PER_READ: i64 = rivet_assess::Fleet::BATCH as i64;
/// Hosts whose findings are written per transaction.
const HOSTS_PER_SYNC: usize = 200;
/// How often the assessment looks for new advisories unprompted (those a
/// source sync stored).
const LOOK_EVERY: Duration = Duration::from_secs(30);

/// What the API shows of the assessment.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct AssessmentStatus {
    /// The fleet is loaded and findings are current.
    pub ready: bool,
    /// Rounds completed since the server started.
    pub rounds: u64,
    /// Hosts assessed.
    pub hosts: usize,
    /// Advisory documents in the index.
    pub advisories: usize,
    /// Open findings written by the last round.
    #[schema(value_type = Object)]
    pub last_changes: FindingChanges,
    /// What went wrong in the last round, if anything.
    pub last_error: Option<String>,
}

/// A host's inventory changed: what the store reported.
#[derive(Debug, Clone, Default)]
struct PendingHost {
    added: Vec<i64>,
    removed: Vec<i64>,
    /// Re-read the host whole (new, imported, its OS changed, or deleted).
    whole: bool,
}

/// The handle the API and the upload path use.
#[derive(Debug)]
pub struct Assessor {
    pending: Mutex<HashMap<i64, PendingHost>>,
    /// Hosts whose attributes changed or that were deleted, by id (the
    /// callers do not know the sequence number).
    touched: Mutex<HashSet<HostId>>,
    wake: Notify,
    status: watch::Sender<AssessmentStatus>,
    /// Rounds asked for by [`Assessor::run_now`]; a round serves every
    /// request made before it began.
    requested: AtomicU64,
    served: watch::Sender<u64>,
    /// The next round reads the advisories and KEV entries stored since the
    /// last look.
    look: AtomicBool,
}

impl Default for Assessor {
    fn default() -> Self {
        Assessor {
            pending: Mutex::default(),
            touched: Mutex::default(),
            wake: Notify::new(),
            status: watch::Sender::new(AssessmentStatus::default()),
            requested: AtomicU64::new(0),
            served: watch::Sender::new(0),
            look: AtomicBool::new(false),
        }
    }
}

impl Assessor {
    /// Notes that a host's packages changed by these ids (`whole`: read it
    /// again entirely).
    pub fn host_changed(&self, seq: i64, added: &[i64], removed: &[i64], whole: bool) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let p = pending.entry(seq).or_default();
            p.whole |= whole;
            if !p.whole {
                // Later changes apply after earlier ones.
                p.added.retain(|id| !removed.contains(id));
                p.removed.retain(|id| !added.contains(id));
                p.added.extend_from_slice(added);
                p.removed.extend_from_slice(removed);
            }
        }
        self.wake.notify_one();
    }

    /// Notes that a host's attributes changed (its criticality weighs in
    /// its findings' priorities) or that it was deleted (it leaves the
    /// fleet).
    pub fn host_touched(&self, id: HostId) {
        self.touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id);
        self.wake.notify_one();
    }

    /// Puts back the host changes a failed round took: each host is read
    /// again whole, since the round may have applied part of its change.
    fn requeue(&self, seqs: impl IntoIterator<Item = i64>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for seq in seqs {
            pending.entry(seq).or_default().whole = true;
        }
    }

    /// Asks for a round soon that reads the advisories (and KEV entries)
    /// stored meanwhile.
    pub fn wake(&self) {
        self.look.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// The current status.
    pub fn status(&self) -> AssessmentStatus {
        self.status.borrow().clone()
    }

    /// Starts a round now and waits for it (and for the loading before it).
    pub async fn run_now(&self) -> AssessmentStatus {
        let mut served = self.served.subscribe();
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake();
        let _ = served.wait_for(|s| *s >= ticket).await;
        self.status()
    }
}

/// The task's state.
struct Work {
    fleet: Fleet,
    hosts: HashMap<HostKey, HostInfo>,
    /// `updated_at` of the newest advisory document read…
    watermark: i64,
    /// …and the documents read with that `updated_at` (an import stores a
    /// batch at one time, and another may follow at the same time).
    seen: HashSet<String>,
    kev: HashSet<String>,
    epss: HashMap<String, Option<f64>>,
    /// Hosts whose matches changed and whose findings are not yet written
    /// (kept over a failed round, so the next one writes them).
    unsynced: HashSet<HostKey>,
    /// Findings were opened since the exceptions last covered them.
    uncovered: bool,
}

/// What a host's findings need besides its matches.
struct HostInfo {
    id: HostId,
    criticality: Option<Criticality>,
    /// The ecosystem's key, to notice a changed OS.
    ecosystem: Option<String>,
}

/// Runs the assessment until the server stops.
pub async fn run(assessor: Arc<Assessor>, store: Store, clock: Arc<dyn Clock>) {
    let mut work = loop {
        match load(&store).await {
            Ok(work) => break work,
            Err(e) => {
                tracing::error!(error = %e, "cannot load the assessment; trying again in 30 s");
                assessor
                    .status
                    .send_modify(|s| s.last_error = Some(e.to_string()));
                let _ = tokio::time::timeout(LOOK_EVERY, assessor.wake.notified()).await;
            }
        }
    };
    let ticket = assessor.requested.load(Ordering::SeqCst);
    let all: Vec<HostKey> = work.hosts.keys().copied().collect();
    work.unsynced.extend(all);
    let outcome = match sync(&store, &mut work, clock.now()).await {
        Ok(changes) => exceptions(&store, &mut work, clock.now())
            .await
            .map(|()| changes),
        Err(e) => Err(e),
    };
    finish(&assessor, &work, outcome, ticket);
    loop {
        // Woken (an upload, an import, a request) or the periodic look,
        // which catches advisories a source sync stored.
        let due = tokio::time::timeout(LOOK_EVERY, assessor.wake.notified())
            .await
            .is_err();
        let look = assessor.look.swap(false, Ordering::SeqCst) || due;
        let ticket = assessor.requested.load(Ordering::SeqCst);
        let outcome = round(&assessor, &store, &mut work, look, clock.now()).await;
        finish(&assessor, &work, outcome, ticket);
    }
}

fn finish(
    assessor: &Assessor,
    work: &Work,
    outcome: Result<FindingChanges, StoreError>,
    ticket: u64,
) {
    assessor.status.send_modify(|s| {
        s.ready = true;
        s.rounds += 1;
        s.hosts = work.hosts.len();
        s.advisories = work.fleet.index().stats().documents;
        match outcome {
            Ok(changes) => {
                s.last_changes = changes;
                s.last_error = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "assessment round failed");
                s.last_error = Some(e.to_string());
            }
        }
    });
    assessor.served.send_modify(|s| *s = (*s).max(ticket));
}

/// Builds the index and the fleet from the store.
async fn load(store: &Store) -> Result<Work, StoreError> {
    let mut fleet = Fleet::new(Index::default());
    learn(&mut fleet, store, &[]).await?;
    let mut work = Work {
        fleet,
        hosts: HashMap::new(),
        watermark: 0,
        seen: HashSet::new(),
        kev: store.kev_cves().await?,
        epss: HashMap::new(),
        unsynced: HashSet::new(),
        uncovered: true,
    };
    // No host yet: nothing to report while the index fills.
    read_advisories(store, &mut work).await?;
    let hosts = store.assessed_hosts(None).await?;
    for chunk in hosts.chunks(HOSTS_PER_READ as usize) {
        let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
            continue;
        };
        let mut ids: HashMap<i64, Vec<PackageId>> = HashMap::new();
        for (seq, id) in store.host_package_ids(first.seq, last.seq).await? {
            if let Ok(id) = PackageId::try_from(id) {
                ids.entry(seq).or_default().push(id);
            }
        }
        // Loaded together, grouped by package (Fleet::set_hosts).
        let mut batch = Vec::with_capacity(chunk.len());
        for host in chunk {
            let Some((key, eco, info)) = info_of(host) else {
                continue;
            };
            work.hosts.insert(key, info);
            batch.push((key, eco, ids.remove(&host.seq).unwrap_or_default()));
        }
        if let Err(e) = work.fleet.set_hosts(batch) {
            tracing::warn!(error = %e, "hosts assessed in part");
        }
    }
    Ok(work)
}

/// Teaches the fleet these packages (all with `ids` empty).
async fn learn(fleet: &mut Fleet, store: &Store, ids: &[i64]) -> Result<(), StoreError> {
    let packages = store.packages_by_id(ids).await?;
    fleet.learn_packages(packages.into_iter().filter_map(|(id, p)| {
        let id = PackageId::try_from(id).ok()?;
        Some((id, rivet_assess::InstalledPackage::from(p)))
    }));
    Ok(())
}

/// A host's key, ecosystem and what its findings need.
fn info_of(
    host: &AssessedHost,
) -> Option<(HostKey, Result<Ecosystem, UnknownEcosystem>, HostInfo)> {
    let key = HostKey::try_from(host.seq).ok()?;
    let eco = ecosystem::of_host(host.os.as_ref());
    let info = HostInfo {
        id: host.id,
        criticality: host.criticality,
        ecosystem: eco.as_ref().ok().map(|e| e.key().to_owned()),
    };
    Some((key, eco, info))
}

/// Teaches the fleet those of these packages it does not know yet.
async fn learn_missing(fleet: &mut Fleet, store: &Store, ids: &[i64]) -> Result<(), StoreError> {
    let unknown: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| PackageId::try_from(*id).is_ok_and(|id| !fleet.knows_package(id)))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    learn(fleet, store, &unknown).await
}

fn package_ids(ids: &[i64]) -> Vec<PackageId> {
    ids.iter()
        .filter_map(|id| PackageId::try_from(*id).ok())
        .collect()
}

/// One round: changed hosts, new advisories, then the findings of every
/// host whose matches changed.
async fn round(
    assessor: &Assessor,
    store: &Store,
    work: &mut Work,
    look: bool,
    now: Timestamp,
) -> Result<FindingChanges, StoreError> {
    let mut pending: HashMap<i64, PendingHost> =
        std::mem::take(&mut *assessor.pending.lock().unwrap_or_else(|e| e.into_inner()));
    let touched: HashSet<HostId> =
        std::mem::take(&mut *assessor.touched.lock().unwrap_or_else(|e| e.into_inner()));
    if !touched.is_empty() {
        // Rare (an operator's edit or delete): one pass over the fleet.
        for (key, info) in &work.hosts {
            if touched.contains(&info.id) {
                pending.entry(i64::from(*key)).or_default();
            }
        }
    }
    let seqs: Vec<i64> = pending.keys().copied().collect();
    let outcome = apply_pending(store, work, pending).await;
    if outcome.is_err() {
        assessor.requeue(seqs);
    }
    outcome?;
    // Advisories and KEV entries stored since the last look, when an
    // import woke the round or the periodic look is due: rounds for
    // uploaded inventories alone do not read them.
    if look {
        let changed = read_advisories(store, work).await?;
        work.unsynced.extend(changed);
        // A new KEV catalogue changes flags, priorities and deadlines of any
        // host's findings (a daily event): every host is written again, and
        // only what differs is stored.
        let kev = store.kev_cves().await?;
        if kev != work.kev {
            work.kev = kev;
            let all: Vec<HostKey> = work.hosts.keys().copied().collect();
            work.unsynced.extend(all);
        }
    }
    let changes = sync(store, work, now).await?;
    exceptions(store, work, now).await?;
    Ok(changes)
}

/// Applies the hosts' inventory changes to the fleet; the hosts join
/// `unsynced`.
async fn apply_pending(
    store: &Store,
    work: &mut Work,
    pending: HashMap<i64, PendingHost>,
) -> Result<(), StoreError> {
    for (seq, p) in pending {
        let Ok(key) = HostKey::try_from(seq) else {
            continue;
        };
        let fresh = store.assessed_hosts(Some(seq)).await?.pop();
        let Some(fresh) = fresh else {
            // Deleted: its findings went with it.
            work.fleet.remove_host(key);
            work.hosts.remove(&key);
            work.unsynced.remove(&key);
            continue;
        };
        let Some((_, eco, info)) = info_of(&fresh) else {
            continue;
        };
        let same_ecosystem = work
            .hosts
            .get(&key)
            .is_some_and(|h| h.ecosystem == info.ecosystem);
        if p.whole || !same_ecosystem {
            let ids: Vec<i64> = store
                .host_package_ids(seq, seq)
                .await?
                .into_iter()
                .map(|(_, id)| id)
                .collect();
            learn_missing(&mut work.fleet, store, &ids).await?;
            if let Err(e) = work.fleet.set_host(key, eco, &package_ids(&ids)) {
                tracing::warn!(host = %fresh.id, error = %e, "host assessed in part");
            }
        } else {
            learn_missing(&mut work.fleet, store, &p.added).await?;
            if let Err(e) =
                work.fleet
                    .change_host(key, &package_ids(&p.added), &package_ids(&p.removed))
            {
                tracing::warn!(host = %fresh.id, error = %e, "host assessed in part");
            }
        }
        // Its criticality may have changed too.
        work.hosts.insert(key, info);
        work.unsynced.insert(key);
    }
    Ok(())
}

/// Ends expired exceptions (their findings reopen) and puts new findings
/// under the active ones.
async fn exceptions(store: &Store, work: &mut Work, now: Timestamp) -> Result<(), StoreError> {
    let (ended, covered) = store.apply_exceptions(now, work.uncovered).await?;
    work.uncovered = false;
    if ended > 0 || covered > 0 {
        tracing::info!(ended, covered, "exceptions applied");
    }
    Ok(())
}

/// Files the advisory documents stored since the last look; returns the
/// hosts whose matches changed.
async fn read_advisories(store: &Store, work: &mut Work) -> Result<HashSet<HostKey>, StoreError> {
    let mut changed = HashSet::new();
    let fresh: Vec<(String, i64)> = store
        .advisory_changes_since(work.watermark)
        .await?
        .into_iter()
        .filter(|(key, at)| *at > work.watermark || !work.seen.contains(key))
        .collect();
    for chunk in fresh.chunks(ADVISORY_PAGE) {
        let keys: Vec<String> = chunk.iter().map(|(k, _)| k.clone()).collect();
        for (key, body) in store.advisory_bodies(&keys).await? {
            match serde_json::from_str::<Advisory>(&body) {
                Ok(a) => changed.extend(work.fleet.insert_advisory(&a)),
                Err(e) => {
                    tracing::warn!(advisory = %key, error = %e, "unreadable advisory body; not assessed")
                }
            }
            work.epss.remove(&key);
        }
        for (key, at) in chunk {
            if *at > work.watermark {
                work.watermark = *at;
                work.seen.clear();
            }
            work.seen.insert(key.clone());
        }
    }
    Ok(changed)
}

/// Writes the findings of the unsynced hosts; those written leave the set,
/// those of a failed write stay for the next round.
async fn sync(
    store: &Store,
    work: &mut Work,
    now: Timestamp,
) -> Result<FindingChanges, StoreError> {
    let mut total = FindingChanges::default();
    let hosts: Vec<HostKey> = work.unsynced.iter().copied().collect();
    for chunk in hosts.chunks(HOSTS_PER_SYNC) {
        let mut drafts = Vec::with_capacity(chunk.len());
        for key in chunk {
            if let Some(draft) = drafts_of(store, work, *key).await? {
                drafts.push(draft);
            }
        }
        let written = store.sync_findings(&drafts, now).await?;
        work.uncovered |= written.opened + written.reopened > 0;
        total += written;
        for key in chunk {
            work.unsynced.remove(key);
        }
    }
    Ok(total)
}

/// A host's findings as the engine sees them now: one per advisory
/// document, package and architecture (the highest affected version of
/// several installed), kernels fixed only once the host runs a fixed one.
async fn drafts_of(
    store: &Store,
    work: &mut Work,
    key: HostKey,
) -> Result<Option<HostFindingsDraft>, StoreError> {
    let Some(matches) = work.fleet.host_matches(key) else {
        return Ok(None);
    };
    let Some(info) = work.hosts.get(&key) else {
        return Ok(None);
    };
    let (host, criticality) = (info.id, info.criticality);
    // Whether each kernel match's fix runs yet. The host's facts are read
    // only for a host with a kernel finding: kept for every host, they
    // were most of the server's memory at 100,000 hosts.
    let facts = if matches.findings.iter().any(|m| m.kernel) {
        store.host_facts(host).await?
    } else {
        None
    };
    let kernel_fix: Vec<Option<KernelFix>> = matches
        .findings
        .iter()
        .map(|m| match (&m.fixed_version, &facts) {
            (Some(fixed), Some(facts)) if m.kernel => {
                Some(fix_state(&facts.host, &facts.reboot, fixed))
            }
            _ => None,
        })
        .collect();
    let mut by_finding: HashMap<(String, String, String), FindingDraft> = HashMap::new();
    let all = matches
        .findings
        .iter()
        .zip(kernel_fix)
        .map(|(m, fix)| (m, FindingState::Open, fix))
        .chain(
            matches
                .not_affected
                .iter()
                .map(|m| (m, FindingState::NotAffected, None)),
        );
    for (m, state, fix) in all {
        let pending_reboot = match fix {
            // The vulnerable kernel is installed but a fixed one runs.
            Some(KernelFix::Running) => continue,
            Some(KernelFix::PendingReboot) => true,
            _ => false,
        };
        let epss = epss_of(store, work, m).await?;
        let kev = m.advisory.cves().any(|c| work.kev.contains(c));
        let draft = FindingDraft {
            advisory_key: m.advisory.document_key.clone(),
            advisory_id: m.advisory.id.clone(),
            aliases: m.advisory.aliases.clone(),
            package: m.package.to_string(),
            architecture: m.architecture.to_string(),
            installed_version: m.installed_version.to_string(),
            source_package: m.source_package.to_string(),
            fixed_version: m.fixed_version.as_deref().map(str::to_owned),
            severity: m.advisory.severity.level,
            score: m.advisory.severity.score,
            kev,
            epss,
            priority: priority(
                m.advisory.severity.level,
                m.advisory.severity.score,
                kev,
                epss,
                criticality,
            ),
            state,
            pending_reboot,
            published_at: m.advisory.published,
        };
        // Matches come sorted by version: the last one of a package is
        // its highest installed version.
        by_finding.insert(
            (
                draft.advisory_key.clone(),
                draft.package.clone(),
                draft.architecture.clone(),
            ),
            draft,
        );
    }
    let mut findings: Vec<FindingDraft> = by_finding.into_values().collect();
    findings.sort_by(|a, b| (&a.package, &a.advisory_key).cmp(&(&b.package, &b.advisory_key)));
    Ok(Some(HostFindingsDraft { host, findings }))
}

/// The highest EPSS probability of a match's CVEs, looked up once per
/// advisory document.
async fn epss_of(store: &Store, work: &mut Work, m: &Match) -> Result<Option<f64>, StoreError> {
    if let Some(known) = work.epss.get(&m.advisory.document_key) {
        return Ok(*known);
    }
    let mut best: Option<f64> = None;
    for cve in m.advisory.cves() {
        if let Some(r) = store.epss(cve).await? {
            best = Some(best.map_or(r.score, |b: f64| b.max(r.score)));
        }
    }
    work.epss.insert(m.advisory.document_key.clone(), best);
    Ok(best)
}

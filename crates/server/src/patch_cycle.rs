//! Patch cycles: a tenant's recurring change, e.g. this month's security
//! patches for the customer's pilot ring. A cycle turns the open findings on
//! a ring's hosts (of the severities it names, and known exploited ones if
//! it says so) into one change: one package patch per package and
//! architecture at the highest fixed version among its findings. The change
//! is a draft for a change manager to complete and submit, or, when the
//! cycle names a standard-change template, a standard change submitted
//! through it (pre-approved when it fits).
//!
//! The cycle's document keeps when it runs next. The scheduler runs every
//! due cycle once per period; the change's id is derived from the tenant
//! and the period's due time, so that two server replicas running the same
//! cycle at once make the same change, and only one of them stores it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use rivet_change::change::{
    Change, ChangeId, ChangeKind, ChangeTemplate, NewChange, Order, Patch, Risk, Schedule,
    TEXT_MAX, Target,
};
use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::audit::Actor;
use rivet_core::finding::{FindingState, Level};
use rivet_core::id::{HostId, TenantId, UserId};
use rivet_core::page::PageRequest;
use rivet_core::update::UpdateClass;
use rivet_core::version::Scheme;
use rivet_store::{ChangeSetting, Finding, FindingFilter, HostFilter, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::api::changes::{DEFAULT_BACKOUT, Record, invalid_change, setting, stored_change};
use crate::api::error::{ApiError, ErrorKind};
use crate::clock::Clock;

/// The longest period: a year.
pub const EVERY_DAYS_MAX: u32 = 366;
/// How many advisory ids a cycle's description lists.
const ADVISORIES_LISTED: usize = 300;

/// The user a scheduled run requests its change as: nobody (the nil id),
/// so that every CAB member may approve it.
pub const SYSTEM_USER: UserId = UserId(uuid::Uuid::nil());

/// What a tenant's patch cycle does, as a change manager sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchCycleSpec {
    /// Whether the scheduler runs it (a run on demand works either way).
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Days from one run to the next, 1 to 366.
    pub every_days: u32,
    /// The severities whose open findings it patches.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub severities: BTreeSet<Level>,
    /// Also every known-exploited finding (CISA KEV), whatever its severity.
    #[serde(default)]
    pub kev: bool,
    /// The ring whose hosts it patches (and the change targets).
    pub ring: String,
    /// A standard-change template: the change is submitted through it.
    /// Without one, the change stays a draft.
    #[serde(default)]
    pub template: Option<String>,
    /// When it first runs; at once when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_run: Option<Timestamp>,
}

fn enabled() -> bool {
    true
}

impl PatchCycleSpec {
    /// Checks the period, that it selects something, and the ring's and
    /// template's names.
    pub fn validate(&self) -> Result<(), ApiError> {
        if !(1..=EVERY_DAYS_MAX).contains(&self.every_days) {
            return Err(ApiError::invalid(
                "every_days",
                format!("must be 1 to {EVERY_DAYS_MAX}"),
            ));
        }
        if self.severities.is_empty() && !self.kev {
            return Err(ApiError::invalid(
                "severities",
                "name at least one severity, or set kev",
            ));
        }
        rivet_core::host::label("ring", &self.ring)?;
        if let Some(t) = &self.template
            && (t.is_empty() || t.len() > 200 || t.chars().any(char::is_whitespace))
        {
            return Err(ApiError::invalid(
                "template",
                "must be a template id (no whitespace)",
            ));
        }
        Ok(())
    }

    fn period(&self) -> SignedDuration {
        SignedDuration::from_hours(24 * i64::from(self.every_days))
    }

    /// Whether a finding is one the cycle patches.
    fn selects(&self, f: &Finding) -> bool {
        f.state == FindingState::Open
            && (self.severities.contains(&f.severity) || (self.kev && f.kev))
    }
}

/// A tenant's patch cycle as stored and shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PatchCycle {
    /// What it does; none when the tenant has no cycle.
    pub spec: Option<PatchCycleSpec>,
    /// When the scheduler runs it next.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_run: Option<Timestamp>,
    /// When it last ran (scheduled or on demand).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_run: Option<Timestamp>,
    /// The change its last run made; none when it found nothing to patch.
    pub last_change: Option<String>,
}

impl PatchCycle {
    /// Sets what the cycle does. It runs next at the spec's first run, else
    /// a period after its last run, else at once.
    pub fn set(&mut self, spec: PatchCycleSpec, now: Timestamp) {
        let after_last = self.last_run.map(|l| add(l, spec.period()));
        self.next_run = Some(spec.first_run.or(after_last).unwrap_or(now));
        self.spec = Some(spec);
    }

    /// Whether the scheduler should run it at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        match (&self.spec, self.next_run) {
            (Some(spec), Some(next)) => spec.enabled && next <= now,
            _ => false,
        }
    }

    /// Records a scheduled run: the next one is the first period boundary
    /// after `now` (missed periods are not made up: one change covers them).
    fn ran_on_schedule(&mut self, now: Timestamp, change: Option<String>) {
        if let Some(spec) = &self.spec {
            let mut next = self.next_run.unwrap_or(now);
            while next <= now {
                next = add(next, spec.period());
            }
            self.next_run = Some(next);
        }
        self.last_run = Some(now);
        self.last_change = change;
    }

    /// Records a run on demand: the next scheduled run is a period later.
    fn ran_on_demand(&mut self, now: Timestamp, change: Option<String>) {
        if let Some(spec) = &self.spec {
            self.next_run = Some(add(now, spec.period()));
        }
        self.last_run = Some(now);
        self.last_change = change;
    }
}

fn add(at: Timestamp, d: SignedDuration) -> Timestamp {
    at.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// What a run did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CycleRun {
    /// The tenant.
    #[schema(value_type = String)]
    pub tenant_id: TenantId,
    /// The change it made; none when there was nothing to patch.
    pub change: Option<String>,
    /// The change's state: `draft`, or `approved` when its template
    /// pre-approved it.
    pub state: Option<String>,
    /// The open findings it covers.
    pub findings: usize,
    /// The package patches.
    pub patches: usize,
    /// Open findings it selected but could not patch: no fixed version yet.
    pub skipped_without_fix: usize,
    /// The advisories the change fixes.
    pub advisories: Vec<String>,
    /// Why a change meant to be submitted through its template stayed a
    /// draft, or that another run had made it already.
    pub note: Option<String>,
    /// The cycle after the run.
    pub cycle: PatchCycle,
}

/// Who runs a cycle.
#[derive(Debug, Clone)]
pub struct Runner {
    /// Recorded as the change's requester.
    pub user: UserId,
    /// Recorded in the audit log.
    pub actor: Actor,
}

/// What a cycle selects from a tenant's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// One per package and architecture, at the highest fixed version,
    /// sorted by name and architecture.
    pub patches: Vec<Patch>,
    /// The advisories of the findings patched.
    pub advisories: BTreeSet<String>,
    /// The findings patched.
    pub findings: usize,
    /// Selected findings without a fixed version.
    pub skipped_without_fix: usize,
}

/// The patches for the findings `spec` selects on `hosts`. `scheme` gives
/// the version scheme of a finding's package (from its host's package
/// manager); fixed versions of one package compare under it.
pub fn select(
    spec: &PatchCycleSpec,
    findings: &[Finding],
    hosts: &BTreeSet<HostId>,
    scheme: impl Fn(&Finding) -> Option<Scheme>,
) -> Selection {
    let mut best: BTreeMap<(String, String), (String, Option<Scheme>)> = BTreeMap::new();
    let mut selection = Selection::default();
    for f in findings
        .iter()
        .filter(|f| hosts.contains(&f.host_id) && spec.selects(f))
    {
        let Some(fixed) = f.fixed_version.as_deref().filter(|v| !v.is_empty()) else {
            selection.skipped_without_fix += 1;
            continue;
        };
        selection.findings += 1;
        selection.advisories.insert(f.advisory_id.clone());
        let key = (f.package.clone(), f.architecture.clone());
        let scheme = scheme(f);
        match best.get_mut(&key) {
            None => {
                best.insert(key, (fixed.to_owned(), scheme));
            }
            Some((held, held_scheme)) => {
                let higher = match scheme.or(*held_scheme) {
                    Some(s) => rivet_core::version::compare(s, fixed, held)
                        .map(|o| o.is_gt())
                        .unwrap_or_else(|e| {
                            tracing::warn!(package = %f.package, error = %e, "cannot compare fixed versions; keeping the first");
                            false
                        }),
                    None => false,
                };
                if higher {
                    *held = fixed.to_owned();
                }
            }
        }
    }
    selection.patches = best
        .into_iter()
        .map(|((name, arch), (version, _))| Patch::Package {
            name,
            version,
            arch: Some(arch),
            class: Some(UpdateClass::Security),
        })
        .collect();
    selection
}

/// A tenant's patch cycle (an empty one when it has none).
pub async fn read(store: &Store, tenant: TenantId) -> Result<PatchCycle, ApiError> {
    setting(store, tenant, ChangeSetting::PatchCycle).await
}

async fn write(
    store: &Store,
    tenant: TenantId,
    cycle: &PatchCycle,
    actor: &Actor,
    at: Timestamp,
) -> Result<(), ApiError> {
    let body = serde_json::to_value(cycle).map_err(ApiError::internal)?;
    store
        .set_change_setting(tenant, ChangeSetting::PatchCycle, &body, actor, at)
        .await?;
    Ok(())
}

/// The open findings of a tenant, every page.
async fn open_findings(
    store: &Store,
    tenant: TenantId,
    at: Timestamp,
) -> Result<Vec<Finding>, ApiError> {
    let filter = FindingFilter {
        tenant: Some(tenant),
        states: vec![FindingState::Open],
        ..FindingFilter::default()
    };
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page =
            PageRequest::new(Some(1000), after).map_err(|e| ApiError::internal(e.to_string()))?;
        let found = store
            .list_findings(&Visibility::All, &filter, &page, at)
            .await?;
        all.extend(found.items);
        match found.next_cursor {
            Some(c) => after = Some(c),
            None => return Ok(all),
        }
    }
}

/// Makes the cycle's change, if there is anything to patch.
async fn make_change(
    store: &Store,
    tenant: TenantId,
    spec: &PatchCycleSpec,
    runner: &Runner,
    id: ChangeId,
    now: Timestamp,
) -> Result<CycleRun, ApiError> {
    let ring = HostFilter {
        tenant: Some(tenant),
        ring: Some(spec.ring.clone()),
        ..HostFilter::default()
    };
    let mut hosts = BTreeSet::new();
    let mut after = None;
    loop {
        let page =
            PageRequest::new(Some(1000), after).map_err(|e| ApiError::internal(e.to_string()))?;
        let found = store.list_hosts(&Visibility::All, &ring, &page).await?;
        hosts.extend(found.items.iter().map(|h| h.id));
        match found.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let findings = open_findings(store, tenant, now).await?;
    // The version scheme of each finding's package, from its host's
    // package manager (a ring may mix Debian and RHEL hosts).
    let mut schemes: BTreeMap<(HostId, String, String), Scheme> = BTreeMap::new();
    let involved: BTreeSet<HostId> = findings
        .iter()
        .filter(|f| hosts.contains(&f.host_id) && spec.selects(f))
        .map(|f| f.host_id)
        .collect();
    for host in involved {
        for p in store.host_packages(host).await? {
            schemes.insert((host, p.name, p.architecture), p.format.scheme());
        }
    }
    let selection = select(spec, &findings, &hosts, |f| {
        schemes
            .get(&(f.host_id, f.package.clone(), f.architecture.clone()))
            .copied()
    });
    let mut run = CycleRun {
        tenant_id: tenant,
        change: None,
        state: None,
        findings: selection.findings,
        patches: selection.patches.len(),
        skipped_without_fix: selection.skipped_without_fix,
        advisories: selection.advisories.iter().cloned().collect(),
        note: None,
        cycle: PatchCycle::default(),
    };
    if selection.patches.is_empty() {
        return Ok(run);
    }
    let kind = match &spec.template {
        Some(template) => ChangeKind::Standard {
            template: template.clone(),
        },
        None => ChangeKind::Normal,
    };
    let new = NewChange {
        kind,
        title: format!(
            "Patch cycle {}: security updates for ring {}",
            now.strftime("%Y-%m-%d"),
            spec.ring
        ),
        description: description(spec, &selection),
        patches: selection.patches,
        targets: vec![Target::Ring(spec.ring.clone())],
        schedule: Schedule {
            earliest_start: now,
            deadline: None,
        },
        risk: Risk::Low,
        impact: format!(
            "Security updates on the hosts of ring {}; services using the updated packages restart.",
            spec.ring
        ),
        expected_downtime: SignedDuration::ZERO,
        backout_plan: DEFAULT_BACKOUT.into(),
        test_evidence: String::new(),
        order: Order::default(),
        requested_by_customer: false,
    };
    let mut change: Change = new
        .validate(id, tenant, runner.user, now)
        .map_err(invalid_change)?;
    if let Some(template_id) = &spec.template {
        let templates: Vec<ChangeTemplate> =
            setting(store, tenant, ChangeSetting::ChangeTemplates).await?;
        match templates.iter().find(|t| t.id == *template_id) {
            Some(template) => {
                if let Err(e) = change.submit(now, runner.user, Some(template), "patch cycle") {
                    run.note = Some(format!("left as a draft: {e}"));
                }
            }
            None => {
                run.note = Some(format!(
                    "left as a draft: the tenant has no standard change template {template_id:?}"
                ));
            }
        }
    }
    let row = stored_change(&change, &[], 1, now, now)?;
    let created = store.create_change(&row, &runner.actor, now).await?;
    let record = Record::read(created)?;
    run.change = Some(record.stored.id);
    run.state = Some(record.stored.state);
    Ok(run)
}

/// The change's description: what the cycle selected and what it skipped.
fn description(spec: &PatchCycleSpec, s: &Selection) -> String {
    let severities: Vec<&str> = spec.severities.iter().rev().map(|l| l.name()).collect();
    let mut text = format!(
        "Security updates from the open findings on ring {} (severities: {}; known exploited: {}).\n\n",
        spec.ring,
        if severities.is_empty() {
            "none".to_owned()
        } else {
            severities.join(", ")
        },
        if spec.kev { "all" } else { "by severity" },
    );
    let listed: Vec<&str> = s
        .advisories
        .iter()
        .take(ADVISORIES_LISTED)
        .map(String::as_str)
        .collect();
    text.push_str(&format!(
        "Advisories ({}): {}",
        s.advisories.len(),
        listed.join(", ")
    ));
    if s.advisories.len() > listed.len() {
        text.push_str(&format!(" and {} more", s.advisories.len() - listed.len()));
    }
    text.push('.');
    if s.skipped_without_fix > 0 {
        text.push_str(&format!(
            "\n\n{} open findings have no fixed version yet and were skipped.",
            s.skipped_without_fix
        ));
    }
    text.chars().take(TEXT_MAX).collect()
}

/// Runs a tenant's patch cycle now, on demand; 409 when it has none.
pub async fn run_now(
    store: &Store,
    tenant: TenantId,
    runner: Runner,
    id: ChangeId,
    now: Timestamp,
) -> Result<CycleRun, ApiError> {
    let mut cycle = read(store, tenant).await?;
    let Some(spec) = cycle.spec.clone() else {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "the tenant has no patch cycle; set one first",
        ));
    };
    let mut run = make_change(store, tenant, &spec, &runner, id, now).await?;
    cycle.ran_on_demand(now, run.change.clone());
    write(store, tenant, &cycle, &runner.actor, now).await?;
    run.cycle = cycle;
    Ok(run)
}

/// The id of the change a cycle's scheduled run due at `due` makes: the
/// same on every replica.
fn scheduled_id(tenant: TenantId, due: Timestamp) -> ChangeId {
    let digest = Sha256::digest(format!("patch-cycle {tenant} {}", due.as_microsecond()));
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    ChangeId::new(due, random)
}

/// Runs every tenant's due patch cycle once; what each run did. A tenant
/// whose run fails is logged and tried again at the next call.
pub async fn run_due_patch_cycles(
    store: &Store,
    clock: &dyn Clock,
) -> Result<Vec<CycleRun>, ApiError> {
    let now = clock.now();
    let mut runs = Vec::new();
    let mut after = None;
    loop {
        let page =
            PageRequest::new(Some(1000), after).map_err(|e| ApiError::internal(e.to_string()))?;
        let tenants = store.list_tenants(&Visibility::All, &page).await?;
        for tenant in &tenants.items {
            match run_if_due(store, tenant.id, now).await {
                Ok(Some(run)) => runs.push(run),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(tenant = %tenant.id, error = %e.message, "the patch cycle failed")
                }
            }
        }
        match tenants.next_cursor {
            Some(c) => after = Some(c),
            None => return Ok(runs),
        }
    }
}

async fn run_if_due(
    store: &Store,
    tenant: TenantId,
    now: Timestamp,
) -> Result<Option<CycleRun>, ApiError> {
    let mut cycle = read(store, tenant).await?;
    let (Some(spec), Some(due)) = (cycle.spec.clone(), cycle.next_run) else {
        return Ok(None);
    };
    if !cycle.is_due(now) {
        return Ok(None);
    }
    let id = scheduled_id(tenant, due);
    let runner = Runner {
        user: SYSTEM_USER,
        actor: Actor::system(),
    };
    let mut run = match store.change(&id.to_string()).await? {
        Some(made) => CycleRun {
            tenant_id: tenant,
            change: Some(made.id),
            state: Some(made.state),
            findings: 0,
            patches: 0,
            skipped_without_fix: 0,
            advisories: Vec::new(),
            note: Some("another run made this period's change already".into()),
            cycle: PatchCycle::default(),
        },
        None => make_change(store, tenant, &spec, &runner, id, now).await?,
    };
    cycle.ran_on_schedule(now, run.change.clone());
    write(store, tenant, &cycle, &runner.actor, now).await?;
    tracing::info!(%tenant, change = ?run.change, patches = run.patches, "patch cycle ran");
    run.cycle = cycle;
    Ok(Some(run))
}

/// Runs due patch cycles every `tick`, until the server stops.
pub async fn run_patch_cycles(store: Store, clock: Arc<dyn Clock>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        if let Err(e) = run_due_patch_cycles(&store, clock.as_ref()).await {
            tracing::warn!(error = %e.message, "cannot run the patch cycles");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn spec() -> PatchCycleSpec {
        PatchCycleSpec {
            enabled: true,
            every_days: 30,
            severities: BTreeSet::from([Level::Critical, Level::High]),
            kev: true,
            ring: "pilot".into(),
            template: None,
            first_run: None,
        }
    }

    fn finding(
        host: HostId,
        package: &str,
        fixed: Option<&str>,
        severity: Level,
        kev: bool,
    ) -> Finding {
        let t = at("2026-11-01T00:00:00Z");
        Finding {
            id: 1,
            tenant_id: TenantId::new(t, [1; 10]),
            host_id: host,
            host_name: "h".into(),
            advisory_key: format!("k-{package}-{fixed:?}"),
            advisory_id: format!("DSA-{package}-{}", fixed.unwrap_or("none")),
            aliases: vec![],
            package: package.into(),
            architecture: "amd64".into(),
            installed_version: "1.0-1".into(),
            source_package: package.into(),
            fixed_version: fixed.map(str::to_owned),
            severity,
            score: None,
            kev,
            epss: None,
            priority: 50,
            state: FindingState::Open,
            pending_reboot: false,
            published_at: None,
            first_found_at: t,
            due_at: None,
            overdue: false,
            fixed_at: None,
            updated_at: t,
        }
    }

    #[test]
    fn the_highest_fixed_version_per_package_wins_under_its_scheme() {
        let t = at("2026-11-01T00:00:00Z");
        let (pilot, other) = (HostId::new(t, [2; 10]), HostId::new(t, [3; 10]));
        let findings = vec![
            // 1.10 > 1.9 under dpkg, not as text.
            finding(pilot, "openssl", Some("1.9-1"), Level::High, false),
            finding(pilot, "openssl", Some("1.10-1"), Level::Critical, false),
            finding(pilot, "zlib1g", Some("1:1.2-1"), Level::High, false),
            finding(pilot, "zlib1g", Some("1.3-1"), Level::High, false),
            // Not selected: low and not known exploited; another ring.
            finding(pilot, "bash", Some("5.3-1"), Level::Low, false),
            finding(other, "curl", Some("8.0-1"), Level::Critical, false),
            // Known exploited whatever the severity; one without a fix.
            finding(pilot, "sudo", Some("1.9.16-1"), Level::Low, true),
            finding(pilot, "glibc", None, Level::Critical, false),
        ];
        let s = select(&spec(), &findings, &BTreeSet::from([pilot]), |_| {
            Some(Scheme::Deb)
        });
        let got: Vec<String> = s.patches.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "openssl:amd64 1.10-1",
                "sudo:amd64 1.9.16-1",
                "zlib1g:amd64 1:1.2-1"
            ]
        );
        assert_eq!(s.findings, 5);
        assert_eq!(s.skipped_without_fix, 1);
        assert_eq!(s.advisories.len(), 5);
        assert!(
            s.patches
                .iter()
                .all(|p| p.class() == Some(UpdateClass::Security))
        );
        let text = description(&spec(), &s);
        assert!(
            text.contains("1 open findings have no fixed version"),
            "{text}"
        );
        assert!(text.contains("severities: critical, high"), "{text}");
    }

    #[test]
    fn a_cycle_runs_once_per_period() {
        let mut c = PatchCycle::default();
        let now = at("2026-11-23T10:00:00Z");
        assert!(!c.is_due(now));
        c.set(spec(), now);
        assert!(c.is_due(now));
        c.ran_on_schedule(now, Some("x".into()));
        assert_eq!(c.next_run, Some(at("2026-12-23T10:00:00Z")));
        assert!(!c.is_due(at("2026-12-23T09:59:59Z")));
        // Long after: one run, and the next boundary after it.
        let late = at("2027-03-01T00:00:00Z");
        assert!(c.is_due(late));
        c.ran_on_schedule(late, None);
        assert_eq!(c.next_run, Some(at("2027-03-23T10:00:00Z")));
        // Disabled: never due; a new spec keeps the rhythm of the last run.
        let mut off = spec();
        off.enabled = false;
        c.set(off, late);
        assert!(!c.is_due(at("2030-01-01T00:00:00Z")));
        c.set(spec(), late);
        assert_eq!(c.next_run, Some(at("2027-03-31T00:00:00Z")));
        let t = TenantId::new(now, [4; 10]);
        assert_eq!(scheduled_id(t, now), scheduled_id(t, now));
        assert_ne!(scheduled_id(t, now), scheduled_id(t, late));
    }

    #[test]
    fn specs_are_checked() {
        let mut s = spec();
        assert!(s.validate().is_ok());
        s.every_days = 0;
        assert!(s.validate().unwrap_err().message.starts_with("every_days"));
        let mut s = spec();
        s.severities.clear();
        s.kev = false;
        assert!(s.validate().unwrap_err().message.starts_with("severities"));
        let mut s = spec();
        s.ring = "pi lot".into();
        assert!(s.validate().unwrap_err().message.starts_with("ring"));
    }
}

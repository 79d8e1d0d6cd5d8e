//! The execution plan of a change and the rollout that carries it out (RLO-4,
//! RLO-7, AGT-8 at plan level). [`plan`] gives each target host its job: the
//! packages at their exact versions in installation order, its ring, the
//! window it should run in and its reboot policy; hosts without a window in
//! the horizon are reported. A [`Rollout`] is the state machine the server
//! persists as JSON: one function per transition, an error for a forbidden
//! one, and [`Rollout::due_jobs`] saying which jobs may be dispatched now
//! (ring promoted, window open, no more than the ring's limit in flight).
//! Emergency changes (RLO-7) go to all rings at once and run at once,
//! outside windows and freezes; rolling back runs at once too, since it
//! repairs.

use std::collections::BTreeMap;

use jiff::Timestamp;
use rivet_core::id::HostId;
pub use rivet_core::job::{JobPackage as PackageTarget, RebootPolicy};
use serde::{Deserialize, Serialize};

use crate::ring::{self, OpenProblem, ProblemReportId, Promotion, RingOutcome, RingPlan};
use crate::window::{self, Freeze, Interval, Window};

/// How urgent the change is; the change's kind maps onto it (standard and
/// normal changes are `Normal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Rings in order, each host in its windows.
    Normal,
    /// At once, to all rings, outside windows (RLO-7).
    Emergency,
}

/// A host the change targets, as the server resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHost {
    /// The host.
    pub host: HostId,
    /// The name of its ring in the plan.
    pub ring: String,
    /// Its maintenance windows.
    pub windows: Vec<Window>,
    /// How it reboots.
    pub reboot: RebootPolicy,
    /// This host's packages when they differ from the change's (its
    /// advisories resolved to the versions that fix them on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<PackageTarget>>,
}

/// Everything a rollout is planned from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutInput {
    /// The packages, in installation order (dependencies first, CHG-5).
    pub packages: Vec<PackageTarget>,
    /// Normal or emergency.
    pub urgency: Urgency,
    /// Nothing starts before this (the change's schedule).
    pub earliest_start: Timestamp,
    /// The target hosts.
    pub hosts: Vec<TargetHost>,
    /// The rings.
    pub rings: RingPlan,
    /// The change freezes that apply.
    pub freezes: Vec<Freeze>,
}

/// When a job is planned to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlannedStart {
    /// In this opening of the host's windows: the first after the earliest
    /// start. A later ring runs in the first opening after its promotion.
    Window {
        /// The opening.
        window: Interval,
    },
    /// At once from this instant (emergency).
    AtOnce {
        /// The earliest start.
        at: Timestamp,
    },
}

/// One host's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The host.
    pub host: HostId,
    /// Its ring.
    pub ring: String,
    /// The packages, in installation order.
    pub packages: Vec<PackageTarget>,
    /// When it is planned to run.
    pub start: PlannedStart,
    /// How the host reboots.
    pub reboot: RebootPolicy,
}

/// A host that gets no job: none of its windows opens within the horizon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unscheduled {
    /// The host.
    pub host: HostId,
    /// Its ring.
    pub ring: String,
}

/// The execution plan: jobs by ring, then planned start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Normal or emergency.
    pub urgency: Urgency,
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Hosts left out, for a person to fix their windows.
    pub unscheduled: Vec<Unscheduled>,
}

/// Input a plan cannot be made from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The change installs nothing.
    #[error("packages: the change names no package")]
    NoPackages,
    /// A host's ring is not in the plan.
    #[error("hosts: host {host} is in ring {ring:?}, which the ring plan does not have")]
    UnknownRing {
        /// The host.
        host: HostId,
        /// Its ring.
        ring: String,
    },
    /// A host is targeted twice.
    #[error("hosts: host {host} is targeted twice")]
    DuplicateHost {
        /// The host.
        host: HostId,
    },
}

/// Plans each target host's job.
pub fn plan(input: &RolloutInput) -> Result<Plan, PlanError> {
    let packages_of = |t: &TargetHost| t.packages.as_ref().unwrap_or(&input.packages).clone();
    if input.hosts.iter().all(|t| packages_of(t).is_empty()) {
        return Err(PlanError::NoPackages);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut jobs = Vec::new();
    let mut unscheduled = Vec::new();
    for target in &input.hosts {
        if !seen.insert(target.host) {
            return Err(PlanError::DuplicateHost { host: target.host });
        }
        let packages = packages_of(target);
        if packages.is_empty() {
            // Nothing of the change concerns this host.
            continue;
        }
        let Some((ring, _)) = input.rings.find(&target.ring) else {
            return Err(PlanError::UnknownRing {
                host: target.host,
                ring: target.ring.clone(),
            });
        };
        let start = match input.urgency {
            Urgency::Emergency => PlannedStart::AtOnce {
                at: input.earliest_start,
            },
            Urgency::Normal => {
                match window::next_opening(&target.windows, &input.freezes, input.earliest_start) {
                    Some(window) => PlannedStart::Window { window },
                    None => {
                        unscheduled.push(Unscheduled {
                            host: target.host,
                            ring: target.ring.clone(),
                        });
                        continue;
                    }
                }
            }
        };
        jobs.push((
            ring,
            Job {
                host: target.host,
                ring: target.ring.clone(),
                packages,
                start,
                reboot: target.reboot,
            },
        ));
    }
    jobs.sort_by_key(|(ring, job)| (*ring, start_of(&job.start), job.host));
    Ok(Plan {
        urgency: input.urgency,
        jobs: jobs.into_iter().map(|(_, job)| job).collect(),
        unscheduled,
    })
}

fn start_of(start: &PlannedStart) -> Timestamp {
    match start {
        PlannedStart::Window { window } => window.start,
        PlannedStart::AtOnce { at } => *at,
    }
}

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RolloutState {
    /// Jobs are dispatched as they fall due.
    Running,
    /// A person paused it; in-flight jobs finish.
    Paused,
    /// Stopped by a problem report or the failure threshold; in-flight jobs
    /// finish.
    Halted {
        /// Why.
        reason: HaltReason,
    },
    /// Stopped for good; pending jobs skipped.
    Aborted,
    /// Every job finished.
    Completed,
    /// Hosts that took the change are being rolled back.
    RollingBack,
    /// Every rollback finished.
    RolledBack,
}

impl RolloutState {
    /// The snake-case name.
    pub fn name(&self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Paused => "paused",
            RolloutState::Halted { .. } => "halted",
            RolloutState::Aborted => "aborted",
            RolloutState::Completed => "completed",
            RolloutState::RollingBack => "rolling_back",
            RolloutState::RolledBack => "rolled_back",
        }
    }
}

/// Why a rollout halted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HaltReason {
    /// A problem was reported (RLO-2).
    ProblemReport {
        /// The report.
        id: ProblemReportId,
        /// The host it is about.
        host: HostId,
    },
    /// A ring's failures reached its threshold (RLO-4).
    FailureThreshold {
        /// The ring.
        ring: String,
        /// Failed hosts.
        failed: u32,
        /// The number that halts.
        threshold: u32,
    },
}

/// Where one host's job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its ring, its window or room in flight.
    Pending,
    /// Sent to the agent.
    Dispatched,
    /// The agent started it.
    Running,
    /// Installed and verified.
    Succeeded,
    /// Failed, and the agent could not restore the previous versions.
    Failed,
    /// The previous versions are back (the agent's own rollback on failure,
    /// or the rollout's).
    RolledBack,
    /// Never run: the rollout was aborted or rolled back first.
    Skipped,
    /// Succeeded, and to be rolled back.
    RollbackPending,
    /// The rollback was sent to the agent.
    RollbackDispatched,
    /// The rollback failed.
    RollbackFailed,
}

impl JobState {
    /// The snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Dispatched => "dispatched",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::RolledBack => "rolled_back",
            JobState::Skipped => "skipped",
            JobState::RollbackPending => "rollback_pending",
            JobState::RollbackDispatched => "rollback_dispatched",
            JobState::RollbackFailed => "rollback_failed",
        }
    }

    fn in_flight(self) -> bool {
        matches!(self, JobState::Dispatched | JobState::Running)
    }
}

/// What the agent reports at the end of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobResult {
    /// Installed and verified.
    Succeeded,
    /// Failed; the previous versions could not be restored.
    Failed,
    /// Failed, and the agent restored the previous versions (AGT-7).
    RolledBack,
}

/// A host's job within a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostJob {
    /// The planned job.
    pub job: Job,
    /// The host's windows.
    pub windows: Vec<Window>,
    /// Where it stands.
    pub state: JobState,
    /// When it last changed state.
    pub changed_at: Timestamp,
    /// When the change's job finished (succeeded, failed or rolled back by
    /// the agent).
    pub finished_at: Option<Timestamp>,
}

/// A problem report against a host of the rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemReport {
    /// The report.
    pub id: ProblemReportId,
    /// The host.
    pub host: HostId,
    /// When it was reported.
    pub opened_at: Timestamp,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
}

/// A transition the rollout does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutError {
    /// The rollout's state forbids the action.
    #[error("a {state} rollout cannot {action}")]
    NotAllowed {
        /// What was asked.
        action: &'static str,
        /// The rollout's state.
        state: &'static str,
    },
    /// The host's job state forbids the action.
    #[error("host {host}: a {state} job cannot {action}")]
    JobNotAllowed {
        /// The host.
        host: HostId,
        /// What was asked.
        action: &'static str,
        /// The job's state.
        state: &'static str,
    },
    /// The job is not due: its ring, window or room in flight.
    #[error("host {host}: the job is not due")]
    NotDue {
        /// The host.
        host: HostId,
    },
    /// The host has no job in this rollout.
    #[error("host {host} has no job in this rollout")]
    UnknownHost {
        /// The host.
        host: HostId,
    },
    /// A halted rollout resumes only when its problem reports are closed.
    #[error("problem reports are open: {ids:?}")]
    ProblemReportsOpen {
        /// The open reports.
        ids: Vec<ProblemReportId>,
    },
    /// A report with this id is already recorded.
    #[error("problem report {id:?} is already recorded")]
    DuplicateProblemReport {
        /// The id.
        id: ProblemReportId,
    },
    /// No open report has this id.
    #[error("problem report {id:?} is not open in this rollout")]
    UnknownProblemReport {
        /// The id.
        id: ProblemReportId,
    },
}

/// A change being rolled out: its plan, every host's job and the controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    urgency: Urgency,
    earliest_start: Timestamp,
    rings: RingPlan,
    freezes: Vec<Freeze>,
    jobs: BTreeMap<HostId, HostJob>,
    unscheduled: Vec<Unscheduled>,
    problems: Vec<ProblemReport>,
    state: RolloutState,
    changed_at: Timestamp,
}

impl Rollout {
    /// Plans the change and starts its rollout at `at`, running (completed
    /// at once when no host got a job: see [`Rollout::unscheduled`]).
    pub fn new(input: RolloutInput, at: Timestamp) -> Result<Rollout, PlanError> {
        let plan = plan(&input)?;
        let mut windows: BTreeMap<HostId, Vec<Window>> = input
            .hosts
            .into_iter()
            .map(|t| (t.host, t.windows))
            .collect();
        let jobs = plan
            .jobs
            .into_iter()
            .map(|job| {
                let host = job.host;
                let host_job = HostJob {
                    windows: windows.remove(&host).unwrap_or_default(),
                    job,
                    state: JobState::Pending,
                    changed_at: at,
                    finished_at: None,
                };
                (host, host_job)
            })
            .collect();
        let mut rollout = Rollout {
            urgency: plan.urgency,
            earliest_start: input.earliest_start,
            rings: input.rings,
            freezes: input.freezes,
            jobs,
            unscheduled: plan.unscheduled,
            problems: Vec::new(),
            state: RolloutState::Running,
            changed_at: at,
        };
        rollout.settle(at);
        Ok(rollout)
    }

    /// Where the rollout stands.
    pub fn state(&self) -> &RolloutState {
        &self.state
    }

    /// When the state last changed.
    pub fn changed_at(&self) -> Timestamp {
        self.changed_at
    }

    /// Every host's job, by host id.
    pub fn jobs(&self) -> &BTreeMap<HostId, HostJob> {
        &self.jobs
    }

    /// One host's job.
    pub fn job(&self, host: HostId) -> Option<&HostJob> {
        self.jobs.get(&host)
    }

    /// The ring plan it follows.
    pub fn rings(&self) -> &RingPlan {
        &self.rings
    }

    /// Hosts left out of the plan for want of a window.
    pub fn unscheduled(&self) -> &[Unscheduled] {
        &self.unscheduled
    }

    /// The problem reports, open and closed.
    pub fn problems(&self) -> &[ProblemReport] {
        &self.problems
    }

    /// How the ring at `index` went so far.
    pub fn ring_outcome(&self, index: usize) -> RingOutcome {
        let Some(ring) = self.rings.rings().get(index) else {
            return RingOutcome::default();
        };
        let mut outcome = RingOutcome::default();
        let mut last = None;
        for (host, job) in self.jobs.iter().filter(|(_, j)| j.job.ring == ring.name) {
            outcome.hosts += 1;
            match job.state {
                JobState::Succeeded => outcome.succeeded += 1,
                JobState::Failed => outcome.failed.push(*host),
                JobState::RolledBack => outcome.rolled_back.push(*host),
                _ => {}
            }
            last = last.max(job.finished_at);
        }
        let done = outcome.succeeded + (outcome.failed.len() + outcome.rolled_back.len()) as u32;
        outcome.finished_at = if done == outcome.hosts { last } else { None };
        outcome.open_problems = self
            .problems
            .iter()
            .filter(|p| p.closed_at.is_none())
            .filter(|p| {
                self.jobs
                    .get(&p.host)
                    .is_some_and(|j| j.job.ring == ring.name)
            })
            .map(|p| OpenProblem {
                id: p.id,
                host: p.host,
            })
            .collect();
        outcome
    }

    /// Whether the ring after the one at `index` is approved at `at`.
    pub fn promotion(&self, index: usize, at: Timestamp) -> Option<Promotion> {
        let ring = self.rings.rings().get(index)?;
        Some(ring::promotion(ring, &self.ring_outcome(index), at))
    }

    /// Whether the ring at `index` may run at `at`: always in an emergency
    /// and for the first ring; otherwise every earlier ring with jobs must
    /// be promoted.
    fn ring_open(&self, index: usize, at: Timestamp) -> bool {
        if self.urgency == Urgency::Emergency {
            return true;
        }
        (0..index).all(|earlier| {
            self.ring_outcome(earlier).hosts == 0
                || self.promotion(earlier, at).is_some_and(|p| p.is_approved())
        })
    }

    /// The hosts whose pending job may be dispatched at `at`: while running,
    /// jobs of open rings whose host's window is open (or at once in an
    /// emergency), never more of a ring in flight than its limit; while
    /// rolling back, the rollbacks, at once, within the same limit. Nothing
    /// in any other state.
    pub fn due_jobs(&self, at: Timestamp) -> Vec<HostId> {
        let (waiting, flying): (Is, Is) = match self.state {
            RolloutState::Running if at >= self.earliest_start => {
                (|s| s == JobState::Pending, JobState::in_flight)
            }
            RolloutState::RollingBack => (
                |s| s == JobState::RollbackPending,
                |s| s == JobState::RollbackDispatched,
            ),
            _ => return Vec::new(),
        };
        let forward = self.state == RolloutState::Running;
        let mut due = Vec::new();
        for (index, ring) in self.rings.rings().iter().enumerate() {
            if forward && !self.ring_open(index, at) {
                continue;
            }
            let mut ring_jobs: Vec<&HostJob> = self
                .jobs
                .values()
                .filter(|j| j.job.ring == ring.name)
                .collect();
            let in_flight = ring_jobs.iter().filter(|j| flying(j.state)).count();
            let room = ring
                .max_in_flight
                .map_or(usize::MAX, |m| (m as usize).saturating_sub(in_flight));
            ring_jobs.retain(|j| waiting(j.state));
            ring_jobs.sort_by_key(|j| (start_of(&j.job.start), j.job.host));
            due.extend(
                ring_jobs
                    .into_iter()
                    .filter(|j| !forward || self.may_run_now(j, at))
                    .take(room)
                    .map(|j| j.job.host),
            );
        }
        due
    }

    fn may_run_now(&self, job: &HostJob, at: Timestamp) -> bool {
        self.urgency == Urgency::Emergency || window::is_open(&job.windows, &self.freezes, at)
    }

    fn job_mut(&mut self, host: HostId) -> Result<&mut HostJob, RolloutError> {
        self.jobs
            .get_mut(&host)
            .ok_or(RolloutError::UnknownHost { host })
    }

    /// Sends a due job (or a due rollback) to its agent.
    pub fn dispatch(&mut self, host: HostId, at: Timestamp) -> Result<(), RolloutError> {
        let state = self.job_mut(host)?.state;
        let next = match (&self.state, state) {
            (RolloutState::Running, JobState::Pending) => JobState::Dispatched,
            (RolloutState::RollingBack, JobState::RollbackPending) => JobState::RollbackDispatched,
            (RolloutState::Running | RolloutState::RollingBack, _) => {
                return Err(job_error(host, "be dispatched", state));
            }
            (other, _) => return Err(not_allowed("dispatch", other)),
        };
        if !self.due_jobs(at).contains(&host) {
            return Err(RolloutError::NotDue { host });
        }
        self.set_job(host, next, at)
    }

    /// The agent started a dispatched job.
    pub fn start(&mut self, host: HostId, at: Timestamp) -> Result<(), RolloutError> {
        let job = self.job_mut(host)?;
        if job.state != JobState::Dispatched {
            return Err(job_error(host, "start", job.state));
        }
        self.set_job(host, JobState::Running, at)
    }

    /// The agent's result for a job in flight; allowed in every state, since
    /// jobs in flight finish whatever happens to the rollout. Failures that
    /// reach the ring's threshold halt a running or paused rollout; a job
    /// that succeeds while the rollout rolls back is rolled back too.
    pub fn record_result(
        &mut self,
        host: HostId,
        result: JobResult,
        at: Timestamp,
    ) -> Result<(), RolloutError> {
        let job = self.job_mut(host)?;
        if !job.state.in_flight() {
            return Err(job_error(host, "record a result", job.state));
        }
        job.finished_at = Some(at);
        let next = match result {
            JobResult::Succeeded if self.state == RolloutState::RollingBack => {
                JobState::RollbackPending
            }
            JobResult::Succeeded => JobState::Succeeded,
            JobResult::Failed => JobState::Failed,
            JobResult::RolledBack => JobState::RolledBack,
        };
        self.set_job(host, next, at)?;
        if result != JobResult::Succeeded
            && matches!(self.state, RolloutState::Running | RolloutState::Paused)
        {
            let ring_name = self.jobs[&host].job.ring.clone();
            if let Some((index, ring)) = self.rings.find(&ring_name) {
                let outcome = self.ring_outcome(index);
                let failed = (outcome.failed.len() + outcome.rolled_back.len()) as u32;
                let threshold = ring.failure_threshold.limit(outcome.hosts);
                if failed >= threshold {
                    let reason = HaltReason::FailureThreshold {
                        ring: ring_name,
                        failed,
                        threshold,
                    };
                    self.set_state(RolloutState::Halted { reason }, at);
                }
            }
        }
        self.settle(at);
        Ok(())
    }

    /// The agent's result for a rollback: the previous versions are back, or not.
    pub fn record_rollback(
        &mut self,
        host: HostId,
        restored: bool,
        at: Timestamp,
    ) -> Result<(), RolloutError> {
        let job = self.job_mut(host)?;
        if job.state != JobState::RollbackDispatched {
            return Err(job_error(host, "record a rollback", job.state));
        }
        let next = if restored {
            JobState::RolledBack
        } else {
            JobState::RollbackFailed
        };
        self.set_job(host, next, at)?;
        self.settle(at);
        Ok(())
    }

    /// A problem reported against a host: it halts a running or paused
    /// rollout, so no further job is dispatched in any ring (those in flight
    /// finish) and no later ring is promoted while it is open. In any other
    /// state it is recorded.
    pub fn report_problem(
        &mut self,
        host: HostId,
        id: ProblemReportId,
        at: Timestamp,
    ) -> Result<(), RolloutError> {
        self.job_mut(host)?;
        if self.problems.iter().any(|p| p.id == id) {
            return Err(RolloutError::DuplicateProblemReport { id });
        }
        self.problems.push(ProblemReport {
            id,
            host,
            opened_at: at,
            closed_at: None,
        });
        if matches!(self.state, RolloutState::Running | RolloutState::Paused) {
            let reason = HaltReason::ProblemReport { id, host };
            self.set_state(RolloutState::Halted { reason }, at);
        }
        Ok(())
    }

    /// Closes a problem report; a halted rollout still needs [`Rollout::resume`].
    pub fn close_problem(
        &mut self,
        id: ProblemReportId,
        at: Timestamp,
    ) -> Result<(), RolloutError> {
        let report = self
            .problems
            .iter_mut()
            .find(|p| p.id == id && p.closed_at.is_none())
            .ok_or(RolloutError::UnknownProblemReport { id })?;
        report.closed_at = Some(at);
        Ok(())
    }

    /// Pauses a running rollout.
    pub fn pause(&mut self, at: Timestamp) -> Result<(), RolloutError> {
        match self.state {
            RolloutState::Running => {
                self.set_state(RolloutState::Paused, at);
                Ok(())
            }
            ref other => Err(not_allowed("pause", other)),
        }
    }

    /// Resumes a paused rollout, or a halted one once every problem report
    /// is closed. After a failure-threshold halt resuming is a person's
    /// decision and lets the ring's pending jobs go on, but the next ring is
    /// not promoted over the failures.
    pub fn resume(&mut self, at: Timestamp) -> Result<(), RolloutError> {
        match self.state {
            RolloutState::Paused => {}
            RolloutState::Halted { .. } => {
                let open: Vec<ProblemReportId> = self
                    .problems
                    .iter()
                    .filter(|p| p.closed_at.is_none())
                    .map(|p| p.id)
                    .collect();
                if !open.is_empty() {
                    return Err(RolloutError::ProblemReportsOpen { ids: open });
                }
            }
            ref other => return Err(not_allowed("resume", other)),
        }
        self.set_state(RolloutState::Running, at);
        self.settle(at);
        Ok(())
    }

    /// Aborts the rollout: pending jobs are skipped, jobs in flight finish.
    pub fn abort(&mut self, at: Timestamp) -> Result<(), RolloutError> {
        match self.state {
            RolloutState::Running | RolloutState::Paused | RolloutState::Halted { .. } => {}
            ref other => return Err(not_allowed("abort", other)),
        }
        self.skip_pending(at);
        self.set_state(RolloutState::Aborted, at);
        Ok(())
    }

    /// Rolls the change back: pending jobs are skipped and every host where
    /// it succeeded gets a rollback job (those in flight get one when they
    /// succeed).
    pub fn roll_back(&mut self, at: Timestamp) -> Result<(), RolloutError> {
        match self.state {
            RolloutState::RollingBack | RolloutState::RolledBack => {
                return Err(not_allowed("roll back", &self.state));
            }
            _ => {}
        }
        self.skip_pending(at);
        for job in self.jobs.values_mut() {
            if job.state == JobState::Succeeded {
                job.state = JobState::RollbackPending;
                job.changed_at = at;
            }
        }
        self.set_state(RolloutState::RollingBack, at);
        self.settle(at);
        Ok(())
    }

    fn skip_pending(&mut self, at: Timestamp) {
        for job in self.jobs.values_mut() {
            if job.state == JobState::Pending {
                job.state = JobState::Skipped;
                job.changed_at = at;
            }
        }
    }

    fn set_job(
        &mut self,
        host: HostId,
        state: JobState,
        at: Timestamp,
    ) -> Result<(), RolloutError> {
        let job = self.job_mut(host)?;
        job.state = state;
        job.changed_at = at;
        Ok(())
    }

    fn set_state(&mut self, state: RolloutState, at: Timestamp) {
        self.state = state;
        self.changed_at = at;
    }

    /// Completes a running rollout whose jobs all finished, and a rollback
    /// with nothing left to roll back or in flight.
    fn settle(&mut self, at: Timestamp) {
        let all = |f: fn(JobState) -> bool| self.jobs.values().all(|j| f(j.state));
        match self.state {
            RolloutState::Running
                if all(|s| {
                    matches!(
                        s,
                        JobState::Succeeded | JobState::Failed | JobState::RolledBack
                    )
                }) =>
            {
                self.set_state(RolloutState::Completed, at);
            }
            RolloutState::RollingBack
                if all(|s| {
                    !s.in_flight()
                        && !matches!(s, JobState::RollbackPending | JobState::RollbackDispatched)
                }) =>
            {
                self.set_state(RolloutState::RolledBack, at);
            }
            _ => {}
        }
    }
}

/// A test of a job's state: waiting to be dispatched, or in flight.
type Is = fn(JobState) -> bool;

fn not_allowed(action: &'static str, state: &RolloutState) -> RolloutError {
    RolloutError::NotAllowed {
        action,
        state: state.name(),
    }
}

fn job_error(host: HostId, action: &'static str, state: JobState) -> RolloutError {
    RolloutError::JobNotAllowed {
        host,
        action,
        state: state.name(),
    }
}

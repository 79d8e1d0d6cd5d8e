//! Plans and rollouts: windows, rings, emergencies, limits in flight,
//! halts and every control, with explicit timestamps.

use rivet_change::ring::{FailureThreshold, ProblemReportId, Ring, RingPlan};
use rivet_change::rollout::{
    HaltReason, JobResult, JobState, PackageTarget, PlanError, PlannedStart, RebootPolicy, Rollout,
    RolloutError, RolloutInput, RolloutState, TargetHost, Urgency, plan,
};
use rivet_change::window::{Freeze, FreezeSpec, Interval};
use rivet_core::id::HostId;

use crate::ring::host;
use crate::window::{ts, window};

const PILOT: [u128; 2] = [1, 2];
const BROAD: [u128; 4] = [3, 4, 5, 6];

fn rings() -> RingPlan {
    RingPlan::new(vec![
        Ring {
            hosts: PILOT.map(host).into(),
            max_in_flight: Some(1),
            ..Ring::new("pilot")
        },
        Ring {
            groups: ["web".to_string()].into(),
            max_in_flight: Some(2),
            failure_threshold: FailureThreshold::Hosts(2),
            ..Ring::new("broad")
        },
    ])
    .unwrap()
}

/// Every host has a daily window, 02:00 to 04:00 UTC.
fn target(n: u128, ring: &str) -> TargetHost {
    TargetHost {
        host: host(n),
        ring: ring.into(),
        windows: vec![window("UTC", "2026-01-01T02:00:00", "FREQ=DAILY", 2)],
        reboot: if n.is_multiple_of(2) {
            RebootPolicy::NotifyUser
        } else {
            RebootPolicy::InWindow
        },
        packages: None,
    }
}

fn input(urgency: Urgency) -> RolloutInput {
    let mut hosts: Vec<TargetHost> = BROAD.iter().map(|&n| target(n, "broad")).collect();
    hosts.extend(PILOT.iter().map(|&n| target(n, "pilot")));
    RolloutInput {
        packages: vec![
            PackageTarget {
                name: "libssl3".into(),
                version: "3.0.15-1~deb12u1".into(),
                architecture: Some("amd64".into()),
            },
            PackageTarget {
                name: "openssl".into(),
                version: "3.0.15-1~deb12u1".into(),
                architecture: None,
            },
        ],
        urgency,
        // Monday 2 March 2026, midnight.
        earliest_start: ts("2026-03-02T00:00:00Z"),
        hosts,
        rings: rings(),
        freezes: vec![],
    }
}

fn hosts(ns: &[u128]) -> Vec<HostId> {
    ns.iter().map(|&n| host(n)).collect()
}

fn report(n: u128) -> ProblemReportId {
    ProblemReportId(uuid::Uuid::from_u128(1000 + n))
}

/// Runs a job from dispatch to its result.
fn run(r: &mut Rollout, n: u128, result: JobResult, from: &str, to: &str) {
    r.dispatch(host(n), ts(from)).unwrap();
    r.start(host(n), ts(from)).unwrap();
    r.record_result(host(n), result, ts(to)).unwrap();
}

#[test]
fn the_plan_gives_each_host_its_job_in_ring_order() {
    let p = plan(&input(Urgency::Normal)).unwrap();
    let order: Vec<HostId> = p.jobs.iter().map(|j| j.host).collect();
    assert_eq!(order, hosts(&[1, 2, 3, 4, 5, 6]));
    let first = &p.jobs[0];
    assert_eq!(first.ring, "pilot");
    assert_eq!(
        first
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["libssl3", "openssl"]
    );
    assert_eq!(first.reboot, RebootPolicy::InWindow);
    assert_eq!(p.jobs[1].reboot, RebootPolicy::NotifyUser);
    assert_eq!(
        first.start,
        PlannedStart::Window {
            window: Interval {
                start: ts("2026-03-02T02:00:00Z"),
                end: ts("2026-03-02T04:00:00Z"),
            }
        }
    );
    assert!(p.unscheduled.is_empty());
}

#[test]
fn a_host_without_a_window_is_reported() {
    let mut i = input(Urgency::Normal);
    i.hosts[0].windows.clear();
    // A window that first opens in 2029 is beyond the two-year horizon.
    i.hosts[1].windows = vec![window("UTC", "2029-01-01T02:00:00", "FREQ=DAILY", 2)];
    let p = plan(&i).unwrap();
    assert_eq!(p.jobs.len(), 4);
    let left: Vec<HostId> = p.unscheduled.iter().map(|u| u.host).collect();
    assert_eq!(left, hosts(&[3, 4]));
    assert_eq!(p.unscheduled[0].ring, "broad");
    let r = Rollout::new(i, ts("2026-03-01T00:00:00Z")).unwrap();
    assert_eq!(r.unscheduled().len(), 2);
    assert!(r.job(host(3)).is_none());
}

#[test]
fn bad_input_is_an_error_not_a_plan() {
    let mut i = input(Urgency::Normal);
    i.packages.clear();
    assert_eq!(plan(&i), Err(PlanError::NoPackages));
    let mut i = input(Urgency::Normal);
    i.hosts[0].ring = "canary".into();
    assert!(matches!(plan(&i), Err(PlanError::UnknownRing { ring, .. }) if ring == "canary"));
    let mut i = input(Urgency::Normal);
    let again = i.hosts[0].clone();
    i.hosts.push(again);
    assert_eq!(plan(&i), Err(PlanError::DuplicateHost { host: host(3) }));
}

#[test]
fn an_emergency_runs_at_once_outside_windows_in_all_rings() {
    let mut i = input(Urgency::Emergency);
    // Neither a freeze nor a closed window holds an emergency back.
    i.freezes = vec![
        Freeze::new(FreezeSpec {
            start: ts("2026-03-01T00:00:00Z"),
            end: ts("2026-03-10T00:00:00Z"),
            reason: "quarter-end".into(),
        })
        .unwrap(),
    ];
    let p = plan(&i).unwrap();
    assert!(p.jobs.iter().all(|j| j.start
        == PlannedStart::AtOnce {
            at: ts("2026-03-02T00:00:00Z")
        }));
    let mut r = Rollout::new(i, ts("2026-03-01T00:00:00Z")).unwrap();
    // Before the earliest start, nothing.
    assert!(r.due_jobs(ts("2026-03-01T23:59:59Z")).is_empty());
    // At noon, outside every window: the pilot's one and the broad ring's
    // two at a time, at once.
    let noon = ts("2026-03-02T12:00:00Z");
    assert_eq!(r.due_jobs(noon), hosts(&[1, 3, 4]));
    for n in [1, 3, 4] {
        r.dispatch(host(n), noon).unwrap();
    }
    assert_eq!(r.due_jobs(noon), Vec::<HostId>::new());
    r.record_result(host(3), JobResult::Succeeded, noon)
        .unwrap();
    assert_eq!(r.due_jobs(noon), hosts(&[5]));
}

#[test]
fn rings_wait_for_their_windows_the_limit_and_the_soak() {
    let mut r = Rollout::new(input(Urgency::Normal), ts("2026-03-01T00:00:00Z")).unwrap();
    // Monday noon: no window is open.
    assert!(r.due_jobs(ts("2026-03-02T12:00:00Z")).is_empty());
    // 02:00: the pilot's window is open; one pilot host at a time; the broad
    // ring waits for the pilot.
    assert_eq!(r.due_jobs(ts("2026-03-02T02:00:00Z")), hosts(&[1]));
    r.dispatch(host(1), ts("2026-03-02T02:00:00Z")).unwrap();
    assert!(r.due_jobs(ts("2026-03-02T02:01:00Z")).is_empty());
    assert_eq!(
        r.dispatch(host(2), ts("2026-03-02T02:01:00Z")),
        Err(RolloutError::NotDue { host: host(2) })
    );
    r.start(host(1), ts("2026-03-02T02:01:00Z")).unwrap();
    r.record_result(host(1), JobResult::Succeeded, ts("2026-03-02T02:30:00Z"))
        .unwrap();
    assert_eq!(r.due_jobs(ts("2026-03-02T02:30:00Z")), hosts(&[2]));
    // Not after the window closes.
    assert!(r.due_jobs(ts("2026-03-02T04:00:00Z")).is_empty());
    run(
        &mut r,
        2,
        JobResult::Succeeded,
        "2026-03-02T02:30:00Z",
        "2026-03-02T03:00:00Z",
    );
    // The pilot finished at 03:00; its soak ends on Monday 9 March at 03:00,
    // inside that night's window.
    assert!(r.due_jobs(ts("2026-03-03T02:00:00Z")).is_empty());
    assert!(r.due_jobs(ts("2026-03-09T02:59:59Z")).is_empty());
    assert!(
        !r.promotion(0, ts("2026-03-09T02:59:59Z"))
            .unwrap()
            .is_approved()
    );
    assert_eq!(r.due_jobs(ts("2026-03-09T03:00:00Z")), hosts(&[3, 4]));
    // Two broad hosts at a time.
    let at = ts("2026-03-09T03:00:00Z");
    r.dispatch(host(3), at).unwrap();
    r.dispatch(host(4), at).unwrap();
    assert!(r.due_jobs(at).is_empty());
    r.record_result(host(4), JobResult::Succeeded, at).unwrap();
    assert_eq!(r.due_jobs(at), hosts(&[5]));
    r.record_result(host(3), JobResult::Succeeded, at).unwrap();
    run(
        &mut r,
        5,
        JobResult::Succeeded,
        "2026-03-09T03:00:00Z",
        "2026-03-09T03:10:00Z",
    );
    assert_eq!(*r.state(), RolloutState::Running);
    run(
        &mut r,
        6,
        JobResult::Succeeded,
        "2026-03-09T03:00:00Z",
        "2026-03-09T03:20:00Z",
    );
    assert_eq!(*r.state(), RolloutState::Completed);
    assert_eq!(r.changed_at(), ts("2026-03-09T03:20:00Z"));
    assert!(r.due_jobs(ts("2026-03-10T02:00:00Z")).is_empty());
}

/// A rollout whose pilot finished on 2 March at 03:00 and whose broad ring
/// is promoted on 9 March at 03:00.
fn in_broad_ring() -> Rollout {
    let mut r = Rollout::new(input(Urgency::Normal), ts("2026-03-01T00:00:00Z")).unwrap();
    run(
        &mut r,
        1,
        JobResult::Succeeded,
        "2026-03-02T02:00:00Z",
        "2026-03-02T02:30:00Z",
    );
    run(
        &mut r,
        2,
        JobResult::Succeeded,
        "2026-03-02T02:30:00Z",
        "2026-03-02T03:00:00Z",
    );
    r
}

#[test]
fn failures_reaching_the_threshold_halt_the_rollout() {
    let mut r = in_broad_ring();
    let at = ts("2026-03-09T03:00:00Z");
    run(
        &mut r,
        3,
        JobResult::Failed,
        "2026-03-09T03:00:00Z",
        "2026-03-09T03:05:00Z",
    );
    assert_eq!(*r.state(), RolloutState::Running);
    r.dispatch(host(4), at).unwrap();
    r.dispatch(host(5), at).unwrap();
    // The agent restored the previous versions: a failure all the same.
    r.record_result(host(4), JobResult::RolledBack, ts("2026-03-09T03:10:00Z"))
        .unwrap();
    assert_eq!(
        *r.state(),
        RolloutState::Halted {
            reason: HaltReason::FailureThreshold {
                ring: "broad".into(),
                failed: 2,
                threshold: 2
            }
        }
    );
    assert!(r.due_jobs(ts("2026-03-09T03:10:00Z")).is_empty());
    // The job in flight still finishes.
    r.record_result(host(5), JobResult::Succeeded, ts("2026-03-09T03:15:00Z"))
        .unwrap();
    assert_eq!(r.job(host(5)).unwrap().state, JobState::Succeeded);
    // A person may resume: no problem report is open.
    r.resume(ts("2026-03-09T03:20:00Z")).unwrap();
    assert_eq!(r.due_jobs(ts("2026-03-09T03:20:00Z")), hosts(&[6]));
}

#[test]
fn a_problem_report_halts_the_later_rings() {
    let mut r = Rollout::new(input(Urgency::Normal), ts("2026-03-01T00:00:00Z")).unwrap();
    run(
        &mut r,
        1,
        JobResult::Succeeded,
        "2026-03-02T02:00:00Z",
        "2026-03-02T02:30:00Z",
    );
    r.dispatch(host(2), ts("2026-03-02T02:30:00Z")).unwrap();
    r.report_problem(host(1), report(1), ts("2026-03-02T02:40:00Z"))
        .unwrap();
    assert_eq!(
        *r.state(),
        RolloutState::Halted {
            reason: HaltReason::ProblemReport {
                id: report(1),
                host: host(1)
            }
        }
    );
    // The pilot's job in flight finishes.
    r.record_result(host(2), JobResult::Succeeded, ts("2026-03-02T03:00:00Z"))
        .unwrap();
    // A week later the soak has passed, but nothing is dispatched.
    assert!(r.due_jobs(ts("2026-03-09T03:00:00Z")).is_empty());
    assert!(
        !r.promotion(0, ts("2026-03-09T03:00:00Z"))
            .unwrap()
            .is_approved()
    );
    assert_eq!(
        r.resume(ts("2026-03-09T03:00:00Z")),
        Err(RolloutError::ProblemReportsOpen {
            ids: vec![report(1)]
        })
    );
    assert_eq!(
        r.report_problem(host(2), report(1), ts("2026-03-09T03:00:00Z")),
        Err(RolloutError::DuplicateProblemReport { id: report(1) })
    );
    r.close_problem(report(1), ts("2026-03-09T03:00:00Z"))
        .unwrap();
    assert_eq!(
        r.close_problem(report(1), ts("2026-03-09T03:00:00Z")),
        Err(RolloutError::UnknownProblemReport { id: report(1) })
    );
    // Closing is not resuming.
    assert!(r.due_jobs(ts("2026-03-09T03:00:00Z")).is_empty());
    r.resume(ts("2026-03-09T03:01:00Z")).unwrap();
    assert_eq!(r.due_jobs(ts("2026-03-09T03:01:00Z")), hosts(&[3, 4]));
    assert_eq!(r.problems()[0].closed_at, Some(ts("2026-03-09T03:00:00Z")));
}

#[test]
fn pause_resume_and_forbidden_transitions() {
    let mut r = in_broad_ring();
    let at = ts("2026-03-09T03:00:00Z");
    assert_eq!(
        r.resume(at),
        Err(RolloutError::NotAllowed {
            action: "resume",
            state: "running"
        })
    );
    r.dispatch(host(3), at).unwrap();
    r.pause(at).unwrap();
    assert_eq!(
        r.pause(at),
        Err(RolloutError::NotAllowed {
            action: "pause",
            state: "paused"
        })
    );
    assert!(r.due_jobs(at).is_empty());
    assert_eq!(
        r.dispatch(host(4), at),
        Err(RolloutError::NotAllowed {
            action: "dispatch",
            state: "paused"
        })
    );
    // In flight while paused: it may start and finish.
    r.start(host(3), at).unwrap();
    r.record_result(host(3), JobResult::Succeeded, at).unwrap();
    r.resume(at).unwrap();
    assert_eq!(r.due_jobs(at), hosts(&[4, 5]));
    // Job edges that do not exist.
    assert_eq!(
        r.start(host(4), at),
        Err(RolloutError::JobNotAllowed {
            host: host(4),
            action: "start",
            state: "pending"
        })
    );
    assert!(matches!(
        r.record_result(host(3), JobResult::Failed, at),
        Err(RolloutError::JobNotAllowed { .. })
    ));
    assert!(matches!(
        r.dispatch(host(3), at),
        Err(RolloutError::JobNotAllowed { .. })
    ));
    assert_eq!(
        r.dispatch(host(99), at),
        Err(RolloutError::UnknownHost { host: host(99) })
    );
}

#[test]
fn abort_skips_pending_jobs_and_lets_those_in_flight_finish() {
    let mut r = in_broad_ring();
    let at = ts("2026-03-09T03:00:00Z");
    r.dispatch(host(3), at).unwrap();
    r.abort(at).unwrap();
    assert_eq!(*r.state(), RolloutState::Aborted);
    for n in [4, 5, 6] {
        assert_eq!(r.job(host(n)).unwrap().state, JobState::Skipped);
    }
    assert_eq!(r.job(host(3)).unwrap().state, JobState::Dispatched);
    r.record_result(host(3), JobResult::Succeeded, at).unwrap();
    assert_eq!(*r.state(), RolloutState::Aborted);
    assert!(r.due_jobs(at).is_empty());
    for (result, action) in [
        (r.abort(at), "abort"),
        (r.pause(at), "pause"),
        (r.resume(at), "resume"),
    ] {
        assert_eq!(
            result,
            Err(RolloutError::NotAllowed {
                action,
                state: "aborted"
            })
        );
    }
    // An aborted rollout can still be rolled back.
    r.roll_back(at).unwrap();
    assert_eq!(*r.state(), RolloutState::RollingBack);
}

#[test]
fn roll_back_gives_succeeded_hosts_rollback_jobs_at_once() {
    let mut r = in_broad_ring();
    let at = ts("2026-03-09T03:00:00Z");
    run(
        &mut r,
        3,
        JobResult::Succeeded,
        "2026-03-09T03:00:00Z",
        "2026-03-09T03:05:00Z",
    );
    r.dispatch(host(4), at).unwrap();
    // Noon, outside every window: rollbacks do not wait for one.
    let noon = ts("2026-03-09T12:00:00Z");
    r.roll_back(noon).unwrap();
    assert_eq!(*r.state(), RolloutState::RollingBack);
    assert_eq!(r.job(host(5)).unwrap().state, JobState::Skipped);
    // One pilot host at a time, two broad ones.
    assert_eq!(r.due_jobs(noon), hosts(&[1, 3]));
    // The job in flight succeeds and is rolled back too.
    r.record_result(host(4), JobResult::Succeeded, noon)
        .unwrap();
    assert_eq!(r.job(host(4)).unwrap().state, JobState::RollbackPending);
    for n in [1, 3] {
        r.dispatch(host(n), noon).unwrap();
    }
    assert_eq!(r.due_jobs(noon), hosts(&[4]));
    assert!(matches!(
        r.record_rollback(host(2), true, noon),
        Err(RolloutError::JobNotAllowed { .. })
    ));
    r.record_rollback(host(1), true, noon).unwrap();
    r.record_rollback(host(3), false, noon).unwrap();
    for n in [2, 4] {
        r.dispatch(host(n), noon).unwrap();
        assert_eq!(*r.state(), RolloutState::RollingBack);
        r.record_rollback(host(n), true, noon).unwrap();
    }
    assert_eq!(*r.state(), RolloutState::RolledBack);
    assert_eq!(r.job(host(3)).unwrap().state, JobState::RollbackFailed);
    assert_eq!(r.job(host(4)).unwrap().state, JobState::RolledBack);
    assert_eq!(
        r.roll_back(noon),
        Err(RolloutError::NotAllowed {
            action: "roll back",
            state: "rolled_back"
        })
    );
    assert!(r.due_jobs(noon).is_empty());
}

#[test]
fn a_completed_rollout_can_be_rolled_back() {
    let mut r = Rollout::new(
        RolloutInput {
            rings: RingPlan::single("all"),
            hosts: vec![target(1, "all")],
            ..input(Urgency::Normal)
        },
        ts("2026-03-01T00:00:00Z"),
    )
    .unwrap();
    run(
        &mut r,
        1,
        JobResult::Succeeded,
        "2026-03-02T02:00:00Z",
        "2026-03-02T02:30:00Z",
    );
    assert_eq!(*r.state(), RolloutState::Completed);
    assert!(matches!(
        r.pause(ts("2026-03-02T03:00:00Z")),
        Err(RolloutError::NotAllowed { .. })
    ));
    r.roll_back(ts("2026-03-03T00:00:00Z")).unwrap();
    assert_eq!(r.due_jobs(ts("2026-03-03T00:00:00Z")), hosts(&[1]));
}

#[test]
fn a_rollout_persists_as_json() {
    let mut r = in_broad_ring();
    r.report_problem(host(2), report(2), ts("2026-03-03T00:00:00Z"))
        .unwrap();
    let json = serde_json::to_string(&r).unwrap();
    let back: Rollout = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    assert_eq!(
        back.due_jobs(ts("2026-03-09T03:00:00Z")),
        r.due_jobs(ts("2026-03-09T03:00:00Z"))
    );
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["state"]["state"], "halted");
    assert_eq!(value["state"]["reason"]["kind"], "problem_report");
}

#[test]
fn a_host_gets_its_own_packages_and_a_host_without_any_gets_no_job() {
    let mut input = input(Urgency::Normal);
    let own = vec![PackageTarget {
        name: "libssl3".into(),
        version: "3.0.15-1~deb12u1".into(),
        architecture: Some("amd64".into()),
    }];
    input.hosts[0].packages = Some(own.clone());
    input.hosts[1].packages = Some(Vec::new());
    let plan = plan(&input).unwrap();
    let first = plan
        .jobs
        .iter()
        .find(|j| j.host == input.hosts[0].host)
        .unwrap();
    assert_eq!(first.packages, own);
    assert!(plan.jobs.iter().all(|j| j.host != input.hosts[1].host));
    let third = plan
        .jobs
        .iter()
        .find(|j| j.host == input.hosts[2].host)
        .unwrap();
    assert_eq!(third.packages, input.packages);
    for host in &mut input.hosts {
        host.packages = Some(Vec::new());
    }
    input.packages.clear();
    assert_eq!(plan_error(&input), PlanError::NoPackages);
}

fn plan_error(input: &RolloutInput) -> PlanError {
    plan(input).unwrap_err()
}

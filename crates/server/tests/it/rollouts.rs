//! A change's rollout driven with a test clock (issue 7): the pilot ring
//! installs in its window, simulated agents fetch their jobs on check-in
//! and report; the next ring waits for the week's soak; a customer's problem
//! report halts it until closed and resumed; a failure reaches the
//! threshold and halts it again; rolling back gives the pilot its previous
//! version; the change ends rolled back, every step audited.

use axum::http::Method;
use jiff::SignedDuration;
use rivet_change::change::{Change, ChangeId, NewChange};
use rivet_core::access::{CustomerScope, Role};
use rivet_core::agent::AgentKey;
use rivet_core::id::{HostId, TenantId};
use rivet_store::{ChangeSetting, StoredChange, StoredWindow};
use serde_json::{Value, json};

use crate::harness::{TestServer, rnd};

/// Moves the clock in steps the harness's tokens survive, and returns a
/// fresh admin token.
async fn advance(s: &TestServer, hours: i64) -> String {
    let mut left = hours;
    while left > 0 {
        let step = left.min(6);
        s.clock.advance(SignedDuration::from_hours(step));
        left -= step;
    }
    s.token_for(s.admin.id, s.provider, Role::Admin.permissions())
        .await
}

async fn run(s: &TestServer, token: &str) -> Value {
    let r = s
        .call(Method::POST, "/api/v1/rollouts/run", Some(token), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["problems"], json!([]), "{}", r.text);
    r.body
}

async fn rollout(s: &TestServer, token: &str, change: &str) -> Value {
    let r = s
        .get(&format!("/api/v1/changes/{change}/rollout"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn job_state(view: &Value, host: HostId) -> String {
    view["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["host_id"] == host.to_string())
        .map(|j| j["state"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn checkin(s: &TestServer, agent: (HostId, &AgentKey)) -> Vec<Value> {
    let r = s
        .agent(
            agent,
            Method::POST,
            "/api/v1/agent/checkin",
            json!({"agent_version": "test", "inventory_digest": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["jobs"].as_array().cloned().unwrap_or_default()
}

async fn report(
    s: &TestServer,
    agent: (HostId, &AgentKey),
    job: &str,
    outcome: &str,
    from: &str,
    to: &str,
) -> Value {
    let now = s.now();
    let r = s
        .agent(
            agent,
            Method::POST,
            &format!("/api/v1/agent/jobs/{job}/report"),
            json!({"outcome": outcome, "started_at": now, "finished_at": now,
                "packages": [{"name": "openssl", "from": from, "to": to}],
                "message": if outcome == "succeeded" { "" } else { "postinst failed" }}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// A scheduled normal change of the tenant, installing openssl 1.1-1 on
/// every host, planned to start at `start`.
async fn scheduled_change(s: &TestServer, tenant: TenantId, start: jiff::Timestamp) -> String {
    let new: NewChange = serde_json::from_value(json!({
        "kind": {"type": "normal"},
        "title": "openssl 1.1",
        "patches": [{"type": "package", "name": "openssl", "version": "1.1-1"}],
        "targets": [{"tenant": tenant}],
        "schedule": {"earliest_start": s.now()},
        "risk": "low",
        "backout_plan": "install 1.0-1 again",
    }))
    .unwrap();
    let now = s.now();
    let id = ChangeId::new(now, rnd());
    let (requester, approver) = (s.admin.id, rivet_core::id::UserId::new(now, rnd()));
    let mut change: Change = new.validate(id, tenant, requester, now).unwrap();
    change.submit(now, requester, None, "").unwrap();
    change.approve(now, approver, "CAB 2026-47").unwrap();
    change.schedule(now, requester, start, "").unwrap();
    let stored = StoredChange {
        id: id.to_string(),
        tenant_id: tenant,
        kind: "normal".into(),
        state: change.state().as_str().into(),
        title: change.title().into(),
        review_due: false,
        created_at: now,
        updated_at: now,
        revision: 0,
        // The votes are kept beside the change's fields, as the API does.
        body: {
            let mut body = serde_json::to_value(&change).unwrap();
            body["approvals"] = json!([]);
            body
        },
    };
    s.store
        .create_change(&stored, &rivet_core::audit::Actor::system(), now)
        .await
        .unwrap();
    id.to_string()
}

pub async fn a_change_rolls_out_ring_by_ring_and_is_rolled_back(s: &TestServer) {
    let tenant = s.customer("Rolled").await;
    let other = s.customer("Elsewhere").await;
    let (pilot, pilot_key) = s.agent_host(tenant, "pilot-1").await;
    let (web1, web1_key) = s.agent_host(tenant, "web-1").await;
    let (web2, web2_key) = s.agent_host(tenant, "web-2").await;
    let (stranger, stranger_key) = s.agent_host(other, "db-1").await;
    let actor = rivet_core::audit::Actor::system();
    // The customer named the pilot; the broad ring takes one host at a
    // time and halts at the first failure.
    let plan = json!([
        {"name": "pilot", "hosts": [pilot], "soak": "168h"},
        {"name": "broad", "max_in_flight": 1, "failure_threshold": {"hosts": 1}}
    ]);
    s.store
        .set_change_setting(tenant, ChangeSetting::RingPlan, &plan, &actor, s.now())
        .await
        .unwrap();
    // Every night 02:00–04:00 UTC.
    let window = StoredWindow {
        id: "win-nightly".into(),
        tenant_id: tenant,
        group: None,
        name: "nightly".into(),
        body: json!({"name": "nightly", "time_zone": "UTC", "start": "2026-11-01T02:00:00",
            "rrule": "FREQ=DAILY", "duration": "2h"}),
        created_by: String::new(),
        created_at: s.now(),
    };
    s.store
        .create_window(&window, &actor, s.now())
        .await
        .unwrap();
    let start = s.now() + SignedDuration::from_hours(1);
    let change = scheduled_change(s, tenant, start).await;

    // Not due yet; then started at its planned start (11:00), outside the
    // window: the jobs wait.
    let token = s.admin.token.clone();
    assert_eq!(run(s, &token).await["started"], 0);
    let token = advance(s, 1).await;
    let pass = run(s, &token).await;
    assert_eq!(
        (pass["started"].as_u64(), pass["dispatched"].as_u64()),
        (Some(1), Some(0)),
        "{pass}"
    );
    let view = rollout(s, &token, &change).await;
    assert_eq!(view["state"], "running", "{view}");
    assert_eq!(view["jobs"].as_array().unwrap().len(), 3, "{view}");
    assert!(checkin(s, (pilot, &pilot_key)).await.is_empty());
    let status = s
        .get(&format!("/api/v1/changes/{change}/rollout"), &token)
        .await;
    assert_eq!(status.status, 200);

    // 02:00 the next night: only the pilot's job goes out.
    let token = advance(s, 15).await;
    let pass = run(s, &token).await;
    assert_eq!(pass["dispatched"], 1, "{pass}");
    let jobs = checkin(s, (pilot, &pilot_key)).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0]["packages"],
        json!([{"name": "openssl", "version": "1.1-1"}])
    );
    assert_eq!(jobs[0]["reboot"], "in_window");
    assert!(
        checkin(s, (web1, &web1_key)).await.is_empty(),
        "the broad ring waits"
    );
    assert!(checkin(s, (stranger, &stranger_key)).await.is_empty());
    let job = jobs[0]["id"].as_str().unwrap().to_owned();
    // Another host cannot report it.
    let r = s
        .agent(
            (web1, &web1_key),
            Method::POST,
            &format!("/api/v1/agent/jobs/{job}/report"),
            json!({"outcome": "succeeded", "started_at": s.now(), "finished_at": s.now()}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        report(s, (pilot, &pilot_key), &job, "succeeded", "1.0-1", "1.1-1").await["recorded"],
        true
    );
    // A retry after a lost answer changes nothing.
    assert_eq!(
        report(s, (pilot, &pilot_key), &job, "failed", "1.0-1", "1.1-1").await["recorded"],
        false
    );
    let pass = run(s, &token).await;
    assert_eq!(
        (pass["reports"].as_u64(), pass["dispatched"].as_u64()),
        (Some(1), Some(0)),
        "{pass}"
    );
    assert!(
        checkin(s, (pilot, &pilot_key)).await.is_empty(),
        "a reported job is not handed out again"
    );
    let view = rollout(s, &token, &change).await;
    assert_eq!(job_state(&view, pilot), "succeeded");
    let held = &view["rings"][0]["promotion"];
    assert!(held.to_string().contains("soak_remaining"), "{view}");

    // A customer reports a problem on the pilot: the rollout halts.
    let customer = s
        .user(tenant, Role::CustomerApprover, CustomerScope::All)
        .await
        .token;
    let r = s
        .call(
            Method::POST,
            &format!("/api/v1/changes/{change}/problems"),
            Some(&customer),
            Some(json!({"host": pilot, "text": "the shop's checkout fails since last night"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let problem = r.body["id"].as_str().unwrap().to_owned();
    let foreign = s
        .user(other, Role::CustomerApprover, CustomerScope::All)
        .await
        .token;
    let r = s
        .call(
            Method::POST,
            &format!("/api/v1/changes/{change}/problems"),
            Some(&foreign),
            Some(json!({"host": pilot, "text": "not mine"})),
        )
        .await;
    assert_eq!(r.status, 404, "another customer does not see the change");
    assert_eq!(rollout(s, &token, &change).await["state"], "halted");

    // A week later, at the window, the soak has passed but the halt holds.
    let token = advance(s, 24 * 7).await;
    assert_eq!(run(s, &token).await["dispatched"], 0);
    let r = s
        .call(
            Method::POST,
            &format!("/api/v1/changes/{change}/rollout/resume"),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        r.status, 409,
        "a halted rollout resumes only when its reports are closed: {}",
        r.text
    );
    let r = s
        .call(
            Method::POST,
            &format!("/api/v1/problems/{problem}/close"),
            Some(&token),
            Some(json!({"resolution": "a cache, not the update"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .call(
            Method::POST,
            &format!("/api/v1/changes/{change}/rollout/resume"),
            Some(&token),
            Some(json!({"comment": "problem unrelated"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The broad ring, one host at a time: web-1 fails, which halts it.
    let pass = run(s, &token).await;
    assert_eq!(pass["dispatched"], 1, "{pass}");
    let (first, first_key, second, second_key) = if checkin(s, (web1, &web1_key)).await.is_empty() {
        (web2, &web2_key, web1, &web1_key)
    } else {
        (web1, &web1_key, web2, &web2_key)
    };
    let jobs = checkin(s, (first, first_key)).await;
    assert_eq!(jobs.len(), 1);
    assert!(
        checkin(s, (second, second_key)).await.is_empty(),
        "one at a time"
    );
    report(
        s,
        (first, first_key),
        jobs[0]["id"].as_str().unwrap(),
        "failed",
        "1.0-1",
        "1.0-1",
    )
    .await;
    run(s, &token).await;
    let view = rollout(s, &token, &change).await;
    assert_eq!(view["state"], "halted", "{view}");
    assert_eq!(
        view["detail"]["reason"]["kind"], "failure_threshold",
        "{view}"
    );
    assert_eq!(run(s, &token).await["dispatched"], 0);

    // Roll back: the pilot gets its previous version back, at once.
    let operator = s
        .user(s.provider, Role::Operator, CustomerScope::All)
        .await
        .token;
    let viewer = s
        .user(tenant, Role::CustomerViewer, CustomerScope::All)
        .await
        .token;
    let r = s
        .call(
            Method::POST,
            &format!("/api/v1/changes/{change}/rollout/roll-back"),
            Some(&viewer),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 403, "a customer viewer cannot steer rollouts");
    let r = s
        .call(
            Method::POST,
            &format!("/api/v1/changes/{change}/rollout/roll-back"),
            Some(&operator),
            Some(json!({"comment": "web-1 broke"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let pass = run(s, &token).await;
    assert_eq!(pass["dispatched"], 1, "{pass}");
    let jobs = checkin(s, (pilot, &pilot_key)).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0]["packages"],
        json!([{"name": "openssl", "version": "1.0-1"}])
    );
    report(
        s,
        (pilot, &pilot_key),
        jobs[0]["id"].as_str().unwrap(),
        "succeeded",
        "1.1-1",
        "1.0-1",
    )
    .await;
    let pass = run(s, &token).await;
    assert_eq!(pass["ended"], 1, "{pass}");
    let view = rollout(s, &token, &change).await;
    assert_eq!(view["state"], "rolled_back", "{view}");
    assert_eq!(job_state(&view, second), "skipped");
    let stored = s.store.change(&change).await.unwrap().unwrap();
    assert_eq!(stored.state, "rolled_back");
    assert_eq!(
        stored.body["approvals"],
        json!([]),
        "the driver keeps the votes"
    );

    // The patch register and the audit log tell the story.
    let audit = s.get("/api/v1/audit?limit=1000", &token).await.text;
    for action in [
        "rollout.start",
        "job.report",
        "problem.open",
        "problem.close",
        "rollout.resume",
        "rollout.roll_back",
        "change.roll_back",
    ] {
        assert!(
            audit.contains(action),
            "{action} missing from the audit log"
        );
    }
}

/// A change of `tenant` with a running (or paused) emergency rollout to one
/// new host of the tenant, made directly in the store: a fixture for the
/// permission matrix. Returns the change and the host.
pub async fn change_with_rollout(
    s: &TestServer,
    tenant: TenantId,
    paused: bool,
) -> (String, HostId) {
    use rivet_change::ring::RingPlan;
    use rivet_change::rollout::{Rollout, RolloutInput, TargetHost, Urgency};
    let host = s
        .host(tenant, &format!("r-{}", crate::harness::hex(&rnd::<4>())))
        .await;
    let now = s.now();
    let id = ChangeId::new(now, rnd());
    let new: NewChange = serde_json::from_value(json!({
        "kind": {"type": "emergency"},
        "title": "fixture",
        "patches": [{"type": "package", "name": "openssl", "version": "1.1-1"}],
        "targets": [{"host": host.to_string()}],
        "schedule": {"earliest_start": now},
        "risk": "low",
        "backout_plan": "reinstall",
    }))
    .unwrap();
    let mut change = new.validate(id, tenant, s.admin.id, now).unwrap();
    // The fixture's document says what its row says: in progress.
    change.expedite(now, s.admin.id, "matrix fixture").unwrap();
    change.start(now, s.admin.id).unwrap();
    assert_eq!(change.state().as_str(), "in_progress");
    let stored = StoredChange {
        id: id.to_string(),
        tenant_id: tenant,
        kind: "emergency".into(),
        state: "in_progress".into(),
        title: "fixture".into(),
        review_due: true,
        created_at: now,
        updated_at: now,
        revision: 0,
        body: serde_json::to_value(&change).unwrap(),
    };
    let actor = rivet_core::audit::Actor::system();
    s.store.create_change(&stored, &actor, now).await.unwrap();
    let mut rollout = Rollout::new(
        RolloutInput {
            packages: vec![rivet_core::job::JobPackage {
                name: "openssl".into(),
                version: "1.1-1".into(),
                architecture: None,
            }],
            urgency: Urgency::Emergency,
            earliest_start: now,
            hosts: vec![TargetHost {
                host,
                ring: "all".into(),
                windows: vec![],
                reboot: rivet_core::job::RebootPolicy::InWindow,
                packages: None,
            }],
            rings: RingPlan::single("all"),
            freezes: vec![],
        },
        now,
    )
    .unwrap();
    if paused {
        rollout.pause(now).unwrap();
    }
    let doc = rivet_store::StoredRollout {
        change_id: id.to_string(),
        tenant_id: tenant,
        state: rollout.state().name().into(),
        revision: 1,
        created_at: now,
        updated_at: now,
        body: serde_json::to_value(&rollout).unwrap(),
    };
    s.store
        .create_rollout(&doc, &[], &actor, now)
        .await
        .unwrap();
    (id.to_string(), host)
}

/// An open problem report on a fixture rollout of `tenant`.
pub async fn open_problem(s: &TestServer, tenant: TenantId) -> String {
    let (change, host) = change_with_rollout(s, tenant, false).await;
    let report = rivet_store::ProblemReport {
        id: uuid::Uuid::new_v4().to_string(),
        change_id: change,
        tenant_id: tenant,
        host_id: Some(host),
        reported_by: "fixture".into(),
        text: "fixture".into(),
        opened_at: s.now(),
        closed_at: None,
        closed_by: None,
        resolution: None,
    };
    s.store
        .open_problem_report(&report, &rivet_core::audit::Actor::system())
        .await
        .unwrap();
    report.id
}

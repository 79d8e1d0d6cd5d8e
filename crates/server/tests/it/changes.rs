//! Change requests over the API (issue 7, CHG-1 to CHG-7, RLO-3, RLO-5): a
//! normal change through the CAB and the customer's approver to its
//! schedule, with the audit log showing each step; four eyes; rejections,
//! revisions and resubmission; an emergency change expedited and reviewed
//! by someone else; standard changes pre-approved by their template; the
//! update policy's decision; customer orders; a patch cycle on real
//! findings; bad input; and the command line.

use axum::http::Method;
use rivet_change::change::{ChangeId, NewChange};
use rivet_core::access::{CustomerScope, Role};
use rivet_core::audit::Actor;
use rivet_core::id::{TenantId, UserId};
use rivet_server::api::changes::stored_change;
use serde_json::{Value, json};

use crate::harness::{Fixture, Reply, TestServer, rnd};

/// A valid normal change request (without `tenant`) starting now.
pub fn new_change(s: &TestServer) -> Value {
    json!({
        "kind": {"type": "normal"},
        "title": "OpenSSL security update",
        "description": "DSA-5801-1",
        "patches": [{"type": "package", "name": "openssl", "version": "3.0.15-1~deb12u1", "class": "security"}],
        "targets": [{"group": "web"}],
        "schedule": {"earliest_start": s.now().to_string()},
        "risk": "low",
        "backout_plan": "Reinstall 3.0.14-1~deb12u2 from the patch store.",
    })
}

/// A change of `tenant` in the state the operation at `path` needs (the
/// route × role matrix's fixture), stored as the engine makes it; its id.
pub async fn fixture_for(s: &TestServer, tenant: TenantId, path: &str) -> String {
    let now = s.now();
    let (someone, other) = (UserId::new(now, rnd()), UserId::new(now, rnd()));
    let mut body = new_change(s);
    if path.ends_with("/expedite") || path.ends_with("/review") {
        body["kind"] = json!({"type": "emergency"});
    }
    let new: NewChange = serde_json::from_value(body).unwrap();
    let mut c = new
        .validate(ChangeId::new(now, rnd()), tenant, someone, now)
        .unwrap();
    let suffix = path.rsplit('/').next().unwrap();
    match suffix {
        "approve" | "reject" => c.submit(now, someone, None, "").unwrap(),
        "revise" => {
            c.submit(now, someone, None, "").unwrap();
            c.reject(now, other, "not now").unwrap();
        }
        "schedule" => {
            c.submit(now, someone, None, "").unwrap();
            c.approve(now, other, "").unwrap();
        }
        "review" => {
            c.expedite(now, someone, "the web servers are being attacked")
                .unwrap();
            c.cancel(now, someone, "").unwrap();
        }
        _ => {}
    }
    let row = stored_change(&c, &[], 1, now, now).unwrap();
    s.store
        .create_change(&row, &Actor::system(), now)
        .await
        .unwrap()
        .id
}

async fn post(s: &TestServer, path: &str, who: &Fixture, body: Value) -> Reply {
    s.call(
        Method::POST,
        &format!("/api/v1{path}"),
        Some(&who.token),
        Some(body),
    )
    .await
}

async fn put(s: &TestServer, path: &str, who: &Fixture, body: Value) -> Reply {
    s.call(
        Method::PUT,
        &format!("/api/v1{path}"),
        Some(&who.token),
        Some(body),
    )
    .await
}

async fn get(s: &TestServer, path: &str, who: &Fixture) -> Reply {
    s.get(&format!("/api/v1{path}"), &who.token).await
}

/// Creates a change of `tenant` from `body`; its id.
async fn create(s: &TestServer, who: &Fixture, tenant: TenantId, mut body: Value) -> String {
    body["tenant"] = json!(tenant);
    let r = post(s, "/changes", who, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["change"]["state"], "draft");
    r.body["id"].as_str().unwrap().to_owned()
}

/// `POST /changes/{id}/{action}`, which must answer `status`.
async fn act(
    s: &TestServer,
    who: &Fixture,
    id: &str,
    action: &str,
    body: Value,
    status: u16,
) -> Value {
    let r = post(s, &format!("/changes/{id}/{action}"), who, body).await;
    assert_eq!(r.status, status, "{action} as {}: {}", who.role, r.text);
    r.body
}

fn error(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or("").to_owned()
}

/// The provider's people and a customer's.
struct People {
    tenant: TenantId,
    manager: Fixture,
    other_manager: Fixture,
    cab: Fixture,
    approver: Fixture,
    viewer: Fixture,
    stranger: Fixture,
}

async fn people(s: &TestServer) -> People {
    let tenant = s.customer("Acme").await;
    let elsewhere = s.customer("Elsewhere").await;
    People {
        tenant,
        manager: s
            .user(s.provider, Role::ChangeManager, CustomerScope::All)
            .await,
        other_manager: s
            .user(s.provider, Role::ChangeManager, CustomerScope::All)
            .await,
        cab: s
            .user(s.provider, Role::CabMember, CustomerScope::All)
            .await,
        approver: s
            .user(tenant, Role::CustomerApprover, CustomerScope::All)
            .await,
        viewer: s
            .user(tenant, Role::CustomerViewer, CustomerScope::All)
            .await,
        stranger: s
            .user(elsewhere, Role::CustomerApprover, CustomerScope::All)
            .await,
    }
}

/// A weekly window of `tenant` for all its hosts: Sundays 02:00 to 06:00
/// Berlin time.
async fn sunday_window(s: &TestServer, tenant: TenantId) {
    let spec = json!({
        "name": "sunday-night", "time_zone": "Europe/Berlin",
        "start": "2026-11-01T02:00:00", "rrule": "FREQ=WEEKLY;BYDAY=SU", "duration": "PT4H"
    });
    let window = rivet_store::StoredWindow {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant,
        group: None,
        name: "sunday-night".into(),
        body: spec,
        created_by: String::new(),
        created_at: s.now(),
    };
    s.store
        .create_window(&window, &Actor::system(), s.now())
        .await
        .unwrap();
}

/// The first Sunday after the tests' start (2026-11-23), 02:30 Berlin.
const IN_WINDOW: &str = "2026-11-29T01:30:00Z";
/// The Monday after, noon Berlin.
const OUTSIDE_WINDOW: &str = "2026-11-30T11:00:00Z";

pub async fn a_normal_change_is_approved_by_the_cab_and_the_customer(s: &TestServer) {
    let p = people(s).await;
    sunday_window(s, p.tenant).await;
    let host = s.host(p.tenant, "web1").await;
    let mut body = new_change(s);
    body["targets"] = json!([{"host": host.to_string()}]);
    body["expected_downtime"] = json!("PT30M");
    let id = create(s, &p.manager, p.tenant, body).await;

    let view = act(s, &p.manager, &id, "submit", json!({}), 200).await;
    assert_eq!(view["change"]["state"], "submitted");
    // Downtime, and the earliest start (now, a Monday) is outside the window.
    let needs = &view["requirements"]["needs"];
    assert_eq!(needs[0], json!({"type": "cab", "quorum": 1}));
    assert_eq!(needs[1]["type"], "customer");
    assert_eq!(needs[1]["downtime"], true);
    assert_eq!(needs[1]["outside_window"], true);
    assert_eq!(view["window"]["outside_window"], true);
    assert_eq!(view["window"]["outside"], json!(["web1"]));
    assert_eq!(view["approval_status"]["status"], "pending");

    // Who may not vote: the change manager (no change:approve), a customer
    // approver of another tenant (cannot even see it), a viewer.
    act(s, &p.manager, &id, "approve", json!({}), 403).await;
    let foreign = act(s, &p.stranger, &id, "approve", json!({}), 404).await;
    assert_eq!(foreign["error"]["kind"], "not_found");
    act(s, &p.viewer, &id, "approve", json!({}), 403).await;
    assert_eq!(
        get(s, &format!("/changes/{id}"), &p.stranger).await.status,
        404
    );

    let view = act(s, &p.cab, &id, "approve", json!({"comment": "fine"}), 200).await;
    assert_eq!(view["change"]["state"], "submitted");
    assert_eq!(
        view["approval_status"]["missing"],
        json!([{"type": "customer", "tenant": p.tenant}])
    );
    let view = act(
        s,
        &p.approver,
        &id,
        "approve",
        json!({"comment": "ok for us"}),
        200,
    )
    .await;
    assert_eq!(view["change"]["state"], "approved");
    assert_eq!(view["approval_status"]["status"], "approved");
    assert_eq!(view["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(view["approvals"][1]["role"], "customer-approver");
    // A vote on an approved change is out of turn.
    act(s, &p.cab, &id, "approve", json!({}), 409).await;

    let view = act(
        s,
        &p.manager,
        &id,
        "schedule",
        json!({"planned_start": IN_WINDOW, "comment": "Sunday night"}),
        200,
    )
    .await;
    assert_eq!(view["change"]["state"], "scheduled");
    assert_eq!(view["change"]["planned_start"], IN_WINDOW);
    assert_eq!(view["window"]["outside_window"], false);
    // Re-planned outside the window: the customer approved, so it may.
    let view = act(
        s,
        &p.manager,
        &id,
        "schedule",
        json!({"planned_start": OUTSIDE_WINDOW}),
        200,
    )
    .await;
    assert_eq!(view["window"]["outside_window"], true);

    // The audit log shows every step, with who did it.
    let audit = s
        .get(
            &format!("/api/v1/audit?target={id}&limit=100"),
            &s.admin.token,
        )
        .await;
    let steps: Vec<(String, String)> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let m = p.manager.username.clone();
    assert_eq!(
        steps,
        [
            ("change.create".to_owned(), m.clone()),
            ("change.submit".to_owned(), m.clone()),
            ("change.approve".to_owned(), p.cab.username.clone()),
            ("change.approve".to_owned(), p.approver.username.clone()),
            ("change.schedule".to_owned(), m.clone()),
            ("change.schedule".to_owned(), m),
        ]
    );
    let history: Vec<&str> = view["change"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["action"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["submit", "approve", "schedule", "schedule"]);

    // The customer sees their change in the listing; the stranger does not.
    let mine = get(s, "/changes", &p.viewer).await;
    assert_eq!(mine.body["items"][0]["id"], id.as_str());
    assert_eq!(mine.body["items"][0]["state"], "scheduled");
    let theirs = get(s, "/changes", &p.stranger).await;
    assert_eq!(theirs.body["items"], json!([]));
    let by_state = get(
        s,
        &format!("/changes?tenant={}&state=scheduled", p.tenant),
        &p.cab,
    )
    .await;
    assert_eq!(by_state.body["items"].as_array().unwrap().len(), 1);
    let none = get(s, "/changes?state=draft", &p.cab).await;
    assert_eq!(none.body["items"], json!([]));
}

pub async fn work_outside_a_window_needs_the_customer(s: &TestServer) {
    let p = people(s).await;
    sunday_window(s, p.tenant).await;
    let host = s.host(p.tenant, "db1").await;
    // No downtime, and it may start on Sunday night: the CAB alone decides.
    let mut body = new_change(s);
    body["targets"] = json!([{"host": host.to_string()}]);
    body["schedule"] = json!({"earliest_start": IN_WINDOW});
    let id = create(s, &p.manager, p.tenant, body).await;
    let view = act(s, &p.manager, &id, "submit", json!({}), 200).await;
    assert_eq!(
        view["requirements"]["needs"],
        json!([{"type": "cab", "quorum": 1}])
    );
    let view = act(s, &p.cab, &id, "approve", json!({}), 200).await;
    assert_eq!(view["change"]["state"], "approved");
    // Scheduling it outside the window needs the customer's agreement (RLO-5).
    let refused = act(
        s,
        &p.manager,
        &id,
        "schedule",
        json!({"planned_start": OUTSIDE_WINDOW}),
        409,
    )
    .await;
    assert!(error(&refused).contains("RLO-5"), "{refused}");
    let view = act(
        s,
        &p.manager,
        &id,
        "schedule",
        json!({"planned_start": IN_WINDOW}),
        200,
    )
    .await;
    assert_eq!(view["change"]["state"], "scheduled");
    // A start before the earliest one is the engine's refusal, on the field.
    let early = act(
        s,
        &p.manager,
        &id,
        "schedule",
        json!({"planned_start": s.now().to_string()}),
        422,
    )
    .await;
    assert!(error(&early).starts_with("planned_start"), "{early}");

    // A policy that never asks the customer lets the provider decide.
    let r = put(
        s,
        &format!("/tenants/{}/approval-policy", p.tenant),
        &p.manager,
        json!({"cab_quorum": 0, "customer": "never"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let view = act(
        s,
        &p.manager,
        &id,
        "schedule",
        json!({"planned_start": OUTSIDE_WINDOW}),
        200,
    )
    .await;
    assert_eq!(view["change"]["planned_start"], OUTSIDE_WINDOW);
    // And with no CAB quorum either, a submitted change is approved at once.
    let id = create(s, &p.manager, p.tenant, new_change(s)).await;
    let view = act(s, &p.manager, &id, "submit", json!({}), 200).await;
    assert_eq!(view["change"]["state"], "approved");
    assert_eq!(
        view["change"]["history"][1]["comment"],
        "no approval required by the approval policy"
    );
    let policy = get(
        s,
        &format!("/tenants/{}/approval-policy", p.tenant),
        &p.viewer,
    )
    .await;
    assert_eq!(policy.body, json!({"cab_quorum": 0, "customer": "never"}));
    let bad = put(
        s,
        &format!("/tenants/{}/approval-policy", p.tenant),
        &p.manager,
        json!({"cab_quorum": 99, "customer": "never"}),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(error(&bad.body).starts_with("cab_quorum"), "{}", bad.text);
}

pub async fn concurrent_votes_all_count(s: &TestServer) {
    let p = people(s).await;
    let r = put(
        s,
        &format!("/tenants/{}/approval-policy", p.tenant),
        &p.manager,
        json!({"cab_quorum": 3, "customer": "when_affected"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = create(s, &p.manager, p.tenant, new_change(s)).await;
    act(s, &p.manager, &id, "submit", json!({}), 200).await;
    let mut board = Vec::new();
    for _ in 0..3 {
        board.push(
            s.user(s.provider, Role::CabMember, CustomerScope::All)
                .await,
        );
    }
    // Three members vote at once: each write is based on a read that may be
    // stale by then; the revision refuses it and the vote is cast again.
    let path = format!("/changes/{id}/approve");
    let (a, b, c) = tokio::join!(
        post(s, &path, &board[0], json!({})),
        post(s, &path, &board[1], json!({})),
        post(s, &path, &board[2], json!({})),
    );
    for r in [&a, &b, &c] {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let view = get(s, &format!("/changes/{id}"), &p.viewer).await.body;
    assert_eq!(view["approvals"].as_array().unwrap().len(), 3, "{view}");
    assert_eq!(view["change"]["state"], "approved");
    let audit = s
        .get(
            &format!("/api/v1/audit?target={id}&action=change.approve"),
            &s.admin.token,
        )
        .await;
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 3);
}

pub async fn a_rejection_needs_a_comment_and_a_revision_returns_a_draft(s: &TestServer) {
    let p = people(s).await;
    let id = create(s, &p.manager, p.tenant, new_change(s)).await;
    act(s, &p.manager, &id, "submit", json!({}), 200).await;
    let bare = act(s, &p.cab, &id, "reject", json!({}), 422).await;
    assert!(error(&bare).starts_with("comment"), "{bare}");
    let view = act(
        s,
        &p.cab,
        &id,
        "reject",
        json!({"comment": "no backout test"}),
        200,
    )
    .await;
    assert_eq!(view["change"]["state"], "rejected");
    assert_eq!(view["approval_status"]["comment"], "no backout test");
    // A rejected change cannot be scheduled or amended, only revised.
    act(
        s,
        &p.manager,
        &id,
        "schedule",
        json!({"planned_start": IN_WINDOW}),
        409,
    )
    .await;
    let amend = put(s, &format!("/changes/{id}"), &p.manager, new_change(s)).await;
    assert_eq!(amend.status, 409, "{}", amend.text);
    let view = act(
        s,
        &p.manager,
        &id,
        "revise",
        json!({"comment": "adding a test"}),
        200,
    )
    .await;
    assert_eq!(view["change"]["state"], "draft");
    let mut amended = new_change(s);
    amended["test_evidence"] = json!("Installed on staging, services restarted cleanly.");
    let r = put(s, &format!("/changes/{id}"), &p.manager, amended).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["change"]["test_evidence"],
        "Installed on staging, services restarted cleanly."
    );
    // Submitted again (later: votes count from the latest submission on),
    // the old rejection no longer counts.
    s.clock.advance(jiff::SignedDuration::from_mins(1));
    let view = act(s, &p.manager, &id, "submit", json!({}), 200).await;
    assert_eq!(view["change"]["state"], "submitted");
    assert_eq!(view["approval_status"]["status"], "pending");
    let view = act(s, &p.cab, &id, "approve", json!({}), 200).await;
    // No hosts in group web: nothing outside a window, no downtime.
    assert_eq!(view["change"]["state"], "approved");
    let history: Vec<&str> = view["change"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["action"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["submit", "reject", "revise", "submit", "approve"]);
    // A cancelled change stays cancelled.
    act(
        s,
        &p.manager,
        &id,
        "cancel",
        json!({"comment": "superseded"}),
        200,
    )
    .await;
    act(s, &p.manager, &id, "submit", json!({}), 409).await;
}

pub async fn an_emergency_change_is_expedited_and_reviewed_by_someone_else(s: &TestServer) {
    let p = people(s).await;
    let mut body = new_change(s);
    body["kind"] = json!({"type": "emergency"});
    let id = create(s, &p.manager, p.tenant, body).await;
    // Not submitted to the CAB: expedited, with a reason.
    let refused = act(s, &p.manager, &id, "submit", json!({}), 409).await;
    assert!(error(&refused).contains("cannot submit"), "{refused}");
    act(s, &p.manager, &id, "expedite", json!({}), 422).await;
    let view = act(
        s,
        &p.manager,
        &id,
        "expedite",
        json!({"comment": "actively exploited on our web servers"}),
        200,
    )
    .await;
    assert_eq!(view["change"]["state"], "approved");
    assert_eq!(view["requirements"]["needs"], json!([]));
    assert_eq!(view["review_due"], true);
    let due = get(s, "/changes?review_due=true", &p.cab).await;
    let ids: Vec<&str> = due.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);
    // Nobody votes on it.
    act(s, &p.cab, &id, "approve", json!({}), 409).await;
    // It may be planned outside any window: no customer coordination.
    act(
        s,
        &p.manager,
        &id,
        "schedule",
        json!({"planned_start": OUTSIDE_WINDOW}),
        200,
    )
    .await;
    // Reviewed only once its work is over (here: called off), and not by
    // the one who expedited it.
    act(
        s,
        &p.other_manager,
        &id,
        "review",
        json!({"notes": "early"}),
        409,
    )
    .await;
    act(
        s,
        &p.manager,
        &id,
        "cancel",
        json!({"comment": "patched by the vendor's hotfix"}),
        200,
    )
    .await;
    let still = get(s, "/changes?review_due=true", &p.cab).await;
    assert_eq!(still.body["items"].as_array().unwrap().len(), 1);
    let own = act(
        s,
        &p.manager,
        &id,
        "review",
        json!({"notes": "went fine"}),
        403,
    )
    .await;
    assert!(error(&own).contains("expedited"), "{own}");
    act(
        s,
        &p.other_manager,
        &id,
        "review",
        json!({"notes": ""}),
        422,
    )
    .await;
    let view = act(
        s,
        &p.other_manager,
        &id,
        "review",
        json!({"notes": "Justified: KEV listed; hotfix arrived before the rollout."}),
        200,
    )
    .await;
    assert_eq!(view["change"]["state"], "reviewed");
    assert_eq!(view["review_due"], false);
    let none = get(s, "/changes?review_due=true", &p.cab).await;
    assert_eq!(none.body["items"], json!([]));
}

pub async fn standard_changes_fit_their_template_or_are_refused(s: &TestServer) {
    let p = people(s).await;
    let templates = format!("/tenants/{}/change-templates", p.tenant);
    // Major versions are never pre-approved; ids are unique.
    let bad = put(
        s,
        &templates,
        &p.manager,
        json!([
            {"id": "t1", "name": "Majors", "allowed_classes": ["major"], "max_risk": "low"},
            {"id": "t1", "name": "Again", "allowed_classes": ["security"], "max_risk": "low"}
        ]),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(
        error(&bad.body).contains("[0].allowed_classes"),
        "{}",
        bad.text
    );
    assert!(error(&bad.body).contains("[1].id"), "{}", bad.text);
    let r = put(
        s,
        &templates,
        &p.manager,
        json!([{"id": "monthly-security", "name": "Monthly security patches",
                "allowed_classes": ["security"], "max_risk": "low"}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        get(s, &templates, &p.viewer).await.body[0]["id"],
        "monthly-security"
    );

    let mut body = new_change(s);
    body["kind"] = json!({"type": "standard", "template": "monthly-security"});
    body["backout_plan"] = json!("");
    let id = create(s, &p.manager, p.tenant, body.clone()).await;
    let view = act(s, &p.manager, &id, "submit", json!({}), 200).await;
    assert_eq!(view["change"]["state"], "approved");
    assert!(
        view["change"]["history"][0]["comment"]
            .as_str()
            .unwrap()
            .starts_with("pre-approved by standard change template monthly-security"),
        "{view}"
    );

    // A bug fix does not fit a security template.
    body["patches"][0]["class"] = json!("bugfix");
    let id = create(s, &p.manager, p.tenant, body.clone()).await;
    let refused = act(s, &p.manager, &id, "submit", json!({}), 409).await;
    assert!(
        error(&refused).contains("the template does not allow"),
        "{refused}"
    );
    // Nor does a change riskier than the template allows, or one naming a
    // template the tenant does not have.
    body["patches"][0]["class"] = json!("security");
    body["risk"] = json!("high");
    let id = create(s, &p.manager, p.tenant, body.clone()).await;
    act(s, &p.manager, &id, "submit", json!({}), 409).await;
    body["risk"] = json!("low");
    body["kind"]["template"] = json!("quarterly");
    let id = create(s, &p.manager, p.tenant, body).await;
    let missing = act(s, &p.manager, &id, "submit", json!({}), 409).await;
    assert!(error(&missing).contains("quarterly"), "{missing}");
}

pub async fn a_major_version_is_never_automatic(s: &TestServer) {
    let p = people(s).await;
    let mut body = new_change(s);
    body["title"] = json!("PostgreSQL 15 to 16");
    body["patches"] = json!([
        {"type": "package", "name": "openssl", "version": "3.0.15-1~deb12u1", "class": "security"},
        {"type": "package", "name": "postgresql-16", "version": "16.6-1", "class": "major"}
    ]);
    let id = create(s, &p.manager, p.tenant, body).await;
    let view = get(s, &format!("/changes/{id}"), &p.viewer).await.body;
    assert_eq!(view["update_policy"]["decision"], "refused");
    assert_eq!(
        view["update_policy"]["reasons"],
        json!([{"patch": 1, "label": "postgresql-16 16.6-1", "class": "major", "decision": "refused"}])
    );
    let refused = act(s, &p.manager, &id, "submit", json!({}), 409).await;
    assert!(error(&refused).contains("postgresql-16"), "{refused}");

    // A policy cannot make major versions automatic.
    let path = format!("/tenants/{}/update-policy", p.tenant);
    let mut policy = json!({
        "security": "automatic", "bugfix": "approval", "enhancement": "approval",
        "middleware": "on_order", "major": "automatic"
    });
    let bad = put(s, &path, &p.manager, policy.clone()).await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(error(&bad.body).starts_with("major"), "{}", bad.text);
    // With approval, it is decided by the CAB, never automatic.
    policy["major"] = json!("approval");
    let r = put(s, &path, &p.manager, policy).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let view = get(s, &format!("/changes/{id}"), &p.viewer).await.body;
    assert_eq!(view["update_policy"]["decision"], "needs_approval");
    act(s, &p.manager, &id, "submit", json!({}), 200).await;
    // The security patch alone would be automatic.
    let only_security = create(s, &p.manager, p.tenant, new_change(s)).await;
    let view = get(s, &format!("/changes/{only_security}"), &p.viewer)
        .await
        .body;
    assert_eq!(view["update_policy"]["decision"], "automatic");
    assert_eq!(get(s, &path, &p.viewer).await.body["major"], "approval");
}

pub async fn a_customer_order_becomes_a_draft(s: &TestServer) {
    let p = people(s).await;
    let order = json!({
        "packages": [{"name": "php8.3", "version": "8.3.14-1", "class": "middleware"}],
        "text": "Please upgrade PHP 8.2 to 8.3 on our web servers; our shop needs it."
    });
    // A viewer may not order; an approver orders for their own tenant.
    let r = post(s, "/changes/order", &p.viewer, order.clone()).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let mut elsewhere = order.clone();
    elsewhere["tenant"] = json!(p.stranger.tenant);
    let r = post(s, "/changes/order", &p.approver, elsewhere).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = post(s, "/changes/order", &p.approver, order).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let c = &r.body["change"];
    assert_eq!(c["state"], "draft");
    assert_eq!(c["tenant"], json!(p.tenant));
    assert_eq!(c["requested_by_customer"], true);
    assert_eq!(c["requested_by"], json!(p.approver.id));
    assert_eq!(c["title"], "Customer order: php8.3 8.3.14-1");
    assert_eq!(c["targets"], json!([{"tenant": p.tenant}]));
    // Middleware on the customer's order needs approval, not an order.
    assert_eq!(r.body["update_policy"]["decision"], "needs_approval");
    let listed = get(s, "/changes?state=draft", &p.manager).await;
    assert_eq!(listed.body["items"][0]["requested_by_customer"], true);

    // The provider completes it; it stays the customer's order.
    let mut completed = new_change(s);
    completed["title"] = json!("PHP 8.3 for Acme's web servers");
    completed["patches"] = json!([{"type": "package", "name": "php8.3", "version": "8.3.14-1", "class": "middleware"}]);
    completed["risk"] = json!("medium");
    let r = put(s, &format!("/changes/{id}"), &p.manager, completed.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["change"]["requested_by_customer"], true);
    assert_eq!(r.body["change"]["requested_by"], json!(p.approver.id));
    act(s, &p.manager, &id, "submit", json!({}), 200).await;
    // Four eyes: who ordered it does not approve it; another approver does.
    let own = act(s, &p.approver, &id, "approve", json!({}), 403).await;
    assert!(error(&own).contains("requester"), "{own}");
    let colleague = s
        .user(p.tenant, Role::CustomerApprover, CustomerScope::All)
        .await;
    act(s, &colleague, &id, "approve", json!({}), 200).await;
    let view = act(s, &p.cab, &id, "approve", json!({}), 200).await;
    assert_eq!(view["change"]["state"], "approved");

    // The same upgrade nobody ordered waits for the customer's order.
    let unordered = create(s, &p.manager, p.tenant, completed).await;
    let view = get(s, &format!("/changes/{unordered}"), &p.manager)
        .await
        .body;
    assert_eq!(view["update_policy"]["decision"], "needs_order");
    let refused = act(s, &p.manager, &unordered, "submit", json!({}), 409).await;
    assert!(error(&refused).contains("order"), "{refused}");
    // A provider user records an order received otherwise, naming the tenant.
    let by_phone = json!({
        "packages": [{"name": "php8.3", "version": "8.3.14-1"}],
        "text": "Ordered by phone"
    });
    let r = post(s, "/changes/order", &s.admin, by_phone.clone()).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(error(&r.body).starts_with("tenant"), "{}", r.text);
    let mut named = by_phone;
    named["tenant"] = json!(p.tenant);
    let r = post(s, "/changes/order", &s.admin, named).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bad = post(
        s,
        "/changes/order",
        &p.approver,
        json!({"packages": [{"name": "php8.3", "version": "8.3 beta"}], "text": "x"}),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(
        error(&bad.body).contains("patches[0].version"),
        "{}",
        bad.text
    );
}

fn data(path: &str) -> String {
    format!("{}/../../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// An OSV record of Debian 12 for source package `package`, fixed in
/// `fixed` (never fixed when `None`), with a CVSS 3.1 vector.
fn osv(id: &str, package: &str, fixed: Option<&str>, severity: &str) -> Value {
    let mut events = vec![json!({"introduced": "0"})];
    if let Some(f) = fixed {
        events.push(json!({"fixed": f}));
    }
    json!({
        "schema_version": "1.6.0", "id": id, "modified": "2026-11-01T00:00:00Z",
        "published": "2026-10-01T00:00:00Z", "aliases": [format!("CVE-{id}")],
        "summary": format!("{package} issue"),
        "severity": [{"type": "CVSS_V3", "score": severity}],
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": events}]
        }]
    })
}

const HIGH: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N";
const CRITICAL: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
const LOW: &str = "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N";

pub async fn a_patch_cycle_turns_open_findings_into_a_change(s: &TestServer) {
    let p = people(s).await;
    let status = std::fs::read_to_string(data("inventories/debian12-minbase.dpkg-status")).unwrap();
    for record in [
        osv("DSA-9101-1", "systemd", Some("252.40-1~deb12u1"), HIGH),
        // A later fix of the same package: the patch takes the higher one.
        osv("DSA-9102-1", "systemd", Some("252.41-1~deb12u1"), CRITICAL),
        // Low: not in the cycle's severities.
        osv("DSA-9103-1", "zlib", Some("1:1.3-1"), LOW),
        // High, but no fix yet: skipped, and counted.
        osv("DSA-9104-1", "glibc", None, HIGH),
    ] {
        let r = s
            .raw(
                Method::POST,
                &format!(
                    "/api/v1/advisories/import?name={}.json",
                    record["id"].as_str().unwrap()
                ),
                Some(&s.admin.token),
                Some(&record.to_string()),
                Some("application/octet-stream"),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let import = |name: &'static str| {
        let path = format!(
            "/api/v1/hosts/import?tenant={}&name={name}&format=dpkg-status&os=debian:12",
            p.tenant
        );
        let status = status.clone();
        async move {
            let r = s
                .raw(
                    Method::POST,
                    &path,
                    Some(&s.admin.token),
                    Some(&status),
                    Some("application/octet-stream"),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["host"]["id"].as_str().unwrap().to_owned()
        }
    };
    let pilot = import("pilot1").await;
    let _broad = import("broad1").await;
    let r = s
        .call(
            Method::PUT,
            &format!("/api/v1/hosts/{pilot}/attributes"),
            Some(&s.admin.token),
            Some(json!({"ring": "pilot"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .call(
            Method::POST,
            "/api/v1/assessment",
            Some(&s.admin.token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // What the pilot host's open findings say the cycle must install.
    let findings = s
        .get(
            &format!("/api/v1/hosts/{pilot}/findings?state=open&limit=1000"),
            &s.admin.token,
        )
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .clone();
    let systemd: std::collections::BTreeSet<(String, String)> = findings
        .iter()
        .filter(|f| f["source_package"] == "systemd")
        .map(|f| {
            (
                f["package"].as_str().unwrap().to_owned(),
                f["architecture"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        systemd.contains(&("libsystemd0".to_owned(), "amd64".to_owned())),
        "{systemd:?}"
    );
    let unfixed = findings
        .iter()
        .filter(|f| f["fixed_version"].is_null())
        .count();
    assert!(unfixed > 0, "glibc's advisory has no fix");

    let cycle = format!("/tenants/{}/patch-cycle", p.tenant);
    assert_eq!(get(s, &cycle, &p.viewer).await.body["spec"], Value::Null);
    let r = post(s, &format!("{cycle}/run"), &p.manager, json!({})).await;
    assert_eq!(r.status, 409, "no cycle yet: {}", r.text);
    let spec =
        json!({"every_days": 30, "severities": ["critical", "high"], "kev": true, "ring": "pilot"});
    let r = put(s, &cycle, &p.manager, spec.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["next_run"], s.now().to_string());
    let r = post(s, &format!("{cycle}/run"), &p.manager, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let run = r.body;
    assert_eq!(run["state"], "draft");
    assert_eq!(run["skipped_without_fix"], unfixed);
    assert_eq!(run["advisories"], json!(["DSA-9101-1", "DSA-9102-1"]));
    assert_eq!(run["cycle"]["last_change"], run["change"]);
    let id = run["change"].as_str().unwrap();
    let view = get(s, &format!("/changes/{id}"), &p.viewer).await.body;
    let patches: std::collections::BTreeSet<(String, String, String)> = view["change"]["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["class"], "security");
            (
                p["name"].as_str().unwrap().to_owned(),
                p["arch"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: std::collections::BTreeSet<(String, String, String)> = systemd
        .iter()
        .map(|(n, a)| (n.clone(), a.clone(), "252.41-1~deb12u1".to_owned()))
        .collect();
    assert_eq!(patches, expected);
    assert_eq!(view["change"]["targets"], json!([{"ring": "pilot"}]));
    let description = view["change"]["description"].as_str().unwrap();
    assert!(
        description.contains("DSA-9101-1, DSA-9102-1"),
        "{description}"
    );
    assert!(
        description.contains(&format!("{unfixed} open findings have no fixed version")),
        "{description}"
    );

    // Through a template, the cycle's change is pre-approved.
    let r = put(
        s,
        &format!("/tenants/{}/change-templates", p.tenant),
        &p.manager,
        json!([{"id": "monthly-security", "name": "Monthly security patches",
                "allowed_classes": ["security"], "max_risk": "low"}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut with_template = spec.clone();
    with_template["template"] = json!("nope");
    let r = put(s, &cycle, &p.manager, with_template.clone()).await;
    assert_eq!(r.status, 422, "{}", r.text);
    with_template["template"] = json!("monthly-security");
    with_template["first_run"] = json!(s.now().to_string());
    let r = put(s, &cycle, &p.manager, with_template).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The scheduler runs a due cycle once per period.
    let clock: &dyn rivet_server::clock::Clock = s.clock.as_ref();
    let runs = rivet_server::patch_cycle::run_due_patch_cycles(&s.store, clock)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].state.as_deref(), Some("approved"));
    assert_eq!(runs[0].patches, expected.len());
    let again = rivet_server::patch_cycle::run_due_patch_cycles(&s.store, clock)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let doc = get(s, &cycle, &p.viewer).await.body;
    assert_eq!(
        doc["next_run"],
        (s.now() + jiff::SignedDuration::from_hours(24 * 30)).to_string()
    );
    // Set back to the same due time (as a second replica would see it): the
    // period's change exists already and is not made twice.
    let mut same = spec;
    same["template"] = json!("monthly-security");
    same["first_run"] = json!(s.now().to_string());
    put(s, &cycle, &p.manager, same).await;
    let replay = rivet_server::patch_cycle::run_due_patch_cycles(&s.store, clock)
        .await
        .unwrap();
    assert_eq!(replay.len(), 1);
    assert_eq!(replay[0].change, runs[0].change);
    assert!(replay[0].note.as_deref().unwrap().contains("already"));
    let all = get(s, &format!("/changes?tenant={}", p.tenant), &p.viewer).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
}

pub async fn bad_change_input_is_refused_naming_the_field(s: &TestServer) {
    let p = people(s).await;
    let other = s.customer("Other").await;
    let foreign_host = s.host(other, "theirs").await;
    let before = s.audit_len().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"colour": "red"}), "colour"),
        (json!({"title": ""}), "title"),
        (
            json!({"patches": [{"type": "package", "name": "openssl", "version": "3.0 beta"}]}),
            "patches[0].version",
        ),
        (json!({"risk": "enormous"}), "risk"),
        (
            json!({"schedule": {"earliest_start": "tomorrow"}}),
            "schedule.earliest_start",
        ),
        (json!({"backout_plan": ""}), "backout_plan"),
        (
            json!({"targets": [{"host": foreign_host.to_string()}]}),
            "targets[0].host",
        ),
        (json!({"targets": [{"tenant": other}]}), "targets[0].tenant"),
    ];
    for (patch, field) in cases {
        let mut body = new_change(s);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body["tenant"] = json!(p.tenant);
        let r = post(s, "/changes", &p.manager, body).await;
        assert_eq!(r.status, 422, "{field}: {}", r.text);
        assert_eq!(r.body["error"]["kind"], "invalid");
        assert!(error(&r.body).contains(field), "{field}: {}", r.text);
    }
    // Every wrong field at once.
    let mut body = new_change(s);
    body["tenant"] = json!(p.tenant);
    body["title"] = json!(" ");
    body["patches"][0]["version"] = json!("");
    let r = post(s, "/changes", &p.manager, body).await;
    let message = error(&r.body);
    assert!(
        message.contains("title") && message.contains("patches[0].version"),
        "{message}"
    );
    let r = post(s, "/changes", &p.manager, new_change(s)).await;
    assert!(error(&r.body).starts_with("tenant"), "{}", r.text);
    let r = get(s, "/changes?state=limbo", &p.manager).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = get(s, "/changes/not-a-uuid", &p.manager).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = put(
        s,
        &format!("/tenants/{}/patch-cycle", p.tenant),
        &p.manager,
        json!({"every_days": 0, "severities": ["high"], "ring": "pilot"}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(error(&r.body).starts_with("every_days"), "{}", r.text);
    let r = put(
        s,
        &format!("/tenants/{}/update-policy", p.tenant),
        &p.manager,
        json!({"security": "sometimes"}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(s.audit_len().await, before, "refused input changed nothing");
}

pub async fn changes_from_the_command_line(s: &TestServer) {
    let p = people(s).await;
    let live = crate::cli::Live::start(s).await;
    let dir = tempfile::tempdir().unwrap();
    let as_user = |f: &Fixture| {
        vec![
            ("RIVET_URL".to_owned(), live.url.clone()),
            ("RIVET_TOKEN".to_owned(), f.token.clone()),
        ]
    };
    let run = async |who: &Fixture, args: &[&str]| -> String {
        let env = as_user(who);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        live.ok(args, &env).await
    };
    let mut body = new_change(s);
    body["tenant"] = json!(p.tenant);
    let file = dir.path().join("change.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let created: Value = serde_json::from_str(
        &run(
            &p.manager,
            &[
                "--output",
                "json",
                "changes",
                "create",
                "--file",
                file.to_str().unwrap(),
            ],
        )
        .await,
    )
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let out = run(&p.manager, &["changes", "submit", &id]).await;
    assert_eq!(
        out.trim(),
        format!("change {id} is submitted; waiting for CAB 0/1")
    );
    let out = run(&p.cab, &["changes", "approve", &id, "--comment", "ok"]).await;
    assert_eq!(out.trim(), format!("change {id} is approved"));
    let out = run(&p.manager, &["changes", "schedule", &id, "--at", IN_WINDOW]).await;
    assert_eq!(out.trim(), format!("change {id} is scheduled"));
    let out = run(&p.viewer, &["changes", "list"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID"), "{out}");
    assert!(
        lines[1].contains(&id) && lines[1].contains("scheduled"),
        "{out}"
    );
    let out = run(&p.viewer, &["changes", "show", &id]).await;
    assert!(out.contains("OpenSSL security update"), "{out}");
    assert!(out.contains("openssl 3.0.15-1~deb12u1 (security)"), "{out}");
    assert!(
        out.contains("history  ") && out.contains("approve submitted → approved"),
        "{out}"
    );
    // A refusal is an error saying why.
    let env = as_user(&p.cab);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let refused = live
        .rivet(&["changes", "reject", &id, "--comment", "late"], &env)
        .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("409"));

    let out = run(
        &p.approver,
        &[
            "changes",
            "order",
            "--package",
            "php8.3=8.3.14-1",
            "--class",
            "middleware",
            "--text",
            "PHP 8.3 please",
        ],
    )
    .await;
    assert!(out.contains("is draft"), "{out}");
    let out = run(
        &p.manager,
        &["--output", "json", "changes", "list", "--state", "draft"],
    )
    .await;
    let drafts: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(drafts[0]["requested_by_customer"], true);

    let tenant = p.tenant.to_string();
    let templates = dir.path().join("templates.json");
    std::fs::write(
        &templates,
        json!([{"id": "monthly-security", "name": "Monthly", "allowed_classes": ["security"], "max_risk": "low"}]).to_string(),
    )
    .unwrap();
    let out = run(
        &p.manager,
        &[
            "changes",
            "templates",
            "set",
            &tenant,
            "--file",
            templates.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.contains("monthly-security"), "{out}");
    let cycle = dir.path().join("cycle.json");
    std::fs::write(
        &cycle,
        json!({"every_days": 30, "severities": ["critical", "high"], "ring": "pilot", "template": "monthly-security"}).to_string(),
    )
    .unwrap();
    let out = run(
        &p.manager,
        &[
            "changes",
            "patch-cycle",
            "set",
            &tenant,
            "--file",
            cycle.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        out.contains("monthly-security") && out.contains("next run"),
        "{out}"
    );
    let out = run(&p.manager, &["changes", "patch-cycle", "run", &tenant]).await;
    assert_eq!(out.trim(), "nothing to patch");

    let approval = dir.path().join("approval.json");
    std::fs::write(
        &approval,
        json!({"cab_quorum": 2, "customer": "always"}).to_string(),
    )
    .unwrap();
    let out = run(
        &p.manager,
        &[
            "policies",
            "set",
            &tenant,
            "--approval",
            approval.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        out.lines()
            .any(|l| l.starts_with("cab quorum") && l.trim_end().ends_with(" 2")),
        "{out}"
    );
    let out = run(
        &p.viewer,
        &["--output", "json", "policies", "show", &tenant],
    )
    .await;
    let both: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(both["approval"]["customer"], "always");
    assert_eq!(both["update"]["major"], "never");
    live.stop();
}

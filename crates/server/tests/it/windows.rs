//! Maintenance windows, freezes, the calendar and ring plans (issue 7,
//! RLO-1, RLO-2) through the API and the command line: a Berlin window
//! opens at the right UTC instants across both daylight-saving changes, a
//! freeze pushes a host to its following opening, a host's windows follow
//! its groups and its `maintenance_window` attribute, bad input is refused
//! naming the field, and other tenants see nothing.

use axum::http::Method;
use jiff::SignedDuration;
use rivet_change::change::{ChangeId, ChangeKind, NewChange, Order, Patch, Risk, Schedule, Target};
use rivet_core::Timestamp;
use rivet_core::access::{CustomerScope, Role};
use rivet_core::audit::Actor;
use rivet_core::id::TenantId;
use rivet_store::StoredChange;
use serde_json::{Value, json};

use crate::harness::{Reply, TestServer, only, rnd};

/// The window every test uses: Sundays 02:00 to 04:00 in Berlin, from the
/// first Sunday after the harness's start (Monday 2026-11-23).
fn sunday_night() -> Value {
    json!({
        "name": "sunday-night", "time_zone": "Europe/Berlin", "start": "2026-11-29T02:00",
        "rrule": "FREQ=WEEKLY;BYDAY=SU", "duration": "2h",
    })
}

async fn create_window(
    s: &TestServer,
    tenant: TenantId,
    group: Option<&str>,
    spec: Value,
) -> Reply {
    s.call(
        Method::POST,
        "/api/v1/windows",
        Some(&s.admin.token),
        Some(json!({"tenant": tenant, "group": group, "spec": spec})),
    )
    .await
}

async fn window(s: &TestServer, tenant: TenantId, group: Option<&str>, spec: Value) -> String {
    let r = create_window(s, tenant, group, spec).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The start instants of a list of occurrences.
fn starts(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o["start"].as_str().unwrap())
        .collect()
}

async fn set_attributes(s: &TestServer, host: &str, attributes: Value) {
    let r = s
        .call(
            Method::PUT,
            &format!("/api/v1/hosts/{host}/attributes"),
            Some(&s.admin.token),
            Some(attributes),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn host_windows(s: &TestServer, host: &str, token: &str) -> Reply {
    s.get(&format!("/api/v1/hosts/{host}/windows"), token).await
}

async fn freeze(
    s: &TestServer,
    tenant: Option<TenantId>,
    start: &str,
    end: &str,
    reason: &str,
) -> String {
    let r = s
        .call(
            Method::POST,
            "/api/v1/freezes",
            Some(&s.admin.token),
            Some(json!({"tenant": tenant, "start": start, "end": end, "reason": reason})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A normal change of `tenant`, approved and scheduled for `planned`, stored
/// as the change API stores it: the engine's document.
async fn scheduled_change(
    s: &TestServer,
    tenant: TenantId,
    title: &str,
    planned: Timestamp,
) -> String {
    let at = s.now();
    let by = s.admin.id;
    let new = NewChange {
        kind: ChangeKind::Normal,
        title: title.into(),
        description: String::new(),
        patches: vec![Patch::Package {
            name: "openssl".into(),
            version: "3.0.13-1~deb12u1".into(),
            arch: None,
            class: None,
        }],
        targets: vec![Target::Group("web".into())],
        schedule: Schedule {
            earliest_start: at,
            deadline: None,
        },
        risk: Risk::Low,
        impact: String::new(),
        expected_downtime: SignedDuration::ZERO,
        backout_plan: "reinstall the previous version".into(),
        test_evidence: String::new(),
        order: Order::DependenciesFirst,
        requested_by_customer: false,
    };
    let id = ChangeId::new(at, rnd());
    let mut change = new.validate(id, tenant, by, at).unwrap();
    change.submit(at, by, None, "").unwrap();
    change.approve(at, by, "").unwrap();
    change.schedule(at, by, planned, "").unwrap();
    let stored = StoredChange {
        id: id.to_string(),
        tenant_id: tenant,
        kind: "normal".into(),
        state: change.state().as_str().into(),
        title: title.into(),
        review_due: false,
        created_at: at,
        updated_at: at,
        revision: 1,
        body: serde_json::to_value(&change).unwrap(),
    };
    s.store
        .create_change(&stored, &Actor::system(), at)
        .await
        .unwrap();
    id.to_string()
}

pub async fn windows_open_at_the_right_instants_across_daylight_saving(s: &TestServer) {
    let a = s.customer("Berlin").await;
    let created = create_window(s, a, None, sunday_night()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["spec"]["time_zone"], "Europe/Berlin");
    assert_eq!(created.body["tenant_id"], a.to_string());
    let id = created.body["id"].as_str().unwrap();

    // From now (Monday 2026-11-23): the next five Sundays, 02:00 CET is 01:00 UTC.
    let shown = s
        .get(&format!("/api/v1/windows/{id}"), &s.admin.token)
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(
        starts(&shown.body["next"]),
        [
            "2026-11-29T01:00:00Z",
            "2026-12-06T01:00:00Z",
            "2026-12-13T01:00:00Z",
            "2026-12-20T01:00:00Z",
            "2026-12-27T01:00:00Z"
        ]
    );
    let first = &shown.body["next"][0];
    assert_eq!(first["end"], "2026-11-29T03:00:00Z");
    assert_eq!(
        first["local_start"],
        "2026-11-29T02:00:00+01:00[Europe/Berlin]"
    );
    assert_eq!(first["cancelled"], Value::Null);

    // Spring, 2027-03-28: 02:00 does not exist in Berlin. RFC 5545 reads it
    // with the offset before the gap: 03:00 CEST, still 01:00 UTC; the
    // window lasts two hours of elapsed time. A week later 02:00 CEST is
    // 00:00 UTC.
    let spring = s
        .get(
            &format!("/api/v1/windows/{id}?after=2027-03-15T00:00:00Z&count=3"),
            &s.admin.token,
        )
        .await;
    assert_eq!(
        starts(&spring.body["next"]),
        [
            "2027-03-21T01:00:00Z",
            "2027-03-28T01:00:00Z",
            "2027-04-04T00:00:00Z"
        ]
    );
    let gap = &spring.body["next"][1];
    assert_eq!(gap["end"], "2027-03-28T03:00:00Z");
    assert_eq!(
        gap["local_start"],
        "2027-03-28T03:00:00+02:00[Europe/Berlin]"
    );
    assert_eq!(gap["local_end"], "2027-03-28T05:00:00+02:00[Europe/Berlin]");
    assert_eq!(
        spring.body["next"][2]["local_start"],
        "2027-04-04T02:00:00+02:00[Europe/Berlin]"
    );

    // Autumn, 2027-10-31: 02:00 happens twice; the first (CEST) counts.
    let autumn = s
        .get(
            &format!("/api/v1/windows/{id}?after=2027-10-20T00:00:00Z&count=3"),
            &s.admin.token,
        )
        .await;
    assert_eq!(
        starts(&autumn.body["next"]),
        [
            "2027-10-24T00:00:00Z",
            "2027-10-31T00:00:00Z",
            "2027-11-07T01:00:00Z"
        ]
    );
    assert_eq!(
        autumn.body["next"][1]["local_start"],
        "2027-10-31T02:00:00+02:00[Europe/Berlin]"
    );

    // The same through a host of the tenant that names no window: the
    // tenant's default.
    let host = s.host(a, "web1").await.to_string();
    let next = s
        .get(
            &format!("/api/v1/hosts/{host}/windows?after=2027-03-27T12:00:00Z"),
            &s.admin.token,
        )
        .await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert_eq!(next.body["next_opening"]["start"], "2027-03-28T01:00:00Z");
    assert_eq!(next.body["next_opening"]["end"], "2027-03-28T03:00:00Z");
    assert_eq!(
        next.body["next_opening"]["windows"],
        json!(["sunday-night"])
    );
    assert_eq!(next.body["windows"][0]["applies_by"], "tenant_default");
    assert_eq!(next.body["reason"], Value::Null);

    let listed = s
        .get(&format!("/api/v1/windows?tenant={a}"), &s.admin.token)
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let audit = s.get("/api/v1/audit?action=window.", &s.admin.token).await;
    assert_eq!(audit.body["items"][0]["action"], "window.create");

    let deleted = s
        .call(
            Method::DELETE,
            &format!("/api/v1/windows/{id}"),
            Some(&s.admin.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(
        s.get(&format!("/api/v1/windows/{id}"), &s.admin.token)
            .await
            .status,
        404
    );
}

pub async fn bad_windows_are_refused_naming_the_field(s: &TestServer) {
    let a = s.customer("Typos").await;
    window(s, a, None, sunday_night()).await;
    let before = s.audit_len().await;
    let with = |field: &str, value: Value| {
        let mut spec = sunday_night();
        spec["name"] = json!("another");
        spec[field] = value;
        spec
    };
    for (spec, status, starts_with) in [
        (with("rrule", json!("FREQ=WEEKLY;BYDAY=XX")), 422, "rrule: "),
        (with("rrule", json!("FREQ=HOURLY")), 422, "rrule: "),
        (with("rrule", json!("x".repeat(2000))), 422, "rrule: "),
        (with("time_zone", json!("Europe/Berln")), 422, "time_zone: "),
        (with("duration", json!("-2h")), 422, "duration: "),
        (with("duration", json!("170h")), 422, "duration: "),
        (with("name", json!("two words")), 422, "name: "),
        (sunday_night(), 409, "the tenant already has a window named"),
    ] {
        let r = create_window(s, a, None, spec.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{spec}: {}", r.text);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(starts_with), "{spec}: {message}");
    }
    // A duration that is not one at all fails while reading the body; the
    // message still names the field.
    let r = create_window(s, a, None, with("duration", json!("two hours"))).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("spec.duration"),
        "{}",
        r.text
    );
    let r = create_window(s, a, Some("not a label"), with("name", json!("grouped"))).await;
    assert_eq!(r.status, 422);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("group: ")
    );
    // Freezes: end before start, no reason, already over.
    for (start, end, reason, field) in [
        ("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z", "x", "end: "),
        (
            "2026-12-01T00:00:00Z",
            "2026-12-02T00:00:00Z",
            " ",
            "reason: ",
        ),
        (
            "2026-11-01T00:00:00Z",
            "2026-11-02T00:00:00Z",
            "past",
            "end: ",
        ),
    ] {
        let r = s
            .call(
                Method::POST,
                "/api/v1/freezes",
                Some(&s.admin.token),
                Some(json!({"tenant": a, "start": start, "end": end, "reason": reason})),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{}",
            r.text
        );
    }
    let r = s
        .get(
            &format!(
                "/api/v1/calendar?tenant={a}&from=2026-12-01T00:00:00Z&to=2027-03-15T00:00:00Z"
            ),
            &s.admin.token,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("92 days")
    );
    assert_eq!(s.audit_len().await, before, "refused input changed nothing");
}

pub async fn a_freeze_pushes_a_host_to_its_following_opening(s: &TestServer) {
    let a = s.customer("Frozen").await;
    let other = s.customer("Elsewhere").await;
    window(s, a, None, sunday_night()).await;
    let host = s.host(a, "db1").await.to_string();
    let before = host_windows(s, &host, &s.admin.token).await;
    assert_eq!(before.body["next_opening"]["start"], "2026-11-29T01:00:00Z");
    assert_eq!(before.body["cancelled"], json!([]));

    // Another tenant's freeze changes nothing here.
    freeze(
        s,
        Some(other),
        "2026-11-28T00:00:00Z",
        "2026-11-30T00:00:00Z",
        "not ours",
    )
    .await;
    let f = freeze(
        s,
        Some(a),
        "2026-11-28T00:00:00Z",
        "2026-11-29T02:00:00Z",
        "year-end closing",
    )
    .await;
    let after = host_windows(s, &host, &s.admin.token).await;
    assert_eq!(
        after.body["next_opening"]["start"], "2026-12-06T01:00:00Z",
        "{}",
        after.text
    );
    assert_eq!(after.body["cancelled"][0]["start"], "2026-11-29T01:00:00Z");
    assert_eq!(
        after.body["cancelled"][0]["cancelled"]["reason"],
        "year-end closing"
    );
    assert_eq!(
        after.body["cancelled"][0]["cancelled"]["freeze_id"],
        f.as_str()
    );
    // The window's own view marks the cancelled occurrence.
    let listed = s
        .get(&format!("/api/v1/windows?tenant={a}"), &s.admin.token)
        .await;
    let id = listed.body["items"][0]["id"].as_str().unwrap();
    let shown = s
        .get(&format!("/api/v1/windows/{id}"), &s.admin.token)
        .await;
    assert_eq!(
        shown.body["next"][0]["cancelled"]["reason"],
        "year-end closing"
    );
    assert_eq!(shown.body["next"][1]["cancelled"], Value::Null);

    // A freeze for every tenant, declared by a provider user who sees them
    // all, holds here too; one who sees some customers may not declare one.
    let global = freeze(
        s,
        None,
        "2026-12-05T00:00:00Z",
        "2026-12-07T00:00:00Z",
        "data centre move",
    )
    .await;
    let pushed = host_windows(s, &host, &s.admin.token).await;
    assert_eq!(pushed.body["next_opening"]["start"], "2026-12-13T01:00:00Z");
    let limited = s.user(s.provider, Role::ChangeManager, only(&[a])).await;
    let refused = s
        .call(
            Method::POST,
            "/api/v1/freezes",
            Some(&limited.token),
            Some(json!({"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z", "reason": "x"})),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let refused = s
        .call(
            Method::DELETE,
            &format!("/api/v1/freezes/{global}"),
            Some(&limited.token),
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    // The customer sees its own freeze and the one for every tenant, not
    // the other tenant's.
    let viewer = s.user(a, Role::CustomerViewer, CustomerScope::All).await;
    let seen = s.get("/api/v1/freezes", &viewer.token).await;
    let reasons: Vec<&str> = seen.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["year-end closing", "data centre move"]);

    // Lifting both freezes opens the first Sunday again.
    for id in [&f, &global] {
        let r = s
            .call(
                Method::DELETE,
                &format!("/api/v1/freezes/{id}"),
                Some(&s.admin.token),
                None,
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    let lifted = host_windows(s, &host, &s.admin.token).await;
    assert_eq!(lifted.body["next_opening"]["start"], "2026-11-29T01:00:00Z");
    let audit = s.get("/api/v1/audit?action=freeze.", &s.admin.token).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "freeze.create",
            "freeze.create",
            "freeze.create",
            "freeze.delete",
            "freeze.delete"
        ]
    );
}

pub async fn host_windows_follow_groups_and_the_attribute(s: &TestServer) {
    let a = s.customer("Grouped").await;
    window(s, a, None, sunday_night()).await;
    let mut saturday = sunday_night();
    saturday["name"] = json!("saturday");
    saturday["start"] = json!("2026-11-28T20:00");
    saturday["rrule"] = json!("FREQ=WEEKLY;BYDAY=SA");
    window(s, a, None, saturday).await;
    let mut wednesday = sunday_night();
    wednesday["name"] = json!("web-wednesday");
    wednesday["start"] = json!("2026-11-25T22:00");
    wednesday["rrule"] = json!("FREQ=WEEKLY;BYDAY=WE");
    window(s, a, Some("web"), wednesday).await;
    // The listing pages by tenant and name.
    let first = s
        .get(
            &format!("/api/v1/windows?tenant={a}&limit=2"),
            &s.admin.token,
        )
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = s
        .get(
            &format!("/api/v1/windows?tenant={a}&limit=2&after={cursor}"),
            &s.admin.token,
        )
        .await;
    let listed: Vec<&Value> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.body["items"].as_array().unwrap())
        .map(|w| &w["name"])
        .collect();
    assert_eq!(listed, ["saturday", "sunday-night", "web-wednesday"]);
    assert_eq!(rest.body["next_cursor"], Value::Null);

    let host = s.host(a, "web1").await.to_string();
    let names = |r: &Reply| -> Vec<(String, String)> {
        r.body["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["name"].as_str().unwrap().to_owned(),
                    w["applies_by"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pair = |n: &str, by: &str| (n.to_owned(), by.to_owned());

    // No attribute, no group: the tenant's default windows (those for no
    // group); the Saturday one opens first.
    let r = host_windows(s, &host, &s.admin.token).await;
    assert_eq!(
        names(&r),
        [
            pair("saturday", "tenant_default"),
            pair("sunday-night", "tenant_default")
        ]
    );
    assert_eq!(r.body["next_opening"]["start"], "2026-11-28T19:00:00Z");

    // In group web: its group's window only.
    set_attributes(s, &host, json!({"groups": ["web"]})).await;
    let r = host_windows(s, &host, &s.admin.token).await;
    assert_eq!(names(&r), [pair("web-wednesday", "group")]);
    assert_eq!(r.body["next_opening"]["start"], "2026-11-25T21:00:00Z");
    assert_eq!(
        r.body["next_opening"]["local_start"],
        "2026-11-25T22:00:00+01:00[Europe/Berlin]"
    );

    // The group's window and the one its attribute names.
    set_attributes(
        s,
        &host,
        json!({"groups": ["web"], "maintenance_window": "saturday"}),
    )
    .await;
    let r = host_windows(s, &host, &s.admin.token).await;
    assert_eq!(
        names(&r),
        [
            pair("saturday", "maintenance_window"),
            pair("web-wednesday", "group")
        ]
    );
    assert_eq!(r.body["next_opening"]["start"], "2026-11-25T21:00:00Z");
    let r = s
        .get(
            &format!("/api/v1/hosts/{host}/windows?after=2026-11-26T00:00:00Z"),
            &s.admin.token,
        )
        .await;
    assert_eq!(r.body["next_opening"]["start"], "2026-11-28T19:00:00Z");
    assert_eq!(r.body["next_opening"]["windows"], json!(["saturday"]));

    // An attribute that names no window: no window at all, and why.
    set_attributes(s, &host, json!({"maintenance_window": "nope"})).await;
    let r = host_windows(s, &host, &s.admin.token).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["windows"], json!([]));
    assert_eq!(r.body["next_opening"], Value::Null);
    assert!(
        r.body["reason"].as_str().unwrap().contains("\"nope\""),
        "{}",
        r.text
    );

    // A tenant without windows: no default either.
    let bare = s.customer("Bare").await;
    let lonely = s.host(bare, "lonely").await.to_string();
    let r = host_windows(s, &lonely, &s.admin.token).await;
    assert_eq!(r.body["next_opening"], Value::Null);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("no default window"),
        "{}",
        r.text
    );
}

pub async fn tenants_and_roles_are_kept_apart(s: &TestServer) {
    let a = s.customer("Own").await;
    let b = s.customer("Foreign").await;
    let id = window(s, a, None, sunday_night()).await;
    let host = s.host(a, "a1").await.to_string();
    let stranger = s.user(b, Role::CustomerApprover, CustomerScope::All).await;
    for path in [
        format!("/api/v1/windows/{id}"),
        format!("/api/v1/hosts/{host}/windows"),
        format!("/api/v1/calendar?tenant={a}"),
        format!("/api/v1/tenants/{a}/ring-plan"),
    ] {
        let r = s.get(&path, &stranger.token).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(r.body["error"]["kind"], "not_found");
    }
    let r = s
        .get(&format!("/api/v1/windows?tenant={a}"), &stranger.token)
        .await;
    assert_eq!(r.body["items"], json!([]));
    let r = s.get("/api/v1/windows", &stranger.token).await;
    assert_eq!(r.body["items"], json!([]));

    // The customer's viewer reads its windows but changes nothing.
    let viewer = s.user(a, Role::CustomerViewer, CustomerScope::All).await;
    for path in [
        format!("/api/v1/windows/{id}"),
        format!("/api/v1/hosts/{host}/windows"),
        format!("/api/v1/calendar?tenant={a}"),
        format!("/api/v1/tenants/{a}/ring-plan"),
        "/api/v1/freezes".to_owned(),
    ] {
        let r = s.get(&path, &viewer.token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    let before = s.audit_len().await;
    let mut spec = sunday_night();
    spec["name"] = json!("mine");
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/windows".to_owned(),
            Some(json!({"tenant": a, "spec": spec})),
        ),
        (Method::DELETE, format!("/api/v1/windows/{id}"), None),
        (
            Method::POST,
            "/api/v1/freezes".to_owned(),
            Some(
                json!({"tenant": a, "start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z", "reason": "x"}),
            ),
        ),
        (
            Method::PUT,
            format!("/api/v1/tenants/{a}/ring-plan"),
            Some(json!([{"name": "all"}])),
        ),
    ] {
        let r = s
            .call(method.clone(), &path, Some(&viewer.token), body)
            .await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("change:")
        );
    }
    assert_eq!(s.audit_len().await, before);
}

pub async fn ring_plans_round_trip_and_count_hosts(s: &TestServer) {
    let a = s.customer("Ringed").await;
    let other = s.customer("Other").await;
    let pilot = s.host(a, "pilot1").await;
    let web = s.host(a, "web1").await.to_string();
    let canary = s.host(a, "canary1").await.to_string();
    let broad = s.host(a, "broad1").await.to_string();
    let foreign = s.host(other, "theirs").await;
    set_attributes(s, &web, json!({"groups": ["web"]})).await;
    set_attributes(s, &canary, json!({"ring": "canary"})).await;
    set_attributes(s, &broad, json!({"ring": "broad"})).await;
    let path = format!("/api/v1/tenants/{a}/ring-plan");

    // Unset: one ring, `broad`, holding every host but the one that names
    // a ring the plan lacks.
    let r = s.get(&path, &s.admin.token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["default"], true);
    assert_eq!(r.body["plan"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["plan"][0]["name"], "broad");
    assert_eq!(
        r.body["hosts_per_ring"],
        json!([{"ring": "broad", "hosts": 3}])
    );
    assert_eq!(r.body["unknown_ring"][0]["ring"], "canary");

    let plan = json!([
        {"name": "pilot", "hosts": [pilot], "soak": "72h"},
        {"name": "web", "groups": ["web"], "failure_threshold": {"percent": 10}, "max_in_flight": 5},
        {"name": "broad", "failure_threshold": {"hosts": 3}},
    ]);
    let put = s
        .call(Method::PUT, &path, Some(&s.admin.token), Some(plan))
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let got = s.get(&path, &s.admin.token).await;
    assert_eq!(got.body["default"], false);
    assert_eq!(got.body["plan"], put.body["plan"]);
    assert_eq!(got.body["plan"][0]["hosts"], json!([pilot.to_string()]));
    assert_eq!(
        got.body["plan"][1]["failure_threshold"],
        json!({"percent": 10})
    );
    assert_eq!(got.body["plan"][1]["max_in_flight"], 5);
    assert_eq!(
        got.body["hosts_per_ring"],
        json!([{"ring": "pilot", "hosts": 1}, {"ring": "web", "hosts": 1}, {"ring": "broad", "hosts": 1}])
    );
    assert_eq!(got.body["unknown_ring"][0]["host_id"], canary.as_str());
    // What GET shows, PUT takes back unchanged.
    let again = s
        .call(
            Method::PUT,
            &path,
            Some(&s.admin.token),
            Some(got.body["plan"].clone()),
        )
        .await;
    assert_eq!(again.body["plan"], got.body["plan"]);

    let before = s.audit_len().await;
    for (plan, starts_with) in [
        (
            json!([{"name": "pilot", "hosts": [pilot]}, {"name": "pilot"}]),
            "name: ",
        ),
        (json!([]), "rings: "),
        (json!([{"name": "pilot"}, {"name": "broad"}]), "hosts: "),
        (
            json!([{"name": "pilot", "hosts": [foreign]}, {"name": "broad"}]),
            "hosts: ",
        ),
        (json!([{"name": "broad", "soak": "2400h"}]), "soak: "),
    ] {
        let r = s
            .call(Method::PUT, &path, Some(&s.admin.token), Some(plan.clone()))
            .await;
        assert_eq!(r.status, 422, "{plan}: {}", r.text);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(starts_with), "{plan}: {message}");
    }
    let r = s
        .call(
            Method::PUT,
            &path,
            Some(&s.admin.token),
            Some(json!([{"name": "x", "colour": "red"}])),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(s.audit_len().await, before);
    let audit = s
        .get("/api/v1/audit?action=tenant.ring_plan", &s.admin.token)
        .await;
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 2);
}

pub async fn the_calendar_shows_openings_cancellations_and_changes(s: &TestServer) {
    let a = s.customer("Planned").await;
    let other = s.customer("Unplanned").await;
    window(s, a, None, sunday_night()).await;
    let mut web = sunday_night();
    web["name"] = json!("web-wednesday");
    web["start"] = json!("2026-11-25T22:00");
    web["rrule"] = json!("FREQ=WEEKLY;BYDAY=WE");
    web["time_zone"] = json!("America/New_York");
    window(s, a, Some("web"), web).await;
    freeze(
        s,
        Some(a),
        "2026-12-05T12:00:00Z",
        "2026-12-06T12:00:00Z",
        "release weekend",
    )
    .await;
    let planned: Timestamp = "2026-12-13T01:30:00Z".parse().unwrap();
    let change = scheduled_change(s, a, "OpenSSL security update", planned).await;
    scheduled_change(s, a, "Too late", "2027-02-01T01:00:00Z".parse().unwrap()).await;
    scheduled_change(s, other, "Not this tenant", planned).await;

    let r = s
        .get(
            &format!(
                "/api/v1/calendar?tenant={a}&from=2026-11-23T00:00:00Z&to=2026-12-14T00:00:00Z"
            ),
            &s.admin.token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let windows = r.body["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 2);
    let sunday = windows
        .iter()
        .find(|w| w["name"] == "sunday-night")
        .unwrap();
    assert_eq!(
        starts(&sunday["occurrences"]),
        [
            "2026-11-29T01:00:00Z",
            "2026-12-06T01:00:00Z",
            "2026-12-13T01:00:00Z"
        ]
    );
    assert_eq!(sunday["occurrences"][0]["cancelled"], Value::Null);
    assert_eq!(
        sunday["occurrences"][1]["cancelled"]["reason"],
        "release weekend"
    );
    assert_eq!(sunday["occurrences"][2]["cancelled"], Value::Null);
    let wednesday = windows
        .iter()
        .find(|w| w["name"] == "web-wednesday")
        .unwrap();
    assert_eq!(wednesday["group"], "web");
    // 22:00 in New York (EST, UTC-5) is 03:00 UTC the next day.
    assert_eq!(
        starts(&wednesday["occurrences"]),
        [
            "2026-11-26T03:00:00Z",
            "2026-12-03T03:00:00Z",
            "2026-12-10T03:00:00Z"
        ]
    );
    assert_eq!(
        wednesday["occurrences"][0]["local_start"],
        "2026-11-25T22:00:00-05:00[America/New_York]"
    );
    assert_eq!(r.body["freezes"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["freezes"][0]["reason"], "release weekend");
    assert_eq!(
        r.body["changes"],
        json!([{"id": change, "title": "OpenSSL security update", "state": "scheduled",
                "planned_start": "2026-12-13T01:30:00Z"}])
    );

    // The default range is 31 days from now.
    let r = s
        .get(&format!("/api/v1/calendar?tenant={a}"), &s.admin.token)
        .await;
    assert_eq!(r.body["from"], "2026-11-23T10:00:00Z");
    assert_eq!(r.body["to"], "2026-12-24T10:00:00Z");
}

pub async fn windows_are_managed_from_the_command_line(s: &TestServer) {
    let a = s.customer("Cli").await;
    let tenant = a.to_string();
    let host = s.host(a, "cli1").await.to_string();
    let live = crate::cli::Live::start(s).await;
    let env = [
        ("RIVET_URL", live.url.as_str()),
        ("RIVET_TOKEN", s.admin.token.as_str()),
    ];
    let created = live
        .ok(
            &[
                "--output",
                "json",
                "windows",
                "create",
                "--tenant",
                &tenant,
                "--name",
                "sunday-night",
                "--time-zone",
                "Europe/Berlin",
                "--start",
                "2026-11-29T02:00",
                "--rrule",
                "FREQ=WEEKLY;BYDAY=SU",
                "--duration",
                "2h",
            ],
            &env,
        )
        .await;
    let created: Value = serde_json::from_str(&created).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let listed = live
        .ok(&["windows", "list", "--tenant", &tenant], &env)
        .await;
    assert!(
        listed.contains("sunday-night") && listed.contains("FREQ=WEEKLY;BYDAY=SU"),
        "{listed}"
    );
    let shown = live
        .ok(
            &[
                "windows",
                "show",
                &id,
                "--after",
                "2027-03-27",
                "--count",
                "2",
            ],
            &env,
        )
        .await;
    assert!(shown.contains("2027-03-28T01:00:00Z"), "{shown}");
    assert!(
        shown.contains("2027-03-28T03:00:00+02:00[Europe/Berlin]"),
        "{shown}"
    );

    let frozen = live
        .ok(
            &[
                "--output",
                "json",
                "freezes",
                "create",
                "--tenant",
                &tenant,
                "--start",
                "2026-11-28",
                "--end",
                "2026-11-30",
                "--reason",
                "year-end closing",
            ],
            &env,
        )
        .await;
    let frozen: Value = serde_json::from_str(&frozen).unwrap();
    assert_eq!(frozen["start"], "2026-11-28T00:00:00Z");
    let freezes = live
        .ok(&["freezes", "list", "--tenant", &tenant], &env)
        .await;
    assert!(freezes.contains("year-end closing"), "{freezes}");
    let next = live.ok(&["windows", "next", "--host", &host], &env).await;
    assert!(
        next.contains("next opening  2026-12-06T01:00:00Z"),
        "{next}"
    );
    assert!(next.contains("sunday-night (tenant default)"), "{next}");
    assert!(next.contains("year-end closing"), "{next}");
    let cal = live
        .ok(
            &[
                "calendar",
                "--tenant",
                &tenant,
                "--from",
                "2026-11-23",
                "--to",
                "2026-12-14",
            ],
            &env,
        )
        .await;
    assert!(
        cal.contains("cancelled") && cal.contains("frozen: year-end closing"),
        "{cal}"
    );
    assert_eq!(cal.matches("window").count(), 2, "{cal}");

    let plan = live.home.join("plan.json");
    std::fs::write(
        &plan,
        json!([{"name": "pilot", "hosts": [host]}, {"name": "broad"}]).to_string(),
    )
    .unwrap();
    let set = live
        .ok(
            &["rings", "set", &tenant, "--file", plan.to_str().unwrap()],
            &env,
        )
        .await;
    assert!(set.contains("pilot") && set.contains("broad"), "{set}");
    let shown = live
        .ok(&["--output", "json", "rings", "show", &tenant], &env)
        .await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown["hosts_per_ring"][0],
        json!({"ring": "pilot", "hosts": 1})
    );
    // What `rings show --output json` printed is a plan `rings set` takes.
    std::fs::write(&plan, shown.to_string()).unwrap();
    live.ok(
        &["rings", "set", &tenant, "--file", plan.to_str().unwrap()],
        &env,
    )
    .await;

    let bad = live
        .rivet(
            &[
                "windows",
                "create",
                "--tenant",
                &tenant,
                "--name",
                "bad",
                "--time-zone",
                "Europe/Berln",
                "--start",
                "2026-11-29T02:00",
                "--rrule",
                "FREQ=WEEKLY",
                "--duration",
                "2h",
            ],
            &env,
        )
        .await;
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("422") && stderr.contains("time_zone: "),
        "{stderr}"
    );
    let bad = live
        .rivet(
            &[
                "freezes", "create", "--start", "soon", "--end", "later", "--reason", "x",
            ],
            &env,
        )
        .await;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--start"));

    let freeze_id = frozen["id"].as_str().unwrap();
    live.ok(&["freezes", "delete", freeze_id], &env).await;
    live.ok(&["windows", "delete", &id], &env).await;
    let gone = live
        .ok(&["--output", "json", "windows", "list"], &env)
        .await;
    assert_eq!(gone.trim(), "[]");
    live.stop();
}

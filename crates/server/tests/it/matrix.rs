//! Tenant isolation, proven for every route the OpenAPI document lists (so
//! a route added later is covered, or this test fails asking for a
//! fixture): every route × every role × a record of the caller's own tenant
//! and one of a foreign tenant.
//!
//! The expectations follow from the rules, not from a table of answers:
//! a role (token) without the route's scope gets 403; with it, its own
//! tenant's record succeeds and a foreign one is 404; listings show only
//! visible tenants; and a refused or read-only call leaves the audit chain
//! exactly as long as it was.

use std::collections::BTreeSet;

use axum::http::Method;
use rivet_core::access::{CustomerScope, Permission, Role};
use rivet_core::audit::Actor;
use rivet_core::id::TenantId;
use rivet_core::tenant::TenantKind;
use rivet_core::user::TokenSecret;
use rivet_store::UserPatch;
use serde_json::{Value, json};

use crate::harness::{Fixture, PASSWORD, TestServer, hex, only, rnd};

/// One operation of the OpenAPI document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    pub path: String,
    /// `None`: public. `Some(None)`: any authenticated caller.
    /// `Some(Some(p))`: needs `p`.
    pub scope: Option<Option<Permission>>,
    pub query: Vec<String>,
}

/// Every operation the server documents.
pub async fn operations(s: &TestServer) -> Vec<Operation> {
    let doc = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .body;
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let scope = op["security"].as_array().map(|reqs| {
                let scopes: Vec<&str> = reqs
                    .iter()
                    .flat_map(|r| r["bearer"].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect();
                assert!(scopes.len() <= 1, "{method} {path}: one scope per route");
                scopes
                    .first()
                    .map(|p| p.parse::<Permission>().expect("a known scope"))
            });
            let query = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            ops.push(Operation {
                method,
                path: path.clone(),
                scope,
                query,
            });
        }
    }
    assert!(
        ops.len() >= 17,
        "the document lists {} operations",
        ops.len()
    );
    ops
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Own,
    Foreign,
}

/// A request to make for an operation, or `None` when the operation has no
/// foreign variant (e.g. creating a token for oneself).
struct Case {
    path: String,
    body: Option<Value>,
    /// A body that is not JSON (an uploaded file).
    raw: Option<String>,
    /// A foreign variant carried in the query: expect an empty listing.
    foreign_query: bool,
    /// A foreign variant: expect 404.
    foreign_record: bool,
    /// The role holds the route's scope, but the domain refuses it (a role
    /// that does not vote on changes): expect 403 for its own record.
    refused: bool,
}

struct World {
    a: TenantId,
    b: TenantId,
    /// The host of the last change with a rollout made for a case.
    rollout_host: Option<rivet_core::id::HostId>,
}

/// The tenants a principal may see, from the store (the ground truth, as
/// calls may widen a provider user's customers).
async fn visible_to(s: &TestServer, p: &Fixture) -> BTreeSet<TenantId> {
    if !is_provider(p) {
        return BTreeSet::from([p.tenant]);
    }
    match s.store.get_user(p.id).await.unwrap().unwrap().customers {
        CustomerScope::Only(mut set) => {
            set.insert(s.provider);
            set
        }
        CustomerScope::All => panic!("matrix principals are limited"),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", hex(&rnd::<6>()))
}

fn is_provider(p: &Fixture) -> bool {
    p.role.tenant_kind() == TenantKind::Provider
}

async fn own_tenant(s: &TestServer, w: &World, p: &Fixture) -> TenantId {
    if !is_provider(p) {
        return w.a;
    }
    // A fresh customer in the provider user's scope, so that deleting or
    // renaming it disturbs nothing else.
    let fresh = s.customer(&unique("own-")).await;
    let mut customers: Vec<TenantId> = visible_to(s, p)
        .await
        .into_iter()
        .filter(|t| *t != s.provider)
        .collect();
    customers.push(fresh);
    let patch = UserPatch {
        customers: Some(only(&customers)),
        ..UserPatch::default()
    };
    s.store
        .update_user(p.id, &patch, &Actor::system(), s.now())
        .await
        .unwrap();
    fresh
}

async fn case(
    s: &TestServer,
    w: &mut World,
    op: &Operation,
    p: &Fixture,
    target: Target,
) -> Option<Case> {
    let foreign = target == Target::Foreign;
    let segments: Vec<&str> = op.path.trim_start_matches("/api/v1/").split('/').collect();
    let mut path = op.path.clone();
    let mut foreign_record = false;
    if let Some(pos) = segments.iter().position(|seg| *seg == "{id}") {
        let id = match segments[pos - 1] {
            "tenants" => {
                if foreign {
                    s.customer(&unique("foreign-")).await.to_string()
                } else {
                    own_tenant(s, w, p).await.to_string()
                }
            }
            "users" => {
                let tenant = if foreign { w.b } else { w.a };
                s.user(tenant, Role::CustomerViewer, CustomerScope::All)
                    .await
                    .id
                    .to_string()
            }
            "tokens" => {
                let owner = if foreign {
                    s.user(w.b, Role::CustomerViewer, CustomerScope::All).await
                } else {
                    p.clone()
                };
                let secret = s.token_for(owner.id, owner.tenant, &[]).await;
                TokenSecret::parse(&secret).unwrap().id.to_string()
            }
            "advisories" => {
                // Advisories belong to no tenant: there is no foreign one.
                if foreign {
                    return None;
                }
                let id = unique("MATRIX-");
                let doc = json!({"id": id, "modified": "2026-01-01T00:00:00Z", "affected": []});
                let reply = s
                    .call(
                        Method::POST,
                        "/api/v1/advisories/import?name=m.json",
                        Some(&s.admin.token),
                        Some(doc),
                    )
                    .await;
                assert_eq!(reply.body["imported"], 1, "{}", reply.text);
                id
            }
            "advisory-sources" => {
                // Sources belong to no tenant: there is no foreign one.
                if foreign {
                    return None;
                }
                let new = rivet_store::NewSource {
                    id: uuid::Uuid::new_v4().to_string(),
                    name: unique("src-"),
                    kind: "kev".into(),
                    // Nothing listens on the discard port: a sync fails fast.
                    url: "http://127.0.0.1:9/kev.json".into(),
                    interval_secs: 3600,
                    public_keys: String::new(),
                };
                s.store
                    .create_source(&new, &Actor::system(), s.now())
                    .await
                    .unwrap()
                    .id
            }
            "hosts" => {
                let tenant = if foreign { w.b } else { w.a };
                s.host(tenant, &unique("h-")).await.to_string()
            }
            "enrollment-tokens" => {
                let tenant = if foreign { w.b } else { w.a };
                s.enrollment(tenant).await.to_string()
            }
            "exceptions" => {
                let tenant = if foreign { w.b } else { w.a };
                let new = rivet_store::NewException {
                    id: unique("exc-"),
                    tenant_id: tenant,
                    kind: rivet_store::ExceptionKind::Accept,
                    advisory: "CVE-2026-9999".into(),
                    host: None,
                    group: None,
                    reason: "matrix".into(),
                    approver: "matrix".into(),
                    expires_at: s.now() + jiff::SignedDuration::from_hours(24),
                };
                s.store
                    .create_exception(&new, &Actor::system(), s.now())
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            }
            "changes" => {
                let tenant = if foreign { w.b } else { w.a };
                if op.path.contains("/rollout") || op.path.ends_with("/problems") {
                    let paused = op.path.ends_with("/resume");
                    let (change, host) =
                        crate::rollouts::change_with_rollout(s, tenant, paused).await;
                    w.rollout_host = Some(host);
                    change
                } else {
                    crate::changes::fixture_for(s, tenant, &op.path).await
                }
            }
            "problems" => {
                let tenant = if foreign { w.b } else { w.a };
                crate::rollouts::open_problem(s, tenant).await
            }
            "repositories" => {
                let tenant = if foreign { w.b } else { w.a };
                let new = rivet_store::NewRepository {
                    id: unique("repo-"),
                    tenant_id: Some(tenant),
                    name: unique("r-"),
                    kind: rivet_store::RepositoryKind::Apt,
                    ecosystem: "Debian:12".into(),
                    security: false,
                    approved: true,
                };
                s.store
                    .create_repository(&new, &Actor::system(), s.now())
                    .await
                    .unwrap()
                    .id
            }
            "windows" => {
                let tenant = if foreign { w.b } else { w.a };
                let spec = window_spec(&unique("w-"));
                let window = rivet_change::window::Window::new(spec).unwrap();
                let stored = rivet_store::StoredWindow {
                    id: unique("win-"),
                    tenant_id: tenant,
                    group: None,
                    name: window.name().to_owned(),
                    body: serde_json::to_value(&window).unwrap(),
                    created_by: "matrix".into(),
                    created_at: s.now(),
                };
                s.store
                    .create_window(&stored, &Actor::system(), s.now())
                    .await
                    .unwrap()
                    .id
            }
            "freezes" => {
                let tenant = if foreign { w.b } else { w.a };
                let stored = rivet_store::StoredFreeze {
                    id: unique("frz-"),
                    tenant_id: Some(tenant),
                    starts_at: s.now(),
                    ends_at: s.now() + jiff::SignedDuration::from_hours(2),
                    reason: "matrix".into(),
                    created_by: "matrix".into(),
                    created_at: s.now(),
                };
                s.store
                    .create_freeze(&stored, &Actor::system(), s.now())
                    .await
                    .unwrap()
                    .id
            }
            other => panic!(
                "no fixture for records under /{other}/{{id}} ({} {}): add one to matrix.rs",
                op.method, op.path
            ),
        };
        path = path.replace("{id}", &id);
        foreign_record = foreign;
    }
    let key = format!("{} {}", op.method, op.path);
    let mut raw = None;
    let body = match key.as_str() {
        "PUT /api/v1/auth/password" => {
            Some(json!({"current_password": PASSWORD, "new_password": "another password 2"}))
        }
        "POST /api/v1/tenants" | "PATCH /api/v1/tenants/{id}" => {
            Some(json!({"name": unique("t-")}))
        }
        "POST /api/v1/users" => {
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            Some(
                json!({"tenant_id": tenant, "username": unique("n"), "role": "customer-viewer", "password": PASSWORD}),
            )
        }
        "PATCH /api/v1/users/{id}" => Some(json!({"display_name": "Renamed"})),
        "PUT /api/v1/users/{id}/password" => Some(json!({"password": "a new password 3"})),
        "POST /api/v1/tokens" => Some(json!({"name": "matrix"})),
        "POST /api/v1/advisory-sources" => {
            Some(json!({"name": unique("s-"), "kind": "kev", "url": "http://127.0.0.1:9/k.json"}))
        }
        "POST /api/v1/advisory-sources/{id}/sync" => None,
        "POST /api/v1/enrollment-tokens" => {
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            Some(json!({"tenant": tenant, "note": "matrix"}))
        }
        "POST /api/v1/enrollment-tokens/{id}/revoke"
        | "POST /api/v1/hosts/{id}/revoke"
        | "POST /api/v1/hosts/{id}/collect" => None,
        "PUT /api/v1/hosts/{id}/attributes" => Some(json!({"ring": "pilot", "tags": ["matrix"]})),
        "GET /api/v1/hosts/{id}/export" => {
            path.push_str("?format=csv");
            None
        }
        "POST /api/v1/hosts/import" => {
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            path = format!(
                "{path}?tenant={tenant}&name={}&format=dpkg-status",
                unique("imp-")
            );
            raw = Some(
                "Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\n\n".to_owned(),
            );
            None
        }
        "POST /api/v1/assessment" => None,
        "POST /api/v1/exceptions" => {
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            Some(json!({
                "tenant": tenant, "kind": "accept", "advisory": "CVE-2026-9999", "reason": "matrix",
                "expires_at": (s.now() + jiff::SignedDuration::from_hours(24)).to_string()
            }))
        }
        "POST /api/v1/exceptions/{id}/revoke" => None,
        "POST /api/v1/repositories" => {
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            Some(json!({
                "tenant": tenant, "name": unique("r-"), "kind": "apt",
                "ecosystem": "Debian:12", "approved": true
            }))
        }
        "PUT /api/v1/repositories/{id}/metadata" => {
            raw = Some("Package: hello\nVersion: 2.10-3+b1\nArchitecture: amd64\n\n".to_owned());
            None
        }
        "POST /api/v1/changes" => {
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            let mut change = crate::changes::new_change(s);
            change["tenant"] = json!(tenant);
            Some(change)
        }
        "POST /api/v1/changes/order" => {
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            Some(json!({
                "tenant": tenant, "text": "PHP 8.3, please",
                "packages": [{"name": "php8.3", "version": "8.3.14-1", "class": "middleware"}]
            }))
        }
        "PUT /api/v1/changes/{id}" => Some(crate::changes::new_change(s)),
        "POST /api/v1/changes/{id}/submit"
        | "POST /api/v1/changes/{id}/expedite"
        | "POST /api/v1/changes/{id}/revise"
        | "POST /api/v1/changes/{id}/cancel"
        | "POST /api/v1/changes/{id}/approve"
        | "POST /api/v1/changes/{id}/reject" => Some(json!({"comment": "matrix"})),
        "POST /api/v1/changes/{id}/schedule" => Some(json!({
            "planned_start": (s.now() + jiff::SignedDuration::from_hours(1)).to_string()
        })),
        "POST /api/v1/changes/{id}/review" => Some(json!({"notes": "matrix"})),
        "PUT /api/v1/tenants/{id}/approval-policy" => {
            Some(json!({"cab_quorum": 2, "customer": "always"}))
        }
        "PUT /api/v1/tenants/{id}/update-policy" => Some(json!({
            "security": "approval", "bugfix": "approval", "enhancement": "approval",
            "middleware": "on_order", "major": "never"
        })),
        "PUT /api/v1/tenants/{id}/change-templates" => Some(json!([{
            "id": "monthly-security", "name": "Monthly security patches",
            "allowed_classes": ["security"], "max_risk": "low"
        }])),
        "PUT /api/v1/tenants/{id}/patch-cycle" => Some(json!({
            "every_days": 30, "severities": ["critical", "high"], "kev": true, "ring": "pilot"
        })),
        "POST /api/v1/tenants/{id}/patch-cycle/run" => {
            // A cycle to run (set as a fixture, before the call is measured).
            let tenant: TenantId = path.split('/').nth(4).unwrap().parse().unwrap();
            let cycle =
                json!({"spec": {"every_days": 30, "severities": ["critical"], "ring": "pilot"}});
            s.store
                .set_change_setting(
                    tenant,
                    rivet_store::ChangeSetting::PatchCycle,
                    &cycle,
                    &Actor::system(),
                    s.now(),
                )
                .await
                .unwrap();
            None
        }
        "PUT /api/v1/tenants/{id}/deadline-policy" => Some(json!({
            "kev_days": 2, "critical_days": 3, "high_days": 7, "medium_days": 30,
            "low_days": 90, "count_from": "found"
        })),
        "POST /api/v1/changes/{id}/rollout/pause"
        | "POST /api/v1/changes/{id}/rollout/resume"
        | "POST /api/v1/changes/{id}/rollout/abort"
        | "POST /api/v1/changes/{id}/rollout/roll-back" => Some(json!({"comment": "matrix"})),
        "POST /api/v1/changes/{id}/problems" => {
            Some(json!({"host": w.rollout_host, "text": "matrix"}))
        }
        "POST /api/v1/problems/{id}/close" => Some(json!({"resolution": "matrix"})),
        "POST /api/v1/rollouts/run" => None,
        "POST /api/v1/windows" => {
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            Some(json!({"tenant": tenant, "spec": window_spec(&unique("w-"))}))
        }
        "POST /api/v1/freezes" => {
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            Some(json!({
                "tenant": tenant, "reason": "matrix", "start": s.now().to_string(),
                "end": (s.now() + jiff::SignedDuration::from_hours(2)).to_string()
            }))
        }
        "PUT /api/v1/tenants/{id}/ring-plan" => Some(json!([{"name": "broad"}])),
        "GET /api/v1/calendar" => {
            // The calendar is always of one tenant: a foreign one is 404.
            foreign_record = foreign;
            let tenant = if foreign { w.b } else { w.a };
            path = format!("{path}?tenant={tenant}");
            None
        }
        "PUT /api/v1/tenants/{id}/notifications" => Some(json!({
            "email_enabled": true, "email_recipients": ["ops@matrix.example"], "lead_time_hours": 24
        })),
        "POST /api/v1/tenants/{id}/notifications/test" => {
            // A test needs a channel: give the tenant one (before the audit
            // chain is measured).
            let tenant = path.split('/').nth(4).unwrap().parse().unwrap();
            let settings = rivet_core::notify::NotificationSettings {
                email_enabled: true,
                email_recipients: vec!["ops@matrix.example".into()],
                ..Default::default()
            };
            s.store
                .set_notification_settings(
                    tenant,
                    &settings,
                    rivet_store::SecretChange::Keep,
                    &Actor::system(),
                    s.now(),
                )
                .await
                .unwrap();
            None
        }
        "POST /api/v1/advisories/import" => {
            Some(json!({"id": unique("UP-"), "modified": "2026-01-01T00:00:00Z", "affected": []}))
        }
        _ if matches!(op.method, Method::POST | Method::PUT | Method::PATCH)
            && !key.ends_with("/sync") =>
        {
            panic!("no request body fixture for {key}: add one to matrix.rs")
        }
        _ => None,
    };
    // Listings that filter by a tenant or record: ask for a foreign one.
    let mut foreign_query = false;
    if foreign && !foreign_record {
        if op.query.iter().any(|q| q == "tenant") {
            path = format!("{path}?tenant={}", w.b);
            foreign_query = true;
        } else if op.query.iter().any(|q| q == "target") {
            path = format!("{path}?target={}", w.b);
            foreign_query = true;
        } else {
            return None;
        }
    }
    // Only CAB members and customer approvers vote, whatever else holds
    // change:approve (the administrator).
    let refused = key.starts_with("POST /api/v1/changes/{id}/")
        && (key.ends_with("/approve") || key.ends_with("/reject"))
        && !matches!(p.role, Role::CabMember | Role::CustomerApprover);
    Some(Case {
        path,
        body,
        raw,
        foreign_query,
        foreign_record,
        refused,
    })
}

/// A valid window spec named `name`.
fn window_spec(name: &str) -> rivet_change::window::WindowSpec {
    serde_json::from_value(json!({
        "name": name, "time_zone": "Europe/Berlin", "start": "2026-11-29T02:00",
        "rrule": "FREQ=WEEKLY;BYDAY=SU", "duration": "2h",
    }))
    .unwrap()
}

/// The tenant a listed item belongs to.
fn item_tenant(path: &str, item: &Value) -> Option<TenantId> {
    let field = if path.starts_with("/api/v1/tenants") {
        "id"
    } else {
        "tenant_id"
    };
    item[field].as_str().map(|t| t.parse().unwrap())
}

pub async fn every_route_every_role_own_and_foreign_tenant(s: &TestServer) {
    let ops = operations(s).await;
    let a = s.customer("A").await;
    let b = s.customer("B").await;
    let mut principals = Vec::new();
    let mut w = World {
        a,
        b,
        rollout_host: None,
    };
    for role in Role::ALL {
        let p = if role.tenant_kind() == TenantKind::Provider {
            s.user(s.provider, role, only(&[a])).await
        } else {
            s.user(a, role, CustomerScope::All).await
        };
        principals.push(p);
    }

    let mut failures = Vec::new();
    let mut calls = 0;
    // Agents' routes authenticate agents, not users: the agent tests cover them.
    for op in ops
        .iter()
        .filter(|op| op.scope.is_some() && !op.path.starts_with("/api/v1/agent/"))
    {
        let needed = op.scope.unwrap();
        for p in &principals {
            for target in [Target::Own, Target::Foreign] {
                let Some(c) = case(s, &mut w, op, p, target).await else {
                    continue;
                };
                // A fresh token per call: some calls revoke the caller's tokens.
                let token = s.token_for(p.id, p.tenant, p.role.permissions()).await;
                let before = s.audit_len().await;
                let reply = match &c.raw {
                    Some(raw) => {
                        s.raw(
                            op.method.clone(),
                            &c.path,
                            Some(&token),
                            Some(raw),
                            Some("application/octet-stream"),
                        )
                        .await
                    }
                    None => {
                        s.call(op.method.clone(), &c.path, Some(&token), c.body.clone())
                            .await
                    }
                };
                calls += 1;
                let after = s.audit_len().await;
                let what = format!("{} {} as {} ({target:?})", op.method, c.path, p.role);
                let status = reply.status.as_u16();
                let allowed = needed.is_none_or(|perm| p.role.grants(perm));
                let expected_ok = match (allowed, target) {
                    (false, _) => {
                        if status != 403 || reply.body["error"]["kind"] != "forbidden" {
                            failures
                                .push(format!("{what}: expected 403, got {status} {}", reply.text));
                        }
                        false
                    }
                    (true, Target::Own) if c.refused => {
                        if status != 403 || reply.body["error"]["kind"] != "forbidden" {
                            failures.push(format!(
                                "{what}: expected a refusal (403), got {status} {}",
                                reply.text
                            ));
                        }
                        false
                    }
                    (true, Target::Foreign) if c.foreign_record => {
                        if status != 404 || reply.body["error"]["kind"] != "not_found" {
                            failures
                                .push(format!("{what}: expected 404, got {status} {}", reply.text));
                        }
                        false
                    }
                    (true, _) => {
                        if !reply.status.is_success() {
                            failures.push(format!(
                                "{what}: expected success, got {status} {}",
                                reply.text
                            ));
                        }
                        true
                    }
                };
                if let Some(items) = reply.body["items"].as_array() {
                    let seen = visible_to(s, p).await;
                    for item in items {
                        if let Some(t) = item_tenant(op.path.as_str(), item)
                            && !seen.contains(&t)
                        {
                            failures
                                .push(format!("{what}: listed a record of invisible tenant {t}"));
                        }
                    }
                    if c.foreign_query && !items.is_empty() {
                        failures.push(format!(
                            "{what}: a foreign filter listed {} items",
                            items.len()
                        ));
                    }
                }
                let changes = op.method != Method::GET && expected_ok;
                if !changes && after != before {
                    failures.push(format!(
                        "{what}: the audit chain grew from {before} to {after}"
                    ));
                }
                if changes && after <= before {
                    failures.push(format!("{what}: a change was not audited"));
                }
                if op.path == "/api/v1/auth/password" && reply.status.is_success() {
                    // Put the fixture password back for later cases.
                    s.store
                        .set_password(
                            p.id,
                            &crate::harness::password_hash(),
                            &Actor::system(),
                            s.now(),
                        )
                        .await
                        .unwrap();
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls broke the rules:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every role, every authenticated operation, and foreign variants too.
    let authenticated = ops.iter().filter(|o| o.scope.is_some()).count();
    assert!(
        calls > authenticated * Role::ALL.len(),
        "only {calls} calls"
    );
    eprintln!(
        "matrix: {calls} calls over {authenticated} operations and {} roles",
        Role::ALL.len()
    );
    assert_eq!(s.store.verify_audit().await.unwrap().map(|_| ()), Ok(()));
}

pub async fn unauthenticated_calls_get_401(s: &TestServer) {
    let ops = operations(s).await;
    let expired = {
        let t = s.token_for(s.admin.id, s.provider, &Permission::ALL).await;
        s.clock.advance(jiff::SignedDuration::from_hours(25));
        t
    };
    let revoked = s.token_for(s.admin.id, s.provider, &Permission::ALL).await;
    let id = TokenSecret::parse(&revoked).unwrap().id;
    s.store
        .revoke_token(id, &Actor::system(), s.now())
        .await
        .unwrap();
    let forged = TokenSecret::new(id, rnd()).expose();
    let before = s.audit_len().await;
    let mut checked = 0;
    for op in ops.iter().filter(|o| o.scope.is_some()) {
        let path = op
            .path
            .replace("{id}", &TenantId::new(s.now(), rnd()).to_string());
        let body =
            matches!(op.method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let credentials: [Option<&str>; 5] = [
            None,
            Some("nonsense"),
            Some(&expired),
            Some(&revoked),
            Some(&forged),
        ];
        for token in credentials {
            let reply = s.call(op.method.clone(), &path, token, body.clone()).await;
            assert_eq!(
                reply.status.as_u16(),
                401,
                "{} {path} with {token:?}: {}",
                op.method,
                reply.text
            );
            assert_eq!(reply.body["error"]["kind"], "unauthenticated");
            checked += 1;
        }
    }
    assert_eq!(
        s.audit_len().await,
        before,
        "rejected calls changed nothing"
    );
    assert!(checked >= 16 * 5);
    let reply = s
        .call(Method::GET, "/api/v1/tenants", Some(&expired), None)
        .await;
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let reply = s
        .call(Method::GET, "/api/v1/tenants", Some(&revoked), None)
        .await;
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

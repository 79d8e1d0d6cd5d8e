//! Authentication and administration flows through the API.

use axum::http::Method;
use rivet_core::access::{CustomerScope, Role};
use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestServer, only};

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or("")
}

pub async fn login_issues_a_token_and_throttles_failures(s: &TestServer) {
    let a = s.customer("A").await;
    let jane = s.user(a, Role::CustomerViewer, CustomerScope::All).await;
    let login = |user: &str, password: &str| json!({"username": user, "password": password});
    let ok = s
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(login(&jane.username, PASSWORD)),
        )
        .await;
    assert_eq!(ok.status.as_u16(), 201, "{}", ok.text);
    let token = ok.body["token"].as_str().unwrap();
    let me = s.get("/api/v1/auth/whoami", token).await;
    assert_eq!(me.body["user"]["username"], jane.username.as_str());
    assert_eq!(me.body["tenant"]["name"], "A");
    assert_eq!(
        me.body["permissions"],
        json!(["tenant:read", "advisory:read", "host:read", "change:read"])
    );
    let expires: jiff::Timestamp = ok.body["info"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, s.now() + jiff::SignedDuration::from_hours(12));

    // Wrong passwords and unknown users get the same answer.
    let wrong = s
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(login(&jane.username, "wrong password!")),
        )
        .await;
    let unknown = s
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(login("nobody", "wrong password!")),
        )
        .await;
    assert_eq!(wrong.status.as_u16(), 401);
    assert_eq!(wrong.text, unknown.text);
    for _ in 0..4 {
        s.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(login(&jane.username, "wrong password!")),
        )
        .await;
    }
    // Five failures: even the right password is refused until the window passes.
    let throttled = s
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(login(&jane.username, PASSWORD)),
        )
        .await;
    assert_eq!(throttled.status.as_u16(), 429, "{}", throttled.text);
    assert!(message(&throttled.body).contains("seconds"));
    s.clock.advance(jiff::SignedDuration::from_secs(301));
    let again = s
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(login(&jane.username, PASSWORD)),
        )
        .await;
    assert_eq!(again.status.as_u16(), 201);

    // A disabled user can neither log in nor use a token.
    let patch = json!({"disabled": true});
    let reply = s
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{}", jane.id),
            Some(&s.admin.token),
            Some(patch),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 200);
    let refused = s
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(login(&jane.username, PASSWORD)),
        )
        .await;
    assert_eq!(refused.status.as_u16(), 401);
    let me = s.get("/api/v1/auth/whoami", &jane.token).await;
    assert_eq!(me.status.as_u16(), 401);
    assert!(message(&me.body).contains("disabled"));
}

pub async fn tokens_expire_are_revoked_and_cannot_widen(s: &TestServer) {
    let admin = &s.admin.token;
    let narrow = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(admin),
            Some(json!({"name": "ro", "scopes": ["tenant:read"], "expires_in_days": 2})),
        )
        .await;
    assert_eq!(narrow.status.as_u16(), 201, "{}", narrow.text);
    let narrow_token = narrow.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.get("/api/v1/tenants", &narrow_token)
            .await
            .status
            .as_u16(),
        200
    );
    let write = s
        .call(
            Method::POST,
            "/api/v1/tenants",
            Some(&narrow_token),
            Some(json!({"name": "X"})),
        )
        .await;
    assert_eq!(write.status.as_u16(), 403);
    assert!(message(&write.body).contains("tenant:write"));
    // A narrow token cannot mint a wider one, nor one with the default (all it holds is tenant:read).
    let wider = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&narrow_token),
            Some(json!({"name": "w", "scopes": ["user:write"]})),
        )
        .await;
    assert_eq!(wider.status.as_u16(), 403, "{}", wider.text);
    let default = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&narrow_token),
            Some(json!({"name": "d"})),
        )
        .await;
    assert_eq!(default.body["info"]["scopes"], json!(["tenant:read"]));
    // Expiry, by the clock.
    s.clock.advance(jiff::SignedDuration::from_hours(49));
    let expired = s.get("/api/v1/tenants", &narrow_token).await;
    assert_eq!(expired.status.as_u16(), 401);
    // Revocation, at once (the fixture's own token expired with the clock, too).
    let admin = &s
        .token_for(s.admin.id, s.provider, &rivet_core::access::Permission::ALL)
        .await;
    let fresh = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(admin),
            Some(json!({"name": "r"})),
        )
        .await;
    let id = fresh.body["info"]["id"].as_str().unwrap();
    let fresh_token = fresh.body["token"].as_str().unwrap();
    assert_eq!(
        s.get("/api/v1/auth/whoami", fresh_token)
            .await
            .status
            .as_u16(),
        200
    );
    let revoked = s
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(revoked.status.as_u16(), 200);
    assert!(revoked.body["revoked_at"].is_string());
    assert_eq!(
        s.get("/api/v1/auth/whoami", fresh_token)
            .await
            .status
            .as_u16(),
        401
    );
    // Listing never shows a secret or its hash.
    let list = s.get("/api/v1/tokens", admin).await;
    assert!(
        !list.text.contains("secret") && !list.text.contains("rvt_"),
        "{}",
        list.text
    );
}

pub async fn limited_provider_users_cannot_escalate(s: &TestServer) {
    let a = s.customer("A").await;
    let b = s.customer("B").await;
    let limited = s.user(s.provider, Role::Admin, only(&[a])).await;
    let t = Some(limited.token.as_str());
    let body = |customers: Value| json!({"tenant_id": s.provider, "username": format!("x{}", crate::harness::hex(&crate::harness::rnd::<4>())), "role": "operator", "password": PASSWORD, "customers": customers});
    let all = s
        .call(Method::POST, "/api/v1/users", t, Some(body(json!("all"))))
        .await;
    assert_eq!(all.status.as_u16(), 403, "{}", all.text);
    let to_b = s
        .call(
            Method::POST,
            "/api/v1/users",
            t,
            Some(body(json!({"only": [b]}))),
        )
        .await;
    assert_eq!(
        to_b.status.as_u16(),
        422,
        "B is invisible, so it is no customer this user knows: {}",
        to_b.text
    );
    let to_a = s
        .call(
            Method::POST,
            "/api/v1/users",
            t,
            Some(body(json!({"only": [a]}))),
        )
        .await;
    assert_eq!(to_a.status.as_u16(), 201, "{}", to_a.text);
    // Without customers named, the new provider user inherits the limits.
    let inherit = s
        .call(Method::POST, "/api/v1/users", t, Some(body(Value::Null)))
        .await;
    assert_eq!(
        inherit.body["customers"],
        json!({"only": [a]}),
        "{}",
        inherit.text
    );
    // The unlimited admin is out of reach.
    let admin_path = format!("/api/v1/users/{}", s.admin.id);
    let disable = s
        .call(
            Method::PATCH,
            &admin_path,
            t,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disable.status.as_u16(), 403, "{}", disable.text);
    let reset = s
        .call(
            Method::PUT,
            &format!("{admin_path}/password"),
            t,
            Some(json!({"password": "taken over now!"})),
        )
        .await;
    assert_eq!(reset.status.as_u16(), 403);
    // A tenant created by a limited user lands in its limits.
    let created = s
        .call(
            Method::POST,
            "/api/v1/tenants",
            t,
            Some(json!({"name": "C"})),
        )
        .await;
    let c = created.body["id"].as_str().unwrap();
    assert_eq!(
        s.get(&format!("/api/v1/tenants/{c}"), &limited.token)
            .await
            .status
            .as_u16(),
        200
    );
    let names: std::collections::BTreeSet<String> =
        s.get("/api/v1/tenants", &limited.token).await.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(names, ["A", "C", "Provider"].map(String::from).into());
}

pub async fn the_last_admin_stays(s: &TestServer) {
    let me = format!("/api/v1/users/{}", s.admin.id);
    let t = Some(s.admin.token.as_str());
    for body in [json!({"disabled": true}), json!({"role": "operator"})] {
        let reply = s.call(Method::PATCH, &me, t, Some(body)).await;
        assert_eq!(reply.status.as_u16(), 409, "{}", reply.text);
        assert!(message(&reply.body).contains("last enabled admin"));
    }
    let reply = s.call(Method::DELETE, &me, t, None).await;
    assert_eq!(reply.status.as_u16(), 409);
    // With a second admin, the first may step down.
    s.user(s.provider, Role::Admin, CustomerScope::All).await;
    let reply = s
        .call(
            Method::PATCH,
            &me,
            t,
            Some(json!({"role": "security-officer"})),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
}

pub async fn password_change_revokes_tokens(s: &TestServer) {
    let op = s.user(s.provider, Role::Operator, CustomerScope::All).await;
    let wrong = s
        .call(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&op.token),
            Some(
                json!({"current_password": "not it at all", "new_password": "brand new password"}),
            ),
        )
        .await;
    assert_eq!(wrong.status.as_u16(), 422);
    assert!(message(&wrong.body).starts_with("current_password"));
    let weak = s
        .call(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&op.token),
            Some(json!({"current_password": PASSWORD, "new_password": "short"})),
        )
        .await;
    assert_eq!(weak.status.as_u16(), 422);
    let ok = s
        .call(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&op.token),
            Some(json!({"current_password": PASSWORD, "new_password": "brand new password"})),
        )
        .await;
    assert_eq!(ok.status.as_u16(), 204, "{}", ok.text);
    assert_eq!(
        s.get("/api/v1/auth/whoami", &op.token)
            .await
            .status
            .as_u16(),
        401
    );
    let login = s
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": op.username, "password": "brand new password"})),
        )
        .await;
    assert_eq!(login.status.as_u16(), 201);
    let audit = s
        .get(&format!("/api/v1/audit?target={}", op.id), &s.admin.token)
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.create", "user.set-password"]);
    assert!(!audit.text.contains("argon2"), "no hash in the audit log");
}

pub async fn pagination_walks_every_list(s: &TestServer) {
    for i in 0..25 {
        s.customer(&format!("C{i:02}")).await;
    }
    let mut names = Vec::new();
    let mut path = "/api/v1/tenants?limit=10".to_owned();
    let mut pages = 0;
    loop {
        let page = s.get(&path, &s.admin.token).await;
        pages += 1;
        names.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/tenants?limit=10&after={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 26);
    let audit = s.get("/api/v1/audit?limit=5", &s.admin.token).await;
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 5);
    assert_eq!(audit.body["next_cursor"], "5");
    let next = s.get("/api/v1/audit?limit=5&after=5", &s.admin.token).await;
    assert_eq!(next.body["items"][0]["seq"], 6);
}

pub async fn health_and_openapi_are_served(s: &TestServer) {
    assert_eq!(s.call(Method::GET, "/healthz", None, None).await.text, "ok");
    assert_eq!(
        s.call(Method::GET, "/readyz", None, None).await.text,
        "ready"
    );
    let doc = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(doc.status.as_u16(), 200);
    assert_eq!(
        doc.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc.body["paths"]["/api/v1/users/{id}"]["patch"].is_object());
    assert!(doc.body["components"]["schemas"]["User"].is_object());
    let missing = s
        .call(
            Method::GET,
            "/api/v1/nothing-here",
            Some(&s.admin.token),
            None,
        )
        .await;
    assert_eq!(missing.status.as_u16(), 404);
    assert_eq!(missing.body["error"]["kind"], "not_found");
    let method = s
        .call(Method::PUT, "/api/v1/tenants", Some(&s.admin.token), None)
        .await;
    assert_eq!(method.status.as_u16(), 405);
    assert_eq!(method.body["error"]["kind"], "method_not_allowed");
}

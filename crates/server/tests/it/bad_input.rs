//! Bad input gets a 4xx that says what and where, and changes nothing.

use axum::http::Method;
use serde_json::json;

use crate::harness::TestServer;

async fn snapshot(s: &TestServer) -> (i64, usize, usize) {
    let tenants = s.get("/api/v1/tenants", &s.admin.token).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    let users = s.get("/api/v1/users", &s.admin.token).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    (s.audit_len().await, tenants, users)
}

pub async fn malformed_bodies_change_nothing(s: &TestServer) {
    let a = s.customer("A").await;
    let before = snapshot(s).await;
    let t = Some(s.admin.token.as_str());
    let json_ct = Some("application/json");
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        // (path, body, content type, status, kind, the message mentions)
        (
            "/api/v1/tenants",
            "{\"name\": ",
            json_ct,
            400,
            "bad_request",
            "EOF",
        ),
        (
            "/api/v1/tenants",
            "not json",
            json_ct,
            400,
            "bad_request",
            "line 1",
        ),
        ("/api/v1/tenants", "", json_ct, 400, "bad_request", ""),
        (
            "/api/v1/tenants",
            "{\"name\": 5}",
            json_ct,
            422,
            "invalid",
            "name",
        ),
        (
            "/api/v1/tenants",
            "{\"name\": \"X\", \"colour\": \"red\"}",
            json_ct,
            422,
            "invalid",
            "colour",
        ),
        ("/api/v1/tenants", "{}", json_ct, 422, "invalid", "name"),
        ("/api/v1/tenants", "[1, 2]", json_ct, 422, "invalid", ""),
        (
            "/api/v1/tenants",
            "{\"name\": \"\"}",
            json_ct,
            422,
            "invalid",
            "name",
        ),
        (
            "/api/v1/tenants",
            "{\"name\": \"a\\u0000b\"}",
            json_ct,
            422,
            "invalid",
            "control",
        ),
        (
            "/api/v1/tenants",
            "{\"name\": \"X\"}",
            Some("text/plain"),
            415,
            "unsupported_media_type",
            "JSON",
        ),
        (
            "/api/v1/tenants",
            "{\"name\": \"X\"}",
            None,
            415,
            "unsupported_media_type",
            "JSON",
        ),
        (
            "/api/v1/users",
            "{\"tenant_id\": \"nope\", \"username\": \"x\", \"role\": \"admin\", \"password\": \"p\"}",
            json_ct,
            422,
            "invalid",
            "tenant_id",
        ),
        (
            "/api/v1/users",
            "{\"tenant_id\": \"00000000-0000-7000-8000-000000000000\", \"username\": \"x\", \"role\": \"root\", \"password\": \"p\"}",
            json_ct,
            422,
            "invalid",
            "role",
        ),
        (
            "/api/v1/tokens",
            "{\"name\": \"x\", \"scopes\": [\"everything\"]}",
            json_ct,
            422,
            "invalid",
            "scopes",
        ),
        (
            "/api/v1/tokens",
            "{\"name\": \"x\", \"expires_in_days\": -1}",
            json_ct,
            422,
            "invalid",
            "expires_in_days",
        ),
    ];
    for (path, body, ct, status, kind, mentions) in cases {
        let reply = s.raw(Method::POST, path, t, Some(body), ct).await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "POST {path} {body:?}: {}",
            reply.text
        );
        assert_eq!(reply.body["error"]["kind"], kind, "POST {path} {body:?}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(mentions),
            "POST {path} {body:?}: {message:?} should mention {mentions:?}"
        );
    }
    // Valid JSON that breaks a rule.
    let rules = [
        (
            "/api/v1/users",
            json!({"tenant_id": a, "username": "Bad Name", "role": "customer-viewer", "password": "long enough pass"}),
            "username",
        ),
        (
            "/api/v1/users",
            json!({"tenant_id": a, "username": "ok", "role": "admin", "password": "long enough pass"}),
            "role",
        ),
        (
            "/api/v1/users",
            json!({"tenant_id": a, "username": "ok", "role": "customer-viewer", "password": "short"}),
            "password",
        ),
        (
            "/api/v1/users",
            json!({"tenant_id": a, "username": "ok", "role": "customer-viewer", "password": "long enough pass", "customers": "all"}),
            "customers",
        ),
        (
            "/api/v1/tokens",
            json!({"name": "x", "expires_in_days": 100_000}),
            "expires_in_days",
        ),
    ];
    for (path, body, field) in rules {
        let reply = s.call(Method::POST, path, t, Some(body.clone())).await;
        assert_eq!(reply.status.as_u16(), 422, "{body}: {}", reply.text);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{}",
            reply.text
        );
    }
    let reply = s
        .raw(
            Method::PATCH,
            &format!("/api/v1/tenants/{a}"),
            t,
            Some("{\"name\": true}"),
            json_ct,
        )
        .await;
    assert_eq!(reply.status.as_u16(), 422);
    assert_eq!(snapshot(s).await, before, "nothing changed");
}

pub async fn bad_ids_and_queries_are_400(s: &TestServer) {
    let before = s.audit_len().await;
    let t = s.admin.token.as_str();
    for path in [
        "/api/v1/tenants/nope",
        "/api/v1/users/1",
        "/api/v1/tokens/%27%3B%20DROP",
        "/api/v1/users/nope/password",
    ] {
        let method = if path.ends_with("password") {
            Method::PUT
        } else {
            Method::GET
        };
        let body = (method == Method::PUT).then(|| json!({"password": "long enough pass"}));
        let reply = s.call(method, path, Some(t), body).await;
        assert_eq!(reply.status.as_u16(), 400, "{path}: {}", reply.text);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not a valid"),
            "{}",
            reply.text
        );
    }
    let missing = "01a20a9f-46b8-703f-8dcf-30489727adfd";
    assert_eq!(
        s.get(&format!("/api/v1/tenants/{missing}"), t)
            .await
            .status
            .as_u16(),
        404
    );
    for (query, mentions) in [
        ("/api/v1/tenants?limit=0", "limit"),
        ("/api/v1/tenants?limit=1001", "limit"),
        ("/api/v1/tenants?limit=many", "limit"),
        ("/api/v1/tenants?sort=name", "sort"),
        ("/api/v1/tenants?after=zzz", "cursor"),
        ("/api/v1/audit?after=x", "cursor"),
        ("/api/v1/users?tenant=x", "tenant id"),
    ] {
        let reply = s.get(query, t).await;
        assert_eq!(reply.status.as_u16(), 400, "{query}: {}", reply.text);
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{query}: {message}");
    }
    let reply = s
        .get(&format!("/api/v1/audit?action={}", "x".repeat(300)), t)
        .await;
    assert_eq!(reply.status.as_u16(), 400);
    assert_eq!(s.audit_len().await, before);
}

pub async fn oversized_bodies_are_413(s: &TestServer) {
    let before = s.audit_len().await;
    let huge = format!(
        "{{\"name\": \"{}\"}}",
        "x".repeat(s.config.server.max_body_bytes + 1)
    );
    let reply = s
        .raw(
            Method::POST,
            "/api/v1/tenants",
            Some(&s.admin.token),
            Some(&huge),
            Some("application/json"),
        )
        .await;
    assert_eq!(
        reply.status.as_u16(),
        413,
        "{}",
        &reply.text[..reply.text.len().min(200)]
    );
    assert_eq!(reply.body["error"]["kind"], "payload_too_large");
    // Just under the limit is parsed, and then refused for the name's length.
    let fits = format!(
        "{{\"name\": \"{}\"}}",
        "x".repeat(s.config.server.max_body_bytes - 20)
    );
    let reply = s
        .raw(
            Method::POST,
            "/api/v1/tenants",
            Some(&s.admin.token),
            Some(&fits),
            Some("application/json"),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 422);
    let reply = s
        .raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&huge),
            Some("application/json"),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 413);
    assert_eq!(s.audit_len().await, before);
}

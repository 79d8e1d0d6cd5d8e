//! Missing updates (ASM-3) end to end: repositories created and filled
//! through the API, a host imported from a real dpkg status file, and its
//! updates classed exactly; customers see neither another customer's
//! repositories nor its hosts' updates; a bad metadata file is refused
//! naming its line and field, and changes nothing.

use std::collections::BTreeSet;

use axum::http::Method;
use rivet_core::access::{CustomerScope, Role};
use serde_json::{Value, json};

use crate::harness::TestServer;

fn data(path: &str) -> String {
    format!("{}/../../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Debian 12's main repository, as far as this test needs it. Against
/// the minbase host: bash gains a binNMU (bug fix), perl-base a new upstream
/// version (enhancement), base-files a new major version, libsystemd0 the
/// version an open finding's advisory fixes (security); tzdata is older
/// than installed and apt is offered for arm64 only (both ignored).
const MAIN: &str = "\
Package: bash
Source: bash (5.2.15-2)
Version: 5.2.15-2+b14
Architecture: amd64
Description: GNU Bourne Again SHell

Package: perl-base
Source: perl
Version: 5.36.1-1
Architecture: amd64

Package: base-files
Version: 13.8
Architecture: amd64

Package: libsystemd0
Source: systemd
Version: 252.40-1~deb12u1
Architecture: amd64

Package: tzdata
Version: 2025b-0+deb12u1
Architecture: all

Package: apt
Version: 2.6.2
Architecture: arm64
";

/// A customer's own security repository.
const SECURITY: &str = "\
Package: libc6
Source: glibc
Version: 2.36-9+deb12u15
Architecture: amd64
";

async fn create(s: &TestServer, token: &str, body: Value) -> Value {
    let r = s
        .call(
            Method::POST,
            "/api/v1/repositories",
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn upload(
    s: &TestServer,
    token: &str,
    id: &str,
    name: &str,
    file: &str,
) -> crate::harness::Reply {
    s.raw(
        Method::PUT,
        &format!("/api/v1/repositories/{id}/metadata?name={name}"),
        Some(token),
        Some(file),
        Some("application/octet-stream"),
    )
    .await
}

async fn import_host(s: &TestServer, tenant: &str, name: &str, status: &str) -> String {
    let r = s
        .raw(
            Method::POST,
            &format!(
                "/api/v1/hosts/import?tenant={tenant}&name={name}&format=dpkg-status&os=debian:12"
            ),
            Some(&s.admin.token),
            Some(status),
            Some("application/octet-stream"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["host"]["id"].as_str().unwrap().to_owned()
}

/// `(name, installed, candidate, class, major, advisories)` of the updates.
fn updates(body: &Value) -> BTreeSet<(String, String, String, String, bool, String)> {
    body["updates"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().unwrap_or("").to_owned();
            let advisories: Vec<&str> = u["advisories"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            (
                s("name"),
                s("installed_version"),
                s("candidate_version"),
                s("class"),
                u["major"].as_bool().unwrap(),
                advisories.join(","),
            )
        })
        .collect()
}

fn row(
    name: &str,
    installed: &str,
    candidate: &str,
    class: &str,
    major: bool,
    advisories: &str,
) -> (String, String, String, String, bool, String) {
    (
        name.into(),
        installed.into(),
        candidate.into(),
        class.into(),
        major,
        advisories.into(),
    )
}

pub async fn hosts_missing_updates_are_classed_per_tenant(s: &TestServer) {
    let a = s.customer("Updates A").await;
    let b = s.customer("Updates B").await;
    let admin = s.admin.token.clone();
    let status = std::fs::read_to_string(data("inventories/debian12-minbase.dpkg-status")).unwrap();
    let host_a = import_host(s, &a.to_string(), "minbase", &status).await;
    let host_b = import_host(s, &b.to_string(), "minbase", &status).await;

    // An open finding on libsystemd0 (source systemd), fixed in the
    // version the main repository offers.
    let advisory = json!({
        "schema_version": "1.6.0", "id": "DSA-9001-1", "modified": "2026-11-01T00:00:00Z",
        "published": "2026-10-01T00:00:00Z", "aliases": ["CVE-2026-0001"],
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "systemd"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "252.40-1~deb12u1"}]}]}]
    });
    let r = s
        .raw(
            Method::POST,
            "/api/v1/advisories/import?name=dsa.json",
            Some(&admin),
            Some(&advisory.to_string()),
            Some("application/octet-stream"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .call(Method::POST, "/api/v1/assessment", Some(&admin), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let before = s.audit_len().await;
    let main = create(
        s,
        &admin,
        json!({"name": "bookworm", "kind": "apt", "ecosystem": "Debian:12", "approved": true}),
    )
    .await;
    assert!(main["tenant_id"].is_null(), "provider-wide: {main}");
    let security = create(
        s,
        &admin,
        json!({"tenant": a, "name": "bookworm-security", "kind": "apt", "ecosystem": "Debian:12", "security": true, "approved": true}),
    )
    .await;
    let backports = create(
        s,
        &admin,
        json!({"tenant": a, "name": "backports", "kind": "apt", "ecosystem": "Debian:12"}),
    )
    .await;
    assert_eq!(
        backports["approved"], false,
        "repositories start unapproved"
    );
    let main_id = main["id"].as_str().unwrap();
    let security_id = security["id"].as_str().unwrap();
    let backports_id = backports["id"].as_str().unwrap();
    let r = upload(s, &admin, main_id, "Packages", MAIN).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["stored"].as_str(), r.body["records"].as_u64()),
        (Some("packages"), Some(6))
    );
    assert_eq!(r.body["repository"]["package_count"], 6);
    assert_eq!(r.body["digest"].as_str().unwrap().len(), 64);
    assert_eq!(
        upload(s, &admin, security_id, "Packages", SECURITY)
            .await
            .status,
        200
    );
    let r = upload(
        s,
        &admin,
        backports_id,
        "Packages",
        "Package: gpgv\nSource: gnupg2\nVersion: 2.4.7-1\nArchitecture: amd64\n",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        s.audit_len().await,
        before + 6,
        "three creations and three imports, audited"
    );

    let r = s
        .get(&format!("/api/v1/hosts/{host_a}/updates"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ecosystem"], "Debian:12");
    assert!(r.body["reason"].is_null(), "{}", r.text);
    assert_eq!(
        updates(&r.body),
        BTreeSet::from([
            row("bash", "5.2.15-2+b13", "5.2.15-2+b14", "bugfix", false, ""),
            row("base-files", "12.4+deb12u15", "13.8", "major", true, ""),
            row(
                "libc6",
                "2.36-9+deb12u14",
                "2.36-9+deb12u15",
                "security",
                false,
                ""
            ),
            row(
                "libsystemd0",
                "252.39-1~deb12u2",
                "252.40-1~deb12u1",
                "security",
                false,
                "DSA-9001-1"
            ),
            row(
                "perl-base",
                "5.36.0-7+deb12u3",
                "5.36.1-1",
                "enhancement",
                false,
                ""
            ),
        ]),
        "{}",
        r.text
    );
    let libc = r.body["updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "libc6")
        .unwrap();
    assert_eq!(libc["repositories"], json!(["bookworm-security"]));
    let r = s
        .get(
            &format!("/api/v1/hosts/{host_a}/updates?class=security,major"),
            &admin,
        )
        .await;
    let names: BTreeSet<String> = updates(&r.body).into_iter().map(|u| u.0).collect();
    assert_eq!(
        names,
        BTreeSet::from(["base-files".into(), "libc6".into(), "libsystemd0".into()])
    );
    let r = s
        .get(
            &format!("/api/v1/hosts/{host_a}/updates?class=urgent"),
            &admin,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);

    // B's host shares the provider-wide repository only: no libc6 from
    // A's security repository.
    let r = s
        .get(&format!("/api/v1/hosts/{host_b}/updates"), &admin)
        .await;
    let names: BTreeSet<String> = updates(&r.body).into_iter().map(|u| u.0).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "bash".into(),
            "base-files".into(),
            "libsystemd0".into(),
            "perl-base".into()
        ])
    );

    // Per-tenant summary: hosts per class.
    let r = s
        .get(&format!("/api/v1/updates/summary?tenant={a}"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["hosts"].as_u64(),
            r.body["hosts_with_updates"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        r.body["hosts_by_class"],
        json!({"security": 1, "bugfix": 1, "enhancement": 1, "major": 1})
    );
    assert_eq!(
        r.body["updates_by_class"],
        json!({"security": 2, "bugfix": 1, "enhancement": 1, "major": 1})
    );
    let r = s.get("/api/v1/updates/summary", &admin).await;
    assert_eq!(
        (
            r.body["hosts"].as_u64(),
            r.body["hosts_with_updates"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(r.body["updates_by_class"]["security"], 3);

    // Customer B sees neither A's repositories nor A's host.
    let viewer = s.user(b, Role::CustomerViewer, CustomerScope::All).await;
    for path in [
        format!("/api/v1/repositories/{security_id}"),
        format!("/api/v1/hosts/{host_a}/updates"),
    ] {
        let r = s.get(&path, &viewer.token).await;
        assert_eq!(
            (r.status.as_u16(), &r.body["error"]["kind"]),
            (404, &json!("not_found")),
            "{path}: {}",
            r.text
        );
    }
    let r = s.get("/api/v1/repositories", &viewer.token).await;
    let listed: BTreeSet<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(listed, BTreeSet::from([main_id]));
    let r = s
        .get(
            &format!("/api/v1/updates/summary?tenant={a}"),
            &viewer.token,
        )
        .await;
    assert_eq!(r.body["hosts"], 0, "{}", r.text);
    assert_eq!(
        s.get(&format!("/api/v1/hosts/{host_b}/updates"), &viewer.token)
            .await
            .status,
        200
    );

    // A bad file is refused whole, naming line and field; nothing changes.
    let before = s.audit_len().await;
    let bad = format!("{MAIN}\nPackage: curl\nVersion: seven\nArchitecture: amd64\n");
    let r = upload(s, &admin, main_id, "Packages", &bad).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.body["error"]["message"],
        "file: Packages line 30, field Version: \"seven\" is not a Debian version: version number does not start with digit"
    );
    let r = upload(
        s,
        &admin,
        main_id,
        "primary.xml",
        "<metadata><package><name>a</name><arch>noarch</arch><version ver=\"1\" rel=\"1\"/></package></metadata>",
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not belong in an apt repository"),
        "{}",
        r.text
    );
    assert_eq!(s.audit_len().await, before);
    let r = s
        .get(&format!("/api/v1/repositories/{main_id}"), &admin)
        .await;
    assert_eq!(r.body["package_count"], 6);

    // Deleting the security repository takes libc6's update along.
    let r = s
        .call(
            Method::DELETE,
            &format!("/api/v1/repositories/{security_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s
        .get(
            &format!("/api/v1/hosts/{host_a}/updates?class=security"),
            &admin,
        )
        .await;
    let names: BTreeSet<String> = updates(&r.body).into_iter().map(|u| u.0).collect();
    assert_eq!(names, BTreeSet::from(["libsystemd0".into()]));
}

//! The server's assessment (issue 6) on a real dpkg status file: the
//! findings of an imported host equal what `rivet scan` says of the same
//! file and advisories; an advisory added later opens findings on the hosts
//! it concerns only; an updated inventory fixes them; deadlines follow the
//! tenant's policy; other tenants see nothing.

use std::collections::BTreeSet;
use std::process::Command;

use axum::http::Method;
use rivet_core::access::{CustomerScope, Role};
use serde_json::{Value, json};

use crate::harness::TestServer;

fn data(path: &str) -> String {
    format!("{}/../../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// CVSS 3.1 vectors of each class: 7.5, 9.8 and 2.0.
const HIGH: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N";
const CRITICAL: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
const LOW: &str = "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N";

/// An OSV record of Debian 12 fixing `package` (a source package) in
/// `fixed`, with a CVSS vector.
fn osv(id: &str, package: &str, fixed: &str, alias: &str, severity: &str) -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2026-11-01T00:00:00Z",
        "published": "2026-10-01T00:00:00Z",
        "aliases": [alias],
        "summary": format!("{package} issue"),
        "severity": [{"type": "CVSS_V3", "score": severity}],
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]
        }]
    })
}

async fn import_advisory(s: &TestServer, record: &Value) {
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

async fn assess(s: &TestServer) -> Value {
    let r = s
        .call(
            Method::POST,
            "/api/v1/assessment",
            Some(&s.admin.token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["ready"].as_bool().unwrap(), "{}", r.text);
    assert!(r.body["last_error"].is_null(), "{}", r.text);
    r.body
}

/// `(package, installed_version, advisory_id, fixed_version)` of findings.
fn keys(findings: &[Value]) -> BTreeSet<(String, String, String, String)> {
    findings
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            (
                s("package"),
                s("installed_version"),
                s("advisory_id"),
                s("fixed_version"),
            )
        })
        .collect()
}

pub async fn findings_equal_rivet_scan_and_follow_inventories(s: &TestServer) {
    let tenant = s.customer("Assessed").await;
    let other = s.customer("Unrelated").await;
    let status = std::fs::read_to_string(data("inventories/debian12-minbase.dpkg-status")).unwrap();
    // systemd (the source of libsystemd0, libudev1 …) is installed at
    // 252.39-1~deb12u2: DSA-9001 affects it, DSA-9002 is fixed below it,
    // zlib's 1:1.2.13 is newer than 1.3-1 by its epoch.
    let advisories = [
        osv(
            "DSA-9001-1",
            "systemd",
            "252.40-1~deb12u1",
            "CVE-2026-0001",
            HIGH,
        ),
        osv(
            "DSA-9002-1",
            "systemd",
            "252.39-1~deb12u1",
            "CVE-2026-0002",
            CRITICAL,
        ),
        osv("DSA-9003-1", "zlib", "1.3-1", "CVE-2026-0003", LOW),
    ];
    for a in &advisories {
        import_advisory(s, a).await;
    }
    let host = import_host(s, &tenant.to_string(), "minbase", &status).await;
    let _stranger = import_host(s, &other.to_string(), "elsewhere", &status).await;
    assess(s).await;

    let r = s
        .get(
            &format!("/api/v1/hosts/{host}/findings?limit=1000"),
            &s.admin.token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let server = r.body["items"].as_array().unwrap().clone();
    assert!(!server.is_empty(), "no findings: {}", r.text);

    // The same file and advisories through `rivet scan`.
    let dir = tempfile::tempdir().unwrap();
    for a in &advisories {
        std::fs::write(
            dir.path()
                .join(format!("{}.json", a["id"].as_str().unwrap())),
            a.to_string(),
        )
        .unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rivet"))
        .args([
            "scan",
            "--inventory",
            &data("inventories/debian12-minbase.dpkg-status"),
            "--os",
            "debian:12",
        ])
        .args([
            "--advisories",
            dir.path().to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let scanned = scan["findings"].as_array().unwrap();
    assert_eq!(
        keys(&server),
        keys(scanned),
        "the server and rivet scan disagree"
    );
    for f in &server {
        assert_eq!(f["state"], "open");
        assert_eq!(f["severity"], "high");
        assert_eq!(f["source_package"], "systemd");
        // High: 7 days from publication (2026-10-01).
        assert_eq!(f["due_at"], "2026-10-08T00:00:00Z", "{f}");
    }

    // The other tenant's customer sees only its own host's findings.
    let viewer = s
        .user(other, Role::CustomerViewer, CustomerScope::All)
        .await
        .token;
    let theirs = s.get("/api/v1/findings?limit=1000", &viewer).await;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    let items = theirs.body["items"].as_array().unwrap();
    assert_eq!(items.len(), server.len());
    assert!(items.iter().all(|f| f["tenant_id"] == other.to_string()));
    let mine = s
        .get(&format!("/api/v1/hosts/{host}/findings"), &viewer)
        .await;
    assert_eq!(mine.status, 404, "a foreign host is not found");

    // A new advisory naming zlib's source at a newer epoch opens findings
    // on both hosts; the summary counts them.
    import_advisory(
        s,
        &osv(
            "DSA-9004-1",
            "zlib",
            "1:1.2.13.dfsg-2",
            "CVE-2026-0004",
            CRITICAL,
        ),
    )
    .await;
    let round = assess(s).await;
    assert_eq!(round["advisories"], 4, "{round}");
    let critical = s
        .get(
            &format!("/api/v1/findings?tenant={tenant}&severity=critical"),
            &s.admin.token,
        )
        .await;
    let critical = critical.body["items"].as_array().unwrap();
    assert_eq!(critical.len(), 1, "{critical:?}");
    assert_eq!(critical[0]["package"], "zlib1g");
    let summary = s
        .get(
            &format!("/api/v1/findings/summary?tenant={tenant}"),
            &s.admin.token,
        )
        .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    assert_eq!(summary.body["open_by_severity"]["critical"], 1);
    assert_eq!(summary.body["affected_hosts"], 1);
    // Everything is overdue at the harness's clock (2026-11).
    assert_eq!(
        summary.body["overdue"].as_u64().unwrap(),
        server.len() as u64 + 1
    );

    // The host is updated past both fixes: its findings are fixed.
    let updated = status
        .replace("252.39-1~deb12u2", "252.40-1~deb12u1")
        .replace("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-2");
    import_host(s, &tenant.to_string(), "minbase", &updated).await;
    assess(s).await;
    let open = s
        .get(
            &format!("/api/v1/hosts/{host}/findings?state=open"),
            &s.admin.token,
        )
        .await;
    assert_eq!(
        open.body["items"].as_array().unwrap().len(),
        0,
        "{}",
        open.text
    );
    let fixed = s
        .get(
            &format!("/api/v1/hosts/{host}/findings?state=fixed&limit=1000"),
            &s.admin.token,
        )
        .await;
    assert_eq!(
        fixed.body["items"].as_array().unwrap().len(),
        server.len() + 1
    );

    // A deadline policy moves the open deadlines of its tenant only.
    let policy = json!({"kev_days": 1, "critical_days": 1, "high_days": 2, "medium_days": 10,
        "low_days": 20, "count_from": "published"});
    let r = s
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{other}/deadline-policy"),
            Some(&s.admin.token),
            Some(policy),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let theirs = s
        .get("/api/v1/findings?severity=high&limit=1000", &viewer)
        .await;
    for f in theirs.body["items"].as_array().unwrap() {
        assert_eq!(f["due_at"], "2026-10-03T00:00:00Z", "{f}");
    }
    let bad = json!({"kev_days": 9, "critical_days": 3, "high_days": 7, "medium_days": 30,
        "low_days": 90, "count_from": "published"});
    let r = s
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{other}/deadline-policy"),
            Some(&s.admin.token),
            Some(bad),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = s
        .get("/api/v1/findings?severity=severe", &s.admin.token)
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("severity"), "{}", r.text);

    // A restarted server loads the fleet from the store in bulk and finds
    // exactly what the incremental rounds stored: nothing to change.
    let restarted = std::sync::Arc::new(rivet_server::assessor::Assessor::default());
    let task = tokio::spawn(rivet_server::assessor::run(
        restarted.clone(),
        s.store.clone(),
        s.clock.clone(),
    ));
    let status = restarted.run_now().await;
    task.abort();
    assert!(status.ready && status.last_error.is_none(), "{status:?}");
    assert_eq!(status.hosts, 2);
    assert_eq!(status.advisories, 4);
    assert_eq!(
        status.last_changes,
        rivet_store::FindingChanges::default(),
        "a reload changes no finding"
    );

    // The same through the real command line.
    let live = crate::cli::Live::start(s).await;
    let env = [
        ("RIVET_URL", live.url.as_str()),
        ("RIVET_TOKEN", s.admin.token.as_str()),
    ];
    let out = live
        .rivet(
            &[
                "--output", "json", "findings", "list", "--host", &host, "--state", "fixed",
                "--limit", "1000",
            ],
            &env,
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), server.len() + 1);
    let out = live
        .rivet(
            &["findings", "summary", "--tenant", &tenant.to_string()],
            &env,
        )
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("affected hosts    0"), "{text}");
    let out = live
        .rivet(
            &[
                "--output",
                "json",
                "tenant",
                "deadline-policy",
                "set",
                &tenant.to_string(),
                "--high",
                "5",
            ],
            &env,
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = live
        .rivet(
            &[
                "--output",
                "json",
                "tenant",
                "deadline-policy",
                "show",
                &tenant.to_string(),
            ],
            &env,
        )
        .await;
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["high_days"], 5);
    let out = live
        .rivet(&["findings", "list", "--severity", "dire"], &env)
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("severity"));
}

pub async fn exceptions_accept_findings_until_they_expire(s: &TestServer) {
    let tenant = s.customer("Excepted").await;
    let other = s.customer("Bystander").await;
    let status = std::fs::read_to_string(data("inventories/debian12-minbase.dpkg-status")).unwrap();
    import_advisory(
        s,
        &osv(
            "DSA-9001-1",
            "systemd",
            "252.40-1~deb12u1",
            "CVE-2026-0001",
            HIGH,
        ),
    )
    .await;
    let host = import_host(s, &tenant.to_string(), "web-1", &status).await;
    let foreign = import_host(s, &other.to_string(), "db-1", &status).await;
    assess(s).await;
    let open = |state: &'static str| {
        let path = format!("/api/v1/hosts/{host}/findings?state={state}&limit=1000");
        async move {
            s.get(&path, &s.admin.token).await.body["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    let affected = open("open").await;
    assert!(affected > 0);
    // An hour: the harness's tokens last a day.
    let expires = (s.now() + jiff::SignedDuration::from_hours(1)).to_string();
    let create = |body: Value| async move {
        s.call(
            Method::POST,
            "/api/v1/exceptions",
            Some(&s.admin.token),
            Some(body),
        )
        .await
    };
    let accept = json!({"tenant": tenant, "kind": "accept", "advisory": "CVE-2026-0001",
        "host": host, "reason": "appliance, vendor patch due in Q1", "approver": "CISO",
        "expires_at": expires});
    let r = create(accept.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["findings"].as_i64().unwrap(), affected as i64);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!((open("open").await, open("accepted").await), (0, affected));
    // The other tenant's findings are not touched.
    let theirs = s
        .get(
            &format!("/api/v1/hosts/{foreign}/findings?state=open&limit=1000"),
            &s.admin.token,
        )
        .await;
    assert_eq!(theirs.body["items"].as_array().unwrap().len(), affected);

    // Refused: no reason, in the past, too far, a host and a group, a host
    // of another tenant.
    for (patch, status) in [
        (json!({"reason": " "}), 422),
        (json!({"expires_at": s.now().to_string()}), 422),
        (
            json!({"expires_at": (s.now() + jiff::SignedDuration::from_hours(24 * 400)).to_string()}),
            422,
        ),
        (json!({"group": "dmz"}), 422),
        (json!({"host": foreign}), 404),
    ] {
        let mut body = accept.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = create(body).await;
        assert_eq!(r.status, status, "{patch}: {}", r.text);
    }

    // Two hours later the exception has expired: the findings reopen, and
    // the audit log says so.
    s.clock.advance(jiff::SignedDuration::from_hours(2));
    assess(s).await;
    assert_eq!(open("open").await, affected);
    let ended = s
        .get(&format!("/api/v1/exceptions/{id}"), &s.admin.token)
        .await;
    assert!(ended.body["ended_at"].is_string(), "{}", ended.text);
    assert_eq!(ended.body["findings"], 0);
    let audit = s.get("/api/v1/audit?limit=1000", &s.admin.token).await;
    assert!(
        audit.text.contains("exception.expire") && audit.text.contains("exception.create"),
        "{}",
        audit.text
    );

    // A workaround for a group of hosts mitigates them until revoked.
    let r = s
        .call(
            Method::PUT,
            &format!("/api/v1/hosts/{host}/attributes"),
            Some(&s.admin.token),
            Some(json!({"groups": ["dmz"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let expires = (s.now() + jiff::SignedDuration::from_hours(24 * 30)).to_string();
    let r = create(
        json!({"tenant": tenant, "kind": "workaround", "advisory": "DSA-9001-1",
        "group": "dmz", "reason": "udev rules hardened", "expires_at": expires}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let workaround = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(open("mitigated").await, affected);
    let r = s
        .call(
            Method::POST,
            &format!("/api/v1/exceptions/{workaround}/revoke"),
            Some(&s.admin.token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(open("open").await, affected);
    let listed = s
        .get(
            &format!("/api/v1/exceptions?tenant={tenant}"),
            &s.admin.token,
        )
        .await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        listed.text
    );

    // The command line.
    let live = crate::cli::Live::start(s).await;
    let env = [
        ("RIVET_URL", live.url.as_str()),
        ("RIVET_TOKEN", s.admin.token.as_str()),
    ];
    let tenant = tenant.to_string();
    let out = live
        .rivet(
            &[
                "--output",
                "json",
                "exceptions",
                "list",
                "--tenant",
                &tenant,
            ],
            &env,
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let expires = (s.now() + jiff::SignedDuration::from_hours(5)).to_string();
    let out = live
        .rivet(
            &[
                "--output",
                "json",
                "exceptions",
                "create",
                "--tenant",
                &tenant,
                "--advisory",
                "CVE-2026-0001",
                "--reason",
                "change freeze",
                "--expires",
                &expires,
            ],
            &env,
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["findings"].as_i64().unwrap(), affected as i64);
    let out = live
        .rivet(
            &["exceptions", "revoke", created["id"].as_str().unwrap()],
            &env,
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = live
        .rivet(
            &[
                "exceptions",
                "create",
                "--tenant",
                &tenant,
                "--advisory",
                "CVE-2026-0001",
                "--reason",
                "x",
                "--expires",
                "2020-01-01T00:00:00Z",
            ],
            &env,
        )
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expires_at"));
}

/// An operator's edits reach the assessment without an inventory: a host's
/// criticality moves its findings' priorities, and a deleted host leaves the
/// fleet.
pub async fn host_edits_and_deletions_reach_the_assessment(s: &TestServer) {
    let tenant = s.customer("Edited").await;
    let status = std::fs::read_to_string(data("inventories/debian12-minbase.dpkg-status")).unwrap();
    import_advisory(
        s,
        &osv(
            "DSA-9001-1",
            "systemd",
            "252.40-1~deb12u1",
            "CVE-2026-0001",
            HIGH,
        ),
    )
    .await;
    let host = import_host(s, &tenant.to_string(), "app-1", &status).await;
    let _kept = import_host(s, &tenant.to_string(), "app-2", &status).await;
    let before = assess(s).await["hosts"].as_u64().unwrap();
    let priorities = || async {
        let r = s
            .get(
                &format!("/api/v1/hosts/{host}/findings?limit=1000"),
                &s.admin.token,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["priority"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    let normal = priorities().await;
    assert!(!normal.is_empty());
    let r = s
        .call(
            Method::PUT,
            &format!("/api/v1/hosts/{host}/attributes"),
            Some(&s.admin.token),
            Some(json!({"criticality": "critical"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assess(s).await;
    let critical = priorities().await;
    assert_eq!(
        critical,
        normal.iter().map(|p| p + 10).collect::<Vec<_>>(),
        "a critical host's findings rank 10 higher"
    );

    let r = s
        .call(
            Method::DELETE,
            &format!("/api/v1/hosts/{host}"),
            Some(&s.admin.token),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let round = assess(s).await;
    assert_eq!(round["hosts"].as_u64().unwrap(), before - 1, "{round}");
}

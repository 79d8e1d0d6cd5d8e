//! The real `rivet` binary against a real server on a loopback socket:
//! logging in, the admin commands, and `rivet audit verify` catching an
//! audit row edited in the database.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use crate::harness::{PASSWORD, TestServer};

/// A server listening on 127.0.0.1 and a place for the CLI's credentials.
struct Live {
    url: String,
    home: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

impl Live {
    async fn start(s: &TestServer) -> Live {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = s.router.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        let home = std::env::temp_dir().join(format!(
            "rivet-cli-{}",
            crate::harness::hex(&crate::harness::rnd::<8>())
        ));
        std::fs::create_dir_all(&home).unwrap();
        Live { url, home, server }
    }

    /// Runs `rivet ARGS` with `env`, off the async threads.
    async fn rivet(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rivet"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RIVET_CREDENTIALS", self.home.join("credentials.toml"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.rivet(args, env).await;
        assert!(
            out.status.success(),
            "rivet {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn stop(self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

pub async fn cli_manages_tenants_users_tokens_and_audit(s: &TestServer) {
    let live = Live::start(s).await;
    let url = live.url.as_str();
    // Without credentials, a clear error.
    let out = live.rivet(&["tenant", "list", "--server", url], &[]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("authentication required"));
    let bad = live
        .rivet(
            &["login", "--server", url, "--user", "admin"],
            &[("RIVET_PASSWORD", "wrong password!")],
        )
        .await;
    assert!(!bad.status.success());

    let said = live
        .ok(
            &["login", "--server", url, "--user", "admin"],
            &[("RIVET_PASSWORD", PASSWORD)],
        )
        .await;
    assert!(said.contains("Logged in"), "{said}");
    let mode = std::fs::metadata(live.home.join("credentials.toml")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    let created = json(
        &live
            .ok(&["tenant", "create", "Acme GmbH", "--output", "json"], &[])
            .await,
    );
    let acme = created["id"].as_str().unwrap().to_owned();
    let table = live.ok(&["tenant", "list"], &[]).await;
    assert!(
        table.starts_with("ID") && table.contains("Acme GmbH") && table.contains("customer"),
        "{table}"
    );
    let listed = json(&live.ok(&["tenant", "list", "--output", "json"], &[]).await);
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let user = json(
        &live
            .ok(
                &[
                    "user",
                    "create",
                    "--tenant",
                    &acme,
                    "--username",
                    "jane",
                    "--role",
                    "customer-approver",
                    "--output",
                    "json",
                ],
                &[("RIVET_NEW_PASSWORD", "janes password 1")],
            )
            .await,
    );
    assert_eq!(user["role"], "customer-approver");
    let users = json(
        &live
            .ok(
                &["user", "list", "--tenant", &acme, "--output", "json"],
                &[],
            )
            .await,
    );
    assert_eq!(users.as_array().unwrap().len(), 1);

    // Jane logs in elsewhere and sees only her tenant.
    let jane_token = {
        let body = serde_json::json!({"username": "jane", "password": "janes password 1"});
        let reply = s
            .call(
                axum::http::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(body),
            )
            .await;
        reply.body["token"].as_str().unwrap().to_owned()
    };
    let janes = json(
        &live
            .ok(
                &["tenant", "list", "--output", "json", "--token", &jane_token],
                &[],
            )
            .await,
    );
    assert_eq!(janes.as_array().unwrap().len(), 1);
    assert_eq!(janes[0]["id"], acme.as_str());

    let token = live
        .ok(
            &[
                "token",
                "create",
                "ci",
                "--scope",
                "audit:read",
                "--days",
                "7",
            ],
            &[],
        )
        .await;
    let token = token.trim();
    assert!(token.starts_with("rvt_"), "{token}");
    let tokens = json(&live.ok(&["token", "list", "--output", "json"], &[]).await);
    let ci = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let entries = json(
        &live
            .ok(
                &["audit", "list", "--output", "json", "--token", token],
                &[("RIVET_URL", url)],
            )
            .await,
    );
    assert!(entries.as_array().unwrap().len() >= 5);
    live.ok(&["token", "revoke", &ci], &[]).await;
    let out = live
        .rivet(&["audit", "list", "--token", token], &[("RIVET_URL", url)])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));

    let verified = live.ok(&["audit", "verify"], &[]).await;
    assert!(verified.starts_with("audit chain intact"), "{verified}");
    let export = live.home.join("audit.jsonl");
    live.ok(
        &["audit", "export", "--file", export.to_str().unwrap()],
        &[],
    )
    .await;
    let lines = std::fs::read_to_string(&export).unwrap();
    assert_eq!(lines.lines().count() as i64, s.audit_len().await);
    let offline = live
        .ok(
            &["audit", "verify", "--file", export.to_str().unwrap()],
            &[],
        )
        .await;
    assert!(offline.contains("intact"), "{offline}");
    // An edited export is caught offline.
    let edited = lines.replacen("Acme GmbH", "Evil Corp", 1);
    std::fs::write(&export, edited).unwrap();
    let out = live
        .rivet(
            &["audit", "verify", "--file", export.to_str().unwrap()],
            &[],
        )
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("broken at entry"));
    live.stop();
}

pub async fn audit_verify_catches_an_edited_row(s: &TestServer) {
    let live = Live::start(s).await;
    let token = s.admin.token.clone();
    let env = [
        ("RIVET_URL", live.url.as_str()),
        ("RIVET_TOKEN", token.as_str()),
    ];
    for name in ["A", "B", "C"] {
        live.ok(&["tenant", "create", name], &env).await;
    }
    let n = s.audit_len().await;
    assert!(
        live.ok(&["audit", "verify"], &env)
            .await
            .contains(&format!("intact: {n} entries"))
    );
    // Someone with database access removes the guard and edits entry 5 (tenant B).
    let drop_guard = match s.store.backend() {
        rivet_store::Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
        rivet_store::Backend::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log",
    };
    s.store.execute_raw_for_tests(drop_guard).await.unwrap();
    s.store
        .execute_raw_for_tests("UPDATE audit_log SET after_json = replace(after_json, '\"B\"', '\"Bogus\"') WHERE seq = 5")
        .await
        .unwrap();
    let out = live.rivet(&["audit", "verify"], &env).await;
    assert!(!out.status.success(), "a broken chain exits non-zero");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("broken at entry 5"), "{said}");
    live.stop();
}

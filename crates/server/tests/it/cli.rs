//! The real `rivet` binary against a real server on a loopback socket:
//! logging in, the admin commands, and `rivet audit verify` catching an
//! audit row edited in the database.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use crate::harness::{PASSWORD, TestServer};

/// A server listening on 127.0.0.1 and a place for the CLI's credentials.
pub struct Live {
    pub url: String,
    pub home: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

impl Live {
    pub async fn start(s: &TestServer) -> Live {
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
    pub async fn rivet(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
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

    /// Runs `rivet ARGS` with `env`, which must succeed; its standard output.
    pub async fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.rivet(args, env).await;
        assert!(
            out.status.success(),
            "rivet {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn stop(self) {
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

/// Runs `rivet server` as a process on an empty database and waits for it to
/// listen; returns the process, its URL and what it printed before.
fn start_server_process(env: &[(&str, &str)]) -> (std::process::Child, String, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rivet"))
        .arg("server")
        .env("RIVET_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(addr) = line.strip_prefix("rivet server listening on ") {
            return (child, addr.to_owned(), printed);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server stopped before listening:\n{printed}");
}

/// A client that trusts only the CA the server made in `data`.
fn pinned_client(data: &std::path::Path) -> reqwest::Client {
    rivet_server::install_crypto_provider();
    let pem = std::fs::read(data.join("tls").join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

fn stop(mut child: std::process::Child) {
    // SIGTERM, so that the graceful shutdown runs.
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the server exits cleanly on SIGTERM: {status:?}"
    );
}

async fn first_start(database_env: Vec<(&'static str, String)>) {
    let home = std::env::temp_dir().join(format!(
        "rivet-first-{}",
        crate::harness::hex(&crate::harness::rnd::<8>())
    ));
    std::fs::create_dir_all(&home).unwrap();
    let data = home.join("data");
    let mut env: Vec<(&str, String)> = vec![("RIVET_DATA_DIR", data.display().to_string())];
    env.extend(database_env);
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Blocking calls here are brief: the server prints its address at once.
    let (child, url, printed) = start_server_process(&env_ref);
    let password = printed
        .lines()
        .find_map(|l| l.strip_prefix("Password for admin (shown only this once): "))
        .unwrap_or_else(|| panic!("no password printed:\n{printed}"))
        .to_owned();
    // It serves TLS with a CA of its own, made on first start; the
    // fingerprint it prints is the CA's.
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let http = pinned_client(&data);
    let ca_pem = std::fs::read(data.join("tls").join("ca.pem")).unwrap();
    let ca_der = rustls_pki_types::pem::PemObject::from_pem_slice(&ca_pem)
        .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    assert!(
        printed.contains(&rivet_server::tls::fingerprint(&ca_der)),
        "{printed}"
    );
    let key_mode = std::fs::metadata(data.join("tls").join("ca.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777,
        0o600
    );
    // A client that does not trust the CA gets no answer.
    assert!(
        reqwest::Client::new()
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_err()
    );
    assert_eq!(
        http.get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ready"
    );
    let login = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 201);
    if env_ref.iter().all(|(k, _)| *k != "RIVET_DATABASE_URL") {
        // The embedded database lives in the data directory, in WAL mode.
        assert!(data.join("rivet.db").exists());
        assert!(
            data.join("rivet.db-wal").exists(),
            "SQLite runs in WAL mode"
        );
        let mode = std::fs::metadata(&data).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o700
        );
    }
    stop(child);

    // The second start finds the admin and prints no password.
    let (child, _, printed) = start_server_process(&env_ref);
    assert!(!printed.contains("Password"), "{printed}");
    stop(child);

    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_rivet"))
        .arg("migrate")
        .envs(env_ref.iter().copied())
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let _ = std::fs::remove_dir_all(home);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_binary_first_start_on_sqlite() {
    first_start(Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_binary_first_start_on_postgres() {
    let Some(db) = rivet_store::testing::TestDatabase::postgres().await else {
        return;
    };
    first_start(vec![("RIVET_DATABASE_URL", db.url.clone())]).await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_password_from_the_environment() {
    let data = std::env::temp_dir().join(format!(
        "rivet-env-{}",
        crate::harness::hex(&crate::harness::rnd::<8>())
    ));
    let data_dir = data.display().to_string();
    let weak = std::process::Command::new(env!("CARGO_BIN_EXE_rivet"))
        .arg("server")
        .env("RIVET_DATA_DIR", &data_dir)
        .env("RIVET_LISTEN", "127.0.0.1:0")
        .env("RIVET_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("RIVET_ADMIN_PASSWORD"));
    let env = [
        ("RIVET_DATA_DIR", data_dir.as_str()),
        ("RIVET_ADMIN_PASSWORD", "from the environment"),
    ];
    let (child, url, printed) = start_server_process(&env);
    assert!(
        printed.contains("RIVET_ADMIN_PASSWORD") && !printed.contains("from the environment"),
        "{printed}"
    );
    let login = pinned_client(&data)
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "from the environment"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 201);
    stop(child);
    let _ = std::fs::remove_dir_all(data);
}

#[test]
fn default_config_is_printed_and_bad_config_is_named() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rivet"))
        .arg("default-config")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        rivet_server::config::Config::parse(&text).unwrap(),
        rivet_server::config::Config::default()
    );
    let dir = std::env::temp_dir().join(format!(
        "rivet-cfg-{}",
        crate::harness::hex(&crate::harness::rnd::<8>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rivet.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:8440\"\nmax_body_bytes = \"big\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rivet"))
        .args(["server", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rivet.toml") && err.contains("line 3") && err.contains("max_body_bytes"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

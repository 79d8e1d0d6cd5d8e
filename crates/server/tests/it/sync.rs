//! Online sources against a local HTTP server on 127.0.0.1: a CSAF provider
//! (provider-metadata.json, a ROLIE feed, documents with checksums and
//! OpenPGP signatures by a key this test makes), an OSV archive by URL, an
//! unreachable source, and the scheduler syncing a due source by itself.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode, Uri};
use serde_json::{Value, json};

use crate::harness::TestServer;

fn data(path: &str) -> String {
    format!("{}/../../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// A static web server: path → bytes.
struct Site {
    url: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    async fn start() -> Site {
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let served = files.clone();
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let files = served.clone();
            async move {
                match files.lock().unwrap().get(uri.path()) {
                    Some(bytes) => (StatusCode::OK, bytes.clone()),
                    None => (StatusCode::NOT_FOUND, Vec::new()),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Site { url, files, task }
    }

    fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files
            .lock()
            .unwrap()
            .insert(path.to_owned(), bytes.into());
    }
}

/// A gpg home with one signing key, made with the real gpg.
struct Gpg {
    home: std::path::PathBuf,
}

impl Gpg {
    fn new() -> Gpg {
        let home = std::env::temp_dir().join(format!(
            "rivet-gpg-{}",
            crate::harness::hex(&crate::harness::rnd::<8>())
        ));
        std::fs::create_dir_all(&home).unwrap();
        let gpg = Gpg { home };
        gpg.run(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            "Provider <csaf@example.org>",
            "ed25519",
            "sign",
            "never",
        ]);
        gpg
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .args(["--batch", "--pinentry-mode", "loopback"])
            .args(args)
            .env("GNUPGHOME", &self.home)
            .output()
            .expect("gpg runs (Debian package gnupg)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn sign(&self, bytes: &[u8]) -> Vec<u8> {
        let file = self.home.join("doc");
        std::fs::write(&file, bytes).unwrap();
        self.run(&[
            "--passphrase",
            "",
            "--armor",
            "--detach-sign",
            "--output",
            "-",
            file.to_str().unwrap(),
        ])
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn sha256(bytes: &[u8]) -> String {
    rivet_advisory::integrity::HashAlgorithm::Sha256.digest(bytes)
}

async fn add_source(s: &TestServer, body: Value) -> String {
    let reply = s
        .call(
            Method::POST,
            "/api/v1/advisory-sources",
            Some(&s.admin.token),
            Some(body),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn sync(s: &TestServer, id: &str) -> Value {
    let reply = s
        .call(
            Method::POST,
            &format!("/api/v1/advisory-sources/{id}/sync"),
            Some(&s.admin.token),
            None,
        )
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    reply.body
}

pub async fn csaf_provider_documents_are_checked_before_use(s: &TestServer) {
    let site = Site::start().await;
    let gpg = Gpg::new();
    let base = site.url.clone();
    let key = gpg.run(&["--armor", "--export"]);
    site.put("/key.asc", key);
    let mut entries = Vec::new();
    let docs = [
        ("good", "rhsa-2021_5217.json"),
        ("tampered", "rhsa-2022_0011.json"),
        ("wrong-hash", "rhsa-2021_5186.json"),
    ];
    for (case, file) in docs {
        let original = std::fs::read(data(&format!("csaf/oasis-examples/csaf/{file}"))).unwrap();
        let path = format!("/csaf/white/2024/{file}");
        let signature = gpg.sign(&original);
        let (served, hash) = match case {
            "good" => (original.clone(), sha256(&original)),
            // Signed and hashed as published, altered on the way.
            "tampered" => {
                let altered = String::from_utf8(original.clone())
                    .unwrap()
                    .replacen("Important", "Low", 1)
                    .into_bytes();
                assert_ne!(altered, original);
                (altered.clone(), sha256(&altered))
            }
            _ => (original.clone(), "0".repeat(64)),
        };
        site.put(&path, served);
        site.put(&format!("{path}.sha256"), format!("{hash}  {file}\n"));
        site.put(&format!("{path}.asc"), signature);
        entries.push(json!({
            "id": file, "title": file, "updated": "2024-01-01T00:00:00Z",
            "content": {"type": "application/json", "src": format!("{base}{path}")},
            "link": [
                {"rel": "self", "href": format!("{base}{path}")},
                {"rel": "hash", "href": format!("{base}{path}.sha256")},
                {"rel": "signature", "href": format!("{base}{path}.asc")}
            ],
            "format": {"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", "version": "2.0"}
        }));
    }
    let feed = json!({"feed": {"id": "white", "title": "TLP:WHITE", "link": [], "category": [], "updated": "2024-01-01T00:00:00Z", "entry": entries}});
    site.put("/csaf/feed-tlp-white.json", feed.to_string());
    let metadata = json!({
        "canonical_url": format!("{base}/.well-known/csaf/provider-metadata.json"),
        "metadata_version": "2.0", "list_on_CSAF_aggregators": true, "mirror_on_CSAF_aggregators": true,
        "role": "csaf_provider", "last_updated": "2024-01-01T00:00:00Z",
        "publisher": {"category": "vendor", "name": "Example", "namespace": "https://example.org"},
        "distributions": [{"rolie": {"feeds": [{"summary": "WHITE", "tlp_label": "WHITE", "url": format!("{base}/csaf/feed-tlp-white.json")}]}}],
        "public_openpgp_keys": [{"url": format!("{base}/key.asc")}]
    });
    site.put(
        "/.well-known/csaf/provider-metadata.json",
        metadata.to_string(),
    );

    let id = add_source(s, json!({"name": "example-csaf", "kind": "csaf", "url": format!("{base}/.well-known/csaf/provider-metadata.json")})).await;
    let report = sync(s, &id).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        (report["imported"].as_u64(), report["rejected"].as_u64()),
        (Some(1), Some(2)),
        "{report}"
    );
    let reasons: HashMap<String, String> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        reasons["rhsa-2022_0011.json"].contains("signature"),
        "{reasons:?}"
    );
    assert!(
        reasons["rhsa-2021_5186.json"].contains("Sha256 mismatch"),
        "{reasons:?}"
    );
    // The good document is stored, verified; the rejected ones are not.
    let good = s
        .get("/api/v1/advisories/RHSA-2021:5217", &s.admin.token)
        .await;
    assert_eq!(good.status.as_u16(), 200, "{}", good.text);
    assert!(
        good.body["documents"][0]["signature"]
            .as_str()
            .unwrap()
            .starts_with("verified:")
    );
    assert_eq!(
        s.get("/api/v1/advisories/RHSA-2022:0011", &s.admin.token)
            .await
            .status
            .as_u16(),
        404
    );
    assert_eq!(
        s.get("/api/v1/advisories/RHSA-2021:5186", &s.admin.token)
            .await
            .status
            .as_u16(),
        404
    );
    // The outcome is recorded on the source.
    let source = s
        .get(&format!("/api/v1/advisory-sources/{id}"), &s.admin.token)
        .await;
    assert_eq!(source.body["last_status"], "ok");
    let message = source.body["last_message"].as_str().unwrap();
    assert!(
        message.starts_with("imported 1, updated 0, unchanged 0, rejected 2\nrejected "),
        "{message}"
    );
    assert!(
        message.contains("rhsa-2022_0011.json: signature does not verify"),
        "{message}"
    );
    // A second sync: the good document is unchanged.
    let again = sync(s, &id).await;
    assert_eq!(
        (again["imported"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(1)),
        "{again}"
    );
    // The same provider through an aggregator's list, beside one that is gone.
    let aggregator = json!({
        "aggregator": {"category": "aggregator", "name": "Agg", "namespace": "https://agg.example"},
        "aggregator_version": "2.0", "canonical_url": format!("{base}/aggregator.json"), "last_updated": "2024-01-01T00:00:00Z",
        "csaf_providers": [
            {"metadata": {"last_updated": "2024-01-01T00:00:00Z", "publisher": {"category": "vendor", "name": "Example", "namespace": "https://example.org"},
                          "role": "csaf_provider", "url": format!("{base}/.well-known/csaf/provider-metadata.json")}},
            {"metadata": {"last_updated": "2024-01-01T00:00:00Z", "publisher": {"category": "vendor", "name": "Gone", "namespace": "https://gone.example"},
                          "role": "csaf_provider", "url": format!("{base}/gone/provider-metadata.json")}}
        ]
    });
    site.put("/aggregator.json", aggregator.to_string());
    let agg = add_source(
        s,
        json!({"name": "aggregator", "kind": "csaf", "url": format!("{base}/aggregator.json")}),
    )
    .await;
    let report = sync(s, &agg).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        (report["unchanged"].as_u64(), report["rejected"].as_u64()),
        (Some(1), Some(3)),
        "{report}"
    );
    assert!(
        report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["file"]
                .as_str()
                .unwrap()
                .ends_with("/gone/provider-metadata.json")
                && e["reason"].as_str().unwrap().contains("404")),
        "{report}"
    );
    site.task.abort();
}

pub async fn osv_archives_and_failures_by_url(s: &TestServer) {
    let site = Site::start().await;
    site.put(
        "/osv/crates.io/all.zip",
        std::fs::read(data("osv/crates.io-all.zip")).unwrap(),
    );
    let id = add_source(s, json!({"name": "rustsec", "kind": "osv", "url": format!("{}/osv/crates.io/all.zip", site.url)})).await;
    let report = sync(s, &id).await;
    assert_eq!(
        (report["imported"].as_u64(), report["rejected"].as_u64()),
        (Some(1206), Some(0)),
        "{}",
        report["message"]
    );
    let again = sync(s, &id).await;
    assert_eq!(again["unchanged"].as_u64(), Some(1206));
    // A truncated archive fails the source and stores nothing.
    let mut zip = std::fs::read(data("osv/PyPI-yaml-all.zip")).unwrap();
    zip.truncate(1000);
    site.put("/osv/PyPI/all.zip", zip);
    let before = s.store.count_advisories().await.unwrap();
    let broken = add_source(
        s,
        json!({"name": "pypa", "kind": "osv", "url": format!("{}/osv/PyPI/all.zip", site.url)}),
    )
    .await;
    let report = sync(s, &broken).await;
    assert_eq!(report["ok"], false);
    assert!(
        report["message"].as_str().unwrap().contains("zip"),
        "{report}"
    );
    assert_eq!(s.store.count_advisories().await.unwrap(), before);
    // Not there at all.
    let missing = add_source(
        s,
        json!({"name": "gone", "kind": "kev", "url": format!("{}/nothing.json", site.url)}),
    )
    .await;
    let report = sync(s, &missing).await;
    assert_eq!(report["ok"], false);
    assert!(
        report["message"].as_str().unwrap().contains("404"),
        "{report}"
    );
    let listed = s.get("/api/v1/advisory-sources", &s.admin.token).await;
    let statuses: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["last_status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["failed", "failed", "ok"],
        "by name: gone, pypa, rustsec"
    );
    // Bad requests.
    for (body, field) in [
        (
            json!({"name": "x", "kind": "rss", "url": "http://127.0.0.1/"}),
            "kind",
        ),
        (
            json!({"name": "x", "kind": "kev", "url": "file:///etc/passwd"}),
            "url",
        ),
        (
            json!({"name": "x", "kind": "kev", "url": "http://127.0.0.1/", "interval_hours": 0}),
            "interval_hours",
        ),
        (
            json!({"name": "x", "kind": "csaf", "url": "http://127.0.0.1/", "public_keys": "not a key"}),
            "public_keys",
        ),
    ] {
        let reply = s
            .call(
                Method::POST,
                "/api/v1/advisory-sources",
                Some(&s.admin.token),
                Some(body),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 422, "{}", reply.text);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{}",
            reply.text
        );
    }
    site.task.abort();
}

pub async fn the_scheduler_syncs_due_sources(s: &TestServer) {
    let site = Site::start().await;
    site.put(
        "/kev.json",
        std::fs::read(data("kev/known_exploited_vulnerabilities.json")).unwrap(),
    );
    let id = add_source(s, json!({"name": "kev", "kind": "kev", "url": format!("{}/kev.json", site.url), "interval_hours": 24})).await;
    let scheduler = tokio::spawn(rivet_server::sync::run_scheduler(
        s.store.clone(),
        rivet_server::sync::Fetcher::new(64 << 20),
        s.clock.clone(),
        "test".into(),
        std::time::Duration::from_millis(20),
    ));
    // Wait (bounded) for the background sync; this waits for work, it does not time it.
    let mut synced = Value::Null;
    for _ in 0..500 {
        synced = s
            .get(&format!("/api/v1/advisory-sources/{id}"), &s.admin.token)
            .await
            .body;
        if synced["last_status"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(synced["last_status"], "ok", "{synced}");
    assert_eq!(
        synced["last_message"],
        "imported 1404, updated 0, unchanged 0, rejected 0"
    );
    let next: jiff::Timestamp = synced["next_sync_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(next, s.now() + jiff::SignedDuration::from_hours(24));
    // Not due again until the clock says so.
    let audit = s.audit_len().await;
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    assert_eq!(
        s.audit_len().await,
        audit,
        "nothing ran before the source was due"
    );
    scheduler.abort();
    site.task.abort();
}

pub async fn source_passwords_are_not_shown(s: &TestServer) {
    let id = add_source(s, json!({"name": "private", "kind": "kev", "url": "https://rivet:s3cret@mirror.example/kev.json"})).await;
    let viewer = s
        .user(
            s.customer("A").await,
            rivet_core::access::Role::CustomerViewer,
            rivet_core::access::CustomerScope::All,
        )
        .await;
    for token in [&s.admin.token, &viewer.token] {
        let one = s
            .get(&format!("/api/v1/advisory-sources/{id}"), token)
            .await;
        assert_eq!(
            one.body["url"], "https://rivet:***@mirror.example/kev.json",
            "{}",
            one.text
        );
        let all = s.get("/api/v1/advisory-sources", token).await;
        assert!(!all.text.contains("s3cret"), "{}", all.text);
    }
    let audit = s
        .get("/api/v1/audit?action=advisory-source.", &s.admin.token)
        .await;
    assert!(
        audit.text.contains("mirror.example") && !audit.text.contains("s3cret"),
        "{}",
        audit.text
    );
    // The stored URL keeps the password for fetching.
    assert!(
        s.store
            .get_source(&id)
            .await
            .unwrap()
            .unwrap()
            .url
            .contains("s3cret")
    );
}

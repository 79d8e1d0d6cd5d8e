//! Agents against a real server over TLS (INV-1, AGT-1, SEC-3): enrollment
//! with single-use expiring tokens, signed check-ins, full and delta
//! inventories with the software history they record, revocation, tenant
//! isolation, bad uploads and a restart. The requests are made here with
//! the core's protocol types, byte for byte what the agent sends.

use std::sync::Arc;

use rivet_core::agent::{AgentKey, CheckinResponse, EnrollResponse, InventoryUpload};
use rivet_core::host::{InventoryDelta, canonicalize, digest};
use rivet_core::inventory::{HostFacts, Inventory, OsRelease, Package};
use rivet_server::clock::{Clock, ManualClock};
use rivet_server::config::Config;
use rivet_server::serve::{Running, start};
use serde_json::{Value, json};

use crate::harness::{hex, rnd, start_time};

struct Agent {
    key: AgentKey,
    host: rivet_core::id::HostId,
}

struct Server {
    running: Option<Running>,
    config: Config,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    admin: String,
}

fn dpkg_packages() -> Vec<Package> {
    let text =
        std::fs::read_to_string("../../../shared/data/inventories/debian12-minbase.dpkg-status")
            .expect("the shared minbase dpkg status");
    rivet_agent::packages::dpkg::parse_status(&text, "minbase").packages
}

fn inventory(packages: Vec<Package>, at: jiff::Timestamp) -> Inventory {
    let mut inv = Inventory {
        collected_at: at,
        host: HostFacts {
            hostname: Some("web1".into()),
            fqdn: Some("web1.example.net".into()),
            os: Some(OsRelease {
                id: "debian".into(),
                version_id: Some("12".into()),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                ..Default::default()
            }),
            architecture: Some("amd64".into()),
            ..Default::default()
        },
        packages,
        unfinished_packages: vec![],
        reboot: Default::default(),
        stale_processes: vec![],
        problems: vec![],
    };
    canonicalize(&mut inv);
    inv
}

impl Server {
    async fn start(database_url: Option<String>) -> Server {
        let dir = std::env::temp_dir().join(format!("rivet-agents-{}", hex(&rnd::<8>())));
        let mut config = Config::default();
        config.server.data_dir = dir;
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.agents.max_wait_secs = 2;
        if let Some(url) = database_url {
            config.database.url = url;
        }
        let clock = Arc::new(ManualClock::new(start_time()));
        rivet_server::install_crypto_provider();
        let mut server = Server {
            running: None,
            config,
            clock,
            http: reqwest::Client::new(),
            admin: String::new(),
        };
        server.restart().await;
        let login = server
            .call(
                reqwest::Method::POST,
                "/auth/login",
                None,
                Some(json!({"username": "admin", "password": "fixture password 1"})),
            )
            .await;
        server.admin = login.1["token"].as_str().expect("login").to_owned();
        server
    }

    /// Starts (again) on the same data; the port changes.
    async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
        let (running, _) = start(
            self.config.clone(),
            Some("fixture password 1".into()),
            self.clock.clone() as Arc<dyn Clock>,
        )
        .await
        .unwrap();
        rivet_server::install_crypto_provider();
        let ca =
            reqwest::Certificate::from_pem(running.ca_pem.as_ref().unwrap().as_bytes()).unwrap();
        self.http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        self.running = Some(running);
    }

    fn url(&self) -> &str {
        &self.running.as_ref().unwrap().url
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.url()));
        if let Some(t) = token.or(Some(self.admin.as_str()).filter(|t| !t.is_empty())) {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A signed agent request with exactly these body bytes.
    async fn agent(
        &self,
        agent: &Agent,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let full = format!("/api/v1{path}");
        let auth = agent
            .key
            .authorize(agent.host, method.as_str(), &full, self.clock.now(), &body);
        let resp = self
            .http
            .request(method, format!("{}{full}", self.url()))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn token(&self, tenant: &str, hours: u64) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/enrollment-tokens",
                None,
                Some(json!({"tenant": tenant, "expires_in_secs": hours * 3600, "attributes": {"ring": "pilot", "tags": ["web"]}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let fp = self
            .running
            .as_ref()
            .unwrap()
            .ca_fingerprint
            .clone()
            .unwrap();
        assert_eq!(body["ca_fingerprint"], fp.as_str());
        let command = body["enroll_command"].as_str().unwrap();
        assert!(command.contains(&fp), "{command}");
        // The server listens on port 0; agents are told the bound port.
        assert!(
            command.contains(&format!("--server {}", self.url())),
            "{command}"
        );
        body["secret"].as_str().unwrap().to_owned()
    }

    async fn enroll(&self, token: &str) -> Result<Agent, (u16, Value)> {
        let key = AgentKey::from_bytes(rnd());
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/agent/enroll",
                Some("none"),
                Some(json!({"token": token, "public_key": key.public(), "hostname": "web1", "agent_version": "0.1.0"})),
            )
            .await;
        if status != 201 {
            return Err((status, body));
        }
        let enrolled: EnrollResponse = serde_json::from_value(body).unwrap();
        Ok(Agent {
            key,
            host: enrolled.host,
        })
    }

    async fn checkin(&self, agent: &Agent, inv: Option<&Inventory>, wait: u32) -> (u16, Value) {
        let body = json!({"agent_version": "0.1.0", "inventory_digest": inv.map(digest), "wait_secs": wait});
        self.agent(
            agent,
            reqwest::Method::POST,
            "/agent/checkin",
            body.to_string().into_bytes(),
        )
        .await
    }

    async fn upload(&self, agent: &Agent, upload: &InventoryUpload) -> (u16, Value) {
        self.agent(
            agent,
            reqwest::Method::PUT,
            "/agent/inventory",
            serde_json::to_vec(upload).unwrap(),
        )
        .await
    }

    async fn customer(&self, name: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/tenants",
                None,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
        let _ = std::fs::remove_dir_all(&self.config.server.data_dir);
    }
}

pub async fn agents_enroll_report_and_are_revoked(database_url: Option<String>) {
    let mut s = Server::start(database_url).await;
    let a = s.customer("Agents A").await;
    let b = s.customer("Agents B").await;

    // Enrollment: single use, expiring, the secret checked.
    let token = s.token(&a, 1).await;
    let agent = s.enroll(&token).await.unwrap();
    let (status, body) = s.enroll(&token).await.err().unwrap();
    assert_eq!(
        (status, body["error"]["message"].as_str().unwrap()),
        (401, "the enrollment token was already used")
    );
    let expiring = s.token(&a, 1).await;
    s.clock.advance(jiff::SignedDuration::from_hours(2));
    let (status, body) = s.enroll(&expiring).await.err().unwrap();
    assert_eq!(
        (status, body["error"]["message"].as_str().unwrap()),
        (401, "the enrollment token has expired")
    );
    let forged = rivet_core::agent::EnrollmentSecret::new(
        rivet_core::agent::EnrollmentSecret::parse(&token)
            .unwrap()
            .id,
        rnd(),
    );
    assert_eq!(s.enroll(&forged.expose()).await.err().unwrap().0, 401);

    // First check-in: the server wants the whole inventory.
    let packages = dpkg_packages();
    assert_eq!(packages.len(), 89);
    let first = inventory(packages.clone(), s.clock.now());
    let (status, body) = s.checkin(&agent, Some(&first), 30).await;
    assert_eq!(status, 200, "{body}");
    let answer: CheckinResponse = serde_json::from_value(body).unwrap();
    assert_eq!(answer.inventory, rivet_core::agent::InventoryWanted::Full);
    let (status, receipt) = s
        .upload(
            &agent,
            &InventoryUpload::Full {
                inventory: first.clone(),
            },
        )
        .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["digest"], digest(&first).as_str());
    assert_eq!(receipt["changes"], 0, "the first inventory is the baseline");

    // The server holds exactly those packages.
    let host = agent.host.to_string();
    let (_, held) = s
        .call(
            reqwest::Method::GET,
            &format!("/hosts/{host}/packages"),
            None,
            None,
        )
        .await;
    let held: Vec<Package> = serde_json::from_value(held).unwrap();
    assert_eq!(held, first.packages);
    let (_, detail) = s
        .call(reqwest::Method::GET, &format!("/hosts/{host}"), None, None)
        .await;
    assert_eq!(detail["name"], "web1.example.net");
    assert_eq!(detail["os_id"], "debian");
    assert_eq!(detail["package_count"], 89);
    assert_eq!(detail["attributes"]["ring"], "pilot");

    // Unchanged: nothing to send, and the long poll waits its time out
    // (the server's 2 s, not the 30 asked for).
    let (_, body) = s.checkin(&agent, Some(&first), 30).await;
    assert_eq!(body["inventory"]["send"], "nothing");
    assert_eq!(body["collect_now"], false);
    // A fleet this small may poll as often as any agent does.
    assert_eq!(body["poll_interval_secs"], 5, "{body}");

    // Asking for a fresh inventory wakes a waiting check-in.
    let waiting = {
        let agent = Agent {
            key: AgentKey::from_bytes(agent.key.to_bytes()),
            host: agent.host,
        };
        let digest_first = first.clone();
        let srv = &s;
        async move { srv.checkin(&agent, Some(&digest_first), 30).await }
    };
    let collect = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        s.call(
            reqwest::Method::POST,
            &format!("/hosts/{host}/collect"),
            None,
            None,
        )
        .await
    };
    let ((_, woken), (status, _)) = tokio::join!(waiting, collect);
    assert_eq!(status, 202);
    assert_eq!(woken["collect_now"], true);

    // A change: upgrade one package, remove one, install one; sent as a delta.
    let mut changed = packages.clone();
    let upgraded = changed.iter().position(|p| p.name == "libc6").unwrap();
    changed[upgraded].version = format!("{}+rivet1", changed[upgraded].version);
    let removed = changed.iter().position(|p| p.name == "gzip").unwrap();
    changed.remove(removed);
    let mut jq = changed[0].clone();
    jq.name = "jq".into();
    jq.source_name = "jq".into();
    jq.version = "1.6-2.1".into();
    jq.source_version = "1.6-2.1".into();
    changed.push(jq);
    let second = inventory(changed, s.clock.now());
    let (_, body) = s.checkin(&agent, Some(&second), 0).await;
    assert_eq!(body["inventory"]["send"], "delta");
    assert_eq!(body["inventory"]["base"], digest(&first).as_str());
    let delta = InventoryDelta::between(&first, &second);
    // A delta from a base the server does not hold is refused whole.
    let mut wrong = delta.clone();
    wrong.base = digest(&second);
    let (status, _) = s
        .upload(&agent, &InventoryUpload::Delta { delta: wrong })
        .await;
    assert_eq!(status, 409);
    let (status, receipt) = s.upload(&agent, &InventoryUpload::Delta { delta }).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["changes"], 3);
    let (_, detail) = s
        .call(reqwest::Method::GET, &format!("/hosts/{host}"), None, None)
        .await;
    assert!(
        detail["collect_requested_at"].is_null(),
        "the requested inventory arrived"
    );
    let (_, history) = s
        .call(
            reqwest::Method::GET,
            &format!("/hosts/{host}/history"),
            None,
            None,
        )
        .await;
    let mut seen: Vec<(String, String)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["change"].as_str().unwrap().to_owned(),
                e["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("installed".into(), "jq".into()),
            ("removed".into(), "gzip".into()),
            ("upgraded".into(), "libc6".into())
        ]
    );
    let (_, found) = s
        .call(
            reqwest::Method::GET,
            "/hosts?package=jq&version=%3E%3D1.6",
            None,
            None,
        )
        .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let (_, found) = s
        .call(
            reqwest::Method::GET,
            "/hosts?package=jq&version=%3C1.6",
            None,
            None,
        )
        .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 0);

    // Bad uploads are refused with a reason and change nothing.
    let mut bad = second.clone();
    bad.packages[3].version = "not a version!".into();
    let (status, body) = s
        .upload(&agent, &InventoryUpload::Full { inventory: bad })
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inventory.packages[3].version"),
        "{body}"
    );
    let (status, body) = s
        .agent(
            &agent,
            reqwest::Method::PUT,
            "/agent/inventory",
            br#"{"full":{"inventory":{"packages":7}}}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let huge = vec![b' '; s.config.agents.max_inventory_bytes + 1];
    let (status, _) = s
        .agent(&agent, reqwest::Method::PUT, "/agent/inventory", huge)
        .await;
    assert_eq!(status, 413);
    let (_, detail) = s
        .call(reqwest::Method::GET, &format!("/hosts/{host}"), None, None)
        .await;
    assert_eq!(
        detail["inventory_digest"],
        digest(&second).as_str(),
        "nothing stored"
    );

    // A signature over other bytes, or another host's key, is refused.
    let imposter = Agent {
        key: AgentKey::from_bytes(rnd()),
        host: agent.host,
    };
    assert_eq!(s.checkin(&imposter, Some(&second), 0).await.0, 401);

    // Tenant isolation: a customer-B user sees none of A's hosts.
    let b_token = s.token(&b, 1).await;
    let b_agent = s.enroll(&b_token).await.unwrap();
    let (status, _) = s.checkin(&b_agent, None, 0).await;
    assert_eq!(status, 200);
    let (status, body) = s
        .call(reqwest::Method::POST, "/users", None, Some(json!({"tenant_id": b, "username": "b-viewer", "role": "customer-viewer", "password": "fixture password 1"})))
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, login) = s
        .call(
            reqwest::Method::POST,
            "/auth/login",
            Some("none"),
            Some(json!({"username": "b-viewer", "password": "fixture password 1"})),
        )
        .await;
    let viewer = login["token"].as_str().unwrap().to_owned();
    let (_, list) = s
        .call(reqwest::Method::GET, "/hosts", Some(&viewer), None)
        .await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b_agent.host.to_string().as_str()]);
    assert_eq!(
        s.call(
            reqwest::Method::GET,
            &format!("/hosts/{host}"),
            Some(&viewer),
            None
        )
        .await
        .0,
        404
    );

    // A restart: the agent's next check-in finds its inventory held.
    s.restart().await;
    let (status, body) = s.checkin(&agent, Some(&second), 0).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["inventory"]["send"], "nothing");
    let (_, detail) = s
        .call(reqwest::Method::GET, &format!("/hosts/{host}"), None, None)
        .await;
    assert!(
        detail["last_seen_at"].is_string(),
        "check-ins were written before the restart"
    );

    // Revocation: the agent is refused from then on.
    let (status, _) = s
        .call(
            reqwest::Method::POST,
            &format!("/hosts/{host}/revoke"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = s.checkin(&agent, Some(&second), 0).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["kind"], "unauthenticated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );

    // A clock far off is told so, by its own kind of error.
    s.clock.advance(jiff::SignedDuration::from_hours(1));
    let body = json!({"agent_version": "0.1.0", "inventory_digest": null, "wait_secs": 0})
        .to_string()
        .into_bytes();
    let auth = b_agent.key.authorize(
        b_agent.host,
        "POST",
        "/api/v1/agent/checkin",
        start_time(),
        &body,
    );
    let resp = s
        .http
        .post(format!("{}/api/v1/agent/checkin", s.url()))
        .header("authorization", auth)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "clock_skew");
    s.stop().await;
}

/// The agent's own code (enroll with the fingerprint pinned, collect a real
/// dpkg root, check in) against the server: the server then holds exactly
/// the root's packages, and a package removed from the root shows up in the
/// history after the next check-in.
pub async fn the_agent_enrolls_and_reports_a_root(database_url: Option<String>) {
    let s = Server::start(database_url).await;
    let tenant = s.customer("Agent root").await;
    let token = s.token(&tenant, 1).await;
    let work = s.config.server.data_dir.join("agent-work");
    let root = work.join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let status =
        std::fs::read_to_string("../../../shared/data/inventories/debian12-minbase.dpkg-status")
            .unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), &status).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
    )
    .unwrap();
    let state = work.join("state");
    let fingerprint = s.running.as_ref().unwrap().ca_fingerprint.clone().unwrap();
    let enrolled = rivet_agent::enroll(
        &rivet_agent::EnrollOptions {
            server: rivet_agent::ServerUrl::parse(s.url()).unwrap(),
            token,
            ca_fingerprint: Some(fingerprint.parse().unwrap()),
            state_dir: state.clone(),
            hostname: "root-host".into(),
            force: false,
        },
        s.clock.now(),
    )
    .await
    .unwrap();
    assert!(!enrolled.trusted_on_first_use);
    let report = rivet_agent::checkin_once(&state, &root, s.clock.now())
        .await
        .unwrap();
    assert!(report.uploaded.is_some(), "the first check-in uploads");
    let host = enrolled.enrollment.host.to_string();
    let (_, held) = s
        .call(
            reqwest::Method::GET,
            &format!("/hosts/{host}/packages"),
            None,
            None,
        )
        .await;
    let held: Vec<Package> = serde_json::from_value(held).unwrap();
    let mut expected = rivet_agent::packages::dpkg::parse_status(&status, "status").packages;
    expected.sort_by(rivet_core::host::package_order);
    assert_eq!(
        held, expected,
        "the server holds exactly the root's dpkg packages"
    );

    // Remove a package from the root's database; the next check-in records it.
    let without: Vec<&str> = status
        .split("\n\n")
        .filter(|stanza| !stanza.starts_with("Package: gzip\n"))
        .collect();
    std::fs::write(root.join("var/lib/dpkg/status"), without.join("\n\n")).unwrap();
    s.clock.advance(jiff::SignedDuration::from_mins(15));
    let report = rivet_agent::checkin_once(&state, &root, s.clock.now())
        .await
        .unwrap();
    assert!(report.uploaded.is_some());
    let (_, history) = s
        .call(
            reqwest::Method::GET,
            &format!("/hosts/{host}/history"),
            None,
            None,
        )
        .await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{history}");
    assert_eq!(items[0]["change"], "removed");
    assert_eq!(items[0]["name"], "gzip");
    // Unchanged now: nothing is uploaded.
    let report = rivet_agent::checkin_once(&state, &root, s.clock.now())
        .await
        .unwrap();
    assert!(report.uploaded.is_none());
    s.stop().await;
}

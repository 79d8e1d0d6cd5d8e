//! The real Rivet server for the agent's tests: `rivet_server::serve::start`
//! over TLS on SQLite in a temporary directory, an administrator logged in
//! through the API, and the calls the tests make as that administrator
//! (enrollment tokens, hosts, their packages and software history).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use rivet_agent::{CaFingerprint, EnrollOptions, Enrolled, ServerUrl};
use rivet_core::inventory::Package;
use rivet_server::clock::{Clock, ManualClock, SystemClock};
use rivet_server::config::{Config, TlsMode};
use rivet_server::serve::{Running, start};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use crate::pki::Leaf;

const PASSWORD: &str = "fixture password 1";

/// How a test wants its server.
#[derive(Default)]
pub struct Options {
    /// Run on the wall clock, for the agent's binary, which signs with it.
    /// Otherwise the server runs on a manual clock (starting at the wall
    /// time, so that its certificates are valid) shared with the test.
    pub wall_clock: bool,
    /// Serve this certificate (`tls.mode = "files"`) instead of one from the
    /// server's own CA.
    pub files: Option<Files>,
    /// Listen here instead of on a free port of 127.0.0.1.
    pub listen: Option<SocketAddr>,
}

/// A certificate for `tls.mode = "files"`.
pub struct Files {
    /// The certificate (and chain) to serve.
    pub leaf: Leaf,
    /// The CA the test's own client trusts.
    pub ca: CertificateDer<'static>,
    /// The name the test's own client connects to (resolved to the server).
    pub name: String,
}

/// A running server and its administrator.
pub struct Rivet {
    running: Option<Running>,
    config: Config,
    clock: Arc<dyn Clock>,
    manual: Option<Arc<ManualClock>>,
    http: reqwest::Client,
    base: String,
    admin: String,
    tenant: String,
    dir: tempfile::TempDir,
}

/// One entry of a host's software history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Change {
    /// installed, removed, upgraded, downgraded.
    pub change: String,
    /// The package.
    pub name: String,
    /// The version before.
    pub old_version: Option<String>,
    /// The version after.
    pub new_version: Option<String>,
}

/// An agent enrolled by the library into a temporary state directory.
pub struct Agent {
    /// The state directory.
    pub state: tempfile::TempDir,
    /// Its host id.
    pub host: String,
}

impl Rivet {
    /// A server on a manual clock, serving its own CA's certificate.
    pub async fn start() -> Rivet {
        Rivet::start_with(Options::default()).await
    }

    /// A server as `options` say.
    pub async fn start_with(options: Options) -> Rivet {
        rivet_server::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.data_dir = dir.path().join("data");
        config.server.listen = options.listen.unwrap_or(([127, 0, 0, 1], 0).into());
        config.agents.max_wait_secs = 30;
        let mut trust = None;
        let mut name = None;
        if let Some(files) = &options.files {
            let (cert, key) = files.leaf.write(dir.path());
            config.tls.mode = TlsMode::Files;
            config.tls.cert_file = cert;
            config.tls.key_file = key;
            trust = Some(files.ca.clone());
            name = Some(files.name.clone());
        }
        let (clock, manual): (Arc<dyn Clock>, _) = if options.wall_clock {
            (Arc::new(SystemClock), None)
        } else {
            let manual = Arc::new(ManualClock::new(SystemClock.now()));
            (manual.clone(), Some(manual))
        };
        let (running, _) = start(config.clone(), Some(PASSWORD.into()), clock.clone())
            .await
            .unwrap();
        // The next start (a restart) listens at the same address.
        config.server.listen = running.addr;
        let trust = trust.unwrap_or_else(|| {
            CertificateDer::from_pem_slice(running.ca_pem.as_ref().unwrap().as_bytes()).unwrap()
        });
        let mut http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_der(&trust).unwrap()]);
        let base = match name.filter(|n| n.parse::<std::net::IpAddr>().is_err()) {
            Some(name) => {
                http = http.resolve(&name, running.addr);
                format!("https://{name}:{}", running.addr.port())
            }
            None => running.url.clone(),
        };
        let mut rivet = Rivet {
            running: Some(running),
            config,
            clock,
            manual,
            http: http.build().unwrap(),
            base,
            admin: String::new(),
            tenant: String::new(),
            dir,
        };
        let (status, login) = rivet
            .call(
                Method::POST,
                "/auth/login",
                Some(json!({"username": "admin", "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 201, "{login}");
        rivet.admin = login["token"].as_str().unwrap().to_owned();
        let (status, tenant) = rivet
            .call(Method::POST, "/tenants", Some(json!({"name": "Agents"})))
            .await;
        assert_eq!(status, 201, "{tenant}");
        rivet.tenant = tenant["id"].as_str().unwrap().to_owned();
        rivet
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("the server is stopped")
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.config.server.listen
    }

    /// The URL agents enroll with, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr())
    }

    /// The fingerprint of the CA it presents.
    pub fn fingerprint(&self) -> CaFingerprint {
        self.running()
            .ca_fingerprint
            .as_ref()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The CA certificate it presents last in its chain.
    pub fn ca(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.running().ca_pem.as_ref().unwrap().as_bytes()).unwrap()
    }

    /// Its time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A clock for the agent's service loop that moves the server's
    /// (manual) clock 3 s on at every reading: the loop's waits are then
    /// over before they begin (polls at least 5 s apart, collections at
    /// least 10 s apart), and agent and server agree on the time.
    pub fn stepping_clock(&self) -> impl Fn() -> Timestamp + use<> {
        let clock = self.manual.clone().expect("a manual clock");
        move || {
            clock.advance(SignedDuration::from_secs(3));
            clock.now()
        }
    }

    /// Check-ins the server holds now, waiting for work.
    pub fn waiting_checkins(&self) -> usize {
        self.running().api.hub.waiting()
    }

    /// Stops the server; its data stays for [`Rivet::restart`].
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
    }

    /// Starts the stopped server again on the same data and address.
    pub async fn restart(&mut self) {
        assert!(self.running.is_none(), "stop it first");
        let (running, _) = start(self.config.clone(), None, self.clock.clone())
            .await
            .unwrap();
        self.running = Some(running);
    }

    /// An API call as the administrator: status and JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        if !self.admin.is_empty() {
            request = request.bearer_auth(&self.admin);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A new single-use enrollment token, valid for an hour.
    pub async fn token(&self) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/enrollment-tokens",
                Some(json!({"tenant": self.tenant, "expires_in_secs": 3600})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["secret"].as_str().unwrap().to_owned()
    }

    /// True once a host has enrolled with `token`.
    pub async fn token_used(&self, token: &str) -> bool {
        let id = rivet_core::agent::EnrollmentSecret::parse(token)
            .unwrap()
            .id
            .to_string();
        let page = self.get("/enrollment-tokens").await;
        let entry = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .expect("the token is listed")
            .clone();
        !entry["used_at"].is_null()
    }

    /// What `rivet-agent enroll` would be given to enroll at `server` (this
    /// server, or a gate before it) into `state_dir`, with a fresh token.
    pub async fn enroll_options(
        &self,
        server: &str,
        state_dir: &Path,
        fingerprint: Option<CaFingerprint>,
    ) -> EnrollOptions {
        EnrollOptions {
            server: ServerUrl::parse(server).unwrap(),
            token: self.token().await,
            ca_fingerprint: fingerprint,
            state_dir: state_dir.to_owned(),
            hostname: "web1".into(),
            force: false,
        }
    }

    /// Enrolls with the agent's library at `server`.
    pub async fn enroll_at(
        &self,
        server: &str,
        state_dir: &Path,
        fingerprint: Option<CaFingerprint>,
    ) -> Enrolled {
        let options = self.enroll_options(server, state_dir, fingerprint).await;
        rivet_agent::enroll(&options, self.now()).await.unwrap()
    }

    /// An agent enrolled with the CA pinned by its fingerprint.
    pub async fn agent(&self) -> Agent {
        let state = tempfile::tempdir().unwrap();
        let enrolled = self
            .enroll_at(&self.url(), state.path(), Some(self.fingerprint()))
            .await;
        Agent {
            state,
            host: enrolled.enrollment.host.to_string(),
        }
    }

    /// A host as the API shows it.
    pub async fn host(&self, host: &str) -> Value {
        self.get(&format!("/hosts/{host}")).await
    }

    /// The packages the server holds for a host.
    pub async fn packages(&self, host: &str) -> Vec<Package> {
        serde_json::from_value(self.get(&format!("/hosts/{host}/packages")).await).unwrap()
    }

    /// A host's software history, newest first.
    pub async fn history(&self, host: &str) -> Vec<Change> {
        let page = self.get(&format!("/hosts/{host}/history")).await;
        serde_json::from_value(page["items"].clone()).unwrap()
    }

    /// Revokes a host's agent.
    pub async fn revoke(&self, host: &str) {
        let (status, body) = self
            .call(Method::POST, &format!("/hosts/{host}/revoke"), None)
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Asks a host's agent for a fresh inventory.
    pub async fn collect(&self, host: &str) {
        let (status, body) = self
            .call(Method::POST, &format!("/hosts/{host}/collect"), None)
            .await;
        assert_eq!(status, 202, "{body}");
    }

    /// Stops the server and removes its data.
    pub async fn finish(mut self) {
        self.stop().await;
        drop(self.dir);
    }
}

/// Waits until `check` holds, up to 20 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..1000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

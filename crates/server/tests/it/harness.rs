//! A server for one test: the real router over a real database, driven
//! in-process (no socket) with a manual clock; and fixtures created through
//! the store, as an administrator with database access would.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use rivet_core::Timestamp;
use rivet_core::access::{CustomerScope, Permission, Role};
use rivet_core::audit::Actor;
use rivet_core::id::{TenantId, TokenId, UserId};
use rivet_core::user::TokenSecret;
use rivet_server::api::{Api, app};
use rivet_server::clock::ManualClock;
use rivet_server::config::Config;
use rivet_store::testing::TestDatabase;
use rivet_store::{NewToken, NewUser, Store};
use serde_json::Value;
use tower::ServiceExt;

/// The password every fixture user has.
pub const PASSWORD: &str = "fixture password 1";

/// One argon2 hash of [`PASSWORD`], computed once per test binary.
pub fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| rivet_server::password::hash(PASSWORD).unwrap())
        .clone()
}

/// Fresh random bytes.
pub fn rnd<const N: usize>() -> [u8; N] {
    rand::random()
}

/// The time every test starts at.
pub fn start_time() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

/// A user created as a fixture, with a token.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub id: UserId,
    pub tenant: TenantId,
    pub username: String,
    pub role: Role,
    pub token: String,
}

pub struct TestServer {
    pub db: TestDatabase,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub router: Router,
    pub config: Config,
    pub provider: TenantId,
    pub admin: Fixture,
    /// The assessment task, as `serve::start` runs it.
    assessment: tokio::task::JoinHandle<()>,
}

/// A response: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

impl TestServer {
    pub async fn start(db: TestDatabase) -> TestServer {
        Self::start_with(db, Config::default()).await
    }

    pub async fn start_with(db: TestDatabase, config: Config) -> TestServer {
        let store = db.store.clone();
        let clock = Arc::new(ManualClock::new(start_time()));
        let now = start_time();
        let admin_id = UserId::new(now, rnd());
        let provider = TenantId::new(now, rnd());
        let new = NewUser {
            id: admin_id,
            tenant_id: provider,
            username: "admin".into(),
            display_name: "Admin".into(),
            role: Role::Admin,
            password_hash: password_hash(),
            customers: CustomerScope::All,
        };
        assert!(store.bootstrap("Provider", new, now).await.unwrap());
        let api = Api::new(store.clone(), clock.clone(), config.clone());
        let assessment = tokio::spawn(rivet_server::assessor::run(
            api.assessor.clone(),
            store.clone(),
            clock.clone(),
        ));
        let router = app(api);
        let mut server = TestServer {
            db,
            store,
            clock,
            router,
            config,
            provider,
            assessment,
            admin: Fixture {
                id: admin_id,
                tenant: provider,
                username: "admin".into(),
                role: Role::Admin,
                token: String::new(),
            },
        };
        server.admin.token = server
            .token_for(admin_id, provider, Role::Admin.permissions())
            .await;
        server
    }

    pub async fn finish(self) {
        self.assessment.abort();
        self.db.drop_database().await;
    }

    pub fn now(&self) -> Timestamp {
        use rivet_server::clock::Clock;
        self.clock.now()
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|b| b.to_string());
        self.raw(
            method,
            path,
            token,
            body.as_deref(),
            Some("application/json"),
        )
        .await
    }

    /// Sends raw bytes, for malformed input.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let (Some(_), Some(ct)) = (body, content_type) {
            req = req.header("content-type", ct);
        }
        let req = req
            .body(
                body.map(|b| Body::from(b.to_owned()))
                    .unwrap_or_else(Body::empty),
            )
            .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// A customer tenant.
    pub async fn customer(&self, name: &str) -> TenantId {
        let id = TenantId::new(self.now(), rnd());
        self.store
            .create_tenant(id, name, None, &Actor::system(), self.now())
            .await
            .unwrap();
        id
    }

    /// A token for a user with `scopes`, valid for a day.
    pub async fn token_for(&self, user: UserId, tenant: TenantId, scopes: &[Permission]) -> String {
        let secret = TokenSecret::new(TokenId::new(self.now(), rnd()), rnd());
        let new = NewToken {
            id: secret.id,
            user_id: user,
            tenant_id: tenant,
            name: "fixture".into(),
            secret_hash: secret.hash(),
            scopes: scopes.iter().copied().collect::<BTreeSet<_>>(),
            expires_at: self.now() + jiff::SignedDuration::from_hours(24),
        };
        self.store
            .create_token(&new, &Actor::system(), self.now())
            .await
            .unwrap();
        secret.expose()
    }

    /// A user of `tenant` with `role` (and for provider users, `customers`),
    /// with a token holding every permission of the role.
    pub async fn user(&self, tenant: TenantId, role: Role, customers: CustomerScope) -> Fixture {
        let id = UserId::new(self.now(), rnd());
        let username = format!("u{}", hex(&rnd::<6>()));
        let new = NewUser {
            id,
            tenant_id: tenant,
            username: username.clone(),
            display_name: username.clone(),
            role,
            password_hash: password_hash(),
            customers,
        };
        self.store
            .create_user(&new, &Actor::system(), self.now())
            .await
            .unwrap();
        let token = self.token_for(id, tenant, role.permissions()).await;
        Fixture {
            id,
            tenant,
            username,
            role,
            token,
        }
    }

    /// The audit chain's length: a cheap proof that nothing was changed.
    /// A host with an enrolled agent in `tenant`, with two packages.
    pub async fn host(&self, tenant: TenantId, name: &str) -> rivet_core::id::HostId {
        self.agent_host(tenant, name).await.0
    }

    /// A signed request of a host's agent, with a JSON body.
    pub async fn agent(
        &self,
        (host, key): (rivet_core::id::HostId, &rivet_core::agent::AgentKey),
        method: Method,
        path: &str,
        body: Value,
    ) -> Reply {
        let body = body.to_string();
        let auth = key.authorize(host, method.as_str(), path, self.now(), body.as_bytes());
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// A host with an enrolled agent in `tenant`, with two packages, and
    /// its agent's key.
    pub async fn agent_host(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> (rivet_core::id::HostId, rivet_core::agent::AgentKey) {
        let mut inventory = rivet_core::inventory::Inventory {
            collected_at: self.now(),
            host: Default::default(),
            packages: ["libc6", "openssl"]
                .iter()
                .map(|n| rivet_core::inventory::Package {
                    format: rivet_core::inventory::PackageFormat::Deb,
                    name: (*n).into(),
                    version: "1.0-1".into(),
                    architecture: "amd64".into(),
                    source_name: (*n).into(),
                    source_version: "1.0-1".into(),
                    repository: None,
                    installed_at: None,
                })
                .collect(),
            unfinished_packages: vec![],
            reboot: Default::default(),
            stale_processes: vec![],
            problems: vec![],
        };
        rivet_core::host::canonicalize(&mut inventory);
        let digest = rivet_core::host::digest(&inventory);
        let enrollment = self.enrollment(tenant).await;
        let key = rivet_core::agent::AgentKey::from_bytes(rnd());
        let host = self
            .store
            .enroll_host(
                enrollment,
                |_| true,
                rivet_core::id::HostId::new(self.now(), rnd()),
                &key.public(),
                name,
                "test",
                self.now(),
            )
            .await
            .unwrap()
            .unwrap();
        self.store
            .store_inventory(rivet_store::InventoryWrite {
                host: host.id,
                inventory,
                digest,
                expected_base: None,
                at: self.now(),
            })
            .await
            .unwrap()
            .unwrap();
        (host.id, key)
    }

    /// An unused enrollment token of `tenant`, valid for a day.
    pub async fn enrollment(&self, tenant: TenantId) -> rivet_core::id::EnrollmentId {
        let id = rivet_core::id::EnrollmentId::new(self.now(), rnd());
        let secret = rivet_core::agent::EnrollmentSecret::new(id, rnd());
        let new = rivet_store::NewEnrollment {
            id,
            tenant_id: tenant,
            secret_hash: secret.hash(),
            attributes: Default::default(),
            note: String::new(),
            expires_at: self.now() + jiff::SignedDuration::from_hours(24),
        };
        self.store
            .create_enrollment(&new, &Actor::system(), self.now())
            .await
            .unwrap();
        id
    }

    pub async fn audit_len(&self) -> i64 {
        self.store.audit_head().await.unwrap().0
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `CustomerScope::Only` of the given tenants.
pub fn only(tenants: &[TenantId]) -> CustomerScope {
    CustomerScope::Only(tenants.iter().copied().collect())
}

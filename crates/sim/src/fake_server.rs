//! A stand-in for the server's agent API, for the simulator's own tests: it
//! keeps the same contract (single-use enrollment tokens, signatures checked
//! with the core's verifier over the exact body, Full / Delta / Nothing
//! answers, deltas applied with `InventoryDelta::apply` and refused with 409
//! when their base is not the inventory held), in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use rivet_core::Timestamp;
use rivet_core::agent::{
    AgentAuthorization, AgentPublicKey, CheckinRequest, CheckinResponse, EnrollRequest,
    EnrollResponse, InventoryReceipt, InventoryUpload, InventoryWanted,
};
use rivet_core::host::{canonicalize, digest};
use rivet_core::id::{HostId, TenantId};
use rivet_core::inventory::Inventory;
use serde_json::json;

/// What the fake server holds.
#[derive(Default)]
pub struct Held {
    /// Unused enrollment secrets.
    pub secrets: Vec<String>,
    /// Hosts by id: key and inventory.
    pub hosts: HashMap<HostId, (AgentPublicKey, Option<Inventory>)>,
    /// How many deltas were applied.
    pub deltas: usize,
}

type Shared = Arc<Mutex<Held>>;

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"kind": kind, "message": message}})),
    )
        .into_response()
}

/// Starts the fake server on a free local port: its base URL and state.
pub async fn start() -> (String, Shared) {
    let held: Shared = Arc::default();
    let app = Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/enrollment-tokens", post(enrollment_token))
        .route("/api/v1/agent/enroll", post(enroll))
        .route("/api/v1/agent/checkin", post(checkin))
        .route("/api/v1/agent/inventory", put(inventory))
        .with_state(held.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, held)
}

async fn login(Json(body): Json<serde_json::Value>) -> Response {
    if body["password"] == "right" {
        (
            StatusCode::CREATED,
            Json(json!({"token": "rvt_admin", "info": {}})),
        )
            .into_response()
    } else {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "wrong password",
        )
    }
}

async fn enrollment_token(
    State(held): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some("Bearer rvt_admin") {
        return error(StatusCode::UNAUTHORIZED, "unauthenticated", "no token");
    }
    if body["tenant"].as_str().is_none() || body["attributes"]["tags"].as_array().is_none() {
        return error(StatusCode::BAD_REQUEST, "invalid", "tenant and attributes");
    }
    let mut held = held.lock().unwrap();
    let secret = format!("rve_{}", held.secrets.len() + held.hosts.len());
    held.secrets.push(secret.clone());
    let answer = json!({"token": {"id": secret}, "secret": secret, "ca_fingerprint": "00", "enroll_command": ""});
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn enroll(State(held): State<Shared>, Json(request): Json<EnrollRequest>) -> Response {
    let mut held = held.lock().unwrap();
    let Some(position) = held.secrets.iter().position(|s| *s == request.token) else {
        return error(StatusCode::UNAUTHORIZED, "unauthenticated", "unknown token");
    };
    held.secrets.swap_remove(position);
    let host = HostId(uuid::Uuid::from_u128(held.hosts.len() as u128 + 1));
    held.hosts.insert(host, (request.public_key, None));
    let answer = EnrollResponse {
        host,
        tenant: TenantId(uuid::Uuid::from_u128(7)),
        checkin_interval_secs: 3600,
    };
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// The host a request comes from, if its signature verifies.
fn authenticate(
    held: &Held,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<HostId, String> {
    let refuse = |m: &str| m.to_owned();
    let header = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| refuse("no Authorization"))?;
    let auth = AgentAuthorization::parse(header).map_err(|e| refuse(&e.to_string()))?;
    let (key, _) = held
        .hosts
        .get(&auth.host)
        .ok_or_else(|| refuse("unknown host"))?;
    // The fake trusts the request's own time: the test is about the
    // signature, and the core's tests cover the clock skew.
    let at = Timestamp::from_second(auth.time).map_err(|e| refuse(&e.to_string()))?;
    auth.verify(key, method.as_str(), path, body, at)
        .map_err(|e| refuse(&e.to_string()))?;
    Ok(auth.host)
}

async fn checkin(State(held): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let held = held.lock().unwrap();
    let host = match authenticate(
        &held,
        &headers,
        &Method::POST,
        "/api/v1/agent/checkin",
        &body,
    ) {
        Ok(host) => host,
        Err(why) => return error(StatusCode::UNAUTHORIZED, "unauthenticated", &why),
    };
    let Ok(request) = serde_json::from_slice::<CheckinRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid", "not a check-in");
    };
    let inventory = match (&held.hosts[&host].1, request.inventory_digest) {
        (None, _) => InventoryWanted::Full,
        (Some(inventory), Some(d)) if digest(inventory) == d => InventoryWanted::Nothing,
        (Some(inventory), _) => InventoryWanted::Delta {
            base: digest(inventory),
        },
    };
    Json(CheckinResponse {
        inventory,
        collect_now: false,
        checkin_interval_secs: 3600,
        max_wait_secs: 60,
        poll_interval_secs: 5,
        server_time: Timestamp::from_second(1_800_000_000).unwrap(),
        jobs: Vec::new(),
    })
    .into_response()
}

async fn inventory(State(held): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut held = held.lock().unwrap();
    let host = match authenticate(
        &held,
        &headers,
        &Method::PUT,
        "/api/v1/agent/inventory",
        &body,
    ) {
        Ok(host) => host,
        Err(why) => return error(StatusCode::UNAUTHORIZED, "unauthenticated", &why),
    };
    let Ok(upload) = serde_json::from_slice::<InventoryUpload>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "not an inventory upload",
        );
    };
    let new = match upload {
        InventoryUpload::Full { mut inventory } => {
            canonicalize(&mut inventory);
            inventory
        }
        InventoryUpload::Delta { delta } => {
            let Some(base) = held.hosts[&host].1.clone() else {
                return error(StatusCode::CONFLICT, "conflict", "no inventory held");
            };
            if digest(&base) != delta.base {
                return error(StatusCode::CONFLICT, "conflict", "another base");
            }
            match delta.apply(base.packages) {
                Ok(inventory) => {
                    held.deltas += 1;
                    inventory
                }
                Err(e) => return error(StatusCode::CONFLICT, "conflict", &e.to_string()),
            }
        }
    };
    let receipt = InventoryReceipt {
        digest: digest(&new),
        changes: 0,
    };
    if let Some(entry) = held.hosts.get_mut(&host) {
        entry.1 = Some(new);
    }
    Json(receipt).into_response()
}

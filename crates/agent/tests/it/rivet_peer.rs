//! The agent API's answers for the TLS [`peer`](crate::peer): enrollment,
//! check-ins that verify the request's signature, and inventory uploads
//! that keep the held inventory and apply deltas, refusing a delta whose
//! base is not the one held. Enough of the protocol to drive the agent's
//! flows; the real server's end-to-end test replaces it when it lands.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use rivet_core::agent::{
    AgentAuthorization, AgentPublicKey, CheckinRequest, CheckinResponse, EnrollRequest,
    EnrollResponse, InventoryReceipt, InventoryUpload, InventoryWanted,
};
use rivet_core::host::{canonicalize, digest};
use rivet_core::id::{HostId, TenantId};
use rivet_core::inventory::Inventory;

use crate::peer::{Answer, Request};

/// What the pretend server knows.
#[derive(Default)]
pub struct Side {
    /// The enrolled agent's key.
    pub key: Option<AgentPublicKey>,
    /// The inventory it holds.
    pub held: Option<Inventory>,
    /// What the next check-ins answer about the inventory; `Nothing` when
    /// empty.
    pub wanted: VecDeque<InventoryWanted>,
    /// Refuse every signed request as revoked.
    pub revoked: bool,
    /// Refuse every signed request as off by 900 seconds.
    pub skewed: bool,
    /// Accept any request time (for the binary, which signs with the wall
    /// clock); the signature is still checked.
    pub any_time: bool,
    /// The upload kinds received (`full`, `delta`).
    pub uploads: Vec<String>,
    /// The signed time the check-ins carried.
    pub checkin_times: Vec<i64>,
}

/// The host id the pretend server hands out.
pub fn host() -> HostId {
    HostId::new(Timestamp::from_second(1_790_000_000).unwrap(), [1; 10])
}

/// The tenant id it hands out.
pub fn tenant() -> TenantId {
    TenantId::new(Timestamp::from_second(1_790_000_000).unwrap(), [2; 10])
}

/// The enrollment token the pretend server accepts.
pub fn token() -> String {
    rivet_core::agent::EnrollmentSecret::new(
        rivet_core::id::EnrollmentId::new(Timestamp::from_second(1_790_000_000).unwrap(), [3; 10]),
        [4; 32],
    )
    .expose()
    .to_string()
}

fn error(status: u16, kind: &str, message: &str) -> (u16, String) {
    (
        status,
        serde_json::json!({"error": {"kind": kind, "message": message}}).to_string(),
    )
}

/// The answer function over `side`, with `now` as the server's time.
pub fn answers(side: Arc<Mutex<Side>>, now: Timestamp) -> Answer {
    Arc::new(move |request: &Request| {
        let mut side = side.lock().unwrap();
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/api/v1/agent/enroll") => {
                let enroll: EnrollRequest = match serde_json::from_slice(&request.body) {
                    Ok(e) => e,
                    Err(e) => return error(400, "invalid", &e.to_string()),
                };
                if enroll.token != token() {
                    return error(
                        401,
                        "unauthenticated",
                        "the enrollment token was already used",
                    );
                }
                side.key = Some(enroll.public_key);
                let response = EnrollResponse {
                    host: host(),
                    tenant: tenant(),
                    checkin_interval_secs: 900,
                };
                (201, serde_json::to_string(&response).unwrap())
            }
            (method, path) => {
                if let Err(refusal) = authenticate(&mut side, request, now) {
                    return refusal;
                }
                match (method, path) {
                    ("POST", "/api/v1/agent/checkin") => {
                        let checkin: CheckinRequest =
                            serde_json::from_slice(&request.body).unwrap();
                        assert!(checkin.inventory_digest.is_some());
                        let response = CheckinResponse {
                            inventory: side.wanted.pop_front().unwrap_or(InventoryWanted::Nothing),
                            collect_now: false,
                            checkin_interval_secs: 900,
                            max_wait_secs: 300,
                            poll_interval_secs: 0,
                            server_time: now,
                        };
                        (200, serde_json::to_string(&response).unwrap())
                    }
                    ("PUT", "/api/v1/agent/inventory") => upload(&mut side, &request.body),
                    _ => error(404, "not_found", "no such endpoint"),
                }
            }
        }
    })
}

fn authenticate(side: &mut Side, request: &Request, now: Timestamp) -> Result<(), (u16, String)> {
    let refused = |m: &str| error(401, "unauthenticated", m);
    let auth = request
        .authorization
        .as_deref()
        .and_then(|h| AgentAuthorization::parse(h).ok())
        .ok_or_else(|| refused("no agent signature"))?;
    let key = side.key.ok_or_else(|| refused("unknown agent"))?;
    if auth.host != host() {
        return Err(refused("unknown agent"));
    }
    if side.revoked {
        return Err(refused("this agent was revoked"));
    }
    if side.skewed {
        return Err(error(
            401,
            "clock_skew",
            "the request's time is 900 s from the server's",
        ));
    }
    let now = if side.any_time {
        Timestamp::from_second(auth.time).map_err(|e| refused(&e.to_string()))?
    } else {
        now
    };
    auth.verify(&key, &request.method, &request.path, &request.body, now)
        .map_err(|e| refused(&e.to_string()))?;
    side.checkin_times.push(auth.time);
    Ok(())
}

fn upload(side: &mut Side, body: &[u8]) -> (u16, String) {
    let upload: InventoryUpload = match serde_json::from_slice(body) {
        Ok(u) => u,
        Err(e) => return error(400, "invalid", &e.to_string()),
    };
    let inventory = match upload {
        InventoryUpload::Full { mut inventory } => {
            side.uploads.push("full".into());
            canonicalize(&mut inventory);
            inventory
        }
        InventoryUpload::Delta { delta } => {
            side.uploads.push("delta".into());
            let Some(held) = side.held.as_ref().filter(|h| digest(h) == delta.base) else {
                return error(
                    409,
                    "conflict",
                    "the delta's base is not the inventory held",
                );
            };
            match delta.apply(held.packages.clone()) {
                Ok(inventory) => inventory,
                Err(e) => return error(409, "conflict", &e.to_string()),
            }
        }
    };
    let receipt = InventoryReceipt {
        digest: digest(&inventory),
        changes: 0,
    };
    side.held = Some(inventory);
    (200, serde_json::to_string(&receipt).unwrap())
}

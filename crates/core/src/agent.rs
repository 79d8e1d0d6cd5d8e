//! The protocol between an agent and the server (INV-1, AGT-1, SEC-3).
//!
//! - **Enrollment**: the agent makes an Ed25519 key pair, and trades a
//!   single-use enrollment token (`rve_…`) and its public key for a host id
//!   (`POST /api/v1/agent/enroll`). The private key never leaves the host.
//! - **Authentication**: every later request carries
//!   `Authorization: Rivet-Agent host=<host id>,time=<unix seconds>,signature=<hex>`,
//!   an Ed25519 signature over [`signed_message`]: the method, path and
//!   query, time and the SHA-256 of the body. The server refuses a time more
//!   than [`MAX_CLOCK_SKEW_SECS`] from its own, so a captured request cannot
//!   be replayed later.
//! - **Check-in** (`POST /api/v1/agent/checkin`): the agent sends the digest
//!   of its current inventory; the server answers at once when it wants the
//!   inventory (whole, or as a delta from the digest it holds) and otherwise
//!   holds the request open up to `wait_secs` for work (long polling).
//! - **Inventory** (`PUT /api/v1/agent/inventory`): an [`InventoryUpload`].

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Timestamp;
use crate::host::{InventoryDelta, InventoryDigest};
use crate::id::{EnrollmentId, HostId, TenantId};
use crate::inventory::Inventory;
use crate::secret::{Secret, SecretId};

/// The authorization scheme of agent requests.
pub const AUTH_SCHEME: &str = "Rivet-Agent";

/// How far an agent's request time may be from the server's.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Polls of one agent start at least this far apart.
pub const MIN_POLL_INTERVAL_SECS: u32 = 5;

/// How far apart each of `agents` agents should poll so that together they
/// poll about `polls_per_sec` times a second: at least
/// [`MIN_POLL_INTERVAL_SECS`], at most `collection_interval_secs` (a
/// collection's check-in polls anyway).
pub fn poll_interval_secs(agents: u64, polls_per_sec: u32, collection_interval_secs: u32) -> u32 {
    let spread = agents.div_ceil(u64::from(polls_per_sec.max(1)));
    let spread = u32::try_from(spread).unwrap_or(u32::MAX);
    spread
        .max(MIN_POLL_INTERVAL_SECS)
        .min(collection_interval_secs.max(MIN_POLL_INTERVAL_SECS))
}

/// A single-use enrollment token as handed to whoever installs the agent:
/// `rve_<id>_<secret>`.
pub type EnrollmentSecret = Secret<EnrollmentId>;

impl SecretId for EnrollmentId {
    const PREFIX: &'static str = "rve_";
    fn from_uuid(uuid: uuid::Uuid) -> Self {
        EnrollmentId(uuid)
    }
    fn uuid(&self) -> uuid::Uuid {
        self.0
    }
}

/// An agent's public key, as 64 hex digits in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", schema(value_type = String))]
pub struct AgentPublicKey(pub [u8; 32]);

impl fmt::Debug for AgentPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentPublicKey({})", hex::encode(self.0))
    }
}

impl fmt::Display for AgentPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl TryFrom<String> for AgentPublicKey {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(&value, &mut key)
            .map_err(|_| "a public key is 64 hex digits (an Ed25519 key)".to_string())?;
        VerifyingKey::from_bytes(&key).map_err(|_| "not a valid Ed25519 public key".to_string())?;
        Ok(AgentPublicKey(key))
    }
}

impl From<AgentPublicKey> for String {
    fn from(k: AgentPublicKey) -> String {
        k.to_string()
    }
}

/// An agent's private key. Debug output never shows it.
pub struct AgentKey(SigningKey);

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentKey(public {})", self.public())
    }
}

impl AgentKey {
    /// The key from 32 secret bytes (random ones for a new key).
    pub fn from_bytes(secret: [u8; 32]) -> Self {
        AgentKey(SigningKey::from_bytes(&secret))
    }

    /// The 32 secret bytes, for storing the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> AgentPublicKey {
        AgentPublicKey(self.0.verifying_key().to_bytes())
    }

    /// The `Authorization` header value for a request of `host`.
    pub fn authorize(
        &self,
        host: HostId,
        method: &str,
        path_and_query: &str,
        time: Timestamp,
        body: &[u8],
    ) -> String {
        let time = time.as_second();
        let signature = self
            .0
            .sign(&signed_message(method, path_and_query, time, body));
        format!(
            "{AUTH_SCHEME} host={},time={time},signature={}",
            host.0.simple(),
            hex::encode(signature.to_bytes())
        )
    }
}

/// The bytes an agent signs for one request.
pub fn signed_message(method: &str, path_and_query: &str, time: i64, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(128 + path_and_query.len());
    message.extend_from_slice(b"rivet-agent-request-v1\n");
    message.extend_from_slice(method.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(path_and_query.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(time.to_string().as_bytes());
    message.push(b'\n');
    message.extend_from_slice(hex::encode(Sha256::digest(body)).as_bytes());
    message
}

/// A parsed `Authorization: Rivet-Agent …` header, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAuthorization {
    /// The host the request claims to come from.
    pub host: HostId,
    /// The request's time in Unix seconds.
    pub time: i64,
    signature: [u8; 64],
}

/// Why an agent request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentAuthError {
    /// The header is not of the `Rivet-Agent` form.
    #[error("the Authorization header is not `Rivet-Agent host=…,time=…,signature=…`")]
    Malformed,
    /// The request's time is too far from the server's.
    #[error(
        "the request's time is {skew} s from the server's (at most {MAX_CLOCK_SKEW_SECS} s allowed); check the host's clock"
    )]
    ClockSkew {
        /// Request time minus server time, in seconds.
        skew: i64,
    },
    /// The signature does not verify under the host's key.
    #[error("the request's signature does not verify")]
    BadSignature,
}

impl AgentAuthorization {
    /// Parses a header value.
    pub fn parse(header: &str) -> Result<Self, AgentAuthError> {
        let rest = header
            .strip_prefix(AUTH_SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(AgentAuthError::Malformed)?;
        let (mut host, mut time, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (key, value) = part
                .trim()
                .split_once('=')
                .ok_or(AgentAuthError::Malformed)?;
            match key {
                "host" => host = uuid::Uuid::try_parse(value).ok().map(HostId),
                "time" => time = value.parse::<i64>().ok(),
                "signature" => {
                    let mut bytes = [0u8; 64];
                    signature = hex::decode_to_slice(value, &mut bytes).ok().map(|()| bytes);
                }
                _ => return Err(AgentAuthError::Malformed),
            }
        }
        match (host, time, signature) {
            (Some(host), Some(time), Some(signature)) => Ok(AgentAuthorization {
                host,
                time,
                signature,
            }),
            _ => Err(AgentAuthError::Malformed),
        }
    }

    /// Checks the time against `now` and the signature against `key`.
    pub fn verify(
        &self,
        key: &AgentPublicKey,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: Timestamp,
    ) -> Result<(), AgentAuthError> {
        let skew = self.time - now.as_second();
        if skew.abs() > MAX_CLOCK_SKEW_SECS {
            return Err(AgentAuthError::ClockSkew { skew });
        }
        let key = VerifyingKey::from_bytes(&key.0).map_err(|_| AgentAuthError::BadSignature)?;
        key.verify(
            &signed_message(method, path_and_query, self.time, body),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| AgentAuthError::BadSignature)
    }
}

/// `POST /api/v1/agent/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrollment token (`rve_…`).
    pub token: String,
    /// The agent's public key.
    pub public_key: AgentPublicKey,
    /// The host's name, shown until its first inventory arrives.
    pub hostname: String,
    /// The agent's version.
    pub agent_version: String,
}

/// The answer to an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollResponse {
    /// The new host's id: the agent's identity from now on.
    pub host: HostId,
    /// The tenant the host belongs to.
    pub tenant: TenantId,
    /// How often to collect and report the inventory.
    pub checkin_interval_secs: u32,
}

/// `POST /api/v1/agent/checkin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// The agent's version.
    pub agent_version: String,
    /// The digest of the agent's current inventory, if it has one.
    pub inventory_digest: Option<InventoryDigest>,
    /// How long the server may hold the request open when it has nothing
    /// to say (long polling); capped by the server.
    #[serde(default)]
    pub wait_secs: u32,
    /// After a `collect_now`: the `server_time` of the answer that asked,
    /// sent with the first inventory collected since. The server then knows
    /// the request was carried out, even when nothing changed; the times
    /// are the server's own, so the agent's clock does not matter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub collected_after: Option<Timestamp>,
}

/// The answer to a check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckinResponse {
    /// Whether and how to send the inventory.
    pub inventory: InventoryWanted,
    /// Collect a fresh inventory now and check in again (someone asked for
    /// it).
    pub collect_now: bool,
    /// How often to collect and report the inventory.
    pub checkin_interval_secs: u32,
    /// The longest the server holds a check-in open.
    pub max_wait_secs: u32,
    /// How far apart (from start to start) the agent's polls between
    /// collections should be. The server paces its fleet with it: the more
    /// agents, the further apart, so that polls stay within what it can
    /// answer. 0 (from servers that do not say) leaves it to the agent.
    #[serde(default)]
    pub poll_interval_secs: u32,
    /// The server's time, for agents to notice their clock's skew.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub server_time: Timestamp,
    /// Jobs of approved changes to carry out, each reported back when done
    /// (`POST /api/v1/agent/jobs/{id}/report`); handed out again on every
    /// check-in until reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<crate::job::Job>,
}

/// What the server wants of the agent's inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "send", rename_all = "snake_case")]
pub enum InventoryWanted {
    /// Nothing: the server holds this digest already.
    Nothing,
    /// The whole inventory.
    Full,
    /// A delta from the inventory with this digest, which the server holds;
    /// the whole inventory if the agent no longer has that one.
    Delta {
        /// The digest the delta must start from.
        base: InventoryDigest,
    },
}

/// `PUT /api/v1/agent/inventory`: `{"full": {"inventory": …}}` or
/// `{"delta": {"delta": …}}`. Externally tagged, unlike the other tagged
/// documents, so that the server reads the inventory as it arrives instead
/// of buffering it whole to find an inner tag first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryUpload {
    /// A whole inventory.
    Full {
        /// The inventory.
        inventory: Inventory,
    },
    /// Differences from an inventory the server holds.
    Delta {
        /// The delta.
        delta: InventoryDelta,
    },
}

/// The answer to an inventory upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryReceipt {
    /// The digest the server now holds.
    pub digest: InventoryDigest,
    /// How many software changes the upload recorded.
    pub changes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_spread_by_the_fleet_size() {
        // A small fleet polls as often as allowed.
        assert_eq!(poll_interval_secs(0, 100, 900), MIN_POLL_INTERVAL_SECS);
        assert_eq!(poll_interval_secs(300, 100, 900), MIN_POLL_INTERVAL_SECS);
        // 100,000 agents at 100 polls/s: each every 1,000 s, but a
        // collection comes first.
        assert_eq!(poll_interval_secs(100_000, 100, 900), 900);
        assert_eq!(poll_interval_secs(20_000, 100, 900), 200);
        assert_eq!(poll_interval_secs(20_001, 100, 900), 201);
        // Nonsense settings still give a sane interval.
        assert_eq!(poll_interval_secs(u64::MAX, 0, 900), 900);
        assert_eq!(poll_interval_secs(10, 100, 0), MIN_POLL_INTERVAL_SECS);
    }

    fn host() -> HostId {
        HostId::new(Timestamp::from_second(1_700_000_000).unwrap(), [7; 10])
    }

    #[test]
    fn a_signed_request_verifies_only_unchanged_and_in_time() {
        let key = AgentKey::from_bytes([3; 32]);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let header = key.authorize(host(), "POST", "/api/v1/agent/checkin", now, b"{}");
        let auth = AgentAuthorization::parse(&header).unwrap();
        assert_eq!(auth.host, host());
        let public = key.public();
        assert_eq!(
            auth.verify(&public, "POST", "/api/v1/agent/checkin", b"{}", now),
            Ok(())
        );
        for (method, path, body) in [
            ("PUT", "/api/v1/agent/checkin", &b"{}"[..]),
            ("POST", "/api/v1/agent/inventory", b"{}"),
            ("POST", "/api/v1/agent/checkin", b"{ }"),
        ] {
            assert_eq!(
                auth.verify(&public, method, path, body, now),
                Err(AgentAuthError::BadSignature)
            );
        }
        let other = AgentKey::from_bytes([4; 32]).public();
        assert_eq!(
            auth.verify(&other, "POST", "/api/v1/agent/checkin", b"{}", now),
            Err(AgentAuthError::BadSignature)
        );
        let later = Timestamp::from_second(1_800_000_000 + MAX_CLOCK_SKEW_SECS + 1).unwrap();
        assert_eq!(
            auth.verify(&public, "POST", "/api/v1/agent/checkin", b"{}", later),
            Err(AgentAuthError::ClockSkew {
                skew: -MAX_CLOCK_SKEW_SECS - 1
            })
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let good = AgentKey::from_bytes([3; 32]).authorize(
            host(),
            "GET",
            "/x",
            Timestamp::from_second(1).unwrap(),
            b"",
        );
        for bad in [
            "",
            "Bearer rvt_x",
            "Rivet-Agent",
            "Rivet-Agent host=1,time=2,signature=3",
            &good.replace("time=", "tim="),
            &good.replace("signature=", "signature=0"),
            &format!("{good},extra=1"),
        ] {
            assert_eq!(
                AgentAuthorization::parse(bad),
                Err(AgentAuthError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn public_keys_are_checked_when_read() {
        let key = AgentKey::from_bytes([9; 32]).public();
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<AgentPublicKey>(&json).unwrap(), key);
        assert!(serde_json::from_str::<AgentPublicKey>("\"abcd\"").is_err());
        let debug = format!("{:?}", AgentKey::from_bytes([9; 32]));
        assert!(!debug.contains(&hex::encode([9u8; 32])));
    }

    #[test]
    fn enrollment_secrets_have_their_own_prefix() {
        let id = EnrollmentId::new(Timestamp::from_second(1).unwrap(), [1; 10]);
        let secret = EnrollmentSecret::new(id, [5; 32]);
        let text = secret.expose();
        assert!(text.starts_with("rve_"));
        assert_eq!(EnrollmentSecret::parse(&text).unwrap(), secret);
        assert!(crate::user::TokenSecret::parse(&text).is_none());
    }
}

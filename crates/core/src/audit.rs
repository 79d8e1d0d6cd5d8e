//! The audit log (REP-4): an append-only list of every change, each entry
//! chained to the one before by SHA-256 so that an edited, removed or
//! reordered entry is detected. This module computes and checks the chain;
//! storing it is the store's job.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Timestamp;
use crate::id::TenantId;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    /// `user` for a person or script acting through a token, `system` for
    /// Rivet itself (bootstrap, scheduled work).
    pub kind: ActorKind,
    /// The user's id, if a user acted.
    pub id: Option<String>,
    /// The user's name at the time, kept even if the user is deleted later.
    pub name: String,
    /// The token the user acted through, if any.
    pub token_id: Option<String>,
}

/// The kind of actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A user, through a token.
    User,
    /// Rivet itself.
    System,
    /// A host's agent, by its own identity.
    Agent,
}

impl ActorKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::System => "system",
            ActorKind::Agent => "agent",
        }
    }
}

impl Actor {
    /// Rivet itself, for changes nobody asked for through the API.
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: "rivet".into(),
            token_id: None,
        }
    }

    /// A host's agent, acting by its own identity.
    pub fn agent(host: crate::id::HostId) -> Self {
        Actor {
            kind: ActorKind::Agent,
            id: Some(host.to_string()),
            name: format!("agent {host}"),
            token_id: None,
        }
    }
}

/// A change about to be recorded; the store assigns its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When the change happened.
    pub at: Timestamp,
    /// Who made it.
    pub actor: Actor,
    /// What was done, as `<kind>.<verb>` (e.g. `user.create`).
    pub action: String,
    /// The kind of record changed (e.g. `user`).
    pub target_kind: String,
    /// The id of the record changed.
    pub target_id: Option<String>,
    /// The tenant the record belongs to.
    pub tenant_id: Option<TenantId>,
    /// The record before, as JSON text (no secrets).
    pub before: Option<String>,
    /// The record after, as JSON text (no secrets).
    pub after: Option<String>,
}

/// An entry of the chain as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// The entry's position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When the change happened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// Who made it.
    pub actor: Actor,
    /// What was done.
    pub action: String,
    /// The kind of record changed.
    pub target_kind: String,
    /// The id of the record changed.
    pub target_id: Option<String>,
    /// The tenant the record belongs to.
    pub tenant_id: Option<TenantId>,
    /// The record before the change, as JSON text.
    pub before: Option<String>,
    /// The record after the change, as JSON text.
    pub after: Option<String>,
    /// The hash of the previous entry.
    pub prev_hash: String,
    /// SHA-256 over this entry's content and `prev_hash`.
    pub hash: String,
}

impl AuditEvent {
    /// Places the event in the chain after an entry with `prev_seq` and `prev_hash`.
    pub fn chain(self, prev_seq: i64, prev_hash: &str) -> AuditEntry {
        let mut entry = AuditEntry {
            seq: prev_seq + 1,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target_kind: self.target_kind,
            target_id: self.target_id,
            tenant_id: self.tenant_id,
            before: self.before,
            after: self.after,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }
}

impl AuditEntry {
    /// The hash this entry should carry: SHA-256 over a JSON array of every
    /// field but the hash itself. JSON escaping makes the encoding
    /// unambiguous, and the JSON texts of `before`/`after` are hashed as the
    /// strings they are stored as, so no re-serialisation can change them.
    pub fn compute_hash(&self) -> String {
        let content = serde_json::json!([
            self.seq,
            self.at.as_microsecond().to_string(),
            self.actor.kind.as_str(),
            self.actor.id,
            self.actor.name,
            self.actor.token_id,
            self.action,
            self.target_kind,
            self.target_id,
            self.tenant_id.map(|t| t.to_string()),
            self.before,
            self.after,
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(content.to_string().as_bytes()))
    }
}

/// The first place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("audit chain broken at entry {seq}: {reason}")]
pub struct ChainBreak {
    /// The sequence number of the first bad entry (or where one is missing).
    pub seq: i64,
    /// What is wrong there.
    pub reason: String,
}

/// Checks entries one by one, in sequence order, so that a chain of any
/// length can be verified page by page.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last_seq: i64,
    last_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainVerifier {
    /// Checks the next entry.
    pub fn check(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        let expected = self.last_seq + 1;
        if entry.seq != expected {
            return Err(ChainBreak {
                seq: expected,
                reason: format!("entry {expected} is missing (next entry is {})", entry.seq),
            });
        }
        if entry.prev_hash != self.last_hash {
            return Err(ChainBreak {
                seq: entry.seq,
                reason: "its prev_hash does not match the hash of the entry before".into(),
            });
        }
        if entry.compute_hash() != entry.hash {
            return Err(ChainBreak {
                seq: entry.seq,
                reason: "its content does not match its hash (the entry was changed)".into(),
            });
        }
        self.last_seq = entry.seq;
        self.last_hash = entry.hash.clone();
        Ok(())
    }

    /// Checks that the chain ends where the recorded head says it does, so
    /// that removing the newest entries is detected too.
    pub fn finish(&self, head_seq: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        if self.last_seq != head_seq {
            return Err(ChainBreak {
                seq: self.last_seq + 1,
                reason: format!(
                    "the chain ends at entry {} but the head records {head_seq}",
                    self.last_seq
                ),
            });
        }
        if self.last_hash != head_hash {
            return Err(ChainBreak {
                seq: self.last_seq,
                reason: "the last entry's hash does not match the recorded head".into(),
            });
        }
        Ok(self.last_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let (seq, hash) = out
                .last()
                .map(|e| (e.seq, e.hash.clone()))
                .unwrap_or((0, GENESIS_HASH.into()));
            let event = AuditEvent {
                at: Timestamp::from_second(1_700_000_000 + i).unwrap(),
                actor: Actor::system(),
                action: "tenant.create".into(),
                target_kind: "tenant".into(),
                target_id: Some(format!("t{i}")),
                tenant_id: None,
                before: None,
                after: Some(format!("{{\"name\":\"t{i}\"}}")),
            };
            out.push(event.chain(seq, &hash));
        }
        out
    }

    fn verify(entries: &[AuditEntry]) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.check(e)?;
        }
        let head = entries.last().map(|e| (e.seq, e.hash.as_str()));
        let (seq, hash) = head.unwrap_or((0, GENESIS_HASH));
        v.finish(seq, hash)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut c = chain(5);
        c[2].after = Some("{\"name\":\"evil\"}".into());
        assert_eq!(verify(&c).unwrap_err().seq, 3);
    }

    #[test]
    fn a_rehashed_edit_breaks_the_next_link() {
        let mut c = chain(5);
        c[2].actor.name = "mallory".into();
        c[2].hash = c[2].compute_hash();
        let err = verify(&c).unwrap_err();
        assert_eq!(err.seq, 4);
        assert!(err.reason.contains("prev_hash"));
    }

    #[test]
    fn removed_entries_are_found() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c).unwrap_err().seq, 2);
        // Truncation: the head still records entry 5.
        let c = chain(5);
        let mut v = ChainVerifier::default();
        for e in &c[..3] {
            v.check(e).unwrap();
        }
        assert_eq!(v.finish(5, &c[4].hash).unwrap_err().seq, 4);
    }

    #[test]
    fn the_time_is_part_of_the_hash() {
        let mut c = chain(1);
        c[0].at = Timestamp::from_second(1).unwrap();
        assert!(verify(&c).is_err());
    }
}

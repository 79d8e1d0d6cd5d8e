//! One check-in: tell the server the digest of the current inventory, and
//! upload the inventory whole or as a delta when the server asks for it.
//!
//! A delta is sent only from the inventory the server last accepted (kept
//! in `last-inventory.json`), and only when that is the base the server
//! names; a delta the server refuses (409) is followed by the whole
//! inventory, once. The agent records an inventory as accepted only after
//! the server said so.

use std::fmt;
use std::path::Path;

use jiff::Timestamp;
use rivet_core::agent::InventoryReceipt;
use rivet_core::agent::{CheckinRequest, CheckinResponse, InventoryUpload, InventoryWanted};
use rivet_core::host::{InventoryDelta, InventoryDigest};

use crate::api::{Api, ApiError};
use crate::inventory::{CollectError, collect};
use crate::state::{Collected, Identity, StateDir, StateError};

/// The agent's version as it reports it.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why a check-in failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckinError {
    /// The state directory could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The inventory could not be collected.
    #[error("collecting the inventory: {0}")]
    Collect(#[from] CollectError),
    /// The server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl CheckinError {
    /// The server's message when it no longer accepts this agent (revoked,
    /// deleted): the service stops rather than retrying.
    pub fn unauthenticated(&self) -> Option<&str> {
        match self {
            CheckinError::Api(ApiError::Unauthenticated { message }) => Some(message),
            _ => None,
        }
    }
}

/// What was uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The whole inventory.
    Full,
    /// A delta.
    Delta {
        /// Packages added.
        added: usize,
        /// Packages removed.
        removed: usize,
    },
    /// The whole inventory after the server refused a delta.
    FullAfterConflict,
}

/// An upload the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// What was sent.
    pub sent: Sent,
    /// The server's receipt.
    pub receipt: InventoryReceipt,
}

/// The outcome of a check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinReport {
    /// The digest the agent reported.
    pub digest: InventoryDigest,
    /// The server's answer.
    pub response: CheckinResponse,
    /// The upload, if the server asked for one.
    pub uploaded: Option<Uploaded>,
}

/// A one-line summary, as `rivet-agent once` prints it.
impl fmt::Display for CheckinReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = &self.digest.as_str()[..12];
        match &self.uploaded {
            None => write!(f, "checked in: the server holds inventory {short}…")?,
            Some(Uploaded { sent, receipt }) => {
                match sent {
                    Sent::Full => write!(f, "checked in: uploaded the whole inventory {short}…")?,
                    Sent::FullAfterConflict => write!(
                        f,
                        "checked in: uploaded the whole inventory {short}… (the server refused a delta)"
                    )?,
                    Sent::Delta { added, removed } => write!(
                        f,
                        "checked in: uploaded inventory {short}… as a delta (+{added} −{removed} packages)"
                    )?,
                }
                write!(f, "; {} software changes recorded", receipt.changes)?;
            }
        }
        if self.response.collect_now {
            write!(f, "; the server asks for a fresh collection")?;
        }
        Ok(())
    }
}

/// What to upload when the server wants `wanted`, given the inventory the
/// server last accepted from this agent (`accepted`) and the current one:
/// a delta only from the base the server names, else the whole inventory;
/// `None` when the server wants nothing.
pub fn plan_upload(
    wanted: &InventoryWanted,
    accepted: Option<&Collected>,
    current: &Collected,
) -> Option<InventoryUpload> {
    match wanted {
        InventoryWanted::Nothing => None,
        InventoryWanted::Delta { base } => match accepted {
            Some(accepted) if accepted.digest == *base => Some(InventoryUpload::Delta {
                delta: InventoryDelta::between(&accepted.inventory, &current.inventory),
            }),
            _ => Some(full(current)),
        },
        InventoryWanted::Full => Some(full(current)),
    }
}

fn full(current: &Collected) -> InventoryUpload {
    InventoryUpload::Full {
        inventory: current.inventory.clone(),
    }
}

/// An enrolled agent: its identity, its client and what the server last
/// accepted.
#[derive(Debug)]
pub struct Agent {
    identity: Identity,
    api: Api,
    state: StateDir,
    accepted: Option<Collected>,
    /// A `collect_now` not yet answered with a fresh inventory: the
    /// server's time of the answer that asked, and this agent's.
    collect_asked: Option<(Timestamp, Timestamp)>,
}

impl Agent {
    /// Opens the enrolled agent in `state_dir`. An unreadable
    /// `last-inventory.json` is only logged: the next upload is whole.
    pub fn open(state_dir: &Path) -> Result<Self, CheckinError> {
        let state = StateDir::new(state_dir);
        let identity = state.load_identity()?;
        let api = Api::new(&identity.enrollment.server, &identity.ca)?;
        let accepted = state.last_inventory().unwrap_or_else(|e| {
            tracing::warn!("ignoring the last accepted inventory: {e}");
            None
        });
        Ok(Agent {
            identity,
            api,
            state,
            accepted,
            collect_asked: None,
        })
    }

    /// The agent's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The inventory the server last accepted.
    pub fn accepted(&self) -> Option<&Collected> {
        self.accepted.as_ref()
    }

    /// Checks in with `current` and uploads it if the server asks;
    /// `wait_secs` lets the server hold the request (long polling).
    pub async fn checkin(
        &mut self,
        current: &Collected,
        wait_secs: u32,
        now: Timestamp,
    ) -> Result<CheckinReport, CheckinError> {
        // `current` answers a collect_now if it was collected after the
        // answer that asked for it arrived (both times by this clock).
        let answered = self
            .collect_asked
            .filter(|(_, asked_here)| current.inventory.collected_at >= *asked_here);
        let request = CheckinRequest {
            agent_version: AGENT_VERSION.to_owned(),
            inventory_digest: Some(current.digest.clone()),
            wait_secs,
            collected_after: answered.map(|(server_time, _)| server_time),
        };
        let response = self.api.checkin(&self.identity, &request, now).await?;
        if answered.is_some() {
            self.collect_asked = None;
        }
        if response.collect_now && self.collect_asked.is_none() {
            self.collect_asked = Some((response.server_time, now));
        }
        let uploaded = match plan_upload(&response.inventory, self.accepted.as_ref(), current) {
            None => {
                // The server holds this digest: it is the base of the next
                // delta, even if this agent never uploaded it (a restore).
                if self.accepted.as_ref().map(|a| &a.digest) != Some(&current.digest) {
                    self.accept(current)?;
                }
                None
            }
            Some(upload) => Some(self.upload(upload, current, now).await?),
        };
        Ok(CheckinReport {
            digest: current.digest.clone(),
            response,
            uploaded,
        })
    }

    async fn upload(
        &mut self,
        upload: InventoryUpload,
        current: &Collected,
        now: Timestamp,
    ) -> Result<Uploaded, CheckinError> {
        let sent = match &upload {
            InventoryUpload::Full { .. } => Sent::Full,
            InventoryUpload::Delta { delta } => Sent::Delta {
                added: delta.added.len(),
                removed: delta.removed.len(),
            },
        };
        let (sent, receipt) = match self.api.upload(&self.identity, &upload, now).await {
            Ok(receipt) => (sent, receipt),
            Err(ApiError::Conflict { message }) if matches!(sent, Sent::Delta { .. }) => {
                tracing::info!(
                    "the server refused the delta ({message}); sending the whole inventory"
                );
                let receipt = self.api.upload(&self.identity, &full(current), now).await?;
                (Sent::FullAfterConflict, receipt)
            }
            Err(e) => return Err(e.into()),
        };
        if receipt.digest == current.digest {
            self.accept(current)?;
        } else {
            // No delta can start from an inventory the server does not hold.
            tracing::warn!(
                "the server holds inventory {} after the upload, not {}; the next upload is whole",
                receipt.digest,
                current.digest
            );
            self.accepted = None;
        }
        Ok(Uploaded { sent, receipt })
    }

    fn accept(&mut self, current: &Collected) -> Result<(), StateError> {
        self.state.save_last_inventory(&current.inventory)?;
        self.accepted = Some(current.clone());
        Ok(())
    }
}

/// Collects the inventory under `root`, stamped `at`.
pub fn collect_inventory(root: &Path, at: Timestamp) -> Result<Collected, CollectError> {
    collect(root, at).map(Collected::new)
}

/// `rivet-agent once`: collects the inventory of `root`, checks in without
/// waiting, and uploads what the server asks for.
pub async fn checkin_once(
    state_dir: &Path,
    root: &Path,
    now: Timestamp,
) -> Result<CheckinReport, CheckinError> {
    let mut agent = Agent::open(state_dir)?;
    let current = collect_inventory(root, now)?;
    agent.checkin(&current, 0, now).await
}

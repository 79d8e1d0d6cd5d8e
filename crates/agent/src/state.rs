//! The agent's state directory (default `/var/lib/rivet-agent`, mode 0700):
//!
//! | file | what |
//! |---|---|
//! | `agent.key` | the Ed25519 private key, 64 hex digits (0600) |
//! | `ca.pem` | the pinned CA certificate of the server |
//! | `agent.json` | server address, host id, tenant id, CA fingerprint, enrollment time |
//! | `last-inventory.json` | the inventory the server last accepted: the base of deltas |
//!
//! Every file is written whole to a temporary file and renamed into place,
//! so a crash leaves the old version or the new one, never half of one.
//! `agent.json` is written last at enrollment: its presence means enrolled.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use jiff::Timestamp;
use rivet_core::agent::AgentKey;
use rivet_core::host::{InventoryDigest, digest};
use rivet_core::id::{HostId, TenantId};
use rivet_core::inventory::Inventory;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use crate::api::ServerUrl;
use crate::fingerprint::CaFingerprint;

/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/rivet-agent";
const ENROLLMENT: &str = "agent.json";
const KEY: &str = "agent.key";
const CA: &str = "ca.pem";
const LAST_INVENTORY: &str = "last-inventory.json";
/// Small files: the key, the CA, the enrollment.
const SMALL_LIMIT: u64 = 64 * 1024;
/// An inventory of a large host is a few MiB.
const INVENTORY_LIMIT: u64 = 256 * 1024 * 1024;

/// What enrollment recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// The server's address.
    pub server: ServerUrl,
    /// The host's id: the agent's identity.
    pub host: HostId,
    /// The tenant the host belongs to.
    pub tenant: TenantId,
    /// The SHA-256 of the pinned CA certificate, lowercase hex.
    pub ca_fingerprint: String,
    /// When the agent enrolled.
    pub enrolled_at: Timestamp,
}

/// Everything the agent needs to talk to its server.
#[derive(Debug)]
pub struct Identity {
    /// Server, host and tenant.
    pub enrollment: Enrollment,
    /// The private key.
    pub key: AgentKey,
    /// The pinned CA certificate.
    pub ca: CertificateDer<'static>,
}

/// An inventory together with its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// The inventory, in canonical form.
    pub inventory: Inventory,
    /// Its digest.
    pub digest: InventoryDigest,
}

impl Collected {
    /// Canonicalises `inventory` and computes its digest.
    pub fn new(mut inventory: Inventory) -> Self {
        rivet_core::host::canonicalize(&mut inventory);
        let digest = digest(&inventory);
        Collected { inventory, digest }
    }
}

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No enrollment in this directory.
    #[error("this agent is not enrolled: {} does not exist (run `rivet-agent enroll` first)", .dir.join(ENROLLMENT).display())]
    NotEnrolled {
        /// The state directory.
        dir: PathBuf,
    },
    /// Enrolling again would lose the current identity.
    #[error("{} already holds an enrollment (host {host} at {server}); pass --force to enroll again", .dir.display())]
    AlreadyEnrolled {
        /// The state directory.
        dir: PathBuf,
        /// The enrolled host.
        host: HostId,
        /// Its server's address.
        server: String,
    },
    /// Reading or writing failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file's content is not what the agent wrote.
    #[error("{}: {message}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The agent's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The state in `dir` (nothing is read or created yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StateDir { dir: dir.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory (mode 0700) if needed and makes sure only its
    /// owner can enter it.
    pub fn create(&self) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: self.dir.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io)?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(io)
    }

    /// The enrollment, if there is one.
    pub fn enrollment(&self) -> Result<Option<Enrollment>, StateError> {
        let path = self.dir.join(ENROLLMENT);
        let Some(text) = read_file(&path, SMALL_LIMIT)? else {
            return Ok(None);
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| corrupt(&path, e))
    }

    /// Fails if the directory already holds an enrollment.
    pub fn ensure_not_enrolled(&self) -> Result<(), StateError> {
        match self.enrollment()? {
            Some(e) => Err(StateError::AlreadyEnrolled {
                dir: self.dir.clone(),
                host: e.host,
                server: e.server.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Records a new enrollment, replacing any earlier one and forgetting
    /// its inventory (the new host id starts with none on the server).
    pub fn save_identity(&self, identity: &Identity) -> Result<(), StateError> {
        self.create()?;
        // Without agent.json the directory reads as not enrolled, so a crash
        // half-way never pairs an old enrollment with a new key.
        for name in [ENROLLMENT, LAST_INVENTORY] {
            remove_if_exists(&self.dir.join(name))?;
        }
        let key = format!("{}\n", hex::encode(identity.key.to_bytes()));
        write_atomic(&self.dir.join(KEY), key.as_bytes())?;
        write_atomic(&self.dir.join(CA), pem(&identity.ca).as_bytes())?;
        let mut json = serde_json::to_vec_pretty(&identity.enrollment)
            .map_err(|e| corrupt(&self.dir.join(ENROLLMENT), e))?;
        json.push(b'\n');
        write_atomic(&self.dir.join(ENROLLMENT), &json)
    }

    /// Reads the enrollment, the key and the pinned CA, and checks that the
    /// CA is the one enrolled with.
    pub fn load_identity(&self) -> Result<Identity, StateError> {
        let enrollment = self.enrollment()?.ok_or_else(|| StateError::NotEnrolled {
            dir: self.dir.clone(),
        })?;
        let key_path = self.dir.join(KEY);
        let key_text = read_file(&key_path, SMALL_LIMIT)?.ok_or_else(|| StateError::Corrupt {
            path: key_path.clone(),
            message: "missing; enroll again with --force".into(),
        })?;
        let mut secret = [0u8; 32];
        hex::decode_to_slice(String::from_utf8_lossy(&key_text).trim(), &mut secret).map_err(
            |_| StateError::Corrupt {
                path: key_path.clone(),
                message: "not 64 hex digits of an Ed25519 key".into(),
            },
        )?;
        let ca_path = self.dir.join(CA);
        let ca_text = read_file(&ca_path, SMALL_LIMIT)?.ok_or_else(|| StateError::Corrupt {
            path: ca_path.clone(),
            message: "missing; enroll again with --force".into(),
        })?;
        let ca = CertificateDer::from_pem_slice(&ca_text)
            .map_err(|e| corrupt(&ca_path, format!("not a PEM certificate: {e}")))?;
        let fingerprint = CaFingerprint::of(&ca).to_string();
        if fingerprint != enrollment.ca_fingerprint {
            return Err(corrupt(
                &ca_path,
                format!(
                    "its fingerprint {fingerprint} is not the enrolled CA's {}",
                    enrollment.ca_fingerprint
                ),
            ));
        }
        Ok(Identity {
            enrollment,
            key: AgentKey::from_bytes(secret),
            ca,
        })
    }

    /// The inventory the server last accepted, if the agent has one.
    pub fn last_inventory(&self) -> Result<Option<Collected>, StateError> {
        let path = self.dir.join(LAST_INVENTORY);
        let Some(bytes) = read_file(&path, INVENTORY_LIMIT)? else {
            return Ok(None);
        };
        let inventory: Inventory = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
        Ok(Some(Collected::new(inventory)))
    }

    /// Records the inventory the server accepted.
    pub fn save_last_inventory(&self, inventory: &Inventory) -> Result<(), StateError> {
        let path = self.dir.join(LAST_INVENTORY);
        let json = serde_json::to_vec(inventory).map_err(|e| corrupt(&path, e))?;
        write_atomic(&path, &json)
    }
}

fn corrupt(path: &Path, message: impl ToString) -> StateError {
    StateError::Corrupt {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// A file's bytes, at most `limit`; `None` if it does not exist.
fn read_file(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, StateError> {
    let io = |source| StateError::Io {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(corrupt(path, format!("larger than {limit} bytes")));
    }
    Ok(Some(bytes))
}

fn remove_if_exists(path: &Path) -> Result<(), StateError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StateError::Io {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file in the same
/// directory, synced and renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(".{file_name}.tmp"));
    let io = |at: &Path| {
        let at = at.to_owned();
        move |source| StateError::Io { path: at, source }
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io(&temp))?;
    // A temporary file left by an older run may have other permissions.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io(&temp))?;
    file.write_all(bytes).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(io(path))?;
    // Make the rename itself durable.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// A certificate as PEM text.
fn pem(cert: &CertificateDer<'_>) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    let mut text = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str("-----END CERTIFICATE-----\n");
    text
}

//! The state file: the enrolled fleet (host ids and private keys) and where
//! each host's inventory stands, so that a later run (`--reuse`) drives the
//! same hosts without enrolling them again.
//!
//! It holds private keys, so it is written with mode 0600, and atomically
//! (a temporary file renamed over the old one), so that an interrupted
//! save never loses the fleet.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rivet_core::agent::AgentKey;
use rivet_core::id::{HostId, TenantId};
use serde::{Deserialize, Serialize};

use crate::fleet::Mix;

/// The version of the file's layout.
pub const FORMAT: u32 = 1;

/// A saved fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetState {
    /// The layout's version ([`FORMAT`]).
    pub format: u32,
    /// The server the hosts are enrolled with.
    pub server: String,
    /// Their tenant.
    pub tenant: Option<TenantId>,
    /// The seed their inventories derive from.
    pub seed: u64,
    /// The distribution mix they were drawn with.
    pub mix: Mix,
    /// The hosts, by index.
    pub hosts: Vec<HostRecord>,
}

/// One enrolled host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Its number in the fleet, which with the seed decides its inventory.
    pub index: u32,
    /// Its id on the server.
    pub id: HostId,
    /// Its private key, 64 hex digits.
    pub key: String,
    /// Its inventory's generation.
    pub generation: u32,
    /// The generation the server last accepted, if any.
    pub acked: Option<u32>,
}

impl HostRecord {
    /// The host's key.
    pub fn agent_key(&self) -> Result<AgentKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&self.key, &mut bytes)
            .with_context(|| format!("host {} has a malformed key", self.index))?;
        Ok(AgentKey::from_bytes(bytes))
    }
}

impl FleetState {
    /// Reads a state file.
    pub fn load(path: &Path) -> Result<FleetState> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the state file {}", path.display()))?;
        let state: FleetState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a rivet-sim state file", path.display()))?;
        if state.format != FORMAT {
            bail!(
                "{} has layout {}, this rivet-sim reads layout {FORMAT}",
                path.display(),
                state.format
            );
        }
        for (position, host) in state.hosts.iter().enumerate() {
            if host.index as usize != position {
                bail!(
                    "{}: host number {position} has index {} (the file is damaged)",
                    path.display(),
                    host.index
                );
            }
            host.agent_key()
                .with_context(|| format!("in {}", path.display()))?;
        }
        Ok(state)
    }

    /// Writes the state file atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = std::io::BufWriter::new(options.open(&tmp)?);
            serde_json::to_writer(&mut file, self)?;
            file.write_all(b"\n")?;
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().with_context(|| format!("cannot write the state file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> FleetState {
        let key = AgentKey::from_bytes([7; 32]);
        FleetState {
            format: FORMAT,
            server: "https://127.0.0.1:8443".into(),
            tenant: None,
            seed: 3,
            mix: Mix::parse("debian=1").unwrap(),
            hosts: vec![HostRecord {
                index: 0,
                id: HostId(uuid::Uuid::from_u128(1)),
                key: hex::encode(key.to_bytes()),
                generation: 2,
                acked: Some(1),
            }],
        }
    }

    #[test]
    fn a_saved_fleet_loads_back_with_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.json");
        state().save(&path).unwrap();
        let loaded = FleetState::load(&path).unwrap();
        assert_eq!(loaded, state());
        assert_eq!(
            loaded.hosts[0].agent_key().unwrap().public(),
            AgentKey::from_bytes([7; 32]).public()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.json");
        let err = FleetState::load(&path).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");

        std::fs::write(&path, "{}").unwrap();
        let err = FleetState::load(&path).unwrap_err();
        assert!(
            err.to_string().contains("not a rivet-sim state file"),
            "{err}"
        );

        let mut bad = state();
        bad.hosts[0].key = "xyz".into();
        bad.save(&path).unwrap();
        let err = FleetState::load(&path).unwrap_err();
        assert!(format!("{err:#}").contains("malformed key"), "{err:#}");

        let mut bad = state();
        bad.hosts[0].index = 5;
        bad.save(&path).unwrap();
        let err = FleetState::load(&path).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");

        let mut bad = state();
        bad.format = 99;
        bad.save(&path).unwrap();
        let err = FleetState::load(&path).unwrap_err();
        assert!(err.to_string().contains("layout 99"), "{err}");
    }
}

//! Enrollment (INV-1): pin the server's CA, make a key pair, trade the
//! single-use token for a host id, and record all of it in the state
//! directory.
//!
//! The CA is pinned by its fingerprint when the administrator gives one, and
//! otherwise trusted on first use (the fingerprint is then shown, for
//! comparison with the server's). Either way the enrollment request itself
//! travels over a connection verified against that CA alone.

use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;
use rivet_core::agent::{AgentKey, EnrollRequest, EnrollmentSecret};

use crate::api::{Api, ApiError, ServerUrl};
use crate::checkin::AGENT_VERSION;
use crate::fingerprint::CaFingerprint;
use crate::state::{Enrollment, Identity, StateDir, StateError};
use crate::tls::{self, TlsError};

/// What `rivet-agent enroll` was asked to do. Its `Debug` output leaves
/// the token out.
#[derive(Clone)]
pub struct EnrollOptions {
    /// The server's address.
    pub server: ServerUrl,
    /// The enrollment token (`rve_…`).
    pub token: String,
    /// The expected fingerprint of the server's CA; `None` trusts the CA
    /// the server presents now (trust on first use).
    pub ca_fingerprint: Option<CaFingerprint>,
    /// Where to keep the agent's state.
    pub state_dir: PathBuf,
    /// The host's name, shown until its first inventory arrives.
    pub hostname: String,
    /// Replace an existing enrollment.
    pub force: bool,
}

impl fmt::Debug for EnrollOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollOptions")
            .field("server", &self.server)
            .field("token", &"<hidden>")
            .field("ca_fingerprint", &self.ca_fingerprint)
            .field("state_dir", &self.state_dir)
            .field("hostname", &self.hostname)
            .field("force", &self.force)
            .finish()
    }
}

/// A finished enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// What was recorded.
    pub enrollment: Enrollment,
    /// The pinned CA's fingerprint.
    pub ca_fingerprint: CaFingerprint,
    /// True if the CA was trusted on first use rather than checked against
    /// a given fingerprint.
    pub trusted_on_first_use: bool,
}

/// Why enrollment failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The token is not of the `rve_…` form.
    #[error("the token is not an enrollment token (rve_…); create one on the server")]
    BadToken,
    /// The state directory is in the way or unusable.
    #[error(transparent)]
    State(#[from] StateError),
    /// The server's chain could not be read.
    #[error("reading the server's certificate chain: {0}")]
    Probe(#[from] TlsError),
    /// The server's CA is not the one expected.
    #[error(
        "the server's CA has the SHA-256 fingerprint {presented}, not the expected {expected}: refusing to enroll (a different server, or someone in between)"
    )]
    FingerprintMismatch {
        /// The fingerprint given.
        expected: CaFingerprint,
        /// The fingerprint of the CA the server presented.
        presented: CaFingerprint,
    },
    /// The server refused the token.
    #[error("the server refused the enrollment token: {message}")]
    TokenRefused {
        /// The server's reason (used, expired, unknown).
        message: String,
    },
    /// Any other failure talking to the server.
    #[error("enrolling at the server: {0}")]
    Api(ApiError),
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
}

/// Enrolls this agent as `options` say; `now` is recorded as the time of
/// enrollment.
pub async fn enroll(options: &EnrollOptions, now: Timestamp) -> Result<Enrolled, EnrollError> {
    if EnrollmentSecret::parse(options.token.trim()).is_none() {
        return Err(EnrollError::BadToken);
    }
    let state = StateDir::new(&options.state_dir);
    if !options.force {
        state.ensure_not_enrolled()?;
    }
    // Fail on an unusable state directory before using up the token.
    state.create()?;

    let ca = tls::probe_ca(&options.server.host(), options.server.port()).await?;
    let presented = CaFingerprint::of(&ca);
    if let Some(expected) = options.ca_fingerprint
        && expected != presented
    {
        return Err(EnrollError::FingerprintMismatch {
            expected,
            presented,
        });
    }

    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(EnrollError::Random)?;
    let key = AgentKey::from_bytes(secret);
    let api = Api::new(&options.server, &ca).map_err(EnrollError::Api)?;
    let request = EnrollRequest {
        token: options.token.trim().to_owned(),
        public_key: key.public(),
        hostname: options.hostname.clone(),
        agent_version: AGENT_VERSION.to_owned(),
    };
    let response = api.enroll(&request).await.map_err(|e| match e {
        ApiError::Unauthenticated { message } => EnrollError::TokenRefused { message },
        e => EnrollError::Api(e),
    })?;
    let enrollment = Enrollment {
        server: options.server.clone(),
        host: response.host,
        tenant: response.tenant,
        ca_fingerprint: presented.to_string(),
        enrolled_at: now,
    };
    state.save_identity(&Identity {
        enrollment: enrollment.clone(),
        key,
        ca,
    })?;
    Ok(Enrolled {
        enrollment,
        ca_fingerprint: presented,
        trusted_on_first_use: options.ca_fingerprint.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_token() {
        let options = EnrollOptions {
            server: ServerUrl::parse("https://rivet.example.org").unwrap(),
            token: "rve_secret".into(),
            ca_fingerprint: None,
            state_dir: PathBuf::from("/var/lib/rivet-agent"),
            hostname: "web1".into(),
            force: false,
        };
        let debug = format!("{options:?}");
        assert!(
            !debug.contains("rve_secret") && debug.contains("<hidden>"),
            "{debug}"
        );
    }
}

//! Certificates the tests make with rcgen: a CA and server certificates it
//! signs, as PEM files for the real server's `tls.mode = "files"` and as a
//! rustls configuration for the [`gate`](crate::gate).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA.
pub struct Pki {
    /// The CA certificate.
    pub ca: CertificateDer<'static>,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A server certificate and its key.
pub struct Leaf {
    /// The chain a server presents: the certificate, then the CA.
    pub chain: Vec<CertificateDer<'static>>,
    chain_pem: String,
    key: KeyPair,
}

impl Pki {
    /// A new CA named `ca_name`.
    pub fn new(ca_name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, ca_name);
        let key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        Pki {
            ca: ca.der().clone(),
            ca_pem: ca.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (host names or IP addresses).
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "rivet test server");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            chain: vec![cert.der().clone(), self.ca.clone()],
            chain_pem: format!("{}{}", cert.pem(), self.ca_pem),
            key,
        }
    }
}

impl Leaf {
    /// The same certificate presented without its CA.
    pub fn without_ca(mut self) -> Leaf {
        self.chain.truncate(1);
        let end = "-----END CERTIFICATE-----\n";
        let first = self.chain_pem.find(end).unwrap() + end.len();
        self.chain_pem.truncate(first);
        self
    }

    /// Writes the chain and the key as PEM files into `dir`; returns their
    /// paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
        std::fs::write(&cert, &self.chain_pem).unwrap();
        std::fs::write(&key, self.key.serialize_pem()).unwrap();
        (cert, key)
    }

    /// A rustls server configuration presenting this chain.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(self.key.serialize_der()));
        Arc::new(
            ServerConfig::builder_with_provider(rivet_agent::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(self.chain.clone(), key)
                .unwrap(),
        )
    }
}

//! TLS for the API (SEC-3). In `auto` mode the server makes its own CA on
//! first start (`<data_dir>/tls/ca.pem`, key beside it, 0600) and signs a
//! server certificate for the configured names with it; agents pin that CA
//! by its SHA-256 fingerprint. The server certificate is made anew at every
//! start and renewed while running, so it always carries the configured
//! names and never expires under a running server; the CA stays.
//! In `files` mode the configured chain and key are used as they are.
//!
//! The handshake runs in its own task per connection, so a slow or
//! malicious client cannot stall accepting others.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rivet_core::Timestamp;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::{TlsConfig, TlsMode};

/// Lifetime of the CA Rivet makes.
const CA_DAYS: i64 = 3650;
/// Lifetime of a server certificate; renewed when a third is left.
const SERVER_DAYS: i64 = 90;
/// Handshakes in flight at once.
const MAX_HANDSHAKES: usize = 1024;
/// A handshake that takes longer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS side of a running server.
pub struct Tls {
    /// What the listener serves.
    pub server_config: Arc<rustls::ServerConfig>,
    /// The lowercase hex SHA-256 of the CA certificate agents pin.
    pub ca_fingerprint: String,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    resolver: Arc<Resolver>,
    renewal: Option<Renewal>,
}

struct Renewal {
    issuer: Issuer<'static, KeyPair>,
    names: Vec<String>,
}

/// The lowercase hex SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The certificate served, swapped when renewed.
#[derive(Debug)]
struct Resolver {
    current: RwLock<(Arc<CertifiedKey>, Timestamp)>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .clone(),
        )
    }
}

impl Tls {
    /// Prepares TLS as configured; `None` in `off` mode.
    pub fn prepare(
        config: &TlsConfig,
        data_dir: &Path,
        listen: SocketAddr,
        now: Timestamp,
    ) -> anyhow::Result<Option<Tls>> {
        crate::install_crypto_provider();
        match config.mode {
            TlsMode::Off => Ok(None),
            TlsMode::Files => Self::from_files(&config.cert_file, &config.key_file).map(Some),
            TlsMode::Auto => {
                Self::auto(&data_dir.join("tls"), names(config, listen), now).map(Some)
            }
        }
    }

    fn from_files(cert_file: &Path, key_file: &Path) -> anyhow::Result<Tls> {
        if cert_file.as_os_str().is_empty() || key_file.as_os_str().is_empty() {
            bail!("tls.mode = \"files\" needs tls.cert_file and tls.key_file");
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
            .and_then(|i| i.collect())
            .with_context(|| format!("cannot read certificates from {}", cert_file.display()))?;
        let Some(ca) = chain.last() else {
            bail!("{} holds no certificate", cert_file.display());
        };
        let ca_pem = pem_of(ca);
        let key = PrivateKeyDer::from_pem_file(key_file)
            .with_context(|| format!("cannot read the private key from {}", key_file.display()))?;
        let fingerprint = fingerprint(ca);
        let certified = certified(chain, key)?;
        Ok(Self::with(
            certified,
            Timestamp::UNIX_EPOCH,
            fingerprint,
            ca_pem,
            None,
        ))
    }

    fn auto(dir: &Path, names: Vec<String>, now: Timestamp) -> anyhow::Result<Tls> {
        crate::serve::create_private_dir(dir)?;
        let ca_cert_path = dir.join("ca.pem");
        let ca_key_path = dir.join("ca.key");
        if !ca_cert_path.exists() {
            let key = KeyPair::generate().context("cannot make the CA's key")?;
            let mut params = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::OrganizationName, "Rivet");
            dn.push(
                DnType::CommonName,
                format!("Rivet CA {}", now.strftime("%Y-%m-%d")),
            );
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.not_before = offset(now, -1)?;
            params.not_after = offset(now, CA_DAYS)?;
            let cert = params
                .self_signed(&key)
                .context("cannot make the CA certificate")?;
            write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
            write_public(&ca_cert_path, cert.pem().as_bytes())?;
            tracing::info!(path = %ca_cert_path.display(), "made a new CA for the API's TLS");
        }
        let ca_pem = std::fs::read_to_string(&ca_cert_path)
            .with_context(|| format!("cannot read {}", ca_cert_path.display()))?;
        let ca_key_pem = std::fs::read_to_string(&ca_key_path)
            .with_context(|| format!("cannot read {}", ca_key_path.display()))?;
        let ca_key = KeyPair::from_pem(&ca_key_pem)
            .with_context(|| format!("{} is not a private key", ca_key_path.display()))?;
        let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .with_context(|| format!("{} is not a PEM certificate", ca_cert_path.display()))?;
        let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key).with_context(|| {
            format!("cannot read the CA certificate {}", ca_cert_path.display())
        })?;
        let renewal = Renewal { issuer, names };
        let certified = renewal.issue(&ca_der, now)?;
        Ok(Self::with(
            certified,
            now,
            fingerprint(&ca_der),
            ca_pem,
            Some(renewal),
        ))
    }

    fn with(
        certified: CertifiedKey,
        issued_at: Timestamp,
        ca_fingerprint: String,
        ca_pem: String,
        renewal: Option<Renewal>,
    ) -> Tls {
        let resolver = Arc::new(Resolver {
            current: RwLock::new((Arc::new(certified), issued_at)),
        });
        let mut server_config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Tls {
            server_config: Arc::new(server_config),
            ca_fingerprint,
            ca_pem,
            resolver,
            renewal,
        }
    }

    /// Issues a fresh server certificate if the current one has less than a
    /// third of its life left (auto mode only).
    pub fn renew_if_due(&self, now: Timestamp) -> anyhow::Result<bool> {
        let Some(renewal) = &self.renewal else {
            return Ok(false);
        };
        let issued_at = self
            .resolver
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1;
        if now.as_second() - issued_at.as_second() < SERVER_DAYS * 86_400 * 2 / 3 {
            return Ok(false);
        }
        let ca_der = CertificateDer::from_pem_slice(self.ca_pem.as_bytes())?;
        let fresh = renewal.issue(&ca_der, now)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = (Arc::new(fresh), now);
        tracing::info!("renewed the server certificate");
        Ok(true)
    }
}

impl Renewal {
    fn issue(&self, ca_der: &CertificateDer<'_>, now: Timestamp) -> anyhow::Result<CertifiedKey> {
        let key = KeyPair::generate().context("cannot make the server's key")?;
        let mut params = CertificateParams::new(self.names.clone())
            .context("a configured TLS name is not a valid DNS name or IP address")?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            self.names.first().cloned().unwrap_or_default(),
        );
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = offset(now, -1)?;
        params.not_after = offset(now, SERVER_DAYS)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("cannot sign the server certificate")?;
        let chain = vec![cert.der().clone(), ca_der.clone().into_owned()];
        let key = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| anyhow::anyhow!("cannot use the server key: {e}"))?;
        certified(chain, key)
    }
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<CertifiedKey> {
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).context("the certificate and key do not fit")
}

fn offset(now: Timestamp, days: i64) -> anyhow::Result<time::OffsetDateTime> {
    Ok(time::OffsetDateTime::from_unix_timestamp(
        now.as_second() + days * 86_400,
    )?)
}

fn pem_of(der: &CertificateDer<'_>) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

/// The names the server certificate carries: the configured ones, the
/// listen address if specific, this host's name, and loopback.
fn names(config: &TlsConfig, listen: SocketAddr) -> Vec<String> {
    let mut names: Vec<String> = config.names.0.clone();
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_owned());
        }
    }
    names.extend([
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ]);
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

fn write_private(path: &PathBuf, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn write_public(path: &PathBuf, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// A TCP listener whose connections arrive TLS-established, for
/// `axum::serve`.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` and runs each handshake in its own task.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, incoming) = mpsc::channel(256);
        let acceptor = TlsAcceptor::from(config);
        let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                // Once the server stops taking connections, stop listening:
                // a stopped server must free its port, not accept and drop.
                let accepted = tokio::select! {
                    () = tx.closed() => return,
                    accepted = tcp.accept() => accepted,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather
                        // than spin.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { incoming, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended; nothing will arrive again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

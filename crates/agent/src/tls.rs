//! TLS to the server. At enrollment the agent learns the server's CA by
//! looking at the chain the server presents ([`probe_ca`]); after that it
//! trusts that CA alone ([`pinned_config`]), so that ordinary WebPKI
//! verification, the server's name included, runs against the pinned CA and
//! nothing else.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// How long probing the server's chain may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server's TLS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// No TCP connection.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// host:port.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS handshake failed.
    #[error("the TLS handshake with {address} failed: {source}")]
    Handshake {
        /// host:port.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server took too long.
    #[error("{address} did not complete a TLS handshake within {} s", PROBE_TIMEOUT.as_secs())]
    Timeout {
        /// host:port.
        address: String,
    },
    /// The server sent its own certificate only.
    #[error(
        "{address} presented only its own certificate: a Rivet server presents its certificate followed by its CA's, and the agent pins that CA"
    )]
    NoCa {
        /// host:port.
        address: String,
    },
    /// The host part of the URL is no TLS server name.
    #[error("{host:?} is not a valid TLS server name")]
    ServerName {
        /// The host.
        host: String,
    },
    /// The CA certificate cannot be a trust anchor.
    #[error("the CA certificate cannot be used as a trust anchor: {0}")]
    BadCa(rustls::Error),
}

/// The cryptography the agent uses (ring: small, and no C toolchain beyond
/// what ring needs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration whose only trust anchor is `ca`.
pub fn pinned_config(ca: &CertificateDer<'_>) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone().into_owned())
        .map_err(TlsError::BadCa)?;
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::BadCa)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Connects to `host:port`, completes a TLS handshake without judging the
/// server's certificate, and returns the last certificate of the presented
/// chain: the server's CA. The caller decides whether to trust it (by its
/// fingerprint, or on first use); nothing is sent over this connection.
pub async fn probe_ca(host: &str, port: u16) -> Result<CertificateDer<'static>, TlsError> {
    let address = format!("{host}:{port}");
    let provider = provider();
    let recorder = Arc::new(ChainRecorder {
        chain: Mutex::new(Vec::new()),
        provider: provider.clone(),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::BadCa)?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|_| TlsError::ServerName {
        host: host.to_owned(),
    })?;
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|source| TlsError::Connect {
                address: address.clone(),
                source,
            })?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut stream =
            connector
                .connect(name, tcp)
                .await
                .map_err(|source| TlsError::Handshake {
                    address: address.clone(),
                    source,
                })?;
        // A polite close; whether the server acknowledges it does not matter.
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
        Ok::<_, TlsError>(())
    };
    tokio::time::timeout(PROBE_TIMEOUT, handshake)
        .await
        .map_err(|_| TlsError::Timeout {
            address: address.clone(),
        })??;
    let mut chain = std::mem::take(
        &mut *recorder
            .chain
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    if chain.len() < 2 {
        return Err(TlsError::NoCa { address });
    }
    // The chain has at least two certificates, so pop returns the last.
    chain.pop().ok_or(TlsError::NoCa { address })
}

/// A verifier that accepts any certificate and records the chain. The
/// handshake's signatures are still checked, so that the peer holds the key
/// of the certificate it presents.
#[derive(Debug)]
struct ChainRecorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainRecorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self.chain.lock().unwrap_or_else(PoisonError::into_inner) = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

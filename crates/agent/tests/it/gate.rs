//! A gate between the agent and the real server. It terminates TLS with a
//! certificate from the test's CA (which the server serves too), passes
//! every byte on to the server over a TLS connection of its own, and can
//! hold the next inventory upload at its request line until the test lets
//! it through. That is how a test changes what the server holds between a
//! check-in's answer and the upload that follows it, the race in which the
//! server refuses a delta, without any answer but the server's.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::pki::Leaf;

/// What every upload starts with.
const UPLOAD: &[u8] = b"PUT /api/v1/agent/inventory ";

/// A running gate.
pub struct Gate {
    /// Its URL, for the agent.
    pub url: String,
    trap: Arc<Mutex<Option<Trap>>>,
    task: tokio::task::JoinHandle<()>,
}

/// The gate's side of a held upload.
struct Trap {
    arrived: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// The test's side of a held upload.
pub struct Held {
    arrived: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
}

impl Held {
    /// Completes when the upload reached the gate (and not the server).
    pub async fn arrived(&mut self) {
        (&mut self.arrived).await.unwrap();
    }

    /// Lets it through.
    pub fn release(self) {
        self.release.send(()).unwrap();
    }
}

impl Gate {
    /// A gate on 127.0.0.1 presenting `leaf`, in front of the server at
    /// `server`, whose certificate `ca` signed.
    pub async fn start(leaf: &Leaf, ca: &CertificateDer<'static>, server: SocketAddr) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let acceptor = TlsAcceptor::from(leaf.server_config());
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        let connector = TlsConnector::from(Arc::new(
            ClientConfig::builder_with_provider(rivet_agent::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        ));
        let trap = Arc::new(Mutex::new(None));
        let task = tokio::spawn({
            let trap = trap.clone();
            async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, connector, trap) =
                        (acceptor.clone(), connector.clone(), trap.clone());
                    tokio::spawn(async move {
                        // A client that gives up on the handshake ends here.
                        let Ok(client) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let upstream = TcpStream::connect(server).await.unwrap();
                        let name = ServerName::IpAddress(server.ip().into());
                        let upstream = connector.connect(name, upstream).await.unwrap();
                        pump(client, upstream, &trap).await;
                    });
                }
            }
        });
        Gate { url, trap, task }
    }

    /// Holds the next upload that passes the gate.
    pub fn hold_next_upload(&self) -> Held {
        let (arrived_tx, arrived) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        *self.trap.lock().unwrap() = Some(Trap {
            arrived: arrived_tx,
            release: release_rx,
        });
        Held { arrived, release }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways until either side closes; the client's bytes stop at
/// the start of an upload while a trap is set.
async fn pump(
    client: tokio_rustls::server::TlsStream<TcpStream>,
    upstream: tokio_rustls::client::TlsStream<TcpStream>,
    trap: &Mutex<Option<Trap>>,
) {
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut upstream_read, mut upstream_write) = tokio::io::split(upstream);
    let down = tokio::io::copy(&mut upstream_read, &mut client_write);
    let up = async {
        // The last bytes passed on, for a request line split between reads.
        let mut tail: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut bytes = &chunk[..n];
            let seen = [tail.as_slice(), bytes].concat();
            if let Some(at) = seen.windows(UPLOAD.len()).position(|w| w == UPLOAD) {
                let taken = trap.lock().unwrap().take();
                if let Some(Trap { arrived, release }) = taken {
                    let at = at.saturating_sub(tail.len());
                    if upstream_write.write_all(&bytes[..at]).await.is_err() {
                        break;
                    }
                    bytes = &bytes[at..];
                    let _ = arrived.send(());
                    let _ = release.await;
                }
            }
            if upstream_write.write_all(bytes).await.is_err() {
                break;
            }
            let keep = seen.len().min(UPLOAD.len() - 1);
            tail = seen[seen.len() - keep..].to_vec();
        }
        let _ = upstream_write.shutdown().await;
    };
    let _ = tokio::join!(up, down);
}

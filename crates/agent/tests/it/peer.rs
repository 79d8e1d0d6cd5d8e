//! A real TLS peer for the agent's client: a rustls server on 127.0.0.1
//! with an rcgen-made CA and server certificate, presenting the chain
//! [server certificate, CA certificate] as Rivet's server does, and
//! answering HTTP/1.1 requests with whatever the test's answer function
//! says. The certificate can be swapped while it runs, to play a different
//! server at the same address.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A CA and a server certificate it signed.
pub struct Pki {
    /// The CA certificate.
    pub ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

impl Pki {
    /// A new CA named `ca_name` and a server certificate for `names`
    /// (host names or IP addresses).
    pub fn new(ca_name: &str, names: &[&str]) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_name);
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "rivet test server");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        Pki {
            ca: ca.der().clone(),
            chain: vec![cert.der().clone(), ca.der().clone()],
            key: key.serialize_der(),
        }
    }

    /// The same server certificate presented without its CA.
    pub fn without_ca(mut self) -> Pki {
        self.chain.truncate(1);
        self
    }

    fn config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(self.key.clone()));
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

/// One request the peer received.
#[derive(Debug, Clone)]
pub struct Request {
    /// GET, POST, PUT.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// How the peer answers: status and JSON body.
pub type Answer = Arc<dyn Fn(&Request) -> (u16, String) + Send + Sync>;

/// A running peer.
pub struct Peer {
    /// Its address.
    pub addr: SocketAddr,
    config: Arc<Mutex<Arc<ServerConfig>>>,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    /// Starts a peer on 127.0.0.1 presenting `pki` and answering with
    /// `answer`.
    pub async fn start(pki: &Pki, answer: Answer) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Arc::new(Mutex::new(pki.config()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let config = config.clone();
            let requests = requests.clone();
            async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    let acceptor = tokio_rustls::TlsAcceptor::from(config.lock().unwrap().clone());
                    let requests = requests.clone();
                    let answer = answer.clone();
                    tokio::spawn(async move {
                        // A client that refuses the certificate ends the
                        // handshake: nothing to answer.
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            serve(stream, &requests, &answer).await;
                        }
                    });
                }
            }
        });
        Peer {
            addr,
            config,
            requests,
            task,
        }
    }

    /// The peer's URL.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// From now on, present `pki` instead.
    pub fn present(&self, pki: &Pki) {
        *self.config.lock().unwrap() = pki.config();
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers requests on one connection until it closes.
async fn serve(
    mut stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    requests: &Mutex<Vec<Request>>,
    answer: &Answer,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        let (status, body) = answer(&request);
        requests.lock().unwrap().push(request);
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\ndate: Mon, 23 Nov 2026 12:00:00 GMT\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

async fn read_request(
    stream: &mut (impl AsyncReadExt + Unpin),
    buffer: &mut Vec<u8>,
) -> Option<Request> {
    let end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let mut length = 0;
    let mut authorization = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let start = end + 4;
    while buffer.len() < start + length {
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[start..start + length].to_vec();
    buffer.drain(..start + length);
    Some(Request {
        method,
        path,
        authorization,
        body,
    })
}

//! The agent's side of the server's HTTP API (`/api/v1/agent/…`): the
//! server's address, a client that trusts only the pinned CA, signed
//! requests, and the server's error answers turned into [`ApiError`].

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use reqwest::{Method, StatusCode, Url};
use rivet_core::agent::{
    CheckinRequest, CheckinResponse, EnrollRequest, EnrollResponse, InventoryReceipt,
    InventoryUpload,
};
use rustls_pki_types::CertificateDer;
use serde::de::DeserializeOwned;

use crate::state::Identity;
use crate::tls;

/// The path of every API call.
pub const API_PREFIX: &str = "/api/v1";
/// The most the agent reads of any answer: answers are small documents.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request may take beyond the time the server may hold it.
const REQUEST_MARGIN: Duration = Duration::from_secs(60);
/// Uploads of a large inventory over a slow link take a while.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// The server's address: `https://HOST[:PORT]`, without a path.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl(Url);

/// A server address that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadServerUrl {
    /// Not a URL at all.
    #[error("{given:?} is not a URL ({reason}); expected https://HOST[:PORT]")]
    Syntax {
        /// The text given.
        given: String,
        /// What the URL parser said.
        reason: String,
    },
    /// Not HTTPS.
    #[error(
        "{given:?} does not use https: the agent talks to the server over TLS only (https://HOST[:PORT])"
    )]
    NotHttps {
        /// The text given.
        given: String,
    },
    /// A path, query, fragment or user name where none belongs.
    #[error(
        "{given:?} has a path, query or user name: give only the server's address, like https://rivet.example.org:8443"
    )]
    NotAnOrigin {
        /// The text given.
        given: String,
    },
}

impl ServerUrl {
    /// Parses and checks a server address.
    pub fn parse(text: &str) -> Result<Self, BadServerUrl> {
        let given = || text.chars().take(200).collect::<String>();
        let url = Url::parse(text.trim()).map_err(|e| BadServerUrl::Syntax {
            given: given(),
            reason: e.to_string(),
        })?;
        if url.scheme() != "https" {
            return Err(BadServerUrl::NotHttps { given: given() });
        }
        if url.host_str().is_none()
            || !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(BadServerUrl::NotAnOrigin { given: given() });
        }
        Ok(ServerUrl(url))
    }

    /// The host name or address, without IPv6 brackets.
    pub fn host(&self) -> String {
        // Parsing made sure there is a host.
        let host = self.0.host_str().unwrap_or_default();
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    }

    /// The port, 443 unless given.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }

    /// The URL of an API path such as `/agent/checkin`.
    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.0.clone();
        url.set_path(&format!("{API_PREFIX}{path}"));
        url
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerUrl({self})")
    }
}

impl std::str::FromStr for ServerUrl {
    type Err = BadServerUrl;
    fn from_str(s: &str) -> Result<Self, BadServerUrl> {
        ServerUrl::parse(s)
    }
}

impl serde::Serialize for ServerUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ServerUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ServerUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a request to the server did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server does not accept the credentials: an enrollment token that
    /// is used, expired or unknown, or an agent that was revoked or deleted.
    #[error("the server refused the credentials: {message}")]
    Unauthenticated {
        /// The server's explanation.
        message: String,
    },
    /// The server refused the request's time.
    #[error("the server refused the request's time: {message}")]
    ClockSkew {
        /// The server's explanation.
        message: String,
        /// The server's time, from the answer's `Date` header.
        server_time: Option<Timestamp>,
    },
    /// An inventory delta did not fit what the server holds.
    #[error("the server does not hold the delta's base: {message}")]
    Conflict {
        /// The server's explanation.
        message: String,
    },
    /// The request was larger than the server accepts.
    #[error("the request is too large for the server: {message}")]
    TooLarge {
        /// The server's explanation.
        message: String,
    },
    /// Any other error status.
    #[error("the server answered {status} ({kind}): {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The error's machine-readable kind, if the server gave one.
        kind: String,
        /// The server's explanation.
        message: String,
    },
    /// The server could not be reached or the connection failed, including
    /// a server certificate that does not verify against the pinned CA.
    #[error("cannot talk to {url}: {}", error_chain(.source))]
    Transport {
        /// The URL of the request.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The answer is not what the protocol says.
    #[error("the server's answer to {url} is not understood: {message}")]
    Protocol {
        /// The URL of the request.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The TLS configuration could not be built from the pinned CA.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

impl ApiError {
    /// True for a server error worth retrying later (5xx, 429, network).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { .. } | ApiError::Protocol { .. } => true,
            ApiError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

/// reqwest's error with its causes: "error sending request" alone does not
/// say that the certificate was refused.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A client of the server's agent API that trusts only the pinned CA.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    server: ServerUrl,
}

impl Api {
    /// A client for `server` whose only trust anchor is `ca`: the server's
    /// certificate is verified against it as usual, its name included.
    pub fn new(server: &ServerUrl, ca: &CertificateDer<'_>) -> Result<Self, ApiError> {
        let config = tls::pinned_config(ca)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .https_only(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rivet-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ApiError::Transport {
                url: server.to_string(),
                source,
            })?;
        Ok(Api {
            http,
            server: server.clone(),
        })
    }

    /// The server this client talks to.
    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    /// `POST /agent/enroll`: trades the token for an identity.
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, ApiError> {
        self.call(Method::POST, "/agent/enroll", request, None, REQUEST_MARGIN)
            .await
    }

    /// `POST /agent/checkin`, signed; the server may hold it `wait_secs`.
    pub async fn checkin(
        &self,
        identity: &Identity,
        request: &CheckinRequest,
        now: Timestamp,
    ) -> Result<CheckinResponse, ApiError> {
        let timeout = Duration::from_secs(request.wait_secs.into()) + REQUEST_MARGIN;
        self.call(
            Method::POST,
            "/agent/checkin",
            request,
            Some((identity, now)),
            timeout,
        )
        .await
    }

    /// `PUT /agent/inventory`, signed.
    pub async fn upload(
        &self,
        identity: &Identity,
        upload: &InventoryUpload,
        now: Timestamp,
    ) -> Result<InventoryReceipt, ApiError> {
        self.call(
            Method::PUT,
            "/agent/inventory",
            upload,
            Some((identity, now)),
            UPLOAD_TIMEOUT,
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl serde::Serialize,
        signed_by: Option<(&Identity, Timestamp)>,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        let url = self.server.endpoint(path);
        let protocol = |message: String| ApiError::Protocol {
            url: url.to_string(),
            message,
        };
        // Serialising plain protocol types cannot fail; the signature covers
        // exactly these bytes.
        let body = serde_json::to_vec(body).map_err(|e| protocol(e.to_string()))?;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some((identity, now)) = signed_by {
            let authorization = identity.key.authorize(
                identity.enrollment.host,
                method.as_str(),
                url.path(),
                now,
                &body,
            );
            request = request.header(reqwest::header::AUTHORIZATION, authorization);
        }
        // The URL is in our message already.
        let transport = |source: reqwest::Error| ApiError::Transport {
            url: url.to_string(),
            source: source.without_url(),
        };
        let mut response = request.body(body).send().await.map_err(transport)?;
        let status = response.status();
        let server_time = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(protocol(format!(
                    "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| protocol(e.to_string()));
        }
        Err(error_of(status, &bytes, server_time))
    }
}

/// The server's error document `{"error":{"kind":…,"message":…}}`.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Deserialize)]
struct ErrorDetail {
    kind: String,
    message: String,
}

/// The error an error status and body stand for.
fn error_of(status: StatusCode, body: &[u8], server_time: Option<Timestamp>) -> ApiError {
    let (kind, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => (error.kind, error.message),
        Err(_) => {
            let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
            let text = text.trim();
            let message = if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no explanation")
                    .to_owned()
            } else {
                text.to_owned()
            };
            (String::new(), message)
        }
    };
    match (status, kind.as_str()) {
        (StatusCode::UNAUTHORIZED, "clock_skew") => ApiError::ClockSkew {
            message,
            server_time,
        },
        (StatusCode::UNAUTHORIZED, _) => ApiError::Unauthenticated { message },
        (StatusCode::CONFLICT, _) => ApiError::Conflict { message },
        (StatusCode::PAYLOAD_TOO_LARGE, _) => ApiError::TooLarge { message },
        _ => ApiError::Status {
            status: status.as_u16(),
            kind: if kind.is_empty() {
                "no kind given".to_owned()
            } else {
                kind
            },
            message,
        },
    }
}

/// An HTTP `Date` header (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(text: &str) -> Option<Timestamp> {
    jiff::fmt::rfc2822::parse(text.trim())
        .ok()
        .map(|zoned| zoned.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_https_origins() {
        let url = ServerUrl::parse("https://rivet.example.org:8443/").unwrap();
        assert_eq!(url.to_string(), "https://rivet.example.org:8443");
        assert_eq!(url.host(), "rivet.example.org");
        assert_eq!(url.port(), 8443);
        assert_eq!(
            url.endpoint("/agent/checkin").as_str(),
            "https://rivet.example.org:8443/api/v1/agent/checkin"
        );
        let v6 = ServerUrl::parse("https://[::1]").unwrap();
        assert_eq!((v6.host().as_str(), v6.port()), ("::1", 443));
        assert!(matches!(
            ServerUrl::parse("http://rivet.example.org"),
            Err(BadServerUrl::NotHttps { .. })
        ));
        for bad in [
            "https://rivet.example.org/api/v1",
            "https://u:p@rivet.example.org",
            "https://rivet.example.org/?x=1",
        ] {
            assert!(
                matches!(ServerUrl::parse(bad), Err(BadServerUrl::NotAnOrigin { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            ServerUrl::parse("rivet.example.org"),
            Err(BadServerUrl::Syntax { .. })
        ));
    }

    #[test]
    fn error_answers_become_errors_by_status_and_kind() {
        let body = |kind: &str, message: &str| {
            serde_json::json!({"error": {"kind": kind, "message": message}}).to_string()
        };
        let at = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(at, "1994-11-06T08:49:37Z".parse::<Timestamp>().unwrap());
        match error_of(
            StatusCode::UNAUTHORIZED,
            body("clock_skew", "400 s off").as_bytes(),
            Some(at),
        ) {
            ApiError::ClockSkew {
                message,
                server_time,
            } => assert_eq!((message.as_str(), server_time), ("400 s off", Some(at))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            error_of(
                StatusCode::UNAUTHORIZED,
                body("unauthenticated", "the agent was revoked").as_bytes(),
                None
            ),
            ApiError::Unauthenticated { message } if message == "the agent was revoked"
        ));
        assert!(matches!(
            error_of(StatusCode::CONFLICT, body("conflict", "x").as_bytes(), None),
            ApiError::Conflict { .. }
        ));
        let bare = error_of(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>", None);
        assert!(bare.is_transient());
        assert!(bare.to_string().contains("502"), "{bare}");
        assert!(
            !error_of(
                StatusCode::BAD_REQUEST,
                body("invalid", "x").as_bytes(),
                None
            )
            .is_transient()
        );
    }
}

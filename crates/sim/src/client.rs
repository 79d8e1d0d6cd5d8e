//! The server's HTTP API as the simulator uses it: an administrator's calls
//! (log in, create enrollment tokens) and an agent's (enroll, check in,
//! upload the inventory, each signed with the host's key).
//!
//! Every failure becomes a [`RequestError`] whose `kind` is short and
//! stable (`409 conflict`, `timeout`, `connect`), so that a run can count
//! errors by kind.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::{Method, StatusCode};
use rivet_core::agent::{
    AgentKey, CheckinRequest, CheckinResponse, EnrollRequest, EnrollResponse, InventoryReceipt,
    InventoryUpload,
};
use rivet_core::host::HostAttributes;
use rivet_core::id::{HostId, TenantId};
use serde::de::DeserializeOwned;

use crate::clock;

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// A short, stable label to count by: the status and the server's error
    /// kind, or the transport's failure.
    pub kind: String,
    /// The server's message or the transport's error.
    pub message: String,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for RequestError {}

impl RequestError {
    fn transport(error: &reqwest::Error) -> RequestError {
        let kind = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connect"
        } else if error.is_decode() {
            "decode"
        } else {
            "transport"
        };
        RequestError {
            status: None,
            kind: kind.to_owned(),
            message: format!("{:#}", anyhow::Error::from(clone_message(error))),
        }
    }

    /// The error for an unsuccessful answer with this body.
    pub fn from_answer(status: u16, body: &str) -> RequestError {
        let parsed = serde_json::from_str::<serde_json::Value>(body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v["error"][name].as_str())
                .map(str::to_owned)
        };
        let kind = match field("kind") {
            Some(kind) => format!("{status} {kind}"),
            None => status.to_string(),
        };
        RequestError {
            status: Some(status),
            kind,
            message: field("message").unwrap_or_else(|| body.chars().take(300).collect::<String>()),
        }
    }
}

/// reqwest's error with its chain of causes, as plain text.
fn clone_message(error: &reqwest::Error) -> std::io::Error {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    std::io::Error::other(text)
}

/// A connection to one server.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    /// `https://host:port/api/v1`.
    base: String,
    /// The path part of `base` (`/api/v1`), as agents sign it.
    base_path: String,
}

/// An administrator's bearer token.
#[derive(Clone)]
pub struct AdminToken(String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// A token given by the user (`rvt_…`).
    pub fn new(token: String) -> Self {
        AdminToken(token)
    }
}

impl Api {
    /// A client for `server` (`https://host:port`), trusting only the CA
    /// certificates in `ca_pem` for https.
    pub fn new(server: &str, ca_pem: Option<&[u8]>, concurrency: usize) -> Result<Api> {
        let url = reqwest::Url::parse(server)
            .with_context(|| format!("--server {server:?} is not a URL"))?;
        let base_path = format!("{}/api/v1", url.path().trim_end_matches('/'));
        let base = format!("{}{}", url.origin().ascii_serialization(), base_path);
        // Rivet builds rustls without a default provider, and reqwest needs
        // one even for plain http; the error only says one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("rivet-sim/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(concurrency);
        match (url.scheme(), ca_pem) {
            ("https", Some(pem)) => {
                let certs = reqwest::Certificate::from_pem_bundle(pem)
                    .context("--ca-cert holds no PEM certificate")?;
                if certs.is_empty() {
                    bail!("--ca-cert holds no PEM certificate");
                }
                builder = builder.tls_certs_only(certs);
            }
            ("https", None) => bail!("an https server needs --ca-cert (the server's CA)"),
            ("http", _) => {}
            (scheme, _) => bail!("--server must be an https:// URL, not {scheme}://"),
        }
        Ok(Api {
            http: builder.build().context("cannot set up the HTTP client")?,
            base,
            base_path,
        })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, RequestError> {
        let response = request
            .send()
            .await
            .map_err(|e| RequestError::transport(&e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| RequestError::transport(&e))?;
        if !status.is_success() {
            return Err(RequestError::from_answer(
                status.as_u16(),
                &String::from_utf8_lossy(&body),
            ));
        }
        serde_json::from_slice(&body).map_err(|e| RequestError {
            status: Some(status.as_u16()),
            kind: "bad answer".to_owned(),
            message: format!("the server's answer is not the expected JSON: {e}"),
        })
    }

    /// Logs an administrator in.
    pub async fn login(&self, username: &str, password: &str) -> Result<AdminToken> {
        #[derive(serde::Deserialize)]
        struct Login {
            token: String,
        }
        let login: Login = self
            .send(
                self.http
                    .post(format!("{}/auth/login", self.base))
                    .json(&serde_json::json!({"username": username, "password": password})),
            )
            .await
            .with_context(|| format!("cannot log in to {} as {username}", self.base))?;
        Ok(AdminToken(login.token))
    }

    /// Creates a single-use enrollment token for `tenant` and returns its
    /// secret (`rve_…`).
    pub async fn enrollment_token(
        &self,
        admin: &AdminToken,
        tenant: TenantId,
        attributes: &HostAttributes,
        note: &str,
    ) -> Result<String, RequestError> {
        #[derive(serde::Deserialize)]
        struct Created {
            secret: String,
        }
        let created: Created = self
            .send(
                self.http
                    .post(format!("{}/enrollment-tokens", self.base))
                    .bearer_auth(&admin.0)
                    .json(&serde_json::json!({
                        "tenant": tenant,
                        "expires_in_secs": 3600,
                        "attributes": attributes,
                        "note": note,
                    })),
            )
            .await?;
        Ok(created.secret)
    }

    /// Enrolls a host.
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, RequestError> {
        self.send(
            self.http
                .post(format!("{}/agent/enroll", self.base))
                .json(request),
        )
        .await
    }

    /// A request of `host`, signed over exactly these body bytes.
    fn signed(
        &self,
        method: Method,
        endpoint: &str,
        host: HostId,
        key: &AgentKey,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let path = format!("{}{endpoint}", self.base_path);
        let authorization = key.authorize(host, method.as_str(), &path, clock::wall(), &body);
        self.http
            .request(method, format!("{}{endpoint}", self.base))
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
    }

    /// Checks in.
    pub async fn checkin(
        &self,
        host: HostId,
        key: &AgentKey,
        request: &CheckinRequest,
    ) -> Result<CheckinResponse, RequestError> {
        let body = serde_json::to_vec(request).unwrap_or_default();
        self.send(self.signed(Method::POST, "/agent/checkin", host, key, body))
            .await
    }

    /// Uploads an inventory, whole or as a delta.
    pub async fn upload(
        &self,
        host: HostId,
        key: &AgentKey,
        upload: &InventoryUpload,
    ) -> Result<InventoryReceipt, RequestError> {
        let body = serde_json::to_vec(upload).unwrap_or_default();
        self.send(self.signed(Method::PUT, "/agent/inventory", host, key, body))
            .await
    }
}

/// Whether an error is the server refusing a delta (its base is not what
/// the server holds), which calls for a whole inventory.
pub fn is_conflict(error: &RequestError) -> bool {
    error.status == Some(StatusCode::CONFLICT.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_labelled_by_status_and_kind() {
        let e = RequestError::from_answer(
            409,
            r#"{"error":{"kind":"conflict","message":"the delta's base is not the inventory held"}}"#,
        );
        assert_eq!(e.kind, "409 conflict");
        assert!(e.message.contains("delta's base"));
        assert!(is_conflict(&e));
        let e = RequestError::from_answer(502, "<html>bad gateway</html>");
        assert_eq!(e.kind, "502");
        assert_eq!(e.message, "<html>bad gateway</html>");
        assert!(!is_conflict(&e));
    }

    #[test]
    fn servers_are_checked_before_any_request() {
        let err = Api::new("not a url", None, 1).unwrap_err();
        assert!(format!("{err:#}").contains("not a URL"), "{err:#}");
        let err = Api::new("https://localhost:8443", None, 1).unwrap_err();
        assert!(err.to_string().contains("--ca-cert"), "{err}");
        let err = Api::new("https://localhost:8443", Some(b"garbage"), 1).unwrap_err();
        assert!(err.to_string().contains("PEM"), "{err}");
        let err = Api::new("ftp://localhost", None, 1).unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
        let api = Api::new("http://127.0.0.1:8440/rivet/", None, 1).unwrap();
        assert_eq!(api.base, "http://127.0.0.1:8440/rivet/api/v1");
        assert_eq!(api.base_path, "/rivet/api/v1");
    }
}

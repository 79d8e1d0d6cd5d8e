//! The CLI's side of the API: where the server and the token come from, and
//! requests that turn the server's error bodies into readable errors.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Saved by `rivet login`.
#[derive(Serialize, Deserialize)]
pub struct Credentials {
    /// The server's base URL.
    pub server: String,
    /// The API token.
    pub token: String,
    /// The CA certificate (PEM) trusted for the server, if not a system CA.
    #[serde(default)]
    pub ca_cert: Option<String>,
}

/// Reads a PEM CA certificate given with `--ca-cert`.
pub fn read_ca(path: &std::path::Path) -> anyhow::Result<String> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
    reqwest::Certificate::from_pem(pem.as_bytes())
        .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
    Ok(pem)
}

/// Where `rivet login` keeps its credentials: `$RIVET_CREDENTIALS`, else
/// `$XDG_CONFIG_HOME/rivet/credentials.toml`, else `~/.config/rivet/…`.
pub fn credentials_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("RIVET_CREDENTIALS") {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(x) if !x.is_empty() => PathBuf::from(x),
        _ => PathBuf::from(
            std::env::var_os("HOME").context("neither RIVET_CREDENTIALS nor HOME is set")?,
        )
        .join(".config"),
    };
    Ok(base.join("rivet").join("credentials.toml"))
}

/// Reads saved credentials, if any.
pub fn load_credentials() -> anyhow::Result<Option<Credentials>> {
    let path = credentials_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            Ok(Some(toml::from_str(&text).with_context(|| {
                format!("{} is not valid", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Saves credentials readable by the owner only.
pub fn save_credentials(creds: &Credentials) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = credentials_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = toml::to_string(creds)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(path)
}

/// A connection to the server's API.
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client for `server` (a base URL such as `http://127.0.0.1:8440`).
    /// With `ca`, the server's certificate must chain to that CA alone.
    pub fn new(server: &str, token: Option<String>, ca: Option<&str>) -> anyhow::Result<Self> {
        let base = server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("server URL {base:?} must start with http:// or https://");
        }
        crate::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("rivet-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60));
        if let Some(pem) = ca {
            builder = builder.tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes())?]);
        }
        let http = builder.build()?;
        Ok(Client { base, token, http })
    }

    /// A request to `/api/v1{path}` with the token.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// Sends a request to `/api/v1{path}` and returns the JSON answer
    /// (`Value::Null` for an empty one).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.request(method.clone(), path).query(query);
        if let Some(body) = body {
            req = req.json(body);
        }
        self.answer(method, path, req).await
    }

    /// POSTs raw bytes to `/api/v1{path}`.
    pub async fn upload(
        &self,
        path: &str,
        query: &[(&str, String)],
        bytes: Vec<u8>,
    ) -> anyhow::Result<Value> {
        self.send_bytes(reqwest::Method::POST, path, query, bytes)
            .await
    }

    /// Sends raw bytes to `/api/v1{path}` with `method`.
    pub async fn send_bytes(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        bytes: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let req = self
            .request(method.clone(), path)
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(std::time::Duration::from_secs(600))
            .body(bytes);
        self.answer(method, path, req).await
    }

    /// GETs a document that is not JSON (an export) as raw bytes.
    pub async fn download(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Vec<u8>> {
        let req = self.request(reqwest::Method::GET, path).query(query);
        let response = self.send(reqwest::Method::GET, path, req).await?;
        Ok(response.bytes().await?.to_vec())
    }

    /// The JSON of a successful answer.
    async fn answer(
        &self,
        method: reqwest::Method,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> anyhow::Result<Value> {
        let text = self.send(method, path, req).await?.text().await?;
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// Sends a request: a successful answer, or the server's error message.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let response = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await?;
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        if status == reqwest::StatusCode::UNAUTHORIZED {
            bail!("{message} (log in with `rivet login`, or pass --token / RIVET_TOKEN)");
        }
        bail!("{method} {path}: {status}: {message}")
    }

    /// GET.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, query, None).await
    }

    /// Every item of a listing, following cursors, up to `max` items.
    pub async fn list_all(
        &self,
        path: &str,
        query: &[(&str, String)],
        max: Option<usize>,
    ) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            let want = max.map_or(1000, |m| (m - items.len()).min(1000));
            q.push(("limit", want.to_string()));
            if let Some(a) = &after {
                q.push(("after", a.clone()));
            }
            let page = self.get(path, &q).await?;
            if let Some(list) = page["items"].as_array() {
                items.extend(list.iter().cloned());
            }
            after = page["next_cursor"].as_str().map(str::to_owned);
            if after.is_none() || max.is_some_and(|m| items.len() >= m) {
                return Ok(items);
            }
        }
    }
}

//! The admin command line's client commands: everything after `rivet` but
//! `server`, `migrate`, `default-config` and `vercmp` talks to a running
//! server through its API, with the server URL and token from `--server` /
//! `--token`, `RIVET_URL` / `RIVET_TOKEN`, or the file `rivet login` wrote.

mod changes;
pub mod client;
mod findings;
mod hosts;
mod notifications;
pub mod output;
mod repositories;
mod windows;

use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rivet_core::audit::{AuditEntry, ChainVerifier};
use serde_json::{Value, json};

pub use changes::{ChangeCommand, PoliciesCommand, changes, policies};
use client::{Client, Credentials};
pub use findings::{ExceptionCommand, FindingCommand, PolicyCommand, exceptions, findings};
pub use hosts::{EnrollmentTokenCommand, HostCommand, enrollment_token, hosts};
pub use notifications::{
    NotificationCommand, TenantNotificationCommand, notifications, tenant_notifications,
};
use output::Output;
pub use repositories::{RepositoryCommand, repositories};
pub use windows::{
    CalendarArgs, FreezeCommand, RingCommand, WindowCommand, calendar, freezes, rings, windows,
};

/// Where to reach the server.
#[derive(Debug, Args, Clone)]
pub struct Connection {
    /// The server's base URL (default: from `rivet login`).
    #[arg(long, env = "RIVET_URL", global = true)]
    pub server: Option<String>,
    /// An API token (default: from `rivet login`).
    #[arg(long, env = "RIVET_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// The CA certificate (PEM) to trust for the server, e.g. the server's
    /// `<data_dir>/tls/ca.pem` (default: from `rivet login`, else the
    /// system's trusted CAs).
    #[arg(long, env = "RIVET_CA_CERT", global = true)]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Output format of listings and records.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
}

impl Connection {
    async fn client(&self) -> anyhow::Result<Client> {
        let saved = client::load_credentials()?;
        let server = self
            .server
            .clone()
            .or_else(|| saved.as_ref().map(|c| c.server.clone()))
            .context("no server: pass --server URL, set RIVET_URL, or run `rivet login`")?;
        let ca = match &self.ca_cert {
            Some(path) => Some(client::read_ca(path)?),
            None => saved.as_ref().and_then(|c| c.ca_cert.clone()),
        };
        let token = self.token.clone().or_else(|| saved.map(|c| c.token));
        Client::new(&server, token, ca.as_deref())
    }
}

/// `rivet tenant …`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// List the tenants you may see.
    List,
    /// Create a customer tenant.
    Create {
        /// Its name.
        name: String,
    },
    /// Show one tenant.
    Show {
        /// Tenant id.
        id: String,
    },
    /// Rename a tenant.
    Rename {
        /// Tenant id.
        id: String,
        /// The new name.
        name: String,
    },
    /// Delete a customer tenant that has no users.
    Delete {
        /// Tenant id.
        id: String,
    },
    /// A tenant's remediation deadlines (ASM-5).
    #[command(subcommand)]
    DeadlinePolicy(PolicyCommand),
    /// Who hears of planned downtime, and how (e-mail, webhook).
    #[command(subcommand)]
    Notifications(TenantNotificationCommand),
}

/// `rivet user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users.
    List {
        /// Only users of this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Create a user; the password comes from RIVET_NEW_PASSWORD or a prompt.
    Create {
        /// The tenant the user belongs to.
        #[arg(long)]
        tenant: String,
        /// The login name.
        #[arg(long)]
        username: String,
        /// The role (admin, change-manager, security-officer, operator,
        /// cab-member, customer-approver, customer-viewer).
        #[arg(long)]
        role: String,
        /// A name to show.
        #[arg(long)]
        display_name: Option<String>,
        /// Provider users: `all`, or comma-separated customer tenant ids.
        #[arg(long)]
        customers: Option<String>,
    },
    /// Show one user.
    Show {
        /// User id.
        id: String,
    },
    /// Change a user.
    Update {
        /// User id.
        id: String,
        /// A new role.
        #[arg(long)]
        role: Option<String>,
        /// A new display name.
        #[arg(long)]
        display_name: Option<String>,
        /// `all`, or comma-separated customer tenant ids.
        #[arg(long)]
        customers: Option<String>,
        /// Disable the user.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable the user.
        #[arg(long)]
        enable: bool,
    },
    /// Delete a user and their tokens.
    Delete {
        /// User id.
        id: String,
    },
    /// Set a user's password (RIVET_NEW_PASSWORD or a prompt) and revoke their tokens.
    SetPassword {
        /// User id.
        id: String,
    },
}

/// `rivet token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List tokens.
    List,
    /// Create a token for yourself and print it once.
    Create {
        /// What it is for.
        name: String,
        /// A scope it may use (repeatable; default: all you hold).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime in days.
        #[arg(long)]
        days: Option<u32>,
    },
    /// Show one token.
    Show {
        /// Token id.
        id: String,
    },
    /// Revoke a token.
    Revoke {
        /// Token id.
        id: String,
    },
}

/// `rivet audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries, oldest first.
    List {
        /// Only actions starting with this (e.g. `user.`).
        #[arg(long)]
        action: Option<String>,
        /// Only entries about this record id.
        #[arg(long)]
        target: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Write every visible entry as JSON lines.
    Export {
        /// The file to write (default: standard output).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Verify the chain: on the server, or in an exported file.
    Verify {
        /// An export to verify offline instead.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}

/// `rivet advisories …`
#[derive(Debug, Subcommand)]
pub enum AdvisoryCommand {
    /// Upload advisory files for an offline import: OSV or CSAF documents,
    /// OSV `all.zip` archives, the KEV catalog, EPSS CSV files, or
    /// directories of them.
    Import {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
        /// A label for the source, kept in each record's provenance.
        #[arg(long, default_value = "upload")]
        source: String,
    },
    /// List advisories.
    List {
        /// An ecosystem name (`AlmaLinux`) or full ecosystem (`AlmaLinux:9`).
        #[arg(long)]
        ecosystem: Option<String>,
        /// A package name.
        #[arg(long)]
        package: Option<String>,
        /// An id or alias (a CVE).
        #[arg(long)]
        cve: Option<String>,
        /// Only advisories whose CVE is known to be exploited (CISA KEV).
        #[arg(long)]
        kev: bool,
        /// At least this severity: critical, high, medium or low.
        #[arg(long)]
        severity: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show an advisory with its KEV and EPSS data.
    Show {
        /// The advisory's id (or document key).
        id: String,
    },
    /// Online sources the server syncs on a schedule.
    #[command(subcommand)]
    Sources(SourceCommand),
}

/// `rivet advisories sources …`
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Add a source.
    Add {
        /// A unique name.
        #[arg(long)]
        name: String,
        /// osv (a document or all.zip), csaf (provider-metadata.json), kev or epss.
        #[arg(long)]
        kind: String,
        /// The URL.
        #[arg(long)]
        url: String,
        /// Hours between syncs.
        #[arg(long)]
        interval_hours: Option<u32>,
        /// A file of armored OpenPGP public keys to trust (CSAF).
        #[arg(long)]
        keys: Option<std::path::PathBuf>,
    },
    /// List sources and how their last sync went.
    List,
    /// Remove a source (by name or id); what it imported stays.
    Remove {
        /// Name or id.
        source: String,
    },
    /// Sync a source now (by name or id).
    Sync {
        /// Name or id.
        source: String,
    },
}

async fn source_id(c: &Client, name_or_id: &str) -> anyhow::Result<String> {
    let all = c.get("/advisory-sources", &[]).await?;
    all["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == name_or_id || s["id"] == name_or_id)
        .and_then(|s| s["id"].as_str().map(str::to_owned))
        .with_context(|| format!("no advisory source named {name_or_id:?}"))
}

const SOURCE_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("KIND", "kind"),
    ("URL", "url"),
    ("LAST SYNC", "last_sync_at"),
    ("STATUS", "last_status"),
    ("MESSAGE", "last_message"),
];

fn scope_json(customers: &str) -> Value {
    if customers == "all" {
        json!("all")
    } else {
        json!({ "only": customers.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>() })
    }
}

fn new_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("RIVET_NEW_PASSWORD") {
        return Ok(p);
    }
    let first = rpassword::prompt_password("New password: ")?;
    let second = rpassword::prompt_password("Repeat it: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(first)
}

const TENANT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("KIND", "kind"),
    ("CREATED", "created_at"),
];
const USER_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("USERNAME", "username"),
    ("ROLE", "role"),
    ("TENANT", "tenant_id"),
    ("CUSTOMERS", "customers"),
    ("DISABLED", "disabled"),
];
const TOKEN_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("USER", "user_id"),
    ("SCOPES", "scopes"),
    ("EXPIRES", "expires_at"),
    ("REVOKED", "revoked_at"),
];
const ADVISORY_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("SEVERITY", "severity"),
    ("SCORE", "severity_score"),
    ("MODIFIED", "modified"),
    ("TITLE", "title"),
];
const AUDIT_COLUMNS: &[(&str, &str)] = &[
    ("SEQ", "seq"),
    ("AT", "at"),
    ("ACTION", "action"),
    ("TARGET", "target_id"),
    ("TENANT", "tenant_id"),
];

/// `rivet login`: trades a password for a token and saves both.
pub async fn login(
    server: &str,
    ca_cert: Option<&std::path::Path>,
    user: &str,
) -> anyhow::Result<()> {
    let ca = ca_cert.map(client::read_ca).transpose()?;
    let password = match std::env::var("RIVET_PASSWORD") {
        Ok(p) => p,
        Err(_) => rpassword::prompt_password(format!("Password for {user}: "))?,
    };
    let client = Client::new(server, None, ca.as_deref())?;
    let issued = client
        .call(
            reqwest::Method::POST,
            "/auth/login",
            &[],
            Some(&json!({"username": user, "password": password, "token_name": "rivet login"})),
        )
        .await?;
    let token = issued["token"]
        .as_str()
        .context("the server sent no token")?
        .to_owned();
    let path = client::save_credentials(&Credentials {
        server: server.trim_end_matches('/').to_owned(),
        token,
        ca_cert: ca,
    })?;
    crate::say!(
        "Logged in to {server} as {user}; token valid until {} (saved in {}).",
        issued["info"]["expires_at"].as_str().unwrap_or("?"),
        path.display()
    );
    Ok(())
}

/// `rivet whoami`
pub async fn whoami(conn: &Connection) -> anyhow::Result<()> {
    let me = conn.client().await?.get("/auth/whoami", &[]).await?;
    match conn.output {
        Output::Json => crate::say!("{me}"),
        Output::Table => {
            crate::say!(
                "user         {} ({})",
                me["user"]["username"].as_str().unwrap_or("?"),
                me["user"]["role"].as_str().unwrap_or("?")
            );
            crate::say!(
                "tenant       {} ({})",
                me["tenant"]["name"].as_str().unwrap_or("?"),
                me["tenant"]["kind"].as_str().unwrap_or("?")
            );
            crate::say!(
                "permissions  {}",
                me["permissions"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" "))
                    .unwrap_or_default()
            );
            crate::say!(
                "token        {} (expires {})",
                me["token"]["name"].as_str().unwrap_or("?"),
                me["token"]["expires_at"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}

/// `rivet tenant …`
pub async fn tenant(conn: &Connection, cmd: TenantCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let c = conn.client().await?;
    match cmd {
        TenantCommand::List => output::list(
            conn.output,
            &c.list_all("/tenants", &[], None).await?,
            TENANT_COLUMNS,
        ),
        TenantCommand::Create { name } => {
            output::record(
                conn.output,
                &c.call(Method::POST, "/tenants", &[], Some(&json!({"name": name})))
                    .await?,
            );
        }
        TenantCommand::Show { id } => {
            output::record(conn.output, &c.get(&format!("/tenants/{id}"), &[]).await?)
        }
        TenantCommand::Rename { id, name } => {
            let t = c
                .call(
                    Method::PATCH,
                    &format!("/tenants/{id}"),
                    &[],
                    Some(&json!({"name": name})),
                )
                .await?;
            output::record(conn.output, &t);
        }
        TenantCommand::Delete { id } => {
            c.call(Method::DELETE, &format!("/tenants/{id}"), &[], None)
                .await?;
            crate::say!("deleted tenant {id}");
        }
        TenantCommand::DeadlinePolicy(cmd) => findings::deadline_policy(conn, cmd).await?,
        TenantCommand::Notifications(cmd) => tenant_notifications(conn, cmd).await?,
    }
    Ok(())
}

/// `rivet user …`
pub async fn user(conn: &Connection, cmd: UserCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let c = conn.client().await?;
    match cmd {
        UserCommand::List { tenant } => {
            let query: Vec<(&str, String)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
            output::list(
                conn.output,
                &c.list_all("/users", &query, None).await?,
                USER_COLUMNS,
            );
        }
        UserCommand::Create {
            tenant,
            username,
            role,
            display_name,
            customers,
        } => {
            let mut body = json!({"tenant_id": tenant, "username": username, "role": role, "password": new_password()?});
            if let Some(d) = display_name {
                body["display_name"] = json!(d);
            }
            if let Some(cs) = customers {
                body["customers"] = scope_json(&cs);
            }
            output::record(
                conn.output,
                &c.call(Method::POST, "/users", &[], Some(&body)).await?,
            );
        }
        UserCommand::Show { id } => {
            output::record(conn.output, &c.get(&format!("/users/{id}"), &[]).await?)
        }
        UserCommand::Update {
            id,
            role,
            display_name,
            customers,
            disable,
            enable,
        } => {
            let mut body = json!({});
            if let Some(r) = role {
                body["role"] = json!(r);
            }
            if let Some(d) = display_name {
                body["display_name"] = json!(d);
            }
            if let Some(cs) = customers {
                body["customers"] = scope_json(&cs);
            }
            if disable || enable {
                body["disabled"] = json!(disable);
            }
            output::record(
                conn.output,
                &c.call(Method::PATCH, &format!("/users/{id}"), &[], Some(&body))
                    .await?,
            );
        }
        UserCommand::Delete { id } => {
            c.call(Method::DELETE, &format!("/users/{id}"), &[], None)
                .await?;
            crate::say!("deleted user {id}");
        }
        UserCommand::SetPassword { id } => {
            let body = json!({"password": new_password()?});
            c.call(
                Method::PUT,
                &format!("/users/{id}/password"),
                &[],
                Some(&body),
            )
            .await?;
            crate::say!("password set; the user's tokens are revoked");
        }
    }
    Ok(())
}

/// `rivet token …`
pub async fn token(conn: &Connection, cmd: TokenCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let c = conn.client().await?;
    match cmd {
        TokenCommand::List => output::list(
            conn.output,
            &c.list_all("/tokens", &[], None).await?,
            TOKEN_COLUMNS,
        ),
        TokenCommand::Create { name, scopes, days } => {
            let mut body = json!({"name": name});
            if !scopes.is_empty() {
                body["scopes"] = json!(scopes);
            }
            if let Some(d) = days {
                body["expires_in_days"] = json!(d);
            }
            let issued = c.call(Method::POST, "/tokens", &[], Some(&body)).await?;
            match conn.output {
                Output::Json => crate::say!("{issued}"),
                Output::Table => {
                    crate::say!("{}", issued["token"].as_str().unwrap_or_default());
                    eprintln!(
                        "This token is shown only now; it expires {}.",
                        issued["info"]["expires_at"].as_str().unwrap_or("?")
                    );
                }
            }
        }
        TokenCommand::Show { id } => {
            output::record(conn.output, &c.get(&format!("/tokens/{id}"), &[]).await?)
        }
        TokenCommand::Revoke { id } => {
            output::record(
                conn.output,
                &c.call(Method::DELETE, &format!("/tokens/{id}"), &[], None)
                    .await?,
            );
        }
    }
    Ok(())
}

/// The files an import path stands for: the file itself, or every file
/// under a directory (sorted), each with the name to send: its path
/// relative to the directory, so that importing the same tree again gives
/// every document the same key.
fn import_files(path: &std::path::Path) -> anyhow::Result<Vec<(std::path::PathBuf, String)>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![(path.to_owned(), name)]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry?;
            let p = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(p);
            } else {
                let ext = p
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if matches!(ext.as_str(), "json" | "yaml" | "yml" | "zip" | "csv") {
                    let name = p
                        .strip_prefix(path)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .into_owned();
                    out.push((p, name));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `rivet advisories …`; returns whether every file was imported whole.
pub async fn advisories(conn: &Connection, cmd: AdvisoryCommand) -> anyhow::Result<bool> {
    let c = conn.client().await?;
    match cmd {
        AdvisoryCommand::Import { paths, source } => {
            let mut files = Vec::new();
            for p in &paths {
                files.extend(import_files(p)?);
            }
            let (mut imported, mut updated, mut unchanged, mut rejected) = (0u64, 0u64, 0u64, 0u64);
            let mut errors: Vec<Value> = Vec::new();
            for (path, name) in files {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                match c
                    .upload(
                        "/advisories/import",
                        &[("name", name.clone()), ("source", source.clone())],
                        bytes,
                    )
                    .await
                {
                    Ok(report) => {
                        imported += report["imported"].as_u64().unwrap_or(0);
                        updated += report["updated"].as_u64().unwrap_or(0);
                        unchanged += report["unchanged"].as_u64().unwrap_or(0);
                        rejected += report["rejected"].as_u64().unwrap_or(0);
                        for e in report["errors"].as_array().into_iter().flatten() {
                            let mut e = e.clone();
                            e["file"] = json!(format!(
                                "{}: {}",
                                path.display(),
                                e["file"].as_str().unwrap_or("")
                            ));
                            errors.push(e);
                        }
                    }
                    Err(e) => {
                        // A file that cannot be read as a whole counts as one rejected document.
                        rejected += 1;
                        errors.push(
                            json!({"file": path.display().to_string(), "reason": format!("{e:#}")}),
                        );
                    }
                }
            }
            match conn.output {
                Output::Json => crate::say!(
                    "{}",
                    json!({"imported": imported, "updated": updated, "unchanged": unchanged, "rejected": rejected, "errors": errors})
                ),
                Output::Table => {
                    for e in &errors {
                        eprintln!(
                            "rejected {}: {}",
                            e["file"].as_str().unwrap_or(""),
                            e["reason"].as_str().unwrap_or("")
                        );
                    }
                    crate::say!(
                        "imported {imported}, updated {updated}, unchanged {unchanged}, rejected {rejected}"
                    );
                }
            }
            return Ok(rejected == 0);
        }
        AdvisoryCommand::List {
            ecosystem,
            package,
            cve,
            kev,
            severity,
            limit,
        } => {
            let mut query = Vec::new();
            for (k, v) in [
                ("ecosystem", ecosystem),
                ("package", package),
                ("cve", cve),
                ("severity", severity),
            ] {
                if let Some(v) = v {
                    query.push((k, v));
                }
            }
            if kev {
                query.push(("kev", "true".into()));
            }
            let items = c.list_all("/advisories", &query, Some(limit)).await?;
            output::list(conn.output, &items, ADVISORY_COLUMNS);
        }
        AdvisoryCommand::Sources(cmd) => {
            use reqwest::Method;
            match cmd {
                SourceCommand::Add {
                    name,
                    kind,
                    url,
                    interval_hours,
                    keys,
                } => {
                    let mut body = json!({"name": name, "kind": kind, "url": url});
                    if let Some(h) = interval_hours {
                        body["interval_hours"] = json!(h);
                    }
                    if let Some(path) = keys {
                        body["public_keys"] = json!(
                            std::fs::read_to_string(&path)
                                .with_context(|| format!("cannot read {}", path.display()))?
                        );
                    }
                    output::record(
                        conn.output,
                        &c.call(Method::POST, "/advisory-sources", &[], Some(&body))
                            .await?,
                    );
                }
                SourceCommand::List => {
                    let all = c.get("/advisory-sources", &[]).await?;
                    output::list(
                        conn.output,
                        all["items"].as_array().map(Vec::as_slice).unwrap_or(&[]),
                        SOURCE_COLUMNS,
                    );
                }
                SourceCommand::Remove { source } => {
                    let id = source_id(&c, &source).await?;
                    c.call(
                        Method::DELETE,
                        &format!("/advisory-sources/{id}"),
                        &[],
                        None,
                    )
                    .await?;
                    crate::say!("removed advisory source {source}");
                }
                SourceCommand::Sync { source } => {
                    let id = source_id(&c, &source).await?;
                    let report = c
                        .call(
                            Method::POST,
                            &format!("/advisory-sources/{id}/sync"),
                            &[],
                            None,
                        )
                        .await?;
                    match conn.output {
                        Output::Json => crate::say!("{report}"),
                        Output::Table => {
                            for e in report["errors"].as_array().into_iter().flatten() {
                                eprintln!(
                                    "rejected {}: {}",
                                    e["file"].as_str().unwrap_or(""),
                                    e["reason"].as_str().unwrap_or("")
                                );
                            }
                            crate::say!("{}", report["message"].as_str().unwrap_or(""));
                        }
                    }
                    return Ok(report["ok"] == true);
                }
            }
        }
        AdvisoryCommand::Show { id } => {
            let path = format!("/advisories/{}", urlencode(&id));
            let detail = c.get(&path, &[]).await?;
            match conn.output {
                Output::Json => crate::say!("{detail}"),
                Output::Table => {
                    for d in detail["documents"].as_array().into_iter().flatten() {
                        crate::say!(
                            "{}  {}",
                            d["id"].as_str().unwrap_or(""),
                            d["title"].as_str().unwrap_or("")
                        );
                        crate::say!("  document   {}", d["key"].as_str().unwrap_or(""));
                        crate::say!(
                            "  severity   {} {}",
                            d["severity"].as_str().unwrap_or("-"),
                            d["severity_score"]
                        );
                        crate::say!("  modified   {}", d["modified"].as_str().unwrap_or("-"));
                        let aliases: Vec<&str> = d["record"]["aliases"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        crate::say!("  aliases    {}", aliases.join(" "));
                        for a in d["record"]["affected"].as_array().into_iter().flatten() {
                            let fixed: Vec<&str> = a["fixed"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_str)
                                .collect();
                            crate::say!(
                                "  affected   {} {} fixed in {}",
                                a["ecosystem"].as_str().unwrap_or(""),
                                a["package"].as_str().unwrap_or(""),
                                if fixed.is_empty() {
                                    "-".into()
                                } else {
                                    fixed.join(", ")
                                }
                            );
                        }
                    }
                    for k in detail["kev"].as_array().into_iter().flatten() {
                        crate::say!(
                            "KEV  {} added {}, due {}, ransomware {}",
                            k["cve"].as_str().unwrap_or(""),
                            k["date_added"].as_str().unwrap_or(""),
                            k["due_date"].as_str().unwrap_or(""),
                            k["ransomware"].as_str().unwrap_or("")
                        );
                    }
                    for e in detail["epss"].as_array().into_iter().flatten() {
                        crate::say!(
                            "EPSS {} score {} percentile {}",
                            e["cve"].as_str().unwrap_or(""),
                            e["score"],
                            e["percentile"]
                        );
                    }
                }
            }
        }
    }
    Ok(true)
}

/// Percent-encodes a path segment (advisory ids contain `:`; keys `/` and `@`).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `rivet audit …`; returns whether the command succeeded (a broken chain is a failure).
pub async fn audit(conn: &Connection, cmd: AuditCommand) -> anyhow::Result<bool> {
    match cmd {
        AuditCommand::List {
            action,
            target,
            limit,
        } => {
            let c = conn.client().await?;
            let mut query = Vec::new();
            if let Some(a) = action {
                query.push(("action", a));
            }
            if let Some(t) = target {
                query.push(("target", t));
            }
            output::list(
                conn.output,
                &c.list_all("/audit", &query, Some(limit)).await?,
                AUDIT_COLUMNS,
            );
        }
        AuditCommand::Export { file } => {
            let c = conn.client().await?;
            let entries = c.list_all("/audit", &[], None).await?;
            let mut out = output::destination(file.as_deref())?;
            for e in &entries {
                writeln!(out, "{e}")?;
            }
            out.flush()?;
            if let Some(path) = file {
                eprintln!("wrote {} entries to {}", entries.len(), path.display());
            }
        }
        AuditCommand::Verify { file: Some(path) } => return verify_export(&path),
        AuditCommand::Verify { file: None } => {
            let v = conn.client().await?.get("/audit/verify", &[]).await?;
            if v["intact"].as_bool() == Some(true) {
                crate::say!("audit chain intact: {} entries", v["entries"]);
            } else {
                crate::say!(
                    "audit chain broken at entry {}: {}",
                    v["broken"]["seq"],
                    v["broken"]["reason"].as_str().unwrap_or("?")
                );
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Verifies an export offline. An export of the whole log must verify from
/// entry 1; the newest entries cannot be checked against the server's head.
fn verify_export(path: &std::path::Path) -> anyhow::Result<bool> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut verifier = ChainVerifier::default();
    let mut count = 0;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: AuditEntry = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not an audit entry", path.display(), n + 1))?;
        if let Err(broken) = verifier.check(&entry) {
            crate::say!(
                "audit chain broken at entry {}: {}",
                broken.seq,
                broken.reason
            );
            return Ok(false);
        }
        count += 1;
    }
    crate::say!("audit chain intact: {count} entries in {}", path.display());
    Ok(true)
}

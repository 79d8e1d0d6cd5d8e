//! `rivet repositories …` and `rivet hosts updates …`: the repositories
//! whose metadata the server knows, and the missing updates they show
//! (ASM-3), over the API.

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::Connection;
use super::output::{self, Output};

/// `rivet repositories …`
#[derive(Debug, Subcommand)]
pub enum RepositoryCommand {
    /// Creates a repository; it offers nothing until metadata is imported.
    Create {
        /// The tenant whose hosts it serves (id); provider-wide (every
        /// tenant's hosts) when absent.
        #[arg(long)]
        tenant: Option<String>,
        /// Its name (bookworm-security).
        #[arg(long)]
        name: String,
        /// apt or rpm.
        #[arg(long)]
        kind: String,
        /// The hosts' ecosystem: Debian:12, Ubuntu:22.04, AlmaLinux:9 …
        #[arg(long)]
        ecosystem: String,
        /// Everything it offers fixes security issues.
        #[arg(long)]
        security: bool,
        /// Approved for hosts' updates (unapproved ones are ignored).
        #[arg(long)]
        approved: bool,
    },
    /// The provider-wide repositories and the visible tenants' own.
    List {
        /// Only this tenant's own (id).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// One repository.
    Show {
        /// Its id.
        id: String,
    },
    /// Imports a metadata file: apt Packages, rpm-md primary.xml or
    /// updateinfo.xml; plain, .gz or .xz. It replaces what the repository
    /// held of that kind.
    Import {
        /// The repository's id.
        id: String,
        /// The file.
        file: std::path::PathBuf,
    },
    /// Deletes a repository and what it offers.
    Delete {
        /// Its id.
        id: String,
    },
}

const REPOSITORY_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("TENANT", "tenant_id"),
    ("NAME", "name"),
    ("KIND", "kind"),
    ("ECOSYSTEM", "ecosystem"),
    ("SECURITY", "security"),
    ("APPROVED", "approved"),
    ("PACKAGES", "package_count"),
    ("ERRATA", "erratum_count"),
    ("IMPORTED", "imported_at"),
];

const UPDATE_COLUMNS: &[(&str, &str)] = &[
    ("PACKAGE", "name"),
    ("ARCH", "architecture"),
    ("INSTALLED", "installed_version"),
    ("CANDIDATE", "candidate_version"),
    ("CLASS", "class"),
    ("MAJOR", "major"),
    ("REPOSITORIES", "repositories"),
    ("ERRATA", "errata"),
    ("ADVISORIES", "advisories"),
];

fn repository_path(id: &str, rest: &str) -> String {
    format!("/repositories/{}{rest}", super::urlencode(id))
}

/// `rivet repositories …`
pub async fn repositories(conn: &Connection, cmd: RepositoryCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    match cmd {
        RepositoryCommand::Create {
            tenant,
            name,
            kind,
            ecosystem,
            security,
            approved,
        } => {
            let body = json!({
                "tenant": tenant, "name": name, "kind": kind, "ecosystem": ecosystem,
                "security": security, "approved": approved,
            });
            let created = c
                .call(Method::POST, "/repositories", &[], Some(&body))
                .await?;
            output::record(conn.output, &created);
        }
        RepositoryCommand::List { tenant } => {
            let query: Vec<(&str, String)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
            let items = c.list_all("/repositories", &query, None).await?;
            output::list(conn.output, &items, REPOSITORY_COLUMNS);
        }
        RepositoryCommand::Show { id } => {
            let r = c.get(&repository_path(&id, ""), &[]).await?;
            output::record(conn.output, &r);
        }
        RepositoryCommand::Import { id, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "metadata".into());
            let report = c
                .send_bytes(
                    Method::PUT,
                    &repository_path(&id, "/metadata"),
                    &[("name", name)],
                    bytes,
                )
                .await?;
            match conn.output {
                Output::Json => crate::say!("{report}"),
                Output::Table => crate::say!(
                    "stored {} {} records in {} ({} packages, {} errata)",
                    report["records"],
                    report["stored"].as_str().unwrap_or(""),
                    report["repository"]["name"].as_str().unwrap_or(""),
                    report["repository"]["package_count"],
                    report["repository"]["erratum_count"],
                ),
            }
        }
        RepositoryCommand::Delete { id } => {
            c.call(Method::DELETE, &repository_path(&id, ""), &[], None)
                .await?;
        }
    }
    Ok(())
}

/// `rivet hosts updates HOST [--class …]`: the host's missing updates.
pub async fn host_updates(
    conn: &Connection,
    id: &str,
    class: Option<String>,
    format: Option<Output>,
) -> anyhow::Result<()> {
    let c = conn.client().await?;
    let query: Vec<(&str, String)> = class.map(|c| ("class", c)).into_iter().collect();
    let path = format!("/hosts/{}/updates", super::urlencode(id));
    let answer = c.get(&path, &query).await?;
    let items: Vec<Value> = answer["updates"].as_array().cloned().unwrap_or_default();
    let out = format.unwrap_or(conn.output);
    if out == Output::Table
        && let Some(reason) = answer["reason"].as_str()
    {
        eprintln!("no updates compared: {reason}");
    }
    output::list(out, &items, UPDATE_COLUMNS);
    Ok(())
}

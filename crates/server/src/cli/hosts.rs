//! `rivet hosts …` and `rivet enrollment-token …`: the CMDB from the command
//! line (INV-1, INV-6 to INV-8). Searching and reading hosts, their packages,
//! software history and exports; importing hosts without an agent; changing
//! a host's attributes by merging the options given into the ones it has;
//! and the enrollment tokens agents join with.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use rivet_core::host::{Criticality, HostAttributes, HostRole, ManagedScope, Responsibility};
use serde_json::{Value, json};

use super::Connection;
use super::client::Client;
use super::output::{self, Output};

/// `rivet hosts …`
#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Search hosts; every condition given must hold.
    List {
        #[command(flatten)]
        search: HostSearch,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show a host with its attributes and facts.
    Show {
        /// Host id.
        id: String,
    },
    /// A host's missing updates: what its approved repositories offer
    /// that is newer than what it has, classed (ASM-3).
    Updates {
        /// Host id.
        id: String,
        /// Only these classes, comma-separated (security,bugfix,
        /// enhancement,major); major selects every major upgrade.
        #[arg(long)]
        class: Option<String>,
        /// table or json (default: --output).
        #[arg(long)]
        format: Option<super::output::Output>,
    },
    /// List a host's installed packages.
    Packages {
        /// Host id.
        id: String,
    },
    /// List a host's software changes, newest first.
    History {
        /// Host id.
        id: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Write a host's software as a CycloneDX 1.5 SBOM or as CSV.
    Export {
        /// Host id.
        id: String,
        /// The document's format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The file to write (default: standard output).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Create a host without an agent from its package database or an SBOM;
    /// importing again under the same name records the software changes.
    Import(ImportArgs),
    /// Change a host's attributes; those not named stay as they are.
    Set {
        /// Host id.
        id: String,
        #[command(flatten)]
        changes: AttributeChanges,
    },
    /// Ask a host's agent for a fresh inventory.
    Collect {
        /// Host id.
        id: String,
    },
    /// Revoke a host's agent: its next request is refused and it stops.
    Revoke {
        /// Host id.
        id: String,
    },
    /// Delete a host with its packages and history.
    Delete {
        /// Host id.
        id: String,
    },
}

/// The conditions of `rivet hosts list`, named as `GET /hosts` names them.
#[derive(Debug, Args)]
pub struct HostSearch {
    /// Only this tenant's hosts (tenant id).
    #[arg(long)]
    tenant: Option<String>,
    /// Operating system (os-release `ID`, e.g. `debian`).
    #[arg(long)]
    os: Option<String>,
    /// Operating system version (`VERSION_ID`, e.g. `12`).
    #[arg(long)]
    os_version: Option<String>,
    /// Names containing this text.
    #[arg(long)]
    name: Option<String>,
    /// Hosts with a package of this name…
    #[arg(long)]
    package: Option<String>,
    /// …in this version range, e.g. `<3.0.11-1~deb12u2` or `>=1.2,<2`.
    #[arg(long, value_name = "RANGE", requires = "package")]
    version: Option<String>,
    /// Hosts with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Hosts in this group.
    #[arg(long)]
    group: Option<String>,
    /// Hosts in this ring.
    #[arg(long)]
    ring: Option<String>,
    /// Hosts in this environment.
    #[arg(long)]
    environment: Option<String>,
    /// Hosts seen at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    seen_after: Option<String>,
    /// Hosts not seen since this time (RFC 3339), or never.
    #[arg(long, value_name = "TIME")]
    seen_before: Option<String>,
    /// Hosts that need a reboot (`--reboot-required=false`: that do not).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    reboot_required: Option<bool>,
}

impl HostSearch {
    /// The query string of `GET /hosts`.
    fn query(self) -> Vec<(&'static str, String)> {
        let text = [
            ("tenant", self.tenant),
            ("os", self.os),
            ("os_version", self.os_version),
            ("name", self.name),
            ("package", self.package),
            ("version", self.version),
            ("tag", self.tag),
            ("group", self.group),
            ("ring", self.ring),
            ("environment", self.environment),
            ("seen_after", self.seen_after),
            ("seen_before", self.seen_before),
        ];
        let mut query: Vec<(&str, String)> = text
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        if let Some(r) = self.reboot_required {
            query.push(("reboot_required", r.to_string()));
        }
        query
    }
}

/// `--format` of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
    /// CSV, one package per row.
    Csv,
}

impl ExportFormat {
    fn api_name(self) -> &'static str {
        match self {
            ExportFormat::Cyclonedx => "cyclonedx",
            ExportFormat::Csv => "csv",
        }
    }
}

/// `rivet hosts import`: the host and exactly one file.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("file").required(true)
    .args(["dpkg_status", "rpm_qa", "apk_installed", "cyclonedx"])))]
pub struct ImportArgs {
    /// The tenant the host belongs to (tenant id).
    #[arg(long)]
    tenant: String,
    /// The host's name.
    #[arg(long)]
    name: String,
    /// A dpkg status file (`/var/lib/dpkg/status`).
    #[arg(long, value_name = "FILE")]
    dpkg_status: Option<PathBuf>,
    /// `rpm -qa` output (plain NEVRA lines or tab-separated fields).
    #[arg(long, value_name = "FILE")]
    rpm_qa: Option<PathBuf>,
    /// An apk database (`/lib/apk/db/installed`).
    #[arg(long, value_name = "FILE")]
    apk_installed: Option<PathBuf>,
    /// A CycloneDX JSON SBOM.
    #[arg(long, value_name = "FILE")]
    cyclonedx: Option<PathBuf>,
    /// The host's operating system, `ID:VERSION_ID` as os-release names it
    /// (`debian:12`, `almalinux:9.4`): what its packages are assessed under.
    #[arg(long, value_name = "ID:VERSION")]
    os: Option<String>,
}

impl ImportArgs {
    /// The file and its format as `POST /hosts/import` names it.
    fn file(&self) -> anyhow::Result<(&'static str, &PathBuf)> {
        [
            ("dpkg-status", &self.dpkg_status),
            ("rpm-qa", &self.rpm_qa),
            ("apk-installed", &self.apk_installed),
            ("cyclonedx", &self.cyclonedx),
        ]
        .into_iter()
        .find_map(|(format, path)| path.as_ref().map(|p| (format, p)))
        .context("give one of --dpkg-status, --rpm-qa, --apk-installed or --cyclonedx")
    }
}

/// An attribute `--clear` empties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Attribute {
    /// The environment.
    Environment,
    /// Server or client.
    Role,
    /// The criticality.
    Criticality,
    /// The owner.
    Owner,
    /// Who answers for patching.
    Responsible,
    /// Every managed scope.
    ManagedScope,
    /// Every group.
    Groups,
    /// Every tag.
    Tags,
    /// The ring.
    Ring,
    /// The maintenance window.
    MaintenanceWindow,
}

/// What `rivet hosts set` changes. `--clear` empties an attribute first, so
/// `--clear tags --tag a --tag b` replaces the tags; everything not named
/// stays.
#[derive(Debug, Default, Args)]
pub struct AttributeChanges {
    /// The environment, e.g. `production`.
    #[arg(long)]
    environment: Option<String>,
    /// server or client.
    #[arg(long, value_parser = domain_value::<HostRole>)]
    role: Option<HostRole>,
    /// low, medium, high or critical.
    #[arg(long, value_parser = domain_value::<Criticality>)]
    criticality: Option<Criticality>,
    /// The person or team that owns the host.
    #[arg(long)]
    owner: Option<String>,
    /// Who answers for its patching: provider or customer.
    #[arg(long, value_parser = domain_value::<Responsibility>)]
    responsible: Option<Responsibility>,
    /// Add software the provider manages (repeatable): operating-system,
    /// standard-applications, middleware, customer-software.
    #[arg(long = "managed-scope", value_name = "SCOPE", value_parser = domain_value::<ManagedScope>)]
    add_scopes: Vec<ManagedScope>,
    /// Remove a managed scope (repeatable).
    #[arg(long = "remove-managed-scope", value_name = "SCOPE", value_parser = domain_value::<ManagedScope>)]
    remove_scopes: Vec<ManagedScope>,
    /// Add a group (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    add_groups: Vec<String>,
    /// Remove a group (repeatable).
    #[arg(long = "remove-group", value_name = "GROUP")]
    remove_groups: Vec<String>,
    /// Add a tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    add_tags: Vec<String>,
    /// Remove a tag (repeatable).
    #[arg(long = "remove-tag", value_name = "TAG")]
    remove_tags: Vec<String>,
    /// The ring, e.g. `pilot`.
    #[arg(long)]
    ring: Option<String>,
    /// The name of its maintenance window.
    #[arg(long)]
    maintenance_window: Option<String>,
    /// Empty this attribute first (repeatable).
    #[arg(long, value_enum, value_name = "ATTRIBUTE")]
    clear: Vec<Attribute>,
}

/// Parses a value of a domain enum by its API name, with `-` for the API's
/// `_` (`operating-system`); an error lists the values in that spelling.
fn domain_value<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(Value::String(s.replace('-', "_")))
        .map_err(|e| e.to_string().replace('_', "-"))
}

impl AttributeChanges {
    /// `attributes` with these changes: what `--clear` names is emptied
    /// first, then values are set and labels removed and added. Asking to
    /// clear and set one attribute, or to add and remove one label, is an
    /// error rather than a guess.
    pub fn apply(&self, mut attributes: HostAttributes) -> anyhow::Result<HostAttributes> {
        let set = [
            (Attribute::Environment, self.environment.is_some()),
            (Attribute::Role, self.role.is_some()),
            (Attribute::Criticality, self.criticality.is_some()),
            (Attribute::Owner, self.owner.is_some()),
            (Attribute::Responsible, self.responsible.is_some()),
            (Attribute::Ring, self.ring.is_some()),
            (
                Attribute::MaintenanceWindow,
                self.maintenance_window.is_some(),
            ),
        ];
        for (attribute, given) in set {
            if given && self.clear.contains(&attribute) {
                let name = attribute
                    .to_possible_value()
                    .map(|v| v.get_name().to_owned())
                    .unwrap_or_default();
                bail!("--clear {name} and --{name} contradict each other");
            }
        }
        contradiction("group", &self.add_groups, &self.remove_groups)?;
        contradiction("tag", &self.add_tags, &self.remove_tags)?;
        contradiction("managed-scope", &self.add_scopes, &self.remove_scopes)?;

        let a = &mut attributes;
        for attribute in &self.clear {
            match attribute {
                Attribute::Environment => a.environment = None,
                Attribute::Role => a.role = None,
                Attribute::Criticality => a.criticality = None,
                Attribute::Owner => a.owner = None,
                Attribute::Responsible => a.responsible = None,
                Attribute::ManagedScope => a.managed_scope.clear(),
                Attribute::Groups => a.groups.clear(),
                Attribute::Tags => a.tags.clear(),
                Attribute::Ring => a.ring = None,
                Attribute::MaintenanceWindow => a.maintenance_window = None,
            }
        }
        replace(&mut a.environment, &self.environment);
        replace(&mut a.role, &self.role);
        replace(&mut a.criticality, &self.criticality);
        replace(&mut a.owner, &self.owner);
        replace(&mut a.responsible, &self.responsible);
        replace(&mut a.ring, &self.ring);
        replace(&mut a.maintenance_window, &self.maintenance_window);
        edit(&mut a.managed_scope, &self.remove_scopes, &self.add_scopes);
        edit(&mut a.groups, &self.remove_groups, &self.add_groups);
        edit(&mut a.tags, &self.remove_tags, &self.add_tags);
        Ok(attributes)
    }

    fn is_empty(&self) -> bool {
        self.environment.is_none()
            && self.role.is_none()
            && self.criticality.is_none()
            && self.owner.is_none()
            && self.responsible.is_none()
            && self.ring.is_none()
            && self.maintenance_window.is_none()
            && self.add_scopes.is_empty()
            && self.remove_scopes.is_empty()
            && self.add_groups.is_empty()
            && self.remove_groups.is_empty()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
            && self.clear.is_empty()
    }
}

fn contradiction<T: PartialEq + std::fmt::Debug>(
    flag: &str,
    add: &[T],
    remove: &[T],
) -> anyhow::Result<()> {
    match add.iter().find(|v| remove.contains(v)) {
        Some(v) => bail!("--{flag} {v:?} and --remove-{flag} {v:?} contradict each other"),
        None => Ok(()),
    }
}

fn replace<T: Clone>(value: &mut Option<T>, new: &Option<T>) {
    if let Some(new) = new {
        *value = Some(new.clone());
    }
}

fn edit<T: Ord + Clone>(set: &mut BTreeSet<T>, remove: &[T], add: &[T]) {
    for r in remove {
        set.remove(r);
    }
    set.extend(add.iter().cloned());
}

/// `rivet enrollment-token …`
#[derive(Debug, Subcommand)]
pub enum EnrollmentTokenCommand {
    /// Create a single-use enrollment token and print its secret and the
    /// `rivet-agent enroll` command, once.
    Create {
        /// The tenant enrolled hosts join (tenant id).
        #[arg(long)]
        tenant: String,
        /// The ring enrolled hosts start in.
        #[arg(long)]
        ring: Option<String>,
        /// A group enrolled hosts start in (repeatable).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// A tag enrolled hosts start with (repeatable).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Lifetime in hours (default: the server's
        /// `agents.enrollment_token_hours`).
        #[arg(long)]
        hours: Option<u32>,
        /// What the token is for.
        #[arg(long)]
        note: Option<String>,
    },
    /// List enrollment tokens.
    List {
        /// Only this tenant's tokens (tenant id).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke an unused enrollment token.
    Revoke {
        /// Enrollment token id.
        id: String,
    },
}

const HOST_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("TENANT", "tenant_id"),
    ("OS", "os_id"),
    ("VERSION", "os_version"),
    ("PACKAGES", "package_count"),
    ("REBOOT", "reboot_required"),
    ("RING", "/attributes/ring"),
    ("SOURCE", "source"),
    ("LAST SEEN", "last_seen_at"),
];
const PACKAGE_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("VERSION", "version"),
    ("ARCH", "architecture"),
    ("FORMAT", "format"),
    ("SOURCE", "source_name"),
    ("REPOSITORY", "repository"),
];
const HISTORY_COLUMNS: &[(&str, &str)] = &[
    ("OBSERVED", "observed_at"),
    ("CHANGE", "change"),
    ("NAME", "name"),
    ("ARCH", "architecture"),
    ("OLD", "old_version"),
    ("NEW", "new_version"),
    ("CHANGE REQUEST", "change_request"),
];
const ENROLLMENT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("TENANT", "tenant_id"),
    ("RING", "/attributes/ring"),
    ("NOTE", "note"),
    ("EXPIRES", "expires_at"),
    ("USED", "used_at"),
    ("HOST", "host_id"),
    ("REVOKED", "revoked_at"),
];

/// `/hosts/{id}{rest}`, the id encoded so that it stays one path segment.
fn host_path(id: &str, rest: &str) -> String {
    format!("/hosts/{}{rest}", super::urlencode(id))
}

/// Says on standard error that a listing may have been cut at `limit`.
fn note_limit(output: Output, shown: usize, limit: usize) {
    if output == Output::Table && shown == limit {
        eprintln!("(showing the first {limit}; --limit N shows more)");
    }
}

/// `rivet hosts …`
pub async fn hosts(conn: &Connection, cmd: HostCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    match cmd {
        HostCommand::Updates { id, class, format } => {
            super::repositories::host_updates(conn, &id, class, format).await?;
        }
        HostCommand::List { search, limit } => {
            let items = c.list_all("/hosts", &search.query(), Some(limit)).await?;
            output::list(conn.output, &items, HOST_COLUMNS);
            note_limit(conn.output, items.len(), limit);
        }
        HostCommand::Show { id } => {
            let detail = c.get(&host_path(&id, ""), &[]).await?;
            print_host(conn.output, &detail);
        }
        HostCommand::Packages { id } => {
            let packages = c.get(&host_path(&id, "/packages"), &[]).await?;
            output::list(
                conn.output,
                packages.as_array().map(Vec::as_slice).unwrap_or(&[]),
                PACKAGE_COLUMNS,
            );
        }
        HostCommand::History { id, limit } => {
            let items = c
                .list_all(&host_path(&id, "/history"), &[], Some(limit))
                .await?;
            output::list(conn.output, &items, HISTORY_COLUMNS);
            note_limit(conn.output, items.len(), limit);
        }
        HostCommand::Export { id, format, file } => {
            let document = c
                .download(
                    &host_path(&id, "/export"),
                    &[("format", format.api_name().to_owned())],
                )
                .await?;
            let mut out = output::destination(file.as_deref())?;
            out.write_all(&document)?;
            out.flush()?;
            if let Some(path) = file {
                eprintln!(
                    "wrote the {} export of host {id} to {}",
                    format.api_name(),
                    path.display()
                );
            }
        }
        HostCommand::Import(args) => import(&c, conn.output, args).await?,
        HostCommand::Set { id, changes } => {
            if changes.is_empty() {
                bail!("nothing to change: name an attribute (see `rivet hosts set --help`)");
            }
            let path = host_path(&id, "");
            let current = c.get(&path, &[]).await?;
            let attributes: HostAttributes = serde_json::from_value(current["attributes"].clone())
                .context("the server sent attributes this rivet does not know")?;
            let attributes = changes.apply(attributes)?;
            let host = c
                .call(
                    Method::PUT,
                    &format!("{path}/attributes"),
                    &[],
                    Some(&serde_json::to_value(&attributes)?),
                )
                .await?;
            print_host(conn.output, &host);
        }
        HostCommand::Collect { id } => {
            let host = c
                .call(Method::POST, &host_path(&id, "/collect"), &[], None)
                .await?;
            match conn.output {
                Output::Json => crate::say!("{host}"),
                Output::Table => crate::say!(
                    "asked host {} ({id}) for a fresh inventory",
                    host["name"].as_str().unwrap_or("?")
                ),
            }
        }
        HostCommand::Revoke { id } => {
            let host = c
                .call(Method::POST, &host_path(&id, "/revoke"), &[], None)
                .await?;
            match conn.output {
                Output::Json => crate::say!("{host}"),
                Output::Table => crate::say!(
                    "revoked the agent of host {} ({id})",
                    host["name"].as_str().unwrap_or("?")
                ),
            }
        }
        HostCommand::Delete { id } => {
            c.call(Method::DELETE, &host_path(&id, ""), &[], None)
                .await?;
            crate::say!("deleted host {id}");
        }
    }
    Ok(())
}

/// `rivet hosts import`: uploads the file as it is.
async fn import(c: &Client, output: Output, args: ImportArgs) -> anyhow::Result<()> {
    let (format, path) = args.file()?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report = c
        .upload(
            "/hosts/import",
            &[
                ("tenant", args.tenant.clone()),
                ("name", args.name.clone()),
                ("format", format.to_owned()),
            ]
            .into_iter()
            .chain(args.os.clone().map(|os| ("os", os)))
            .collect::<Vec<_>>(),
            bytes,
        )
        .await
        .with_context(|| format!("cannot import {}", path.display()))?;
    match output {
        Output::Json => crate::say!("{report}"),
        Output::Table => {
            if let Some(skipped) = report["skipped"].as_object() {
                for (kind, n) in skipped {
                    eprintln!(
                        "skipped {n} components of type {kind} (not operating-system packages)"
                    );
                }
            }
            crate::say!(
                "imported host {} ({}): {} packages, {} software changes",
                report["host"]["name"].as_str().unwrap_or("?"),
                report["host"]["id"].as_str().unwrap_or("?"),
                report["packages"],
                report["changes"]
            );
        }
    }
    Ok(())
}

/// Prints a host (with its facts, when given) as JSON, or as one aligned
/// record.
fn print_host(output: Output, detail: &Value) {
    match output {
        Output::Json => crate::say!("{detail}"),
        Output::Table => {
            let pairs = host_fields(detail);
            output::fields(&pairs.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>());
        }
    }
}

/// The lines of a host's record: who it is, its other fields, its
/// attributes, then a digest of its facts.
fn host_fields(detail: &Value) -> Vec<(&str, Value)> {
    const FIRST: [&str; 4] = ["id", "name", "tenant_id", "source"];
    let mut pairs: Vec<(&str, Value)> = FIRST.iter().map(|k| (*k, detail[*k].clone())).collect();
    if let Value::Object(host) = detail {
        for (k, v) in host {
            if !FIRST.contains(&k.as_str()) && k != "attributes" && k != "facts" {
                pairs.push((k, v.clone()));
            }
        }
    }
    if let Value::Object(attributes) = &detail["attributes"] {
        for (k, v) in attributes {
            pairs.push((k, v.clone()));
        }
    }
    let facts = &detail["facts"];
    if facts.is_object() {
        let host = &facts["host"];
        for k in [
            "hostname",
            "fqdn",
            "machine_id",
            "running_kernel",
            "boot_time",
        ] {
            pairs.push((k, host[k].clone()));
        }
        pairs.push((
            "virtualization",
            match &host["virtualization"] {
                Value::Null => Value::Null,
                v => json!(match v["technology"].as_str() {
                    Some(t) => format!("{} ({t})", text(&v["kind"])),
                    None => text(&v["kind"]),
                }),
            },
        ));
        pairs.push((
            "installed_kernels",
            texts(&host["installed_kernels"], |k| text(&k["release"])),
        ));
        pairs.push((
            "addresses",
            texts(&host["addresses"], |a| {
                format!(
                    "{} {}/{}",
                    text(&a["interface"]),
                    text(&a["address"]),
                    a["prefix_len"]
                )
            }),
        ));
        pairs.push(("package_managers", host["package_managers"].clone()));
        pairs.push((
            "reboot_reasons",
            texts(&facts["reboot"]["reasons"], |r| text(&r["kind"])),
        ));
        pairs.push((
            "stale_processes",
            texts(&facts["stale_processes"], |p| {
                let name = p["unit"]
                    .as_str()
                    .map_or_else(|| text(&p["command"]), str::to_owned);
                format!("{name} ({})", p["pid"])
            }),
        ));
        pairs.push((
            "problems",
            texts(&facts["problems"], |p| match p["line"].as_u64() {
                Some(line) => format!("{}:{line}: {}", text(&p["source"]), text(&p["message"])),
                None => format!("{}: {}", text(&p["source"]), text(&p["message"])),
            }),
        ));
    }
    pairs
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Each item of a JSON array as a line of text.
fn texts(list: &Value, line: impl Fn(&Value) -> String) -> Value {
    json!(
        list.as_array()
            .into_iter()
            .flatten()
            .map(line)
            .collect::<Vec<_>>()
    )
}

/// `rivet enrollment-token …`
pub async fn enrollment_token(
    conn: &Connection,
    cmd: EnrollmentTokenCommand,
) -> anyhow::Result<()> {
    let c = conn.client().await?;
    match cmd {
        EnrollmentTokenCommand::Create {
            tenant,
            ring,
            groups,
            tags,
            hours,
            note,
        } => {
            let attributes = HostAttributes {
                ring,
                groups: groups.into_iter().collect(),
                tags: tags.into_iter().collect(),
                ..HostAttributes::default()
            };
            let mut body = json!({"tenant": tenant, "attributes": attributes});
            if let Some(h) = hours {
                body["expires_in_secs"] = json!(u64::from(h) * 3600);
            }
            if let Some(n) = note {
                body["note"] = json!(n);
            }
            let issued = c
                .call(Method::POST, "/enrollment-tokens", &[], Some(&body))
                .await?;
            match conn.output {
                Output::Json => crate::say!("{issued}"),
                Output::Table => {
                    output::fields(&[
                        ("id", &issued["token"]["id"]),
                        ("tenant", &issued["token"]["tenant_id"]),
                        ("expires", &issued["token"]["expires_at"]),
                        ("secret", &issued["secret"]),
                        ("ca fingerprint", &issued["ca_fingerprint"]),
                        ("enroll command", &issued["enroll_command"]),
                    ]);
                    eprintln!(
                        "The secret is shown only now; it enrolls one host, until it expires."
                    );
                }
            }
        }
        EnrollmentTokenCommand::List { tenant } => {
            let query: Vec<(&str, String)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
            output::list(
                conn.output,
                &c.list_all("/enrollment-tokens", &query, None).await?,
                ENROLLMENT_COLUMNS,
            );
        }
        EnrollmentTokenCommand::Revoke { id } => {
            output::record(
                conn.output,
                &c.call(
                    Method::POST,
                    &format!("/enrollment-tokens/{}/revoke", super::urlencode(&id)),
                    &[],
                    None,
                )
                .await?,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(args: &[&str]) -> AttributeChanges {
        #[derive(clap::Parser)]
        struct Set {
            #[command(flatten)]
            changes: AttributeChanges,
        }
        let mut argv = vec!["set"];
        argv.extend(args);
        <Set as clap::Parser>::try_parse_from(argv).unwrap().changes
    }

    fn current() -> HostAttributes {
        HostAttributes {
            environment: Some("production".into()),
            role: Some(HostRole::Server),
            owner: Some("Web team".into()),
            tags: ["web", "dmz"].map(String::from).into(),
            groups: ["frontend"].map(String::from).into(),
            managed_scope: [ManagedScope::OperatingSystem].into(),
            ring: Some("broad".into()),
            ..HostAttributes::default()
        }
    }

    #[test]
    fn what_is_not_named_stays() {
        let after = changes(&["--ring", "pilot", "--tag", "pci"])
            .apply(current())
            .unwrap();
        assert_eq!(after.ring.as_deref(), Some("pilot"));
        assert_eq!(after.tags, ["dmz", "pci", "web"].map(String::from).into());
        assert_eq!(
            after,
            HostAttributes {
                ring: after.ring.clone(),
                tags: after.tags.clone(),
                ..current()
            }
        );
    }

    #[test]
    fn clear_empties_first_so_clear_and_add_replaces() {
        let after = changes(&[
            "--clear",
            "tags",
            "--tag",
            "a",
            "--tag",
            "b",
            "--clear",
            "owner",
            "--remove-group",
            "frontend",
            "--managed-scope",
            "middleware",
            "--remove-managed-scope",
            "operating-system",
            "--criticality",
            "high",
        ])
        .apply(current())
        .unwrap();
        assert_eq!(after.tags, ["a", "b"].map(String::from).into());
        assert_eq!(after.owner, None);
        assert!(after.groups.is_empty());
        assert_eq!(after.managed_scope, [ManagedScope::Middleware].into());
        assert_eq!(after.criticality, Some(Criticality::High));
        assert_eq!(after.environment.as_deref(), Some("production"));
    }

    #[test]
    fn contradictions_are_refused() {
        let e = changes(&["--clear", "ring", "--ring", "pilot"])
            .apply(current())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--clear ring and --ring contradict each other"
        );
        let e = changes(&[
            "--clear",
            "maintenance-window",
            "--maintenance-window",
            "sun",
        ])
        .apply(current())
        .unwrap_err();
        assert!(e.to_string().contains("--maintenance-window"), "{e}");
        let e = changes(&["--tag", "x", "--remove-tag", "x"])
            .apply(current())
            .unwrap_err();
        assert!(e.to_string().contains("--remove-tag"), "{e}");
    }

    /// docs/hosts.md names every command and option, so that it stays
    /// true to the code.
    #[test]
    fn docs_name_every_command_and_option() {
        let doc = include_str!("../../../../docs/hosts.md");
        for (group, command) in [
            (
                "hosts",
                HostCommand::augment_subcommands(clap::Command::new("hosts")),
            ),
            (
                "enrollment-token",
                EnrollmentTokenCommand::augment_subcommands(clap::Command::new("enrollment-token")),
            ),
        ] {
            for sub in command.get_subcommands() {
                let line = format!("rivet {group} {}", sub.get_name());
                assert!(doc.contains(&line), "docs/hosts.md lacks {line:?}");
                for arg in sub.get_arguments() {
                    if let Some(long) = arg.get_long() {
                        let option = format!("--{long}");
                        assert!(
                            doc.contains(&option),
                            "docs/hosts.md lacks {option} of {line:?}"
                        );
                    }
                }
            }
        }
        for attribute in Attribute::value_variants() {
            let name = attribute.to_possible_value().unwrap();
            let name = format!("`{}`", name.get_name());
            assert!(doc.contains(&name), "docs/hosts.md lacks --clear {name}");
        }
    }

    #[test]
    fn a_host_reads_as_one_record_with_a_digest_of_its_facts() {
        let detail = json!({
            "name": "web1", "id": "h1", "tenant_id": "t1", "source": "agent",
            "package_count": 2, "revoked_at": null,
            "attributes": {"ring": "pilot", "tags": ["dmz", "pci"]},
            "facts": {
                "host": {
                    "hostname": "web1", "running_kernel": "6.1.0-18-amd64",
                    "virtualization": {"kind": "vm", "technology": "kvm"},
                    "installed_kernels": [{"release": "6.1.0-18-amd64"}, {"release": "6.1.0-21-amd64"}],
                    "addresses": [{"interface": "eth0", "address": "192.0.2.7", "prefix_len": 24}],
                    "package_managers": ["dpkg", "apt"]
                },
                "reboot": {"required": true, "reasons": [{"kind": "newer_kernel", "running": "a", "newest": "b"}]},
                "stale_processes": [{"pid": 812, "command": "sshd", "unit": "ssh.service"},
                                    {"pid": 90, "command": "bash", "unit": null}],
                "problems": [{"source": "/var/lib/dpkg/status", "line": 7, "message": "no Version"}],
                "unfinished_packages": []
            }
        });
        let fields = host_fields(&detail);
        let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys[..4], ["id", "name", "tenant_id", "source"]);
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {key}"))
        };
        assert_eq!(get("ring"), "pilot");
        assert_eq!(get("tags"), json!(["dmz", "pci"]));
        assert_eq!(get("package_count"), 2);
        assert_eq!(get("virtualization"), "vm (kvm)");
        assert_eq!(
            get("installed_kernels"),
            json!(["6.1.0-18-amd64", "6.1.0-21-amd64"])
        );
        assert_eq!(get("addresses"), json!(["eth0 192.0.2.7/24"]));
        assert_eq!(get("reboot_reasons"), json!(["newer_kernel"]));
        assert_eq!(
            get("stale_processes"),
            json!(["ssh.service (812)", "bash (90)"])
        );
        assert_eq!(
            get("problems"),
            json!(["/var/lib/dpkg/status:7: no Version"])
        );
        assert_eq!(get("fqdn"), Value::Null);
        // A host without facts (`PUT …/attributes` answers no facts).
        let bare = json!({"id": "h1", "name": "web1", "attributes": {}});
        let bare = host_fields(&bare);
        assert!(bare.iter().all(|(k, _)| *k != "hostname"));
    }

    #[test]
    fn domain_values_are_checked_and_named() {
        assert!(changes(&[]).is_empty());
        assert!(!changes(&["--clear", "tags"]).is_empty());
        assert_eq!(
            changes(&["--responsible", "customer"]).responsible,
            Some(Responsibility::Customer)
        );
        #[derive(Debug, clap::Parser)]
        struct Set {
            #[command(flatten)]
            changes: AttributeChanges,
        }
        let e = <Set as clap::Parser>::try_parse_from(["set", "--role", "desktop"]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("desktop") && text.contains("client"),
            "{text}"
        );
        let e =
            <Set as clap::Parser>::try_parse_from(["set", "--managed-scope", "os"]).unwrap_err();
        assert!(e.to_string().contains("`operating-system`"), "{e}");
    }
}

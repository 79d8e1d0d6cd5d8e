//! `rivet findings …` and `rivet tenant deadline-policy …`: what the
//! assessment found (ASM-2 to ASM-5), over the API.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::Connection;
use super::output::{self, Output};

/// `rivet findings …`
#[derive(Debug, Subcommand)]
pub enum FindingCommand {
    /// Findings, highest priority first.
    List {
        /// Of this tenant (id).
        #[arg(long)]
        tenant: Option<String>,
        /// Of this host (id).
        #[arg(long)]
        host: Option<String>,
        /// Of this advisory: its id or an alias (CVE).
        #[arg(long)]
        advisory: Option<String>,
        /// Of these severities, comma-separated (critical,high).
        #[arg(long)]
        severity: Option<String>,
        /// Only known exploited ones (CISA KEV).
        #[arg(long)]
        kev: bool,
        /// In these states, comma-separated (open, fixed, mitigated,
        /// accepted, not_affected); all when absent.
        #[arg(long)]
        state: Option<String>,
        /// Only open findings past their deadline.
        #[arg(long)]
        overdue: bool,
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Exposure: findings per state and severity, overdue, known exploited,
    /// affected hosts.
    Summary {
        /// Of this tenant (id); every visible tenant when absent.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Runs an assessment round now and shows what it changed.
    Assess,
}

/// `rivet tenant deadline-policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// A tenant's deadlines (its own or the defaults).
    Show {
        /// The tenant (id).
        tenant: String,
    },
    /// Sets a tenant's deadlines in days; open findings move to them.
    Set {
        /// The tenant (id).
        tenant: String,
        /// Known exploited (CISA KEV).
        #[arg(long, default_value_t = 3)]
        kev: u32,
        /// Critical.
        #[arg(long, default_value_t = 3)]
        critical: u32,
        /// High.
        #[arg(long, default_value_t = 7)]
        high: u32,
        /// Medium (and unrated).
        #[arg(long, default_value_t = 30)]
        medium: u32,
        /// Low.
        #[arg(long, default_value_t = 90)]
        low: u32,
        /// Count from the advisory's publication (published) or from when
        /// the host was first found affected (found).
        #[arg(long, default_value = "published")]
        count_from: String,
    },
}

const FINDING_COLUMNS: &[(&str, &str)] = &[
    ("PRIORITY", "priority"),
    ("SEVERITY", "severity"),
    ("KEV", "kev"),
    ("STATE", "state"),
    ("HOST", "host_name"),
    ("PACKAGE", "package"),
    ("INSTALLED", "installed_version"),
    ("FIXED IN", "fixed_version"),
    ("ADVISORY", "advisory_id"),
    ("DUE", "due_at"),
    ("OVERDUE", "overdue"),
];

/// `rivet findings …`
pub async fn findings(conn: &Connection, cmd: FindingCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    match cmd {
        FindingCommand::List {
            tenant,
            host,
            advisory,
            severity,
            kev,
            state,
            overdue,
            limit,
        } => {
            let mut query: Vec<(&str, String)> = [
                ("tenant", tenant),
                ("host", host),
                ("advisory", advisory),
                ("severity", severity),
                ("state", state),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            if kev {
                query.push(("kev", "true".into()));
            }
            if overdue {
                query.push(("overdue", "true".into()));
            }
            let items = c.list_all("/findings", &query, Some(limit)).await?;
            output::list(conn.output, &items, FINDING_COLUMNS);
            if conn.output == Output::Table && items.len() == limit {
                eprintln!("(showing the first {limit}; --limit N shows more)");
            }
        }
        FindingCommand::Summary { tenant } => {
            let query: Vec<(&str, String)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
            let summary = c.get("/findings/summary", &query).await?;
            match conn.output {
                Output::Json => crate::say!("{summary}"),
                Output::Table => print_summary(&summary),
            }
        }
        FindingCommand::Assess => {
            let status = c.call(Method::POST, "/assessment", &[], None).await?;
            output::record(conn.output, &status);
        }
    }
    Ok(())
}

fn print_summary(summary: &Value) {
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    let by = |key: &str, names: &[&str]| -> String {
        names
            .iter()
            .map(|n| format!("{n} {}", count(&summary[key][*n])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    crate::say!(
        "open by severity  {}",
        by(
            "open_by_severity",
            &["critical", "high", "medium", "low", "none", "unknown"]
        )
    );
    crate::say!(
        "by state          {}",
        by(
            "by_state",
            &["open", "fixed", "mitigated", "accepted", "not_affected"]
        )
    );
    crate::say!("overdue           {}", count(&summary["overdue"]));
    crate::say!("known exploited   {}", count(&summary["open_kev"]));
    crate::say!("affected hosts    {}", count(&summary["affected_hosts"]));
    crate::say!(
        "pending reboot    {}",
        count(&summary["hosts_pending_reboot"])
    );
}

/// `rivet tenant deadline-policy …`
pub async fn deadline_policy(conn: &Connection, cmd: PolicyCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    let path = |tenant: &str| format!("/tenants/{}/deadline-policy", super::urlencode(tenant));
    let policy = match cmd {
        PolicyCommand::Show { tenant } => c.get(&path(&tenant), &[]).await?,
        PolicyCommand::Set {
            tenant,
            kev,
            critical,
            high,
            medium,
            low,
            count_from,
        } => {
            let body = json!({
                "kev_days": kev, "critical_days": critical, "high_days": high,
                "medium_days": medium, "low_days": low, "count_from": count_from,
            });
            c.call(Method::PUT, &path(&tenant), &[], Some(&body))
                .await?
        }
    };
    output::record(conn.output, &policy);
    Ok(())
}

/// `rivet exceptions …`
#[derive(Debug, Subcommand)]
pub enum ExceptionCommand {
    /// Accepts the risk of an advisory (or records a workaround) for a
    /// host, a group or a whole tenant until a date; the findings it covers
    /// reopen when it expires.
    Create {
        /// The tenant (id).
        #[arg(long)]
        tenant: String,
        /// The advisory's id or a CVE.
        #[arg(long)]
        advisory: String,
        /// Only this host (id).
        #[arg(long, conflicts_with = "group")]
        host: Option<String>,
        /// Only the hosts of this group.
        #[arg(long)]
        group: Option<String>,
        /// Why the risk is accepted, or what the workaround is.
        #[arg(long)]
        reason: String,
        /// Who approved it (default: you).
        #[arg(long)]
        approver: Option<String>,
        /// When it ends (RFC 3339, e.g. 2027-03-31T00:00:00Z).
        #[arg(long)]
        expires: String,
        /// A workaround (findings mitigated) rather than an accepted risk.
        #[arg(long)]
        workaround: bool,
    },
    /// Exceptions, newest first.
    List {
        /// Of this tenant (id).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revokes an exception: its findings reopen.
    Revoke {
        /// The exception's id.
        id: String,
    },
}

const EXCEPTION_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("TENANT", "tenant_id"),
    ("KIND", "kind"),
    ("ADVISORY", "advisory"),
    ("HOST", "host_id"),
    ("GROUP", "group"),
    ("APPROVER", "approver"),
    ("EXPIRES", "expires_at"),
    ("FINDINGS", "findings"),
    ("REVOKED", "revoked_at"),
    ("ENDED", "ended_at"),
];

/// `rivet exceptions …`
pub async fn exceptions(conn: &Connection, cmd: ExceptionCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    match cmd {
        ExceptionCommand::Create {
            tenant,
            advisory,
            host,
            group,
            reason,
            approver,
            expires,
            workaround,
        } => {
            let body = json!({
                "tenant": tenant, "advisory": advisory, "host": host, "group": group,
                "reason": reason, "approver": approver, "expires_at": expires,
                "kind": if workaround { "workaround" } else { "accept" },
            });
            let created = c
                .call(Method::POST, "/exceptions", &[], Some(&body))
                .await?;
            output::record(conn.output, &created);
        }
        ExceptionCommand::List { tenant } => {
            let query: Vec<(&str, String)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
            let items = c.list_all("/exceptions", &query, None).await?;
            output::list(conn.output, &items, EXCEPTION_COLUMNS);
        }
        ExceptionCommand::Revoke { id } => {
            let path = format!("/exceptions/{}/revoke", super::urlencode(&id));
            let revoked = c.call(Method::POST, &path, &[], None).await?;
            output::record(conn.output, &revoked);
        }
    }
    Ok(())
}

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

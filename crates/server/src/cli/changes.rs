//! `rivet changes …` and `rivet policies …`: change requests from draft to
//! scheduled, votes, customer orders, standard-change templates, patch
//! cycles, and the tenants' approval and update policies (CHG-1 to CHG-7,
//! RLO-3, RLO-5), over the API.

use anyhow::{Context, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::Client;
use super::output::{self, Output};
use super::{Connection, urlencode};

/// `rivet changes …`
#[derive(Debug, Subcommand)]
pub enum ChangeCommand {
    /// Creates a draft change from a JSON file: the change request's fields
    /// and `tenant` (see docs/changes.md).
    Create {
        /// The change request (JSON).
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Changes, newest first.
    List {
        /// Of this tenant (id).
        #[arg(long)]
        tenant: Option<String>,
        /// In these states, comma-separated (draft, submitted, approved,
        /// rejected, scheduled, in_progress, completed, failed,
        /// rolled_back, cancelled, reviewed).
        #[arg(long)]
        state: Option<String>,
        /// Only expedited emergency changes waiting for their review.
        #[arg(long)]
        review_due: bool,
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One change: approvals, what is missing, window check, update policy,
    /// history.
    Show {
        /// The change's id.
        id: String,
    },
    /// Replaces a draft's content with a JSON file (the change request's
    /// fields, without `tenant`).
    Amend {
        /// The change's id.
        id: String,
        /// The change request (JSON).
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Submits a draft for approval (a standard change fitting its template
    /// is approved at once).
    Submit {
        /// The change's id.
        id: String,
        /// A comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Approves an emergency change at once, past the CAB; a review is owed.
    Expedite {
        /// The change's id.
        id: String,
        /// Why this is an emergency (required).
        #[arg(long)]
        comment: String,
    },
    /// Returns a rejected change to a draft.
    Revise {
        /// The change's id.
        id: String,
        /// A comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Calls a change off before its work starts.
    Cancel {
        /// The change's id.
        id: String,
        /// A comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Plans an approved change's start.
    Schedule {
        /// The change's id.
        id: String,
        /// When the work starts (RFC 3339, e.g. 2026-12-06T02:00:00Z).
        #[arg(long)]
        at: String,
        /// A comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Approves a submitted change (CAB members, customer approvers).
    Approve {
        /// The change's id.
        id: String,
        /// A comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Rejects a submitted change, saying why.
    Reject {
        /// The change's id.
        id: String,
        /// Why (required).
        #[arg(long)]
        comment: String,
    },
    /// Records the post-implementation review of a finished change.
    Review {
        /// The change's id.
        id: String,
        /// What the review found.
        #[arg(long)]
        notes: String,
    },
    /// Orders an update as a customer: it becomes a draft change for the
    /// provider to complete.
    Order {
        /// The customer (id); your own tenant when you are a customer.
        #[arg(long)]
        tenant: Option<String>,
        /// A package at an exact version, NAME=VERSION (repeatable).
        #[arg(long = "package", required = true)]
        packages: Vec<String>,
        /// What you want and why.
        #[arg(long)]
        text: String,
        /// A title (default: made from the packages).
        #[arg(long)]
        title: Option<String>,
        /// The update class of the packages (e.g. middleware).
        #[arg(long)]
        class: Option<String>,
    },
    /// A tenant's standard-change templates.
    #[command(subcommand)]
    Templates(TemplateCommand),
    /// A tenant's patch cycle.
    #[command(subcommand)]
    PatchCycle(PatchCycleCommand),
}

/// `rivet changes templates …`
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Shows a tenant's templates.
    Show {
        /// The tenant (id).
        tenant: String,
    },
    /// Replaces a tenant's templates with a JSON file (a list).
    Set {
        /// The tenant (id).
        tenant: String,
        /// The templates (JSON).
        #[arg(long)]
        file: std::path::PathBuf,
    },
}

/// `rivet changes patch-cycle …`
#[derive(Debug, Subcommand)]
pub enum PatchCycleCommand {
    /// Shows a tenant's patch cycle and when it runs next.
    Show {
        /// The tenant (id).
        tenant: String,
    },
    /// Sets a tenant's patch cycle from a JSON file.
    Set {
        /// The tenant (id).
        tenant: String,
        /// The cycle (JSON): every_days, severities, kev, ring, template.
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Runs a tenant's patch cycle now.
    Run {
        /// The tenant (id).
        tenant: String,
    },
}

/// `rivet policies …`
#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Shows a tenant's approval and update policies.
    Show {
        /// The tenant (id).
        tenant: String,
    },
    /// Sets a tenant's approval and/or update policy from JSON files.
    Set {
        /// The tenant (id).
        tenant: String,
        /// The approval policy (JSON): cab_quorum, customer.
        #[arg(long)]
        approval: Option<std::path::PathBuf>,
        /// The update policy (JSON): a handling per update class.
        #[arg(long)]
        update: Option<std::path::PathBuf>,
    },
}

const CHANGE_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("TENANT", "tenant_id"),
    ("KIND", "kind"),
    ("STATE", "state"),
    ("PLANNED START", "planned_start"),
    ("ORDERED", "requested_by_customer"),
    ("REVIEW DUE", "review_due"),
    ("TITLE", "title"),
];

const TEMPLATE_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("CLASSES", "allowed_classes"),
    ("MAX RISK", "max_risk"),
];

fn read_json(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn change_path(id: &str, action: Option<&str>) -> String {
    match action {
        Some(a) => format!("/changes/{}/{a}", urlencode(id)),
        None => format!("/changes/{}", urlencode(id)),
    }
}

/// `rivet changes …`
pub async fn changes(conn: &Connection, cmd: ChangeCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    let (path, body) = match cmd {
        ChangeCommand::List {
            tenant,
            state,
            review_due,
            limit,
        } => {
            let mut query: Vec<(&str, String)> = [("tenant", tenant), ("state", state)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            if review_due {
                query.push(("review_due", "true".into()));
            }
            let items = c.list_all("/changes", &query, Some(limit)).await?;
            output::list(conn.output, &items, CHANGE_COLUMNS);
            return Ok(());
        }
        ChangeCommand::Show { id } => {
            let change = c.get(&change_path(&id, None), &[]).await?;
            show(conn.output, &change);
            return Ok(());
        }
        ChangeCommand::Create { file } => {
            let change = c
                .call(Method::POST, "/changes", &[], Some(&read_json(&file)?))
                .await?;
            return done(conn.output, &change);
        }
        ChangeCommand::Amend { id, file } => {
            let change = c
                .call(
                    Method::PUT,
                    &change_path(&id, None),
                    &[],
                    Some(&read_json(&file)?),
                )
                .await?;
            return done(conn.output, &change);
        }
        ChangeCommand::Order {
            tenant,
            packages,
            text,
            title,
            class,
        } => {
            let mut wanted = Vec::new();
            for p in &packages {
                let Some((name, version)) = p.split_once('=') else {
                    bail!("--package {p:?}: write NAME=VERSION");
                };
                wanted
                    .push(json!({"name": name.trim(), "version": version.trim(), "class": class}));
            }
            let body = json!({"tenant": tenant, "packages": wanted, "text": text, "title": title});
            let change = c
                .call(Method::POST, "/changes/order", &[], Some(&body))
                .await?;
            return done(conn.output, &change);
        }
        ChangeCommand::Templates(cmd) => return templates(conn, &c, cmd).await,
        ChangeCommand::PatchCycle(cmd) => return patch_cycle(conn, &c, cmd).await,
        ChangeCommand::Submit { id, comment } => (
            change_path(&id, Some("submit")),
            json!({"comment": comment}),
        ),
        ChangeCommand::Expedite { id, comment } => (
            change_path(&id, Some("expedite")),
            json!({"comment": comment}),
        ),
        ChangeCommand::Revise { id, comment } => (
            change_path(&id, Some("revise")),
            json!({"comment": comment}),
        ),
        ChangeCommand::Cancel { id, comment } => (
            change_path(&id, Some("cancel")),
            json!({"comment": comment}),
        ),
        ChangeCommand::Schedule { id, at, comment } => (
            change_path(&id, Some("schedule")),
            json!({"planned_start": at, "comment": comment}),
        ),
        ChangeCommand::Approve { id, comment } => (
            change_path(&id, Some("approve")),
            json!({"comment": comment}),
        ),
        ChangeCommand::Reject { id, comment } => (
            change_path(&id, Some("reject")),
            json!({"comment": comment}),
        ),
        ChangeCommand::Review { id, notes } => {
            (change_path(&id, Some("review")), json!({"notes": notes}))
        }
    };
    let change = c.call(Method::POST, &path, &[], Some(&body)).await?;
    done(conn.output, &change)
}

/// After a write: the change as JSON, or one line saying where it stands.
fn done(out: Output, change: &Value) -> anyhow::Result<()> {
    match out {
        Output::Json => crate::say!("{change}"),
        Output::Table => {
            let missing = missing(&change["approval_status"]);
            crate::say!(
                "change {} is {}{}",
                change["id"].as_str().unwrap_or("?"),
                change["change"]["state"].as_str().unwrap_or("?"),
                if change["change"]["state"] == "submitted" && !missing.is_empty() {
                    format!("; waiting for {missing}")
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

/// What approvals are missing, for people.
fn missing(status: &Value) -> String {
    status["missing"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| match m["type"].as_str() {
            Some("cab") => format!("CAB {}/{}", m["approvals"], m["quorum"]),
            Some("customer") => "the customer's approver".to_owned(),
            _ => m.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(out: Output, v: &Value) {
    if out == Output::Json {
        crate::say!("{v}");
        return;
    }
    let c = &v["change"];
    let text = |x: &Value| x.as_str().map(str::to_owned).unwrap_or_else(|| "-".into());
    let status = match v["approval_status"]["status"].as_str() {
        Some("pending") => format!("pending: {}", missing(&v["approval_status"])),
        Some("rejected") => format!("rejected: {}", text(&v["approval_status"]["comment"])),
        Some(s) => s.to_owned(),
        None => "-".into(),
    };
    let patches: Vec<String> = c["patches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| match p["type"].as_str() {
            Some("advisory") => text(&p["id"]),
            _ => format!(
                "{}{} {}{}",
                text(&p["name"]),
                p["arch"]
                    .as_str()
                    .map(|a| format!(":{a}"))
                    .unwrap_or_default(),
                text(&p["version"]),
                p["class"]
                    .as_str()
                    .map(|k| format!(" ({k})"))
                    .unwrap_or_default(),
            ),
        })
        .collect();
    let targets: Vec<String> = c["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            t.as_object()
                .and_then(|o| o.iter().next())
                .map(|(k, v)| format!("{k}:{}", text(v)))
                .unwrap_or_default()
        })
        .collect();
    let window = &v["window"];
    let rows: Vec<(&str, Value)> = vec![
        ("id", v["id"].clone()),
        ("tenant", v["tenant_id"].clone()),
        ("kind", c["kind"]["type"].clone()),
        ("state", c["state"].clone()),
        ("title", c["title"].clone()),
        ("risk", c["risk"].clone()),
        ("downtime", c["expected_downtime"].clone()),
        ("earliest start", c["schedule"]["earliest_start"].clone()),
        ("planned start", c["planned_start"].clone()),
        ("ordered", c["requested_by_customer"].clone()),
        ("patches", json!(patches.join(", "))),
        ("targets", json!(targets.join(", "))),
        (
            "window",
            json!(format!(
                "{} of {} hosts outside a window at {}",
                window["hosts_outside"],
                window["hosts"],
                text(&window["at"])
            )),
        ),
        ("approval", json!(status)),
        (
            "update policy",
            json!(format!(
                "{}{}",
                text(&v["update_policy"]["decision"]),
                v["update_policy"]["reasons"]
                    .as_array()
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(
                        " ({})",
                        r.iter()
                            .map(|d| text(&d["label"]))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .unwrap_or_default()
            )),
        ),
        ("review due", v["review_due"].clone()),
    ];
    let pairs: Vec<(&str, &Value)> = rows.iter().map(|(k, v)| (*k, v)).collect();
    output::fields(&pairs);
    for a in v["approvals"].as_array().into_iter().flatten() {
        crate::say!(
            "vote     {}  {} by {} ({}){}",
            text(&a["at"]),
            text(&a["decision"]),
            text(&a["by"]),
            text(&a["role"]),
            a["comment"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        );
    }
    for t in c["history"].as_array().into_iter().flatten() {
        crate::say!(
            "history  {}  {} {} → {} by {}{}",
            text(&t["at"]),
            text(&t["action"]),
            text(&t["from"]),
            text(&t["to"]),
            text(&t["by"]),
            t["comment"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        );
    }
}

async fn templates(conn: &Connection, c: &Client, cmd: TemplateCommand) -> anyhow::Result<()> {
    let path = |t: &str| format!("/tenants/{}/change-templates", urlencode(t));
    let list = match cmd {
        TemplateCommand::Show { tenant } => c.get(&path(&tenant), &[]).await?,
        TemplateCommand::Set { tenant, file } => {
            c.call(Method::PUT, &path(&tenant), &[], Some(&read_json(&file)?))
                .await?
        }
    };
    output::list(
        conn.output,
        list.as_array().map(Vec::as_slice).unwrap_or(&[]),
        TEMPLATE_COLUMNS,
    );
    Ok(())
}

async fn patch_cycle(conn: &Connection, c: &Client, cmd: PatchCycleCommand) -> anyhow::Result<()> {
    let path = |t: &str| format!("/tenants/{}/patch-cycle", urlencode(t));
    let cycle = match cmd {
        PatchCycleCommand::Show { tenant } => c.get(&path(&tenant), &[]).await?,
        PatchCycleCommand::Set { tenant, file } => {
            c.call(Method::PUT, &path(&tenant), &[], Some(&read_json(&file)?))
                .await?
        }
        PatchCycleCommand::Run { tenant } => {
            let run = c
                .call(Method::POST, &format!("{}/run", path(&tenant)), &[], None)
                .await?;
            match conn.output {
                Output::Json => crate::say!("{run}"),
                Output::Table => {
                    match run["change"].as_str() {
                        Some(id) => crate::say!(
                            "change {id} ({}): {} patches for {} findings of {} advisories",
                            run["state"].as_str().unwrap_or("?"),
                            run["patches"],
                            run["findings"],
                            run["advisories"].as_array().map_or(0, Vec::len)
                        ),
                        None => crate::say!("nothing to patch"),
                    }
                    if run["skipped_without_fix"].as_u64().unwrap_or(0) > 0 {
                        crate::say!(
                            "skipped {} open findings without a fixed version",
                            run["skipped_without_fix"]
                        );
                    }
                    if let Some(note) = run["note"].as_str() {
                        crate::say!("{note}");
                    }
                }
            }
            return Ok(());
        }
    };
    match conn.output {
        Output::Json => crate::say!("{cycle}"),
        Output::Table => {
            let spec = &cycle["spec"];
            if spec.is_null() {
                crate::say!("no patch cycle");
                return Ok(());
            }
            let rows: Vec<(&str, Value)> = vec![
                ("enabled", spec["enabled"].clone()),
                ("every days", spec["every_days"].clone()),
                ("severities", spec["severities"].clone()),
                ("kev", spec["kev"].clone()),
                ("ring", spec["ring"].clone()),
                ("template", spec["template"].clone()),
                ("next run", cycle["next_run"].clone()),
                ("last run", cycle["last_run"].clone()),
                ("last change", cycle["last_change"].clone()),
            ];
            let pairs: Vec<(&str, &Value)> = rows.iter().map(|(k, v)| (*k, v)).collect();
            output::fields(&pairs);
        }
    }
    Ok(())
}

/// `rivet policies …`
pub async fn policies(conn: &Connection, cmd: PoliciesCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    let approval = |t: &str| format!("/tenants/{}/approval-policy", urlencode(t));
    let update = |t: &str| format!("/tenants/{}/update-policy", urlencode(t));
    let tenant = match cmd {
        PoliciesCommand::Show { tenant } => tenant,
        PoliciesCommand::Set {
            tenant,
            approval: a,
            update: u,
        } => {
            if a.is_none() && u.is_none() {
                bail!("nothing to set: pass --approval FILE and/or --update FILE");
            }
            if let Some(file) = a {
                c.call(
                    Method::PUT,
                    &approval(&tenant),
                    &[],
                    Some(&read_json(&file)?),
                )
                .await?;
            }
            if let Some(file) = u {
                c.call(Method::PUT, &update(&tenant), &[], Some(&read_json(&file)?))
                    .await?;
            }
            tenant
        }
    };
    let both = json!({
        "approval": c.get(&approval(&tenant), &[]).await?,
        "update": c.get(&update(&tenant), &[]).await?,
    });
    match conn.output {
        Output::Json => crate::say!("{both}"),
        Output::Table => {
            let a = &both["approval"];
            let u = &both["update"];
            let rows: Vec<(&str, Value)> = vec![
                ("cab quorum", a["cab_quorum"].clone()),
                ("customer approval", a["customer"].clone()),
                ("security", u["security"].clone()),
                ("bugfix", u["bugfix"].clone()),
                ("enhancement", u["enhancement"].clone()),
                ("middleware", u["middleware"].clone()),
                ("major", u["major"].clone()),
            ];
            let pairs: Vec<(&str, &Value)> = rows.iter().map(|(k, v)| (*k, v)).collect();
            output::fields(&pairs);
        }
    }
    Ok(())
}

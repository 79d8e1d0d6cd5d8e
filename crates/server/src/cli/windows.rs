//! `rivet windows …`, `rivet freezes …`, `rivet calendar` and `rivet rings …`:
//! maintenance windows, change freezes, a tenant's calendar and ring plans
//! (RLO-1, RLO-2), over the API.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::output::{self, Output};
use super::{Connection, urlencode};

/// `rivet windows …`
#[derive(Debug, Subcommand)]
pub enum WindowCommand {
    /// Creates a maintenance window, recurring in the customer's time zone.
    Create {
        /// The tenant (id).
        #[arg(long)]
        tenant: String,
        /// Its name, unique in the tenant (hosts name it in their
        /// `maintenance_window` attribute).
        #[arg(long)]
        name: String,
        /// The IANA time zone it recurs in (Europe/Berlin).
        #[arg(long)]
        time_zone: String,
        /// The local date and time of the first occurrence (2026-11-29T02:00).
        #[arg(long)]
        start: String,
        /// The RFC 5545 recurrence rule (FREQ=WEEKLY;BYDAY=SU).
        #[arg(long)]
        rrule: String,
        /// How long each occurrence lasts (2h, 90m, PT2H).
        #[arg(long)]
        duration: String,
        /// For the hosts of this group only.
        #[arg(long)]
        group: Option<String>,
    },
    /// Lists windows.
    List {
        /// Of this tenant (id).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Shows a window and its next occurrences, in UTC and local time.
    Show {
        /// The window's id.
        id: String,
        /// Occurrences after this time (RFC 3339 or a date; default now).
        #[arg(long)]
        after: Option<String>,
        /// How many (default 5).
        #[arg(long)]
        count: Option<usize>,
    },
    /// Deletes a window.
    Delete {
        /// The window's id.
        id: String,
    },
    /// Which windows apply to a host, and when it is next open.
    Next {
        /// The host (id).
        #[arg(long)]
        host: String,
        /// After this time (RFC 3339 or a date; default now).
        #[arg(long)]
        after: Option<String>,
    },
}

/// `rivet freezes …`
#[derive(Debug, Subcommand)]
pub enum FreezeCommand {
    /// Declares a change freeze: no window occurrence it overlaps opens.
    Create {
        /// The tenant (id); every tenant when absent (only for provider
        /// users who see every customer).
        #[arg(long)]
        tenant: Option<String>,
        /// When it begins (RFC 3339, or a date: its midnight UTC).
        #[arg(long)]
        start: String,
        /// When it ends, exclusive (RFC 3339, or a date: its midnight UTC).
        #[arg(long)]
        end: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Freezes that have not ended.
    List {
        /// Of this tenant (id), with those for every tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Lifts a freeze.
    Delete {
        /// The freeze's id.
        id: String,
    },
}

/// `rivet calendar`
#[derive(Debug, Args)]
pub struct CalendarArgs {
    /// The tenant (id).
    #[arg(long)]
    pub tenant: String,
    /// From (RFC 3339, or a date: its midnight UTC; default now).
    #[arg(long)]
    pub from: Option<String>,
    /// To, exclusive (default 31 days after from; at most 92).
    #[arg(long)]
    pub to: Option<String>,
}

/// `rivet rings …`
#[derive(Debug, Subcommand)]
pub enum RingCommand {
    /// A tenant's ring plan and its hosts per ring.
    Show {
        /// The tenant (id).
        tenant: String,
    },
    /// Sets a tenant's ring plan from a JSON file: the list of rings, pilot
    /// first (or what `rings show --output json` printed).
    Set {
        /// The tenant (id).
        tenant: String,
        /// The file.
        #[arg(long)]
        file: std::path::PathBuf,
    },
}

const WINDOW_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("TENANT", "tenant_id"),
    ("NAME", "name"),
    ("GROUP", "group"),
    ("TIME ZONE", "/spec/time_zone"),
    ("FIRST", "/spec/start"),
    ("RRULE", "/spec/rrule"),
    ("DURATION", "/spec/duration"),
];

const OCCURRENCE_COLUMNS: &[(&str, &str)] = &[
    ("START (UTC)", "start"),
    ("END (UTC)", "end"),
    ("LOCAL START", "local_start"),
    ("CANCELLED BY", "/cancelled/reason"),
];

const FREEZE_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("TENANT", "tenant"),
    ("START", "start"),
    ("END", "end"),
    ("REASON", "reason"),
];

/// A time option as the API takes it: RFC 3339 as given, a date as its
/// midnight UTC.
fn instant(option: &str, text: &str) -> anyhow::Result<String> {
    if text.parse::<jiff::Timestamp>().is_ok() {
        return Ok(text.to_owned());
    }
    match text.parse::<jiff::civil::Date>() {
        Ok(date) => Ok(format!("{date}T00:00:00Z")),
        Err(_) => {
            bail!("--{option}: {text:?} is not an RFC 3339 time (2026-12-01T02:00:00Z) or a date")
        }
    }
}

fn time_query(
    query: &mut Vec<(&'static str, String)>,
    name: &'static str,
    value: Option<String>,
) -> anyhow::Result<()> {
    if let Some(v) = value {
        query.push((name, instant(name, &v)?));
    }
    Ok(())
}

/// `rivet windows …`
pub async fn windows(conn: &Connection, cmd: WindowCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    match cmd {
        WindowCommand::Create {
            tenant,
            name,
            time_zone,
            start,
            rrule,
            duration,
            group,
        } => {
            let body = json!({
                "tenant": tenant, "group": group,
                "spec": {"name": name, "time_zone": time_zone, "start": start, "rrule": rrule, "duration": duration},
            });
            let created = c.call(Method::POST, "/windows", &[], Some(&body)).await?;
            show_window(conn.output, &created);
        }
        WindowCommand::List { tenant } => {
            let query: Vec<(&str, String)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
            let items = c.list_all("/windows", &query, None).await?;
            output::list(conn.output, &items, WINDOW_COLUMNS);
        }
        WindowCommand::Show { id, after, count } => {
            let mut query = Vec::new();
            time_query(&mut query, "after", after)?;
            if let Some(n) = count {
                query.push(("count", n.to_string()));
            }
            let detail = c
                .get(&format!("/windows/{}", urlencode(&id)), &query)
                .await?;
            show_window(conn.output, &detail);
        }
        WindowCommand::Delete { id } => {
            c.call(
                Method::DELETE,
                &format!("/windows/{}", urlencode(&id)),
                &[],
                None,
            )
            .await?;
            crate::say!("deleted window {id}");
        }
        WindowCommand::Next { host, after } => {
            let mut query = Vec::new();
            time_query(&mut query, "after", after)?;
            let answer = c
                .get(&format!("/hosts/{}/windows", urlencode(&host)), &query)
                .await?;
            match conn.output {
                Output::Json => crate::say!("{answer}"),
                Output::Table => show_host_windows(&answer),
            }
        }
    }
    Ok(())
}

/// A window's fields, then its next occurrences (when the answer has them).
fn show_window(out: Output, w: &Value) {
    if out == Output::Json {
        crate::say!("{w}");
        return;
    }
    let spec = &w["spec"];
    output::fields(&[
        ("id", &w["id"]),
        ("tenant", &w["tenant_id"]),
        ("name", &w["name"]),
        ("group", &w["group"]),
        ("time zone", &spec["time_zone"]),
        ("first", &spec["start"]),
        ("rrule", &spec["rrule"]),
        ("duration", &spec["duration"]),
        ("created", &w["created_at"]),
    ]);
    if let Some(problem) = w["problem"].as_str() {
        crate::say!("problem    {problem}");
    }
    if let Some(next) = w["next"].as_array() {
        crate::say!("");
        output::list(Output::Table, next, OCCURRENCE_COLUMNS);
    }
}

fn show_host_windows(answer: &Value) {
    let windows: Vec<String> = answer["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            format!(
                "{} ({})",
                w["name"].as_str().unwrap_or("?"),
                w["applies_by"].as_str().unwrap_or("?").replace('_', " ")
            )
        })
        .collect();
    crate::say!(
        "windows       {}",
        if windows.is_empty() {
            "-".to_owned()
        } else {
            windows.join(", ")
        }
    );
    let o = &answer["next_opening"];
    if o.is_object() {
        crate::say!(
            "next opening  {} to {} (UTC)",
            o["start"].as_str().unwrap_or("?"),
            o["end"].as_str().unwrap_or("?")
        );
        crate::say!(
            "local         {} to {}",
            o["local_start"].as_str().unwrap_or("?"),
            o["local_end"].as_str().unwrap_or("?")
        );
    } else {
        crate::say!(
            "next opening  none: {}",
            answer["reason"].as_str().unwrap_or("?")
        );
    }
    for x in answer["cancelled"].as_array().into_iter().flatten() {
        crate::say!(
            "cancelled     {} ({}): {}",
            x["start"].as_str().unwrap_or("?"),
            x["local_start"].as_str().unwrap_or("?"),
            x["cancelled"]["reason"].as_str().unwrap_or("?")
        );
    }
}

/// `rivet freezes …`
pub async fn freezes(conn: &Connection, cmd: FreezeCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    match cmd {
        FreezeCommand::Create {
            tenant,
            start,
            end,
            reason,
        } => {
            let body = json!({
                "tenant": tenant, "start": instant("start", &start)?,
                "end": instant("end", &end)?, "reason": reason,
            });
            let created = c.call(Method::POST, "/freezes", &[], Some(&body)).await?;
            output::record(conn.output, &created);
        }
        FreezeCommand::List { tenant } => {
            let query: Vec<(&str, String)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
            let mut items = c.list_all("/freezes", &query, None).await?;
            if conn.output == Output::Table {
                for f in &mut items {
                    f["tenant"] = match &f["tenant_id"] {
                        Value::Null => json!("(every tenant)"),
                        t => t.clone(),
                    };
                }
            }
            output::list(conn.output, &items, FREEZE_COLUMNS);
        }
        FreezeCommand::Delete { id } => {
            c.call(
                Method::DELETE,
                &format!("/freezes/{}", urlencode(&id)),
                &[],
                None,
            )
            .await?;
            crate::say!("lifted freeze {id}");
        }
    }
    Ok(())
}

/// `rivet calendar`: one timeline of window occurrences, freezes and
/// changes, by start.
pub async fn calendar(conn: &Connection, args: CalendarArgs) -> anyhow::Result<()> {
    let c = conn.client().await?;
    let mut query = vec![("tenant", args.tenant)];
    time_query(&mut query, "from", args.from)?;
    time_query(&mut query, "to", args.to)?;
    let cal = c.get("/calendar", &query).await?;
    if conn.output == Output::Json {
        crate::say!("{cal}");
        return Ok(());
    }
    let mut rows: Vec<Value> = Vec::new();
    for w in cal["windows"].as_array().into_iter().flatten() {
        for o in w["occurrences"].as_array().into_iter().flatten() {
            let cancelled = o["cancelled"]["reason"].as_str();
            rows.push(json!({
                "start": o["start"], "end": o["end"],
                "kind": if cancelled.is_some() { "cancelled" } else { "window" },
                "name": w["name"],
                "note": match cancelled {
                    Some(reason) => format!("{} (frozen: {reason})", o["local_start"].as_str().unwrap_or("")),
                    None => o["local_start"].as_str().unwrap_or("").to_owned(),
                },
            }));
        }
    }
    for f in cal["freezes"].as_array().into_iter().flatten() {
        rows.push(json!({
            "start": f["start"], "end": f["end"], "kind": "freeze", "name": f["id"],
            "note": f["reason"],
        }));
    }
    for ch in cal["changes"].as_array().into_iter().flatten() {
        rows.push(json!({
            "start": ch["planned_start"], "end": null, "kind": "change", "name": ch["title"],
            "note": format!("{} {}", ch["id"].as_str().unwrap_or(""), ch["state"].as_str().unwrap_or("")),
        }));
    }
    // RFC 3339 UTC times sort as text; changes without a start come first.
    rows.sort_by(|a, b| {
        a["start"]
            .as_str()
            .unwrap_or("")
            .cmp(b["start"].as_str().unwrap_or(""))
    });
    crate::say!(
        "calendar of {} from {} to {}",
        cal["tenant_id"].as_str().unwrap_or("?"),
        cal["from"].as_str().unwrap_or("?"),
        cal["to"].as_str().unwrap_or("?")
    );
    output::list(
        Output::Table,
        &rows,
        &[
            ("START (UTC)", "start"),
            ("END (UTC)", "end"),
            ("KIND", "kind"),
            ("NAME", "name"),
            ("NOTE", "note"),
        ],
    );
    Ok(())
}

/// `rivet rings …`
pub async fn rings(conn: &Connection, cmd: RingCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    let path = |tenant: &str| format!("/tenants/{}/ring-plan", urlencode(tenant));
    let view = match cmd {
        RingCommand::Show { tenant } => c.get(&path(&tenant), &[]).await?,
        RingCommand::Set { tenant, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let doc: Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", file.display()))?;
            // What `rings show --output json` printed works as well.
            let plan = match doc {
                Value::Object(mut o) if o.contains_key("plan") => {
                    o.remove("plan").unwrap_or_default()
                }
                other => other,
            };
            c.call(Method::PUT, &path(&tenant), &[], Some(&plan))
                .await?
        }
    };
    match conn.output {
        Output::Json => crate::say!("{view}"),
        Output::Table => show_rings(&view),
    }
    Ok(())
}

fn show_rings(view: &Value) {
    if view["default"] == true {
        crate::say!("(the tenant set no ring plan: one ring holds every host)");
    }
    let counts = view["hosts_per_ring"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let rows: Vec<Value> = view["plan"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let hosts = counts
                .iter()
                .find(|c| c["ring"] == r["name"])
                .map_or(json!(0), |c| c["hosts"].clone());
            json!({
                "name": r["name"], "hosts": hosts,
                "named": r["hosts"].as_array().map_or(0, Vec::len),
                "groups": r["groups"], "soak": r["soak"],
                "failure_threshold": r["failure_threshold"], "max_in_flight": r["max_in_flight"],
            })
        })
        .collect();
    output::list(
        Output::Table,
        &rows,
        &[
            ("RING", "name"),
            ("HOSTS", "hosts"),
            ("NAMED", "named"),
            ("GROUPS", "groups"),
            ("SOAK", "soak"),
            ("FAILURES HALT AT", "failure_threshold"),
            ("MAX IN FLIGHT", "max_in_flight"),
        ],
    );
    for h in view["unknown_ring"].as_array().into_iter().flatten() {
        eprintln!(
            "warning: host {} ({}) names ring {:?}, which the plan does not have",
            h["name"].as_str().unwrap_or("?"),
            h["host_id"].as_str().unwrap_or("?"),
            h["ring"].as_str().unwrap_or("?")
        );
    }
}

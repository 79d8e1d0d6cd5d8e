//! `rivet tenant notifications …` and `rivet notifications …`: who hears
//! of planned downtime and how (RLO-6, REP-5), and the outbox, over the API.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::Connection;
use super::output::{self, Output};

/// `rivet tenant notifications …`
#[derive(Debug, Subcommand)]
pub enum TenantNotificationCommand {
    /// A tenant's notification settings.
    Show {
        /// The tenant (id).
        tenant: String,
    },
    /// Changes a tenant's notification settings; what is not given stays.
    Set {
        /// The tenant (id).
        tenant: String,
        /// An e-mail recipient (repeatable; replaces the list and enables
        /// e-mail).
        #[arg(long = "email")]
        emails: Vec<String>,
        /// Stop sending e-mail (the recipients stay).
        #[arg(long, conflicts_with = "emails")]
        disable_email: bool,
        /// The webhook's URL (https://, or http:// to loopback); enables it.
        #[arg(long)]
        webhook: Option<String>,
        /// Remove the webhook and its secret.
        #[arg(long, conflicts_with = "webhook")]
        remove_webhook: bool,
        /// Make a new webhook signing secret (printed once).
        #[arg(long)]
        rotate_secret: bool,
        /// Hours before a window its downtime is announced (1 to 720).
        #[arg(long)]
        lead_hours: Option<u32>,
    },
    /// Sends a test message to every enabled channel now.
    Test {
        /// The tenant (id).
        tenant: String,
    },
}

/// `rivet notifications …`
#[derive(Debug, Subcommand)]
pub enum NotificationCommand {
    /// The outbox: queued, sent and failed notifications, newest first.
    List {
        /// Of this tenant (id).
        #[arg(long)]
        tenant: Option<String>,
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

const OUTBOX_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("KIND", "kind"),
    ("CHANNEL", "channel"),
    ("TARGET", "target"),
    ("STATE", "state"),
    ("DUE", "due_at"),
    ("ATTEMPTS", "attempts"),
    ("LAST ERROR", "last_error"),
];

/// `rivet tenant notifications …`
pub async fn tenant_notifications(
    conn: &Connection,
    cmd: TenantNotificationCommand,
) -> anyhow::Result<()> {
    let c = conn.client().await?;
    let path = |tenant: &str| format!("/tenants/{}/notifications", super::urlencode(tenant));
    match cmd {
        TenantNotificationCommand::Show { tenant } => {
            output::record(conn.output, &c.get(&path(&tenant), &[]).await?);
        }
        TenantNotificationCommand::Set {
            tenant,
            emails,
            disable_email,
            webhook,
            remove_webhook,
            rotate_secret,
            lead_hours,
        } => {
            let current = c.get(&path(&tenant), &[]).await?;
            let mut body = json!({
                "email_enabled": current["email_enabled"],
                "email_recipients": current["email_recipients"],
                "webhook_enabled": current["webhook_enabled"],
                "webhook_url": current["webhook_url"],
                "lead_time_hours": current["lead_time_hours"],
                "rotate_webhook_secret": rotate_secret,
            });
            if !emails.is_empty() {
                body["email_recipients"] = json!(emails);
                body["email_enabled"] = Value::Bool(true);
            }
            if disable_email {
                body["email_enabled"] = Value::Bool(false);
            }
            if let Some(url) = webhook {
                body["webhook_url"] = Value::String(url);
                body["webhook_enabled"] = Value::Bool(true);
            }
            if remove_webhook {
                body["webhook_url"] = Value::Null;
                body["webhook_enabled"] = Value::Bool(false);
            }
            if let Some(hours) = lead_hours {
                body["lead_time_hours"] = json!(hours);
            }
            let mut reply = c
                .call(Method::PUT, &path(&tenant), &[], Some(&body))
                .await?;
            let secret = reply
                .as_object_mut()
                .and_then(|o| o.remove("webhook_secret"));
            match (conn.output, secret) {
                (Output::Json, Some(secret)) => {
                    reply["webhook_secret"] = secret;
                    output::record(conn.output, &reply);
                }
                (_, secret) => {
                    output::record(conn.output, &reply);
                    if let Some(Value::String(secret)) = secret {
                        crate::say!(
                            "\nWebhook signing secret (shown only this once; give it to the receiver):\n{secret}"
                        );
                    }
                }
            }
        }
        TenantNotificationCommand::Test { tenant } => {
            let queued = c
                .call(Method::POST, &format!("{}/test", path(&tenant)), &[], None)
                .await?;
            let items = queued.as_array().cloned().unwrap_or_default();
            output::list(conn.output, &items, OUTBOX_COLUMNS);
        }
    }
    Ok(())
}

/// `rivet notifications …`
pub async fn notifications(conn: &Connection, cmd: NotificationCommand) -> anyhow::Result<()> {
    let c = conn.client().await?;
    match cmd {
        NotificationCommand::List { tenant, limit } => {
            let query: Vec<(&str, String)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
            let items = c.list_all("/notifications", &query, Some(limit)).await?;
            output::list(conn.output, &items, OUTBOX_COLUMNS);
            if conn.output == Output::Table && items.len() == limit {
                eprintln!("(showing the first {limit}; --limit N shows more)");
            }
        }
    }
    Ok(())
}

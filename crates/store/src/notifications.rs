//! Notifications (RLO-6, REP-5): each tenant's settings (recipients,
//! webhook and its signing secret, lead time) and the outbox the sender
//! delivers from.
//!
//! The outbox is written once per notice and deduplicated per tenant, so
//! that a caller may enqueue the same notice as often as it likes. The
//! sender claims due rows with a lease (of several replicas only one sends
//! a row), then marks each sent or failed; a row that failed
//! [`MAX_NOTIFICATION_ATTEMPTS`] times, or was refused for good, is given up
//! with an audit entry.

use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::audit::{Actor, AuditEvent};
use rivet_core::id::{NotificationId, TenantId};
use rivet_core::notify::{Channel, NotificationSettings, WebhookSecret};
use rivet_core::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::append_audit;
use crate::row::{corrupt, micros, opt_timestamp, parse, summary, timestamp, visible};
use crate::{Store, StoreError, in_tx, on_pool};

/// Attempts after which the sender gives a notification up.
pub const MAX_NOTIFICATION_ATTEMPTS: i64 = 10;

/// The longest error text a notification keeps.
const MAX_ERROR_CHARS: usize = 1000;

/// A tenant's notification settings as stored, without the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantNotifications {
    /// The tenant.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant_id: TenantId,
    /// The settings (the defaults when the tenant set none).
    #[serde(flatten)]
    pub settings: NotificationSettings,
    /// Whether the webhook has a signing secret.
    pub webhook_secret_set: bool,
    /// Who last changed them.
    pub updated_by: Option<String>,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub updated_at: Option<Timestamp>,
}

/// What to do with the webhook's secret when settings are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretChange {
    /// Leave it as it is.
    Keep,
    /// Replace it (or set the first one).
    Set(WebhookSecret),
    /// Remove it.
    Clear,
}

/// A notification to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Its id.
    pub id: NotificationId,
    /// The tenant it is for.
    pub tenant_id: TenantId,
    /// What it is about: `downtime_planned`, `test`, …
    pub kind: String,
    /// E-mail or webhook.
    pub channel: Channel,
    /// The recipient's address or the webhook's URL.
    pub target: String,
    /// The subject.
    pub subject: String,
    /// The text.
    pub body: String,
    /// The JSON a webhook receives.
    pub payload: Value,
    /// The same key is queued once per tenant.
    pub dedupe_key: String,
    /// When to send it.
    pub due_at: Timestamp,
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    /// Waiting to be sent (or to be tried again).
    Queued,
    /// Delivered.
    Sent,
    /// Given up.
    Failed,
}

/// A notification in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    /// Its id (also the webhook's `X-Rivet-Delivery`).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: NotificationId,
    /// The tenant.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant_id: TenantId,
    /// What it is about.
    pub kind: String,
    /// E-mail or webhook.
    pub channel: Channel,
    /// The address or URL.
    pub target: String,
    /// The subject.
    pub subject: String,
    /// The text.
    pub body: String,
    /// The JSON a webhook receives.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Value,
    /// Its key among the tenant's notifications.
    pub dedupe_key: String,
    /// Queued, sent or failed.
    pub state: NotificationState,
    /// When it is due.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub due_at: Timestamp,
    /// When it was queued.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When the next attempt is (queued only).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_attempt_at: Option<Timestamp>,
    /// When it was delivered.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub sent_at: Option<Timestamp>,
    /// When it was given up.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub failed_at: Option<Timestamp>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// It will be tried again at the time given.
    Retry,
    /// It was given up.
    GaveUp,
    /// It was no longer queued (sent or given up meanwhile, or unknown).
    NotQueued,
}

const NOTIFICATION_COLUMNS: &str = "id, tenant_id, kind, channel, target, subject, body, payload, \
    dedupe_key, due_at, created_at, attempts, next_attempt_at, sent_at, failed_at, last_error";

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: String,
    tenant_id: String,
    kind: String,
    channel: String,
    target: String,
    subject: String,
    body: String,
    payload: String,
    dedupe_key: String,
    due_at: i64,
    created_at: i64,
    attempts: i64,
    next_attempt_at: Option<i64>,
    sent_at: Option<i64>,
    failed_at: Option<i64>,
    last_error: Option<String>,
}

impl NotificationRow {
    fn into_notification(self) -> Result<Notification, StoreError> {
        const T: &str = "notifications";
        let key = self.id.clone();
        let state = match (self.sent_at, self.failed_at) {
            (Some(_), _) => NotificationState::Sent,
            (None, Some(_)) => NotificationState::Failed,
            (None, None) => NotificationState::Queued,
        };
        Ok(Notification {
            id: parse(T, &key, &self.id)?,
            tenant_id: parse(T, &key, &self.tenant_id)?,
            kind: self.kind,
            channel: parse(T, &key, &self.channel)?,
            target: self.target,
            subject: self.subject,
            body: self.body,
            payload: serde_json::from_str(&self.payload)
                .map_err(|e| corrupt(T, &key, e.to_string()))?,
            dedupe_key: self.dedupe_key,
            state,
            due_at: timestamp(T, &key, self.due_at)?,
            created_at: timestamp(T, &key, self.created_at)?,
            attempts: self.attempts,
            next_attempt_at: opt_timestamp(T, &key, self.next_attempt_at)?,
            sent_at: opt_timestamp(T, &key, self.sent_at)?,
            failed_at: opt_timestamp(T, &key, self.failed_at)?,
            last_error: self.last_error,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    email_enabled: bool,
    email_recipients: String,
    webhook_enabled: bool,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    lead_time_hours: i64,
    updated_by: String,
    updated_at: i64,
}

const SETTINGS_SQL: &str = "SELECT email_enabled, email_recipients, webhook_enabled, webhook_url, \
    webhook_secret, lead_time_hours, updated_by, updated_at FROM notification_settings WHERE tenant_id = $1";

impl SettingsRow {
    fn settings(&self, tenant: &str) -> Result<NotificationSettings, StoreError> {
        const T: &str = "notification_settings";
        Ok(NotificationSettings {
            email_enabled: self.email_enabled,
            email_recipients: serde_json::from_str(&self.email_recipients)
                .map_err(|e| corrupt(T, tenant, e.to_string()))?,
            webhook_enabled: self.webhook_enabled,
            webhook_url: self.webhook_url.clone(),
            lead_time_hours: u32::try_from(self.lead_time_hours)
                .map_err(|e| corrupt(T, tenant, e.to_string()))?,
        })
    }

    fn view(&self, tenant: TenantId) -> Result<TenantNotifications, StoreError> {
        let key = tenant.to_string();
        Ok(TenantNotifications {
            tenant_id: tenant,
            settings: self.settings(&key)?,
            webhook_secret_set: self.webhook_secret.is_some(),
            updated_by: Some(self.updated_by.clone()),
            updated_at: Some(timestamp("notification_settings", &key, self.updated_at)?),
        })
    }
}

/// An error text as kept: one line of at most [`MAX_ERROR_CHARS`].
fn error_text(error: &str) -> String {
    error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_CHARS)
        .collect()
}

impl Store {
    async fn settings_row(&self, tenant: TenantId) -> Result<Option<SettingsRow>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as::<_, SettingsRow>(SETTINGS_SQL)
                .bind(tenant.to_string())
                .fetch_optional(pool)
                .await?
        }))
    }

    /// A tenant's notification settings (the defaults if it set none),
    /// without the webhook's secret.
    pub async fn notification_settings(
        &self,
        tenant: TenantId,
    ) -> Result<TenantNotifications, StoreError> {
        match self.settings_row(tenant).await? {
            Some(row) => row.view(tenant),
            None => Ok(TenantNotifications {
                tenant_id: tenant,
                settings: NotificationSettings::default(),
                webhook_secret_set: false,
                updated_by: None,
                updated_at: None,
            }),
        }
    }

    /// What the sender needs of a tenant's settings: the settings and the
    /// webhook's secret. `None` when the tenant set none.
    pub async fn notification_delivery(
        &self,
        tenant: TenantId,
    ) -> Result<Option<(NotificationSettings, Option<WebhookSecret>)>, StoreError> {
        match self.settings_row(tenant).await? {
            None => Ok(None),
            Some(row) => Ok(Some((
                row.settings(&tenant.to_string())?,
                row.webhook_secret.map(WebhookSecret::from_stored),
            ))),
        }
    }

    /// Sets a tenant's notification settings (validated again here) and
    /// changes its webhook secret as `secret` says, audited with the
    /// settings before and after (the secret only as whether there is one).
    pub async fn set_notification_settings(
        &self,
        tenant: TenantId,
        settings: &NotificationSettings,
        secret: SecretChange,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<TenantNotifications, StoreError> {
        settings
            .validate()
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        let before = self.settings_row(tenant).await?;
        let before_view = before.as_ref().map(|r| r.view(tenant)).transpose()?;
        let kept = before.and_then(|r| r.webhook_secret);
        let (secret_text, rotated) = match secret {
            SecretChange::Keep => (kept, false),
            SecretChange::Set(s) => (Some(s.expose().to_owned()), true),
            SecretChange::Clear => (None, kept.is_some()),
        };
        let recipients = serde_json::to_string(&settings.email_recipients)
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        let after = TenantNotifications {
            tenant_id: tenant,
            settings: settings.clone(),
            webhook_secret_set: secret_text.is_some(),
            updated_by: Some(actor.name.clone()),
            updated_at: Some(at),
        };
        let mut note = serde_json::to_value(&after).unwrap_or(Value::Null);
        note["webhook_secret_changed"] = Value::Bool(rotated);
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO notification_settings (tenant_id, email_enabled, email_recipients, webhook_enabled, \
                 webhook_url, webhook_secret, lead_time_hours, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (tenant_id) DO UPDATE SET email_enabled = $2, email_recipients = $3, \
                 webhook_enabled = $4, webhook_url = $5, webhook_secret = $6, lead_time_hours = $7, \
                 updated_by = $8, updated_at = $9",
            )
            .bind(tenant.to_string())
            .bind(settings.email_enabled)
            .bind(&recipients)
            .bind(settings.webhook_enabled)
            .bind(&settings.webhook_url)
            .bind(&secret_text)
            .bind(i64::from(settings.lead_time_hours))
            .bind(&actor.name)
            .bind(micros(at))
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, AuditEvent {
                at,
                actor: actor.clone(),
                action: "tenant.notifications".into(),
                target_kind: "tenant".into(),
                target_id: Some(tenant.to_string()),
                tenant_id: Some(tenant),
                before: before_view.as_ref().and_then(summary),
                after: summary(&note),
            });
        });
        Ok(after)
    }

    /// Queues notifications; one whose tenant already has its dedupe key is
    /// skipped, so enqueuing the same notice twice sends it once. Returns
    /// the ids newly queued; each tenant with new ones gets one audit entry.
    pub async fn enqueue_notifications(
        &self,
        notifications: &[NewNotification],
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Vec<NotificationId>, StoreError> {
        let mut payloads = Vec::with_capacity(notifications.len());
        for n in notifications {
            payloads.push(
                serde_json::to_string(&n.payload)
                    .map_err(|e| StoreError::Refused(format!("payload: {e}")))?,
            );
        }
        let queued = in_tx!(self, tx => {
            let mut queued: Vec<&NewNotification> = Vec::new();
            for (n, payload) in notifications.iter().zip(&payloads) {
                let done = sqlx::query(
                    "INSERT INTO notifications (id, tenant_id, kind, channel, target, subject, body, payload, \
                     dedupe_key, due_at, created_at, attempts, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $10) \
                     ON CONFLICT (tenant_id, dedupe_key) DO NOTHING",
                )
                .bind(n.id.to_string())
                .bind(n.tenant_id.to_string())
                .bind(&n.kind)
                .bind(n.channel.as_str())
                .bind(&n.target)
                .bind(&n.subject)
                .bind(&n.body)
                .bind(payload)
                .bind(&n.dedupe_key)
                .bind(micros(n.due_at))
                .bind(micros(at))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    queued.push(n);
                }
            }
            let mut tenants: Vec<TenantId> = queued.iter().map(|n| n.tenant_id).collect();
            tenants.sort();
            tenants.dedup();
            for tenant in tenants {
                let of_tenant: Vec<Value> = queued
                    .iter()
                    .filter(|n| n.tenant_id == tenant)
                    .map(|n| serde_json::json!({
                        "id": n.id, "kind": n.kind, "channel": n.channel, "target": n.target,
                        "dedupe_key": n.dedupe_key, "due_at": n.due_at,
                    }))
                    .collect();
                append_audit!(tx, AuditEvent {
                    at,
                    actor: actor.clone(),
                    action: "notification.enqueue".into(),
                    target_kind: "notification".into(),
                    target_id: of_tenant.first().and_then(|n| n["id"].as_str()).map(str::to_owned),
                    tenant_id: Some(tenant),
                    before: None,
                    after: summary(&of_tenant),
                });
            }
            queued.iter().map(|n| n.id).collect::<Vec<_>>()
        });
        Ok(queued)
    }

    /// Claims up to `limit` notifications due at `at`, earliest first: each
    /// is held until `lease_until` (then due again, should its sender have
    /// died), so that several senders never send one twice.
    pub async fn claim_due_notifications(
        &self,
        at: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        // The outer `next_attempt_at <= $1` matters on PostgreSQL: a row a
        // concurrent claim took meanwhile is re-checked and skipped.
        let sql = format!(
            "UPDATE notifications SET next_attempt_at = $2 \
             WHERE next_attempt_at <= $1 AND id IN (SELECT id FROM notifications \
             WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3) \
             RETURNING {NOTIFICATION_COLUMNS}"
        );
        let rows: Vec<NotificationRow> = in_tx!(self, tx => {
            sqlx::query_as::<_, NotificationRow>(sqlx::AssertSqlSafe(sql))
                .bind(micros(at))
                .bind(micros(lease_until))
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?
        });
        let mut claimed = rows
            .into_iter()
            .map(NotificationRow::into_notification)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|n| (n.due_at, n.id));
        Ok(claimed)
    }

    /// Records a delivery. Whether the notification was still queued.
    pub async fn mark_notification_sent(
        &self,
        id: NotificationId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = in_tx!(self, tx => {
            sqlx::query(
                "UPDATE notifications SET sent_at = $2, attempts = attempts + 1, next_attempt_at = NULL \
                 WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL",
            )
            .bind(id.to_string())
            .bind(micros(at))
            .execute(&mut *tx)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Records a failed attempt: tried again at `retry_at`, or given up (with
    /// an audit entry) when `retry_at` is `None` (a permanent refusal) or
    /// this was attempt [`MAX_NOTIFICATION_ATTEMPTS`].
    pub async fn mark_notification_failed(
        &self,
        id: NotificationId,
        at: Timestamp,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<FailOutcome, StoreError> {
        let error = error_text(error);
        let outcome = in_tx!(self, tx => {
            let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
                "UPDATE notifications SET attempts = attempts + 1, last_error = $3, \
                 next_attempt_at = CASE WHEN $4 IS NULL OR attempts + 1 >= $5 THEN NULL ELSE $4 END, \
                 failed_at = CASE WHEN $4 IS NULL OR attempts + 1 >= $5 THEN $2 ELSE NULL END \
                 WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL \
                 RETURNING tenant_id, attempts, failed_at",
            )
            .bind(id.to_string())
            .bind(micros(at))
            .bind(&error)
            .bind(retry_at.map(micros))
            .bind(MAX_NOTIFICATION_ATTEMPTS)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                None => FailOutcome::NotQueued,
                Some((_, _, None)) => FailOutcome::Retry,
                Some((tenant, attempts, Some(_))) => {
                    let tenant: TenantId = parse("notifications", &id.to_string(), &tenant)?;
                    append_audit!(tx, AuditEvent {
                        at,
                        actor: Actor::system(),
                        action: "notification.give_up".into(),
                        target_kind: "notification".into(),
                        target_id: Some(id.to_string()),
                        tenant_id: Some(tenant),
                        before: None,
                        after: summary(&serde_json::json!({"attempts": attempts, "last_error": error})),
                    });
                    FailOutcome::GaveUp
                }
            }
        });
        Ok(outcome)
    }

    /// A notification by id.
    pub async fn notification(
        &self,
        id: NotificationId,
    ) -> Result<Option<Notification>, StoreError> {
        let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1");
        let row: Option<NotificationRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(pool).await?
        });
        row.map(NotificationRow::into_notification).transpose()
    }

    /// The outbox of the visible tenants (of one with `tenant`), newest
    /// first.
    pub async fn list_notifications(
        &self,
        vis: &Visibility,
        tenant: Option<TenantId>,
        page: &PageRequest,
    ) -> Result<Page<Notification>, StoreError> {
        let (vis_sql, mut binds) = visible(vis, "tenant_id", 3);
        let mut condition = vis_sql;
        if let Some(t) = tenant {
            binds.push(t.to_string());
            condition = format!("{condition} AND tenant_id = ${}", 2 + binds.len());
        }
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id < $1 AND {condition} \
             ORDER BY id DESC LIMIT $2"
        );
        let after = page
            .after
            .clone()
            .unwrap_or_else(|| "\u{10FFFF}".to_owned());
        let rows: Vec<NotificationRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, NotificationRow>(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(page.fetch());
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?
        });
        let items = rows
            .into_iter()
            .map(NotificationRow::into_notification)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |n| n.id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_are_one_bounded_line() {
        let text = super::error_text(&format!("a\nb\r{}", "x".repeat(2000)));
        assert!(text.starts_with("a b "));
        assert_eq!(text.chars().count(), super::MAX_ERROR_CHARS);
    }
}

//! Notifications (RLO-6, REP-5): the change engine tells a customer of
//! planned downtime through [`downtime_planned`], which queues one e-mail per
//! recipient and one webhook POST in the store's outbox, due the tenant's
//! lead time before the window; the sender ([`run`]) delivers what is due.
//!
//! Messages are rendered once, when queued, by the pure [`render_downtime`]:
//! the outbox keeps exactly what was said. Webhooks carry the JSON payload
//! signed with the tenant's secret (`X-Rivet-Signature: sha256=<hex HMAC>`);
//! a failed delivery is tried again after [`backoff`], up to the store's cap.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rivet_core::Timestamp;
use rivet_core::audit::Actor;
use rivet_core::id::{NotificationId, TenantId};
use rivet_core::notify::{Channel, NotificationSettings, WebhookSecret};
use rivet_core::validate::Invalid;
use rivet_store::{NewNotification, Notification, Store, StoreError};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::clock::Clock;
use crate::config::{NotifyConfig, SmtpTls};

/// Host names a message lists before "and N more".
const HOSTS_IN_TEXT: usize = 10;
/// Host names a webhook's payload lists.
const HOSTS_IN_PAYLOAD: usize = 100;
/// Notifications one round claims.
const BATCH: i64 = 20;
/// How long a claim holds: longer than a batch of slow deliveries.
const LEASE: SignedDuration = SignedDuration::from_mins(30);
/// How much of a failing webhook's answer is kept as its error.
const RESPONSE_SNIPPET: usize = 512;
/// The first wait after a failure; it doubles with every failure.
const FIRST_RETRY: SignedDuration = SignedDuration::from_mins(1);
/// The longest wait between two attempts.
const LONGEST_RETRY: SignedDuration = SignedDuration::from_hours(6);

/// Planned downtime of a customer's hosts, as the change engine knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DowntimeNotice {
    /// The change's id.
    pub change_id: String,
    /// The change's title.
    pub change_title: String,
    /// When the maintenance window opens.
    pub window_start: Timestamp,
    /// When it closes.
    pub window_end: Timestamp,
    /// The customer's (the window's) time zone, an IANA name such as
    /// `Europe/Berlin`: times are shown in it.
    pub time_zone: String,
    /// The names of the hosts that go down.
    pub hosts: Vec<String>,
    /// How long each host is expected to be down.
    pub expected_downtime: SignedDuration,
}

/// A subject and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// Lines of text.
    pub text: String,
}

/// What [`downtime_planned`] queued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Enqueued {
    /// When the notices are due: the window's start less the lead time, or
    /// `at` if that has passed.
    pub due_at: Timestamp,
    /// The notifications newly queued (none when all were queued before,
    /// or the tenant enabled no channel).
    pub queued: Vec<NotificationId>,
}

/// Why a notice cannot be queued.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    /// A field of the notice is not usable.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The tenant does not exist.
    #[error("tenant {0} not found")]
    NoTenant(TenantId),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One line: control characters (a newline in a title) become spaces.
fn line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `45 minutes`, `2 hours`, `1 hour 30 minutes`.
fn duration_text(d: SignedDuration) -> String {
    let minutes = d.as_secs().max(0).saturating_add(59) / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    match (h, m) {
        (0, 0) => "none".into(),
        (0, m) => unit(m, "minute", "minutes"),
        (h, 0) => unit(h, "hour", "hours"),
        (h, m) => format!(
            "{} {}",
            unit(h, "hour", "hours"),
            unit(m, "minute", "minutes")
        ),
    }
}

/// The subject and text of a downtime notice, times in `tz`. Pure.
pub fn render_downtime(tenant_name: &str, notice: &DowntimeNotice, tz: &TimeZone) -> Rendered {
    let start = notice.window_start.to_zoned_datetime(tz.clone());
    let end = notice.window_end.to_zoned_datetime(tz.clone());
    let long = "%A, %-d %B %Y, %H:%M %Z";
    let window = if start.date() == end.date() {
        // The night the clocks go back, 02:30 can come twice: then both
        // ends name their offset.
        let start_format = if start.offset() == end.offset() {
            "%A, %-d %B %Y, %H:%M"
        } else {
            long
        };
        format!(
            "{} to {}",
            start.strftime(start_format),
            end.strftime("%H:%M %Z")
        )
    } else {
        format!("{} to {}", start.strftime(long), end.strftime(long))
    };
    let title: String = line(&notice.change_title).chars().take(80).collect();
    let subject = format!(
        "Planned downtime for {}: {} {} ({})",
        line(tenant_name),
        start.strftime("%a %-d %b %Y %H:%M %Z"),
        title,
        line(&notice.change_id),
    );
    let names: Vec<String> = notice
        .hosts
        .iter()
        .take(HOSTS_IN_TEXT)
        .map(|h| line(h))
        .collect();
    let mut hosts = format!("{}", notice.hosts.len());
    if !names.is_empty() {
        hosts.push_str(&format!(": {}", names.join(", ")));
    }
    if notice.hosts.len() > HOSTS_IN_TEXT {
        hosts.push_str(&format!(
            ", and {} more",
            notice.hosts.len() - HOSTS_IN_TEXT
        ));
    }
    let text = format!(
        "Hello {tenant},\n\
         \n\
         planned maintenance will take some of your systems down for a while.\n\
         \n\
         Change:            {title} ({id})\n\
         Window:            {window}\n\
         Time zone:         {zone}\n\
         Expected downtime: {downtime} per host\n\
         Affected hosts:    {hosts}\n\
         \n\
         If this window does not suit you, please tell us before it begins.\n\
         \n\
         -- \n\
         Sent by Rivet, patch and change management.\n",
        tenant = line(tenant_name),
        id = line(&notice.change_id),
        zone = line(&notice.time_zone),
        downtime = duration_text(notice.expected_downtime),
    );
    Rendered { subject, text }
}

/// The webhook's JSON for a downtime notice.
fn downtime_payload(
    tenant: TenantId,
    tenant_name: &str,
    notice: &DowntimeNotice,
    tz: &TimeZone,
    rendered: &Rendered,
) -> Value {
    let local = |t: Timestamp| {
        t.to_zoned_datetime(tz.clone())
            .strftime("%FT%T%:z")
            .to_string()
    };
    json!({
        "event": "downtime_planned",
        "tenant": {"id": tenant, "name": tenant_name},
        "change": {"id": notice.change_id, "title": notice.change_title},
        "window": {
            "start": notice.window_start,
            "end": notice.window_end,
            "time_zone": notice.time_zone,
            "start_local": local(notice.window_start),
            "end_local": local(notice.window_end),
        },
        "expected_downtime_minutes": notice.expected_downtime.as_secs().max(0).saturating_add(59) / 60,
        "hosts": {
            "count": notice.hosts.len(),
            "names": notice.hosts.iter().take(HOSTS_IN_PAYLOAD).collect::<Vec<_>>(),
        },
        "subject": rendered.subject,
        // Chat systems (Slack, Mattermost, Teams workflows) show `text`.
        "text": format!("{}\n\n{}", rendered.subject, rendered.text),
    })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

/// When a notice with `lead` before `start` is due, seen at `at`: never
/// before now.
pub fn due_at(start: Timestamp, lead: SignedDuration, at: Timestamp) -> Timestamp {
    start.checked_sub(lead).unwrap_or(start).max(at)
}

/// What one notice says, before it is addressed.
struct Draft<'a> {
    kind: &'a str,
    /// The notice's key; each channel and target extends it.
    key: &'a str,
    rendered: &'a Rendered,
    payload: &'a Value,
}

/// One notification per enabled channel and target of `settings`.
fn per_channel(
    tenant: TenantId,
    settings: &NotificationSettings,
    draft: &Draft<'_>,
    due: Timestamp,
    at: Timestamp,
) -> Vec<NewNotification> {
    let new = |channel: Channel, target: &str, dedupe_key: String| NewNotification {
        id: NotificationId::new(at, rand::random()),
        tenant_id: tenant,
        kind: draft.kind.to_owned(),
        channel,
        target: target.to_owned(),
        subject: draft.rendered.subject.clone(),
        body: draft.rendered.text.clone(),
        payload: draft.payload.clone(),
        dedupe_key,
        due_at: due,
    };
    let key = draft.key;
    let mut out = Vec::new();
    if settings.email_enabled {
        for address in &settings.email_recipients {
            let target = address.to_ascii_lowercase();
            out.push(new(
                Channel::Email,
                address,
                format!("{key}/email/{target}"),
            ));
        }
    }
    if settings.webhook_enabled
        && let Some(url) = &settings.webhook_url
    {
        out.push(new(Channel::Webhook, url, format!("{key}/webhook")));
    }
    out
}

/// Tells a customer of planned downtime (RLO-6): queues one e-mail per
/// recipient and one webhook POST, as the tenant's settings say, due the
/// tenant's lead time before the window opens (at once if that has
/// passed). Queuing the same change and window again queues nothing new
/// (a recipient added since gets it), so the change engine may call this
/// whenever it (re)schedules. Audited as `notification.enqueue`.
pub async fn downtime_planned(
    store: &Store,
    tenant: TenantId,
    notice: &DowntimeNotice,
    actor: &Actor,
    at: Timestamp,
) -> Result<Enqueued, NoticeError> {
    if notice.window_end <= notice.window_start {
        return Err(invalid("window_end", "must be after the window's start").into());
    }
    let tz = TimeZone::get(&notice.time_zone).map_err(|_| {
        invalid(
            "time_zone",
            format!(
                "{:?} is not a time zone (e.g. Europe/Berlin)",
                notice.time_zone
            ),
        )
    })?;
    rivet_core::validate::display_name("change_id", &notice.change_id, 200)?;
    let t = store
        .get_tenant(tenant)
        .await?
        .ok_or(NoticeError::NoTenant(tenant))?;
    let settings = store.notification_settings(tenant).await?.settings;
    let due = due_at(notice.window_start, settings.lead_time(), at);
    let rendered = render_downtime(&t.name, notice, &tz);
    let payload = downtime_payload(tenant, &t.name, notice, &tz, &rendered);
    let key = format!(
        "downtime_planned/{}/{}",
        notice.change_id, notice.window_start
    );
    let draft = Draft {
        kind: "downtime_planned",
        key: &key,
        rendered: &rendered,
        payload: &payload,
    };
    let rows = per_channel(tenant, &settings, &draft, due, at);
    let queued = store.enqueue_notifications(&rows, actor, at).await?;
    Ok(Enqueued {
        due_at: due,
        queued,
    })
}

/// Queues a test message to every enabled channel of a tenant, due now.
/// `None` when the tenant enabled no channel.
pub async fn test_message(
    store: &Store,
    tenant: TenantId,
    actor: &Actor,
    at: Timestamp,
) -> Result<Option<Vec<NotificationId>>, NoticeError> {
    let t = store
        .get_tenant(tenant)
        .await?
        .ok_or(NoticeError::NoTenant(tenant))?;
    let settings = store.notification_settings(tenant).await?.settings;
    let rendered = Rendered {
        subject: format!("Rivet test notification for {}", line(&t.name)),
        text: format!(
            "Hello {},\n\nthis is a test of Rivet's notifications, asked for by {}.\n\
             Notices of planned downtime will reach you like this one.\n",
            line(&t.name),
            line(&actor.name)
        ),
    };
    let payload = json!({
        "event": "test",
        "tenant": {"id": tenant, "name": t.name},
        "subject": rendered.subject,
        "text": format!("{}\n\n{}", rendered.subject, rendered.text),
    });
    let key = format!("test/{}", NotificationId::new(at, rand::random()));
    let draft = Draft {
        kind: "test",
        key: &key,
        rendered: &rendered,
        payload: &payload,
    };
    let rows = per_channel(tenant, &settings, &draft, at, at);
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(store.enqueue_notifications(&rows, actor, at).await?))
}

/// The `X-Rivet-Signature` of a webhook body: `sha256=` and the lowercase
/// hex HMAC-SHA256 of the exact bytes sent, keyed with the secret's text.
pub fn signature(secret: &WebhookSecret, body: &[u8]) -> String {
    // HMAC takes a key of any length; new_from_slice cannot fail.
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How long to wait after the `failures`-th failed attempt: one minute,
/// doubling each time, at most six hours (1, 2, 4 … 256 minutes over the
/// ten attempts the store allows).
pub fn backoff(failures: i64) -> SignedDuration {
    let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    FIRST_RETRY
        .checked_mul(1 << doublings)
        .unwrap_or(LONGEST_RETRY)
        .min(LONGEST_RETRY)
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Sent,
    /// Failed; worth trying again.
    Retry(String),
    /// Refused for good (a mail server's permanent error, a channel
    /// disabled since).
    GiveUp(String),
}

/// The channels' transports: SMTP (if configured) and HTTP.
#[derive(Clone)]
pub struct Delivery {
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field(
                "smtp",
                &self.smtp.as_ref().map(|(_, from)| from.to_string()),
            )
            .finish()
    }
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

impl Delivery {
    /// The transports `config` describes (validated with the rest of the
    /// configuration).
    pub fn new(config: &NotifyConfig) -> anyhow::Result<Delivery> {
        crate::install_crypto_provider();
        let timeout = Duration::from_secs(config.timeout_secs);
        let http = reqwest::Client::builder()
            .user_agent(concat!("rivet/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()?;
        let smtp = if config.smtp_host.is_empty() {
            None
        } else {
            let host = config
                .smtp_host
                .trim_start_matches('[')
                .trim_end_matches(']');
            let builder = match config.smtp_tls {
                SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
                SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
                SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            };
            let mut builder = builder.port(config.smtp_port).timeout(Some(timeout));
            if !config.smtp_username.is_empty() {
                builder = builder.credentials(Credentials::new(
                    config.smtp_username.clone(),
                    config.smtp_password.clone(),
                ));
            }
            Some((builder.build(), config.from.parse::<Mailbox>()?))
        };
        Ok(Delivery { smtp, http })
    }

    /// Delivers one notification with its tenant's current settings.
    pub async fn deliver(
        &self,
        n: &Notification,
        current: Option<&(NotificationSettings, Option<WebhookSecret>)>,
        at: Timestamp,
    ) -> Outcome {
        let Some((settings, secret)) = current else {
            return Outcome::GiveUp("the tenant has no notification settings".into());
        };
        match n.channel {
            Channel::Email if !settings.email_enabled => {
                Outcome::GiveUp("the tenant's e-mail notifications were disabled".into())
            }
            Channel::Webhook if !settings.webhook_enabled => {
                Outcome::GiveUp("the tenant's webhook was disabled".into())
            }
            Channel::Email => self.email(n, at).await,
            Channel::Webhook => match secret {
                None => Outcome::GiveUp("the webhook has no signing secret".into()),
                Some(secret) => self.webhook(n, secret).await,
            },
        }
    }

    async fn email(&self, n: &Notification, at: Timestamp) -> Outcome {
        let Some((transport, from)) = &self.smtp else {
            return Outcome::Retry("e-mail is not configured ([notify] smtp_host)".into());
        };
        let to = match n.target.parse::<Mailbox>() {
            Ok(to) => to,
            Err(e) => return Outcome::GiveUp(format!("{:?}: {e}", n.target)),
        };
        let date = std::time::SystemTime::try_from(at).unwrap_or(std::time::UNIX_EPOCH);
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(n.subject.clone())
            .message_id(Some(format!("<{}@rivet>", n.id)))
            .date(date)
            .header(ContentType::TEXT_PLAIN)
            .body(n.body.clone());
        let message = match message {
            Ok(m) => m,
            Err(e) => return Outcome::GiveUp(format!("cannot build the message: {e}")),
        };
        match transport.send(message).await {
            Ok(_) => Outcome::Sent,
            Err(e) if e.is_permanent() => Outcome::GiveUp(chain(&e)),
            Err(e) => Outcome::Retry(chain(&e)),
        }
    }

    async fn webhook(&self, n: &Notification, secret: &WebhookSecret) -> Outcome {
        let body = match serde_json::to_vec(&n.payload) {
            Ok(b) => b,
            Err(e) => return Outcome::GiveUp(format!("payload: {e}")),
        };
        let sent = self
            .http
            .post(&n.target)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Rivet-Event", &n.kind)
            .header("X-Rivet-Delivery", n.id.to_string())
            .header("X-Rivet-Signature", signature(secret, &body))
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(chain(&e)),
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Sent;
        }
        // Only the start of the answer, for the error: a receiver may send
        // anything.
        let mut snippet = Vec::new();
        while snippet.len() < RESPONSE_SNIPPET {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                _ => break,
            }
        }
        snippet.truncate(RESPONSE_SNIPPET);
        let mut error = format!("HTTP {status}");
        let text = String::from_utf8_lossy(&snippet);
        if !text.trim().is_empty() {
            error.push_str(&format!(": {}", text.trim()));
        }
        if status.is_redirection() {
            error.push_str(" (redirects are not followed)");
        }
        Outcome::Retry(error)
    }
}

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Notifications claimed.
    pub claimed: usize,
    /// Delivered.
    pub sent: usize,
    /// Failed, to be tried again.
    pub retried: usize,
    /// Given up.
    pub given_up: usize,
}

/// Claims the notifications due at `at` (up to a batch) and delivers each,
/// recording the outcome: sent, tried again after [`backoff`], or given up.
pub async fn deliver_due(
    store: &Store,
    delivery: &Delivery,
    at: Timestamp,
) -> Result<Round, StoreError> {
    let claimed = store
        .claim_due_notifications(at, at.checked_add(LEASE).unwrap_or(at), BATCH)
        .await?;
    let mut round = Round {
        claimed: claimed.len(),
        ..Round::default()
    };
    let mut tenants: HashMap<TenantId, Option<(NotificationSettings, Option<WebhookSecret>)>> =
        HashMap::new();
    for n in claimed {
        if let std::collections::hash_map::Entry::Vacant(slot) = tenants.entry(n.tenant_id) {
            slot.insert(store.notification_delivery(n.tenant_id).await?);
        }
        let current = tenants.get(&n.tenant_id).and_then(Option::as_ref);
        let outcome = delivery.deliver(&n, current, at).await;
        let failure = match &outcome {
            Outcome::Sent => {
                store.mark_notification_sent(n.id, at).await?;
                round.sent += 1;
                tracing::info!(id = %n.id, tenant = %n.tenant_id, channel = %n.channel, kind = %n.kind, "notification sent");
                continue;
            }
            Outcome::Retry(e) => (
                e,
                Some(at.checked_add(backoff(n.attempts + 1)).unwrap_or(at)),
            ),
            Outcome::GiveUp(e) => (e, None),
        };
        let (error, retry_at) = failure;
        match store
            .mark_notification_failed(n.id, at, error, retry_at)
            .await?
        {
            rivet_store::FailOutcome::GaveUp => {
                round.given_up += 1;
                tracing::warn!(id = %n.id, tenant = %n.tenant_id, channel = %n.channel, %error, "notification given up");
            }
            _ => {
                round.retried += 1;
                tracing::warn!(id = %n.id, tenant = %n.tenant_id, channel = %n.channel, %error, "notification failed; tried again later");
            }
        }
    }
    Ok(round)
}

/// Delivers due notifications until the process ends: every `tick`, rounds
/// until no full batch is left. The time comes from `clock`.
pub async fn run(store: Store, delivery: Delivery, clock: Arc<dyn Clock>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        loop {
            match deliver_due(&store, &delivery, clock.now()).await {
                Ok(round) if round.claimed as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot deliver notifications");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn notice() -> DowntimeNotice {
        DowntimeNotice {
            change_id: "CHG-42".into(),
            change_title: "Monthly security patches".into(),
            window_start: ts("2026-11-26T21:00:00Z"),
            window_end: ts("2026-11-26T23:00:00Z"),
            time_zone: "Europe/Berlin".into(),
            hosts: vec!["web-1".into(), "web-2".into(), "db-1".into()],
            expected_downtime: SignedDuration::from_mins(45),
        }
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn a_notice_shows_the_window_in_the_customers_time() {
        let r = render_downtime("Acme GmbH", &notice(), &berlin());
        assert_eq!(
            r.subject,
            "Planned downtime for Acme GmbH: Thu 26 Nov 2026 22:00 CET Monthly security patches (CHG-42)"
        );
        assert!(r.text.contains("Time zone:         Europe/Berlin"));
        assert!(r.text.contains("Expected downtime: 45 minutes per host"));
        assert!(
            r.text
                .contains("Affected hosts:    3: web-1, web-2, db-1\n")
        );
        assert!(r.text.starts_with("Hello Acme GmbH,\n"));
    }

    #[test]
    fn a_window_across_midnight_names_both_days() {
        let r = render_downtime("Acme", &notice(), &berlin());
        assert!(
            r.text.contains(
                "Window:            Thursday, 26 November 2026, 22:00 CET to Friday, 27 November 2026, 00:00 CET"
            ),
            "{}",
            r.text
        );
        let same_day = DowntimeNotice {
            window_end: ts("2026-11-26T22:30:00Z"),
            ..notice()
        };
        let r = render_downtime("Acme", &same_day, &berlin());
        assert!(
            r.text
                .contains("Window:            Thursday, 26 November 2026, 22:00 to 23:30 CET\n"),
            "{}",
            r.text
        );
    }

    #[test]
    fn summer_time_and_other_zones() {
        let summer = DowntimeNotice {
            window_start: ts("2026-07-01T20:00:00Z"),
            window_end: ts("2026-07-01T21:00:00Z"),
            ..notice()
        };
        let r = render_downtime("Acme", &summer, &berlin());
        assert!(r.text.contains("22:00 to 23:00 CEST"), "{}", r.text);
        let ny = TimeZone::get("America/New_York").unwrap();
        let r = render_downtime("Acme", &summer, &ny);
        assert!(
            r.text
                .contains("Wednesday, 1 July 2026, 16:00 to 17:00 EDT"),
            "{}",
            r.text
        );
        // The night the clocks go back: 02:30 happens twice; UTC decides.
        let fold = DowntimeNotice {
            window_start: ts("2026-10-25T00:30:00Z"),
            window_end: ts("2026-10-25T01:30:00Z"),
            ..notice()
        };
        let r = render_downtime("Acme", &fold, &berlin());
        assert!(
            r.text
                .contains("Sunday, 25 October 2026, 02:30 CEST to 02:30 CET\n"),
            "{}",
            r.text
        );
    }

    #[test]
    fn long_host_lists_are_cut_and_lines_stay_lines() {
        let many = DowntimeNotice {
            hosts: (1..=25).map(|i| format!("h{i}")).collect(),
            change_title: "Patches\nBcc: evil@example.com".into(),
            expected_downtime: SignedDuration::from_mins(90),
            ..notice()
        };
        let r = render_downtime("Acme\r\nX", &many, &berlin());
        assert!(
            r.text
                .contains("25: h1, h2, h3, h4, h5, h6, h7, h8, h9, h10, and 15 more\n"),
            "{}",
            r.text
        );
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
        assert!(r.subject.contains("Patches Bcc: evil@example.com"));
        assert!(r.text.contains("1 hour 30 minutes per host"));
        let payload = downtime_payload(
            TenantId::new(ts("2026-01-01T00:00:00Z"), [1; 10]),
            "Acme",
            &many,
            &berlin(),
            &r,
        );
        assert_eq!(payload["hosts"]["count"], 25);
        assert_eq!(payload["expected_downtime_minutes"], 90);
        assert_eq!(
            payload["window"]["start_local"],
            "2026-11-26T22:00:00+01:00"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(SignedDuration::ZERO), "none");
        assert_eq!(duration_text(SignedDuration::from_mins(1)), "1 minute");
        assert_eq!(duration_text(SignedDuration::from_secs(61)), "2 minutes");
        assert_eq!(duration_text(SignedDuration::from_hours(2)), "2 hours");
        assert_eq!(
            duration_text(SignedDuration::from_mins(61)),
            "1 hour 1 minute"
        );
    }

    #[test]
    fn due_is_lead_time_before_the_window_but_never_past() {
        let lead = SignedDuration::from_hours(48);
        let start = ts("2026-11-26T21:00:00Z");
        assert_eq!(
            due_at(start, lead, ts("2026-11-20T00:00:00Z")),
            ts("2026-11-24T21:00:00Z")
        );
        let late = ts("2026-11-25T12:00:00Z");
        assert_eq!(due_at(start, lead, late), late);
    }

    #[test]
    fn backoff_doubles_up_to_six_hours() {
        let minutes: Vec<i64> = (1..=10).map(|n| backoff(n).as_secs() / 60).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 64, 128, 256, 360]);
        assert_eq!(backoff(0), FIRST_RETRY);
        assert_eq!(backoff(1000), LONGEST_RETRY);
    }

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2 ("Jefe"): the HMAC is the standard one.
        let secret = WebhookSecret::from_stored("Jefe".into());
        assert_eq!(
            signature(&secret, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

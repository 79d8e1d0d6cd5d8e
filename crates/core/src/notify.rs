//! Notifications (RLO-6, REP-5): what a tenant wants to be told and how —
//! e-mail recipients, a webhook, how long ahead of a window — with the rules
//! that make a setting valid, and the webhook's signing secret.
//!
//! The rules here are the only ones: the API and the store both call
//! [`NotificationSettings::validate`], and every error names its field.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::validate::Invalid;

/// The most e-mail recipients a tenant may name.
pub const MAX_RECIPIENTS: usize = 20;
/// The lead time a tenant has unless it sets one, in hours.
pub const DEFAULT_LEAD_HOURS: u32 = 48;
/// The shortest lead time, in hours.
pub const MIN_LEAD_HOURS: u32 = 1;
/// The longest lead time (30 days), in hours.
pub const MAX_LEAD_HOURS: u32 = 30 * 24;
/// The longest webhook URL accepted.
pub const MAX_URL_CHARS: usize = 2000;

/// A tenant's notification settings, as the API takes and shows them (the
/// webhook secret is not among them: it is shown once, when made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// Send e-mail to the recipients.
    #[serde(default)]
    pub email_enabled: bool,
    /// Up to 20 e-mail addresses; each gets its own message.
    #[serde(default)]
    pub email_recipients: Vec<String>,
    /// POST to the webhook.
    #[serde(default)]
    pub webhook_enabled: bool,
    /// The webhook: `https://…`, or `http://` to a loopback address only.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// How long before a maintenance window its downtime is announced, in
    /// hours (1 to 720; default 48).
    #[serde(default = "default_lead_hours")]
    pub lead_time_hours: u32,
}

fn default_lead_hours() -> u32 {
    DEFAULT_LEAD_HOURS
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            email_enabled: false,
            email_recipients: Vec::new(),
            webhook_enabled: false,
            webhook_url: None,
            lead_time_hours: DEFAULT_LEAD_HOURS,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

impl NotificationSettings {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.email_recipients.len() > MAX_RECIPIENTS {
            return Err(invalid(
                "email_recipients",
                format!(
                    "at most {MAX_RECIPIENTS} recipients, not {}",
                    self.email_recipients.len()
                ),
            ));
        }
        for (i, address) in self.email_recipients.iter().enumerate() {
            if let Err(reason) = email_address(address) {
                return Err(invalid(
                    "email_recipients",
                    format!("entry {} ({address:?}): {reason}", i + 1),
                ));
            }
            if self.email_recipients[..i]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(address))
            {
                return Err(invalid(
                    "email_recipients",
                    format!("{address:?} is listed twice"),
                ));
            }
        }
        if self.email_enabled && self.email_recipients.is_empty() {
            return Err(invalid(
                "email_recipients",
                "e-mail is enabled but no recipient is given",
            ));
        }
        if let Some(url) = &self.webhook_url {
            webhook_url(url).map_err(|reason| invalid("webhook_url", reason))?;
        }
        if self.webhook_enabled && self.webhook_url.is_none() {
            return Err(invalid(
                "webhook_url",
                "the webhook is enabled but has no URL",
            ));
        }
        if !(MIN_LEAD_HOURS..=MAX_LEAD_HOURS).contains(&self.lead_time_hours) {
            return Err(invalid(
                "lead_time_hours",
                format!(
                    "must be {MIN_LEAD_HOURS} to {MAX_LEAD_HOURS} hours (30 days), not {}",
                    self.lead_time_hours
                ),
            ));
        }
        Ok(())
    }

    /// The lead time as a duration.
    pub fn lead_time(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(i64::from(self.lead_time_hours))
    }
}

/// How a notification travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// One e-mail to one recipient, through the configured SMTP server.
    Email,
    /// One signed JSON POST to the tenant's webhook.
    Webhook,
}

impl Channel {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "email" => Ok(Channel::Email),
            "webhook" => Ok(Channel::Webhook),
            other => Err(format!(
                "unknown channel {other:?} (expected email or webhook)"
            )),
        }
    }
}

/// Whether `address` is a plain e-mail address (`local@domain`): what a
/// mail server accepts in `RCPT TO`, without display names, comments or
/// quoting. The local part is 1 to 64 of letters, digits and
/// ``!#$%&'*+/=?^_`{|}~.-`` (no leading, trailing or double dot); the domain
/// is two or more labels of letters, digits and inner hyphens; 254
/// characters at most. Internationalised addresses are refused: not every
/// relay speaks SMTPUTF8.
pub fn email_address(address: &str) -> Result<(), String> {
    if address.len() > 254 {
        return Err("longer than 254 characters".into());
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err("is not an e-mail address (no @)".into());
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if local.is_empty()
        || local.len() > 64
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || !local.chars().all(|c| atext(c) || c == '.')
    {
        return Err("the part before the @ is not a plain mailbox name".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(format!("{domain:?} is not a mail domain"));
    }
    Ok(())
}

/// Whether `url` may be a webhook. The rule: `https://` to any host; plain
/// `http://` only to a loopback host (`localhost`, 127.0.0.0/8, `[::1]`),
/// where a local relay forwards it and nothing crosses a network in clear.
/// No `user:password@` (the outbox shows its targets; a receiver checks the
/// signature instead), no spaces or control characters, 2,000 characters
/// at most.
pub fn webhook_url(url: &str) -> Result<(), String> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("longer than {MAX_URL_CHARS} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("must start with https:// (or http:// to a loopback address)".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry a user name or password".into());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return Err("has a malformed IPv6 address".into()),
        },
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    if let Some((_, port)) = authority.rsplit_once(':')
        && !authority.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(format!("{port:?} is not a port"));
    }
    if !https && !is_loopback(host) {
        return Err(format!(
            "http:// is allowed only to a loopback address, not to {host:?}; use https://"
        ));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The key a webhook's signature is made with (HMAC-SHA256 of the body):
/// `whsec_` and 64 hex digits. Rivet makes it, shows it once, and keeps it
/// to sign with; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// The prefix that marks one.
    pub const PREFIX: &'static str = "whsec_";

    /// A secret from 32 random bytes.
    pub fn new(random: [u8; 32]) -> Self {
        WebhookSecret(format!("{}{}", Self::PREFIX, hex::encode(random)))
    }

    /// A secret as stored.
    pub fn from_stored(text: String) -> Self {
        WebhookSecret(text)
    }

    /// The text to give the receiver's operator, and the HMAC key.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in [
            "ops@example.com",
            "a.b+tag@mail.example.co.uk",
            "x@a-b.example",
        ] {
            assert_eq!(email_address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@",
            "ops@localhost",
            "ops@-x.example",
            "o ps@example.com",
            ".ops@example.com",
            "o..ps@example.com",
            "Ops <ops@example.com>",
            "ops@exa mple.com",
            "ops@ex_ample.com",
            "jörg@example.com",
            "a@b@example.com",
        ] {
            assert!(email_address(bad).is_err(), "{bad}");
        }
        assert!(email_address(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn webhook_urls() {
        for ok in [
            "https://hooks.example.com/rivet",
            "https://hooks.example.com:8443/x?y=1",
            "https://[2001:db8::1]/x",
            "http://127.0.0.1:9000/hook",
            "http://127.1.2.3/hook",
            "http://localhost/hook",
            "http://[::1]:8080/hook",
        ] {
            assert_eq!(webhook_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "hooks.example.com",
            "http://example.com/hook",
            "http://10.0.0.1/hook",
            "http://[2001:db8::1]/x",
            "https://user:pw@example.com/x",
            "https:///x",
            "https://example.com:port/x",
            "https://exa mple.com",
            "http://127.0.0.1.example.com/x",
        ] {
            assert!(webhook_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2000));
        assert!(webhook_url(&long).is_err());
    }

    #[test]
    fn settings_name_their_field() {
        let ok = NotificationSettings {
            email_enabled: true,
            email_recipients: vec!["ops@example.com".into()],
            webhook_enabled: true,
            webhook_url: Some("https://hooks.example.com/x".into()),
            lead_time_hours: 48,
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(NotificationSettings::default().validate(), Ok(()));
        let field = |s: NotificationSettings| s.validate().unwrap_err().field;
        assert_eq!(
            field(NotificationSettings {
                email_recipients: vec!["nope".into()],
                ..ok.clone()
            }),
            "email_recipients"
        );
        assert_eq!(
            field(NotificationSettings {
                email_recipients: (0..21).map(|i| format!("u{i}@example.com")).collect(),
                ..ok.clone()
            }),
            "email_recipients"
        );
        assert_eq!(
            field(NotificationSettings {
                email_recipients: vec!["a@example.com".into(), "A@example.com".into()],
                ..ok.clone()
            }),
            "email_recipients"
        );
        assert_eq!(
            field(NotificationSettings {
                email_recipients: vec![],
                ..ok.clone()
            }),
            "email_recipients"
        );
        assert_eq!(
            field(NotificationSettings {
                webhook_url: Some("http://example.com".into()),
                ..ok.clone()
            }),
            "webhook_url"
        );
        assert_eq!(
            field(NotificationSettings {
                webhook_url: None,
                ..ok.clone()
            }),
            "webhook_url"
        );
        for hours in [0, 721] {
            assert_eq!(
                field(NotificationSettings {
                    lead_time_hours: hours,
                    ..ok.clone()
                }),
                "lead_time_hours"
            );
        }
        let parsed: NotificationSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, NotificationSettings::default());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = WebhookSecret::new([7; 32]);
        assert!(s.expose().starts_with("whsec_") && s.expose().len() == 70);
        assert!(!format!("{s:?}").contains("0707"));
    }
}

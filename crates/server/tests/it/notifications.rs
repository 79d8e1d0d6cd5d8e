//! Notifications end to end (RLO-6, REP-5): a small SMTP sink and a webhook
//! receiver on 127.0.0.1 stand in for the customer's mail server and chat
//! or ticketing system; the manual clock decides when notices fall due.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode};
use hmac::{Hmac, Mac};
use jiff::SignedDuration;
use rivet_core::access::{CustomerScope, Permission, Role};
use rivet_core::audit::Actor;
use rivet_server::clock::{Clock, ManualClock};
use rivet_server::config::{Config, NotifyConfig, SmtpTls, TlsMode};
use rivet_server::notify::{self, Delivery, DowntimeNotice};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::harness::{PASSWORD, TestServer, hex, rnd, start_time};

/// A message the sink accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent (dot-unstuffed), CRLF line ends.
    pub data: String,
}

impl Mail {
    /// A header's value, unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?.replace("\r\n ", " ");
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The body, lines joined with `\n`.
    pub fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.replace("\r\n", "\n"))
            .unwrap_or_default()
    }
}

/// An SMTP server that speaks just enough (EHLO/HELO, MAIL, RCPT, DATA,
/// RSET, NOOP, QUIT; no TLS, no AUTH) and keeps every message.
pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = smtp_session(stream, kept).await;
                });
            }
        });
        SmtpSink { addr, mails, task }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// `<a@b> BODY=8BITMIME` → `a@b`.
fn path_of(arg: &str) -> String {
    let arg = arg.trim();
    let end = arg.find('>').map_or(arg.len(), |i| i + 1);
    arg[..end]
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

async fn smtp_session(
    stream: tokio::net::TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"
        } else if upper.starts_with("HELO") || upper == "RSET" || upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = path_of(&command[10..]);
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(path_of(&command[8..]));
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if read.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            mails.lock().unwrap().push(Mail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            b"250 OK queued\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// A call the webhook receiver got.
#[derive(Debug, Clone)]
pub struct Hook {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct HookState {
    calls: Vec<Hook>,
    fail_next: usize,
}

/// A webhook receiver on 127.0.0.1: `POST /hook` answers 204, or 500 while
/// told to fail.
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<HookState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(HookState::default()));
        let shared = state.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let shared = shared.clone();
                async move {
                    let mut s = shared.lock().unwrap();
                    s.calls.push(Hook {
                        headers,
                        body: body.to_vec(),
                    });
                    if s.fail_next > 0 {
                        s.fail_next -= 1;
                        (StatusCode::INTERNAL_SERVER_ERROR, "receiver down")
                    } else {
                        (StatusCode::NO_CONTENT, "")
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, state, task }
    }

    pub fn calls(&self) -> Vec<Hook> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_next = n;
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// Whether a call carries a valid signature of its body under `secret`,
/// checked the way docs/notifications.md tells receivers to.
fn signed_by(hook: &Hook, secret: &str) -> bool {
    let Some(given) = hook
        .headers
        .get("x-rivet-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| ::hex::decode(v).ok())
    else {
        return false;
    };
    let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&hook.body);
    mac.verify_slice(&given).is_ok()
}

fn header<'a>(hook: &'a Hook, name: &str) -> &'a str {
    hook.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Delivery through the sink: SMTP without TLS to loopback.
fn delivery(sink: &SmtpSink) -> Delivery {
    Delivery::new(&sink_config(sink)).unwrap()
}

fn sink_config(sink: &SmtpSink) -> NotifyConfig {
    NotifyConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: sink.addr.port(),
        smtp_tls: SmtpTls::None,
        from: "Rivet <rivet@provider.example>".into(),
        timeout_secs: 5,
        ..NotifyConfig::default()
    }
}

/// A fresh administrator token (fixture tokens last a day of clock time).
async fn admin(s: &TestServer) -> String {
    s.token_for(s.admin.id, s.provider, &Permission::ALL).await
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

pub async fn notifications_are_sent_once_lead_time_before_the_window(s: &TestServer) {
    let sink = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    let delivery = delivery(&sink);
    let acme = s.customer("Acme GmbH").await;
    let path = format!("/api/v1/tenants/{acme}/notifications");
    let token = admin(s).await;
    let set = s
        .call(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({
                "email_enabled": true,
                "email_recipients": ["ops@acme.example", "cto@acme.example"],
                "webhook_enabled": true,
                "webhook_url": receiver.url,
                "lead_time_hours": 48,
            })),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    let secret = set.body["webhook_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let shown = s.get(&path, &token).await;
    assert_eq!(shown.body["webhook_secret_set"], true);
    assert!(
        !shown.text.contains(&secret),
        "the secret is shown only once"
    );

    // A window 72 hours ahead, in Berlin: due 24 hours from now.
    let start = s.now() + hours(72);
    let notice = DowntimeNotice {
        change_id: "CHG-7".into(),
        change_title: "Monthly security patches".into(),
        window_start: start,
        window_end: start + hours(2),
        time_zone: "Europe/Berlin".into(),
        hosts: vec!["web-1".into(), "web-2".into(), "db-1".into()],
        expected_downtime: SignedDuration::from_mins(30),
    };
    let engine = Actor::system();
    let queued = notify::downtime_planned(&s.store, acme, &notice, &engine, s.now())
        .await
        .unwrap();
    assert_eq!(queued.queued.len(), 3, "two e-mails and one webhook");
    assert_eq!(queued.due_at, s.now() + hours(24));
    let again = notify::downtime_planned(&s.store, acme, &notice, &engine, s.now())
        .await
        .unwrap();
    assert!(again.queued.is_empty(), "the same notice is queued once");

    // Nothing goes out before the window less the lead time…
    for step in [hours(4), hours(4), hours(4), hours(4), hours(4), hours(3)]
        .into_iter()
        .chain([SignedDuration::from_mins(59)])
    {
        s.clock.advance(step);
        let round = notify::deliver_due(&s.store, &delivery, s.now())
            .await
            .unwrap();
        assert_eq!(round.claimed, 0, "nothing due at {}", s.now());
    }
    assert!(sink.mails().is_empty() && receiver.calls().is_empty());
    // …and everything at it.
    s.clock.advance(SignedDuration::from_mins(1));
    let round = notify::deliver_due(&s.store, &delivery, s.now())
        .await
        .unwrap();
    assert_eq!((round.sent, round.retried, round.given_up), (3, 0, 0));

    let mails = sink.mails();
    let to: BTreeSet<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(
        to,
        BTreeSet::from(["cto@acme.example".into(), "ops@acme.example".into()])
    );
    for mail in &mails {
        assert_eq!(mail.to.len(), 1, "one message per recipient");
        assert_eq!(mail.from, "rivet@provider.example");
        assert_eq!(
            mail.header("Subject").unwrap(),
            "Planned downtime for Acme GmbH: Thu 26 Nov 2026 11:00 CET Monthly security patches (CHG-7)"
        );
        let body = mail.body();
        assert!(
            body.contains("Window:            Thursday, 26 November 2026, 11:00 to 13:00 CET\n"),
            "{body}"
        );
        assert!(
            body.contains("Affected hosts:    3: web-1, web-2, db-1\n"),
            "{body}"
        );
        assert!(
            body.contains("Expected downtime: 30 minutes per host"),
            "{body}"
        );
    }
    let calls = receiver.calls();
    assert_eq!(calls.len(), 1);
    let hook = &calls[0];
    assert!(signed_by(hook, &secret), "a valid signature");
    assert!(!signed_by(hook, "whsec_other"));
    assert_eq!(header(hook, "x-rivet-event"), "downtime_planned");
    assert_eq!(header(hook, "content-type"), "application/json");
    let payload: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(payload["change"]["id"], "CHG-7");
    assert_eq!(payload["tenant"]["id"], acme.to_string());
    assert_eq!(
        payload["window"]["start_local"],
        "2026-11-26T11:00:00+01:00"
    );
    assert_eq!(payload["hosts"]["count"], 3);

    // Exactly once: later rounds find nothing.
    s.clock.advance(hours(1));
    let round = notify::deliver_due(&s.store, &delivery, s.now())
        .await
        .unwrap();
    assert_eq!(round.claimed, 0);
    assert_eq!((sink.mails().len(), receiver.calls().len()), (2, 1));

    let token = admin(s).await;
    let outbox = s
        .get(&format!("/api/v1/notifications?tenant={acme}"), &token)
        .await;
    let items = outbox.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{}", outbox.text);
    assert!(
        items
            .iter()
            .all(|n| n["state"] == "sent" && n["attempts"] == 1)
    );
    let webhook = items.iter().find(|n| n["channel"] == "webhook").unwrap();
    assert_eq!(header(hook, "x-rivet-delivery"), webhook["id"]);
    sink.stop();
    receiver.stop();
}

pub async fn failing_notification_webhooks_are_retried_with_backoff(s: &TestServer) {
    let sink = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    let delivery = delivery(&sink);
    let acme = s.customer("Acme").await;
    let token = admin(s).await;
    let set = s
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{acme}/notifications"),
            Some(&token),
            Some(json!({"webhook_enabled": true, "webhook_url": receiver.url})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    let secret = set.body["webhook_secret"].as_str().unwrap().to_owned();
    receiver.fail_next(2);
    let before = s.audit_len().await;
    let test = s
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{acme}/notifications/test"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(test.status, StatusCode::ACCEPTED, "{}", test.text);
    assert_eq!(s.audit_len().await, before + 1, "the test is audited");
    let id = test.body[0]["id"].as_str().unwrap().to_owned();
    let row = || async {
        s.get(
            &format!("/api/v1/notifications?tenant={acme}"),
            &admin(s).await,
        )
        .await
        .body["items"][0]
            .clone()
    };

    // First attempt: 500. Tried again a minute later, not before.
    let round = notify::deliver_due(&s.store, &delivery, s.now())
        .await
        .unwrap();
    assert_eq!(round.retried, 1);
    let failed = row().await;
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["state"], "queued");
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500 Internal Server Error: receiver down"),
        "{failed}"
    );
    assert_eq!(
        failed["next_attempt_at"],
        (s.now() + SignedDuration::from_mins(1)).to_string()
    );
    let tick = |d: SignedDuration| {
        s.clock.advance(d);
        notify::deliver_due(&s.store, &delivery, s.now())
    };
    assert_eq!(
        tick(SignedDuration::from_secs(59)).await.unwrap().claimed,
        0
    );
    // Second attempt: 500 again; now two minutes.
    assert_eq!(tick(SignedDuration::from_secs(1)).await.unwrap().retried, 1);
    assert_eq!(tick(SignedDuration::from_mins(1)).await.unwrap().claimed, 0);
    // Third: delivered.
    assert_eq!(tick(SignedDuration::from_mins(1)).await.unwrap().sent, 1);
    assert_eq!(tick(hours(1)).await.unwrap().claimed, 0);

    let calls = receiver.calls();
    assert_eq!(calls.len(), 3);
    for call in &calls {
        assert_eq!(header(call, "x-rivet-delivery"), id, "one delivery id");
        assert_eq!(header(call, "x-rivet-event"), "test");
        assert!(signed_by(call, &secret));
    }
    let sent = row().await;
    assert_eq!(
        (sent["state"].as_str(), sent["attempts"].as_i64()),
        (Some("sent"), Some(3))
    );
    assert!(sink.mails().is_empty(), "e-mail was not enabled");
    sink.stop();
    receiver.stop();
}

pub async fn notification_settings_are_validated_and_kept_to_their_tenant(s: &TestServer) {
    let a = s.customer("A").await;
    let b = s.customer("B").await;
    let token = admin(s).await;
    let path = |t: rivet_core::id::TenantId| format!("/api/v1/tenants/{t}/notifications");
    let before = s.audit_len().await;
    for (body, field) in [
        (
            json!({"email_enabled": true, "email_recipients": ["not-an-address"]}),
            "email_recipients",
        ),
        (
            json!({"email_recipients": (0..21).map(|i| format!("u{i}@a.example")).collect::<Vec<_>>()}),
            "email_recipients",
        ),
        (json!({"email_enabled": true}), "email_recipients"),
        (
            json!({"webhook_enabled": true, "webhook_url": "http://hooks.example.com/x"}),
            "webhook_url",
        ),
        (
            json!({"webhook_url": "https://user:pw@hooks.example.com/x"}),
            "webhook_url",
        ),
        (json!({"webhook_enabled": true}), "webhook_url"),
        (json!({"lead_time_hours": 0}), "lead_time_hours"),
        (json!({"lead_time_hours": 721}), "lead_time_hours"),
    ] {
        let reply = s
            .call(Method::PUT, &path(a), Some(&token), Some(body.clone()))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.text
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{body}: {message}"
        );
    }
    assert_eq!(
        s.audit_len().await,
        before,
        "refused settings change nothing"
    );

    // Nothing enabled: a test has nowhere to go.
    let reply = s
        .call(
            Method::POST,
            &format!("{}/test", path(a)),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);

    // The secret: made with the first URL, kept, rotated on request, gone
    // with the URL.
    let a_path = path(a);
    let put = |body: Value| s.call(Method::PUT, &a_path, Some(&token), Some(body));
    let first = put(json!({"webhook_url": "https://hooks.example.com/a"})).await;
    let first = first.body["webhook_secret"].as_str().unwrap().to_owned();
    let kept = put(json!({"webhook_url": "https://hooks.example.com/b"})).await;
    assert!(kept.body.get("webhook_secret").is_none(), "{}", kept.text);
    assert_eq!(kept.body["webhook_secret_set"], true);
    let rotated =
        put(json!({"webhook_url": "https://hooks.example.com/b", "rotate_webhook_secret": true}))
            .await;
    let rotated = rotated.body["webhook_secret"].as_str().unwrap().to_owned();
    assert_ne!(first, rotated);
    let gone = put(json!({"email_recipients": ["ops@a.example"]})).await;
    assert_eq!(gone.body["webhook_secret_set"], false);
    let audit = s
        .get("/api/v1/audit?action=tenant.notifications", &token)
        .await;
    assert!(!audit.text.contains(&rotated) && !audit.text.contains(&first));

    // Customers see their own settings and outbox, never another's.
    let viewer = s.user(a, Role::CustomerViewer, CustomerScope::All).await;
    assert_eq!(s.get(&path(a), &viewer.token).await.status, StatusCode::OK);
    let foreign = s.get(&path(b), &viewer.token).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.text);
    assert_eq!(foreign.body["error"]["kind"], "not_found");
    let change = s
        .call(Method::PUT, &path(a), Some(&viewer.token), Some(json!({})))
        .await;
    assert_eq!(change.status, StatusCode::FORBIDDEN);
    let approver = s.user(b, Role::CustomerApprover, CustomerScope::All).await;
    assert_eq!(
        s.get(&path(a), &approver.token).await.status,
        StatusCode::NOT_FOUND
    );
    s.call(
        Method::PUT,
        &path(a),
        Some(&token),
        Some(json!({"email_enabled": true, "email_recipients": ["ops@a.example"]})),
    )
    .await;
    let queued = s
        .call(
            Method::POST,
            &format!("{}/test", path(a)),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED);
    let theirs = s
        .get(
            &format!("/api/v1/notifications?tenant={a}"),
            &approver.token,
        )
        .await;
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.text);
    let all_theirs = s.get("/api/v1/notifications", &approver.token).await;
    assert_eq!(all_theirs.body["items"], json!([]));
    let own = s.get("/api/v1/notifications", &viewer.token).await;
    assert_eq!(own.body["items"].as_array().unwrap().len(), 1);
}

/// `rivet` over a socket to a server started as `rivet server` starts:
/// its background sender delivers what the CLI asks for.
pub async fn the_server_sends_what_the_cli_asks(database_url: Option<String>) {
    let sink = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    let dir = std::env::temp_dir().join(format!("rivet-notify-{}", hex(&rnd::<8>())));
    let mut config = Config::default();
    config.server.data_dir = dir.clone();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.tls.mode = TlsMode::Off;
    config.notify = NotifyConfig {
        poll_secs: 1,
        ..sink_config(&sink)
    };
    if let Some(url) = database_url {
        config.database.url = url;
    }
    let clock = Arc::new(ManualClock::new(start_time()));
    let (running, _) = rivet_server::serve::start(
        config,
        Some(PASSWORD.into()),
        clock.clone() as Arc<dyn Clock>,
    )
    .await
    .unwrap();
    let url = running.url.clone();
    let home = dir.join("cli");
    std::fs::create_dir_all(&home).unwrap();
    let rivet = |args: Vec<String>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rivet"));
        cmd.args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RIVET_CREDENTIALS", home.join("credentials.toml"))
            .env("RIVET_PASSWORD", PASSWORD);
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "rivet {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    rivet(args(&["login", "--server", &url, "--user", "admin"])).await;
    let created: Value =
        serde_json::from_str(&rivet(args(&["tenant", "create", "Acme", "--output", "json"])).await)
            .unwrap();
    let acme = created["id"].as_str().unwrap().to_owned();
    let said = rivet(args(&[
        "tenant",
        "notifications",
        "set",
        &acme,
        "--email",
        "ops@acme.example",
        "--webhook",
        &receiver.url,
        "--lead-hours",
        "24",
    ]))
    .await;
    let secret = said
        .lines()
        .find(|l| l.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("no secret in {said}"))
        .to_owned();
    let shown = rivet(args(&["tenant", "notifications", "show", &acme])).await;
    assert!(
        shown.contains("ops@acme.example") && shown.contains("24") && !shown.contains(&secret),
        "{shown}"
    );
    let queued = rivet(args(&["tenant", "notifications", "test", &acme])).await;
    assert_eq!(queued.lines().count(), 3, "a header and two rows: {queued}");

    // The server's sender (every second of real time) delivers both.
    let mut sent = 0;
    for _ in 0..100 {
        let listed: Value = serde_json::from_str(
            &rivet(args(&[
                "notifications",
                "list",
                "--tenant",
                &acme,
                "--output",
                "json",
            ]))
            .await,
        )
        .unwrap();
        sent = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["state"] == "sent")
            .count();
        if sent == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(sent, 2);
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["ops@acme.example"]);
    assert_eq!(
        mails[0].header("Subject").unwrap(),
        "Rivet test notification for Acme"
    );
    let calls = receiver.calls();
    assert_eq!(calls.len(), 1);
    assert!(signed_by(&calls[0], &secret));
    let table = rivet(args(&["notifications", "list"])).await;
    assert!(table.starts_with("ID") && table.contains("sent"), "{table}");
    running.stop().await.unwrap();
    sink.stop();
    receiver.stop();
    let _ = std::fs::remove_dir_all(dir);
}

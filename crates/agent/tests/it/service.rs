//! The service loop (`rivet-agent run` as a library) against the real
//! server: it uploads at start, long-polls, collects at once when an
//! administrator asks for a fresh inventory, keeps retrying while the server
//! is down, and stops when the agent is revoked or when it is told to.
//!
//! The loop runs on a clock that moves 3 s on at every reading (see
//! [`Rivet::stepping_clock`]), shared with the server, so its waits between
//! polls and collections take no real time; the server's long polls do.

use std::path::Path;
use std::time::Duration;

use rivet_agent::schedule::Backoff;
use rivet_agent::service::{ServiceOptions, Sources, Stopped};
use tokio::sync::oneshot;

use crate::server::{Agent, Change, Rivet, eventually};
use crate::{debian_root, package_names, remove_package};

fn options(agent: &Agent, root: &Path, backoff: Backoff) -> ServiceOptions {
    ServiceOptions {
        state_dir: agent.state.path().to_owned(),
        root: root.to_owned(),
        backoff,
    }
}

async fn holds_an_inventory(rivet: &Rivet, host: &str) -> bool {
    !rivet.host(host).await["inventory_digest"].is_null()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_uploads_at_start_collects_when_asked_and_stops() {
    let rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    let root = debian_root();
    let clock = rivet.stepping_clock();
    let sources = Sources {
        clock: &clock,
        random: &|| 0.5,
    };
    let options = options(&agent, root.path(), Backoff::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let service = rivet_agent::service::run(&options, sources, async {
        let _ = stopped.await;
    });
    let (r, host) = (&rivet, agent.host.as_str());
    let package = package_names(root.path())[0].clone();
    let driver = async {
        eventually("the first upload", move || holds_an_inventory(r, host)).await;
        eventually(
            "a long poll",
            move || async move { r.waiting_checkins() == 1 },
        )
        .await;
        assert!(r.history(host).await.is_empty());
        // Nothing makes the agent collect before its interval (900 s of
        // the stepping clock, hundreds of readings away) but the request.
        let version = remove_package(root.path(), &package);
        r.collect(host).await;
        eventually("the removal in the history", move || async move {
            !r.history(host).await.is_empty()
        })
        .await;
        // Asked again with nothing changed: the fresh collection finds what
        // the server holds, and the request is done all the same (it was
        // asked again every 10 s, forever, before agents said so).
        r.collect(host).await;
        eventually("the unchanged collection", move || async move {
            r.host(host).await["collect_requested_at"].is_null()
        })
        .await;
        stop.send(()).unwrap();
        version
    };
    let (stopped, version) = tokio::join!(service, driver);
    assert_eq!(stopped.unwrap(), Stopped::Shutdown);
    assert_eq!(
        rivet.history(host).await,
        [Change {
            change: "removed".into(),
            name: package,
            old_version: Some(version),
            new_version: None
        }]
    );
    assert!(
        rivet.host(host).await["collect_requested_at"].is_null(),
        "the requested inventory arrived"
    );
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_retries_while_the_server_is_down() {
    let mut rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    rivet.stop().await;
    let refused = std::net::TcpStream::connect(rivet.addr()).unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "a stopped server listens no more"
    );
    let root = debian_root();
    let clock = rivet.stepping_clock();
    let sources = Sources {
        clock: &clock,
        random: &|| 0.5,
    };
    let backoff = Backoff {
        initial_secs: 1,
        max_secs: 1,
    };
    let options = options(&agent, root.path(), backoff);
    let (stop, stopped) = oneshot::channel::<()>();
    let service = rivet_agent::service::run(&options, sources, async {
        let _ = stopped.await;
    });
    let host = agent.host.as_str();
    let offline_since = rivet.now();
    let driver = async {
        // Each failed check-in reads the clock three times: a minute of it
        // is several failures in a row.
        let r = &rivet;
        eventually("failed check-ins", move || async move {
            r.now().duration_since(offline_since).as_secs() >= 60
        })
        .await;
        rivet.restart().await;
        let r = &rivet;
        eventually("the upload after the restart", move || {
            holds_an_inventory(r, host)
        })
        .await;
        stop.send(()).unwrap();
    };
    let (stopped, ()) = tokio::join!(service, driver);
    assert_eq!(stopped.unwrap(), Stopped::Shutdown);
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_stops_when_the_agent_is_revoked_while_it_waits() {
    let rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    let root = debian_root();
    let clock = rivet.stepping_clock();
    let sources = Sources {
        clock: &clock,
        random: &|| 0.5,
    };
    let options = options(&agent, root.path(), Backoff::default());
    let service = rivet_agent::service::run(&options, sources, std::future::pending());
    let (r, host) = (&rivet, agent.host.as_str());
    let driver = async {
        eventually("the first upload", move || holds_an_inventory(r, host)).await;
        eventually(
            "a long poll",
            move || async move { r.waiting_checkins() == 1 },
        )
        .await;
        r.revoke(host).await;
    };
    // The server ends the waiting poll at once (it would hold it 30 s).
    let (stopped, ()) = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::join!(service, driver)
    })
    .await
    .expect("the service stops while its poll is held");
    let Stopped::Unauthenticated { message } = stopped.unwrap() else {
        panic!("the service must stop as refused");
    };
    assert!(message.contains("this agent was revoked"), "{message}");
    rivet.finish().await;
}

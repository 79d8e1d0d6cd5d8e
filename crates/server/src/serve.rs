//! `rivet server`: open the store, migrate, bootstrap, and serve the API
//! until SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use rivet_store::{ConnectOptions, Store};

use crate::api::{Api, TlsInfo, app};
use crate::bootstrap::{self, Bootstrap};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::tls::{Tls, TlsListener};

/// Opens the configured store, creating the data directory for SQLite.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database.url.is_empty() {
        create_private_dir(&config.server.data_dir)?;
    }
    let url = config.database_url();
    let options = ConnectOptions {
        max_connections: config.database.max_connections,
        ..ConnectOptions::default()
    };
    Store::connect(&url, &options)
        .await
        .with_context(|| format!("cannot open the database {}", rivet_store::redact_url(&url)))
}

/// Creates `dir` (and its parents) readable by the owner only, if missing.
pub(crate) fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    Ok(())
}

/// A server started by [`start`], serving until [`Running::stop`].
pub struct Running {
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    /// Its base URL (`https://…`, or `http://…` with `tls.mode = "off"`).
    pub url: String,
    /// The SHA-256 fingerprint of the CA agents pin, when serving TLS.
    pub ca_fingerprint: Option<String>,
    /// That CA certificate, PEM.
    pub ca_pem: Option<String>,
    /// The API state (store, clock, hub) it serves with.
    pub api: Api,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes the requests in flight, writes buffered
    /// check-ins and closes the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("the server task failed")?
    }
}

/// Opens and migrates the store, bootstraps the provider on first start,
/// prepares TLS and starts serving in the background.
pub async fn start(
    mut config: Config,
    admin_password: Option<String>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Running, Bootstrap)> {
    let store = open_store(&config).await?;
    store
        .migrate()
        .await
        .context("cannot apply the database migrations")?;
    let bootstrap = bootstrap::run(
        &store,
        &config.auth.provider_name,
        admin_password,
        clock.now(),
    )
    .await?;
    let tls = Tls::prepare(
        &config.tls,
        &config.server.data_dir,
        config.server.listen,
        clock.now(),
    )
    .context("cannot set up TLS")?
    .map(Arc::new);
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    // Port 0 binds any free port; what agents are told is the bound one.
    config.server.listen = addr;
    let delivery = crate::notify::Delivery::new(&config.notify)
        .context("cannot set up notification delivery")?;
    let notify_tick = std::time::Duration::from_secs(config.notify.poll_secs);
    let mut api = Api::new(store.clone(), clock.clone(), config);
    api.tls = tls.as_ref().map(|t| TlsInfo {
        ca_fingerprint: t.ca_fingerprint.clone(),
    });
    let owner = format!("{}:{}", std::process::id(), addr);
    let mut background = tokio::task::JoinSet::new();
    background.spawn(crate::sync::run_scheduler(
        store.clone(),
        api.fetcher.clone(),
        clock.clone(),
        owner,
        std::time::Duration::from_secs(30),
    ));
    background.spawn(crate::assessor::run(
        api.assessor.clone(),
        store.clone(),
        clock.clone(),
    ));
    background.spawn(crate::rollout::run(
        api.clone(),
        std::time::Duration::from_secs(10),
    ));
    background.spawn(crate::patch_cycle::run_patch_cycles(
        store.clone(),
        clock.clone(),
        std::time::Duration::from_secs(300),
    ));
    background.spawn(crate::notify::run(
        store.clone(),
        delivery,
        clock.clone(),
        notify_tick,
    ));
    background.spawn(crate::api::agent::run_flusher(
        api.clone(),
        std::time::Duration::from_secs(2),
    ));
    if let Some(tls) = tls.clone() {
        let clock = clock.clone();
        background.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                if let Err(e) = tls.renew_if_due(clock.now()) {
                    tracing::error!(error = %e, "cannot renew the server certificate");
                }
            }
        });
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = app(api.clone());
    let served = api.clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let ca_fingerprint = tls.as_ref().map(|t| t.ca_fingerprint.clone());
    let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        match &tls {
            Some(tls) => {
                let listener = TlsListener::new(listener, tls.server_config.clone())?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .context("the server failed")?;
            }
            None => axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .context("the server failed")?,
        }
        background.shutdown().await;
        if let Err(e) = served.hub.flush(&served.store).await {
            tracing::warn!(error = %e, "cannot record the last check-ins");
        }
        served.store.close().await;
        Ok(())
    });
    Ok((
        Running {
            addr,
            url: format!("{scheme}://{addr}"),
            ca_fingerprint,
            ca_pem,
            api,
            stop,
            task,
        },
        bootstrap,
    ))
}

/// Runs the server until a shutdown signal.
pub async fn run(config: Config, admin_password: Option<String>) -> anyhow::Result<()> {
    // Catch SIGTERM before announcing the address, so that a supervisor that
    // stops the server right away still gets a clean shutdown.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let data_dir = config.server.data_dir.clone();
    let (running, bootstrap) = start(config, admin_password, Arc::new(SystemClock)).await?;
    match bootstrap {
        Bootstrap::AlreadyDone => {}
        Bootstrap::CreatedWithGivenPassword => {
            println!(
                "Created the provider tenant and the user 'admin' with the password from RIVET_ADMIN_PASSWORD."
            );
        }
        Bootstrap::CreatedWithGeneratedPassword(password) => {
            println!("Created the provider tenant and the user 'admin'.");
            println!("Password for admin (shown only this once): {password}");
        }
    }
    if let Some(fp) = &running.ca_fingerprint {
        println!(
            "TLS CA: {} (SHA-256 {fp})",
            data_dir.join("tls").join("ca.pem").display()
        );
    }
    println!("rivet server listening on {}", running.url);
    tracing::info!(addr = %running.addr, backend = ?running.api.store.backend(), "serving");
    shutdown_signal(term).await;
    running.stop().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}

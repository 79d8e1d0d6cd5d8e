//! `rivet server`: open the store, migrate, bootstrap, and serve the API
//! until SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use rivet_store::{ConnectOptions, Store};

use crate::api::{Api, app};
use crate::bootstrap::{self, Bootstrap};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;

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

fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
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

/// Runs the server until a shutdown signal.
pub async fn run(config: Config, admin_password: Option<String>) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    store
        .migrate()
        .await
        .context("cannot apply the database migrations")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match bootstrap::run(
        &store,
        &config.auth.provider_name,
        admin_password,
        clock.now(),
    )
    .await?
    {
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
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    // Catch SIGTERM before announcing the address, so that a supervisor that
    // stops the server right away still gets a clean shutdown.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    println!("rivet server listening on http://{addr}");
    tracing::info!(%addr, backend = ?store.backend(), "serving");
    let api = Api::new(store.clone(), clock.clone(), config);
    let owner = format!("{}:{}", std::process::id(), addr);
    tokio::spawn(crate::sync::run_scheduler(
        store.clone(),
        api.fetcher.clone(),
        clock,
        owner,
        std::time::Duration::from_secs(30),
    ));
    let app = app(api);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal(term))
        .await
        .context("the server failed")?;
    store.close().await;
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

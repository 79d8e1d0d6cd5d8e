//! `rivet-agent run`: the service loop. It asks the [`Schedule`] what to do,
//! does it, and tells the schedule how it went; the only decisions here are
//! which errors stop the service. The clock and the random numbers come in
//! from the caller, and only this shell waits.
//!
//! Everything that must survive a restart is on disk (the state directory),
//! so the loop can be stopped at any point: SIGTERM ends it between or in
//! the middle of steps, and an interrupted upload is simply not recorded as
//! accepted.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

use crate::api::ApiError;
use crate::checkin::{Agent, CheckinError, collect_inventory};
use crate::schedule::{Action, Backoff, Schedule};
use crate::state::Collected;

/// What the service needs besides its state.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The root directory to inventory.
    pub root: PathBuf,
    /// The retry policy.
    pub backoff: Backoff,
}

/// Why the service loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to stop (SIGTERM).
    Shutdown,
    /// The server no longer accepts this agent (revoked or deleted).
    Unauthenticated {
        /// The server's message.
        message: String,
    },
}

/// Where the time and randomness come from.
pub struct Sources<'a> {
    /// The current time.
    pub clock: &'a dyn Fn() -> Timestamp,
    /// A random number in [0, 1).
    pub random: &'a dyn Fn() -> f64,
}

/// Runs the service until `shutdown` completes or the server refuses the
/// agent. Fails only when the agent cannot start (not enrolled, unreadable
/// state); everything later is retried.
pub async fn run(
    options: &ServiceOptions,
    sources: Sources<'_>,
    shutdown: impl Future<Output = ()>,
) -> Result<Stopped, CheckinError> {
    let mut agent = Agent::open(&options.state_dir)?;
    let enrollment = &agent.identity().enrollment;
    tracing::info!(
        "rivet-agent {} running as host {} of {}",
        crate::checkin::AGENT_VERSION,
        enrollment.host,
        enrollment.server
    );
    let mut current = agent.accepted().cloned();
    let mut schedule = Schedule::new(
        options.backoff,
        current.as_ref().map(|c| c.inventory.collected_at),
        (sources.clock)(),
        (sources.random)(),
    );
    tokio::pin!(shutdown);
    loop {
        let step = step(&mut agent, &mut current, &mut schedule, options, &sources);
        tokio::select! {
            () = &mut shutdown => {
                tracing::info!("stopping");
                return Ok(Stopped::Shutdown);
            }
            outcome = step => if let Some(stopped) = outcome {
                return Ok(stopped);
            }
        }
    }
}

/// One action of the schedule; `Some` when the service must stop.
async fn step(
    agent: &mut Agent,
    current: &mut Option<Collected>,
    schedule: &mut Schedule,
    options: &ServiceOptions,
    sources: &Sources<'_>,
) -> Option<Stopped> {
    let now = (sources.clock)();
    let wait_secs = match schedule.next_action(now) {
        Action::Sleep { until } => {
            let wait = until.duration_since(now);
            tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
            return None;
        }
        Action::Collect => {
            let root = options.root.clone();
            let collected =
                tokio::task::spawn_blocking(move || collect_inventory(&root, now)).await;
            match collected {
                Ok(Ok(collected)) => {
                    tracing::debug!("collected inventory {}", collected.digest);
                    schedule.collected(now, (sources.random)());
                    *current = Some(collected);
                }
                Ok(Err(e)) => {
                    let delay = schedule.failed(now, (sources.random)());
                    tracing::error!(
                        "collecting the inventory failed: {e}; retrying in {} s",
                        delay.as_secs()
                    );
                    return None;
                }
                Err(e) => {
                    let delay = schedule.failed(now, (sources.random)());
                    tracing::error!(
                        "the collection crashed: {e}; retrying in {} s",
                        delay.as_secs()
                    );
                    return None;
                }
            }
            0
        }
        Action::Poll { wait_secs } => wait_secs,
    };
    let Some(inventory) = current.as_ref() else {
        // Polls report an inventory's digest: collect one first.
        schedule.collect_at(now);
        return None;
    };
    let started = (sources.clock)();
    match agent.checkin(inventory, wait_secs, started).await {
        Ok(report) => {
            if report.uploaded.is_some() {
                tracing::info!("{report}");
            } else {
                tracing::debug!("{report}");
            }
            schedule.checked_in(&report.response, started, (sources.clock)());
            None
        }
        Err(e) => {
            if let Some(message) = e.unauthenticated() {
                tracing::error!("the server no longer accepts this agent ({message}); stopping");
                return Some(Stopped::Unauthenticated {
                    message: message.to_owned(),
                });
            }
            let now = (sources.clock)();
            let delay = schedule.failed(now, (sources.random)());
            match &e {
                CheckinError::Api(ApiError::ClockSkew {
                    message,
                    server_time,
                }) => {
                    let skew = match server_time.map(|server| now.duration_since(server).as_secs())
                    {
                        Some(s) if s >= 0 => format!("{s} s ahead of the server's"),
                        Some(s) => format!("{} s behind the server's", -s),
                        None => "off by an unknown amount".to_owned(),
                    };
                    tracing::error!(
                        "the server refused this host's clock, which is {skew}; fix the host's time (NTP). The server said: {message}. Retrying in {} s",
                        delay.as_secs()
                    );
                }
                e => tracing::warn!(
                    "check-in failed: {e}; retrying in {} s (failure {} in a row)",
                    delay.as_secs(),
                    schedule.failures()
                ),
            }
            None
        }
    }
}

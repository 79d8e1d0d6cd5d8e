//! `rivet-sim`, the fleet simulator: enrolls many simulated agents with a
//! Rivet server and drives their check-ins and inventory uploads, reporting
//! throughput and latency. The tool behind every load test (docs/sim.md).
//!
//! The command line is read in two stages, as ripgrep does: clap's raw
//! [`Args`], then [`Args::validate`] into the run's [`Settings`], so that
//! every mistake is reported by flag before anything touches the network.

mod client;
mod clock;
#[cfg(test)]
mod fake_server;
mod fleet;
mod pool;
mod rng;
mod run;
mod schedule;
mod state;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use rivet_core::id::TenantId;

use crate::client::{AdminToken, Api};
use crate::fleet::Mix;
use crate::run::{AdminAuth, Settings};

/// Simulates a fleet of Rivet agents against a server, for load tests.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server's URL, e.g. https://rivet.example:8443.
    #[arg(long)]
    server: String,
    /// The server's CA certificate (PEM; `<data_dir>/tls/ca.pem`), the only
    /// one trusted.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// The administrator who creates enrollment tokens.
    #[arg(long)]
    username: Option<String>,
    /// The environment variable holding the administrator's password.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// The environment variable holding an API token (rvt_…), instead of a
    /// user name and password.
    #[arg(long, value_name = "VAR")]
    api_token_env: Option<String>,
    /// The tenant new hosts enroll into (a UUID).
    #[arg(long)]
    tenant: Option<String>,
    /// How many hosts to simulate.
    #[arg(long, default_value_t = 100)]
    hosts: u32,
    /// Steady-phase check-ins per second over the whole fleet; 0 for as fast
    /// as the concurrency allows.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// How long the steady phase lasts, in seconds (0 to skip it).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    duration: f64,
    /// The fraction (0 to 1) of steady check-ins whose inventory changed.
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION")]
    changed: f64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Relative weights of the distributions.
    #[arg(long, default_value = "debian=40,ubuntu=30,almalinux=20,alpine=10")]
    mix: String,
    /// The seed every host's inventory derives from.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the enrolled fleet (host ids and private keys) is saved.
    #[arg(long, value_name = "FILE", default_value = "rivet-sim-state.json")]
    state: PathBuf,
    /// Drive the fleet saved in --state (enrolling more hosts if --hosts
    /// asks for more).
    #[arg(long)]
    reuse: bool,
    /// Print the results as JSON on standard output instead of a table.
    #[arg(long)]
    json: bool,
    /// The shared data directory with the package inventories and OSV
    /// records the package pools are built from.
    #[arg(long, value_name = "DIR", default_value = "../shared/data")]
    data_dir: PathBuf,
}

impl Args {
    /// Checks every flag; `env` looks up environment variables.
    fn validate(self, env: impl Fn(&str) -> Option<String>) -> Result<(Settings, Option<PathBuf>)> {
        if self.hosts == 0 {
            bail!("--hosts must be at least 1");
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            bail!(
                "--rate must be 0 or more check-ins per second, not {}",
                self.rate
            );
        }
        if !(self.duration.is_finite() && (0.0..=31_536_000.0).contains(&self.duration)) {
            bail!(
                "--duration must be 0 to 31536000 seconds, not {}",
                self.duration
            );
        }
        if !(0.0..=1.0).contains(&self.changed) {
            bail!("--changed is a fraction from 0 to 1, not {}", self.changed);
        }
        let mix = Mix::parse(&self.mix).map_err(|e| anyhow::anyhow!("--mix: {e}"))?;
        let tenant = self
            .tenant
            .as_deref()
            .map(|t| {
                t.parse::<TenantId>()
                    .map_err(|e| anyhow::anyhow!("--tenant: {e}"))
            })
            .transpose()?;
        let read_env = |flag: &str, var: &str| -> Result<String> {
            match env(var) {
                Some(value) if !value.is_empty() => Ok(value),
                _ => bail!("{flag} {var}: the environment variable {var} is not set"),
            }
        };
        let admin = match (&self.username, &self.password_env, &self.api_token_env) {
            (_, Some(_), Some(_)) => {
                bail!("give either --password-env or --api-token-env, not both")
            }
            (Some(username), Some(var), None) => AdminAuth::Password {
                username: username.clone(),
                password: read_env("--password-env", var)?,
            },
            (None, Some(_), None) => bail!("--password-env needs --username"),
            (Some(_), None, None) => bail!("--username needs --password-env"),
            (_, None, Some(var)) => {
                AdminAuth::Token(AdminToken::new(read_env("--api-token-env", var)?))
            }
            (None, None, None) => AdminAuth::None,
        };
        let settings = Settings {
            server: self.server.trim_end_matches('/').to_owned(),
            admin,
            tenant,
            hosts: self.hosts,
            rate: self.rate,
            duration: Duration::from_secs_f64(self.duration),
            changed: self.changed,
            concurrency: self.concurrency,
            mix,
            seed: self.seed,
            state: self.state,
            reuse: self.reuse,
        };
        Ok((settings, self.ca_cert))
    }
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("rivet-sim: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args = Args::parse();
    let json = args.json;
    let data_dir = args.data_dir.clone();
    let concurrency = args.concurrency;
    let (settings, ca_cert) = args.validate(|var| std::env::var(var).ok())?;
    let ca_pem = ca_cert
        .map(|path| {
            std::fs::read(&path)
                .with_context(|| format!("cannot read --ca-cert {}", path.display()))
        })
        .transpose()?;
    let api = Api::new(&settings.server, ca_pem.as_deref(), concurrency)?;

    eprintln!("building package pools from {}…", data_dir.display());
    let pools = Arc::new(pool::Pools::load(&data_dir).with_context(|| {
        format!(
            "cannot build the package pools from {} (see --data-dir)",
            data_dir.display()
        )
    })?);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let results = runtime.block_on(run::run(settings, pools, api))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!(
            "rivet-sim: {} hosts ({}) against {}, seed {}",
            results.hosts,
            results
                .distributions
                .iter()
                .map(|(d, n)| format!("{d} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            results.server,
            results.seed
        );
        for phase in &results.phases {
            print!("{}", phase.table());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["rivet-sim", "--server", "https://127.0.0.1:8443"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).unwrap()
    }

    fn env(var: &str) -> Option<String> {
        (var == "PW").then(|| "secret".to_owned())
    }

    #[test]
    fn good_flags_become_settings() {
        let (settings, ca) = args(&[
            "--ca-cert",
            "ca.pem",
            "--username",
            "admin",
            "--password-env",
            "PW",
            "--tenant",
            "0190f3a4-0000-7000-8000-000000000001",
            "--hosts",
            "5",
            "--rate",
            "12.5",
            "--changed",
            "0.25",
        ])
        .validate(env)
        .unwrap();
        assert_eq!(ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(settings.hosts, 5);
        assert_eq!(settings.rate, 12.5);
        assert_eq!(settings.duration, Duration::from_secs(60));
        assert!(matches!(
            settings.admin,
            AdminAuth::Password { ref password, .. } if password == "secret"
        ));
        assert!(settings.tenant.is_some());
        assert_eq!(settings.mix.0.len(), 4);
    }

    #[test]
    fn bad_flags_are_named() {
        for (flags, says) in [
            (&["--hosts", "0"][..], "--hosts"),
            (&["--concurrency", "0"], "--concurrency"),
            (&["--rate=-1"], "--rate"),
            (&["--rate", "NaN"], "--rate"),
            (&["--duration=-5"], "--duration"),
            (&["--changed", "1.5"], "--changed"),
            (
                &["--mix", "debian=1,bsd=2"],
                "--mix: unknown distribution \"bsd\"",
            ),
            (&["--tenant", "acme"], "--tenant"),
            (&["--username", "admin"], "--username needs --password-env"),
            (&["--password-env", "PW"], "needs --username"),
            (
                &["--username", "a", "--password-env", "NOPE"],
                "NOPE is not set",
            ),
            (
                &[
                    "--username",
                    "a",
                    "--password-env",
                    "PW",
                    "--api-token-env",
                    "PW",
                ],
                "not both",
            ),
        ] {
            let err = args(flags).validate(env).unwrap_err();
            assert!(err.to_string().contains(says), "{flags:?}: {err}");
        }
    }
}

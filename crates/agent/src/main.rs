//! `rivet-agent`: the agent on every managed host. It enrolls with the
//! server, checks in (once, or as a service with long polling), and can
//! print the inventory it would report.
//!
//! Exit codes: 0 done or stopped; 1 an error (printed with its causes);
//! 2 bad usage; 3 the server no longer accepts this agent (revoked or
//! deleted), which the systemd unit does not restart.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use jiff::Timestamp;
use rivet_agent::config::{self, Settings};
use rivet_agent::enroll::EnrollOptions;
use rivet_agent::service::{ServiceOptions, Sources, Stopped};
use rivet_agent::{CaFingerprint, ServerUrl};

/// The exit code for an agent the server no longer accepts.
const EXIT_UNAUTHENTICATED: u8 = 3;

/// Rivet's agent.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// The configuration file; drop-ins are read from `config.d/` beside it.
    #[arg(long, global = true, default_value = config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect this host's inventory (or a root directory's) and print it.
    Inventory {
        /// The root directory of the system to inventory.
        #[arg(long)]
        root: Option<PathBuf>,
        /// The output format.
        #[arg(long, value_enum, default_value_t = Output::Json)]
        output: Output,
    },
    /// Enroll this host with a Rivet server, using a single-use token.
    Enroll {
        /// The server's address, https://HOST[:PORT].
        #[arg(long)]
        server: ServerUrl,
        /// The enrollment token (rve_…).
        #[arg(long, env = "RIVET_ENROLLMENT_TOKEN", hide_env_values = true)]
        token: String,
        /// The SHA-256 fingerprint of the server's CA certificate (64 hex
        /// digits, colons allowed). Without it the CA is trusted on first
        /// use and its fingerprint printed.
        #[arg(long)]
        ca_fingerprint: Option<CaFingerprint>,
        /// The state directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Replace an existing enrollment.
        #[arg(long)]
        force: bool,
    },
    /// Check in once: collect, report, upload what the server asks for.
    Once {
        /// The state directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// The root directory of the system to inventory.
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Run as a service: collect on the server's interval and long-poll in
    /// between, until SIGTERM.
    Run {
        /// The state directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// The root directory of the system to inventory.
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Print the annotated default configuration.
    DefaultConfig,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    /// Pretty-printed JSON.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The wall clock: the one place the program reads the time; everything
/// else takes it as a parameter.
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> Timestamp {
    Timestamp::now()
}

/// A random number in [0, 1) from the OS, for jitter; the middle if the OS
/// cannot provide one (jitter is a courtesy, not a security property).
fn random_unit() -> f64 {
    match getrandom::u64() {
        Ok(n) => (n >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        // Works whatever state the configuration files are in.
        Command::DefaultConfig => Ok(print_default_config()),
        command => run_configured(command, config::load(&cli.config)?),
    }
}

fn print_default_config() -> ExitCode {
    print!("{}", config::DEFAULT_CONFIG);
    ExitCode::SUCCESS
}

fn run_configured(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    init_logging(&settings);
    let runtime = runtime()?;
    match command {
        Command::DefaultConfig => Ok(print_default_config()),
        Command::Inventory {
            root,
            output: Output::Json,
        } => {
            let root = root.unwrap_or(settings.root);
            let inventory = rivet_agent::collect(&root, wall_clock())
                .with_context(|| format!("collecting the inventory of {}", root.display()))?;
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &inventory)?;
            writeln!(stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Enroll {
            server,
            token,
            ca_fingerprint,
            state_dir,
            force,
        } => {
            let hostname =
                rivet_agent::host::hostname(&rivet_agent::rootfs::Root::new(&settings.root))
                    .unwrap_or_else(|| "unnamed".to_owned());
            let options = EnrollOptions {
                server,
                token,
                ca_fingerprint,
                state_dir: state_dir.unwrap_or(settings.state_dir),
                hostname,
                force,
            };
            let enrolled = runtime.block_on(rivet_agent::enroll(&options, wall_clock()))?;
            if enrolled.trusted_on_first_use {
                println!(
                    "trusting the server's CA, SHA-256 fingerprint {}; compare it with the fingerprint the Rivet server shows for its CA (`openssl x509 -noout -fingerprint -sha256 -in ca.pem` gives {})",
                    enrolled.ca_fingerprint,
                    enrolled.ca_fingerprint.to_openssl()
                );
            }
            println!(
                "enrolled as host {} of tenant {} at {}; state in {}",
                enrolled.enrollment.host,
                enrolled.enrollment.tenant,
                enrolled.enrollment.server,
                options.state_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Once { state_dir, root } => {
            let state_dir = state_dir.unwrap_or(settings.state_dir);
            let root = root.unwrap_or(settings.root);
            let result =
                runtime.block_on(rivet_agent::checkin_once(&state_dir, &root, wall_clock()));
            match result {
                Ok(report) => {
                    println!("{report}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => match e.unauthenticated() {
                    Some(message) => {
                        eprintln!("error: the server no longer accepts this agent ({message})");
                        Ok(ExitCode::from(EXIT_UNAUTHENTICATED))
                    }
                    None => Err(e).context(format!("checking in from {}", state_dir.display())),
                },
            }
        }
        Command::Run { state_dir, root } => {
            let options = ServiceOptions {
                state_dir: state_dir.unwrap_or_else(|| settings.state_dir.clone()),
                root: root.unwrap_or_else(|| settings.root.clone()),
                backoff: settings.backoff(),
            };
            let sources = Sources {
                clock: &wall_clock,
                random: &random_unit,
            };
            let stopped = runtime.block_on(async {
                let shutdown = shutdown_signal()?;
                rivet_agent::service::run(&options, sources, shutdown)
                    .await
                    .with_context(|| format!("starting from {}", options.state_dir.display()))
            });
            // A collection still running on the blocking pool is abandoned,
            // not waited for: stopping must be prompt.
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            let stopped = stopped?;
            Ok(match stopped {
                Stopped::Shutdown => ExitCode::SUCCESS,
                Stopped::Unauthenticated { .. } => ExitCode::from(EXIT_UNAUTHENTICATED),
            })
        }
    }
}

/// One thread is enough for one agent, and keeps it small.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Completes on SIGTERM or SIGINT.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Logs to stderr at the configured level; without timestamps under
/// systemd, whose journal adds its own.
fn init_logging(settings: &Settings) {
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::from(settings.log))
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    if under_journald {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

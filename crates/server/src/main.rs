//! `rivet`: the server and its admin command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rivet_server::cli::{
    self, AdvisoryCommand, AuditCommand, CalendarArgs, ChangeCommand, Connection,
    EnrollmentTokenCommand, ExceptionCommand, FindingCommand, FreezeCommand, HostCommand,
    NotificationCommand, PoliciesCommand, RepositoryCommand, RingCommand, TenantCommand,
    TokenCommand, UserCommand, WindowCommand,
};
use rivet_server::config::{Config, DEFAULT_CONFIG};

/// The server parses and frees hundreds of small strings per inventory on
/// every core at once; glibc's allocator spent a fifth of its time on them
/// and fragmented under that load (issue 5's load test).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rivet: patch and change management.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrates the database and, on first start, creates the admin).
    Server {
        /// The configuration file.
        #[arg(long, env = "RIVET_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate {
        /// The configuration file.
        #[arg(long, env = "RIVET_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the annotated default configuration.
    DefaultConfig,
    /// Compare versions: reads `A<TAB>B` lines, prints -1, 0, 1 or `invalid: …`.
    Vercmp {
        /// deb, rpm, apk, pep440, semver or maven.
        #[arg(long)]
        scheme: rivet_core::version::Scheme,
    },
    /// Log in and save a token for the other commands.
    Login {
        /// The user name.
        #[arg(long)]
        user: String,
    },
    /// Show who you are logged in as.
    Whoami,
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Advisories: import, list, show.
    #[command(subcommand)]
    Advisories(AdvisoryCommand),
    /// Hosts: search, show, packages, history, export, import, attributes.
    #[command(subcommand)]
    Hosts(HostCommand),
    /// Enrollment tokens that agents join with.
    #[command(subcommand)]
    EnrollmentToken(EnrollmentTokenCommand),
    /// Findings: what the assessment found on the hosts, and the exposure.
    #[command(subcommand)]
    Findings(FindingCommand),
    /// Exceptions: accepted risks and workarounds, until they expire.
    #[command(subcommand)]
    Exceptions(ExceptionCommand),
    /// Repositories whose metadata shows the hosts' missing updates.
    #[command(subcommand)]
    Repositories(RepositoryCommand),
    /// Maintenance windows: recurring, in the customer's time zone.
    #[command(subcommand)]
    Windows(WindowCommand),
    /// Change freezes: no window opens while one holds.
    #[command(subcommand)]
    Freezes(FreezeCommand),
    /// A tenant's calendar: window openings, freezes and planned changes.
    Calendar(CalendarArgs),
    /// Ring plans: pilot first, broad last.
    #[command(subcommand)]
    Rings(RingCommand),
    /// Change requests: create, submit, approve, schedule, order, templates,
    /// patch cycles.
    #[command(subcommand)]
    Changes(ChangeCommand),
    /// A tenant's approval and update-class policies.
    #[command(subcommand)]
    Policies(PoliciesCommand),
    /// Notifications: the outbox of e-mails and webhooks.
    #[command(subcommand)]
    Notifications(NotificationCommand),
    /// Assess an inventory file against advisory files, offline, with the
    /// server's engine (ASM-8).
    Scan {
        /// The inventory: a dpkg status file, `rpm -qa` output, apk's
        /// installed database or a CycloneDX JSON SBOM.
        #[arg(long)]
        inventory: PathBuf,
        /// The inventory's format (dpkg-status, rpm-qa, apk-installed or
        /// cyclonedx); default: told from its content.
        #[arg(long)]
        inventory_format: Option<rivet_assess::scan::InventoryFormat>,
        /// The operating system as ID:VERSION (debian:12, ubuntu:22.04,
        /// almalinux:9, alpine:3.20), when the inventory does not name it.
        #[arg(long)]
        os: Option<String>,
        /// Advisory files, directories or zip archives (OSV, CSAF, a KEV
        /// catalogue), as `rivet advisories import` reads them.
        #[arg(long, required = true, num_args = 1..)]
        advisories: Vec<PathBuf>,
        /// A KEV catalogue, besides any among the advisories.
        #[arg(long)]
        kev: Option<PathBuf>,
        /// table, json or sarif.
        #[arg(long, default_value = "table")]
        format: rivet_assess::scan::render::OutputFormat,
    },
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    Ok(Config::load(path, |k| std::env::var(k).ok())?)
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Server { config } => {
            let config = load_config(config.as_deref())?;
            init_logging(&config.log.filter);
            let admin_password = std::env::var("RIVET_ADMIN_PASSWORD").ok();
            rivet_server::serve::run(config, admin_password).await?;
        }
        Command::Migrate { config } => {
            let config = load_config(config.as_deref())?;
            init_logging(&config.log.filter);
            let store = rivet_server::serve::open_store(&config).await?;
            store
                .migrate()
                .await
                .context("cannot apply the database migrations")?;
            println!("database is up to date");
        }
        Command::DefaultConfig => print!("{DEFAULT_CONFIG}"),
        Command::Vercmp { scheme } => {
            let summary = rivet_core::version::run_vercmp(
                scheme,
                std::io::stdin().lock(),
                std::io::stdout().lock(),
            )?;
            return Ok(summary.invalid == 0);
        }
        Command::Login { user } => {
            let server = cli
                .conn
                .server
                .as_deref()
                .unwrap_or("https://127.0.0.1:8440");
            cli::login(server, cli.conn.ca_cert.as_deref(), &user).await?;
        }
        Command::Whoami => cli::whoami(&cli.conn).await?,
        Command::Tenant(cmd) => cli::tenant(&cli.conn, cmd).await?,
        Command::User(cmd) => cli::user(&cli.conn, cmd).await?,
        Command::Token(cmd) => cli::token(&cli.conn, cmd).await?,
        Command::Audit(cmd) => return cli::audit(&cli.conn, cmd).await,
        Command::Advisories(cmd) => return cli::advisories(&cli.conn, cmd).await,
        Command::Hosts(cmd) => cli::hosts(&cli.conn, cmd).await?,
        Command::Findings(cmd) => cli::findings(&cli.conn, cmd).await?,
        Command::Exceptions(cmd) => cli::exceptions(&cli.conn, cmd).await?,
        Command::Repositories(cmd) => cli::repositories(&cli.conn, cmd).await?,
        Command::Windows(cmd) => cli::windows(&cli.conn, cmd).await?,
        Command::Freezes(cmd) => cli::freezes(&cli.conn, cmd).await?,
        Command::Calendar(args) => cli::calendar(&cli.conn, args).await?,
        Command::Rings(cmd) => cli::rings(&cli.conn, cmd).await?,
        Command::Notifications(cmd) => cli::notifications(&cli.conn, cmd).await?,
        Command::EnrollmentToken(cmd) => cli::enrollment_token(&cli.conn, cmd).await?,
        Command::Changes(cmd) => cli::changes(&cli.conn, cmd).await?,
        Command::Policies(cmd) => cli::policies(&cli.conn, cmd).await?,
        Command::Scan {
            inventory,
            inventory_format,
            os,
            advisories,
            kev,
            format,
        } => {
            use rivet_assess::scan::{self, InventoryFormat, ScanOptions};
            use rivet_server::clock::Clock;
            let format_of_file = match inventory_format {
                Some(f) => f,
                None => InventoryFormat::detect(
                    &std::fs::read(&inventory)
                        .with_context(|| format!("{}", inventory.display()))?,
                ),
            };
            let options = ScanOptions {
                inventory,
                format: format_of_file,
                os: os.as_deref().map(scan::parse_os).transpose()?,
                advisories,
                kev,
                fetched_at: rivet_server::clock::SystemClock.now(),
            };
            let report = tokio::task::spawn_blocking(move || scan::run(&options)).await??;
            scan::render::render(&report, format, &mut std::io::stdout().lock())?;
        }
    }
    Ok(true)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    rivet_server::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rivet: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("rivet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

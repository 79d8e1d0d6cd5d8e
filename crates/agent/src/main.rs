//! `rivet-agent`: the agent on every managed host. For now it collects and
//! prints the inventory; enrollment, check-in and job execution arrive with
//! their issues.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

/// Rivet's agent.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect this host's inventory (or a root directory's) and print it.
    Inventory {
        /// The root directory of the system to inventory.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// The output format.
        #[arg(long, value_enum, default_value_t = Output::Json)]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    /// Pretty-printed JSON.
    Json,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Inventory {
            root,
            output: Output::Json,
        } => {
            // main is where the time enters the program; everything below
            // takes it as a parameter.
            #[allow(clippy::disallowed_methods)]
            let now = jiff::Timestamp::now();
            let inventory = rivet_agent::collect(&root, now)
                .with_context(|| format!("collecting the inventory of {}", root.display()))?;
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &inventory)?;
            writeln!(stdout)?;
        }
    }
    Ok(())
}

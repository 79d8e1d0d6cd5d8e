//! `rivet-agent`: the agent on every managed host. Enrollment, inventory,
//! check-in and job execution arrive with their issues; for now the binary
//! only identifies itself, so that packaging and CI can build it.

use clap::Parser;

/// Rivet's agent.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!(
        "rivet-agent {}: no commands yet (see rivet-agent --help)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}

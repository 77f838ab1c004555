//! `boxoffice`: the ticket booking server.

use api::cli::{self, ServeArgs};
use clap::{Parser, Subcommand};

/// Many small allocations per request (bodies, replies, events), freed on
/// other threads than made them: mimalloc handles that pattern with less
/// work than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "boxoffice", version, about = "A ticket booking engine for high-traffic on-sales")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
}

fn main() -> anyhow::Result<()> {
    cli::init_logging();
    let Command::Serve(args) = Cli::parse().command;
    let config = args.config(Some(cli::install_metrics()?))?;
    cli::run(config)
}

//! `loadtest`: rush a Boxoffice server with virtual buyers, audit it, and
//! report. `loadtest --help` lists the subcommands.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use loadtest::args::RushArgs;
use loadtest::compare::{self, CompareArgs};
use loadtest::{harness, plot, report, serve};

/// The server this binary can run (`serve-boxoffice`) uses the allocator
/// `boxoffice` does, so a rush measures the server as deployed; the buyers'
/// many short-lived bodies gain from it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "loadtest", version, about = "A ticket-rush load test for Boxoffice")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Rush one performance with virtual buyers, audit it and report.
    Rush(Box<RushArgs>),
    /// The same rush against Boxoffice and then the MariaDB baseline.
    Compare(Box<CompareArgs>),
    /// Run the Boxoffice server (what `rush` starts as its child).
    #[command(hide = true)]
    ServeBoxoffice(Box<serve::ServeBoxoffice>),
    /// Run the MariaDB baseline server (what `compare` starts as its child).
    Baseline(Box<loadtest::baseline::BaselineArgs>),
}

fn main() -> ExitCode {
    init_tracing();
    let outcome = match Cli::parse().command {
        Command::Rush(args) => runtime().and_then(|rt| rt.block_on(rush(&args))),
        Command::Compare(args) => {
            runtime().and_then(|rt| rt.block_on(compare::run(&args))).map(|c| c.passed())
        }
        Command::ServeBoxoffice(args) => serve::run(*args).map(|()| true),
        Command::Baseline(args) => {
            runtime().and_then(|rt| rt.block_on(loadtest::baseline::run(*args))).map(|()| true)
        }
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            tracing::error!("the audit failed");
            ExitCode::from(2)
        }
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")
}

/// Runs the rush and writes what it found; `Ok(false)` when the audit failed.
async fn rush(args: &RushArgs) -> anyhow::Result<bool> {
    let report = harness::rush(args).await?;
    println!("{}", report::summary(&report));
    if let Some(path) = &args.report {
        report::write_json(path, &report)?;
    }
    if let Some(path) = &args.plot {
        plot::write(&report, path)?;
    }
    Ok(report.audit.passed)
}

//! `loadtest serve-boxoffice`: the Boxoffice server in a process of its own,
//! started by the harness re-executing itself, so the server's CPU can be
//! read apart from the harness's. It is `boxoffice serve` (`api::cli`),
//! flags and all.

use api::cli::{self, ServeArgs};

#[derive(clap::Args, Clone, Debug)]
pub struct ServeBoxoffice {
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Do not install the Prometheus recorder (the real server always does).
    #[arg(long)]
    pub no_metrics: bool,
}

/// Serves until SIGINT or SIGTERM, like `boxoffice serve`.
pub fn run(args: ServeBoxoffice) -> anyhow::Result<()> {
    let metrics = if args.no_metrics { None } else { Some(cli::install_metrics()?) };
    cli::run(args.serve.config(metrics)?)
}

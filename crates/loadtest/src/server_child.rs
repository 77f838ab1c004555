//! The server under test as a child process: this binary re-executed as
//! `serve-boxoffice` (or `baseline`) on a fresh temp data dir, killed when
//! the harness is done with it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use reqwest::Url;

/// Which server to start.
#[derive(Clone, Debug)]
pub enum ServerKind {
    Boxoffice {
        hold_ttl: Duration,
        /// The server's `--max-in-flight`, when not its default.
        max_in_flight: Option<u32>,
        /// The server's `--max-http-in-flight`, when not its default.
        max_http_in_flight: Option<u32>,
        /// The server's `--checkpoint-every`, when not its default.
        checkpoint_every: Option<Duration>,
    },
    /// The MariaDB baseline (`loadtest baseline`).
    Baseline { database_url: String, hold_ttl: Duration },
}

impl ServerKind {
    pub fn name(&self) -> &'static str {
        match self {
            ServerKind::Boxoffice { .. } => "boxoffice",
            ServerKind::Baseline { .. } => "baseline",
        }
    }
}

/// A running child server; killed on drop.
pub struct ServerChild {
    child: Child,
    pub base: Url,
    _data_dir: Option<tempfile::TempDir>,
}

/// How long a child may take to answer /health.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl ServerChild {
    /// Starts `kind` on a free loopback port with `admin_token`, on the
    /// CPUs `cpus` names (as `taskset -c` reads them) or on any, and waits
    /// until it answers.
    pub async fn start(
        kind: &ServerKind,
        admin_token: &str,
        cpus: Option<&str>,
    ) -> anyhow::Result<ServerChild> {
        let addr = free_port()?;
        let exe = std::env::current_exe().context("finding this executable")?;
        let mut command = match cpus {
            // taskset executes the server in its own place: the child's pid
            // is the server's.
            Some(cpus) => {
                let mut pinned = Command::new("taskset");
                pinned.arg("-c").arg(cpus).arg(exe);
                pinned
            }
            None => Command::new(exe),
        };
        let data_dir = match kind {
            ServerKind::Boxoffice {
                hold_ttl,
                max_in_flight,
                max_http_in_flight,
                checkpoint_every,
            } => {
                let dir = tempfile::Builder::new().prefix("loadtest-data-").tempdir()?;
                command.arg("serve-boxoffice").arg("--data-dir").arg(dir.path());
                command.args(["--catalogue", "empty", "--payments", "instant", "--hold-ttl"]);
                command.arg(humantime::format_duration(*hold_ttl).to_string());
                if let Some(max) = max_in_flight {
                    command.arg("--max-in-flight").arg(max.to_string());
                }
                if let Some(max) = max_http_in_flight {
                    command.arg("--max-http-in-flight").arg(max.to_string());
                }
                if let Some(every) = checkpoint_every {
                    command.arg("--checkpoint-every");
                    command.arg(humantime::format_duration(*every).to_string());
                }
                Some(dir)
            }
            ServerKind::Baseline { database_url, hold_ttl } => {
                command.args(["baseline", "--database-url", database_url, "--hold-ttl"]);
                command.arg(humantime::format_duration(*hold_ttl).to_string());
                None
            }
        };
        command.arg("--addr").arg(addr.to_string());
        // The token goes by environment, out of sight of `ps`.
        command.env("BOXOFFICE_ADMIN_TOKEN", admin_token);
        // Info logs a line per sign-up and purchase: too many for a rush.
        let log = std::env::var("LOADTEST_SERVER_LOG").unwrap_or_else(|_| "warn".into());
        command.env("RUST_LOG", log).stdin(Stdio::null()).stdout(Stdio::null());
        let child = command.spawn().context("starting the server process")?;
        let base = Url::parse(&format!("http://{addr}/")).expect("an address is a valid URL");
        let mut server = ServerChild { child, base, _data_dir: data_dir };
        server.wait_until_up().await.with_context(|| format!("starting {}", kind.name()))?;
        tracing::info!(server = kind.name(), %addr, pid = server.pid(), "server started");
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_until_up(&mut self) -> anyhow::Result<()> {
        let health = self.base.join("health").expect("a valid path");
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited at start-up ({status})");
            }
            let answer = client.get(health.clone()).timeout(Duration::from_secs(1)).send().await;
            if answer.is_ok_and(|answer| answer.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server did not answer /health within {START_TIMEOUT:?}")
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // The data dir is thrown away with it, so a hard kill loses nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on now. Another process could take it
/// before the child binds it; on a test machine that does not happen.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?)
}

//! Runs the real `boxoffice` binary as a child process, for the tests that
//! kill it, trace it or break its disk: what they prove needs a real
//! process, not a server inside the test.

#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "process-test-admin";

pub struct ServerProcess {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

/// How to start the server; the data dir is the one thing every test sets.
pub struct Launch<'a> {
    pub data_dir: &'a Path,
    /// What an empty data dir starts with: `empty` unless a test says.
    pub catalogue: &'static str,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Run the server under this program, such as `strace -f …`.
    pub wrapper: Vec<String>,
}

impl<'a> Launch<'a> {
    pub fn new(data_dir: &'a Path) -> Launch<'a> {
        Launch {
            data_dir,
            catalogue: "empty",
            args: Vec::new(),
            env: Vec::new(),
            wrapper: Vec::new(),
        }
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a probe port");
    listener.local_addr().expect("the probe's address").port()
}

/// The instant provider, unless the launch picks one: most process tests
/// buy with payment tokens.
fn payments_unless_chosen(args: &[String]) -> Vec<&'static str> {
    match args.iter().any(|arg| arg == "--payments") {
        true => Vec::new(),
        false => vec!["--payments", "instant"],
    }
}

impl ServerProcess {
    pub async fn start(launch: Launch<'_>) -> ServerProcess {
        let port = free_port();
        let log = launch.data_dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::File::create(&log).expect("creating the server log");

        let binary = env!("CARGO_BIN_EXE_boxoffice");
        let mut program: Vec<String> = launch.wrapper.clone();
        program.push(binary.to_owned());
        let mut command = Command::new(&program[0]);
        command
            .args(&program[1..])
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(launch.data_dir)
            .args(["--catalogue", launch.catalogue, "--admin-token", ADMIN_TOKEN])
            .args(payments_unless_chosen(&launch.args))
            .args(&launch.args)
            .env("RUST_LOG", "info")
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("cloning the log handle"))
            .stderr(log_file);
        // A group of its own, so a kill reaches the server under a wrapper
        // such as strace, not only the wrapper.
        command.process_group(0);
        let child = command.spawn().expect("starting boxoffice");

        let mut server = ServerProcess { child, base: format!("http://127.0.0.1:{port}"), log };
        server.wait_until_ready().await;
        server
    }

    async fn wait_until_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let health = client.get(format!("{}/health", self.base)).send().await;
            if health.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited with {status}; its log:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server did not come up; its log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL to the whole process group: no shutdown, no last
    /// checkpoint, no flush.
    pub fn kill9(&mut self) {
        let group = format!("-{}", self.child.id());
        let killed =
            Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        if !killed.is_ok_and(|status| status.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A small world to sell: one city, a venue with a seated and a standing
/// section, one performance on sale now.
pub struct World {
    pub performance: u32,
    pub capacity: usize,
}

pub async fn create_world(client: &reqwest::Client, base: &str) -> World {
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth(ADMIN_TOKEN);
    let city = json!({ "name": "Zürich", "country": "CH", "time_zone": "Europe/Zurich", "currency": "CHF" });
    let city: Value = created(admin(client.post(format!("{base}/cities"))).json(&city)).await;

    let layout = json!({ "sections": [
        { "name": "Stalls", "kind": "seated", "rows": 50, "seats_per_row": 50, "price_minor": 6500 },
        { "name": "Floor", "kind": "standing", "capacity": 500, "price_minor": 3000 },
    ]});
    let venue = json!({ "name": "Opernhaus", "layout": layout });
    let venue_url = format!("{base}/cities/{}/venues", city["id"]);
    let venue: Value = created(admin(client.post(venue_url)).json(&venue)).await;

    let performance = json!({
        "title": "Die Zauberflöte",
        "start_local": "2099-06-01T19:30:00",
        "on_sale": "2020-01-01T00:00:00Z",
    });
    let url = format!("{base}/cities/{}/venues/{}/performances", city["id"], venue["id"]);
    let performance: Value = created(admin(client.post(url)).json(&performance)).await;
    World { performance: performance["id"].as_u64().expect("an id") as u32, capacity: 3000 }
}

/// A signed-up buyer: their id and bearer token.
pub struct Buyer {
    pub id: u64,
    pub token: String,
}

impl Buyer {
    /// Where their own tickets are.
    pub fn tickets(&self, base: &str) -> String {
        format!("{base}/users/{}/tickets", self.id)
    }
}

pub async fn sign_up(client: &reqwest::Client, base: &str, email: &str) -> Buyer {
    let body = json!({ "name": "Käufer", "email": email, "phone": "+41 44 123 45 67" });
    let user = created(client.post(format!("{base}/users")).json(&body)).await;
    let id = user["id"].as_u64().expect("a user id");
    Buyer { id, token: user["token"].as_str().expect("a token").to_owned() }
}

async fn created(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, 201, "{body}");
    body
}

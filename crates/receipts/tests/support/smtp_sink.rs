//! A real SMTP server on loopback for the email tests: aiosmtpd (PyPI)
//! driven by `tests/smtp_sink.py`, started as a child process and killed
//! when the handle drops, also when a test fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the server may take to start and say its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running sink; messages land in [`SmtpSink::dir`].
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    state: tempfile::TempDir,
}

/// One message as the sink parsed it (Python's `email` package).
#[derive(Debug, serde::Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    pub parts: Vec<ReceivedPart>,
}

#[derive(Debug, serde::Deserialize)]
pub struct ReceivedPart {
    pub content_type: String,
    pub charset: Option<String>,
    pub transfer_encoding: Option<String>,
    pub content: String,
}

impl Received {
    /// Every value of the header `name` (case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Vec<&str> {
        let named = self.headers.iter().filter(|(header, _)| header.eq_ignore_ascii_case(name));
        named.map(|(_, value)| value.as_str()).collect()
    }
}

impl SmtpSink {
    /// Starts the sink and waits (bounded) until it listens. Panics, with
    /// what to install, if python3 or aiosmtpd is missing.
    pub fn start() -> SmtpSink {
        SmtpSink::start_with(&[])
    }

    /// Starts a sink that requires this login (AUTH PLAIN or LOGIN).
    pub fn start_with_login(login: &str, password: &str) -> SmtpSink {
        SmtpSink::start_with(&["--login", login, "--password", password])
    }

    fn start_with(options: &[&str]) -> SmtpSink {
        let state = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(state.path().join("mail")).expect("the mail directory");
        let stderr_path = state.path().join("stderr.txt");
        let stderr = std::fs::File::create(&stderr_path).expect("the sink's stderr file");

        // From this crate's manifest dir, or another crate's that includes
        // this module (the api's crash test of receipts).
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../receipts/tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(&script)
            .arg("--dir")
            .arg(state.path().join("mail"))
            .args(options)
            // The sink also exits by itself when this pipe closes.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run python3 for the SMTP sink: {error}"));

        let stdout = child.stdout.take().expect("piped stdout");
        let port = match first_line(stdout, START_TIMEOUT).and_then(|line| line.trim().parse().ok())
        {
            Some(port) => port,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("{}", start_failure(&stderr));
            }
        };
        SmtpSink { child, port, state }
    }

    /// `smtp://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> PathBuf {
        self.state.path().join("mail")
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mut summaries: Vec<(u32, PathBuf)> = std::fs::read_dir(self.dir())
            .expect("the mail directory")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
            .map(|path| (sequence_number(&path), path))
            .collect();
        summaries.sort();

        let read = |path: &PathBuf| {
            let text = std::fs::read_to_string(path).expect("a message summary");
            serde_json::from_str(&text).expect("a summary in the sink's shape")
        };
        summaries.iter().map(|(_, path)| read(path)).collect()
    }

    /// The bytes of message `number` (1 first) as they arrived.
    pub fn raw(&self, number: u32) -> Vec<u8> {
        std::fs::read(self.dir().join(format!("{number}.eml"))).expect("a received message")
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line `stdout` prints within `timeout`, if any. The reader
/// thread ends by itself when the child exits or is killed.
fn first_line(stdout: std::process::ChildStdout, timeout: Duration) -> Option<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(read.ok().filter(|&bytes| bytes > 0).map(|_| line));
    });
    receiver.recv_timeout(timeout).ok().flatten()
}

fn start_failure(stderr: &str) -> String {
    if stderr.contains("aiosmtpd is not installed") {
        return "the SMTP tests need aiosmtpd (PyPI) for python3: \
                run `python3 -m pip install aiosmtpd`"
            .to_owned();
    }
    format!("the SMTP sink did not start within {START_TIMEOUT:?}; its stderr:\n{stderr}")
}

fn sequence_number(path: &Path) -> u32 {
    let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
    stem.parse().unwrap_or(u32::MAX)
}

//! A stand-in for Stripe's HTTP API: it records every request exactly as it
//! arrived and answers each with the next of the answers it was given, so a
//! test can check what the client sent and how it read what came back.
//!
//! Plain threads and blocking sockets, one connection a request
//! (`Connection: close`), so it depends on no runtime the test uses.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Answer {
    status: u16,
    body: String,
    delay: Duration,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Answer {
        Answer { status, body: body.to_string(), delay: Duration::ZERO }
    }

    pub fn raw(status: u16, body: &str) -> Answer {
        Answer { status, body: body.to_string(), delay: Duration::ZERO }
    }

    /// The same answer, sent only after `delay`.
    pub fn after(self, delay: Duration) -> Answer {
        Answer { delay, ..self }
    }
}

/// A request as the fake received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    /// The form body, decoded, in the order sent.
    pub form: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
    }

    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct Script {
    answers: VecDeque<Answer>,
    requests: Vec<Request>,
}

pub struct FakeStripe {
    /// Where the client should be pointed, with the path prefix if any.
    pub base_url: String,
    script: Arc<Mutex<Script>>,
}

impl FakeStripe {
    /// A fake at the root of its address, like `https://api.stripe.com`.
    pub fn start(answers: Vec<Answer>) -> FakeStripe {
        FakeStripe::start_under("", answers)
    }

    /// A fake whose base URL carries `prefix`, like a sandbox mounted at
    /// `/sandbox`.
    pub fn start_under(prefix: &str, answers: Vec<Answer>) -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("the fake's address");
        let script = Arc::new(Mutex::new(Script { answers: answers.into(), requests: Vec::new() }));

        let shared = Arc::clone(&script);
        thread::spawn(move || accept(listener, shared));
        FakeStripe { base_url: format!("http://{address}{prefix}"), script }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.script.lock().expect("the script").requests.clone()
    }

    /// The only request received; fails the test if there were others.
    pub fn only_request(&self) -> Request {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected one request, got {requests:#?}");
        requests.into_iter().next().expect("one request")
    }
}

/// Runs until the test process ends; each connection on its own thread, so
/// a delayed answer does not hold up the next request.
fn accept(listener: TcpListener, script: Arc<Mutex<Script>>) {
    for stream in listener.incoming().flatten() {
        let script = Arc::clone(&script);
        thread::spawn(move || serve(stream, &script));
    }
}

fn serve(stream: TcpStream, script: &Mutex<Script>) {
    let Some(request) = read_request(&stream) else { return };
    let answer = {
        let mut script = script.lock().expect("the script");
        script.requests.push(request);
        script.answers.pop_front()
    };
    let answer =
        answer.unwrap_or_else(|| Answer::raw(500, "{\"error\": {\"message\": \"unscripted\"}}"));

    thread::sleep(answer.delay);
    let _ = write_answer(stream, &answer);
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();

    let headers = read_headers(&mut reader)?;
    let length = headers.iter().find(|(name, _)| name == "content-length");
    let length: usize = length.map_or(Some(0), |(_, value)| value.parse().ok())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;

    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    Some(Request {
        method,
        path: path.to_string(),
        query: serde_urlencoded::from_str(query).ok()?,
        headers,
        form: serde_urlencoded::from_bytes(&body).ok()?,
    })
}

fn read_headers(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            return Some(headers);
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn write_answer(mut stream: TcpStream, answer: &Answer) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        answer.status,
        answer.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(answer.body.as_bytes())?;
    stream.flush()
}

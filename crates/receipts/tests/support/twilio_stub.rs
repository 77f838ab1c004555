//! A stub of Twilio's Messages API on loopback: a raw tokio listener that
//! records each request and gives every one the same scripted answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long the stub waits for a request's bytes before dropping it.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes of one request the stub reads.
const REQUEST_BYTES_MAX: usize = 64 * 1024;

/// One request as the stub received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut named = self.headers.iter().filter(|(header, _)| header == name);
        named.next().map(|(_, value)| value.as_str())
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        let mut named = self.form.iter().filter(|(field, _)| field == name);
        named.next().map(|(_, value)| value.as_str())
    }
}

/// A running stub; it stops when dropped.
pub struct TwilioStub {
    pub base_url: String,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    server: tokio::task::JoinHandle<()>,
}

impl TwilioStub {
    /// Starts a stub that answers every request with `status` and `body`.
    pub async fn start(status: u16, body: &'static str) -> TwilioStub {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let base_url = format!("http://{}", listener.local_addr().expect("its address"));
        let recorded = Arc::new(Mutex::new(Vec::new()));

        let server = tokio::spawn(serve(listener, Arc::clone(&recorded), status, body));
        TwilioStub { base_url, recorded, server }
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("not poisoned").clone()
    }
}

impl Drop for TwilioStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(
    listener: TcpListener,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    status: u16,
    body: &'static str,
) {
    while let Ok((stream, _peer)) = listener.accept().await {
        let recorded = Arc::clone(&recorded);
        let answered = answer(stream, recorded, status, body);
        tokio::spawn(tokio::time::timeout(READ_TIMEOUT, answered));
    }
}

/// Reads one request, records it (before answering, so a client that has
/// its answer finds it recorded), answers it and closes the connection.
async fn answer(
    mut stream: TcpStream,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    status: u16,
    body: &str,
) -> Option<()> {
    let request = read_request(&mut stream).await?;
    recorded.lock().expect("not poisoned").push(request);

    let response = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await.ok()?;
    stream.shutdown().await.ok()
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut bytes = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&bytes, b"\r\n\r\n") {
            break end;
        }
        read_more(stream, &mut bytes).await?;
    };

    let head = String::from_utf8(bytes[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();

    let body_length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(Some(0), |(_, value)| value.parse().ok())?;
    let body_start = head_end + 4;
    while bytes.len() < body_start + body_length {
        read_more(stream, &mut bytes).await?;
    }

    let form = serde_urlencoded::from_bytes(&bytes[body_start..body_start + body_length]).ok()?;
    Some(Recorded { method, path, headers, form })
}

async fn read_more(stream: &mut TcpStream, bytes: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0; 4096];
    let count = stream.read(&mut chunk).await.ok()?;
    if count == 0 || bytes.len() + count > REQUEST_BYTES_MAX {
        return None;
    }
    bytes.extend_from_slice(&chunk[..count]);
    Some(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

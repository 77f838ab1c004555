//! A bounded pool of HTTP/1.1 keep-alive connections to one server, on
//! hyper's connection API: each connection runs as a task of its own, and a
//! request takes an idle connection or opens a new one.
//!
//! A general-purpose client does work per request that a rush does not
//! need (URL parsing, redirect and proxy policy, default headers, a pool
//! keyed by host). On this machine reqwest cost the client about 14 µs of
//! CPU a request for `GET /health` and hyper's connection API about 6 µs,
//! which is what `wrk` costs: a harness sharing two cores with the server
//! must spend as little of them as it can.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use reqwest::Url;
use tokio::net::TcpStream;

use crate::gate::{Gate, Turn};

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an exchange brought no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// No answer within the timeout: the request may have taken effect.
    Timeout,
    /// Refused, reset or closed: it may have taken effect, unless it was
    /// never sent.
    Transport,
}

/// A whole answer: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

type Sender = SendRequest<Full<Bytes>>;

/// At most `size` connections to one server, each carrying one request at
/// a time.
pub struct Connections {
    /// Where to connect, `host:port`.
    address: String,
    /// The `Host` header every request carries.
    host: HeaderValue,
    /// One place per connection: a request holds one from checkout to
    /// return, so no more than `size` connections are ever open; when all
    /// are taken, buyers under way go first (see [`crate::gate`]).
    gate: Gate,
    /// Taken from the front and returned to the back, so every connection
    /// is used in turn: at a rate that uses each within the server's
    /// keep-alive timeout, none is closed for idling. At lower rates the
    /// server closes some; the pool drops those and opens new ones only
    /// when it has too few.
    idle: Mutex<VecDeque<Sender>>,
    size: usize,
    timeout: Duration,
    /// Connections opened so far.
    opened: AtomicU64,
    /// How long requests waited for a free connection, in microseconds
    /// (see [`Connections::take_waits`]).
    waits: Mutex<Histogram<u64>>,
}

impl Connections {
    /// A pool for the `http://` server at `base`; no connection opens yet.
    pub fn new(base: &Url, size: usize, timeout: Duration) -> anyhow::Result<Connections> {
        if base.scheme() != "http" {
            bail!("only http:// servers can be rushed, not {base}");
        }
        let host = base.host_str().with_context(|| format!("{base} names no host"))?;
        let port = base.port_or_known_default().unwrap_or(80);
        let address = format!("{host}:{port}");
        let host = HeaderValue::from_str(&address).context("the server's host as a header")?;
        let size = size.max(1);
        let gate = Gate::new(size);
        let idle = Mutex::new(VecDeque::with_capacity(size));
        let opened = AtomicU64::new(0);
        let waits = Mutex::new(crate::stats::latency_histogram());
        Ok(Connections { address, host, gate, idle, size, timeout, opened, waits })
    }

    /// Sends `request` in `turn` and reads the whole answer, within the
    /// timeout (which starts once a connection is free).
    pub async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
        turn: Turn,
    ) -> Result<Answer, Lost> {
        request.headers_mut().insert(HOST, self.host.clone());
        let asked = Instant::now();
        let _pass = self.gate.enter(turn).await;
        let waited = crate::stats::micros(asked.elapsed());
        self.waits.lock().record(waited).expect("clamped into the bounds");
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(answer) => answer,
            Err(_elapsed) => Err(Lost::Timeout),
        }
    }

    /// One request and its answer on a pooled connection. A connection the
    /// server had closed before the request went out is replaced and the
    /// request sent again on a new one, since it cannot have taken effect.
    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<Answer, Lost> {
        let mut sender = self.checkout().await?;
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut unsent) => match unsent.take_message() {
                Some(request) => {
                    sender = self.connect().await?;
                    sender.send_request(request).await.map_err(|_| Lost::Transport)?
                }
                None => return Err(Lost::Transport),
            },
        };

        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|_| Lost::Transport)?;
        self.check_in(sender);
        Ok(Answer { status, body: body.to_bytes() })
    }

    /// An idle connection that is still open, or a new one.
    async fn checkout(&self) -> Result<Sender, Lost> {
        loop {
            let Some(mut sender) = self.idle.lock().pop_front() else { break };
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        self.connect().await
    }

    fn check_in(&self, sender: Sender) {
        if !sender.is_closed() {
            self.idle.lock().push_back(sender);
        }
    }

    /// Opens connections until the pool has all it may, so that a surge of
    /// requests does not also have to wait for connections (and the server
    /// accept them) at its start. Answers with how many are open.
    pub async fn open_all(&self) -> Result<usize, Lost> {
        let mut every_place = Vec::with_capacity(self.size);
        for _ in 0..self.size {
            every_place.push(self.gate.enter(Turn::UnderWay).await);
        }
        let open = {
            let mut idle = self.idle.lock();
            idle.retain(|sender| !sender.is_closed());
            idle.len()
        };
        for _ in open..self.size {
            let sender = self.connect().await?;
            self.idle.lock().push_back(sender);
        }
        Ok(self.idle.lock().len())
    }

    /// How many connections were opened so far: the pool's size, unless
    /// the server closed some (as after refusing a request whose body it
    /// did not read).
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// How long requests waited for a free connection since the last call,
    /// and starts counting afresh. Without a waiting room, a rush that
    /// offers more than the pool can carry queues its requests here: that
    /// wait is the harness's, not the server's, though it counts in every
    /// latency measured.
    pub fn take_waits(&self) -> Histogram<u64> {
        let fresh = crate::stats::latency_histogram();
        std::mem::replace(&mut *self.waits.lock(), fresh)
    }

    async fn connect(&self) -> Result<Sender, Lost> {
        self.opened.fetch_add(1, Ordering::Relaxed);
        let stream = TcpStream::connect(&self.address);
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, stream).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(_)) => return Err(Lost::Transport),
            Err(_elapsed) => return Err(Lost::Timeout),
        };
        // Requests are small and each waits for its answer: send at once.
        stream.set_nodelay(true).map_err(|_| Lost::Transport)?;
        let handshake = http1::handshake(TokioIo::new(stream)).await;
        let (sender, connection) = handshake.map_err(|_| Lost::Transport)?;
        tokio::spawn(async move {
            // It ends when the server closes it or the sender is dropped;
            // a request on it has seen the error already.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    /// How a test server treats each connection it accepts.
    #[derive(Clone, Copy)]
    enum Manner {
        /// Answers every request, keeping the connection open.
        KeepAlive,
        /// Answers one request, then closes the connection.
        OneAndClose,
        /// Reads the request and never answers.
        Silent,
    }

    /// A loopback server answering `200 ok` to GETs, and how many
    /// connections it accepted.
    async fn server(manner: Manner) -> (Url, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, manner));
            }
        });
        (base, accepted)
    }

    async fn serve(mut stream: TcpStream, manner: Manner) {
        let mut request = Vec::new();
        let mut buffer = [0; 1024];
        loop {
            let Ok(read) = stream.read(&mut buffer).await else { return };
            if read == 0 {
                return;
            }
            request.extend_from_slice(&buffer[..read]);
            // GETs without bodies: a request ends at its blank line.
            while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                request.drain(..end + 4);
                match manner {
                    Manner::Silent => continue,
                    Manner::KeepAlive | Manner::OneAndClose => {
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        stream.write_all(answer).await.unwrap();
                    }
                }
                if let Manner::OneAndClose = manner {
                    return;
                }
            }
        }
    }

    fn get() -> Request<Full<Bytes>> {
        Request::get("/health").body(Full::new(Bytes::new())).unwrap()
    }

    #[tokio::test]
    async fn never_opens_more_connections_than_its_size_and_reuses_them() {
        let (base, accepted) = server(Manner::KeepAlive).await;
        let pool = Arc::new(Connections::new(&base, 4, Duration::from_secs(5)).unwrap());

        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let pool = pool.clone();
            requests.spawn(async move { pool.send(get(), Turn::UnderWay).await });
        }
        while let Some(answer) = requests.join_next().await {
            let answer = answer.unwrap().unwrap();
            assert_eq!((answer.status, &answer.body[..]), (200, &b"ok"[..]));
        }

        assert!(accepted.load(Ordering::SeqCst) <= 4, "{accepted:?} connections");
    }

    #[tokio::test]
    async fn opened_all_at_once_the_pool_opens_no_more_and_uses_each_in_turn() {
        let (base, accepted) = server(Manner::KeepAlive).await;
        let pool = Connections::new(&base, 8, Duration::from_secs(5)).unwrap();

        assert_eq!(pool.open_all().await, Ok(8));
        for _ in 0..100 {
            assert_eq!(pool.send(get(), Turn::UnderWay).await.unwrap().status, 200);
        }

        assert_eq!(pool.opened(), 8);
        assert_eq!(accepted.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced() {
        let (base, accepted) = server(Manner::OneAndClose).await;
        let pool = Connections::new(&base, 1, Duration::from_secs(5)).unwrap();

        for _ in 0..5 {
            let answer = pool.send(get(), Turn::UnderWay).await.unwrap();
            assert_eq!(answer.status, 200);
            // Give the connection's task a moment to see the close.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn no_answer_within_the_timeout_is_a_timeout_and_frees_its_place() {
        let (base, _) = server(Manner::Silent).await;
        let pool = Connections::new(&base, 1, Duration::from_millis(100)).unwrap();

        assert_eq!(pool.send(get(), Turn::UnderWay).await.err(), Some(Lost::Timeout));
        assert_eq!(pool.send(get(), Turn::UnderWay).await.err(), Some(Lost::Timeout));
    }

    #[tokio::test]
    async fn a_request_waiting_for_a_busy_pool_is_counted_with_its_wait() {
        let (base, _) = server(Manner::Silent).await;
        let pool = Arc::new(Connections::new(&base, 1, Duration::from_millis(200)).unwrap());
        let first = tokio::spawn({
            let pool = pool.clone();
            async move { pool.send(get(), Turn::UnderWay).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;

        assert_eq!(pool.send(get(), Turn::UnderWay).await.err(), Some(Lost::Timeout));
        assert_eq!(first.await.unwrap().err(), Some(Lost::Timeout));

        let waits = pool.take_waits();
        assert_eq!(waits.len(), 2);
        assert!(waits.max() >= 150_000, "the second waited {} µs", waits.max());
        assert_eq!(pool.take_waits().len(), 0, "taking them starts afresh");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_transport_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let pool = Connections::new(&base, 1, Duration::from_secs(5)).unwrap();

        assert_eq!(pool.send(get(), Turn::UnderWay).await.err(), Some(Lost::Transport));
    }

    #[test]
    fn only_plain_http_servers() {
        let https = Url::parse("https://127.0.0.1/").unwrap();
        assert!(Connections::new(&https, 1, Duration::from_secs(1)).is_err());
    }
}

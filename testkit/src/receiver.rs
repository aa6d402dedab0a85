//! A recording HTTP(S) receiver on `127.0.0.1:0` whose behaviour is chosen per path.
//!
//! One receiver serves every kind of socket test: the transport's outcome tests
//! (`Mode` produces each status, stall and breakage for real), chaos tests (modes can
//! change while it runs), and benchmarks (the `Mode::Ok` path is a 200 with a
//! two-byte body, and `ReceiverBuilder::record(false)` keeps only counts).
//!
//! ```no_run
//! # async fn demo() {
//! use herald_testkit::receiver::{Mode, Receiver};
//! let receiver = Receiver::builder().mode("/down", Mode::Status(503)).start().await;
//! let url = receiver.url("/down");
//! // ... send to `url` ...
//! assert!(receiver.wait_for(1, std::time::Duration::from_secs(5)).await);
//! # }
//! ```
//!
//! Ownership: `Receiver` owns the accept task, which owns every connection task (a
//! `JoinSet`); dropping the `Receiver` aborts the accept task and with it every
//! connection. Handlers that wait (`Slow`, `NeverAnswer`) also watch a stop channel
//! whose sender the `Receiver` holds, because HTTP/2 runs each stream's handler in a
//! task of its own that aborting the connection does not reach.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use herald::signing::{self, VerifyError, DEFAULT_TOLERANCE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// How the receiver answers requests to one path.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// 200 with the body `ok`.
    Ok,
    /// Always this status, empty body.
    Status(u16),
    /// 500 for the first `n` requests carrying each `webhook-id`, then 200.
    FailFirst(u32),
    /// 500 with this probability (0.0 to 1.0), else 200; the sequence is fixed by
    /// `ReceiverBuilder::seed`.
    RandomFailure(f64),
    /// Waits this long, then 200.
    Slow(Duration),
    /// Reads the request, then never answers (until the receiver is dropped).
    NeverAnswer,
    /// Sends a 200 head and part of the body, then breaks the connection.
    ResetMidResponse,
    /// This status (429 or 503, typically) with this raw `Retry-After` value.
    RetryAfter {
        /// The status to answer with.
        status: u16,
        /// The `Retry-After` header, as sent: seconds or an HTTP date.
        value: String,
    },
    /// 410 Gone.
    Gone,
    /// 302 Found with this `Location`.
    Redirect(String),
    /// 200 with a body of this many bytes, streamed from one static buffer so the
    /// receiver's memory stays flat.
    BigBody(usize),
    /// Cycles by request count on the path: `down` requests get 503, then `up`
    /// requests get 200, and again. Counts rather than time, so tests are exact.
    Flapping {
        /// Failing requests per cycle.
        down: u32,
        /// Succeeding requests per cycle.
        up: u32,
    },
}

impl std::str::FromStr for Mode {
    type Err = String;

    /// Parses the command-line form: `ok`, `status:500`, `fail-first:2`, `random:0.3`,
    /// `slow:250` (ms), `never`, `reset`, `retry-after:429:30`, `gone`,
    /// `redirect:https://example.com/`, `big:1048576`, `flapping:3:7`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, args) = text.split_once(':').unwrap_or((text, ""));
        let number = |value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("`{value}` is not a number in `{text}`"))
        };
        let small = |value: &str| {
            number(value).and_then(|n| {
                u32::try_from(n).map_err(|_| format!("`{value}` is too large in `{text}`"))
            })
        };
        let mode = match name {
            "ok" => Mode::Ok,
            "status" => Mode::Status(
                u16::try_from(number(args)?).map_err(|_| format!("bad status in `{text}`"))?,
            ),
            "fail-first" => Mode::FailFirst(small(args)?),
            "random" => {
                let ratio: f64 = args.parse().map_err(|_| format!("bad ratio in `{text}`"))?;
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(format!("the ratio in `{text}` must be between 0 and 1"));
                }
                Mode::RandomFailure(ratio)
            }
            "slow" => Mode::Slow(Duration::from_millis(number(args)?)),
            "never" => Mode::NeverAnswer,
            "reset" => Mode::ResetMidResponse,
            "retry-after" => {
                let (status, value) = args
                    .split_once(':')
                    .ok_or_else(|| format!("`{text}`: want retry-after:STATUS:VALUE"))?;
                Mode::RetryAfter {
                    status: u16::try_from(number(status)?)
                        .map_err(|_| format!("bad status in `{text}`"))?,
                    value: value.to_owned(),
                }
            }
            "gone" => Mode::Gone,
            "redirect" if !args.is_empty() => Mode::Redirect(args.to_owned()),
            "big" => Mode::BigBody(
                usize::try_from(number(args)?).map_err(|_| format!("too big in `{text}`"))?,
            ),
            "flapping" => {
                let (down, up) = args
                    .split_once(':')
                    .ok_or_else(|| format!("`{text}`: want flapping:DOWN:UP"))?;
                Mode::Flapping {
                    down: small(down)?,
                    up: small(up)?,
                }
            }
            _ => return Err(format!("unknown mode `{text}`")),
        };
        Ok(mode)
    }
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The request method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The request target as received.
    pub uri: Uri,
    /// HTTP/1.1 or HTTP/2.
    pub version: Version,
    /// Every header.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// When the request head arrived.
    pub at: Instant,
    /// Which connection carried it: ids count accepted connections from 0, so equal ids
    /// mean a reused connection.
    pub connection: u64,
    /// The status the receiver answered with (`None` while it has not answered, or
    /// when it never does).
    pub answered: Option<u16>,
}

impl RecordedRequest {
    /// A header's value as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Checks the request's Standard Webhooks signature against `secret` as a
    /// receiver would: its headers and body, the current time, the default tolerance.
    ///
    /// # Errors
    /// Why the signature does not verify (a missing header counts as empty).
    pub fn verify_standard(&self, secret: &str) -> Result<(), VerifyError> {
        let header = |name: &str| self.header(name).unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        signing::verify_standard(
            secret,
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
            &self.body,
            now,
            DEFAULT_TOLERANCE,
        )
    }
}

/// Configures and starts a `Receiver`.
#[derive(Debug)]
pub struct ReceiverBuilder {
    modes: HashMap<String, Mode>,
    default_mode: Mode,
    tls: Option<Arc<rustls::ServerConfig>>,
    record: bool,
    seed: u64,
    bind: SocketAddr,
}

impl ReceiverBuilder {
    /// Listens on this address instead of `127.0.0.1:0` (for the manual-use binary).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Answers requests to `path` (exact match, query ignored) as `mode`.
    pub fn mode(mut self, path: &str, mode: Mode) -> Self {
        self.modes.insert(path.to_owned(), mode);
        self
    }

    /// Answers paths without a mode of their own as `mode` (`Mode::Ok` unless set).
    pub fn default_mode(mut self, mode: Mode) -> Self {
        self.default_mode = mode;
        self
    }

    /// Serves HTTPS with this configuration (see `certs::TestCerts::server_config`).
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Whether to keep each request (`true` by default). Off, only counts are kept,
    /// for benchmarks.
    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// The seed of `Mode::RandomFailure`'s sequence.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Binds (`127.0.0.1:0` unless `bind` was given) and starts serving.
    ///
    /// # Panics
    /// If the address cannot be bound.
    pub async fn start(self) -> Receiver {
        let listener = TcpListener::bind(self.bind)
            .await
            .expect("bind the receiver's address");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (stop_tx, stop_rx) = watch::channel(());
        let (count_tx, _) = watch::channel(0usize);
        let shared = Arc::new(Shared {
            routes: RwLock::new(Routes {
                by_path: self.modes,
                default: self.default_mode,
            }),
            record: self.record,
            requests: Mutex::new(Vec::new()),
            count: count_tx,
            connections: AtomicUsize::new(0),
            attempts_by_id: Mutex::new(HashMap::new()),
            requests_by_path: Mutex::new(HashMap::new()),
            rng: AtomicU64::new(self.seed),
            stop: stop_rx,
        });
        let tls = self.tls.map(TlsAcceptor::from);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), tls));
        Receiver {
            addr,
            scheme,
            shared,
            _stop: stop_tx,
            task,
        }
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    /// Never sent on: dropping it wakes every waiting handler.
    _stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .field("scheme", &self.scheme)
            .field("count", &self.count())
            .finish_non_exhaustive()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// A receiver to configure.
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder {
            modes: HashMap::new(),
            default_mode: Mode::Ok,
            tls: None,
            record: true,
            seed: 0x5EED,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// A plain-HTTP receiver answering 200 on every path.
    pub async fn start() -> Receiver {
        Self::builder().start().await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>` (`https` when serving TLS).
    pub fn url(&self, path: &str) -> String {
        self.url_with_host("127.0.0.1", path)
    }

    /// The URL of `path` with another host name for this receiver, such as `localhost`.
    pub fn url_with_host(&self, host: &str, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!(
            "{}://{}:{}{}{}",
            self.scheme,
            host,
            self.addr.port(),
            slash,
            path
        )
    }

    /// Changes how `path` is answered from now on.
    pub fn set_mode(&self, path: &str, mode: Mode) {
        let mut routes = self.shared.routes.write().expect("routes lock poisoned");
        routes.by_path.insert(path.to_owned(), mode);
    }

    /// Every recorded request, in arrival order (empty when recording is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .expect("requests lock poisoned")
            .clone()
    }

    /// The recorded requests to one path, in arrival order.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .expect("requests lock poisoned")
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// How many requests arrived (counted once their body was read).
    pub fn count(&self) -> usize {
        *self.shared.count.borrow()
    }

    /// Waits until at least `n` requests arrived; `false` if `timeout` passed first.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let mut count = self.shared.count.subscribe();
        let reached = tokio::time::timeout(timeout, count.wait_for(|c| *c >= n)).await;
        matches!(reached, Ok(Ok(_)))
    }

    /// How many TCP connections were accepted (before any TLS handshake).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

/// The modes by path.
struct Routes {
    by_path: HashMap<String, Mode>,
    default: Mode,
}

/// State shared by the `Receiver` handle and every connection and handler task.
struct Shared {
    /// std `RwLock`: never held across an `.await`.
    routes: RwLock<Routes>,
    record: bool,
    requests: Mutex<Vec<RecordedRequest>>,
    /// The request count; a `watch` so `wait_for` cannot miss an increment.
    count: watch::Sender<usize>,
    connections: AtomicUsize,
    /// `Mode::FailFirst`: requests seen per (path, webhook-id).
    attempts_by_id: Mutex<HashMap<(String, String), u32>>,
    /// `Mode::Flapping`: requests seen per path.
    requests_by_path: Mutex<HashMap<String, u64>>,
    /// splitmix64 state for `Mode::RandomFailure`.
    rng: AtomicU64,
    /// Changes (with an error) when the `Receiver` is dropped.
    stop: watch::Receiver<()>,
}

impl Shared {
    fn mode_for(&self, path: &str) -> Mode {
        let routes = self.routes.read().expect("routes lock poisoned");
        routes.by_path.get(path).unwrap_or(&routes.default).clone()
    }

    /// A uniform sample in [0, 1) from splitmix64.
    fn next_unit(&self) -> f64 {
        (splitmix64(&self.rng) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Resolves when the `Receiver` is dropped.
    async fn stopped(&self) {
        let mut stop = self.stop.clone();
        // Err means the sender is gone: that is the signal.
        while stop.changed().await.is_ok() {}
    }
}

/// The next value of a splitmix64 sequence whose state is `state`: cheap, lock-free
/// and repeatable from a seed (failure ratios of test and bench receivers).
pub fn splitmix64(state: &AtomicU64) -> u64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut z = state
        .fetch_add(GAMMA, Ordering::Relaxed)
        .wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                // An accept error (a connection reset while queued, out of file
                // descriptors) concerns one connection; keep serving.
                let Ok((stream, _peer)) = accepted else { continue };
                let id = next_id;
                next_id += 1;
                shared.connections.fetch_add(1, Ordering::Relaxed);
                connections.spawn(serve(stream, id, Arc::clone(&shared), tls.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, id: u64, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(Arc::clone(&shared), id, request));
    let builder = auto::Builder::new(TokioExecutor::new());
    // Connection errors (a client that resets, a failed handshake) end this
    // connection only; tests observe them from the client side.
    match tls {
        None => {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
        Some(acceptor) => {
            if let Ok(stream) = acceptor.accept(stream).await {
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    connection: u64,
    request: Request<Incoming>,
) -> Result<Response<ReplyBody>, Infallible> {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    // A body cut short by the client is recorded as far as it got.
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let mode = shared.mode_for(&path);
    let webhook_id = match mode {
        Mode::FailFirst(_) => parts
            .headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    let index = shared.record.then(|| {
        let recorded = RecordedRequest {
            method: parts.method,
            path: path.clone(),
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            body,
            at,
            connection,
            answered: None,
        };
        let mut requests = shared.requests.lock().expect("requests lock poisoned");
        requests.push(recorded);
        requests.len() - 1
    });
    shared.count.send_modify(|count| *count += 1);
    let response = respond(&shared, mode, &path, webhook_id).await;
    if let Some(index) = index {
        let mut requests = shared.requests.lock().expect("requests lock poisoned");
        if let Some(recorded) = requests.get_mut(index) {
            recorded.answered = Some(response.status().as_u16());
        }
    }
    Ok(response)
}

async fn respond(
    shared: &Shared,
    mode: Mode,
    path: &str,
    webhook_id: String,
) -> Response<ReplyBody> {
    match mode {
        Mode::Ok => ok(),
        Mode::Status(status) => status_only(status),
        Mode::Gone => status_only(410),
        Mode::FailFirst(n) => {
            let seen = {
                let mut by_id = shared
                    .attempts_by_id
                    .lock()
                    .expect("attempts lock poisoned");
                let seen = by_id.entry((path.to_owned(), webhook_id)).or_insert(0);
                *seen += 1;
                *seen
            };
            if seen <= n {
                status_only(500)
            } else {
                ok()
            }
        }
        Mode::RandomFailure(ratio) => {
            if shared.next_unit() < ratio {
                status_only(500)
            } else {
                ok()
            }
        }
        Mode::Flapping { down, up } => {
            let seen = {
                let mut by_path = shared
                    .requests_by_path
                    .lock()
                    .expect("flapping lock poisoned");
                let seen = by_path.entry(path.to_owned()).or_insert(0);
                *seen += 1;
                *seen - 1
            };
            let cycle = u64::from(down) + u64::from(up);
            if cycle > 0 && seen % cycle < u64::from(down) {
                status_only(503)
            } else {
                ok()
            }
        }
        Mode::Slow(delay) => {
            tokio::select! {
                _ = tokio::time::sleep(delay) => ok(),
                _ = shared.stopped() => status_only(503),
            }
        }
        Mode::NeverAnswer => {
            shared.stopped().await;
            status_only(503)
        }
        Mode::ResetMidResponse => Response::new(ReplyBody::Broken {
            prefix: Some(Bytes::from_static(b"{\"partial\":")),
            yielded: false,
        }),
        Mode::RetryAfter { status, value } => {
            let mut response = status_only(status);
            if let Ok(value) = HeaderValue::from_str(&value) {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, value);
            }
            response
        }
        Mode::Redirect(location) => {
            let mut response = status_only(302);
            if let Ok(location) = HeaderValue::from_str(&location) {
                response
                    .headers_mut()
                    .insert(http::header::LOCATION, location);
            }
            response
        }
        Mode::BigBody(len) => Response::new(ReplyBody::Big { remaining: len }),
    }
}

fn ok() -> Response<ReplyBody> {
    Response::new(ReplyBody::Full(Some(Bytes::from_static(b"ok"))))
}

fn status_only(status: u16) -> Response<ReplyBody> {
    let mut response = Response::new(ReplyBody::Full(None));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// `Mode::BigBody` streams slices of this buffer.
static FILLER: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// The receiver's response bodies, without boxing (the `Mode::Ok` path stays cheap).
enum ReplyBody {
    /// A body known in full; `None` once sent (or empty from the start).
    Full(Option<Bytes>),
    /// `remaining` more bytes of filler.
    Big { remaining: usize },
    /// Sends `prefix`, yields once so hyper flushes the head and the prefix, then
    /// fails, which makes hyper drop the connection (HTTP/1) or reset the stream
    /// (HTTP/2).
    Broken {
        prefix: Option<Bytes>,
        yielded: bool,
    },
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let frame = match self.get_mut() {
            ReplyBody::Full(bytes) => bytes.take().map(|b| Ok(Frame::data(b))),
            ReplyBody::Big { remaining } => {
                if *remaining == 0 {
                    None
                } else {
                    let len = (*remaining).min(FILLER.len());
                    *remaining -= len;
                    Some(Ok(Frame::data(Bytes::from_static(&FILLER[..len]))))
                }
            }
            ReplyBody::Broken { prefix, yielded } => match prefix.take() {
                Some(prefix) => Some(Ok(Frame::data(prefix))),
                // Without this pause hyper would fail the response before writing
                // anything, and the client would never see the head.
                None if !*yielded => {
                    *yielded = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                None => Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "test receiver breaks the response on purpose",
                ))),
            },
        };
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Full(bytes) => bytes.is_none(),
            ReplyBody::Big { remaining } => *remaining == 0,
            ReplyBody::Broken { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReplyBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ReplyBody::Big { remaining } => SizeHint::with_exact(*remaining as u64),
            ReplyBody::Broken { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper_util::client::legacy::{connect::HttpConnector, Client};

    const WAIT: Duration = Duration::from_secs(10);

    type TestClient = Client<HttpConnector, Full<Bytes>>;

    fn client() -> TestClient {
        Client::builder(TokioExecutor::new()).build_http()
    }

    async fn post(client: &TestClient, url: &str, webhook_id: &str) -> u16 {
        let request = Request::post(url)
            .header("webhook-id", webhook_id)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let response = tokio::time::timeout(WAIT, client.request(request))
            .await
            .unwrap()
            .unwrap();
        response.status().as_u16()
    }

    #[test]
    fn modes_parse_from_their_command_line_form() {
        assert_eq!("ok".parse::<Mode>().unwrap(), Mode::Ok);
        assert_eq!("status:503".parse::<Mode>().unwrap(), Mode::Status(503));
        assert_eq!("fail-first:2".parse::<Mode>().unwrap(), Mode::FailFirst(2));
        assert_eq!(
            "slow:250".parse::<Mode>().unwrap(),
            Mode::Slow(Duration::from_millis(250))
        );
        assert_eq!(
            "retry-after:429:Wed, 21 Oct 2015 07:28:00 GMT"
                .parse::<Mode>()
                .unwrap(),
            Mode::RetryAfter {
                status: 429,
                value: "Wed, 21 Oct 2015 07:28:00 GMT".into()
            }
        );
        assert_eq!(
            "flapping:3:7".parse::<Mode>().unwrap(),
            Mode::Flapping { down: 3, up: 7 }
        );
        for bad in [
            "",
            "status",
            "status:x",
            "random:2",
            "flapping:1",
            "teapot",
            "redirect",
        ] {
            assert!(bad.parse::<Mode>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn fail_first_counts_per_webhook_id() {
        let receiver = Receiver::builder()
            .mode("/f", Mode::FailFirst(2))
            .start()
            .await;
        let client = client();
        let url = receiver.url("/f");
        let mut statuses = Vec::new();
        for id in ["a", "a", "b", "a", "b", "b"] {
            statuses.push(post(&client, &url, id).await);
        }
        assert_eq!(statuses, [500, 500, 500, 200, 500, 200]);
    }

    #[tokio::test]
    async fn flapping_cycles_by_request_count() {
        let receiver = Receiver::builder()
            .mode("/flap", Mode::Flapping { down: 2, up: 1 })
            .start()
            .await;
        let client = client();
        let url = receiver.url("/flap");
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(post(&client, &url, "x").await);
        }
        assert_eq!(statuses, [503, 503, 200, 503, 503, 200]);
    }

    #[tokio::test]
    async fn random_failure_follows_the_seed() {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let receiver = Receiver::builder()
                .default_mode(Mode::RandomFailure(0.5))
                .seed(7)
                .start()
                .await;
            let client = client();
            let mut statuses = Vec::new();
            for _ in 0..20 {
                statuses.push(post(&client, &receiver.url("/r"), "x").await);
            }
            runs.push(statuses);
        }
        assert_eq!(runs[0], runs[1]);
        assert!(runs[0].contains(&500) && runs[0].contains(&200));
    }

    #[tokio::test]
    async fn modes_can_change_while_running_and_requests_are_recorded() {
        let receiver = Receiver::start().await;
        let client = client();
        assert_eq!(post(&client, &receiver.url("/p"), "x").await, 200);
        receiver.set_mode("/p", Mode::Status(503));
        assert_eq!(post(&client, &receiver.url("/p"), "y").await, 503);
        assert!(receiver.wait_for(2, WAIT).await);
        let recorded = receiver.requests_to("/p");
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[1].header("webhook-id"), Some("y"));
        assert_eq!(&recorded[0].body[..], b"{}");
        assert_eq!(recorded[0].connection, recorded[1].connection);
        assert_eq!(receiver.connections(), 1);
    }

    #[tokio::test]
    async fn wait_for_gives_up_after_its_timeout() {
        let receiver = Receiver::start().await;
        assert!(!receiver.wait_for(1, Duration::from_millis(20)).await);
    }

    #[tokio::test]
    async fn dropping_the_receiver_ends_a_request_it_never_answered() {
        let receiver = Receiver::builder()
            .default_mode(Mode::NeverAnswer)
            .start()
            .await;
        let request = Request::post(receiver.url("/stall"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let pending = tokio::spawn(client().request(request));
        assert!(receiver.wait_for(1, WAIT).await);
        drop(receiver);
        // Either an error (connection gone) or the stop answer; what matters is that it ends.
        assert!(tokio::time::timeout(WAIT, pending).await.is_ok());
    }
}

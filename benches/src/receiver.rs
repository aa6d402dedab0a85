//! `BenchReceiver`: a minimal hyper HTTP/1.1 receiver on `127.0.0.1:0` that answers
//! deliveries and stamps each one's publish-to-delivery latency.
//!
//! The latency is arrival time minus the `"t"` stamp the publisher put in the event
//! data (`payload`), so it spans publish, storage, hand-off, signing and the request.
//! Paths under `/fail/` always answer 500 (failing endpoints); the others answer 200
//! after the configured delay, or 500 with the configured probability, or 503 while
//! the receiver is "down". Only 200s on healthy paths are counted as deliveries and
//! give latency samples, each delivery (`x-delivery-id`) once: a delivery answered
//! 200 again is counted as a duplicate instead.
//!
//! A load-tool row running in a child process drives the receiver of its parent over
//! HTTP: `GET /_count` (deliveries so far), `GET /_stats` (`ReceiverStats` as JSON),
//! `POST /_reset` (forget everything), `POST /_config?delay_ms=&fail_ppm=&down=`.
//!
//! Ownership: `BenchReceiver` owns the accept task, which owns every connection task;
//! dropping it aborts them all.

use std::collections::HashSet;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::payload::{find_stamp, unix_nanos};
use crate::stats::Percentiles;

/// What the receiver saw since its last reset.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReceiverStats {
    /// Deliveries answered 200 on healthy paths.
    pub ok: u64,
    /// Requests answered with an error status.
    pub failed: u64,
    /// Deliveries answered 200 again after their first 200 (not in `ok`).
    #[serde(default)]
    pub duplicates: u64,
    /// Arrival of the first counted delivery (Unix nanos; 0 if none).
    pub first_ns: u64,
    /// Arrival of the last counted delivery (Unix nanos; 0 if none).
    pub last_ns: u64,
    /// Publish-to-delivery latency of the counted deliveries.
    pub latency: Percentiles,
}

/// How the receiver answers, shared with every connection.
#[derive(Debug, Default)]
struct State {
    ok: AtomicU64,
    failed: AtomicU64,
    duplicates: AtomicU64,
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    /// What each counted delivery left; a std `Mutex`, never held across an `.await`.
    counted: Mutex<Counted>,
    delay_ms: AtomicU64,
    /// Random failures per million requests.
    fail_ppm: AtomicU64,
    down: AtomicBool,
    /// splitmix64 state for random failures.
    rng: AtomicU64,
}

/// The samples and the delivery ids of the counted deliveries, under one lock.
#[derive(Debug, Default)]
struct Counted {
    /// Latencies in microseconds.
    samples: Vec<u64>,
    /// Hashes of the delivery ids answered 200.
    delivered: HashSet<u64>,
}

impl State {
    fn reset(&self) {
        self.ok.store(0, Ordering::SeqCst);
        self.failed.store(0, Ordering::SeqCst);
        self.duplicates.store(0, Ordering::SeqCst);
        self.first_ns.store(0, Ordering::SeqCst);
        self.last_ns.store(0, Ordering::SeqCst);
        let mut counted = self.counted.lock().unwrap();
        counted.samples.clear();
        counted.delivered.clear();
    }

    fn stats(&self) -> ReceiverStats {
        let mut samples = self.counted.lock().unwrap().samples.clone();
        ReceiverStats {
            ok: self.ok.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            duplicates: self.duplicates.load(Ordering::SeqCst),
            first_ns: self.first_ns.load(Ordering::SeqCst),
            last_ns: self.last_ns.load(Ordering::SeqCst),
            latency: Percentiles::of_micros(&mut samples),
        }
    }

    /// A uniform sample in [0, 1_000_000).
    fn next_ppm(&self) -> u64 {
        herald_testkit::receiver::splitmix64(&self.rng) % 1_000_000
    }

    /// Counts a 200: a delivery's first, or a duplicate of one counted before.
    fn count_ok(&self, delivery_id: Option<&[u8]>, body: &[u8]) {
        let now = unix_nanos();
        let hash = delivery_id.map(|id| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut hasher);
            hasher.finish()
        });
        let sample = find_stamp(body).map(|sent| now.saturating_sub(sent) / 1000);
        {
            let mut counted = self.counted.lock().unwrap();
            if hash.is_some_and(|hash| !counted.delivered.insert(hash)) {
                drop(counted);
                self.duplicates.fetch_add(1, Ordering::SeqCst);
                return;
            }
            counted.samples.extend(sample);
        }
        let _ = self
            .first_ns
            .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
        self.last_ns.fetch_max(now, Ordering::SeqCst);
        self.ok.fetch_add(1, Ordering::SeqCst);
    }

    fn configure(&self, query: &str) {
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = value.parse::<u64>().unwrap_or(0);
            match key {
                "delay_ms" => self.delay_ms.store(number, Ordering::SeqCst),
                "fail_ppm" => self.fail_ppm.store(number, Ordering::SeqCst),
                "down" => self.down.store(number != 0, Ordering::SeqCst),
                _ => {}
            }
        }
    }
}

/// A running receiver; stops when dropped.
#[derive(Debug)]
pub struct BenchReceiver {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for BenchReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BenchReceiver {
    /// Binds `127.0.0.1:0` and serves.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        state.rng.store(0x5EED, Ordering::SeqCst);
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        Self { addr, state, task }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Deliveries counted so far.
    pub fn count(&self) -> u64 {
        self.state.ok.load(Ordering::SeqCst)
    }

    /// Everything seen since the last reset.
    pub fn stats(&self) -> ReceiverStats {
        self.state.stats()
    }

    /// Forgets counts and samples.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Sets the answer delay, the random failure ratio and whether it is down.
    pub fn configure(&self, delay: Duration, failure_ratio: f64, down: bool) {
        let ppm = (failure_ratio.clamp(0.0, 1.0) * 1_000_000.0) as u64;
        self.state.configure(&format!(
            "delay_ms={}&fail_ppm={ppm}&down={}",
            delay.as_millis(),
            u8::from(down)
        ));
    }

    /// Takes it down (503 to everything) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Waits until `n` deliveries were counted; false if `timeout` passed first.
    pub async fn wait_for(&self, n: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.count() < n {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path();
    if let Some(control) = path.strip_prefix("/_") {
        let reply = match control {
            "count" => answer(StatusCode::OK, state.ok.load(Ordering::SeqCst).to_string()),
            "stats" => answer(
                StatusCode::OK,
                serde_json::to_vec(&state.stats()).unwrap_or_default(),
            ),
            "reset" => {
                state.reset();
                answer(StatusCode::OK, "ok")
            }
            "config" => {
                state.configure(parts.uri.query().unwrap_or(""));
                answer(StatusCode::OK, "ok")
            }
            _ => answer(StatusCode::NOT_FOUND, ""),
        };
        return Ok(reply);
    }
    if path.starts_with("/fail/") {
        state.failed.fetch_add(1, Ordering::Relaxed);
        return Ok(answer(StatusCode::INTERNAL_SERVER_ERROR, ""));
    }
    if state.down.load(Ordering::Relaxed) {
        state.failed.fetch_add(1, Ordering::Relaxed);
        return Ok(answer(StatusCode::SERVICE_UNAVAILABLE, ""));
    }
    let delay = state.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let fail = state.fail_ppm.load(Ordering::Relaxed);
    if fail > 0 && state.next_ppm() < fail {
        state.failed.fetch_add(1, Ordering::Relaxed);
        return Ok(answer(StatusCode::INTERNAL_SERVER_ERROR, ""));
    }
    let delivery_id = parts.headers.get("x-delivery-id").map(|v| v.as_bytes());
    state.count_ok(delivery_id, &body);
    Ok(answer(StatusCode::OK, "ok"))
}

/// A receiver of another process, driven over its control paths.
#[derive(Debug, Clone)]
pub struct RemoteReceiver {
    base: String,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
}

impl RemoteReceiver {
    /// The receiver listening on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Self {
            base: format!("http://{addr}"),
            client,
        }
    }

    async fn call(&self, method: hyper::Method, path: &str) -> Bytes {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        response.into_body().collect().await.unwrap().to_bytes()
    }

    /// Deliveries counted so far.
    pub async fn count(&self) -> u64 {
        let body = self.call(hyper::Method::GET, "/_count").await;
        std::str::from_utf8(&body).unwrap().parse().unwrap()
    }

    /// Everything seen since the last reset.
    pub async fn stats(&self) -> ReceiverStats {
        serde_json::from_slice(&self.call(hyper::Method::GET, "/_stats").await).unwrap()
    }

    /// Forgets counts and samples.
    pub async fn reset(&self) {
        self.call(hyper::Method::POST, "/_reset").await;
    }

    /// Sets the answer delay, random failure ratio and whether it is down.
    pub async fn configure(&self, delay: Duration, failure_ratio: f64, down: bool) {
        let ppm = (failure_ratio.clamp(0.0, 1.0) * 1_000_000.0) as u64;
        let path = format!(
            "/_config?delay_ms={}&fail_ppm={ppm}&down={}",
            delay.as_millis(),
            u8::from(down)
        );
        self.call(hyper::Method::POST, &path).await;
    }

    /// Waits until `n` deliveries were counted; false if `timeout` passed first.
    pub async fn wait_for(&self, n: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.count().await < n {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

//! `HttpPublisher`: publishes over `heraldd`'s HTTP API with a pooled hyper-util
//! client, as a publishing service would: a publish refused with 503 or 429 is sent
//! again after `retry-after`, and each publish is timed from its first request to
//! its 202 when asked to.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::load::Publisher;
use crate::setup;
use crate::stats::Percentiles;

/// Posts each event to one tenant's `/events` route, on one node or spread over
/// several (event `seq` to node `seq mod nodes`).
#[derive(Debug)]
pub struct HttpPublisher {
    client: Client<HttpConnector, Full<Bytes>>,
    uris: Vec<http::Uri>,
    authorization: http::HeaderValue,
    timing: AtomicBool,
    /// Request-to-answer times in microseconds, while `timing`.
    latencies: Mutex<Vec<u64>>,
    /// Answers 503 or 429 (each publish is sent again until it is taken).
    refused: AtomicU64,
}

/// Times one publish is sent before it is given up.
const MAX_TRIES: usize = 20;

/// The answer's `retry-after` (whole seconds, at most 5), else one second.
fn retry_after<B>(response: &http::Response<B>) -> Duration {
    let secs = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs.min(5))
}

impl HttpPublisher {
    /// Posts to `urls` (the same route on each node) with `token`, keeping up to
    /// `pool` idle connections per node.
    pub fn new(urls: Vec<String>, token: &str, pool: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(pool.max(32))
            .build(connector);
        Self {
            client,
            uris: urls.iter().map(|url| url.parse().unwrap()).collect(),
            authorization: format!("Bearer {token}").parse().unwrap(),
            timing: AtomicBool::new(false),
            latencies: Mutex::new(Vec::new()),
            refused: AtomicU64::new(0),
        }
    }
}

impl Publisher for HttpPublisher {
    async fn publish(&self, seq: u64, data: String, _fan_out: bool) {
        let uri = &self.uris[(seq % self.uris.len() as u64) as usize];
        let body = Bytes::from(format!(
            "{{\"type\":\"{}\",\"data\":{data}}}",
            setup::EVENT_TYPE
        ));
        let sent = Instant::now();
        for _ in 0..MAX_TRIES {
            let mut request = http::Request::new(Full::new(body.clone()));
            *request.method_mut() = http::Method::POST;
            *request.uri_mut() = uri.clone();
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, self.authorization.clone());
            request.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            let response = match self.client.request(request).await {
                Ok(response) => response,
                Err(error) => {
                    eprintln!("publish failed: {error}");
                    return;
                }
            };
            let status = response.status();
            let wait = retry_after(&response);
            let answer = response.into_body().collect().await.map(|b| b.to_bytes());
            match status {
                http::StatusCode::ACCEPTED => {
                    if self.timing.load(Ordering::Relaxed) {
                        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        self.latencies.lock().unwrap().push(micros);
                    }
                    return;
                }
                // Sent again after `retry-after`, as a publisher should; the wait is in
                // the publish's time.
                http::StatusCode::SERVICE_UNAVAILABLE | http::StatusCode::TOO_MANY_REQUESTS => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    eprintln!("publish answered {status}: {answer:?}");
                    return;
                }
            }
        }
        eprintln!("publish refused {MAX_TRIES} times");
    }

    fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn time_publishes(&self) {
        self.latencies.lock().unwrap().clear();
        self.timing.store(true, Ordering::Relaxed);
    }

    fn publish_latency(&self) -> Option<Percentiles> {
        let mut samples = self.latencies.lock().unwrap().clone();
        Some(Percentiles::of_micros(&mut samples))
    }
}

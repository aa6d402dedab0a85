//! `HttpPublisher`: publishes over `heraldd`'s HTTP API with a pooled hyper-util
//! client, as a publishing service would, and times each publish from its request to
//! its answer when asked to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::load::Publisher;
use crate::setup;
use crate::stats::Percentiles;

/// Posts each event to one tenant's `/events` route.
#[derive(Debug)]
pub struct HttpPublisher {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: http::Uri,
    authorization: http::HeaderValue,
    timing: AtomicBool,
    /// Request-to-answer times in microseconds, while `timing`.
    latencies: Mutex<Vec<u64>>,
}

impl HttpPublisher {
    /// Posts to `url` with `token`, keeping up to `pool` idle connections.
    pub fn new(url: String, token: &str, pool: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(pool.max(32))
            .build(connector);
        Self {
            client,
            uri: url.parse().unwrap(),
            authorization: format!("Bearer {token}").parse().unwrap(),
            timing: AtomicBool::new(false),
            latencies: Mutex::new(Vec::new()),
        }
    }
}

impl Publisher for HttpPublisher {
    async fn publish(&self, _seq: u64, data: String, _fan_out: bool) {
        let body = format!("{{\"type\":\"{}\",\"data\":{data}}}", setup::EVENT_TYPE);
        let mut request = http::Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri.clone();
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, self.authorization.clone());
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let sent = Instant::now();
        match self.client.request(request).await {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await.map(|b| b.to_bytes());
                if status != http::StatusCode::ACCEPTED {
                    eprintln!("publish answered {status}: {body:?}");
                } else if self.timing.load(Ordering::Relaxed) {
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.latencies.lock().unwrap().push(micros);
                }
            }
            Err(error) => eprintln!("publish failed: {error}"),
        }
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

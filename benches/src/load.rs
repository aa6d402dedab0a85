//! Publishers and the two ways of driving them: closed-loop (`concurrency` workers as
//! fast as they go, for throughput) and paced (a fixed rate, for latency).
//!
//! A `Publisher` sends one unit of work stamped with its send time: for Herald one
//! publish; for the baseline, one request (`fan_out: false`) or one request to each
//! endpoint (`fan_out: true`, the same work as one publish).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use herald::ids::DeliveryId;
use herald::signing::{sign, SecretSet, SignatureScheme};
use herald::{Engine, Event, EventId, NewEvent, TenantId, Timestamp};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::payload::{stamped_data, unix_nanos};
use crate::setup::EVENT_TYPE;

/// Something that sends one unit of work.
pub trait Publisher: Send + Sync + 'static {
    /// Sends unit `seq` carrying `data`; `fan_out` asks for the work of a whole event.
    fn publish(&self, seq: u64, data: String, fan_out: bool) -> impl Future<Output = ()> + Send;

    /// Starts timing each publish until its answer, from no samples (publishers over
    /// HTTP; the others ignore it).
    fn time_publishes(&self) {}

    /// The publishes timed since `time_publishes`; `None` when this publisher does
    /// not time them.
    fn publish_latency(&self) -> Option<crate::stats::Percentiles> {
        None
    }

    /// Publishes refused so far (503 or 429) and sent again.
    fn refused(&self) -> u64 {
        0
    }
}

/// Publishes through an embedded engine.
#[derive(Debug, Clone)]
pub struct EnginePublisher {
    /// The engine.
    pub engine: Engine,
    /// The tenant published to.
    pub tenant: TenantId,
}

impl Publisher for EnginePublisher {
    async fn publish(&self, _seq: u64, data: String, _fan_out: bool) {
        let event = NewEvent::new(EVENT_TYPE, &data).unwrap();
        if let Err(error) = self.engine.publish(&self.tenant, event).await {
            eprintln!("publish failed: {error}");
        }
    }
}

/// One target of the baseline client: a URL and the secret that signs for it.
#[derive(Debug, Clone)]
pub struct BaselineTarget {
    /// Where to POST.
    pub uri: http::Uri,
    /// Signs every request.
    pub secrets: SecretSet,
}

/// The machine's ceiling: a bare pooled hyper-util client sending the requests Herald
/// would send (same envelope, same signature, same headers), retrying 5xx at once.
#[derive(Debug, Clone)]
pub struct BaselinePublisher {
    client: Client<HttpConnector, Full<Bytes>>,
    targets: Vec<BaselineTarget>,
    tenant: TenantId,
}

impl BaselinePublisher {
    /// A client keeping up to `pool` idle connections.
    pub fn new(targets: Vec<BaselineTarget>, pool: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool.max(32))
            .build(connector);
        Self {
            client,
            targets,
            tenant: crate::setup::tenant(),
        }
    }

    fn request(&self, target: &BaselineTarget, event: &Event) -> http::Request<Full<Bytes>> {
        let now = Timestamp::from_system(std::time::SystemTime::now());
        let body = Bytes::from(event.body());
        let timestamp = now.as_secs();
        let signatures = sign(
            SignatureScheme::Standard,
            &target.secrets,
            now,
            event.id.as_str(),
            timestamp,
            &body,
        );
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = target.uri.clone();
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static("Herald/bench"));
        let mut set = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        set("webhook-id", event.id.as_str());
        set("webhook-timestamp", &timestamp.to_string());
        if let Some(signature) = &signatures.webhook_signature {
            set("webhook-signature", signature);
        }
        set("x-event-type", &event.event_type);
        set("x-delivery-id", DeliveryId::generate().as_str());
        set("x-delivery-attempt", "1");
        request
    }

    async fn send(&self, target: &BaselineTarget, event: &Event) {
        for _ in 0..100 {
            match self.client.request(self.request(target, event)).await {
                Ok(response) if response.status().is_success() => return,
                Ok(_) => {}
                Err(error) => {
                    eprintln!("baseline request failed: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}

impl Publisher for BaselinePublisher {
    async fn publish(&self, seq: u64, data: String, fan_out: bool) {
        let event = Event {
            id: EventId::generate(),
            tenant: self.tenant.clone(),
            event_type: EVENT_TYPE.to_owned(),
            channels: Vec::new(),
            created_at: Timestamp::from_system(std::time::SystemTime::now()),
            data: data.into(),
            deliveries: u32::try_from(self.targets.len()).unwrap_or(u32::MAX),
        };
        if fan_out {
            let event = Arc::new(event);
            let mut sends = tokio::task::JoinSet::new();
            for target in &self.targets {
                let (me, target, event) = (self.clone(), target.clone(), event.clone());
                sends.spawn(async move { me.send(&target, &event).await });
            }
            while sends.join_next().await.is_some() {}
        } else {
            let index = usize::try_from(seq).unwrap_or(0) % self.targets.len();
            self.send(&self.targets[index], &event).await;
        }
    }
}

/// Sends `units` units with `concurrency` workers as fast as they go; returns how long
/// sending took (until the last unit returned).
pub async fn closed_loop<P: Publisher>(
    publisher: Arc<P>,
    units: u64,
    concurrency: usize,
    payload: usize,
    fan_out: bool,
) -> Duration {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let publisher = publisher.clone();
        let next = next.clone();
        workers.spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= units {
                    break;
                }
                let data = stamped_data(unix_nanos(), payload);
                publisher.publish(seq, data, fan_out).await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
    started.elapsed()
}

/// Sends `rate` units per second for `secs` seconds, each in a task of its own so a
/// slow one never delays the schedule; returns how many were sent.
pub async fn paced<P: Publisher>(
    publisher: Arc<P>,
    rate: u64,
    secs: u64,
    payload: usize,
    fan_out: bool,
) -> u64 {
    let total = rate.saturating_mul(secs);
    let start = tokio::time::Instant::now();
    let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut tasks = tokio::task::JoinSet::new();
    for seq in 0..total {
        tokio::time::sleep_until(start + period.mul_f64(seq as f64)).await;
        let publisher = publisher.clone();
        tasks.spawn(async move {
            let data = stamped_data(unix_nanos(), payload);
            publisher.publish(seq, data, fan_out).await;
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    total
}

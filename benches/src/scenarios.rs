//! Scenarios beyond raw speed, each a subcommand of `herald-bench`:
//!
//! - `idle`: many registered endpoints, few active: start-up time and memory of
//!   `Engine::start` on a sled store, and actors only for endpoints with work.
//! - `pileup`: the receiver is down while deliveries pile up (memory while piled up),
//!   then the engine restarts on the same sled store with the receiver back: time to
//!   resume and to drain.
//! - `failing`: some endpoints answer 500 (or another tenant's endpoints are
//!   tarpits: they accept and never answer) while the others are served: the healthy
//!   endpoints' latency against an all-healthy run.
//!
//! The parent process owns the receiver and the data directory; every measurement
//! runs in a child process (`child`), so memory figures are the engine's process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::{NewEvent, Storage, TenantId, Timestamp};
use herald_testkit::conformance;
use serde::{Deserialize, Serialize};

use crate::payload::{stamped_data, unix_nanos};
use crate::receiver::RemoteReceiver;
use crate::setup;
use crate::stats::Percentiles;

/// What a scenario child is asked to do (passed as JSON in a hidden flag).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ChildTask {
    /// `idle`: start on the store in `dir` and exercise `active` of `total` endpoints.
    Idle {
        /// The sled data directory.
        dir: PathBuf,
        /// Registered endpoints.
        total: usize,
        /// Endpoints that get events.
        active: usize,
        /// Events per active endpoint.
        events_each: u64,
    },
    /// `idle`: the subscription index alone for the endpoints in `dir`.
    IdleIndex {
        /// The sled data directory.
        dir: PathBuf,
    },
    /// `pileup`, first half: publish `deliveries` while the receiver is down.
    PileupFill {
        /// The sled data directory.
        dir: PathBuf,
        /// Deliveries to pile up.
        deliveries: u64,
        /// Endpoints they are spread over.
        endpoints: usize,
        /// The breaker's first cooldown.
        breaker_cooldown_ms: u64,
    },
    /// `pileup`, second half: restart on the store and drain `deliveries`.
    PileupDrain {
        /// The sled data directory.
        dir: PathBuf,
        /// Deliveries expected.
        deliveries: u64,
        /// The breaker's first cooldown.
        breaker_cooldown_ms: u64,
    },
    /// `failing`: one run of `shape` on `storage` (`memory` or `sled`).
    Failing {
        /// What runs and fails.
        shape: FailingShape,
        /// `memory` or `sled`.
        storage: String,
    },
}

/// Runs a scenario child's task against the receiver at `addr`; returns its result
/// as JSON.
pub async fn run_child(task: ChildTask, addr: SocketAddr) -> serde_json::Value {
    match task {
        ChildTask::Idle {
            dir,
            total,
            active,
            events_each,
        } => serde_json::to_value(idle_child(dir, total, active, events_each, addr).await),
        ChildTask::IdleIndex { dir } => serde_json::to_value(index_child(dir).await),
        ChildTask::PileupFill {
            dir,
            deliveries,
            endpoints,
            breaker_cooldown_ms,
        } => serde_json::to_value(
            pileup_fill(dir, deliveries, endpoints, breaker_cooldown_ms, addr).await,
        ),
        ChildTask::PileupDrain {
            dir,
            deliveries,
            breaker_cooldown_ms,
        } => serde_json::to_value(pileup_drain(dir, deliveries, breaker_cooldown_ms, addr).await),
        ChildTask::Failing { shape, storage } => {
            serde_json::to_value(failing_run(shape, &storage, addr).await)
        }
    }
    .unwrap()
}

// ---------------------------------------------------------------- idle endpoints

/// Tenant of endpoint `i` in the idle scenario: 1,000 endpoints per tenant.
fn idle_tenant(i: usize) -> TenantId {
    TenantId::parse(&format!("t{}", i / 1000)).unwrap()
}

/// Event type endpoint `i` subscribes to: one of its own, so an event reaches one endpoint.
fn idle_type(i: usize) -> String {
    format!("bench.e{i}")
}

/// Writes `total` endpoints straight into the sled store at `dir`, 256 writers at once
/// (so group commit batches them).
pub async fn populate_idle_store(dir: &std::path::Path, total: usize, addr: SocketAddr) {
    let storage = setup::sled_storage(dir);
    let next = Arc::new(AtomicU64::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..256 {
        let storage = storage.clone();
        let next = next.clone();
        writers.spawn(async move {
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap();
                if i >= total {
                    break;
                }
                let now = Timestamp::from_system(std::time::SystemTime::now());
                let mut endpoint = conformance::endpoint(&idle_tenant(i));
                endpoint.url = setup::endpoint_url(addr, i, false);
                endpoint.event_types = vec![idle_type(i)];
                endpoint.created_at = now;
                endpoint.updated_at = now;
                storage.create_endpoint(&endpoint).await.unwrap();
            }
        });
    }
    while writers.join_next().await.is_some() {}
    storage.flush().await.unwrap();
}

/// What the idle scenario measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdleResult {
    /// Registered endpoints.
    pub total: usize,
    /// Endpoints that got events.
    pub active: usize,
    /// Opening the sled store, in ms.
    pub open_ms: f64,
    /// `Engine::start` on it, in ms.
    pub start_ms: f64,
    /// RSS before opening the store, MiB.
    pub rss_before_mb: f64,
    /// RSS once the store was open, before `Engine::start`, MiB: sled's open is mostly
    /// a fixed cost (its buffers), so `rss_started_mb - rss_opened_mb` is what starting
    /// the engine on these endpoints added.
    pub rss_opened_mb: f64,
    /// RSS once the engine started, MiB.
    pub rss_started_mb: f64,
    /// (RSS started - RSS before) / total, in bytes: an upper bound of what one idle
    /// endpoint costs (it includes sled's cache of the pages read at start).
    pub bytes_per_idle_endpoint: f64,
    /// (RSS started - RSS opened) / total, in bytes: what `Engine::start` added per
    /// endpoint (the subscription index, and sled's cache of the records it read).
    pub bytes_per_endpoint_at_start: f64,
    /// Endpoint actors right after start.
    pub actors_after_start: usize,
    /// Most endpoint actors seen while the active endpoints were served.
    pub actors_peak: usize,
    /// Endpoint actors once the active ones had been idle for a while.
    pub actors_after_idle: usize,
    /// Seconds from the last delivery until no actor was left.
    pub idle_stop_secs: f64,
    /// RSS after serving the active endpoints, MiB.
    pub rss_after_active_mb: f64,
    /// Whether every event of the active endpoints was delivered.
    pub delivered_all: bool,
}

/// What the subscription index of the idle scenario's endpoints costs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexResult {
    /// Endpoints indexed.
    pub endpoints: usize,
    /// RSS growth while building the index, per endpoint, in bytes.
    pub bytes_per_endpoint: f64,
}

/// An RSS growth of `mib` MiB shared by `count` items, in bytes each.
fn bytes_each(mib: f64, count: usize) -> f64 {
    mib * 1024.0 * 1024.0 / count.max(1) as f64
}

/// Reads every endpoint (and keeps them, so nothing freed is reused), then builds the
/// Router's `SubscriptionIndex` from them: the RSS growth is the index alone.
async fn index_child(dir: PathBuf) -> IndexResult {
    let storage = setup::sled_storage(&dir);
    let endpoints = storage.all_endpoints().await.unwrap();
    let before = crate::rss::current_mib();
    let mut index = herald::filter::SubscriptionIndex::new();
    for endpoint in &endpoints {
        index.upsert(endpoint);
    }
    let after = crate::rss::current_mib();
    let result = IndexResult {
        endpoints: index.len(),
        bytes_per_endpoint: bytes_each(after - before, endpoints.len()),
    };
    drop(index);
    drop(endpoints);
    result
}

async fn idle_child(
    dir: PathBuf,
    total: usize,
    active: usize,
    events_each: u64,
    addr: SocketAddr,
) -> IdleResult {
    let receiver = RemoteReceiver::new(addr);
    receiver.reset().await;
    let rss_before_mb = crate::rss::current_mib();
    let opened = Instant::now();
    let storage = setup::sled_storage(&dir);
    let open_ms = opened.elapsed().as_secs_f64() * 1000.0;
    let rss_opened_mb = crate::rss::current_mib();
    let started = Instant::now();
    let engine = setup::start_engine(storage, setup::engine_config(), 64).await;
    let start_ms = started.elapsed().as_secs_f64() * 1000.0;
    let rss_started_mb = crate::rss::current_mib();
    let actors_after_start = engine.running_endpoint_actors().await.unwrap();

    // Publish `events_each` events to each active endpoint, 64 publishers at once,
    // sampling the actor count meanwhile.
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let engine = engine.clone();
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(n) = engine.running_endpoint_actors().await {
                    peak.fetch_max(n as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let next = Arc::new(AtomicU64::new(0));
    let units = active as u64 * events_each;
    let mut publishers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (engine, next) = (engine.clone(), next.clone());
        publishers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= units {
                    break;
                }
                let i = usize::try_from(n).unwrap() % active;
                let event = NewEvent::new(idle_type(i), &stamped_data(unix_nanos(), 256)).unwrap();
                engine.publish(&idle_tenant(i), event).await.unwrap();
            }
        });
    }
    while publishers.join_next().await.is_some() {}
    let delivered_all = receiver.wait_for(units, Duration::from_secs(120)).await;
    let rss_after_active_mb = crate::rss::current_mib();
    let last_delivery = Instant::now();
    let mut actors_after_idle = usize::MAX;
    while last_delivery.elapsed() < Duration::from_secs(30) {
        actors_after_idle = engine.running_endpoint_actors().await.unwrap();
        if actors_after_idle == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle_stop_secs = last_delivery.elapsed().as_secs_f64();
    sampler.abort();
    let _ = engine.shutdown(Duration::from_secs(2)).await;
    IdleResult {
        total,
        active,
        open_ms,
        start_ms,
        rss_before_mb,
        rss_opened_mb,
        rss_started_mb,
        bytes_per_idle_endpoint: bytes_each(rss_started_mb - rss_before_mb, total),
        bytes_per_endpoint_at_start: bytes_each(rss_started_mb - rss_opened_mb, total),
        actors_after_start,
        actors_peak: usize::try_from(peak.load(Ordering::Relaxed)).unwrap(),
        actors_after_idle,
        idle_stop_secs,
        rss_after_active_mb,
        delivered_all,
    }
}

// ---------------------------------------------------------------- pile-up and restart

fn pileup_config(breaker_cooldown_ms: u64) -> herald::EngineConfig {
    let mut config = setup::engine_config();
    // Every piled-up delivery must survive the outage: retry each second, 50 times.
    config.delivery.retry_schedule = vec![Duration::from_secs(1); 50];
    config.delivery.breaker_cooldown = Duration::from_millis(breaker_cooldown_ms);
    config
}

/// What the pile-up half measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FillResult {
    /// Deliveries created (events x endpoints).
    pub deliveries: u64,
    /// Seconds publishing took.
    pub publish_secs: f64,
    /// Deliveries pending in storage at the end.
    pub pending: u64,
    /// Endpoint actors holding them.
    pub actors: usize,
    /// RSS with everything piled up, MiB.
    pub rss_piled_mb: f64,
    /// Peak RSS of the process, MiB.
    pub peak_rss_mb: f64,
}

async fn pileup_fill(
    dir: PathBuf,
    deliveries: u64,
    endpoints: usize,
    breaker_cooldown_ms: u64,
    addr: SocketAddr,
) -> FillResult {
    let storage = setup::sled_storage(&dir);
    let engine = setup::start_engine(storage.clone(), pileup_config(breaker_cooldown_ms), 64).await;
    let tenant = setup::tenant();
    let created = setup::create_endpoints(&engine, &tenant, addr, endpoints, 16).await;
    let events = deliveries.div_ceil(endpoints.max(1) as u64);
    let publisher = Arc::new(crate::load::EnginePublisher {
        engine: engine.clone(),
        tenant,
    });
    let publish_time = crate::load::closed_loop(publisher, events, 64, 256, false).await;
    // Let hand-offs and the first failed attempts settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut pending = 0;
    for endpoint in &created {
        pending += storage
            .delivery_counts(&endpoint.info.endpoint.id)
            .await
            .unwrap()
            .pending;
    }
    let actors = engine.running_endpoint_actors().await.unwrap();
    let rss_piled_mb = crate::rss::current_mib();
    let _ = engine.shutdown(Duration::from_secs(2)).await;
    drop(engine);
    FillResult {
        deliveries: events * endpoints as u64,
        publish_secs: publish_time.as_secs_f64(),
        pending,
        actors,
        rss_piled_mb,
        peak_rss_mb: crate::rss::peak_mib(),
    }
}

/// What the restart half measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrainResult {
    /// Opening the store and `Engine::start`, ms.
    pub start_ms: f64,
    /// From the start of `open` to the first delivery, seconds.
    pub first_delivery_secs: f64,
    /// From the start of `open` to the last delivery, seconds.
    pub drain_secs: f64,
    /// Deliveries per second while draining.
    pub drain_per_sec: f64,
    /// Deliveries counted.
    pub delivered: u64,
    /// Peak RSS while draining, MiB.
    pub peak_rss_mb: f64,
}

async fn pileup_drain(
    dir: PathBuf,
    deliveries: u64,
    breaker_cooldown_ms: u64,
    addr: SocketAddr,
) -> DrainResult {
    let receiver = RemoteReceiver::new(addr);
    let began = Instant::now();
    // The previous process released the store; sled may take a moment to let go.
    let storage = loop {
        match herald_storage_sled::SledStorage::open(&dir) {
            Ok(storage) => break Arc::new(storage),
            Err(_) if began.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("reopening the store: {error}"),
        }
    };
    let engine = setup::start_engine(storage, pileup_config(breaker_cooldown_ms), 64).await;
    let start_ms = began.elapsed().as_secs_f64() * 1000.0;
    receiver.wait_for(1, Duration::from_secs(600)).await;
    let first_delivery_secs = began.elapsed().as_secs_f64();
    receiver
        .wait_for(deliveries, Duration::from_secs(1800))
        .await;
    let drain_secs = began.elapsed().as_secs_f64();
    let delivered = receiver.count().await;
    let _ = engine.shutdown(Duration::from_secs(2)).await;
    DrainResult {
        start_ms,
        first_delivery_secs,
        drain_secs,
        drain_per_sec: delivered as f64 / (drain_secs - first_delivery_secs).max(1e-9),
        delivered,
        peak_rss_mb: crate::rss::peak_mib(),
    }
}

// ---------------------------------------------------------------- failing endpoints

/// What one run of the failing scenario measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailingRun {
    /// Endpoints failing in this run.
    pub failing: usize,
    /// Tarpit endpoints of the other tenant in this run.
    #[serde(default)]
    pub tarpits: usize,
    /// Connections the tarpit listener accepted in the run (it keeps each open).
    #[serde(default)]
    pub tarpit_connections: usize,
    /// The child's open file descriptors at the end of the run.
    #[serde(default)]
    pub open_files: usize,
    /// Events published.
    pub events: u64,
    /// Deliveries to healthy endpoints counted.
    pub healthy_deliveries: u64,
    /// Failed requests answered (500s).
    pub failed_requests: u64,
    /// Healthy endpoints' publish-to-delivery latency.
    pub latency: Percentiles,
}

/// The shape of one `failing` run: `rate` events/s for `secs` to `endpoints`, of
/// which `failing` answer 500, beside `tarpits` endpoints of another tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailingShape {
    /// Endpoints of the tenant.
    pub endpoints: usize,
    /// How many of them answer 500.
    pub failing: usize,
    /// Endpoints of another tenant at a listener that accepts and never answers.
    pub tarpits: usize,
    /// Events per second.
    pub rate: u64,
    /// Seconds of measurement.
    pub secs: u64,
    /// Consecutive failures that open an endpoint's breaker.
    pub breaker_threshold: u32,
}

/// A listener that accepts connections and never answers: it holds each one open.
async fn tarpit() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(AtomicU64::new(0));
    let count = held.clone();
    tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            streams.push(stream);
            count.store(streams.len() as u64, Ordering::Relaxed);
        }
    });
    (addr, held)
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

async fn failing_run(shape: FailingShape, storage: &str, addr: SocketAddr) -> FailingRun {
    let FailingShape {
        endpoints,
        failing,
        tarpits,
        rate,
        secs,
        breaker_threshold,
    } = shape;
    let receiver = RemoteReceiver::new(addr);
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = match storage {
        "sled" => setup::sled_storage(dir.path()),
        _ => setup::memory_storage(),
    };
    let mut config = setup::engine_config();
    config.delivery = herald::DeliveryDefaults {
        breaker_threshold,
        ..herald::DeliveryDefaults::default()
    };
    let engine = setup::start_engine(storage, config, 64).await;
    let tenant = setup::tenant();
    for i in 0..endpoints {
        let url = setup::endpoint_url(addr, i, i < failing);
        engine
            .create_endpoint(&tenant, herald::NewEndpoint::new(url))
            .await
            .unwrap();
    }
    // The other tenant's tarpits, each given work for the whole run: every attempt
    // hangs until the endpoint's timeout, holding what the engine lets it hold.
    let (tarpit_addr, tarpit_held) = tarpit().await;
    let tarpit_tenant = TenantId::parse("tarpit").unwrap();
    for i in 0..tarpits {
        let url = format!("http://{tarpit_addr}/t/{i}");
        engine
            .create_endpoint(&tarpit_tenant, herald::NewEndpoint::new(url))
            .await
            .unwrap();
    }
    if tarpits > 0 {
        for n in 0..20 {
            let event = NewEvent::new("tarpit.fill", &format!("{{\"n\":{n}}}")).unwrap();
            engine.publish(&tarpit_tenant, event).await.unwrap();
        }
    }
    let publisher = Arc::new(crate::load::EnginePublisher {
        engine: engine.clone(),
        tenant,
    });
    let healthy = (endpoints - failing.min(endpoints)) as u64;
    // One second of warm-up at the same rate, then the measured run.
    let warm = crate::load::paced(publisher.clone(), rate, 1, 256, true).await;
    receiver
        .wait_for(warm * healthy, Duration::from_secs(60))
        .await;
    receiver.reset().await;
    let events = crate::load::paced(publisher, rate, secs, 256, true).await;
    receiver
        .wait_for(events * healthy, Duration::from_secs(120))
        .await;
    let stats = receiver.stats().await;
    let (tarpit_connections, open_files) =
        (tarpit_held.load(Ordering::Relaxed) as usize, open_files());
    let _ = engine.shutdown(Duration::from_secs(1)).await;
    FailingRun {
        failing,
        tarpits,
        tarpit_connections,
        open_files,
        events,
        healthy_deliveries: stats.ok,
        failed_requests: stats.failed,
        latency: stats.latency,
    }
}

//! Engines, transports and endpoints as every row and scenario builds them, and the
//! load parameters they share.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use herald::profile::{Profile, ProfileSpec};
use herald::{
    CreatedEndpoint, DestinationPolicy, Engine, EngineConfig, NewEndpoint, Storage, TenantId,
};
use herald_storage_memory::MemoryStorage;
use herald_storage_sled::SledStorage;
use herald_transport_http::{HttpTransport, HttpTransportConfig};
use serde::{Deserialize, Serialize};

/// The event type every benchmark publishes.
pub const EVENT_TYPE: &str = "bench.tick";

/// What one throughput run is made of (the flags of `herald-bench`).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct LoadParams {
    /// Events published in the throughput phase of each row.
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Endpoints of the one tenant; every event goes to each of them.
    #[arg(long, default_value_t = 4)]
    pub endpoints: usize,
    /// Size of each event's `data`, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload: usize,
    /// Publishers at once; also the delivery concurrency (endpoints x max_in_flight)
    /// and the baseline client's requests in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long the receiver waits before answering, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub receiver_latency_ms: u64,
    /// Share of requests the receiver answers 500 (retried by Herald).
    #[arg(long, default_value_t = 0.0)]
    pub failure_ratio: f64,
    /// Events per second of the latency phase.
    #[arg(long, default_value_t = 1000)]
    pub paced_rate: u64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 4)]
    pub paced_secs: u64,
    /// Rounds of the whole row list, interleaved (baseline, memory, ..., then again);
    /// each row reports its best round, so a burst of interference on this shared
    /// machine does not decide a ratio.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
}

impl LoadParams {
    /// Each endpoint's `max_in_flight`, so that all of them together have
    /// `concurrency` attempts in flight.
    pub fn max_in_flight(&self) -> u32 {
        let per = self.concurrency.div_ceil(self.endpoints.max(1));
        u32::try_from(per.max(1)).unwrap_or(u32::MAX)
    }
}

/// A transport allowed to reach 127.0.0.1 over plain HTTP, keeping up to `pool`
/// idle connections to it (every endpoint of a run shares one host).
pub fn transport(pool: usize) -> Arc<HttpTransport> {
    Arc::new(
        HttpTransport::new(HttpTransportConfig {
            destinations: DestinationPolicy::permissive(),
            pool_max_idle_per_host: pool.max(32),
            ..Default::default()
        })
        .unwrap(),
    )
}

/// The name of the benchmarks' `js` profile: the standard envelope, headers and
/// signature, with the JSON written as JavaScript writes it.
pub const JS_PROFILE: &str = "bench-js";

/// The `js` profile of `JS_PROFILE`.
pub fn js_profile() -> Profile {
    let headers = [
        ("event_id", "webhook-id"),
        ("timestamp", "webhook-timestamp"),
        ("signature", "webhook-signature"),
        ("event_type", "x-event-type"),
        ("delivery_id", "x-delivery-id"),
        ("attempt", "x-delivery-attempt"),
    ];
    let spec = ProfileSpec {
        envelope: Some(
            [
                "id=event_id",
                "type=event_type",
                "created_at=time:rfc3339_ms",
                "data=data",
            ]
            .map(String::from)
            .to_vec(),
        ),
        headers: headers
            .iter()
            .map(|(role, name)| (role.to_string(), name.to_string()))
            .collect(),
        signature: "standard".into(),
        key: "whsec".into(),
        json: Some("js".into()),
        ..ProfileSpec::default()
    };
    Profile::from_spec(JS_PROFILE, spec).unwrap()
}

/// The engine configuration of the benchmarks: the defaults, 127.0.0.1 allowed, the
/// `js` profile, and short retry delays so that a failure ratio does not stretch a
/// run by minutes.
pub fn engine_config() -> EngineConfig {
    let mut config = EngineConfig {
        destinations: DestinationPolicy::permissive(),
        profiles: vec![js_profile()],
        ..Default::default()
    };
    config.delivery.retry_schedule = [100, 200, 500, 1000, 1000, 1000, 1000, 1000]
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    config
}

/// Opens a sled store in `dir` (a real directory on disk, so flushes are real).
pub fn sled_storage(dir: &Path) -> Arc<SledStorage> {
    Arc::new(SledStorage::open(dir).unwrap())
}

/// A fresh in-memory store.
pub fn memory_storage() -> Arc<MemoryStorage> {
    Arc::new(MemoryStorage::new())
}

/// Starts an engine on `storage` with the benchmark transport.
pub async fn start_engine(storage: Arc<dyn Storage>, config: EngineConfig, pool: usize) -> Engine {
    Engine::start(storage, transport(pool), config)
        .await
        .unwrap()
}

/// The tenant of the throughput rows.
pub fn tenant() -> TenantId {
    TenantId::parse("bench").unwrap()
}

/// `http://<addr>/ep/<i>`: the URL of endpoint `i` (or `/fail/<i>` when failing).
pub fn endpoint_url(addr: SocketAddr, i: usize, failing: bool) -> String {
    let dir = if failing { "fail" } else { "ep" };
    format!("http://{addr}/{dir}/{i}")
}

/// Creates `count` endpoints of `tenant` at the receiver, each with `max_in_flight`.
pub async fn create_endpoints(
    engine: &Engine,
    tenant: &TenantId,
    addr: SocketAddr,
    count: usize,
    max_in_flight: u32,
) -> Vec<CreatedEndpoint> {
    create_endpoints_with(engine, tenant, addr, count, max_in_flight, None).await
}

/// `create_endpoints`, each on `profile` when given.
pub async fn create_endpoints_with(
    engine: &Engine,
    tenant: &TenantId,
    addr: SocketAddr,
    count: usize,
    max_in_flight: u32,
    profile: Option<&str>,
) -> Vec<CreatedEndpoint> {
    let mut created = Vec::with_capacity(count);
    for i in 0..count {
        let mut input = NewEndpoint::new(endpoint_url(addr, i, false));
        input.max_in_flight = Some(max_in_flight);
        input.profile = profile.map(str::to_owned);
        created.push(engine.create_endpoint(tenant, input).await.unwrap());
    }
    created
}

/// A multi-threaded runtime on every core (two here).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

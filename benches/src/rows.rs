//! The rows of the throughput table. Each runs in a process of its own (so its peak
//! RSS is its own) against its parent's `BenchReceiver`, in three phases:
//!
//! 1. warm-up: a few hundred events, so connections and caches exist;
//! 2. throughput: `events` publishes closed-loop with `concurrency` publishers;
//!    publishes/s counts until the last publish returned, deliveries/s until the
//!    receiver counted the last delivery;
//! 3. latency: `paced_rate` events/s for `paced_secs`; the receiver's
//!    publish-to-delivery percentiles are the row's p50/p99/p99.9.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herald::{Engine, TenantId};
use serde::{Deserialize, Serialize};

use crate::heraldd::{HeralddProcess, HeralddStorage};
use crate::http_publisher::HttpPublisher;
use crate::load::{
    closed_loop, paced, BaselinePublisher, BaselineTarget, EnginePublisher, Publisher,
};
use crate::payload::unix_nanos;
use crate::receiver::RemoteReceiver;
use crate::setup::{self, LoadParams};

/// The rows, in the order they run.
pub const ROWS: [&str; 8] = [
    "baseline",
    "memory",
    "sled",
    "daemon",
    "daemon-sled",
    "daemon-sled-1",
    "postgres",
    "postgres3",
];

/// How long a phase may wait for its deliveries before the row reports what it got.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// Events of the warm-up phase.
const WARMUP_EVENTS: u64 = 500;

/// One row of the table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    /// `baseline`, `memory`, `sled`, `daemon`, `daemon-sled`, `daemon-sled-1`,
    /// `postgres` or `postgres3`.
    pub name: String,
    /// Publishes per second, closed-loop (for the baseline: deliveries / endpoints).
    pub publishes_per_sec: f64,
    /// Deliveries per second, closed-loop, publish start to last delivery.
    pub deliveries_per_sec: f64,
    /// `deliveries_per_sec` over the baseline's.
    pub ratio_to_baseline: f64,
    /// Publish-to-delivery latency at `paced_rate`, median.
    pub p50_ms: f64,
    /// ... 99th percentile.
    pub p99_ms: f64,
    /// ... 99.9th percentile.
    pub p999_ms: f64,
    /// Peak resident memory of the row's process.
    pub peak_rss_mb: f64,
    /// Publish-to-delivery p99 during the closed-loop phase (queueing included).
    pub saturated_p99_ms: f64,
    /// Deliveries counted in the throughput phase (events x endpoints when complete).
    pub deliveries: u64,
    /// Whether every delivery of both phases arrived in time.
    pub complete: bool,
    /// Deliveries of both phases that arrived again after their first 200.
    #[serde(default)]
    pub duplicates: u64,
    /// Share of the throughput phase's wall time that sled's commit thread was on a
    /// CPU (sled row only; near 1.0 means it is the bottleneck).
    pub commit_thread_busy: f64,
    /// CPU milliseconds of the whole row process per delivery in the throughput phase
    /// (the receiver, in the parent process, is not included).
    pub cpu_ms_per_delivery: f64,
    /// Publish (request to answer) p99 in the latency phase, for rows publishing over
    /// HTTP (0 for the others).
    #[serde(default)]
    pub publish_p99_ms: f64,
    /// CPU microseconds of the `heraldd` process per event and per delivery in the
    /// throughput phase, for the rows that run it as a process of its own (0 for the
    /// others).
    #[serde(default)]
    pub server_cpu_us_per_event: f64,
    /// ... per delivery.
    #[serde(default)]
    pub server_cpu_us_per_delivery: f64,
    /// Publishes over HTTP answered 503 `overloaded` or 429 and sent again after
    /// `retry-after` (their wait is in the publish p99).
    #[serde(default)]
    pub publishes_refused: u64,
    /// CPU microseconds of the PostgreSQL server (postmaster and backends) per
    /// delivery in the throughput phase, for the rows on PostgreSQL (0 for others).
    #[serde(default)]
    pub database_cpu_us_per_delivery: f64,
}

/// The processes a row's figures read besides its own: the `heraldd` processes
/// serving its publishes, and the PostgreSQL server they use.
#[derive(Debug, Clone, Default)]
struct Servers {
    heraldd: Vec<u32>,
    database: Option<u32>,
}

/// Runs the three phases with `publisher`; `fan_out` says the publisher sends one
/// request per unit (the baseline), so a unit is a delivery rather than an event.
///
/// `servers` are the `heraldd` processes serving the publishes (their CPU in the
/// throughput phase is the row's server CPU, their peak RSS summed the row's) and the
/// PostgreSQL server they use (its CPU, backends included).
async fn measure<P: Publisher>(
    name: &str,
    publisher: Arc<P>,
    params: &LoadParams,
    receiver: &RemoteReceiver,
    per_request: bool,
    servers: Servers,
) -> Row {
    let server_cpu_now = || {
        servers
            .heraldd
            .iter()
            .map(|pid| crate::rss::process_cpu_secs(*pid))
            .sum::<f64>()
    };
    let database_cpu_now = || {
        servers
            .database
            .map_or(0.0, crate::rss::process_tree_cpu_secs)
    };
    let fan = params.endpoints.max(1) as u64;
    let (units, unit_deliveries) = if per_request {
        (params.events * fan, 1)
    } else {
        (params.events, fan)
    };

    receiver.reset().await;
    let warm = if per_request {
        WARMUP_EVENTS * fan
    } else {
        WARMUP_EVENTS
    };
    closed_loop(
        publisher.clone(),
        warm,
        params.concurrency,
        params.payload,
        false,
    )
    .await;
    let mut complete = arrived(receiver, name, "warm-up", warm * unit_deliveries).await;
    // Pending retries of the warm-up must not leak into the next phase.
    tokio::time::sleep(Duration::from_millis(200)).await;

    receiver.reset().await;
    let commit_cpu = crate::rss::thread_cpu_secs("herald-sled-com");
    let process_cpu = crate::rss::thread_cpu_secs("");
    let server_cpu = server_cpu_now();
    let database_cpu = database_cpu_now();
    let start_ns = unix_nanos();
    let publishing = closed_loop(
        publisher.clone(),
        units,
        params.concurrency,
        params.payload,
        false,
    )
    .await;
    let expected = units * unit_deliveries;
    complete &= arrived(receiver, name, "throughput", expected).await;
    let throughput = receiver.stats().await;
    let delivering = Duration::from_nanos(throughput.last_ns.saturating_sub(start_ns));
    let commit_cpu = crate::rss::thread_cpu_secs("herald-sled-com") - commit_cpu;
    let process_cpu = crate::rss::thread_cpu_secs("") - process_cpu;
    let server_cpu = server_cpu_now() - server_cpu;
    let database_cpu = database_cpu_now() - database_cpu;
    tokio::time::sleep(Duration::from_millis(200)).await;

    receiver.reset().await;
    publisher.time_publishes();
    let sent = paced(
        publisher.clone(),
        params.paced_rate,
        params.paced_secs,
        params.payload,
        true,
    )
    .await;
    complete &= arrived(receiver, name, "latency", sent * fan).await;
    let latency = receiver.stats().await;
    let publish_p99_ms = publisher.publish_latency().map_or(0.0, |p| p.p99_ms);
    let (events, deliveries) = (params.events as f64, throughput.ok.max(1) as f64);

    Row {
        name: name.to_owned(),
        publishes_per_sec: params.events as f64 / publishing.as_secs_f64().max(1e-9),
        deliveries_per_sec: throughput.ok as f64 / delivering.as_secs_f64().max(1e-9),
        ratio_to_baseline: 0.0,
        p50_ms: latency.latency.p50_ms,
        p99_ms: latency.latency.p99_ms,
        p999_ms: latency.latency.p999_ms,
        peak_rss_mb: if servers.heraldd.is_empty() {
            crate::rss::peak_mib()
        } else {
            servers
                .heraldd
                .iter()
                .map(|pid| crate::rss::peak_mib_of(*pid))
                .sum()
        },
        saturated_p99_ms: throughput.latency.p99_ms,
        deliveries: throughput.ok,
        complete,
        duplicates: throughput.duplicates + latency.duplicates,
        commit_thread_busy: commit_cpu / delivering.as_secs_f64().max(1e-9),
        cpu_ms_per_delivery: process_cpu * 1000.0 / deliveries,
        publish_p99_ms,
        server_cpu_us_per_event: server_cpu * 1e6 / events,
        server_cpu_us_per_delivery: server_cpu * 1e6 / deliveries,
        publishes_refused: publisher.refused(),
        database_cpu_us_per_delivery: database_cpu * 1e6 / deliveries,
    }
}

/// Waits up to `DRAIN_TIMEOUT` for `expected` deliveries of a phase; says on stderr
/// how many came when they did not all come.
async fn arrived(receiver: &RemoteReceiver, row: &str, phase: &str, expected: u64) -> bool {
    let all = receiver.wait_for(expected, DRAIN_TIMEOUT).await;
    if !all {
        let stats = receiver.stats().await;
        eprintln!(
            "row {row}, {phase} phase: {} of {expected} deliveries arrived within {DRAIN_TIMEOUT:?}",
            stats.ok
        );
    }
    all
}

/// Runs row `name` against the receiver at `addr` (in this process).
pub async fn run_row(name: &str, params: &LoadParams, addr: SocketAddr) -> Row {
    let receiver = RemoteReceiver::new(addr);
    receiver
        .configure(
            Duration::from_millis(params.receiver_latency_ms),
            params.failure_ratio,
            false,
        )
        .await;
    match name {
        "baseline" => baseline(params, &receiver, addr).await,
        "memory" => {
            let storage = setup::memory_storage();
            embedded(name, storage, params, &receiver, addr).await
        }
        "memory-js" => {
            let storage = setup::memory_storage();
            embedded(name, storage, params, &receiver, addr).await
        }
        "sled" => {
            let dir = tempfile::tempdir().unwrap();
            let storage = setup::sled_storage(dir.path());
            let row = embedded(name, storage, params, &receiver, addr).await;
            drop(dir);
            row
        }
        "daemon" => daemon(params, &receiver, addr).await,
        "daemon-sled" => daemon_sled(name, params, &receiver, addr).await,
        "daemon-sled-1" => {
            let one_endpoint = LoadParams {
                endpoints: 1,
                ..params.clone()
            };
            daemon_sled(name, &one_endpoint, &receiver, addr).await
        }
        "postgres" => postgres(name, 1, params, &receiver, addr).await,
        "postgres3" => postgres(name, 3, params, &receiver, addr).await,
        other => panic!("unknown row {other}"),
    }
}

async fn baseline(params: &LoadParams, receiver: &RemoteReceiver, addr: SocketAddr) -> Row {
    let targets = (0..params.endpoints.max(1))
        .map(|i| BaselineTarget {
            uri: setup::endpoint_url(addr, i, false).parse().unwrap(),
            secrets: herald::signing::SecretSet::new(herald::Secret::generate()),
        })
        .collect();
    let publisher = Arc::new(BaselinePublisher::new(targets, params.concurrency));
    let mut row = measure(
        "baseline",
        publisher,
        params,
        receiver,
        true,
        Servers::default(),
    )
    .await;
    row.publishes_per_sec = row.deliveries_per_sec / params.endpoints.max(1) as f64;
    row
}

async fn embedded(
    name: &str,
    storage: Arc<dyn herald::Storage>,
    params: &LoadParams,
    receiver: &RemoteReceiver,
    addr: SocketAddr,
) -> Row {
    let profile = (name == "memory-js").then_some(setup::JS_PROFILE);
    let engine = setup::start_engine(storage, setup::engine_config(), params.concurrency).await;
    let tenant = load_tenant(&engine, addr, params, profile).await;
    let publisher = Arc::new(EnginePublisher {
        engine: engine.clone(),
        tenant,
    });
    let row = measure(name, publisher, params, receiver, false, Servers::default()).await;
    let _ = engine.shutdown(Duration::from_secs(2)).await;
    row
}

/// The run's tenant with its `params.endpoints` endpoints on the receiver at `addr`,
/// each allowed `params.max_in_flight()` attempts at once.
async fn load_tenant(
    engine: &Engine,
    addr: SocketAddr,
    params: &LoadParams,
    profile: Option<&str>,
) -> TenantId {
    let tenant = setup::tenant();
    setup::create_endpoints_with(
        engine,
        &tenant,
        addr,
        params.endpoints.max(1),
        params.max_in_flight(),
        profile,
    )
    .await;
    tenant
}

/// The daemon row: `heraldd` in this process (memory storage) on `127.0.0.1:0`,
/// publishers posting to its HTTP API with a pooled hyper-util client.
async fn daemon(params: &LoadParams, receiver: &RemoteReceiver, addr: SocketAddr) -> Row {
    use herald_examples::config::{DaemonConfig, Sensitive, StorageKind};

    let dir = tempfile::tempdir().unwrap();
    let token = "bench-token-0123456789abcdef0123456789";
    let config = DaemonConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        storage: StorageKind::Memory,
        api_token: Some(Sensitive::new(token)),
        engine: setup::engine_config(),
        ..DaemonConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let daemon = herald_examples::Daemon::start(config, listener)
        .await
        .unwrap();
    let engine = daemon.engine().clone();
    let base = daemon.url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(daemon.serve(async move {
        let _ = stopped.await;
    }));
    let tenant = load_tenant(&engine, addr, params, None).await;
    let publisher = Arc::new(HttpPublisher::new(
        vec![format!("{base}/v1/tenants/{tenant}/events")],
        token,
        params.concurrency,
    ));
    let row = measure(
        "daemon",
        publisher,
        params,
        receiver,
        false,
        Servers::default(),
    )
    .await;
    let _ = stop.send(());
    let _ = serving.await;
    row
}

/// The default deployment: the `heraldd` binary on sled as a process of its own,
/// publishers posting to its HTTP API (`heraldd.rs`).
async fn daemon_sled(
    name: &str,
    params: &LoadParams,
    receiver: &RemoteReceiver,
    addr: SocketAddr,
) -> Row {
    let daemons = vec![HeralddProcess::start(HeralddStorage::Sled).await];
    heraldd_row(name, daemons, None, params, receiver, addr).await
}

/// `nodes` `heraldd` processes on one PostgreSQL database (a durable server of this
/// process, `TestPostgres::durable`), publishers spread over them.
async fn postgres(
    name: &str,
    nodes: usize,
    params: &LoadParams,
    receiver: &RemoteReceiver,
    addr: SocketAddr,
) -> Row {
    let server = herald_testkit::postgres::TestPostgres::durable();
    let url = server.database().await;
    let keys = herald::sealing::SealingKey::generate().to_text();
    let mut daemons = Vec::new();
    for node in 0..nodes {
        let storage = HeralddStorage::Postgres {
            url: url.clone(),
            keys: keys.clone(),
            node_id: format!("bench-{node}"),
        };
        daemons.push(HeralddProcess::start(storage).await);
    }
    daemons[0].await_cluster(nodes).await;
    let statements = StatementStats::start(&url).await;
    let row = heraldd_row(name, daemons, server.server_pid(), params, receiver, addr).await;
    if let Some(statements) = statements {
        statements.report(name, row.deliveries).await;
    }
    row
}

/// Measures running `heraldd` processes: the row's endpoints created through the
/// first, publishes spread over all of them, their CPU (and `database`'s, the
/// PostgreSQL server they use, when given) read from `/proc`; stops them after.
async fn heraldd_row(
    name: &str,
    daemons: Vec<HeralddProcess>,
    database: Option<u32>,
    params: &LoadParams,
    receiver: &RemoteReceiver,
    addr: SocketAddr,
) -> Row {
    daemons[0]
        .create_endpoints(addr, params.endpoints.max(1), params.max_in_flight())
        .await;
    let publisher = Arc::new(HttpPublisher::new(
        daemons.iter().map(HeralddProcess::events_url).collect(),
        daemons[0].token(),
        params.concurrency,
    ));
    let servers = Servers {
        heraldd: daemons.iter().map(|d| d.pid).collect(),
        database,
    };
    let row = measure(name, publisher, params, receiver, false, servers).await;
    for daemon in daemons {
        daemon.stop().await;
    }
    row
}

/// What each SQL statement cost the PostgreSQL server during a row, from
/// `pg_stat_statements` when the server has it (`TestPostgres::durable` loads it).
struct StatementStats {
    client: tokio_postgres::Client,
}

impl StatementStats {
    /// Installs the extension in the row's database and zeroes its counts; `None`
    /// when the server lacks it.
    async fn start(url: &str) -> Option<Self> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .ok()?;
        tokio::spawn(connection);
        client
            .batch_execute(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
                 SELECT pg_stat_statements_reset();",
            )
            .await
            .ok()?;
        Some(Self { client })
    }

    /// Prints the statements that took the most server time, per delivery.
    async fn report(&self, row: &str, deliveries: u64) {
        let Ok(rows) = self
            .client
            .query(
                "SELECT calls, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
                 FROM pg_stat_statements
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                 ORDER BY total_exec_time DESC LIMIT 12",
                &[],
            )
            .await
        else {
            return;
        };
        let per = deliveries.max(1) as f64;
        eprintln!("row {row}: statements by server time (warm-up and all phases), per delivery of the throughput phase:");
        for r in rows {
            let calls: i64 = r.get(0);
            let total_ms: f64 = r.get(1);
            let query: String = r.get(2);
            eprintln!(
                "  {:>7.2} calls {:>7.1} µs  {query}",
                calls as f64 / per,
                total_ms * 1000.0 / per
            );
        }
    }
}

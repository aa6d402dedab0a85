//! The `stream` scenario of `herald-bench`: `heraldd` in this process (memory
//! storage, no endpoints) with `consumers` Server-Sent Events connections, each on a
//! socket of its own, all following one tenant's stream (access.md §6).
//!
//! 1. memory: the resident memory one open stream costs, as `Engine::stream`s alone
//!    (the engine's share) and as SSE connections with both ends in this process;
//! 2. throughput: `events` publishes through the engine, `concurrency` at a time;
//!    events/s counts every event every consumer received, from the first publish to
//!    the last receipt;
//! 3. latency, once every consumer has read the throughput phase's events: `rate`
//!    events/s for `secs`; publish-to-receive percentiles over every consumer's
//!    receipts.
//!
//! `stream_buffer` is set above `events`, so that consumers are measured, not
//! closed; `overflows` reports any that were.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use herald::{NewEvent, StreamFilter};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

use crate::payload::{find_stamp, stamped_data, unix_nanos};
use crate::rss;
use crate::setup;
use crate::stats::Percentiles;

/// One run's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamRun {
    /// Consumers (SSE connections).
    pub consumers: usize,
    /// Events published in the throughput phase.
    pub events: u64,
    /// Bytes of each event's data.
    pub payload: usize,
    /// Events published per second in the throughput phase.
    pub publishes_per_sec: f64,
    /// Events received per second, all consumers together.
    pub received_per_sec: f64,
    /// Publish-to-receive latency in the paced phase, every consumer's receipts.
    pub latency: Percentiles,
    /// Events per second of the paced phase.
    pub paced_rate: u64,
    /// Resident memory per open `Engine::stream` (the engine's share), bytes.
    pub engine_bytes_per_stream: f64,
    /// Resident memory per open SSE connection, both ends in this process, bytes.
    pub sse_bytes_per_stream: f64,
    /// Streams that ended before their last event (an overflow; 0 when the
    /// consumers kept up).
    pub overflows: u64,
    /// Whether every consumer received every event.
    pub complete: bool,
}

/// Bounds each phase's wait for its receipts.
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the scenario.
pub async fn run(consumers: usize, events: u64, payload: usize, rate: u64, secs: u64) -> StreamRun {
    use herald_examples::config::{DaemonConfig, Sensitive, StorageKind};

    let dir = tempfile::tempdir().unwrap();
    let token = "bench-token-0123456789abcdef0123456789";
    let paced_events = rate * secs;
    let mut engine_config = setup::engine_config();
    engine_config.tenants.max_streams = u32::try_from(consumers * 2 + 10).unwrap();
    engine_config.stream_buffer = usize::try_from(events + paced_events).unwrap() + 10;
    let mut config = DaemonConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        storage: StorageKind::Memory,
        api_token: Some(Sensitive::new(token)),
        engine: engine_config,
        ..DaemonConfig::default()
    };
    config.api.max_connections = consumers * 2 + 64;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let daemon = herald_examples::Daemon::start(config, listener)
        .await
        .unwrap();
    let engine = daemon.engine().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(daemon.serve(async move {
        let _ = stopped.await;
    }));
    let tenant = setup::tenant();

    // 1. Memory: engine streams alone, then SSE connections.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss::current_mib();
    let mut held = Vec::with_capacity(consumers);
    for _ in 0..consumers {
        held.push(
            engine
                .stream(&tenant, StreamFilter::default(), None)
                .await
                .unwrap(),
        );
    }
    let engine_bytes_per_stream =
        (rss::current_mib() - before) * 1024.0 * 1024.0 / consumers as f64;
    drop(held);
    let before = rss::current_mib();
    let total = events + paced_events;
    let caught_up = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(consumers);
    for _ in 0..consumers {
        let body = open_sse(addr, token).await;
        tasks.push(tokio::spawn(consume(
            body,
            total,
            events,
            caught_up.clone(),
        )));
    }
    let sse_bytes_per_stream = (rss::current_mib() - before) * 1024.0 * 1024.0 / consumers as f64;

    // 2. Throughput.
    let started = Instant::now();
    let concurrency = 16u64;
    let publishers: Vec<_> = (0..concurrency)
        .map(|p| {
            let engine = engine.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move {
                let mut n = p;
                while n < events {
                    let data = stamped_data(unix_nanos(), payload);
                    let event = NewEvent::new(setup::EVENT_TYPE, &data).unwrap();
                    engine.publish(&tenant, event).await.unwrap();
                    n += concurrency;
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let publish_secs = started.elapsed().as_secs_f64();
    // The paced phase starts once every consumer has read the throughput phase's
    // events, so that its latencies are not those of the backlog.
    let waiting = Instant::now();
    while events > 0
        && caught_up.load(Ordering::Relaxed) < consumers
        && waiting.elapsed() < PHASE_TIMEOUT
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // 3. Latency, paced (the consumers note receipts past the first `events`).
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut ticks = tokio::time::interval(interval);
    let mut received_all_at = None;
    for _ in 0..paced_events {
        ticks.tick().await;
        let data = stamped_data(unix_nanos(), payload);
        let event = NewEvent::new(setup::EVENT_TYPE, &data).unwrap();
        engine.publish(&tenant, event).await.unwrap();
    }
    let mut latencies = Vec::new();
    let mut complete = true;
    let mut overflows = 0;
    let mut throughput_done = Vec::new();
    for task in tasks {
        match tokio::time::timeout(PHASE_TIMEOUT, task).await {
            Ok(Ok(result)) => {
                complete &= result.received == total;
                overflows += u64::from(result.ended_early);
                throughput_done.push(result.throughput_done);
                latencies.extend(result.latencies);
            }
            _ => complete = false,
        }
    }
    // The last consumer's last event of the throughput phase.
    if let Some(last) = throughput_done.iter().flatten().max() {
        received_all_at = Some(last.duration_since(started).as_secs_f64());
    }
    let received_secs = received_all_at.unwrap_or(publish_secs).max(1e-9);
    let _ = stop.send(());
    let _ = serving.await;
    StreamRun {
        consumers,
        events,
        payload,
        publishes_per_sec: events as f64 / publish_secs.max(1e-9),
        received_per_sec: (events * consumers as u64) as f64 / received_secs,
        latency: Percentiles::of_micros(&mut latencies),
        paced_rate: rate,
        engine_bytes_per_stream,
        sse_bytes_per_stream,
        overflows,
        complete,
    }
}

/// Opens one SSE stream on a connection of its own; its body once the answer came.
async fn open_sse(addr: std::net::SocketAddr, token: &str) -> hyper::body::Incoming {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(format!("http://{addr}/v1/tenants/bench/stream"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/event-stream")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200, "the stream opens");
    // The sender goes: the connection stays up while its answer is read.
    tokio::spawn(async move {
        let _sender = sender;
        std::future::pending::<()>().await;
    });
    response.into_body()
}

/// What one consumer saw.
struct Consumed {
    received: u64,
    /// The stream ended before `total` events.
    ended_early: bool,
    /// When it received the last event of the throughput phase.
    throughput_done: Option<Instant>,
    /// Publish-to-receive of the paced phase, microseconds.
    latencies: Vec<u64>,
}

/// Reads `total` events; notes latencies of those past the first `throughput`, and
/// counts itself in `caught_up` once it has read those.
async fn consume(
    mut body: hyper::body::Incoming,
    total: u64,
    throughput: u64,
    caught_up: Arc<AtomicUsize>,
) -> Consumed {
    let mut consumed = Consumed {
        received: 0,
        ended_early: false,
        throughput_done: None,
        latencies: Vec::new(),
    };
    let mut text: Vec<u8> = Vec::new();
    while consumed.received < total {
        let Some(Ok(frame)) = body.frame().await else {
            consumed.ended_early = true;
            break;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        text.extend_from_slice(&data);
        while let Some(end) = text.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = text.drain(..end + 2).collect();
            let Some(stamp) = find_stamp(&event) else {
                continue; // a keep-alive
            };
            consumed.received += 1;
            if consumed.received == throughput {
                consumed.throughput_done = Some(Instant::now());
                caught_up.fetch_add(1, Ordering::Relaxed);
            } else if consumed.received > throughput {
                let micros = unix_nanos().saturating_sub(stamp) / 1000;
                consumed.latencies.push(micros);
            }
        }
    }
    consumed
}

//! The management API cannot be starved (http-api.md "Configuration", `[api]`): through
//! thousands of idle, dripping and handshake-less connections, plain and over TLS, an
//! authenticated client still gets its answers; the daemon holds at most
//! `max_connections`; heads, bodies and idle connections are bounded in time; a body
//! is read only with a write slot, and only up to the limit.
//!
//! Every test drives a real `heraldd` over raw sockets, so that it controls each byte
//! and when it is sent. The flood tests run one at a time (`FLOODS`): each holds
//! thousands of sockets and the one-second bound they assert is about the daemon, not
//! about two floods sharing the machine.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::raw::{
    ask, closed_within, drip, endless_head, publish_head, read_answer, request, start, Answer, Io,
    Target,
};
use common::{eventually, TOKEN, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Serializes the flood tests.
static FLOODS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The bound the task sets on each answer to the authenticated client, measured from
/// its connect to the end of the answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// Idle connections of a flood.
const IDLE: usize = 2000;
/// Dripping connections of a flood, of each kind.
const DRIPPERS: usize = 30;
/// The pace of a drip.
const DRIP_EVERY: Duration = Duration::from_millis(300);

/// `herald_api_connections` as `/metrics` shows it.
async fn connections_held(target: &Target) -> f64 {
    let answer = ask(target, "GET", "/metrics", None).await;
    assert_eq!(answer.status, 200);
    answer
        .body
        .lines()
        .find_map(|line| line.strip_prefix("herald_api_connections "))
        .map(|value| value.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no herald_api_connections in {}", answer.body))
}

/// The sockets a process holds, of every kind.
fn sockets_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|link| link.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Everything a flood holds; dropping it closes every connection and stops the drips.
struct Flood {
    idle: Vec<TcpStream>,
    silent: Vec<Box<dyn Io>>,
    drippers: JoinSet<(Vec<u8>, bool)>,
}

impl Flood {
    /// `idle` connections that send nothing (no TLS handshake either), then, over TLS,
    /// `DRIPPERS` that finish their handshake and send nothing; then `DRIPPERS` each of
    /// heads dripping, authenticated publish bodies dripping, and unauthenticated ones.
    async fn start(target: &Target, idle: usize) -> Flood {
        let mut flood = Flood {
            idle: Vec::with_capacity(idle),
            silent: Vec::new(),
            drippers: JoinSet::new(),
        };
        for _ in 0..idle {
            flood.idle.push(target.tcp().await);
        }
        if target.tls.is_some() {
            for _ in 0..DRIPPERS {
                flood.silent.push(target.connect().await);
            }
        }
        // A drip of 100 bytes lasts 30 s: longer than any test, shorter than WAIT
        // twice over, so an abandoned one still ends.
        for _ in 0..DRIPPERS {
            let head = target.connect().await;
            flood
                .drippers
                .spawn(drip(head, Vec::new(), endless_head(100), DRIP_EVERY));
            let body = target.connect().await;
            flood.drippers.spawn(drip(
                body,
                publish_head(true, 100),
                vec![b' '; 100],
                DRIP_EVERY,
            ));
            let unauthenticated = target.connect().await;
            flood.drippers.spawn(drip(
                unauthenticated,
                publish_head(false, 100),
                vec![b' '; 100],
                DRIP_EVERY,
            ));
        }
        flood
    }
}

/// Through `Flood::start(IDLE)`, the authenticated client lists endpoints and
/// publishes, each answer within `ANSWER_WITHIN` from its connect.
async fn an_authenticated_client_is_answered_through_a_flood(tls: bool) {
    let _one_flood_at_a_time = FLOODS.lock().await;
    herald_examples::fd_limit::raise().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (daemon, target) = start(dir.path(), "", tls).await;
    let flood = Flood::start(&target, IDLE).await;

    // The flood fills what the daemon holds: the connection cap in plain HTTP, the
    // handshake cap (256) plus the finished connections over TLS.
    let held = connections_held(&target).await;
    let least = if tls { 256.0 } else { 1000.0 };
    assert!(held >= least, "the flood holds only {held} connections");
    assert!(held <= 1024.0, "{held} connections held, over the cap");

    for round in 0..5 {
        let list = ask(&target, "GET", "/v1/tenants/acme/endpoints", None).await;
        assert_eq!(list.status, 200, "round {round}: {list:?}");
        assert!(
            list.took < ANSWER_WITHIN,
            "round {round}: the list took {:?}",
            list.took
        );
        let event = format!(r#"{{"type":"order.filled","data":{{"round":{round}}}}}"#);
        let publish = ask(&target, "POST", "/v1/tenants/acme/events", Some(&event)).await;
        assert_eq!(publish.status, 202, "round {round}: {publish:?}");
        assert!(
            publish.took < ANSWER_WITHIN,
            "round {round}: the publish took {:?}",
            publish.took
        );
    }
    drop(flood);
    assert!(daemon.terminate().await.success());
}

/// Plain HTTP: 2,000 idle connections and dripping heads and bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_client_is_answered_within_a_second_through_a_flood() {
    an_authenticated_client_is_answered_through_a_flood(false).await;
}

/// HTTPS: 2,000 connections that never start their handshake (more than
/// `max_tls_handshakes`), silent finished ones, dripping heads and bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_client_is_answered_within_a_second_through_a_tls_flood() {
    an_authenticated_client_is_answered_through_a_flood(true).await;
}

/// Opens `count` connections that send nothing, each watched by a task that counts it
/// in `closed` when the daemon closes it. The streams stay open until the set drops.
async fn watched_idle(target: &Target, count: usize, closed: &Arc<AtomicUsize>) -> JoinSet<()> {
    let mut watchers = JoinSet::new();
    for _ in 0..count {
        let mut stream = target.tcp().await;
        let closed = closed.clone();
        watchers.spawn(async move {
            if closed_within(&mut stream, WAIT * 2).await {
                closed.fetch_add(1, Ordering::SeqCst);
            }
            // Keep the client's end until the test ends, as a flood would.
            std::future::pending::<()>().await;
        });
    }
    watchers
}

/// At `max_connections = 64`, 300 connections that send nothing: the daemon closes
/// the ones quiet longest to stay at 64 (by its gauge and by the sockets the kernel
/// shows for it), and the authenticated client is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_the_daemon_holds_no_more_and_still_serves() {
    let _one_flood_at_a_time = FLOODS.lock().await;
    herald_examples::fd_limit::raise().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Timeouts far away: only the cap closes a connection here.
    let config = "[api]\nmax_connections = 64\nheader_read_timeout = \"10m\"\n";
    let (daemon, target) = start(dir.path(), config, false).await;
    // The listener and the runtime's own (a signal socket pair, ...), before any
    // client connects.
    let pid = daemon.pid();
    let own = sockets_of(pid);
    let closed = Arc::new(AtomicUsize::new(0));
    let watchers = watched_idle(&target, 300, &closed).await;
    eventually("the daemon to close the connections over the cap", || {
        let closed = closed.load(Ordering::SeqCst);
        async move { (closed >= 300 - 64).then_some(()) }
    })
    .await;

    let list = ask(&target, "GET", "/v1/tenants/acme/endpoints", None).await;
    assert_eq!(list.status, 200, "{list:?}");
    let publish = ask(
        &target,
        "POST",
        "/v1/tenants/acme/events",
        Some(r#"{"type":"order.filled","data":{}}"#),
    )
    .await;
    assert_eq!(publish.status, 202, "{publish:?}");

    let held = connections_held(&target).await;
    assert!(held <= 64.0, "{held} connections held");
    // Its own and 64 connections; an evicted socket closes as its task runs.
    eventually("the daemon's sockets to be within the cap", || {
        let sockets = sockets_of(pid);
        async move { (sockets <= own + 64).then_some(()) }
    })
    .await;
    drop(watchers);
    assert!(daemon.terminate().await.success());
}

/// At `max_tls_handshakes = 8`, 50 connections that never start their handshake: the
/// oldest yield to new ones, and a client's handshake and request go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_handshake_cap_the_oldest_handshake_yields() {
    let dir = tempfile::tempdir().unwrap();
    // The handshake timeout far away: only the cap closes a connection here.
    let config = "[api]\nmax_tls_handshakes = 8\ntls_handshake_timeout = \"10m\"\n";
    let (daemon, target) = start(dir.path(), config, true).await;
    let closed = Arc::new(AtomicUsize::new(0));
    let watchers = watched_idle(&target, 50, &closed).await;
    eventually("the daemon to drop the handshakes over the cap", || {
        let closed = closed.load(Ordering::SeqCst);
        async move { (closed >= 50 - 8).then_some(()) }
    })
    .await;
    let list = ask(&target, "GET", "/v1/tenants/acme/endpoints", None).await;
    assert_eq!(list.status, 200, "{list:?}");
    drop(watchers);
    assert!(daemon.terminate().await.success());
}

/// `header_read_timeout = "300ms"`: half a head, a head dripping a byte every 50 ms,
/// and half of the second head on a kept-alive connection are all closed, long before
/// `idle_timeout` (60 s) could.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_does_not_arrive_in_time_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, target) = start(
        dir.path(),
        "[api]\nheader_read_timeout = \"300ms\"\n",
        false,
    )
    .await;
    let bound = Duration::from_secs(10);

    let mut half = target.connect().await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nhost: loc")
        .await
        .unwrap();
    assert!(
        closed_within(&mut half, bound).await,
        "half a head stays open"
    );

    // 200 bytes at 50 ms: 10 s of drip, each byte well within the timeout.
    let dripping = target.connect().await;
    let (_, closed) = drip(
        dripping,
        Vec::new(),
        endless_head(200),
        Duration::from_millis(50),
    )
    .await;
    assert!(closed, "a dripping head outlasts the header timeout");

    let mut kept = target.connect().await;
    kept.write_all(&request("GET", "/healthz", false, false, None))
        .await
        .unwrap();
    assert_eq!(read_answer(&mut kept).await.status, 200);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nho")
        .await
        .unwrap();
    assert!(
        closed_within(&mut kept, bound).await,
        "half of a second head stays open"
    );
    assert!(daemon.terminate().await.success());
}

/// `body_read_timeout = "300ms"`: a body that stops, and one dripping a byte every
/// 50 ms, are answered 408 `request_timeout` with `connection: close`, the connection
/// closes, and nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_is_408_and_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, target) = start(dir.path(), "[api]\nbody_read_timeout = \"300ms\"\n", false).await;

    let mut stalled = target.connect().await;
    stalled.write_all(&publish_head(true, 100)).await.unwrap();
    stalled.write_all(br#"{"type":"#).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stalled.read_to_end(&mut raw))
        .await
        .expect("the daemon answers and closes")
        .unwrap();
    let answer = Answer::parse(&raw, Duration::ZERO);
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(answer.head.contains("connection: close"), "{answer:?}");
    assert!(answer.body.contains("\"request_timeout\""), "{answer:?}");

    let dripping = target.connect().await;
    let (received, closed) = drip(
        dripping,
        publish_head(true, 200),
        vec![b' '; 200],
        Duration::from_millis(50),
    )
    .await;
    assert!(closed, "a dripping body outlasts the body timeout");
    assert_eq!(Answer::parse(&received, Duration::ZERO).status, 408);

    let events = ask(&target, "GET", "/v1/tenants/acme/events", None).await;
    assert_eq!(events.status, 200);
    assert!(events.body.contains(r#""data":[]"#), "{events:?}");
    assert!(daemon.terminate().await.success());
}

/// `idle_timeout = "300ms"`: after its answer, a kept-alive connection that sends
/// nothing more is closed, long before the header timeout (10 s) could.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_without_a_request_closes_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, target) = start(dir.path(), "[api]\nidle_timeout = \"300ms\"\n", false).await;
    let mut kept = target.connect().await;
    kept.write_all(&request("GET", "/healthz", false, false, None))
        .await
        .unwrap();
    let answer = read_answer(&mut kept).await;
    assert_eq!(answer.status, 200);
    assert!(!answer.head.contains("connection: close"), "{answer:?}");
    assert!(
        closed_within(&mut kept, Duration::from_secs(5)).await,
        "an idle kept-alive connection stays open"
    );
    assert!(daemon.terminate().await.success());
}

/// `max_concurrent_writes = 2`: with two publishes waiting for their bodies, a third
/// is 503 `overloaded` with `retry-after: 1` before it sends a byte of its body; once
/// they go, publishing works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_is_read_only_with_a_write_slot() {
    let dir = tempfile::tempdir().unwrap();
    // A body timeout past WAIT: a daemon reading the third body before taking a slot
    // would leave this test waiting, not answer 408.
    let config = "[api]\nmax_concurrent_writes = 2\nbody_read_timeout = \"60s\"\n";
    let (daemon, target) = start(dir.path(), config, false).await;
    let event = r#"{"type":"order.filled","data":{}}"#;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = target.connect().await;
        holder.write_all(&publish_head(true, 100)).await.unwrap();
        holders.push(holder);
    }
    let refused = eventually("both slots to be taken", || {
        let target = target.clone();
        async move {
            let answer = ask(&target, "POST", "/v1/tenants/acme/events", Some(event)).await;
            (answer.status == 503).then_some(answer)
        }
    })
    .await;
    assert!(refused.body.contains("\"overloaded\""), "{refused:?}");
    assert!(refused.head.contains("retry-after: 1"), "{refused:?}");

    let mut bodiless = target.connect().await;
    bodiless.write_all(&publish_head(true, 100)).await.unwrap();
    let answer = read_answer(&mut bodiless).await;
    assert_eq!(answer.status, 503, "{answer:?}");

    drop(holders);
    eventually("the slots to be free again", || {
        let target = target.clone();
        async move {
            let answer = ask(&target, "POST", "/v1/tenants/acme/events", Some(event)).await;
            (answer.status == 202).then_some(())
        }
    })
    .await;
    assert!(daemon.terminate().await.success());
}

/// A declared length over the limit is 413 before a byte of the body is sent; a
/// chunked body is 413 as soon as it passes the limit, though it never ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_without_reading_past_it() {
    let dir = tempfile::tempdir().unwrap();
    // The body limit is max_payload_bytes plus a 64 KiB margin: 66,560 bytes.
    let (daemon, target) = start(dir.path(), "[delivery]\nmax_payload_bytes = 1024\n", false).await;

    let mut declared = target.connect().await;
    declared
        .write_all(&publish_head(true, 1_000_000_000))
        .await
        .unwrap();
    let answer = read_answer(&mut declared).await;
    assert_eq!(answer.status, 413, "{answer:?}");

    let chunked = target.connect().await;
    let head = format!(
        "POST /v1/tenants/acme/events HTTP/1.1\r\nhost: localhost\r\n\
         authorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n"
    );
    let mut prefix = head.into_bytes();
    let chunk = vec![b' '; 70_000];
    prefix.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
    prefix.extend_from_slice(&chunk);
    prefix.extend_from_slice(b"\r\n");
    // The last chunk never comes: a drip of spaces that would last 30 s.
    let (received, _) = drip(chunked, prefix, vec![b' '; 100], DRIP_EVERY).await;
    assert_eq!(Answer::parse(&received, Duration::ZERO).status, 413);
    assert!(daemon.terminate().await.success());
}

/// A body refused from its declared length is answered while the client is still
/// sending it: the close lingers, reading and dropping the rest, so the client reads
/// the 413 instead of a reset (which closing with unread bytes would send).
async fn a_refused_body_still_being_sent_gets_its_answer(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, target) = start(dir.path(), "[delivery]\nmax_payload_bytes = 1024\n", tls).await;
    let body = vec![b' '; 6 << 20];
    for _ in 0..3 {
        let mut stream = target.connect().await;
        let mut sent = publish_head(true, body.len());
        sent.extend_from_slice(&body);
        tokio::time::timeout(WAIT, stream.write_all(&sent))
            .await
            .expect("the body is taken")
            .expect("the body is sent without a reset");
        let answer = read_answer(&mut stream).await;
        assert_eq!(answer.status, 413, "{answer:?}");
        assert!(answer.body.contains("payload_too_large"), "{answer:?}");
    }
    assert!(daemon.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_still_being_sent_gets_its_answer_over_tcp() {
    a_refused_body_still_being_sent_gets_its_answer(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_still_being_sent_gets_its_answer_over_tls() {
    a_refused_body_still_being_sent_gets_its_answer(true).await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// `n` authenticated endpoint lists, one connection each; their latencies, sorted.
async fn latencies(target: &Target, n: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let answer = ask(target, "GET", "/v1/tenants/acme/endpoints", None).await;
        assert_eq!(answer.status, 200);
        took.push(answer.took);
    }
    took.sort();
    took
}

/// The authenticated client's latency (connect to the end of the answer, 200 endpoint
/// lists) without and with a flood (`Flood::start(IDLE)`), plain HTTP, default `[api]`.
/// A measurement, not a check: run with
/// `cargo test --release -p herald-examples --test api_flood -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn latency_with_and_without_a_flood() {
    let _one_flood_at_a_time = FLOODS.lock().await;
    herald_examples::fd_limit::raise().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (daemon, target) = start(dir.path(), "", false).await;
    // Warm up: the first connections pay for lazily built state.
    latencies(&target, 20).await;
    let quiet = latencies(&target, 200).await;
    let flood = Flood::start(&target, IDLE).await;
    let held = connections_held(&target).await;
    let flooded = latencies(&target, 200).await;
    println!(
        "200 requests without a flood: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&quiet, 0.5),
        percentile(&quiet, 0.99),
        quiet[quiet.len() - 1]
    );
    println!(
        "200 requests with {IDLE} idle and {} dripping connections ({held} held): \
         p50 {:?}, p99 {:?}, max {:?}",
        3 * DRIPPERS,
        percentile(&flooded, 0.5),
        percentile(&flooded, 0.99),
        flooded[flooded.len() - 1]
    );
    drop(flood);
    assert!(daemon.terminate().await.success());
}

/// `max_header_bytes = 2048`, `max_headers = 16`: a head past either bound is 431 and
/// the connection closes; a head within them is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_past_its_bounds_is_431() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[api]\nmax_header_bytes = 2048\nmax_headers = 16\n";
    let (daemon, target) = start(dir.path(), config, false).await;
    let within = ask(&target, "GET", "/v1/tenants/acme/endpoints", None).await;
    assert_eq!(within.status, 200, "{within:?}");

    let long = format!(
        "GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-pad: {}\r\n\r\n",
        "a".repeat(4096)
    );
    let many = format!(
        "GET /healthz HTTP/1.1\r\nhost: localhost\r\n{}\r\n",
        (0..20)
            .map(|n| format!("x-h{n}: 1\r\n"))
            .collect::<String>()
    );
    for head in [long, many] {
        let mut stream = target.connect().await;
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
            .await
            .expect("the daemon answers and closes")
            .unwrap();
        assert_eq!(Answer::parse(&raw, Duration::ZERO).status, 431);
    }
    assert!(daemon.terminate().await.success());
}

/// `write_timeout = "300ms"`: a client that asks for an 8 MiB event (more than the
/// kernel's socket buffers hold) with a small receive buffer and does not read it is
/// cut off: the daemon counts a `write_timeout` close and the client gets less than
/// the whole answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_the_client_does_not_take_is_cut_off_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[delivery]\nmax_payload_bytes = 8388608\n[api]\nwrite_timeout = \"300ms\"\n";
    let (daemon, target) = start(dir.path(), config, false).await;
    let data = format!(
        r#"{{"type":"blob.made","data":"{}"}}"#,
        "a".repeat(8_000_000)
    );
    let published = ask(&target, "POST", "/v1/tenants/acme/events", Some(&data)).await;
    assert_eq!(published.status, 202, "{published:?}");
    let id: serde_json::Value = serde_json::from_str(&published.body).unwrap();
    let path = format!("/v1/tenants/acme/events/{}", id["id"].as_str().unwrap());

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = tokio::time::timeout(WAIT, socket.connect(target.addr))
        .await
        .unwrap()
        .unwrap();
    slow.write_all(&request("GET", &path, true, false, None))
        .await
        .unwrap();
    eventually("a write_timeout close", || {
        let target = target.clone();
        async move {
            let metrics = ask(&target, "GET", "/metrics", None).await;
            let line = "herald_api_connections_closed_total{reason=\"write_timeout\"}";
            metrics
                .body
                .lines()
                .any(|l| l.starts_with(line))
                .then_some(())
        }
    })
    .await;
    let mut received = Vec::new();
    let _ = tokio::time::timeout(WAIT, slow.read_to_end(&mut received)).await;
    assert!(
        received.len() < 8_000_000,
        "the whole answer arrived: {} bytes",
        received.len()
    );
    assert!(daemon.terminate().await.success());
}

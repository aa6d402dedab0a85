//! Receivers that accept connections and never answer, through the real `heraldd`:
//! 200 endpoints of one tenant pointing at such a tarpit hold at most that tenant's
//! share of `max_attempts_in_flight` (sockets and descriptors stay bounded), while
//! another tenant's deliveries go out at once and the API answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{eventually, Daemon, Options};
use herald_testkit::receiver::Receiver;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

const TARPITS: usize = 200;
const MAX_ATTEMPTS: usize = 64;

/// A listener that accepts every connection and keeps it open, silent.
struct Tarpit {
    url: String,
    open: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Tarpit {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let open = Arc::new(AtomicUsize::new(0));
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let counter = Arc::clone(&open);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mut held = held.lock().unwrap();
                // Forget the ones the client gave up on (closed by the attempt's
                // timeout), so `open` counts the live ones.
                held.retain(|s| s.peer_addr().is_ok() && !closed(s));
                held.push(stream);
                counter.store(held.len(), Ordering::SeqCst);
            }
        });
        Self { url, open, task }
    }
}

impl Drop for Tarpit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether the peer closed `stream` (a read would return 0).
fn closed(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Ok(0))
}

/// Open descriptors of process `pid`.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[tokio::test]
async fn tarpits_hold_their_share_and_others_are_delivered() {
    let tarpit = Tarpit::start().await;
    let healthy = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().config(&format!("max_attempts_in_flight = {MAX_ATTEMPTS}\n"));
    let daemon = Daemon::start(dir.path(), options).await;
    let before = descriptors(daemon.pid());

    for n in 0..TARPITS {
        let created = daemon
            .post(
                "/v1/tenants/acme/endpoints",
                &json!({"url": format!("{}/hook/{n}", tarpit.url), "timeout_ms": 60_000}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
    }
    for _ in 0..5 {
        let published = daemon
            .post(
                "/v1/tenants/acme/events",
                &json!({"type": "order.filled", "data": {}}),
            )
            .await;
        assert_eq!(published.status, 202, "{}", published.text());
    }
    // 200 endpoints x 5 deliveries want 1,000 connections; acme alone gets half the cap.
    eventually("the tarpit to hold acme's share", || {
        let open = tarpit.open.load(Ordering::SeqCst);
        async move { (open == MAX_ATTEMPTS / 2).then_some(()) }
    })
    .await;

    // globex's deliveries go out beside them, long before any tarpit attempt ends.
    let created = daemon
        .post(
            "/v1/tenants/globex/endpoints",
            &json!({"url": healthy.url("/hooks")}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let started = Instant::now();
    for n in 0..20 {
        let published = daemon
            .post(
                "/v1/tenants/globex/events",
                &json!({"type": "order.filled", "data": {"n": n}}),
            )
            .await;
        assert_eq!(published.status, 202, "{}", published.text());
    }
    eventually("globex's deliveries", || {
        let count = healthy.requests_to("/hooks").len();
        async move { (count == 20).then_some(()) }
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "globex waited for the tarpits' timeouts"
    );

    // The API answers, and the daemon's descriptors stay near the cap.
    let listed = daemon.get("/v1/tenants/acme/endpoints?limit=5").await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(tarpit.open.load(Ordering::SeqCst), MAX_ATTEMPTS / 2);
    let now = descriptors(daemon.pid());
    assert!(
        now <= before + MAX_ATTEMPTS + 16,
        "{now} descriptors open (was {before} at start)"
    );
}

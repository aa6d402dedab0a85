//! Crash safety on sled with real processes (delivery.md §4): `heraldd` is killed with
//! SIGKILL at random moments, during publishes and during deliveries, and restarted on
//! the same data dir, 20 times. Every publish it acknowledged reaches every matching
//! endpoint at least once; nothing arrives that was never published; the store opens
//! cleanly every time. The duplicate rate is reported.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Call, Daemon, Options};
use futures::future::join_all;
use herald_testkit::receiver::{Mode, Receiver};
use hyper::Method;
use serde_json::json;

const KILLS: u32 = 20;

/// A small deterministic generator; the seed is printed so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Which receiver paths an event type reaches.
fn paths_for(event_type: &str) -> [&'static str; 2] {
    if event_type == "order.filled" {
        ["/all", "/orders"]
    } else {
        ["/all", "/deposits"]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_publishes_survive_repeated_sigkill() {
    let seed = std::env::var("HERALD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test seed {seed}");
    let mut rng = Lcg(seed);
    let receiver = Receiver::builder()
        .mode("/orders", Mode::FailFirst(1))
        .mode("/deposits", Mode::Slow(Duration::from_millis(20)))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        storage: "sled",
        ..Options::default()
    }
    .config("[delivery]\nretry_schedule = [\"100ms\", \"200ms\", \"500ms\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\"]\ntimeout = \"5s\"\nbreaker_threshold = 1000\n");

    let daemon = Daemon::start(dir.path(), options.clone()).await;
    for (path, types) in [
        ("/all", json!([])),
        ("/orders", json!(["order.*"])),
        ("/deposits", json!(["deposit.*"])),
    ] {
        let created = daemon
            .post(
                "/v1/tenants/acme/endpoints",
                &json!({"url": receiver.url(path), "event_types": types}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
    }

    let mut sent: HashSet<String> = HashSet::new();
    let mut acked: HashMap<String, &'static str> = HashMap::new();
    let mut daemon = Some(daemon);
    let mut counter = 0u64;
    for round in 0..KILLS {
        let running = daemon.take().unwrap();
        // Kill after 30-400 ms of publishing: early kills land amid publishes and the
        // first attempts, later ones amid retries.
        let lifetime = Duration::from_millis(30 + rng.next(370));
        let publishing = async {
            loop {
                let batch: Vec<(String, &'static str)> = (0..4)
                    .map(|_| {
                        counter += 1;
                        let event_type = if counter.is_multiple_of(2) {
                            "order.filled"
                        } else {
                            "deposit.received"
                        };
                        (format!("crash-{round}-{counter}"), event_type)
                    })
                    .collect();
                sent.extend(batch.iter().map(|(id, _)| id.clone()));
                let calls = batch.into_iter().map(|(id, event_type)| {
                    let running = &running;
                    async move {
                        let body = json!({"type": event_type, "id": id, "data": {"round": round}});
                        let call = Call::new(Method::POST, "/v1/tenants/acme/events").json(&body);
                        let reply = running.try_send(call).await;
                        (id, event_type, reply.map(|r| r.status))
                    }
                });
                for (id, event_type, status) in join_all(calls).await {
                    if matches!(status, Some(202) | Some(200)) {
                        acked.insert(id, event_type);
                    }
                }
            }
        };
        // The kill lands wherever the publishers are: mid-request, between requests,
        // or while earlier events are being delivered.
        tokio::select! {
            _ = publishing => {}
            _ = tokio::time::sleep(lifetime) => {}
        }
        running.kill().await;
        daemon = Some(Daemon::start(dir.path(), options.clone()).await);
    }
    let daemon = daemon.unwrap();
    let ready = daemon.get("/readyz").await;
    assert_eq!(ready.status, 200, "the store reopened cleanly");
    assert!(
        acked.len() > 100,
        "only {} publishes were acknowledged",
        acked.len()
    );

    // Every acknowledged event reaches every matching endpoint (a 2xx answered).
    let expected: HashSet<(String, &str)> = acked
        .iter()
        .flat_map(|(id, t)| paths_for(t).map(|p| (id.clone(), p)))
        .collect();
    let start = Instant::now();
    let missing = loop {
        let delivered: HashSet<(String, String)> = receiver
            .requests()
            .iter()
            .filter(|r| r.answered == Some(200))
            .map(|r| (r.header("webhook-id").unwrap().to_owned(), r.path.clone()))
            .collect();
        let missing: Vec<_> = expected
            .iter()
            .filter(|(id, p)| !delivered.contains(&(id.clone(), p.to_string())))
            .collect();
        if missing.is_empty() || start.elapsed() > Duration::from_secs(180) {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        missing.is_empty(),
        "{} acknowledged deliveries never arrived, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    let requests = receiver.requests();
    let strangers: Vec<_> = requests
        .iter()
        .filter(|r| !sent.contains(r.header("webhook-id").unwrap()))
        .collect();
    assert!(strangers.is_empty(), "requests for events never published");
    let mut successes: HashMap<(String, String), u32> = HashMap::new();
    for r in requests.iter().filter(|r| r.answered == Some(200)) {
        *successes
            .entry((r.header("webhook-id").unwrap().to_owned(), r.path.clone()))
            .or_default() += 1;
    }
    let duplicates: u32 = successes.values().map(|n| n - 1).sum();
    println!(
        "crash test: {KILLS} kills, {} publishes sent, {} acknowledged, {} deliveries, {} duplicates ({:.2}%)",
        sent.len(),
        acked.len(),
        successes.len(),
        duplicates,
        100.0 * f64::from(duplicates) / successes.len() as f64
    );
    daemon.terminate().await;
}

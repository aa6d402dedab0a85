//! A measurement, not a check: durable publishes per second at several levels of
//! concurrency, showing what group commit buys. Run it in release:
//! `cargo test --release -p herald-storage-sled --test throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::storage::Storage;
use herald_storage_sled::SledStorage;
use herald_testkit::conformance::{at, endpoint, event, publish, tenant};

/// Publishes (one event, one delivery, each durable) from `writers` tasks for about
/// `span`; returns publishes per second.
async fn publishes_per_second(writers: usize, span: Duration) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(SledStorage::open(dir.path().join("data")).unwrap());
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.put_endpoint(&ep).await.unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (s, acme, ep) = (s.clone(), acme.clone(), ep.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                while started.elapsed() < span {
                    publish(&*s, &event(&acme, "x", at(done)), &[&ep]).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    assert_eq!(s.delivery_counts(&ep.id).await.unwrap().pending, total);
    rate
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand in release"]
async fn durable_publish_rate_by_concurrency() {
    for writers in [1, 16, 64, 256] {
        let rate = publishes_per_second(writers, Duration::from_secs(3)).await;
        println!("{writers:>4} writers: {rate:>8.0} durable publishes/s");
    }
}

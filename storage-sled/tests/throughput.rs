//! A measurement, not a check: durable publishes per second at several levels of
//! concurrency, showing what group commit buys. Run it in release:
//! `cargo test --release -p herald-storage-sled --test throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::storage::{PendingOrder, Storage};
use herald_storage_sled::SledStorage;
use herald_testkit::conformance::{at, endpoint, event, publish, tenant};

/// Publishes (one event, one delivery, each durable) from `writers` tasks for about
/// `span`; returns publishes per second.
async fn publishes_per_second(writers: usize, span: Duration) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(SledStorage::open(dir.path().join("data")).unwrap());
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
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

/// Reads (each `op` once per call) from `readers` tasks for about `span`; returns
/// reads per second.
async fn reads_per_second<F, Fut>(readers: usize, span: Duration, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let tasks: Vec<_> = (0..readers)
        .map(|reader| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while started.elapsed() < span {
                    op(reader + done as usize).await;
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
    total as f64 / started.elapsed().as_secs_f64()
}

/// A measurement, not a check: reads per second by concurrency, each read on the
/// blocking pool (`spawn_blocking`), over 10,000 pending deliveries of one endpoint.
/// `cargo test --release -p herald-storage-sled --test throughput -- --ignored --nocapture read_rate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand in release"]
async fn read_rate_by_concurrency() {
    let s = Arc::new(SledStorage::temporary().unwrap());
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let publishers: Vec<_> = (0..64u64)
        .map(|p| {
            let (s, acme, ep) = (s.clone(), acme.clone(), ep.clone());
            tokio::spawn(async move {
                let mut made = Vec::new();
                for t in 0..10_000 / 64 + 1 {
                    let event = event(&acme, "x", at(p * 1000 + t));
                    made.extend(publish(&*s, &event, &[&ep]).await);
                }
                made
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in publishers {
        ids.extend(task.await.unwrap().into_iter().map(|d| d.id));
    }
    let ids = Arc::new(ids);
    let span = Duration::from_secs(3);
    for readers in [1, 16, 64] {
        let (s2, ids2, acme2) = (s.clone(), ids.clone(), acme.clone());
        let by_id = reads_per_second(readers, span, move |n| {
            let (s, ids, acme) = (s2.clone(), ids2.clone(), acme2.clone());
            async move {
                let id = &ids[n * 7919 % ids.len()];
                assert!(s.get_delivery(&acme, id).await.unwrap().is_some());
            }
        })
        .await;
        let (s2, ep2) = (s.clone(), ep.id.clone());
        let pages = reads_per_second(readers, span, move |_| {
            let (s, ep) = (s2.clone(), ep2.clone());
            async move {
                let page = s
                    .pending_deliveries(&ep, PendingOrder::Due, None, 100)
                    .await
                    .unwrap();
                assert_eq!(page.len(), 100);
            }
        })
        .await;
        println!(
            "{readers:>4} readers: {by_id:>8.0} get_delivery/s, {pages:>7.0} pending pages of 100/s"
        );
    }
}

/// A measurement, not a check: what one `?type=` listing request costs when the
/// type is rare. 20,000 events of 1 KiB, the one of the rare type oldest: each
/// request reads at most `EVENT_SCAN_LIMIT` events, and finding the rare one takes
/// as many requests as that bound divides the store into (one request read them all
/// before the bound). Unfiltered pages of 50 for comparison.
/// `cargo test --release -p herald-storage-sled --test throughput -- --ignored --nocapture type_filter`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand in release"]
async fn type_filter_cost_per_request() {
    use herald::storage::{EventFilter, PageRequest, EVENT_SCAN_LIMIT};

    let s = Arc::new(SledStorage::temporary().unwrap());
    let acme = tenant("acme");
    let pad = format!("{{\"pad\":\"{}\"}}", "x".repeat(1000));
    let mut rare = event(&acme, "rare", at(0));
    rare.data = pad.clone().into();
    publish(&*s, &rare, &[]).await;
    let count = 20_000u64;
    let writers: Vec<_> = (0..64u64)
        .map(|w| {
            let (s, acme, pad) = (s.clone(), acme.clone(), pad.clone());
            tokio::spawn(async move {
                for n in (w..count).step_by(64) {
                    let mut noise = event(&acme, "noise", at(1 + n));
                    noise.data = pad.as_str().into();
                    publish(&*s, &noise, &[]).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let filter = EventFilter {
        event_type: Some("rare".into()),
        ..EventFilter::default()
    };
    for round in 0..3 {
        let started = Instant::now();
        let mut page = PageRequest::first(50);
        let mut requests = 0;
        let mut slowest = Duration::ZERO;
        loop {
            let one = Instant::now();
            let found = s.list_events(&acme, &filter, &page).await.unwrap();
            slowest = slowest.max(one.elapsed());
            requests += 1;
            match found.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => {
                    assert_eq!(found.items.len(), 1);
                    break;
                }
            }
        }
        let walk = started.elapsed();
        let one = Instant::now();
        let plain = s
            .list_events(&acme, &EventFilter::default(), &PageRequest::first(50))
            .await
            .unwrap();
        let plain_time = one.elapsed();
        assert_eq!(plain.items.len(), 50);
        println!(
            "round {round}: rare type behind {count} events: {requests} requests (at most {EVENT_SCAN_LIMIT} read each), slowest {:.1} ms, all {:.1} ms; unfiltered page of 50: {:.2} ms",
            slowest.as_secs_f64() * 1e3,
            walk.as_secs_f64() * 1e3,
            plain_time.as_secs_f64() * 1e3,
        );
    }
}

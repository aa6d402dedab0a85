//! Retention on sled: events and attempt logs older than the retention period are
//! purged in the background while deliveries go on, and the data dir stops growing
//! under a steady load.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::{DestinationPolicy, Engine, EngineConfig, Error, NewEndpoint, NewEvent, TenantId};
use herald_storage_sled::SledStorage;
use herald_testkit::receiver::Receiver;
use herald_transport_http::{HttpTransport, HttpTransportConfig};

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            dir_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_events_are_purged_and_disk_use_levels_off() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::builder().record(false).start().await;
    let mut config = EngineConfig {
        destinations: DestinationPolicy::permissive(),
        purge_interval: Duration::from_millis(500),
        ..EngineConfig::default()
    };
    config.delivery.retention = Duration::from_secs(2);
    let transport = HttpTransport::new(HttpTransportConfig {
        destinations: config.destinations.clone(),
        ..Default::default()
    })
    .unwrap();
    let storage = SledStorage::open(dir.path()).unwrap();
    let engine = Engine::start(Arc::new(storage), Arc::new(transport), config)
        .await
        .unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    engine
        .create_endpoint(&tenant, NewEndpoint::new(receiver.url("/hooks")))
        .await
        .unwrap();
    let payload = format!("{{\"pad\":\"{}\"}}", "x".repeat(2048));
    let first = engine
        .publish(&tenant, NewEvent::new("order.filled", &payload).unwrap())
        .await
        .unwrap();
    let start = Instant::now();
    let mut published = 1u64;
    let mut size_at_third = 0;
    let total = Duration::from_secs(15);
    while start.elapsed() < total {
        if published as u128 >= start.elapsed().as_millis() / 5 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        engine
            .publish(&tenant, NewEvent::new("order.filled", &payload).unwrap())
            .await
            .unwrap();
        published += 1;
        if size_at_third == 0 && start.elapsed() > total / 3 {
            size_at_third = dir_size(dir.path());
        }
    }
    let size_at_end = dir_size(dir.path());
    assert!(
        receiver
            .wait_for(published as usize, Duration::from_secs(60))
            .await,
        "deliveries kept up while purging"
    );
    let gone = engine.get_event(&tenant, &first.event.id).await;
    assert!(
        matches!(gone, Err(Error::EventNotFound { .. })),
        "the first event was purged"
    );
    println!(
        "retention: {published} events of 2 KiB, data dir {} KiB after a third, {} KiB at the end",
        size_at_third / 1024,
        size_at_end / 1024
    );
    // Two thirds more traffic than at the first reading; without purging the store
    // would hold about three times as much.
    assert!(
        size_at_end < size_at_third * 2,
        "disk use kept growing: {size_at_third} -> {size_at_end}"
    );
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
}

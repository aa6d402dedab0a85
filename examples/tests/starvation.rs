//! No starvation: an unordered endpoint whose queue is full of retries due an hour
//! from now, with more of them waiting in storage, still sends a newly published
//! delivery at once. Real sled on disk, real sockets.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use herald::{
    DeliveryDefaults, DeliveryStatus, DestinationPolicy, Engine, EngineConfig, NewEndpoint,
    NewEvent, PageRequest, TenantId,
};
use herald_storage_sled::SledStorage;
use herald_testkit::receiver::{Mode, Receiver};
use herald_transport_http::{HttpTransport, HttpTransportConfig};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_delivery_goes_out_at_once_past_a_queue_full_of_far_retries() {
    let receiver = Receiver::builder()
        .default_mode(Mode::Status(500))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SledStorage::open(dir.path().join("data")).unwrap());
    let destinations = DestinationPolicy::permissive();
    let transport = HttpTransport::new(HttpTransportConfig {
        destinations: destinations.clone(),
        ..Default::default()
    })
    .unwrap();
    let config = EngineConfig {
        destinations,
        queue_capacity: 20,
        delivery: DeliveryDefaults {
            // Keep the breaker and auto-disable out of the way: the queue is tested.
            breaker_threshold: 1_000_000,
            disable_after_failures: 1_000_000,
            ..DeliveryDefaults::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::start(storage, Arc::new(transport), config)
        .await
        .unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    let mut input = NewEndpoint::new(receiver.url("/hooks"));
    input.retry_schedule_secs = Some(vec![3600, 3600]);
    input.max_in_flight = Some(8);
    let endpoint = engine.create_endpoint(&tenant, input).await.unwrap();

    // Three queues' worth fail once: each waits an hour for its retry, most of
    // them in storage only.
    let mut old = Vec::new();
    for n in 0..60 {
        let data = format!("{{\"old\":{n}}}");
        old.push(
            engine
                .publish(&tenant, NewEvent::new("order.filled", &data).unwrap())
                .await
                .unwrap(),
        );
    }
    assert!(
        receiver.wait_for(60, WAIT).await,
        "every first attempt made"
    );
    let pending = || async {
        engine
            .get_endpoint(&tenant, &endpoint.info.endpoint.id)
            .await
            .unwrap()
            .counts
            .pending
    };
    assert_eq!(pending().await, 60);

    // The receiver recovers; a fresh event must not wait an hour behind them.
    receiver.set_mode("/hooks", Mode::Ok);
    let fresh = engine
        .publish(
            &tenant,
            NewEvent::new("order.filled", "{\"fresh\":true}").unwrap(),
        )
        .await
        .unwrap();
    assert!(
        receiver.wait_for(61, WAIT).await,
        "the fresh delivery went out"
    );
    let deliveries = engine
        .event_deliveries(&tenant, &fresh.event.id, &PageRequest::first(250))
        .await
        .unwrap()
        .items;
    let mut status = deliveries[0].status;
    for _ in 0..100 {
        if status == DeliveryStatus::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = engine
            .event_deliveries(&tenant, &fresh.event.id, &PageRequest::first(250))
            .await
            .unwrap()
            .items[0]
            .status;
    }
    assert_eq!(status, DeliveryStatus::Succeeded);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.count(),
        61,
        "the retries still wait for their hour"
    );
    assert_eq!(pending().await, 60);
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
}

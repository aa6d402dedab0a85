//! A failure that never reached the receiver is not the receiver's: an event that
//! cannot be read, or a URL that no longer makes a request, is not an attempt. Such
//! a delivery waits and is tried again, and the endpoint's retry budget, breaker and
//! health are untouched; a delivery whose event is gone dies with its own reason.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use common::{config, eventually, url, ScriptedTransport, Step};
use herald::storage::{ReplaceEndpoint, Storage};
use herald::{
    DeadReason, DeliveryStatus, Engine, EngineConfig, NewEndpoint, NewEvent, PageRequest, TenantId,
};
use herald_storage_memory::MemoryStorage;
use herald_testkit::hooked::HookedStorage;

struct Setup {
    transport: Arc<ScriptedTransport>,
    engine: Engine,
    tenant: TenantId,
}

async fn start_on(storage: Arc<HookedStorage>, config: EngineConfig) -> Setup {
    let transport = Arc::new(ScriptedTransport::new());
    let engine = Engine::start(storage.clone(), transport.clone(), config)
        .await
        .unwrap();
    Setup {
        transport,
        engine,
        tenant: TenantId::parse("acme").unwrap(),
    }
}

/// The one delivery of `event`, read past the storage's faults.
async fn delivery_of(
    storage: &HookedStorage,
    tenant: &TenantId,
    event: &herald::EventId,
) -> herald::Delivery {
    storage
        .inner()
        .event_deliveries(tenant, event, &PageRequest::first(250))
        .await
        .unwrap()
        .items
        .remove(0)
}

/// A delivery that failed once and waits for its retry in storage, on an engine
/// that was stopped; the event is then read from storage by the next engine.
async fn a_retry_left_in_storage() -> (Arc<HookedStorage>, herald::EndpointId, herald::EventId) {
    let storage = Arc::new(HookedStorage::new(Arc::new(MemoryStorage::new())));
    let first = start_on(storage.clone(), config()).await;
    let mut input = NewEndpoint::new(url("a"));
    input.retry_schedule_secs = Some(vec![5, 5, 5]);
    let endpoint = first
        .engine
        .create_endpoint(&first.tenant, input)
        .await
        .unwrap();
    first.transport.script(&url("a"), [Step::status(500)]);
    let published = first
        .engine
        .publish(&first.tenant, NewEvent::new("order.filled", "{}").unwrap())
        .await
        .unwrap();
    assert!(first.transport.wait_for(1, Duration::from_secs(10)).await);
    eventually(Duration::from_secs(10), || async {
        let d = first
            .engine
            .event_deliveries(&first.tenant, &published.event.id, &PageRequest::first(250))
            .await
            .unwrap()
            .items;
        d[0].attempts == 1
    })
    .await;
    first.engine.shutdown(Duration::from_secs(1)).await.unwrap();
    (storage, endpoint.info.endpoint.id, published.event.id)
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_event_is_not_an_attempt_and_is_tried_again() {
    let (storage, endpoint_id, event_id) = a_retry_left_in_storage().await;
    storage.fail_event_reads.store(true, SeqCst);
    let s = start_on(storage.clone(), config()).await;

    // Its retry comes due, and the event cannot be read: nothing is sent, again and
    // again, for far longer than the retry schedule and the breaker would allow.
    eventually(Duration::from_secs(60), || async {
        storage.event_reads.load(SeqCst) >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(s.transport.sent().is_empty());
    let delivery = delivery_of(&storage, &s.tenant, &event_id).await;
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!(delivery.attempts, 1, "no attempt counted");
    let info = s
        .engine
        .get_endpoint(&s.tenant, &endpoint_id)
        .await
        .unwrap();
    assert_eq!(info.health.consecutive_failures, 1, "only the real failure");
    assert!(info.endpoint.active);
    let attempts = s
        .engine
        .list_attempts(
            &s.tenant,
            &endpoint_id,
            &Default::default(),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(
        attempts.items.len(),
        1,
        "the log holds only the real attempt"
    );

    // Storage heals: the retry goes out as attempt 2, and succeeds.
    storage.fail_event_reads.store(false, SeqCst);
    assert!(s.transport.wait_for(1, Duration::from_secs(120)).await);
    assert_eq!(s.transport.sent()[0].header("x-delivery-attempt"), "2");
    eventually(Duration::from_secs(10), || async {
        let d = s
            .engine
            .event_deliveries(&s.tenant, &event_id, &PageRequest::first(250))
            .await
            .unwrap()
            .items;
        d[0].status == DeliveryStatus::Succeeded
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_delivery_whose_event_is_gone_dies_as_event_purged() {
    let (storage, endpoint_id, event_id) = a_retry_left_in_storage().await;
    storage.hide_events.store(true, SeqCst);
    let s = start_on(storage.clone(), config()).await;
    let mut events = s.engine.subscribe();
    eventually(Duration::from_secs(60), || async {
        delivery_of(&storage, &s.tenant, &event_id).await.status == DeliveryStatus::Dead
    })
    .await;
    let delivery = delivery_of(&storage, &s.tenant, &event_id).await;
    assert_eq!(delivery.dead_reason, Some(DeadReason::EventPurged));
    assert_eq!(delivery.attempts, 1);
    assert!(s.transport.sent().is_empty());
    let info = s
        .engine
        .get_endpoint(&s.tenant, &endpoint_id)
        .await
        .unwrap();
    assert_eq!(
        info.health.consecutive_failures, 1,
        "the endpoint is not blamed"
    );
    let herald::OperationalEvent::DeliveryDead(dead) = events.recv().await.unwrap() else {
        panic!("expected delivery.dead");
    };
    assert_eq!(dead.reason, "event_purged");
}

#[tokio::test(start_paused = true)]
async fn a_url_that_no_longer_parses_is_not_an_attempt() {
    let storage = Arc::new(HookedStorage::new(Arc::new(MemoryStorage::new())));
    let s = start_on(storage.clone(), config()).await;
    let endpoint = s
        .engine
        .create_endpoint(&s.tenant, NewEndpoint::new(url("a")))
        .await
        .unwrap();
    // A URL that validation no longer accepts, as an older build might have stored.
    let mut broken = endpoint.info.endpoint.clone();
    broken.url = "http://[::1".into();
    broken.version += 1;
    assert_eq!(
        storage
            .replace_endpoint(&broken, broken.version - 1)
            .await
            .unwrap(),
        ReplaceEndpoint::Replaced
    );
    let published = s
        .engine
        .publish(&s.tenant, NewEvent::new("order.filled", "{}").unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(s.transport.sent().is_empty());
    let deliveries = s
        .engine
        .event_deliveries(&s.tenant, &published.event.id, &PageRequest::first(250))
        .await
        .unwrap()
        .items;
    assert_eq!(deliveries[0].status, DeliveryStatus::Pending);
    assert_eq!(deliveries[0].attempts, 0);
    let info = s
        .engine
        .get_endpoint(&s.tenant, &endpoint.info.endpoint.id)
        .await
        .unwrap();
    assert_eq!(info.health.consecutive_failures, 0);
    assert!(info.endpoint.active, "never disabled for it");

    // Fixed by a PATCH, it goes out as attempt 1.
    let patch = herald::EndpointPatch {
        url: Some(url("a")),
        ..Default::default()
    };
    s.engine
        .update_endpoint(&s.tenant, &endpoint.info.endpoint.id, patch)
        .await
        .unwrap();
    assert!(s.transport.wait_for(1, Duration::from_secs(120)).await);
    assert_eq!(s.transport.sent()[0].header("x-delivery-attempt"), "1");
}

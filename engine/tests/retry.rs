//! Retries (delivery.md §4): the schedule with ±10% jitter, `Retry-After`, exhaustion
//! into dead letters, replay with a fresh budget and a continuing attempt count.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{config, eventually, url, Harness, Step};
use herald::{DeadReason, DeliveryStatus, ErrorClass, OperationalEvent, PageRequest};

fn secs(a: tokio::time::Instant, b: tokio::time::Instant) -> f64 {
    b.duration_since(a).as_secs_f64()
}

/// delivery.md §4: each retry waits its delay of the schedule, ±10%.
#[tokio::test(start_paused = true)]
async fn retries_follow_the_schedule_within_jitter() {
    let h = Harness::start(config()).await;
    h.endpoint("a", |e| e.retry_schedule_secs = Some(vec![10, 60]))
        .await;
    h.transport.script(
        &url("a"),
        [Step::status(500), Step::error(ErrorClass::Timeout)],
    );
    let published = h.publish("order.filled", "{}").await;
    assert!(h.transport.wait_for(3, Duration::from_secs(600)).await);
    let sent = h.transport.sent();
    let first = secs(sent[0].at, sent[1].at);
    let second = secs(sent[1].at, sent[2].at);
    assert!((9.0..=11.1).contains(&first), "first retry after {first}s");
    assert!(
        (54.0..=66.1).contains(&second),
        "second retry after {second}s"
    );
    let attempts: Vec<String> = sent
        .iter()
        .map(|r| r.header("x-delivery-attempt"))
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    assert!(sent
        .iter()
        .all(|r| r.header("webhook-id") == published.event.id.as_str()));
    eventually(Duration::from_secs(10), || async {
        let d = h
            .engine
            .event_deliveries(&h.tenant, &published.event.id, &PageRequest::first(250))
            .await
            .unwrap()
            .items;
        d[0].status == DeliveryStatus::Succeeded && d[0].attempts == 3
    })
    .await;
}

/// delivery.md §3: `Retry-After` on 429 delays the retry, capped at the largest delay.
#[tokio::test(start_paused = true)]
async fn retry_after_is_respected_and_capped_at_the_largest_delay() {
    let h = Harness::start(config()).await;
    h.endpoint("a", |e| e.retry_schedule_secs = Some(vec![1, 100]))
        .await;
    h.transport.script(
        &url("a"),
        [
            Step::retry_after(429, "30"),
            Step::retry_after(503, "99999"),
        ],
    );
    h.publish("order.filled", "{}").await;
    assert!(h.transport.wait_for(3, Duration::from_secs(600)).await);
    let sent = h.transport.sent();
    let first = secs(sent[0].at, sent[1].at);
    let second = secs(sent[1].at, sent[2].at);
    assert!(
        (30.0..31.0).contains(&first),
        "Retry-After 30 waited {first}s"
    );
    assert!(
        (90.0..=110.1).contains(&second),
        "capped Retry-After waited {second}s"
    );
}

/// delivery.md §4: an exhausted schedule kills the delivery; replay gives a fresh
/// budget and `x-delivery-attempt` keeps counting.
#[tokio::test(start_paused = true)]
async fn exhausted_deliveries_go_to_dead_letters_and_replay_delivers_them() {
    let h = Harness::start(config()).await;
    let mut events = h.engine.subscribe();
    let created = h
        .endpoint("a", |e| e.retry_schedule_secs = Some(vec![1]))
        .await;
    let id = created.info.endpoint.id.clone();
    h.transport.set_default(&url("a"), Step::status(500));
    let published = h.publish("order.filled", "{}").await;
    let dead = tokio::time::timeout(Duration::from_secs(60), events.recv())
        .await
        .unwrap()
        .unwrap();
    match dead {
        OperationalEvent::DeliveryDead(d) => {
            assert_eq!(d.event_id, published.event.id);
            assert_eq!(d.attempts, 2);
            assert_eq!(d.reason, "retries_exhausted");
        }
        other => panic!("unexpected {other:?}"),
    }
    let letters = h
        .engine
        .list_dead_letters(&h.tenant, &id, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(letters.items.len(), 1);
    assert_eq!(
        letters.items[0].dead_reason,
        Some(DeadReason::RetriesExhausted)
    );
    h.transport.set_default(&url("a"), Step::status(200));
    assert_eq!(
        h.engine
            .replay_dead_letters(&h.tenant, &id, None, None)
            .await
            .unwrap(),
        1
    );
    assert!(h.transport.wait_for(3, Duration::from_secs(60)).await);
    assert_eq!(h.transport.sent()[2].header("x-delivery-attempt"), "3");
    h.wait_until_all(
        &published.event.id,
        DeliveryStatus::Succeeded,
        Duration::from_secs(10),
    )
    .await;
    let letters = h
        .engine
        .list_dead_letters(&h.tenant, &id, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(letters.items.is_empty());
}

/// http-api.md: one delivery, succeeded or dead, can be retried by hand.
#[tokio::test(start_paused = true)]
async fn a_single_delivery_can_be_retried_by_hand() {
    let h = Harness::start(config()).await;
    h.endpoint("a", |_| {}).await;
    let published = h.publish("order.filled", "{}").await;
    assert!(h.transport.wait_for(1, Duration::from_secs(10)).await);
    h.wait_until_all(
        &published.event.id,
        DeliveryStatus::Succeeded,
        Duration::from_secs(10),
    )
    .await;
    let delivery = h
        .engine
        .event_deliveries(&h.tenant, &published.event.id, &PageRequest::first(250))
        .await
        .unwrap()
        .items
        .remove(0);
    let retried = h
        .engine
        .retry_delivery(&h.tenant, &delivery.id)
        .await
        .unwrap();
    assert_eq!(retried.status, DeliveryStatus::Pending);
    assert!(h.transport.wait_for(2, Duration::from_secs(10)).await);
    assert_eq!(h.transport.sent()[1].header("x-delivery-attempt"), "2");
    assert_eq!(
        h.transport.sent()[1].header("x-delivery-id"),
        delivery.id.as_str()
    );
}

/// http-api.md "replay": dead letters are read, requeued and stored a page at a
/// time, never all at once, and every one of them is replayed once.
#[tokio::test(start_paused = true)]
async fn a_replay_works_through_many_dead_letters_a_page_at_a_time() {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Arc;

    use herald::storage::Storage;
    use herald::{Engine, NewEndpoint, TenantId};
    use herald_storage_memory::MemoryStorage;
    use herald_testkit::conformance::{at, delivery, event};
    use herald_testkit::hooked::HookedStorage;
    use herald_testkit::scripted::ScriptedTransport;

    let memory = Arc::new(MemoryStorage::new());
    let hooked = Arc::new(HookedStorage::new(memory.clone()));
    let engine = Engine::start(hooked.clone(), Arc::new(ScriptedTransport::new()), config())
        .await
        .unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    let endpoint = engine
        .create_endpoint(&tenant, NewEndpoint::new(url("a")))
        .await
        .unwrap()
        .info
        .endpoint;
    // Written straight to storage: as many dead letters as two and a half pages.
    let count = 2_500u64;
    for n in 0..count {
        let event = event(&tenant, "order.filled", at(n));
        let mut dead = delivery(&event, &endpoint);
        dead.kill(DeadReason::RetriesExhausted, at(n + 1));
        memory.insert_event(&event, &[dead]).await.unwrap();
    }
    assert_eq!(
        memory.delivery_counts(&endpoint.id).await.unwrap().dead,
        count
    );

    let replayed = engine
        .replay_dead_letters(&tenant, &endpoint.id, None, None)
        .await
        .unwrap();
    assert_eq!(replayed, count);
    assert!(
        hooked.largest_update.load(SeqCst) <= 1000,
        "stored a page at a time, not {} at once",
        hooked.largest_update.load(SeqCst)
    );
    assert_eq!(
        hooked.dead_letter_reads.load(SeqCst),
        3,
        "read in three pages"
    );
    assert_eq!(memory.delivery_counts(&endpoint.id).await.unwrap().dead, 0);
    let letters = engine
        .list_dead_letters(&tenant, &endpoint.id, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(letters.items.is_empty());
}

//! An actor that fails with attempts in flight: its next actor starts only once
//! those attempts are recorded (or takes over their reports), so no delivery is ever
//! sent twice at once, no attempt record is lost, and `x-delivery-attempt` never
//! repeats for a delivery. The same holds when the whole actor tree dies with its
//! Supervisor, which the engine starts again.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{config, eventually, url, Harness, Step};
use herald::{DeliveryStatus, EndpointId, PageRequest};

/// Every (delivery, attempt) the transport saw, checked unique.
fn attempts_sent(h: &Harness) -> HashMap<String, Vec<u32>> {
    let mut seen: HashMap<String, Vec<u32>> = HashMap::new();
    let mut pairs = HashSet::new();
    for request in h.transport.sent() {
        let delivery = request.header("x-delivery-id");
        let attempt: u32 = request.header("x-delivery-attempt").parse().unwrap();
        assert!(
            pairs.insert((delivery.clone(), attempt)),
            "attempt {attempt} of {delivery} sent twice"
        );
        seen.entry(delivery).or_default().push(attempt);
    }
    seen
}

/// Publishes `n` events to endpoint `a`, whose receiver answers with `answers`
/// (then 200, each after 5 s), and returns once all `n` are in flight.
async fn attempts_in_flight(n: usize, answers: Vec<Step>) -> (Harness, EndpointId) {
    let h = Harness::start(config()).await;
    let endpoint = h
        .endpoint("a", |e| {
            e.max_in_flight = Some(n as u32);
            e.retry_schedule_secs = Some(vec![1, 1, 1]);
        })
        .await;
    h.transport.script(&url("a"), answers);
    h.transport
        .set_default(&url("a"), Step::status(200).after(Duration::from_secs(5)));
    for i in 0..n {
        h.publish("order.filled", &format!("{{\"n\":{i}}}")).await;
    }
    assert!(h.transport.wait_for(n, Duration::from_secs(5)).await);
    (h, endpoint.info.endpoint.id)
}

async fn until_all_succeeded(h: &Harness) {
    eventually(Duration::from_secs(120), || async {
        let endpoint = h
            .engine
            .list_endpoints(&h.tenant, &PageRequest::first(1))
            .await
            .unwrap()
            .items
            .remove(0);
        endpoint.counts.pending == 0
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_crashed_actor_s_attempts_are_neither_repeated_nor_lost() {
    let (h, endpoint_id) = attempts_in_flight(4, vec![]).await;
    h.engine.crash_endpoint_actor(&endpoint_id);
    // Meanwhile new work arrives for the endpoint.
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.publish("order.filled", "{\"n\":4}").await;
    until_all_succeeded(&h).await;
    tokio::time::sleep(Duration::from_secs(30)).await;

    assert!(
        h.transport.max_concurrent(&url("a")) <= 4,
        "never sent twice at once"
    );
    let sent = attempts_sent(&h);
    assert_eq!(sent.len(), 5);
    assert!(
        sent.values().all(|attempts| attempts == &vec![1]),
        "{sent:?}"
    );
    let log = h
        .engine
        .list_attempts(
            &h.tenant,
            &endpoint_id,
            &Default::default(),
            &PageRequest::first(50),
        )
        .await
        .unwrap();
    assert_eq!(
        log.items.len(),
        5,
        "every attempt recorded, the crashed actor's too"
    );
    assert!(log.items.iter().all(|a| a.status == Some(200)));
}

#[tokio::test(start_paused = true)]
async fn after_a_crash_a_failed_attempt_is_retried_as_the_next_attempt() {
    let answers = vec![Step::status(503).after(Duration::from_secs(5)); 3];
    let (h, endpoint_id) = attempts_in_flight(3, answers).await;
    h.engine.crash_endpoint_actor(&endpoint_id);
    until_all_succeeded(&h).await;
    let sent = attempts_sent(&h);
    assert_eq!(sent.len(), 3);
    for attempts in sent.values() {
        assert_eq!(attempts, &vec![1, 2], "the retry is attempt 2, not 1 again");
    }
    let log = h
        .engine
        .list_attempts(
            &h.tenant,
            &endpoint_id,
            &Default::default(),
            &PageRequest::first(50),
        )
        .await
        .unwrap();
    assert_eq!(log.items.len(), 6);
}

#[tokio::test(start_paused = true)]
async fn the_engine_restarts_a_supervisor_that_dies_with_attempts_in_flight() {
    let (h, _) = attempts_in_flight(4, vec![]).await;
    let old_router_gone = h.engine.clone();
    h.engine.crash_supervisor();
    // The tree is gone for a moment (publishes fail with NotRunning), and the
    // engine is ready again once the new Supervisor and Router are up.
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(old_router_gone);
    eventually(Duration::from_secs(10), || async { h.engine.is_ready() }).await;
    let late = h.publish("order.filled", "{\"n\":4}").await;
    until_all_succeeded(&h).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(h.transport.max_concurrent(&url("a")) <= 4);
    let sent = attempts_sent(&h);
    assert_eq!(sent.len(), 5);
    assert!(
        sent.values().all(|attempts| attempts == &vec![1]),
        "{sent:?}"
    );
    let deliveries = h.deliveries(&late.event.id).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Succeeded);
}

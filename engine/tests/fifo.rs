//! Ordering and concurrency (delivery.md §4): fifo holds publish order across failures;
//! unordered never exceeds `max_in_flight`; a rate limit spaces attempts.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, eventually, url, Harness, Step};
use herald::{DeliveryStatus, ErrorClass, Ordering};

#[tokio::test(start_paused = true)]
async fn fifo_delivers_in_publish_order_across_failures() {
    let h = Harness::start(config()).await;
    h.endpoint("a", |e| {
        e.ordering = Some(Ordering::Fifo);
        e.retry_schedule_secs = Some(vec![1, 1, 1, 1]);
    })
    .await;
    // The first event fails twice, the third once.
    h.transport.script(
        &url("a"),
        [
            Step::status(500),
            Step::error(ErrorClass::Connect),
            Step::status(200),
            Step::status(200),
            Step::status(503),
        ],
    );
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            h.publish("order.filled", &format!("{{\"n\":{n}}}"))
                .await
                .event
                .id,
        );
    }
    assert!(h.transport.wait_for(8, Duration::from_secs(120)).await);
    let order: Vec<String> = h
        .transport
        .sent()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    let index = |id: &str| ids.iter().position(|e| e.as_str() == id).unwrap();
    let positions: Vec<usize> = order.iter().map(|id| index(id)).collect();
    assert_eq!(positions, [0, 0, 0, 1, 2, 2, 3, 4]);
    assert_eq!(h.transport.max_concurrent(&url("a")), 1);
}

#[tokio::test(start_paused = true)]
async fn max_in_flight_is_never_exceeded() {
    let h = Harness::start(config()).await;
    h.endpoint("a", |e| e.max_in_flight = Some(3)).await;
    h.transport
        .set_default(&url("a"), Step::status(200).after(Duration::from_secs(1)));
    for _ in 0..20 {
        h.publish("order.filled", "{}").await;
    }
    assert!(h.transport.wait_for(20, Duration::from_secs(60)).await);
    assert_eq!(h.transport.max_concurrent(&url("a")), 3);
}

/// delivery.md §4: a token bucket of one second's worth.
#[tokio::test(start_paused = true)]
async fn rate_limit_spaces_attempts() {
    let h = Harness::start(config()).await;
    h.endpoint("a", |e| e.rate_limit = Some(5)).await;
    for _ in 0..15 {
        h.publish("order.filled", "{}").await;
    }
    assert!(h.transport.wait_for(15, Duration::from_secs(60)).await);
    let sent = h.transport.sent();
    let span = sent[14].at.duration_since(sent[0].at).as_secs_f64();
    // 5 at once, then one every 200 ms: the 15th leaves about 2 s after the first.
    assert!((1.9..2.5).contains(&span), "15 attempts took {span}s");
}

/// A slow endpoint has its own actor and queue: it never delays another.
#[tokio::test(start_paused = true)]
async fn a_slow_endpoint_does_not_delay_a_healthy_one() {
    let h = Harness::start(config()).await;
    h.endpoint("slow", |_| {}).await;
    h.endpoint("fast", |_| {}).await;
    h.transport.set_default(
        &url("slow"),
        Step::status(200).after(Duration::from_secs(30)),
    );
    let start = tokio::time::Instant::now();
    for _ in 0..50 {
        h.publish("order.filled", "{}").await;
    }
    let deadline = Duration::from_secs(600);
    let mut waited = Duration::ZERO;
    while h.transport.sent_to(&url("fast")).len() < 50 && waited < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    let fast = h.transport.sent_to(&url("fast"));
    assert_eq!(fast.len(), 50);
    let last = fast[49].at.duration_since(start);
    assert!(
        last < Duration::from_secs(1),
        "healthy endpoint finished after {last:?}"
    );
}

/// A backlog larger than an actor's in-memory queue waits in storage and is loaded
/// as the queue drains: everything arrives, fifo order included.
#[tokio::test(start_paused = true)]
async fn a_backlog_larger_than_the_queue_arrives_in_full_and_in_order() {
    let mut cfg = config();
    cfg.queue_capacity = 8;
    let h = Harness::start(cfg).await;
    h.endpoint("a", |e| e.ordering = Some(Ordering::Fifo)).await;
    h.endpoint("b", |e| e.max_in_flight = Some(4)).await;
    for name in ["a", "b"] {
        h.transport.set_default(
            &url(name),
            Step::status(200).after(Duration::from_millis(100)),
        );
    }
    let mut ids = Vec::new();
    for n in 0..100 {
        ids.push(
            h.publish("order.filled", &format!("{{\"n\":{n}}}"))
                .await
                .event
                .id,
        );
    }
    assert!(h.transport.wait_for(200, Duration::from_secs(600)).await);
    let order: Vec<String> = h
        .transport
        .sent_to(&url("a"))
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    let expected: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    assert_eq!(order, expected);
    let mut seen: Vec<String> = h
        .transport
        .sent_to(&url("b"))
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 100, "every event reached b");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.transport.sent().len(), 200, "and nothing was sent twice");
}

/// Publishers racing past a small queue (their deliveries reach the actor out of id
/// order), and a replay of old dead letters while that backlog drains through
/// refills: the refills read past what the queue holds, the replay makes the actor
/// read from the first again, and every delivery arrives once.
#[tokio::test(start_paused = true)]
async fn a_replay_while_a_backlog_drains_through_refills_loses_nothing() {
    let mut cfg = config();
    cfg.queue_capacity = 8;
    let h = Arc::new(Harness::start(cfg).await);
    let ep = h
        .endpoint("a", |e| {
            e.max_in_flight = Some(2);
            e.retry_schedule_secs = Some(Vec::new());
        })
        .await;
    // Three deliveries fail with no retry left: dead letters.
    h.transport
        .script(&url("a"), (0..3).map(|_| Step::status(500)));
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(h.publish("x", &format!("{{\"n\":{n}}}")).await.event.id);
    }
    for id in &events {
        h.wait_until_all(id, DeliveryStatus::Dead, Duration::from_secs(60))
            .await;
    }
    h.transport.set_default(
        &url("a"),
        Step::status(200).after(Duration::from_millis(50)),
    );
    let publishers: Vec<_> = (0..6)
        .map(|p| {
            let h = h.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..10 {
                    let data = format!("{{\"p\":{p},\"n\":{n}}}");
                    ids.push(h.publish("x", &data).await.event.id);
                }
                ids
            })
        })
        .collect();
    for publisher in publishers {
        events.extend(publisher.await.unwrap());
    }
    // The 60 take about 1.5 s at two in flight; replay the dead part-way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replayed = h
        .engine
        .replay_dead_letters(&h.tenant, &ep.info.endpoint.id, None, None)
        .await
        .unwrap();
    assert_eq!(replayed, 3);
    // Well before the Supervisor's sweep (every 30 s) would find what an actor
    // missed in storage.
    eventually(Duration::from_secs(10), || async {
        h.transport.sent_to(&url("a")).len() >= 66
    })
    .await;
    for id in &events {
        h.wait_until_all(id, DeliveryStatus::Succeeded, Duration::from_secs(60))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        h.transport.sent_to(&url("a")).len(),
        66,
        "3 failed, 60 and the 3 replayed, none twice"
    );
}

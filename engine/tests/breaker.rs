//! The circuit breaker (delivery.md §5): opens after the threshold, makes no attempts
//! while open, sends exactly one probe when half-open, doubles its cooldown on re-open,
//! and closes on success.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{config, url, Harness, Step};
use herald::breaker::BreakerStatus;

fn breaker_config() -> herald::EngineConfig {
    let mut cfg = config();
    cfg.delivery.breaker_threshold = 3;
    cfg.delivery.breaker_cooldown = Duration::from_secs(60);
    cfg.delivery.breaker_cooldown_max = Duration::from_secs(600);
    cfg
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_waits_its_cooldown_and_doubles_it_on_reopen() {
    let h = Harness::start(breaker_config()).await;
    let created = h
        .endpoint("a", |e| e.retry_schedule_secs = Some(vec![1; 20]))
        .await;
    h.transport
        .script(&url("a"), (0..4).map(|_| Step::status(500)));
    h.publish("order.filled", "{}").await;
    assert!(h.transport.wait_for(3, Duration::from_secs(30)).await);
    let info = h
        .engine
        .get_endpoint(&h.tenant, &created.info.endpoint.id)
        .await
        .unwrap();
    assert_eq!(info.breaker, BreakerStatus::Open);
    assert!(h.transport.wait_for(5, Duration::from_secs(600)).await);
    let sent = h.transport.sent();
    let gap = |a: usize, b: usize| sent[b].at.duration_since(sent[a].at).as_secs_f64();
    // Attempts 1-3 one second apart (the retry schedule), then the breaker is open.
    assert!(
        gap(2, 3) >= 60.0 && gap(2, 3) < 61.5,
        "first cooldown {}",
        gap(2, 3)
    );
    // The probe failed: the cooldown doubled.
    assert!(
        gap(3, 4) >= 120.0 && gap(3, 4) < 121.5,
        "second cooldown {}",
        gap(3, 4)
    );
    // The 5th attempt (a probe) succeeded: closed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let info = h
        .engine
        .get_endpoint(&h.tenant, &created.info.endpoint.id)
        .await
        .unwrap();
    assert_eq!(info.breaker, BreakerStatus::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_breaker_sends_exactly_one_probe_then_resumes_full_concurrency() {
    let h = Harness::start(breaker_config()).await;
    h.endpoint("a", |e| {
        e.retry_schedule_secs = Some(vec![1; 20]);
        e.max_in_flight = Some(8);
    })
    .await;
    // Three failures open the breaker; the probe takes 10 s to succeed.
    h.transport.script(
        &url("a"),
        [
            Step::status(500),
            Step::status(500),
            Step::status(500),
            Step::status(200).after(Duration::from_secs(10)),
        ],
    );
    for _ in 0..3 {
        h.publish("order.filled", "{}").await;
    }
    assert!(h.transport.wait_for(3, Duration::from_secs(30)).await);
    let opened_at = h.transport.sent()[2].at;
    for _ in 0..5 {
        h.publish("order.filled", "{}").await;
    }
    // While open: nothing.
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(h.transport.sent().len(), 3);
    // Half-open: exactly one probe while it is out.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let during: Vec<_> = h.transport.sent().into_iter().skip(3).collect();
    assert_eq!(during.len(), 1, "one probe while half-open");
    assert!(during[0].at.duration_since(opened_at) >= Duration::from_secs(60));
    // The probe succeeded: the other seven go out together.
    assert!(h.transport.wait_for(11, Duration::from_secs(30)).await);
    let after: Vec<_> = h.transport.sent().into_iter().skip(4).collect();
    let spread = after.last().unwrap().at.duration_since(after[0].at);
    assert!(
        spread < Duration::from_secs(1),
        "resumed full concurrency: {spread:?}"
    );
}

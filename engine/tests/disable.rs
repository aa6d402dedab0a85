//! Disabling (delivery.md §5): automatic on consecutive failures or a 410, by hand;
//! pending work moves to dead letters; `endpoint.disabled` is announced for automatic
//! disables; re-enable + replay delivers everything.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{config, eventually, url, Harness, Step};
use herald::breaker::BreakerStatus;
use herald::{
    DeadReason, DeliveryStatus, DisabledReason, EndpointPatch, OperationalEvent, PageRequest,
};

async fn next_disabled(
    events: &mut tokio::sync::broadcast::Receiver<OperationalEvent>,
) -> herald::notify::EndpointDisabled {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(7200), events.recv())
            .await
            .unwrap()
            .unwrap();
        if let OperationalEvent::EndpointDisabled(disabled) = event {
            return disabled;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_disable_the_endpoint_and_dead_letter_its_work() {
    let mut cfg = config();
    cfg.delivery.disable_after_failures = 4;
    cfg.delivery.breaker_threshold = 100;
    let h = Harness::start(cfg).await;
    let mut events = h.engine.subscribe();
    let created = h
        .endpoint("a", |e| e.retry_schedule_secs = Some(vec![1; 10]))
        .await;
    let id = created.info.endpoint.id.clone();
    h.transport.set_default(&url("a"), Step::status(500));
    for _ in 0..3 {
        h.publish("order.filled", "{}").await;
    }
    let disabled = next_disabled(&mut events).await;
    assert_eq!(disabled.endpoint_id, id);
    assert_eq!(disabled.reason, "failing");
    assert_eq!(disabled.dead_lettered, 3);
    assert_eq!(disabled.last_status, Some(500));
    assert!(disabled.failing_since.is_some());
    let info = h.engine.get_endpoint(&h.tenant, &id).await.unwrap();
    assert!(!info.endpoint.active);
    assert_eq!(info.endpoint.disabled_reason, Some(DisabledReason::Failing));
    assert_eq!(info.counts.pending, 0);
    assert_eq!(info.counts.dead, 3);
    let letters = h
        .engine
        .list_dead_letters(&h.tenant, &id, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(letters
        .items
        .iter()
        .all(|d| d.dead_reason == Some(DeadReason::EndpointDisabled)));
    // New events are not queued for it.
    assert_eq!(h.publish("order.filled", "{}").await.event.deliveries, 0);

    // Re-enable (breaker and streak reset), replay: everything arrives.
    h.transport.set_default(&url("a"), Step::status(200));
    let enable = EndpointPatch {
        active: Some(true),
        ..Default::default()
    };
    let info = h
        .engine
        .update_endpoint(&h.tenant, &id, enable)
        .await
        .unwrap();
    assert!(info.endpoint.active);
    assert_eq!(info.breaker, BreakerStatus::Closed);
    assert_eq!(
        h.engine
            .replay_dead_letters(&h.tenant, &id, None, None)
            .await
            .unwrap(),
        3
    );
    eventually(Duration::from_secs(30), || async {
        let info = h.engine.get_endpoint(&h.tenant, &id).await.unwrap();
        info.counts.dead == 0 && info.counts.pending == 0 && info.health.succeeded == 3
    })
    .await;
}

/// delivery.md §3: 410 disables at once with reason `gone`.
#[tokio::test(start_paused = true)]
async fn gone_disables_the_endpoint_at_once() {
    let h = Harness::start(config()).await;
    let mut events = h.engine.subscribe();
    let created = h.endpoint("a", |_| {}).await;
    let id = created.info.endpoint.id.clone();
    h.transport.script(&url("a"), [Step::status(410)]);
    let published = h.publish("order.filled", "{}").await;
    let disabled = next_disabled(&mut events).await;
    assert_eq!(disabled.reason, "gone");
    assert_eq!(disabled.last_status, Some(410));
    let deliveries = h
        .engine
        .event_deliveries(&h.tenant, &published.event.id, &PageRequest::first(250))
        .await
        .unwrap()
        .items;
    assert_eq!(deliveries[0].status, DeliveryStatus::Dead);
    assert_eq!(deliveries[0].dead_reason, Some(DeadReason::Gone));
    let info = h.engine.get_endpoint(&h.tenant, &id).await.unwrap();
    assert_eq!(info.endpoint.disabled_reason, Some(DisabledReason::Gone));
    assert_eq!(h.transport.sent().len(), 1);
}

/// delivery.md §5: failing for `disable_after` without a success disables too.
#[tokio::test(start_paused = true)]
async fn failing_for_the_disable_period_disables_the_endpoint() {
    let mut cfg = config();
    cfg.delivery.disable_after = Duration::from_secs(3600);
    cfg.delivery.breaker_threshold = 100;
    let h = Harness::start(cfg).await;
    let mut events = h.engine.subscribe();
    h.endpoint("a", |e| e.retry_schedule_secs = Some(vec![600; 20]))
        .await;
    h.transport.set_default(&url("a"), Step::status(502));
    h.publish("order.filled", "{}").await;
    let disabled = next_disabled(&mut events).await;
    assert_eq!(disabled.reason, "failing");
    // 600 s apart (±10%): the attempt at or after one hour is the one that disables.
    let attempts = h.transport.sent().len();
    assert!((6..=8).contains(&attempts), "{attempts} attempts");
}

#[tokio::test(start_paused = true)]
async fn manual_disable_dead_letters_pending_work_without_an_event() {
    let h = Harness::start(config()).await;
    let mut events = h.engine.subscribe();
    let created = h
        .endpoint("a", |e| e.retry_schedule_secs = Some(vec![300]))
        .await;
    let id = created.info.endpoint.id.clone();
    h.transport.set_default(&url("a"), Step::status(500));
    h.publish("order.filled", "{}").await;
    h.publish("order.filled", "{}").await;
    assert!(h.transport.wait_for(2, Duration::from_secs(10)).await);
    let disable = EndpointPatch {
        active: Some(false),
        ..Default::default()
    };
    let info = h
        .engine
        .update_endpoint(&h.tenant, &id, disable)
        .await
        .unwrap();
    assert_eq!(info.endpoint.disabled_reason, Some(DisabledReason::Manual));
    eventually(Duration::from_secs(10), || async {
        h.engine
            .get_endpoint(&h.tenant, &id)
            .await
            .unwrap()
            .counts
            .dead
            == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(h.transport.sent().len(), 2, "no attempts after the disable");
    assert!(matches!(
        events.try_recv(),
        Err(tokio::sync::broadcast::error::TryRecvError::Empty)
    ));
}

/// http-api.md: deleting drops pending deliveries as `endpoint_deleted`.
#[tokio::test(start_paused = true)]
async fn deleting_an_endpoint_marks_its_pending_deliveries_dead() {
    let h = Harness::start(config()).await;
    let created = h
        .endpoint("a", |e| e.retry_schedule_secs = Some(vec![300]))
        .await;
    h.transport.set_default(&url("a"), Step::status(500));
    let published = h.publish("order.filled", "{}").await;
    assert!(h.transport.wait_for(1, Duration::from_secs(10)).await);
    h.engine
        .delete_endpoint(&h.tenant, &created.info.endpoint.id)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || async {
        let d = h
            .engine
            .event_deliveries(&h.tenant, &published.event.id, &PageRequest::first(250))
            .await
            .unwrap()
            .items;
        d[0].dead_reason == Some(DeadReason::EndpointDeleted)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(h.transport.sent().len(), 1);
}

//! Crashes and restarts: a failed actor is restarted from storage without touching
//! other endpoints; pending work resumes after an engine restart; idle endpoints hold
//! no actor.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, eventually, url, Harness, ScriptedTransport, Step};
use herald::{DeliveryStatus, EngineConfig, EventId, PageRequest};

#[tokio::test(start_paused = true)]
async fn a_failed_actor_is_restarted_and_reloads_its_pending_work() {
    let h = Harness::start(config()).await;
    let flaky = h
        .endpoint("flaky", |e| e.retry_schedule_secs = Some(vec![60]))
        .await;
    h.endpoint("steady", |_| {}).await;
    h.transport.script(&url("flaky"), [Step::status(500)]);
    let first = h.publish("order.filled", "{}").await;
    assert!(h.transport.wait_for(2, Duration::from_secs(10)).await);
    // The flaky endpoint's actor holds a retry due in a minute; crash it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    h.engine.crash_endpoint_actor(&flaky.info.endpoint.id);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = h.publish("order.filled", "{}").await;
    eventually(Duration::from_secs(300), || async {
        let mut done = true;
        for id in [&first.event.id, &second.event.id] {
            let deliveries = h
                .engine
                .event_deliveries(&h.tenant, id, &PageRequest::first(250))
                .await
                .unwrap()
                .items;
            done &= deliveries
                .iter()
                .all(|d| d.status == DeliveryStatus::Succeeded);
        }
        done
    })
    .await;
    assert_eq!(h.transport.sent_to(&url("steady")).len(), 2);
    assert_eq!(h.transport.sent_to(&url("flaky")).len(), 3);
}

/// An engine whose endpoint `a` (retrying every `retry_secs`) answered 503 to one
/// event `failures` times, then stopped; and a new engine on the same storage whose
/// transport accepts everything. Returns the new engine, its transport and the event.
async fn fail_then_restart(
    config: EngineConfig,
    retry_secs: Vec<u64>,
    failures: usize,
) -> (Harness, Arc<ScriptedTransport>, EventId) {
    let h = Harness::start(config.clone()).await;
    h.endpoint("a", |e| e.retry_schedule_secs = Some(retry_secs))
        .await;
    h.transport.set_default(&url("a"), Step::status(503));
    let published = h.publish("order.filled", "{}").await;
    assert!(
        h.transport
            .wait_for(failures, Duration::from_secs(60))
            .await
    );
    h.engine.shutdown(Duration::from_secs(1)).await.unwrap();
    let transport = Arc::new(ScriptedTransport::new());
    let restarted = Harness::start_on(h.storage.clone(), transport.clone(), config).await;
    (restarted, transport, published.event.id)
}

#[tokio::test(start_paused = true)]
async fn pending_work_resumes_after_an_engine_restart() {
    let (restarted, transport, event_id) = fail_then_restart(config(), vec![5], 1).await;
    assert!(transport.wait_for(1, Duration::from_secs(60)).await);
    assert_eq!(transport.sent()[0].header("x-delivery-attempt"), "2");
    restarted
        .wait_until_all(
            &event_id,
            DeliveryStatus::Succeeded,
            Duration::from_secs(10),
        )
        .await;
}

/// A breaker open when the engine stopped probes at once after the restart (the
/// receiver may be back), rather than waiting out a cooldown begun before it.
#[tokio::test(start_paused = true)]
async fn an_open_breaker_probes_at_once_after_an_engine_restart() {
    let mut opens_at_once = config();
    // One failure opens the breaker for the default 30 s.
    opens_at_once.delivery.breaker_threshold = 1;
    let (restarted, transport, event_id) = fail_then_restart(opens_at_once, vec![1; 5], 1).await;
    // The retry is due about 1 s after the failure; the old cooldown would hold it 30 s.
    assert!(
        transport.wait_for(1, Duration::from_secs(5)).await,
        "probe once the retry is due, not after the 30 s cooldown"
    );
    restarted
        .wait_until_all(
            &event_id,
            DeliveryStatus::Succeeded,
            Duration::from_secs(10),
        )
        .await;
}

/// Idle endpoints cost no actor.
#[tokio::test(start_paused = true)]
async fn idle_endpoints_hold_no_actor() {
    let h = Harness::start(config()).await;
    for n in 0..20 {
        h.endpoint(&format!("e{n}"), |_| {}).await;
    }
    h.publish("order.filled", "{}").await;
    assert!(h.transport.wait_for(20, Duration::from_secs(10)).await);
    assert!(h.engine.running_endpoint_actors().await.unwrap() > 0);
    eventually(Duration::from_secs(30), || async {
        h.engine.running_endpoint_actors().await.unwrap() == 0
    })
    .await;
    assert!(h.engine.is_ready());
}

#[tokio::test(start_paused = true)]
async fn shutdown_refuses_new_publishes() {
    let h = Harness::start(config()).await;
    h.engine.shutdown(Duration::from_secs(1)).await.unwrap();
    let refused = h
        .engine
        .publish(&h.tenant, herald::NewEvent::new("a.b", "{}").unwrap())
        .await;
    assert!(matches!(refused, Err(herald::Error::NotRunning)));
    assert!(!h.engine.is_ready());
}

/// An engine started on a store of more endpoints than one start-up page
/// (`ENDPOINT_PAGE`, 1,024) routes to every one of them: the pages join without a
/// gap or an overlap.
#[tokio::test(start_paused = true)]
async fn a_restart_indexes_endpoints_past_the_first_start_up_page() {
    let mut cfg = config();
    cfg.tenants.max_endpoints = 2000;
    let h = Harness::start(cfg).await;
    for i in 0..1100 {
        h.endpoint(&format!("e{i}"), |e| {
            e.event_types = Some(vec![format!("t.e{i}")]);
        })
        .await;
    }
    h.engine.shutdown(Duration::from_secs(1)).await.unwrap();
    let restarted = Harness::start_on(
        h.storage.clone(),
        Arc::new(ScriptedTransport::new()),
        config(),
    )
    .await;
    for i in [0, 1, 1023, 1024, 1025, 1099] {
        let published = restarted.publish(&format!("t.e{i}"), "{}").await;
        assert_eq!(published.event.deliveries, 1, "endpoint e{i}");
    }
}

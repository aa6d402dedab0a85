//! Notifications are events (access.md §3), in the engine: a breaker that opens and
//! closes again is announced as `herald.endpoint.breaker_opened` and
//! `herald.endpoint.breaker_closed` to endpoints that name a `herald.` type only, and
//! the engine's listeners still hear of disables.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{config, eventually, url, Harness, Step};
use herald::storage::Storage;
use herald::{EventFilter, OperationalEvent, PageRequest};

async fn stored_of_type(h: &Harness, event_type: &str) -> usize {
    let filter = EventFilter {
        event_type: Some(event_type.into()),
        ..EventFilter::default()
    };
    h.storage
        .list_events(&h.tenant, &filter, &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test(start_paused = true)]
async fn a_breaker_that_opens_and_closes_is_announced_to_herald_subscribers_only() {
    let mut cfg = config();
    cfg.delivery.breaker_threshold = 2;
    cfg.delivery.breaker_cooldown = Duration::from_secs(10);
    cfg.delivery.retry_schedule = vec![Duration::from_secs(1); 8];
    let h = Harness::start(cfg).await;
    let flaky = h
        .endpoint("flaky", |e| e.event_types = Some(vec!["order.*".into()]))
        .await;
    h.endpoint("watcher", |e| {
        e.event_types = Some(vec!["herald.endpoint.*".into()])
    })
    .await;
    h.endpoint("everything", |_| {}).await;
    h.transport
        .script(&url("flaky"), [Step::status(500), Step::status(500)]);
    h.publish("order.filled", "{}").await;

    eventually(Duration::from_secs(60), || async {
        stored_of_type(&h, "herald.endpoint.breaker_opened").await == 1
    })
    .await;
    eventually(Duration::from_secs(120), || async {
        stored_of_type(&h, "herald.endpoint.breaker_closed").await == 1
    })
    .await;
    eventually(Duration::from_secs(10), || async {
        h.transport.sent_to(&url("watcher")).len() == 2
    })
    .await;
    let watcher = h.transport.sent_to(&url("watcher"));
    let types: Vec<String> = watcher.iter().map(|r| r.header("x-event-type")).collect();
    assert_eq!(
        types,
        [
            "herald.endpoint.breaker_opened",
            "herald.endpoint.breaker_closed"
        ]
    );
    let body = String::from_utf8(watcher[0].body.to_vec()).unwrap();
    assert!(
        body.contains(&format!("\"endpoint_id\":\"{}\"", flaky.info.endpoint.id)),
        "{body}"
    );
    assert!(h
        .transport
        .sent_to(&url("everything"))
        .iter()
        .all(|r| r.header("x-event-type") == "order.filled"));
}

#[tokio::test(start_paused = true)]
async fn listeners_still_hear_of_automatic_disables() {
    let h = Harness::start(config()).await;
    let mut listener = h.engine.subscribe();
    let gone = h.endpoint("gone", |_| {}).await;
    h.transport.script(&url("gone"), [Step::status(410)]);
    h.publish("order.filled", "{}").await;
    let heard = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(OperationalEvent::EndpointDisabled(disabled)) = listener.recv().await {
                return disabled;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(heard.endpoint_id, gone.info.endpoint.id);
    assert_eq!(stored_of_type(&h, "herald.endpoint.disabled").await, 1);
}

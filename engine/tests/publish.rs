//! Publishing: matching, the request receivers get, idempotency, tenant isolation, and
//! endpoint changes taking effect at once (delivery.md §1–§2, http-api.md "Events").
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{config, eventually, url, Harness};
use herald::signing::{verify_standard, DEFAULT_TOLERANCE};
use herald::{EndpointPatch, Error, NewEvent, TenantId};

const WAIT: Duration = Duration::from_secs(30);

/// delivery.md §1–§2: headers, compact body, and a standard signature that verifies.
#[tokio::test(start_paused = true)]
async fn publish_reaches_matching_endpoints_with_the_documented_request() {
    let h = Harness::start(config()).await;
    let orders = h
        .endpoint("orders", |e| e.event_types = Some(vec!["order.*".into()]))
        .await;
    h.endpoint("deposits", |e| {
        e.event_types = Some(vec!["deposit.received".into()])
    })
    .await;
    let published = h
        .publish(
            "order.filled",
            "{ \"price\" : 45000.0, \"s\": \"\\u00e9\" }",
        )
        .await;
    assert_eq!(published.event.deliveries, 1);
    assert!(h.transport.wait_for(1, WAIT).await);
    let sent = h.transport.sent();
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.url, url("orders"));
    assert_eq!(request.header("webhook-id"), published.event.id.as_str());
    assert_eq!(request.header("x-event-type"), "order.filled");
    assert_eq!(request.header("x-delivery-attempt"), "1");
    assert!(request.header("x-delivery-id").starts_with("dlv_"));
    assert_eq!(request.header("content-type"), "application/json");
    assert!(request.header("user-agent").starts_with("Herald/"));
    let body = std::str::from_utf8(&request.body).unwrap();
    let expected = format!(
        "{{\"id\":\"{}\",\"type\":\"order.filled\",\"created_at\":\"{}\",\"data\":{{\"price\":45000.0,\"s\":\"\\u00e9\"}}}}",
        published.event.id,
        published.event.created_at.to_rfc3339()
    );
    assert_eq!(body, expected);
    let timestamp = request.header("webhook-timestamp");
    verify_standard(
        orders.secret.expose(),
        &request.header("webhook-id"),
        &timestamp,
        &request.header("webhook-signature"),
        &request.body,
        timestamp.parse().unwrap(),
        DEFAULT_TOLERANCE,
    )
    .unwrap();
}

/// http-api.md: a repeated idempotency key creates nothing and answers the first event.
#[tokio::test(start_paused = true)]
async fn idempotent_publish_creates_nothing_twice() {
    let h = Harness::start(config()).await;
    h.endpoint("a", |_| {}).await;
    let input = || {
        NewEvent::new("order.filled", "{}")
            .unwrap()
            .with_id("order-42:filled")
    };
    let first = h.engine.publish(&h.tenant, input()).await.unwrap();
    let second = h.engine.publish(&h.tenant, input()).await.unwrap();
    assert!(first.created);
    assert!(!second.created);
    assert_eq!(first.event, second.event);
    assert_eq!(first.event.id.as_str(), "order-42:filled");
    assert!(h.transport.wait_for(1, WAIT).await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.transport.sent().len(), 1);
    assert_eq!(
        h.transport.sent()[0].header("webhook-id"),
        "order-42:filled"
    );
}

/// http-api.md "Events": a repeated idempotency key with another type, data or set
/// of channels is `IdempotencyConflict`, and stores nothing; the same body written
/// differently (whitespace, channel order) is a repeat.
#[tokio::test(start_paused = true)]
async fn a_repeated_key_with_another_body_is_a_conflict() {
    let h = Harness::start(config()).await;
    h.endpoint("a", |_| {}).await;
    let input = |event_type: &str, data: &str, channels: &[&str]| {
        NewEvent::new(event_type, data)
            .unwrap()
            .with_id("order-7")
            .with_channels(channels.iter().map(|c| (*c).to_owned()).collect())
    };
    let first = h
        .engine
        .publish(
            &h.tenant,
            input("order.filled", r#"{"px":1.5}"#, &["a", "b"]),
        )
        .await
        .unwrap();
    assert!(first.created);
    let repeat = h
        .engine
        .publish(
            &h.tenant,
            input("order.filled", "{ \"px\" : 1.5 }", &["b", "a", "b"]),
        )
        .await
        .unwrap();
    assert!(!repeat.created);
    assert_eq!(repeat.event, first.event);
    for (event_type, data, channels) in [
        ("order.cancelled", r#"{"px":1.5}"#, &["a", "b"][..]),
        ("order.filled", r#"{"px":1.50}"#, &["a", "b"][..]),
        ("order.filled", r#"{"px":1.5,"qty":1}"#, &["a", "b"][..]),
        ("order.filled", r#"{"px":1.5}"#, &["a"][..]),
        ("order.filled", r#"{"px":1.5}"#, &[][..]),
    ] {
        match h
            .engine
            .publish(&h.tenant, input(event_type, data, channels))
            .await
        {
            Err(Error::IdempotencyConflict { tenant, event_id }) => {
                assert_eq!(
                    (tenant, event_id),
                    (h.tenant.clone(), first.event.id.clone())
                );
            }
            other => panic!("{event_type} {data} {channels:?}: {other:?}"),
        }
    }
    let stored = h
        .engine
        .get_event(&h.tenant, &first.event.id)
        .await
        .unwrap();
    assert_eq!(stored, first.event, "the first event is kept as it was");
    assert_eq!(h.deliveries(&first.event.id).await.len(), 1);
    assert!(h.transport.wait_for(1, WAIT).await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.transport.sent().len(), 1, "one delivery, sent once");
}

#[tokio::test(start_paused = true)]
async fn tenants_never_see_each_others_events() {
    let h = Harness::start(config()).await;
    h.endpoint("a", |_| {}).await;
    let other = TenantId::parse("other").unwrap();
    let published = h
        .engine
        .publish(&other, NewEvent::new("order.filled", "{}").unwrap())
        .await
        .unwrap();
    assert_eq!(published.event.deliveries, 0);
    assert!(h
        .engine
        .get_event(&h.tenant, &published.event.id)
        .await
        .is_err());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(h.transport.sent().is_empty());
}

/// A known failure of other systems: a cached index serving stale endpoints.
#[tokio::test(start_paused = true)]
async fn endpoint_changes_take_effect_for_the_very_next_publish() {
    let h = Harness::start(config()).await;
    let created = h.endpoint("a", |_| {}).await;
    let id = created.info.endpoint.id.clone();
    assert_eq!(h.publish("order.filled", "{}").await.event.deliveries, 1);
    let patch = EndpointPatch {
        event_types: Some(Some(vec!["deposit.*".into()])),
        ..Default::default()
    };
    h.engine
        .update_endpoint(&h.tenant, &id, patch)
        .await
        .unwrap();
    assert_eq!(h.publish("order.filled", "{}").await.event.deliveries, 0);
    assert_eq!(
        h.publish("deposit.received", "{}").await.event.deliveries,
        1
    );
    let disable = EndpointPatch {
        active: Some(false),
        ..Default::default()
    };
    h.engine
        .update_endpoint(&h.tenant, &id, disable)
        .await
        .unwrap();
    assert_eq!(
        h.publish("deposit.received", "{}").await.event.deliveries,
        0
    );
    let enable = EndpointPatch {
        active: Some(true),
        ..Default::default()
    };
    h.engine
        .update_endpoint(&h.tenant, &id, enable)
        .await
        .unwrap();
    assert_eq!(
        h.publish("deposit.received", "{}").await.event.deliveries,
        1
    );
    h.engine.delete_endpoint(&h.tenant, &id).await.unwrap();
    assert_eq!(
        h.publish("deposit.received", "{}").await.event.deliveries,
        0
    );
}

#[tokio::test(start_paused = true)]
async fn channels_narrow_what_an_endpoint_receives() {
    let h = Harness::start(config()).await;
    h.endpoint("btc", |e| e.channels = Some(vec!["BTC-USD".into()]))
        .await;
    let plain = h.publish("price.alert", "{}").await;
    assert_eq!(plain.event.deliveries, 0);
    let input = NewEvent::new("price.alert", "{}")
        .unwrap()
        .with_channels(vec!["ETH-USD".into(), "BTC-USD".into()]);
    let matched = h.engine.publish(&h.tenant, input).await.unwrap();
    assert_eq!(matched.event.deliveries, 1);
}

#[tokio::test(start_paused = true)]
async fn bad_events_are_refused_and_change_nothing() {
    let mut cfg = config();
    cfg.delivery.max_payload_bytes = 100;
    let h = Harness::start(cfg).await;
    h.endpoint("a", |_| {}).await;
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(200));
    let too_large = h
        .engine
        .publish(&h.tenant, NewEvent::new("a.b", &big).unwrap())
        .await;
    assert!(matches!(too_large, Err(Error::PayloadTooLarge { .. })));
    let bad_type = h
        .engine
        .publish(&h.tenant, NewEvent::new("a b\r\n", "{}").unwrap())
        .await;
    assert!(matches!(bad_type, Err(Error::Invalid(ref i)) if i.field == "type"));
    let bad_id = h
        .engine
        .publish(
            &h.tenant,
            NewEvent::new("a.b", "{}").unwrap().with_id("a/b"),
        )
        .await;
    assert!(matches!(bad_id, Err(Error::Invalid(ref i)) if i.field == "id"));
    let page = herald::PageRequest::first(10);
    let events = h
        .engine
        .list_events(&h.tenant, &Default::default(), &page)
        .await
        .unwrap();
    assert!(events.items.is_empty());
    eventually(Duration::from_secs(1), || async { true }).await;
    assert!(h.transport.sent().is_empty());
}

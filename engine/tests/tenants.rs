//! Tenants that run themselves (access.md §2 and §4): quotas refuse what is over
//! them and store nothing, the default profile applies, and the event catalog's
//! schemas and strictness check publishes; test events send the catalog's example.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{config, url, Harness};
use herald::model::{EventTypeInput, TenantInput};
use herald::storage::Storage;
use herald::{Error, EventFilter, NewEndpoint, NewEvent, PageRequest};
use serde_json::value::RawValue;

fn raw(text: &str) -> Option<Box<RawValue>> {
    Some(RawValue::from_string(text.to_owned()).unwrap())
}

async fn events_stored(h: &Harness) -> usize {
    h.storage
        .list_events(&h.tenant, &EventFilter::default(), &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test(start_paused = true)]
async fn max_endpoints_refuses_one_more_and_stores_nothing() {
    let h = Harness::start(config()).await;
    let input = TenantInput {
        max_endpoints: Some(2),
        ..TenantInput::default()
    };
    h.engine
        .put_tenant_settings(&h.tenant, input)
        .await
        .unwrap();
    h.endpoint("a", |_| {}).await;
    h.endpoint("b", |_| {}).await;
    let third = h
        .engine
        .create_endpoint(&h.tenant, NewEndpoint::new(url("c")))
        .await;
    let Err(Error::Conflict(message)) = third else {
        panic!("{third:?}")
    };
    assert!(message.contains("2"), "{message}");
    assert_eq!(h.storage.count_endpoints(&h.tenant).await.unwrap(), 2);
}

/// A repeated idempotency key over the rate still gets its answer: the first event
/// for the same body, a conflict for another; neither takes a token or stores.
#[tokio::test(start_paused = true)]
async fn a_repeated_key_is_answered_over_the_publish_rate() {
    let h = Harness::start(config()).await;
    let input = TenantInput {
        publish_rate: Some(1),
        ..TenantInput::default()
    };
    h.engine
        .put_tenant_settings(&h.tenant, input)
        .await
        .unwrap();
    let keyed = |data: &str| {
        let mut event = NewEvent::new("order.filled", data).unwrap();
        event.id = Some("order-1".into());
        event
    };
    let first = h.engine.publish(&h.tenant, keyed("{}")).await.unwrap();
    let again = h.engine.publish(&h.tenant, keyed("{}")).await.unwrap();
    assert!(!again.created, "{again:?}");
    assert_eq!(again.event.id, first.event.id);
    let other = h.engine.publish(&h.tenant, keyed("{\"n\":1}")).await;
    assert!(
        matches!(other, Err(Error::IdempotencyConflict { .. })),
        "{other:?}"
    );
    // A new key is still over the rate.
    let fresh = h
        .engine
        .publish(&h.tenant, NewEvent::new("order.filled", "{}").unwrap())
        .await;
    assert!(matches!(fresh, Err(Error::RateLimited { .. })), "{fresh:?}");
    assert_eq!(events_stored(&h).await, 1);
}

#[tokio::test(start_paused = true)]
async fn publish_rate_refuses_with_a_wait_and_stores_nothing() {
    let h = Harness::start(config()).await;
    let input = TenantInput {
        publish_rate: Some(3),
        ..TenantInput::default()
    };
    h.engine
        .put_tenant_settings(&h.tenant, input)
        .await
        .unwrap();
    for _ in 0..3 {
        h.publish("order.filled", "{}").await;
    }
    let over = h
        .engine
        .publish(&h.tenant, NewEvent::new("order.filled", "{}").unwrap())
        .await;
    let Err(Error::RateLimited { retry_after }) = over else {
        panic!("{over:?}")
    };
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));
    assert_eq!(
        events_stored(&h).await,
        3,
        "the refused publish stored nothing"
    );
    tokio::time::advance(retry_after).await;
    h.publish("order.filled", "{}").await;
}

#[tokio::test(start_paused = true)]
async fn the_default_profile_applies_to_endpoints_created_without_one() {
    let h = Harness::start(config()).await;
    let input = TenantInput {
        default_profile: Some("hex".into()),
        ..TenantInput::default()
    };
    h.engine
        .put_tenant_settings(&h.tenant, input)
        .await
        .unwrap();
    let created = h.endpoint("a", |_| {}).await;
    assert_eq!(created.info.endpoint.profile, "hex");
    let bad = TenantInput {
        default_profile: Some("nope".into()),
        ..TenantInput::default()
    };
    let refused = h.engine.put_tenant_settings(&h.tenant, bad).await;
    assert!(
        matches!(refused, Err(Error::Invalid(ref i)) if i.field == "default_profile"),
        "{refused:?}"
    );
    let view = h.engine.tenant_settings(&h.tenant).await.unwrap();
    assert_eq!(
        view.default_profile, "hex",
        "a refused change changed nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_schema_refuses_data_naming_the_first_failing_path() {
    let h = Harness::start(config()).await;
    let entry = EventTypeInput {
        description: Some("an order was filled".into()),
        example: raw(r#"{"price": 45000.0, "size": 1}"#),
        schema: raw(
            r#"{"type":"object","required":["price"],"properties":{"price":{"type":"number"},"size":{"type":"integer"}}}"#,
        ),
    };
    h.engine
        .put_event_type(&h.tenant, "order.filled", entry)
        .await
        .unwrap();
    h.publish("order.filled", r#"{"price": 1.5, "size": 2}"#)
        .await;
    let refused = h
        .engine
        .publish(
            &h.tenant,
            NewEvent::new("order.filled", r#"{"price": "cheap"}"#).unwrap(),
        )
        .await;
    let Err(Error::Invalid(invalid)) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(invalid.field, "data/price");
    assert_eq!(events_stored(&h).await, 1);
    // A type outside the catalog is fine until the tenant turns strict.
    h.publish("order.other", "{}").await;
    let strict = TenantInput {
        strict_types: Some(true),
        ..TenantInput::default()
    };
    h.engine
        .put_tenant_settings(&h.tenant, strict)
        .await
        .unwrap();
    let refused = h
        .engine
        .publish(&h.tenant, NewEvent::new("order.other", "{}").unwrap())
        .await;
    assert!(
        matches!(refused, Err(Error::Invalid(ref i)) if i.field == "type"),
        "{refused:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_catalog_entry_is_checked_when_put() {
    let h = Harness::start(config()).await;
    let cases = [
        ("herald.mine", EventTypeInput::default(), "type"),
        ("bad type!", EventTypeInput::default(), "type"),
        (
            "order.filled",
            EventTypeInput {
                schema: raw(r#"{"type": 12}"#),
                ..EventTypeInput::default()
            },
            "schema",
        ),
        (
            "order.filled",
            EventTypeInput {
                schema: raw(r#"{"type": "object"}"#),
                example: raw("[1]"),
                ..EventTypeInput::default()
            },
            "example",
        ),
        (
            "order.filled",
            EventTypeInput {
                description: Some("x".repeat(2000)),
                ..EventTypeInput::default()
            },
            "description",
        ),
    ];
    for (event_type, input, field) in cases {
        let refused = h.engine.put_event_type(&h.tenant, event_type, input).await;
        assert!(
            matches!(refused, Err(Error::Invalid(ref i)) if i.field == field),
            "{event_type}: {refused:?}"
        );
    }
    let listed = h
        .engine
        .list_event_types(&h.tenant, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "nothing was stored");
}

#[tokio::test(start_paused = true)]
async fn a_test_event_of_a_catalog_type_sends_its_example() {
    let h = Harness::start(config()).await;
    let created = h.endpoint("a", |_| {}).await;
    let entry = EventTypeInput {
        example: raw(r#"{"orderId": "ord_789", "price": 45000.0}"#),
        ..EventTypeInput::default()
    };
    h.engine
        .put_event_type(&h.tenant, "order.filled", entry)
        .await
        .unwrap();
    h.engine
        .send_test_event(
            &h.tenant,
            &created.info.endpoint.id,
            Some("order.filled".into()),
            None,
        )
        .await
        .unwrap();
    assert!(h.transport.wait_for(1, Duration::from_secs(10)).await);
    let body = String::from_utf8(h.transport.sent()[0].body.to_vec()).unwrap();
    assert!(
        body.contains(r#""data":{"orderId":"ord_789","price":45000.0}"#),
        "{body}"
    );
}

#[tokio::test(start_paused = true)]
async fn publishers_may_not_use_the_reserved_prefix() {
    let h = Harness::start(config()).await;
    let refused = h
        .engine
        .publish(
            &h.tenant,
            NewEvent::new("herald.endpoint.disabled", "{}").unwrap(),
        )
        .await;
    assert!(
        matches!(refused, Err(Error::Invalid(ref i)) if i.field == "type"),
        "{refused:?}"
    );
    assert_eq!(events_stored(&h).await, 0);
}

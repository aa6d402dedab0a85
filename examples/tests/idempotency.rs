//! Idempotency keys through `heraldd` (http-api.md "Events"): a repeated key with
//! the same body answers 200 with the first event; with another body, 409 and
//! nothing stored.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Call, Daemon, Options};
use hyper::Method;
use serde_json::json;

const EVENTS: &str = "/v1/tenants/acme/events";
const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";

/// http-api.md "Events": the same type, the same data up to whitespace and the same
/// set of channels is a repeat: 200 and the first event object, nothing created.
#[tokio::test]
async fn a_repeated_key_with_the_same_body_answers_200_with_the_first_event() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let endpoint = daemon
        .post(ENDPOINTS, &json!({"url": "http://127.0.0.1:9/hooks"}))
        .await;
    assert_eq!(endpoint.status, 201);
    let first = daemon
        .post(
            EVENTS,
            &json!({"type": "order.filled", "data": {"n": 1, "px": 1.5},
                    "id": "order-1:filled", "channels": ["BTC", "ETH"]}),
        )
        .await;
    assert_eq!(first.status, 202, "{}", first.text());
    assert_eq!(first.json["id"], "order-1:filled");
    // The same body, written with other whitespace and the channels in another order.
    let body = "{\"id\": \"order-1:filled\", \"channels\": [\"ETH\", \"BTC\"],\n \
                \"type\": \"order.filled\", \"data\": { \"n\" : 1, \"px\" : 1.5 } }";
    let second = daemon
        .send(Call::new(Method::POST, EVENTS).raw("application/json", body))
        .await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json, first.json);
    let listed = daemon.get(EVENTS).await;
    assert_eq!(listed.json["data"].as_array().unwrap().len(), 1);
    let deliveries = daemon
        .get(&format!("{EVENTS}/order-1:filled/deliveries"))
        .await;
    assert_eq!(deliveries.json["data"].as_array().unwrap().len(), 1);
}

/// http-api.md "Events": another type, other data (even a number spelled another
/// way) or another set of channels under a used key is 409 `conflict`, and the
/// first event stays as it was, with its deliveries alone.
#[tokio::test]
async fn a_repeated_key_with_another_body_is_409_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let endpoint = daemon
        .post(ENDPOINTS, &json!({"url": "http://127.0.0.1:9/hooks"}))
        .await;
    assert_eq!(endpoint.status, 201);
    let first_body = json!({"type": "order.filled", "data": {"n": 1}, "id": "order-2"});
    let first = daemon.post(EVENTS, &first_body).await;
    assert_eq!(first.status, 202, "{}", first.text());
    for body in [
        json!({"type": "order.cancelled", "data": {"n": 1}, "id": "order-2"}),
        json!({"type": "order.filled", "data": {"n": 2}, "id": "order-2"}),
        json!({"type": "order.filled", "data": {"n": 1.0}, "id": "order-2"}),
        json!({"type": "order.filled", "data": {"n": 1, "m": 2}, "id": "order-2"}),
        json!({"type": "order.filled", "data": {"n": 1}, "id": "order-2", "channels": ["BTC"]}),
    ] {
        let reply = daemon.post(EVENTS, &body).await;
        assert_eq!((reply.status, reply.code()), (409, "conflict"), "{body}");
        assert!(reply.message().contains("order-2"), "{}", reply.message());
    }
    let stored = daemon.get(&format!("{EVENTS}/order-2")).await;
    assert_eq!(stored.json["type"], "order.filled");
    assert_eq!(stored.json["data"], json!({"n": 1}));
    let listed = daemon.get(EVENTS).await;
    assert_eq!(listed.json["data"].as_array().unwrap().len(), 1);
    let deliveries = daemon.get(&format!("{EVENTS}/order-2/deliveries")).await;
    assert_eq!(deliveries.json["data"].as_array().unwrap().len(), 1);
    // The first body again is still a repeat.
    let again = daemon.post(EVENTS, &first_body).await;
    assert_eq!(again.status, 200, "{}", again.text());
}

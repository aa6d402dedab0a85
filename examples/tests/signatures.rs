//! The walkthrough of http-api.md against the real `heraldd`: create an endpoint, keep
//! its secret, publish, verify the receiver's request, read the attempts, disable,
//! find the dead letters, replay them; and signing of the operational webhook.
#![allow(clippy::unwrap_used)]

mod common;

use common::{eventually, Call, Daemon, Options, WAIT};
use herald_testkit::receiver::{Mode, Receiver, RecordedRequest};
use http::Method;
use serde_json::{json, Value};

const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";
const EVENTS: &str = "/v1/tenants/acme/events";

/// Checks a request's Standard Webhooks signature with the receiver-side verifier.
fn assert_signed(request: &RecordedRequest, secret: &str) {
    request.verify_standard(secret).unwrap();
}

/// http-api.md end to end; delivery.md §1 (the request), §2 (its signature), §3
/// (attempt log), §5 (a disable moves pending deliveries to dead letters).
#[tokio::test]
async fn walkthrough_publish_verify_disable_and_replay() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;

    // An hour between attempts: a failed delivery stays pending while we look at it.
    let created = daemon
        .post(
            ENDPOINTS,
            &json!({
                "url": receiver.url("/hooks"),
                "event_types": ["order.*"],
                "retry_schedule_secs": [3600],
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let secret = created.json["secret"].as_str().unwrap().to_owned();
    let endpoint_id = created.json["id"].as_str().unwrap().to_owned();
    let endpoint = format!("{ENDPOINTS}/{endpoint_id}");
    assert!(endpoint_id.starts_with("ep_"));
    assert_eq!(created.json["breaker"], "closed");
    assert_eq!(created.json["retry_schedule_secs"], json!([3600]));

    // Published and delivered, signed.
    let published = daemon
        .post(
            EVENTS,
            &json!({"type": "order.filled", "data": {"orderId": "ord_789", "price": 45000.0}}),
        )
        .await;
    assert_eq!(published.status, 202, "{}", published.text());
    assert_eq!(published.json["deliveries"], 1);
    let event_id = published.json["id"].as_str().unwrap().to_owned();
    let unmatched = daemon
        .post(EVENTS, &json!({"type": "invoice.paid", "data": {}}))
        .await;
    assert_eq!(unmatched.json["deliveries"], 0);

    assert!(receiver.wait_for(1, WAIT).await);
    let request = &receiver.requests()[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.header("webhook-id"), Some(event_id.as_str()));
    assert_eq!(request.header("x-event-type"), Some("order.filled"));
    assert_eq!(request.header("x-delivery-attempt"), Some("1"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_signed(request, &secret);
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["id"], event_id.as_str());
    assert_eq!(body["type"], "order.filled");
    let raw = String::from_utf8(request.body.to_vec()).unwrap();
    assert!(
        raw.contains("\"price\":45000.0"),
        "data kept byte for byte: {raw}"
    );

    // The attempt log and the delivery's state.
    let attempts = eventually("the attempt to be logged", || async {
        let reply = daemon
            .get(&format!("{endpoint}/attempts?outcome=success"))
            .await;
        let data = reply.json["data"].as_array().cloned().unwrap_or_default();
        (!data.is_empty()).then_some(data)
    })
    .await;
    assert_eq!(attempts[0]["status"], 200);
    assert_eq!(attempts[0]["event_id"], event_id.as_str());
    assert_eq!(attempts[0]["attempt"], 1);
    assert_eq!(attempts[0]["response_body"], "ok");
    let deliveries = daemon.get(&format!("{EVENTS}/{event_id}/deliveries")).await;
    assert_eq!(deliveries.json["data"][0]["status"], "succeeded");
    let event = daemon.get(&format!("{EVENTS}/{event_id}")).await;
    assert_eq!(event.json["data"]["orderId"], "ord_789");

    // A failing receiver leaves the next delivery pending; disabling the endpoint
    // moves it to the dead letters.
    receiver.set_mode("/hooks", Mode::Status(500));
    let second = daemon
        .post(EVENTS, &json!({"type": "order.cancelled", "data": {}}))
        .await;
    let second_id = second.json["id"].as_str().unwrap().to_owned();
    assert!(receiver.wait_for(2, WAIT).await);
    eventually("the failed attempt to be logged", || async {
        let reply = daemon
            .get(&format!("{endpoint}/attempts?outcome=failure"))
            .await;
        (reply.json["data"][0]["status"] == 500).then_some(())
    })
    .await;
    let disabled = daemon
        .call(Method::PATCH, &endpoint, &json!({"active": false}))
        .await;
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.json["disabled_reason"], "manual");
    let dead = eventually("the pending delivery to be dead-lettered", || async {
        let reply = daemon.get(&format!("{endpoint}/dead-letters")).await;
        let data = reply.json["data"].as_array().cloned().unwrap_or_default();
        (!data.is_empty()).then_some(data)
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["event_id"], second_id.as_str());
    assert_eq!(dead[0]["status"], "dead");
    assert_eq!(dead[0]["dead_reason"], "endpoint_disabled");

    // Re-enabled and replayed: delivered, as attempt 2 of the same webhook-id.
    let enabled = daemon
        .call(Method::PATCH, &endpoint, &json!({"active": true}))
        .await;
    assert_eq!(enabled.json["active"], true);
    assert!(enabled.json["disabled_reason"].is_null());
    receiver.set_mode("/hooks", Mode::Ok);
    let replayed = daemon
        .send(Call::new(
            Method::POST,
            &format!("{endpoint}/dead-letters/replay"),
        ))
        .await;
    assert_eq!(replayed.status, 202, "{}", replayed.text());
    assert_eq!(replayed.json, json!({"replayed": 1}));
    assert!(receiver.wait_for(3, WAIT).await);
    let requests = receiver.requests();
    // Each request as webhook-id and attempt, shown if the order is not as expected.
    let seen: Vec<(Option<&str>, Option<&str>)> = requests
        .iter()
        .map(|r| (r.header("webhook-id"), r.header("x-delivery-attempt")))
        .collect();
    let again = &requests[2];
    assert_eq!(
        again.header("webhook-id"),
        Some(second_id.as_str()),
        "requests: {seen:?}"
    );
    assert_eq!(
        again.header("x-delivery-attempt"),
        Some("2"),
        "requests: {seen:?}"
    );
    assert_signed(again, &secret);

    // One delivery retried by hand, after it succeeded.
    let delivery_id = eventually("the replayed delivery to succeed", || async {
        let reply = daemon
            .get(&format!("{EVENTS}/{second_id}/deliveries"))
            .await;
        let delivery = &reply.json["data"][0];
        (delivery["status"] == "succeeded").then(|| delivery["id"].as_str().unwrap().to_owned())
    })
    .await;
    let retried = daemon
        .send(Call::new(
            Method::POST,
            &format!("/v1/tenants/acme/deliveries/{delivery_id}/retry"),
        ))
        .await;
    assert_eq!(retried.status, 202, "{}", retried.text());
    assert_eq!(retried.json["id"], delivery_id.as_str());
    assert_eq!(retried.json["status"], "pending");
    assert!(receiver.wait_for(4, WAIT).await);
    assert_eq!(
        receiver.requests()[3].header("x-delivery-attempt"),
        Some("3")
    );
}

/// http-api.md "Endpoints": a test event reaches that endpoint only, signed.
#[tokio::test]
async fn a_test_event_reaches_only_its_endpoint() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let target = daemon
        .post(ENDPOINTS, &json!({"url": receiver.url("/target")}))
        .await;
    let other = daemon
        .post(ENDPOINTS, &json!({"url": receiver.url("/other")}))
        .await;
    assert_eq!((target.status, other.status), (201, 201));
    let path = format!("{ENDPOINTS}/{}/test", target.json["id"].as_str().unwrap());
    let reply = daemon
        .post(
            &path,
            &json!({"type": "webhook.ping", "data": {"hello": "world"}}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.json["type"], "webhook.ping");
    assert!(receiver.wait_for(1, WAIT).await);
    let request = &receiver.requests()[0];
    assert_eq!(request.path, "/target");
    assert_signed(request, target.json["secret"].as_str().unwrap());
    assert!(receiver.requests_to("/other").is_empty());
}

/// delivery.md §5: operational events are posted to `operational_webhook_url`,
/// signed `standard` with `operational_webhook_secret`, in the envelope of §1.
#[tokio::test]
async fn operational_events_are_posted_signed_to_the_operational_webhook() {
    let receiver = Receiver::builder()
        .mode("/down", Mode::Status(500))
        .start()
        .await;
    let ops_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default()
            .config(common::SHORT_SCHEDULE)
            .env("HERALD_OPERATIONAL_WEBHOOK_URL", &receiver.url("/ops"))
            .env("HERALD_OPERATIONAL_WEBHOOK_SECRET", ops_secret),
    )
    .await;
    let created = daemon
        .post(ENDPOINTS, &json!({"url": receiver.url("/down")}))
        .await;
    assert_eq!(created.status, 201);
    let published = daemon
        .post(EVENTS, &json!({"type": "order.filled", "data": {}}))
        .await;
    let event_id = published.json["id"].as_str().unwrap().to_owned();
    // Three attempts to /down (the schedule has two retries), then delivery.dead.
    assert!(receiver.wait_for(4, WAIT).await);
    let ops = eventually("the operational event", || {
        let ops = receiver.requests_to("/ops");
        async move { ops.into_iter().next() }
    })
    .await;
    assert_eq!(ops.header("x-event-type"), Some("delivery.dead"));
    assert_signed(&ops, ops_secret);
    let body: Value = serde_json::from_slice(&ops.body).unwrap();
    assert_eq!(body["type"], "delivery.dead");
    assert_eq!(body["id"], ops.header("webhook-id").unwrap());
    assert_eq!(body["data"]["event_id"], event_id.as_str());
    assert_eq!(body["data"]["reason"], "retries_exhausted");
    assert_eq!(body["data"]["attempts"], 3);
}

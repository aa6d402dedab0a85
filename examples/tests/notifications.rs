//! access.md §3 through the real `heraldd`: notifications are events of the tenant,
//! delivered durably to endpoints that name a `herald.` type (the tenant's
//! `notification_url`), never to catch-all endpoints, never about themselves; the
//! operator's webhook keeps its contract; and a notification survives a SIGKILL
//! between the disable and its delivery.
#![allow(clippy::unwrap_used)]

mod common;

use common::{eventually, Daemon, Options, WAIT};
use herald_testkit::receiver::{Mode, Receiver, RecordedRequest};
use http::Method;
use serde_json::{json, Value};

const TENANT: &str = "/v1/tenants/acme";

fn body(request: &RecordedRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// Waits until `path` got requests of every type in `types`; returns them by type.
async fn wait_for_types(receiver: &Receiver, path: &str, types: &[&str]) -> Vec<RecordedRequest> {
    eventually(&format!("{types:?} at {path}"), || {
        let got = receiver.requests_to(path);
        let found: Vec<RecordedRequest> = types
            .iter()
            .filter_map(|t| {
                got.iter()
                    .find(|r| r.header("x-event-type") == Some(t))
                    .cloned()
            })
            .collect();
        async move { (found.len() == types.len()).then_some(found) }
    })
    .await
}

/// Disabled (410) and dead: the tenant's notification endpoint gets
/// `herald.endpoint.disabled` and `herald.delivery.dead`, signed with the secret shown
/// once; a catch-all endpoint gets neither; the operator's webhook gets both without
/// the prefix; enabling again is announced too.
#[tokio::test]
async fn notifications_reach_herald_subscribers_and_the_operator_only() {
    let receiver = Receiver::builder().mode("/gone", Mode::Gone).start().await;
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
    let settings = daemon
        .call(
            Method::PUT,
            TENANT,
            &json!({"notification_url": receiver.url("/notify")}),
        )
        .await;
    assert_eq!(settings.status, 200, "{}", settings.text());
    let secret = settings.json["notification_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let notifier = settings.json["notification_endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Shown once: a later read does not show it.
    let shown = daemon.get(TENANT).await;
    assert!(shown.json.get("notification_secret").is_none());
    assert_eq!(
        shown.json["notification_url"],
        receiver.url("/notify").as_str()
    );

    let gone = daemon
        .post(
            &format!("{TENANT}/endpoints"),
            &json!({"url": receiver.url("/gone"), "event_types": ["order.*"]}),
        )
        .await;
    let gone = gone.json["id"].as_str().unwrap().to_owned();
    let all = daemon
        .post(
            &format!("{TENANT}/endpoints"),
            &json!({"url": receiver.url("/all")}),
        )
        .await;
    assert_eq!(all.status, 201);
    let published = daemon
        .post(
            &format!("{TENANT}/events"),
            &json!({"type": "order.filled", "data": {}}),
        )
        .await;
    assert_eq!(published.json["deliveries"], 2);

    let got = wait_for_types(
        &receiver,
        "/notify",
        &["herald.endpoint.disabled", "herald.delivery.dead"],
    )
    .await;
    for request in &got {
        request.verify_standard(&secret).unwrap();
    }
    let disabled = body(&got[0]);
    assert_eq!(disabled["type"], "herald.endpoint.disabled");
    assert_eq!(disabled["data"]["endpoint_id"], gone.as_str());
    assert_eq!(disabled["data"]["tenant"], "acme");
    assert_eq!(disabled["data"]["reason"], "gone");
    let dead = body(&got[1]);
    assert_eq!(dead["data"]["event_id"], published.json["id"]);
    assert_eq!(dead["data"]["reason"], "gone");

    // Stored as events of the tenant, each delivered to the notifier alone.
    let events = daemon
        .get(&format!("{TENANT}/events?type=herald.endpoint.disabled"))
        .await;
    let event = events.json["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(event, disabled["id"].as_str().unwrap());
    let deliveries = daemon
        .get(&format!("{TENANT}/events/{event}/deliveries"))
        .await;
    let targets: Vec<&str> = deliveries.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["endpoint_id"].as_str().unwrap())
        .collect();
    assert_eq!(targets, [notifier.as_str()]);
    assert!(receiver
        .requests_to("/all")
        .iter()
        .all(|r| r.header("x-event-type") == Some("order.filled")));

    // The operator's webhook: the same two, without the prefix, signed with its secret.
    let ops = wait_for_types(&receiver, "/ops", &["endpoint.disabled", "delivery.dead"]).await;
    for request in &ops {
        request.verify_standard(ops_secret).unwrap();
        assert_eq!(body(request)["data"]["tenant"], "acme");
    }
    assert_eq!(body(&ops[0])["data"]["endpoint_id"], gone.as_str());

    // Enabling it again is announced.
    let enabled = daemon
        .call(
            Method::PATCH,
            &format!("{TENANT}/endpoints/{gone}"),
            &json!({"active": true}),
        )
        .await;
    assert_eq!(enabled.status, 200);
    let got = wait_for_types(&receiver, "/notify", &["herald.endpoint.enabled"]).await;
    assert_eq!(body(&got[0])["data"]["endpoint_id"], gone.as_str());

    // Publishers may not use the prefix.
    let forged = daemon
        .post(
            &format!("{TENANT}/events"),
            &json!({"type": "herald.endpoint.disabled", "data": {}}),
        )
        .await;
    assert_eq!(forged.status, 422, "{}", forged.text());
    assert!(forged.message().starts_with("type"), "{}", forged.message());
}

/// A notification whose own delivery dies announces nothing further.
#[tokio::test]
async fn a_dead_notification_announces_nothing() {
    let receiver = Receiver::builder()
        .mode("/gone", Mode::Gone)
        .mode("/down", Mode::Status(500))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    // A breaker that stays closed: six failures in a row, none waits for a cooldown.
    let config = format!("{}breaker_threshold = 100\n", common::SHORT_SCHEDULE);
    let daemon = Daemon::start(dir.path(), Options::default().config(&config)).await;
    let settings = daemon
        .call(
            Method::PUT,
            TENANT,
            &json!({"notification_url": receiver.url("/down")}),
        )
        .await;
    let notifier = settings.json["notification_endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = daemon
        .post(
            &format!("{TENANT}/endpoints"),
            &json!({"url": receiver.url("/gone")}),
        )
        .await;
    assert_eq!(gone.status, 201);
    daemon
        .post(
            &format!("{TENANT}/events"),
            &json!({"type": "order.filled", "data": {}}),
        )
        .await;
    // Both notifications (disabled, dead) die after the schedule's three attempts.
    eventually("both notifications to die", || {
        let daemon = &daemon;
        let path = format!("{TENANT}/endpoints/{notifier}/dead-letters");
        async move {
            let dead = daemon.get(&path).await;
            (dead.json["data"].as_array().unwrap().len() == 2).then_some(())
        }
    })
    .await;
    let announced = daemon
        .get(&format!("{TENANT}/events?type=herald.delivery.dead"))
        .await;
    let announced = announced.json["data"].as_array().unwrap();
    assert_eq!(
        announced.len(),
        1,
        "only the order's delivery: {announced:?}"
    );
    assert_eq!(receiver.requests_to("/down").len(), 6);
}

/// access.md §3: a notification is stored before anything depends on it: SIGKILL
/// after the disable, before the notification is delivered, and it is delivered
/// after the restart, with the same id.
#[tokio::test]
async fn a_notification_survives_a_sigkill_before_its_delivery() {
    let receiver = Receiver::builder()
        .mode("/gone", Mode::Gone)
        .mode("/notify", Mode::Status(503))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        storage: "sled",
        ..Options::default()
    }
    .config("[delivery]\nretry_schedule = [\"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\"]\n");
    let daemon = Daemon::start(dir.path(), options.clone()).await;
    let settings = daemon
        .call(
            Method::PUT,
            TENANT,
            &json!({"notification_url": receiver.url("/notify"), "notification_types": ["endpoint.disabled"]}),
        )
        .await;
    assert_eq!(settings.status, 200, "{}", settings.text());
    let gone = daemon
        .post(
            &format!("{TENANT}/endpoints"),
            &json!({"url": receiver.url("/gone")}),
        )
        .await;
    let gone = gone.json["id"].as_str().unwrap().to_owned();
    daemon
        .post(
            &format!("{TENANT}/events"),
            &json!({"type": "order.filled", "data": {}}),
        )
        .await;
    // The disable happened and its notification was tried (and refused) once.
    let first = wait_for_types(&receiver, "/notify", &["herald.endpoint.disabled"]).await;
    let id = first[0].header("webhook-id").unwrap().to_owned();
    daemon.kill().await;

    receiver.set_mode("/notify", Mode::Ok);
    let before = receiver.requests_to("/notify").len();
    let daemon = Daemon::start(dir.path(), options).await;
    let delivered = eventually("the notification after the restart", || {
        let requests = receiver.requests_to("/notify");
        async move { (requests.len() > before).then(|| requests[before].clone()) }
    })
    .await;
    assert_eq!(delivered.header("webhook-id"), Some(id.as_str()));
    assert_eq!(body(&delivered)["data"]["endpoint_id"], gone.as_str());
    let event = daemon
        .get(&format!("{TENANT}/events/{id}/deliveries"))
        .await;
    let status = eventually("the delivery to be recorded", || {
        let daemon = &daemon;
        let path = format!("{TENANT}/events/{id}/deliveries");
        async move {
            let reply = daemon.get(&path).await;
            let status = reply.json["data"][0]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (status == "succeeded").then_some(status)
        }
    })
    .await;
    assert_eq!(status, "succeeded", "{}", event.text());
    // Announced once: the restart did not store a second notification.
    let all = daemon
        .get(&format!("{TENANT}/events?type=herald.endpoint.disabled"))
        .await;
    assert_eq!(all.json["data"].as_array().unwrap().len(), 1);
    tokio::time::timeout(WAIT, daemon.terminate())
        .await
        .unwrap();
}

//! Durability across a crash (delivery.md §4): an event acknowledged by `publish` is
//! delivered after `heraldd` is killed with SIGKILL and restarted on the same data dir.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Daemon, Options, WAIT};
use herald_testkit::receiver::{Mode, Receiver};
use serde_json::json;

/// delivery.md §4 "Pending work is durable": the only attempt before the crash never
/// got an answer; after the restart the same event (same `webhook-id`) arrives.
#[tokio::test]
async fn a_publish_acknowledged_before_sigkill_is_delivered_after_restart() {
    let receiver = Receiver::builder()
        .mode("/hooks", Mode::NeverAnswer)
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        storage: "sled",
        ..Options::default()
    };

    let daemon = Daemon::start(dir.path(), options.clone()).await;
    let created = daemon
        .post(
            "/v1/tenants/acme/endpoints",
            &json!({"url": receiver.url("/hooks"), "timeout_ms": 60000}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let published = daemon
        .post(
            "/v1/tenants/acme/events",
            &json!({"type": "order.filled", "data": {"orderId": "ord_1"}}),
        )
        .await;
    assert_eq!(published.status, 202, "{}", published.text());
    let event_id = published.json["id"].as_str().unwrap().to_owned();
    // The attempt is in flight (the receiver holds it) when the process dies.
    assert!(receiver.wait_for(1, WAIT).await);
    daemon.kill().await;

    receiver.set_mode("/hooks", Mode::Ok);
    let restarted = Daemon::start(dir.path(), options).await;
    assert!(
        receiver.wait_for(2, WAIT).await,
        "delivered after the restart"
    );
    let requests = receiver.requests_to("/hooks");
    assert_eq!(requests[1].header("webhook-id"), Some(event_id.as_str()));
    let event = restarted
        .get(&format!("/v1/tenants/acme/events/{event_id}"))
        .await;
    assert_eq!(event.status, 200);
    assert_eq!(event.json["data"], json!({"orderId": "ord_1"}));
    assert!(restarted.terminate().await.success());
}

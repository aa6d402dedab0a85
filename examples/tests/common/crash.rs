//! The durability scenario of delivery.md §4, shared by every storage `heraldd` runs
//! on: a publish acknowledged while its only attempt hangs survives a SIGKILL.

use std::path::Path;

use herald_testkit::receiver::{Mode, Receiver};
use serde_json::json;

use super::{Daemon, Options, WAIT};

/// Starts `heraldd` in `first` with `options`, creates an endpoint whose receiver
/// never answers, publishes one event and kills the daemon (SIGKILL) while that
/// attempt is in flight; then starts it again in `second` with the same options and
/// the receiver answering. The same event (same `webhook-id`) arrives, and the
/// restarted daemon still serves it.
pub async fn publish_survives_sigkill(first: &Path, second: &Path, options: Options) {
    let receiver = Receiver::builder()
        .mode("/hooks", Mode::NeverAnswer)
        .start()
        .await;
    let daemon = Daemon::start(first, options.clone()).await;
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
    let restarted = Daemon::start(second, options).await;
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

//! `heraldd` on PostgreSQL (`storage = "postgres"`): the daemon keeps nothing of its
//! own on disk, so an acknowledged publish survives a SIGKILL and is delivered by a
//! daemon started afresh in another directory on the same database.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Daemon, Options, WAIT};
use herald::sealing::SealingKey;
use herald_testkit::postgres::TestPostgres;
use herald_testkit::receiver::{Mode, Receiver};
use serde_json::json;

/// delivery.md §4 "Pending work is durable", with the database as the only
/// durable state: the attempt in flight at the kill is made again, with the same
/// `webhook-id`, by a daemon that never saw the first one's directory.
#[tokio::test]
async fn a_publish_acknowledged_before_sigkill_is_delivered_by_a_fresh_daemon() {
    let receiver = Receiver::builder()
        .mode("/hooks", Mode::NeverAnswer)
        .start()
        .await;
    let url = TestPostgres::shared().database().await;
    let key = SealingKey::generate().to_text();
    let options = Options {
        storage: "postgres",
        ..Options::default()
    }
    .env("HERALD_POSTGRES_URL", &url)
    .env("HERALD_ENCRYPTION_KEYS", &key);

    let first_dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(first_dir.path(), options.clone()).await;
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
    assert!(receiver.wait_for(1, WAIT).await);
    daemon.kill().await;

    receiver.set_mode("/hooks", Mode::Ok);
    let second_dir = tempfile::tempdir().unwrap();
    let restarted = Daemon::start(second_dir.path(), options).await;
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

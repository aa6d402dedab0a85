//! Durability across a crash (delivery.md §4): an event acknowledged by `publish` is
//! delivered after `heraldd` is killed with SIGKILL and restarted on the same data dir.
#![allow(clippy::unwrap_used)]

mod common;

use common::crash::publish_survives_sigkill;
use common::Options;

/// delivery.md §4 "Pending work is durable": the only attempt before the crash never
/// got an answer; after the restart the same event (same `webhook-id`) arrives.
#[tokio::test]
async fn a_publish_acknowledged_before_sigkill_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        storage: "sled",
        ..Options::default()
    };
    publish_survives_sigkill(dir.path(), dir.path(), options).await;
}

//! `heraldd` on PostgreSQL (`storage = "postgres"`): the daemon keeps nothing of its
//! own on disk, so an acknowledged publish survives a SIGKILL and is delivered by a
//! daemon started afresh in another directory on the same database.
#![allow(clippy::unwrap_used)]

mod common;

use common::crash::publish_survives_sigkill;
use common::Options;
use herald::sealing::SealingKey;
use herald_testkit::postgres::TestPostgres;

/// delivery.md §4 "Pending work is durable", with the database as the only
/// durable state: the attempt in flight at the kill is made again, with the same
/// `webhook-id`, by a daemon that never saw the first one's directory.
#[tokio::test]
async fn a_publish_acknowledged_before_sigkill_is_delivered_by_a_fresh_daemon() {
    let url = TestPostgres::shared().database().await;
    let key = SealingKey::generate().to_text();
    let options = Options {
        storage: "postgres",
        ..Options::default()
    }
    .env("HERALD_POSTGRES_URL", &url)
    .env("HERALD_ENCRYPTION_KEYS", &key);
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    publish_survives_sigkill(first_dir.path(), second_dir.path(), options).await;
}

//! Response bodies are read up to 64 KiB and logged up to 1 KiB (delivery.md §3, §6).
#![allow(clippy::unwrap_used)]

mod common;

use common::{permissive_transport, request};
use herald::transport::{Transport, LOGGED_BODY_BYTES};
use herald_testkit::receiver::{Mode, Receiver};

#[tokio::test]
async fn a_ten_mib_body_keeps_its_status_and_a_one_kib_prefix() {
    let receiver = Receiver::builder()
        .mode("/big", Mode::BigBody(10 * 1024 * 1024))
        .start()
        .await;
    let outcome = permissive_transport()
        .send(request(&receiver.url("/big")))
        .await;
    assert_eq!(outcome.status, Some(200));
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.body.len(), LOGGED_BODY_BYTES);
    assert!(outcome.body.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn a_body_shorter_than_the_log_limit_is_kept_whole() {
    let receiver = Receiver::builder()
        .mode("/small", Mode::BigBody(100))
        .start()
        .await;
    let outcome = permissive_transport()
        .send(request(&receiver.url("/small")))
        .await;
    assert_eq!(outcome.status, Some(200));
    assert_eq!(outcome.body.len(), 100);
}

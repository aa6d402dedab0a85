//! Connections are pooled and reused across attempts.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::{permissive_transport, request, WAIT};
use herald::transport::Transport;
use herald_testkit::receiver::Receiver;

#[tokio::test]
async fn fifty_sequential_attempts_reuse_a_few_connections() {
    let receiver = Receiver::start().await;
    let transport = permissive_transport();
    for _ in 0..50 {
        let outcome = transport.send(request(&receiver.url("/hook"))).await;
        assert_eq!(outcome.status, Some(200));
    }
    assert!(receiver.wait_for(50, WAIT).await);
    let used: HashSet<u64> = receiver.requests().iter().map(|r| r.connection).collect();
    assert!(used.len() <= 2, "{} connections used", used.len());
    assert!(receiver.connections() <= 2);
}

#[tokio::test]
async fn clones_share_one_pool() {
    let receiver = Receiver::start().await;
    let transport = permissive_transport();
    let clone = transport.clone();
    assert_eq!(
        transport.send(request(&receiver.url("/a"))).await.status,
        Some(200)
    );
    assert_eq!(
        clone.send(request(&receiver.url("/b"))).await.status,
        Some(200)
    );
    assert_eq!(receiver.connections(), 1);
}

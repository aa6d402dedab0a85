//! The destination policy is applied when connecting, after DNS resolution
//! (delivery.md §6).
#![allow(clippy::unwrap_used)]

mod common;

use common::{request, transport_with};
use herald::destination::DestinationPolicy;
use herald::transport::{ErrorClass, Transport};
use herald_testkit::receiver::Receiver;

fn http_but_no_private() -> DestinationPolicy {
    DestinationPolicy {
        allow_http: true,
        allow_private_destinations: false,
        allowlist: Vec::new(),
    }
}

/// delivery.md §6: a literal loopback address is refused.
#[tokio::test]
async fn a_literal_loopback_address_is_a_blocked_destination() {
    let receiver = Receiver::start().await;
    let outcome = transport_with(http_but_no_private())
        .send(request(&receiver.url("/hook")))
        .await;
    assert_eq!(outcome.error, Some(ErrorClass::BlockedDestination));
    assert_eq!(receiver.count(), 0);
    assert_eq!(receiver.connections(), 0);
}

/// delivery.md §6: a name is checked by the addresses it resolves to.
#[tokio::test]
async fn a_name_resolving_to_loopback_is_a_blocked_destination() {
    let receiver = Receiver::start().await;
    let outcome = transport_with(http_but_no_private())
        .send(request(&receiver.url_with_host("localhost", "/hook")))
        .await;
    assert_eq!(outcome.error, Some(ErrorClass::BlockedDestination));
    assert_eq!(receiver.count(), 0);
    assert_eq!(receiver.connections(), 0);
}

/// delivery.md §6: the allow-list opens a range even when private.
#[tokio::test]
async fn an_allow_listed_range_is_reachable() {
    let receiver = Receiver::start().await;
    let mut policy = http_but_no_private();
    policy.allowlist.push("127.0.0.0/8".parse().unwrap());
    let outcome = transport_with(policy)
        .send(request(&receiver.url("/hook")))
        .await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
}

/// delivery.md §6: https only unless the engine allows http.
#[tokio::test]
async fn plain_http_is_refused_unless_allowed() {
    let receiver = Receiver::start().await;
    let mut policy = DestinationPolicy::permissive();
    policy.allow_http = false;
    let outcome = transport_with(policy)
        .send(request(&receiver.url("/hook")))
        .await;
    assert_eq!(outcome.error, Some(ErrorClass::BlockedDestination));
    assert_eq!(receiver.connections(), 0);
}

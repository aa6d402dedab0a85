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
        ..DestinationPolicy::default()
    }
}

/// Private destinations allowed, but loopback denied in both families.
fn private_but_loopback_denied() -> DestinationPolicy {
    DestinationPolicy {
        deny: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        ..DestinationPolicy::permissive()
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

/// delivery.md §6: the deny list wins over `allow_private_destinations`, for a
/// literal address and for every address a name resolves to.
#[tokio::test]
async fn a_denied_range_is_blocked_even_when_private_destinations_are_allowed() {
    let receiver = Receiver::start().await;
    for url in [
        receiver.url("/hook"),
        receiver.url_with_host("localhost", "/hook"),
    ] {
        let outcome = transport_with(private_but_loopback_denied())
            .send(request(&url))
            .await;
        assert_eq!(outcome.error, Some(ErrorClass::BlockedDestination), "{url}");
    }
    assert_eq!(receiver.count(), 0);
    assert_eq!(receiver.connections(), 0);
}

/// delivery.md §6: a port outside `allowed_ports` is never connected to.
#[tokio::test]
async fn a_port_outside_the_allowed_ports_is_a_blocked_destination() {
    let receiver = Receiver::start().await;
    let mut policy = DestinationPolicy::permissive();
    policy.allowed_ports = vec![443];
    for url in [
        receiver.url("/hook"),
        receiver.url_with_host("localhost", "/hook"),
    ] {
        let outcome = transport_with(policy.clone()).send(request(&url)).await;
        assert_eq!(outcome.error, Some(ErrorClass::BlockedDestination), "{url}");
    }
    assert_eq!(receiver.connections(), 0);
    let port = receiver.addr().port();
    policy.allowed_ports.push(port);
    let outcome = transport_with(policy)
        .send(request(&receiver.url("/hook")))
        .await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
}

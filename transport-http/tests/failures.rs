//! Attempts that get no status say why: timeout, connect, dns, protocol or body
//! (delivery.md §3).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{permissive_transport, request, WAIT};
use herald::transport::{ErrorClass, Transport};
use herald_testkit::receiver::{Mode, Receiver};

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let receiver = Receiver::builder()
        .mode("/stall", Mode::NeverAnswer)
        .start()
        .await;
    let mut req = request(&receiver.url("/stall"));
    req.timeout = Duration::from_millis(300);
    let outcome = permissive_transport().send(req).await;
    assert_eq!(outcome.error, Some(ErrorClass::Timeout));
    assert_eq!(outcome.status, None);
    assert!(outcome.duration >= Duration::from_millis(300));
    assert!(outcome.duration < WAIT);
    assert!(receiver.wait_for(1, WAIT).await);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let outcome = permissive_transport()
        .send(request(&format!("http://127.0.0.1:{port}/hook")))
        .await;
    assert_eq!(outcome.error, Some(ErrorClass::Connect));
    assert_eq!(outcome.status, None);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_error() {
    // `.invalid` never resolves (RFC 2606).
    let outcome = permissive_transport()
        .send(request("http://no-such-host.invalid/hook"))
        .await;
    assert_eq!(outcome.error, Some(ErrorClass::Dns));
}

#[tokio::test]
async fn a_response_broken_off_mid_body_is_a_protocol_or_body_error() {
    let receiver = Receiver::builder()
        .mode("/reset", Mode::ResetMidResponse)
        .start()
        .await;
    let outcome = permissive_transport()
        .send(request(&receiver.url("/reset")))
        .await;
    assert_eq!(outcome.status, None);
    assert!(
        matches!(outcome.error, Some(ErrorClass::Protocol | ErrorClass::Body)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_http2_stream_reset_mid_body_is_a_protocol_or_body_error() {
    let certs = herald_testkit::certs::TestCerts::generate();
    let receiver = Receiver::builder()
        .tls(certs.server_config())
        .mode("/reset", Mode::ResetMidResponse)
        .start()
        .await;
    let transport =
        herald_transport_http::HttpTransport::new(herald_transport_http::HttpTransportConfig {
            destinations: herald::destination::DestinationPolicy::permissive(),
            extra_root_certs_pem: vec![certs.ca_pem()],
            ..Default::default()
        })
        .unwrap();
    let outcome = transport.send(request(&receiver.url("/reset"))).await;
    assert_eq!(outcome.status, None);
    assert!(
        matches!(outcome.error, Some(ErrorClass::Protocol | ErrorClass::Body)),
        "{outcome:?}"
    );
    assert!(receiver.wait_for(1, WAIT).await);
    assert_eq!(receiver.requests()[0].version, http::Version::HTTP_2);
}

//! HTTPS: certificates are verified, extra CAs can be trusted, and HTTP/2 is
//! negotiated by ALPN.
#![allow(clippy::unwrap_used)]

mod common;

use common::{request, WAIT};
use herald::destination::DestinationPolicy;
use herald::transport::{ErrorClass, Transport};
use herald_testkit::certs::TestCerts;
use herald_testkit::receiver::Receiver;
use herald_transport_http::{HttpTransport, HttpTransportConfig};

fn trusting(certs: &TestCerts) -> HttpTransport {
    HttpTransport::new(HttpTransportConfig {
        destinations: DestinationPolicy::permissive(),
        extra_root_certs_pem: vec![certs.ca_pem()],
        ..HttpTransportConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_certificate_signed_by_a_trusted_extra_ca_is_accepted() {
    let certs = TestCerts::generate();
    let receiver = Receiver::builder().tls(certs.server_config()).start().await;
    let transport = trusting(&certs);
    for url in [
        receiver.url("/hook"),
        receiver.url_with_host("localhost", "/hook"),
    ] {
        let outcome = transport.send(request(&url)).await;
        assert_eq!(outcome.status, Some(200), "{url}: {outcome:?}");
    }
}

#[tokio::test]
async fn a_ca_given_in_der_form_is_trusted_too() {
    let certs = TestCerts::generate();
    let receiver = Receiver::builder().tls(certs.server_config()).start().await;
    let transport = HttpTransport::new(HttpTransportConfig {
        destinations: DestinationPolicy::permissive(),
        extra_root_certs_der: vec![certs.ca_der()],
        ..HttpTransportConfig::default()
    })
    .unwrap();
    let outcome = transport.send(request(&receiver.url("/hook"))).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let certs = TestCerts::generate();
    let receiver = Receiver::builder().tls(certs.server_config()).start().await;
    let outcome = common::permissive_transport()
        .send(request(&receiver.url("/hook")))
        .await;
    assert_eq!(outcome.error, Some(ErrorClass::Tls), "{outcome:?}");
    assert_eq!(receiver.count(), 0);
}

#[tokio::test]
async fn http2_is_negotiated_over_tls() {
    let certs = TestCerts::generate();
    let receiver = Receiver::builder().tls(certs.server_config()).start().await;
    let outcome = trusting(&certs).send(request(&receiver.url("/hook"))).await;
    assert_eq!(outcome.status, Some(200));
    assert!(receiver.wait_for(1, WAIT).await);
    assert_eq!(receiver.requests()[0].version, http::Version::HTTP_2);
}

#[test]
fn a_pem_without_a_certificate_is_refused_at_build() {
    let built = HttpTransport::new(HttpTransportConfig {
        extra_root_certs_pem: vec![b"-----BEGIN NOTHING-----".to_vec()],
        ..HttpTransportConfig::default()
    });
    assert!(built.is_err());
}

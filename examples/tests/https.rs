//! HTTPS serving (http-api.md "Operations"): with `tls_cert` and `tls_key`, `heraldd`
//! announces `https://` and answers over TLS.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Daemon, Options};
use herald::{DestinationPolicy, SignedRequest, Transport};
use herald_testkit::certs::TestCerts;
use herald_transport_http::{HttpTransport, HttpTransportConfig};
use http::{HeaderMap, HeaderValue};

/// A client that trusts the test CA publishes over HTTPS.
#[tokio::test]
async fn with_a_certificate_the_api_is_served_over_https() {
    let certs = TestCerts::generate();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certs.write_server_pem(dir.path());
    let daemon = Daemon::start(
        dir.path(),
        Options::default()
            .env("HERALD_TLS_CERT", cert.to_str().unwrap())
            .env("HERALD_TLS_KEY", key.to_str().unwrap()),
    )
    .await;
    assert_eq!(daemon.scheme, "https");

    let client = HttpTransport::new(HttpTransportConfig {
        destinations: DestinationPolicy::permissive(),
        extra_root_certs_pem: vec![certs.ca_pem()],
        ..HttpTransportConfig::default()
    })
    .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", common::TOKEN)).unwrap(),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let url = format!(
        "https://localhost:{}/v1/tenants/acme/events",
        daemon.addr.port()
    );
    let outcome = client
        .send(SignedRequest {
            url: url.parse().unwrap(),
            headers,
            body: Bytes::from_static(br#"{"type":"order.filled","data":{}}"#),
            timeout: Duration::from_secs(10),
            title_case_headers: false,
        })
        .await;
    assert_eq!(outcome.status, Some(202), "{outcome:?}");
    assert!(outcome.body.contains("\"type\":\"order.filled\""));
    assert!(daemon.terminate().await.success());
}

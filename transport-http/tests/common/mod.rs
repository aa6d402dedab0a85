//! Helpers shared by this crate's socket tests: a transport that may reach
//! 127.0.0.1 and a request builder.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use herald::destination::DestinationPolicy;
use herald::transport::SignedRequest;
use herald_transport_http::{HttpTransport, HttpTransportConfig};

/// How long any test waits for anything; generous so a loaded machine does not fail it.
pub const WAIT: Duration = Duration::from_secs(10);

/// The body every test request carries.
pub const BODY: &[u8] = br#"{"id":"evt_test","type":"order.filled","data":{"n":1}}"#;

/// A transport allowed to reach loopback over plain http.
pub fn permissive_transport() -> HttpTransport {
    transport_with(DestinationPolicy::permissive())
}

/// A transport with this destination policy and default settings otherwise.
pub fn transport_with(destinations: DestinationPolicy) -> HttpTransport {
    HttpTransport::new(HttpTransportConfig {
        destinations,
        ..HttpTransportConfig::default()
    })
    .unwrap()
}

/// A POST of `BODY` to `url` with a few of Herald's headers and a generous timeout.
pub fn request(url: &str) -> SignedRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("webhook-id", "evt_test".parse().unwrap());
    headers.insert("x-delivery-attempt", "1".parse().unwrap());
    SignedRequest {
        url: url.parse().unwrap(),
        headers,
        body: Bytes::from_static(BODY),
        timeout: WAIT,
        title_case_headers: false,
    }
}

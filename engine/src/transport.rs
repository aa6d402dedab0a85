//! The `Transport` trait: send one signed request, say precisely what happened.
//!
//! A failed attempt is a value (`TransportOutcome` with an `ErrorClass`), never an
//! `Err`: the engine decides what it means (`outcome.rs`).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// How much of a response body the attempt log keeps (delivery.md §3).
pub const LOGGED_BODY_BYTES: usize = 1024;
/// How much of a response body is read before it is dropped (delivery.md §6).
pub const READ_BODY_BYTES: usize = 64 * 1024;

/// One request, fully built and signed by the engine.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// The endpoint's URL.
    pub url: http::Uri,
    /// Every header to send (Herald's and the endpoint's custom ones).
    pub headers: http::HeaderMap,
    /// The JSON body.
    pub body: Bytes,
    /// Covers connect, TLS, request and the response head.
    pub timeout: Duration,
    /// Send the header names in Title-Case on HTTP/1.1 (`X-Webhook-Signature`), for
    /// profiles that name their headers in mixed case; lower case otherwise.
    pub title_case_headers: bool,
}

/// Why an attempt got no HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The attempt timeout elapsed.
    Timeout,
    /// The TCP connection was refused, reset or failed.
    Connect,
    /// The name did not resolve.
    Dns,
    /// The TLS handshake failed (untrusted certificate, bad name, ...).
    Tls,
    /// Every resolved address is refused by the destination policy.
    BlockedDestination,
    /// The peer broke HTTP (garbage, connection closed mid-response, ...).
    Protocol,
    /// Reading the response body failed.
    Body,
}

impl ErrorClass {
    /// The class as logs, metrics and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Dns => "dns",
            ErrorClass::Tls => "tls",
            ErrorClass::BlockedDestination => "blocked_destination",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Body => "body",
        }
    }
}

/// What happened to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportOutcome {
    /// The HTTP status, when a response head arrived.
    pub status: Option<u16>,
    /// The error class, when no status arrived.
    pub error: Option<ErrorClass>,
    /// The raw `Retry-After` header value, if any.
    pub retry_after: Option<String>,
    /// From sending to the end of the (bounded) body read.
    pub duration: Duration,
    /// The first `LOGGED_BODY_BYTES` of the body, lossy UTF-8.
    pub body: String,
}

impl TransportOutcome {
    /// An outcome with a status and nothing else.
    pub fn status(status: u16, duration: Duration) -> Self {
        Self {
            status: Some(status),
            error: None,
            retry_after: None,
            duration,
            body: String::new(),
        }
    }

    /// An outcome with an error class and nothing else.
    pub fn error(class: ErrorClass, duration: Duration) -> Self {
        Self {
            status: None,
            error: Some(class),
            retry_after: None,
            duration,
            body: String::new(),
        }
    }
}

/// Sends signed requests to endpoints. Implementations pool connections, enforce
/// `SignedRequest::timeout`, never follow redirects, and apply the destination policy
/// to every resolved address.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends one request and reports the outcome; never panics on receiver behaviour.
    async fn send(&self, request: SignedRequest) -> TransportOutcome;
}

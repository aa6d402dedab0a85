//! `HttpTransport`: Herald's `Transport` over HTTP/1.1 and HTTP/2, on a pooled
//! hyper-util client with rustls.
//!
//! Layout:
//! - `lib.rs` (here): `HttpTransportConfig`, `HttpTransport` and one attempt's life:
//!   the per-attempt timeout, no redirects, the bounded body read.
//! - `connector`: resolves hosts and refuses addresses the `DestinationPolicy` blocks.
//! - `tls`: the rustls client configuration (ring provider, webpki roots + extra CAs).
//! - `error`: `TransportBuildError`, and hyper/io/rustls errors → `ErrorClass`.
//!
//! A failed attempt is never an `Err`: `send` always returns a `TransportOutcome`,
//! either with the status of the response head or with the `ErrorClass` of what went
//! wrong before one arrived.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use herald::transport::{SignedRequest, Transport};
//! use herald_transport_http::{HttpTransport, HttpTransportConfig};
//!
//! let transport = HttpTransport::new(HttpTransportConfig::default())?;
//! let outcome = transport
//!     .send(SignedRequest {
//!         url: "https://example.com/webhooks".parse()?,
//!         headers: http::HeaderMap::new(),
//!         body: bytes::Bytes::from_static(b"{}"),
//!         timeout: Duration::from_secs(10),
//!         title_case_headers: false,
//!     })
//!     .await;
//! println!("{:?} {:?}", outcome.status, outcome.error);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod connector;
mod error;
mod tls;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use herald::destination::DestinationPolicy;
use herald::transport::{
    ErrorClass, SignedRequest, Transport, TransportOutcome, LOGGED_BODY_BYTES, READ_BODY_BYTES,
};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use crate::connector::GuardedConnector;
pub use crate::error::TransportBuildError;

/// How long an unused pooled connection is kept by default.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How many idle connections per host are kept by default: enough for an endpoint's
/// default `max_in_flight` of 16 (delivery.md §7) plus room for a raised one.
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 32;

/// How an `HttpTransport` is built.
#[derive(Debug, Clone)]
pub struct HttpTransportConfig {
    /// Which addresses may be connected to, checked after DNS resolution, and whether
    /// plain `http://` is allowed (delivery.md §6).
    pub destinations: DestinationPolicy,
    /// Extra trusted CA certificates as PEM text (each entry may hold several), in
    /// addition to the webpki root set.
    pub extra_root_certs_pem: Vec<Vec<u8>>,
    /// Extra trusted CA certificates in DER form, one per entry.
    pub extra_root_certs_der: Vec<Vec<u8>>,
    /// How long an unused pooled connection is kept before it is closed.
    pub pool_idle_timeout: Duration,
    /// How many idle connections are kept per host (scheme, host and port).
    pub pool_max_idle_per_host: usize,
}

impl Default for HttpTransportConfig {
    /// The strict policy (https only, no private destinations), webpki roots only,
    /// and the default pool settings.
    fn default() -> Self {
        Self {
            destinations: DestinationPolicy::default(),
            extra_root_certs_pem: Vec::new(),
            extra_root_certs_der: Vec::new(),
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE_PER_HOST,
        }
    }
}

type HttpsClient = Client<HttpsConnector<GuardedConnector>, Full<Bytes>>;

/// Sends webhook attempts over HTTP/1.1 or HTTP/2 (negotiated by ALPN over TLS).
///
/// A cheap-clone handle: clones share one connection pool, which lives until the last
/// clone is dropped. Redirects are never followed (a 3xx is reported as its status).
/// `SignedRequest::timeout` is one deadline for the whole attempt: passed before the
/// response head, the outcome is `ErrorClass::Timeout`; passed during the body read,
/// the status stands and the logged body is cut short. A body is read up to
/// `READ_BODY_BYTES` (rounded up to the end of one received chunk), then dropped with
/// its connection.
#[derive(Clone)]
pub struct HttpTransport {
    client: HttpsClient,
    /// The same, writing header names in Title-Case on HTTP/1.1 (for requests that
    /// ask for it: profiles naming their headers in mixed case). A pool of its own:
    /// hyper sets the case per connection.
    title_case_client: HttpsClient,
    allow_http: bool,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// Builds a transport and its (empty) connection pool.
    ///
    /// Building needs no runtime; sending needs a tokio runtime.
    ///
    /// # Errors
    /// `TransportBuildError::InvalidRootCertificate` when an extra CA certificate
    /// cannot be read; `TransportBuildError::Tls` when rustls refuses the configuration.
    pub fn new(config: HttpTransportConfig) -> Result<Self, TransportBuildError> {
        let tls = tls::client_config(&config.extra_root_certs_pem, &config.extra_root_certs_der)?;
        let allow_http = config.destinations.allow_http;
        let destinations = Arc::new(config.destinations.clone());
        // One bound on lookups for both pools.
        let lookups = Arc::new(connector::Lookups::new(
            connector::MAX_LOOKUPS,
            connector::LOOKUP_DEADLINE,
        ));
        let build = |title_case: bool| {
            let tcp = connector::guarded_connector(destinations.clone(), Arc::clone(&lookups));
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http()
                .enable_all_versions()
                .wrap_connector(tcp);
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(config.pool_idle_timeout)
                .pool_max_idle_per_host(config.pool_max_idle_per_host)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .http1_title_case_headers(title_case)
                .build(https)
        };
        Ok(Self {
            client: build(false),
            title_case_client: build(true),
            allow_http,
        })
    }

    /// One attempt, up to the end of the bounded body read.
    async fn attempt(&self, request: SignedRequest, started: Instant) -> TransportOutcome {
        let deadline = started + request.timeout;
        if request.url.scheme() == Some(&http::uri::Scheme::HTTP) && !self.allow_http {
            // delivery.md §6: https only unless the engine allows http.
            return TransportOutcome::error(ErrorClass::BlockedDestination, started.elapsed());
        }
        let client = if request.title_case_headers {
            &self.title_case_client
        } else {
            &self.client
        };
        let mut outgoing = http::Request::new(Full::new(request.body));
        *outgoing.method_mut() = http::Method::POST;
        *outgoing.uri_mut() = request.url;
        *outgoing.headers_mut() = request.headers;

        let response = match tokio::time::timeout_at(deadline, client.request(outgoing)).await {
            Err(_elapsed) => {
                return TransportOutcome::error(ErrorClass::Timeout, started.elapsed())
            }
            Ok(Err(err)) => {
                let class = error::classify(&err);
                tracing::debug!(
                    error_class = class.as_str(),
                    error = %error::describe(&err),
                    "no response head"
                );
                return TransportOutcome::error(class, started.elapsed());
            }
            Ok(Ok(response)) => response,
        };

        let status = response.status().as_u16();
        // Kept raw: the engine parses seconds or an HTTP date (delivery.md §3).
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let (prefix, read) = read_bounded(response.into_body(), deadline).await;
        let body = String::from_utf8_lossy(&prefix).into_owned();
        let duration = started.elapsed();
        match read {
            BodyRead::Complete | BodyRead::Capped | BodyRead::OutOfTime => TransportOutcome {
                status: Some(status),
                error: None,
                retry_after,
                duration,
                body,
            },
            // The response broke off: whatever the head said, the receiver did not
            // finish answering, so the attempt counts as failed.
            BodyRead::Failed => TransportOutcome {
                status: None,
                error: Some(ErrorClass::Body),
                retry_after,
                duration,
                body,
            },
        }
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(&self, request: SignedRequest) -> TransportOutcome {
        let started = Instant::now();
        self.attempt(request, started).await
    }
}

/// How a bounded body read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyRead {
    /// The body ended within the limits.
    Complete,
    /// `READ_BODY_BYTES` were read; the rest is dropped with the connection.
    Capped,
    /// The attempt's deadline passed; the status already arrived, so it stands.
    OutOfTime,
    /// The connection failed or the peer broke the body's framing.
    Failed,
}

/// Reads at most `READ_BODY_BYTES` of `body` before `deadline` and keeps the first
/// `LOGGED_BODY_BYTES` (delivery.md §3, §6). Memory stays bounded whatever the body's
/// size: frames past the prefix are counted and dropped.
async fn read_bounded(mut body: hyper::body::Incoming, deadline: Instant) -> (Vec<u8>, BodyRead) {
    let mut prefix = Vec::new();
    let mut read = 0usize;
    loop {
        if read >= READ_BODY_BYTES {
            return (prefix, BodyRead::Capped);
        }
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_elapsed) => return (prefix, BodyRead::OutOfTime),
            Ok(None) => return (prefix, BodyRead::Complete),
            Ok(Some(Err(_))) => return (prefix, BodyRead::Failed),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            read += data.len();
            let room = LOGGED_BODY_BYTES.saturating_sub(prefix.len());
            prefix.extend_from_slice(&data[..room.min(data.len())]);
        }
    }
}

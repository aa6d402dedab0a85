//! `[api]` of the configuration file: how long and how much a client of the management
//! API may hold (timeouts, connections, header bytes, requests with a body), checked at
//! load so that a bad value names its key.
//!
//! The serve loop (`serve`) and the body check (`api::extract`) read the result,
//! `ApiLimits`; http-api.md "Configuration" documents each key.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{parse_duration, ConfigError};

/// The smallest `max_header_bytes`: a request line, `host`, `authorization` with a
/// 67-character key, `content-type` and `content-length` take about 300 bytes; 1 KiB
/// leaves room for what clients add.
const MIN_HEADER_BYTES: usize = 1024;
/// The largest `max_header_bytes`: hyper's own default buffer (about 400 KiB) is what
/// this setting exists to stay well below.
const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// The fewest `max_headers`: `host`, `authorization`, `content-type`,
/// `content-length`, and a few that clients add.
const MIN_HEADERS: usize = 8;

/// The management API's limits, validated (every duration more than zero, every
/// count at least one). `ApiLimits::default()` is every default of http-api.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiLimits {
    /// A request head must arrive whole within this, counted from the accept (or the
    /// end of the TLS handshake) for a connection's first request, and from its first
    /// byte for later ones.
    pub header_read_timeout: Duration,
    /// A request body must arrive whole within this, counted from when it starts to be
    /// read; else 408 and the connection closes.
    pub body_read_timeout: Duration,
    /// A connection with no request in progress and no byte of a next one is closed
    /// after this.
    pub idle_timeout: Duration,
    /// An answer must be taken by the client within this, counted from when it is
    /// ready; else the connection closes.
    pub write_timeout: Duration,
    /// Connections held at once, TLS handshakes in progress included. At the cap, a
    /// new connection closes the one that has gone longest without a request in
    /// progress; a connection serving a request is never closed for another.
    pub max_connections: usize,
    /// Largest request head (request line and headers), in bytes: 431 past it.
    pub max_header_bytes: usize,
    /// Most headers in a request: 431 past it.
    pub max_headers: usize,
    /// A TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
    /// TLS handshakes in progress at once; at the cap, the oldest one is dropped for
    /// the new one.
    pub max_tls_handshakes: usize,
    /// Requests with a body (`POST`, `PUT`, `PATCH`) read and handled at once; over
    /// it, 503 `overloaded` before the body is read.
    pub max_concurrent_writes: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        RawApi::default()
            .validate()
            .expect("the built-in [api] defaults are valid")
    }
}

/// `[api]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawApi {
    header_read_timeout: String,
    body_read_timeout: String,
    idle_timeout: String,
    write_timeout: String,
    max_connections: usize,
    max_header_bytes: usize,
    max_headers: usize,
    tls_handshake_timeout: String,
    max_tls_handshakes: usize,
    max_concurrent_writes: usize,
}

impl Default for RawApi {
    fn default() -> Self {
        Self {
            header_read_timeout: "10s".into(),
            // A whole body of `max_payload_bytes` plus margin (320 KiB) at 11 KiB/s.
            body_read_timeout: "30s".into(),
            // Below the 90 s that common clients (hyper-util, Go) keep an idle
            // connection, so the server, not the pool, decides; above a polling
            // interval of tens of seconds, so a steady client keeps its connection.
            idle_timeout: "60s".into(),
            // The largest answer, a page of 250 endpoints or the OpenAPI document
            // (about 130 KiB), at 4 KiB/s.
            write_timeout: "30s".into(),
            max_connections: 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            tls_handshake_timeout: "10s".into(),
            max_tls_handshakes: 256,
            // Each holds at most one body (`max_payload_bytes` plus margin, 320 KiB
            // by default): 40 MiB at most, and twice the publishers herald-bench runs.
            max_concurrent_writes: 128,
        }
    }
}

fn positive_duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    let value = parse_duration(text).map_err(|message| ConfigError::new(key, message))?;
    if value.is_zero() {
        return Err(ConfigError::new(key, "must be more than 0"));
    }
    Ok(value)
}

fn within(key: &str, value: usize, min: usize, max: usize) -> Result<usize, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(key, format!("must be {min} to {max}")))
    }
}

impl RawApi {
    /// Checks every value; the error names the first bad key (`api.idle_timeout`, ...).
    pub(crate) fn validate(self) -> Result<ApiLimits, ConfigError> {
        Ok(ApiLimits {
            header_read_timeout: positive_duration(
                "api.header_read_timeout",
                &self.header_read_timeout,
            )?,
            body_read_timeout: positive_duration("api.body_read_timeout", &self.body_read_timeout)?,
            idle_timeout: positive_duration("api.idle_timeout", &self.idle_timeout)?,
            write_timeout: positive_duration("api.write_timeout", &self.write_timeout)?,
            max_connections: within("api.max_connections", self.max_connections, 1, 1 << 20)?,
            max_header_bytes: within(
                "api.max_header_bytes",
                self.max_header_bytes,
                MIN_HEADER_BYTES,
                MAX_HEADER_BYTES,
            )?,
            max_headers: within("api.max_headers", self.max_headers, MIN_HEADERS, 1000)?,
            tls_handshake_timeout: positive_duration(
                "api.tls_handshake_timeout",
                &self.tls_handshake_timeout,
            )?,
            max_tls_handshakes: within(
                "api.max_tls_handshakes",
                self.max_tls_handshakes,
                1,
                1 << 20,
            )?,
            max_concurrent_writes: within(
                "api.max_concurrent_writes",
                self.max_concurrent_writes,
                1,
                1 << 20,
            )?,
        })
    }
}

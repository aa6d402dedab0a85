//! Every metric Herald emits, with its unit and labels (http-api.md "Operations").
//! Labels come from small bounded sets; ids never become labels.

use std::time::Duration;

/// Counter: events accepted by `publish`.
pub const EVENTS_PUBLISHED: &str = "herald_events_published_total";
/// Counter, label `outcome` = `success` | `failure`: attempts made.
pub const ATTEMPTS: &str = "herald_attempts_total";
/// Counter: deliveries that succeeded.
pub const DELIVERIES_SUCCEEDED: &str = "herald_deliveries_succeeded_total";
/// Counter: deliveries moved to dead letters.
pub const DELIVERIES_DEAD: &str = "herald_deliveries_dead_total";
/// Histogram, seconds: attempt duration.
pub const ATTEMPT_DURATION: &str = "herald_attempt_duration_seconds";
/// Gauge: pending deliveries held by running endpoint actors.
pub const PENDING_DELIVERIES: &str = "herald_pending_deliveries";
/// Counter, label `reason` = `event_unreadable` | `event_missing` | `invalid_url`:
/// deliveries whose attempt was not sent for a local reason (never the receiver's
/// failure: no attempt is counted against it).
pub const NOT_SENT: &str = "herald_deliveries_not_sent_total";
/// Counter: endpoints disabled automatically.
pub const ENDPOINTS_DISABLED: &str = "herald_endpoints_disabled_total";
/// Gauge: endpoints whose breaker is open.
pub const BREAKER_OPEN: &str = "herald_breaker_open";
/// Gauge, bytes: what the endpoint actors' queues hold, against the engine's
/// `queue_memory` budget (an estimate: entries and event bodies).
pub const QUEUE_MEMORY: &str = "herald_queue_memory_bytes";
/// Gauge: streams open (`Engine::stream`, the API's SSE and WebSocket feeds).
pub const STREAMS_OPEN: &str = "herald_streams_open";
/// Counter: events sent to streams' consumers.
pub const STREAM_EVENTS_SENT: &str = "herald_stream_events_sent_total";
/// Counter: streams ended because their consumer fell `stream_buffer` events behind.
pub const STREAM_OVERFLOWS: &str = "herald_stream_overflows_total";
/// Gauge (`heraldd`): connections its management API holds, TLS handshakes in
/// progress included; at most `[api] max_connections`.
pub const API_CONNECTIONS: &str = "herald_api_connections";
/// Counter (`heraldd`), label `reason` = `evicted` | `refused` | `handshake_timeout` |
/// `header_timeout` | `idle_timeout` | `write_timeout` | `body_timeout`: API connections
/// closed to keep within the `[api]` limits.
pub const API_CONNECTIONS_CLOSED: &str = "herald_api_connections_closed_total";
/// Counter (`heraldd`): requests with a body answered 503 `overloaded` because
/// `[api] max_concurrent_writes` were in progress.
pub const API_WRITES_REFUSED: &str = "herald_api_writes_refused_total";

/// Records one event published.
pub(crate) fn event_published() {
    metrics::counter!(EVENTS_PUBLISHED).increment(1);
}

/// Records one attempt.
pub(crate) fn attempt(success: bool, duration: Duration) {
    let outcome = if success { "success" } else { "failure" };
    metrics::counter!(ATTEMPTS, "outcome" => outcome).increment(1);
    metrics::histogram!(ATTEMPT_DURATION).record(duration.as_secs_f64());
}

/// Records an attempt not sent, and why.
pub(crate) fn not_sent(reason: &'static str) {
    metrics::counter!(NOT_SENT, "reason" => reason).increment(1);
}

/// Records one delivery succeeded.
pub(crate) fn delivery_succeeded() {
    metrics::counter!(DELIVERIES_SUCCEEDED).increment(1);
}

/// Records deliveries moved to dead letters.
pub(crate) fn deliveries_dead(count: u64) {
    metrics::counter!(DELIVERIES_DEAD).increment(count);
}

/// Adjusts the pending gauge.
pub(crate) fn pending_changed(delta: f64) {
    if delta > 0.0 {
        metrics::gauge!(PENDING_DELIVERIES).increment(delta);
    } else if delta < 0.0 {
        metrics::gauge!(PENDING_DELIVERIES).decrement(-delta);
    }
}

/// Sets the queue memory gauge.
pub(crate) fn queue_memory(bytes: usize) {
    metrics::gauge!(QUEUE_MEMORY).set(bytes as f64);
}

/// Records an automatic disable.
pub(crate) fn endpoint_disabled() {
    metrics::counter!(ENDPOINTS_DISABLED).increment(1);
}

/// Sets the open-breaker gauge.
pub(crate) fn breakers_open(count: usize) {
    metrics::gauge!(BREAKER_OPEN).set(count as f64);
}

/// Sets the open-streams gauge.
pub(crate) fn streams_open(count: usize) {
    metrics::gauge!(STREAMS_OPEN).set(count as f64);
}

/// Records one event sent to a stream's consumer.
pub(crate) fn stream_event_sent() {
    metrics::counter!(STREAM_EVENTS_SENT).increment(1);
}

/// Records a stream ended by overflow.
pub(crate) fn stream_overflowed() {
    metrics::counter!(STREAM_OVERFLOWS).increment(1);
}

//! The spawned attempt: build and sign the request, send it through the Transport,
//! and report the outcome to the endpoint actor (which records it).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use http::HeaderMap;
use tracing::Instrument;

use crate::actors::Shared;
use crate::model::{Delivery, Endpoint, Event};
use crate::signing::sign;
use crate::time::Timestamp;
use crate::transport::{ErrorClass, SignedRequest, TransportOutcome};

/// `user-agent` of every attempt.
pub(crate) const USER_AGENT_VALUE: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"));

/// What an attempt task needs.
pub(crate) struct AttemptJob {
    pub(crate) delivery: Delivery,
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) uri: Option<http::Uri>,
    pub(crate) timeout: Duration,
    /// The event, when the actor still holds it; else it is read from storage.
    pub(crate) event: Option<Arc<Event>>,
}

/// What comes back to the actor.
#[derive(Debug)]
pub(crate) struct AttemptReport {
    pub(crate) delivery: Delivery,
    pub(crate) started_at: Timestamp,
    pub(crate) outcome: TransportOutcome,
    /// The event was purged or is missing: the delivery cannot be sent.
    pub(crate) event_missing: bool,
}

fn header(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// Builds the request of delivery.md §1: Herald's headers always win over custom ones.
pub(crate) fn build_request(
    endpoint: &Endpoint,
    uri: http::Uri,
    event: &Event,
    delivery: &Delivery,
    attempt_number: u32,
    now: Timestamp,
    timeout: Duration,
) -> SignedRequest {
    let body = Bytes::from(event.body());
    let timestamp = now.as_secs();
    let signatures = sign(
        endpoint.signature_scheme,
        &endpoint.secrets,
        now,
        event.id.as_str(),
        timestamp,
        &body,
    );
    let mut headers = HeaderMap::with_capacity(endpoint.headers.len() + 10);
    for (name, value) in &endpoint.headers {
        if let (Ok(name), Some(value)) = (HeaderName::from_bytes(name.as_bytes()), header(value)) {
            headers.insert(name, value);
        }
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    let mut set = |name: &'static str, value: &str| {
        if let Some(value) = header(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("webhook-id", event.id.as_str());
    set("webhook-timestamp", &timestamp.to_string());
    if let Some(sig) = &signatures.webhook_signature {
        set("webhook-signature", sig);
    }
    if let Some(sig) = &signatures.x_webhook_signature {
        set("x-webhook-signature", sig);
    }
    set("x-event-type", &event.event_type);
    set("x-delivery-id", delivery.id.as_str());
    set("x-delivery-attempt", &attempt_number.to_string());
    SignedRequest {
        url: uri,
        headers,
        body,
        timeout,
    }
}

/// Runs one attempt to completion; never fails (failures are outcomes).
pub(crate) async fn run(shared: Arc<Shared>, job: AttemptJob) -> AttemptReport {
    let span = tracing::debug_span!(
        "attempt",
        delivery_id = %job.delivery.id,
        attempt = job.delivery.attempts + 1
    );
    async move {
        let started_at = shared.clock.now();
        let event = match job.event {
            Some(event) => Some(event),
            None => match shared
                .storage
                .get_event(&job.delivery.tenant, &job.delivery.event_id)
                .await
            {
                Ok(found) => found.map(Arc::new),
                Err(error) => {
                    tracing::error!(%error, "reading the event of a delivery failed");
                    return AttemptReport {
                        delivery: job.delivery,
                        started_at,
                        outcome: TransportOutcome::error(ErrorClass::Protocol, Duration::ZERO),
                        event_missing: false,
                    };
                }
            },
        };
        let Some(event) = event else {
            return AttemptReport {
                delivery: job.delivery,
                started_at,
                outcome: TransportOutcome::error(ErrorClass::Protocol, Duration::ZERO),
                event_missing: true,
            };
        };
        let Some(uri) = job.uri else {
            return AttemptReport {
                delivery: job.delivery,
                started_at,
                outcome: TransportOutcome::error(ErrorClass::Protocol, Duration::ZERO),
                event_missing: false,
            };
        };
        let request = build_request(
            &job.endpoint,
            uri,
            &event,
            &job.delivery,
            job.delivery.attempts + 1,
            started_at,
            job.timeout,
        );
        let outcome = shared.transport.send(request).await;
        tracing::debug!(status = ?outcome.status, error = ?outcome.error.map(ErrorClass::as_str), "attempt finished");
        AttemptReport {
            delivery: job.delivery,
            started_at,
            outcome,
            event_missing: false,
        }
    }
    .instrument(span)
    .await
}

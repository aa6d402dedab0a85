//! The spawned attempt: build and sign the request, send it through the Transport,
//! and report the outcome to the endpoint actor (which records it).

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::actors::Shared;
use crate::model::{Delivery, Endpoint};
use crate::request::{signed_request, PreparedEvent, RequestTarget};
use crate::time::Timestamp;
use crate::transport::{ErrorClass, TransportOutcome};

/// What an attempt task needs.
pub(crate) struct AttemptJob {
    pub(crate) delivery: Delivery,
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) uri: Option<http::Uri>,
    pub(crate) timeout: Duration,
    /// The event, when the actor still holds it; else it is read from storage.
    pub(crate) event: Option<Arc<PreparedEvent>>,
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

/// Runs one attempt to completion; never fails (failures are outcomes).
pub(crate) async fn run(shared: Arc<Shared>, job: AttemptJob) -> AttemptReport {
    let span = tracing::debug_span!(
        "attempt",
        delivery_id = %job.delivery.id,
        attempt = job.delivery.attempts + 1
    );
    async move {
        let started_at = shared.clock.now();
        let delivery = &job.delivery;
        let cached = || shared.events.get(&delivery.tenant, &delivery.event_id);
        let event = match job.event.or_else(cached) {
            Some(event) => Some(event),
            None => match shared
                .storage
                .get_event(&delivery.tenant, &delivery.event_id)
                .await
            {
                Ok(found) => found.map(|event| {
                    let event = Arc::new(PreparedEvent::new(event));
                    shared.events.put(event.clone());
                    event
                }),
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
        let endpoint = &job.endpoint;
        let request = signed_request(
            &RequestTarget {
                url: uri,
                scheme: endpoint.signature_scheme,
                secrets: &endpoint.secrets,
                custom_headers: &endpoint.headers,
                timeout: job.timeout,
            },
            &event,
            Some((&job.delivery.id, job.delivery.attempts + 1)),
            started_at,
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

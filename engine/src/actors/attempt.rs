//! The spawned attempt: find the event, build and sign the request, send it through
//! the Transport, and report to the endpoint actor what happened: sent (with the
//! outcome) or not sent (with a local reason, never the receiver's failure).

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use tracing::Instrument;

use crate::actors::endpoint::EndpointMsg;
use crate::actors::ledger::Ticket;
use crate::actors::Shared;
use crate::model::{Delivery, Endpoint};
use crate::profile::Profile;
use crate::request::{signed_request, AttemptOf, CustomHeaders, PreparedEvent, RequestTarget};
use crate::time::Timestamp;
use crate::transport::{ErrorClass, TransportOutcome};

/// What an attempt task needs.
pub(crate) struct AttemptJob {
    pub(crate) delivery: Delivery,
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) profile: Arc<Profile>,
    pub(crate) uri: http::Uri,
    /// The endpoint's custom headers, parsed.
    pub(crate) headers: Arc<CustomHeaders>,
    pub(crate) timeout: Duration,
    /// The event, when the actor still holds it; else it is read from the cache or
    /// storage.
    pub(crate) event: Option<Arc<PreparedEvent>>,
    /// The attempt's share of its endpoint's work (see `ledger`).
    pub(crate) ticket: Ticket,
}

/// Why an attempt was not sent. None of these is the receiver's doing, so none
/// counts against its retry budget, breaker or auto-disable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotSent {
    /// Reading the event from storage failed.
    EventUnreadable,
    /// The event is no longer stored (removed by retention).
    EventMissing,
    /// The endpoint's URL no longer makes a request target.
    InvalidUrl,
    /// No profile has the endpoint's profile name (it was removed from the
    /// configuration).
    UnknownProfile,
    /// The endpoint's profile cannot write the event's data in its JSON mode (the
    /// endpoint moved to that profile after the publish, which would have refused it).
    Unwritable,
}

impl NotSent {
    /// The reason as logs and the `reason` label spell it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NotSent::EventUnreadable => "event_unreadable",
            NotSent::EventMissing => "event_missing",
            NotSent::InvalidUrl => "invalid_url",
            NotSent::UnknownProfile => "unknown_profile",
            NotSent::Unwritable => "unwritable",
        }
    }
}

/// What happened to an attempt.
#[derive(Debug)]
pub(crate) enum Attempted {
    /// The request went out; the transport says how it ended.
    Sent(TransportOutcome),
    /// It never reached the receiver.
    NotSent(NotSent),
}

/// An attempt's report, as its actor handles it.
#[derive(Debug)]
pub(crate) struct ReportBody {
    /// The delivery as it was when sent (its attempt not yet counted).
    pub(crate) delivery: Delivery,
    pub(crate) started_at: Timestamp,
    pub(crate) result: Attempted,
}

/// An attempt's report on its way to the actor. A report dropped unhandled (its
/// actor gone, or dead with it in its mailbox) is kept in the ledger as an orphan
/// for the endpoint's next actor.
#[derive(Debug)]
pub(crate) struct AttemptReport {
    /// Emptied only by `take` (which consumes the report) or by `drop`.
    inner: Option<(ReportBody, Ticket)>,
}

impl AttemptReport {
    /// The report and its ticket, now the actor's to handle.
    pub(crate) fn take(mut self) -> (ReportBody, Ticket) {
        self.inner
            .take()
            .expect("only `take`, which consumes the report, empties it")
    }
}

impl Drop for AttemptReport {
    fn drop(&mut self) {
        if let Some((body, ticket)) = self.inner.take() {
            ticket.orphan(body);
        }
    }
}

/// Runs one attempt to completion and reports it to `actor`.
pub(crate) async fn run(shared: Arc<Shared>, job: AttemptJob, actor: ActorRef<EndpointMsg>) {
    let span = tracing::debug_span!(
        "attempt",
        delivery_id = %job.delivery.id,
        attempt = job.delivery.attempts + 1
    );
    async move {
        let AttemptJob {
            delivery,
            endpoint,
            profile,
            uri,
            headers,
            timeout,
            event,
            ticket,
        } = job;
        // The engine-wide cap, shared between tenants: taken before the clock is
        // read, so a wait for it does not age the request's signature.
        let _slot = shared.attempt_slots.acquire(&delivery.tenant).await;
        let started_at = shared.clock.now();
        let result = match find_event(&shared, &delivery, event).await {
            Err(not_sent) => Attempted::NotSent(not_sent),
            Ok(event) => {
                let target = RequestTarget {
                    url: uri,
                    profile: &profile,
                    secrets: &endpoint.secrets,
                    custom_headers: &headers,
                    timeout,
                };
                let attempt = AttemptOf {
                    delivery_id: &delivery.id,
                    endpoint_id: &delivery.endpoint_id,
                    attempt: delivery.attempts + 1,
                };
                match signed_request(&target, &event, Some(attempt), started_at) {
                    Ok(request) => {
                        let outcome = shared.transport.send(request).await;
                        tracing::debug!(status = ?outcome.status, error = ?outcome.error.map(ErrorClass::as_str), "attempt finished");
                        Attempted::Sent(outcome)
                    }
                    Err(unwritable) => {
                        tracing::warn!(%unwritable, profile = profile.name(), "the event's data cannot be written in the endpoint's JSON mode");
                        Attempted::NotSent(NotSent::Unwritable)
                    }
                }
            }
        };
        let body = ReportBody {
            delivery,
            started_at,
            result,
        };
        let report = AttemptReport {
            inner: Some((body, ticket)),
        };
        // A failed cast hands the report back inside the error, which drops it here:
        // it becomes an orphan for the endpoint's next actor.
        let _ = actor.cast(EndpointMsg::AttemptFinished(report));
    }
    .instrument(span)
    .await
}

/// The event of `delivery`: the one held, else the cache's, else storage's.
async fn find_event(
    shared: &Shared,
    delivery: &Delivery,
    held: Option<Arc<PreparedEvent>>,
) -> Result<Arc<PreparedEvent>, NotSent> {
    if let Some(event) = held.or_else(|| shared.events.get(&delivery.tenant, &delivery.event_id)) {
        return Ok(event);
    }
    match shared
        .storage
        .get_event(&delivery.tenant, &delivery.event_id)
        .await
    {
        Ok(Some(event)) => {
            let event = Arc::new(PreparedEvent::new(event));
            shared.events.put(event.clone());
            Ok(event)
        }
        Ok(None) => Err(NotSent::EventMissing),
        Err(error) => {
            tracing::error!(%error, "reading the event of a delivery failed; it is not sent now");
            Err(NotSent::EventUnreadable)
        }
    }
}

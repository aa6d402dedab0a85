//! Forwards the engine's operational events (`endpoint.disabled`, `delivery.dead`) to
//! the `operational_webhook_url`, signed `standard` in the envelope of delivery.md §1.
//!
//! One task, one event at a time, a few attempts each with doubling backoff: bounded
//! work. If it falls more than the engine's buffer behind, the oldest events are lost
//! and a warning says how many.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use herald::profile::Profile;
use herald::request::{signed_request, PreparedEvent, RequestTarget};
use herald::signing::{SecretSet, SignatureScheme};
use herald::{Engine, Event, EventId, OperationalEvent, SignedRequest, Timestamp, Transport};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::config::OperationalWebhook;

/// Attempts per operational event.
const ATTEMPTS: u32 = 5;
/// Delay after the first failed attempt; doubles after each further one.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Starts forwarding; the task ends when the engine is dropped or the task aborted.
pub(crate) fn spawn(
    engine: &Engine,
    transport: Arc<dyn Transport>,
    target: OperationalWebhook,
    timeout: Duration,
) -> anyhow::Result<JoinHandle<()>> {
    let url: http::Uri = target.url.parse()?;
    let events = engine.subscribe();
    let forwarder = Forwarder {
        transport,
        url,
        secrets: SecretSet::new(target.secret),
        timeout,
    };
    Ok(tokio::spawn(
        forwarder
            .run(events)
            .instrument(tracing::info_span!("operational_webhook")),
    ))
}

struct Forwarder {
    transport: Arc<dyn Transport>,
    url: http::Uri,
    secrets: SecretSet,
    timeout: Duration,
}

impl Forwarder {
    async fn run(self, mut events: tokio::sync::broadcast::Receiver<OperationalEvent>) {
        loop {
            match events.recv().await {
                Ok(event) => self.forward(&event).await,
                Err(RecvError::Lagged(lost)) => {
                    tracing::warn!(
                        lost,
                        "operational events were dropped: the webhook is too slow"
                    );
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn forward(&self, event: &OperationalEvent) {
        let now = Timestamp::from_system(SystemTime::now());
        // A fresh id per operational event: it is not any published event.
        let envelope = PreparedEvent::new(Event {
            id: EventId::generate(),
            tenant: event.tenant().clone(),
            event_type: event.event_type().to_owned(),
            channels: Vec::new(),
            created_at: now,
            data: event.data_json().into(),
            deliveries: 0,
        });
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let outcome = self.transport.send(self.request(&envelope)).await;
            if outcome.status.is_some_and(|s| (200..300).contains(&s)) {
                tracing::debug!(event_id = %envelope.event.id, attempt, "operational event delivered");
                return;
            }
            tracing::warn!(
                event_id = %envelope.event.id,
                attempt,
                status = ?outcome.status,
                error = ?outcome.error,
                "operational webhook attempt failed"
            );
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        tracing::error!(event_id = %envelope.event.id, event_type = envelope.event.event_type, "operational event dropped after every attempt failed");
    }

    /// The signed request of one attempt (signed anew, so its timestamp is fresh).
    fn request(&self, envelope: &PreparedEvent) -> SignedRequest {
        let profile = Profile::of_scheme(SignatureScheme::Standard);
        let target = RequestTarget {
            url: self.url.clone(),
            profile: &profile,
            secrets: &self.secrets,
            custom_headers: &BTreeMap::new(),
            timeout: self.timeout,
        };
        signed_request(
            &target,
            envelope,
            None,
            Timestamp::from_system(SystemTime::now()),
        )
        .expect("the standard profile writes JSON as it is (raw), which never fails")
    }
}

//! Operational events (delivery.md §5): `endpoint.disabled` and `delivery.dead`,
//! broadcast to every listener of the engine.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::ids::{DeliveryId, EndpointId, EventId, TenantId};
use crate::time::Timestamp;

/// Type of the event sent when an endpoint is disabled automatically.
pub const ENDPOINT_DISABLED: &str = "endpoint.disabled";
/// Type of the event sent when a delivery dies.
pub const DELIVERY_DEAD: &str = "delivery.dead";

/// `data` of `endpoint.disabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointDisabled {
    /// Owner.
    pub tenant: TenantId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Its URL.
    pub url: String,
    /// `failing` or `gone`.
    pub reason: &'static str,
    /// RFC 3339 time of the first failure of the streak.
    pub failing_since: Option<String>,
    /// Status of the last attempt, if it got one.
    pub last_status: Option<u16>,
    /// Error class of the last attempt, when it got no status.
    pub last_error: Option<&'static str>,
    /// Pending deliveries moved to dead letters.
    pub dead_lettered: u64,
}

/// `data` of `delivery.dead`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryDead {
    /// Owner.
    pub tenant: TenantId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// Its event.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: String,
    /// Attempts made.
    pub attempts: u32,
    /// The delivery's `dead_reason`.
    pub reason: &'static str,
}

/// One operational event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationalEvent {
    /// An endpoint was disabled automatically.
    EndpointDisabled(EndpointDisabled),
    /// A delivery exhausted its schedule or got a 410.
    DeliveryDead(DeliveryDead),
}

impl OperationalEvent {
    /// The event type (`endpoint.disabled`, `delivery.dead`).
    pub fn event_type(&self) -> &'static str {
        match self {
            OperationalEvent::EndpointDisabled(_) => ENDPOINT_DISABLED,
            OperationalEvent::DeliveryDead(_) => DELIVERY_DEAD,
        }
    }

    /// The tenant it concerns.
    pub fn tenant(&self) -> &TenantId {
        match self {
            OperationalEvent::EndpointDisabled(e) => &e.tenant,
            OperationalEvent::DeliveryDead(e) => &e.tenant,
        }
    }

    /// The `data` as compact JSON.
    pub fn data_json(&self) -> String {
        let result = match self {
            OperationalEvent::EndpointDisabled(e) => serde_json::to_string(e),
            OperationalEvent::DeliveryDead(e) => serde_json::to_string(e),
        };
        // Plain structs of strings and numbers always serialize.
        result.expect("operational event data serializes")
    }
}

/// Broadcasts operational events; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    sender: broadcast::Sender<OperationalEvent>,
}

impl Notifier {
    /// A notifier whose slow listeners lose the oldest events past `capacity`.
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// A new listener.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<OperationalEvent> {
        self.sender.subscribe()
    }

    /// Sends to every listener (none listening is fine).
    pub(crate) fn send(&self, event: OperationalEvent) {
        let _ = self.sender.send(event);
    }
}

/// Formats an optional time for an operational event.
pub(crate) fn rfc3339(time: Option<Timestamp>) -> Option<String> {
    time.map(Timestamp::to_rfc3339)
}

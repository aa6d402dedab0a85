//! `Delivery`: one event on its way to one endpoint, and its state.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{DeliveryId, EndpointId, EventId, TenantId};
use crate::time::Timestamp;
use crate::transport::ErrorClass;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or in flight).
    Pending,
    /// A 2xx was received.
    Succeeded,
    /// In the dead letters, with a `DeadReason`.
    Dead,
}

/// Why a delivery is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    /// The retry schedule ran out.
    RetriesExhausted,
    /// The receiver answered 410 Gone.
    Gone,
    /// The endpoint was disabled while the delivery was pending.
    EndpointDisabled,
    /// The endpoint was deleted while the delivery was pending.
    EndpointDeleted,
    /// Its event was removed (retention) before it could be sent.
    EventPurged,
    /// Its data cannot be written in its endpoint's JSON mode (the endpoint moved to
    /// a `js` or `python` profile after the publish).
    Unwritable,
}

impl DeadReason {
    /// The reason as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::RetriesExhausted => "retries_exhausted",
            DeadReason::Gone => "gone",
            DeadReason::EndpointDisabled => "endpoint_disabled",
            DeadReason::EndpointDeleted => "endpoint_deleted",
            DeadReason::EventPurged => "event_purged",
            DeadReason::Unwritable => "unwritable",
        }
    }
}

/// One (event, endpoint) pair and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `dlv_...`: ids are made in publish order, so they also give fifo order.
    pub id: DeliveryId,
    /// The event delivered.
    pub event_id: EventId,
    /// Owner of the event and the endpoint.
    pub tenant: TenantId,
    /// Where it goes.
    pub endpoint_id: EndpointId,
    /// The event's type (kept here for logs and operational events).
    pub event_type: Arc<str>,
    /// Current state.
    pub status: DeliveryStatus,
    /// Attempts made so far, in its whole life (replays continue the count).
    pub attempts: u32,
    /// The value of `attempts` when the current retry budget began (0, or the count at
    /// the last replay/retry): the schedule is indexed by `attempts - budget_start`.
    pub budget_start: u32,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<Timestamp>,
    /// The status of the last attempt, if one was received.
    pub last_status: Option<u16>,
    /// The error class of the last attempt, if it got no status.
    pub last_error: Option<ErrorClass>,
    /// Why it is dead (dead deliveries only).
    pub dead_reason: Option<DeadReason>,
    /// When it was created (the event's publish time).
    pub created_at: Timestamp,
    /// When its state last changed (for dead letters: when it died).
    pub updated_at: Timestamp,
}

impl Delivery {
    /// A fresh pending delivery of `event_id` to `endpoint_id`, due at `now`, with an
    /// id made at `now` (`DeliveryId::generate_at`).
    pub fn new(
        event_id: EventId,
        tenant: TenantId,
        endpoint_id: EndpointId,
        event_type: impl Into<Arc<str>>,
        now: Timestamp,
    ) -> Self {
        Self::with_id(
            DeliveryId::generate_at(now),
            event_id,
            tenant,
            endpoint_id,
            event_type,
            now,
        )
    }

    /// A fresh pending delivery with a given id, due at `now`.
    pub fn with_id(
        id: DeliveryId,
        event_id: EventId,
        tenant: TenantId,
        endpoint_id: EndpointId,
        event_type: impl Into<Arc<str>>,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            event_id,
            tenant,
            endpoint_id,
            event_type: event_type.into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            budget_start: 0,
            next_attempt_at: Some(now),
            last_status: None,
            last_error: None,
            dead_reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// When its next attempt is due (the epoch when it is not pending).
    pub fn due(&self) -> Timestamp {
        self.next_attempt_at.unwrap_or(Timestamp::EPOCH)
    }

    /// Attempts made in the current retry budget.
    pub fn budget_attempts(&self) -> u32 {
        self.attempts.saturating_sub(self.budget_start)
    }

    /// Marks it dead for `reason` at `now`.
    pub fn kill(&mut self, reason: DeadReason, now: Timestamp) {
        self.status = DeliveryStatus::Dead;
        self.dead_reason = Some(reason);
        self.next_attempt_at = None;
        self.updated_at = now;
    }

    /// Queues it again with a fresh retry budget (replay, retry by hand), due at `now`.
    pub fn requeue(&mut self, now: Timestamp) {
        self.status = DeliveryStatus::Pending;
        self.dead_reason = None;
        self.budget_start = self.attempts;
        self.next_attempt_at = Some(now);
        self.updated_at = now;
    }
}

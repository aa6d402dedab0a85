//! `Attempt`: the log record of one HTTP attempt of a delivery (delivery.md §3).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{AttemptId, DeliveryId, EndpointId, EventId, TenantId};
use crate::time::Timestamp;
use crate::transport::ErrorClass;

/// One attempt, as logged: number, timing, and status or error class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// `att_...`.
    pub id: AttemptId,
    /// Owner of the endpoint.
    pub tenant: TenantId,
    /// The endpoint that was called.
    pub endpoint_id: EndpointId,
    /// The delivery this attempt belongs to.
    pub delivery_id: DeliveryId,
    /// The event delivered.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: Arc<str>,
    /// 1 for the first attempt of the delivery; never repeats.
    pub attempt: u32,
    /// When the request was signed and sent.
    pub started_at: Timestamp,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The HTTP status, when one was received.
    pub status: Option<u16>,
    /// The error class, when no status was received.
    pub error: Option<ErrorClass>,
    /// The first 1 KiB of the response body.
    pub response_body: String,
}

impl Attempt {
    /// Whether the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(s) if (200..300).contains(&s))
    }
}

/// A filter on attempts by result (`?outcome=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// 2xx answers.
    Success,
    /// Everything else.
    Failure,
}

impl AttemptOutcome {
    /// Whether `attempt` falls under this filter.
    pub fn matches(self, attempt: &Attempt) -> bool {
        attempt.succeeded() == (self == AttemptOutcome::Success)
    }
}

/// Which attempts of an endpoint a delivery log shows (`?outcome=`, `?type=`,
/// `?since=`, `?until=`); the default shows every one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptFilter {
    /// Only successes or only failures.
    pub outcome: Option<AttemptOutcome>,
    /// Only attempts of events of this type.
    pub event_type: Option<String>,
    /// Only attempts started at or after this.
    pub since: Option<Timestamp>,
    /// Only attempts started before this.
    pub until: Option<Timestamp>,
}

impl AttemptFilter {
    /// Whether `attempt` passes the type and time parts (storage applies the outcome).
    pub fn matches(&self, attempt: &Attempt) -> bool {
        self.event_type
            .as_deref()
            .is_none_or(|kind| &*attempt.event_type == kind)
            && self.since.is_none_or(|since| attempt.started_at >= since)
            && self.until.is_none_or(|until| attempt.started_at < until)
    }

    /// Whether only the outcome filters, which storage does by itself.
    pub fn is_outcome_only(&self) -> bool {
        self.event_type.is_none() && self.since.is_none() && self.until.is_none()
    }
}

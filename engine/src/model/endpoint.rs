//! `Endpoint`: a receiver's URL with its subscription and delivery settings, the
//! input shapes that create and change one, and its stored health.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::ids::{EndpointId, TenantId};
use crate::signing::{SecretSet, SignatureScheme};
use crate::time::Timestamp;
use crate::transport::ErrorClass;

/// How an endpoint's deliveries are ordered (delivery.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Up to `max_in_flight` at once; first attempts in publish order, retries when due.
    #[default]
    Unordered,
    /// One at a time, strictly in publish order; a failing head blocks the rest.
    Fifo,
}

/// Why an endpoint is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// By a caller (`active: false`).
    Manual,
    /// The receiver answered 410 Gone.
    Gone,
    /// It failed without success for `disable_after` or `disable_after_failures`.
    Failing,
    /// A delivery exhausted its retries, and its profile disables on that
    /// (`disable_on_dead`).
    RetriesExhausted,
}

impl DisabledReason {
    /// The reason as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::Manual => "manual",
            DisabledReason::Gone => "gone",
            DisabledReason::Failing => "failing",
            DisabledReason::RetriesExhausted => "retries_exhausted",
        }
    }
}

/// A registered endpoint, as stored. Optional settings left unset take the engine's
/// defaults when the endpoint's policy is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `ep_...`.
    pub id: EndpointId,
    /// Owner.
    pub tenant: TenantId,
    /// Where attempts are POSTed (validated against the destination policy).
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// Exact types or `prefix.*` patterns; empty means every type.
    pub event_types: Vec<String>,
    /// When non-empty, only events sharing a channel match.
    pub channels: Vec<String>,
    /// False once disabled.
    pub active: bool,
    /// Why it is disabled.
    pub disabled_reason: Option<DisabledReason>,
    /// The delivery profile its requests follow (`standard`, `hex`, `timestamped`, or
    /// one configured): envelope, headers, signature, JSON mode, delivery defaults.
    pub profile: String,
    /// The current secret and, during a rotation's grace period, the previous one.
    pub secrets: SecretSet,
    /// Custom request headers (checked at creation; never override Herald's).
    pub headers: BTreeMap<String, String>,
    /// Delivery order.
    pub ordering: Ordering,
    /// Attempts at once (unordered only).
    pub max_in_flight: Option<u32>,
    /// Attempts per second.
    pub rate_limit: Option<u32>,
    /// Per-attempt timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Delays in seconds after attempt 1, 2, ...
    pub retry_schedule_secs: Option<Vec<u64>>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// When it was last enabled again after being disabled: a failure streak that
    /// began before then no longer counts (its actor resets the breaker).
    pub enabled_at: Option<Timestamp>,
    /// 1 at creation, one more with every change: a change is stored only over the
    /// version it was made from (`Storage::replace_endpoint`), so concurrent changes
    /// never overwrite each other.
    pub version: u64,
}

/// Deserializes a field that distinguishes "absent" (None) from `null` (Some(None)).
fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The input that creates an endpoint (`POST .../endpoints`). Only `url` is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where attempts are POSTed.
    pub url: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Exact types or `prefix.*` patterns; absent or empty means every type.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Channels to subscribe to.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Start disabled when false.
    #[serde(default)]
    pub active: Option<bool>,
    /// A chosen secret; generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// `standard` (default), `hex` or `timestamped`: the built-in profile of that
    /// name (give this or `profile`, not both).
    #[serde(default)]
    pub signature_scheme: Option<SignatureScheme>,
    /// The delivery profile (a built-in or a configured one); the tenant's default
    /// (`standard` unless set) when absent.
    #[serde(default)]
    pub profile: Option<String>,
    /// Custom headers.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// `unordered` (default) or `fifo`.
    #[serde(default)]
    pub ordering: Option<Ordering>,
    /// Attempts at once.
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    /// Attempts per second.
    #[serde(default)]
    pub rate_limit: Option<u32>,
    /// Per-attempt timeout in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Retry delays in seconds.
    #[serde(default)]
    pub retry_schedule_secs: Option<Vec<u64>>,
}

impl NewEndpoint {
    /// The smallest valid input: just a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
}

/// A change to an endpoint (`PATCH`): absent fields stay; `null` unsets an optional
/// setting (it then takes the default in force).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    /// New URL.
    #[serde(default)]
    pub url: Option<String>,
    /// New description; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    /// New type filter; `null` or `[]` means every type.
    #[serde(default, deserialize_with = "double_option")]
    pub event_types: Option<Option<Vec<String>>>,
    /// New channels; `null` or `[]` means no channel filter.
    #[serde(default, deserialize_with = "double_option")]
    pub channels: Option<Option<Vec<String>>>,
    /// False disables (reason `manual`); true re-enables and resets the breaker.
    #[serde(default)]
    pub active: Option<bool>,
    /// New signature scheme: the built-in profile of that name.
    #[serde(default)]
    pub signature_scheme: Option<SignatureScheme>,
    /// New delivery profile.
    #[serde(default)]
    pub profile: Option<String>,
    /// New custom headers (replace the old set); `null` clears them.
    #[serde(default, deserialize_with = "double_option")]
    pub headers: Option<Option<BTreeMap<String, String>>>,
    /// New ordering.
    #[serde(default)]
    pub ordering: Option<Ordering>,
    /// New concurrency; `null` returns to the default.
    #[serde(default, deserialize_with = "double_option")]
    pub max_in_flight: Option<Option<u32>>,
    /// New rate limit; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    pub rate_limit: Option<Option<u32>>,
    /// New timeout; `null` returns to the default.
    #[serde(default, deserialize_with = "double_option")]
    pub timeout_ms: Option<Option<u64>>,
    /// New schedule; `null` returns to the default.
    #[serde(default, deserialize_with = "double_option")]
    pub retry_schedule_secs: Option<Option<Vec<u64>>>,
}

/// An endpoint's delivery health, written by its actor with every attempt record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointHealth {
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// The first failure since the last success.
    pub failing_since: Option<Timestamp>,
    /// Deliveries that succeeded.
    pub succeeded: u64,
    /// Failed attempts, all time.
    pub failed_attempts: u64,
    /// Last 2xx.
    pub last_success_at: Option<Timestamp>,
    /// Last failed attempt.
    pub last_failure_at: Option<Timestamp>,
    /// Status of the last failed attempt, if it got one.
    pub last_status: Option<u16>,
    /// Error class of the last failed attempt, if it got no status.
    pub last_error: Option<ErrorClass>,
}

//! The JSON objects of http-api.md, built from the records: what the daemon answers and
//! what an embedding service can serialize the same way. Secrets never appear here.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::breaker::BreakerStatus;
use crate::config::EffectivePolicy;
use crate::model::{Attempt, Delivery, DeliveryStatus, Endpoint, EndpointHealth, Event, Ordering};
use crate::profile::{Envelope, Profile};
use crate::signing::SignatureScheme;
use crate::storage::DeliveryCounts;
use crate::time::Timestamp;

/// An endpoint with everything the API shows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointInfo {
    /// The stored endpoint.
    pub endpoint: Endpoint,
    /// Its settings with defaults applied.
    pub policy: EffectivePolicy,
    /// Its breaker.
    pub breaker: BreakerStatus,
    /// Its stored health.
    pub health: EndpointHealth,
    /// Its pending and dead counts.
    pub counts: DeliveryCounts,
}

fn time(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}

/// `stats` of the endpoint object.
#[derive(Debug, Serialize)]
pub struct EndpointStatsObject {
    /// Pending deliveries.
    pub pending: u64,
    /// Dead letters.
    pub dead: u64,
    /// Deliveries that succeeded.
    pub succeeded: u64,
    /// Failed attempts.
    pub failed_attempts: u64,
    /// Last success, RFC 3339.
    pub last_success_at: Option<String>,
    /// Last failure, RFC 3339.
    pub last_failure_at: Option<String>,
}

/// The endpoint object of http-api.md (without the secret).
#[derive(Debug, Serialize)]
pub struct EndpointObject<'a> {
    /// `ep_...`
    pub id: &'a str,
    /// Owner.
    pub tenant: &'a str,
    /// URL.
    pub url: &'a str,
    /// Free text.
    pub description: Option<&'a str>,
    /// Type filters.
    pub event_types: &'a [String],
    /// Channel filters.
    pub channels: &'a [String],
    /// Whether deliveries are made.
    pub active: bool,
    /// `manual`, `gone`, `failing` or null.
    pub disabled_reason: Option<&'static str>,
    /// The delivery profile.
    pub profile: &'a str,
    /// The built-in profile's scheme (`standard`, `hex`, `timestamped`); null for a
    /// configured profile.
    pub signature_scheme: Option<SignatureScheme>,
    /// Custom headers.
    pub headers: &'a BTreeMap<String, String>,
    /// Ordering.
    pub ordering: Ordering,
    /// Effective concurrency.
    pub max_in_flight: u32,
    /// Rate limit or null.
    pub rate_limit: Option<u32>,
    /// Effective timeout in ms.
    pub timeout_ms: u64,
    /// Effective schedule in seconds.
    pub retry_schedule_secs: Vec<u64>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// 1 at creation, one more with every change (of any kind, the engine's too).
    pub version: u64,
    /// `closed`, `open`, `half_open`.
    pub breaker: &'static str,
    /// Counters.
    pub stats: EndpointStatsObject,
}

impl EndpointInfo {
    /// The API object.
    pub fn object(&self) -> EndpointObject<'_> {
        let e = &self.endpoint;
        EndpointObject {
            id: e.id.as_str(),
            tenant: e.tenant.as_str(),
            url: &e.url,
            description: e.description.as_deref(),
            event_types: &e.event_types,
            channels: &e.channels,
            active: e.active,
            disabled_reason: e.disabled_reason.map(|r| r.as_str()),
            profile: &e.profile,
            signature_scheme: match e.profile.as_str() {
                "standard" => Some(SignatureScheme::Standard),
                "hex" => Some(SignatureScheme::Hex),
                "timestamped" => Some(SignatureScheme::Timestamped),
                _ => None,
            },
            headers: &e.headers,
            ordering: e.ordering,
            max_in_flight: e.max_in_flight.unwrap_or(self.policy.max_in_flight),
            rate_limit: self.policy.rate_limit,
            timeout_ms: u64::try_from(self.policy.timeout.as_millis()).unwrap_or(u64::MAX),
            retry_schedule_secs: self
                .policy
                .retry_schedule
                .iter()
                .map(|d| d.as_secs())
                .collect(),
            created_at: e.created_at.to_rfc3339(),
            updated_at: e.updated_at.to_rfc3339(),
            version: e.version,
            breaker: self.breaker.as_str(),
            stats: EndpointStatsObject {
                pending: self.counts.pending,
                dead: self.counts.dead,
                succeeded: self.health.succeeded,
                failed_attempts: self.health.failed_attempts,
                last_success_at: time(self.health.last_success_at),
                last_failure_at: time(self.health.last_failure_at),
            },
        }
    }
}

/// The event object of http-api.md; `data` only when asked for one event.
#[derive(Debug, Serialize)]
pub struct EventObject<'a> {
    /// Event id.
    pub id: &'a str,
    /// Owner.
    pub tenant: &'a str,
    /// Type.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// Channels.
    pub channels: &'a [String],
    /// Publish time.
    pub created_at: String,
    /// Endpoints matched.
    pub deliveries: u32,
    /// The data, byte for byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a RawValue>,
}

/// The event object (`with_data` for `GET .../events/{id}`).
pub fn event_object(event: &Event, with_data: bool) -> EventObject<'_> {
    EventObject {
        id: event.id.as_str(),
        tenant: event.tenant.as_str(),
        event_type: &event.event_type,
        channels: &event.channels,
        created_at: event.created_at.to_rfc3339(),
        deliveries: event.deliveries,
        data: if with_data {
            serde_json::from_str::<&RawValue>(&event.data).ok()
        } else {
            None
        },
    }
}

/// The delivery object of http-api.md.
#[derive(Debug, Serialize)]
pub struct DeliveryObject<'a> {
    /// `dlv_...`
    pub id: &'a str,
    /// Its event.
    pub event_id: &'a str,
    /// Its endpoint.
    pub endpoint_id: &'a str,
    /// `pending`, `succeeded`, `dead`.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Next attempt (pending only).
    pub next_attempt_at: Option<String>,
    /// Last status received.
    pub last_status: Option<u16>,
    /// Last error class.
    pub last_error: Option<&'static str>,
    /// Why it is dead.
    pub dead_reason: Option<&'static str>,
}

/// The delivery object.
pub fn delivery_object(delivery: &Delivery) -> DeliveryObject<'_> {
    DeliveryObject {
        id: delivery.id.as_str(),
        event_id: delivery.event_id.as_str(),
        endpoint_id: delivery.endpoint_id.as_str(),
        status: delivery.status,
        attempts: delivery.attempts,
        next_attempt_at: time(delivery.next_attempt_at),
        last_status: delivery.last_status,
        last_error: delivery.last_error.map(|e| e.as_str()),
        dead_reason: delivery.dead_reason.map(|r| r.as_str()),
    }
}

/// The attempt object of http-api.md.
#[derive(Debug, Serialize)]
pub struct AttemptObject<'a> {
    /// `att_...`
    pub id: &'a str,
    /// Its delivery.
    pub delivery_id: &'a str,
    /// Its event.
    pub event_id: &'a str,
    /// Event type.
    pub event_type: &'a str,
    /// Attempt number.
    pub attempt: u32,
    /// Start time.
    pub started_at: String,
    /// Duration in ms.
    pub duration_ms: u64,
    /// HTTP status or null.
    pub status: Option<u16>,
    /// Error class or null.
    pub error: Option<&'static str>,
    /// First 1 KiB of the response body.
    pub response_body: &'a str,
}

/// The attempt object.
pub fn attempt_object(attempt: &Attempt) -> AttemptObject<'_> {
    AttemptObject {
        id: attempt.id.as_str(),
        delivery_id: attempt.delivery_id.as_str(),
        event_id: attempt.event_id.as_str(),
        event_type: &attempt.event_type,
        attempt: attempt.attempt,
        started_at: attempt.started_at.to_rfc3339(),
        duration_ms: attempt.duration_ms,
        status: attempt.status,
        error: attempt.error.map(|e| e.as_str()),
        response_body: &attempt.response_body,
    }
}

/// A profile's delivery settings as the API shows them (only those it sets).
#[derive(Debug, Serialize)]
pub struct ProfileDeliveryObject {
    /// Retry delays in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule_secs: Option<Vec<u64>>,
    /// Attempt timeout in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Attempts at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Failures that open the breaker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker_threshold: Option<u32>,
    /// First breaker cooldown, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker_cooldown_secs: Option<u64>,
    /// Longest breaker cooldown, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker_cooldown_max_secs: Option<u64>,
    /// Failing this long disables, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_after_secs: Option<u64>,
    /// This many failures in a row disable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_after_failures: Option<u32>,
    /// Rotation grace, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_grace_secs: Option<u64>,
    /// A dead delivery disables its endpoint.
    pub disable_on_dead: bool,
}

/// The profile object of `GET /v1/profiles`.
#[derive(Debug, Serialize)]
pub struct ProfileObject<'a> {
    /// Its name.
    pub name: &'a str,
    /// One of the three built in.
    pub builtin: bool,
    /// Free text.
    pub description: Option<&'a str>,
    /// `["name=source", ...]`, or `"data"` for the bare data.
    pub envelope: serde_json::Value,
    /// Role → header name.
    pub headers: BTreeMap<&'static str, &'a str>,
    /// The signature recipe.
    pub signature: &'static str,
    /// How the secret becomes the key.
    pub key: &'static str,
    /// How the JSON is written.
    pub json: &'static str,
    /// Whether its header names go out in Title-Case on HTTP/1.1.
    pub title_case_headers: bool,
    /// Its delivery settings.
    pub delivery: ProfileDeliveryObject,
}

/// The API object of a profile.
pub fn profile_object(profile: &Profile) -> ProfileObject<'_> {
    let envelope = match profile.envelope() {
        Envelope::Data => serde_json::Value::String("data".into()),
        Envelope::Fields(fields) => serde_json::Value::Array(
            fields
                .iter()
                .map(|(name, source)| serde_json::Value::String(format!("{name}={source}")))
                .collect(),
        ),
    };
    let d = profile.delivery();
    let secs = |v: Option<std::time::Duration>| v.map(|d| d.as_secs());
    ProfileObject {
        name: profile.name(),
        builtin: profile.is_builtin(),
        description: profile.description(),
        envelope,
        headers: profile
            .headers()
            .iter()
            .map(|(role, name)| (role.as_str(), name))
            .collect(),
        signature: profile.signing().kind_name(),
        key: profile.signing().key().as_str(),
        json: profile.json().as_str(),
        title_case_headers: profile.headers().title_case(),
        delivery: ProfileDeliveryObject {
            retry_schedule_secs: d
                .retry_schedule
                .as_ref()
                .map(|s| s.iter().map(|d| d.as_secs()).collect()),
            timeout_ms: d
                .timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            max_in_flight: d.max_in_flight,
            breaker_threshold: d.breaker_threshold,
            breaker_cooldown_secs: secs(d.breaker_cooldown),
            breaker_cooldown_max_secs: secs(d.breaker_cooldown_max),
            disable_after_secs: secs(d.disable_after),
            disable_after_failures: d.disable_after_failures,
            rotation_grace_secs: secs(d.rotation_grace),
            disable_on_dead: d.disable_on_dead,
        },
    }
}

/// A tenant's settings as the API shows them (`GET /v1/tenants/{tenant}`), the
/// defaults in force filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantView {
    /// The tenant.
    pub tenant: String,
    /// The profile of endpoints created without one.
    pub default_profile: String,
    /// Most endpoints.
    pub max_endpoints: u32,
    /// Events per second; 0 means no limit.
    pub publish_rate: u32,
    /// Where its notifications go.
    pub notification_url: Option<String>,
    /// Which notifications go there (every one when empty).
    pub notification_types: Vec<String>,
    /// The endpoint Herald keeps for `notification_url`.
    pub notification_endpoint_id: Option<String>,
    /// Whether a publish of a type outside the catalog is refused.
    pub strict_types: bool,
    /// Last change of the settings; null when none were ever set.
    pub updated_at: Option<String>,
}

impl TenantView {
    /// The view of `settings` with `defaults` filled in.
    pub fn new(
        tenant: &crate::ids::TenantId,
        settings: &crate::model::TenantSettings,
        defaults: &crate::tenants::TenantDefaults,
    ) -> Self {
        Self {
            tenant: tenant.to_string(),
            default_profile: settings
                .default_profile
                .clone()
                .unwrap_or_else(|| defaults.default_profile.clone()),
            max_endpoints: settings.max_endpoints.unwrap_or(defaults.max_endpoints),
            publish_rate: settings.publish_rate.unwrap_or(defaults.publish_rate),
            notification_url: settings.notification_url.clone(),
            notification_types: settings.notification_types.clone(),
            notification_endpoint_id: settings
                .notification_endpoint
                .as_ref()
                .map(ToString::to_string),
            strict_types: settings.strict_types,
            updated_at: (settings.updated_at != Timestamp::EPOCH)
                .then(|| settings.updated_at.to_rfc3339()),
        }
    }
}

/// An event catalog entry as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EventTypeView {
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The tenant whose catalog it is in.
    pub tenant: String,
    /// What the event means.
    pub description: Option<String>,
    /// An example of its `data`.
    pub example: Option<Box<RawValue>>,
    /// The JSON Schema its `data` must fit.
    pub schema: Option<Box<RawValue>>,
    /// `tenant` for the tenant's own entry, `config` for one of the configuration.
    pub source: &'static str,
    /// Last change.
    pub updated_at: String,
}

impl EventTypeView {
    /// The view of `entry` in `tenant`'s catalog.
    pub fn new(
        tenant: &crate::ids::TenantId,
        entry: &crate::model::EventTypeEntry,
        configured: bool,
    ) -> Self {
        let raw = |text: &Option<std::sync::Arc<str>>| {
            text.as_ref()
                .and_then(|t| RawValue::from_string(t.to_string()).ok())
        };
        Self {
            event_type: entry.event_type.clone(),
            tenant: tenant.to_string(),
            description: entry.description.clone(),
            example: raw(&entry.example),
            schema: raw(&entry.schema),
            source: if configured { "config" } else { "tenant" },
            updated_at: entry.updated_at.to_rfc3339(),
        }
    }
}

/// An API key as the API shows it: never its token or the token's hash.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    /// `key_...`.
    pub id: String,
    /// The tenant it acts for.
    pub tenant: String,
    /// `tenant`, `publish` or `read`.
    pub scope: &'static str,
    /// Free text.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last use, to the minute; null until first used.
    pub last_used_at: Option<String>,
}

impl KeyView {
    /// The view of `key`.
    pub fn new(key: &crate::model::ApiKey) -> Self {
        Self {
            id: key.id.to_string(),
            tenant: key.tenant.to_string(),
            scope: key.scope.as_str(),
            description: key.description.clone(),
            created_at: key.created_at.to_rfc3339(),
            last_used_at: key.last_used_at.map(|t| t.to_rfc3339()),
        }
    }
}

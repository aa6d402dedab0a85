//! How values are stored: storage-owned record types in postcard (compact binary
//! serde), counters as fixed-width integers.
//!
//! Postcard rather than JSON because every byte of a record is copied several times
//! on the one commit thread (into sled's node, its log buffer, and again at every
//! node split and consolidation): a delivery record is about a third of its JSON
//! size. Postcard carries no field names, so a record's bytes are its fields in
//! order: the format.
//!
//! That is why records are not the domain structs: each kind has its own type here
//! (`DeliveryRecord`, `HealthRecord`, `AttemptRecord`; endpoints in `endpoint_record`),
//! `EventRecord`, and the access records `ApiKeyRecord`, `TenantSettingsRecord`,
//! `EventTypeRecord`), with mirrors of every enum they carry, and explicit conversions
//! that name every field of the domain struct (destructured without `..`, built
//! without defaults). A field added to `Delivery` then fails to compile here instead
//! of silently changing the bytes on disk; a change of these types is a change of
//! `FORMAT_VERSION`, and the golden-bytes tests below pin each kind's encoding.
//!
//! Records borrow their text from what they were made from or decoded from
//! (`&str`), so encoding copies nothing twice and decoding allocates only the
//! domain value's own strings. Ids are checked on the way back (`TryFrom`): a
//! stored id that does not parse is `StorageError::Corrupt`.

use herald::error::StorageError;
use herald::ids::{AttemptId, DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::model::{
    ApiKey, Attempt, DeadReason, Delivery, DeliveryStatus, DisabledReason, EndpointHealth, Event,
    EventTypeEntry, KeyScope, Ordering, TenantSettings,
};
use herald::signing::Secret;
use herald::storage::StorageResult;
use herald::time::Timestamp;
use herald::transport::ErrorClass;
use serde::{Deserialize, Serialize};

/// A kind of value stored through a record type of this module.
pub(crate) trait Record: Sized {
    /// The record's name in errors.
    const WHAT: &'static str;

    /// Serializes its record (postcard).
    fn encode(&self) -> StorageResult<Vec<u8>>;

    /// Reads what `encode` wrote.
    fn decode(bytes: &[u8]) -> StorageResult<Self>;
}

/// Serializes `value`'s record (postcard).
pub(crate) fn encode<T: Record>(value: &T) -> StorageResult<Vec<u8>> {
    value.encode()
}

/// Reads a record written by `encode`.
pub(crate) fn decode<T: Record>(bytes: &[u8]) -> StorageResult<T> {
    T::decode(bytes)
}

/// Mirrors a domain enum as a storage-owned one: the record enum, and conversions
/// both ways as exhaustive matches, so a variant added to the domain enum fails to
/// compile here. Postcard stores a variant as its position: variants are only ever
/// appended, with a new `FORMAT_VERSION`.
macro_rules! mirror_enum {
    ($(#[$doc:meta])* $record:ident <=> $domain:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub(crate) enum $record {
            $(
                #[doc = concat!("`", stringify!($domain), "::", stringify!($variant), "`.")]
                $variant,
            )+
        }

        impl From<$domain> for $record {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$variant => Self::$variant,)+
                }
            }
        }

        impl From<$record> for $domain {
            fn from(value: $record) -> Self {
                match value {
                    $($record::$variant => Self::$variant,)+
                }
            }
        }
    };
}

mirror_enum!(
    /// A delivery's status, as stored.
    StatusRecord <=> DeliveryStatus { Pending, Succeeded, Dead }
);

mirror_enum!(
    /// Why a delivery is dead, as stored.
    DeadReasonRecord <=> DeadReason {
        RetriesExhausted,
        Gone,
        EndpointDisabled,
        EndpointDeleted,
        EventPurged,
        Unwritable,
    }
);

mirror_enum!(
    /// An attempt's error class, as stored.
    ErrorClassRecord <=> ErrorClass {
        Timeout,
        Connect,
        Dns,
        Tls,
        BlockedDestination,
        Protocol,
        Body,
    }
);

mirror_enum!(
    /// An endpoint's delivery order, as stored.
    OrderingRecord <=> Ordering { Unordered, Fifo }
);

mirror_enum!(
    /// Why an endpoint is disabled, as stored.
    DisabledReasonRecord <=> DisabledReason { Manual, Gone, Failing, RetriesExhausted }
);

mirror_enum!(
    /// What an API key may do, as stored.
    KeyScopeRecord <=> KeyScope { Tenant, Publish, Read }
);

/// A `StorageError::Corrupt` naming the record and what is wrong in it.
pub(crate) fn corrupt(what: &str, why: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{what}: {why}"))
}

/// Parses a stored id with `parse`; `what` names the record in the error.
pub(crate) fn parse_id<T, E>(
    what: &str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> StorageResult<T> {
    parse(text).map_err(|_| corrupt(what, format_args!("malformed id {text:?}")))
}

/// Serializes a record (postcard) into a buffer of `capacity` bytes to start with.
pub(crate) fn postcard_encode<T: Serialize>(record: &T, capacity: usize) -> StorageResult<Vec<u8>> {
    postcard::to_extend(record, Vec::with_capacity(capacity))
        .map_err(|e| StorageError::backend("encoding a record", e))
}

/// Deserializes a record; `what` names it in the error.
pub(crate) fn postcard_decode<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &str,
) -> StorageResult<T> {
    postcard::from_bytes(bytes).map_err(|e| corrupt(what, e))
}

/// Room a record's encoding starts with: a delivery, an attempt or the fixed part of
/// an event fits, so the buffer is not regrown (and copied) byte range by byte range.
const RECORD_CAPACITY: usize = 256;

/// A delivery as stored: under `D`, and as an entry of a pending chunk under `Q`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeliveryRecord<'a> {
    /// First, so a chunk entry's id is read without the rest (`delivery_id_text`).
    id: &'a str,
    event_id: &'a str,
    tenant: &'a str,
    endpoint_id: &'a str,
    event_type: &'a str,
    status: StatusRecord,
    attempts: u32,
    budget_start: u32,
    next_attempt_at: Option<u64>,
    last_status: Option<u16>,
    last_error: Option<ErrorClassRecord>,
    dead_reason: Option<DeadReasonRecord>,
    created_at: u64,
    updated_at: u64,
}

impl<'a> From<&'a Delivery> for DeliveryRecord<'a> {
    fn from(delivery: &'a Delivery) -> Self {
        let Delivery {
            id,
            event_id,
            tenant,
            endpoint_id,
            event_type,
            status,
            attempts,
            budget_start,
            next_attempt_at,
            last_status,
            last_error,
            dead_reason,
            created_at,
            updated_at,
        } = delivery;
        Self {
            id: id.as_str(),
            event_id: event_id.as_str(),
            tenant: tenant.as_str(),
            endpoint_id: endpoint_id.as_str(),
            event_type,
            status: (*status).into(),
            attempts: *attempts,
            budget_start: *budget_start,
            next_attempt_at: next_attempt_at.map(|t| t.0),
            last_status: *last_status,
            last_error: last_error.map(Into::into),
            dead_reason: dead_reason.map(Into::into),
            created_at: created_at.0,
            updated_at: updated_at.0,
        }
    }
}

impl TryFrom<DeliveryRecord<'_>> for Delivery {
    type Error = StorageError;

    fn try_from(record: DeliveryRecord<'_>) -> StorageResult<Self> {
        const WHAT: &str = Delivery::WHAT;
        Ok(Delivery {
            id: parse_id(WHAT, record.id, DeliveryId::parse)?,
            event_id: parse_id(WHAT, record.event_id, EventId::parse)?,
            tenant: parse_id(WHAT, record.tenant, TenantId::parse)?,
            endpoint_id: parse_id(WHAT, record.endpoint_id, EndpointId::parse)?,
            event_type: record.event_type.into(),
            status: record.status.into(),
            attempts: record.attempts,
            budget_start: record.budget_start,
            next_attempt_at: record.next_attempt_at.map(Timestamp),
            last_status: record.last_status,
            last_error: record.last_error.map(Into::into),
            dead_reason: record.dead_reason.map(Into::into),
            created_at: Timestamp(record.created_at),
            updated_at: Timestamp(record.updated_at),
        })
    }
}

impl Record for Delivery {
    const WHAT: &'static str = "delivery";

    fn encode(&self) -> StorageResult<Vec<u8>> {
        postcard_encode(&DeliveryRecord::from(self), RECORD_CAPACITY)
    }

    fn decode(bytes: &[u8]) -> StorageResult<Self> {
        postcard_decode::<DeliveryRecord<'_>>(bytes, Self::WHAT)?.try_into()
    }
}

/// The id's text of an encoded delivery (its first field), without decoding or
/// checking the rest: enough to find its `D` record or compare it with an id.
pub(crate) fn delivery_id_text(record: &[u8]) -> StorageResult<&str> {
    postcard::take_from_bytes::<&str>(record)
        .map(|(id, _)| id)
        .map_err(|e| corrupt(Delivery::WHAT, e))
}

/// A secret as stored. It was checked against its scheme when it was set; it is not
/// checked again (`Secret::parse`), since a scheme changed since must not make the
/// endpoint unreadable: `Secret`'s own (transparent) deserialization takes the text.
pub(crate) fn stored_secret(text: &str) -> StorageResult<Secret> {
    use serde::de::value::{Error, StrDeserializer};
    use serde::de::IntoDeserializer;
    let text: StrDeserializer<'_, Error> = text.into_deserializer();
    Secret::deserialize(text).map_err(|e| corrupt("endpoint", e))
}

/// An endpoint's health as stored, under `H`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HealthRecord {
    consecutive_failures: u32,
    failing_since: Option<u64>,
    succeeded: u64,
    failed_attempts: u64,
    last_success_at: Option<u64>,
    last_failure_at: Option<u64>,
    last_status: Option<u16>,
    last_error: Option<ErrorClassRecord>,
}

impl From<&EndpointHealth> for HealthRecord {
    fn from(health: &EndpointHealth) -> Self {
        let EndpointHealth {
            consecutive_failures,
            failing_since,
            succeeded,
            failed_attempts,
            last_success_at,
            last_failure_at,
            last_status,
            last_error,
        } = health;
        Self {
            consecutive_failures: *consecutive_failures,
            failing_since: failing_since.map(|t| t.0),
            succeeded: *succeeded,
            failed_attempts: *failed_attempts,
            last_success_at: last_success_at.map(|t| t.0),
            last_failure_at: last_failure_at.map(|t| t.0),
            last_status: *last_status,
            last_error: last_error.map(Into::into),
        }
    }
}

impl From<HealthRecord> for EndpointHealth {
    fn from(record: HealthRecord) -> Self {
        EndpointHealth {
            consecutive_failures: record.consecutive_failures,
            failing_since: record.failing_since.map(Timestamp),
            succeeded: record.succeeded,
            failed_attempts: record.failed_attempts,
            last_success_at: record.last_success_at.map(Timestamp),
            last_failure_at: record.last_failure_at.map(Timestamp),
            last_status: record.last_status,
            last_error: record.last_error.map(Into::into),
        }
    }
}

impl Record for EndpointHealth {
    const WHAT: &'static str = "health";

    fn encode(&self) -> StorageResult<Vec<u8>> {
        postcard_encode(&HealthRecord::from(self), 64)
    }

    fn decode(bytes: &[u8]) -> StorageResult<Self> {
        postcard_decode::<HealthRecord>(bytes, Self::WHAT).map(Into::into)
    }
}

/// An attempt as stored, in a chunk of its endpoint's log under `A`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AttemptRecord<'a> {
    id: &'a str,
    tenant: &'a str,
    endpoint_id: &'a str,
    delivery_id: &'a str,
    event_id: &'a str,
    event_type: &'a str,
    attempt: u32,
    started_at: u64,
    duration_ms: u64,
    status: Option<u16>,
    error: Option<ErrorClassRecord>,
    response_body: &'a str,
}

impl<'a> From<&'a Attempt> for AttemptRecord<'a> {
    fn from(attempt: &'a Attempt) -> Self {
        let Attempt {
            id,
            tenant,
            endpoint_id,
            delivery_id,
            event_id,
            event_type,
            attempt,
            started_at,
            duration_ms,
            status,
            error,
            response_body,
        } = attempt;
        Self {
            id: id.as_str(),
            tenant: tenant.as_str(),
            endpoint_id: endpoint_id.as_str(),
            delivery_id: delivery_id.as_str(),
            event_id: event_id.as_str(),
            event_type,
            attempt: *attempt,
            started_at: started_at.0,
            duration_ms: *duration_ms,
            status: *status,
            error: error.map(Into::into),
            response_body,
        }
    }
}

impl TryFrom<AttemptRecord<'_>> for Attempt {
    type Error = StorageError;

    fn try_from(record: AttemptRecord<'_>) -> StorageResult<Self> {
        const WHAT: &str = Attempt::WHAT;
        Ok(Attempt {
            id: parse_id(WHAT, record.id, AttemptId::parse)?,
            tenant: parse_id(WHAT, record.tenant, TenantId::parse)?,
            endpoint_id: parse_id(WHAT, record.endpoint_id, EndpointId::parse)?,
            delivery_id: parse_id(WHAT, record.delivery_id, DeliveryId::parse)?,
            event_id: parse_id(WHAT, record.event_id, EventId::parse)?,
            event_type: record.event_type.into(),
            attempt: record.attempt,
            started_at: Timestamp(record.started_at),
            duration_ms: record.duration_ms,
            status: record.status,
            error: record.error.map(Into::into),
            response_body: record.response_body.to_owned(),
        })
    }
}

impl Record for Attempt {
    const WHAT: &'static str = "attempt";

    fn encode(&self) -> StorageResult<Vec<u8>> {
        postcard_encode(&AttemptRecord::from(self), RECORD_CAPACITY)
    }

    fn decode(bytes: &[u8]) -> StorageResult<Self> {
        postcard_decode::<AttemptRecord<'_>>(bytes, Self::WHAT)?.try_into()
    }
}

/// An API key as stored, under `K`: its token's hash, never the token.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ApiKeyRecord<'a> {
    id: &'a str,
    tenant: &'a str,
    scope: KeyScopeRecord,
    #[serde(borrow)]
    description: Option<&'a str>,
    token_hash: &'a str,
    created_at: u64,
    last_used_at: Option<u64>,
}

impl<'a> From<&'a ApiKey> for ApiKeyRecord<'a> {
    fn from(key: &'a ApiKey) -> Self {
        let ApiKey {
            id,
            tenant,
            scope,
            description,
            token_hash,
            created_at,
            last_used_at,
        } = key;
        Self {
            id: id.as_str(),
            tenant: tenant.as_str(),
            scope: (*scope).into(),
            description: description.as_deref(),
            token_hash,
            created_at: created_at.0,
            last_used_at: last_used_at.map(|t| t.0),
        }
    }
}

impl TryFrom<ApiKeyRecord<'_>> for ApiKey {
    type Error = StorageError;

    fn try_from(record: ApiKeyRecord<'_>) -> StorageResult<Self> {
        const WHAT: &str = ApiKey::WHAT;
        Ok(ApiKey {
            id: parse_id(WHAT, record.id, KeyId::parse)?,
            tenant: parse_id(WHAT, record.tenant, TenantId::parse)?,
            scope: record.scope.into(),
            description: record.description.map(str::to_owned),
            token_hash: record.token_hash.to_owned(),
            created_at: Timestamp(record.created_at),
            last_used_at: record.last_used_at.map(Timestamp),
        })
    }
}

impl Record for ApiKey {
    const WHAT: &'static str = "api key";

    fn encode(&self) -> StorageResult<Vec<u8>> {
        postcard_encode(&ApiKeyRecord::from(self), RECORD_CAPACITY)
    }

    fn decode(bytes: &[u8]) -> StorageResult<Self> {
        postcard_decode::<ApiKeyRecord<'_>>(bytes, Self::WHAT)?.try_into()
    }
}

/// A tenant's settings as stored, under `T` (the tenant is the key's).
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TenantSettingsRecord<'a> {
    #[serde(borrow)]
    default_profile: Option<&'a str>,
    max_endpoints: Option<u32>,
    publish_rate: Option<u32>,
    #[serde(borrow)]
    notification_url: Option<&'a str>,
    #[serde(borrow)]
    notification_types: Vec<&'a str>,
    strict_types: bool,
    #[serde(borrow)]
    notification_endpoint: Option<&'a str>,
    updated_at: u64,
}

impl<'a> From<&'a TenantSettings> for TenantSettingsRecord<'a> {
    fn from(settings: &'a TenantSettings) -> Self {
        let TenantSettings {
            default_profile,
            max_endpoints,
            publish_rate,
            notification_url,
            notification_types,
            strict_types,
            notification_endpoint,
            updated_at,
        } = settings;
        Self {
            default_profile: default_profile.as_deref(),
            max_endpoints: *max_endpoints,
            publish_rate: *publish_rate,
            notification_url: notification_url.as_deref(),
            notification_types: notification_types.iter().map(String::as_str).collect(),
            strict_types: *strict_types,
            notification_endpoint: notification_endpoint.as_ref().map(EndpointId::as_str),
            updated_at: updated_at.0,
        }
    }
}

impl TryFrom<TenantSettingsRecord<'_>> for TenantSettings {
    type Error = StorageError;

    fn try_from(record: TenantSettingsRecord<'_>) -> StorageResult<Self> {
        const WHAT: &str = TenantSettings::WHAT;
        Ok(TenantSettings {
            default_profile: record.default_profile.map(str::to_owned),
            max_endpoints: record.max_endpoints,
            publish_rate: record.publish_rate,
            notification_url: record.notification_url.map(str::to_owned),
            notification_types: record
                .notification_types
                .into_iter()
                .map(str::to_owned)
                .collect(),
            strict_types: record.strict_types,
            notification_endpoint: record
                .notification_endpoint
                .map(|id| parse_id(WHAT, id, EndpointId::parse))
                .transpose()?,
            updated_at: Timestamp(record.updated_at),
        })
    }
}

impl Record for TenantSettings {
    const WHAT: &'static str = "tenant settings";

    fn encode(&self) -> StorageResult<Vec<u8>> {
        postcard_encode(&TenantSettingsRecord::from(self), RECORD_CAPACITY)
    }

    fn decode(bytes: &[u8]) -> StorageResult<Self> {
        postcard_decode::<TenantSettingsRecord<'_>>(bytes, Self::WHAT)?.try_into()
    }
}

/// An entry of a tenant's event catalog as stored, under `Y`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventTypeRecord<'a> {
    tenant: &'a str,
    event_type: &'a str,
    #[serde(borrow)]
    description: Option<&'a str>,
    /// Compact JSON, as given.
    #[serde(borrow)]
    example: Option<&'a str>,
    /// Compact JSON, as given.
    #[serde(borrow)]
    schema: Option<&'a str>,
    updated_at: u64,
}

impl<'a> From<&'a EventTypeEntry> for EventTypeRecord<'a> {
    fn from(entry: &'a EventTypeEntry) -> Self {
        let EventTypeEntry {
            tenant,
            event_type,
            description,
            example,
            schema,
            updated_at,
        } = entry;
        Self {
            tenant: tenant.as_str(),
            event_type,
            description: description.as_deref(),
            example: example.as_deref(),
            schema: schema.as_deref(),
            updated_at: updated_at.0,
        }
    }
}

impl TryFrom<EventTypeRecord<'_>> for EventTypeEntry {
    type Error = StorageError;

    fn try_from(record: EventTypeRecord<'_>) -> StorageResult<Self> {
        const WHAT: &str = EventTypeEntry::WHAT;
        Ok(EventTypeEntry {
            tenant: parse_id(WHAT, record.tenant, TenantId::parse)?,
            event_type: record.event_type.to_owned(),
            description: record.description.map(str::to_owned),
            example: record.example.map(Into::into),
            schema: record.schema.map(Into::into),
            updated_at: Timestamp(record.updated_at),
        })
    }
}

impl Record for EventTypeEntry {
    const WHAT: &'static str = "event type";

    fn encode(&self) -> StorageResult<Vec<u8>> {
        // The example and the schema may be long: room for them up front.
        let json = [&self.example, &self.schema]
            .into_iter()
            .map(|text| text.as_deref().map_or(0, str::len))
            .sum::<usize>();
        postcard_encode(&EventTypeRecord::from(self), RECORD_CAPACITY + json)
    }

    fn decode(bytes: &[u8]) -> StorageResult<Self> {
        postcard_decode::<EventTypeRecord<'_>>(bytes, Self::WHAT)?.try_into()
    }
}

/// A delivery of a stored event: enough to find its record, which is its entry in
/// a pending chunk (`Q` endpoint, bucket of its id) until it first changes, and
/// under `D` delivery from then on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryRef {
    /// The delivery's id.
    pub(crate) id: DeliveryId,
    /// Its endpoint.
    pub(crate) endpoint_id: EndpointId,
}

/// A `DeliveryRef` as stored.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct DeliveryRefRecord<'a> {
    id: &'a str,
    endpoint_id: &'a str,
}

/// The value under an `N` key, decoded: the event and its deliveries in creation
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredEvent {
    /// The event as published.
    pub(crate) event: Event,
    /// Where its deliveries' records are.
    pub(crate) deliveries: Vec<DeliveryRef>,
}

/// An event and its deliveries' refs as stored, under `N`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventRecord<'a> {
    id: &'a str,
    tenant: &'a str,
    event_type: &'a str,
    #[serde(borrow)]
    channels: Vec<&'a str>,
    created_at: u64,
    data: &'a str,
    deliveries: u32,
    #[serde(borrow)]
    refs: Vec<DeliveryRefRecord<'a>>,
}

impl<'a> EventRecord<'a> {
    /// The record of `event` published with `deliveries`.
    pub(crate) fn new(event: &'a Event, deliveries: &'a [Delivery]) -> Self {
        let Event {
            id,
            tenant,
            event_type,
            channels,
            created_at,
            data,
            deliveries: count,
        } = event;
        Self {
            id: id.as_str(),
            tenant: tenant.as_str(),
            event_type,
            channels: channels.iter().map(String::as_str).collect(),
            created_at: created_at.0,
            data,
            deliveries: *count,
            refs: deliveries
                .iter()
                .map(|d| DeliveryRefRecord {
                    id: d.id.as_str(),
                    endpoint_id: d.endpoint_id.as_str(),
                })
                .collect(),
        }
    }

    /// Serializes it (postcard) into a buffer sized for it up front: the payload, a
    /// ref per delivery, and room for the rest.
    pub(crate) fn encode(&self) -> StorageResult<Vec<u8>> {
        let capacity = RECORD_CAPACITY + self.data.len() + DELIVERY_REF_CAPACITY * self.refs.len();
        postcard_encode(self, capacity)
    }
}

/// Room for one encoded `DeliveryRefRecord`: its two ids and their lengths.
const DELIVERY_REF_CAPACITY: usize = 64;

impl TryFrom<EventRecord<'_>> for StoredEvent {
    type Error = StorageError;

    fn try_from(record: EventRecord<'_>) -> StorageResult<Self> {
        const WHAT: &str = StoredEvent::WHAT;
        let event = Event {
            id: parse_id(WHAT, record.id, EventId::parse)?,
            tenant: parse_id(WHAT, record.tenant, TenantId::parse)?,
            event_type: record.event_type.to_owned(),
            channels: record.channels.into_iter().map(str::to_owned).collect(),
            created_at: Timestamp(record.created_at),
            data: record.data.into(),
            deliveries: record.deliveries,
        };
        let deliveries = record
            .refs
            .into_iter()
            .map(|r| {
                Ok(DeliveryRef {
                    id: parse_id(WHAT, r.id, DeliveryId::parse)?,
                    endpoint_id: parse_id(WHAT, r.endpoint_id, EndpointId::parse)?,
                })
            })
            .collect::<StorageResult<_>>()?;
        Ok(StoredEvent { event, deliveries })
    }
}

/// The first fields of an `EventRecord`, in its order: postcard writes fields one
/// after the other, so these decode from the record's first bytes alone.
#[derive(Deserialize)]
struct EventHead<'a> {
    _id: &'a str,
    _tenant: &'a str,
    event_type: &'a str,
}

/// The type of an encoded event, without decoding (or copying) its data and
/// delivery refs: what a listing filtered by type reads of each event it skips.
pub(crate) fn event_type_text(record: &[u8]) -> StorageResult<&str> {
    postcard::take_from_bytes::<EventHead<'_>>(record)
        .map(|(head, _)| head.event_type)
        .map_err(|e| corrupt(StoredEvent::WHAT, e))
}

impl StoredEvent {
    /// The record's name in errors.
    pub(crate) const WHAT: &'static str = "event";

    /// Reads what `EventRecord::encode` wrote.
    pub(crate) fn decode(bytes: &[u8]) -> StorageResult<Self> {
        postcard_decode::<EventRecord<'_>>(bytes, Self::WHAT)?.try_into()
    }
}

/// An endpoint's delivery counters (the value under a `C` key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Pending deliveries.
    pub(crate) pending: u64,
    /// Dead deliveries.
    pub(crate) dead: u64,
}

impl Counts {
    /// 16 bytes: pending then dead, big-endian.
    pub(crate) fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.pending.to_be_bytes());
        out.extend_from_slice(&self.dead.to_be_bytes());
        out
    }

    /// Reads what `encode` wrote.
    pub(crate) fn decode(bytes: &[u8]) -> StorageResult<Self> {
        let (pending, dead) = match (bytes.get(..8), bytes.get(8..16)) {
            (Some(p), Some(d)) if bytes.len() == 16 => (p, d),
            _ => return Err(StorageError::Corrupt("delivery counters".into())),
        };
        let word = |b: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(b);
            u64::from_be_bytes(w)
        };
        Ok(Self {
            pending: word(pending),
            dead: word(dead),
        })
    }
}

/// A tenant's endpoint count (the value under an `M` key): 8 bytes, big-endian.
pub(crate) fn encode_count(count: u64) -> Vec<u8> {
    count.to_be_bytes().to_vec()
}

/// Reads what `encode_count` wrote.
pub(crate) fn decode_count(bytes: &[u8]) -> StorageResult<u64> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StorageError::Corrupt("endpoint count".into()))
}

/// The value under an `A` or `Q` key: a chunk, the records appended to one log (or
/// published to one bucket) in one commit group. A `u32` count, then each record as
/// a `u32` length and its bytes (little-endian), so the commit thread builds it by
/// copying bytes, and the purge counts its attempts without decoding them.
pub(crate) fn encode_chunk(records: &[Vec<u8>]) -> Vec<u8> {
    let size = 4 + records.iter().map(|r| 4 + r.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&chunk_word(records.len()).to_le_bytes());
    for record in records {
        out.extend_from_slice(&chunk_word(record.len()).to_le_bytes());
        out.extend_from_slice(record);
    }
    out
}

/// A count or length in a chunk; records and groups are far below 4 GiB.
fn chunk_word(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The records of a chunk written by `encode_chunk`.
pub(crate) fn chunk_records(bytes: &[u8]) -> StorageResult<Vec<&[u8]>> {
    let corrupt = || StorageError::Corrupt("chunk: truncated".into());
    let word = |at: usize| -> StorageResult<usize> {
        let b = bytes.get(at..at + 4).ok_or_else(corrupt)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(0)?;
    let mut records = Vec::with_capacity(count.min(bytes.len() / 4));
    let mut at = 4;
    for _ in 0..count {
        let len = word(at)?;
        records.push(bytes.get(at + 4..at + 4 + len).ok_or_else(corrupt)?);
        at += 4 + len;
    }
    if at != bytes.len() {
        return Err(StorageError::Corrupt("chunk: trailing bytes".into()));
    }
    Ok(records)
}

/// Reads an id stored as UTF-8 text.
pub(crate) fn text(bytes: &[u8], what: &str) -> StorageResult<String> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| corrupt(what, "not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed ids: a ULID's first 10 characters are its time, here `T`.
    const TENANT: &str = "acme";
    const ENDPOINT: &str = "ep_01HF7YAT00A0B1C2D3E4F5G6H7";
    const EVENT: &str = "evt_01HF7YAT00J8K9MANBPCQDRESF";
    const DELIVERY: &str = "dlv_01HF7YAT00TGVHWJXKYMZN0P1Q";
    const ATTEMPT: &str = "att_01HF7YAT00R2S3T4V5W6X7Y8Z9";
    const KEY: &str = "key_01HF7YAT00M8N9P0Q1R2S3T4V5";
    /// 2023-11-14T22:13:20Z, the time of every id above.
    const T: u64 = 1_700_000_000_000;

    fn at(ms_after: u64) -> Timestamp {
        Timestamp(T + ms_after)
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A dead delivery with every optional field set.
    fn delivery() -> Delivery {
        Delivery {
            id: DeliveryId::parse(DELIVERY).unwrap(),
            event_id: EventId::parse(EVENT).unwrap(),
            tenant: TenantId::parse(TENANT).unwrap(),
            endpoint_id: EndpointId::parse(ENDPOINT).unwrap(),
            event_type: "order.filled".into(),
            status: DeliveryStatus::Dead,
            attempts: 3,
            budget_start: 1,
            next_attempt_at: Some(at(90_000)),
            last_status: Some(503),
            last_error: Some(ErrorClass::Timeout),
            dead_reason: Some(DeadReason::EventPurged),
            created_at: at(0),
            updated_at: at(91_000),
        }
    }

    fn attempt() -> Attempt {
        Attempt {
            id: AttemptId::parse(ATTEMPT).unwrap(),
            tenant: TenantId::parse(TENANT).unwrap(),
            endpoint_id: EndpointId::parse(ENDPOINT).unwrap(),
            delivery_id: DeliveryId::parse(DELIVERY).unwrap(),
            event_id: EventId::parse(EVENT).unwrap(),
            event_type: "order.filled".into(),
            attempt: 3,
            started_at: at(90_000),
            duration_ms: 1_234,
            status: Some(503),
            error: Some(ErrorClass::Protocol),
            response_body: "busy\r\n\u{0}é".into(),
        }
    }

    fn health() -> EndpointHealth {
        EndpointHealth {
            consecutive_failures: 3,
            failing_since: Some(at(1_000)),
            succeeded: 7,
            failed_attempts: 300,
            last_success_at: Some(at(500)),
            last_failure_at: Some(at(2_000)),
            last_status: Some(500),
            last_error: Some(ErrorClass::BlockedDestination),
        }
    }

    fn event() -> Event {
        Event {
            id: EventId::parse(EVENT).unwrap(),
            tenant: TenantId::parse(TENANT).unwrap(),
            event_type: "order.filled".into(),
            channels: vec!["eu".into(), "us".into()],
            created_at: at(0),
            data: "{\"n\":1}".into(),
            deliveries: 1,
        }
    }

    /// A used key with a description.
    fn api_key() -> ApiKey {
        ApiKey {
            id: KeyId::parse(KEY).unwrap(),
            tenant: TenantId::parse(TENANT).unwrap(),
            scope: KeyScope::Publish,
            description: Some("ci".into()),
            token_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            created_at: at(0),
            last_used_at: Some(at(60_000)),
        }
    }

    /// Settings with every optional field set.
    fn tenant_settings() -> TenantSettings {
        TenantSettings {
            default_profile: Some("perps".into()),
            max_endpoints: Some(50),
            publish_rate: Some(0),
            notification_url: Some("https://ops.example.com/herald".into()),
            notification_types: vec!["endpoint.disabled".into(), "delivery.dead".into()],
            strict_types: true,
            notification_endpoint: Some(EndpointId::parse(ENDPOINT).unwrap()),
            updated_at: at(5_000),
        }
    }

    /// A catalog entry with every optional field set.
    fn event_type_entry() -> EventTypeEntry {
        EventTypeEntry {
            tenant: TenantId::parse(TENANT).unwrap(),
            event_type: "order.filled".into(),
            description: Some("an order filled".into()),
            example: Some("{\"qty\":2}".into()),
            schema: Some("{\"type\":\"object\"}".into()),
            updated_at: at(7_000),
        }
    }

    /// Checks that `value` encodes to `golden` (hex) and that `golden` decodes back to
    /// `value`: the format of this kind of record is frozen.
    fn assert_golden<T: Record + PartialEq + std::fmt::Debug>(value: &T, golden: &str) {
        let bytes = encode(value).unwrap();
        assert_eq!(hex(&bytes), golden, "{} encodes to other bytes", T::WHAT);
        assert_eq!(&decode::<T>(&unhex(golden)).unwrap(), value);
    }

    #[test]
    fn a_delivery_record_has_its_golden_bytes() {
        assert_golden(&delivery(), GOLDEN_DELIVERY);
    }

    #[test]
    fn a_health_record_has_its_golden_bytes() {
        assert_golden(&health(), GOLDEN_HEALTH);
    }

    #[test]
    fn an_attempt_record_has_its_golden_bytes() {
        assert_golden(&attempt(), GOLDEN_ATTEMPT);
    }

    #[test]
    fn an_api_key_record_has_its_golden_bytes() {
        assert_golden(&api_key(), GOLDEN_API_KEY);
    }

    #[test]
    fn a_tenant_settings_record_has_its_golden_bytes() {
        assert_golden(&tenant_settings(), GOLDEN_TENANT_SETTINGS);
        assert_golden(&TenantSettings::default(), GOLDEN_DEFAULT_TENANT_SETTINGS);
    }

    #[test]
    fn an_event_type_record_has_its_golden_bytes() {
        assert_golden(&event_type_entry(), GOLDEN_EVENT_TYPE);
    }

    #[test]
    fn an_event_record_has_its_golden_bytes() {
        let event = event();
        let deliveries = [delivery()];
        let bytes = EventRecord::new(&event, &deliveries).encode().unwrap();
        assert_eq!(hex(&bytes), GOLDEN_EVENT);
        let back = StoredEvent::decode(&unhex(GOLDEN_EVENT)).unwrap();
        assert_eq!(back.event, event);
        assert_eq!(event_type_text(&bytes).unwrap(), event.event_type);
        assert!(event_type_text(&bytes[..3]).is_err(), "truncated");
        assert_eq!(
            back.deliveries,
            vec![DeliveryRef {
                id: deliveries[0].id.clone(),
                endpoint_id: deliveries[0].endpoint_id.clone(),
            }]
        );
    }

    /// Each mirrored enum keeps its variants' positions: they are the stored bytes.
    #[test]
    fn enum_variants_keep_their_stored_positions() {
        fn position<T: Serialize>(record: T) -> Vec<u8> {
            postcard::to_allocvec(&record).unwrap()
        }
        assert_eq!(position(StatusRecord::from(DeliveryStatus::Dead)), [2]);
        assert_eq!(
            position(DeadReasonRecord::from(DeadReason::EventPurged)),
            [4]
        );
        assert_eq!(position(ErrorClassRecord::from(ErrorClass::Body)), [6]);
        assert_eq!(position(OrderingRecord::from(Ordering::Fifo)), [1]);
        assert_eq!(
            position(DisabledReasonRecord::from(DisabledReason::Failing)),
            [2]
        );
        assert_eq!(
            position(DisabledReasonRecord::from(DisabledReason::RetriesExhausted)),
            [3]
        );
        assert_eq!(
            position(DeadReasonRecord::from(DeadReason::Unwritable)),
            [5]
        );
        assert_eq!(position(KeyScopeRecord::from(KeyScope::Tenant)), [0]);
        assert_eq!(position(KeyScopeRecord::from(KeyScope::Read)), [2]);
    }

    #[test]
    fn a_delivery_record_is_much_smaller_than_its_json() {
        let delivery = delivery();
        let binary = encode(&delivery).unwrap().len();
        let json = serde_json::to_vec(&delivery).unwrap().len();
        assert!(binary * 2 < json, "{binary} B against {json} B of JSON");
    }

    #[test]
    fn a_chunk_entry_gives_its_id_without_decoding_the_rest() {
        let bytes = encode(&delivery()).unwrap();
        assert_eq!(delivery_id_text(&bytes).unwrap(), DELIVERY);
        assert!(delivery_id_text(&bytes[..3]).is_err());
    }

    #[test]
    fn a_truncated_record_is_corrupt_not_a_panic() {
        let bytes = encode(&delivery()).unwrap();
        for cut in 0..bytes.len() {
            let result = decode::<Delivery>(&bytes[..cut]);
            assert!(
                matches!(result, Err(StorageError::Corrupt(ref why)) if why.starts_with("delivery: ")),
                "cut at {cut}: {result:?}"
            );
        }
    }

    #[test]
    fn a_stored_id_that_does_not_parse_is_corrupt() {
        let delivery = delivery();
        let record = DeliveryRecord {
            endpoint_id: "not-an-endpoint",
            ..DeliveryRecord::from(&delivery)
        };
        let bytes = postcard::to_allocvec(&record).unwrap();
        let result = decode::<Delivery>(&bytes);
        assert!(
            matches!(result, Err(StorageError::Corrupt(ref why)) if why.contains("not-an-endpoint")),
            "{result:?}"
        );
        let key = api_key();
        let record = ApiKeyRecord {
            id: ENDPOINT,
            ..ApiKeyRecord::from(&key)
        };
        let bytes = postcard::to_allocvec(&record).unwrap();
        assert!(matches!(
            decode::<ApiKey>(&bytes),
            Err(StorageError::Corrupt(ref why)) if why.starts_with("api key: ")
        ));
    }

    #[test]
    fn chunks_round_trip_and_reject_every_truncation() {
        let records = vec![b"first".to_vec(), Vec::new(), vec![0u8; 300]];
        let bytes = encode_chunk(&records);
        let back: Vec<Vec<u8>> = chunk_records(&bytes)
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(back, records);
        assert!(chunk_records(&encode_chunk(&[])).unwrap().is_empty());
        for cut in 0..bytes.len() {
            assert!(chunk_records(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(chunk_records(&longer).is_err());
    }

    #[test]
    fn an_endpoint_count_round_trips_and_rejects_garbage() {
        assert_eq!(encode_count(258), [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(decode_count(&encode_count(u64::MAX)).unwrap(), u64::MAX);
        assert!(decode_count(b"short").is_err());
    }

    #[test]
    fn counts_round_trip_and_reject_garbage() {
        let counts = Counts {
            pending: 3,
            dead: u64::MAX,
        };
        assert_eq!(Counts::decode(&counts.encode()).unwrap(), counts);
        assert!(Counts::decode(b"short").is_err());
    }

    /// A dead delivery with every optional field set (`delivery()`).
    const GOLDEN_DELIVERY: &str = concat!(
        "1e646c765f3031484637594154303054475648574a584b594d5a4e305031511e",
        "6576745f303148463759415430304a384b394d414e4250435144524553460461",
        "636d651d65705f30314846375941543030413042314332443345344635473648",
        "370c6f726465722e66696c6c656402030101908f9bffbc3101f7030100010480",
        "d095ffbc31f8969bffbc31",
    );
    /// `health()`.
    const GOLDEN_HEALTH: &str = "0301e8d795ffbc3107ac0201f4d395ffbc3101d0df95ffbc3101f4030104";
    /// `attempt()`.
    const GOLDEN_ATTEMPT: &str = concat!(
        "1e6174745f3031484637594154303052325333543456355736583759385a3904",
        "61636d651d65705f303148463759415430304130423143324433453446354736",
        "48371e646c765f3031484637594154303054475648574a584b594d5a4e305031",
        "511e6576745f303148463759415430304a384b394d414e425043514452455346",
        "0c6f726465722e66696c6c656403908f9bffbc31d20901f70301050962757379",
        "0d0a00c3a9",
    );
    /// `event()` with the ref of `delivery()`.
    const GOLDEN_EVENT: &str = concat!(
        "1e6576745f303148463759415430304a384b394d414e42504351445245534604",
        "61636d650c6f726465722e66696c6c65640202657502757380d095ffbc31077b",
        "226e223a317d01011e646c765f3031484637594154303054475648574a584b59",
        "4d5a4e305031511d65705f303148463759415430304130423143324433453446",
        "3547364837",
    );
    /// `api_key()`.
    const GOLDEN_API_KEY: &str = concat!(
        "1e6b65795f303148463759415430304d384e395030513152325333543456350461",
        "636d650101026369403966383664303831383834633764363539613266656161",
        "306335356164303135613362663466316232623062383232636431356436633135",
        "623066303061303880d095ffbc3101e0a499ffbc31",
    );
    /// `tenant_settings()`, every optional field set.
    const GOLDEN_TENANT_SETTINGS: &str = concat!(
        "0105706572707301320100011e68747470733a2f2f6f70732e6578616d706c65",
        "2e636f6d2f686572616c640211656e64706f696e742e64697361626c65640d64",
        "656c69766572792e6465616401011d65705f3031484637594154303041304231",
        "43324433453446354736483788f795ffbc31",
    );
    /// `TenantSettings::default()`: every optional field unset, no types, not
    /// strict, time 0.
    const GOLDEN_DEFAULT_TENANT_SETTINGS: &str = "0000000000000000";
    /// `event_type_entry()`, every optional field set.
    const GOLDEN_EVENT_TYPE: &str = concat!(
        "0461636d650c6f726465722e66696c6c6564010f616e206f726465722066696c",
        "6c656401097b22717479223a327d01117b2274797065223a226f626a656374227d",
        "d88696ffbc31",
    );
}

//! Records as rows: the column lists every query selects, each domain record read
//! from a row, and the column arrays that write many records in one statement
//! (`unnest`). This file is the one place that knows how a field is stored.
//!
//! Times are milliseconds (`bigint`), enumerations their API spelling (`text`),
//! unsigned integers `bigint` (or `integer` for a status code).

use std::collections::BTreeMap;

use herald::error::StorageError;
use herald::ids::{AttemptId, DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::model::{
    ApiKey, Attempt, Delivery, Endpoint, EndpointHealth, Event, EventTypeEntry, TenantSettings,
};
use herald::sealing::{endpoint_context, EndpointField, Keyring};
use herald::signing::{Secret, SecretSet};
use herald::storage::StorageResult;
use herald::time::Timestamp;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;

/// A stored record that does not read.
pub(crate) fn corrupt(what: &str, why: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{what}: {why}"))
}

/// Column `name` of `row`.
fn get<'a, T: FromSql<'a>>(row: &'a Row, what: &str, name: &str) -> StorageResult<T> {
    row.try_get(name)
        .map_err(|e| corrupt(what, format_args!("column {name}: {e}")))
}

/// An id read with `parse`.
fn id<T, E>(what: &str, text: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> StorageResult<T> {
    parse(text).map_err(|_| corrupt(what, format_args!("malformed id {text:?}")))
}

/// A time as stored.
pub(crate) fn ms(time: Timestamp) -> i64 {
    i64::try_from(time.0).unwrap_or(i64::MAX)
}

/// An optional time as stored.
fn ms_opt(time: Option<Timestamp>) -> Option<i64> {
    time.map(ms)
}

/// A stored time.
fn time(what: &str, ms: i64) -> StorageResult<Timestamp> {
    u64::try_from(ms)
        .map(Timestamp)
        .map_err(|_| corrupt(what, format_args!("negative time {ms}")))
}

/// A stored optional time.
fn time_opt(what: &str, ms: Option<i64>) -> StorageResult<Option<Timestamp>> {
    ms.map(|ms| time(what, ms)).transpose()
}

/// An unsigned number as stored.
fn big(n: impl Into<u64>) -> i64 {
    i64::try_from(n.into()).unwrap_or(i64::MAX)
}

/// A stored unsigned number.
fn unsigned<T: TryFrom<i64>>(what: &str, n: i64) -> StorageResult<T> {
    T::try_from(n).map_err(|_| corrupt(what, format_args!("number {n} out of range")))
}

/// A stored optional unsigned number.
fn unsigned_opt<T: TryFrom<i64>>(what: &str, n: Option<i64>) -> StorageResult<Option<T>> {
    n.map(|n| unsigned(what, n)).transpose()
}

/// An enumeration as stored: its serde (API) spelling.
pub(crate) fn text_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        // Every enumeration stored is unit variants, which serde writes as strings.
        other => format!("{other:?}"),
    }
}

/// A stored enumeration.
fn from_text<T: DeserializeOwned>(what: &str, text: &str) -> StorageResult<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| corrupt(what, format_args!("unknown value {text:?}")))
}

/// A stored optional enumeration.
fn from_text_opt<T: DeserializeOwned>(what: &str, text: Option<&str>) -> StorageResult<Option<T>> {
    text.map(|t| from_text(what, t)).transpose()
}

/// A status code as stored.
fn status(code: Option<u16>) -> Option<i32> {
    code.map(i32::from)
}

/// A stored status code.
fn status_of(what: &str, code: Option<i32>) -> StorageResult<Option<u16>> {
    code.map(|c| u16::try_from(c).map_err(|_| corrupt(what, format_args!("status {c}"))))
        .transpose()
}

// ---------------------------------------------------------------- endpoints

/// The columns an endpoint is read from.
pub(crate) const ENDPOINT_COLUMNS: &str = "id, tenant, url, description, event_types, channels, \
    active, disabled_reason, profile, secret, previous_secret, previous_valid_until_ms, \
    header_names, header_values, ordering, max_in_flight, rate_limit, timeout_ms, \
    retry_schedule_secs, created_at_ms, updated_at_ms, enabled_at_ms, version";

/// An endpoint as its row's values, its secrets and header values sealed.
pub(crate) struct EndpointRow<'a> {
    endpoint: &'a Endpoint,
    id: &'a str,
    tenant: &'a str,
    disabled_reason: Option<String>,
    secret: Vec<u8>,
    previous_secret: Option<Vec<u8>>,
    previous_valid_until: Option<i64>,
    header_names: Vec<&'a str>,
    header_values: Vec<Vec<u8>>,
    ordering: String,
    max_in_flight: Option<i64>,
    rate_limit: Option<i64>,
    timeout_ms: Option<i64>,
    retry_schedule_secs: Option<Vec<i64>>,
    created_at: i64,
    updated_at: i64,
    enabled_at: Option<i64>,
    version: i64,
}

impl<'a> EndpointRow<'a> {
    /// `endpoint`'s values, sealed under `keyring`'s current key.
    pub(crate) fn new(endpoint: &'a Endpoint, keyring: &Keyring) -> Self {
        let id = endpoint.id.as_str();
        let seal = |text: &str, field| keyring.seal(text.as_bytes(), &endpoint_context(id, field));
        Self {
            endpoint,
            id,
            tenant: endpoint.tenant.as_str(),
            disabled_reason: endpoint.disabled_reason.as_ref().map(text_of),
            secret: seal(endpoint.secrets.current.expose(), EndpointField::Secret),
            previous_secret: endpoint
                .secrets
                .previous
                .as_ref()
                .map(|p| seal(p.expose(), EndpointField::PreviousSecret)),
            previous_valid_until: ms_opt(endpoint.secrets.previous_valid_until),
            header_names: endpoint.headers.keys().map(String::as_str).collect(),
            header_values: endpoint
                .headers
                .iter()
                .map(|(name, value)| seal(value, EndpointField::Header(name)))
                .collect(),
            ordering: text_of(&endpoint.ordering),
            max_in_flight: endpoint.max_in_flight.map(big),
            rate_limit: endpoint.rate_limit.map(big),
            timeout_ms: endpoint.timeout_ms.map(big),
            retry_schedule_secs: endpoint
                .retry_schedule_secs
                .as_ref()
                .map(|s| s.iter().copied().map(big).collect()),
            created_at: ms(endpoint.created_at),
            updated_at: ms(endpoint.updated_at),
            enabled_at: ms_opt(endpoint.enabled_at),
            version: big(endpoint.version),
        }
    }

    /// The values in `ENDPOINT_COLUMNS` order, `$1` to `$23`.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 23] {
        let e = self.endpoint;
        [
            &self.id,
            &self.tenant,
            &e.url,
            &e.description,
            &e.event_types,
            &e.channels,
            &e.active,
            &self.disabled_reason,
            &e.profile,
            &self.secret,
            &self.previous_secret,
            &self.previous_valid_until,
            &self.header_names,
            &self.header_values,
            &self.ordering,
            &self.max_in_flight,
            &self.rate_limit,
            &self.timeout_ms,
            &self.retry_schedule_secs,
            &self.created_at,
            &self.updated_at,
            &self.enabled_at,
            &self.version,
        ]
    }
}

/// A secret read back.
fn stored_secret(text: &str) -> StorageResult<Secret> {
    use serde::de::value::{Error, StrDeserializer};
    use serde::de::IntoDeserializer;
    use serde::Deserialize;
    let text: StrDeserializer<'_, Error> = text.into_deserializer();
    Secret::deserialize(text).map_err(|e| corrupt("endpoint", e))
}

/// The endpoint of a row of `ENDPOINT_COLUMNS`, its sealed values opened with
/// `keyring`.
pub(crate) fn endpoint(row: &Row, keyring: &Keyring) -> StorageResult<Endpoint> {
    const W: &str = "endpoint";
    let raw_id: &str = get(row, W, "id")?;
    let open = |sealed: &[u8], field: EndpointField<'_>| -> StorageResult<String> {
        let text = keyring
            .open(sealed, &endpoint_context(raw_id, field))
            .map_err(|e| corrupt(W, format_args!("{raw_id}: {e}")))?;
        String::from_utf8(text).map_err(|_| corrupt(W, format_args!("{raw_id}: not UTF-8")))
    };
    let secret: &[u8] = get(row, W, "secret")?;
    let previous: Option<&[u8]> = get(row, W, "previous_secret")?;
    let names: Vec<String> = get(row, W, "header_names")?;
    let values: Vec<Vec<u8>> = get(row, W, "header_values")?;
    if names.len() != values.len() {
        return Err(corrupt(W, format_args!("{raw_id}: headers do not pair up")));
    }
    let headers = names
        .into_iter()
        .zip(values)
        .map(|(name, value)| {
            let value = open(&value, EndpointField::Header(&name))?;
            Ok((name, value))
        })
        .collect::<StorageResult<BTreeMap<String, String>>>()?;
    let retry: Option<Vec<i64>> = get(row, W, "retry_schedule_secs")?;
    Ok(Endpoint {
        id: id(W, raw_id, EndpointId::parse)?,
        tenant: id(W, get(row, W, "tenant")?, TenantId::parse)?,
        url: get(row, W, "url")?,
        description: get(row, W, "description")?,
        event_types: get(row, W, "event_types")?,
        channels: get(row, W, "channels")?,
        active: get(row, W, "active")?,
        disabled_reason: from_text_opt(W, get(row, W, "disabled_reason")?)?,
        profile: get(row, W, "profile")?,
        secrets: SecretSet {
            current: stored_secret(&open(secret, EndpointField::Secret)?)?,
            previous: previous
                .map(|p| stored_secret(&open(p, EndpointField::PreviousSecret)?))
                .transpose()?,
            previous_valid_until: time_opt(W, get(row, W, "previous_valid_until_ms")?)?,
        },
        headers,
        ordering: from_text(W, get(row, W, "ordering")?)?,
        max_in_flight: unsigned_opt(W, get(row, W, "max_in_flight")?)?,
        rate_limit: unsigned_opt(W, get(row, W, "rate_limit")?)?,
        timeout_ms: unsigned_opt(W, get(row, W, "timeout_ms")?)?,
        retry_schedule_secs: retry
            .map(|s| s.into_iter().map(|n| unsigned(W, n)).collect())
            .transpose()?,
        created_at: time(W, get(row, W, "created_at_ms")?)?,
        updated_at: time(W, get(row, W, "updated_at_ms")?)?,
        enabled_at: time_opt(W, get(row, W, "enabled_at_ms")?)?,
        version: unsigned(W, get(row, W, "version")?)?,
    })
}

// ---------------------------------------------------------------- health

/// The columns a health record is read from.
pub(crate) const HEALTH_COLUMNS: &str = "consecutive_failures, failing_since_ms, succeeded, \
    failed_attempts, last_success_at_ms, last_failure_at_ms, last_status, last_error";

/// A health record as its row's values (after the endpoint id), in
/// `HEALTH_COLUMNS` order.
pub(crate) struct HealthRow {
    consecutive_failures: i64,
    failing_since: Option<i64>,
    succeeded: i64,
    failed_attempts: i64,
    last_success_at: Option<i64>,
    last_failure_at: Option<i64>,
    last_status: Option<i32>,
    last_error: Option<String>,
}

impl HealthRow {
    /// `health`'s values.
    pub(crate) fn new(health: &EndpointHealth) -> Self {
        Self {
            consecutive_failures: big(health.consecutive_failures),
            failing_since: ms_opt(health.failing_since),
            succeeded: big(health.succeeded),
            failed_attempts: big(health.failed_attempts),
            last_success_at: ms_opt(health.last_success_at),
            last_failure_at: ms_opt(health.last_failure_at),
            last_status: status(health.last_status),
            last_error: health.last_error.as_ref().map(text_of),
        }
    }

    /// The values in `HEALTH_COLUMNS` order.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            &self.consecutive_failures,
            &self.failing_since,
            &self.succeeded,
            &self.failed_attempts,
            &self.last_success_at,
            &self.last_failure_at,
            &self.last_status,
            &self.last_error,
        ]
    }
}

/// The health of a row of `HEALTH_COLUMNS`.
pub(crate) fn health(row: &Row) -> StorageResult<EndpointHealth> {
    const W: &str = "endpoint health";
    Ok(EndpointHealth {
        consecutive_failures: unsigned(W, get(row, W, "consecutive_failures")?)?,
        failing_since: time_opt(W, get(row, W, "failing_since_ms")?)?,
        succeeded: unsigned(W, get(row, W, "succeeded")?)?,
        failed_attempts: unsigned(W, get(row, W, "failed_attempts")?)?,
        last_success_at: time_opt(W, get(row, W, "last_success_at_ms")?)?,
        last_failure_at: time_opt(W, get(row, W, "last_failure_at_ms")?)?,
        last_status: status_of(W, get(row, W, "last_status")?)?,
        last_error: from_text_opt(W, get(row, W, "last_error")?)?,
    })
}

// ---------------------------------------------------------------- events

/// The columns an event is read from.
pub(crate) const EVENT_COLUMNS: &str =
    "tenant, id, event_type, channels, created_at_ms, data, deliveries";

/// The event of a row of `EVENT_COLUMNS`.
pub(crate) fn event(row: &Row) -> StorageResult<Event> {
    const W: &str = "event";
    let data: &str = get(row, W, "data")?;
    Ok(Event {
        id: id(W, get(row, W, "id")?, EventId::parse)?,
        tenant: id(W, get(row, W, "tenant")?, TenantId::parse)?,
        event_type: get(row, W, "event_type")?,
        channels: get(row, W, "channels")?,
        created_at: time(W, get(row, W, "created_at_ms")?)?,
        data: data.into(),
        deliveries: unsigned(W, get(row, W, "deliveries")?)?,
    })
}

// ---------------------------------------------------------------- deliveries

/// The columns a delivery is read from and written to (`due_ms` is written, never
/// read: it is derived).
pub(crate) const DELIVERY_COLUMNS: &str = "id, tenant, event_id, endpoint_id, event_type, status, \
    attempts, budget_start, next_attempt_at_ms, last_status, last_error, dead_reason, \
    created_at_ms, updated_at_ms";

/// `unnest` of the arrays of `DeliveryRows::params`, as a table `u` with the
/// columns of `DELIVERY_COLUMNS` plus `due_ms`.
pub(crate) const DELIVERY_UNNEST: &str = "unnest($1::text[], $2::text[], $3::text[], \
    $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], \
    $10::integer[], $11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::bigint[]) \
    AS u(id, tenant, event_id, endpoint_id, event_type, status, attempts, budget_start, \
    next_attempt_at_ms, last_status, last_error, dead_reason, created_at_ms, updated_at_ms, \
    due_ms)";

/// Deliveries as one array per column, to write them in one statement.
#[derive(Default)]
pub(crate) struct DeliveryRows<'a> {
    id: Vec<&'a str>,
    tenant: Vec<&'a str>,
    event_id: Vec<&'a str>,
    endpoint_id: Vec<&'a str>,
    event_type: Vec<&'a str>,
    status: Vec<String>,
    attempts: Vec<i64>,
    budget_start: Vec<i64>,
    next_attempt_at: Vec<Option<i64>>,
    last_status: Vec<Option<i32>>,
    last_error: Vec<Option<String>>,
    dead_reason: Vec<Option<String>>,
    created_at: Vec<i64>,
    updated_at: Vec<i64>,
    due: Vec<i64>,
}

impl<'a> DeliveryRows<'a> {
    /// The columns of `deliveries`, in their order.
    pub(crate) fn new(deliveries: impl IntoIterator<Item = &'a Delivery>) -> Self {
        let mut rows = Self::default();
        for d in deliveries {
            rows.id.push(d.id.as_str());
            rows.tenant.push(d.tenant.as_str());
            rows.event_id.push(d.event_id.as_str());
            rows.endpoint_id.push(d.endpoint_id.as_str());
            rows.event_type.push(&d.event_type);
            rows.status.push(text_of(&d.status));
            rows.attempts.push(big(d.attempts));
            rows.budget_start.push(big(d.budget_start));
            rows.next_attempt_at.push(ms_opt(d.next_attempt_at));
            rows.last_status.push(status(d.last_status));
            rows.last_error.push(d.last_error.as_ref().map(text_of));
            rows.dead_reason.push(d.dead_reason.as_ref().map(text_of));
            rows.created_at.push(ms(d.created_at));
            rows.updated_at.push(ms(d.updated_at));
            rows.due.push(ms(d.due()));
        }
        rows
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// The arrays, `$1` to `$15` of `DELIVERY_UNNEST`.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 15] {
        [
            &self.id,
            &self.tenant,
            &self.event_id,
            &self.endpoint_id,
            &self.event_type,
            &self.status,
            &self.attempts,
            &self.budget_start,
            &self.next_attempt_at,
            &self.last_status,
            &self.last_error,
            &self.dead_reason,
            &self.created_at,
            &self.updated_at,
            &self.due,
        ]
    }
}

/// The delivery of a row of `DELIVERY_COLUMNS`.
pub(crate) fn delivery(row: &Row) -> StorageResult<Delivery> {
    const W: &str = "delivery";
    let event_type: &str = get(row, W, "event_type")?;
    Ok(Delivery {
        id: id(W, get(row, W, "id")?, DeliveryId::parse)?,
        event_id: id(W, get(row, W, "event_id")?, EventId::parse)?,
        tenant: id(W, get(row, W, "tenant")?, TenantId::parse)?,
        endpoint_id: id(W, get(row, W, "endpoint_id")?, EndpointId::parse)?,
        event_type: event_type.into(),
        status: from_text(W, get(row, W, "status")?)?,
        attempts: unsigned(W, get(row, W, "attempts")?)?,
        budget_start: unsigned(W, get(row, W, "budget_start")?)?,
        next_attempt_at: time_opt(W, get(row, W, "next_attempt_at_ms")?)?,
        last_status: status_of(W, get(row, W, "last_status")?)?,
        last_error: from_text_opt(W, get(row, W, "last_error")?)?,
        dead_reason: from_text_opt(W, get(row, W, "dead_reason")?)?,
        created_at: time(W, get(row, W, "created_at_ms")?)?,
        updated_at: time(W, get(row, W, "updated_at_ms")?)?,
    })
}

// ---------------------------------------------------------------- attempts

/// The columns an attempt is read from and written to.
pub(crate) const ATTEMPT_COLUMNS: &str = "id, tenant, endpoint_id, delivery_id, event_id, \
    event_type, attempt, started_at_ms, duration_ms, status, error, response_body";

/// `unnest` of the arrays of `AttemptRows::params`, in `ATTEMPT_COLUMNS` order.
pub(crate) const ATTEMPT_UNNEST: &str = "unnest($1::text[], $2::text[], $3::text[], \
    $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], \
    $10::integer[], $11::text[], $12::text[])";

/// Attempts as one array per column.
#[derive(Default)]
pub(crate) struct AttemptRows<'a> {
    id: Vec<&'a str>,
    tenant: Vec<&'a str>,
    endpoint_id: Vec<&'a str>,
    delivery_id: Vec<&'a str>,
    event_id: Vec<&'a str>,
    event_type: Vec<&'a str>,
    attempt: Vec<i64>,
    started_at: Vec<i64>,
    duration_ms: Vec<i64>,
    status: Vec<Option<i32>>,
    error: Vec<Option<String>>,
    response_body: Vec<&'a str>,
}

impl<'a> AttemptRows<'a> {
    /// The columns of `attempts`, in their order.
    pub(crate) fn new(attempts: impl IntoIterator<Item = &'a Attempt>) -> Self {
        let mut rows = Self::default();
        for a in attempts {
            rows.id.push(a.id.as_str());
            rows.tenant.push(a.tenant.as_str());
            rows.endpoint_id.push(a.endpoint_id.as_str());
            rows.delivery_id.push(a.delivery_id.as_str());
            rows.event_id.push(a.event_id.as_str());
            rows.event_type.push(&a.event_type);
            rows.attempt.push(big(a.attempt));
            rows.started_at.push(ms(a.started_at));
            rows.duration_ms.push(big(a.duration_ms));
            rows.status.push(status(a.status));
            rows.error.push(a.error.as_ref().map(text_of));
            rows.response_body.push(&a.response_body);
        }
        rows
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// The arrays, `$1` to `$12` of `ATTEMPT_UNNEST`.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 12] {
        [
            &self.id,
            &self.tenant,
            &self.endpoint_id,
            &self.delivery_id,
            &self.event_id,
            &self.event_type,
            &self.attempt,
            &self.started_at,
            &self.duration_ms,
            &self.status,
            &self.error,
            &self.response_body,
        ]
    }
}

/// The attempt of a row of `ATTEMPT_COLUMNS`.
pub(crate) fn attempt(row: &Row) -> StorageResult<Attempt> {
    const W: &str = "attempt";
    let event_type: &str = get(row, W, "event_type")?;
    Ok(Attempt {
        id: id(W, get(row, W, "id")?, AttemptId::parse)?,
        tenant: id(W, get(row, W, "tenant")?, TenantId::parse)?,
        endpoint_id: id(W, get(row, W, "endpoint_id")?, EndpointId::parse)?,
        delivery_id: id(W, get(row, W, "delivery_id")?, DeliveryId::parse)?,
        event_id: id(W, get(row, W, "event_id")?, EventId::parse)?,
        event_type: event_type.into(),
        attempt: unsigned(W, get(row, W, "attempt")?)?,
        started_at: time(W, get(row, W, "started_at_ms")?)?,
        duration_ms: unsigned(W, get(row, W, "duration_ms")?)?,
        status: status_of(W, get(row, W, "status")?)?,
        error: from_text_opt(W, get(row, W, "error")?)?,
        response_body: get(row, W, "response_body")?,
    })
}

// ---------------------------------------------------------------- access records

/// The columns an API key is read from and written to.
pub(crate) const KEY_COLUMNS: &str =
    "id, tenant, scope, description, token_hash, created_at_ms, last_used_at_ms";

/// An API key's values, in `KEY_COLUMNS` order.
pub(crate) fn key_values(key: &ApiKey) -> (String, i64, Option<i64>) {
    (
        text_of(&key.scope),
        ms(key.created_at),
        ms_opt(key.last_used_at),
    )
}

/// The key of a row of `KEY_COLUMNS`.
pub(crate) fn key(row: &Row) -> StorageResult<ApiKey> {
    const W: &str = "api key";
    Ok(ApiKey {
        id: id(W, get(row, W, "id")?, KeyId::parse)?,
        tenant: id(W, get(row, W, "tenant")?, TenantId::parse)?,
        scope: from_text(W, get(row, W, "scope")?)?,
        description: get(row, W, "description")?,
        token_hash: get(row, W, "token_hash")?,
        created_at: time(W, get(row, W, "created_at_ms")?)?,
        last_used_at: time_opt(W, get(row, W, "last_used_at_ms")?)?,
    })
}

/// The columns tenant settings are read from and written to (after the tenant).
pub(crate) const TENANT_COLUMNS: &str = "default_profile, max_endpoints, publish_rate, \
    notification_url, notification_types, strict_types, notification_endpoint, updated_at_ms";

/// A tenant's settings as their row's values.
pub(crate) struct TenantRow<'a> {
    settings: &'a TenantSettings,
    max_endpoints: Option<i64>,
    publish_rate: Option<i64>,
    notification_endpoint: Option<&'a str>,
    updated_at: i64,
}

impl<'a> TenantRow<'a> {
    /// `settings`' values.
    pub(crate) fn new(settings: &'a TenantSettings) -> Self {
        Self {
            settings,
            max_endpoints: settings.max_endpoints.map(big),
            publish_rate: settings.publish_rate.map(big),
            notification_endpoint: settings.notification_endpoint.as_ref().map(|e| e.as_str()),
            updated_at: ms(settings.updated_at),
        }
    }

    /// The values in `TENANT_COLUMNS` order.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 8] {
        let s = self.settings;
        [
            &s.default_profile,
            &self.max_endpoints,
            &self.publish_rate,
            &s.notification_url,
            &s.notification_types,
            &s.strict_types,
            &self.notification_endpoint,
            &self.updated_at,
        ]
    }
}

/// The settings of a row of `TENANT_COLUMNS`.
pub(crate) fn tenant_settings(row: &Row) -> StorageResult<TenantSettings> {
    const W: &str = "tenant settings";
    let endpoint: Option<&str> = get(row, W, "notification_endpoint")?;
    Ok(TenantSettings {
        default_profile: get(row, W, "default_profile")?,
        max_endpoints: unsigned_opt(W, get(row, W, "max_endpoints")?)?,
        publish_rate: unsigned_opt(W, get(row, W, "publish_rate")?)?,
        notification_url: get(row, W, "notification_url")?,
        notification_types: get(row, W, "notification_types")?,
        strict_types: get(row, W, "strict_types")?,
        notification_endpoint: endpoint.map(|e| id(W, e, EndpointId::parse)).transpose()?,
        updated_at: time(W, get(row, W, "updated_at_ms")?)?,
    })
}

/// The columns a catalog entry is read from and written to.
pub(crate) const EVENT_TYPE_COLUMNS: &str =
    "tenant, event_type, description, example, schema, updated_at_ms";

/// The catalog entry of a row of `EVENT_TYPE_COLUMNS`.
pub(crate) fn event_type(row: &Row) -> StorageResult<EventTypeEntry> {
    const W: &str = "event type";
    let example: Option<&str> = get(row, W, "example")?;
    let schema: Option<&str> = get(row, W, "schema")?;
    Ok(EventTypeEntry {
        tenant: id(W, get(row, W, "tenant")?, TenantId::parse)?,
        event_type: get(row, W, "event_type")?,
        description: get(row, W, "description")?,
        example: example.map(Into::into),
        schema: schema.map(Into::into),
        updated_at: time(W, get(row, W, "updated_at_ms")?)?,
    })
}

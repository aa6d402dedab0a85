//! The JSON shapes of the OpenAPI document: what each route takes and answers, as
//! `utoipa` schemas, described here so that the engine crate stays free of `utoipa`.
//!
//! The types in this file are never built: each mirrors, field for field, a type the
//! daemon really reads or writes (`herald::NewEndpoint`, `herald::views::EndpointObject`,
//! ...), and exists only to be described. They cannot drift unseen: `tests/openapi.rs`
//! validates real answers of a running `heraldd` against these schemas, rejecting any
//! field a schema does not name, and compares every request schema's fields with those
//! its real type accepts.
// Never constructed or read: these types only describe JSON (see above).
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

// ---- Errors ---------------------------------------------------------------------

/// Every failure: `{"error": {"code", "message"}}` (http-api.md "Conventions").
#[derive(ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
pub(crate) struct ErrorDetail {
    code: ErrorCode,
    /// For people: names the field or parameter at fault (`url: ...`), never a secret.
    message: String,
}

/// The machine-readable kind of failure; each goes with one status.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    /// 400: the body is not valid JSON, or a required body is missing.
    BadRequest,
    /// 401: no valid admin token or key.
    Unauthorized,
    /// 403: a valid key outside its scope or tenant, or a change to a reserved tenant.
    Forbidden,
    /// 408: the body did not arrive within `body_read_timeout`; the connection closes.
    RequestTimeout,
    /// 404: no such resource, or no such route.
    NotFound,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 409: the change conflicts with the current state or a quota.
    Conflict,
    /// 413: the body or the event's `data` is too large.
    PayloadTooLarge,
    /// 415: a body that is not `application/json`.
    UnsupportedMediaType,
    /// 422: a value that does not fit; the message names it.
    Invalid,
    /// 429: over the tenant's `publish_rate`.
    RateLimited,
    /// 503: Herald is shutting down.
    Unavailable,
    /// 503: `max_concurrent_writes` requests with a body are in progress; the body was
    /// not read. Retry after `retry-after` (1 s).
    Overloaded,
    /// 500: Herald failed; see its logs.
    Internal,
}

// ---- Shared values ----------------------------------------------------------------

/// How an endpoint's deliveries are ordered (delivery.md §4).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Ordering {
    /// Up to `max_in_flight` at once; retries when due.
    Unordered,
    /// One at a time in publish order; a failing head blocks the rest.
    Fifo,
}

/// A built-in profile's signature scheme.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SignatureScheme {
    /// Standard Webhooks: `webhook-signature: v1,<base64>`.
    Standard,
    /// `x-webhook-signature: <hex HMAC of the body>`.
    Hex,
    /// `x-webhook-signature: t=<ts>,v1=<hex HMAC of "ts.body">`.
    Timestamped,
}

/// Why an endpoint is disabled.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DisabledReason {
    /// By a caller (`active: false`).
    Manual,
    /// The receiver answered 410 Gone.
    Gone,
    /// It kept failing for `disable_after` or `disable_after_failures`.
    Failing,
    /// A delivery exhausted its retries under a profile with `disable_on_dead`.
    RetriesExhausted,
}

/// The state of an endpoint's circuit breaker.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BreakerState {
    /// Attempts flow.
    Closed,
    /// No attempts until the cooldown ends.
    Open,
    /// One probe attempt decides.
    HalfOpen,
}

/// Where a delivery stands.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeliveryStatus {
    /// Waiting for its next attempt, or in flight.
    Pending,
    /// A 2xx was received.
    Succeeded,
    /// In the dead letters.
    Dead,
}

/// Why a delivery is dead.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeadReason {
    /// The retry schedule ran out.
    RetriesExhausted,
    /// The receiver answered 410 Gone.
    Gone,
    /// The endpoint was disabled while the delivery was pending.
    EndpointDisabled,
    /// The endpoint was deleted while the delivery was pending.
    EndpointDeleted,
    /// Its event was gone from storage before it could be sent.
    EventPurged,
    /// Its data cannot be written in its endpoint's JSON mode.
    Unwritable,
}

/// Why an attempt got no HTTP status.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorClass {
    /// No complete answer within the timeout.
    Timeout,
    /// The connection failed.
    Connect,
    /// The name did not resolve.
    Dns,
    /// The TLS handshake failed.
    Tls,
    /// The destination policy refused the address or the port.
    BlockedDestination,
    /// The receiver broke HTTP.
    Protocol,
    /// The answer's body could not be read.
    Body,
}

/// What an API key may do (access.md §1).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KeyScope {
    /// Every route under its tenant.
    Tenant,
    /// `POST .../events` only.
    Publish,
    /// `GET` routes under its tenant only.
    Read,
}

/// Only successful or only failed attempts.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AttemptOutcome {
    /// A 2xx.
    Success,
    /// Anything else.
    Failure,
}

/// Where a catalog entry comes from.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventTypeSource {
    /// The tenant's own entry (it may change or delete it).
    Tenant,
    /// An `[event_types."TYPE"]` table of the configuration, for every tenant.
    Config,
}

/// How a profile writes JSON (delivery.md §8).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum JsonMode {
    /// The data as published, byte for byte.
    Raw,
    /// As JavaScript's `JSON.stringify` writes it.
    Js,
    /// As Python's `json.dumps` writes it.
    Python,
}

// ---- Path and query parameters ------------------------------------------------------

/// `{tenant}` of every `/v1/tenants/{tenant}/...` route.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TenantPath {
    /// The tenant: 1 to 64 characters of `[A-Za-z0-9_-]`. Names starting with `_` are
    /// Herald's own (read-only).
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "acme")]
    tenant: String,
}

/// `{id}` of an endpoint.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct EndpointIdPath {
    /// The endpoint's id: `ep_` and a ULID.
    #[param(example = "ep_01JDQ2Z8X9V7N4K3M5P6R8T0WA")]
    id: String,
}

/// `{id}` of an event.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct EventIdPath {
    /// The event's id: `evt_` and a ULID, or the idempotency key it was published with.
    #[param(
        pattern = "^[A-Za-z0-9_.:-]{1,128}$",
        example = "evt_01JDQ2Z8X9V7N4K3M5P6R8T0WB"
    )]
    id: String,
}

/// `{id}` of a delivery.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct DeliveryIdPath {
    /// The delivery's id: `dlv_` and a ULID.
    #[param(example = "dlv_01JDQ2Z8X9V7N4K3M5P6R8T0WC")]
    id: String,
}

/// `{id}` of an API key.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KeyIdPath {
    /// The key's id (not its token): `key_` and a ULID.
    #[param(example = "key_01JDQ2Z8X9V7N4K3M5P6R8T0WD")]
    id: String,
}

/// `{type}` of a catalog entry.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct EventTypePath {
    /// The event type: 1 to 128 characters of `[A-Za-z0-9_.-]`.
    #[param(
        rename = "type",
        pattern = "^[A-Za-z0-9_.-]{1,128}$",
        example = "order.filled"
    )]
    event_type: String,
}

/// `?limit=&cursor=` of every list (http-api.md "Conventions").
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page: 50 when absent; larger values than 250 are taken as 250.
    #[param(required = false, minimum = 1, example = 50)]
    limit: u32,
    /// Where to go on: the `next_cursor` of the previous page of this list.
    #[param(required = false)]
    cursor: String,
}

/// The event list's filters, with its paging.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Items per page: 50 when absent; larger values than 250 are taken as 250.
    #[param(required = false, minimum = 1, example = 50)]
    limit: u32,
    /// Where to go on: the `next_cursor` of the previous page of this list.
    #[param(required = false)]
    cursor: String,
    /// Only events of this type.
    #[param(rename = "type", required = false, example = "order.filled")]
    event_type: String,
    /// Only events published at or after this time (RFC 3339).
    #[param(required = false, format = DateTime)]
    since: String,
    /// Only events published before this time (RFC 3339).
    #[param(required = false, format = DateTime)]
    until: String,
}

/// A stream's filters and resume point.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Only events of these types: comma-separated types or `prefix.*` patterns, as
    /// an endpoint's `event_types` (all types when absent).
    #[param(required = false, example = "order.*,position.closed")]
    types: String,
    /// Only events on at least one of these channels, comma-separated (every event
    /// when absent).
    #[param(required = false, example = "BTC-USD")]
    channels: String,
    /// Resume after this event: stored events after it come first, then live ones.
    /// SSE's `Last-Event-ID` header wins over it.
    #[param(required = false, example = "evt_01JDQ2Z8X9V7N4K3M5P6R8T0WA")]
    after: String,
}

/// The attempt list's filter, with its paging.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AttemptsQuery {
    /// Items per page: 50 when absent; larger values than 250 are taken as 250.
    #[param(required = false, minimum = 1, example = 50)]
    limit: u32,
    /// Where to go on: the `next_cursor` of the previous page of this list.
    #[param(required = false)]
    cursor: String,
    /// Only successful or only failed attempts.
    #[param(required = false, inline)]
    outcome: AttemptOutcome,
    /// Only attempts of events of this type.
    #[param(rename = "type", required = false, example = "order.filled")]
    event_type: String,
    /// Only attempts started at or after this time (RFC 3339); older ones end the list.
    #[param(required = false, format = DateTime)]
    since: String,
    /// Only attempts started before this time (RFC 3339).
    #[param(required = false, format = DateTime)]
    until: String,
}

// ---- Request bodies -------------------------------------------------------------------

/// The body of `POST .../endpoints`: only `url` is required (`herald::NewEndpoint`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEndpoint {
    /// Where attempts are POSTed: `https://` (and `http://` when allowed), a public
    /// address unless private destinations are allowed, never a denied one, on an
    /// allowed port when ports are limited.
    #[schema(format = "uri", example = "https://example.com/hooks")]
    url: String,
    /// Free text.
    description: Option<String>,
    /// Exact types or `prefix.*` patterns; absent or empty means every type.
    #[schema(example = json!(["order.*", "position.closed"]))]
    event_types: Option<Vec<String>>,
    /// When set, only events sharing at least one channel reach the endpoint.
    channels: Option<Vec<String>>,
    /// `false` creates it disabled.
    active: Option<bool>,
    /// A chosen secret (it must fit the profile's key); generated when absent.
    secret: Option<String>,
    /// The built-in profile of that name (give this or `profile`, not both).
    signature_scheme: Option<SignatureScheme>,
    /// The delivery profile: `standard`, `hex`, `timestamped` or a configured one; the
    /// tenant's `default_profile` when absent.
    profile: Option<String>,
    /// Custom request headers (no CR/LF, no hop-by-hop or reserved names).
    headers: Option<BTreeMap<String, String>>,
    /// `unordered` (default) or `fifo`.
    ordering: Option<Ordering>,
    /// Attempts at once.
    #[schema(minimum = 1, maximum = 1000)]
    max_in_flight: Option<u32>,
    /// Attempts per second.
    #[schema(minimum = 1, maximum = 100_000)]
    rate_limit: Option<u32>,
    /// Per-attempt timeout, in milliseconds.
    #[schema(minimum = 1, maximum = 60_000)]
    timeout_ms: Option<u64>,
    /// Delays before each retry, in seconds (at most 50, each at most 7 days).
    #[schema(max_items = 50)]
    retry_schedule_secs: Option<Vec<u64>>,
}

/// The body of `PATCH .../endpoints/{id}` (`herald::EndpointPatch`): a field left out
/// stays as it is; `null` returns an optional setting to the default in force.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointPatch {
    /// New URL.
    #[schema(format = "uri")]
    url: Option<String>,
    /// New description; `null` clears it.
    description: Option<String>,
    /// New type filter; `null` or `[]` means every type.
    event_types: Option<Vec<String>>,
    /// New channels; `null` or `[]` means no channel filter.
    channels: Option<Vec<String>>,
    /// `false` disables (reason `manual`); `true` re-enables and resets the breaker.
    active: Option<bool>,
    /// The built-in profile of that name.
    signature_scheme: Option<SignatureScheme>,
    /// New delivery profile.
    profile: Option<String>,
    /// New custom headers, replacing the old set; `null` clears them.
    headers: Option<BTreeMap<String, String>>,
    /// New ordering.
    ordering: Option<Ordering>,
    /// New concurrency; `null` returns to the default.
    #[schema(minimum = 1, maximum = 1000)]
    max_in_flight: Option<u32>,
    /// New rate limit; `null` removes it.
    #[schema(minimum = 1, maximum = 100_000)]
    rate_limit: Option<u32>,
    /// New timeout in milliseconds; `null` returns to the default.
    #[schema(minimum = 1, maximum = 60_000)]
    timeout_ms: Option<u64>,
    /// New retry delays in seconds (at most 50, each at most 7 days); `null` returns
    /// to the default.
    #[schema(max_items = 50)]
    retry_schedule_secs: Option<Vec<u64>>,
}

/// The body of `POST .../events` (`herald::NewEvent`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEvent {
    /// The event type: 1 to 128 characters of `[A-Za-z0-9_.-]`; `herald.` is reserved.
    #[serde(rename = "type")]
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,128}$", example = "order.filled")]
    event_type: String,
    /// Any JSON value, delivered byte for byte (at most `max_payload_bytes`).
    #[schema(value_type = Value, example = json!({"orderId": "ord_789"}))]
    data: Value,
    /// Idempotency key, which becomes the event's id: a second publish with it
    /// creates nothing and answers 200 with the first event.
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    id: Option<String>,
    /// The event's channels.
    channels: Option<Vec<String>>,
}

/// The body of `POST .../keys` (`herald::NewKey`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// What the key may do.
    scope: KeyScope,
    /// Free text, at most 256 bytes.
    description: Option<String>,
}

/// The body of `PUT /v1/tenants/{tenant}` (`herald::model::TenantInput`): the whole of
/// a tenant's settings; a field left out returns to the configured default.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantInput {
    /// The profile of endpoints created without one.
    default_profile: Option<String>,
    /// Most endpoints the tenant may have (1 to 1,000,000).
    #[schema(minimum = 1, maximum = 1_000_000)]
    max_endpoints: Option<u32>,
    /// Events per second it may publish; 0 means no limit.
    publish_rate: Option<u32>,
    /// Where its notifications go (Herald keeps an endpoint for it).
    #[schema(format = "uri")]
    notification_url: Option<String>,
    /// Which notifications go there (`endpoint.disabled`, ...); every one when absent
    /// or empty.
    notification_types: Option<Vec<String>>,
    /// Refuse a publish of a type outside the catalog (422).
    strict_types: Option<bool>,
}

/// The body of `PUT .../event-types/{type}` (`herald::model::EventTypeInput`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventTypeInput {
    /// What the event means (at most 1024 bytes).
    description: Option<String>,
    /// An example of its `data` (test events send it).
    #[schema(value_type = Value)]
    example: Option<Value>,
    /// A JSON Schema its `data` must validate against at publish (422 naming the
    /// first failing path).
    #[schema(value_type = Value)]
    schema: Option<Value>,
}

// ---- Answers --------------------------------------------------------------------------

/// The endpoint object (`herald::views::EndpointObject`), with effective values: a
/// setting left unset shows the default in force. Never the secret.
#[derive(ToSchema)]
pub(crate) struct Endpoint {
    /// `ep_...`.
    #[schema(example = "ep_01JDQ2Z8X9V7N4K3M5P6R8T0WA")]
    id: String,
    /// Its tenant.
    tenant: String,
    /// Where attempts are POSTed.
    url: String,
    /// Free text.
    #[schema(required = true)]
    description: Option<String>,
    /// Type filters; empty means every type.
    event_types: Vec<String>,
    /// Channel filters; empty means none.
    channels: Vec<String>,
    /// Whether deliveries are made.
    active: bool,
    /// Why it is disabled; null while active.
    #[schema(required = true)]
    disabled_reason: Option<DisabledReason>,
    /// Its delivery profile.
    profile: String,
    /// The built-in profile's scheme; null for a configured profile.
    #[schema(required = true)]
    signature_scheme: Option<SignatureScheme>,
    /// Custom request headers.
    headers: BTreeMap<String, String>,
    /// Delivery order.
    ordering: Ordering,
    /// Attempts at once.
    max_in_flight: u32,
    /// Attempts per second; null for no limit.
    #[schema(required = true)]
    rate_limit: Option<u32>,
    /// Per-attempt timeout, in milliseconds.
    timeout_ms: u64,
    /// Delays before each retry, in seconds.
    retry_schedule_secs: Vec<u64>,
    /// Creation time.
    #[schema(format = DateTime)]
    created_at: String,
    /// Last change.
    #[schema(format = DateTime)]
    updated_at: String,
    /// 1 at creation, one more with every change (Herald's own included).
    version: u64,
    /// Its circuit breaker.
    breaker: BreakerState,
    /// Its counters.
    stats: EndpointStats,
}

/// `stats` of the endpoint object.
#[derive(ToSchema)]
pub(crate) struct EndpointStats {
    /// Deliveries waiting.
    pending: u64,
    /// Dead letters.
    dead: u64,
    /// Deliveries that succeeded.
    succeeded: u64,
    /// Failed attempts.
    failed_attempts: u64,
    /// Last success.
    #[schema(required = true, format = DateTime)]
    last_success_at: Option<String>,
    /// Last failed attempt.
    #[schema(required = true, format = DateTime)]
    last_failure_at: Option<String>,
}

/// The answer of `POST .../endpoints`: the endpoint object and its secret.
pub(crate) struct EndpointCreated;

impl PartialSchema for EndpointCreated {
    fn schema() -> RefOr<Schema> {
        with_fields::<Endpoint>(
            "The endpoint object and its secret: the only time the secret is shown, \
             apart from rotation.",
            [(
                "secret",
                string("The signing secret (`whsec_...` for Standard Webhooks)."),
                true,
            )],
        )
    }
}

impl ToSchema for EndpointCreated {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        // Its fields are `Endpoint`'s: so are the schemas they refer to.
        Endpoint::schemas(schemas);
    }
}

/// The answer of `portal-links`.
#[derive(ToSchema)]
pub(crate) struct PortalLink {
    /// `/console/login?token=...`, relative to this server: one use, until `expires_at`.
    url: String,
    /// When the link stops working.
    #[schema(format = DateTime)]
    expires_at: String,
}

/// The answer of `rotate-secret`.
#[derive(ToSchema)]
pub(crate) struct Rotated {
    /// The new secret, signing from now on.
    secret: String,
    /// Until when the previous secret still signs too.
    #[schema(format = DateTime)]
    previous_valid_until: String,
}

/// The event object (`herald::views::EventObject` without `data`).
#[derive(ToSchema)]
pub(crate) struct Event {
    /// `evt_...`, or the idempotency key it was published with.
    id: String,
    /// Its tenant.
    tenant: String,
    /// Its type.
    #[serde(rename = "type")]
    event_type: String,
    /// Its channels.
    channels: Vec<String>,
    /// Publish time.
    #[schema(format = DateTime)]
    created_at: String,
    /// How many endpoints it matched.
    deliveries: u32,
}

/// The event object with its `data` (`GET .../events/{id}`).
pub(crate) struct EventWithData;

impl PartialSchema for EventWithData {
    fn schema() -> RefOr<Schema> {
        with_fields::<Event>(
            "The event object with its data.",
            [("data", any("The data as published, byte for byte."), true)],
        )
    }
}

impl ToSchema for EventWithData {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        // Its fields are `Event`'s: so are the schemas they refer to.
        Event::schemas(schemas);
    }
}

/// The delivery object (`herald::views::DeliveryObject`): one event on its way to one
/// endpoint.
#[derive(ToSchema)]
pub(crate) struct Delivery {
    /// `dlv_...`.
    id: String,
    /// Its event.
    event_id: String,
    /// Its endpoint.
    endpoint_id: String,
    /// Where it stands.
    status: DeliveryStatus,
    /// Attempts made.
    attempts: u32,
    /// When the next attempt is due (pending only).
    #[schema(required = true, format = DateTime)]
    next_attempt_at: Option<String>,
    /// The last HTTP status received.
    #[schema(required = true)]
    last_status: Option<u16>,
    /// The last attempt's error class, when it got no status.
    #[schema(required = true)]
    last_error: Option<ErrorClass>,
    /// Why it is dead.
    #[schema(required = true)]
    dead_reason: Option<DeadReason>,
}

/// The attempt object (`herald::views::AttemptObject`).
#[derive(ToSchema)]
pub(crate) struct Attempt {
    /// `att_...`.
    id: String,
    /// Its delivery.
    delivery_id: String,
    /// Its event.
    event_id: String,
    /// Its event's type.
    event_type: String,
    /// 1 for the first attempt of the delivery.
    attempt: u32,
    /// Start time.
    #[schema(format = DateTime)]
    started_at: String,
    /// How long it took, in milliseconds.
    duration_ms: u64,
    /// The HTTP status, when an answer came.
    #[schema(required = true)]
    status: Option<u16>,
    /// The error class, when no answer came.
    #[schema(required = true)]
    error: Option<ErrorClass>,
    /// The first 1 KiB of the answer's body.
    response_body: String,
}

/// The answer of `dead-letters/replay`.
#[derive(ToSchema)]
pub(crate) struct Replayed {
    /// Dead deliveries queued again with a fresh retry budget.
    replayed: u64,
}

/// A delivery profile (`herald::views::ProfileObject`, profiles.md §3).
#[derive(ToSchema)]
pub(crate) struct Profile {
    /// Its name.
    name: String,
    /// One of the three built in.
    builtin: bool,
    /// Free text.
    #[schema(required = true)]
    description: Option<String>,
    /// The body's fields as `name=source`, or `data` for the bare data.
    #[schema(schema_with = envelope)]
    envelope: Value,
    /// Header role (`event_id`, `timestamp`, `signature`, ...) to header name.
    headers: BTreeMap<String, String>,
    /// The signature recipe (`standard`, `hex`, `hex_timestamp`, `stripe`, ...).
    signature: String,
    /// How the secret becomes the key (`whsec`, `text`).
    key: String,
    /// How the JSON is written.
    json: JsonMode,
    /// Whether its header names go out in Title-Case on HTTP/1.1.
    title_case_headers: bool,
    /// The delivery settings it sets.
    delivery: ProfileDelivery,
}

/// A profile's delivery settings: only those it sets appear.
#[derive(ToSchema)]
pub(crate) struct ProfileDelivery {
    /// Retry delays, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_schedule_secs: Option<Vec<u64>>,
    /// Attempt timeout, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    /// Attempts at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_in_flight: Option<u32>,
    /// Failures in a row that open the breaker.
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_threshold: Option<u32>,
    /// First breaker cooldown, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_cooldown_secs: Option<u64>,
    /// Longest breaker cooldown, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_cooldown_max_secs: Option<u64>,
    /// Failing this long disables the endpoint, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_after_secs: Option<u64>,
    /// This many failures in a row disable the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_after_failures: Option<u32>,
    /// How long a rotated-out secret still signs, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_grace_secs: Option<u64>,
    /// A dead delivery disables its endpoint.
    disable_on_dead: bool,
}

/// A tenant's settings with the defaults in force filled in (`herald::views::TenantView`).
#[derive(ToSchema)]
pub(crate) struct Tenant {
    /// The tenant.
    tenant: String,
    /// The profile of endpoints created without one.
    default_profile: String,
    /// Most endpoints.
    max_endpoints: u32,
    /// Events per second; 0 means no limit.
    publish_rate: u32,
    /// Where its notifications go.
    #[schema(required = true)]
    notification_url: Option<String>,
    /// Which notifications go there (every one when empty).
    notification_types: Vec<String>,
    /// The endpoint Herald keeps for `notification_url`.
    #[schema(required = true)]
    notification_endpoint_id: Option<String>,
    /// Whether a publish of a type outside the catalog is refused.
    strict_types: bool,
    /// Last change of the settings; null when none were ever set.
    #[schema(required = true, format = DateTime)]
    updated_at: Option<String>,
}

/// The answer of `PUT /v1/tenants/{tenant}`.
pub(crate) struct TenantChanged;

impl PartialSchema for TenantChanged {
    fn schema() -> RefOr<Schema> {
        with_fields::<Tenant>(
            "The settings, with the secret of the notification endpoint when this \
             request made it (the only time it is shown).",
            [(
                "notification_secret",
                string("The notification endpoint's signing secret."),
                false,
            )],
        )
    }
}

impl ToSchema for TenantChanged {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        // Its fields are `Tenant`'s: so are the schemas they refer to.
        Tenant::schemas(schemas);
    }
}

/// An entry of the tenant's event catalog (`herald::views::EventTypeView`).
#[derive(ToSchema)]
pub(crate) struct EventType {
    /// The event type.
    #[serde(rename = "type")]
    event_type: String,
    /// The tenant whose catalog it is in.
    tenant: String,
    /// What the event means.
    #[schema(required = true)]
    description: Option<String>,
    /// An example of its `data`, or null.
    #[schema(value_type = Value, required = true)]
    example: Option<Value>,
    /// The JSON Schema its `data` must fit, or null.
    #[schema(value_type = Value, required = true)]
    schema: Option<Value>,
    /// Whose entry it is.
    source: EventTypeSource,
    /// Last change.
    #[schema(format = DateTime)]
    updated_at: String,
}

/// An API key, never its token (`herald::views::KeyView`).
#[derive(ToSchema)]
pub(crate) struct Key {
    /// `key_...`.
    id: String,
    /// The tenant it acts for.
    tenant: String,
    /// What it may do.
    scope: KeyScope,
    /// Free text.
    #[schema(required = true)]
    description: Option<String>,
    /// Creation time.
    #[schema(format = DateTime)]
    created_at: String,
    /// Last use, to the minute; null until first used.
    #[schema(required = true, format = DateTime)]
    last_used_at: Option<String>,
}

/// The answer of `POST .../keys`: the key and its token.
pub(crate) struct KeyCreated;

impl PartialSchema for KeyCreated {
    fn schema() -> RefOr<Schema> {
        with_fields::<Key>(
            "The key and its token: the only time the token is shown (Herald keeps only \
             its hash).",
            [(
                "token",
                string("`hk_` and 64 hex digits: send it as `authorization: Bearer <token>` or `x-api-key: <token>`."),
                true,
            )],
        )
    }
}

impl ToSchema for KeyCreated {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        // Its fields are `Key`'s: so are the schemas they refer to.
        Key::schemas(schemas);
    }
}

/// `GET /healthz`.
#[derive(ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    status: HealthStatus,
}

/// `ok`.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HealthStatus {
    /// The process serves.
    Ok,
}

/// `GET /readyz`.
#[derive(ToSchema)]
pub(crate) struct Readiness {
    /// Whether the engine's actors run and make progress.
    status: ReadinessStatus,
}

/// `ready` or `not_ready`.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReadinessStatus {
    /// Storage is open and the actors run.
    Ready,
    /// Not yet, or not any more.
    NotReady,
}

/// A list answer: `{"data": [...], "next_cursor": ...}`, newest first.
macro_rules! list {
    ($name:ident, $item:ty, $what:literal) => {
        #[doc = concat!("A page of ", $what, ", and where the next page starts.")]
        #[derive(ToSchema)]
        pub(crate) struct $name {
            #[doc = concat!("The ", $what, ".")]
            data: Vec<$item>,
            /// Pass as `?cursor=` for the next page; null on the last page.
            #[schema(required = true)]
            next_cursor: Option<String>,
        }
    };
}

list!(EndpointList, Endpoint, "endpoint objects");
list!(EventList, Event, "event objects");
list!(DeliveryList, Delivery, "delivery objects");
list!(AttemptList, Attempt, "attempt objects");
list!(ProfileList, Profile, "delivery profiles");
list!(KeyList, Key, "keys");
list!(EventTypeList, EventType, "catalog entries");

// ---- Cluster ----------------------------------------------------------------------

/// The nodes on this daemon's PostgreSQL database (`herald_storage_postgres::ClusterStatus`).
#[derive(ToSchema)]
pub(crate) struct ClusterStatus {
    /// The node answering.
    node_id: String,
    /// Partitions endpoints are spread over (fixed by the first node).
    partitions: u32,
    /// Partitions no live lease holds (being handed over).
    partitions_unowned: u32,
    /// How long a lease lasts without renewal, in milliseconds.
    lease_ttl_ms: u64,
    /// How often leases are renewed, in milliseconds.
    lease_renew_ms: u64,
    /// Every node that beat within the last day, by id.
    nodes: Vec<ClusterNode>,
}

/// A node of the cluster (`herald_storage_postgres::NodeStatus`).
#[derive(ToSchema)]
pub(crate) struct ClusterNode {
    /// Its id (`node_id`).
    node_id: String,
    /// When it joined (RFC 3339).
    started_at: String,
    /// Its last heartbeat (RFC 3339, the database's clock).
    heartbeat_at: String,
    /// Whether its last heartbeat is younger than a lease.
    alive: bool,
    /// Partitions it holds under an unexpired lease.
    partitions_owned: u32,
}

// ---- Building blocks --------------------------------------------------------------

/// A string property.
fn string(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(description))
        .into()
}

/// Any JSON value.
fn any(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .description(Some(description))
        .into()
}

/// `envelope` of a profile: a list of `name=source` or the string `data`.
fn envelope() -> Schema {
    OneOfBuilder::new()
        .item(
            ArrayBuilder::new()
                .items(string("A body field, as `name=source`."))
                .description(Some("The body's fields, in order.")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .enum_values(Some(["data"]))
                .description(Some("The body is the event's data alone.")),
        )
        .into()
}

/// `T`'s object schema with more `fields` (name, schema, required): what an answer
/// built with `#[serde(flatten)]` looks like, kept one flat object so that clients and
/// the strict checks of `tests/openapi.rs` see every field in one place.
fn with_fields<T: PartialSchema>(
    description: &str,
    fields: impl IntoIterator<Item = (&'static str, RefOr<Schema>, bool)>,
) -> RefOr<Schema> {
    match T::schema() {
        RefOr::T(Schema::Object(mut object)) => {
            for (name, schema, required) in fields {
                object.properties.insert(name.to_owned(), schema);
                if required {
                    object.required.push(name.to_owned());
                }
            }
            object.description = Some(description.to_owned());
            RefOr::T(Schema::Object(object))
        }
        // Derived from a struct, `T` is always an object; should that change, the
        // fields still arrive, composed instead of flat.
        other => {
            let mut extra = ObjectBuilder::new();
            for (name, schema, required) in fields {
                extra = extra.property(name, schema);
                if required {
                    extra = extra.required(name);
                }
            }
            utoipa::openapi::schema::AllOfBuilder::new()
                .item(other)
                .item(extra)
                .description(Some(description))
                .into()
        }
    }
}

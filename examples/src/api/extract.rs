//! `ApiJson`, `ApiPath`, `ApiQuery` and the body check: every rejection is an
//! `ApiError`, in the check order of http-api.md (401; 413, 503, 408, 415, 400; 422;
//! 404; 409).
//!
//! The order comes from where each check runs. The auth layer (`auth`) answers 401
//! first. `check_body`, a layer inside it, takes a write slot (503 when none is free),
//! reads the whole body under the size limit (413) and the body timeout (408), checks
//! its content type (415) and its JSON syntax (400), and leaves the bytes in the
//! request's extensions. Only then do the extractors run, all on request parts:
//! `ApiPath` and `ApiQuery` check path and query values and `ApiJson` fits the JSON to
//! its type (422 each). Handlers list `ApiJson` first, so that a missing required body
//! (400) is reported before a bad path value (422). The handler's engine call gives
//! 404 and 409 last.

use crate::serde_path::field_of;
use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use herald::{AttemptFilter, AttemptOutcome, EventFilter, PageRequest, Timestamp};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;

/// A request body that passed `check_body`: within the limit, `application/json`
/// and syntactically valid JSON. Empty when the request had no body.
#[derive(Debug, Clone)]
struct CheckedBody(Bytes);

/// Layer: reads and checks the body of `POST`, `PUT` and `PATCH` requests, then hands
/// the bytes on in the request's extensions. In order: a declared length over the limit
/// is 413 before anything is read; a write slot is taken (503 `overloaded` when all
/// `max_concurrent_writes` are in use), so that only that many bodies are buffered at
/// once; the body is read under the size limit (413 as soon as it is passed) and
/// within `body_read_timeout` (408); then 415 and 400. The slot is held until the
/// handler has answered.
pub(crate) async fn check_body(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    ) {
        return next.run(request).await;
    }
    if declared_length(&request).is_some_and(|length| length > state.body_limit as u64) {
        return too_large(state.body_limit).into_response();
    }
    let Ok(_slot) = state.write_slots.clone().try_acquire_owned() else {
        metrics::counter!(herald::metrics::API_WRITES_REFUSED).increment(1);
        return ApiError::overloaded().into_response();
    };
    let (mut parts, body) = request.into_parts();
    let read = read_limited(body, state.body_limit);
    let bytes = match tokio::time::timeout(state.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => return error.into_response(),
        Err(_) => {
            metrics::counter!(herald::metrics::API_CONNECTIONS_CLOSED, "reason" => "body_timeout")
                .increment(1);
            return ApiError::request_timeout(state.body_read_timeout).into_response();
        }
    };
    if !bytes.is_empty() {
        if !is_json(&parts) {
            return ApiError::unsupported_media_type().into_response();
        }
        if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            return ApiError::bad_request(format!("the body is not valid JSON: {error}"))
                .into_response();
        }
    }
    parts.extensions.insert(CheckedBody(bytes));
    next.run(Request::from_parts(parts, Body::empty())).await
}

/// The `content-length` the client declared, if any (hyper has checked that it is one
/// well-formed number).
fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::payload_too_large(format!("the body exceeds {limit} bytes"))
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(_) => Err(ApiError::bad_request("the body could not be read")),
    }
}

fn is_json(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn checked_body(parts: &Parts) -> Bytes {
    // Routes without the `check_body` layer have no body to offer.
    parts
        .extensions
        .get::<CheckedBody>()
        .map(|body| body.0.clone())
        .unwrap_or_default()
}

/// Fits JSON to `T`; a data error is a 422 naming the field.
fn fit<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde reads a struct from an array too (`["order.filled", {}]`); the API takes
    // objects only.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::invalid(
            "body",
            "must be a JSON object".to_owned(),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        // serde_json appends the position, which says nothing the field name doesn't.
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_owned(),
            None => message,
        };
        ApiError::invalid(&field_of(&path, &message, "body"), message)
    })
}

/// A required JSON body of type `T` (400 when absent, 422 when it does not fit).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let bytes = checked_body(parts);
        if bytes.is_empty() {
            return Err(ApiError::bad_request("a JSON body is required"));
        }
        fit(&bytes).map(ApiJson)
    }
}

/// An optional JSON body: `None` when the request has none.
#[derive(Debug)]
pub struct ApiOptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiOptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let bytes = checked_body(parts);
        if bytes.is_empty() {
            return Ok(ApiOptionalJson(None));
        }
        fit(&bytes).map(|value| ApiOptionalJson(Some(value)))
    }
}

/// Path values that parse into checked types (`TenantId`, `EndpointId`, ...).
pub trait FromPathParams: Sized {
    /// Reads and checks the named path parameters.
    ///
    /// # Errors
    /// A 422 `ApiError` naming the parameter.
    fn from_params(params: &HashMap<String, String>) -> Result<Self, ApiError>;
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::invalid(name, "is missing from the path"))
}

impl FromPathParams for herald::TenantId {
    fn from_params(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        Ok(herald::TenantId::parse(param(params, "tenant")?)?)
    }
}

macro_rules! tenant_and_id {
    ($id:ty) => {
        impl FromPathParams for (herald::TenantId, $id) {
            fn from_params(params: &HashMap<String, String>) -> Result<Self, ApiError> {
                let tenant = herald::TenantId::from_params(params)?;
                let id = <$id>::parse(param(params, "id")?)?;
                Ok((tenant, id))
            }
        }
    };
}

tenant_and_id!(herald::EndpointId);
tenant_and_id!(herald::EventId);
tenant_and_id!(herald::DeliveryId);
tenant_and_id!(herald::KeyId);

/// An event type named in a path (`.../event-types/{type}`), checked as publishes
/// check it.
#[derive(Debug, Clone)]
pub struct EventTypeName(pub String);

impl FromPathParams for (herald::TenantId, EventTypeName) {
    fn from_params(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        let tenant = herald::TenantId::from_params(params)?;
        let name = param(params, "type")?;
        herald::filter::validate_event_type(name, "type")?;
        Ok((tenant, EventTypeName(name.to_owned())))
    }
}

/// Checked path parameters (422 naming the parameter).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: FromPathParams, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid("path", rejection.body_text()))?;
        T::from_params(&params).map(ApiPath)
    }
}

/// Query values that parse into checked types.
pub trait FromQuery: Sized {
    /// Reads and checks the query's pairs (the last of repeated keys wins; unknown keys
    /// are ignored).
    ///
    /// # Errors
    /// A 422 `ApiError` naming the parameter.
    fn from_pairs(pairs: &HashMap<String, String>) -> Result<Self, ApiError>;
}

/// Checked query parameters (422 naming the parameter).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: FromQuery, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid("query", rejection.body_text()))?;
        let pairs: HashMap<String, String> = pairs.into_iter().collect();
        T::from_pairs(&pairs).map(ApiQuery)
    }
}

/// `?limit=` (default 50, clamped to 250) and `?cursor=`.
#[derive(Debug)]
pub struct Paging(pub PageRequest);

fn page(pairs: &HashMap<String, String>) -> Result<PageRequest, ApiError> {
    let limit = match pairs.get("limit") {
        None => None,
        Some(text) => Some(
            text.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::invalid("limit", "must be a positive whole number"))?,
        ),
    };
    Ok(PageRequest {
        limit: herald::page_limit(limit),
        cursor: pairs.get("cursor").filter(|c| !c.is_empty()).cloned(),
    })
}

impl FromQuery for Paging {
    fn from_pairs(pairs: &HashMap<String, String>) -> Result<Self, ApiError> {
        page(pairs).map(Paging)
    }
}

/// The event list's query: paging plus `?type=`, `?since=`, `?until=` (RFC 3339).
#[derive(Debug)]
pub struct EventsQuery {
    /// Which page.
    pub page: PageRequest,
    /// The filters.
    pub filter: EventFilter,
}

fn time(pairs: &HashMap<String, String>, key: &str) -> Result<Option<Timestamp>, ApiError> {
    pairs
        .get(key)
        .map(|text| Timestamp::parse_rfc3339(text, key))
        .transpose()
        .map_err(ApiError::from)
}

/// `?type=`, `?since=`, `?until=`, as the event and attempt lists read them.
fn type_and_times(pairs: &HashMap<String, String>) -> Result<EventFilter, ApiError> {
    Ok(EventFilter {
        event_type: pairs.get("type").filter(|t| !t.is_empty()).cloned(),
        since: time(pairs, "since")?,
        until: time(pairs, "until")?,
    })
}

impl FromQuery for EventsQuery {
    fn from_pairs(pairs: &HashMap<String, String>) -> Result<Self, ApiError> {
        Ok(Self {
            page: page(pairs)?,
            filter: type_and_times(pairs)?,
        })
    }
}

/// The attempt list's query: paging plus `?outcome=success|failure`, `?type=`,
/// `?since=`, `?until=`.
#[derive(Debug)]
pub struct AttemptsQuery {
    /// Which page.
    pub page: PageRequest,
    /// Which attempts.
    pub filter: AttemptFilter,
}

impl FromQuery for AttemptsQuery {
    fn from_pairs(pairs: &HashMap<String, String>) -> Result<Self, ApiError> {
        let outcome = match pairs.get("outcome").map(String::as_str) {
            None | Some("") => None,
            Some("success") => Some(AttemptOutcome::Success),
            Some("failure") => Some(AttemptOutcome::Failure),
            Some(_) => {
                return Err(ApiError::invalid(
                    "outcome",
                    "must be `success` or `failure`",
                ))
            }
        };
        let EventFilter {
            event_type,
            since,
            until,
        } = type_and_times(pairs)?;
        Ok(Self {
            page: page(pairs)?,
            filter: AttemptFilter {
                outcome,
                event_type,
                since,
                until,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_name_the_field() {
        let unknown = fit::<herald::NewEndpoint>(br#"{"url":"https://x.example","colour":"red"}"#)
            .expect_err("unknown field");
        assert!(unknown.message().starts_with("colour: "), "{unknown:?}");
        let wrong = fit::<herald::NewEndpoint>(br#"{"url":5}"#).expect_err("wrong type");
        assert!(wrong.message().starts_with("url: "), "{wrong:?}");
        let nested =
            fit::<herald::NewEndpoint>(br#"{"url":"https://x.example","event_types":[1]}"#)
                .expect_err("nested");
        assert!(
            nested.message().starts_with("event_types[0]: "),
            "{nested:?}"
        );
        let missing = fit::<herald::NewEndpoint>(br#"{}"#).expect_err("missing");
        assert!(missing.message().starts_with("url: "), "{missing:?}");
        assert_eq!(missing.code(), "invalid");
    }

    #[test]
    fn raw_event_data_survives_the_path_tracking_deserializer() {
        let event = fit::<herald::NewEvent>(br#"{"type":"a.b","data":{"n": 45000.0}}"#)
            .expect("valid event");
        assert_eq!(event.data.get(), r#"{"n": 45000.0}"#);
        let missing = fit::<herald::NewEvent>(br#"{"type":"a.b"}"#).expect_err("no data");
        assert!(missing.message().starts_with("data: "), "{missing:?}");
    }
}

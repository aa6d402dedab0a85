//! Handlers of http-api.md "Events": publish (202, or 200 for a repeated idempotency
//! key), list with filters, get one with its data, list its deliveries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use herald::views::{delivery_object, event_object};
use herald::{EventId, NewEvent, TenantId};

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery, EventsQuery, Paging};
use super::schemas::{self, EventIdPath, PageQuery, TenantPath};
use super::{json, list, AppState};

/// `POST /v1/tenants/{tenant}/events` → 202 once durable; 200 with the first event
/// for an idempotency key seen before.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/events",
    operation_id = "publishEvent",
    tag = "events",
    summary = "Publish an event",
    description = "Stores the event and one delivery per matching endpoint, then answers 202: \
        nothing acknowledged is ever lost. With `id`, a second publish with the same id within \
        the retention period creates nothing and answers 200 with the first event, when it \
        repeats the first publish (the same type, the same data up to whitespace, the same set \
        of channels); otherwise 409.",
    params(TenantPath),
    request_body = schemas::NewEvent,
    responses(
        (status = 202, description = "Stored durably; deliveries are under way", body = schemas::Event),
        (status = 200, description = "An event with this idempotency key exists: nothing was \
            created", body = schemas::Event),
        (status = 409, description = "The idempotency key was used for an event with another \
            type, data or channels: nothing was stored", body = schemas::ErrorBody),
        (status = 413, description = "The body, or the event's `data`, exceeds \
            `max_payload_bytes`", body = schemas::ErrorBody),
        (status = 422, description = "A field does not fit (the message names it): a bad type, \
            a type outside the catalog under `strict_types`, data that fails its type's schema \
            or that an endpoint's JSON mode cannot write", body = schemas::ErrorBody),
        (status = 429, description = "Over the tenant's `publish_rate`: nothing was stored",
            body = schemas::ErrorBody,
            headers(("retry-after" = u64, description = "Whole seconds to wait, at least 1"))),
        (status = 503, description = "Herald is shutting down (`unavailable`), or \
            `max_concurrent_writes` requests with a body are in progress (`overloaded`, with \
            `retry-after`; the body was not read)", body = schemas::ErrorBody,
            headers(("retry-after" = u64, description = "With `overloaded`: 1"))),
    )
)]
pub(crate) async fn publish(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<NewEvent>,
    ApiPath(tenant): ApiPath<TenantId>,
) -> Result<Response, ApiError> {
    let published = state.engine.publish(&tenant, input).await?;
    let status = if published.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(json(status, &event_object(&published.event, false)))
}

/// `GET /v1/tenants/{tenant}/events`, newest first.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/events",
    operation_id = "listEvents",
    tag = "events",
    summary = "List events",
    description = "The tenant's events, newest first, without their data. One request examines \
        at most 1000 events: with `type`, a page may be short or empty and still have a \
        `next_cursor`.",
    params(TenantPath, schemas::EventsQuery),
    responses((status = 200, description = "A page of events", body = schemas::EventList))
)]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let found = state
        .engine
        .list_events(&tenant, &query.filter, &query.page)
        .await?;
    Ok(list(&found, |event| event_object(event, false)))
}

/// `GET /v1/tenants/{tenant}/events/{id}`: the event object plus `data`.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/events/{id}",
    operation_id = "getEvent",
    tag = "events",
    summary = "Get an event",
    description = "The event object with its data.",
    params(TenantPath, EventIdPath),
    responses(
        (status = 200, description = "The event", body = schemas::EventWithData),
        (status = 404, description = "No such event in this tenant", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EventId)>,
) -> Result<Response, ApiError> {
    let event = state.engine.get_event(&tenant, &id).await?;
    Ok(json(StatusCode::OK, &event_object(&event, true)))
}

/// `GET /v1/tenants/{tenant}/events/{id}/deliveries`: one per matched endpoint, a
/// page at a time in creation order.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/events/{id}/deliveries",
    operation_id = "listEventDeliveries",
    tag = "events",
    summary = "List an event's deliveries",
    description = "One delivery per endpoint the event matched, in creation order (oldest \
        first), paged like every list.",
    params(TenantPath, EventIdPath, PageQuery),
    responses(
        (status = 200, description = "A page of its deliveries", body = schemas::DeliveryList),
        (status = 404, description = "No such event in this tenant", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EventId)>,
    ApiQuery(Paging(page)): ApiQuery<Paging>,
) -> Result<Response, ApiError> {
    let found = state.engine.event_deliveries(&tenant, &id, &page).await?;
    Ok(list(&found, delivery_object))
}

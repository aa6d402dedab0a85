//! Handlers of http-api.md "Events": publish (202, or 200 for a repeated idempotency
//! key), list with filters, get one with its data, list its deliveries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use herald::views::{delivery_object, event_object};
use herald::{EventId, NewEvent, Page, TenantId};

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery, EventsQuery};
use super::{json, list, AppState};

/// `POST /v1/tenants/{tenant}/events` → 202 once durable; 200 with the first event
/// for an idempotency key seen before.
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
pub(crate) async fn get(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EventId)>,
) -> Result<Response, ApiError> {
    let event = state.engine.get_event(&tenant, &id).await?;
    Ok(json(StatusCode::OK, &event_object(&event, true)))
}

/// `GET /v1/tenants/{tenant}/events/{id}/deliveries`: one per matched endpoint, in a
/// single page.
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EventId)>,
) -> Result<Response, ApiError> {
    let items = state.engine.event_deliveries(&tenant, &id).await?;
    let page = Page {
        items,
        next_cursor: None,
    };
    Ok(list(&page, delivery_object))
}

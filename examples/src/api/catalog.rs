//! Handlers of access.md §4 "Event catalog": put an entry, list the tenant's catalog
//! (its own entries and the configured ones), get one, delete one of its own.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald::model::EventTypeInput;
use herald::TenantId;

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery, EventTypeName, Paging};
use super::schemas::{self, EventTypePath, PageQuery, TenantPath};
use super::{json, list, AppState};

/// `PUT /v1/tenants/{tenant}/event-types/{type}` → 200.
#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant}/event-types/{type}",
    operation_id = "putEventType",
    tag = "event-types",
    summary = "Put a catalog entry",
    description = "Creates or replaces the tenant's entry for the type: its description, an \
        example of its data, and a JSON Schema its data must fit at publish.",
    params(TenantPath, EventTypePath),
    request_body = schemas::EventTypeInput,
    responses(
        (status = 200, description = "The entry", body = schemas::EventType),
        (status = 409, description = "The tenant's catalog holds its limit of types",
            body = schemas::ErrorBody),
    )
)]
pub(crate) async fn put(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<EventTypeInput>,
    ApiPath((tenant, EventTypeName(name))): ApiPath<(TenantId, EventTypeName)>,
) -> Result<Response, ApiError> {
    let view = state.engine.put_event_type(&tenant, &name, input).await?;
    Ok(json(StatusCode::OK, &view))
}

/// `GET /v1/tenants/{tenant}/event-types`, in type order.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/event-types",
    operation_id = "listEventTypes",
    tag = "event-types",
    summary = "List the event catalog",
    description = "The tenant's own entries and the configured ones, in type order.",
    params(TenantPath, PageQuery),
    responses((status = 200, description = "A page of entries", body = schemas::EventTypeList))
)]
pub(crate) async fn list_types(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(Paging(page)): ApiQuery<Paging>,
) -> Result<Response, ApiError> {
    let found = state.engine.list_event_types(&tenant, &page).await?;
    Ok(list(&found, |view| view))
}

/// `GET /v1/tenants/{tenant}/event-types/{type}`.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/event-types/{type}",
    operation_id = "getEventType",
    tag = "event-types",
    summary = "Get a catalog entry",
    description = "The tenant's entry for the type, or the configured one.",
    params(TenantPath, EventTypePath),
    responses(
        (status = 200, description = "The entry", body = schemas::EventType),
        (status = 404, description = "The type is not in the tenant's catalog", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    ApiPath((tenant, EventTypeName(name))): ApiPath<(TenantId, EventTypeName)>,
) -> Result<Response, ApiError> {
    let view = state.engine.event_type(&tenant, &name).await?;
    Ok(json(StatusCode::OK, &view))
}

/// `DELETE /v1/tenants/{tenant}/event-types/{type}` → 204.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/event-types/{type}",
    operation_id = "deleteEventType",
    tag = "event-types",
    summary = "Delete a catalog entry",
    description = "Removes the tenant's own entry (configured entries stay).",
    params(TenantPath, EventTypePath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "The tenant has no entry of its own for the type",
            body = schemas::ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    ApiPath((tenant, EventTypeName(name))): ApiPath<(TenantId, EventTypeName)>,
) -> Result<Response, ApiError> {
    state.engine.delete_event_type(&tenant, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

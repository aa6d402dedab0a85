//! Handlers of http-api.md "Endpoints": create, list, get, update, delete, rotate the
//! secret, send a test event. The secret is shown by `create` and `rotate_secret` only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald::views::{event_object, EndpointObject};
use herald::{EndpointId, EndpointPatch, NewEndpoint, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{ApiJson, ApiOptionalJson, ApiPath, ApiQuery, Paging};
use super::schemas::{self, EndpointIdPath, PageQuery, TenantPath};
use super::{json, list, AppState};

/// The create answer: the endpoint object plus its secret.
#[derive(Serialize)]
struct WithSecret<'a> {
    #[serde(flatten)]
    endpoint: EndpointObject<'a>,
    secret: &'a str,
}

/// `POST /v1/tenants/{tenant}/endpoints` → 201.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/endpoints",
    operation_id = "createEndpoint",
    tag = "endpoints",
    summary = "Register an endpoint",
    description = "Creates an endpoint of the tenant. The answer carries its secret: the only \
        time it is shown, apart from rotation.",
    params(TenantPath),
    request_body = schemas::NewEndpoint,
    responses(
        (status = 201, description = "Created", body = schemas::EndpointCreated),
        (status = 409, description = "The tenant has its limit of endpoints (`max_endpoints`)",
            body = schemas::ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<NewEndpoint>,
    ApiPath(tenant): ApiPath<TenantId>,
) -> Result<Response, ApiError> {
    let created = state.engine.create_endpoint(&tenant, input).await?;
    let body = WithSecret {
        endpoint: created.info.object(),
        secret: created.secret.expose(),
    };
    Ok(json(StatusCode::CREATED, &body))
}

/// `GET /v1/tenants/{tenant}/endpoints`.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/endpoints",
    operation_id = "listEndpoints",
    tag = "endpoints",
    summary = "List endpoints",
    description = "The tenant's endpoints, newest first.",
    params(TenantPath, PageQuery),
    responses((status = 200, description = "A page of endpoints", body = schemas::EndpointList))
)]
pub(crate) async fn list_endpoints(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(Paging(page)): ApiQuery<Paging>,
) -> Result<Response, ApiError> {
    let found = state.engine.list_endpoints(&tenant, &page).await?;
    Ok(list(&found, |info| info.object()))
}

/// `GET /v1/tenants/{tenant}/endpoints/{id}`.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/endpoints/{id}",
    operation_id = "getEndpoint",
    tag = "endpoints",
    summary = "Get an endpoint",
    description = "The endpoint object, with its breaker and counters.",
    params(TenantPath, EndpointIdPath),
    responses(
        (status = 200, description = "The endpoint", body = schemas::Endpoint),
        (status = 404, description = "No such endpoint in this tenant", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
) -> Result<Response, ApiError> {
    let info = state.engine.get_endpoint(&tenant, &id).await?;
    Ok(json(StatusCode::OK, &info.object()))
}

/// `PATCH /v1/tenants/{tenant}/endpoints/{id}`.
#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant}/endpoints/{id}",
    operation_id = "updateEndpoint",
    tag = "endpoints",
    summary = "Change an endpoint",
    description = "Changes the fields given; `null` returns an optional setting to the default \
        in force. `\"active\": false` disables the endpoint (its pending deliveries become \
        dead letters); `\"active\": true` enables it again and resets its breaker.",
    params(TenantPath, EndpointIdPath),
    request_body = schemas::EndpointPatch,
    responses(
        (status = 200, description = "The endpoint after the change", body = schemas::Endpoint),
        (status = 404, description = "No such endpoint in this tenant", body = schemas::ErrorBody),
        (status = 409, description = "The endpoint kept changing while this change was made: \
            try again", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    ApiJson(patch): ApiJson<EndpointPatch>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
) -> Result<Response, ApiError> {
    let info = state.engine.update_endpoint(&tenant, &id, patch).await?;
    Ok(json(StatusCode::OK, &info.object()))
}

/// `DELETE /v1/tenants/{tenant}/endpoints/{id}` → 204.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/endpoints/{id}",
    operation_id = "deleteEndpoint",
    tag = "endpoints",
    summary = "Delete an endpoint",
    description = "Its pending deliveries are dropped (they show `dead_reason: \
        endpoint_deleted`); its history stays until retention removes it.",
    params(TenantPath, EndpointIdPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint in this tenant", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
) -> Result<Response, ApiError> {
    state.engine.delete_endpoint(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Optional body of `rotate-secret`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RotateSecretInput)]
pub(crate) struct RotateInput {
    /// The new secret (it must fit the profile's key); generated when absent.
    secret: Option<String>,
}

#[derive(Serialize)]
struct Rotated<'a> {
    secret: &'a str,
    previous_valid_until: String,
}

/// `POST /v1/tenants/{tenant}/endpoints/{id}/rotate-secret` → 200.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/endpoints/{id}/rotate-secret",
    operation_id = "rotateEndpointSecret",
    tag = "endpoints",
    summary = "Rotate an endpoint's secret",
    description = "Signs with a new secret from now on; the previous one signs too until \
        `previous_valid_until`. The body is optional.",
    params(TenantPath, EndpointIdPath),
    request_body(content = Option<RotateInput>, content_type = "application/json",
        description = "Optional: without it, Herald generates the secret."),
    responses(
        (status = 200, description = "The new secret", body = schemas::Rotated),
        (status = 404, description = "No such endpoint in this tenant", body = schemas::ErrorBody),
        (status = 409, description = "The endpoint kept changing while this change was made: \
            try again", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
    ApiOptionalJson(input): ApiOptionalJson<RotateInput>,
) -> Result<Response, ApiError> {
    let chosen = input.and_then(|i| i.secret);
    let rotated = state.engine.rotate_secret(&tenant, &id, chosen).await?;
    let body = Rotated {
        secret: rotated.secret.expose(),
        previous_valid_until: rotated.previous_valid_until.to_rfc3339(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Optional body of `test`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TestEventInput)]
pub(crate) struct TestInput {
    /// The event type; `webhook.test` when absent. A type of the catalog with an
    /// example sends that example when `data` is absent.
    #[serde(rename = "type")]
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,128}$", example = "order.filled")]
    event_type: Option<String>,
    /// The event's data.
    #[schema(value_type = Option<serde_json::Value>)]
    data: Option<Box<RawValue>>,
}

/// `POST /v1/tenants/{tenant}/endpoints/{id}/test` → 202, the event object.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/endpoints/{id}/test",
    operation_id = "sendTestEvent",
    tag = "endpoints",
    summary = "Send a test event",
    description = "Publishes a synthetic event to this endpoint only, through the normal path \
        (signed, logged, retried). The body is optional.",
    params(TenantPath, EndpointIdPath),
    request_body(content = Option<TestInput>, content_type = "application/json",
        description = "Optional: without it, a `webhook.test` event."),
    responses(
        (status = 202, description = "Stored; its delivery is under way", body = schemas::Event),
        (status = 404, description = "No such endpoint in this tenant", body = schemas::ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = schemas::ErrorBody),
        (status = 503, description = "Herald is shutting down (`unavailable`), or \
            `max_concurrent_writes` requests with a body are in progress (`overloaded`, with \
            `retry-after`; the body was not read)", body = schemas::ErrorBody,
            headers(("retry-after" = u64, description = "With `overloaded`: 1"))),
    )
)]
pub(crate) async fn send_test(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
    ApiOptionalJson(input): ApiOptionalJson<TestInput>,
) -> Result<Response, ApiError> {
    let (event_type, data) = input.map_or((None, None), |i| (i.event_type, i.data));
    let published = state
        .engine
        .send_test_event(&tenant, &id, event_type, data)
        .await?;
    Ok(json(
        StatusCode::ACCEPTED,
        &event_object(&published.event, false),
    ))
}

//! Handlers of http-api.md "Attempts, dead letters, replay": an endpoint's attempts
//! and dead letters, replaying them, and retrying one delivery.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use herald::views::{attempt_object, delivery_object};
use herald::{DeliveryId, EndpointId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{ApiOptionalJson, ApiPath, ApiQuery, AttemptsQuery, Paging};
use super::schemas::{self, DeliveryIdPath, EndpointIdPath, PageQuery, TenantPath};
use super::{json, list, AppState};

/// `GET /v1/tenants/{tenant}/endpoints/{id}/attempts`, newest first.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/endpoints/{id}/attempts",
    operation_id = "listEndpointAttempts",
    tag = "deliveries",
    summary = "List an endpoint's attempts",
    description = "Every attempt made to the endpoint, newest first, with its status or error \
        class and the first bytes of the answer.",
    params(TenantPath, EndpointIdPath, schemas::AttemptsQuery),
    responses(
        (status = 200, description = "A page of attempts", body = schemas::AttemptList),
        (status = 404, description = "No such endpoint in this tenant", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn attempts(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
    ApiQuery(query): ApiQuery<AttemptsQuery>,
) -> Result<Response, ApiError> {
    let found = state
        .engine
        .list_attempts(&tenant, &id, &query.filter, &query.page)
        .await?;
    Ok(list(&found, attempt_object))
}

/// `GET /v1/tenants/{tenant}/endpoints/{id}/dead-letters`, newest first.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/endpoints/{id}/dead-letters",
    operation_id = "listDeadLetters",
    tag = "deliveries",
    summary = "List an endpoint's dead letters",
    description = "Its dead deliveries, newest first.",
    params(TenantPath, EndpointIdPath, PageQuery),
    responses(
        (status = 200, description = "A page of dead deliveries", body = schemas::DeliveryList),
        (status = 404, description = "No such endpoint in this tenant", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn dead_letters(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
    ApiQuery(Paging(page)): ApiQuery<Paging>,
) -> Result<Response, ApiError> {
    let found = state.engine.list_dead_letters(&tenant, &id, &page).await?;
    Ok(list(&found, delivery_object))
}

/// Optional body of `replay`: only dead letters that died in `[since, until)`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReplayInput)]
pub(crate) struct ReplayInput {
    /// Only dead letters that died at or after this time (RFC 3339).
    #[schema(format = DateTime)]
    since: Option<String>,
    /// Only dead letters that died before this time (RFC 3339).
    #[schema(format = DateTime)]
    until: Option<String>,
}

#[derive(Serialize)]
struct Replayed {
    replayed: u64,
}

/// `POST /v1/tenants/{tenant}/endpoints/{id}/dead-letters/replay` → 202.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/endpoints/{id}/dead-letters/replay",
    operation_id = "replayDeadLetters",
    tag = "deliveries",
    summary = "Replay an endpoint's dead letters",
    description = "Queues every dead delivery of the endpoint again (or those that died in \
        `[since, until)`) with a fresh retry budget. The body is optional.",
    params(TenantPath, EndpointIdPath),
    request_body(content = Option<ReplayInput>, content_type = "application/json",
        description = "Optional: without it, every dead letter of the endpoint."),
    responses(
        (status = 202, description = "Queued again", body = schemas::Replayed),
        (status = 404, description = "No such endpoint in this tenant", body = schemas::ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn replay(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
    ApiOptionalJson(input): ApiOptionalJson<ReplayInput>,
) -> Result<Response, ApiError> {
    let (since, until) = input.map_or((None, None), |i| (i.since, i.until));
    let since = since
        .map(|t| Timestamp::parse_rfc3339(&t, "since"))
        .transpose()?;
    let until = until
        .map(|t| Timestamp::parse_rfc3339(&t, "until"))
        .transpose()?;
    let replayed = state
        .engine
        .replay_dead_letters(&tenant, &id, since, until)
        .await?;
    Ok(json(StatusCode::ACCEPTED, &Replayed { replayed }))
}

/// `POST /v1/tenants/{tenant}/deliveries/{id}/retry` → 202, the delivery object.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/deliveries/{id}/retry",
    operation_id = "retryDelivery",
    tag = "deliveries",
    summary = "Retry one delivery",
    description = "Queues one delivery (dead or succeeded) again with a fresh retry budget.",
    params(TenantPath, DeliveryIdPath),
    responses(
        (status = 202, description = "Queued again", body = schemas::Delivery),
        (status = 404, description = "No such delivery in this tenant", body = schemas::ErrorBody),
        (status = 409, description = "It is pending already, or its endpoint is disabled or \
            deleted", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn retry(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, DeliveryId)>,
) -> Result<Response, ApiError> {
    let delivery = state.engine.retry_delivery(&tenant, &id).await?;
    Ok(json(StatusCode::ACCEPTED, &delivery_object(&delivery)))
}

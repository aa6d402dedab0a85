//! Handlers of http-api.md "Attempts, dead letters, replay": an endpoint's attempts
//! and dead letters, replaying them, and retrying one delivery.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use herald::views::{attempt_object, delivery_object};
use herald::{DeliveryId, EndpointId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{ApiOptionalJson, ApiPath, ApiQuery, AttemptsQuery, Paging};
use super::{json, list, AppState};

/// `GET /v1/tenants/{tenant}/endpoints/{id}/attempts`, newest first.
pub(crate) async fn attempts(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
    ApiQuery(query): ApiQuery<AttemptsQuery>,
) -> Result<Response, ApiError> {
    let found = state
        .engine
        .list_attempts(&tenant, &id, query.outcome, &query.page)
        .await?;
    Ok(list(&found, attempt_object))
}

/// `GET /v1/tenants/{tenant}/endpoints/{id}/dead-letters`, newest first.
pub(crate) async fn dead_letters(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
    ApiQuery(Paging(page)): ApiQuery<Paging>,
) -> Result<Response, ApiError> {
    let found = state.engine.list_dead_letters(&tenant, &id, &page).await?;
    Ok(list(&found, delivery_object))
}

/// Optional body of `replay`: only dead letters that died in `[since, until)`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplayInput {
    since: Option<String>,
    until: Option<String>,
}

#[derive(Serialize)]
struct Replayed {
    replayed: u64,
}

/// `POST /v1/tenants/{tenant}/endpoints/{id}/dead-letters/replay` → 202.
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
pub(crate) async fn retry(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, DeliveryId)>,
) -> Result<Response, ApiError> {
    let delivery = state.engine.retry_delivery(&tenant, &id).await?;
    Ok(json(StatusCode::ACCEPTED, &delivery_object(&delivery)))
}

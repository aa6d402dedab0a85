//! Handlers of http-api.md "Endpoints": create, list, get, update, delete, rotate the
//! secret, send a test event. The secret is shown by `create` and `rotate_secret` only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald::views::{event_object, EndpointObject};
use herald::{EndpointId, EndpointPatch, NewEndpoint, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::ApiError;
use super::extract::{ApiJson, ApiOptionalJson, ApiPath, ApiQuery, Paging};
use super::{json, list, AppState};

/// The create answer: the endpoint object plus its secret.
#[derive(Serialize)]
struct WithSecret<'a> {
    #[serde(flatten)]
    endpoint: EndpointObject<'a>,
    secret: &'a str,
}

/// `POST /v1/tenants/{tenant}/endpoints` → 201.
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
pub(crate) async fn list_endpoints(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(Paging(page)): ApiQuery<Paging>,
) -> Result<Response, ApiError> {
    let found = state.engine.list_endpoints(&tenant, &page).await?;
    Ok(list(&found, |info| info.object()))
}

/// `GET /v1/tenants/{tenant}/endpoints/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
) -> Result<Response, ApiError> {
    let info = state.engine.get_endpoint(&tenant, &id).await?;
    Ok(json(StatusCode::OK, &info.object()))
}

/// `PATCH /v1/tenants/{tenant}/endpoints/{id}`.
pub(crate) async fn update(
    State(state): State<AppState>,
    ApiJson(patch): ApiJson<EndpointPatch>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
) -> Result<Response, ApiError> {
    let info = state.engine.update_endpoint(&tenant, &id, patch).await?;
    Ok(json(StatusCode::OK, &info.object()))
}

/// `DELETE /v1/tenants/{tenant}/endpoints/{id}` → 204.
pub(crate) async fn delete(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, EndpointId)>,
) -> Result<Response, ApiError> {
    state.engine.delete_endpoint(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Optional body of `rotate-secret`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateInput {
    secret: Option<String>,
}

#[derive(Serialize)]
struct Rotated<'a> {
    secret: &'a str,
    previous_valid_until: String,
}

/// `POST /v1/tenants/{tenant}/endpoints/{id}/rotate-secret` → 200.
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestInput {
    #[serde(rename = "type")]
    event_type: Option<String>,
    data: Option<Box<RawValue>>,
}

/// `POST /v1/tenants/{tenant}/endpoints/{id}/test` → 202, the event object.
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

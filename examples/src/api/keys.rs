//! Handlers of access.md §1 "Keys" (admin only): create (the token is in this answer
//! only), list without tokens, revoke at once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald::views::KeyView;
use herald::{KeyId, NewKey, TenantId};
use serde::Serialize;

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging};
use super::schemas::{self, KeyIdPath, PageQuery, TenantPath};
use super::{json, list, AppState};

/// The create answer: the key plus its token.
#[derive(Serialize)]
struct WithToken<'a> {
    #[serde(flatten)]
    key: KeyView,
    token: &'a str,
}

/// `POST /v1/tenants/{tenant}/keys` → 201.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/keys",
    operation_id = "createKey",
    tag = "keys",
    summary = "Create an API key",
    description = "Admin only. Makes a key for the tenant; the answer carries its token, the \
        only time it is shown (Herald keeps its hash).",
    params(TenantPath),
    request_body = schemas::NewKey,
    responses(
        (status = 201, description = "Created", body = schemas::KeyCreated),
        (status = 409, description = "The tenant holds its limit of keys", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<NewKey>,
    ApiPath(tenant): ApiPath<TenantId>,
) -> Result<Response, ApiError> {
    let created = state.engine.create_key(&tenant, input).await?;
    let body = WithToken {
        key: KeyView::new(&created.key),
        token: created.token.expose(),
    };
    Ok(json(StatusCode::CREATED, &body))
}

/// `GET /v1/tenants/{tenant}/keys`, newest first, without tokens.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/keys",
    operation_id = "listKeys",
    tag = "keys",
    summary = "List API keys",
    description = "Admin only. The tenant's keys, newest first, without their tokens.",
    params(TenantPath, PageQuery),
    responses((status = 200, description = "A page of keys", body = schemas::KeyList))
)]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(Paging(page)): ApiQuery<Paging>,
) -> Result<Response, ApiError> {
    let found = state.engine.list_keys(&tenant, &page).await?;
    Ok(list(&found, KeyView::new))
}

/// `DELETE /v1/tenants/{tenant}/keys/{id}` → 204; the next request with it is 401.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/keys/{id}",
    operation_id = "revokeKey",
    tag = "keys",
    summary = "Revoke an API key",
    description = "Admin only. The very next request with the key is 401.",
    params(TenantPath, KeyIdPath),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key in this tenant", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    ApiPath((tenant, id)): ApiPath<(TenantId, KeyId)>,
) -> Result<Response, ApiError> {
    state.engine.revoke_key(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

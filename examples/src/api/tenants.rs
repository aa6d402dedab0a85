//! Handlers of access.md §2 "Tenant settings and quotas": replace them (admin), show
//! them with the defaults filled in (admin or the tenant's `read`/`tenant` keys).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use herald::model::TenantInput;
use herald::views::TenantView;
use herald::TenantId;
use serde::Serialize;

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::schemas::{self, TenantPath};
use super::{json, AppState};

/// The `PUT` answer: the settings, plus the secret of the notification endpoint when
/// this request made it (the only time it is shown).
#[derive(Serialize)]
struct Changed<'a> {
    #[serde(flatten)]
    view: &'a TenantView,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification_secret: Option<&'a str>,
}

/// `PUT /v1/tenants/{tenant}` → 200.
#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant}",
    operation_id = "putTenant",
    tag = "tenants",
    summary = "Set a tenant's settings",
    description = "Admin only. Creates or replaces the tenant's settings and quotas; a field \
        left out returns to the configured default. Tenants starting with `_` are read-only (403).",
    params(TenantPath),
    request_body = schemas::TenantInput,
    responses((status = 200, description = "The settings now in force", body = schemas::TenantChanged))
)]
pub(crate) async fn put(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TenantInput>,
    ApiPath(tenant): ApiPath<TenantId>,
) -> Result<Response, ApiError> {
    let change = state.engine.put_tenant_settings(&tenant, input).await?;
    let body = Changed {
        view: &change.view,
        notification_secret: change.notification_secret.as_ref().map(|s| s.expose()),
    };
    Ok(json(StatusCode::OK, &body))
}

/// `GET /v1/tenants/{tenant}`.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}",
    operation_id = "getTenant",
    tag = "tenants",
    summary = "Get a tenant's settings",
    description = "The settings in force, defaults filled in; a tenant that set none shows the \
        defaults.",
    params(TenantPath),
    responses((status = 200, description = "The settings", body = schemas::Tenant))
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<TenantId>,
) -> Result<Response, ApiError> {
    let view = state.engine.tenant_settings(&tenant).await?;
    Ok(json(StatusCode::OK, &view))
}

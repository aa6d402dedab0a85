//! Handler of access.md §5 "Portal links": a one-use, 15-minute link that signs its
//! opener into the console as the tenant, for a platform to hand to its customer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use herald::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{ApiOptionalJson, ApiPath};
use super::schemas::{self, TenantPath};
use super::{json, AppState};

/// The optional body: nothing to choose yet, and unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PortalLinkInput)]
pub(crate) struct PortalLinkInput {}

#[derive(Serialize)]
struct Link {
    url: String,
    expires_at: String,
}

/// `POST /v1/tenants/{tenant}/portal-links` → 201.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/portal-links",
    operation_id = "createPortalLink",
    tag = "console",
    summary = "Make a console sign-in link",
    description = "A link into the console signed in as this tenant: it works once, within \
        15 minutes, and starts a 12-hour session. The admin key or the tenant's `tenant` key. \
        The URL is relative to this server.",
    params(TenantPath),
    request_body(content = Option<PortalLinkInput>, content_type = "application/json",
        description = "Optional and empty."),
    responses((status = 201, description = "The link", body = schemas::PortalLink))
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiOptionalJson(_input): ApiOptionalJson<PortalLinkInput>,
) -> Result<Response, ApiError> {
    let now = herald::Timestamp::from_system(std::time::SystemTime::now());
    let issued = state.console.issue_link(&tenant, now);
    let body = Link {
        url: format!("/console/login?token={}", issued.token),
        expires_at: issued.expires_at.to_rfc3339(),
    };
    Ok(json(StatusCode::CREATED, &body))
}

//! Handlers of http-api.md "Operations": `/healthz`, `/readyz` and `/metrics`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::bearer_matches;
use super::error::ApiError;
use super::{json, schemas, AppState};

/// `GET /healthz` → 200 while the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "getHealth",
    tag = "operations",
    summary = "Liveness",
    description = "200 while the process serves. No token.",
    responses((status = 200, description = "Alive", body = schemas::Health))
)]
pub(crate) async fn healthz() -> Response {
    json(StatusCode::OK, &json!({"status": "ok"}))
}

/// `GET /readyz` → 200 when the engine's actors run and make progress, else 503.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "getReadiness",
    tag = "operations",
    summary = "Readiness",
    description = "200 once storage is open and the actors run and make progress, else 503. \
        No token.",
    responses(
        (status = 200, description = "Ready", body = schemas::Readiness),
        (status = 503, description = "Not ready", body = schemas::Readiness),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.engine.is_ready() {
        json(StatusCode::OK, &json!({"status": "ready"}))
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not_ready"}),
        )
    }
}

/// `GET /metrics`: Prometheus text; needs the metrics token when one is configured.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "The metrics in the Prometheus text format. Needs `authorization: Bearer \
        <metrics_token>` only when `metrics_token` is configured.",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "The metrics", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "`metrics_token` is configured and the request does not \
            carry it", body = schemas::ErrorBody,
            headers(("www-authenticate" = String, description = "`Bearer`"))),
    )
)]
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.metrics_token {
        if !bearer_matches(&headers, token) {
            return ApiError::unauthorized().into_response();
        }
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

//! Handlers of http-api.md "Operations": `/healthz`, `/readyz` and `/metrics`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::bearer_matches;
use super::error::ApiError;
use super::{json, AppState};

/// `GET /healthz` → 200 while the process serves.
pub(crate) async fn healthz() -> Response {
    json(StatusCode::OK, &json!({"status": "ok"}))
}

/// `GET /readyz` → 200 when the engine's actors run and make progress, else 503.
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

//! The management API of http-api.md: `router(state)` holds every route in one table,
//! with auth and the body checks as layers.
//!
//! - `endpoints`, `events`, `deliveries`, `profiles`, `ops`: the handlers, one file
//!   per resource;
//!   each does one engine call.
//! - `extract`: `ApiJson`, `ApiPath`, `ApiQuery` and the body check.
//! - `error`: `ApiError`, the only place failures become responses.
//! - `auth`: the bearer-token layer and the generated token.

pub mod auth;
mod deliveries;
mod endpoints;
pub mod error;
mod events;
pub mod extract;
mod ops;
mod profiles;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use herald::{Engine, Page};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

use crate::config::Sensitive;
use error::ApiError;

/// Extra room above `[delivery].max_payload_bytes` for the rest of a publish body
/// (type, id, channels, JSON escapes): a body past it is refused before parsing (413);
/// `data` past the limit itself is refused by the engine (413 as well).
pub const BODY_MARGIN_BYTES: usize = 64 * 1024;

/// What every handler shares; a cheap clone per request.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// The token every `/v1` route needs.
    pub api_token: Arc<Sensitive>,
    /// The token `/metrics` needs, when set.
    pub metrics_token: Option<Arc<Sensitive>>,
    /// Renders the Prometheus text.
    pub metrics: PrometheusHandle,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// Every route of http-api.md. `/v1` routes pass the token check (401), then the
/// body check (413, 415, 400), then their extractors (422), then the engine.
pub fn router(state: AppState) -> axum::Router {
    const ENDPOINT: &str = "/v1/tenants/{tenant}/endpoints/{id}";
    let v1 = axum::Router::new()
        .route(
            "/v1/tenants/{tenant}/endpoints",
            post(endpoints::create).get(endpoints::list_endpoints),
        )
        .route(
            ENDPOINT,
            get(endpoints::get)
                .patch(endpoints::update)
                .delete(endpoints::delete),
        )
        .route(
            &format!("{ENDPOINT}/rotate-secret"),
            post(endpoints::rotate_secret),
        )
        .route(&format!("{ENDPOINT}/test"), post(endpoints::send_test))
        .route(&format!("{ENDPOINT}/attempts"), get(deliveries::attempts))
        .route(
            &format!("{ENDPOINT}/dead-letters"),
            get(deliveries::dead_letters),
        )
        .route(
            &format!("{ENDPOINT}/dead-letters/replay"),
            post(deliveries::replay),
        )
        .route(
            "/v1/tenants/{tenant}/events",
            post(events::publish).get(events::list_events),
        )
        .route("/v1/tenants/{tenant}/events/{id}", get(events::get))
        .route(
            "/v1/tenants/{tenant}/events/{id}/deliveries",
            get(events::deliveries),
        )
        .route(
            "/v1/tenants/{tenant}/deliveries/{id}/retry",
            post(deliveries::retry),
        )
        .route("/v1/profiles", get(profiles::list_profiles))
        // The last layer added runs first: the token, then the body.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            extract::check_body,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    axum::Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// A JSON answer with `status`.
fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "an answer could not be serialized");
            ApiError::internal().into_response()
        }
    }
}

/// `{"data": [...], "next_cursor": ...}` of http-api.md "Conventions".
#[derive(Serialize)]
struct List<T> {
    data: Vec<T>,
    next_cursor: Option<String>,
}

/// A list answer: each item of `page` through `view`.
fn list<'a, T, V: Serialize>(page: &'a Page<T>, view: impl Fn(&'a T) -> V) -> Response {
    json(
        StatusCode::OK,
        &List {
            data: page.items.iter().map(view).collect(),
            next_cursor: page.next_cursor.clone(),
        },
    )
}

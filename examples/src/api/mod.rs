//! The management API of http-api.md: every route in one table (`open_routes`,
//! `keyed_routes`), from which `router(state)` serves them, with auth and the body
//! checks as layers, and `document()` describes them as OpenAPI 3.1.
//!
//! - `endpoints`, `events`, `deliveries`, `profiles`, `ops`: the handlers, one file
//!   per resource;
//!   each does one engine call and carries its `#[utoipa::path]`.
//! - `extract`: `ApiJson`, `ApiPath`, `ApiQuery` and the body check.
//! - `error`: `ApiError`, the only place failures become responses.
//! - `keys`, `tenants`, `catalog`: access.md's keys, tenant settings, event catalog.
//! - `portal`: access.md §5's portal links into the console.
//! - `stream`: access.md §6's event stream, as Server-Sent Events or a WebSocket.
//! - `auth`: who may call what (admin token, scoped keys) and the generated token.
//! - `openapi`: the document (`GET /openapi.json`); `schemas`: the JSON shapes it names.

pub mod auth;
mod catalog;
mod cluster;
mod deliveries;
mod endpoints;
pub mod error;
mod events;
pub mod extract;
mod keys;
mod openapi;
mod ops;
mod portal;
mod profiles;
mod schemas;
pub(crate) mod stream;
mod tenants;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use herald::{Engine, Page};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

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
    /// The admin token: every `/v1` route.
    pub api_token: Arc<Sensitive>,
    /// The token `/metrics` needs, when set.
    pub metrics_token: Option<Arc<Sensitive>>,
    /// Renders the Prometheus text.
    pub metrics: PrometheusHandle,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// A request body must arrive whole within this once its reading starts
    /// (`[api] body_read_timeout`); else 408.
    pub body_read_timeout: std::time::Duration,
    /// One permit per request with a body being read or handled (`[api]
    /// max_concurrent_writes`), taken before the body is read.
    pub write_slots: Arc<tokio::sync::Semaphore>,
    /// How long a stream's frame may wait for a WebSocket client that stopped
    /// reading (`[api] write_timeout`; SSE answers are bounded by the serve loop).
    pub stream_write_timeout: std::time::Duration,
    /// Turns true when the daemon stops serving: open streams end then.
    pub streams_closing: tokio::sync::watch::Receiver<bool>,
    /// This node's membership, when it shares a PostgreSQL database with others.
    pub cluster: Option<herald_storage_postgres::PostgresCluster>,
    /// Signs the console's portal links and sessions.
    pub(crate) console: Arc<crate::console::session::Sessions>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("body_limit", &self.body_limit)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("write_slots", &self.write_slots.available_permits())
            .finish_non_exhaustive()
    }
}

/// One route: its template, as axum matches it (and as `MatchedPath` gives it to
/// `auth::need`), and the handlers serving it, each with its OpenAPI operation
/// (`routes!` takes only handlers with a `#[utoipa::path]`, and routes each on the
/// methods its operation names).
///
/// Routes are added to the two tables below and nowhere else. The template is written
/// here and the operation's path in the handler's annotation: `tests/openapi.rs`
/// compares `route_templates()` with the document's paths, so a route without an
/// operation, or with one for another path, fails there.
pub(crate) struct Route {
    template: &'static str,
    handlers: UtoipaMethodRouter<AppState>,
}

fn route(template: &'static str, handlers: UtoipaMethodRouter<AppState>) -> Route {
    Route { template, handlers }
}

/// The routes outside `/v1`: no key.
fn open_routes() -> Vec<Route> {
    vec![
        route("/healthz", routes!(ops::healthz)),
        route("/readyz", routes!(ops::readyz)),
        route("/metrics", routes!(ops::metrics)),
        route("/openapi.json", routes!(openapi::serve)),
    ]
}

/// Every route of http-api.md and access.md under `/v1`: each passes the key check
/// (401, 403), then the body check (413, 503, 408, 415, 400), then its extractors (422), then
/// the engine.
fn keyed_routes() -> Vec<Route> {
    vec![
        route(
            "/v1/tenants/{tenant}/endpoints",
            routes!(endpoints::create, endpoints::list_endpoints),
        ),
        route(
            "/v1/tenants/{tenant}/endpoints/{id}",
            routes!(endpoints::get, endpoints::update, endpoints::delete),
        ),
        route(
            "/v1/tenants/{tenant}/endpoints/{id}/rotate-secret",
            routes!(endpoints::rotate_secret),
        ),
        route(
            "/v1/tenants/{tenant}/endpoints/{id}/test",
            routes!(endpoints::send_test),
        ),
        route(
            "/v1/tenants/{tenant}/endpoints/{id}/attempts",
            routes!(deliveries::attempts),
        ),
        route(
            "/v1/tenants/{tenant}/endpoints/{id}/dead-letters",
            routes!(deliveries::dead_letters),
        ),
        route(
            "/v1/tenants/{tenant}/endpoints/{id}/dead-letters/replay",
            routes!(deliveries::replay),
        ),
        route(
            "/v1/tenants/{tenant}/events",
            routes!(events::publish, events::list_events),
        ),
        route("/v1/tenants/{tenant}/events/{id}", routes!(events::get)),
        route("/v1/tenants/{tenant}/stream", routes!(stream::stream)),
        route(
            "/v1/tenants/{tenant}/events/{id}/deliveries",
            routes!(events::deliveries),
        ),
        route(
            "/v1/tenants/{tenant}/deliveries/{id}/retry",
            routes!(deliveries::retry),
        ),
        route("/v1/tenants/{tenant}", routes!(tenants::put, tenants::get)),
        route("/v1/tenants/{tenant}/portal-links", routes!(portal::create)),
        route(
            "/v1/tenants/{tenant}/keys",
            routes!(keys::create, keys::list_keys),
        ),
        route("/v1/tenants/{tenant}/keys/{id}", routes!(keys::revoke)),
        route(
            "/v1/tenants/{tenant}/event-types",
            routes!(catalog::list_types),
        ),
        route(
            "/v1/tenants/{tenant}/event-types/{type}",
            routes!(catalog::put, catalog::get, catalog::delete),
        ),
        route("/v1/profiles", routes!(profiles::list_profiles)),
        route("/v1/cluster", routes!(cluster::status)),
    ]
}

/// The template of every route served, in table order.
pub fn route_templates() -> Vec<&'static str> {
    open_routes()
        .iter()
        .chain(keyed_routes().iter())
        .map(|route| route.template)
        .collect()
}

/// Both tables as routers without layers, and the document describing them.
fn assemble() -> (
    axum::Router<AppState>,
    axum::Router<AppState>,
    utoipa::openapi::OpenApi,
) {
    let mut document = openapi::start();
    let mut open = axum::Router::new();
    for route in open_routes() {
        let handlers = openapi::describe(&mut document, route.handlers, openapi::Guard::Open);
        open = open.route(route.template, handlers);
    }
    let mut keyed = axum::Router::new();
    for route in keyed_routes() {
        let handlers = openapi::describe(&mut document, route.handlers, openapi::Guard::Keyed);
        keyed = keyed.route(route.template, handlers);
    }
    (open, keyed, document)
}

/// The OpenAPI 3.1 document of every route `router` serves.
pub fn document() -> utoipa::openapi::OpenApi {
    assemble().2
}

/// Every route of both tables, with its layers: `/v1` routes pass the key check, then
/// the body check; the others need no key.
pub fn router(state: AppState) -> axum::Router {
    let (open, keyed, document) = assemble();
    // The last layer added runs first: the token, then the body.
    let keyed = keyed
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            extract::check_body,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ));
    open.layer(axum::Extension(openapi::Served::new(&document)))
        .merge(keyed)
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

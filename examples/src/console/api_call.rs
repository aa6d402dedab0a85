//! The console's only way to read or change anything: a call of the management API,
//! in process, as the signed-in viewer. So every console action is an API call, with
//! the API's checks, limits and error messages, and a session can do exactly what
//! the matching key could.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::session::Viewer;
use crate::api::auth::{Caller, Delegated};

/// The largest API answer the console reads (a page of 100 attempts with their
/// response bodies fits well within it).
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// The API router, called in process.
#[derive(Clone)]
pub(crate) struct Api {
    router: axum::Router,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

/// A failed call, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The API's status.
    pub(crate) status: StatusCode,
    /// The API's message.
    pub(crate) message: String,
}

impl Api {
    /// Calls `router` (the management API, with its layers).
    pub(crate) fn new(router: axum::Router) -> Self {
        Self { router }
    }

    /// `GET path` as `viewer`.
    pub(crate) async fn get(&self, viewer: &Viewer, path: &str) -> Result<Value, Refusal> {
        self.call(viewer, Method::GET, path, None).await
    }

    /// `method path` with a JSON `body` as `viewer`: the answer's JSON (`null` for an
    /// empty answer), or the refusal.
    pub(crate) async fn call(
        &self,
        viewer: &Viewer,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        let caller = match viewer {
            Viewer::Admin => Caller::Admin,
            Viewer::Tenant(tenant) => Caller::Console(tenant.clone()),
        };
        let mut request = Request::builder().method(method).uri(path);
        let body = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let request = request
            .extension(Delegated(caller))
            .body(body)
            .map_err(|error| internal(format!("bad request: {error}")))?;
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|error| internal(format!("the answer could not be read: {error}")))?
            .to_bytes();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|error| internal(format!("the answer is not JSON: {error}")))?
        };
        if status.is_success() {
            return Ok(value);
        }
        let message = value["error"]["message"]
            .as_str()
            .unwrap_or("the request failed")
            .to_owned();
        Err(Refusal { status, message })
    }
}

fn internal(message: String) -> Refusal {
    tracing::error!(%message, "a console call of the API failed");
    Refusal {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: "something went wrong inside the console".into(),
    }
}

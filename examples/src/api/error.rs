//! `ApiError`: the one place where failures become a status and the body
//! `{"error": {"code", "message"}}` of http-api.md "Conventions".

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A failed request, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds for a `retry-after` header (429, 503 `overloaded`).
    retry_after: Option<u64>,
    /// Whether the answer closes the connection (`connection: close`): the rest of
    /// the request was not read, so the connection cannot carry another.
    close: bool,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            close: false,
        }
    }

    /// 400: the body is not syntactically valid JSON.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: a missing or wrong bearer token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid key is required, as `authorization: Bearer <token>` or `x-api-key: <token>`",
        )
    }

    /// 403: a valid key outside its scope or tenant, or a reserved tenant.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 429 with `retry-after` in whole seconds (at least 1).
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        error.retry_after = Some(seconds.max(1));
        error
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405: the route exists, not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take this method",
        )
    }

    /// 408: the body did not arrive within `body_read_timeout`; the connection closes.
    pub fn request_timeout(timeout: std::time::Duration) -> Self {
        let mut error = Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the body did not arrive within {} ms", timeout.as_millis()),
        );
        error.close = true;
        error
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 415: a body that is not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be sent with `content-type: application/json`",
        )
    }

    /// 422: valid JSON (or a path or query value) that does not fit; names `field`.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("{field}: {message}"),
        )
    }

    /// 503: the engine is shutting down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 503 with `retry-after: 1`: too many requests with a body are in progress; this
    /// one's body was not read.
    pub fn overloaded() -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests with a body are in progress; retry shortly",
        );
        error.retry_after = Some(1);
        error
    }

    /// 500: Herald failed; the detail is logged, not shown.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request failed inside Herald; see its logs",
        )
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The spec's code (`invalid`, `not_found`, ...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<herald::Invalid> for ApiError {
    fn from(invalid: herald::Invalid) -> Self {
        Self::invalid(&invalid.field, invalid.message)
    }
}

impl From<herald::Error> for ApiError {
    fn from(error: herald::Error) -> Self {
        use herald::Error as E;
        match error {
            E::Invalid(invalid) => invalid.into(),
            E::EndpointNotFound { .. }
            | E::EventNotFound { .. }
            | E::DeliveryNotFound { .. }
            | E::EventTypeNotFound { .. }
            | E::KeyNotFound { .. } => Self::not_found(error.to_string()),
            E::RateLimited { retry_after } => Self::rate_limited(error.to_string(), retry_after),
            E::Conflict(message) => Self::conflict(message),
            E::IdempotencyConflict { .. } => Self::conflict(error.to_string()),
            E::PayloadTooLarge { .. } => Self::payload_too_large(error.to_string()),
            E::TooManyStreams { .. } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                error.to_string(),
            ),
            E::NotRunning => Self::unavailable("Herald is shutting down"),
            E::Storage(source) => {
                tracing::error!(error = %source, "storage failed while answering a request");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

//! A posted console form: its fields, and the CSRF check every change passes first.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::session::Session;
use super::ConsoleState;

/// The largest form body read: an endpoint's form with its headers fits easily.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The fields of an `application/x-www-form-urlencoded` body, in order.
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// Every non-blank value of `name` (checkboxes), trimmed.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .collect()
    }

    /// Whether the form carries `token` as its `csrf` field.
    fn carries(&self, check: impl Fn(&str) -> bool) -> bool {
        self.text("csrf").is_some_and(check)
    }
}

/// A form that passed the CSRF check of the request's session, which a `Signed` (or
/// `InTenant`) extracted before it left in the extensions. A request without one,
/// or whose `csrf` field is missing or wrong, is refused (403) before any handler
/// runs.
pub(crate) struct Checked(pub Fields);

impl FromRequest<ConsoleState> for Checked {
    type Rejection = Response;

    async fn from_request(request: Request, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let session = request.extensions().get::<Session>().cloned();
        let fields = read(request).await?;
        let genuine = session.is_some_and(|session| {
            fields.carries(|token| state.sessions.csrf_matches(&session, token))
        });
        if !genuine {
            return Err(forged());
        }
        Ok(Self(fields))
    }
}

/// Reads the fields of a form body.
pub(crate) async fn read(request: Request) -> Result<Fields, Response> {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response())?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| (StatusCode::BAD_REQUEST, "the form could not be read").into_response())?;
    Ok(Fields(pairs))
}

/// The answer to a form without its session's CSRF token.
pub(crate) fn forged() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form is out of date or did not come from this console: reload the page and try again",
    )
        .into_response()
}

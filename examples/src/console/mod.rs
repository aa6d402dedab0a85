//! The web console of access.md §5, served by heraldd under `/console/`: pages
//! rendered on the server (maud), a little plain JavaScript, every asset in the
//! binary.
//!
//! - `session`: portal links, session cookies and CSRF tokens, signed;
//! - `api_call`: the console reads and changes everything through the management
//!   API, called in process as the signed-in viewer;
//! - `view`: the page frame and its small parts; `assets`: the style sheet and script;
//! - `login`, `endpoints`, `deliveries`, `keys`: the pages, one file per area;
//! - `form`: the posted forms, read and checked (CSRF).

mod api_call;
mod assets;
mod deliveries;
mod endpoints;
mod form;
mod keys;
mod login;
pub(crate) mod session;
mod view;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use herald::{TenantId, Timestamp};
use maud::html;

pub(crate) use api_call::Api;
use api_call::Refusal;
use session::{Session, Sessions, Viewer};

/// The session cookie's name.
const COOKIE: &str = "herald_console";

/// What every console handler shares.
#[derive(Clone, Debug)]
pub(crate) struct ConsoleState {
    /// The management API, called in process.
    pub(crate) api: Api,
    /// Signs and checks links, sessions and forms.
    pub(crate) sessions: Arc<Sessions>,
    /// Served over HTTPS: cookies get `Secure`.
    pub(crate) secure: bool,
    /// The admin key, which signs the admin in.
    pub(crate) admin_token: Arc<crate::config::Sensitive>,
}

/// `api` (the management API's router) with the console's routes beside it; the
/// console calls `api` in process.
pub(crate) fn with_api(
    api: axum::Router,
    state: &crate::api::AppState,
    secure: bool,
) -> axum::Router {
    let console = ConsoleState {
        api: Api::new(api.clone()),
        sessions: state.console.clone(),
        secure,
        admin_token: state.api_token.clone(),
    };
    api.merge(router(console))
}

/// One console route: its method, its template, its handler.
struct Page {
    method: Method,
    template: &'static str,
    handler: MethodRouter<ConsoleState>,
}

fn page(method: Method, template: &'static str, handler: MethodRouter<ConsoleState>) -> Page {
    Page {
        method,
        template,
        handler,
    }
}

/// Every console route. Routes are added here and nowhere else: `tests/console.rs`
/// walks this table to check that a session of one tenant gets nothing of another.
fn pages() -> Vec<Page> {
    use Method as M;
    vec![
        page(M::GET, "/console", get(home)),
        page(M::GET, "/console/", get(home)),
        page(M::GET, "/console/assets/{file}", get(assets::serve)),
        page(M::GET, "/console/login", get(login::page)),
        page(M::POST, "/console/login", post(login::sign_in)),
        page(M::POST, "/console/logout", post(login::sign_out)),
        page(M::GET, "/console/tenants", get(keys::tenants)),
        page(
            M::GET,
            "/console/t/{tenant}/endpoints",
            get(endpoints::list),
        ),
        page(
            M::POST,
            "/console/t/{tenant}/endpoints",
            post(endpoints::create),
        ),
        page(
            M::GET,
            "/console/t/{tenant}/endpoints/new",
            get(endpoints::new),
        ),
        page(
            M::GET,
            "/console/t/{tenant}/endpoints/{id}",
            get(endpoints::show),
        ),
        page(
            M::GET,
            "/console/t/{tenant}/endpoints/{id}/edit",
            get(endpoints::edit),
        ),
        page(
            M::POST,
            "/console/t/{tenant}/endpoints/{id}/edit",
            post(endpoints::update),
        ),
        page(
            M::POST,
            "/console/t/{tenant}/endpoints/{id}/rotate",
            post(endpoints::rotate),
        ),
        page(
            M::POST,
            "/console/t/{tenant}/endpoints/{id}/active",
            post(endpoints::set_active),
        ),
        page(
            M::GET,
            "/console/t/{tenant}/endpoints/{id}/delete",
            get(endpoints::confirm_delete),
        ),
        page(
            M::POST,
            "/console/t/{tenant}/endpoints/{id}/delete",
            post(endpoints::delete),
        ),
        page(
            M::POST,
            "/console/t/{tenant}/endpoints/{id}/test",
            post(endpoints::send_test),
        ),
        page(
            M::GET,
            "/console/t/{tenant}/endpoints/{id}/attempts",
            get(deliveries::attempts),
        ),
        page(
            M::GET,
            "/console/t/{tenant}/endpoints/{id}/dead-letters",
            get(deliveries::dead_letters),
        ),
        page(
            M::POST,
            "/console/t/{tenant}/endpoints/{id}/dead-letters/replay",
            post(deliveries::replay),
        ),
        page(
            M::POST,
            "/console/t/{tenant}/deliveries/{id}/retry",
            post(deliveries::retry),
        ),
        page(
            M::GET,
            "/console/t/{tenant}/events",
            get(deliveries::events),
        ),
        page(
            M::GET,
            "/console/t/{tenant}/events/{id}",
            get(deliveries::event),
        ),
        page(M::GET, "/console/t/{tenant}/keys", get(keys::list)),
        page(M::POST, "/console/t/{tenant}/keys", post(keys::create)),
        page(
            M::POST,
            "/console/t/{tenant}/keys/{id}/revoke",
            post(keys::revoke),
        ),
    ]
}

/// The method and template of every console route, in table order.
pub fn console_routes() -> Vec<(Method, &'static str)> {
    pages()
        .into_iter()
        .map(|page| (page.method, page.template))
        .collect()
}

/// The console's routes, each under `/console`, with their headers.
fn router(state: ConsoleState) -> axum::Router {
    let mut router = axum::Router::new();
    for page in pages() {
        router = router.route(page.template, page.handler);
    }
    router
        .layer(axum::middleware::map_response(protect))
        .with_state(state)
}

/// Headers on every console answer: a strict content security policy (only this
/// server's own script and style; no frames, no plugins, forms post here only), no
/// caching (pages show secrets once), no referrer (the login URL carries a token).
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Now, by the wall clock.
fn now() -> Timestamp {
    Timestamp::from_system(std::time::SystemTime::now())
}

/// A signed-in request: its session and the session's CSRF token. Without a valid
/// session cookie, the answer is the way to the sign-in page. The session is left in
/// the request's extensions, where a `form::Checked` after it finds it.
pub(crate) struct Signed {
    session: Session,
    csrf: String,
}

impl Signed {
    fn viewer(&self) -> &Viewer {
        &self.session.viewer
    }
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let session = cookie(&parts.headers, COOKIE)
            .and_then(|value| state.sessions.session(value, now()))
            .ok_or_else(|| Redirect::to("/console/login").into_response())?;
        let csrf = state.sessions.csrf_token(&session);
        parts.extensions.insert(session.clone());
        Ok(Self { session, csrf })
    }
}

/// A signed-in request about `{tenant}`, which the session may see (else 403), with
/// the API to call for it.
pub(crate) struct InTenant {
    signed: Signed,
    tenant: TenantId,
    api: Api,
}

/// What a console handler answers: a page, or the page of what went wrong.
type Answer = Result<Response, Response>;

impl FromRequestParts<ConsoleState> for InTenant {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let signed = Signed::from_request_parts(parts, state).await?;
        let segment = parts
            .uri
            .path()
            .strip_prefix("/console/t/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let Ok(tenant) = TenantId::parse(segment) else {
            return Err(failure(
                &signed,
                None,
                StatusCode::NOT_FOUND,
                "no such tenant",
            ));
        };
        if !signed.viewer().may_see(&tenant) {
            return Err(failure(
                &signed,
                None,
                StatusCode::FORBIDDEN,
                "this session belongs to another tenant",
            ));
        }
        Ok(Self {
            signed,
            tenant,
            api: state.api.clone(),
        })
    }
}

impl InTenant {
    /// The frame of a page about this tenant.
    fn frame<'a>(&'a self, title: &'a str) -> view::Frame<'a> {
        view::Frame {
            title,
            viewer: Some(self.signed.viewer()),
            tenant: Some(&self.tenant),
            csrf: Some(&self.signed.csrf),
        }
    }

    fn viewer(&self) -> &Viewer {
        self.signed.viewer()
    }

    /// `GET path` of the API as this viewer; a refusal becomes its page.
    async fn get(&self, path: &str) -> Result<serde_json::Value, Response> {
        self.api
            .get(self.viewer(), path)
            .await
            .map_err(|refusal| self.refused(refusal))
    }

    /// `method path` of the API with `body` as this viewer; a refusal becomes its
    /// page.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, Response> {
        self.api
            .call(self.viewer(), method, path, body)
            .await
            .map_err(|refusal| self.refused(refusal))
    }

    /// `/v1/tenants/{tenant}{rest}`.
    fn api_path(&self, rest: &str) -> String {
        format!("/v1/tenants/{}{rest}", self.tenant.as_str())
    }

    /// `/console/t/{tenant}{rest}`.
    fn path(&self, rest: &str) -> String {
        view::tenant_path(&self.tenant, rest)
    }

    /// A page in this tenant's frame.
    fn render(&self, title: &str, body: maud::Markup) -> Response {
        html_page(view::page(&self.frame(title), body))
    }

    /// A page saying the API refused, with the API's status.
    fn refused(&self, refusal: Refusal) -> Response {
        failure(
            &self.signed,
            Some(&self.tenant),
            refusal.status,
            &refusal.message,
        )
    }
}

/// An HTML answer.
fn html_page(markup: maud::Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// An error page with `status`.
fn failure(
    signed: &Signed,
    tenant: Option<&TenantId>,
    status: StatusCode,
    message: &str,
) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        _ if status.is_client_error() => "That did not work",
        _ => "Something went wrong",
    };
    let frame = view::Frame {
        title,
        viewer: Some(signed.viewer()),
        tenant,
        csrf: Some(&signed.csrf),
    };
    let body = html! {
        (view::problem(message))
        p { a href="/console/" { "Back to the console" } }
    };
    (status, html_page(view::page(&frame, body))).into_response()
}

/// `GET /console/`: a tenant's session goes to its endpoints, the admin to the
/// tenant picker.
async fn home(signed: Signed) -> Response {
    match signed.viewer() {
        Viewer::Admin => Redirect::to("/console/tenants").into_response(),
        Viewer::Tenant(tenant) => {
            Redirect::to(&view::tenant_path(tenant, "/endpoints")).into_response()
        }
    }
}

/// The value of cookie `name` in the request's `cookie` headers.
fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The `set-cookie` value that keeps `session` (issued at `now`) in the browser.
fn session_cookie(state: &ConsoleState, session: &session::Issued, now: Timestamp) -> HeaderValue {
    let max_age = session.expires_at.since(now).as_secs();
    set_cookie(state, COOKIE, &session.token, max_age)
}

/// A `set-cookie` value for the console: `HttpOnly`, `SameSite=Strict`, path
/// `/console`, `Secure` over HTTPS; `max_age` 0 deletes it.
fn set_cookie(state: &ConsoleState, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

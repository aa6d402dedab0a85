//! Signing in and out: a portal link (one use) signs its opener in as its tenant;
//! the admin key, typed into the sign-in form, signs in as the admin.

use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::session::Viewer;
use super::{form, html_page, now, session_cookie, set_cookie, view, ConsoleState, Signed};

/// The cookie binding the sign-in form to its browser (login CSRF).
const LOGIN_COOKIE: &str = "herald_login";

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    token: Option<String>,
}

/// `GET /console/login`: with `?token=`, opens a portal link; without, the admin's
/// sign-in form.
pub(crate) async fn page(
    State(state): State<ConsoleState>,
    Query(query): Query<LoginQuery>,
) -> Response {
    match query.token {
        Some(token) => open_link(&state, &token),
        None => form_page(&state, None, StatusCode::OK),
    }
}

fn open_link(state: &ConsoleState, token: &str) -> Response {
    let now = now();
    let tenant = match state.sessions.redeem_link(token, now) {
        Ok(tenant) => tenant,
        Err(message) => return form_page(state, Some(message), StatusCode::FORBIDDEN),
    };
    let viewer = Viewer::Tenant(tenant.clone());
    let session = state.sessions.issue_session(&viewer, now);
    let target = view::tenant_path(&tenant, "/endpoints");
    // A page rather than a redirect: the browser then opens the console from this
    // site, so it sends the `SameSite=Strict` cookie even when the link was
    // followed from another site.
    let frame = view::Frame::signed_out("Signed in");
    let body = html! {
        meta http-equiv="refresh" content=(format!("0;url={target}"));
        p { "You are signed in to " strong { (tenant.as_str()) } "." }
        p { a href=(target) { "Open the console" } }
    };
    let mut response = html_page(view::page(&frame, body));
    response
        .headers_mut()
        .append(header::SET_COOKIE, session_cookie(state, &session, now));
    response
}

fn form_page(state: &ConsoleState, message: Option<&str>, status: StatusCode) -> Response {
    let (nonce, token) = state.sessions.login_challenge();
    let frame = view::Frame::signed_out("Sign in");
    let body = html! {
        @if let Some(message) = message { (view::problem(message)) }
        p { "Customers sign in with the link their platform gives them. Operators sign in with the admin key." }
        form.card method="post" action="/console/login" {
            (view::csrf_field(&token))
            label for="key" { "Admin key" }
            input #key type="password" name="key" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
    };
    let mut response = (status, html_page(view::page(&frame, body))).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_COOKIE, &nonce, 600),
    );
    response
}

/// `POST /console/login`: the admin key signs in as the admin.
pub(crate) async fn sign_in(State(state): State<ConsoleState>, request: Request) -> Response {
    let nonce = super::cookie(request.headers(), LOGIN_COOKIE)
        .unwrap_or_default()
        .to_owned();
    let fields = match form::read(request).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let genuine = fields
        .text("csrf")
        .is_some_and(|token| state.sessions.login_matches(&nonce, token));
    if !genuine {
        return form::forged();
    }
    let key = fields.text("key").unwrap_or_default();
    if !bool::from(key.as_bytes().ct_eq(state.admin_token.expose().as_bytes())) {
        return form_page(
            &state,
            Some("that is not the admin key"),
            StatusCode::UNAUTHORIZED,
        );
    }
    let now = now();
    let session = state.sessions.issue_session(&Viewer::Admin, now);
    let mut response = Redirect::to("/console/tenants").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session_cookie(&state, &session, now));
    headers.append(header::SET_COOKIE, set_cookie(&state, LOGIN_COOKIE, "", 0));
    response
}

/// `POST /console/logout`: ends the session and forgets its cookie.
pub(crate) async fn sign_out(
    State(state): State<ConsoleState>,
    signed: Signed,
    form::Checked(_): form::Checked,
) -> Response {
    state.sessions.sign_out(&signed.session, now());
    let mut response = Redirect::to("/console/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&state, super::COOKIE, "", 0));
    response
}

//! The page frame every console page shares, and the small pieces pages are built
//! from: times in the viewer's time zone, pagers, notices, the CSRF field.

use maud::{html, Markup, DOCTYPE};

use super::session::Viewer;
use herald::TenantId;

/// What the frame of a page needs.
pub(crate) struct Frame<'a> {
    /// The `<title>` and the `<h1>`.
    pub(crate) title: &'a str,
    /// Who is signed in; `None` on the sign-in pages.
    pub(crate) viewer: Option<&'a Viewer>,
    /// The tenant the page is about, for the navigation.
    pub(crate) tenant: Option<&'a TenantId>,
    /// The session's CSRF token, for the sign-out form.
    pub(crate) csrf: Option<&'a str>,
}

impl<'a> Frame<'a> {
    /// The frame of a page shown to nobody signed in (the sign-in pages).
    pub(crate) fn signed_out(title: &'a str) -> Self {
        Self {
            title,
            viewer: None,
            tenant: None,
            csrf: None,
        }
    }
}

/// A whole page: `body` inside the frame.
pub(crate) fn page(frame: &Frame<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (frame.title) " · Herald" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/console/" { "Herald" }
                    @if let Some(tenant) = frame.tenant {
                        nav aria-label="Tenant" {
                            a href=(tenant_path(tenant, "/endpoints")) { "Endpoints" }
                            a href=(tenant_path(tenant, "/events")) { "Events" }
                            @if frame.viewer == Some(&Viewer::Admin) {
                                a href=(tenant_path(tenant, "/keys")) { "Keys" }
                            }
                        }
                    }
                    @if let Some(viewer) = frame.viewer {
                        div.who {
                            span { (match viewer { Viewer::Admin => "Admin", Viewer::Tenant(t) => t.as_str() }) }
                            @if let Some(csrf) = frame.csrf {
                                form method="post" action="/console/logout" {
                                    (csrf_field(csrf))
                                    button.link type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main {
                    h1 { (frame.title) }
                    (body)
                }
            }
        }
    }
}

/// `/console/t/{tenant}{rest}`.
pub(crate) fn tenant_path(tenant: &TenantId, rest: &str) -> String {
    format!("/console/t/{}{rest}", tenant.as_str())
}

/// The hidden field every form carries.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// An RFC 3339 time, shown in UTC until the page's script rewrites it in the
/// viewer's time zone.
pub(crate) fn time(value: &serde_json::Value) -> Markup {
    match value.as_str() {
        Some(text) => {
            html! { time datetime=(text) { (text.replace('T', " ").trim_end_matches('Z')) " UTC" } }
        }
        None => html! { span.muted { "never" } },
    }
}

/// `&cursor=...` for an API path that asks for the page after `cursor`, or nothing
/// for the first page.
pub(crate) fn cursor_query(cursor: Option<&str>) -> String {
    cursor.map_or_else(String::new, |cursor| format!("&cursor={}", encode(cursor)))
}

/// A "Next page" link when the list goes on: `base` with its query so far.
pub(crate) fn pager(next_cursor: &serde_json::Value, base: &str) -> Markup {
    html! {
        @if let Some(cursor) = next_cursor.as_str() {
            nav.pager aria-label="Pages" {
                @let joiner = if base.contains('?') { "&" } else { "?" };
                a href=(format!("{base}{joiner}cursor={}", encode(cursor))) { "Next page →" }
            }
        }
    }
}

/// A secret or token shown this once: `intro`, the value with a copy button (shown
/// by the script), and the way on to `next`.
pub(crate) fn shown_once(intro: Markup, value: &str, copy_label: &str, next: &str) -> Markup {
    html! {
        div.card {
            p { (intro) }
            p.secret #secret { (value) }
            div.actions {
                button.secondary type="button" data-copy="secret" hidden { (copy_label) }
                a.button href=(next) { "I have stored it: continue" }
            }
        }
    }
}

/// A box saying what failed.
pub(crate) fn problem(message: &str) -> Markup {
    html! { p.problem role="alert" { (message) } }
}

/// A box saying what was done.
pub(crate) fn notice(message: &str) -> Markup {
    html! { p.notice role="status" { (message) } }
}

/// Percent-encodes `text` for a query value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A JSON value as text for a table cell (strings without quotes).
pub(crate) fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

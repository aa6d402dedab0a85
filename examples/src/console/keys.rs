//! The admin's pages: the tenant picker, and a tenant's API keys (the token shown
//! once at creation; revocation at once). A tenant's session is refused here by the
//! API itself, as its `tenant` key would be.

use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use herald::TenantId;
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::form::Checked;
use super::session::Viewer;
use super::view::{self, encode, plain, time};
use super::{html_page, Answer, InTenant, Signed};

#[derive(Deserialize)]
pub(crate) struct PickQuery {
    tenant: Option<String>,
}

/// `GET /console/tenants`: the admin opens a tenant by name.
pub(crate) async fn tenants(signed: Signed, Query(query): Query<PickQuery>) -> Response {
    let tenant_session = match signed.viewer() {
        Viewer::Admin => None,
        Viewer::Tenant(tenant) => Some(tenant.clone()),
    };
    if let Some(tenant) = tenant_session {
        return Redirect::to(&view::tenant_path(&tenant, "/endpoints")).into_response();
    }
    let mut problem = None;
    if let Some(name) = query
        .tenant
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        match TenantId::parse(name) {
            Ok(tenant) => {
                return Redirect::to(&view::tenant_path(&tenant, "/endpoints")).into_response()
            }
            Err(_) => problem = Some("a tenant name is 1 to 64 letters, digits, `_` or `-`"),
        }
    }
    let frame = view::Frame {
        title: "Tenants",
        viewer: Some(signed.viewer()),
        tenant: None,
        csrf: Some(&signed.csrf),
    };
    let body = html! {
        @if let Some(problem) = problem { (view::problem(problem)) }
        p { "Signed in as the admin: every tenant is open to you. Give customers a portal link instead (" code { "POST /v1/tenants/{tenant}/portal-links" } ")." }
        form.card method="get" action="/console/tenants" {
            label for="tenant" { "Tenant" }
            input #tenant type="text" name="tenant" required pattern="[A-Za-z0-9_-]{1,64}" placeholder="acme";
            div.actions { button type="submit" { "Open tenant" } }
        }
    };
    html_page(view::page(&frame, body))
}

#[derive(Deserialize)]
pub(crate) struct KeysQuery {
    cursor: Option<String>,
    notice: Option<String>,
}

/// `GET /console/t/{tenant}/keys` (admin).
pub(crate) async fn list(at: InTenant, Query(query): Query<KeysQuery>) -> Answer {
    let mut path = at.api_path("/keys?limit=50");
    path.push_str(&view::cursor_query(query.cursor.as_deref()));
    let page = at.get(&path).await?;
    let rows = page["data"].as_array().cloned().unwrap_or_default();
    let body = html! {
        @if query.notice.as_deref() == Some("revoked") { (view::notice("The key is revoked: the next request with it is refused.")) }
        form.card method="post" action=(at.path("/keys")) {
            (view::csrf_field(&at.signed.csrf))
            label for="scope" { "Scope" }
            select #scope name="scope" {
                option value="tenant" { "tenant: everything in this tenant but keys" }
                option value="publish" { "publish: publish events only" }
                option value="read" { "read: read only" }
            }
            label for="key-description" { "Description" }
            input #key-description type="text" name="description" maxlength="256";
            div.actions { button type="submit" { "Create key" } }
        }
        @if rows.is_empty() {
            div.card.empty { p { "No keys yet." } p { "Create one for each service that publishes or reads this tenant's events." } }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Key" } th scope="col" { "Scope" } th scope="col" { "Description" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Action" } } }
                    tbody {
                        @for key in &rows {
                            @let id = plain(&key["id"]);
                            tr {
                                td.wrap { code { (id) } }
                                td { (plain(&key["scope"])) }
                                td.wrap { (plain(&key["description"])) }
                                td { (time(&key["created_at"])) }
                                td { (time(&key["last_used_at"])) }
                                td {
                                    form method="post" action=(at.path(&format!("/keys/{}/revoke", encode(&id)))) data-confirm="Revoke this key? Requests with it are refused at once." {
                                        (view::csrf_field(&at.signed.csrf))
                                        button.danger type="submit" aria-label=(format!("Revoke key {id}")) { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (view::pager(&page["next_cursor"], &at.path("/keys")))
        }
    };
    Ok(at.render("API keys", body))
}

/// `POST /console/t/{tenant}/keys` (admin): the token, shown once.
pub(crate) async fn create(at: InTenant, Checked(fields): Checked) -> Answer {
    let mut body = json!({ "scope": fields.text("scope").unwrap_or("tenant") });
    if let Some(description) = fields.text("description") {
        body["description"] = json!(description);
    }
    let created = at
        .call(Method::POST, &at.api_path("/keys"), Some(&body))
        .await?;
    let intro = html! { strong { "Copy this key now." } " It is shown only this once; Herald keeps only its hash." };
    let body = view::shown_once(
        intro,
        &plain(&created["token"]),
        "Copy key",
        &at.path("/keys"),
    );
    Ok(at.render("Key created", body))
}

/// `POST /console/t/{tenant}/keys/{id}/revoke` (admin).
pub(crate) async fn revoke(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Checked(_): Checked,
) -> Answer {
    let path = at.api_path(&format!("/keys/{}", encode(&id)));
    at.call(Method::DELETE, &path, None).await?;
    Ok(Redirect::to(&at.path("/keys?notice=revoked")).into_response())
}

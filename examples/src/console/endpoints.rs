//! The endpoint pages: the list with health, create and edit, the secret shown
//! once, rotation, enable and disable, delete with confirmation, a test event.

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::form::{Checked, Fields};
use super::view::{self, encode, plain, time};
use super::{Answer, InTenant};

/// Rows per page of the endpoint list.
const PAGE: u32 = 25;

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    cursor: Option<String>,
    notice: Option<String>,
}

/// `GET /console/t/{tenant}/endpoints`.
pub(crate) async fn list(at: InTenant, Query(query): Query<ListQuery>) -> Answer {
    let mut path = at.api_path(&format!("/endpoints?limit={PAGE}"));
    path.push_str(&view::cursor_query(query.cursor.as_deref()));
    let page = at.get(&path).await?;
    let rows = page["data"].as_array().cloned().unwrap_or_default();
    let notice = match query.notice.as_deref() {
        Some("deleted") => Some("The endpoint was deleted."),
        _ => None,
    };
    let body = html! {
        @if let Some(notice) = notice { (view::notice(notice)) }
        div.actions { a.button href=(at.path("/endpoints/new")) { "Add endpoint" } }
        @if rows.is_empty() {
            div.card.empty {
                p { "No endpoints yet." }
                p { "Add the URL that should receive this account's events; Herald signs every request and retries failures." }
            }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "URL" } th scope="col" { "State" } th scope="col" { "Circuit" } th scope="col" { "Pending" } th scope="col" { "Dead" } th scope="col" { "Success rate" } th scope="col" { "Last success" } } }
                    tbody {
                        @for endpoint in &rows {
                            tr {
                                td.url { a href=(at.path(&format!("/endpoints/{}", encode(&plain(&endpoint["id"]))))) { (plain(&endpoint["url"])) } }
                                td { (state_badge(endpoint)) }
                                td { (breaker_badge(endpoint)) }
                                td { (plain(&endpoint["stats"]["pending"])) }
                                td { (plain(&endpoint["stats"]["dead"])) }
                                td { (success_rate(&endpoint["stats"])) }
                                td { (time(&endpoint["stats"]["last_success_at"])) }
                            }
                        }
                    }
                }
            }
            (view::pager(&page["next_cursor"], &at.path("/endpoints")))
        }
    };
    Ok(at.render("Endpoints", body))
}

fn state_badge(endpoint: &Value) -> Markup {
    if endpoint["active"].as_bool() == Some(true) {
        html! { span.badge.good { "Enabled" } }
    } else {
        let reason = match endpoint["disabled_reason"].as_str() {
            Some("manual") => "Disabled",
            Some("gone") => "Disabled: gone (410)",
            Some("failing") => "Disabled: kept failing",
            Some("retries_exhausted") => "Disabled: retries exhausted",
            _ => "Disabled",
        };
        html! { span.badge.bad { (reason) } }
    }
}

fn breaker_badge(endpoint: &Value) -> Markup {
    match endpoint["breaker"].as_str() {
        Some("closed") => html! { span.badge.good { "Closed" } },
        Some("half_open") => html! { span.badge.warn { "Half open" } },
        Some("open") => html! { span.badge.bad { "Open" } },
        _ => html! { span.badge { (plain(&endpoint["breaker"])) } },
    }
}

/// Successful deliveries over those and failed attempts, as a percentage.
fn success_rate(stats: &Value) -> String {
    let succeeded = stats["succeeded"].as_u64().unwrap_or(0);
    let failed = stats["failed_attempts"].as_u64().unwrap_or(0);
    match succeeded + failed {
        0 => "—".into(),
        total => format!("{:.1} %", succeeded as f64 * 100.0 / total as f64),
    }
}

/// What the endpoint form shows: an endpoint's settings, or what was typed.
#[derive(Default)]
struct Draft {
    url: String,
    description: String,
    event_types: Vec<String>,
    channels: String,
    profile: String,
    ordering: String,
    max_in_flight: String,
    rate_limit: String,
    timeout_ms: String,
    retry_schedule: String,
    /// The names of the custom headers in force (values are never shown again).
    header_names: Vec<String>,
}

impl Draft {
    fn of_endpoint(endpoint: &Value) -> Self {
        let strings = |value: &Value| -> Vec<String> {
            value
                .as_array()
                .map(|items| items.iter().map(plain).collect())
                .unwrap_or_default()
        };
        let number = |value: &Value| match value {
            Value::Null => String::new(),
            other => plain(other),
        };
        Self {
            url: plain(&endpoint["url"]),
            description: endpoint["description"].as_str().unwrap_or_default().into(),
            event_types: strings(&endpoint["event_types"]),
            channels: strings(&endpoint["channels"]).join(", "),
            profile: endpoint["profile"].as_str().unwrap_or_default().into(),
            ordering: endpoint["ordering"].as_str().unwrap_or("unordered").into(),
            max_in_flight: number(&endpoint["max_in_flight"]),
            rate_limit: number(&endpoint["rate_limit"]),
            timeout_ms: number(&endpoint["timeout_ms"]),
            retry_schedule: strings(&endpoint["retry_schedule_secs"]).join(", "),
            header_names: endpoint["headers"]
                .as_object()
                .map(|headers| headers.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    fn of_fields(fields: &Fields, header_names: Vec<String>) -> Self {
        let text = |name| fields.text(name).unwrap_or_default().to_owned();
        let mut event_types = fields.all("event_types");
        event_types.extend(list_items(fields.text("other_types").unwrap_or_default()));
        Self {
            url: text("url"),
            description: text("description"),
            event_types,
            channels: text("channels"),
            profile: text("profile"),
            ordering: text("ordering"),
            max_in_flight: text("max_in_flight"),
            rate_limit: text("rate_limit"),
            timeout_ms: text("timeout_ms"),
            retry_schedule: text("retry_schedule"),
            header_names,
        }
    }
}

/// Items of a comma- or whitespace-separated list.
fn list_items(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The API body of a posted endpoint form. For an edit, a blank setting is `null`
/// (the default in force) and absent headers keep theirs.
fn endpoint_body(fields: &Fields, editing: bool) -> Result<Value, String> {
    let mut body = Map::new();
    let url = fields.text("url").ok_or("the URL is required")?;
    body.insert("url".into(), json!(url));
    let optional_text = |value: Option<&str>| value.map_or(Value::Null, |v| json!(v));
    let description = optional_text(fields.text("description"));
    if editing || !description.is_null() {
        body.insert("description".into(), description);
    }
    let mut types = fields.all("event_types");
    types.extend(list_items(fields.text("other_types").unwrap_or_default()));
    body.insert("event_types".into(), json!(types));
    body.insert(
        "channels".into(),
        json!(list_items(fields.text("channels").unwrap_or_default())),
    );
    if let Some(profile) = fields.text("profile") {
        body.insert("profile".into(), json!(profile));
    }
    if let Some(ordering) = fields.text("ordering") {
        body.insert("ordering".into(), json!(ordering));
    }
    for (name, label) in [
        ("max_in_flight", "Requests at once"),
        ("rate_limit", "Rate limit"),
        ("timeout_ms", "Timeout"),
    ] {
        match fields.text(name) {
            Some(text) => {
                let number: u64 = text
                    .parse()
                    .map_err(|_| format!("{label} must be a whole number"))?;
                body.insert(name.into(), json!(number));
            }
            None if editing => {
                body.insert(name.into(), Value::Null);
            }
            None => {}
        }
    }
    match fields.text("retry_schedule") {
        Some(text) => {
            let steps = list_items(text)
                .iter()
                .map(|step| step.parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "Retry schedule must be whole seconds, separated by commas")?;
            body.insert("retry_schedule_secs".into(), json!(steps));
        }
        None if editing => {
            body.insert("retry_schedule_secs".into(), Value::Null);
        }
        None => {}
    }
    if fields.text("clear_headers").is_some() {
        body.insert("headers".into(), json!({}));
    } else if let Some(text) = fields.text("headers") {
        let mut headers = Map::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("header line `{line}` needs `name: value`"))?;
            headers.insert(name.trim().to_owned(), json!(value.trim()));
        }
        body.insert("headers".into(), Value::Object(headers));
    }
    Ok(Value::Object(body))
}

/// The catalog's entries and the profiles, for the form's choices.
async fn choices(at: &InTenant) -> Result<(Vec<Value>, Vec<Value>), Response> {
    let catalog = at.get(&at.api_path("/event-types?limit=100")).await?;
    let profiles = at.get("/v1/profiles").await?;
    let items = |value: &Value| value["data"].as_array().cloned().unwrap_or_default();
    Ok((items(&catalog), items(&profiles)))
}

/// The create or edit form.
fn endpoint_form(
    at: &InTenant,
    action: &str,
    draft: &Draft,
    (catalog, profiles): &(Vec<Value>, Vec<Value>),
    editing: bool,
) -> Markup {
    let known: Vec<String> = catalog.iter().map(|entry| plain(&entry["type"])).collect();
    let others: Vec<&String> = draft
        .event_types
        .iter()
        .filter(|t| !known.contains(t))
        .collect();
    let others = others
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        form.card method="post" action=(action) {
            (view::csrf_field(&at.signed.csrf))
            label for="url" { "URL" }
            input #url type="url" name="url" value=(draft.url) required placeholder="https://example.com/webhooks";
            label for="description" { "Description" }
            input #description type="text" name="description" value=(draft.description) maxlength="1024";
            @if !catalog.is_empty() {
                fieldset {
                    legend { "Event types (none picked: every type)" }
                    @for (index, entry) in catalog.iter().enumerate() {
                        @let kind = plain(&entry["type"]);
                        @let id = format!("type-{index}");
                        label for=(id) {
                            input #(id) type="checkbox" name="event_types" value=(kind) checked[draft.event_types.contains(&kind)];
                            (kind)
                        }
                    }
                }
            }
            label for="other_types" { @if catalog.is_empty() { "Event types" } @else { "Other event types" } }
            input #other_types type="text" name="other_types" value=(others) placeholder="order.filled, position.*";
            p.hint { "Exact types, or a prefix ending in .* — separated by commas. Empty: every type." }
            label for="channels" { "Channels" }
            input #channels type="text" name="channels" value=(draft.channels) placeholder="BTC-USD, ETH-USD";
            p.hint { "When set, only events sharing one of these channels are sent." }
            label for="profile" { "Profile" }
            select #profile name="profile" {
                @for profile in profiles {
                    @let name = plain(&profile["name"]);
                    option value=(name) selected[draft.profile == name] { (name) " — " (plain(&profile["description"])) }
                }
            }
            label for="ordering" { "Ordering" }
            select #ordering name="ordering" {
                option value="unordered" selected[draft.ordering != "fifo"] { "Unordered (fastest)" }
                option value="fifo" selected[draft.ordering == "fifo"] { "FIFO: one at a time, in publish order" }
            }
            label for="max_in_flight" { "Requests at once" }
            input #max_in_flight type="number" min="1" name="max_in_flight" value=(draft.max_in_flight);
            label for="rate_limit" { "Rate limit (requests per second)" }
            input #rate_limit type="number" min="1" name="rate_limit" value=(draft.rate_limit);
            p.hint { "Empty: no limit." }
            label for="timeout_ms" { "Timeout (milliseconds)" }
            input #timeout_ms type="number" min="1" name="timeout_ms" value=(draft.timeout_ms);
            label for="retry_schedule" { "Retry schedule (seconds)" }
            input #retry_schedule type="text" name="retry_schedule" value=(draft.retry_schedule) placeholder="5, 30, 120";
            label for="headers" { "Custom headers" }
            textarea #headers name="headers" placeholder="x-partner-id: 1234" {}
            @if editing && !draft.header_names.is_empty() {
                p.hint { "In force: " (draft.header_names.join(", ")) ". Values are never shown again: leave this empty to keep them, or write every header to replace them." }
                label for="clear_headers" { input #clear_headers type="checkbox" name="clear_headers" value="1"; " Remove every custom header" }
            } @else {
                p.hint { "One per line, as name: value." }
            }
            div.actions {
                button type="submit" { @if editing { "Save changes" } @else { "Create endpoint" } }
            }
        }
    }
}

/// `GET /console/t/{tenant}/endpoints/new`.
pub(crate) async fn new(at: InTenant) -> Answer {
    let choices = choices(&at).await?;
    let draft = Draft {
        profile: "standard".into(),
        ..Draft::default()
    };
    let form = endpoint_form(&at, &at.path("/endpoints"), &draft, &choices, false);
    Ok(at.render("Add endpoint", form))
}

/// `POST /console/t/{tenant}/endpoints`: creates it and shows its secret once; bad
/// input shows the form again with the reason.
pub(crate) async fn create(at: InTenant, Checked(fields): Checked) -> Answer {
    let outcome = match endpoint_body(&fields, false) {
        Ok(body) => at
            .api
            .call(
                at.viewer(),
                Method::POST,
                &at.api_path("/endpoints"),
                Some(&body),
            )
            .await
            .map_err(|refusal| refusal.message),
        Err(message) => Err(message),
    };
    let message = match outcome {
        Ok(created) => {
            let id = plain(&created["id"]);
            return Ok(secret_page(
                &at,
                "Endpoint created",
                &created["secret"],
                &id,
            ));
        }
        Err(message) => message,
    };
    let choices = choices(&at).await?;
    let draft = Draft::of_fields(&fields, Vec::new());
    let body = html! {
        (view::problem(&message))
        (endpoint_form(&at, &at.path("/endpoints"), &draft, &choices, false))
    };
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        at.render("Add endpoint", body),
    )
        .into_response())
}

/// A secret, shown this once.
fn secret_page(at: &InTenant, title: &str, secret: &Value, endpoint: &str) -> Response {
    let intro = html! { strong { "Copy this signing secret now." } " It is shown only this once; Herald cannot show it again. Your receiver uses it to check every request's signature." };
    let next = at.path(&endpoint_rest(endpoint));
    at.render(
        title,
        view::shown_once(intro, &plain(secret), "Copy secret", &next),
    )
}

/// `GET /console/t/{tenant}/endpoints/{id}`.
pub(crate) async fn show(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Answer {
    let endpoint_path = at.api_path(&endpoint_rest(&id));
    let endpoint = at.get(&endpoint_path).await?;
    let failures = at
        .get(&format!("{endpoint_path}/attempts?outcome=failure&limit=1"))
        .await?;
    let last_failure = failures["data"].get(0).cloned();
    let catalog = at.get(&at.api_path("/event-types?limit=100")).await?;
    let catalog = catalog["data"].as_array().cloned().unwrap_or_default();
    let here = at.path(&format!("/endpoints/{}", encode(&id)));
    let stats = &endpoint["stats"];
    let active = endpoint["active"].as_bool() == Some(true);
    let notice = match query.notice.as_deref() {
        Some("enabled") => Some("The endpoint is enabled; its circuit is closed again."),
        Some("disabled") => Some("The endpoint is disabled: nothing is sent until it is enabled."),
        Some("saved") => Some("Changes saved."),
        Some("replayed") => Some("Dead deliveries are queued again."),
        _ => None,
    };
    let body = html! {
        @if let Some(notice) = notice { (view::notice(notice)) }
        div.actions {
            a.button href=(format!("{here}/edit")) { "Edit" }
            a.button.secondary href=(format!("{here}/attempts")) { "Delivery log" }
            a.button.secondary href=(format!("{here}/dead-letters")) { "Dead letters" }
        }
        div.card {
            h2 { "Health" }
            dl.facts {
                dt { "State" } dd { (state_badge(&endpoint)) }
                dt { "Circuit" } dd { (breaker_badge(&endpoint)) }
                dt { "Success rate" } dd { (success_rate(stats)) }
                dt { "Pending" } dd { (plain(&stats["pending"])) }
                dt { "Dead" } dd { (plain(&stats["dead"])) }
                dt { "Delivered" } dd { (plain(&stats["succeeded"])) }
                dt { "Failed attempts" } dd { (plain(&stats["failed_attempts"])) }
                dt { "Last success" } dd { (time(&stats["last_success_at"])) }
                dt { "Last failure" } dd { (time(&stats["last_failure_at"])) }
                dt { "Last error" } dd {
                    @match &last_failure {
                        Some(attempt) => { (attempt_result(attempt)) " · " (time(&attempt["started_at"])) },
                        None => span.muted { "none" },
                    }
                }
            }
        }
        div.card {
            h2 { "Settings" }
            dl.facts {
                dt { "URL" } dd { (plain(&endpoint["url"])) }
                dt { "Description" } dd { (plain(&endpoint["description"])) }
                dt { "Event types" } dd { (joined(&endpoint["event_types"], "every type")) }
                dt { "Channels" } dd { (joined(&endpoint["channels"], "every channel")) }
                dt { "Profile" } dd { (plain(&endpoint["profile"])) }
                dt { "Ordering" } dd { (plain(&endpoint["ordering"])) }
                dt { "Requests at once" } dd { (plain(&endpoint["max_in_flight"])) }
                dt { "Rate limit" } dd { @if endpoint["rate_limit"].is_null() { "none" } @else { (plain(&endpoint["rate_limit"])) " per second" } }
                dt { "Timeout" } dd { (plain(&endpoint["timeout_ms"])) " ms" }
                dt { "Retry schedule" } dd { (joined(&endpoint["retry_schedule_secs"], "—")) " (seconds)" }
                dt { "Custom headers" } dd {
                    @let names: Vec<String> = endpoint["headers"].as_object().map(|h| h.keys().cloned().collect()).unwrap_or_default();
                    @if names.is_empty() { "none" } @else { (names.join(", ")) " (values hidden)" }
                }
                dt { "Created" } dd { (time(&endpoint["created_at"])) }
                dt { "Updated" } dd { (time(&endpoint["updated_at"])) }
            }
        }
        div.card {
            h2 { "Actions" }
            div.actions {
                form method="post" action=(format!("{here}/test")) {
                    (view::csrf_field(&at.signed.csrf))
                    label for="test-type" { "Test event type " }
                    select #test-type name="type" {
                        option value="" { "webhook.test" }
                        @for entry in &catalog {
                            @let kind = plain(&entry["type"]);
                            option value=(kind) { (kind) }
                        }
                    }
                    " "
                    button type="submit" { "Send test event" }
                }
            }
            div.actions {
                form method="post" action=(format!("{here}/active")) {
                    (view::csrf_field(&at.signed.csrf))
                    input type="hidden" name="active" value=(if active { "false" } else { "true" });
                    button.secondary type="submit" { @if active { "Disable" } @else { "Enable" } }
                }
                form method="post" action=(format!("{here}/rotate")) data-confirm="Rotate the secret? The current one keeps signing for a grace period." {
                    (view::csrf_field(&at.signed.csrf))
                    button.secondary type="submit" { "Rotate secret" }
                }
                a.button.secondary href=(format!("{here}/delete")) { "Delete…" }
            }
        }
    };
    Ok(at.render(&format!("Endpoint {}", plain(&endpoint["url"])), body))
}

fn joined(value: &Value, empty: &str) -> String {
    let items: Vec<String> = value
        .as_array()
        .map(|items| items.iter().map(plain).collect())
        .unwrap_or_default();
    if items.is_empty() {
        empty.into()
    } else {
        items.join(", ")
    }
}

/// An attempt's result: its HTTP status or its error class.
pub(crate) fn attempt_result(attempt: &Value) -> Markup {
    match (attempt["status"].as_u64(), attempt["error"].as_str()) {
        (Some(status), _) if (200..300).contains(&status) => html! { span.badge.good { (status) } },
        (Some(status), error) => {
            html! { span.badge.bad { (status) } @if let Some(e) = error { " " (e) } }
        }
        (None, Some(error)) => html! { span.badge.bad { (error) } },
        (None, None) => html! { span.badge { "—" } },
    }
}

/// `GET /console/t/{tenant}/endpoints/{id}/edit`.
pub(crate) async fn edit(at: InTenant, Path((_, id)): Path<(String, String)>) -> Answer {
    let endpoint = at.get(&at.api_path(&endpoint_rest(&id))).await?;
    let choices = choices(&at).await?;
    let action = at.path(&format!("{}/edit", endpoint_rest(&id)));
    let form = endpoint_form(&at, &action, &Draft::of_endpoint(&endpoint), &choices, true);
    Ok(at.render("Edit endpoint", form))
}

/// `POST /console/t/{tenant}/endpoints/{id}/edit`; bad input shows the form again
/// with the reason.
pub(crate) async fn update(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Checked(fields): Checked,
) -> Answer {
    let api_path = at.api_path(&endpoint_rest(&id));
    let here = at.path(&endpoint_rest(&id));
    let outcome = match endpoint_body(&fields, true) {
        Ok(body) => at
            .api
            .call(at.viewer(), Method::PATCH, &api_path, Some(&body))
            .await
            .map_err(|refusal| refusal.message),
        Err(message) => Err(message),
    };
    let message = match outcome {
        Ok(_) => return Ok(Redirect::to(&format!("{here}?notice=saved")).into_response()),
        Err(message) => message,
    };
    let endpoint = at.get(&api_path).await?;
    let choices = choices(&at).await?;
    let draft = Draft::of_fields(&fields, Draft::of_endpoint(&endpoint).header_names);
    let body = html! {
        (view::problem(&message))
        (endpoint_form(&at, &format!("{here}/edit"), &draft, &choices, true))
    };
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        at.render("Edit endpoint", body),
    )
        .into_response())
}

/// `POST /console/t/{tenant}/endpoints/{id}/rotate`: the new secret, shown once.
pub(crate) async fn rotate(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Checked(_): Checked,
) -> Answer {
    let path = at.api_path(&format!("{}/rotate-secret", endpoint_rest(&id)));
    let rotated = at.call(Method::POST, &path, None).await?;
    Ok(secret_page(&at, "Secret rotated", &rotated["secret"], &id))
}

/// `POST /console/t/{tenant}/endpoints/{id}/active`: enables or disables it.
pub(crate) async fn set_active(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Checked(fields): Checked,
) -> Answer {
    let active = fields.text("active") == Some("true");
    let body = json!({ "active": active });
    at.call(
        Method::PATCH,
        &at.api_path(&endpoint_rest(&id)),
        Some(&body),
    )
    .await?;
    let notice = if active { "enabled" } else { "disabled" };
    let here = at.path(&endpoint_rest(&id));
    Ok(Redirect::to(&format!("{here}?notice={notice}")).into_response())
}

/// `GET /console/t/{tenant}/endpoints/{id}/delete`: asks first.
pub(crate) async fn confirm_delete(at: InTenant, Path((_, id)): Path<(String, String)>) -> Answer {
    let endpoint = at.get(&at.api_path(&endpoint_rest(&id))).await?;
    let here = at.path(&endpoint_rest(&id));
    let body = html! {
        div.card {
            p { "Delete the endpoint " strong { (plain(&endpoint["url"])) } "?" }
            p { "It stops receiving events at once. Its " (plain(&endpoint["stats"]["pending"])) " pending deliveries are dropped; its history is kept until retention removes it. This cannot be undone." }
            div.actions {
                form method="post" action=(format!("{here}/delete")) {
                    (view::csrf_field(&at.signed.csrf))
                    button.danger type="submit" { "Delete endpoint" }
                }
                a.button.secondary href=(here) { "Keep it" }
            }
        }
    };
    Ok(at.render("Delete endpoint", body))
}

/// `POST /console/t/{tenant}/endpoints/{id}/delete`.
pub(crate) async fn delete(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Checked(_): Checked,
) -> Answer {
    at.call(Method::DELETE, &at.api_path(&endpoint_rest(&id)), None)
        .await?;
    Ok(Redirect::to(&at.path("/endpoints?notice=deleted")).into_response())
}

/// `POST /console/t/{tenant}/endpoints/{id}/test`: sends a test event and opens it.
pub(crate) async fn send_test(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Checked(fields): Checked,
) -> Answer {
    let path = at.api_path(&format!("{}/test", endpoint_rest(&id)));
    let body = fields.text("type").map(|kind| json!({ "type": kind }));
    let event = at.call(Method::POST, &path, body.as_ref()).await?;
    let event_page = at.path(&format!("/events/{}", encode(&plain(&event["id"]))));
    Ok(Redirect::to(&event_page).into_response())
}

/// `/endpoints/{id}`, the id encoded for a path.
fn endpoint_rest(id: &str) -> String {
    format!("/endpoints/{}", encode(id))
}

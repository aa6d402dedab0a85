//! The delivery pages: an endpoint's delivery log (its attempts, filtered by
//! outcome), its dead letters with replay and single retry, and the events (filtered
//! by type and time) with each event's payload and deliveries.

use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect};
use herald::Timestamp;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::endpoints::attempt_result;
use super::form::Checked;
use super::view::{self, encode, plain, time};
use super::{Answer, InTenant};

/// Rows per page of the logs.
const PAGE: u32 = 50;

#[derive(Deserialize)]
pub(crate) struct LogQuery {
    cursor: Option<String>,
    outcome: Option<String>,
    notice: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// The viewer's offset from UTC in minutes, as JavaScript's
    /// `getTimezoneOffset` gives it; absent: the times are UTC.
    tz: Option<String>,
}

/// The type and time filters of a log page, typed in the viewer's time zone: the
/// API's query (`&type=...&since=...`), the page's own (to keep them while paging),
/// and a message for a time that could not be read.
struct TimeFilters {
    api: String,
    page: String,
    problem: Option<String>,
    kind: String,
    since: String,
    until: String,
    offset: i64,
}

impl TimeFilters {
    fn read(
        kind: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
        tz: Option<&str>,
    ) -> Self {
        let offset: i64 = tz.and_then(|t| t.parse().ok()).unwrap_or(0);
        let kind = kind.map(str::trim).unwrap_or_default();
        let since = since.map(str::trim).unwrap_or_default();
        let until = until.map(str::trim).unwrap_or_default();
        let mut api = String::new();
        let mut page = Vec::new();
        let mut problem = None;
        if !kind.is_empty() {
            api.push_str(&format!("&type={}", encode(kind)));
            page.push(format!("type={}", encode(kind)));
        }
        for (name, value) in [("since", since), ("until", until)] {
            if value.is_empty() {
                continue;
            }
            match local_to_utc(value, offset) {
                Some(utc) => api.push_str(&format!("&{name}={}", encode(&utc))),
                None => problem = Some(format!("`{value}` is not a date and time")),
            }
            page.push(format!("{name}={}", encode(value)));
        }
        if tz.is_some() {
            page.push(format!("tz={offset}"));
        }
        Self {
            api,
            page: page.join("&"),
            problem,
            kind: kind.to_owned(),
            since: since.to_owned(),
            until: until.to_owned(),
            offset,
        }
    }

    /// The form's fields for these filters.
    fn fields(&self, type_label: &str) -> Markup {
        html! {
            input type="hidden" name="tz" value=(self.offset);
            div {
                label for="type" { (type_label) }
                input #type type="text" name="type" value=(self.kind) placeholder="order.filled";
            }
            div {
                label for="since" { "From" }
                input #since type="datetime-local" name="since" value=(self.since);
            }
            div {
                label for="until" { "Until" }
                input #until type="datetime-local" name="until" value=(self.until);
            }
        }
    }
}

/// A `datetime-local` value (`2026-12-04T05:30`) typed `offset_minutes` behind UTC
/// (JavaScript's `getTimezoneOffset`), as RFC 3339 UTC.
fn local_to_utc(text: &str, offset_minutes: i64) -> Option<String> {
    let with_seconds = if text.len() == 16 {
        format!("{text}:00")
    } else {
        text.to_owned()
    };
    let at = Timestamp::parse_rfc3339(&format!("{with_seconds}Z"), "time").ok()?;
    let shifted = i64::try_from(at.0).ok()? + offset_minutes * 60_000;
    Some(Timestamp(u64::try_from(shifted).ok()?).to_rfc3339())
}

/// `base?query` or `base` for an empty query.
fn with_query(base: String, query: &str) -> String {
    if query.is_empty() {
        base
    } else {
        format!("{base}?{query}")
    }
}

/// `GET /console/t/{tenant}/endpoints/{id}/attempts`: the delivery log.
pub(crate) async fn attempts(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Answer {
    let outcome = query
        .outcome
        .as_deref()
        .filter(|o| matches!(*o, "success" | "failure"));
    let filters = TimeFilters::read(
        query.kind.as_deref(),
        query.since.as_deref(),
        query.until.as_deref(),
        query.tz.as_deref(),
    );
    let here = at.path(&format!("/endpoints/{}/attempts", encode(&id)));
    let mut path = at.api_path(&format!("/endpoints/{}/attempts?limit={PAGE}", encode(&id)));
    path.push_str(&filters.api);
    let mut kept = filters.page.clone();
    if let Some(outcome) = outcome {
        path.push_str(&format!("&outcome={outcome}"));
        kept = if kept.is_empty() {
            format!("outcome={outcome}")
        } else {
            format!("{kept}&outcome={outcome}")
        };
    }
    path.push_str(&view::cursor_query(query.cursor.as_deref()));
    let page = at.get(&path).await?;
    let rows = page["data"].as_array().cloned().unwrap_or_default();
    let endpoint_page = at.path(&format!("/endpoints/{}", encode(&id)));
    let body = html! {
        p { a href=(endpoint_page) { "← Endpoint" } }
        @if let Some(problem) = &filters.problem { (view::problem(problem)) }
        form.filters method="get" action=(here) {
            div {
                label for="outcome" { "Status" }
                select #outcome name="outcome" {
                    option value="" selected[outcome.is_none()] { "All" }
                    option value="success" selected[outcome == Some("success")] { "Succeeded" }
                    option value="failure" selected[outcome == Some("failure")] { "Failed" }
                }
            }
            (filters.fields("Event type"))
            button.secondary type="submit" { "Filter" }
        }
        @if rows.is_empty() {
            div.card.empty {
                p { "No attempts here." }
                p { "Send a test event from the endpoint's page to see one, or widen the filters." }
            }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Event" } th scope="col" { "Attempt" } th scope="col" { "Result" } th scope="col" { "Latency" } th scope="col" { "Response" } } }
                    tbody {
                        @for attempt in &rows {
                            tr {
                                td { (time(&attempt["started_at"])) }
                                td.wrap {
                                    a href=(at.path(&format!("/events/{}", encode(&plain(&attempt["event_id"]))))) { (plain(&attempt["event_type"])) }
                                    br; span.muted { (plain(&attempt["event_id"])) }
                                }
                                td { "#" (plain(&attempt["attempt"])) }
                                td { (attempt_result(attempt)) }
                                td { (plain(&attempt["duration_ms"])) " ms" }
                                td.wrap { code { (first_bytes(&attempt["response_body"])) } }
                            }
                        }
                    }
                }
            }
            (view::pager(&page["next_cursor"], &with_query(here.clone(), &kept)))
        }
    };
    Ok(at.render("Delivery log", body))
}

/// The first bytes of a response, short enough for a table cell.
fn first_bytes(value: &Value) -> String {
    let text = value.as_str().unwrap_or_default();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// `GET /console/t/{tenant}/endpoints/{id}/dead-letters`.
pub(crate) async fn dead_letters(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Answer {
    let mut path = at.api_path(&format!(
        "/endpoints/{}/dead-letters?limit={PAGE}",
        encode(&id)
    ));
    path.push_str(&view::cursor_query(query.cursor.as_deref()));
    let page = at.get(&path).await?;
    let rows = page["data"].as_array().cloned().unwrap_or_default();
    let here = at.path(&format!("/endpoints/{}/dead-letters", encode(&id)));
    let notice = match query.notice.as_deref() {
        Some("replayed") => {
            Some("The dead deliveries are queued again, with a fresh retry budget.")
        }
        Some("retried") => Some("The delivery is queued again."),
        _ => None,
    };
    let body = html! {
        @if let Some(notice) = notice { (view::notice(notice)) }
        p { a href=(at.path(&format!("/endpoints/{}", encode(&id)))) { "← Endpoint" } }
        @if rows.is_empty() {
            div.card.empty {
                p { "No dead letters." }
                p { "Deliveries that run out of retries land here, to be replayed once the receiver is fixed." }
            }
        } @else {
            div.actions {
                form method="post" action=(format!("{here}/replay")) data-confirm="Queue every dead delivery of this endpoint again?" {
                    (view::csrf_field(&at.signed.csrf))
                    button type="submit" { "Replay all dead letters" }
                }
            }
            (delivery_table(&at, &rows, Some(&id)))
            (view::pager(&page["next_cursor"], &here))
        }
    };
    Ok(at.render("Dead letters", body))
}

/// Deliveries as a table, each with a retry button unless pending.
fn delivery_table(at: &InTenant, rows: &[Value], back_to: Option<&str>) -> Markup {
    html! {
        div.table-wrap {
            table {
                thead { tr { th scope="col" { "Delivery" } th scope="col" { "Endpoint" } th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Last result" } th scope="col" { "Next attempt" } th scope="col" { "Action" } } }
                tbody {
                    @for delivery in rows {
                        @let id = plain(&delivery["id"]);
                        tr {
                            td.wrap { code { (id) } }
                            td.wrap { a href=(at.path(&format!("/endpoints/{}", encode(&plain(&delivery["endpoint_id"]))))) { (plain(&delivery["endpoint_id"])) } }
                            td { (status_badge(delivery)) }
                            td { (plain(&delivery["attempts"])) }
                            td {
                                @match (delivery["last_status"].as_u64(), delivery["last_error"].as_str()) {
                                    (Some(status), _) => (status),
                                    (None, Some(error)) => (error),
                                    (None, None) => "—",
                                }
                            }
                            td { (time(&delivery["next_attempt_at"])) }
                            td {
                                @if delivery["status"].as_str() != Some("pending") {
                                    form method="post" action=(at.path(&format!("/deliveries/{}/retry", encode(&id)))) {
                                        (view::csrf_field(&at.signed.csrf))
                                        @if let Some(back) = back_to { input type="hidden" name="endpoint" value=(back); }
                                        button.secondary type="submit" aria-label=(format!("Retry delivery {id}")) { "Retry" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn status_badge(delivery: &Value) -> Markup {
    match delivery["status"].as_str() {
        Some("succeeded") => html! { span.badge.good { "Succeeded" } },
        Some("pending") => html! { span.badge.warn { "Pending" } },
        Some("dead") => html! {
            span.badge.bad { "Dead" }
            @if let Some(reason) = delivery["dead_reason"].as_str() { " " span.muted { (reason.replace('_', " ")) } }
        },
        _ => html! { span.badge { (plain(&delivery["status"])) } },
    }
}

/// `POST /console/t/{tenant}/endpoints/{id}/dead-letters/replay`.
pub(crate) async fn replay(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Checked(_): Checked,
) -> Answer {
    let dead_letters = format!("/endpoints/{}/dead-letters", encode(&id));
    at.call(
        Method::POST,
        &at.api_path(&format!("{dead_letters}/replay")),
        None,
    )
    .await?;
    Ok(Redirect::to(&at.path(&format!("{dead_letters}?notice=replayed"))).into_response())
}

/// `POST /console/t/{tenant}/deliveries/{id}/retry`: back to the dead letters it was
/// retried from, else to its event.
pub(crate) async fn retry(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Checked(fields): Checked,
) -> Answer {
    let path = at.api_path(&format!("/deliveries/{}/retry", encode(&id)));
    let delivery = at.call(Method::POST, &path, None).await?;
    let back = match fields.text("endpoint") {
        Some(endpoint) => format!(
            "/endpoints/{}/dead-letters?notice=retried",
            encode(endpoint)
        ),
        None => format!("/events/{}", encode(&plain(&delivery["event_id"]))),
    };
    Ok(Redirect::to(&at.path(&back)).into_response())
}

/// `GET /console/t/{tenant}/events`.
pub(crate) async fn events(at: InTenant, Query(query): Query<LogQuery>) -> Answer {
    let filters = TimeFilters::read(
        query.kind.as_deref(),
        query.since.as_deref(),
        query.until.as_deref(),
        query.tz.as_deref(),
    );
    let mut path = at.api_path(&format!("/events?limit={PAGE}"));
    path.push_str(&filters.api);
    path.push_str(&view::cursor_query(query.cursor.as_deref()));
    let page = at.get(&path).await?;
    let rows = page["data"].as_array().cloned().unwrap_or_default();
    let body = html! {
        @if let Some(problem) = &filters.problem { (view::problem(problem)) }
        form.filters method="get" action=(at.path("/events")) {
            (filters.fields("Event type"))
            button.secondary type="submit" { "Filter" }
        }
        @if rows.is_empty() {
            div.card.empty {
                p { "No events here." }
                p { "Events appear once the platform publishes them, or when you send a test event from an endpoint's page." }
            }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Type" } th scope="col" { "Event" } th scope="col" { "Endpoints" } } }
                    tbody {
                        @for event in &rows {
                            tr {
                                td { (time(&event["created_at"])) }
                                td { (plain(&event["type"])) }
                                td.wrap { a href=(at.path(&format!("/events/{}", encode(&plain(&event["id"]))))) { (plain(&event["id"])) } }
                                td { (plain(&event["deliveries"])) }
                            }
                        }
                    }
                }
            }
            (view::pager(&page["next_cursor"], &with_query(at.path("/events"), &filters.page)))
        }
    };
    Ok(at.render("Events", body))
}

/// `GET /console/t/{tenant}/events/{id}`: the payload and every delivery of it.
pub(crate) async fn event(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Answer {
    let path = at.api_path(&format!("/events/{}", encode(&id)));
    let event = at.get(&path).await?;
    let deliveries = at
        .get(&deliveries_path(&path, query.cursor.as_deref()))
        .await?;
    let rows = deliveries["data"].as_array().cloned().unwrap_or_default();
    let payload = serde_json::to_string_pretty(&event["data"]).unwrap_or_default();
    let body = html! {
        div.card {
            dl.facts {
                dt { "Type" } dd { (plain(&event["type"])) }
                dt { "Published" } dd { (time(&event["created_at"])) }
                dt { "Channels" } dd {
                    @let channels: Vec<String> = event["channels"].as_array().map(|c| c.iter().map(plain).collect()).unwrap_or_default();
                    @if channels.is_empty() { "none" } @else { (channels.join(", ")) }
                }
            }
        }
        h2 { "Payload" }
        pre tabindex="0" aria-label="Payload" { code { (payload) } }
        h2 { "Deliveries" }
        @if rows.is_empty() {
            div.card.empty { p { "No endpoint subscribed to this event when it was published." } }
        } @else {
            (delivery_table(&at, &rows, None))
            (view::pager(&deliveries["next_cursor"], &at.path(&format!("/events/{}", encode(&id)))))
        }
    };
    Ok(at.render(&format!("Event {}", plain(&event["id"])), body))
}

/// An event's deliveries, a page from `cursor`.
fn deliveries_path(event_path: &str, cursor: Option<&str>) -> String {
    format!(
        "{event_path}/deliveries?limit={PAGE}{}",
        view::cursor_query(cursor)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_become_utc() {
        // Berlin in winter: getTimezoneOffset() is -60.
        assert_eq!(
            local_to_utc("2026-12-04T06:30", -60).as_deref(),
            Some("2026-12-04T05:30:00.000Z")
        );
        // New York: +300.
        assert_eq!(
            local_to_utc("2026-12-04T00:30:15", 300).as_deref(),
            Some("2026-12-04T05:30:15.000Z")
        );
        assert_eq!(local_to_utc("yesterday", 0), None);
    }
}

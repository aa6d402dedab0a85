//! `GET /v1/tenants/{tenant}/stream` (access.md §6): a tenant's events as Server-Sent
//! Events, or, on a WebSocket upgrade of the same request, as one text frame per
//! event. Both carry `Engine::stream`: filters, resume, and its end on overflow.
//!
//! A stream answer is long-lived by design: it is marked `Streaming`, so that the
//! serve loop neither evicts it nor closes it as idle, and bounds only the time its
//! bytes wait for a client that stopped reading (`[api] write_timeout`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use herald::stream::envelope;
use herald::{EventId, EventStream, StreamEnd, StreamFilter, TenantId};
use tokio::sync::watch;

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery, FromQuery};
use super::schemas::{self, TenantPath};
use super::AppState;

/// The SSE comment that keeps an idle stream open (access.md §6: every 15 s).
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The WebSocket close code on overflow: 1008, policy violation (access.md §6).
const OVERFLOW_CLOSE_CODE: u16 = 1008;

/// Marks a response that streams until its client leaves (see `serve`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Streaming;

/// `?types=`, `?channels=` (comma-separated) and `?after=`.
#[derive(Debug)]
pub(crate) struct StreamQuery {
    types: Vec<String>,
    channels: Vec<String>,
    after: Option<EventId>,
}

/// The comma-separated values of `key`, empty ones dropped.
fn list(pairs: &HashMap<String, String>, key: &str) -> Vec<String> {
    pairs
        .get(key)
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl FromQuery for StreamQuery {
    fn from_pairs(pairs: &HashMap<String, String>) -> Result<Self, ApiError> {
        // A misspelt filter would silently widen the stream: unknown keys are refused.
        if let Some(unknown) = pairs
            .keys()
            .find(|k| !matches!(k.as_str(), "types" | "channels" | "after"))
        {
            return Err(ApiError::invalid(
                unknown,
                "is not a parameter of this route (`types`, `channels`, `after`)",
            ));
        }
        let after = pairs
            .get("after")
            .filter(|a| !a.is_empty())
            .map(|a| EventId::parse(a).map_err(|e| ApiError::invalid("after", e.message)))
            .transpose()?;
        Ok(Self {
            types: list(pairs, "types"),
            channels: list(pairs, "channels"),
            after,
        })
    }
}

/// `GET /v1/tenants/{tenant}/stream`: SSE, or a WebSocket when the request upgrades.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/stream",
    operation_id = "streamEvents",
    tag = "events",
    summary = "Stream events (SSE or WebSocket)",
    description = "The tenant's events as they are published, in publish order, each in the \
        standard envelope (`id`, `type`, `created_at`, `data`). As Server-Sent Events (`accept: \
        text/event-stream`): `id: <event id>`, `event: <type>`, `data: <envelope>`, and a comment \
        line every 15 s. With WebSocket upgrade headers, the same request becomes a WebSocket \
        carrying one text frame per event. With `after` (or SSE's `Last-Event-ID`, which wins), \
        every stored matching event after that one comes first, then live ones, with no gap and \
        no repeat. A consumer more than `stream_buffer` events behind is closed (SSE: a final \
        `event: overflow`; WebSocket: close code 1008) and resumes from its last id.",
    params(TenantPath, schemas::StreamQuery,
        ("last-event-id" = Option<String>, Header, description = "SSE resume point: an event id")),
    responses(
        (status = 200, description = "The stream, as `text/event-stream`",
            content_type = "text/event-stream", body = String),
        (status = 101, description = "Switched to a WebSocket: one text frame per event"),
        (status = 422, description = "A bad or unknown parameter (the message names it), or \
            an `after` that no stored event has", body = schemas::ErrorBody),
        (status = 429, description = "The tenant has `max_streams` streams open",
            body = schemas::ErrorBody),
        (status = 503, description = "Herald is shutting down", body = schemas::ErrorBody),
    )
)]
pub(crate) async fn stream(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    headers: HeaderMap,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let wants_websocket = headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::invalid("last-event-id", "must be an event id"))?;
            (!text.is_empty())
                .then(|| {
                    EventId::parse(text).map_err(|e| ApiError::invalid("last-event-id", e.message))
                })
                .transpose()?
        }
    };
    let filter = StreamFilter::new(&query.types, &query.channels)?;
    let after = last_event_id.or(query.after);
    let upgrade = match (wants_websocket, upgrade) {
        (false, _) => None,
        (true, Ok(upgrade)) => Some(upgrade),
        (true, Err(rejection)) => return Err(ApiError::bad_request(rejection.body_text())),
    };
    let events = state.engine.stream(&tenant, filter, after.as_ref()).await?;
    let closing = state.streams_closing.clone();
    let mut response = match upgrade {
        Some(upgrade) => {
            let write_timeout = state.stream_write_timeout;
            upgrade
                .on_upgrade(move |socket| websocket(socket, events, closing, write_timeout))
                .into_response()
        }
        None => sse(events, closing).into_response(),
    };
    response.extensions_mut().insert(Streaming);
    Ok(response)
}

/// What one stream item becomes on the wire.
enum Out {
    Event {
        id: String,
        event_type: String,
        envelope: String,
    },
    Overflow(String),
    Failed,
    Closing,
}

fn out(item: herald::StreamItem) -> Out {
    match item {
        Ok(event) => Out::Event {
            id: event.id.to_string(),
            event_type: event.event_type.clone(),
            envelope: envelope(&event),
        },
        Err(end @ StreamEnd::Overflow { .. }) => Out::Overflow(end.to_string()),
        Err(StreamEnd::Closing) => Out::Closing,
        Err(StreamEnd::Storage(error)) => {
            tracing::error!(%error, "a stream's replay could not read storage");
            Out::Failed
        }
    }
}

/// Completes once the daemon stops serving.
async fn stopped(mut closing: watch::Receiver<bool>) {
    let _ = closing.wait_for(|c| *c).await;
}

/// The stream as Server-Sent Events; ends after its last item, or at shutdown.
fn sse(
    events: EventStream,
    closing: watch::Receiver<bool>,
) -> Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>> {
    let frames = events
        .map(out)
        .scan(false, |ended, out| {
            if *ended {
                return futures::future::ready(None);
            }
            let frame = match out {
                Out::Event {
                    id,
                    event_type,
                    envelope,
                } => SseEvent::default().id(id).event(event_type).data(envelope),
                Out::Overflow(reason) => {
                    *ended = true;
                    SseEvent::default()
                        .event("overflow")
                        .data(serde_json::json!({ "reason": reason }).to_string())
                }
                Out::Failed => {
                    *ended = true;
                    SseEvent::default().event("error").data(
                        r#"{"reason":"Herald could not read the stored events; resume later"}"#,
                    )
                }
                Out::Closing => return futures::future::ready(None),
            };
            futures::future::ready(Some(Ok(frame)))
        })
        .take_until(stopped(closing));
    Sse::new(frames).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text(""))
}

/// The stream over a WebSocket: one text frame per event; closes with 1008 on
/// overflow, 1001 at shutdown, 1011 when the replay failed. A frame the client does
/// not take within `write_timeout` ends the connection.
async fn websocket(
    socket: WebSocket,
    events: EventStream,
    closing: watch::Receiver<bool>,
    write_timeout: Duration,
) {
    let (mut sink, mut incoming) = socket.split();
    let mut events = events.map(out);
    let stop = stopped(closing);
    tokio::pin!(stop);
    let close = loop {
        let next = tokio::select! {
            next = events.next() => next,
            message = incoming.next() => match message {
                // Pings are answered by the socket itself; text from the client means
                // nothing here.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            () = &mut stop => break Some((1001, "Herald is shutting down".to_owned())),
        };
        let message = match next {
            Some(Out::Event { envelope, .. }) => Message::Text(envelope.into()),
            Some(Out::Overflow(reason)) => break Some((OVERFLOW_CLOSE_CODE, reason)),
            Some(Out::Failed) => {
                break Some((1011, "Herald could not read the stored events".to_owned()))
            }
            Some(Out::Closing) | None => break Some((1001, "Herald is shutting down".to_owned())),
        };
        match tokio::time::timeout(write_timeout, sink.send(message)).await {
            Ok(Ok(())) => {}
            // The client left, or stopped reading: nothing more can reach it.
            Ok(Err(_)) | Err(_) => return,
        }
    };
    if let Some((code, reason)) = close {
        // A close reason is at most 123 bytes.
        let reason: String = reason.chars().take(120).collect();
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(write_timeout, sink.send(frame)).await;
    }
}

//! access.md §6 through the real `heraldd`: the event stream as Server-Sent Events and
//! as a WebSocket, filters, resume after a disconnect mid-burst, the overflow of a
//! stalled consumer while publishing and webhooks carry on, `max_streams`, scopes,
//! bad parameters, and a stream outliving the API's idle timeout and eviction.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{eventually, Call, Daemon, Options, TOKEN, WAIT};
use futures::StreamExt;
use herald_testkit::receiver::Receiver;
use http::{Method, Request};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const STREAM: &str = "/v1/tenants/acme/stream";

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// A Server-Sent Events reader over one response.
struct SseClient {
    body: Incoming,
    text: String,
    /// Comment lines seen (keep-alives).
    comments: usize,
}

impl SseClient {
    /// Opens `path` with `token` and extra headers; the status and, for 200, the
    /// reader.
    async fn open(
        daemon: &Daemon,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<SseClient, (u16, Value)> {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let mut request = Request::get(format!("http://{}{}", daemon.addr, path))
            .header("accept", "text/event-stream");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response =
            tokio::time::timeout(WAIT, client.request(request.body(Empty::new()).unwrap()))
                .await
                .unwrap()
                .unwrap();
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.into_body().collect().await.unwrap().to_bytes();
            return Err((status, serde_json::from_slice(&body).unwrap_or(Value::Null)));
        }
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "an SSE answer"
        );
        Ok(SseClient {
            body: response.into_body(),
            text: String::new(),
            comments: 0,
        })
    }

    /// The next event; `None` when the stream ended.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut event = Sse {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut fields = false;
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                        continue;
                    }
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    fields = true;
                    match name {
                        "id" => event.id = Some(value.to_owned()),
                        "event" => event.event = Some(value.to_owned()),
                        "data" => event.data.push_str(value),
                        _ => {}
                    }
                }
                if fields {
                    return Some(event);
                }
                continue;
            }
            let frame = tokio::time::timeout(WAIT, self.body.frame())
                .await
                .expect("the stream sends within the wait");
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.text.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next `n` events, which must all be events (not the end).
    async fn events(&mut self, n: usize) -> Vec<Sse> {
        let mut got = Vec::new();
        while got.len() < n {
            let event = self.next().await.expect("the stream ended early");
            assert_ne!(event.event.as_deref(), Some("overflow"), "{event:?}");
            got.push(event);
        }
        got
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the stream as a WebSocket; the status of a refused upgrade otherwise.
async fn websocket(daemon: &Daemon, path: &str, token: Option<&str>) -> Result<Ws, u16> {
    let mut request = format!("ws://{}{}", daemon.addr, path)
        .into_client_request()
        .unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
    {
        Ok((socket, response)) => {
            assert_eq!(response.status(), 101);
            Ok(socket)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(error) => panic!("the upgrade failed: {error}"),
    }
}

/// The next `n` envelopes of `socket` (text frames).
async fn ws_events(socket: &mut Ws, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < n {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the socket sends within the wait")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => got.push(serde_json::from_str(&text).unwrap()),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
    got
}

/// Publishes `event_type` on `channel` with `data`; its id.
async fn publish(daemon: &Daemon, event_type: &str, channel: &str, data: Value) -> String {
    let reply = daemon
        .post(
            "/v1/tenants/acme/events",
            &json!({"type": event_type, "channels": [channel], "data": data}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    reply.json["id"].as_str().unwrap().to_owned()
}

async fn metric(daemon: &Daemon, name: &str) -> f64 {
    let text = daemon.send(Call::new(Method::GET, "/metrics")).await.text();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn sse_and_websocket_carry_exactly_the_matching_events_in_publish_order() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let filter = "?types=order.*,position.closed&channels=BTC-USD";
    let mut sse = SseClient::open(&daemon, &format!("{STREAM}{filter}"), Some(TOKEN), &[])
        .await
        .unwrap();
    let mut ws = websocket(&daemon, &format!("{STREAM}{filter}"), Some(TOKEN))
        .await
        .unwrap();
    let mut matching = Vec::new();
    for n in 0..60 {
        let (event_type, channel) = match n % 5 {
            0 => ("order.filled", "BTC-USD"),
            1 => ("order.filled", "ETH-USD"),
            2 => ("position.closed", "BTC-USD"),
            3 => ("position.opened", "BTC-USD"),
            _ => ("order.cancelled", "BTC-USD"),
        };
        let id = publish(&daemon, event_type, channel, json!({"n": n})).await;
        if matches!(n % 5, 0 | 2 | 4) {
            matching.push((id, event_type, n));
        }
    }
    let got = sse.events(matching.len()).await;
    let frames = ws_events(&mut ws, matching.len()).await;
    for ((id, event_type, n), (event, frame)) in matching.iter().zip(got.iter().zip(&frames)) {
        assert_eq!(event.id.as_deref(), Some(id.as_str()));
        assert_eq!(event.event.as_deref(), Some(*event_type));
        let envelope: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(envelope["id"], id.as_str());
        assert_eq!(envelope["type"], *event_type);
        assert_eq!(envelope["data"], json!({"n": n}));
        assert!(envelope["created_at"].is_string());
        assert_eq!(&envelope, frame, "both transports send the same envelope");
    }
    // Nothing else: a last matching event comes right after the ones above.
    let last = publish(&daemon, "order.filled", "BTC-USD", json!({"last": true})).await;
    assert_eq!(sse.events(1).await[0].id.as_deref(), Some(last.as_str()));
    assert_eq!(ws_events(&mut ws, 1).await[0]["id"], last.as_str());
    let sent = metric(&daemon, "herald_stream_events_sent_total").await;
    assert!(sent >= 2.0 * (matching.len() as f64 + 1.0), "{sent}");
    assert_eq!(metric(&daemon, "herald_streams_open").await, 2.0);
    drop(sse);
    ws.close(None).await.unwrap();
    eventually("the streams to close", || async {
        (metric(&daemon, "herald_streams_open").await == 0.0).then_some(())
    })
    .await;
}

/// A consumer leaves in the middle of a burst and comes back with the last id it
/// got: with both transports, everything published arrives once, in order.
#[tokio::test]
async fn a_consumer_that_leaves_mid_burst_resumes_from_its_last_id() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = std::sync::Arc::new(Daemon::start(dir.path(), Options::default()).await);
    let first = publish(&daemon, "order.filled", "BTC-USD", json!({"n": -1})).await;
    const BURST: usize = 300;
    let publisher = {
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..BURST {
                ids.push(publish(&daemon, "order.filled", "BTC-USD", json!({"n": n})).await);
            }
            ids
        })
    };
    let after = format!("{STREAM}?after={first}");

    // SSE: 100 events, leave, come back with Last-Event-ID (which wins over `after`).
    let mut sse = SseClient::open(&daemon, &after, Some(TOKEN), &[])
        .await
        .unwrap();
    let mut sse_ids: Vec<String> = sse
        .events(100)
        .await
        .into_iter()
        .map(|e| e.id.unwrap())
        .collect();
    drop(sse);
    let last = sse_ids.last().unwrap().clone();
    let mut sse = SseClient::open(&daemon, &after, Some(TOKEN), &[("last-event-id", &last)])
        .await
        .unwrap();
    sse_ids.extend(
        sse.events(BURST - 100)
            .await
            .into_iter()
            .map(|e| e.id.unwrap()),
    );

    // WebSocket: 150 frames, leave, come back with `after`.
    let mut ws = websocket(&daemon, &after, Some(TOKEN)).await.unwrap();
    let mut ws_ids: Vec<String> = ws_events(&mut ws, 150)
        .await
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    drop(ws);
    let resumed = format!("{STREAM}?after={}", ws_ids.last().unwrap());
    let mut ws = websocket(&daemon, &resumed, Some(TOKEN)).await.unwrap();
    ws_ids.extend(
        ws_events(&mut ws, BURST - 150)
            .await
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned()),
    );

    let published = publisher.await.unwrap();
    assert_eq!(sse_ids, published, "SSE: every event once, in order");
    assert_eq!(ws_ids, published, "WebSocket: every event once, in order");
}

/// A consumer that stops reading falls `stream_buffer` events behind and is closed
/// with the reason, SSE and WebSocket alike; meanwhile every publish is accepted and
/// every webhook delivered.
#[tokio::test]
async fn a_stalled_consumer_overflows_while_publishing_and_webhooks_carry_on() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        // The write timeout would close a consumer that stops reading for long: here
        // the consumers stall for as long as publishing takes.
        Options::default()
            .config("[tenants]\nstream_buffer = 20\n[api]\nwrite_timeout = \"600s\"\n"),
    )
    .await;
    let endpoint = daemon
        .post(
            "/v1/tenants/acme/endpoints",
            &json!({"url": receiver.url("/hooks")}),
        )
        .await;
    assert_eq!(endpoint.status, 201, "{}", endpoint.text());
    let mut sse = SseClient::open(&daemon, STREAM, Some(TOKEN), &[])
        .await
        .unwrap();
    let mut ws = websocket(&daemon, STREAM, Some(TOKEN)).await.unwrap();
    // Neither reads while events far larger than the sockets' buffers are published.
    let padding = "x".repeat(16 * 1024);
    let mut published = Vec::new();
    for n in 0..1500 {
        published.push(
            publish(
                &daemon,
                "order.filled",
                "BTC-USD",
                json!({"n": n, "pad": padding}),
            )
            .await,
        );
    }
    eventually("both streams to overflow", || async {
        (metric(&daemon, "herald_stream_overflows_total").await >= 2.0).then_some(())
    })
    .await;
    assert!(
        receiver.wait_for(published.len(), WAIT).await,
        "every webhook is delivered: {} of {}",
        receiver.count(),
        published.len()
    );

    // What the consumers get once they read: a prefix of the events, in order, then
    // the overflow.
    let mut got = Vec::new();
    let overflow = loop {
        let event = sse
            .next()
            .await
            .expect("the overflow event ends the stream");
        if event.event.as_deref() == Some("overflow") {
            break event;
        }
        got.push(event.id.unwrap());
    };
    assert!(!got.is_empty() && got.len() < published.len());
    assert_eq!(got, published[..got.len()]);
    let reason: Value = serde_json::from_str(&overflow.data).unwrap();
    assert!(
        reason["reason"].as_str().unwrap().contains("behind"),
        "{reason}"
    );
    assert!(
        sse.next().await.is_none(),
        "the stream ends after the overflow"
    );

    let mut frames = 0;
    let close = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => {
                let envelope: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(envelope["id"], published[frames].as_str());
                frames += 1;
            }
            Some(Ok(Message::Close(frame))) => break frame.unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Policy, "1008");
    assert!(frames < published.len());

    // Resuming from the last id received gets the rest.
    let last = got.last().unwrap();
    let mut resumed = SseClient::open(&daemon, STREAM, Some(TOKEN), &[("last-event-id", last)])
        .await
        .unwrap();
    let rest: Vec<String> = resumed
        .events(published.len() - got.len())
        .await
        .into_iter()
        .map(|e| e.id.unwrap())
        .collect();
    assert_eq!(rest, published[got.len()..]);
}

#[tokio::test]
async fn max_streams_answers_429_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default().config("[tenants]\nmax_streams = 2\n"),
    )
    .await;
    let one = SseClient::open(&daemon, STREAM, Some(TOKEN), &[])
        .await
        .unwrap();
    let _two = websocket(&daemon, STREAM, Some(TOKEN)).await.unwrap();
    let (status, body) = SseClient::open(&daemon, STREAM, Some(TOKEN), &[])
        .await
        .err()
        .unwrap();
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "too_many_streams");
    assert_eq!(
        websocket(&daemon, STREAM, Some(TOKEN)).await.err(),
        Some(429)
    );
    // Another tenant has its own limit.
    SseClient::open(&daemon, "/v1/tenants/other/stream", Some(TOKEN), &[])
        .await
        .unwrap();
    drop(one);
    eventually("a stream slot to free", || async {
        SseClient::open(&daemon, STREAM, Some(TOKEN), &[])
            .await
            .ok()
    })
    .await;
}

#[tokio::test]
async fn only_read_and_tenant_keys_of_the_tenant_may_stream() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let key = |tenant: &'static str, scope: &'static str| {
        let daemon = &daemon;
        async move {
            let reply = daemon
                .post(
                    &format!("/v1/tenants/{tenant}/keys"),
                    &json!({"scope": scope}),
                )
                .await;
            assert_eq!(reply.status, 201, "{}", reply.text());
            reply.json["token"].as_str().unwrap().to_owned()
        }
    };
    let read = key("acme", "read").await;
    let tenant = key("acme", "tenant").await;
    let publish_key = key("acme", "publish").await;
    let other = key("other", "read").await;
    for token in [&read, &tenant] {
        SseClient::open(&daemon, STREAM, Some(token), &[])
            .await
            .unwrap();
        websocket(&daemon, STREAM, Some(token)).await.unwrap();
    }
    for (token, status) in [
        (Some(publish_key.as_str()), 403),
        (Some(other.as_str()), 403),
        (Some("not-a-key"), 401),
        (None, 401),
    ] {
        let refused = SseClient::open(&daemon, STREAM, token, &[]).await.err();
        assert_eq!(refused.map(|(s, _)| s), Some(status), "{token:?}");
        assert_eq!(websocket(&daemon, STREAM, token).await.err(), Some(status));
    }
}

/// Extra request headers.
type Headers<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn bad_parameters_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let cases: [(&str, Headers, &str); 6] = [
        ("?type=order.filled", &[], "type"),
        ("?types=order.*.x", &[], "types"),
        ("?channels=a%20b", &[], "channels"),
        ("?after=not/an/id", &[], "after"),
        ("?after=evt_never_published", &[], "after"),
        ("", &[("last-event-id", "evt_never_published")], "after"),
    ];
    for (query, headers, field) in cases {
        let (status, body) =
            SseClient::open(&daemon, &format!("{STREAM}{query}"), Some(TOKEN), headers)
                .await
                .err()
                .unwrap();
        assert_eq!(status, 422, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{query}: {message}"
        );
    }
    let (status, _) = SseClient::open(&daemon, "/v1/tenants/a%20b/stream", Some(TOKEN), &[])
        .await
        .err()
        .unwrap();
    assert_eq!(status, 422);
}

/// A stream is a request in progress: the API's idle timeout does not close it and a
/// crowd of new connections does not evict it.
#[tokio::test]
async fn a_stream_outlives_the_idle_timeout_and_is_not_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default().config("[api]\nidle_timeout = \"1s\"\nmax_connections = 4\n"),
    )
    .await;
    let mut sse = SseClient::open(&daemon, STREAM, Some(TOKEN), &[])
        .await
        .unwrap();
    let mut ws = websocket(&daemon, STREAM, Some(TOKEN)).await.unwrap();
    // Longer than the idle timeout with nothing to send.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Idle connections that take every other slot, then more.
    let mut idle = Vec::new();
    for _ in 0..6 {
        idle.push(tokio::net::TcpStream::connect(daemon.addr).await.unwrap());
    }
    drop(idle);
    // On a connection of its own: the pooled one may have been closed as idle.
    let reply = eventually("a publish to be answered", || async {
        let call = Call::new(Method::POST, "/v1/tenants/acme/events")
            .json(&json!({"type": "order.filled", "data": {"still": "here"}}));
        daemon.try_send_alone(call).await
    })
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json["id"].as_str().unwrap().to_owned();
    assert_eq!(sse.events(1).await[0].id.as_deref(), Some(id.as_str()));
    assert_eq!(ws_events(&mut ws, 1).await[0]["id"], id.as_str());
}

/// A consumer that stops reading altogether is closed once bytes sent to it have
/// waited `write_timeout`, even before it overflows; its stream is counted no more.
#[tokio::test]
async fn a_consumer_that_stops_reading_is_closed_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default()
            .config("[api]\nwrite_timeout = \"1s\"\n[tenants]\nstream_buffer = 100000\n"),
    )
    .await;
    let stalled = SseClient::open(&daemon, STREAM, Some(TOKEN), &[])
        .await
        .unwrap();
    let padding = "x".repeat(64 * 1024);
    // More than the sockets' buffers hold.
    for n in 0..300 {
        publish(
            &daemon,
            "order.filled",
            "BTC-USD",
            json!({"n": n, "pad": padding}),
        )
        .await;
    }
    eventually("the stalled stream to be closed", || async {
        let closed = daemon
            .send(Call::new(Method::GET, "/metrics"))
            .await
            .text()
            .lines()
            .any(|l| {
                l.starts_with("herald_api_connections_closed_total{reason=\"write_timeout\"}")
            });
        (closed && metric(&daemon, "herald_streams_open").await == 0.0).then_some(())
    })
    .await;
    assert_eq!(metric(&daemon, "herald_stream_overflows_total").await, 0.0);
    drop(stalled);
}

/// At shutdown open streams end (SSE: the response ends; WebSocket: close 1001), so
/// that `heraldd` stops without waiting out `shutdown_grace` for them: with a grace
/// far longer than the test's wait, it exits within the wait.
#[tokio::test]
async fn streams_end_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default().config("shutdown_grace = \"10m\"\n"),
    )
    .await;
    let mut sse = SseClient::open(&daemon, STREAM, Some(TOKEN), &[])
        .await
        .unwrap();
    let mut ws = websocket(&daemon, STREAM, Some(TOKEN)).await.unwrap();
    let id = publish(&daemon, "order.filled", "BTC-USD", json!({})).await;
    assert_eq!(sse.events(1).await[0].id.as_deref(), Some(id.as_str()));
    assert_eq!(ws_events(&mut ws, 1).await[0]["id"], id.as_str());
    daemon.sigterm();
    assert!(sse.next().await.is_none(), "the SSE response ends");
    match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected close 1001, got {other:?}"),
    }
    let stderr_before_exit = daemon.stderr();
    let status = daemon.exited().await;
    assert!(status.success(), "{status}\n{stderr_before_exit}");
}

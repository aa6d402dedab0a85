//! Hostile input through the daemon's API: every malformed, oversized, smuggling or
//! SSRF-minded request gets the documented status and changes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Call, Daemon, Options};
use hyper::Method;
use serde_json::json;

const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";
const EVENTS: &str = "/v1/tenants/acme/events";

fn strict() -> Options {
    Options {
        permissive: false,
        ..Options::default()
    }
}

/// A daemon with the strict destination policy and one endpoint: the state every
/// refused request must leave as it was (`assert_unchanged`).
async fn strict_daemon_with_one_endpoint(dir: &std::path::Path) -> Daemon {
    let daemon = Daemon::start(dir, strict()).await;
    let ok = daemon
        .post(ENDPOINTS, &json!({"url": "https://example.com/hooks"}))
        .await;
    assert_eq!(ok.status, 201);
    daemon
}

async fn status_of(daemon: &Daemon, call: Call) -> (u16, String) {
    let reply = daemon.send(call).await;
    (reply.status, reply.text())
}

/// Each body, POSTed to `path`, is 422 with a message that starts with its field.
async fn assert_invalid(daemon: &Daemon, path: &str, cases: Vec<(serde_json::Value, &str)>) {
    for (body, field) in cases {
        let reply = daemon.post(path, &body).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text());
        assert!(
            reply.message().starts_with(field),
            "{body}: {}",
            reply.message()
        );
    }
}

async fn assert_unchanged(daemon: &Daemon) {
    let endpoints = daemon.get(ENDPOINTS).await;
    assert_eq!(
        endpoints.json["data"].as_array().unwrap().len(),
        1,
        "{}",
        endpoints.text()
    );
    let events = daemon.get(EVENTS).await;
    assert!(
        events.json["data"].as_array().unwrap().is_empty(),
        "{}",
        events.text()
    );
}

#[tokio::test]
async fn malformed_bodies_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = strict_daemon_with_one_endpoint(dir.path()).await;

    for body in [
        "{",
        "{\"url\": }",
        "[1, 2",
        "nul",
        "{} trailing",
        "",
        "{\"url\": \"https://e.com\",}",
    ] {
        let call = Call::new(Method::POST, ENDPOINTS).raw("application/json", body.to_owned());
        let (status, text) = status_of(&daemon, call).await;
        assert_eq!(status, 400, "{body:?}: {text}");
        assert!(text.contains("bad_request"), "{text}");
    }
    // Invalid UTF-8.
    let call =
        Call::new(Method::POST, EVENTS).raw("application/json", vec![b'{', 0xff, 0xfe, b'}']);
    assert_eq!(status_of(&daemon, call).await.0, 400);
    // Nesting far past any sane depth.
    let deep = format!(
        "{{\"type\":\"a.b\",\"data\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let call = Call::new(Method::POST, EVENTS).raw("application/json", deep);
    let (status, text) = status_of(&daemon, call).await;
    assert_eq!(status, 422, "deep nesting: {text}");
    assert!(text.contains("data"), "{text}");
    // A huge body: 413, or (when the daemon stops reading first) a closed connection.
    let huge = format!(
        "{{\"type\":\"a.b\",\"data\":\"{}\"}}",
        "x".repeat(4 * 1024 * 1024)
    );
    let call = Call::new(Method::POST, EVENTS).raw("application/json", huge);
    let answer = daemon.try_send_alone(call).await.map(|r| r.status);
    assert!(matches!(answer, Some(413) | None), "huge body: {answer:?}");
    // Not JSON at all.
    let call = Call::new(Method::POST, EVENTS).raw("text/plain", "type=a.b");
    assert_eq!(status_of(&daemon, call).await.0, 415);
    // Valid JSON of the wrong shape.
    assert_invalid(
        &daemon,
        EVENTS,
        vec![
            (json!({"type": "a.b", "data": {}, "extra": 1}), "extra"),
            (json!({"type": 42, "data": {}}), "type"),
            (
                json!({"type": "a.b", "data": {}, "channels": "BTC"}),
                "channels",
            ),
            (json!({"type": "a\r\nb", "data": {}}), "type"),
            (json!({"type": "a\u{0}b", "data": {}}), "type"),
            (json!({"type": "a.b", "data": {}, "id": "../../etc"}), "id"),
            (json!(["type", "a.b"]), "body"),
        ],
    )
    .await;
    assert_unchanged(&daemon).await;
}

#[tokio::test]
async fn destinations_that_reach_inside_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = strict_daemon_with_one_endpoint(dir.path()).await;
    for url in [
        "https://user:pass@example.com/hooks",
        "https://user@example.com/hooks",
        "ftp://example.com/hooks",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://example.com/",
        "http://example.com/hooks",
        "https://[::1]/hooks",
        "https://[fd00::1]/hooks",
        "https://[fe80::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://2130706433/hooks",
        "https://0x7f000001/hooks",
        "https://0177.0.0.1/hooks",
        "https://127.1/hooks",
        "https://localhost/hooks",
        "https://api.localhost/hooks",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hooks",
        "https://0.0.0.0/hooks",
        "https://[::]/hooks",
        "https:///hooks",
        "not a url",
    ] {
        let reply = daemon.post(ENDPOINTS, &json!({ "url": url })).await;
        assert_eq!(reply.status, 422, "{url}: {}", reply.text());
        assert!(
            reply.message().starts_with("url"),
            "{url}: {}",
            reply.message()
        );
    }
    let cases = [
        (
            json!({"url": "https://e.com/", "headers": {"x-a": "1\r\nx-injected: 2"}}),
            "headers.x-a",
        ),
        (
            json!({"url": "https://e.com/", "headers": {"x-a": "tab\there"}}),
            "headers.x-a",
        ),
        (
            json!({"url": "https://e.com/", "headers": {"webhook-signature": "forged"}}),
            "headers.webhook-signature",
        ),
        (
            json!({"url": "https://e.com/", "headers": {"Host": "internal"}}),
            "headers.Host",
        ),
        (
            json!({"url": "https://e.com/", "headers": {"transfer-encoding": "chunked"}}),
            "headers.transfer-encoding",
        ),
        (
            json!({"url": "https://e.com/", "headers": {"bad name": "v"}}),
            "headers.bad name",
        ),
        (
            json!({"url": "https://e.com/", "event_types": ["order\r\n.*"]}),
            "event_types",
        ),
        (
            json!({"url": "https://e.com/", "secret": "whsec_short"}),
            "secret",
        ),
        (
            json!({"url": "https://e.com/", "signature_scheme": "md5"}),
            "signature_scheme",
        ),
        (
            json!({"url": "https://e.com/", "max_in_flight": -1}),
            "max_in_flight",
        ),
        (
            json!({"url": "https://e.com/", "timeout_ms": 3_600_000}),
            "timeout_ms",
        ),
    ];
    assert_invalid(&daemon, ENDPOINTS, cases.to_vec()).await;
    assert_unchanged(&daemon).await;
}

#[tokio::test]
async fn wrong_missing_and_partial_tokens_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = strict_daemon_with_one_endpoint(dir.path()).await;
    let token = common::TOKEN;
    let partial = &token[..token.len() - 1];
    let longer = format!("{token}x");
    for candidate in [
        None,
        Some(""),
        Some("wrong"),
        Some(partial),
        Some(longer.as_str()),
    ] {
        let call = Call::new(Method::POST, EVENTS)
            .token(candidate)
            .json(&json!({"type": "a.b", "data": {}}));
        let (status, text) = status_of(&daemon, call).await;
        assert_eq!(status, 401, "{candidate:?}: {text}");
        assert!(!text.contains(token), "the token leaked into an error");
    }
    // Path values that try to smuggle: tenants with CR/LF or traversal.
    for path in [
        "/v1/tenants/ac%0d%0ame/events",
        "/v1/tenants/..%2f..%2fetc/events",
        "/v1/tenants/%00/events",
    ] {
        let reply = daemon.get(path).await;
        assert!(
            matches!(reply.status, 404 | 422),
            "{path}: {}",
            reply.text()
        );
    }
    assert_unchanged(&daemon).await;
}

//! The management API's contract (http-api.md), against the real `heraldd` binary:
//! status codes, error codes and their check order, secrets, idempotency, metrics,
//! configuration errors and signals.
#![allow(clippy::unwrap_used)]

mod common;

use common::{eventually, Call, Daemon, Options, WAIT};
use herald_testkit::receiver::Receiver;
use http::Method;
use serde_json::json;

const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";
const EVENTS: &str = "/v1/tenants/acme/events";

async fn create_endpoint(daemon: &Daemon, url: &str) -> serde_json::Value {
    let reply = daemon.post(ENDPOINTS, &json!({ "url": url })).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json
}

/// http-api.md "Conventions": every `/v1` route needs the bearer token; the
/// operations routes do not.
#[tokio::test]
async fn v1_routes_need_the_token_and_operations_routes_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    for token in [None, Some("wrong-token"), Some("")] {
        let reply = daemon
            .send(Call::new(Method::GET, ENDPOINTS).token(token))
            .await;
        assert_eq!(reply.status, 401, "token {token:?}");
        assert_eq!(reply.code(), "unauthorized");
    }
    assert_eq!(daemon.get(ENDPOINTS).await.status, 200);

    let health = daemon
        .send(Call::new(Method::GET, "/healthz").token(None))
        .await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json, json!({"status": "ok"}));
    let ready = daemon
        .send(Call::new(Method::GET, "/readyz").token(None))
        .await;
    assert_eq!(ready.status, 200);
    let metrics = daemon
        .send(Call::new(Method::GET, "/metrics").token(None))
        .await;
    assert_eq!(metrics.status, 200);
}

/// http-api.md "Conventions": checks run in the order 401; 413, 415, 400; 422. Each
/// request below also carries the faults of every later check (a bad tenant, a
/// malformed body), so only the right order gives the expected answer.
#[tokio::test]
async fn checks_run_in_the_documented_order() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default().config("[delivery]\nmax_payload_bytes = 1024\n"),
    )
    .await;
    let bad_tenant = "/v1/tenants/not.valid/endpoints";

    // The token is checked before the body is read at all. (A body past the limit is
    // not used here: refused unread, it would make the server's close a reset.)
    let reply = daemon
        .send(
            Call::new(Method::POST, bad_tenant)
                .token(None)
                .raw("text/plain", "{\"url\":"),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (401, "unauthorized"));

    // One byte past max_payload_bytes + the 64 KiB margin: refused from its declared
    // length before it is read, and the connection closed (after the rest is read and
    // dropped), so it goes on a connection of its own.
    let mut huge = b"{\"url\":".to_vec();
    huge.resize(1024 + 64 * 1024 + 1, b' ');
    let reply = daemon
        .try_send_alone(Call::new(Method::POST, bad_tenant).raw("text/plain", huge))
        .await
        .expect("the answer arrives before the close");
    assert_eq!((reply.status, reply.code()), (413, "payload_too_large"));

    let reply = daemon
        .send(Call::new(Method::POST, bad_tenant).raw("text/plain", "{\"url\":"))
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (415, "unsupported_media_type")
    );

    let reply = daemon
        .send(Call::new(Method::POST, bad_tenant).raw("application/json", "{\"url\":"))
        .await;
    assert_eq!((reply.status, reply.code()), (400, "bad_request"));

    let reply = daemon
        .send(Call::new(Method::POST, bad_tenant).raw("application/json", ""))
        .await;
    assert_eq!((reply.status, reply.code()), (400, "bad_request"));

    let reply = daemon
        .post(bad_tenant, &json!({"url": "http://127.0.0.1:9/"}))
        .await;
    assert_eq!((reply.status, reply.code()), (422, "invalid"));
    assert!(reply.message().contains("tenant"), "{}", reply.message());
}

/// http-api.md "Conventions": 422 `invalid` names the field, for body, path and query
/// values alike.
#[tokio::test]
async fn invalid_values_are_422_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let endpoint = create_endpoint(&daemon, "http://127.0.0.1:9/hooks").await;
    let id = endpoint["id"].as_str().unwrap();

    let cases = [
        (
            daemon
                .post(ENDPOINTS, &json!({"url": "http://127.0.0.1:9/", "colour": "red"}))
                .await,
            "colour",
        ),
        (daemon.post(ENDPOINTS, &json!({"url": 5})).await, "url"),
        (daemon.post(ENDPOINTS, &json!({"description": "x"})).await, "url"),
        (
            daemon.post(ENDPOINTS, &json!({"url": "not a url"})).await,
            "url",
        ),
        (
            daemon
                .post(
                    ENDPOINTS,
                    &json!({"url": "http://127.0.0.1:9/", "event_types": [7]}),
                )
                .await,
            "event_types",
        ),
        (
            daemon
                .post(
                    "/v1/tenants/this-tenant-name-is-far-too-long-to-be-accepted-by-herald-at-all-really/endpoints",
                    &json!({"url": "http://127.0.0.1:9/"}),
                )
                .await,
            "tenant",
        ),
        (daemon.get(&format!("{ENDPOINTS}?limit=abc")).await, "limit"),
        (daemon.get(&format!("{ENDPOINTS}?cursor=garbage")).await, "cursor"),
        (daemon.get(&format!("{EVENTS}?cursor=garbage")).await, "cursor"),
        (
            daemon
                .get(&format!("{ENDPOINTS}/{id}/attempts?cursor=garbage"))
                .await,
            "cursor",
        ),
        (
            daemon
                .get(&format!("{ENDPOINTS}/{id}/dead-letters?cursor=garbage"))
                .await,
            "cursor",
        ),
        (
            daemon
                .get(&format!("{ENDPOINTS}/{id}/attempts?outcome=maybe"))
                .await,
            "outcome",
        ),
        (daemon.get(&format!("{EVENTS}?since=yesterday")).await, "since"),
        (daemon.get(&format!("{ENDPOINTS}/ep_nonsense")).await, "id"),
        (
            daemon
                .post(EVENTS, &json!({"type": "order.filled", "data": {}, "extra": 1}))
                .await,
            "extra",
        ),
        (
            daemon
                .post(EVENTS, &json!({"type": "bad type!", "data": {}}))
                .await,
            "type",
        ),
        (
            daemon
                .call(
                    Method::PATCH,
                    &format!("{ENDPOINTS}/{id}"),
                    &json!({"max_in_flight": "many"}),
                )
                .await,
            "max_in_flight",
        ),
    ];
    for (reply, field) in cases {
        assert_eq!(reply.status, 422, "{field}: {}", reply.text());
        assert_eq!(reply.code(), "invalid");
        assert!(
            reply.message().contains(field),
            "the message should name `{field}`: {}",
            reply.message()
        );
    }
    let clamped = daemon.get(&format!("{ENDPOINTS}?limit=100000")).await;
    assert_eq!(clamped.status, 200);
}

/// delivery.md §6: with the default (strict) destination policy, http URLs and
/// private addresses are refused at creation, naming `url`.
#[tokio::test]
async fn blocked_destinations_are_422_with_a_strict_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        permissive: false,
        ..Options::default()
    };
    let daemon = Daemon::start(dir.path(), options).await;
    for url in [
        "https://127.0.0.1/hooks",
        "https://10.1.2.3/hooks",
        "https://169.254.169.254/latest",
        "https://localhost/hooks",
        "http://example.com/hooks",
    ] {
        let reply = daemon.post(ENDPOINTS, &json!({ "url": url })).await;
        assert_eq!(reply.status, 422, "{url}: {}", reply.text());
        assert!(reply.message().starts_with("url"), "{}", reply.message());
    }
    let allowed = daemon
        .post(ENDPOINTS, &json!({"url": "https://example.com/hooks"}))
        .await;
    assert_eq!(allowed.status, 201, "{}", allowed.text());
}

/// http-api.md: unknown resources are 404; requests that clash with the state are 409;
/// DELETE is 204.
#[tokio::test]
async fn unknown_resources_are_404_and_conflicts_are_409() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let unknown_endpoint = herald::EndpointId::generate();
    let unknown_delivery = herald::DeliveryId::generate();
    for reply in [
        daemon.get(&format!("{ENDPOINTS}/{unknown_endpoint}")).await,
        daemon
            .get(&format!("{ENDPOINTS}/{unknown_endpoint}/attempts"))
            .await,
        daemon.get(&format!("{EVENTS}/evt_unknown")).await,
        daemon
            .get(&format!("{EVENTS}/evt_unknown/deliveries"))
            .await,
        daemon
            .post(
                &format!("/v1/tenants/acme/deliveries/{unknown_delivery}/retry"),
                &json!({}),
            )
            .await,
        daemon.get("/v1/no/such/route").await,
    ] {
        assert_eq!(reply.status, 404, "{}", reply.text());
        assert_eq!(reply.code(), "not_found");
    }

    let endpoint = create_endpoint(&daemon, "http://127.0.0.1:9/hooks").await;
    let path = format!("{ENDPOINTS}/{}", endpoint["id"].as_str().unwrap());
    // Another tenant does not see it.
    let other = daemon
        .get(&format!(
            "/v1/tenants/other/endpoints/{}",
            endpoint["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(other.status, 404);

    let disabled = daemon
        .call(Method::PATCH, &path, &json!({"active": false}))
        .await;
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.json["active"], false);
    assert_eq!(disabled.json["disabled_reason"], "manual");
    let test = daemon
        .send(Call::new(Method::POST, &format!("{path}/test")))
        .await;
    assert_eq!((test.status, test.code()), (409, "conflict"));
    let replay = daemon
        .send(Call::new(
            Method::POST,
            &format!("{path}/dead-letters/replay"),
        ))
        .await;
    assert_eq!((replay.status, replay.code()), (409, "conflict"));

    let deleted = daemon.send(Call::new(Method::DELETE, &path)).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    let again = daemon.send(Call::new(Method::DELETE, &path)).await;
    assert_eq!((again.status, again.code()), (404, "not_found"));
}

/// http-api.md "Endpoints": the secret is shown at creation and rotation only; it is
/// never in a list, a get, or the daemon's logs (nor is the API token).
#[tokio::test]
async fn secrets_are_shown_only_at_creation_and_rotation() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default()
            .config(common::SHORT_SCHEDULE)
            .env("RUST_LOG", "debug"),
    )
    .await;
    let created = create_endpoint(&daemon, &receiver.url("/hooks")).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let path = format!("{ENDPOINTS}/{}", created["id"].as_str().unwrap());

    let rotated = daemon
        .send(Call::new(Method::POST, &format!("{path}/rotate-secret")))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let new_secret = rotated.json["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated.json["previous_valid_until"].is_string());

    let published = daemon
        .post(EVENTS, &json!({"type": "order.filled", "data": {"n": 1}}))
        .await;
    assert_eq!(published.status, 202);
    assert!(receiver.wait_for(1, WAIT).await);

    for reply in [daemon.get(&path).await, daemon.get(ENDPOINTS).await] {
        assert_eq!(reply.status, 200);
        let text = reply.text();
        assert!(!text.contains("\"secret\""), "{text}");
        assert!(!text.contains(&secret) && !text.contains(&new_secret));
    }
    let logs = daemon.stderr();
    assert!(logs.contains("DEBUG"), "debug logging should be on");
    for hidden in [secret.as_str(), new_secret.as_str(), common::TOKEN] {
        assert!(!logs.contains(hidden), "stderr leaks a secret");
    }
}

/// http-api.md "Conventions": 413 for a body past the limit, and for `data` past
/// `[delivery].max_payload_bytes` (checked by the engine).
#[tokio::test]
async fn payloads_over_the_limit_are_413() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default().config("[delivery]\nmax_payload_bytes = 1024\n"),
    )
    .await;
    let small = daemon
        .post(EVENTS, &json!({"type": "a.b", "data": "x".repeat(900)}))
        .await;
    assert_eq!(small.status, 202, "{}", small.text());
    let over_data_limit = daemon
        .post(EVENTS, &json!({"type": "a.b", "data": "x".repeat(2000)}))
        .await;
    assert_eq!(
        (over_data_limit.status, over_data_limit.code()),
        (413, "payload_too_large")
    );
    let over_body_limit = daemon
        .post(
            EVENTS,
            // `{"type":"a.b","data":"..."}`: 24 bytes around the string, so the body is
            // one byte past max_payload_bytes + the 64 KiB margin.
            &json!({"type": "a.b", "data": "x".repeat(1024 + 64 * 1024 + 1 - 24)}),
        )
        .await;
    assert_eq!(
        (over_body_limit.status, over_body_limit.code()),
        (413, "payload_too_large")
    );
}

/// http-api.md "Operations": the counters move with deliveries; `metrics_token`
/// protects `/metrics`.
#[tokio::test]
async fn metrics_count_deliveries_behind_the_metrics_token() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default().env("HERALD_METRICS_TOKEN", "metrics-token"),
    )
    .await;
    let refused = daemon
        .send(Call::new(Method::GET, "/metrics").token(None))
        .await;
    assert_eq!(refused.status, 401);
    let refused = daemon.get("/metrics").await;
    assert_eq!(
        refused.status, 401,
        "the API token is not the metrics token"
    );

    create_endpoint(&daemon, &receiver.url("/hooks")).await;
    for n in 0..3 {
        let reply = daemon
            .post(EVENTS, &json!({"type": "order.filled", "data": {"n": n}}))
            .await;
        assert_eq!(reply.status, 202);
    }
    assert!(receiver.wait_for(3, WAIT).await);
    let text = eventually("the success counter to reach 3", || async {
        let reply = daemon
            .send(Call::new(Method::GET, "/metrics").token(Some("metrics-token")))
            .await;
        assert_eq!(reply.status, 200);
        let text = reply.text();
        text.contains("herald_deliveries_succeeded_total 3")
            .then_some(text)
    })
    .await;
    assert!(text.contains("herald_events_published_total 3"), "{text}");
    assert!(
        text.contains("herald_attempts_total{outcome=\"success\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("herald_attempt_duration_seconds_bucket{le=\"0.005\"}"),
        "{text}"
    );
}

/// http-api.md "Configuration": unknown keys and invalid values fail at start with a
/// message naming the key.
#[tokio::test]
async fn an_invalid_configuration_fails_at_start_naming_the_key() {
    let cases = [
        (
            Options::default().config("[delivery]\ntimeout = \"10 parsecs\"\n"),
            "delivery.timeout",
        ),
        (
            Options::default().config("listne = \"127.0.0.1:1\"\n"),
            "listne",
        ),
        (
            Options::default().config("[delivery]\nmax_in_flight = -3\n"),
            "delivery.max_in_flight",
        ),
        (
            Options::default().env("HERALD_SHUTDOWN_GRACE", "soon"),
            "shutdown_grace",
        ),
        (
            Options::default().env("HERALD_ALLOW_HTTP", "perhaps"),
            "allow_http",
        ),
    ];
    for (options, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (status, stderr) = Daemon::start_failing(dir.path(), options).await;
        assert!(!status.success(), "{key}: should fail");
        assert!(stderr.contains(key), "stderr should name `{key}`: {stderr}");
    }
}

/// http-api.md "Operations": one line on stdout, and SIGTERM exits 0.
#[tokio::test]
async fn sigterm_exits_zero_after_one_stdout_line() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    assert_eq!(daemon.get("/healthz").await.status, 200);
    assert_eq!(daemon.stdout_lines().len(), 1);
    let status = daemon.terminate().await;
    assert!(status.success(), "{status:?}");
}

/// http-api.md "Conventions": without a configured token, one is generated on first
/// start, kept with mode 0600, printed once on stderr and reused later.
#[tokio::test]
async fn a_generated_token_is_kept_printed_once_and_reused() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        token: false,
        ..Options::default()
    };
    let first = Daemon::start(dir.path(), options.clone()).await;
    let file = first.data_dir.join("api-token");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(token.len() >= 32);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(first.stderr().contains(&token));
    let reply = first
        .send(Call::new(Method::GET, ENDPOINTS).token(Some(&token)))
        .await;
    assert_eq!(reply.status, 200);
    assert!(first.terminate().await.success());

    let second = Daemon::start(dir.path(), options).await;
    let reply = second
        .send(Call::new(Method::GET, ENDPOINTS).token(Some(&token)))
        .await;
    assert_eq!(reply.status, 200);
    assert!(!second.stderr().contains(&token), "printed only once");
}

/// http-api.md "Attempts": the delivery log filters by outcome, event type and start
/// time, pages through the filtered list, and refuses a bad time naming it.
#[tokio::test]
async fn attempts_filter_by_type_and_time() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let id = create_endpoint(&daemon, &receiver.url("/hook")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = std::time::SystemTime::now();
    for kind in [
        "order.filled",
        "position.closed",
        "order.filled",
        "position.closed",
        "order.filled",
    ] {
        let reply = daemon
            .post(EVENTS, &json!({"type": kind, "data": {}}))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    let log = format!("{ENDPOINTS}/{id}/attempts");
    eventually("five attempts", || {
        let daemon = &daemon;
        let log = log.clone();
        async move {
            let page = daemon.get(&format!("{log}?limit=10")).await;
            (page.json["data"].as_array().unwrap().len() == 5).then_some(())
        }
    })
    .await;

    let orders = daemon.get(&format!("{log}?type=order.filled")).await;
    let items = orders.json["data"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{}", orders.text());
    assert!(items.iter().all(|a| a["event_type"] == "order.filled"));

    // Paged one at a time, the filtered list is the same two attempts.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut path = format!("{log}?type=position.closed&limit=1");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = daemon.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.text());
        for item in page.json["data"].as_array().unwrap() {
            assert_eq!(item["event_type"], "position.closed");
            seen.push(item["id"].clone());
        }
        cursor = page.json["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(cursor.is_none());

    let stamp = |t: std::time::SystemTime| herald::Timestamp::from_system(t).to_rfc3339();
    let since_start = daemon
        .get(&format!(
            "{log}?since={}",
            stamp(started - std::time::Duration::from_secs(1))
        ))
        .await;
    assert_eq!(since_start.json["data"].as_array().unwrap().len(), 5);
    let future = stamp(std::time::SystemTime::now() + std::time::Duration::from_secs(3600));
    let none = daemon.get(&format!("{log}?since={future}")).await;
    assert_eq!(none.json["data"], json!([]));
    assert_eq!(none.json["next_cursor"], serde_json::Value::Null);
    let past = stamp(started - std::time::Duration::from_secs(3600));
    let nothing_before = daemon.get(&format!("{log}?until={past}")).await;
    assert_eq!(nothing_before.json["data"], json!([]));
    let all_until_now = daemon
        .get(&format!("{log}?until={future}&type=order.filled"))
        .await;
    assert_eq!(all_until_now.json["data"].as_array().unwrap().len(), 3);
    let failures = daemon
        .get(&format!("{log}?type=order.filled&outcome=failure"))
        .await;
    assert_eq!(failures.json["data"], json!([]));
    for bad in ["since=yesterday", "until=soon"] {
        let reply = daemon.get(&format!("{log}?{bad}")).await;
        assert_eq!(reply.status, 422, "{bad}");
        assert!(
            reply.message().contains(bad.split('=').next().unwrap()),
            "{}",
            reply.text()
        );
    }
}

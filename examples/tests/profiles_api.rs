//! Delivery profiles through the real `heraldd` (profiles.md §1–3): `GET /v1/profiles`,
//! the `profile` field of endpoints and its refusals, the configurations that stop
//! the start, signatures during a rotation, and test events, replays and retries in
//! the endpoint's profile.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{eventually, Call, Daemon, Options, WAIT};
use herald::profile::{verify_request, Profile, Profiles};
use herald_examples::config::{DaemonConfig, Overrides};
use herald_testkit::receiver::{Mode, Receiver, RecordedRequest};
use http::{HeaderValue, Method};
use serde_json::{json, Value};

const PROFILES: &str = include_str!("../profiles.toml");
const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";
const EVENTS: &str = "/v1/tenants/acme/events";
/// A receiver's tolerance for signing timestamps (Standard Webhooks' and Quub's).
const TOLERANCE: Duration = Duration::from_secs(300);

/// The profiles of examples/profiles.toml as heraldd reads them, so a test checks
/// requests with the same `Profile` values the daemon signs with.
fn configured() -> Profiles {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profiles.toml");
    std::fs::write(&path, PROFILES).unwrap();
    let flags = Overrides {
        config: Some(path),
        ..Overrides::default()
    };
    let config = DaemonConfig::load(&flags, std::iter::empty()).unwrap();
    Profiles::new(config.engine.profiles).unwrap()
}

fn profile(name: &str) -> Profile {
    Profile::clone(configured().get(name).unwrap())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Checks `request` as a receiver holding `secret` would, for `profile`.
fn verifies(profile: &Profile, request: &RecordedRequest, secret: &str) -> bool {
    verify_request(
        profile,
        &request.headers,
        &request.body,
        secret,
        now_secs(),
        TOLERANCE,
    )
    .is_ok()
}

async fn start(dir: &tempfile::TempDir) -> Daemon {
    Daemon::start(dir.path(), Options::default().config(PROFILES)).await
}

/// The endpoint at `path` and the tenant's endpoint count, to show a refusal
/// changed nothing.
async fn snapshot(daemon: &Daemon, path: &str) -> (Value, usize) {
    let endpoint = daemon.get(path).await;
    assert_eq!(endpoint.status, 200, "{}", endpoint.text());
    let list = daemon.get(ENDPOINTS).await;
    (endpoint.json, list.json["data"].as_array().unwrap().len())
}

/// profiles.md §3: every profile, the built-ins first, then the configured ones, each
/// with all its fields.
#[tokio::test]
async fn the_profile_list_shows_the_built_ins_then_the_configured_ones_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir).await;
    let reply = daemon.get("/v1/profiles").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.json["next_cursor"].is_null());
    let listed = reply.json["data"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names[..3], ["standard", "hex", "timestamped"]);
    let mut configured = names[3..].to_vec();
    configured.sort_unstable();
    assert_eq!(
        configured,
        ["perps", "quub", "quub-python", "vectrade", "vibe"]
    );
    let by_name = |name: &str| listed.iter().find(|p| p["name"] == name).unwrap().clone();

    let standard_envelope = json!([
        "id=event_id",
        "type=event_type",
        "created_at=time:rfc3339_ms",
        "data=data"
    ]);
    let builtin_headers = |signature: &str| {
        json!({
            "event_id": "webhook-id",
            "timestamp": "webhook-timestamp",
            "signature": signature,
            "event_type": "x-event-type",
            "delivery_id": "x-delivery-id",
            "attempt": "x-delivery-attempt",
        })
    };
    let no_delivery = json!({"disable_on_dead": false});
    assert_eq!(
        by_name("standard"),
        json!({
            "name": "standard",
            "builtin": true,
            "description": "Standard Webhooks (the default)",
            "envelope": standard_envelope,
            "headers": builtin_headers("webhook-signature"),
            "signature": "standard",
            "key": "whsec",
            "json": "raw",
            "title_case_headers": false,
            "delivery": no_delivery,
        })
    );
    assert_eq!(
        by_name("hex"),
        json!({
            "name": "hex",
            "builtin": true,
            "description": "x-webhook-signature: hex HMAC of the body, keyed by the whole secret",
            "envelope": standard_envelope,
            "headers": builtin_headers("x-webhook-signature"),
            "signature": "hex",
            "key": "text",
            "json": "raw",
            "title_case_headers": false,
            "delivery": no_delivery,
        })
    );
    assert_eq!(
        by_name("timestamped"),
        json!({
            "name": "timestamped",
            "builtin": true,
            "description": "x-webhook-signature: t=<ts>,v1=<hex HMAC of \"ts.body\">, keyed by the whole secret",
            "envelope": standard_envelope,
            "headers": builtin_headers("x-webhook-signature"),
            "signature": "timestamped",
            "key": "text",
            "json": "raw",
            "title_case_headers": false,
            "delivery": no_delivery,
        })
    );
    assert_eq!(
        by_name("perps"),
        json!({
            "name": "perps",
            "builtin": false,
            "description": "PerpsTracker: hex HMAC of the body as JavaScript writes it",
            "envelope": ["id=event_id", "type=event_type", "created=time:unix", "data=data"],
            "headers": {
                "signature": "X-Webhook-Signature",
                "endpoint_id": "X-Webhook-ID",
                "event_type": "X-Event-Type",
                "delivery_id": "X-Delivery-ID",
            },
            "signature": "hex",
            "key": "text",
            "json": "js",
            "title_case_headers": true,
            "delivery": {
                "retry_schedule_secs": [30, 60],
                "timeout_ms": 10000,
                "disable_after_failures": 20,
                "disable_on_dead": false,
            },
        })
    );
    assert_eq!(
        by_name("vibe"),
        json!({
            "name": "vibe",
            "builtin": false,
            "description": "Vibe Trading: hex HMAC of the raw body, keyed by the customer's secret",
            "envelope": ["event=event_type", "timestamp=time:rfc3339", "data=data"],
            "headers": {"signature": "X-Webhook-Signature"},
            "signature": "hex",
            "key": "text",
            "json": "raw",
            "title_case_headers": true,
            "delivery": {
                "retry_schedule_secs": [60, 120, 240, 480, 960],
                "timeout_ms": 30000,
                "disable_on_dead": false,
            },
        })
    );
    assert_eq!(
        by_name("vectrade"),
        json!({
            "name": "vectrade",
            "builtin": false,
            "description": "VecTrade: hex HMAC of \"timestamp.body\", the delivery id for deduplication",
            "envelope": ["id=event_id", "type=event_type", "created_at=time:rfc3339", "data=data"],
            "headers": {
                "signature": "X-VQ-Signature",
                "timestamp": "X-VQ-Timestamp",
                "delivery_id": "X-VQ-Webhook-Id",
            },
            "signature": "hex_timestamp",
            "key": "text",
            "json": "raw",
            "title_case_headers": true,
            "delivery": {
                "retry_schedule_secs": [30, 300, 1800],
                "timeout_ms": 5000,
                "disable_on_dead": false,
            },
        })
    );
    let quub_envelope = json!([
        "eventId=event_id",
        "eventType=event_type",
        "timestamp=time:rfc3339",
        "orgId=tenant",
        "data=data"
    ]);
    let quub_delivery = json!({
        "retry_schedule_secs": [1, 60, 1800, 14400, 72000],
        "disable_on_dead": true,
    });
    assert_eq!(
        by_name("quub"),
        json!({
            "name": "quub",
            "builtin": false,
            "description": "Quub: t=,v1= over the payload as JavaScript writes it; disabled when a delivery dies",
            "envelope": quub_envelope,
            "headers": {"signature": "X-Quub-Signature"},
            "signature": "stripe",
            "key": "text",
            "json": "js",
            "title_case_headers": true,
            "delivery": quub_delivery,
        })
    );
    assert_eq!(
        by_name("quub-python"),
        json!({
            "name": "quub-python",
            "builtin": false,
            "description": "Quub, for receivers that verify the payload as Python writes it",
            "envelope": quub_envelope,
            "headers": {"signature": "X-Quub-Signature"},
            "signature": "stripe",
            "key": "text",
            "json": "python",
            "title_case_headers": true,
            "delivery": quub_delivery,
        })
    );
}

/// profiles.md §2–3: an endpoint names its profile (or a built-in by
/// `signature_scheme`), and shows it.
#[tokio::test]
async fn an_endpoint_shows_the_profile_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir).await;
    let perps = daemon
        .post(
            ENDPOINTS,
            &json!({"url": "http://127.0.0.1:9/perps", "profile": "perps"}),
        )
        .await;
    assert_eq!(perps.status, 201, "{}", perps.text());
    assert_eq!(perps.json["profile"], "perps");
    assert!(perps.json["signature_scheme"].is_null());
    assert!(perps.json["secret"].as_str().unwrap().starts_with("whsec_"));
    let got = daemon
        .get(&format!(
            "{ENDPOINTS}/{}",
            perps.json["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got.json["profile"], "perps");
    assert!(got.json["signature_scheme"].is_null());

    let hex = daemon
        .post(
            ENDPOINTS,
            &json!({"url": "http://127.0.0.1:9/hex", "signature_scheme": "hex"}),
        )
        .await;
    assert_eq!(hex.status, 201, "{}", hex.text());
    assert_eq!(hex.json["profile"], "hex");
    assert_eq!(hex.json["signature_scheme"], "hex");

    let default = daemon
        .post(ENDPOINTS, &json!({"url": "http://127.0.0.1:9/default"}))
        .await;
    assert_eq!(default.json["profile"], "standard");
    assert_eq!(default.json["signature_scheme"], "standard");

    let chosen = daemon
        .post(
            ENDPOINTS,
            &json!({"url": "http://127.0.0.1:9/vibe", "profile": "vibe", "secret": "a-customer-chosen-secret"}),
        )
        .await;
    assert_eq!(chosen.status, 201, "{}", chosen.text());
    assert_eq!(chosen.json["secret"], "a-customer-chosen-secret");

    // PATCH moves an endpoint to another profile whose key its secret fits.
    let path = format!("{ENDPOINTS}/{}", default.json["id"].as_str().unwrap());
    let moved = daemon
        .call(Method::PATCH, &path, &json!({"profile": "quub"}))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(moved.json["profile"], "quub");
    assert!(moved.json["signature_scheme"].is_null());
}

/// profiles.md §2–3: the refusals of the `profile` field, each 422 naming the field,
/// each leaving everything as it was.
#[tokio::test]
async fn profile_refusals_name_the_field_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir).await;
    let url = "http://127.0.0.1:9/hooks";
    let text = daemon
        .post(
            ENDPOINTS,
            &json!({"url": url, "profile": "vibe", "secret": "a-customer-chosen-secret"}),
        )
        .await;
    assert_eq!(text.status, 201, "{}", text.text());
    let text_path = format!("{ENDPOINTS}/{}", text.json["id"].as_str().unwrap());
    let standard = daemon
        .post(
            ENDPOINTS,
            &json!({"url": url, "headers": {"X-Webhook-ID": "team-7"}}),
        )
        .await;
    assert_eq!(standard.status, 201, "{}", standard.text());
    let standard_path = format!("{ENDPOINTS}/{}", standard.json["id"].as_str().unwrap());
    let before_text = snapshot(&daemon, &text_path).await;
    let before_standard = snapshot(&daemon, &standard_path).await;

    let creations = [
        (
            json!({"url": url, "profile": "perps", "signature_scheme": "hex"}),
            "profile",
        ),
        (json!({"url": url, "profile": "nope"}), "profile"),
        (
            json!({"url": url, "profile": "perps", "secret": "short"}),
            "secret",
        ),
        (
            json!({"url": url, "profile": "standard", "secret": "a-customer-chosen-secret"}),
            "secret",
        ),
        (
            json!({"url": url, "profile": "perps", "headers": {"x-webhook-signature": "forged"}}),
            "headers.x-webhook-signature",
        ),
        (
            json!({"url": url, "profile": "perps", "headers": {"X-Webhook-ID": "forged"}}),
            "headers.x-webhook-id",
        ),
        (
            json!({"url": url, "profile": "quub", "headers": {"x-quub-signature": "forged"}}),
            "headers.x-quub-signature",
        ),
    ];
    // Header names are case-insensitive: the message may name one as it was given.
    for (input, field) in creations {
        let reply = daemon.post(ENDPOINTS, &input).await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "invalid"),
            "{input}: {}",
            reply.text()
        );
        assert!(
            reply
                .message()
                .to_ascii_lowercase()
                .starts_with(&format!("{field}:")),
            "{input}: the message should name `{field}`: {}",
            reply.message()
        );
    }

    let patches = [
        (&text_path, json!({"profile": "nope"}), "profile"),
        (&text_path, json!({"profile": "standard"}), "profile"),
        (
            &text_path,
            json!({"signature_scheme": "standard"}),
            "signature_scheme",
        ),
        (
            &text_path,
            json!({"profile": "perps", "signature_scheme": "hex"}),
            "profile",
        ),
        (
            &text_path,
            json!({"headers": {"X-Webhook-Signature": "forged"}}),
            "headers.x-webhook-signature",
        ),
        // The standard endpoint's own header would collide with perps' X-Webhook-ID.
        (
            &standard_path,
            json!({"profile": "perps"}),
            "headers.x-webhook-id",
        ),
    ];
    for (path, patch, field) in patches {
        let reply = daemon.call(Method::PATCH, path, &patch).await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "invalid"),
            "{patch}: {}",
            reply.text()
        );
        assert!(
            reply
                .message()
                .to_ascii_lowercase()
                .starts_with(&format!("{field}:")),
            "{patch}: the message should name `{field}`: {}",
            reply.message()
        );
    }

    assert_eq!(snapshot(&daemon, &text_path).await, before_text);
    assert_eq!(snapshot(&daemon, &standard_path).await, before_standard);
    assert_eq!(before_text.1, 2, "no endpoint was added by a refusal");
}

/// One `[profiles.NAME]` table: its envelope, signature, key and `extra` lines, then
/// its headers.
fn profile_table(
    name: &str,
    envelope: &str,
    signature: &str,
    key: &str,
    extra: &str,
    headers: &str,
) -> String {
    format!(
        "[profiles.{name}]\nenvelope = {envelope}\nsignature = \"{signature}\"\nkey = \"{key}\"\n{extra}\n[profiles.{name}.headers]\n{headers}\n"
    )
}

/// profiles.md §1: a profile that breaks a rule stops the start with a message naming
/// the profile and the key.
#[tokio::test]
async fn a_bad_profile_stops_the_start_naming_the_profile_and_key() {
    let fields = r#"["id=event_id", "data=data"]"#;
    let sig = r#"signature = "X-Sig""#;
    let table = |envelope: &str, signature: &str, key: &str, extra: &str, headers: &str| {
        profile_table("p", envelope, signature, key, extra, headers)
    };
    // (configuration, the key the message names, a detail it gives)
    let cases = [
        (
            table(r#"["id=nope", "data=data"]"#, "hex", "text", "", sig),
            "profiles.p.envelope",
            "nope",
        ),
        (
            table(
                r#"["id=event_id", "type=event_type"]"#,
                "hex",
                "text",
                "",
                sig,
            ),
            "profiles.p.envelope",
            "data",
        ),
        (
            table(
                fields,
                "hex",
                "text",
                "",
                "signature = \"X-Sig\"\nevent_type = \"x-sig\"",
            ),
            "profiles.p.headers.",
            "X-Sig",
        ),
        (
            table(fields, "hex", "text", "", r#"signature = "Host""#),
            "profiles.p.headers.signature",
            "Host",
        ),
        (
            table(fields, "hex", "text", "", r#"signature = "Content-Length""#),
            "profiles.p.headers.signature",
            "Content-Length",
        ),
        (
            table(
                fields,
                "standard",
                "text",
                "",
                "signature = \"s\"\nevent_id = \"i\"\ntimestamp = \"t\"",
            ),
            "profiles.p.key",
            "whsec",
        ),
        (
            table(fields, "hex_timestamp", "text", "", sig),
            "profiles.p.headers.timestamp",
            "timestamp",
        ),
        (
            profile_table("standard", fields, "hex", "text", "", sig),
            "profiles.standard",
            "built-in",
        ),
        (
            table(fields, "hex", "text", "colour = \"red\"", sig),
            "profiles.p",
            "colour",
        ),
        (
            table(fields, "hex", "text", "", sig)
                + "\n[profiles.p.delivery]\nmax_payload_bytes = 1000\n",
            "profiles.p.delivery.max_payload_bytes",
            "[delivery]",
        ),
    ];
    for (config, key, detail) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (status, stderr) =
            Daemon::start_failing(dir.path(), Options::default().config(&config)).await;
        assert!(!status.success(), "{config}\nstarted: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(detail),
            "the message should name `{key}` and `{detail}`:\n{config}\n{stderr}"
        );
    }
}

/// profiles.md §1: during a rotation a `stripe` signature carries one `v1=` per valid
/// secret, newest first, so a receiver holding either verifies; `standard` carries
/// both in `webhook-signature`, as before.
#[tokio::test]
async fn a_rotation_signs_with_both_secrets_newest_first() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir).await;
    let quub = profile("quub");
    let standard = Profile::builtin("standard").unwrap();
    let mut secrets = Vec::new();
    for (path, name) in [("/quub", "quub"), ("/standard", "standard")] {
        let created = daemon
            .post(
                ENDPOINTS,
                &json!({"url": receiver.url(path), "profile": name}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let old = created.json["secret"].as_str().unwrap().to_owned();
        let rotated = daemon
            .send(Call::new(
                Method::POST,
                &format!(
                    "{ENDPOINTS}/{}/rotate-secret",
                    created.json["id"].as_str().unwrap()
                ),
            ))
            .await;
        assert_eq!(rotated.status, 200, "{}", rotated.text());
        let new = rotated.json["secret"].as_str().unwrap().to_owned();
        secrets.push((old, new));
    }
    let published = daemon
        .post(
            EVENTS,
            &json!({"type": "trade.settled", "data": {"price": 45000.0}}),
        )
        .await;
    assert_eq!(published.status, 202, "{}", published.text());
    assert!(receiver.wait_for(2, WAIT).await);

    let (old, new) = &secrets[0];
    let request = &receiver.requests_to("/quub")[0];
    assert!(verifies(&quub, request, old), "the old secret verifies");
    assert!(verifies(&quub, request, new), "the new secret verifies");
    assert!(!verifies(&quub, request, "a-secret-nobody-holds-at-all"));
    let header = request.header("x-quub-signature").unwrap();
    let parts: Vec<&str> = header.split(',').collect();
    assert_eq!(parts.len(), 3, "{header}");
    assert!(parts[0].starts_with("t="), "{header}");
    // Each `v1=` alone, checked with each secret: the first is the newest's.
    let alone = |v1: &str| {
        let mut one = request.clone();
        let value = format!("{},{v1}", parts[0]);
        one.headers
            .insert("x-quub-signature", HeaderValue::from_str(&value).unwrap());
        one
    };
    assert!(verifies(&quub, &alone(parts[1]), new));
    assert!(!verifies(&quub, &alone(parts[1]), old));
    assert!(verifies(&quub, &alone(parts[2]), old));

    let (old, new) = &secrets[1];
    let request = &receiver.requests_to("/standard")[0];
    let signatures = request.header("webhook-signature").unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(verifies(&standard, request, old));
    assert!(verifies(&standard, request, new));
    request.verify_standard(old).unwrap();
}

/// profiles.md §3: test events, replays and retries use the endpoint's profile.
#[tokio::test]
async fn test_events_replays_and_retries_arrive_in_the_endpoints_profile() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir).await;
    let perps = profile("perps");
    let created = daemon
        .post(
            ENDPOINTS,
            &json!({"url": receiver.url("/perps"), "profile": "perps"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json["id"].as_str().unwrap().to_owned();
    let secret = created.json["secret"].as_str().unwrap().to_owned();
    let endpoint = format!("{ENDPOINTS}/{id}");
    let in_perps_format = |request: &RecordedRequest, event_type: &str| {
        assert!(verifies(&perps, request, &secret), "{:?}", request.headers);
        assert_eq!(request.header("x-webhook-id"), Some(id.as_str()));
        assert_eq!(request.header("x-event-type"), Some(event_type));
        assert!(request.header("webhook-signature").is_none());
        assert!(request.header("webhook-id").is_none());
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(body["created"].is_u64());
        // The envelope's fields in the profile's order.
        let text = String::from_utf8(request.body.to_vec()).unwrap();
        let at = |field: &str| text.find(&format!("\"{field}\":")).unwrap();
        assert!(text.starts_with("{\"id\":\"evt_"), "{text}");
        assert!(
            at("type") < at("created") && at("created") < at("data"),
            "{text}"
        );
    };

    // A test event.
    let tested = daemon
        .post(
            &format!("{endpoint}/test"),
            &json!({"type": "webhook.ping", "data": {"price": 45000.0}}),
        )
        .await;
    assert_eq!(tested.status, 202, "{}", tested.text());
    assert!(receiver.wait_for(1, WAIT).await);
    let first = &receiver.requests()[0];
    in_perps_format(first, "webhook.ping");
    let text = String::from_utf8(first.body.to_vec()).unwrap();
    assert!(text.contains(r#""data":{"price":45000}"#), "{text}");

    // A delivery that fails, is dead-lettered by a disable, then replayed.
    receiver.set_mode("/perps", Mode::Status(500));
    let published = daemon
        .post(
            EVENTS,
            &json!({"type": "position.closed", "data": {"pnl": 1e2}}),
        )
        .await;
    assert_eq!(published.status, 202, "{}", published.text());
    let event_id = published.json["id"].as_str().unwrap().to_owned();
    assert!(receiver.wait_for(2, WAIT).await);
    let failed = receiver.requests()[1].clone();
    in_perps_format(&failed, "position.closed");
    eventually("the failed attempt to be logged", || async {
        let reply = daemon
            .get(&format!("{endpoint}/attempts?outcome=failure"))
            .await;
        (reply.json["data"][0]["status"] == 500).then_some(())
    })
    .await;
    let disabled = daemon
        .call(Method::PATCH, &endpoint, &json!({"active": false}))
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    eventually("the delivery to be dead-lettered", || async {
        let reply = daemon.get(&format!("{endpoint}/dead-letters")).await;
        (reply.json["data"][0]["event_id"] == event_id.as_str()).then_some(())
    })
    .await;
    daemon
        .call(Method::PATCH, &endpoint, &json!({"active": true}))
        .await;
    receiver.set_mode("/perps", Mode::Ok);
    let replayed = daemon
        .send(Call::new(
            Method::POST,
            &format!("{endpoint}/dead-letters/replay"),
        ))
        .await;
    assert_eq!(replayed.status, 202, "{}", replayed.text());
    assert!(receiver.wait_for(3, WAIT).await);
    let again = receiver.requests()[2].clone();
    in_perps_format(&again, "position.closed");
    assert_eq!(again.body, failed.body, "the body is byte-identical");
    assert_eq!(
        again.header("x-delivery-id"),
        failed.header("x-delivery-id")
    );

    // The same delivery retried by hand once it succeeded.
    let delivery = eventually("the replayed delivery to succeed", || async {
        let reply = daemon.get(&format!("{EVENTS}/{event_id}/deliveries")).await;
        let delivery = &reply.json["data"][0];
        (delivery["status"] == "succeeded").then(|| delivery["id"].as_str().unwrap().to_owned())
    })
    .await;
    assert_eq!(again.header("x-delivery-id"), Some(delivery.as_str()));
    let retried = daemon
        .send(Call::new(
            Method::POST,
            &format!("/v1/tenants/acme/deliveries/{delivery}/retry"),
        ))
        .await;
    assert_eq!(retried.status, 202, "{}", retried.text());
    assert!(receiver.wait_for(4, WAIT).await);
    let retry = &receiver.requests()[3];
    in_perps_format(retry, "position.closed");
    assert_eq!(retry.body, failed.body);
}

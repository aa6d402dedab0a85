//! The four trading platforms of profiles.md §4, end to end: a real `heraldd` started
//! with examples/profiles.toml delivers to each platform's own receiver, written as
//! the platform publishes it (tests/receivers/), which verifies and parses every
//! request and prints what it saw.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{Call, Daemon, Options, WAIT};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The four platforms' profiles, as the README tells operators to use them.
const PROFILES: &str = include_str!("../profiles.toml");

/// profiles.md §5's published data: floats (`15000.50`, `45000.0`, `1e2`, `1E-7`,
/// `-0.0`), an integer past 2^53, integer-like and repeated keys, non-ASCII text and
/// every kind of escape.
const VECTOR: &str = r#"{"sizeUsd":15000.50,"price":45000.0,"qty":1e2,"big":12345678901234567890,"tiny":0.000001,"exp":1E-7,"neg":-0.0,"name":"caf\u00e9 \u2603","raw":"café","esc":"a\/b\"c\\d\u0001","2":"two","b":1,"1":"one","b":2,"emoji":"\ud83d\ude00","arr":[1.50,true,null,{"z":1,"a":2}]}"#;
/// `VECTOR` as Node 20 writes it: `JSON.stringify(JSON.parse(VECTOR))`.
const VECTOR_JS: &str = r#"{"1":"one","2":"two","sizeUsd":15000.5,"price":45000,"qty":100,"big":12345678901234567000,"tiny":0.000001,"exp":1e-7,"neg":0,"name":"café ☃","raw":"café","esc":"a/b\"c\\d\u0001","b":2,"emoji":"😀","arr":[1.5,true,null,{"z":1,"a":2}]}"#;
/// `VECTOR` as Python 3 writes it: `json.dumps(json.loads(VECTOR), separators=(",", ":"))`.
const VECTOR_PY: &str = r#"{"sizeUsd":15000.5,"price":45000.0,"qty":100.0,"big":12345678901234567890,"tiny":1e-06,"exp":1e-07,"neg":-0.0,"name":"caf\u00e9 \u2603","raw":"caf\u00e9","esc":"a/b\"c\\d\u0001","2":"two","b":2,"1":"one","emoji":"\ud83d\ude00","arr":[1.5,true,null,{"z":1,"a":2}]}"#;

/// A position as the platforms' own documentation shows one (`"sizeUsd": 15000.50`),
/// with an emoji, non-ASCII text and escapes.
const POSITION: &str = r#"{"positionId":"pos_8Hq2","symbol":"BTC-PERP","side":"long","sizeUsd":15000.50,"entryPrice":45000.0,"leverage":1e1,"trader":"Zoë 🚀","note":"caf\u00e9 \/ \"best\" ☃"}"#;
/// `POSITION` as Node 20 writes it.
const POSITION_JS: &str = r#"{"positionId":"pos_8Hq2","symbol":"BTC-PERP","side":"long","sizeUsd":15000.5,"entryPrice":45000,"leverage":10,"trader":"Zoë 🚀","note":"café / \"best\" ☃"}"#;
/// `POSITION` as Python 3 writes it.
const POSITION_PY: &str = r#"{"positionId":"pos_8Hq2","symbol":"BTC-PERP","side":"long","sizeUsd":15000.5,"entryPrice":45000.0,"leverage":10.0,"trader":"Zo\u00eb \ud83d\ude80","note":"caf\u00e9 / \"best\" \u2603"}"#;

/// Where the receivers' scripts and Express's `node_modules` live.
fn receivers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/receivers")
}

/// A platform's receiver: its script and what it needs to run.
#[derive(Debug, Clone, Copy)]
enum Platform {
    /// Vibe Trading: Flask.
    Vibe,
    /// VecTrade: Python's standard library.
    VecTrade,
    /// PerpsTracker: Express.
    Perps,
    /// Quub, their Node receiver: `node:http`.
    QuubNode,
    /// Quub, their Python receiver: Python's standard library.
    QuubPython,
}

impl Platform {
    fn script(self) -> &'static str {
        match self {
            Platform::Vibe => "vibe_flask.py",
            Platform::VecTrade => "vectrade.py",
            Platform::Perps => "perps_express.js",
            Platform::QuubNode => "quub_node.js",
            Platform::QuubPython => "quub_python.py",
        }
    }

    fn node(self) -> bool {
        matches!(self, Platform::Perps | Platform::QuubNode)
    }

    /// Panics, saying what to install, when the runtime or library is missing: a
    /// machine without them must fail these tests, not skip them.
    fn require(self) {
        let (program, check, missing) = match self {
            Platform::Vibe => (
                "python3",
                vec!["-c", "import flask"],
                "Flask is not installed: run `pip install flask` (.ci/run does)",
            ),
            Platform::VecTrade | Platform::QuubPython => (
                "python3",
                vec!["--version"],
                "python3 does not run",
            ),
            Platform::Perps => (
                "node",
                vec!["-e", "require.resolve('express')"],
                "Express is not installed: run `npm ci --prefix examples/tests/receivers` (.ci/run does)",
            ),
            Platform::QuubNode => ("node", vec!["--version"], "node does not run"),
        };
        let status = std::process::Command::new(program)
            .args(&check)
            .current_dir(receivers_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "`{program}` is needed to run the {self:?} receiver and cannot be started ({e}): install it"
                )
            });
        assert!(status.success(), "{self:?} receiver: {missing}");
    }
}

/// A platform's receiver running as a child process; killed when dropped.
struct PlatformReceiver {
    platform: Platform,
    _child: Child,
    port: u16,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl PlatformReceiver {
    /// Starts `platform`'s receiver holding `secret` and waits for its port.
    async fn start(platform: Platform, secret: &str) -> Self {
        platform.require();
        let mut command = Command::new(if platform.node() { "node" } else { "python3" });
        if !platform.node() {
            command.arg("-u");
        }
        let mut child = command
            .arg(platform.script())
            .current_dir(receivers_dir())
            .env("WEBHOOK_SECRET", secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err.next_line().await {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut receiver = Self {
            platform,
            _child: child,
            port: 0,
            lines,
            stderr,
        };
        let first = receiver.next_line().await;
        receiver.port = first
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("{platform:?}: unexpected first line `{first}`"));
        receiver
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next line it printed, waiting at most `WAIT`.
    async fn next_line(&mut self) -> String {
        match tokio::time::timeout(WAIT, self.lines.recv()).await {
            Ok(Some(line)) => line,
            outcome => panic!(
                "{:?} receiver: {} ; its stderr:\n{}",
                self.platform,
                if outcome.is_ok() {
                    "exited"
                } else {
                    "printed nothing in time"
                },
                self.stderr.lock().unwrap()
            ),
        }
    }

    /// The next `n` requests, each verified and parsed: event type → what it saw.
    async fn events(&mut self, n: usize) -> BTreeMap<String, Value> {
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let line = self.next_line().await;
            let (event_type, parsed) = accepted(&line).unwrap_or_else(|| {
                panic!("{:?} receiver refused a request: {line}", self.platform)
            });
            seen.insert(event_type, parsed);
        }
        seen
    }
}

/// An `ok TYPE JSON` line as (type, JSON); `None` for any other line.
fn accepted(line: &str) -> Option<(String, Value)> {
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("ok"), Some(event_type), Some(json)) => {
            Some((event_type.to_owned(), serde_json::from_str(json).unwrap()))
        }
        _ => None,
    }
}

fn endpoints(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/endpoints")
}

async fn start_daemon(dir: &tempfile::TempDir) -> Daemon {
    Daemon::start(dir.path(), Options::default().config(PROFILES)).await
}

/// Creates an endpoint of `profile` (Herald generates its secret unless given), to be
/// pointed at its receiver once that runs with the secret; returns (id, secret).
async fn create(
    daemon: &Daemon,
    tenant: &str,
    profile: &str,
    secret: Option<&str>,
) -> (String, String) {
    let mut input = json!({"url": "http://127.0.0.1:9/not-yet", "profile": profile});
    if let Some(secret) = secret {
        input["secret"] = json!(secret);
    }
    let created = daemon.post(&endpoints(tenant), &input).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json["profile"], profile);
    assert!(created.json["signature_scheme"].is_null());
    (
        created.json["id"].as_str().unwrap().to_owned(),
        created.json["secret"].as_str().unwrap().to_owned(),
    )
}

async fn point_at(daemon: &Daemon, tenant: &str, endpoint: &str, url: &str) {
    let path = format!("{}/{endpoint}", endpoints(tenant));
    let patched = daemon
        .call(Method::PATCH, &path, &json!({"url": url}))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
}

/// Publishes `data` (JSON text, sent byte for byte); returns the event id.
async fn publish(daemon: &Daemon, tenant: &str, event_type: &str, data: &str) -> String {
    let body = format!(r#"{{"type":"{event_type}","data":{data}}}"#);
    let reply = daemon
        .send(
            Call::new(Method::POST, &format!("/v1/tenants/{tenant}/events"))
                .raw("application/json", body),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    reply.json["id"].as_str().unwrap().to_owned()
}

/// The id of `event`'s delivery to `endpoint`.
async fn delivery_of(daemon: &Daemon, tenant: &str, event: &str, endpoint: &str) -> String {
    let reply = daemon
        .get(&format!("/v1/tenants/{tenant}/events/{event}/deliveries"))
        .await;
    let deliveries = reply.json["data"].as_array().unwrap();
    let delivery = deliveries
        .iter()
        .find(|d| d["endpoint_id"] == endpoint)
        .unwrap_or_else(|| panic!("no delivery of {event} to {endpoint}: {}", reply.text()));
    delivery["id"].as_str().unwrap().to_owned()
}

/// The event's creation time as Herald shows it, to whole seconds: `2026-12-03T10:30:00Z`.
async fn created_at_seconds(daemon: &Daemon, tenant: &str, event: &str) -> String {
    let reply = daemon
        .get(&format!("/v1/tenants/{tenant}/events/{event}"))
        .await;
    let created = reply.json["created_at"].as_str().unwrap();
    format!("{}Z", &created[..19])
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sends the receiver a request signed with the wrong secret; it must refuse it.
async fn assert_refuses_forgery(
    receiver: &mut PlatformReceiver,
    path: &str,
    headers: &[(&str, String)],
) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::post(receiver.url(path)).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let body = Bytes::from_static(br#"{"id":"evt_forged","type":"forged","data":{}}"#);
    let response =
        tokio::time::timeout(WAIT, client.request(request.body(Full::new(body)).unwrap()))
            .await
            .unwrap()
            .unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    assert_eq!(
        status, 401,
        "{:?} receiver should refuse a forged signature",
        receiver.platform
    );
    let line = receiver.next_line().await;
    assert_eq!(line, "bad signature mismatch");
}

/// profiles.md §4.1: Vibe Trading's Flask receiver verifies the hex HMAC of the raw
/// body keyed by the secret the customer chose, then reads `data['event']` and
/// `data['data']`. The body is the publisher's bytes, whitespace removed; a rotation
/// leaves this receiver behind, since a `hex` signature carries the newest secret only.
#[tokio::test]
async fn vibe_tradings_flask_receiver_verifies_and_reads_every_event() {
    let secret = "vibe-customer-chosen-secret-2026";
    let mut receiver = PlatformReceiver::start(Platform::Vibe, secret).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&dir).await;
    let (endpoint, shown) = create(&daemon, "vibe", "vibe", Some(secret)).await;
    assert_eq!(shown, secret);
    point_at(&daemon, "vibe", &endpoint, &receiver.url("/webhooks/vibe")).await;

    let signal = publish(&daemon, "vibe", "signal.triggered", VECTOR).await;
    let trade = publish(&daemon, "vibe", "trade.executed", POSITION).await;
    let seen = receiver.events(2).await;
    for (event_type, id, data, python) in [
        ("signal.triggered", &signal, VECTOR, VECTOR_PY),
        ("trade.executed", &trade, POSITION, POSITION_PY),
    ] {
        let saw = &seen[event_type];
        assert_eq!(saw["keys"], json!(["event", "timestamp", "data"]));
        assert_eq!(saw["data"], python, "{event_type}: data as Flask read it");
        let timestamp = created_at_seconds(&daemon, "vibe", id).await;
        assert_eq!(saw["timestamp"], timestamp.as_str());
        let body = format!(r#"{{"event":"{event_type}","timestamp":"{timestamp}","data":{data}}}"#);
        assert_eq!(
            saw["raw"],
            body.as_str(),
            "the publisher's bytes, unchanged"
        );
    }

    // The receiver checks: a forged request and, after a rotation, a request signed
    // with the new secret only are refused.
    assert_refuses_forgery(
        &mut receiver,
        "/webhooks/vibe",
        &[("X-Webhook-Signature", "0".repeat(64))],
    )
    .await;
    let rotated = daemon
        .post(
            &format!("{}/{endpoint}/rotate-secret", endpoints("vibe")),
            &json!({"secret": "vibe-customer-second-secret"}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    publish(&daemon, "vibe", "signal.cleared", "{}").await;
    assert_eq!(receiver.next_line().await, "bad signature mismatch");
}

/// profiles.md §4.2: VecTrade's receiver checks `X-VQ-Timestamp` within 5 minutes,
/// verifies `X-VQ-Signature` over `{timestamp}.{body}` keyed by the whole `whsec_`
/// string, and deduplicates on `X-VQ-Webhook-Id`, the delivery id, which a retry keeps.
#[tokio::test]
async fn vectrades_receiver_verifies_and_deduplicates_on_the_delivery_id() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&dir).await;
    let (endpoint, secret) = create(&daemon, "vectrade", "vectrade", None).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let mut receiver = PlatformReceiver::start(Platform::VecTrade, &secret).await;
    point_at(&daemon, "vectrade", &endpoint, &receiver.url("/webhooks")).await;

    let filled = publish(&daemon, "vectrade", "order.filled", VECTOR).await;
    let opened = publish(&daemon, "vectrade", "position.opened", POSITION).await;
    let seen = receiver.events(2).await;
    for (event_type, id, data, python) in [
        ("order.filled", &filled, VECTOR, VECTOR_PY),
        ("position.opened", &opened, POSITION, POSITION_PY),
    ] {
        let saw = &seen[event_type];
        assert_eq!(saw["keys"], json!(["id", "type", "created_at", "data"]));
        assert_eq!(saw["id"], id.as_str());
        assert_eq!(saw["data"], python, "{event_type}: data as Python read it");
        let created_at = created_at_seconds(&daemon, "vectrade", id).await;
        assert_eq!(saw["created_at"], created_at.as_str());
        let body = format!(
            r#"{{"id":"{id}","type":"{event_type}","created_at":"{created_at}","data":{data}}}"#
        );
        assert_eq!(saw["raw"], body.as_str());
        let delivery = delivery_of(&daemon, "vectrade", id, &endpoint).await;
        assert_eq!(saw["webhook_id"], delivery.as_str());
        let signed: u64 = saw["timestamp"].as_str().unwrap().parse().unwrap();
        assert!(now_secs().abs_diff(signed) < 60, "X-VQ-Timestamp {signed}");
        // Mixed-case names go out Title-Case on HTTP/1.1 (profiles.md §1).
        let names = saw["header_names"].as_array().unwrap();
        for name in ["X-Vq-Signature", "X-Vq-Timestamp", "X-Vq-Webhook-Id"] {
            assert!(names.contains(&json!(name)), "{name} in {names:?}");
        }
    }

    // The same delivery sent again carries the same X-VQ-Webhook-Id: deduplicated.
    let delivery = delivery_of(&daemon, "vectrade", &filled, &endpoint).await;
    let retried = daemon
        .send(Call::new(
            Method::POST,
            &format!("/v1/tenants/vectrade/deliveries/{delivery}/retry"),
        ))
        .await;
    assert_eq!(retried.status, 202, "{}", retried.text());
    assert_eq!(receiver.next_line().await, format!("duplicate {delivery}"));

    let now = now_secs().to_string();
    assert_refuses_forgery(
        &mut receiver,
        "/webhooks",
        &[
            ("X-VQ-Signature", "0".repeat(64)),
            ("X-VQ-Timestamp", now),
            ("X-VQ-Webhook-Id", "dlv_forged".into()),
        ],
    )
    .await;
}

/// profiles.md §4.3: PerpsTracker's Express receiver verifies
/// `JSON.stringify(req.body)`, so Herald writes the JSON as JavaScript does; it reads
/// `X-Webhook-ID` (the endpoint), `X-Event-Type` and `X-Delivery-ID`. Data JavaScript
/// cannot write is refused at publish (422 naming `data`) and nothing is stored.
#[tokio::test]
async fn perps_trackers_express_receiver_verifies_json_as_javascript_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&dir).await;
    let (endpoint, secret) = create(&daemon, "perps", "perps", None).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let mut receiver = PlatformReceiver::start(Platform::Perps, &secret).await;
    point_at(
        &daemon,
        "perps",
        &endpoint,
        &receiver.url("/webhooks/perps"),
    )
    .await;

    let opened = publish(&daemon, "perps", "position.opened", POSITION).await;
    let signal = publish(&daemon, "perps", "signal.fired", VECTOR).await;
    let seen = receiver.events(2).await;
    for (event_type, id, js) in [
        ("position.opened", &opened, POSITION_JS),
        ("signal.fired", &signal, VECTOR_JS),
    ] {
        let saw = &seen[event_type];
        assert_eq!(saw["keys"], json!(["id", "type", "created", "data"]));
        assert_eq!(saw["id"], id.as_str());
        assert_eq!(saw["data"], js, "{event_type}: data as Express read it");
        let created = saw["created"].as_u64().unwrap();
        assert!(now_secs().abs_diff(created) < 60, "created {created}");
        assert_eq!(saw["webhookId"], endpoint.as_str());
        assert_eq!(saw["eventType"], event_type);
        let delivery = delivery_of(&daemon, "perps", id, &endpoint).await;
        assert_eq!(saw["deliveryId"], delivery.as_str());
        // Title-Case on the wire: `X-Webhook-ID` goes as `X-Webhook-Id` (profiles.md §1).
        let names = saw["headerNames"].as_array().unwrap();
        for name in [
            "X-Webhook-Signature",
            "X-Webhook-Id",
            "X-Event-Type",
            "X-Delivery-Id",
        ] {
            assert!(names.contains(&json!(name)), "{name} in {names:?}");
        }
    }

    let refused = daemon
        .send(Call::new(Method::POST, "/v1/tenants/perps/events").raw(
            "application/json",
            r#"{"id":"evt_infinite","type":"position.opened","data":{"x":1e400}}"#,
        ))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (422, "invalid"),
        "{}",
        refused.text()
    );
    assert!(
        refused.message().starts_with("data:"),
        "{}",
        refused.message()
    );
    let stored = daemon.get("/v1/tenants/perps/events/evt_infinite").await;
    assert_eq!(stored.status, 404, "{}", stored.text());
    let events = daemon.get("/v1/tenants/perps/events").await;
    assert_eq!(
        events.json["data"].as_array().unwrap().len(),
        2,
        "{}",
        events.text()
    );

    assert_refuses_forgery(
        &mut receiver,
        "/webhooks/perps",
        &[("X-Webhook-Signature", "0".repeat(64))],
    )
    .await;
}

/// profiles.md §4.4: Quub's Node receiver (`JSON.stringify(payload)`, profile `quub`)
/// and Python receiver (`json.dumps(payload, separators=(',', ':'))`, profile
/// `quub-python`) each verify `t=<ts>,v1=<hex>` and read the envelope; after a
/// rotation a request carries a `v1=` per secret, so receivers still holding the old
/// secret keep verifying.
#[tokio::test]
async fn quubs_node_and_python_receivers_verify_their_own_json() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&dir).await;
    let (node_endpoint, node_secret) = create(&daemon, "quub", "quub", None).await;
    let (python_endpoint, python_secret) = create(&daemon, "quub", "quub-python", None).await;
    let mut node = PlatformReceiver::start(Platform::QuubNode, &node_secret).await;
    let mut python = PlatformReceiver::start(Platform::QuubPython, &python_secret).await;
    point_at(&daemon, "quub", &node_endpoint, &node.url("/webhooks/quub")).await;
    point_at(
        &daemon,
        "quub",
        &python_endpoint,
        &python.url("/webhooks/quub"),
    )
    .await;

    let settled = publish(&daemon, "quub", "trade.settled", VECTOR).await;
    let opened = publish(&daemon, "quub", "position.opened", POSITION).await;
    let by_node = node.events(2).await;
    let by_python = python.events(2).await;
    for (event_type, id, js, py) in [
        ("trade.settled", &settled, VECTOR_JS, VECTOR_PY),
        ("position.opened", &opened, POSITION_JS, POSITION_PY),
    ] {
        let timestamp = created_at_seconds(&daemon, "quub", id).await;
        for (saw, data, names) in [
            (&by_node[event_type], js, "headerNames"),
            (&by_python[event_type], py, "header_names"),
        ] {
            assert_eq!(
                saw["keys"],
                json!(["eventId", "eventType", "timestamp", "orgId", "data"])
            );
            assert_eq!(saw["eventId"], id.as_str());
            assert_eq!(saw["timestamp"], timestamp.as_str());
            assert_eq!(saw["orgId"], "quub");
            assert_eq!(saw["data"], data, "{event_type}");
            let names = saw[names].as_array().unwrap();
            assert!(names.contains(&json!("X-Quub-Signature")), "{names:?}");
        }
    }

    for endpoint in [&node_endpoint, &python_endpoint] {
        let rotated = daemon
            .send(Call::new(
                Method::POST,
                &format!("{}/{endpoint}/rotate-secret", endpoints("quub")),
            ))
            .await;
        assert_eq!(rotated.status, 200, "{}", rotated.text());
    }
    publish(
        &daemon,
        "quub",
        "trade.cancelled",
        r#"{"reason":"caf\u00e9","qty":1e2}"#,
    )
    .await;
    let by_node = node.events(1).await;
    let by_python = python.events(1).await;
    assert_eq!(
        by_node["trade.cancelled"]["data"],
        r#"{"reason":"café","qty":100}"#
    );
    assert_eq!(
        by_python["trade.cancelled"]["data"],
        r#"{"reason":"caf\u00e9","qty":100.0}"#
    );

    let forged = format!("t={},v1={}", now_secs(), "0".repeat(64));
    assert_refuses_forgery(
        &mut node,
        "/webhooks/quub",
        &[("X-Quub-Signature", forged.clone())],
    )
    .await;
    assert_refuses_forgery(
        &mut python,
        "/webhooks/quub",
        &[("X-Quub-Signature", forged)],
    )
    .await;
}

//! Generated request bodies through a real `heraldd`: valid bodies of each write
//! route, one mutation of a valid body (a field dropped, given another type, a hostile
//! string or boundary number, a huge value, an unknown or repeated field), any JSON
//! value, raw bytes, malformed text and no body (`herald_testkit::fuzz::body`).
//!
//! Properties, for every answer: the status is one the API documents for a client's
//! mistake or a success (never a 5xx), an error answer is the JSON error object, a
//! 422 names a field of the body or of the route, a refusal changes nothing the API
//! shows, and the daemon keeps answering.
//!
//! Each route runs `PROPTEST_CASES` cases (default 120) on one daemon; raise it for a
//! longer soak: `PROPTEST_CASES=5000 cargo test -p herald-examples --test fuzz_api`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Call, Daemon, Options};
use herald_testkit::fuzz::{self, hostile_text, Body, Json};
use hyper::Method;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde::de::IgnoredAny;
use serde_json::{json, Value};

const TENANT: &str = "/v1/tenants/acme";
const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";
const EVENTS: &str = "/v1/tenants/acme/events";

/// Statuses a body can earn: success, or one of the client's mistakes of http-api.md.
const DOCUMENTED: &[u16] = &[200, 201, 202, 204, 400, 409, 413, 415, 422];

/// One write route under test.
struct Route {
    method: Method,
    path: String,
    /// Fields the route requires, or takes from its path: a 422 may name them when
    /// the body lacks them.
    own_fields: &'static [&'static str],
}

/// What the API shows of the tenant: endpoints (their settings, not their health,
/// which deliveries change on their own), events, settings, keys and catalog.
async fn state(daemon: &Daemon) -> Value {
    let endpoints: Vec<Value> = daemon.get(&format!("{ENDPOINTS}?limit=100")).await.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|endpoint| {
            let mut endpoint = endpoint.clone();
            let object = endpoint.as_object_mut().unwrap();
            object.retain(|key, _| !matches!(key.as_str(), "health" | "counts" | "stats"));
            endpoint
        })
        .collect();
    let events = daemon.get(&format!("{EVENTS}?limit=100")).await.json;
    let tenant = daemon.get(TENANT).await.json;
    let keys = daemon.get(&format!("{TENANT}/keys?limit=100")).await.json;
    let types = daemon
        .get(&format!("{TENANT}/event-types?limit=100"))
        .await
        .json;
    json!({"endpoints": endpoints, "events": events, "tenant": tenant, "keys": keys, "types": types})
}

/// The top-level keys of a JSON object body.
fn body_keys(body: &Body) -> Vec<String> {
    match body {
        Body::Json(Json::Object(fields)) => fields.iter().map(|(k, _)| k.clone()).collect(),
        _ => serde_json::from_slice::<BTreeMap<String, IgnoredAny>>(&body.to_bytes())
            .map(|map| map.into_keys().collect())
            .unwrap_or_default(),
    }
}

/// Checks one answer against the properties of the module docs.
async fn check(
    daemon: &Daemon,
    route: &Route,
    body: &Body,
    before: &Value,
) -> Result<(), TestCaseError> {
    let bytes = body.to_bytes();
    let mut call = Call::new(route.method.clone(), &route.path);
    if !bytes.is_empty() {
        call = call.raw("application/json", bytes);
    }
    let reply = daemon.send(call).await;
    prop_assert!(
        DOCUMENTED.contains(&reply.status),
        "{} {} with {}: {} {}",
        route.method,
        route.path,
        String::from_utf8_lossy(&body.to_bytes()),
        reply.status,
        reply.text()
    );
    if reply.status >= 400 {
        prop_assert!(
            !reply.code().is_empty() && !reply.message().is_empty(),
            "not an error object: {}",
            reply.text()
        );
        let after = state(daemon).await;
        prop_assert_eq!(
            before,
            &after,
            "a refusal changed the state: {}",
            reply.text()
        );
    }
    if reply.status == 422 {
        // `field: why`, the field a key of the body (or a path into it) or the route's.
        let message = reply.message();
        let keys = body_keys(body);
        let names = keys
            .iter()
            .map(|k| if k.is_empty() { "\"\"" } else { k.as_str() })
            .chain(route.own_fields.iter().copied())
            .chain(["body"]);
        let named = names.into_iter().any(|name| {
            message
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([':', '.', '[']))
        });
        prop_assert!(
            named,
            "422 names no field of {} (keys {keys:?}): {message}",
            String::from_utf8_lossy(&body.to_bytes())
        );
    }
    Ok(())
}

/// Runs `cases` generated bodies against `route` on `daemon`, then checks that it
/// still answers.
fn fuzz_route(
    runtime: &tokio::runtime::Runtime,
    daemon: &Daemon,
    route: &Route,
    valid: BoxedStrategy<Value>,
) {
    let mut runner = TestRunner::new(fuzz::config(120));
    let result = runner.run(&fuzz::body(valid), |body| {
        runtime.block_on(async {
            let before = state(daemon).await;
            check(daemon, route, &body, &before).await
        })
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    runtime.block_on(async {
        assert_eq!(daemon.get("/healthz").await.status, 200);
    });
}

fn start(dir: &Path) -> (tokio::runtime::Runtime, Daemon) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let options = Options {
        storage: "sled",
        permissive: false,
        ..Options::default()
    };
    let daemon = runtime.block_on(Daemon::start(dir, options));
    (runtime, daemon)
}

fn stop(runtime: tokio::runtime::Runtime, daemon: Daemon) {
    runtime.block_on(async { assert!(daemon.terminate().await.success()) });
}

fn event_types() -> BoxedStrategy<Value> {
    proptest::collection::vec(
        select(vec!["order.*", "order.filled", "position.closed", "*"]),
        1..3,
    )
    .prop_map(|types| json!(types))
    .boxed()
}

fn valid_endpoint() -> BoxedStrategy<Value> {
    (
        0u32..1000,
        proptest::option::of(event_types()),
        proptest::option::of(select(vec!["unordered", "fifo"])),
        proptest::option::of(1u32..100),
        proptest::option::of(hostile_text()),
    )
        .prop_map(|(n, types, ordering, rate, description)| {
            let mut body = json!({"url": format!("https://example.com/hooks/{n}")});
            let object = body.as_object_mut().unwrap();
            if let Some(types) = types {
                object.insert("event_types".into(), types);
            }
            if let Some(ordering) = ordering {
                object.insert("ordering".into(), json!(ordering));
            }
            if let Some(rate) = rate {
                object.insert("rate_limit".into(), json!(rate));
            }
            if let Some(description) = description {
                object.insert("description".into(), json!(description));
            }
            object.insert(
                "headers".into(),
                json!({"x-tenant-ref": format!("ref-{n}")}),
            );
            body
        })
        .boxed()
}

#[test]
fn endpoint_bodies_are_answered_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, daemon) = start(dir.path());
    let create = Route {
        method: Method::POST,
        path: ENDPOINTS.into(),
        own_fields: &["url", "tenant"],
    };
    fuzz_route(&runtime, &daemon, &create, valid_endpoint());

    let created =
        runtime.block_on(daemon.post(ENDPOINTS, &json!({"url": "https://example.com/patched"})));
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json["id"].as_str().unwrap().to_owned();
    let patch = Route {
        method: Method::PATCH,
        path: format!("{ENDPOINTS}/{id}"),
        own_fields: &["tenant", "id"],
    };
    fuzz_route(&runtime, &daemon, &patch, valid_endpoint());
    stop(runtime, daemon);
}

#[test]
fn event_bodies_are_answered_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, daemon) = start(dir.path());
    let publish = Route {
        method: Method::POST,
        path: EVENTS.into(),
        own_fields: &["type", "data", "tenant"],
    };
    let valid = (
        select(vec!["order.filled", "position.closed", "price.alert"]),
        fuzz::json_value(),
        proptest::option::of("[a-z0-9:-]{1,40}"),
        proptest::option::of(proptest::collection::vec("[A-Z]{3}-[A-Z]{3}", 0..3)),
    )
        .prop_map(|(event_type, data, id, channels)| {
            let data: Value =
                serde_json::from_str(&data.to_text()).unwrap_or_else(|_| json!({"n": 1}));
            let mut body = json!({"type": event_type, "data": data});
            let object = body.as_object_mut().unwrap();
            if let Some(id) = id {
                object.insert("id".into(), json!(id));
            }
            if let Some(channels) = channels {
                object.insert("channels".into(), json!(channels));
            }
            body
        })
        .boxed();
    fuzz_route(&runtime, &daemon, &publish, valid);
    stop(runtime, daemon);
}

#[test]
fn tenant_key_and_catalog_bodies_are_answered_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, daemon) = start(dir.path());
    let settings = Route {
        method: Method::PUT,
        path: TENANT.into(),
        own_fields: &["tenant"],
    };
    let valid_settings = (
        proptest::option::of(1u32..10_000),
        proptest::option::of(0u32..10_000),
        proptest::option::of(any::<bool>()),
        proptest::option::of(event_types()),
    )
        .prop_map(|(max_endpoints, publish_rate, strict, types)| {
            let mut body = json!({});
            let object = body.as_object_mut().unwrap();
            if let Some(n) = max_endpoints {
                object.insert("max_endpoints".into(), json!(n));
            }
            if let Some(n) = publish_rate {
                object.insert("publish_rate".into(), json!(n));
            }
            if let Some(strict) = strict {
                object.insert("strict_types".into(), json!(strict));
            }
            if let Some(types) = types {
                object.insert("notification_types".into(), types);
            }
            body
        })
        .boxed();
    fuzz_route(&runtime, &daemon, &settings, valid_settings);

    let keys = Route {
        method: Method::POST,
        path: format!("{TENANT}/keys"),
        own_fields: &["scope", "tenant"],
    };
    let valid_key = (
        select(vec!["tenant", "publish", "read"]),
        proptest::option::of(hostile_text()),
    )
        .prop_map(|(scope, description)| match description {
            Some(description) => json!({"scope": scope, "description": description}),
            None => json!({"scope": scope}),
        })
        .boxed();
    fuzz_route(&runtime, &daemon, &keys, valid_key);

    let catalog = Route {
        method: Method::PUT,
        path: format!("{TENANT}/event-types/order.filled"),
        own_fields: &["tenant", "type"],
    };
    let valid_type = (
        proptest::option::of(hostile_text()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(description, example, schema)| {
            let mut body = json!({});
            let object = body.as_object_mut().unwrap();
            if let Some(description) = description {
                object.insert("description".into(), json!(description));
            }
            if example {
                object.insert("example".into(), json!({"order_id": "o-1", "qty": 2}));
            }
            if schema {
                object.insert(
                    "schema".into(),
                    json!({"type": "object", "required": ["order_id"]}),
                );
            }
            body
        })
        .boxed();
    fuzz_route(&runtime, &daemon, &catalog, valid_type);
    stop(runtime, daemon);
}

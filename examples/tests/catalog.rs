//! access.md §4 through the real `heraldd`: catalog entries from the configuration
//! and from the API, schema refusals naming the first failing path, `strict_types`,
//! test events sending the example, and bad entries refused with nothing changed.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Call, Daemon, Options, WAIT};
use herald_testkit::receiver::Receiver;
use http::Method;
use serde_json::{json, Value};

const TENANT: &str = "/v1/tenants/acme";

const CONFIG: &str = r#"
[event_types."order.filled"]
description = "An order was filled."
example = { orderId = "ord_789", price = 45000.5 }
schema = { type = "object", required = ["orderId"], properties = { orderId = { type = "string" }, price = { type = "number" } } }
"#;

#[tokio::test]
async fn the_catalog_documents_checks_and_feeds_test_events() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default().config(CONFIG)).await;
    let types = format!("{TENANT}/event-types");

    let listed = daemon.get(&types).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(listed.json["data"][0]["type"], "order.filled");
    assert_eq!(listed.json["data"][0]["source"], "config");
    assert_eq!(listed.json["data"][0]["example"]["orderId"], "ord_789");

    // The configured schema checks publishes; the failing path is named.
    let refused = daemon
        .post(
            &format!("{TENANT}/events"),
            &json!({"type": "order.filled", "data": {"orderId": 5}}),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.message().starts_with("data/orderId"),
        "{}",
        refused.message()
    );
    let missing = daemon
        .post(
            &format!("{TENANT}/events"),
            &json!({"type": "order.filled", "data": {}}),
        )
        .await;
    assert_eq!(missing.status, 422);
    assert!(
        missing.message().starts_with("data"),
        "{}",
        missing.message()
    );

    // The tenant's own entry.
    let put = daemon
        .call(
            Method::PUT,
            &format!("{types}/position.closed"),
            &json!({
                "description": "A position was closed.",
                "example": {"symbol": "BTC-USD", "pnl": "12.5"},
                "schema": {"type": "object", "properties": {"pnl": {"type": "string"}}}
            }),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.json["source"], "tenant");
    let one = daemon.get(&format!("{types}/position.closed")).await;
    assert_eq!(one.json["schema"]["properties"]["pnl"]["type"], "string");
    let bad = daemon
        .post(
            &format!("{TENANT}/events"),
            &json!({"type": "position.closed", "data": {"pnl": 12.5}}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.message().starts_with("data/pnl"), "{}", bad.message());
    let listed = daemon.get(&types).await;
    let names: Vec<&str> = listed.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["order.filled", "position.closed"]);

    // strict_types: a type outside the catalog is refused.
    let outside = json!({"type": "price.alert", "data": {}});
    let free = daemon.post(&format!("{TENANT}/events"), &outside).await;
    assert_eq!(free.status, 202);
    let strict = daemon
        .call(Method::PUT, TENANT, &json!({"strict_types": true}))
        .await;
    assert_eq!(strict.json["strict_types"], true);
    let refused = daemon.post(&format!("{TENANT}/events"), &outside).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.message().starts_with("type"),
        "{}",
        refused.message()
    );

    // A test event of a catalog type sends its example.
    let endpoint = daemon
        .post(
            &format!("{TENANT}/endpoints"),
            &json!({"url": receiver.url("/hook")}),
        )
        .await;
    let endpoint = endpoint.json["id"].as_str().unwrap().to_owned();
    let test = daemon
        .post(
            &format!("{TENANT}/endpoints/{endpoint}/test"),
            &json!({"type": "order.filled"}),
        )
        .await;
    assert_eq!(test.status, 202, "{}", test.text());
    assert!(receiver.wait_for(1, WAIT).await);
    let body = String::from_utf8(receiver.requests()[0].body.to_vec()).unwrap();
    assert!(
        body.contains(r#""data":{"orderId":"ord_789","price":45000.5}"#),
        "{body}"
    );

    // Deleting: the tenant's own entry goes; a configured one is not the tenant's.
    let deleted = daemon
        .send(Call::new(
            Method::DELETE,
            &format!("{types}/position.closed"),
        ))
        .await;
    assert_eq!(deleted.status, 204);
    let gone = daemon.get(&format!("{types}/position.closed")).await;
    assert_eq!(gone.status, 404);
    let configured = daemon
        .send(Call::new(Method::DELETE, &format!("{types}/order.filled")))
        .await;
    assert_eq!(configured.status, 404);
}

#[tokio::test]
async fn bad_catalog_entries_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let types = format!("{TENANT}/event-types");
    let big = json!({"type": "object", "description": "x".repeat(70 * 1024)});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("order.filled", json!({"descripton": "typo"}), "descripton"),
        ("order.filled", json!({"description": 5}), "description"),
        (
            "order.filled",
            json!({"description": "x".repeat(2000)}),
            "description",
        ),
        ("order.filled", json!({"schema": {"type": 12}}), "schema"),
        ("order.filled", json!({"schema": big}), "schema"),
        (
            "order.filled",
            json!({"schema": {"type": "object"}, "example": [1]}),
            "example",
        ),
        ("herald.endpoint.disabled", json!({}), "type"),
        ("bad%20type", json!({}), "type"),
    ];
    for (name, body, field) in cases {
        let reply = daemon
            .call(Method::PUT, &format!("{types}/{name}"), &body)
            .await;
        assert_eq!(reply.status, 422, "{name} {body:.80}: {}", reply.text());
        assert!(
            reply.message().starts_with(field),
            "{name}: {}",
            reply.message()
        );
    }
    let listed = daemon.get(&types).await;
    assert_eq!(listed.json["data"], json!([]));
}

#[tokio::test]
async fn a_bad_configured_entry_stops_the_start_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[event_types.\"order.filled\"]\nschema = { type = 12 }\n",
            "event_types.\"order.filled\".schema",
        ),
        ("[event_types.\"bad type\"]\n", "`event_types.\"bad type\"`"),
        ("[event_types.\"a.b\"]\ncolour = \"red\"\n", "colour"),
        (
            "[tenants]\ndefault_profile = \"nope\"\n",
            "tenants.default_profile",
        ),
        ("[tenants]\nmax_endpoints = 0\n", "tenants.max_endpoints"),
    ];
    for (config, key) in cases {
        let (status, stderr) =
            Daemon::start_failing(dir.path(), Options::default().config(config)).await;
        assert!(!status.success());
        assert!(stderr.contains(key), "{config}: {stderr}");
    }
}

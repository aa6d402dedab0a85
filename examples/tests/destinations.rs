//! The destination policy through `heraldd` (delivery.md §6): every special range
//! refused at creation, the deny list over everything, the allowed ports, and the
//! same rules applied again after DNS resolution, when nothing may reach a receiver.
#![allow(clippy::unwrap_used)]

mod common;

use common::{eventually, Daemon, Options};
use herald_testkit::receiver::Receiver;
use serde_json::{json, Value};

const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";
const EVENTS: &str = "/v1/tenants/acme/events";

/// Private destinations allowed (as for the local receivers of tests), loopback
/// denied in both families.
const DENY_LOOPBACK: &str = "destination_denylist = [\"127.0.0.0/8\", \"::1/128\"]\n";

fn strict() -> Options {
    Options {
        permissive: false,
        ..Options::default()
    }
}

/// Asserts that creating an endpoint at `url` is 422 naming `url`, with `words` in
/// the message.
async fn assert_refused(daemon: &Daemon, url: &str, words: &str) {
    let reply = daemon.post(ENDPOINTS, &json!({ "url": url })).await;
    assert_eq!(reply.status, 422, "{url}: {}", reply.text());
    assert_eq!(reply.code(), "invalid");
    assert!(
        reply.message().starts_with("url") && reply.message().contains(words),
        "{url}: {}",
        reply.message()
    );
}

async fn endpoint_count(daemon: &Daemon) -> usize {
    let listed = daemon.get(ENDPOINTS).await;
    assert_eq!(listed.status, 200);
    listed.json["data"].as_array().unwrap().len()
}

/// Publishes one event and waits for the endpoint's first attempt; returns it.
async fn first_attempt(daemon: &Daemon, endpoint_id: &str) -> Value {
    let published = daemon
        .post(EVENTS, &json!({"type": "order.filled", "data": {"n": 1}}))
        .await;
    assert_eq!(published.status, 202, "{}", published.text());
    let path = format!("{ENDPOINTS}/{endpoint_id}/attempts");
    eventually("the first attempt to be logged", || async {
        let reply = daemon.get(&path).await;
        reply.json["data"].as_array().unwrap().first().cloned()
    })
    .await
}

/// delivery.md §6: each special range, written as a literal address, is refused at
/// creation by the default policy, and nothing is stored.
#[tokio::test]
async fn every_special_range_is_refused_as_a_literal() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), strict()).await;
    for host in [
        "[::127.0.0.1]",        // IPv4-compatible ::/96
        "[::8.8.8.8]",          // IPv4-compatible, even of a public address
        "[::ffff:127.0.0.1]",   // IPv4-mapped loopback
        "[::ffff:10.0.0.1]",    // IPv4-mapped private
        "[::ffff:0:8.8.8.8]",   // IPv4-translated ::ffff:0:0:0/96
        "[64:ff9b::a9fe:a9fe]", // NAT64 of 169.254.169.254
        "[64:ff9b:1::8.8.8.8]", // local-use NAT64
        "[2001::1]",            // Teredo
        "[2002:7f00:1::1]",     // 6to4
        "[fec0::1]",            // site-local
        "[fc00::1]",            // unique local
        "[2001:db8::1]",        // documentation
        "[3fff::1]",            // documentation
        "[2001:2::1]",          // benchmarking
        "[100::1]",             // discard-only
        "[ff02::1]",            // multicast
        "[::]",                 // unspecified
        "192.0.2.1",            // documentation
        "198.18.0.1",           // benchmarking
        "224.0.0.1",            // multicast
        "255.255.255.255",      // broadcast
        "0.0.0.0",              // unspecified
        "240.0.0.1",            // reserved
        "100.64.0.1",           // shared address space
    ] {
        assert_refused(&daemon, &format!("https://{host}/hooks"), "blocked").await;
    }
    assert_eq!(endpoint_count(&daemon).await, 0, "nothing was stored");
    let public = daemon
        .post(ENDPOINTS, &json!({"url": "https://[::ffff:8.8.8.8]/hooks"}))
        .await;
    assert_eq!(public.status, 201, "a mapped public address is public");
}

/// delivery.md §6: the deny list wins over `allow_private_destinations`; a literal
/// in it, in any IPv6 spelling that carries it, is refused at creation.
#[tokio::test]
async fn a_denied_literal_is_refused_even_with_private_destinations_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default().config(DENY_LOOPBACK)).await;
    for host in [
        "127.0.0.1",
        "127.3.2.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::127.0.0.1]",
        "[64:ff9b::127.0.0.1]",
        "[2002:7f00:1::1]",
    ] {
        assert_refused(&daemon, &format!("http://{host}:8080/hooks"), "denied").await;
    }
    assert_eq!(endpoint_count(&daemon).await, 0, "nothing was stored");
    let private = daemon
        .post(ENDPOINTS, &json!({"url": "http://10.1.2.3:8080/hooks"}))
        .await;
    assert_eq!(private.status, 201, "{}", private.text());
}

/// delivery.md §6: a name is judged by the addresses it resolves to. `localhost` is
/// accepted at creation (private destinations are allowed), then every address it
/// resolves to is denied: the attempt is logged as `blocked_destination`, the
/// delivery waits for its next try, and no connection reaches the receiver.
#[tokio::test]
async fn a_name_resolving_into_the_deny_list_is_blocked_at_send_time() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default().config(DENY_LOOPBACK)).await;
    let url = receiver.url_with_host("localhost", "/hooks");
    let created = daemon.post(ENDPOINTS, &json!({ "url": url })).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json["id"].as_str().unwrap();

    let attempt = first_attempt(&daemon, id).await;
    assert_eq!(attempt["error"], "blocked_destination", "{attempt}");
    assert_eq!(attempt["status"], Value::Null);
    let event_id = attempt["event_id"].as_str().unwrap();
    let deliveries = daemon.get(&format!("{EVENTS}/{event_id}/deliveries")).await;
    let delivery = &deliveries.json["data"][0];
    assert_eq!(delivery["last_error"], "blocked_destination", "{delivery}");
    assert_eq!(delivery["status"], "pending", "retried on its schedule");
    assert_eq!(receiver.connections(), 0);
    assert_eq!(receiver.count(), 0);
}

/// delivery.md §6: with `destination_allowed_ports`, a URL naming another port (or
/// whose scheme's port is another) is refused at creation.
#[tokio::test]
async fn a_port_outside_the_allowed_ports_is_refused_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().config("destination_allowed_ports = [443, 8443]\n");
    let daemon = Daemon::start(dir.path(), options).await;
    for url in [
        "https://example.com:8080/hooks",
        "http://example.com/hooks",
        "http://localhost:9000/hooks",
        "https://10.0.0.1:22/hooks",
    ] {
        assert_refused(&daemon, url, "port").await;
    }
    assert_eq!(endpoint_count(&daemon).await, 0, "nothing was stored");
    for url in [
        "https://example.com/hooks",
        "https://example.com:8443/hooks",
    ] {
        let reply = daemon.post(ENDPOINTS, &json!({ "url": url })).await;
        assert_eq!(reply.status, 201, "{url}: {}", reply.text());
    }
}

/// delivery.md §6: the ports are checked again when connecting: an endpoint stored
/// before `destination_allowed_ports` excluded its port gets `blocked_destination`
/// attempts and no connection.
#[tokio::test]
async fn a_stored_endpoint_whose_port_is_no_longer_allowed_is_blocked_at_send_time() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sled = Options {
        storage: "sled",
        ..Options::default()
    };
    let daemon = Daemon::start(dir.path(), sled.clone()).await;
    let url = receiver.url_with_host("localhost", "/hooks");
    let created = daemon.post(ENDPOINTS, &json!({ "url": url })).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert!(daemon.terminate().await.success());

    let daemon = Daemon::start(
        dir.path(),
        sled.config("destination_allowed_ports = [443]\n"),
    )
    .await;
    let attempt = first_attempt(&daemon, &id).await;
    assert_eq!(attempt["error"], "blocked_destination", "{attempt}");
    assert_eq!(receiver.connections(), 0);
}

/// http-api.md "Configuration": a bad range in the deny list and a port out of
/// range stop the start, naming the key.
#[tokio::test]
async fn bad_deny_lists_and_ports_fail_the_start_naming_the_key() {
    for (config, key) in [
        (
            "destination_denylist = [\"10.0.0.0/8\", \"10/8\"]\n",
            "destination_denylist[1]",
        ),
        (
            "destination_allowed_ports = [443, 0]\n",
            "destination_allowed_ports[1]",
        ),
        (
            "destination_allowed_ports = [65536]\n",
            "destination_allowed_ports[0]",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (status, stderr) =
            Daemon::start_failing(dir.path(), Options::default().config(config)).await;
        assert!(!status.success(), "{config}");
        assert!(stderr.contains(&format!("`{key}`")), "{config}: {stderr}");
    }
}

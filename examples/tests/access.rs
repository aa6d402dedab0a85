//! access.md §1 and §2 through the real `heraldd`: every route family allowed and
//! refused for each key scope, revocation on the very next request, tokens shown
//! once and kept as hashes, `last_used_at`, and the quotas (409, 429) that store
//! nothing.
#![allow(clippy::unwrap_used)]

mod common;

use common::{eventually, Call, Daemon, Options};
use herald_testkit::receiver::Receiver;
use http::Method;
use serde_json::{json, Value};

const TENANT: &str = "/v1/tenants/acme";

/// A key made by the admin; returns (id, token).
async fn make_key(daemon: &Daemon, tenant: &str, scope: &str) -> (String, String) {
    let reply = daemon
        .post(
            &format!("/v1/tenants/{tenant}/keys"),
            &json!({"scope": scope, "description": format!("{scope} key")}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json["scope"], scope);
    assert_eq!(reply.json["tenant"], tenant);
    assert_eq!(reply.json["last_used_at"], Value::Null);
    (
        reply.json["id"].as_str().unwrap().to_owned(),
        reply.json["token"].as_str().unwrap().to_owned(),
    )
}

/// What a route asks of its caller (access.md §1).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    /// Key management and a tenant's settings: the admin only.
    Admin,
    /// `GET` under the tenant: `read` and `tenant` keys.
    Read,
    /// `POST .../events`: `publish` and `tenant` keys.
    Publish,
    /// Other changes under the tenant: `tenant` keys.
    Manage,
    /// Outside any tenant: every valid key.
    Any,
}

/// Who calls, and how the token is sent.
#[derive(Debug, Clone)]
struct Caller {
    name: &'static str,
    token: Option<String>,
    /// Send it as `x-api-key` instead of `authorization: Bearer`.
    as_api_key: bool,
}

fn expected(caller: &str, family: Family) -> u16 {
    match (caller, family) {
        ("none" | "unknown" | "malformed", _) => 401,
        ("admin", _) | (_, Family::Any) => 0,
        ("tenant", Family::Read | Family::Publish | Family::Manage) => 0,
        ("read", Family::Read) | ("publish", Family::Publish) => 0,
        _ => 403,
    }
}

/// access.md §1: each scope allowed and refused on every route family; 401 before
/// 403, 403 before the body checks.
#[tokio::test]
async fn every_route_family_is_allowed_and_refused_by_scope() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let (_, tenant_key) = make_key(&daemon, "acme", "tenant").await;
    let (_, publish_key) = make_key(&daemon, "acme", "publish").await;
    let (_, read_key) = make_key(&daemon, "acme", "read").await;
    let (_, other_key) = make_key(&daemon, "other", "tenant").await;
    let (gone_key, _) = make_key(&daemon, "acme", "read").await;
    let revoked = daemon
        .send(Call::new(
            Method::DELETE,
            &format!("{TENANT}/keys/{gone_key}"),
        ))
        .await;
    assert_eq!(revoked.status, 204);

    let endpoint = daemon
        .post(
            &format!("{TENANT}/endpoints"),
            &json!({"url": receiver.url("/hook"), "retry_schedule_secs": [3600]}),
        )
        .await;
    let endpoint = endpoint.json["id"].as_str().unwrap().to_owned();
    let missing = daemon
        .post(
            &format!("{TENANT}/endpoints"),
            &json!({"url": receiver.url("/x")}),
        )
        .await;
    let missing = missing.json["id"].as_str().unwrap().to_owned();
    let deleted = daemon
        .send(Call::new(
            Method::DELETE,
            &format!("{TENANT}/endpoints/{missing}"),
        ))
        .await;
    assert_eq!(deleted.status, 204);
    let event = daemon
        .post(
            &format!("{TENANT}/events"),
            &json!({"type": "order.filled", "data": {}}),
        )
        .await;
    let event = event.json["id"].as_str().unwrap().to_owned();
    let deliveries = daemon
        .get(&format!("{TENANT}/events/{event}/deliveries"))
        .await;
    let delivery = deliveries.json["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let e = |rest: &str| format!("{TENANT}/endpoints/{rest}");
    let routes: Vec<(Method, String, Option<Value>, Family)> = vec![
        (Method::GET, TENANT.into(), None, Family::Read),
        (Method::PUT, TENANT.into(), Some(json!({})), Family::Admin),
        (
            Method::POST,
            format!("{TENANT}/keys"),
            Some(json!({"scope": "read"})),
            Family::Admin,
        ),
        (Method::GET, format!("{TENANT}/keys"), None, Family::Admin),
        (
            Method::DELETE,
            format!("{TENANT}/keys/{gone_key}"),
            None,
            Family::Admin,
        ),
        (
            Method::POST,
            format!("{TENANT}/endpoints"),
            Some(json!({"url": receiver.url("/made")})),
            Family::Manage,
        ),
        (
            Method::GET,
            format!("{TENANT}/endpoints"),
            None,
            Family::Read,
        ),
        (Method::GET, e(&endpoint), None, Family::Read),
        (
            Method::PATCH,
            e(&missing),
            Some(json!({"description": "x"})),
            Family::Manage,
        ),
        (Method::DELETE, e(&missing), None, Family::Manage),
        (
            Method::POST,
            e(&format!("{missing}/rotate-secret")),
            None,
            Family::Manage,
        ),
        (
            Method::POST,
            e(&format!("{endpoint}/test")),
            None,
            Family::Manage,
        ),
        (
            Method::GET,
            e(&format!("{endpoint}/attempts")),
            None,
            Family::Read,
        ),
        (
            Method::GET,
            e(&format!("{endpoint}/dead-letters")),
            None,
            Family::Read,
        ),
        (
            Method::POST,
            e(&format!("{missing}/dead-letters/replay")),
            None,
            Family::Manage,
        ),
        (
            Method::POST,
            format!("{TENANT}/events"),
            Some(json!({"type": "order.filled", "data": {}})),
            Family::Publish,
        ),
        (Method::GET, format!("{TENANT}/events"), None, Family::Read),
        (
            Method::GET,
            format!("{TENANT}/events/{event}"),
            None,
            Family::Read,
        ),
        (
            Method::GET,
            format!("{TENANT}/events/{event}/deliveries"),
            None,
            Family::Read,
        ),
        (
            Method::POST,
            format!("{TENANT}/deliveries/{delivery}/retry"),
            None,
            Family::Manage,
        ),
        (
            Method::GET,
            format!("{TENANT}/event-types"),
            None,
            Family::Read,
        ),
        (
            Method::PUT,
            format!("{TENANT}/event-types/order.filled"),
            Some(json!({"description": "An order was filled."})),
            Family::Manage,
        ),
        (
            Method::GET,
            format!("{TENANT}/event-types/order.filled"),
            None,
            Family::Read,
        ),
        (
            Method::DELETE,
            format!("{TENANT}/event-types/no.such"),
            None,
            Family::Manage,
        ),
        (Method::GET, "/v1/profiles".into(), None, Family::Any),
        // 404 on a daemon that runs alone, but for the admin only.
        (Method::GET, "/v1/cluster".into(), None, Family::Admin),
    ];
    let callers = [
        Caller {
            name: "admin",
            token: Some(common::TOKEN.into()),
            as_api_key: false,
        },
        Caller {
            name: "tenant",
            token: Some(tenant_key.clone()),
            as_api_key: false,
        },
        Caller {
            name: "publish",
            token: Some(publish_key.clone()),
            as_api_key: true,
        },
        Caller {
            name: "read",
            token: Some(read_key.clone()),
            as_api_key: true,
        },
        Caller {
            name: "other",
            token: Some(other_key.clone()),
            as_api_key: false,
        },
        Caller {
            name: "none",
            token: None,
            as_api_key: false,
        },
        Caller {
            name: "unknown",
            token: Some(format!("hk_{}", "0".repeat(64))),
            as_api_key: false,
        },
        Caller {
            name: "malformed",
            token: Some("hk_not-a-key".into()),
            as_api_key: true,
        },
    ];
    let mut failures = Vec::new();
    for (method, path, body, family) in &routes {
        for caller in &callers {
            let mut call = Call::new(method.clone(), path).token(None);
            match (&caller.token, caller.as_api_key) {
                (Some(token), true) => call = call.header("x-api-key", token),
                (Some(token), false) => call = call.token(Some(token)),
                (None, _) => {}
            }
            if let Some(body) = body {
                call = call.json(body);
            }
            // A body the route would refuse (415): the key check comes first.
            if caller.name == "read" && *method != Method::GET {
                call = call.raw("text/plain", "not json");
            }
            let reply = daemon.send(call).await;
            let want = expected(caller.name, *family);
            let ok = match want {
                0 => reply.status != 401 && reply.status != 403,
                code => reply.status == code,
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} as {}: {} {}",
                    caller.name,
                    reply.status,
                    reply.text()
                ));
            }
            if want == 403 {
                assert_eq!(reply.code(), "forbidden", "{method} {path}");
            }
            if want == 401 {
                assert_eq!(reply.code(), "unauthorized", "{method} {path}");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A key sees its own tenant only: its lists hold none of acme's records.
    let other = daemon
        .send(Call::new(Method::GET, "/v1/tenants/other/endpoints").token(Some(&other_key)))
        .await;
    assert_eq!(other.status, 200);
    assert_eq!(other.json["data"], json!([]));
    let other_events = daemon
        .send(Call::new(Method::GET, "/v1/tenants/other/events").token(Some(&other_key)))
        .await;
    assert_eq!(other_events.json["data"], json!([]));
}

/// access.md §1: a revoked key is refused on the very next request; revoking
/// through another tenant's path finds nothing and leaves the key working.
#[tokio::test]
async fn a_revoked_key_is_refused_on_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let (id, token) = make_key(&daemon, "acme", "read").await;
    let events = format!("{TENANT}/events");
    let ok = daemon
        .send(Call::new(Method::GET, &events).token(Some(&token)))
        .await;
    assert_eq!(ok.status, 200);

    let elsewhere = daemon
        .send(Call::new(
            Method::DELETE,
            &format!("/v1/tenants/other/keys/{id}"),
        ))
        .await;
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.text());
    let still = daemon
        .send(
            Call::new(Method::GET, &events)
                .header("x-api-key", &token)
                .token(None),
        )
        .await;
    assert_eq!(still.status, 200);

    let revoked = daemon
        .send(Call::new(Method::DELETE, &format!("{TENANT}/keys/{id}")))
        .await;
    assert_eq!(revoked.status, 204);
    let refused = daemon
        .send(Call::new(Method::GET, &events).token(Some(&token)))
        .await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    let refused = daemon
        .send(
            Call::new(Method::GET, &events)
                .header("x-api-key", &token)
                .token(None),
        )
        .await;
    assert_eq!(refused.status, 401);
    let again = daemon
        .send(Call::new(Method::DELETE, &format!("{TENANT}/keys/{id}")))
        .await;
    assert_eq!(again.status, 404);
    let listed = daemon.get(&format!("{TENANT}/keys")).await;
    assert_eq!(listed.json["data"], json!([]));
}

/// access.md §1: the token is in the create answer only: never in a list, never in
/// the logs, and at rest only its SHA-256 is kept. `last_used_at` appears once the
/// key is used.
#[tokio::test]
async fn tokens_are_shown_once_and_kept_as_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options {
            storage: "sled",
            ..Options::default()
        }
        .env("RUST_LOG", "debug"),
    )
    .await;
    let (id, token) = make_key(&daemon, "acme", "tenant").await;
    assert!(token.starts_with("hk_") && token.len() == 67, "{token}");
    let used = daemon
        .send(Call::new(Method::GET, &format!("{TENANT}/endpoints")).token(Some(&token)))
        .await;
    assert_eq!(used.status, 200);

    let listed = eventually("last_used_at to be written", || {
        let daemon = &daemon;
        async move {
            let listed = daemon.get(&format!("{TENANT}/keys")).await;
            (!listed.json["data"][0]["last_used_at"].is_null()).then_some(listed)
        }
    })
    .await;
    assert_eq!(listed.json["data"][0]["id"], id.as_str());
    assert!(listed.json["data"][0].get("token").is_none());
    assert!(!listed.text().contains(&token[3..]));
    assert!(!listed.text().contains("token_hash"));

    let data_dir = daemon.data_dir.clone();
    let stderr = daemon.stderr();
    assert!(daemon.terminate().await.success());
    assert!(!stderr.contains(&token[3..]), "a token was logged");

    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let (mut found_token, mut found_hash) = (false, false);
    for file in walk(&data_dir) {
        let bytes = std::fs::read(&file).unwrap();
        found_token |= contains(&bytes, &token.as_bytes()[3..]);
        found_hash |= contains(&bytes, hash.as_bytes());
    }
    assert!(
        !found_token,
        "the token is stored in {}",
        data_dir.display()
    );
    assert!(found_hash, "the token's hash is stored");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// access.md §2: `max_endpoints` answers 409 and `publish_rate` 429 with
/// `retry-after`; neither stores anything.
#[tokio::test]
async fn quotas_answer_409_and_429_and_store_nothing() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default().config("[tenants]\nmax_endpoints = 5\npublish_rate = 0\n"),
    )
    .await;
    let defaults = daemon.get(TENANT).await;
    assert_eq!(defaults.status, 200);
    assert_eq!(defaults.json["max_endpoints"], 5);
    assert_eq!(defaults.json["publish_rate"], 0);
    assert_eq!(defaults.json["updated_at"], Value::Null);

    let put = daemon
        .call(
            Method::PUT,
            TENANT,
            &json!({"max_endpoints": 2, "publish_rate": 3}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.json["max_endpoints"], 2);
    assert_eq!(put.json["default_profile"], "standard");
    for n in 0..2 {
        let made = daemon
            .post(
                &format!("{TENANT}/endpoints"),
                &json!({"url": receiver.url(&format!("/{n}"))}),
            )
            .await;
        assert_eq!(made.status, 201);
    }
    let over = daemon
        .post(
            &format!("{TENANT}/endpoints"),
            &json!({"url": receiver.url("/3")}),
        )
        .await;
    assert_eq!(over.status, 409, "{}", over.text());
    assert_eq!(over.code(), "conflict");
    assert!(over.message().contains('2'), "{}", over.message());
    let listed = daemon.get(&format!("{TENANT}/endpoints")).await;
    assert_eq!(listed.json["data"].as_array().unwrap().len(), 2);
    // Another tenant keeps the configured default.
    let elsewhere = daemon
        .post(
            "/v1/tenants/other/endpoints",
            &json!({"url": receiver.url("/o")}),
        )
        .await;
    assert_eq!(elsewhere.status, 201);

    // A bucket of one second's worth (3): a burst of 10 gets 3 through.
    let mut accepted = 0;
    let mut limited = None;
    for n in 0..10 {
        let reply = daemon
            .post(
                &format!("{TENANT}/events"),
                &json!({"type": "order.filled", "id": format!("burst-{n}"), "data": {}}),
            )
            .await;
        match reply.status {
            202 => accepted += 1,
            429 => limited = Some(reply),
            other => panic!("unexpected {other}: {}", reply.text()),
        }
    }
    let limited = limited.expect("the burst is limited");
    assert_eq!(limited.code(), "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert!((3..=4).contains(&accepted), "accepted {accepted}");
    let events = daemon.get(&format!("{TENANT}/events?limit=100")).await;
    assert_eq!(events.json["data"].as_array().unwrap().len(), accepted);

    // Removing the settings returns to the defaults.
    let reset = daemon.call(Method::PUT, TENANT, &json!({})).await;
    assert_eq!(reset.json["max_endpoints"], 5);
    assert_eq!(reset.json["publish_rate"], 0);
}

/// Hostile input on every new body and path: a clear 4xx, nothing changed.
#[tokio::test]
async fn bad_key_and_tenant_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let keys = format!("{TENANT}/keys");
    let bad_keys = [
        (json!({}), "scope"),
        (json!({"scope": "admin"}), "scope"),
        (json!({"scope": 1}), "scope"),
        (json!({"scope": "read", "token": "hk_mine"}), "token"),
        (json!({"scope": "read", "description": 5}), "description"),
        (
            json!({"scope": "read", "description": "x".repeat(300)}),
            "description",
        ),
        (
            json!({"scope": "read", "description": "a\nb"}),
            "description",
        ),
    ];
    for (body, field) in bad_keys {
        let reply = daemon.post(&keys, &body).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text());
        assert!(
            reply.message().starts_with(field),
            "{body}: {}",
            reply.message()
        );
    }
    for bad_id in ["nope", "key_", "ep_01J0000000000000000000000", "key_!!"] {
        let reply = daemon
            .send(Call::new(Method::DELETE, &format!("{keys}/{bad_id}")))
            .await;
        assert_eq!(reply.status, 422, "{bad_id}: {}", reply.text());
    }
    let listed = daemon.get(&keys).await;
    assert_eq!(listed.json["data"], json!([]));
    let reserved = daemon
        .post("/v1/tenants/_herald/keys", &json!({"scope": "read"}))
        .await;
    assert_eq!(reserved.status, 403, "{}", reserved.text());

    let bad_settings = [
        (json!({"max_endpoints": "many"}), "max_endpoints"),
        (json!({"max_endpoints": 0}), "max_endpoints"),
        (json!({"max_endpoints": -1}), "max_endpoints"),
        (json!({"publish_rate": 2_000_000}), "publish_rate"),
        (json!({"default_profile": "nope"}), "default_profile"),
        (
            json!({"notification_url": "ftp://x.example"}),
            "notification_url",
        ),
        (
            json!({"notification_url": "http://[::1"}),
            "notification_url",
        ),
        (
            json!({"notification_types": ["order.filled"]}),
            "notification_types",
        ),
        (json!({"strict_types": "yes"}), "strict_types"),
        (json!({"colour": "red"}), "colour"),
    ];
    for (body, field) in bad_settings {
        let reply = daemon.call(Method::PUT, TENANT, &body).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text());
        assert!(
            reply.message().starts_with(field),
            "{body}: {}",
            reply.message()
        );
    }
    let shown = daemon.get(TENANT).await;
    assert_eq!(shown.json["updated_at"], Value::Null, "{}", shown.text());
    let array = daemon
        .send(Call::new(Method::PUT, TENANT).raw("application/json", "[1]"))
        .await;
    assert_eq!(array.status, 422);
    let broken = daemon
        .send(Call::new(Method::PUT, TENANT).raw("application/json", "{\"max_endpoints\":"))
        .await;
    assert_eq!(broken.status, 400);
    let bad_tenant = daemon.get("/v1/tenants/bad!tenant").await;
    assert_eq!(bad_tenant.status, 422);
    let reserved = daemon
        .call(Method::PUT, "/v1/tenants/_herald", &json!({}))
        .await;
    assert_eq!(reserved.status, 403);
}

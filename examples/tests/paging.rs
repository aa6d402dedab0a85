//! Big answers through `heraldd` (http-api.md "Conventions", "Events", "Attempts,
//! dead letters, replay"): an event's deliveries come in pages, a `?type=` listing
//! reads a bounded number of events per request, and a replay of more dead letters
//! than one page holds replays every one of them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{eventually, Daemon, Options};
use futures::StreamExt;
use herald_testkit::receiver::{Mode, Receiver};
use serde_json::{json, Value};

const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";
const EVENTS: &str = "/v1/tenants/acme/events";
/// `herald::storage::EVENT_SCAN_LIMIT`, as http-api.md documents it.
const SCAN_LIMIT: usize = 1000;

/// Publishes `count` events of `event_type`, 32 requests at a time.
async fn publish_many(daemon: &Daemon, event_type: &str, count: usize) {
    let statuses: Vec<u16> = futures::stream::iter(0..count)
        .map(|n| async move {
            daemon
                .post(EVENTS, &json!({"type": event_type, "data": {"n": n}}))
                .await
                .status
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
}

/// Every page of the list at `path` (which has no query yet) with `?limit=limit`;
/// panics past `max_pages`.
async fn all_pages(daemon: &Daemon, path: &str, limit: usize, max_pages: usize) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let reply = daemon.get(&url).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.text());
        pages.push(reply.json["data"].as_array().unwrap().clone());
        match reply.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
    }
    panic!("{path}: more than {max_pages} pages");
}

/// http-api.md "Events": an event's deliveries are a list like every other: `limit`
/// and `cursor`, in creation order, the cursor null on the last page.
#[tokio::test]
async fn an_events_deliveries_come_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    for n in 0..7 {
        let url = format!("http://127.0.0.1:9/hooks/{n}");
        let created = daemon.post(ENDPOINTS, &json!({ "url": url })).await;
        assert_eq!(created.status, 201);
    }
    let published = daemon
        .post(EVENTS, &json!({"type": "order.filled", "data": {}}))
        .await;
    assert_eq!(published.json["deliveries"], 7);
    let path = format!(
        "{EVENTS}/{}/deliveries",
        published.json["id"].as_str().unwrap()
    );

    let pages = all_pages(&daemon, &path, 3, 10).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    let ids: Vec<String> = pages
        .iter()
        .flatten()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "in creation (id) order, each once");
    let endpoints: BTreeSet<&str> = pages
        .iter()
        .flatten()
        .map(|d| d["endpoint_id"].as_str().unwrap())
        .collect();
    assert_eq!(endpoints.len(), 7);

    let whole = daemon.get(&path).await;
    assert_eq!(
        whole.json["data"].as_array().unwrap().len(),
        7,
        "default 50"
    );
    assert!(whole.json["next_cursor"].is_null());
    for bad in ["?cursor=garbage", "?limit=0", "?limit=many"] {
        let reply = daemon.get(&format!("{path}{bad}")).await;
        assert_eq!((reply.status, reply.code()), (422, "invalid"), "{bad}");
    }
}

/// http-api.md "Events": with `?type=`, one request reads at most 1000 events: a
/// rare type behind 1000 newer events of another comes after an empty page that
/// carries a cursor.
#[tokio::test]
async fn a_type_filter_reads_a_bounded_number_of_events_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let rare = daemon
        .post(EVENTS, &json!({"type": "rare.kind", "data": {}}))
        .await;
    assert_eq!(rare.status, 202);
    publish_many(&daemon, "noise.kind", SCAN_LIMIT + 5).await;

    let first = daemon
        .get(&format!("{EVENTS}?type=rare.kind&limit=10"))
        .await;
    assert_eq!(first.status, 200);
    assert!(first.json["data"].as_array().unwrap().is_empty());
    let cursor = first.json["next_cursor"]
        .as_str()
        .expect("a cursor to go on");
    let second = daemon
        .get(&format!("{EVENTS}?type=rare.kind&limit=10&cursor={cursor}"))
        .await;
    let found = second.json["data"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], rare.json["id"]);
    assert!(second.json["next_cursor"].is_null());

    // A filter most events pass still fills its pages.
    let noise = daemon
        .get(&format!("{EVENTS}?type=noise.kind&limit=250"))
        .await;
    assert_eq!(noise.json["data"].as_array().unwrap().len(), 250);
    assert!(noise.json["next_cursor"].is_string());
}

/// http-api.md "Attempts, dead letters, replay": a replay of more dead letters than
/// one page of its work holds (1000) queues every one again, once.
#[tokio::test]
async fn a_replay_of_more_dead_letters_than_a_page_replays_them_all() {
    let receiver = Receiver::builder()
        .record(false)
        .mode("/hooks", Mode::Status(500))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    // One attempt per delivery, and no breaker or auto-disable in the way.
    let config = "[delivery]\nretry_schedule = []\nbreaker_threshold = 1000000\n\
                  disable_after_failures = 1000000\n";
    let daemon = Daemon::start(dir.path(), Options::default().config(config)).await;
    let created = daemon
        .post(
            ENDPOINTS,
            &json!({"url": receiver.url("/hooks"), "event_types": ["order.*"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let endpoint = format!("{ENDPOINTS}/{}", created.json["id"].as_str().unwrap());
    let count = 1_050;
    publish_many(&daemon, "order.filled", count).await;
    let stats = |reply: &Value, key: &str| reply["stats"][key].as_u64().unwrap();
    eventually("every delivery to die", || async {
        let reply = daemon.get(&endpoint).await;
        (stats(&reply.json, "dead") == count as u64).then_some(())
    })
    .await;

    receiver.set_mode("/hooks", Mode::Ok);
    let replay = daemon
        .post(&format!("{endpoint}/dead-letters/replay"), &json!({}))
        .await;
    assert_eq!(replay.status, 202, "{}", replay.text());
    assert_eq!(replay.json["replayed"], count);
    eventually("every replayed delivery to succeed", || async {
        let reply = daemon.get(&endpoint).await;
        let settled = stats(&reply.json, "dead") == 0 && stats(&reply.json, "pending") == 0;
        settled.then_some(())
    })
    .await;
    assert_eq!(
        receiver.count(),
        2 * count,
        "one failure and one success each"
    );
}

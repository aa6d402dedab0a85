//! Three real `heraldd` on one PostgreSQL (cluster.md): publishes spread over the
//! nodes, receivers that record everything, and nodes killed (SIGKILL), paused past
//! their lease (SIGSTOP) and restarted in turn (SIGTERM) under load. Every
//! acknowledged event is delivered to every endpoint, fifo endpoints get each
//! publisher's events in order, and a node that lost its lease writes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{eventually, Call, Daemon, Options, WAIT};
use herald::sealing::SealingKey;
use herald_testkit::postgres::TestPostgres;
use herald_testkit::receiver::{Mode, Receiver};
use http::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

/// Short leases so that a test sees takeovers in seconds; many retries, quickly,
/// so that nothing dies while a node is down.
const CONFIG: &str = "[cluster]\npartitions = 12\nlease_ttl = \"2s\"\nlease_renew = \"250ms\"\n\
    [delivery]\nretry_schedule = [\"100ms\", \"200ms\", \"300ms\", \"500ms\", \"1s\", \"1s\", \
    \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\"]\ntimeout = \"5s\"\n";
const LEASE_TTL: Duration = Duration::from_secs(2);
const LEASE_RENEW: Duration = Duration::from_millis(250);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The running nodes, by index (`None` while one is down); publishers share it.
type Nodes = Arc<Mutex<Vec<Option<Arc<Daemon>>>>>;

/// The database and key every node of one test shares, and each node's directory.
struct Cluster {
    url: String,
    key: String,
    dirs: Vec<TempDir>,
    nodes: Nodes,
}

impl Cluster {
    /// Starts `n` nodes on a new database and waits until they share the partitions.
    async fn start(n: usize) -> Cluster {
        let url = TestPostgres::shared().database().await;
        let key = SealingKey::generate().to_text();
        let mut cluster = Cluster {
            url,
            key,
            dirs: Vec::new(),
            nodes: Arc::new(Mutex::new(Vec::new())),
        };
        for index in 0..n {
            cluster.dirs.push(tempfile::tempdir().unwrap());
            let node = cluster.start_node(index).await;
            cluster.nodes.lock().unwrap().push(Some(node));
        }
        cluster.settled(n).await;
        cluster
    }

    fn options(&self, index: usize) -> Options {
        Options {
            storage: "postgres",
            ..Options::default()
        }
        .config(CONFIG)
        .env("HERALD_POSTGRES_URL", &self.url)
        .env("HERALD_ENCRYPTION_KEYS", &self.key)
        .env("HERALD_NODE_ID", &format!("node-{index}"))
        .env("RUST_LOG", "info")
    }

    async fn start_node(&self, index: usize) -> Arc<Daemon> {
        Arc::new(Daemon::start(self.dirs[index].path(), self.options(index)).await)
    }

    /// A running node.
    fn node(&self, index: usize) -> Arc<Daemon> {
        self.nodes.lock().unwrap()[index]
            .clone()
            .expect("the node runs")
    }

    fn running(&self) -> Vec<Arc<Daemon>> {
        self.nodes
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// Takes a node out of the list and waits until no publisher holds it.
    async fn take(&self, index: usize) -> Daemon {
        let mut node = self.nodes.lock().unwrap()[index].take().unwrap();
        for _ in 0..3000 {
            match Arc::try_unwrap(node) {
                Ok(daemon) => return daemon,
                Err(shared) => node = shared,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("a publisher kept node-{index}");
    }

    /// Stops every running node (SIGTERM), each cleanly.
    async fn stop(&self) {
        let count = self.nodes.lock().unwrap().len();
        for index in 0..count {
            if self.nodes.lock().unwrap()[index].is_some() {
                assert!(self.take(index).await.terminate().await.success());
            }
        }
    }

    /// Waits until `alive` nodes are alive, own every partition between them, and
    /// each owns some.
    async fn settled(&self, alive: usize) {
        let node = self.running()[0].clone();
        eventually("the nodes to share the partitions", || {
            let node = node.clone();
            async move {
                let status = node.get("/v1/cluster").await;
                assert_eq!(status.status, 200, "{}", status.text());
                let nodes = status.json["nodes"].as_array().unwrap().clone();
                let live: Vec<&Value> = nodes.iter().filter(|n| n["alive"] == true).collect();
                let ok = live.len() == alive
                    && status.json["partitions_unowned"] == 0
                    && live
                        .iter()
                        .all(|n| n["partitions_owned"].as_u64() > Some(0));
                ok.then_some(())
            }
        })
        .await;
    }

    /// The node id owning `endpoint_id`'s partition now, as the database says.
    async fn owner_of(&self, endpoint_id: &str) -> Option<String> {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let id = herald::EndpointId::parse(endpoint_id).unwrap();
        let partition = herald::cluster::partition_of(&id, 12) as i32;
        let row = client
            .query_one(
                "SELECT owner FROM partition_leases
                 WHERE partition = $1 AND expires_at > now()",
                &[&partition],
            )
            .await
            .ok()?;
        row.get(0)
    }
}

/// Creates an endpoint on `node`; returns its id.
async fn create_endpoint(node: &Daemon, url: &str, fifo: bool) -> String {
    let ordering = if fifo { "fifo" } else { "unordered" };
    let created = node
        .post(
            "/v1/tenants/acme/endpoints",
            &json!({"url": url, "ordering": ordering}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json["id"].as_str().unwrap().to_owned()
}

/// What the publishers had acknowledged: `(publisher, k)` in order per publisher.
type Acked = Arc<Mutex<Vec<(usize, u64)>>>;

/// `publishers` publishers, each publishing its events one after the other (the
/// next begins once the last is acknowledged), event k on node `k % nodes`, and on
/// the next node when that one does not answer, with the same id (idempotent).
/// Runs until `stop`; returns what was acknowledged.
fn publish_until(
    cluster: &Cluster,
    publishers: usize,
    stop: Arc<AtomicBool>,
) -> (Acked, Vec<tokio::task::JoinHandle<()>>) {
    let acked: Acked = Arc::new(Mutex::new(Vec::new()));
    let nodes = cluster.nodes.clone();
    let mut tasks = Vec::new();
    for publisher in 0..publishers {
        let (acked, stop, nodes) = (acked.clone(), stop.clone(), nodes.clone());
        tasks.push(tokio::spawn(async move {
            let mut k = 0u64;
            while !stop.load(Ordering::SeqCst) && k < 10_000 {
                let body = json!({
                    "id": format!("p{publisher}-{k}"),
                    "type": "order.filled",
                    "data": {"publisher": publisher, "k": k},
                });
                let started = Instant::now();
                let mut target = k as usize;
                loop {
                    assert!(started.elapsed() < WAIT, "a publish found no node");
                    let node = {
                        let nodes = nodes.lock().unwrap();
                        nodes[target % nodes.len()].clone()
                    };
                    target += 1;
                    let Some(node) = node else { continue };
                    let call = Call::new(Method::POST, "/v1/tenants/acme/events").json(&body);
                    match node.try_send_alone(call).await {
                        Some(reply) if reply.status == 202 => break,
                        // Stopping, overloaded, or killed: the next node.
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                acked.lock().unwrap().push((publisher, k));
                k += 1;
            }
        }));
    }
    (acked, tasks)
}

/// Publishers running (`publish_until`), and what they had acknowledged.
struct Load {
    acked: Acked,
    stop: Arc<AtomicBool>,
    publishers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(cluster: &Cluster, publishers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (acked, publishers) = publish_until(cluster, publishers, stop.clone());
        Load {
            acked,
            stop,
            publishers,
        }
    }

    fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until `more` publishes past what was acknowledged now went through.
    async fn more(&self, more: usize) {
        let target = self.count() + more;
        eventually("publishes to go through", || {
            std::future::ready((self.count() >= target).then_some(()))
        })
        .await;
    }

    /// Stops the publishers; what they had acknowledged.
    async fn finish(self) -> Vec<(usize, u64)> {
        self.stop.store(true, Ordering::SeqCst);
        for publisher in self.publishers {
            publisher.await.unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

/// `(publisher, k)` of each request the receiver got on `path`, in arrival order,
/// probes left out.
fn arrivals(receiver: &Receiver, path: &str) -> Vec<(usize, u64)> {
    receiver
        .requests_to(path)
        .iter()
        .filter_map(|request| {
            let body: Value = serde_json::from_slice(&request.body).ok()?;
            let data = &body["data"];
            Some((
                usize::try_from(data["publisher"].as_u64()?).ok()?,
                data["k"].as_u64()?,
            ))
        })
        .collect()
}

/// Waits until every endpoint path got every acknowledged event, then checks fifo
/// order: each publisher's events arrive, first time each, in publish order.
async fn all_delivered_in_order(receiver: &Receiver, paths: &[String], acked: &[(usize, u64)]) {
    let expected: HashSet<(usize, u64)> = acked.iter().copied().collect();
    for path in paths {
        eventually("every acknowledged event to be delivered", || {
            let got: HashSet<(usize, u64)> = arrivals(receiver, path).into_iter().collect();
            let missing = expected.difference(&got).count();
            std::future::ready((missing == 0).then_some(()))
        })
        .await;
        let mut seen = HashSet::new();
        let mut last: HashMap<usize, u64> = HashMap::new();
        for (publisher, k) in arrivals(receiver, path) {
            if !seen.insert((publisher, k)) {
                continue; // a repeat of what was in flight at a failover
            }
            if let Some(before) = last.insert(publisher, k) {
                assert!(
                    k > before,
                    "{path}: publisher {publisher}'s event {k} arrived after {before}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_node_killed_under_load_loses_nothing_and_its_endpoints_resume() {
    let receiver = Receiver::builder()
        .default_mode(Mode::Ok)
        .mode("/limited", Mode::Slow(LIMITED_HOLD))
        .start()
        .await;
    let cluster = Cluster::start(3).await;
    let paths: Vec<String> = (0..6).map(|i| format!("/e{i}")).collect();
    let mut ids = Vec::new();
    for path in &paths {
        ids.push(create_endpoint(&cluster.node(0), &receiver.url(path), true).await);
    }
    // One more endpoint, whose receiver holds each request: its max_in_flight and
    // rate limit must hold across the cluster, through the kill.
    let limited = cluster
        .node(1)
        .post(
            "/v1/tenants/acme/endpoints",
            &json!({"url": receiver.url("/limited"), "max_in_flight": 2, "rate_limit": LIMITED_RATE}),
        )
        .await;
    assert_eq!(limited.status, 201, "{}", limited.text());
    ids.push(limited.json["id"].as_str().unwrap().to_owned());

    let load = Load::start(&cluster, 3);
    load.more(60).await;
    // Kill the node that owns the most endpoints.
    let mut owned = [0usize; 3];
    for id in &ids {
        if let Some(owner) = cluster.owner_of(id).await {
            owned[owner.trim_start_matches("node-").parse::<usize>().unwrap()] += 1;
        }
    }
    let victim = (0..3).max_by_key(|i| owned[*i]).unwrap();
    let killed = cluster.take(victim).await;
    let killed_at = Instant::now();
    killed.kill().await;
    let before_kill = load.count();
    load.more(60).await;
    let acked = load.finish().await;
    all_delivered_in_order(&receiver, &paths, &acked).await;
    let resumed = killed_at.elapsed();
    // cluster.md: a dead node's endpoints resume within lease_ttl + lease_renew + the
    // attempt timeout; everything acknowledged is delivered by then plus the time the
    // backlog takes.
    let bound = LEASE_TTL + LEASE_RENEW + ATTEMPT_TIMEOUT + Duration::from_secs(10);
    assert!(resumed < bound, "resumed after {resumed:?}");
    println!(
        "{} events acknowledged, {} of them before the kill; all delivered to 6 fifo endpoints {resumed:?} after it",
        acked.len(),
        before_kill
    );
    eventually("the limited endpoint to get every event", || {
        let got: HashSet<(usize, u64)> = arrivals(&receiver, "/limited").into_iter().collect();
        std::future::ready(acked.iter().all(|a| got.contains(a)).then_some(()))
    })
    .await;
    held_to_its_limits(&receiver.requests_to("/limited"));

    // The survivors own everything; the dead node shows as not alive.
    cluster.settled(2).await;
    let status = cluster.running()[0].get("/v1/cluster").await;
    let dead = status.json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == format!("node-{victim}"))
        .cloned()
        .unwrap();
    assert_eq!(dead["alive"], false, "{dead}");
    assert_eq!(dead["partitions_owned"], 0, "{dead}");
    cluster.stop().await;
}

#[tokio::test]
async fn a_node_paused_past_its_lease_is_fenced_and_writes_nothing() {
    let receiver = Receiver::builder()
        .mode("/slow", Mode::Slow(Duration::from_secs(3)))
        .start()
        .await;
    let cluster = Cluster::start(3).await;
    let id = create_endpoint(&cluster.node(0), &receiver.url("/slow"), false).await;
    let owner = eventually("the endpoint's partition to be owned", || {
        let cluster = &cluster;
        let id = id.clone();
        async move { cluster.owner_of(&id).await }
    })
    .await;
    let paused_index: usize = owner.trim_start_matches("node-").parse().unwrap();
    let paused = cluster.node(paused_index);
    let probes = receiver.requests_to("/slow").len();

    let published = cluster
        .node((paused_index + 1) % 3)
        .post(
            "/v1/tenants/acme/events",
            &json!({"id": "paused-1", "type": "order.filled", "data": {"n": 1}}),
        )
        .await;
    assert_eq!(published.status, 202, "{}", published.text());
    // The owner's attempt is in flight (the receiver holds it) when it stops.
    eventually("the owner to send", || {
        std::future::ready((receiver.requests_to("/slow").len() > probes).then_some(()))
    })
    .await;
    signal(&paused, "STOP");
    let taken = eventually("another node to take the partition over", || {
        let cluster = &cluster;
        let (id, owner) = (id.clone(), owner.clone());
        async move { cluster.owner_of(&id).await.filter(|now| *now != owner) }
    })
    .await;
    // The new owner sends it again (same webhook-id) and records it.
    let event_request = |n: usize| {
        receiver
            .requests_to("/slow")
            .into_iter()
            .filter(|r| r.header("webhook-id") == Some("paused-1"))
            .nth(n)
    };
    eventually("the new owner to send the event again", || {
        std::future::ready(event_request(1).map(drop))
    })
    .await;
    signal(&paused, "CONT");
    let attempts_path = format!("/v1/tenants/acme/endpoints/{id}/attempts");
    let reader = cluster.node((paused_index + 1) % 3);
    eventually("the new owner to record its attempt", || {
        let (reader, path) = (reader.clone(), attempts_path.clone());
        async move {
            let attempts = reader.get(&path).await;
            let data = attempts.json["data"].as_array()?.clone();
            data.iter()
                .any(|a| a["event_id"] == "paused-1" && a["status"] == 200)
                .then_some(())
        }
    })
    .await;
    // The paused node, running again, finds its lease gone: its write is fenced off.
    eventually("the paused node to be fenced off", || {
        std::future::ready(paused.stderr().contains("fenced off").then_some(()))
    })
    .await;
    let attempts = reader.get(&attempts_path).await;
    let of_event: Vec<&Value> = attempts.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["event_id"] == "paused-1")
        .collect();
    let numbers: Vec<u64> = of_event
        .iter()
        .map(|a| a["attempt"].as_u64().unwrap())
        .collect();
    let distinct: HashSet<u64> = numbers.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        numbers.len(),
        "each attempt number recorded once (the paused node's was fenced off): {of_event:?}"
    );
    println!("partition taken over by {taken}; the paused node {owner} was fenced off");
    // It still serves, and owns a share again once it claims one.
    cluster.settled(3).await;
    drop(paused);
    drop(reader);
    cluster.stop().await;
}

#[tokio::test]
async fn a_rolling_restart_under_load_loses_nothing() {
    let receiver = Receiver::builder().default_mode(Mode::Ok).start().await;
    let cluster = Cluster::start(3).await;
    let paths: Vec<String> = (0..4).map(|i| format!("/r{i}")).collect();
    for path in &paths {
        create_endpoint(&cluster.node(0), &receiver.url(path), true).await;
    }
    let load = Load::start(&cluster, 2);
    for index in 0..3 {
        load.more(30).await;
        let node = cluster.take(index).await;
        let stopped = Instant::now();
        let status = node.terminate().await;
        assert!(status.success(), "node-{index} stopped cleanly");
        println!(
            "node-{index} handed over and stopped in {:?}",
            stopped.elapsed()
        );
        let restarted = cluster.start_node(index).await;
        cluster.nodes.lock().unwrap()[index] = Some(restarted);
        cluster.settled(3).await;
    }
    load.more(30).await;
    let acked = load.finish().await;
    all_delivered_in_order(&receiver, &paths, &acked).await;
    println!(
        "{} events acknowledged through a rolling restart, all delivered in order",
        acked.len()
    );
    cluster.stop().await;
}

/// How long the receiver holds each request to the limited endpoint, and its
/// rate limit (events per second).
const LIMITED_HOLD: Duration = Duration::from_millis(30);
const LIMITED_RATE: u32 = 40;

/// Checks, from arrival times, that the limited endpoint never had more than 2
/// requests in flight (no 3 arrivals within the hold, less a margin for timers)
/// nor more than its token bucket allows in any second (a second's worth of burst
/// plus a second's refill).
fn held_to_its_limits(requests: &[herald_testkit::receiver::RecordedRequest]) {
    let mut at: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    at.sort();
    let within =
        |i: usize, span: Duration| at[i..].iter().take_while(|t| **t < at[i] + span).count();
    for i in 0..at.len() {
        let overlapping = within(i, LIMITED_HOLD - Duration::from_millis(8));
        assert!(overlapping <= 2, "{overlapping} requests in flight at once");
        let in_a_second = within(i, Duration::from_secs(1));
        assert!(
            in_a_second <= 2 * LIMITED_RATE as usize,
            "{in_a_second} requests within a second"
        );
    }
}

/// Publishes one event on `node`; returns how many deliveries it made.
async fn deliveries_of_a_publish(node: &Daemon) -> u64 {
    let published = node
        .post(
            "/v1/tenants/acme/events",
            &json!({"type": "order.filled", "data": {"probe": true}}),
        )
        .await;
    assert_eq!(published.status, 202, "{}", published.text());
    published.json["deliveries"].as_u64().unwrap()
}

#[tokio::test]
async fn an_endpoint_change_on_one_node_applies_to_the_next_publish_on_every_other() {
    let receiver = Receiver::builder().default_mode(Mode::Ok).start().await;
    let cluster = Cluster::start(3).await;
    let mut ids = Vec::new();
    for round in 0..6 {
        let (here, there, elsewhere) = (round % 3, (round + 1) % 3, (round + 2) % 3);
        let id = create_endpoint(&cluster.node(here), &receiver.url("/any"), false).await;
        ids.push(id);
        let expected = ids.len() as u64;
        assert_eq!(
            deliveries_of_a_publish(&cluster.node(there)).await,
            expected
        );
        assert_eq!(
            deliveries_of_a_publish(&cluster.node(elsewhere)).await,
            expected
        );
    }
    // Disabled on one node, deleted on another: the next publish anywhere skips it.
    let disabled = cluster
        .node(1)
        .call(
            Method::PATCH,
            &format!("/v1/tenants/acme/endpoints/{}", ids[0]),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    assert_eq!(deliveries_of_a_publish(&cluster.node(2)).await, 5);
    let deleted = cluster
        .node(2)
        .send(Call::new(
            Method::DELETE,
            &format!("/v1/tenants/acme/endpoints/{}", ids[1]),
        ))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert_eq!(deliveries_of_a_publish(&cluster.node(0)).await, 4);

    // A key revoked on one node is refused by the others once they hear of it.
    let key = cluster
        .node(0)
        .post("/v1/tenants/acme/keys", &json!({"scope": "read"}))
        .await;
    assert_eq!(key.status, 201, "{}", key.text());
    let (key_id, token) = (
        key.json["id"].as_str().unwrap().to_owned(),
        key.json["token"].as_str().unwrap().to_owned(),
    );
    let read_with = |node: Arc<Daemon>, token: String| async move {
        node.send(Call::new(Method::GET, "/v1/tenants/acme/endpoints").token(Some(&token)))
            .await
            .status
    };
    assert_eq!(
        read_with(cluster.node(1), token.clone()).await,
        200,
        "cached on node-1"
    );
    let revoked = cluster
        .node(2)
        .send(Call::new(
            Method::DELETE,
            &format!("/v1/tenants/acme/keys/{key_id}"),
        ))
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text());
    eventually("node-1 to refuse the revoked key", || {
        let (node, token) = (cluster.node(1), token.clone());
        async move { (read_with(node, token).await == 401).then_some(()) }
    })
    .await;
    cluster.stop().await;
}

/// Sends `SIG<name>` to the node's process.
fn signal(node: &Daemon, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(node.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

//! What survives closing and reopening a data directory, and a process killed right
//! after its writes were acknowledged.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use herald::model::{DeliveryStatus, Endpoint};
use herald::storage::{DeliveryCounts, EventFilter, PageRequest, PendingOrder, Storage};
use herald_storage_sled::SledStorage;
use herald_testkit::conformance::{at, attempt, endpoint, event, health, publish, tenant};

#[tokio::test]
async fn reopening_returns_every_pending_delivery_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let acme = tenant("acme");
    let (a, b) = (endpoint(&acme), endpoint(&acme));
    let mut expected_a = Vec::new();
    let mut expected_b = Vec::new();
    {
        let s = SledStorage::open(&path).unwrap();
        s.create_endpoint(&a).await.unwrap();
        s.create_endpoint(&b).await.unwrap();
        for t in 0..20 {
            let ds = publish(&s, &event(&acme, "order.filled", at(t)), &[&a, &b]).await;
            expected_a.push(ds[0].clone());
            expected_b.push(ds[1].clone());
        }
        // One retried (attempts and due time change), one succeeded, one dead.
        let mut retried = expected_a[3].clone();
        retried.attempts = 1;
        retried.last_status = Some(503);
        retried.next_attempt_at = Some(at(90));
        s.record_attempt(&attempt(&retried, 1, 503, at(30)), &retried, &health(1))
            .await
            .unwrap();
        expected_a[3] = retried;
        let mut ok = expected_a.remove(0);
        ok.status = DeliveryStatus::Succeeded;
        s.record_attempt(&attempt(&ok, 1, 200, at(31)), &ok, &health(0))
            .await
            .unwrap();
        let mut dead = expected_b.remove(0);
        dead.kill(herald::model::DeadReason::RetriesExhausted, at(32));
        s.update_deliveries(&[dead]).await.unwrap();
        s.flush().await.unwrap();
    }

    let s = SledStorage::open(&path).unwrap();
    let mut with = s.endpoints_with_pending().await.unwrap();
    with.sort();
    let mut ids = vec![a.id.clone(), b.id.clone()];
    ids.sort();
    assert_eq!(with, ids);
    assert_eq!(
        s.pending_deliveries(&a.id, PendingOrder::Publish, None, 1000)
            .await
            .unwrap(),
        expected_a
    );
    assert_eq!(
        s.pending_deliveries(&b.id, PendingOrder::Publish, None, 1000)
            .await
            .unwrap(),
        expected_b
    );
    assert_eq!(
        s.delivery_counts(&b.id).await.unwrap(),
        DeliveryCounts {
            pending: 19,
            dead: 1
        }
    );
    assert_eq!(s.endpoint_health(&a.id).await.unwrap(), health(0));
    let mut all: Vec<Endpoint> = s.all_endpoints().await.unwrap();
    all.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(all, vec![a.clone(), b.clone()]);
    let events = s
        .list_events(&acme, &EventFilter::default(), &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(events.items.len(), 20);
    let attempts = s
        .list_attempts(&acme, &a.id, None, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(attempts.items.len(), 2);
}

/// Attempt chunks are numbered on across a reopen: an attempt recorded after it,
/// with the same start time as one before it, lands in a chunk of its own rather
/// than over the earlier one.
#[tokio::test]
async fn attempts_recorded_after_a_reopen_keep_the_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    let mut recorded = Vec::new();
    for round in 0..3 {
        let s = SledStorage::open(&path).unwrap();
        if round == 0 {
            s.create_endpoint(&ep).await.unwrap();
        }
        let d = publish(&s, &event(&acme, "x", at(1)), &[&ep]).await;
        let a = attempt(&d[0], 1, 500, at(5));
        s.record_attempt(&a, &d[0], &health(1)).await.unwrap();
        recorded.push(a.id);
        s.flush().await.unwrap();
    }
    let s = SledStorage::open(&path).unwrap();
    let listed = s
        .list_attempts(&acme, &ep.id, None, &PageRequest::first(10))
        .await
        .unwrap();
    let mut listed: Vec<_> = listed.items.into_iter().map(|a| a.id).collect();
    listed.sort();
    recorded.sort();
    assert_eq!(listed, recorded);
}

/// The child half of `acknowledged_writes_survive_a_kill`: publishes until killed,
/// printing each event id once `insert_event` has returned.
#[test]
#[ignore = "run only as the child of acknowledged_writes_survive_a_kill"]
fn child_publishes_until_killed() {
    let Ok(path) = std::env::var("HERALD_SLED_CRASH_DIR") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let s = std::sync::Arc::new(SledStorage::open(&path).unwrap());
        let acme = tenant("acme");
        let ep = endpoint(&acme);
        s.create_endpoint(&ep).await.unwrap();
        println!("endpoint {}", ep.id);
        // Several concurrent publishers, so groups hold more than one write.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (s, acme, ep) = (s.clone(), acme.clone(), ep.clone());
            tasks.push(tokio::spawn(async move {
                for t in 0.. {
                    let ev = event(&acme, "x", at(t));
                    let d = publish(&*s, &ev, &[&ep]).await.remove(0);
                    println!("acked {}", d.id);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_publishes_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HERALD_SLED_CRASH_DIR", &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL: no destructor, no final flush.
    child.wait().unwrap();
    let lines = reader.join().unwrap();
    let endpoint_id = lines
        .iter()
        .find_map(|l| l.rsplit_once("endpoint ").map(|(_, id)| id))
        .expect("the child made its endpoint");
    let acked: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("acked "))
        // A line cut short by the kill is not a whole id.
        .filter(|id| herald::ids::DeliveryId::parse(id).is_ok())
        .collect();
    assert!(
        acked.len() > 10,
        "the child acknowledged only {} writes",
        acked.len()
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let s = SledStorage::open(&path).unwrap();
        let ep = herald::ids::EndpointId::parse(endpoint_id).unwrap();
        let pending = s
            .pending_deliveries(&ep, PendingOrder::Publish, None, usize::MAX)
            .await
            .unwrap();
        let stored: std::collections::HashSet<&str> =
            pending.iter().map(|d| d.id.as_str()).collect();
        let lost: Vec<&&str> = acked.iter().filter(|id| !stored.contains(**id)).collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged deliveries lost",
            lost.len()
        );
        assert_eq!(
            s.delivery_counts(&ep).await.unwrap().pending,
            pending.len() as u64,
            "counters agree with the index"
        );
        println!("{} acknowledged, {} recovered", acked.len(), pending.len());
    });
}

//! Several nodes on one database, at the storage's level: work positions in commit
//! order, partition leases shared and handed over, and a takeover fencing the old
//! owner's writes.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use herald::cluster::{partition_of, ClusterEvent, Membership};
use herald::error::StorageError;
use herald::sealing::Keyring;
use herald::storage::{Outcome, Storage};
use herald_storage_postgres::{ClusterOptions, PostgresCluster, PostgresStorage};
use herald_testkit::conformance::{self as c, at};
use herald_testkit::postgres::TestPostgres;

/// A new database and two handles on it.
async fn two() -> (String, PostgresStorage, PostgresStorage) {
    let url = TestPostgres::shared().database().await;
    let keyring = Keyring::generate();
    let a = PostgresStorage::connect(&url, keyring.clone())
        .await
        .unwrap();
    let b = PostgresStorage::connect(&url, keyring).await.unwrap();
    (url, a, b)
}

/// Short leases, so that a test sees rounds, claims and hand-overs quickly.
fn options(node: &str) -> ClusterOptions {
    ClusterOptions {
        node_id: node.into(),
        partitions: 8,
        lease_ttl: Duration::from_secs(3),
        lease_renew: Duration::from_millis(200),
    }
}

/// Joins and plays the engine's part: every change of ownership is answered at
/// once (no actors to stop).
async fn join(storage: &PostgresStorage, node: &str) -> PostgresCluster {
    let cluster = PostgresCluster::join(storage, options(node)).await.unwrap();
    let mut events = cluster.take_events().unwrap();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let ClusterEvent::OwnershipChanged { done: Some(done) } = event {
                let _ = done.send(());
            }
        }
    });
    cluster
}

/// Waits (at most 15 s) until `check` holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn positions_follow_commit_order_and_a_reader_misses_nothing() {
    let (_, a, b) = two().await;
    let tenant = c::tenant("acme");
    let endpoint = c::endpoint(&tenant);
    a.create_endpoint(&endpoint).await.unwrap();
    // A reader starts where an owner starts: below everything stored later.
    let start = b.work_position(&endpoint.id).await.unwrap();

    const PER_WRITER: usize = 60;
    let mut writers = Vec::new();
    for storage in [a.clone(), b.clone(), a.clone(), b.clone()] {
        let (tenant, endpoint) = (tenant.clone(), endpoint.clone());
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..PER_WRITER {
                let event = c::event(&tenant, "order.filled", at(n as u64));
                ids.extend(c::publish(&storage, &event, &[&endpoint]).await)
            }
            ids
        }));
    }
    // A reader following the positions while the writers run, as an owner does.
    let reader = {
        let (b, id) = (b.clone(), endpoint.id.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut last = start;
            for _ in 0..10_000 {
                let read = b.pending_since(&id, last, 7).await.unwrap();
                for (position, delivery) in read.deliveries {
                    assert!(position > last, "positions only grow");
                    last = position;
                    seen.push(delivery.id);
                }
                if seen.len() == 4 * PER_WRITER {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            panic!("the reader saw {} of {}", seen.len(), 4 * PER_WRITER);
        })
    };
    let mut written = HashSet::new();
    for writer in writers {
        written.extend(writer.await.unwrap().into_iter().map(|d| d.id));
    }
    let seen = reader.await.unwrap();
    let distinct: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "nothing read twice");
    assert_eq!(distinct, written, "everything read");
    // Nothing is running now: every position is final, nothing waits for later.
    let all = a.pending_since(&endpoint.id, 0, 1000).await.unwrap();
    assert!(!all.more_soon);
    let all = all.deliveries;
    assert!(a.work_position(&endpoint.id).await.unwrap() >= all.last().unwrap().0);
    // Settled work is no longer pending; what is left is read from where asked.
    let mut done = all[0].1.clone();
    done.status = herald::model::DeliveryStatus::Succeeded;
    done.next_attempt_at = None;
    a.record_outcomes(
        &endpoint.id,
        &[Outcome {
            delivery: done.clone(),
            attempt: None,
        }],
        &Default::default(),
    )
    .await
    .unwrap();
    let rest = a
        .pending_since(&endpoint.id, 0, 1000)
        .await
        .unwrap()
        .deliveries;
    assert_eq!(rest.len(), all.len() - 1);
    assert!(rest.iter().all(|(_, d)| d.id != done.id));
}

#[tokio::test]
async fn nodes_share_the_partitions_and_one_leaving_hands_its_share_over() {
    let (_, a, b) = two().await;
    let first = join(&a, "node-a").await;
    assert_eq!(first.partitions(), 8);
    eventually("the first node owns every partition", || {
        first.partitions_owned() == 8
    })
    .await;
    let second = join(&b, "node-b").await;
    eventually("the two nodes own half each", || {
        first.partitions_owned() == 4 && second.partitions_owned() == 4
    })
    .await;
    let status = first.status().await.unwrap();
    assert_eq!(status.nodes.len(), 2);
    assert!(status
        .nodes
        .iter()
        .all(|n| n.alive && n.partitions_owned == 4));

    // Each endpoint is owned by exactly one of them.
    for _ in 0..50 {
        let id = herald::ids::EndpointId::generate();
        assert!(first.owns(&id) ^ second.owns(&id), "{id}");
    }

    let started = std::time::Instant::now();
    second.leave(Duration::from_secs(5)).await;
    eventually("the first node owns every partition again", || {
        first.partitions_owned() == 8
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "handed over in {:?}, not after the leases expired",
        started.elapsed()
    );
    let status = first.status().await.unwrap();
    assert_eq!(status.nodes.len(), 1, "{status:?}");
}

#[tokio::test]
async fn a_node_joining_with_a_bad_setting_is_refused() {
    let (_, a, _) = two().await;
    let mut bad = options("node a");
    assert!(PostgresCluster::join(&a, bad.clone()).await.is_err());
    bad.node_id = "node-a".into();
    bad.lease_renew = Duration::from_secs(2);
    assert!(PostgresCluster::join(&a, bad).await.is_err());
    // Nothing was joined: a good join still works, once.
    let _joined = join(&a, "node-a").await;
    assert!(PostgresCluster::join(&a, options("node-a2")).await.is_err());
}

#[tokio::test]
async fn a_takeover_fences_the_old_owners_writes() {
    let (url, a, b) = two().await;
    let first = join(&a, "node-a").await;
    eventually("the first node owns every partition", || {
        first.partitions_owned() == 8
    })
    .await;
    let tenant = c::tenant("acme");
    let endpoint = c::endpoint(&tenant);
    a.create_endpoint(&endpoint).await.unwrap();
    let event = c::event(&tenant, "order.filled", at(1));
    let delivery = c::publish(&a, &event, &[&endpoint]).await.remove(0);
    let mut attempt = delivery.clone();
    attempt.attempts = 1;
    let outcome = Outcome {
        delivery: attempt.clone(),
        attempt: Some(c::attempt(&delivery, 1, 500, at(2))),
    };
    a.record_outcomes(&endpoint.id, std::slice::from_ref(&outcome), &c::health(1))
        .await
        .unwrap();

    // The first node stalls past its lease (as under SIGSTOP): the lease expires
    // in the database, and another node claims the partition with a new epoch.
    let partition = partition_of(&endpoint.id, 8) as i32;
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
        .execute(
            "UPDATE partition_leases SET owner = 'node-b', epoch = epoch + 1,
                 expires_at = now() + interval '1 minute'
             WHERE partition = $1",
            &[&partition],
        )
        .await
        .unwrap();
    let fenced = a
        .record_outcomes(&endpoint.id, std::slice::from_ref(&outcome), &c::health(2))
        .await;
    assert!(matches!(fenced, Err(StorageError::Fenced(_))), "{fenced:?}");
    let fenced = a.put_endpoint_health(&endpoint.id, &c::health(3)).await;
    assert!(matches!(fenced, Err(StorageError::Fenced(_))), "{fenced:?}");
    // Nothing of the fenced writes is stored.
    assert_eq!(b.endpoint_health(&endpoint.id).await.unwrap(), c::health(1));
    // The first node's next round sees the loss; it no longer owns the endpoint.
    eventually("the first node lets the partition go", || {
        !first.owns(&endpoint.id)
    })
    .await;
    // A storage outside any cluster writes freely (one engine alone).
    b.put_endpoint_health(&endpoint.id, &c::health(4))
        .await
        .unwrap();
}

#[tokio::test]
async fn endpoint_changes_are_numbered_in_commit_order_from_every_handle() {
    let (_, a, b) = two().await;
    let start = a.endpoint_change_position().await.unwrap();
    let tenant = c::tenant("acme");
    // Creates, replaces and deletes from two handles at once.
    let mut writers = Vec::new();
    for storage in [a.clone(), b.clone()] {
        let tenant = tenant.clone();
        writers.push(tokio::spawn(async move {
            let mut touched = Vec::new();
            for _ in 0..10 {
                let mut endpoint = c::endpoint(&tenant);
                storage.create_endpoint(&endpoint).await.unwrap();
                endpoint.description = Some("changed".into());
                endpoint.version = 2;
                storage.replace_endpoint(&endpoint, 1).await.unwrap();
                storage
                    .delete_endpoint(&tenant, &endpoint.id, at(1))
                    .await
                    .unwrap();
                touched.push(endpoint.id);
            }
            touched
        }));
    }
    let mut touched = Vec::new();
    for writer in writers {
        touched.extend(writer.await.unwrap());
    }
    let head = b.endpoint_change_position().await.unwrap();
    assert_eq!(head, start + 60, "three changes per endpoint");
    let changes = a.endpoint_changes_after(start, 1000).await.unwrap();
    let positions: Vec<u64> = changes.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(
        positions,
        (start + 1..=head).collect::<Vec<_>>(),
        "contiguous"
    );
    for id in &touched {
        assert_eq!(
            changes.iter().filter(|(_, _, e)| e == id).count(),
            3,
            "{id}"
        );
    }
    // A stale replace changes nothing, and is not in the feed.
    let mut stale = c::endpoint(&tenant);
    a.create_endpoint(&stale).await.unwrap();
    stale.version = 9;
    let answer = b.replace_endpoint(&stale, 8).await.unwrap();
    assert!(matches!(answer, herald::storage::ReplaceEndpoint::Stale(_)));
    assert_eq!(a.endpoint_change_position().await.unwrap(), head + 1);
    let page = a.endpoint_changes_after(head - 1, 1).await.unwrap();
    assert_eq!(page.len(), 1, "limit");
    assert_eq!(page[0].0, head);
}

#[tokio::test]
async fn work_stored_while_an_older_transaction_runs_waits_until_it_ends() {
    let (url, a, _) = two().await;
    let tenant = c::tenant("acme");
    let endpoint = c::endpoint(&tenant);
    a.create_endpoint(&endpoint).await.unwrap();
    let start = a.work_position(&endpoint.id).await.unwrap();
    // An older transaction holds an id and stays open (a publish still writing).
    let (older, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    older
        .batch_execute("BEGIN; SELECT pg_current_xact_id();")
        .await
        .unwrap();
    let event = c::event(&tenant, "order.filled", at(1));
    let stored = c::publish(&a, &event, &[&endpoint]).await.remove(0);
    let read = a.pending_since(&endpoint.id, start, 100).await.unwrap();
    assert!(
        read.deliveries.is_empty(),
        "not final while the older one runs"
    );
    assert!(read.more_soon, "the reader is told to look again");
    older.batch_execute("COMMIT").await.unwrap();
    let read = a.pending_since(&endpoint.id, start, 100).await.unwrap();
    assert!(!read.more_soon);
    assert_eq!(read.deliveries.len(), 1);
    assert_eq!(read.deliveries[0].1.id, stored.id);
}

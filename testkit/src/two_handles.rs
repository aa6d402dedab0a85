//! The conformance cases for two handles on one store (two `PostgresStorage` on
//! one database, as two nodes hold them): what one writes, the other reads, and
//! their concurrent writes keep every rule a single handle keeps.
//!
//! A backend's test expands them with one line, its expression yielding two
//! `Arc<dyn Storage>` on the same store and a guard:
//!
//! ```text
//! herald_testkit::storage_conformance_two_handles!(async { let s: Arc<dyn Storage> = ..; (s.clone(), s, ()) });
//! ```
//!
//! A backend of one handle per store (memory, sled) passes them with one handle
//! given twice; the cases matter for those where the handles share nothing but the
//! store.

use futures::future::join_all;
use herald::model::Endpoint;
use herald::storage::{CreateEndpoint, InsertEvent, PageRequest, ReplaceEndpoint, Storage};

use crate::conformance::{at, delivery, endpoint, event, event_with_id, publish, tenant};

/// Expands to one `#[tokio::test]` per case. `$make` is an async expression
/// yielding `(Arc<dyn Storage>, Arc<dyn Storage>, guard)`: two handles on one
/// fresh, empty store, and anything that must outlive them.
#[macro_export]
macro_rules! storage_conformance_two_handles {
    ($make:expr) => {
        $crate::storage_conformance_two_handles!(@cases $make;
            each_handle_reads_the_others_writes,
            one_idempotency_key_published_at_once_is_stored_once,
            compare_and_set_across_handles_loses_no_change,
            creates_on_two_handles_never_pass_the_limit,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (a, b, _guard) = $make.await;
                $crate::two_handles::$case(&*a, &*b).await;
            }
        )*
    };
}

/// An endpoint, an event and an attempt written through one handle are read
/// through the other at once.
pub async fn each_handle_reads_the_others_writes(a: &dyn Storage, b: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    a.create_endpoint(&ep).await.unwrap();
    assert_eq!(b.endpoint_by_id(&ep.id).await.unwrap(), Some(ep.clone()));

    let ev = event(&acme, "order.created", at(1));
    let deliveries = publish(b, &ev, &[&ep]).await;
    let pending = a
        .pending_deliveries(&ep.id, herald::storage::PendingOrder::Publish, None, 10)
        .await
        .unwrap();
    assert_eq!(pending, deliveries);

    let mut settled = deliveries[0].clone();
    settled.status = herald::model::DeliveryStatus::Succeeded;
    settled.attempts = 1;
    settled.next_attempt_at = None;
    let attempt = crate::conformance::attempt(&deliveries[0], 1, 200, at(2));
    a.record_attempt(&attempt, &settled, &crate::conformance::health(0))
        .await
        .unwrap();
    assert_eq!(
        b.get_delivery(&acme, &settled.id).await.unwrap(),
        Some(settled)
    );
    let attempts = b
        .list_attempts(&acme, &ep.id, None, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(attempts.items, vec![attempt]);
}

/// The same idempotency key published at once through both handles is stored
/// once: one publish inserts, every other one gets the stored event back, and only
/// the winner's delivery exists.
pub async fn one_idempotency_key_published_at_once_is_stored_once(
    a: &dyn Storage,
    b: &dyn Storage,
) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    a.create_endpoint(&ep).await.unwrap();
    let id = herald::ids::EventId::parse("order-42").unwrap();
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let mut ev = event_with_id(&acme, id.clone(), "order.created", at(1));
            ev.deliveries = 1;
            let d = delivery(&ev, &ep);
            let handle = if i % 2 == 0 { a } else { b };
            async move { handle.insert_event(&ev, &[d]).await.unwrap() }
        })
        .collect();
    let outcomes = join_all(attempts).await;
    let inserted = outcomes
        .iter()
        .filter(|o| **o == InsertEvent::Inserted)
        .count();
    assert_eq!(inserted, 1, "{outcomes:?}");
    let stored = a.get_event(&acme, &id).await.unwrap().unwrap();
    for outcome in &outcomes {
        if let InsertEvent::Exists(existing) = outcome {
            assert_eq!(existing, &stored);
        }
    }
    for s in [a, b] {
        let deliveries = s
            .event_deliveries(&acme, &id, &PageRequest::first(100))
            .await
            .unwrap();
        assert_eq!(deliveries.items.len(), 1, "one delivery, the winner's");
        assert_eq!(s.delivery_counts(&ep.id).await.unwrap().pending, 1);
    }
}

/// Changes made at once through both handles, each read-modify-replace retried
/// on `Stale`, are all kept: none undoes another.
pub async fn compare_and_set_across_handles_loses_no_change(a: &dyn Storage, b: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    a.create_endpoint(&ep).await.unwrap();
    const CHANGES: u64 = 8;
    let changes: Vec<_> = (0..CHANGES)
        .map(|i| {
            let handle = if i % 2 == 0 { a } else { b };
            let id = ep.id.clone();
            async move {
                let mut current: Endpoint = handle.endpoint_by_id(&id).await.unwrap().unwrap();
                loop {
                    let mut changed = current.clone();
                    changed.channels.push(format!("c{i}"));
                    changed.version = current.version + 1;
                    match handle
                        .replace_endpoint(&changed, current.version)
                        .await
                        .unwrap()
                    {
                        ReplaceEndpoint::Replaced => return,
                        ReplaceEndpoint::Stale(Some(stored)) => current = *stored,
                        ReplaceEndpoint::Stale(None) => panic!("the endpoint vanished"),
                    }
                }
            }
        })
        .collect();
    join_all(changes).await;
    let stored = b.endpoint_by_id(&ep.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 1 + CHANGES);
    let mut channels = stored.channels.clone();
    channels.sort();
    let mut expected: Vec<String> = (0..CHANGES).map(|i| format!("c{i}")).collect();
    expected.sort();
    assert_eq!(channels, expected, "every change kept");
}

/// Creates at once through both handles under one limit store exactly the limit.
pub async fn creates_on_two_handles_never_pass_the_limit(a: &dyn Storage, b: &dyn Storage) {
    let acme = tenant("acme");
    let creates: Vec<_> = (0..10)
        .map(|i| {
            let handle = if i % 2 == 0 { a } else { b };
            let ep = endpoint(&acme);
            async move { handle.create_endpoint_within(&ep, Some(3)).await.unwrap() }
        })
        .collect();
    let outcomes = join_all(creates).await;
    let created = outcomes
        .iter()
        .filter(|o| **o == CreateEndpoint::Created)
        .count();
    assert_eq!(created, 3, "{outcomes:?}");
    assert_eq!(a.count_endpoints(&acme).await.unwrap(), 3);
    assert_eq!(b.count_endpoints(&acme).await.unwrap(), 3);
}

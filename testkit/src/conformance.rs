//! The storage conformance suite: every rule of the `Storage` contract as a test case,
//! written once and run against every backend.
//!
//! A backend's `tests/conformance.rs` expands the suite with one line:
//!
//! ```text
//! herald_testkit::storage_conformance!(async { (MemoryStorage::new(), ()) });
//! ```
//!
//! The expression is evaluated once per case and must yield `(storage, guard)`: a
//! fresh, empty storage and anything that must outlive it (a `TempDir`, or `()`).
//! Each case is also a plain `pub async fn(&dyn Storage)`, callable on its own.

use herald::error::StorageError;
use herald::ids::{AttemptId, DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::model::{
    ApiKey, Attempt, AttemptOutcome, DeadReason, Delivery, DeliveryStatus, Endpoint,
    EndpointHealth, Event, EventTypeEntry, KeyScope, Ordering, TenantSettings,
};
use herald::signing::{Secret, SecretSet};
use herald::storage::{
    CreateEndpoint, DeliveryCounts, EventFilter, InsertEvent, Outcome, Page, PageRequest,
    PendingKey, PendingOrder, PurgeStats, ReplaceEndpoint, Storage, StorageResult,
};
use herald::time::Timestamp;

/// Expands to one `#[tokio::test]` per conformance case. `$make` is an async
/// expression yielding `(storage, guard)`; the guard lives until the case ends.
#[macro_export]
macro_rules! storage_conformance {
    ($make:expr) => {
        $crate::storage_conformance!(@cases $make;
            endpoints_crud,
            endpoints_after_pages_through_every_tenant_in_id_order,
            endpoints_tenant_isolation,
            list_endpoints_newest_first_with_cursors,
            endpoint_health_defaults_and_replaces,
            insert_event_stores_event_and_deliveries,
            insert_event_is_idempotent_per_tenant,
            list_events_newest_first_with_cursors,
            events_after_lists_oldest_first_from_a_position,
            list_events_filters,
            list_events_examines_a_bounded_number_per_call,
            event_deliveries_are_paged_in_creation_order,
            get_delivery_checks_tenant,
            deliveries_are_found_in_every_state,
            deliveries_are_found_while_they_settle,
            pending_deliveries_in_id_order_with_limit,
            pending_deliveries_in_due_order_from_any_key,
            last_delivery_id_is_the_largest_stored,
            replace_endpoint_is_compare_and_set,
            record_outcomes_stores_a_batch_at_once,
            create_endpoint_within_never_passes_the_limit,
            keys_are_found_by_hash_listed_touched_and_revoked,
            tenant_settings_are_none_until_put_then_replaced,
            event_catalog_entries_are_put_listed_in_type_order_and_deleted,
            endpoints_with_pending_lists_only_endpoints_with_work,
            record_attempt_logs_and_updates_pending_delivery,
            record_attempt_keeps_dead_delivery_dead,
            list_attempts_newest_first_filtered_and_paged,
            update_deliveries_moves_between_states,
            delete_endpoint_kills_pending_and_keeps_history,
            delivery_counts_track_every_transition,
            list_dead_letters_newest_first_with_cursors,
            purge_before_removes_old_history_and_keeps_pending,
            purge_before_reaches_every_tenant_and_endpoint,
            attempts_list_by_start_time,
            attempts_recorded_together_list_by_start_time,
            list_attempts_passes_over_a_bounded_number_per_call,
            malformed_cursors_are_refused_by_every_list,
            flush_succeeds,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let (storage, _guard) = $make.await;
                $crate::conformance::$case(&storage).await;
            }
        )*
    };
}

/// A base time for fixtures: 2023-11-14T22:13:20Z.
pub const T0: Timestamp = Timestamp(1_700_000_000_000);

/// `T0` plus `secs` seconds.
pub fn at(secs: u64) -> Timestamp {
    Timestamp(T0.0 + secs * 1000)
}

/// A tenant by name (panics on an invalid name).
pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant name")
}

/// A fresh endpoint of `tenant` with default settings.
pub fn endpoint(tenant: &TenantId) -> Endpoint {
    let id = EndpointId::generate();
    Endpoint {
        url: format!("https://example.com/hooks/{id}"),
        id,
        tenant: tenant.clone(),
        description: None,
        event_types: Vec::new(),
        channels: Vec::new(),
        active: true,
        disabled_reason: None,
        profile: "standard".into(),
        secrets: SecretSet::new(Secret::generate()),
        headers: Default::default(),
        ordering: Ordering::default(),
        max_in_flight: None,
        rate_limit: None,
        timeout_ms: None,
        retry_schedule_secs: None,
        created_at: T0,
        updated_at: T0,
        enabled_at: None,
        version: 1,
    }
}

/// The key that starts a read in publish order at delivery `id`.
pub fn from_id(id: &DeliveryId) -> PendingKey {
    PendingKey {
        due: Timestamp::EPOCH,
        id: id.clone(),
    }
}

/// An event of `tenant` with a generated id, of `event_type`, created at `created_at`.
pub fn event(tenant: &TenantId, event_type: &str, created_at: Timestamp) -> Event {
    event_with_id(tenant, EventId::generate(), event_type, created_at)
}

/// An event with a chosen id (an idempotency key).
pub fn event_with_id(
    tenant: &TenantId,
    id: EventId,
    event_type: &str,
    created_at: Timestamp,
) -> Event {
    Event {
        id,
        tenant: tenant.clone(),
        event_type: event_type.to_owned(),
        channels: Vec::new(),
        created_at,
        data: "{\"n\":1}".into(),
        deliveries: 0,
    }
}

/// A fresh pending delivery of `event` to `endpoint`.
pub fn delivery(event: &Event, endpoint: &Endpoint) -> Delivery {
    Delivery::new(
        event.id.clone(),
        event.tenant.clone(),
        endpoint.id.clone(),
        event.event_type.clone(),
        event.created_at,
    )
}

/// Attempt number `number` of `delivery`, answered with `status`, started at `started_at`.
pub fn attempt(delivery: &Delivery, number: u32, status: u16, started_at: Timestamp) -> Attempt {
    Attempt {
        id: AttemptId::generate(),
        tenant: delivery.tenant.clone(),
        endpoint_id: delivery.endpoint_id.clone(),
        delivery_id: delivery.id.clone(),
        event_id: delivery.event_id.clone(),
        event_type: delivery.event_type.clone(),
        attempt: number,
        started_at,
        duration_ms: 12,
        status: Some(status),
        error: None,
        response_body: format!("status {status}"),
    }
}

/// A health record with `failures` consecutive failures.
pub fn health(failures: u32) -> EndpointHealth {
    EndpointHealth {
        consecutive_failures: failures,
        failing_since: (failures > 0).then_some(T0),
        failed_attempts: u64::from(failures),
        last_failure_at: (failures > 0).then_some(T0),
        last_status: (failures > 0).then_some(500),
        ..EndpointHealth::default()
    }
}

/// Inserts `event` with one fresh delivery per endpoint, asserting it was inserted,
/// and returns the deliveries.
pub async fn publish(
    storage: &dyn Storage,
    event: &Event,
    endpoints: &[&Endpoint],
) -> Vec<Delivery> {
    let deliveries: Vec<Delivery> = endpoints.iter().map(|e| delivery(event, e)).collect();
    let mut event = event.clone();
    event.deliveries = u32::try_from(deliveries.len()).expect("few deliveries");
    let outcome = storage
        .insert_event(&event, &deliveries)
        .await
        .expect("insert_event");
    assert_eq!(
        outcome,
        InsertEvent::Inserted,
        "event {} inserted",
        event.id
    );
    deliveries
}

/// Reads every page of a list, checking that each page respects `limit` and that only
/// the last page has no cursor.
pub async fn collect_pages<T, F, Fut>(limit: usize, mut read: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Page<T>>,
{
    let mut all = Vec::new();
    let mut request = PageRequest::first(limit);
    for _ in 0..10_000 {
        let page = read(request.clone()).await;
        assert!(page.items.len() <= limit, "page larger than its limit");
        let done = page.next_cursor.is_none();
        if !done {
            assert!(!page.items.is_empty(), "a page with a cursor has items");
        }
        all.extend(page.items);
        if done {
            return all;
        }
        request.cursor = page.next_cursor;
    }
    panic!("pagination never ended");
}

fn ids<T, I: Clone>(items: &[T], id: impl Fn(&T) -> &I) -> Vec<I> {
    items.iter().map(|i| id(i).clone()).collect()
}

/// Create, read by tenant and by id, replace, and list every endpoint.
pub async fn endpoints_crud(s: &dyn Storage) {
    let acme = tenant("acme");
    let mut ep = endpoint(&acme);
    assert_eq!(s.get_endpoint(&acme, &ep.id).await.unwrap(), None);
    assert_eq!(s.endpoint_by_id(&ep.id).await.unwrap(), None);

    s.create_endpoint(&ep).await.unwrap();
    assert_eq!(
        s.get_endpoint(&acme, &ep.id).await.unwrap(),
        Some(ep.clone())
    );
    assert_eq!(s.endpoint_by_id(&ep.id).await.unwrap(), Some(ep.clone()));

    ep.url = "https://example.com/changed".into();
    ep.active = false;
    ep.updated_at = at(5);
    ep.version = 2;
    assert_eq!(
        s.replace_endpoint(&ep, 1).await.unwrap(),
        ReplaceEndpoint::Replaced
    );
    assert_eq!(
        s.get_endpoint(&acme, &ep.id).await.unwrap(),
        Some(ep.clone())
    );

    let other = endpoint(&tenant("globex"));
    s.create_endpoint(&other).await.unwrap();
    let mut all = s.all_endpoints().await.unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(all, vec![ep.clone(), other]);
    let page = s
        .list_endpoints(&acme, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.items, vec![ep], "a replaced endpoint is listed once");
}

/// `endpoints_after` pages through every tenant's endpoints in id order, on every page
/// size, from any id (stored or not); `all_endpoints` is all of them.
pub async fn endpoints_after_pages_through_every_tenant_in_id_order(s: &dyn Storage) {
    let mut made = Vec::new();
    for name in ["zeta", "acme", "beta", "acme", "zeta", "beta", "acme"] {
        let ep = endpoint(&tenant(name));
        s.create_endpoint(&ep).await.unwrap();
        made.push(ep);
    }
    let deleted = made.remove(3);
    s.delete_endpoint(&deleted.tenant, &deleted.id, at(1))
        .await
        .unwrap();
    made.sort_by(|a, b| a.id.cmp(&b.id));
    for limit in 1..=7 {
        let mut paged: Vec<Endpoint> = Vec::new();
        for _ in 0..=made.len() {
            let page = s
                .endpoints_after(paged.last().map(|e| &e.id), limit)
                .await
                .unwrap();
            assert!(page.len() <= limit);
            let done = page.len() < limit;
            paged.extend(page);
            if done {
                break;
            }
        }
        assert_eq!(paged, made, "limit {limit}");
    }
    // From an id that is not stored (the deleted one): the endpoints after it.
    let after_deleted: Vec<Endpoint> = made.iter().filter(|e| e.id > deleted.id).cloned().collect();
    assert_eq!(
        s.endpoints_after(Some(&deleted.id), 100).await.unwrap(),
        after_deleted
    );
    assert_eq!(s.all_endpoints().await.unwrap(), made);
}

/// A tenant never sees, lists or deletes another tenant's endpoint.
pub async fn endpoints_tenant_isolation(s: &dyn Storage) {
    let acme = tenant("acme");
    let globex = tenant("globex");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();

    assert_eq!(s.get_endpoint(&globex, &ep.id).await.unwrap(), None);
    let page = s
        .list_endpoints(&globex, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.next_cursor, None);
    assert_eq!(
        s.delete_endpoint(&globex, &ep.id, at(1)).await.unwrap(),
        None
    );
    assert_eq!(s.get_endpoint(&acme, &ep.id).await.unwrap(), Some(ep));
}

/// Endpoints list newest first, and cursors walk every page exactly once.
pub async fn list_endpoints_newest_first_with_cursors(s: &dyn Storage) {
    let acme = tenant("acme");
    let made: Vec<Endpoint> = (0..5).map(|_| endpoint(&acme)).collect();
    for ep in &made {
        s.create_endpoint(ep).await.unwrap();
    }
    s.create_endpoint(&endpoint(&tenant("globex")))
        .await
        .unwrap();
    let newest_first: Vec<EndpointId> = made.iter().rev().map(|e| e.id.clone()).collect();

    let first = s
        .list_endpoints(&acme, &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(ids(&first.items, |e| &e.id), newest_first[..2].to_vec());
    assert!(first.next_cursor.is_some());

    for limit in [1, 2, 3, 5, 6] {
        let acme = &acme;
        let all = collect_pages(limit, move |page| async move {
            s.list_endpoints(acme, &page).await.unwrap()
        })
        .await;
        assert_eq!(ids(&all, |e| &e.id), newest_first, "limit {limit}");
    }
    let exact = s
        .list_endpoints(&acme, &PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 5);
    assert_eq!(exact.next_cursor, None, "no cursor when nothing is left");
}

/// Health reads as default until written, then as written.
pub async fn endpoint_health_defaults_and_replaces(s: &dyn Storage) {
    let ep = endpoint(&tenant("acme"));
    s.create_endpoint(&ep).await.unwrap();
    assert_eq!(
        s.endpoint_health(&ep.id).await.unwrap(),
        EndpointHealth::default()
    );
    s.put_endpoint_health(&ep.id, &health(3)).await.unwrap();
    assert_eq!(s.endpoint_health(&ep.id).await.unwrap(), health(3));
    s.put_endpoint_health(&ep.id, &EndpointHealth::default())
        .await
        .unwrap();
    assert_eq!(
        s.endpoint_health(&ep.id).await.unwrap(),
        EndpointHealth::default()
    );
}

/// An inserted event is readable with its deliveries, which are pending.
pub async fn insert_event_stores_event_and_deliveries(s: &dyn Storage) {
    let acme = tenant("acme");
    let (a, b) = (endpoint(&acme), endpoint(&acme));
    s.create_endpoint(&a).await.unwrap();
    s.create_endpoint(&b).await.unwrap();
    let ev = event(&acme, "order.filled", at(1));
    let deliveries = publish(s, &ev, &[&a, &b]).await;

    let stored = s
        .get_event(&acme, &ev.id)
        .await
        .unwrap()
        .expect("event stored");
    assert_eq!(stored.id, ev.id);
    assert_eq!(stored.data, ev.data);
    assert_eq!(stored.deliveries, 2);
    assert_eq!(
        s.event_deliveries(&acme, &ev.id, &PageRequest::first(250))
            .await
            .unwrap()
            .items,
        deliveries
    );
    for d in &deliveries {
        assert_eq!(
            s.get_delivery(&acme, &d.id).await.unwrap().as_ref(),
            Some(d)
        );
    }
    assert_eq!(
        s.pending_deliveries(&a.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap(),
        vec![deliveries[0].clone()]
    );
    assert_eq!(
        s.pending_deliveries(&b.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap(),
        vec![deliveries[1].clone()]
    );

    // An event matching no endpoint is stored too.
    let lonely = event(&acme, "nobody.cares", at(2));
    publish(s, &lonely, &[]).await;
    assert!(s.get_event(&acme, &lonely.id).await.unwrap().is_some());
    assert!(s
        .event_deliveries(&acme, &lonely.id, &PageRequest::first(250))
        .await
        .unwrap()
        .items
        .is_empty());

    let unknown = EventId::generate();
    assert_eq!(s.get_event(&acme, &unknown).await.unwrap(), None);
    assert!(s
        .event_deliveries(&acme, &unknown, &PageRequest::first(250))
        .await
        .unwrap()
        .items
        .is_empty());
}

/// An event's deliveries come a page at a time, in id (creation) order, whatever
/// state each is in; the cursor is for the next page of the same event.
pub async fn event_deliveries_are_paged_in_creation_order(s: &dyn Storage) {
    let acme = tenant("acme");
    let endpoints: Vec<Endpoint> = (0..5).map(|_| endpoint(&acme)).collect();
    for ep in &endpoints {
        s.create_endpoint(ep).await.unwrap();
    }
    let ev = event(&acme, "order.filled", at(1));
    let mut made = publish(s, &ev, &endpoints.iter().collect::<Vec<_>>()).await;
    made.sort_by(|a, b| a.id.cmp(&b.id));
    // One settles, one dies: still the event's deliveries, in the same order.
    made[1].kill(DeadReason::RetriesExhausted, at(2));
    let settled = attempt(&made[3], 1, 200, at(2));
    made[3].status = DeliveryStatus::Succeeded;
    made[3].attempts = 1;
    made[3].last_status = Some(200);
    made[3].next_attempt_at = None;
    made[3].updated_at = at(2);
    s.update_deliveries(std::slice::from_ref(&made[1]))
        .await
        .unwrap();
    s.record_attempt(&settled, &made[3], &health(0))
        .await
        .unwrap();

    let first = s
        .event_deliveries(&acme, &ev.id, &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(first.items, made[..2].to_vec());
    assert_eq!(first.next_cursor, Some(made[1].id.to_string()));
    let all = collect_pages(2, |page| {
        let (acme, id) = (acme.clone(), ev.id.clone());
        async move { s.event_deliveries(&acme, &id, &page).await.unwrap() }
    })
    .await;
    assert_eq!(all, made);
    let whole = s
        .event_deliveries(&acme, &ev.id, &PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!((whole.items.len(), whole.next_cursor), (5, None));
    // Another tenant sees nothing of it.
    assert_eq!(
        s.event_deliveries(&tenant("globex"), &ev.id, &PageRequest::first(5))
            .await
            .unwrap(),
        Page::empty()
    );
}

/// A second insert with the same (tenant, id) writes nothing and returns the first;
/// the same id in another tenant is an independent event.
pub async fn insert_event_is_idempotent_per_tenant(s: &dyn Storage) {
    let acme = tenant("acme");
    let globex = tenant("globex");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let key = EventId::parse("order:42").unwrap();
    let first = event_with_id(&acme, key.clone(), "order.filled", at(1));
    let first_deliveries = publish(s, &first, &[&ep]).await;
    let first_stored = s.get_event(&acme, &key).await.unwrap().unwrap();

    let mut again = event_with_id(&acme, key.clone(), "order.cancelled", at(2));
    again.data = "{\"n\":2}".into();
    let again_delivery = delivery(&again, &ep);
    let outcome = s
        .insert_event(&again, std::slice::from_ref(&again_delivery))
        .await
        .unwrap();
    assert_eq!(outcome, InsertEvent::Exists(first_stored.clone()));
    assert_eq!(s.get_event(&acme, &key).await.unwrap(), Some(first_stored));
    assert_eq!(
        s.get_delivery(&acme, &again_delivery.id).await.unwrap(),
        None
    );
    assert_eq!(
        s.event_deliveries(&acme, &key, &PageRequest::first(250))
            .await
            .unwrap()
            .items,
        first_deliveries
    );
    assert_eq!(
        s.pending_deliveries(&ep.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap(),
        first_deliveries
    );
    assert_eq!(s.delivery_counts(&ep.id).await.unwrap().pending, 1);
    let listed = s
        .list_events(&acme, &EventFilter::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);

    let theirs = event_with_id(&globex, key.clone(), "invoice.paid", at(3));
    let globex_ep = endpoint(&globex);
    s.create_endpoint(&globex_ep).await.unwrap();
    publish(s, &theirs, &[&globex_ep]).await;
    assert_eq!(
        s.get_event(&globex, &key)
            .await
            .unwrap()
            .unwrap()
            .event_type,
        "invoice.paid"
    );
    assert_eq!(
        s.get_event(&acme, &key).await.unwrap().unwrap().event_type,
        "order.filled"
    );
}

/// Events list newest first by (creation time, id), and cursors walk every page.
pub async fn list_events_newest_first_with_cursors(s: &dyn Storage) {
    let acme = tenant("acme");
    // Made out of time order, two at the same millisecond.
    let times = [3, 1, 2, 2, 5, 4];
    let mut made = Vec::new();
    for t in times {
        let ev = event(&acme, "x", at(t));
        publish(s, &ev, &[]).await;
        made.push(ev);
    }
    publish(s, &event(&tenant("globex"), "x", at(9)), &[]).await;
    let mut expected = made.clone();
    expected.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let expected = ids(&expected, |e| &e.id);

    for limit in [1, 2, 4, 6, 7] {
        let acme = &acme;
        let all = collect_pages(limit, move |page| async move {
            s.list_events(acme, &EventFilter::default(), &page)
                .await
                .unwrap()
        })
        .await;
        assert_eq!(ids(&all, |e| &e.id), expected, "limit {limit}");
    }
}

/// `events_after` walks a tenant's events oldest first by (creation time, id),
/// strictly after the position given, a limited number at a time: what a stream
/// replays.
pub async fn events_after_lists_oldest_first_from_a_position(s: &dyn Storage) {
    let acme = tenant("acme");
    let mut made = Vec::new();
    for t in [3, 1, 2, 2, 5, 4, 2] {
        let ev = event(&acme, "x", at(t));
        publish(s, &ev, &[]).await;
        made.push(ev);
    }
    publish(s, &event(&tenant("globex"), "x", at(2)), &[]).await;
    made.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let expected = ids(&made, |e| &e.id);

    let all = s.events_after(&acme, None, 100).await.unwrap();
    assert_eq!(ids(&all, |e| &e.id), expected);
    for limit in [1, 2, 3, 7] {
        let mut walked = Vec::new();
        let mut after: Option<(Timestamp, EventId)> = None;
        loop {
            let page = s.events_after(&acme, after.as_ref(), limit).await.unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = Some((last.created_at, last.id.clone()));
            walked.extend(page);
        }
        assert_eq!(ids(&walked, |e| &e.id), expected, "limit {limit}");
    }
    // From the middle of a millisecond holding three events.
    let middle = &made[2];
    let rest = s
        .events_after(&acme, Some(&(middle.created_at, middle.id.clone())), 100)
        .await
        .unwrap();
    assert_eq!(ids(&rest, |e| &e.id), expected[3..].to_vec());
    assert!(s
        .events_after(&tenant("initech"), None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A listing examines at most `EVENT_SCAN_LIMIT` events per call: a rare type among
/// many events comes after pages that are empty but carry a cursor.
pub async fn list_events_examines_a_bounded_number_per_call(s: &dyn Storage) {
    use herald::storage::EVENT_SCAN_LIMIT;

    let acme = tenant("acme");
    let rare = event(&acme, "rare", at(1));
    publish(s, &rare, &[]).await;
    // Newer than the rare one, so a newest-first listing meets them first; stored
    // concurrently, so a backend with group commit writes them in few groups.
    let noise: Vec<Event> = (0..EVENT_SCAN_LIMIT + 10)
        .map(|i| event(&acme, "noise", at(2 + i as u64)))
        .collect();
    let stored = futures::future::join_all(noise.iter().map(|ev| s.insert_event(ev, &[]))).await;
    assert!(stored
        .iter()
        .all(|r| matches!(r, Ok(InsertEvent::Inserted))));
    let rare_only = EventFilter {
        event_type: Some("rare".into()),
        ..Default::default()
    };

    // The first call examines EVENT_SCAN_LIMIT noise events and stops there: no
    // item, and a cursor after the last one examined.
    let first = s
        .list_events(&acme, &rare_only, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(first.items.is_empty());
    let newest_first: Vec<&Event> = noise.iter().rev().collect();
    let stop = newest_first[EVENT_SCAN_LIMIT - 1];
    assert_eq!(
        first.next_cursor,
        Some(herald::storage::event_cursor(stop)),
        "continues after the last event examined"
    );
    // The second finds it past the 10 left, and the list ends.
    let second = s
        .list_events(
            &acme,
            &rare_only,
            &PageRequest {
                cursor: first.next_cursor,
                ..PageRequest::first(10)
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&second.items, |e| &e.id), vec![rare.id.clone()]);
    assert_eq!(second.next_cursor, None);

    // Without a filter, or with one every event passes, a page is full as before.
    for filter in [
        EventFilter::default(),
        EventFilter {
            event_type: Some("noise".into()),
            ..Default::default()
        },
    ] {
        let page = s
            .list_events(&acme, &filter, &PageRequest::first(250))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 250, "{filter:?}");
        assert_eq!(
            page.next_cursor,
            Some(herald::storage::event_cursor(newest_first[249]))
        );
    }
}

/// Type, since (inclusive) and until (exclusive) filters, alone, combined and paged.
pub async fn list_events_filters(s: &dyn Storage) {
    let acme = tenant("acme");
    let mut made = Vec::new();
    for (t, kind) in [(1, "a"), (2, "b"), (3, "a"), (4, "b"), (5, "a"), (6, "a")] {
        let ev = event(&acme, kind, at(t));
        publish(s, &ev, &[]).await;
        made.push(ev);
    }
    let pick = |keep: &dyn Fn(&Event) -> bool| -> Vec<EventId> {
        made.iter()
            .rev()
            .filter(|e| keep(e))
            .map(|e| e.id.clone())
            .collect()
    };
    let cases: Vec<(EventFilter, Vec<EventId>)> = vec![
        (
            EventFilter {
                event_type: Some("a".into()),
                ..Default::default()
            },
            pick(&|e| e.event_type == "a"),
        ),
        (
            EventFilter {
                since: Some(at(3)),
                ..Default::default()
            },
            pick(&|e| e.created_at >= at(3)),
        ),
        (
            EventFilter {
                until: Some(at(3)),
                ..Default::default()
            },
            pick(&|e| e.created_at < at(3)),
        ),
        (
            EventFilter {
                event_type: Some("a".into()),
                since: Some(at(2)),
                until: Some(at(6)),
            },
            pick(&|e| e.event_type == "a" && e.created_at >= at(2) && e.created_at < at(6)),
        ),
        (
            EventFilter {
                event_type: Some("zzz".into()),
                ..Default::default()
            },
            Vec::new(),
        ),
        (
            EventFilter {
                since: Some(at(5)),
                until: Some(at(2)),
                ..Default::default()
            },
            Vec::new(),
        ),
    ];
    for (filter, expected) in cases {
        for limit in [1, 2, 10] {
            let (acme, filter) = (&acme, &filter);
            let all = collect_pages(limit, move |page| async move {
                s.list_events(acme, filter, &page).await.unwrap()
            })
            .await;
            assert_eq!(ids(&all, |e| &e.id), expected, "{filter:?} limit {limit}");
        }
    }
}

/// A delivery is visible only to its own tenant.
pub async fn get_delivery_checks_tenant(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let d = publish(s, &event(&acme, "x", at(1)), &[&ep])
        .await
        .remove(0);
    assert_eq!(s.get_delivery(&acme, &d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(
        s.get_delivery(&tenant("globex"), &d.id).await.unwrap(),
        None
    );
    assert_eq!(
        s.get_delivery(&acme, &DeliveryId::generate())
            .await
            .unwrap(),
        None
    );
    let ev_id = d.event_id.clone();
    assert!(s
        .event_deliveries(&tenant("globex"), &ev_id, &PageRequest::first(250))
        .await
        .unwrap()
        .items
        .is_empty());
}

/// A delivery is found by id and through its event in every state it goes through
/// (pending, retried, succeeded, dead, replayed), whichever of the tenant's
/// endpoints it belongs to, and never for another tenant.
pub async fn deliveries_are_found_in_every_state(s: &dyn Storage) {
    let acme = tenant("acme");
    let globex = tenant("globex");
    let (first, second, third) = (endpoint(&acme), endpoint(&acme), endpoint(&acme));
    let theirs = endpoint(&globex);
    for ep in [&first, &second, &third, &theirs] {
        s.create_endpoint(ep).await.unwrap();
    }
    let ev = event(&acme, "x", at(1));
    let mut ds = publish(s, &ev, &[&second, &third]).await;
    publish(s, &event(&globex, "x", at(1)), &[&theirs]).await;

    assert_eq!(
        s.get_delivery(&acme, &ds[1].id).await.unwrap(),
        Some(ds[1].clone()),
        "pending"
    );
    assert_eq!(s.get_delivery(&globex, &ds[1].id).await.unwrap(), None);
    assert_eq!(
        s.event_deliveries(&acme, &ev.id, &PageRequest::first(250))
            .await
            .unwrap()
            .items,
        ds
    );

    // Retried: still pending, with its new due time.
    let retry = attempt(&ds[1], 1, 500, at(2));
    ds[1].attempts = 1;
    ds[1].last_status = Some(500);
    ds[1].next_attempt_at = Some(at(7));
    s.record_attempt(&retry, &ds[1], &health(1)).await.unwrap();
    assert_eq!(
        s.get_delivery(&acme, &ds[1].id).await.unwrap(),
        Some(ds[1].clone()),
        "retried"
    );

    // Succeeded and dead.
    let success = attempt(&ds[0], 1, 200, at(3));
    ds[0].attempts = 1;
    ds[0].status = DeliveryStatus::Succeeded;
    ds[0].next_attempt_at = None;
    s.record_attempt(&success, &ds[0], &health(0))
        .await
        .unwrap();
    ds[1].kill(DeadReason::RetriesExhausted, at(8));
    s.update_deliveries(&[ds[1].clone()]).await.unwrap();
    assert_eq!(
        s.get_delivery(&acme, &ds[0].id).await.unwrap(),
        Some(ds[0].clone()),
        "succeeded"
    );
    assert_eq!(
        s.get_delivery(&acme, &ds[1].id).await.unwrap(),
        Some(ds[1].clone()),
        "dead"
    );
    assert_eq!(
        s.event_deliveries(&acme, &ev.id, &PageRequest::first(250))
            .await
            .unwrap()
            .items,
        ds
    );
    assert!(s
        .pending_deliveries(&third.id, PendingOrder::Publish, None, 10)
        .await
        .unwrap()
        .is_empty());

    // Replayed: pending again, and no longer a dead letter.
    ds[1].requeue(at(9));
    s.update_deliveries(&[ds[1].clone()]).await.unwrap();
    assert_eq!(
        s.get_delivery(&acme, &ds[1].id).await.unwrap(),
        Some(ds[1].clone()),
        "replayed"
    );
    assert_eq!(
        s.event_deliveries(&acme, &ev.id, &PageRequest::first(250))
            .await
            .unwrap()
            .items,
        ds
    );
    assert_eq!(
        s.pending_deliveries(&third.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap(),
        vec![ds[1].clone()]
    );
    let dead = s
        .list_dead_letters(&acme, &third.id, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(dead.items.is_empty());
    assert_eq!(
        s.get_delivery(&acme, &DeliveryId::generate())
            .await
            .unwrap(),
        None
    );
}

/// Reads made while deliveries settle (a storage may move a record when its state
/// changes) always find every delivery, by id and through its event.
pub async fn deliveries_are_found_while_they_settle(s: &dyn Storage) {
    let acme = tenant("acme");
    let endpoints = [endpoint(&acme), endpoint(&acme), endpoint(&acme)];
    for ep in &endpoints {
        s.create_endpoint(ep).await.unwrap();
    }
    let targets: Vec<&Endpoint> = endpoints.iter().collect();
    let mut all = Vec::new();
    for t in 0..40 {
        all.extend(publish(s, &event(&acme, "x", at(t)), &targets).await);
    }
    let settling = std::sync::atomic::AtomicBool::new(true);
    let writer = async {
        for d in &all {
            let mut done = d.clone();
            done.attempts = 1;
            done.status = DeliveryStatus::Succeeded;
            done.next_attempt_at = None;
            s.record_attempt(&attempt(d, 1, 200, at(50)), &done, &health(0))
                .await
                .unwrap();
        }
        settling.store(false, std::sync::atomic::Ordering::Relaxed);
    };
    let reader = async {
        // Bounded: the writer finishes after `all.len()` commits.
        for _ in 0..100_000 {
            for d in &all {
                let found = s.get_delivery(&acme, &d.id).await.unwrap();
                assert!(found.is_some(), "{} missing while settling", d.id);
                let siblings = s
                    .event_deliveries(&acme, &d.event_id, &PageRequest::first(250))
                    .await
                    .unwrap()
                    .items;
                assert_eq!(siblings.len(), 3, "a delivery of {} missing", d.event_id);
            }
            if !settling.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(writer, reader);
    assert!(s
        .pending_deliveries(&endpoints[0].id, PendingOrder::Publish, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Pending deliveries come in delivery id order, at most `limit`, and only pending ones.
pub async fn pending_deliveries_in_id_order_with_limit(s: &dyn Storage) {
    let acme = tenant("acme");
    let (ep, other) = (endpoint(&acme), endpoint(&acme));
    s.create_endpoint(&ep).await.unwrap();
    s.create_endpoint(&other).await.unwrap();
    let mut mine = Vec::new();
    // Later events carry earlier timestamps: order is by id, not by publish.
    for t in (0..6).rev() {
        mine.extend(
            publish(s, &event(&acme, "x", at(t)), &[&ep, &other])
                .await
                .into_iter()
                .take(1),
        );
    }
    mine.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        s.pending_deliveries(&ep.id, PendingOrder::Publish, None, 3)
            .await
            .unwrap(),
        mine[..3].to_vec()
    );
    assert_eq!(
        s.pending_deliveries(&ep.id, PendingOrder::Publish, None, 100)
            .await
            .unwrap(),
        mine
    );
    assert!(s
        .pending_deliveries(&ep.id, PendingOrder::Publish, None, 0)
        .await
        .unwrap()
        .is_empty());

    let mut done = mine[1].clone();
    done.status = DeliveryStatus::Succeeded;
    done.next_attempt_at = None;
    s.update_deliveries(&[done]).await.unwrap();
    let expected: Vec<Delivery> = mine
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, d)| d.clone())
        .collect();
    assert_eq!(
        s.pending_deliveries(&ep.id, PendingOrder::Publish, None, 100)
            .await
            .unwrap(),
        expected
    );
    // From a given id on, that id included; a settled one is simply skipped.
    for (at, from) in mine.iter().enumerate() {
        let rest: Vec<Delivery> = expected
            .iter()
            .filter(|d| d.id >= from.id)
            .cloned()
            .collect();
        let read = s
            .pending_deliveries(&ep.id, PendingOrder::Publish, Some(&from_id(&from.id)), 100)
            .await
            .unwrap();
        assert_eq!(read, rest, "from delivery {at}");
        let two = s
            .pending_deliveries(&ep.id, PendingOrder::Publish, Some(&from_id(&from.id)), 2)
            .await
            .unwrap();
        assert_eq!(two, rest[..rest.len().min(2)].to_vec());
    }
    let later = DeliveryId::generate();
    assert!(s
        .pending_deliveries(&ep.id, PendingOrder::Publish, Some(&from_id(&later)), 100)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .pending_deliveries(&EndpointId::generate(), PendingOrder::Publish, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// In due order pending deliveries come by (due time, id): one never attempted is
/// due at its publish, a retried or replayed one at its next attempt; from any key
/// on (that key included), at most `limit`, and only pending ones.
pub async fn pending_deliveries_in_due_order_from_any_key(s: &dyn Storage) {
    let acme = tenant("acme");
    let (ep, other) = (endpoint(&acme), endpoint(&acme));
    s.create_endpoint(&ep).await.unwrap();
    s.create_endpoint(&other).await.unwrap();
    let mut all = Vec::new();
    for t in 0..8 {
        let event = event(&acme, "x", at(t * 10));
        all.extend(publish(s, &event, &[&ep, &other]).await.into_iter().take(1));
    }
    // Retried: due long after everything, between two fresh ones, and before all.
    for (i, due) in [(0, 1000), (3, 35), (6, 0)] {
        let mut retried = all[i].clone();
        retried.attempts = 1;
        retried.last_status = Some(503);
        retried.next_attempt_at = Some(at(due));
        let first = attempt(&all[i], 1, 503, at(due));
        s.record_attempt(&first, &retried, &health(1))
            .await
            .unwrap();
        all[i] = retried;
    }
    let mut done = all[5].clone();
    done.status = DeliveryStatus::Succeeded;
    done.next_attempt_at = None;
    s.update_deliveries(&[done]).await.unwrap();
    all.remove(5);
    let key = |d: &Delivery| PendingKey::of(d, PendingOrder::Due);
    let mut expected = all.clone();
    expected.sort_by_key(key);

    for limit in 0..=expected.len() + 1 {
        let read = s
            .pending_deliveries(&ep.id, PendingOrder::Due, None, limit)
            .await
            .unwrap();
        assert_eq!(
            read,
            expected[..limit.min(expected.len())].to_vec(),
            "limit {limit}"
        );
    }
    let mut starts: Vec<PendingKey> = expected.iter().map(key).collect();
    // Keys of no delivery: between two, and past the last.
    starts.push(PendingKey {
        due: at(36),
        id: DeliveryId::generate_at(T0),
    });
    starts.push(PendingKey {
        due: at(5000),
        id: DeliveryId::generate_at(T0),
    });
    for from in &starts {
        let rest: Vec<Delivery> = expected
            .iter()
            .filter(|d| &key(d) >= from)
            .cloned()
            .collect();
        for limit in [1, 2, 100] {
            let read = s
                .pending_deliveries(&ep.id, PendingOrder::Due, Some(from), limit)
                .await
                .unwrap();
            assert_eq!(
                read,
                rest[..rest.len().min(limit)].to_vec(),
                "from {from:?}, limit {limit}"
            );
        }
    }
}

/// `last_delivery_id` is the largest delivery id ever stored, whatever happened to
/// that delivery since.
pub async fn last_delivery_id_is_the_largest_stored(s: &dyn Storage) {
    assert_eq!(s.last_delivery_id().await.unwrap(), None);
    let acme = tenant("acme");
    let (a, b) = (endpoint(&acme), endpoint(&acme));
    s.create_endpoint(&a).await.unwrap();
    s.create_endpoint(&b).await.unwrap();
    let mut ids = Vec::new();
    for t in 0..3 {
        let made = publish(s, &event(&acme, "x", at(t)), &[&a, &b]).await;
        ids.extend(made.into_iter().map(|d| d.id));
        let largest = ids.iter().max().cloned();
        assert_eq!(s.last_delivery_id().await.unwrap(), largest);
    }
    let largest = ids.iter().max().cloned();
    s.delete_endpoint(&acme, &b.id, at(9)).await.unwrap();
    assert_eq!(s.last_delivery_id().await.unwrap(), largest);
    s.purge_before(at(1000)).await.unwrap();
    assert_eq!(
        s.last_delivery_id().await.unwrap(),
        largest,
        "ids are never given out again, even once purged"
    );
}

/// `replace_endpoint` stores a change only over the version it was made from: of
/// changes racing from one version exactly one is stored, and changes that read
/// again and retry all land, none lost. A second create of an id is refused.
pub async fn replace_endpoint_is_compare_and_set(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    assert!(matches!(
        s.create_endpoint(&ep).await,
        Err(StorageError::Conflict(_))
    ));

    let mut stale = ep.clone();
    stale.description = Some("from a version that never was".into());
    stale.version = 8;
    assert_eq!(
        s.replace_endpoint(&stale, 7).await.unwrap(),
        ReplaceEndpoint::Stale(Some(Box::new(ep.clone())))
    );

    // Eight writers, each adding its own header, racing from the same versions.
    let id = &ep.id;
    let writers = (0..8).map(|i| async move {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut next = s.endpoint_by_id(id).await.unwrap().unwrap();
            let read = next.version;
            next.headers.insert(format!("x-writer-{i}"), i.to_string());
            next.version = read + 1;
            match s.replace_endpoint(&next, read).await.unwrap() {
                ReplaceEndpoint::Replaced => return tries,
                ReplaceEndpoint::Stale(Some(current)) => assert!(current.version > read),
                ReplaceEndpoint::Stale(None) => panic!("the endpoint vanished"),
            }
        }
    });
    let tries: Vec<u32> = futures::future::join_all(writers).await;
    let stored = s.endpoint_by_id(&ep.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 9, "{tries:?}");
    for i in 0..8 {
        assert_eq!(
            stored.headers.get(&format!("x-writer-{i}")),
            Some(&i.to_string()),
            "writer {i}'s change survived"
        );
    }

    // Two changes from one version: one wins, the other is told what is stored.
    let (mut first, mut second) = (stored.clone(), stored.clone());
    first.description = Some("first".into());
    first.version = 10;
    second.url = "https://example.com/second".into();
    second.version = 10;
    let (one, two) = futures::join!(
        s.replace_endpoint(&first, 9),
        s.replace_endpoint(&second, 9)
    );
    let outcomes = [one.unwrap(), two.unwrap()];
    let won = outcomes
        .iter()
        .filter(|o| **o == ReplaceEndpoint::Replaced)
        .count();
    assert_eq!(won, 1, "{outcomes:?}");
    let now = s.endpoint_by_id(&ep.id).await.unwrap().unwrap();
    assert!(now == first || now == second);
    assert!(outcomes.contains(&ReplaceEndpoint::Stale(Some(Box::new(now.clone())))));

    s.delete_endpoint(&acme, &ep.id, at(1)).await.unwrap();
    let mut gone = now.clone();
    gone.version = 11;
    assert_eq!(
        s.replace_endpoint(&gone, 10).await.unwrap(),
        ReplaceEndpoint::Stale(None)
    );
}

/// `record_outcomes` stores a batch at once: every attempt logged, each delivery
/// still pending replaced (one changed without an attempt too), one settled
/// meanwhile left as it is, and the endpoint's health.
pub async fn record_outcomes_stores_a_batch_at_once(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let mut ds = Vec::new();
    for t in 0..4 {
        ds.extend(publish(s, &event(&acme, "x", at(t)), &[&ep]).await);
    }
    let mut settled = ds[3].clone();
    settled.kill(DeadReason::EndpointDisabled, at(5));
    s.update_deliveries(&[settled.clone()]).await.unwrap();

    let mut succeeded = ds[0].clone();
    succeeded.attempts = 1;
    succeeded.status = DeliveryStatus::Succeeded;
    succeeded.next_attempt_at = None;
    let mut retried = ds[1].clone();
    retried.attempts = 1;
    retried.next_attempt_at = Some(at(60));
    let mut purged = ds[2].clone();
    purged.kill(DeadReason::EventPurged, at(6));
    let late = attempt(&ds[3], 1, 500, at(6));
    let outcomes = vec![
        Outcome {
            attempt: Some(attempt(&ds[0], 1, 200, at(6))),
            delivery: succeeded.clone(),
        },
        Outcome {
            attempt: Some(attempt(&ds[1], 1, 500, at(6))),
            delivery: retried.clone(),
        },
        Outcome {
            attempt: None,
            delivery: purged.clone(),
        },
        Outcome {
            attempt: Some(late.clone()),
            delivery: Delivery {
                attempts: 1,
                ..ds[3].clone()
            },
        },
    ];
    s.record_outcomes(&ep.id, &outcomes, &health(2))
        .await
        .unwrap();

    for (expected, got) in [&succeeded, &retried, &purged, &settled]
        .into_iter()
        .zip(&ds)
    {
        assert_eq!(
            s.get_delivery(&acme, &got.id).await.unwrap().as_ref(),
            Some(expected)
        );
    }
    assert_eq!(
        s.pending_deliveries(&ep.id, PendingOrder::Due, None, 10)
            .await
            .unwrap(),
        vec![retried]
    );
    assert_eq!(
        s.delivery_counts(&ep.id).await.unwrap(),
        DeliveryCounts {
            pending: 1,
            dead: 2
        }
    );
    assert_eq!(s.endpoint_health(&ep.id).await.unwrap(), health(2));
    let logged = s
        .list_attempts(&acme, &ep.id, None, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(logged.len(), 3, "an outcome without an attempt logs none");
    assert!(logged.contains(&late));
}

/// Concurrent creates never take a tenant past its limit; a deletion makes room;
/// other tenants are not counted.
pub async fn create_endpoint_within_never_passes_the_limit(s: &dyn Storage) {
    let acme = tenant("acme");
    let made: Vec<Endpoint> = (0..10).map(|_| endpoint(&acme)).collect();
    let creates = made.iter().map(|e| s.create_endpoint_within(e, Some(5)));
    let outcomes = futures::future::join_all(creates).await;
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(CreateEndpoint::Created)))
        .count();
    assert_eq!(created, 5, "{outcomes:?}");
    assert_eq!(s.count_endpoints(&acme).await.unwrap(), 5);
    s.create_endpoint(&endpoint(&tenant("globex")))
        .await
        .unwrap();
    assert_eq!(s.count_endpoints(&tenant("globex")).await.unwrap(), 1);
    assert_eq!(s.count_endpoints(&tenant("nobody")).await.unwrap(), 0);

    let one_more = endpoint(&acme);
    assert_eq!(
        s.create_endpoint_within(&one_more, Some(5)).await.unwrap(),
        CreateEndpoint::LimitReached
    );
    assert_eq!(
        s.endpoint_by_id(&one_more.id).await.unwrap(),
        None,
        "nothing written"
    );
    let stored = s
        .list_endpoints(&acme, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    s.delete_endpoint(&acme, &stored[0].id, at(1))
        .await
        .unwrap();
    assert_eq!(
        s.create_endpoint_within(&one_more, Some(5)).await.unwrap(),
        CreateEndpoint::Created
    );
    assert_eq!(s.count_endpoints(&acme).await.unwrap(), 5);
}

/// A key of a tenant, created at `created_at` seconds, with a token hash of `hash`.
pub fn key(tenant: &TenantId, scope: KeyScope, hash: &str, created_at: u64) -> ApiKey {
    ApiKey {
        id: KeyId::generate(),
        tenant: tenant.clone(),
        scope,
        description: Some(format!("key {hash}")),
        token_hash: hash.to_owned(),
        created_at: at(created_at),
        last_used_at: None,
    }
}

/// Keys are found by their token's hash whatever their tenant, listed newest first
/// per tenant, touched (the later time wins), and revoked at once.
pub async fn keys_are_found_by_hash_listed_touched_and_revoked(s: &dyn Storage) {
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let keys: Vec<ApiKey> = (0..5)
        .map(|i| key(&acme, KeyScope::Read, &format!("{i:064x}"), i))
        .collect();
    for k in &keys {
        s.create_key(k).await.unwrap();
    }
    let other = key(&globex, KeyScope::Tenant, &format!("{:064x}", 99), 9);
    s.create_key(&other).await.unwrap();
    assert!(
        matches!(
            s.create_key(&key(&acme, KeyScope::Read, &keys[0].token_hash, 1))
                .await,
            Err(StorageError::Conflict(_))
        ),
        "a token hash is unique"
    );

    assert_eq!(
        s.key_by_hash(&keys[2].token_hash).await.unwrap().as_ref(),
        Some(&keys[2])
    );
    assert_eq!(
        s.key_by_hash(&other.token_hash).await.unwrap().as_ref(),
        Some(&other)
    );
    assert_eq!(s.key_by_hash(&format!("{:064x}", 7)).await.unwrap(), None);

    let listed = collect_pages(2, |page| {
        let (s, acme) = (&s, &acme);
        async move { s.list_keys(acme, &page).await.unwrap() }
    })
    .await;
    let mut newest_first = keys.clone();
    newest_first.sort_by(|a, b| b.id.cmp(&a.id));
    assert_eq!(listed, newest_first);
    assert_eq!(
        s.list_keys(&globex, &PageRequest::first(10))
            .await
            .unwrap()
            .items,
        vec![other.clone()]
    );
    assert!(matches!(
        s.list_keys(
            &acme,
            &PageRequest {
                limit: 2,
                cursor: Some("not-a-key".into())
            }
        )
        .await,
        Err(StorageError::BadCursor(_))
    ));

    s.touch_keys(&[(keys[1].id.clone(), at(50)), (other.id.clone(), at(40))])
        .await
        .unwrap();
    s.touch_keys(&[(keys[1].id.clone(), at(30))]).await.unwrap();
    assert_eq!(
        s.key_by_hash(&keys[1].token_hash)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(at(50)),
        "the later time wins"
    );

    assert!(
        !s.delete_key(&globex, &keys[1].id).await.unwrap(),
        "not globex's key"
    );
    assert!(s.delete_key(&acme, &keys[1].id).await.unwrap());
    assert!(!s.delete_key(&acme, &keys[1].id).await.unwrap());
    assert_eq!(s.key_by_hash(&keys[1].token_hash).await.unwrap(), None);
    s.touch_keys(&[(keys[1].id.clone(), at(60))]).await.unwrap();
    assert_eq!(
        s.key_by_hash(&keys[1].token_hash).await.unwrap(),
        None,
        "not revived"
    );
    assert_eq!(
        s.list_keys(&acme, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        4
    );
}

/// A tenant's settings read as none until put, then as last put; tenants are apart.
pub async fn tenant_settings_are_none_until_put_then_replaced(s: &dyn Storage) {
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    assert_eq!(s.tenant_settings(&acme).await.unwrap(), None);
    let mut settings = TenantSettings {
        default_profile: Some("perps".into()),
        max_endpoints: Some(10),
        publish_rate: Some(100),
        notification_url: Some("https://ops.example.com/herald".into()),
        notification_types: vec!["endpoint.disabled".into()],
        strict_types: true,
        notification_endpoint: Some(EndpointId::generate()),
        updated_at: at(1),
    };
    s.put_tenant_settings(&acme, &settings).await.unwrap();
    assert_eq!(
        s.tenant_settings(&acme).await.unwrap().as_ref(),
        Some(&settings)
    );
    assert_eq!(s.tenant_settings(&globex).await.unwrap(), None);
    settings.max_endpoints = None;
    settings.notification_types.clear();
    s.put_tenant_settings(&acme, &settings).await.unwrap();
    assert_eq!(s.tenant_settings(&acme).await.unwrap(), Some(settings));
}

/// A catalog entry of `tenant` for `event_type`.
pub fn catalog_entry(tenant: &TenantId, event_type: &str) -> EventTypeEntry {
    EventTypeEntry {
        tenant: tenant.clone(),
        event_type: event_type.to_owned(),
        description: Some(format!("about {event_type}")),
        example: Some("{\"price\":45000.0}".into()),
        schema: Some("{\"type\":\"object\"}".into()),
        updated_at: at(1),
    }
}

/// Catalog entries are put (and replaced), listed in type order per tenant with
/// cursors, and deleted.
pub async fn event_catalog_entries_are_put_listed_in_type_order_and_deleted(s: &dyn Storage) {
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let types = [
        "position.closed",
        "order.filled",
        "order.created",
        "deposit.received",
    ];
    for t in types {
        s.put_event_type(&catalog_entry(&acme, t)).await.unwrap();
    }
    s.put_event_type(&catalog_entry(&globex, "order.filled"))
        .await
        .unwrap();
    let mut replaced = catalog_entry(&acme, "order.filled");
    replaced.description = None;
    replaced.schema = None;
    replaced.updated_at = at(2);
    s.put_event_type(&replaced).await.unwrap();
    assert_eq!(
        s.event_type(&acme, "order.filled").await.unwrap().as_ref(),
        Some(&replaced)
    );
    assert_eq!(s.event_type(&acme, "order.unknown").await.unwrap(), None);

    let listed: Vec<String> = collect_pages(3, |page| {
        let (s, acme) = (&s, &acme);
        async move { s.list_event_types(acme, &page).await.unwrap() }
    })
    .await
    .into_iter()
    .map(|e| e.event_type)
    .collect();
    assert_eq!(
        listed,
        [
            "deposit.received",
            "order.created",
            "order.filled",
            "position.closed"
        ]
    );
    assert_eq!(
        s.list_event_types(&globex, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    assert!(s.delete_event_type(&acme, "order.created").await.unwrap());
    assert!(!s.delete_event_type(&acme, "order.created").await.unwrap());
    assert_eq!(s.event_type(&acme, "order.created").await.unwrap(), None);
    assert!(
        s.event_type(&globex, "order.filled")
            .await
            .unwrap()
            .is_some(),
        "other tenants keep theirs"
    );
}

/// Only endpoints with at least one pending delivery are listed.
pub async fn endpoints_with_pending_lists_only_endpoints_with_work(s: &dyn Storage) {
    let acme = tenant("acme");
    let (a, b, idle) = (
        endpoint(&acme),
        endpoint(&tenant("globex")),
        endpoint(&acme),
    );
    for ep in [&a, &b, &idle] {
        s.create_endpoint(ep).await.unwrap();
    }
    assert!(s.endpoints_with_pending().await.unwrap().is_empty());
    let da = publish(s, &event(&acme, "x", at(1)), &[&a]).await;
    let db = publish(s, &event(&tenant("globex"), "x", at(1)), &[&b]).await;
    let mut with = s.endpoints_with_pending().await.unwrap();
    with.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(with, expected);

    let mut settled = da[0].clone();
    settled.status = DeliveryStatus::Succeeded;
    settled.next_attempt_at = None;
    s.update_deliveries(&[settled]).await.unwrap();
    assert_eq!(
        s.endpoints_with_pending().await.unwrap(),
        vec![b.id.clone()]
    );
    let mut dead = db[0].clone();
    dead.kill(DeadReason::RetriesExhausted, at(2));
    s.update_deliveries(&[dead]).await.unwrap();
    assert!(s.endpoints_with_pending().await.unwrap().is_empty());
}

/// An attempt is logged, the health stored and the pending delivery replaced.
pub async fn record_attempt_logs_and_updates_pending_delivery(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let mut d = publish(s, &event(&acme, "x", at(1)), &[&ep])
        .await
        .remove(0);

    let first = attempt(&d, 1, 500, at(2));
    d.attempts = 1;
    d.last_status = Some(500);
    d.next_attempt_at = Some(at(7));
    d.updated_at = at(2);
    s.record_attempt(&first, &d, &health(1)).await.unwrap();
    assert_eq!(s.get_delivery(&acme, &d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(
        s.pending_deliveries(&ep.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap(),
        vec![d.clone()],
        "still pending, with its new due time"
    );
    assert_eq!(s.endpoint_health(&ep.id).await.unwrap(), health(1));

    let second = attempt(&d, 2, 200, at(7));
    d.attempts = 2;
    d.status = DeliveryStatus::Succeeded;
    d.last_status = Some(200);
    d.next_attempt_at = None;
    d.updated_at = at(7);
    s.record_attempt(&second, &d, &health(0)).await.unwrap();
    assert_eq!(s.get_delivery(&acme, &d.id).await.unwrap(), Some(d.clone()));
    assert!(s
        .pending_deliveries(&ep.id, PendingOrder::Publish, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.endpoint_health(&ep.id).await.unwrap(), health(0));
    assert_eq!(
        s.delivery_counts(&ep.id).await.unwrap(),
        DeliveryCounts {
            pending: 0,
            dead: 0
        }
    );

    let page = s
        .list_attempts(&acme, &ep.id, None, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.items, vec![second, first], "newest first");
    assert_eq!(page.next_cursor, None);
}

/// A delivery that died (or succeeded) meanwhile is not revived by a late attempt
/// record; the attempt is logged all the same.
pub async fn record_attempt_keeps_dead_delivery_dead(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let d = publish(s, &event(&acme, "x", at(1)), &[&ep])
        .await
        .remove(0);

    let mut dead = d.clone();
    dead.kill(DeadReason::EndpointDisabled, at(2));
    s.update_deliveries(&[dead.clone()]).await.unwrap();

    let late = attempt(&d, 1, 503, at(1));
    let mut stale = d.clone();
    stale.attempts = 1;
    stale.next_attempt_at = Some(at(10));
    s.record_attempt(&late, &stale, &health(1)).await.unwrap();
    assert_eq!(s.get_delivery(&acme, &d.id).await.unwrap(), Some(dead));
    assert_eq!(
        s.delivery_counts(&ep.id).await.unwrap(),
        DeliveryCounts {
            pending: 0,
            dead: 1
        }
    );
    assert!(s.endpoints_with_pending().await.unwrap().is_empty());
    assert_eq!(s.endpoint_health(&ep.id).await.unwrap(), health(1));
    let page = s
        .list_attempts(&acme, &ep.id, None, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.items, vec![late]);

    // A succeeded delivery stays succeeded too.
    let d2 = publish(s, &event(&acme, "x", at(3)), &[&ep])
        .await
        .remove(0);
    let mut ok = d2.clone();
    ok.status = DeliveryStatus::Succeeded;
    ok.next_attempt_at = None;
    s.update_deliveries(&[ok.clone()]).await.unwrap();
    s.record_attempt(&attempt(&d2, 1, 500, at(3)), &d2, &health(1))
        .await
        .unwrap();
    assert_eq!(s.get_delivery(&acme, &d2.id).await.unwrap(), Some(ok));
}

/// Attempts list newest first, filtered by outcome, paged, and only for their tenant.
pub async fn list_attempts_newest_first_filtered_and_paged(s: &dyn Storage) {
    let acme = tenant("acme");
    let (ep, other) = (endpoint(&acme), endpoint(&acme));
    s.create_endpoint(&ep).await.unwrap();
    s.create_endpoint(&other).await.unwrap();
    let d = publish(s, &event(&acme, "x", at(1)), &[&ep, &other]).await;
    let mut made = Vec::new();
    for (n, status) in [500, 200, 404, 200, 503].into_iter().enumerate() {
        let number = u32::try_from(n).unwrap() + 1;
        let a = attempt(&d[0], number, status, at(n as u64));
        s.record_attempt(&a, &d[0], &health(0)).await.unwrap();
        made.push(a);
        s.record_attempt(&attempt(&d[1], number, 200, at(1)), &d[1], &health(0))
            .await
            .unwrap();
    }
    let newest_first: Vec<Attempt> = made.iter().rev().cloned().collect();
    assert_attempts_listed(s, &acme, &ep.id, &newest_first, &[1, 2, 10]).await;
    let foreign = s
        .list_attempts(&tenant("globex"), &ep.id, None, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(foreign.items.is_empty());
}

/// Attempts are listed by when they started, whatever order their ids were made in
/// (concurrent attempts finish, and get their ids, out of order).
pub async fn attempts_list_by_start_time(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let d = publish(s, &event(&acme, "x", at(1)), &[&ep, &ep, &ep]).await;
    // Ids in order a, b, c; start times b < c < a.
    let a = attempt(&d[0], 1, 200, at(30));
    let b = attempt(&d[1], 1, 200, at(10));
    let c = attempt(&d[2], 1, 200, at(20));
    for (attempt, delivery) in [(&a, &d[0]), (&b, &d[1]), (&c, &d[2])] {
        s.record_attempt(attempt, delivery, &health(0))
            .await
            .unwrap();
    }
    for limit in [1, 2, 10] {
        let (acme, ep_id) = (&acme, &ep.id);
        let all = collect_pages(limit, move |page| async move {
            s.list_attempts(acme, ep_id, None, &page).await.unwrap()
        })
        .await;
        assert_eq!(
            ids(&all, |a| &a.id),
            vec![a.id.clone(), c.id.clone(), b.id.clone()],
            "limit {limit}"
        );
    }
}

/// Attempts recorded at once (which a backend may store together) and out of
/// start-time order list newest first by start time, then id, on every page size
/// and with either outcome filter.
pub async fn attempts_recorded_together_list_by_start_time(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let d = publish(s, &event(&acme, "x", at(1)), &[&ep; 24]).await;
    let healthy = health(0);
    let mut made = Vec::new();
    for (wave, deliveries) in (0u64..).zip(d.chunks(6)) {
        // The waves interleave in time; waves 0 and 2 (and 1 and 3) share start times.
        let attempts: Vec<Attempt> = (0u64..)
            .zip(deliveries)
            .map(|(i, delivery)| {
                let status = if (i + wave) % 3 == 0 { 500 } else { 200 };
                attempt(delivery, 1, status, at(10 + 2 * i + wave % 2))
            })
            .collect();
        let record = |i: usize| s.record_attempt(&attempts[i], &deliveries[i], &healthy);
        let recorded = tokio::join!(
            record(0),
            record(1),
            record(2),
            record(3),
            record(4),
            record(5)
        );
        for result in <[StorageResult<()>; 6]>::from(recorded) {
            result.unwrap();
        }
        made.extend(attempts);
    }
    made.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
    assert_attempts_listed(s, &acme, &ep.id, &made, &[1, 2, 5, 7, 100]).await;
}

/// A filtered attempt listing passes over a bounded number of attempts that do not
/// match per call: a failure behind thousands of successes comes after pages that
/// are empty but carry a cursor, and the pages together list it once.
pub async fn list_attempts_passes_over_a_bounded_number_per_call(s: &dyn Storage) {
    use herald::storage::ATTEMPT_SCAN_LIMIT;

    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let d = publish(s, &event(&acme, "x", at(1)), &[&ep]).await;
    let failure = attempt(&d[0], 1, 500, at(1));
    s.record_attempt(&failure, &d[0], &health(0)).await.unwrap();
    // Newer successes, recorded in concurrent waves (as a backend with group commit
    // may store them together).
    let successes = 3 * ATTEMPT_SCAN_LIMIT;
    for wave in 0..successes / 100 {
        let attempts: Vec<Attempt> = (0..100)
            .map(|i| {
                let n = wave * 100 + i;
                let number = u32::try_from(n).unwrap() + 2;
                attempt(&d[0], number, 200, at(2 + n as u64))
            })
            .collect();
        let healthy = health(0);
        let recorded = futures::future::join_all(
            attempts
                .iter()
                .map(|a| s.record_attempt(a, &d[0], &healthy)),
        )
        .await;
        assert!(recorded.iter().all(Result::is_ok));
    }

    let mut calls = 0;
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        calls += 1;
        assert!(calls <= successes, "the listing makes no progress");
        let page = s
            .list_attempts(
                &acme,
                &ep.id,
                Some(AttemptOutcome::Failure),
                &PageRequest {
                    cursor: cursor.take(),
                    ..PageRequest::first(10)
                },
            )
            .await
            .unwrap();
        found.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(ids(&found, |a| &a.id), vec![failure.id.clone()]);
    assert!(
        calls >= 3,
        "{successes} successes before the failure took {calls} calls"
    );

    // Unfiltered, a page is full as before.
    let page = s
        .list_attempts(&acme, &ep.id, None, &PageRequest::first(250))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 250);
    assert!(page.next_cursor.is_some());
}

/// Lists `endpoint`'s attempts unfiltered, then only successes, then only failures,
/// paging at each of `limits`, and checks each listing is `newest_first` filtered
/// likewise.
async fn assert_attempts_listed(
    s: &dyn Storage,
    tenant: &TenantId,
    endpoint: &EndpointId,
    newest_first: &[Attempt],
    limits: &[usize],
) {
    for (outcome, keep) in [
        (None, None),
        (Some(AttemptOutcome::Success), Some(true)),
        (Some(AttemptOutcome::Failure), Some(false)),
    ] {
        let expected: Vec<AttemptId> = newest_first
            .iter()
            .filter(|a| keep.is_none_or(|k| a.succeeded() == k))
            .map(|a| a.id.clone())
            .collect();
        for &limit in limits {
            let all = collect_pages(limit, move |page| async move {
                s.list_attempts(tenant, endpoint, outcome, &page)
                    .await
                    .unwrap()
            })
            .await;
            assert_eq!(ids(&all, |a| &a.id), expected, "{outcome:?} limit {limit}");
        }
    }
}

/// A cursor no list made is refused as `BadCursor` (the caller's input, not
/// corruption) by every list, whether the list has items or not.
pub async fn malformed_cursors_are_refused_by_every_list(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let d = publish(s, &event(&acme, "x", at(1)), &[&ep]).await;
    let mut dead = d[0].clone();
    dead.kill(DeadReason::RetriesExhausted, at(2));
    s.update_deliveries(&[dead]).await.unwrap();
    s.record_attempt(&attempt(&d[0], 1, 500, at(2)), &d[0], &health(1))
        .await
        .unwrap();
    let empty = (tenant("globex"), endpoint(&tenant("globex")));
    for ((tenant, ep), cursor) in [(acme, ep), empty]
        .iter()
        .flat_map(|t| ["garbage", "1.2", "", "ep_", "9.9.9.att_nope"].map(move |c| (t, c)))
    {
        let page = PageRequest {
            cursor: Some(cursor.to_owned()),
            ..PageRequest::first(10)
        };
        let refused = |result: Result<(), StorageError>, list: &str| match result {
            Err(StorageError::BadCursor(c)) => assert_eq!(c, cursor, "{list}"),
            other => panic!("{list} with cursor `{cursor}`: {other:?}"),
        };
        refused(s.list_endpoints(tenant, &page).await.map(drop), "endpoints");
        refused(
            s.list_events(tenant, &EventFilter::default(), &page)
                .await
                .map(drop),
            "events",
        );
        refused(
            s.list_attempts(tenant, &ep.id, None, &page).await.map(drop),
            "attempts",
        );
        refused(
            s.list_dead_letters(tenant, &ep.id, &page).await.map(drop),
            "dead letters",
        );
        refused(
            s.event_deliveries(tenant, &d[0].event_id, &page)
                .await
                .map(drop),
            "event deliveries",
        );
    }
}

/// The retention purge reaches old history of every tenant and endpoint, however
/// their old and new records interleave, and past a backend's batch sizes.
pub async fn purge_before_reaches_every_tenant_and_endpoint(s: &dyn Storage) {
    let cutoff = at(100);
    let mut old_events = Vec::new();
    let mut kept_events = Vec::new();
    let mut kept_attempts = Vec::new();
    for name in ["acme", "beta", "zeta"] {
        let t = tenant(name);
        let (e1, e2) = (endpoint(&t), endpoint(&t));
        s.create_endpoint(&e1).await.unwrap();
        s.create_endpoint(&e2).await.unwrap();
        // Old and settled, then new, on both endpoints.
        for (created, keep) in [(at(1), false), (at(2), false), (cutoff, true)] {
            let ev = event(&t, "x", created);
            let ds = publish(s, &ev, &[&e1, &e2]).await;
            for d in &ds {
                let mut done = d.clone();
                done.status = DeliveryStatus::Succeeded;
                done.next_attempt_at = None;
                let a = attempt(d, 1, 200, created);
                s.record_attempt(&a, &done, &health(0)).await.unwrap();
                if keep {
                    kept_attempts.push((t.clone(), a));
                }
            }
            if keep {
                kept_events.push((t.clone(), ev.id.clone()));
            } else {
                old_events.push((t.clone(), ev.id.clone()));
            }
        }
    }
    // Many old settled events in one tenant: more than one purge step.
    let many = tenant("many");
    for n in 0..600 {
        let ev = event(&many, "x", at(n % 50));
        s.insert_event(&ev, &[]).await.unwrap();
        old_events.push((many.clone(), ev.id.clone()));
    }
    let stats = s.purge_before(cutoff).await.unwrap();
    assert_eq!(
        stats,
        PurgeStats {
            events: old_events.len() as u64,
            attempts: 3 * 2 * 2,
        }
    );
    for (t, id) in &old_events {
        assert_eq!(s.get_event(t, id).await.unwrap(), None);
    }
    for (t, id) in &kept_events {
        assert!(s.get_event(t, id).await.unwrap().is_some());
    }
    for (t, a) in &kept_attempts {
        let page = s
            .list_attempts(t, &a.endpoint_id, None, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(ids(&page.items, |x| &x.id), vec![a.id.clone()]);
    }
}

/// `update_deliveries` replaces deliveries, moving them between pending and dead.
pub async fn update_deliveries_moves_between_states(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let mut ds = Vec::new();
    for t in 0..3 {
        ds.extend(publish(s, &event(&acme, "x", at(t)), &[&ep]).await);
    }
    let mut killed = vec![ds[0].clone(), ds[2].clone()];
    for d in &mut killed {
        d.kill(DeadReason::RetriesExhausted, at(9));
    }
    s.update_deliveries(&killed).await.unwrap();
    assert_eq!(
        s.delivery_counts(&ep.id).await.unwrap(),
        DeliveryCounts {
            pending: 1,
            dead: 2
        }
    );
    assert_eq!(
        s.pending_deliveries(&ep.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap(),
        vec![ds[1].clone()]
    );
    assert_eq!(
        s.get_delivery(&acme, &ds[0].id).await.unwrap(),
        Some(killed[0].clone())
    );

    let mut replayed = killed[0].clone();
    replayed.requeue(at(10));
    s.update_deliveries(&[replayed.clone()]).await.unwrap();
    assert_eq!(
        s.delivery_counts(&ep.id).await.unwrap(),
        DeliveryCounts {
            pending: 2,
            dead: 1
        }
    );
    assert_eq!(
        s.pending_deliveries(&ep.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap(),
        vec![replayed, ds[1].clone()],
        "a replayed delivery keeps its place in id order"
    );
    s.update_deliveries(&[]).await.unwrap();
}

/// Deleting an endpoint kills its pending deliveries (`endpoint_deleted`, at `now`),
/// reports how many, and keeps its history.
pub async fn delete_endpoint_kills_pending_and_keeps_history(s: &dyn Storage) {
    let acme = tenant("acme");
    let (ep, keep) = (endpoint(&acme), endpoint(&acme));
    s.create_endpoint(&ep).await.unwrap();
    s.create_endpoint(&keep).await.unwrap();
    let mut ds = Vec::new();
    for t in 0..4 {
        ds.extend(
            publish(s, &event(&acme, "x", at(t)), &[&ep, &keep])
                .await
                .into_iter()
                .take(1),
        );
    }
    let mut ok = ds[0].clone();
    ok.status = DeliveryStatus::Succeeded;
    ok.next_attempt_at = None;
    let first = attempt(&ds[0], 1, 200, at(1));
    s.record_attempt(&first, &ok, &health(0)).await.unwrap();
    // One failed once and waits for its retry: pending, with its record changed.
    let mut retried = ds[1].clone();
    retried.attempts = 1;
    retried.last_status = Some(500);
    retried.next_attempt_at = Some(at(50));
    let failed = attempt(&ds[1], 1, 500, at(2));
    s.record_attempt(&failed, &retried, &health(1))
        .await
        .unwrap();

    let now = at(100);
    assert_eq!(
        s.delete_endpoint(&acme, &ep.id, now).await.unwrap(),
        Some(3)
    );
    assert_eq!(s.get_endpoint(&acme, &ep.id).await.unwrap(), None);
    assert_eq!(s.endpoint_by_id(&ep.id).await.unwrap(), None);
    assert_eq!(
        ids(&s.all_endpoints().await.unwrap(), |e| &e.id),
        vec![keep.id.clone()]
    );
    let listed = s
        .list_endpoints(&acme, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(ids(&listed.items, |e| &e.id), vec![keep.id.clone()]);

    for d in &ds[1..] {
        let stored = s.get_delivery(&acme, &d.id).await.unwrap().unwrap();
        assert_eq!(stored.status, DeliveryStatus::Dead);
        assert_eq!(stored.dead_reason, Some(DeadReason::EndpointDeleted));
        assert_eq!(stored.updated_at, now);
        assert_eq!(stored.next_attempt_at, None);
    }
    let stored = s.get_delivery(&acme, &ds[1].id).await.unwrap().unwrap();
    assert_eq!(
        (stored.attempts, stored.last_status),
        (1, Some(500)),
        "a retried delivery dies with its history"
    );
    assert_eq!(s.get_delivery(&acme, &ds[0].id).await.unwrap(), Some(ok));
    assert!(s
        .pending_deliveries(&ep.id, PendingOrder::Publish, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.endpoints_with_pending().await.unwrap(),
        vec![keep.id.clone()]
    );
    assert_eq!(
        s.delivery_counts(&ep.id).await.unwrap(),
        DeliveryCounts {
            pending: 0,
            dead: 3
        }
    );
    let dead = s
        .list_dead_letters(&acme, &ep.id, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(dead.items.len(), 3, "dead letters are kept");
    let attempts = s
        .list_attempts(&acme, &ep.id, None, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(attempts.items, vec![failed, first], "attempts are kept");
    assert_eq!(s.delivery_counts(&keep.id).await.unwrap().pending, 4);

    assert_eq!(s.delete_endpoint(&acme, &ep.id, now).await.unwrap(), None);
    assert_eq!(
        s.delete_endpoint(&acme, &EndpointId::generate(), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.delete_endpoint(&acme, &keep.id, now).await.unwrap(),
        Some(4)
    );
}

/// Counts follow inserts, attempts, dead-lettering and replays.
pub async fn delivery_counts_track_every_transition(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let zero = DeliveryCounts::default();
    assert_eq!(s.delivery_counts(&ep.id).await.unwrap(), zero);
    assert_eq!(
        s.delivery_counts(&EndpointId::generate()).await.unwrap(),
        zero
    );
    let mut ds = Vec::new();
    for t in 0..4 {
        ds.extend(publish(s, &event(&acme, "x", at(t)), &[&ep]).await);
    }
    let counts = |pending, dead| DeliveryCounts { pending, dead };
    assert_eq!(s.delivery_counts(&ep.id).await.unwrap(), counts(4, 0));

    let mut ok = ds[0].clone();
    ok.status = DeliveryStatus::Succeeded;
    s.record_attempt(&attempt(&ds[0], 1, 200, at(5)), &ok, &health(0))
        .await
        .unwrap();
    assert_eq!(s.delivery_counts(&ep.id).await.unwrap(), counts(3, 0));

    let mut dead = ds[1].clone();
    dead.attempts = 1;
    dead.kill(DeadReason::Gone, at(5));
    s.record_attempt(&attempt(&ds[1], 1, 410, at(5)), &dead, &health(1))
        .await
        .unwrap();
    assert_eq!(s.delivery_counts(&ep.id).await.unwrap(), counts(2, 1));
    // Writing the same state again changes nothing.
    s.update_deliveries(&[dead.clone()]).await.unwrap();
    assert_eq!(s.delivery_counts(&ep.id).await.unwrap(), counts(2, 1));

    let mut replayed = dead;
    replayed.requeue(at(6));
    s.update_deliveries(&[replayed]).await.unwrap();
    assert_eq!(s.delivery_counts(&ep.id).await.unwrap(), counts(3, 0));
}

/// Dead letters list newest first by delivery id, paged, only for their tenant.
pub async fn list_dead_letters_newest_first_with_cursors(s: &dyn Storage) {
    let acme = tenant("acme");
    let (ep, other) = (endpoint(&acme), endpoint(&acme));
    s.create_endpoint(&ep).await.unwrap();
    s.create_endpoint(&other).await.unwrap();
    let mut dead = Vec::new();
    for t in 0..5 {
        let ds = publish(s, &event(&acme, "x", at(t)), &[&ep, &other]).await;
        let mut killed: Vec<Delivery> = ds.clone();
        for d in &mut killed {
            // Killed in reverse: listing order is by id, not by time of death.
            d.kill(DeadReason::RetriesExhausted, at(100 - t));
        }
        if t != 2 {
            s.update_deliveries(&killed).await.unwrap();
            dead.push(killed[0].clone());
        }
    }
    let expected: Vec<DeliveryId> = dead.iter().rev().map(|d| d.id.clone()).collect();
    for limit in [1, 3, 4, 10] {
        let (acme, ep_id) = (&acme, &ep.id);
        let all = collect_pages(limit, move |page| async move {
            s.list_dead_letters(acme, ep_id, &page).await.unwrap()
        })
        .await;
        assert_eq!(ids(&all, |d| &d.id), expected, "limit {limit}");
    }
    let first = s
        .list_dead_letters(&acme, &ep.id, &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first.items, vec![dead[3].clone()]);
    let foreign = s
        .list_dead_letters(&tenant("globex"), &ep.id, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(foreign.items.is_empty());
}

/// Purge removes old settled events with their deliveries, and old attempts; pending
/// work and anything newer stay.
pub async fn purge_before_removes_old_history_and_keeps_pending(s: &dyn Storage) {
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    let cutoff = at(100);

    // Old and settled: one delivery succeeded, one dead.
    let old = event(&acme, "old", at(1));
    let old_ds = publish(s, &old, &[&ep, &ep]).await;
    let mut ok = old_ds[0].clone();
    ok.status = DeliveryStatus::Succeeded;
    ok.next_attempt_at = None;
    let old_attempt = attempt(&old_ds[0], 1, 200, at(2));
    s.record_attempt(&old_attempt, &ok, &health(0))
        .await
        .unwrap();
    let mut dead = old_ds[1].clone();
    dead.kill(DeadReason::RetriesExhausted, at(3));
    s.update_deliveries(&[dead]).await.unwrap();

    // Old but still pending.
    let waiting = event(&acme, "waiting", at(4));
    let waiting_ds = publish(s, &waiting, &[&ep]).await;
    // New.
    let new = event(&acme, "new", cutoff);
    let new_ds = publish(s, &new, &[&ep]).await;
    let new_attempt = attempt(&new_ds[0], 1, 500, cutoff);
    s.record_attempt(&new_attempt, &new_ds[0], &health(1))
        .await
        .unwrap();

    let stats = s.purge_before(cutoff).await.unwrap();
    assert_eq!(
        stats,
        PurgeStats {
            events: 1,
            attempts: 1
        }
    );

    assert_eq!(s.get_event(&acme, &old.id).await.unwrap(), None);
    for d in &old_ds {
        assert_eq!(s.get_delivery(&acme, &d.id).await.unwrap(), None);
    }
    assert!(
        s.get_event(&acme, &waiting.id).await.unwrap().is_some(),
        "an old event with pending work stays"
    );
    assert_eq!(
        s.get_delivery(&acme, &waiting_ds[0].id).await.unwrap(),
        Some(waiting_ds[0].clone())
    );
    assert!(s.get_event(&acme, &new.id).await.unwrap().is_some());
    let mut pending = waiting_ds.clone();
    pending.extend(new_ds.clone());
    assert_eq!(
        s.pending_deliveries(&ep.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap(),
        pending
    );
    assert_eq!(
        s.delivery_counts(&ep.id).await.unwrap(),
        DeliveryCounts {
            pending: 2,
            dead: 0
        }
    );
    let dead_page = s
        .list_dead_letters(&acme, &ep.id, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(dead_page.items.is_empty());
    let attempts = s
        .list_attempts(&acme, &ep.id, None, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(attempts.items, vec![new_attempt]);
    let events = s
        .list_events(&acme, &EventFilter::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        ids(&events.items, |e| &e.id),
        vec![new.id.clone(), waiting.id.clone()]
    );

    // Purging again finds nothing.
    assert_eq!(s.purge_before(cutoff).await.unwrap(), PurgeStats::default());
    // A purged idempotency key can be used again.
    publish(
        s,
        &event_with_id(&acme, old.id.clone(), "old", at(200)),
        &[],
    )
    .await;
}

/// `flush` succeeds on an empty and a written storage.
pub async fn flush_succeeds(s: &dyn Storage) {
    s.flush().await.unwrap();
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    publish(s, &event(&acme, "x", at(1)), &[&ep]).await;
    s.flush().await.unwrap();
    assert_eq!(s.delivery_counts(&ep.id).await.unwrap().pending, 1);
}

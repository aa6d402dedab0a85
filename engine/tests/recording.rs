//! A success frees its endpoint's in-flight slot as soon as the response is in, not
//! once its record is stored (on sled that waits for a group commit); a delivery
//! whose record is still being written, or was written while a reload was reading,
//! is never sent again by a reload that found it pending in storage; and one a load
//! found before its hand-off came is not sent again by the late hand-off.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{config, eventually, url, ScriptedTransport, Step};
use herald::model::{Attempt, AttemptOutcome, Delivery, Endpoint, EndpointHealth, Event};
use herald::storage::{
    DeliveryCounts, EventFilter, InsertEvent, Page, PageRequest, PurgeStats, Storage, StorageResult,
};
use herald::{
    DeliveryId, EndpointId, EndpointPatch, Engine, EventId, NewEndpoint, NewEvent, TenantId,
    Timestamp,
};
use herald_storage_memory::MemoryStorage;
use tokio::sync::{Notify, Semaphore};

/// Memory storage whose `record_attempt` waits for a permit of `gate`; whose
/// `pending_deliveries`, while `hold_loads` is set, reads at once but answers only
/// with a permit of `load_gate` (a load whose read is older than its answer); and
/// whose `insert_event`, while `hold_inserts` is set, stores at once, signals
/// `inserted`, and answers only with a permit of `insert_gate` (a publish whose
/// deliveries are in storage before they are handed to their actor).
struct GatedStorage {
    inner: MemoryStorage,
    gate: Semaphore,
    hold_loads: AtomicBool,
    load_gate: Semaphore,
    hold_inserts: AtomicBool,
    inserted: Notify,
    insert_gate: Semaphore,
}

impl GatedStorage {
    fn new() -> Self {
        Self {
            inner: MemoryStorage::new(),
            gate: Semaphore::new(0),
            hold_loads: AtomicBool::new(false),
            load_gate: Semaphore::new(0),
            hold_inserts: AtomicBool::new(false),
            inserted: Notify::new(),
            insert_gate: Semaphore::new(0),
        }
    }
}

#[async_trait]
impl Storage for GatedStorage {
    async fn put_endpoint(&self, endpoint: &Endpoint) -> StorageResult<()> {
        self.inner.put_endpoint(endpoint).await
    }

    async fn get_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> StorageResult<Option<Endpoint>> {
        self.inner.get_endpoint(tenant, id).await
    }

    async fn endpoint_by_id(&self, id: &EndpointId) -> StorageResult<Option<Endpoint>> {
        self.inner.endpoint_by_id(id).await
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<Endpoint>> {
        self.inner.list_endpoints(tenant, page).await
    }

    async fn endpoints_after(
        &self,
        after: Option<&EndpointId>,
        limit: usize,
    ) -> StorageResult<Vec<Endpoint>> {
        self.inner.endpoints_after(after, limit).await
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        now: Timestamp,
    ) -> StorageResult<Option<u64>> {
        self.inner.delete_endpoint(tenant, id, now).await
    }

    async fn endpoint_health(&self, id: &EndpointId) -> StorageResult<EndpointHealth> {
        self.inner.endpoint_health(id).await
    }

    async fn put_endpoint_health(
        &self,
        id: &EndpointId,
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        self.inner.put_endpoint_health(id, health).await
    }

    async fn delivery_counts(&self, id: &EndpointId) -> StorageResult<DeliveryCounts> {
        self.inner.delivery_counts(id).await
    }

    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
    ) -> StorageResult<InsertEvent> {
        let stored = self.inner.insert_event(event, deliveries).await;
        if self.hold_inserts.load(SeqCst) {
            self.inserted.notify_one();
            self.insert_gate
                .acquire()
                .await
                .expect("gate open")
                .forget();
        }
        stored
    }

    async fn get_event(&self, tenant: &TenantId, id: &EventId) -> StorageResult<Option<Event>> {
        self.inner.get_event(tenant, id).await
    }

    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> StorageResult<Page<Event>> {
        self.inner.list_events(tenant, filter, page).await
    }

    async fn event_deliveries(
        &self,
        tenant: &TenantId,
        event_id: &EventId,
    ) -> StorageResult<Vec<Delivery>> {
        self.inner.event_deliveries(tenant, event_id).await
    }

    async fn get_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> StorageResult<Option<Delivery>> {
        self.inner.get_delivery(tenant, id).await
    }

    async fn pending_deliveries(
        &self,
        endpoint_id: &EndpointId,
        from: Option<&DeliveryId>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        let read = self
            .inner
            .pending_deliveries(endpoint_id, from, limit)
            .await;
        if self.hold_loads.load(SeqCst) {
            self.load_gate.acquire().await.expect("gate open").forget();
        }
        read
    }

    async fn endpoints_with_pending(&self) -> StorageResult<Vec<EndpointId>> {
        self.inner.endpoints_with_pending().await
    }

    async fn record_attempt(
        &self,
        attempt: &Attempt,
        delivery: &Delivery,
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        self.gate.acquire().await.expect("gate open").forget();
        self.inner.record_attempt(attempt, delivery, health).await
    }

    async fn update_deliveries(&self, deliveries: &[Delivery]) -> StorageResult<()> {
        self.inner.update_deliveries(deliveries).await
    }

    async fn list_attempts(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        outcome: Option<AttemptOutcome>,
        page: &PageRequest,
    ) -> StorageResult<Page<Attempt>> {
        self.inner
            .list_attempts(tenant, endpoint_id, outcome, page)
            .await
    }

    async fn list_dead_letters(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        self.inner
            .list_dead_letters(tenant, endpoint_id, page)
            .await
    }

    async fn purge_before(&self, cutoff: Timestamp) -> StorageResult<PurgeStats> {
        self.inner.purge_before(cutoff).await
    }

    async fn flush(&self) -> StorageResult<()> {
        self.inner.flush().await
    }
}

/// An engine on a fresh `GatedStorage`, with endpoint `a` (adjusted by `edit`) whose
/// receiver answers 200.
struct Gated {
    storage: Arc<GatedStorage>,
    transport: Arc<ScriptedTransport>,
    engine: Engine,
    tenant: TenantId,
    endpoint_id: EndpointId,
}

impl Gated {
    async fn start(edit: impl FnOnce(&mut NewEndpoint)) -> Self {
        let storage = Arc::new(GatedStorage::new());
        let transport = Arc::new(ScriptedTransport::new());
        let engine = Engine::start(storage.clone(), transport.clone(), config())
            .await
            .unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        let mut input = NewEndpoint::new(url("a"));
        edit(&mut input);
        let endpoint = engine.create_endpoint(&tenant, input).await.unwrap();
        transport.set_default(&url("a"), Step::status(200));
        Self {
            storage,
            transport,
            engine,
            tenant,
            endpoint_id: endpoint.info.endpoint.id.clone(),
        }
    }
}

/// Makes the endpoint's actor reload its pending deliveries from storage (an update
/// of the endpoint does).
async fn reload(engine: &Engine, tenant: &TenantId, endpoint_id: &EndpointId) {
    let patch = EndpointPatch {
        description: Some(Some("reloaded".into())),
        ..Default::default()
    };
    engine
        .update_endpoint(tenant, endpoint_id, patch)
        .await
        .unwrap();
}

/// Waits until storage holds no pending delivery of the endpoint.
async fn until_none_pending(storage: &GatedStorage, endpoint_id: &EndpointId) {
    eventually(Duration::from_secs(30), || async {
        storage
            .inner
            .pending_deliveries(endpoint_id, None, 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn successes_free_their_slot_before_their_record_is_stored_and_are_never_resent() {
    let g = Gated::start(|e| e.max_in_flight = Some(1)).await;
    for n in 0..3 {
        let data = format!("{{\"n\":{n}}}");
        g.engine
            .publish(&g.tenant, NewEvent::new("order.filled", &data).unwrap())
            .await
            .unwrap();
    }

    // One at a time, all three go out though not one record is stored yet.
    assert!(g.transport.wait_for(3, Duration::from_secs(30)).await);
    assert_eq!(g.transport.max_concurrent(&url("a")), 1);
    let pending = g
        .storage
        .inner
        .pending_deliveries(&g.endpoint_id, None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 3, "storage still has them pending");

    // A reload reads them back as pending: none may be sent again.
    reload(&g.engine, &g.tenant, &g.endpoint_id).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(g.transport.sent().len(), 3);

    // The records land; every delivery is stored as succeeded, sent once.
    g.storage.gate.add_permits(3);
    until_none_pending(&g.storage, &g.endpoint_id).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(g.transport.sent().len(), 3);
    let sent: std::collections::HashSet<String> = g
        .transport
        .sent()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(sent.len(), 3, "three distinct events, each sent once");
    let counts = g
        .storage
        .inner
        .delivery_counts(&g.endpoint_id)
        .await
        .unwrap();
    assert_eq!((counts.pending, counts.dead), (0, 0), "all three succeeded");
}

#[tokio::test(start_paused = true)]
async fn a_success_stored_while_a_reload_reads_is_not_sent_again() {
    let g = Gated::start(|_| {}).await;
    g.engine
        .publish(&g.tenant, NewEvent::new("order.filled", "{}").unwrap())
        .await
        .unwrap();
    assert!(g.transport.wait_for(1, Duration::from_secs(30)).await);

    // A reload reads the delivery as pending (its record is not stored yet), and
    // answers only after the record has landed.
    g.storage.hold_loads.store(true, SeqCst);
    reload(&g.engine, &g.tenant, &g.endpoint_id).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    g.storage.gate.add_permits(1);
    until_none_pending(&g.storage, &g.endpoint_id).await;
    g.storage.load_gate.add_permits(1);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(g.transport.sent().len(), 1, "sent once");
}

#[tokio::test(start_paused = true)]
async fn a_delivery_a_load_found_before_its_hand_off_is_not_sent_again() {
    let g = Arc::new(Gated::start(|_| {}).await);
    g.storage.gate.add_permits(100);

    // The event is stored, but its hand-off to the endpoint's actor is held back.
    g.storage.hold_inserts.store(true, SeqCst);
    let publisher = g.clone();
    let first = tokio::spawn(async move {
        publisher
            .engine
            .publish(
                &publisher.tenant,
                NewEvent::new("order.filled", "{}").unwrap(),
            )
            .await
            .unwrap()
    });
    g.storage.inserted.notified().await;
    g.storage.hold_inserts.store(false, SeqCst);

    // Meanwhile the actor (started by an update of the endpoint) reads the delivery
    // from storage, sends it, and stores its success.
    reload(&g.engine, &g.tenant, &g.endpoint_id).await;
    assert!(g.transport.wait_for(1, Duration::from_secs(30)).await);
    until_none_pending(&g.storage, &g.endpoint_id).await;

    // The hand-off comes late; a second event follows it through the same path, so
    // anything the late hand-off sends goes out before the second event does.
    g.storage.insert_gate.add_permits(1);
    let first = first.await.unwrap();
    let second = g
        .engine
        .publish(&g.tenant, NewEvent::new("order.filled", "{}").unwrap())
        .await
        .unwrap();
    assert!(g.transport.wait_for(2, Duration::from_secs(30)).await);
    let sent: Vec<String> = g
        .transport
        .sent()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(
        sent,
        vec![
            first.event.id.as_str().to_owned(),
            second.event.id.as_str().to_owned()
        ],
        "each event sent once"
    );
}

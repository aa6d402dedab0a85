//! `HookedStorage`: any storage with gates and faults on the calls the engine's
//! delivery path makes, so a test can stop a write or a read at a chosen moment,
//! or make it fail, and watch what the engine does meanwhile.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use async_trait::async_trait;
use herald::error::StorageError;
use herald::ids::{DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::model::{
    ApiKey, Attempt, AttemptOutcome, Delivery, Endpoint, EndpointHealth, Event, EventTypeEntry,
    TenantSettings,
};
use herald::storage::{
    CreateEndpoint, DeliveryCounts, EventFilter, InsertEvent, Outcome, Page, PageRequest,
    PendingKey, PendingOrder, PurgeStats, ReplaceEndpoint, Storage, StorageResult,
};
use herald::time::Timestamp;
use tokio::sync::{Notify, Semaphore};

/// A point a storage call passes. Open until `close`; then each call waits there for
/// a permit (`release`). Counts the calls that reached it.
#[derive(Debug)]
pub struct Gate {
    closed: AtomicBool,
    permits: Semaphore,
    reached: AtomicUsize,
    arrival: Notify,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            closed: AtomicBool::new(false),
            permits: Semaphore::new(0),
            reached: AtomicUsize::new(0),
            arrival: Notify::new(),
        }
    }
}

impl Gate {
    /// Calls from now on wait for a permit.
    pub fn close(&self) {
        self.closed.store(true, SeqCst);
    }

    /// Calls from now on pass, and every waiting one goes.
    pub fn open(&self) {
        self.closed.store(false, SeqCst);
        self.permits.add_permits(1 << 20);
    }

    /// Lets `n` waiting (or future) calls through.
    pub fn release(&self, n: usize) {
        self.permits.add_permits(n);
    }

    /// How many calls reached the gate so far.
    pub fn reached(&self) -> usize {
        self.reached.load(SeqCst)
    }

    /// Waits until `n` calls have reached the gate.
    pub async fn until_reached(&self, n: usize) {
        loop {
            let arrival = self.arrival.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            if self.reached() >= n {
                return;
            }
            arrival.await;
        }
    }

    async fn pass(&self) {
        self.reached.fetch_add(1, SeqCst);
        self.arrival.notify_waiters();
        if self.closed.load(SeqCst) {
            let permit = self.permits.acquire().await.expect("never closed");
            permit.forget();
        }
    }
}

/// A storage whose delivery-path calls pass gates and can fail on demand.
pub struct HookedStorage {
    inner: Arc<dyn Storage>,
    /// `record_outcomes`, before it writes.
    pub before_record: Gate,
    /// `replace_endpoint`, before it compares and writes.
    pub before_replace: Gate,
    /// `pending_deliveries`, before it reads.
    pub before_load: Gate,
    /// `pending_deliveries`, after it read and before it answers.
    pub after_load: Gate,
    /// `insert_event`, after it stored and before it answers.
    pub after_insert: Gate,
    /// `get_event` answers with an error while set.
    pub fail_event_reads: AtomicBool,
    /// `get_event` answers "not stored" while set.
    pub hide_events: AtomicBool,
    /// `endpoints_after` (the start-up read of every endpoint) fails while set.
    pub fail_endpoint_pages: AtomicBool,
    /// `get_event` calls made.
    pub event_reads: AtomicUsize,
    /// `list_dead_letters` calls made.
    pub dead_letter_reads: AtomicUsize,
    /// The most deliveries one `update_deliveries` call was given.
    pub largest_update: AtomicUsize,
}

impl HookedStorage {
    /// `inner` with every gate open and no fault.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self {
            inner,
            before_record: Gate::default(),
            before_replace: Gate::default(),
            before_load: Gate::default(),
            after_load: Gate::default(),
            after_insert: Gate::default(),
            fail_event_reads: AtomicBool::new(false),
            hide_events: AtomicBool::new(false),
            fail_endpoint_pages: AtomicBool::new(false),
            event_reads: AtomicUsize::new(0),
            dead_letter_reads: AtomicUsize::new(0),
            largest_update: AtomicUsize::new(0),
        }
    }

    /// The storage underneath, for reads a test makes past the gates.
    pub fn inner(&self) -> &dyn Storage {
        self.inner.as_ref()
    }
}

fn injected(what: &str) -> StorageError {
    StorageError::backend(
        what.to_owned(),
        std::io::Error::other("a fault injected by the test"),
    )
}

#[async_trait]
impl Storage for HookedStorage {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> StorageResult<()> {
        self.inner.create_endpoint(endpoint).await
    }

    async fn create_endpoint_within(
        &self,
        endpoint: &Endpoint,
        limit: Option<u64>,
    ) -> StorageResult<CreateEndpoint> {
        self.inner.create_endpoint_within(endpoint, limit).await
    }

    async fn count_endpoints(&self, tenant: &TenantId) -> StorageResult<u64> {
        self.inner.count_endpoints(tenant).await
    }

    async fn create_key(&self, key: &ApiKey) -> StorageResult<()> {
        self.inner.create_key(key).await
    }

    async fn key_by_hash(&self, token_hash: &str) -> StorageResult<Option<ApiKey>> {
        self.inner.key_by_hash(token_hash).await
    }

    async fn list_keys(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<ApiKey>> {
        self.inner.list_keys(tenant, page).await
    }

    async fn delete_key(&self, tenant: &TenantId, id: &KeyId) -> StorageResult<bool> {
        self.inner.delete_key(tenant, id).await
    }

    async fn touch_keys(&self, used: &[(KeyId, Timestamp)]) -> StorageResult<()> {
        self.inner.touch_keys(used).await
    }

    async fn tenant_settings(&self, tenant: &TenantId) -> StorageResult<Option<TenantSettings>> {
        self.inner.tenant_settings(tenant).await
    }

    async fn put_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
    ) -> StorageResult<()> {
        self.inner.put_tenant_settings(tenant, settings).await
    }

    async fn put_event_type(&self, entry: &EventTypeEntry) -> StorageResult<()> {
        self.inner.put_event_type(entry).await
    }

    async fn event_type(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> StorageResult<Option<EventTypeEntry>> {
        self.inner.event_type(tenant, event_type).await
    }

    async fn list_event_types(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<EventTypeEntry>> {
        self.inner.list_event_types(tenant, page).await
    }

    async fn delete_event_type(&self, tenant: &TenantId, event_type: &str) -> StorageResult<bool> {
        self.inner.delete_event_type(tenant, event_type).await
    }

    async fn replace_endpoint(
        &self,
        endpoint: &Endpoint,
        expected_version: u64,
    ) -> StorageResult<ReplaceEndpoint> {
        self.before_replace.pass().await;
        self.inner
            .replace_endpoint(endpoint, expected_version)
            .await
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
        if self.fail_endpoint_pages.load(SeqCst) {
            return Err(injected("reading endpoints"));
        }
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
        let inserted = self.inner.insert_event(event, deliveries).await;
        self.after_insert.pass().await;
        inserted
    }

    async fn get_event(&self, tenant: &TenantId, id: &EventId) -> StorageResult<Option<Event>> {
        self.event_reads.fetch_add(1, SeqCst);
        if self.fail_event_reads.load(SeqCst) {
            return Err(injected("reading an event"));
        }
        if self.hide_events.load(SeqCst) {
            return Ok(None);
        }
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
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        self.inner.event_deliveries(tenant, event_id, page).await
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
        order: PendingOrder,
        from: Option<&PendingKey>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        self.before_load.pass().await;
        let read = self
            .inner
            .pending_deliveries(endpoint_id, order, from, limit)
            .await;
        self.after_load.pass().await;
        read
    }

    async fn endpoints_with_pending(&self) -> StorageResult<Vec<EndpointId>> {
        self.inner.endpoints_with_pending().await
    }

    async fn last_delivery_id(&self) -> StorageResult<Option<DeliveryId>> {
        self.inner.last_delivery_id().await
    }

    async fn record_outcomes(
        &self,
        endpoint_id: &EndpointId,
        outcomes: &[Outcome],
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        self.before_record.pass().await;
        self.inner
            .record_outcomes(endpoint_id, outcomes, health)
            .await
    }

    async fn update_deliveries(&self, deliveries: &[Delivery]) -> StorageResult<()> {
        self.largest_update.fetch_max(deliveries.len(), SeqCst);
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
        self.dead_letter_reads.fetch_add(1, SeqCst);
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

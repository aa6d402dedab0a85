//! `MemoryStorage`: Herald's `Storage` kept in process memory, for tests, benches and
//! ephemeral use.
//!
//! Everything lives in one `State` of plain maps behind a std `Mutex`: every method
//! takes the lock, does its work synchronously and releases it before returning, so
//! no lock is ever held across an `.await`. Each write is one critical section, which
//! makes every write atomic; durability is trivially "as long as the process lives".
//!
//! Hot operations are O(log n): pending deliveries of an endpoint are a `BTreeSet` of
//! delivery ids (publish order) and one of (due, id) (due order), dead letters a set
//! of ids, and `delivery_counts` reads the sizes of those sets.
#![warn(missing_docs, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use herald::error::StorageError;
use herald::ids::{AttemptId, DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::model::{
    ApiKey, Attempt, AttemptOutcome, DeadReason, Delivery, DeliveryStatus, Endpoint,
    EndpointHealth, Event, EventTypeEntry, TenantSettings,
};
use herald::storage::{
    self, CreateEndpoint, DeliveryCounts, EventFilter, InsertEvent, Outcome, Page, PageRequest,
    PendingKey, PendingOrder, PurgeStats, ReplaceEndpoint, Storage, StorageResult,
};
use herald::time::Timestamp;

/// Storage in memory. Cheap to create; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    /// All records and indexes; one lock so every write is atomic.
    state: Mutex<State>,
}

/// An event and the ids of its deliveries.
#[derive(Debug)]
struct StoredEvent {
    event: Event,
    /// In id order, so `event_deliveries` pages by a binary search.
    deliveries: Vec<DeliveryId>,
}

/// The records and the indexes that keep hot operations O(log n).
#[derive(Debug, Default)]
struct State {
    /// Endpoints by id, in id order (the start-up pages through them).
    endpoints: BTreeMap<EndpointId, Endpoint>,
    /// Each tenant's endpoint ids (id order = creation order).
    tenant_endpoints: HashMap<TenantId, BTreeSet<EndpointId>>,
    /// Stored health per endpoint.
    health: HashMap<EndpointId, EndpointHealth>,
    /// Events by (tenant, id): the idempotency lookup.
    events: HashMap<(TenantId, EventId), StoredEvent>,
    /// Each tenant's events by (creation time, id).
    tenant_events: HashMap<TenantId, BTreeSet<(Timestamp, EventId)>>,
    /// Deliveries by id.
    deliveries: HashMap<DeliveryId, Delivery>,
    /// Pending delivery ids per endpoint; an endpoint without pending work has no entry.
    pending: HashMap<EndpointId, BTreeSet<DeliveryId>>,
    /// The same deliveries by (due, id), for reads in due order.
    pending_due: HashMap<EndpointId, BTreeSet<PendingKey>>,
    /// The largest delivery id ever stored.
    last_delivery: Option<DeliveryId>,
    /// Dead delivery ids per endpoint; an endpoint without dead letters has no entry.
    dead: HashMap<EndpointId, BTreeSet<DeliveryId>>,
    /// Attempts per endpoint, by start time then attempt id (the listing order).
    attempts: HashMap<EndpointId, BTreeMap<(Timestamp, AttemptId), Attempt>>,
    /// API keys by id, each tenant's in id order.
    keys: BTreeMap<(TenantId, KeyId), ApiKey>,
    /// Key ids by their token's hash.
    key_hashes: HashMap<String, (TenantId, KeyId)>,
    /// Tenants' settings.
    tenants: HashMap<TenantId, TenantSettings>,
    /// Event catalogs, by tenant then type.
    event_types: BTreeMap<(TenantId, String), EventTypeEntry>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state. A panic while holding the lock cannot leave a half-applied write
    /// visible to the API in a way worse than losing the process, so a poisoned lock
    /// is taken over rather than propagated.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Adds `key` to the set stored under `owner`.
fn set_add<K, V>(map: &mut HashMap<K, BTreeSet<V>>, owner: &K, key: V)
where
    K: std::hash::Hash + Eq + Clone,
    V: Ord,
{
    match map.get_mut(owner) {
        Some(set) => {
            set.insert(key);
        }
        None => {
            map.insert(owner.clone(), BTreeSet::from([key]));
        }
    }
}

/// Removes `key` from the set stored under `owner`, dropping the set when empty.
fn set_remove<K, V>(map: &mut HashMap<K, BTreeSet<V>>, owner: &K, key: &V)
where
    K: std::hash::Hash + Eq,
    V: Ord,
{
    if let Some(set) = map.get_mut(owner) {
        set.remove(key);
        if set.is_empty() {
            map.remove(owner);
        }
    }
}

/// Takes up to `limit` items (newest first) and makes the cursor from the last one
/// when more remain.
fn paginate<T>(
    mut items: impl Iterator<Item = T>,
    limit: usize,
    cursor_of: impl Fn(&T) -> String,
) -> Page<T> {
    let taken: Vec<T> = items.by_ref().take(limit).collect();
    let next_cursor = match (taken.last(), items.next()) {
        (Some(last), Some(_)) => Some(cursor_of(last)),
        _ => None,
    };
    Page {
        items: taken,
        next_cursor,
    }
}

/// The smallest valid event id: `-` is the lowest byte ids may use, so every other
/// id sorts after it. Used to bound event ranges by time alone.
fn min_event_id() -> EventId {
    EventId::parse("-").expect("`-` is a valid event id")
}

/// A malformed cursor; a caller bug or a cursor from another list.
fn bad_cursor(cursor: &str) -> StorageError {
    StorageError::BadCursor(cursor.to_owned())
}

impl State {
    /// Stores `delivery`, moving it between the pending and dead indexes as its status
    /// says.
    fn put_delivery(&mut self, delivery: Delivery) {
        if let Some(old) = self.deliveries.remove(&delivery.id) {
            self.unindex(&old);
        }
        if self
            .last_delivery
            .as_ref()
            .is_none_or(|last| &delivery.id > last)
        {
            self.last_delivery = Some(delivery.id.clone());
        }
        match delivery.status {
            DeliveryStatus::Pending => {
                set_add(
                    &mut self.pending,
                    &delivery.endpoint_id,
                    delivery.id.clone(),
                );
                set_add(
                    &mut self.pending_due,
                    &delivery.endpoint_id,
                    PendingKey::of(&delivery, PendingOrder::Due),
                );
            }
            DeliveryStatus::Dead => {
                set_add(&mut self.dead, &delivery.endpoint_id, delivery.id.clone());
            }
            DeliveryStatus::Succeeded => {}
        }
        self.deliveries.insert(delivery.id.clone(), delivery);
    }

    /// Removes a delivery and its index entries.
    fn remove_delivery(&mut self, id: &DeliveryId) {
        if let Some(old) = self.deliveries.remove(id) {
            self.unindex(&old);
        }
    }

    /// Removes the index entries of a delivery's stored state.
    fn unindex(&mut self, old: &Delivery) {
        let (endpoint, id) = (&old.endpoint_id, &old.id);
        match old.status {
            DeliveryStatus::Pending => {
                set_remove(&mut self.pending, endpoint, id);
                let key = PendingKey::of(old, PendingOrder::Due);
                set_remove(&mut self.pending_due, endpoint, &key);
            }
            DeliveryStatus::Dead => set_remove(&mut self.dead, endpoint, id),
            DeliveryStatus::Succeeded => {}
        }
    }

    /// Whether the stored delivery `id` is pending.
    fn is_pending(&self, id: &DeliveryId) -> bool {
        self.deliveries
            .get(id)
            .is_some_and(|d| d.status == DeliveryStatus::Pending)
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn create_endpoint_within(
        &self,
        endpoint: &Endpoint,
        limit: Option<u64>,
    ) -> StorageResult<CreateEndpoint> {
        let mut state = self.state();
        if state.endpoints.contains_key(&endpoint.id) {
            return Err(StorageError::Conflict(format!("endpoint {}", endpoint.id)));
        }
        let count = state
            .tenant_endpoints
            .get(&endpoint.tenant)
            .map_or(0, |set| set.len() as u64);
        if limit.is_some_and(|limit| count >= limit) {
            return Ok(CreateEndpoint::LimitReached);
        }
        state
            .endpoints
            .insert(endpoint.id.clone(), endpoint.clone());
        set_add(
            &mut state.tenant_endpoints,
            &endpoint.tenant,
            endpoint.id.clone(),
        );
        Ok(CreateEndpoint::Created)
    }

    async fn count_endpoints(&self, tenant: &TenantId) -> StorageResult<u64> {
        Ok(self
            .state()
            .tenant_endpoints
            .get(tenant)
            .map_or(0, |set| set.len() as u64))
    }

    async fn replace_endpoint(
        &self,
        endpoint: &Endpoint,
        expected_version: u64,
    ) -> StorageResult<ReplaceEndpoint> {
        let mut state = self.state();
        let Some(stored) = state.endpoints.get_mut(&endpoint.id) else {
            return Ok(ReplaceEndpoint::Stale(None));
        };
        if stored.version != expected_version || stored.tenant != endpoint.tenant {
            return Ok(ReplaceEndpoint::Stale(Some(Box::new(stored.clone()))));
        }
        *stored = endpoint.clone();
        Ok(ReplaceEndpoint::Replaced)
    }

    async fn get_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> StorageResult<Option<Endpoint>> {
        let state = self.state();
        Ok(state
            .endpoints
            .get(id)
            .filter(|e| &e.tenant == tenant)
            .cloned())
    }

    async fn endpoint_by_id(&self, id: &EndpointId) -> StorageResult<Option<Endpoint>> {
        Ok(self.state().endpoints.get(id).cloned())
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<Endpoint>> {
        let upper = match &page.cursor {
            Some(c) => Bound::Excluded(EndpointId::parse(c).map_err(|_| bad_cursor(c))?),
            None => Bound::Unbounded,
        };
        let state = self.state();
        let Some(ids) = state.tenant_endpoints.get(tenant) else {
            return Ok(Page::empty());
        };
        let items = ids
            .range((Bound::Unbounded, upper))
            .rev()
            .filter_map(|id| state.endpoints.get(id).cloned());
        Ok(paginate(items, page.limit, |e| e.id.to_string()))
    }

    async fn endpoints_after(
        &self,
        after: Option<&EndpointId>,
        limit: usize,
    ) -> StorageResult<Vec<Endpoint>> {
        let state = self.state();
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(state
            .endpoints
            .range::<EndpointId, _>((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        now: Timestamp,
    ) -> StorageResult<Option<u64>> {
        let mut state = self.state();
        if state.endpoints.get(id).is_none_or(|e| &e.tenant != tenant) {
            return Ok(None);
        }
        state.endpoints.remove(id);
        set_remove(&mut state.tenant_endpoints, tenant, id);
        state.health.remove(id);
        let pending: Vec<DeliveryId> = state
            .pending
            .get(id)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        let count = pending.len() as u64;
        for delivery_id in pending {
            if let Some(mut delivery) = state.deliveries.get(&delivery_id).cloned() {
                delivery.kill(DeadReason::EndpointDeleted, now);
                state.put_delivery(delivery);
            }
        }
        Ok(Some(count))
    }

    async fn endpoint_health(&self, id: &EndpointId) -> StorageResult<EndpointHealth> {
        Ok(self.state().health.get(id).cloned().unwrap_or_default())
    }

    async fn put_endpoint_health(
        &self,
        id: &EndpointId,
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        self.state().health.insert(id.clone(), health.clone());
        Ok(())
    }

    async fn delivery_counts(&self, id: &EndpointId) -> StorageResult<DeliveryCounts> {
        let state = self.state();
        Ok(DeliveryCounts {
            pending: state.pending.get(id).map_or(0, |s| s.len() as u64),
            dead: state.dead.get(id).map_or(0, |s| s.len() as u64),
        })
    }

    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
    ) -> StorageResult<InsertEvent> {
        let mut state = self.state();
        let key = (event.tenant.clone(), event.id.clone());
        if let Some(existing) = state.events.get(&key) {
            return Ok(InsertEvent::Exists(existing.event.clone()));
        }
        for delivery in deliveries {
            state.put_delivery(delivery.clone());
        }
        set_add(
            &mut state.tenant_events,
            &event.tenant,
            (event.created_at, event.id.clone()),
        );
        state.events.insert(
            key,
            StoredEvent {
                event: event.clone(),
                deliveries: {
                    let mut ids: Vec<DeliveryId> =
                        deliveries.iter().map(|d| d.id.clone()).collect();
                    ids.sort_unstable();
                    ids
                },
            },
        );
        Ok(InsertEvent::Inserted)
    }

    async fn get_event(&self, tenant: &TenantId, id: &EventId) -> StorageResult<Option<Event>> {
        let state = self.state();
        Ok(state
            .events
            .get(&(tenant.clone(), id.clone()))
            .map(|s| s.event.clone()))
    }

    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> StorageResult<Page<Event>> {
        let after = match &page.cursor {
            Some(c) => Some(storage::parse_event_cursor(c).ok_or_else(|| bad_cursor(c))?),
            None => None,
        };
        let state = self.state();
        let Some(index) = state.tenant_events.get(tenant) else {
            return Ok(Page::empty());
        };
        // Keys below `until` (at any id) and at or after `since`.
        let lower = match filter.since {
            Some(since) => Bound::Included((since, min_event_id())),
            None => Bound::Unbounded,
        };
        let mut upper = match filter.until {
            Some(until) => Bound::Excluded((until, min_event_id())),
            None => Bound::Unbounded,
        };
        if let Some(after) = after {
            let tighter = match &upper {
                Bound::Excluded(u) => after < *u,
                _ => true,
            };
            if tighter {
                upper = Bound::Excluded(after);
            }
        }
        // An empty or inverted range has nothing in it (BTreeSet::range would panic).
        if let (Bound::Included(l), Bound::Excluded(u)) = (&lower, &upper) {
            if l >= u {
                return Ok(Page::empty());
            }
        }
        let entries = index.range((lower, upper)).rev().map(|position| {
            let (_, id) = position;
            let event = state
                .events
                .get(&(tenant.clone(), id.clone()))
                .map(|s| &s.event)
                .filter(|e| {
                    filter
                        .event_type
                        .as_ref()
                        .is_none_or(|t| &e.event_type == t)
                })
                .cloned();
            Ok((position, event))
        });
        storage::bounded_page(
            entries,
            page.limit,
            storage::EVENT_SCAN_LIMIT,
            |(created_at, id)| storage::event_cursor_at(*created_at, id),
        )
    }

    async fn events_after(
        &self,
        tenant: &TenantId,
        after: Option<&(Timestamp, EventId)>,
        limit: usize,
    ) -> StorageResult<Vec<Event>> {
        let state = self.state();
        let Some(index) = state.tenant_events.get(tenant) else {
            return Ok(Vec::new());
        };
        let lower = match after {
            Some(after) => Bound::Excluded(after.clone()),
            None => Bound::Unbounded,
        };
        Ok(index
            .range((lower, Bound::Unbounded))
            .filter_map(|(_, id)| state.events.get(&(tenant.clone(), id.clone())))
            .map(|stored| stored.event.clone())
            .take(limit)
            .collect())
    }

    async fn event_deliveries(
        &self,
        tenant: &TenantId,
        event_id: &EventId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        let after = match &page.cursor {
            Some(c) => Some(DeliveryId::parse(c).map_err(|_| bad_cursor(c))?),
            None => None,
        };
        let state = self.state();
        let Some(stored) = state.events.get(&(tenant.clone(), event_id.clone())) else {
            return Ok(Page::empty());
        };
        // `stored.deliveries` is in id order (`insert_event` sorts it).
        let start = after.map_or(0, |after| {
            stored.deliveries.partition_point(|id| id <= &after)
        });
        let items = stored.deliveries[start..]
            .iter()
            .filter_map(|id| state.deliveries.get(id).cloned());
        Ok(paginate(items, page.limit, |d| d.id.to_string()))
    }

    async fn get_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> StorageResult<Option<Delivery>> {
        let state = self.state();
        Ok(state
            .deliveries
            .get(id)
            .filter(|d| &d.tenant == tenant)
            .cloned())
    }

    async fn pending_deliveries(
        &self,
        endpoint_id: &EndpointId,
        order: PendingOrder,
        from: Option<&PendingKey>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        let state = self.state();
        let found = match order {
            PendingOrder::Publish => {
                let Some(set) = state.pending.get(endpoint_id) else {
                    return Ok(Vec::new());
                };
                let start = from.map_or(Bound::Unbounded, |key| Bound::Included(&key.id));
                let mut found = Vec::with_capacity(limit.min(set.len()));
                found.extend(
                    set.range::<DeliveryId, _>((start, Bound::Unbounded))
                        .take(limit)
                        .filter_map(|id| state.deliveries.get(id).cloned()),
                );
                found
            }
            PendingOrder::Due => {
                let Some(set) = state.pending_due.get(endpoint_id) else {
                    return Ok(Vec::new());
                };
                let start = from.map_or(Bound::Unbounded, Bound::Included);
                let mut found = Vec::with_capacity(limit.min(set.len()));
                found.extend(
                    set.range::<PendingKey, _>((start, Bound::Unbounded))
                        .take(limit)
                        .filter_map(|key| state.deliveries.get(&key.id).cloned()),
                );
                found
            }
        };
        Ok(found)
    }

    async fn last_delivery_id(&self) -> StorageResult<Option<DeliveryId>> {
        Ok(self.state().last_delivery.clone())
    }

    async fn endpoints_with_pending(&self) -> StorageResult<Vec<EndpointId>> {
        let state = self.state();
        let mut ids: Vec<EndpointId> = state.pending.keys().cloned().collect();
        ids.sort();
        Ok(ids)
    }

    async fn record_outcomes(
        &self,
        endpoint_id: &EndpointId,
        outcomes: &[Outcome],
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        let mut state = self.state();
        for outcome in outcomes {
            if let Some(attempt) = &outcome.attempt {
                state
                    .attempts
                    .entry(attempt.endpoint_id.clone())
                    .or_default()
                    .insert((attempt.started_at, attempt.id.clone()), attempt.clone());
            }
            if state.is_pending(&outcome.delivery.id) {
                state.put_delivery(outcome.delivery.clone());
            }
        }
        state.health.insert(endpoint_id.clone(), health.clone());
        Ok(())
    }

    async fn update_deliveries(&self, deliveries: &[Delivery]) -> StorageResult<()> {
        let mut state = self.state();
        for delivery in deliveries {
            state.put_delivery(delivery.clone());
        }
        Ok(())
    }

    async fn list_attempts(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        outcome: Option<AttemptOutcome>,
        page: &PageRequest,
    ) -> StorageResult<Page<Attempt>> {
        let upper = match &page.cursor {
            Some(c) => {
                Bound::Excluded(storage::parse_attempt_cursor(c).ok_or_else(|| bad_cursor(c))?)
            }
            None => Bound::Unbounded,
        };
        let state = self.state();
        let Some(attempts) = state.attempts.get(endpoint_id) else {
            return Ok(Page::empty());
        };
        let entries = attempts
            .range((Bound::Unbounded, upper))
            .rev()
            .map(|(_, a)| {
                let wanted = &a.tenant == tenant && outcome.is_none_or(|o| o.matches(a));
                Ok((a, wanted.then(|| a.clone())))
            });
        storage::bounded_page(
            entries,
            page.limit,
            storage::ATTEMPT_SCAN_LIMIT + page.limit,
            |a| storage::attempt_cursor(a),
        )
    }

    async fn list_dead_letters(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        let upper = match &page.cursor {
            Some(c) => Bound::Excluded(DeliveryId::parse(c).map_err(|_| bad_cursor(c))?),
            None => Bound::Unbounded,
        };
        let state = self.state();
        let Some(dead) = state.dead.get(endpoint_id) else {
            return Ok(Page::empty());
        };
        let items = dead
            .range((Bound::Unbounded, upper))
            .rev()
            .filter_map(|id| state.deliveries.get(id))
            .filter(|d| &d.tenant == tenant)
            .cloned();
        Ok(paginate(items, page.limit, |d| d.id.to_string()))
    }

    async fn purge_before(&self, cutoff: Timestamp) -> StorageResult<PurgeStats> {
        let mut guard = self.state();
        let state = &mut *guard;
        let mut stats = PurgeStats::default();

        // Events older than the cutoff whose deliveries are all settled; an event
        // with pending work stays, since delivering it needs its body.
        let mut doomed: Vec<(TenantId, Timestamp, EventId)> = Vec::new();
        for (tenant, index) in &state.tenant_events {
            for (at, id) in index.range(..(cutoff, min_event_id())) {
                let key = (tenant.clone(), id.clone());
                let settled = state
                    .events
                    .get(&key)
                    .is_none_or(|s| !s.deliveries.iter().any(|d| state.is_pending(d)));
                if settled {
                    doomed.push((tenant.clone(), *at, id.clone()));
                }
            }
        }
        for (tenant, at, id) in doomed {
            if let Some(stored) = state.events.remove(&(tenant.clone(), id.clone())) {
                for delivery_id in &stored.deliveries {
                    state.remove_delivery(delivery_id);
                }
            }
            set_remove(&mut state.tenant_events, &tenant, &(at, id));
            stats.events += 1;
        }

        for attempts in state.attempts.values_mut() {
            let before = attempts.len();
            attempts.retain(|_, a| a.started_at >= cutoff);
            stats.attempts += (before - attempts.len()) as u64;
        }
        state.attempts.retain(|_, a| !a.is_empty());
        Ok(stats)
    }

    async fn flush(&self) -> StorageResult<()> {
        Ok(())
    }

    async fn create_key(&self, key: &ApiKey) -> StorageResult<()> {
        let mut state = self.state();
        let slot = (key.tenant.clone(), key.id.clone());
        if state.keys.contains_key(&slot) || state.key_hashes.contains_key(&key.token_hash) {
            return Err(StorageError::Conflict(format!("key {}", key.id)));
        }
        state
            .key_hashes
            .insert(key.token_hash.clone(), slot.clone());
        state.keys.insert(slot, key.clone());
        Ok(())
    }

    async fn key_by_hash(&self, token_hash: &str) -> StorageResult<Option<ApiKey>> {
        let state = self.state();
        Ok(state
            .key_hashes
            .get(token_hash)
            .and_then(|slot| state.keys.get(slot))
            .cloned())
    }

    async fn list_keys(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<ApiKey>> {
        let upper = match &page.cursor {
            Some(c) => {
                Bound::Excluded((tenant.clone(), KeyId::parse(c).map_err(|_| bad_cursor(c))?))
            }
            None => Bound::Unbounded,
        };
        let state = self.state();
        let items = state
            .keys
            .range((Bound::Unbounded, upper))
            .rev()
            // Without a cursor the range ends past every tenant: skip the later ones.
            .skip_while(|((t, _), _)| t > tenant)
            .take_while(|((t, _), _)| t == tenant)
            .map(|(_, key)| key.clone());
        Ok(paginate(items, page.limit, |k| k.id.to_string()))
    }

    async fn delete_key(&self, tenant: &TenantId, id: &KeyId) -> StorageResult<bool> {
        let mut state = self.state();
        match state.keys.remove(&(tenant.clone(), id.clone())) {
            Some(key) => {
                state.key_hashes.remove(&key.token_hash);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn touch_keys(&self, used: &[(KeyId, Timestamp)]) -> StorageResult<()> {
        let mut state = self.state();
        for (id, at) in used {
            if let Some(key) = state.keys.values_mut().find(|k| &k.id == id) {
                key.last_used_at = key.last_used_at.max(Some(*at));
            }
        }
        Ok(())
    }

    async fn tenant_settings(&self, tenant: &TenantId) -> StorageResult<Option<TenantSettings>> {
        Ok(self.state().tenants.get(tenant).cloned())
    }

    async fn put_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
    ) -> StorageResult<()> {
        self.state()
            .tenants
            .insert(tenant.clone(), settings.clone());
        Ok(())
    }

    async fn put_event_type(&self, entry: &EventTypeEntry) -> StorageResult<()> {
        self.state().event_types.insert(
            (entry.tenant.clone(), entry.event_type.clone()),
            entry.clone(),
        );
        Ok(())
    }

    async fn event_type(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> StorageResult<Option<EventTypeEntry>> {
        Ok(self
            .state()
            .event_types
            .get(&(tenant.clone(), event_type.to_owned()))
            .cloned())
    }

    async fn list_event_types(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<EventTypeEntry>> {
        let lower = match &page.cursor {
            Some(c) => Bound::Excluded((tenant.clone(), c.clone())),
            None => Bound::Included((tenant.clone(), String::new())),
        };
        let state = self.state();
        let items = state
            .event_types
            .range((lower, Bound::Unbounded))
            .take_while(|((t, _), _)| t == tenant)
            .map(|(_, entry)| entry.clone());
        Ok(paginate(items, page.limit, |e| e.event_type.clone()))
    }

    async fn delete_event_type(&self, tenant: &TenantId, event_type: &str) -> StorageResult<bool> {
        Ok(self
            .state()
            .event_types
            .remove(&(tenant.clone(), event_type.to_owned()))
            .is_some())
    }
}

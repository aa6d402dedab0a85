//! The `Storage` trait: everything Herald keeps, and the durability contract.
//!
//! Contract for every implementation:
//! - a write that returns `Ok` is durable (survives a crash of the process);
//! - writes documented as atomic are all-or-nothing;
//! - lists are newest first (unless a method says otherwise), at most
//!   `PageRequest::limit` items, with an opaque cursor that continues after the last
//!   item returned (or, for a listing that bounds what it reads, after the last
//!   record read: `bounded_page`);
//! - everything an endpoint actor needs is reachable from its `EndpointId`, so
//!   "which endpoints have work" is a query, not only in-memory state.

use async_trait::async_trait;

use crate::error::StorageError;
use crate::ids::{AttemptId, DeliveryId, EndpointId, EventId, KeyId, TenantId};
use crate::model::DeliveryStatus;
use crate::model::{
    ApiKey, Attempt, AttemptOutcome, Delivery, Endpoint, EndpointHealth, Event, EventTypeEntry,
    TenantSettings,
};
use crate::time::Timestamp;

/// Shorthand for storage results.
pub type StorageResult<T> = Result<T, StorageError>;

/// Which page of a list to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (callers clamp it; storage takes it as given).
    pub limit: usize,
    /// Continue after the item this cursor was made from.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: usize) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this is the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A last page with nothing in it.
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

/// Filters on a tenant's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this exact type.
    pub event_type: Option<String>,
    /// Only events created at or after this time.
    pub since: Option<Timestamp>,
    /// Only events created before this time.
    pub until: Option<Timestamp>,
}

/// An order of an endpoint's pending deliveries: the two orders its actor takes
/// them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingOrder {
    /// By when each is due, then by id: what an unordered endpoint sends next. A
    /// delivery never attempted is due at its publish.
    Due,
    /// By id, which is publish order: what a fifo endpoint sends next.
    Publish,
}

/// A position in an endpoint's pending deliveries, in either `PendingOrder`: keys
/// compare by due time, then id; in publish order every key's `due` is the epoch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PendingKey {
    /// When the delivery is due (the epoch in publish order).
    pub due: Timestamp,
    /// The delivery.
    pub id: DeliveryId,
}

impl PendingKey {
    /// The key of `delivery` in `order`.
    pub fn of(delivery: &Delivery, order: PendingOrder) -> Self {
        let due = match order {
            PendingOrder::Due => delivery.due(),
            PendingOrder::Publish => Timestamp::EPOCH,
        };
        Self {
            due,
            id: delivery.id.clone(),
        }
    }
}

/// What `create_endpoint_within` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateEndpoint {
    /// The endpoint is stored.
    Created,
    /// The tenant already has as many endpoints as the limit: nothing was written.
    LimitReached,
}

/// What `replace_endpoint` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceEndpoint {
    /// The endpoint is stored.
    Replaced,
    /// The stored endpoint is not at the version the change was made from (it is
    /// given; `None` when it was deleted): nothing was written.
    Stale(Option<Box<Endpoint>>),
}

/// A delivery's new state, with the attempt that led to it when one did (a delivery
/// killed because its event was purged changes without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The delivery as it now stands.
    pub delivery: Delivery,
    /// The attempt to log.
    pub attempt: Option<Attempt>,
}

/// What `Storage::pending_since` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPending {
    /// Pending deliveries at final positions, in position order, with them.
    pub deliveries: Vec<(u64, Delivery)>,
    /// Pending work exists whose position is not final yet (a transaction older
    /// than its own was still running): read again shortly.
    pub more_soon: bool,
}

/// What `insert_event` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertEvent {
    /// The event and its deliveries are stored.
    Inserted,
    /// An event with this id already exists for the tenant; nothing was written.
    Exists(Event),
}

/// Counts of an endpoint's deliveries by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Pending deliveries.
    pub pending: u64,
    /// Dead letters.
    pub dead: u64,
}

/// What a retention purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeStats {
    /// Events removed (with their non-pending deliveries).
    pub events: u64,
    /// Attempt records removed.
    pub attempts: u64,
}

/// The cursor of an event list after `event`: `<created_at ms>:<event id>`. Every
/// backend lists events newest first by creation time, then id.
pub fn event_cursor(event: &Event) -> String {
    event_cursor_at(event.created_at, &event.id)
}

/// The cursor of an event list after the event created at `created_at` with `id`
/// (`event_cursor`), made from a position in an index without the event itself.
pub fn event_cursor_at(created_at: Timestamp, id: &EventId) -> String {
    format!("{created_at}:{id}", created_at = created_at.0)
}

/// Events a `list_events` call examines at most. Matching `EventFilter::event_type`
/// means reading each event, and a rare type among many events would otherwise
/// read them all for one page: past this many, the page ends where the reading
/// stopped, short or even empty, with a cursor to continue from there.
pub const EVENT_SCAN_LIMIT: usize = 1000;

/// Attempts that do not match its outcome filter a `list_attempts` call passes over
/// before it ends the page where the reading stopped (short or empty, with a cursor):
/// a rare outcome in a long log would otherwise read the whole log for one page.
pub const ATTEMPT_SCAN_LIMIT: usize = 1000;

/// Makes a page of at most `limit` items from `entries` (positions in list order,
/// each with its item when it passes the list's filter), examining at most `scan`
/// entries. The cursor continues after the last item when another item follows,
/// after the last entry examined when the budget ran out first, and is `None` when
/// the entries ran out.
///
/// # Errors
/// The first error among the entries examined.
pub fn bounded_page<P, T>(
    entries: impl Iterator<Item = StorageResult<(P, Option<T>)>>,
    limit: usize,
    scan: usize,
    cursor_of: impl Fn(&P) -> String,
) -> StorageResult<Page<T>> {
    let mut items = Vec::new();
    let mut last_item: Option<P> = None;
    for (examined, entry) in entries.enumerate() {
        let (position, item) = entry?;
        let spent = examined + 1 >= scan;
        match item {
            // Another item follows a full page.
            Some(_) if items.len() == limit => {
                return Ok(Page {
                    items,
                    next_cursor: last_item.as_ref().map(&cursor_of),
                })
            }
            Some(item) => {
                items.push(item);
                last_item = Some(position);
                if spent {
                    return Ok(Page {
                        items,
                        next_cursor: last_item.as_ref().map(&cursor_of),
                    });
                }
            }
            None if spent => {
                return Ok(Page {
                    items,
                    next_cursor: Some(cursor_of(&position)),
                })
            }
            None => {}
        }
    }
    Ok(Page {
        items,
        next_cursor: None,
    })
}

/// Reads what `event_cursor` wrote; `None` when it is malformed.
pub fn parse_event_cursor(cursor: &str) -> Option<(Timestamp, EventId)> {
    let (created_at, id) = cursor.split_once(':')?;
    Some((
        Timestamp(created_at.parse().ok()?),
        EventId::parse(id).ok()?,
    ))
}

/// The cursor of an attempt list after `attempt`: `<started_at ms>.<attempt id>`
/// (the memory backend's; a backend may carry more in its cursors). Every backend
/// lists attempts newest first by start time, then id.
pub fn attempt_cursor(attempt: &Attempt) -> String {
    format!("{}.{}", attempt.started_at.0, attempt.id)
}

/// Reads what `attempt_cursor` wrote; `None` when it is malformed.
pub fn parse_attempt_cursor(cursor: &str) -> Option<(Timestamp, AttemptId)> {
    let (started_at, id) = cursor.split_once('.')?;
    Some((
        Timestamp(started_at.parse().ok()?),
        AttemptId::parse(id).ok()?,
    ))
}

/// Whether `delivery` is pending with a key at or after `from` in `order` (the
/// filter every backend's `pending_deliveries` applies).
pub fn pending_from(delivery: &Delivery, order: PendingOrder, from: Option<&PendingKey>) -> bool {
    delivery.status == DeliveryStatus::Pending
        && from.is_none_or(|from| match order {
            PendingOrder::Due => &PendingKey::of(delivery, order) >= from,
            PendingOrder::Publish => delivery.id >= from.id,
        })
}

/// Endpoints per `endpoints_after` page when every endpoint is read.
pub const ENDPOINT_PAGE: usize = 1024;

/// Calls `visit` with every stored endpoint, in id order, a page of `ENDPOINT_PAGE`
/// at a time: a store of many endpoints is never all in memory at once as records.
///
/// # Errors
/// The storage's.
pub async fn for_each_endpoint_page<S: Storage + ?Sized>(
    storage: &S,
    mut visit: impl FnMut(Vec<Endpoint>) + Send,
) -> StorageResult<()> {
    let mut after: Option<EndpointId> = None;
    loop {
        let page = storage
            .endpoints_after(after.as_ref(), ENDPOINT_PAGE)
            .await?;
        let next = match page.last() {
            Some(last) if page.len() == ENDPOINT_PAGE => Some(last.id.clone()),
            _ => None,
        };
        visit(page);
        match next {
            Some(id) => after = Some(id),
            None => return Ok(()),
        }
    }
}

/// Durable storage of endpoints, events, deliveries and attempts, and of the access
/// records (keys, tenant settings, the event catalog).
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Stores a new endpoint, unless its tenant has `limit` endpoints already (the
    /// count and the write are one atomic step, so concurrent creates never pass the
    /// limit together).
    ///
    /// # Errors
    /// `StorageError::Conflict` when an endpoint with its id exists (nothing is written).
    async fn create_endpoint_within(
        &self,
        endpoint: &Endpoint,
        limit: Option<u64>,
    ) -> StorageResult<CreateEndpoint>;

    /// Stores a new endpoint, with no limit on its tenant's count.
    ///
    /// # Errors
    /// `StorageError::Conflict` when an endpoint with its id exists (nothing is written).
    async fn create_endpoint(&self, endpoint: &Endpoint) -> StorageResult<()> {
        self.create_endpoint_within(endpoint, None)
            .await
            .map(|_| ())
    }

    /// How many endpoints the tenant has.
    async fn count_endpoints(&self, tenant: &TenantId) -> StorageResult<u64>;

    /// Replaces an endpoint, but only if the stored one is at `expected_version` (a
    /// compare-and-set: every change to an endpoint is made from the version it read,
    /// so concurrent changes never undo each other). `endpoint.version` is stored as
    /// given (callers set `expected_version + 1`).
    async fn replace_endpoint(
        &self,
        endpoint: &Endpoint,
        expected_version: u64,
    ) -> StorageResult<ReplaceEndpoint>;

    /// One endpoint of a tenant.
    async fn get_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> StorageResult<Option<Endpoint>>;

    /// One endpoint by id alone (endpoint actors know only their id).
    async fn endpoint_by_id(&self, id: &EndpointId) -> StorageResult<Option<Endpoint>>;

    /// A tenant's endpoints, newest first.
    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<Endpoint>>;

    /// Up to `limit` endpoints of every tenant in id order, those after `after` (the
    /// start-up reads them a page at a time to build the subscription index, so a
    /// store of many endpoints is never all in memory at once as records).
    async fn endpoints_after(
        &self,
        after: Option<&EndpointId>,
        limit: usize,
    ) -> StorageResult<Vec<Endpoint>>;

    /// Every endpoint of every tenant, in id order (`for_each_endpoint_page`).
    async fn all_endpoints(&self) -> StorageResult<Vec<Endpoint>> {
        let mut all = Vec::new();
        for_each_endpoint_page(self, |page| all.extend(page)).await?;
        Ok(all)
    }

    /// Deletes an endpoint and, atomically, marks its pending deliveries dead with
    /// `endpoint_deleted` at `now`. Returns how many were pending, or `None` when
    /// there was no such endpoint. Its history (attempts, dead letters) is kept.
    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        now: Timestamp,
    ) -> StorageResult<Option<u64>>;

    /// The endpoint's stored health (default when none was written yet).
    async fn endpoint_health(&self, id: &EndpointId) -> StorageResult<EndpointHealth>;

    /// Replaces the endpoint's health record. Its actor is the one writer.
    async fn put_endpoint_health(
        &self,
        id: &EndpointId,
        health: &EndpointHealth,
    ) -> StorageResult<()>;

    /// How many deliveries of the endpoint are pending and dead.
    async fn delivery_counts(&self, id: &EndpointId) -> StorageResult<DeliveryCounts>;

    /// Stores an event and its deliveries in one atomic, durable write, unless an event
    /// with the same id exists for the tenant (idempotency), in which case nothing is
    /// written and the existing event is returned.
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
    ) -> StorageResult<InsertEvent>;

    /// One event of a tenant.
    async fn get_event(&self, tenant: &TenantId, id: &EventId) -> StorageResult<Option<Event>>;

    /// A tenant's events, newest first (by creation time, then id), examining at
    /// most `EVENT_SCAN_LIMIT` events per call (`bounded_page`): with
    /// `filter.event_type` a page may be short, or empty, and still have a cursor.
    /// Time bounds are index bounds and cost nothing to skip.
    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> StorageResult<Page<Event>>;

    /// Up to `limit` of a tenant's events after `after` (its creation time and id;
    /// from the first when `None`), oldest first: the order `list_events` lists
    /// newest first. Streams replay with it.
    ///
    /// The default reads `list_events` pages back to `after` and keeps them all;
    /// backends with ordered indexes read forwards instead.
    async fn events_after(
        &self,
        tenant: &TenantId,
        after: Option<&(Timestamp, EventId)>,
        limit: usize,
    ) -> StorageResult<Vec<Event>> {
        let filter = EventFilter {
            since: after.map(|(created_at, _)| *created_at),
            ..EventFilter::default()
        };
        let mut page = PageRequest::first(EVENT_SCAN_LIMIT);
        let mut found = Vec::new();
        loop {
            let listed = self.list_events(tenant, &filter, &page).await?;
            found.extend(listed.items.into_iter().filter(|event| {
                after.is_none_or(|(at, id)| (event.created_at, &event.id) > (*at, id))
            }));
            match listed.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        found.reverse();
        found.truncate(limit);
        Ok(found)
    }

    /// The deliveries of one event in creation order (by id, oldest first), a page
    /// at a time: an event can match every endpoint of its tenant. The cursor is the
    /// last delivery's id; an unknown event has an empty page.
    async fn event_deliveries(
        &self,
        tenant: &TenantId,
        event_id: &EventId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>>;

    /// One delivery of a tenant.
    async fn get_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> StorageResult<Option<Delivery>>;

    /// The endpoint's pending deliveries in `order`, at most `limit`: from the first,
    /// or from `from` on (that key included) when given (an endpoint actor refilling
    /// its queue reads only past what it holds). In `PendingOrder::Publish` only
    /// `from.id` counts.
    async fn pending_deliveries(
        &self,
        endpoint_id: &EndpointId,
        order: PendingOrder,
        from: Option<&PendingKey>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>>;

    /// Every endpoint that has at least one pending delivery.
    async fn endpoints_with_pending(&self) -> StorageResult<Vec<EndpointId>>;

    /// The position of the last endpoint change (create, replace, delete) stored,
    /// in commit order: an engine sharing the storage reads it before it routes a
    /// publish and applies the changes up to it first (`endpoint_changes_after`),
    /// so a change committed anywhere applies to the very next publish. Only a
    /// storage several engines share needs it.
    async fn endpoint_change_position(&self) -> StorageResult<u64> {
        Err(StorageError::Unsupported("endpoint changes"))
    }

    /// The endpoint changes stored after position `after`, at most `limit`, in
    /// position order: the changed endpoint's tenant and id. A feed that no longer
    /// holds the change right after `after` (pruned) starts later: the reader then
    /// reads every endpoint again.
    async fn endpoint_changes_after(
        &self,
        _after: u64,
        _limit: usize,
    ) -> StorageResult<Vec<(u64, TenantId, EndpointId)>> {
        Err(StorageError::Unsupported("endpoint changes"))
    }

    /// A position in the storage's order of stored work such that every delivery
    /// of the endpoint at or below it is already stored (a read made after this
    /// call finds it), and every one stored later is above it. Only a storage
    /// several engines share needs it (`cluster::Membership`).
    async fn work_position(&self, _endpoint_id: &EndpointId) -> StorageResult<u64> {
        Err(StorageError::Unsupported("work positions"))
    }

    /// The endpoint's pending deliveries after position `after` whose position is
    /// final (no delivery can be stored below it any more), at most `limit`, in
    /// position order, each with its position; and whether pending work above that
    /// exists, to be read again shortly. A reader that remembers the last position
    /// it read misses nothing and reads nothing twice.
    async fn pending_since(
        &self,
        _endpoint_id: &EndpointId,
        _after: u64,
        _limit: usize,
    ) -> StorageResult<NewPending> {
        Err(StorageError::Unsupported("work positions"))
    }

    /// The largest delivery id ever stored (`None` for a store that never held one):
    /// the engine makes every new delivery id larger, so ids follow publish order
    /// across restarts even when the clock stepped back.
    async fn last_delivery_id(&self) -> StorageResult<Option<DeliveryId>>;

    /// Atomically, for endpoint `endpoint_id`: logs each outcome's attempt, replaces
    /// each delivery **only if the stored one is still pending** (a delivery
    /// dead-lettered or deleted meanwhile keeps that state; its attempt is logged all
    /// the same), and stores the endpoint's health.
    async fn record_outcomes(
        &self,
        endpoint_id: &EndpointId,
        outcomes: &[Outcome],
        health: &EndpointHealth,
    ) -> StorageResult<()>;

    /// `record_outcomes` of one attempt.
    async fn record_attempt(
        &self,
        attempt: &Attempt,
        delivery: &Delivery,
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        let outcome = Outcome {
            delivery: delivery.clone(),
            attempt: Some(attempt.clone()),
        };
        self.record_outcomes(&attempt.endpoint_id, &[outcome], health)
            .await
    }

    /// Atomically replaces these deliveries (replay, retry, dead-lettering).
    async fn update_deliveries(&self, deliveries: &[Delivery]) -> StorageResult<()>;

    /// An endpoint's attempts, newest first (by start time, then id), optionally only
    /// successes or failures. A page's cursor is only for the next page of the same
    /// list. Past about `ATTEMPT_SCAN_LIMIT` attempts that do not match, a page may
    /// end short, or empty, and still have a cursor.
    async fn list_attempts(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        outcome: Option<AttemptOutcome>,
        page: &PageRequest,
    ) -> StorageResult<Page<Attempt>>;

    /// An endpoint's dead deliveries, newest first (by delivery id).
    async fn list_dead_letters(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>>;

    /// Removes events created before `cutoff` (with their deliveries that are not
    /// pending) and attempts started before it. Pending work is never purged. A
    /// backend may keep an old attempt a little longer, with the newer ones recorded
    /// together with it (sled stores a commit group's attempts to an endpoint as one
    /// chunk), never remove a newer one.
    async fn purge_before(&self, cutoff: Timestamp) -> StorageResult<PurgeStats>;

    /// Makes every write so far durable (called at shutdown).
    async fn flush(&self) -> StorageResult<()>;

    /// Stores a new API key.
    ///
    /// # Errors
    /// `StorageError::Conflict` when a key with its id or its token hash exists.
    async fn create_key(&self, key: &ApiKey) -> StorageResult<()>;

    /// The key whose token has this SHA-256 (lowercase hex), of any tenant.
    async fn key_by_hash(&self, token_hash: &str) -> StorageResult<Option<ApiKey>>;

    /// A tenant's keys, newest first (by id); the cursor is the last key's id.
    async fn list_keys(&self, tenant: &TenantId, page: &PageRequest)
        -> StorageResult<Page<ApiKey>>;

    /// Removes a tenant's key; false when it has no such key.
    async fn delete_key(&self, tenant: &TenantId, id: &KeyId) -> StorageResult<bool>;

    /// Records when keys were last used: each existing key's `last_used_at` becomes
    /// the later of its stored value and the one given (keys gone meanwhile are
    /// skipped).
    async fn touch_keys(&self, used: &[(KeyId, Timestamp)]) -> StorageResult<()>;

    /// A tenant's stored settings, if any.
    async fn tenant_settings(&self, tenant: &TenantId) -> StorageResult<Option<TenantSettings>>;

    /// Creates or replaces a tenant's settings.
    async fn put_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
    ) -> StorageResult<()>;

    /// Creates or replaces an entry of a tenant's event catalog.
    async fn put_event_type(&self, entry: &EventTypeEntry) -> StorageResult<()>;

    /// One entry of a tenant's catalog.
    async fn event_type(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> StorageResult<Option<EventTypeEntry>>;

    /// A tenant's catalog in type order; the cursor is the last entry's type.
    async fn list_event_types(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<EventTypeEntry>>;

    /// Removes an entry of a tenant's catalog; false when there was none.
    async fn delete_event_type(&self, tenant: &TenantId, event_type: &str) -> StorageResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positions 0.. in list order; the even ones pass the filter.
    fn evens(count: usize) -> impl Iterator<Item = StorageResult<(usize, Option<usize>)>> {
        (0..count).map(|n| Ok((n, (n % 2 == 0).then_some(n))))
    }

    fn page(count: usize, limit: usize, scan: usize) -> Page<usize> {
        bounded_page(evens(count), limit, scan, |n| n.to_string()).unwrap()
    }

    #[test]
    fn a_full_page_continues_after_its_last_item_when_another_follows() {
        let full = page(100, 3, 1000);
        assert_eq!(full.items, vec![0, 2, 4]);
        assert_eq!(full.next_cursor.as_deref(), Some("4"));
        let last = page(6, 3, 1000);
        assert_eq!(last.items, vec![0, 2, 4]);
        assert_eq!(last.next_cursor, None, "only a non-item follows");
        assert_eq!(page(5, 3, 1000).next_cursor, None);
    }

    #[test]
    fn a_spent_budget_ends_the_page_where_the_reading_stopped() {
        let short = page(100, 50, 7);
        assert_eq!(short.items, vec![0, 2, 4, 6]);
        assert_eq!(short.next_cursor.as_deref(), Some("6"), "after entry 6");
        let empty = bounded_page((0..100).map(|n| Ok((n, None::<usize>))), 50, 10, |n| {
            n.to_string()
        })
        .unwrap();
        assert!(empty.items.is_empty());
        assert_eq!(empty.next_cursor.as_deref(), Some("9"), "after entry 9");
        let ended = page(7, 50, 100);
        assert_eq!(ended.next_cursor, None, "the entries ran out first");
    }

    #[test]
    fn an_error_among_the_entries_examined_is_returned() {
        let entries = (0..10).map(|n| {
            if n == 3 {
                Err(StorageError::Corrupt("entry 3".into()))
            } else {
                Ok((n, Some(n)))
            }
        });
        assert!(bounded_page(entries, 50, 100, |n| n.to_string()).is_err());
    }
}

//! The write rules, run on the commit thread inside a group: every write keeps the
//! records, their indexes, the per-endpoint counters and the per-tenant endpoint
//! counts in step.
//!
//! Each function reads and stages through a `Txn`, so it sees the writes of earlier
//! requests in the same group, and a failure discards what it staged.
//!
//! The commit thread is the one thread every write goes through, so the two writes
//! of every delivery (`insert_event`, `record_outcomes`) get their records encoded
//! by the caller first (`EncodedEvent`, `EncodedOutcomes`): the thread only moves
//! bytes into place.
//!
//! A delivery's record has one home at a time. From its publish until it first
//! changes, it is its entry in a pending chunk (`Txn::publish`, one chunk per
//! endpoint and bucket of ids per commit group), so a publish writes a share of a
//! key per delivery. From its first change on (an attempt's outcome, a replay, a
//! kill) it is under `D`, in every state, with a `P` index entry (endpoint, due
//! time, id) while it is pending. So the success that settles a fresh delivery
//! writes one key, `D`, and the chunk goes once none of its entries is live
//! (`collect_bucket`).

use std::collections::HashSet;

use herald::error::StorageError;
use herald::ids::{DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::model::{
    ApiKey, Attempt, DeadReason, Delivery, DeliveryStatus, Endpoint, EndpointHealth, Event,
};
use herald::sealing::Keyring;
use herald::storage::{CreateEndpoint, InsertEvent, Outcome, ReplaceEndpoint, StorageResult};
use herald::time::Timestamp;

use crate::commit::Txn;
use crate::endpoint_record;
use crate::keys::{self, kind};
use crate::records::{self, Counts, EventRecord, StoredEvent};

/// How many events or attempts one purge step looks at.
pub(crate) const PURGE_STEP: usize = 512;

/// One step of a purge (`purge_events`, `purge_attempts`): from `start`, removes what
/// is older than the cutoff; returns how many it removed and where the next step
/// starts (`None` once done).
pub(crate) type PurgeStep =
    fn(&mut Txn<'_>, Timestamp, Option<Vec<u8>>) -> StorageResult<(u64, Option<Vec<u8>>)>;

/// Creates an endpoint, `encoded` as its record, unless its tenant has `limit`
/// endpoints already. The count is the tenant's `M` counter, read and raised here on
/// the one writer, so concurrent creates (even in one group, which see each other's
/// staged counter) never pass the limit together.
///
/// # Errors
/// `Conflict` when its id is taken (nothing is written).
pub(crate) fn create_endpoint(
    txn: &mut Txn<'_>,
    endpoint: &Endpoint,
    encoded: Vec<u8>,
    limit: Option<u64>,
) -> StorageResult<CreateEndpoint> {
    let key = keys::endpoint(&endpoint.id);
    if txn.get(&key)?.is_some() {
        return Err(StorageError::Conflict(format!("endpoint {}", endpoint.id)));
    }
    let count = endpoint_count(txn, &endpoint.tenant)?;
    if limit.is_some_and(|limit| count >= limit) {
        return Ok(CreateEndpoint::LimitReached);
    }
    txn.insert(key, encoded);
    txn.insert(
        keys::tenant_endpoint(&endpoint.tenant, &endpoint.id),
        endpoint.id.as_str().as_bytes().to_vec(),
    );
    set_endpoint_count(txn, &endpoint.tenant, count.saturating_add(1));
    Ok(CreateEndpoint::Created)
}

/// A tenant's endpoint count (its `M` counter; none stored is 0).
fn endpoint_count(txn: &Txn<'_>, tenant: &TenantId) -> StorageResult<u64> {
    txn.get(&keys::endpoint_count(tenant))?
        .map_or(Ok(0), |bytes| records::decode_count(&bytes))
}

/// Stores a tenant's endpoint count; a count of 0 is no key, as before its first
/// endpoint.
fn set_endpoint_count(txn: &mut Txn<'_>, tenant: &TenantId, count: u64) {
    let key = keys::endpoint_count(tenant);
    if count == 0 {
        txn.remove(key);
    } else {
        txn.insert(key, records::encode_count(count));
    }
}

/// Replaces an endpoint, `encoded` as its record, if the stored one is at
/// `expected_version` and of the same tenant (a compare-and-set: the compare runs
/// on the commit thread, the one writer, so no change lands between it and the
/// write). The tenant index needs no change: the tenant is the same.
pub(crate) fn replace_endpoint(
    txn: &mut Txn<'_>,
    endpoint: &Endpoint,
    encoded: Vec<u8>,
    expected_version: u64,
    keyring: &Keyring,
) -> StorageResult<ReplaceEndpoint> {
    let key = keys::endpoint(&endpoint.id);
    let Some(bytes) = txn.get(&key)? else {
        return Ok(ReplaceEndpoint::Stale(None));
    };
    let stored = endpoint_record::decode(&bytes, keyring)?;
    if stored.version != expected_version || stored.tenant != endpoint.tenant {
        return Ok(ReplaceEndpoint::Stale(Some(Box::new(stored))));
    }
    txn.insert(key, encoded);
    Ok(ReplaceEndpoint::Replaced)
}

/// Replaces an endpoint's health.
pub(crate) fn put_health(
    txn: &mut Txn<'_>,
    id: &EndpointId,
    health: &EndpointHealth,
) -> StorageResult<()> {
    txn.insert(keys::health(id), records::encode(health)?);
    Ok(())
}

/// Deletes an endpoint and kills its pending deliveries; `None` when it is not the
/// tenant's.
pub(crate) fn delete_endpoint(
    txn: &mut Txn<'_>,
    tenant: &TenantId,
    id: &EndpointId,
    now: Timestamp,
    keyring: &Keyring,
) -> StorageResult<Option<u64>> {
    let key = keys::endpoint(id);
    let Some(bytes) = txn.get(&key)? else {
        return Ok(None);
    };
    let endpoint = endpoint_record::decode(&bytes, keyring)?;
    if &endpoint.tenant != tenant {
        return Ok(None);
    }
    txn.remove(key);
    txn.remove(keys::tenant_endpoint(tenant, id));
    txn.remove(keys::health(id));
    let endpoints = endpoint_count(txn, tenant)?;
    set_endpoint_count(txn, tenant, endpoints.saturating_sub(1));
    let mut count = 0;
    for (key, chunk) in txn.scan_prefix(&keys::published_of(id))? {
        for record in records::chunk_records(&chunk)? {
            // Only live entries are read back whole: the id decides the rest.
            let id = records::delivery_id_text(record)?;
            if txn.get(&keys::delivery_text(id))?.is_none() {
                let published: Delivery = records::decode(record)?;
                kill(txn, Stored::Published(published), now)?;
                count += 1;
            }
        }
        txn.remove(key);
    }
    for (key, _) in txn.scan_prefix(&keys::pending_of(id))? {
        let delivery_id = pending_id(&key)?;
        let Some(bytes) = txn.get(&keys::delivery(&delivery_id))? else {
            continue;
        };
        let stored: Delivery = records::decode(&bytes)?;
        if stored.status == DeliveryStatus::Pending {
            kill(txn, Stored::Record(stored), now)?;
            count += 1;
        }
    }
    Ok(Some(count))
}

/// Stores a new API key, `encoded` as its record, with its tenant index entry and
/// its token hash's entry (how `key_by_hash` finds it in two reads).
///
/// # Errors
/// `Conflict` when a key with its id, or with its token hash, exists (nothing is
/// written).
pub(crate) fn create_key(txn: &mut Txn<'_>, key: &ApiKey, encoded: Vec<u8>) -> StorageResult<()> {
    let record = keys::api_key(&key.id);
    let hash = keys::key_hash(&key.token_hash);
    if txn.get(&record)?.is_some() || txn.get(&hash)?.is_some() {
        return Err(StorageError::Conflict(format!("key {}", key.id)));
    }
    let id = key.id.as_str().as_bytes();
    txn.insert(record, encoded);
    txn.insert(keys::tenant_key(&key.tenant, &key.id), id.to_vec());
    txn.insert(hash, id.to_vec());
    Ok(())
}

/// Removes a tenant's key with its index entries; false when the tenant has no
/// key `id` (another tenant's is left alone).
pub(crate) fn delete_key(txn: &mut Txn<'_>, tenant: &TenantId, id: &KeyId) -> StorageResult<bool> {
    let record = keys::api_key(id);
    let Some(bytes) = txn.get(&record)? else {
        return Ok(false);
    };
    let key: ApiKey = records::decode(&bytes)?;
    if &key.tenant != tenant {
        return Ok(false);
    }
    txn.remove(record);
    txn.remove(keys::tenant_key(tenant, id));
    txn.remove(keys::key_hash(&key.token_hash));
    Ok(true)
}

/// Moves each key's `last_used_at` to the later of the stored and the given time;
/// a key gone meanwhile is skipped (a touch never revives one), and a key whose
/// stored time is already as late is not rewritten. A key named twice sees its
/// first touch (the `Txn` reads its own writes).
pub(crate) fn touch_keys(txn: &mut Txn<'_>, used: &[(KeyId, Timestamp)]) -> StorageResult<()> {
    for (id, at) in used {
        let record = keys::api_key(id);
        let Some(bytes) = txn.get(&record)? else {
            continue;
        };
        let mut key: ApiKey = records::decode(&bytes)?;
        if key.last_used_at.is_some_and(|last| last >= *at) {
            continue;
        }
        key.last_used_at = Some(*at);
        txn.insert(record, records::encode(&key)?);
    }
    Ok(())
}

/// Removes the record under `key`; false when there was none.
pub(crate) fn remove_existing(txn: &mut Txn<'_>, key: Vec<u8>) -> StorageResult<bool> {
    if txn.get(&key)?.is_none() {
        return Ok(false);
    }
    txn.remove(key);
    Ok(true)
}

/// Marks a pending delivery dead with `endpoint_deleted` at `now`.
fn kill(txn: &mut Txn<'_>, stored: Stored, now: Timestamp) -> StorageResult<()> {
    let mut dead = stored.delivery().clone();
    dead.kill(DeadReason::EndpointDeleted, now);
    let value = records::encode(&dead)?;
    replace_delivery(txn, Some(&stored), &dead, value)
}

/// The delivery id of a `P` key.
pub(crate) fn pending_id(key: &[u8]) -> StorageResult<DeliveryId> {
    let corrupt = || StorageError::Corrupt("pending index".into());
    let (_, text) = keys::pending_entry(key).ok_or_else(corrupt)?;
    DeliveryId::parse(&records::text(text, "pending index")?).map_err(|_| corrupt())
}

/// An event and its new deliveries, encoded for `insert_event`.
pub(crate) struct EncodedEvent {
    key: Vec<u8>,
    value: Vec<u8>,
    tenant_event: (Vec<u8>, Vec<u8>),
    deliveries: Vec<(Delivery, Vec<u8>)>,
}

impl EncodedEvent {
    /// Encodes `event` with `deliveries`, which must be fresh (new ids, pending,
    /// never attempted, due at their creation: what the engine passes).
    pub(crate) fn new(event: &Event, deliveries: &[Delivery]) -> StorageResult<Self> {
        Ok(Self {
            key: keys::event(&event.tenant, &event.id),
            value: EventRecord::new(event, deliveries).encode()?,
            tenant_event: (
                keys::tenant_event(&event.tenant, event.created_at, &event.id),
                event.id.as_str().as_bytes().to_vec(),
            ),
            deliveries: deliveries
                .iter()
                .map(|d| Ok((d.clone(), records::encode(d)?)))
                .collect::<StorageResult<_>>()?,
        })
    }
}

/// Stores an event and its deliveries unless the tenant already has that event id.
pub(crate) fn insert_event(txn: &mut Txn<'_>, encoded: EncodedEvent) -> StorageResult<InsertEvent> {
    if let Some(existing) = txn.get(&encoded.key)? {
        let existing = StoredEvent::decode(&existing)?;
        return Ok(InsertEvent::Exists(existing.event));
    }
    for (delivery, value) in encoded.deliveries {
        // New ids: nothing stored to replace.
        index(txn, &delivery)?;
        txn.wrote_delivery(&delivery.id);
        txn.publish(
            keys::published_bucket(&delivery.endpoint_id, &delivery.id),
            value,
        );
    }
    txn.insert(encoded.key, encoded.value);
    txn.insert(encoded.tenant_event.0, encoded.tenant_event.1);
    Ok(InsertEvent::Inserted)
}

/// A batch of outcomes and the endpoint's health, encoded for `record_outcomes`.
pub(crate) struct EncodedOutcomes {
    outcomes: Vec<EncodedOutcome>,
    health: (Vec<u8>, Vec<u8>),
}

/// One outcome of `EncodedOutcomes`.
struct EncodedOutcome {
    /// The endpoint's log (`keys::attempts_of`), the start time, the record.
    attempt: Option<(Vec<u8>, Timestamp, Vec<u8>)>,
    delivery: Delivery,
    delivery_value: Vec<u8>,
}

impl EncodedOutcomes {
    /// Encodes each outcome's attempt and delivery, and `health` as endpoint
    /// `endpoint_id`'s.
    pub(crate) fn new(
        endpoint_id: &EndpointId,
        outcomes: &[Outcome],
        health: &EndpointHealth,
    ) -> StorageResult<Self> {
        let encode_attempt = |attempt: &Attempt| -> StorageResult<_> {
            Ok((
                keys::attempts_of(&attempt.endpoint_id),
                attempt.started_at,
                records::encode(attempt)?,
            ))
        };
        Ok(Self {
            outcomes: outcomes
                .iter()
                .map(|outcome| {
                    Ok(EncodedOutcome {
                        attempt: outcome.attempt.as_ref().map(encode_attempt).transpose()?,
                        delivery: outcome.delivery.clone(),
                        delivery_value: records::encode(&outcome.delivery)?,
                    })
                })
                .collect::<StorageResult<_>>()?,
            health: (keys::health(endpoint_id), records::encode(health)?),
        })
    }
}

/// Logs each outcome's attempt (in its group's chunk of the endpoint's log),
/// replaces each delivery if still pending, and stores the health.
pub(crate) fn record_outcomes(txn: &mut Txn<'_>, encoded: EncodedOutcomes) -> StorageResult<()> {
    for outcome in encoded.outcomes {
        if let Some((log, started_at, record)) = outcome.attempt {
            txn.append(log, started_at, record);
        }
        let delivery = &outcome.delivery;
        // With no `D` record the delivery is as published, in its chunk (so
        // pending): the entry need not be read, only known to be there. (Pending
        // deliveries are never purged, and every change writes `D`: no `D` means
        // a live chunk entry, for any delivery the engine stored.)
        let stored = match txn.get(&keys::delivery(&delivery.id))? {
            Some(bytes) => {
                let stored: Delivery = records::decode(&bytes)?;
                if stored.status != DeliveryStatus::Pending {
                    continue;
                }
                Stored::Record(stored)
            }
            None => Stored::Published(Delivery {
                status: DeliveryStatus::Pending,
                ..delivery.clone()
            }),
        };
        replace_delivery(txn, Some(&stored), delivery, outcome.delivery_value)?;
    }
    txn.insert(encoded.health.0, encoded.health.1);
    Ok(())
}

/// Creates or replaces a delivery, whatever its stored state.
pub(crate) fn put_delivery(txn: &mut Txn<'_>, delivery: &Delivery) -> StorageResult<()> {
    let stored = stored_delivery(txn, &delivery.endpoint_id, &delivery.id)?;
    replace_delivery(txn, stored.as_ref(), delivery, records::encode(delivery)?)
}

/// Removes the chunks of the pending `bucket` when none of their entries is live
/// (every one has its record under `D`: it is in `settled`, or `D` says so).
/// Returns how many are live: 0 when it removed them.
pub(crate) fn collect_bucket(
    txn: &mut Txn<'_>,
    bucket: &[u8],
    settled: &HashSet<Box<str>>,
) -> StorageResult<u64> {
    let chunks = txn.scan_prefix(bucket)?;
    let mut live = 0;
    for (_, chunk) in &chunks {
        live += live_entries(txn, chunk, settled)?;
    }
    if live == 0 {
        for (key, _) in chunks {
            txn.remove(key);
        }
    }
    Ok(live)
}

/// Removes events created before `cutoff` whose deliveries are all settled, looking
/// at up to `PURGE_STEP` `n` keys from `start`. Returns how many were removed and
/// where the next step starts (`None` once every tenant is done).
///
/// There is no global time index to keep up on every publish; the purge skips
/// through each tenant's `n` keys, which are in time order, instead: it takes the
/// tenant's keys older than `cutoff`, then jumps to the next tenant.
pub(crate) fn purge_events(
    txn: &mut Txn<'_>,
    cutoff: Timestamp,
    start: Option<Vec<u8>>,
) -> StorageResult<(u64, Option<Vec<u8>>)> {
    let (old, next) = older_than(txn, kind::TENANT_EVENT, cutoff, start)?;
    let mut removed = 0;
    'events: for (key, id) in old {
        let corrupt = || StorageError::Corrupt("event time index".into());
        let (group, _) = keys::group_and_number(&key).ok_or_else(corrupt)?;
        let tenant = std::str::from_utf8(group.get(1..group.len() - 2).ok_or_else(corrupt)?)
            .ok()
            .and_then(|t| TenantId::parse(t).ok())
            .ok_or_else(corrupt)?;
        let id = EventId::parse(&records::text(&id, "event time index")?).map_err(|_| corrupt())?;
        let event_key = keys::event(&tenant, &id);
        let Some(bytes) = txn.get(&event_key)? else {
            txn.remove(key);
            continue;
        };
        let stored = StoredEvent::decode(&bytes)?;
        let mut settled = Vec::with_capacity(stored.deliveries.len());
        let mut spent_chunks = Vec::new();
        for delivery in &stored.deliveries {
            // Without a `D` record it is pending in its chunk.
            let Some(bytes) = txn.get(&keys::delivery(&delivery.id))? else {
                continue 'events;
            };
            let record: Delivery = records::decode(&bytes)?;
            if record.status == DeliveryStatus::Pending {
                continue 'events;
            }
            // Removing `D` would make its chunk entry live again: the chunk goes
            // first, which it may only once none of its entries is live.
            if let Some(entry) = published_entry(txn, &delivery.endpoint_id, &delivery.id)? {
                let (key, chunk) = entry.chunk;
                if live_entries(txn, &chunk, &HashSet::new())? > 0 {
                    continue 'events;
                }
                spent_chunks.push(key);
            }
            settled.push(record);
        }
        for key in spent_chunks {
            txn.remove(key);
        }
        for delivery in &settled {
            unindex(txn, delivery)?;
            txn.remove(keys::delivery(&delivery.id));
        }
        txn.remove(event_key);
        txn.remove(key);
        removed += 1;
    }
    Ok((removed, next))
}

/// Removes the attempt chunks whose newest attempt started before `cutoff`, looking
/// at up to `PURGE_STEP` `A` keys from `start`, skipping through each endpoint's keys
/// (in time order) as `purge_events` does through tenants. Returns how many attempts
/// were removed and where the next step starts.
///
/// An attempt goes with its chunk: one that shares a chunk with a newer attempt
/// (recorded in the same commit group, so within moments of it) stays until that
/// one is old too.
pub(crate) fn purge_attempts(
    txn: &mut Txn<'_>,
    cutoff: Timestamp,
    start: Option<Vec<u8>>,
) -> StorageResult<(u64, Option<Vec<u8>>)> {
    let (old, next) = older_than(txn, kind::ATTEMPT, cutoff, start)?;
    let mut removed = 0;
    for (key, chunk) in old {
        removed += records::chunk_records(&chunk)?.len() as u64;
        txn.remove(key);
    }
    Ok((removed, next))
}

/// A key and its value.
type Entry = (Vec<u8>, Vec<u8>);

/// One step of the purge's skip-scan over the keys of `kind`, each a group (tenant or
/// endpoint), a time, then more: up to `PURGE_STEP` entries from `start`, cut at the
/// first one at or after `cutoff` (the rest of its group is newer). Returns the
/// entries before the cut, and where the next step starts: the next group after a
/// cut, else just after the last key read; `None` once the range is exhausted.
fn older_than(
    txn: &Txn<'_>,
    kind: u8,
    cutoff: Timestamp,
    start: Option<Vec<u8>>,
) -> StorageResult<(Vec<Entry>, Option<Vec<u8>>)> {
    let start = start.unwrap_or_else(|| vec![kind]);
    let end = keys::prefix_end(&[kind]);
    let mut batch = txn.range(&start, end.as_deref(), PURGE_STEP)?;
    let mut next = (batch.len() == PURGE_STEP)
        .then(|| batch.last().map(|(key, _)| after(key)))
        .flatten();
    let mut cut = None;
    for (at, (key, _)) in batch.iter().enumerate() {
        let (group, time) = keys::group_and_number(key)
            .ok_or_else(|| StorageError::Corrupt("a time-ordered key".into()))?;
        if time >= cutoff.0 {
            next = keys::prefix_end(group);
            cut = Some(at);
            break;
        }
    }
    if let Some(at) = cut {
        batch.truncate(at);
    }
    Ok((batch, next))
}

/// The smallest key after `key`.
fn after(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

/// A delivery's current record and where it is.
enum Stored {
    /// Under `D`: it changed after its publish.
    Record(Delivery),
    /// Its entry in a pending chunk, as published.
    Published(Delivery),
}

impl Stored {
    fn delivery(&self) -> &Delivery {
        match self {
            Stored::Record(delivery) | Stored::Published(delivery) => delivery,
        }
    }
}

/// The stored version of delivery `id` of `endpoint`, if any.
fn stored_delivery(
    txn: &Txn<'_>,
    endpoint: &EndpointId,
    id: &DeliveryId,
) -> StorageResult<Option<Stored>> {
    if let Some(bytes) = txn.get(&keys::delivery(id))? {
        return Ok(Some(Stored::Record(records::decode(&bytes)?)));
    }
    Ok(published_entry(txn, endpoint, id)?.map(|entry| Stored::Published(entry.delivery)))
}

/// A delivery's entry in a pending chunk.
struct PublishedEntry {
    /// The chunk's key and value.
    chunk: (Vec<u8>, Vec<u8>),
    /// The delivery as published.
    delivery: Delivery,
}

/// The entry of delivery `id` of `endpoint` in a pending chunk, if it has one.
fn published_entry(
    txn: &Txn<'_>,
    endpoint: &EndpointId,
    id: &DeliveryId,
) -> StorageResult<Option<PublishedEntry>> {
    for (key, chunk) in txn.scan_prefix(&keys::published_bucket(endpoint, id))? {
        if let Some(delivery) = find_published(&chunk, id)? {
            return Ok(Some(PublishedEntry {
                chunk: (key, chunk),
                delivery,
            }));
        }
    }
    Ok(None)
}

/// How many entries of a pending chunk are live: still the delivery's record, with
/// nothing under `D` (those in `settled` are known to have it).
fn live_entries(txn: &Txn<'_>, chunk: &[u8], settled: &HashSet<Box<str>>) -> StorageResult<u64> {
    let mut live = 0;
    for record in records::chunk_records(chunk)? {
        let id = records::delivery_id_text(record)?;
        if !settled.contains(id) && txn.get(&keys::delivery_text(id))?.is_none() {
            live += 1;
        }
    }
    Ok(live)
}

/// Delivery `id` in a pending chunk, if it is there (only that entry is decoded
/// whole).
pub(crate) fn find_published(chunk: &[u8], id: &DeliveryId) -> StorageResult<Option<Delivery>> {
    for record in records::chunk_records(chunk)? {
        if records::delivery_id_text(record)? == id.as_str() {
            return records::decode(record).map(Some);
        }
    }
    Ok(None)
}

/// Writes `new`, encoded as `value`, over `old` as its record under `D`; keeps the
/// `P` index entry present exactly while it is pending there, at its due time (a
/// new due time moves it); tells the writer when a chunk entry stops being live;
/// moves the dead index entry and the counters only when the state or the endpoint
/// changed.
fn replace_delivery(
    txn: &mut Txn<'_>,
    old: Option<&Stored>,
    new: &Delivery,
    value: Vec<u8>,
) -> StorageResult<()> {
    let old_delivery = old.map(Stored::delivery);
    let indexed = |d: &Delivery| {
        (d.status == DeliveryStatus::Pending).then(|| keys::pending(&d.endpoint_id, d.due(), &d.id))
    };
    let was_indexed = match old {
        Some(Stored::Record(d)) => indexed(d),
        _ => None,
    };
    let now_indexed = indexed(new);
    if was_indexed != now_indexed {
        if let Some(key) = was_indexed {
            txn.remove(key);
        }
        if let Some(key) = now_indexed {
            txn.insert(key, Vec::new());
        }
    }
    if let Some(Stored::Published(published)) = old {
        txn.settled(
            keys::published_bucket(&published.endpoint_id, &published.id),
            published.id.clone(),
        );
    }
    let same_state =
        old_delivery.is_some_and(|o| o.status == new.status && o.endpoint_id == new.endpoint_id);
    if !same_state {
        if let Some(old) = old_delivery {
            unindex(txn, old)?;
        }
        index(txn, new)?;
    }
    txn.wrote_delivery(&new.id);
    txn.insert(keys::delivery(&new.id), value);
    Ok(())
}

/// Adds the dead index entry and the counter of `delivery`'s state (the `P` index
/// is `replace_delivery`'s).
fn index(txn: &mut Txn<'_>, delivery: &Delivery) -> StorageResult<()> {
    match delivery.status {
        DeliveryStatus::Pending => adjust_counts(txn, &delivery.endpoint_id, 1, 0),
        DeliveryStatus::Dead => {
            let id = delivery.id.as_str().as_bytes().to_vec();
            txn.insert(keys::dead(&delivery.endpoint_id, &delivery.id), id);
            adjust_counts(txn, &delivery.endpoint_id, 0, 1)
        }
        DeliveryStatus::Succeeded => Ok(()),
    }
}

/// Removes the dead index entry and the counter of `delivery`'s state.
fn unindex(txn: &mut Txn<'_>, delivery: &Delivery) -> StorageResult<()> {
    match delivery.status {
        DeliveryStatus::Pending => adjust_counts(txn, &delivery.endpoint_id, -1, 0),
        DeliveryStatus::Dead => {
            txn.remove(keys::dead(&delivery.endpoint_id, &delivery.id));
            adjust_counts(txn, &delivery.endpoint_id, 0, -1)
        }
        DeliveryStatus::Succeeded => Ok(()),
    }
}

/// Changes an endpoint's counters, keeping the `W` entry present exactly while it
/// has pending deliveries.
fn adjust_counts(
    txn: &mut Txn<'_>,
    endpoint: &EndpointId,
    pending: i64,
    dead: i64,
) -> StorageResult<()> {
    let key = keys::counts(endpoint);
    let before = match txn.get(&key)? {
        Some(bytes) => Counts::decode(&bytes)?,
        None => Counts::default(),
    };
    let after = Counts {
        pending: before.pending.saturating_add_signed(pending),
        dead: before.dead.saturating_add_signed(dead),
    };
    if after == Counts::default() {
        txn.remove(key);
    } else {
        txn.insert(key, after.encode());
    }
    match (before.pending > 0, after.pending > 0) {
        (false, true) => txn.insert(
            keys::with_pending(endpoint),
            endpoint.as_str().as_bytes().to_vec(),
        ),
        (true, false) => txn.remove(keys::with_pending(endpoint)),
        _ => {}
    }
    Ok(())
}

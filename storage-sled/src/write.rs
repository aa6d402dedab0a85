//! The write rules, run on the commit thread inside a group: every write keeps the
//! records, their indexes and the per-endpoint counters in step.
//!
//! Each function reads and stages through a `Txn`, so it sees the writes of earlier
//! requests in the same group, and a failure discards what it staged.
//!
//! The commit thread is the one thread every write goes through, so the two writes
//! of every delivery (`insert_event`, `record_attempt`) get their records encoded
//! by the caller first (`EncodedEvent`, `EncodedAttempt`): the thread only moves
//! bytes into place.
//!
//! A delivery's record has one home at a time (`record_key`): its `P` entry while
//! it is pending, which is also the endpoint's pending index, and its `D` entry
//! once it has succeeded or died. So a publish writes one key per delivery, and
//! the success that settles it moves the record from `P` to `D`.

use herald::error::StorageError;
use herald::ids::{EndpointId, EventId, TenantId};
use herald::model::{
    Attempt, DeadReason, Delivery, DeliveryStatus, Endpoint, EndpointHealth, Event,
};
use herald::storage::{InsertEvent, StorageResult};
use herald::time::Timestamp;

use crate::commit::Txn;
use crate::keys::{self, kind};
use crate::records::{self, Counts, DeliveryRef, StoredEvent};

/// How many events or attempts one purge step looks at.
pub(crate) const PURGE_STEP: usize = 512;

/// One step of a purge (`purge_events`, `purge_attempts`): from `start`, removes what
/// is older than the cutoff; returns how many it removed and where the next step
/// starts (`None` once done).
pub(crate) type PurgeStep =
    fn(&mut Txn<'_>, Timestamp, Option<Vec<u8>>) -> StorageResult<(u64, Option<Vec<u8>>)>;

/// Creates or replaces an endpoint.
pub(crate) fn put_endpoint(txn: &mut Txn<'_>, endpoint: &Endpoint) -> StorageResult<()> {
    let key = keys::endpoint(&endpoint.id);
    if let Some(old) = txn.get(&key)? {
        let old: Endpoint = records::decode(&old, "endpoint")?;
        if old.tenant != endpoint.tenant {
            txn.remove(keys::tenant_endpoint(&old.tenant, &old.id));
        }
    }
    txn.insert(key, records::encode(endpoint)?);
    txn.insert(
        keys::tenant_endpoint(&endpoint.tenant, &endpoint.id),
        endpoint.id.as_str().as_bytes().to_vec(),
    );
    Ok(())
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
) -> StorageResult<Option<u64>> {
    let key = keys::endpoint(id);
    let Some(bytes) = txn.get(&key)? else {
        return Ok(None);
    };
    let endpoint: Endpoint = records::decode(&bytes, "endpoint")?;
    if &endpoint.tenant != tenant {
        return Ok(None);
    }
    txn.remove(key);
    txn.remove(keys::tenant_endpoint(tenant, id));
    txn.remove(keys::health(id));
    let pending = txn.scan_prefix(&keys::pending_of(id))?;
    let mut count = 0;
    for (_, bytes) in pending {
        let old: Delivery = records::decode(&bytes, "delivery")?;
        let mut dead = old.clone();
        dead.kill(DeadReason::EndpointDeleted, now);
        replace_delivery(txn, Some(&old), &dead, records::encode(&dead)?)?;
        count += 1;
    }
    Ok(Some(count))
}

/// An event and its new deliveries, encoded for `insert_event`.
pub(crate) struct EncodedEvent {
    key: Vec<u8>,
    value: Vec<u8>,
    tenant_event: (Vec<u8>, Vec<u8>),
    deliveries: Vec<(Delivery, Vec<u8>)>,
}

impl EncodedEvent {
    /// Encodes `event` with `deliveries`, which must be new (fresh ids).
    pub(crate) fn new(event: &Event, deliveries: &[Delivery]) -> StorageResult<Self> {
        let stored = StoredEvent {
            event: event.clone(),
            deliveries: deliveries
                .iter()
                .map(|d| DeliveryRef {
                    id: d.id.clone(),
                    endpoint_id: d.endpoint_id.clone(),
                })
                .collect(),
        };
        Ok(Self {
            key: keys::event(&event.tenant, &event.id),
            value: records::encode(&stored)?,
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
        let existing: StoredEvent = records::decode(&existing, "event")?;
        return Ok(InsertEvent::Exists(existing.event));
    }
    for (delivery, value) in encoded.deliveries {
        // New ids: nothing stored to replace.
        replace_delivery(txn, None, &delivery, value)?;
    }
    txn.insert(encoded.key, encoded.value);
    txn.insert(encoded.tenant_event.0, encoded.tenant_event.1);
    Ok(InsertEvent::Inserted)
}

/// An attempt, the delivery's new state and the endpoint's health, encoded for
/// `record_attempt`.
pub(crate) struct EncodedAttempt {
    /// The endpoint's log (`keys::attempts_of`), the start time, the record.
    attempt: (Vec<u8>, Timestamp, Vec<u8>),
    health: (Vec<u8>, Vec<u8>),
    delivery: Delivery,
    delivery_value: Vec<u8>,
}

impl EncodedAttempt {
    /// Encodes the three records.
    pub(crate) fn new(
        attempt: &Attempt,
        delivery: &Delivery,
        health: &EndpointHealth,
    ) -> StorageResult<Self> {
        Ok(Self {
            attempt: (
                keys::attempts_of(&attempt.endpoint_id),
                attempt.started_at,
                records::encode(attempt)?,
            ),
            health: (keys::health(&attempt.endpoint_id), records::encode(health)?),
            delivery: delivery.clone(),
            delivery_value: records::encode(delivery)?,
        })
    }
}

/// Logs an attempt (in its group's chunk of the endpoint's log), stores the health,
/// and replaces the delivery if still pending.
pub(crate) fn record_attempt(txn: &mut Txn<'_>, encoded: EncodedAttempt) -> StorageResult<()> {
    let (log, started_at, record) = encoded.attempt;
    txn.append(log, started_at, record);
    txn.insert(encoded.health.0, encoded.health.1);
    let delivery = &encoded.delivery;
    // A delivery is pending exactly while its record is under `P`, and a delivery
    // never changes endpoint: so where the stored one is, and what `replace_delivery`
    // moves away from, is known without decoding it.
    if txn
        .get(&keys::pending(&delivery.endpoint_id, &delivery.id))?
        .is_none()
    {
        return Ok(());
    }
    let stored = Delivery {
        status: DeliveryStatus::Pending,
        ..delivery.clone()
    };
    replace_delivery(txn, Some(&stored), delivery, encoded.delivery_value)
}

/// Creates or replaces a delivery, whatever its stored state.
pub(crate) fn put_delivery(txn: &mut Txn<'_>, delivery: &Delivery) -> StorageResult<()> {
    let stored = stored_delivery(txn, delivery)?;
    replace_delivery(txn, stored.as_ref(), delivery, records::encode(delivery)?)
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
        let stored: StoredEvent = records::decode(&bytes, "event")?;
        let mut settled = Vec::with_capacity(stored.deliveries.len());
        for delivery in &stored.deliveries {
            if txn
                .get(&keys::pending(&delivery.endpoint_id, &delivery.id))?
                .is_some()
            {
                continue 'events;
            }
            if let Some(bytes) = txn.get(&keys::delivery(&delivery.id))? {
                settled.push(records::decode::<Delivery>(&bytes, "delivery")?);
            }
        }
        for delivery in &settled {
            unindex(txn, delivery)?;
            txn.remove(record_key(delivery));
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

/// Where `delivery`'s record is stored in its state: `P` endpoint, delivery while
/// pending (the pending index is the record), `D` delivery once settled.
fn record_key(delivery: &Delivery) -> Vec<u8> {
    match delivery.status {
        DeliveryStatus::Pending => keys::pending(&delivery.endpoint_id, &delivery.id),
        DeliveryStatus::Succeeded | DeliveryStatus::Dead => keys::delivery(&delivery.id),
    }
}

/// The stored version of `delivery` (same id and endpoint), if any.
fn stored_delivery(txn: &Txn<'_>, delivery: &Delivery) -> StorageResult<Option<Delivery>> {
    let stored = match txn.get(&keys::delivery(&delivery.id))? {
        Some(bytes) => Some(bytes),
        None => txn.get(&keys::pending(&delivery.endpoint_id, &delivery.id))?,
    };
    stored
        .map(|bytes| records::decode(&bytes, "delivery"))
        .transpose()
}

/// Writes `new`, encoded as `value`, over `old`: moves the record (`record_key`),
/// the dead index entry and the counters only when the state or the endpoint
/// changed.
fn replace_delivery(
    txn: &mut Txn<'_>,
    old: Option<&Delivery>,
    new: &Delivery,
    value: Vec<u8>,
) -> StorageResult<()> {
    let same_place =
        old.is_some_and(|o| o.status == new.status && o.endpoint_id == new.endpoint_id);
    if !same_place {
        if let Some(old) = old {
            unindex(txn, old)?;
            txn.remove(record_key(old));
        }
        index(txn, new)?;
    }
    txn.insert(record_key(new), value);
    Ok(())
}

/// Adds the dead index entry and the counter of `delivery`'s state (a pending
/// delivery's `P` entry is its record, written by the caller).
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

/// Removes the dead index entry and the counter of `delivery`'s state (not its
/// record).
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

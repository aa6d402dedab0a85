//! `PendingQueue`: the part of one endpoint's pending deliveries its actor holds in
//! memory, what it may send next, and the two rules that keep it exact without a
//! reconciliation set:
//!
//! - **A prefix of storage.** Waiting deliveries are ordered by `PendingKey` (due
//!   time then id for unordered endpoints; id, which is publish order, under fifo).
//!   The queue holds at most `capacity` (waiting plus in flight); past it, the
//!   largest key waiting goes back to storage only and the `frontier` drops to it:
//!   every pending delivery with a key below the frontier is held, those at or
//!   above it may be in storage only. A delivery offered at or above the frontier
//!   is left there, and a refill reads storage from the frontier on. So a fresh
//!   delivery due now is always held before retries due later, whatever the
//!   backlog (no starvation).
//! - **One watermark for two paths.** New work reaches the actor by hand-off, and
//!   also by loads (its start, a reload, a refill). A load first waits until every
//!   publish that had ids when it began is stored, reads, and takes only deliveries
//!   with ids up to the last of those (`through`); it then sets `seen_through`. A
//!   hand-off at or below `seen_through` is dropped: the load saw it. A hand-off
//!   above it is taken: no load took it. Nothing is taken twice, nothing is missed.
//!
//! A delivery leaves the queue in three steps: waiting, in flight (its attempt
//! runs), settling (its outcome is decided and being stored). A settling delivery
//! still counts as here, so a load that reads it as pending before its record is
//! stored does not take it again.
//!
//! A waiting delivery that came by hand-off keeps its prepared event, up to a byte
//! budget for all of them (`MAX_HELD_BYTES`); past it, or for a delivery a load
//! found, its attempt reads the event from the cache or storage. This bounds an
//! actor's memory when its receiver is down, whatever the payload size.
//!
//! Every waiting delivery, and the body it holds, is also charged to the engine's
//! `MemoryBudget`, shared by all queues. Past it a queue keeps `MIN_HELD` waiting
//! deliveries and sends the rest back to storage exactly as past its capacity (the
//! frontier drops), so all actors together hold about the budget, plus `MIN_HELD`
//! per running actor so that each endpoint always makes progress.

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::HashMap;

use crate::ids::DeliveryId;
use crate::memory_budget::MemoryBudget;
use crate::model::Delivery;
use crate::request::PreparedEvent;
use crate::storage::{PendingKey, PendingOrder};
use crate::time::Timestamp;

/// Most body bytes one queue holds in prepared events (a body shared by several
/// deliveries counts once per delivery).
pub(crate) const MAX_HELD_BYTES: usize = 16 * 1024 * 1024;

/// Waiting deliveries a queue keeps whatever the memory budget says.
pub(crate) const MIN_HELD: usize = 32;

/// What a waiting delivery is charged to the budget besides its body: an estimate of
/// its entry (the delivery with its ids, its key in the waiting map and its place).
pub(crate) const ENTRY_BYTES: usize = 512;

/// What the queue says when asked for work.
#[derive(Debug, Clone)]
pub(crate) enum Next {
    /// Send this delivery now (it is now in flight), with its event when held.
    Send(Delivery, Option<Arc<PreparedEvent>>),
    /// Nothing is due before this time.
    WaitUntil(Timestamp),
    /// Nothing can go until an in-flight attempt finishes (or nothing is waiting).
    Blocked,
}

/// Where a delivery the queue knows stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// Waiting under this key.
    Waiting(PendingKey),
    /// Its attempt runs.
    InFlight,
    /// Decided; its record is being stored.
    Settling,
}

/// What `offer` did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// It waits here now.
    Held,
    /// The queue has it already (waiting, in flight or settling).
    AlreadyHere,
    /// Its key is at or beyond the frontier: it stays in storage until a refill.
    Beyond,
}

/// Where a delivery goes after its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AfterAttempt {
    /// It waits for another attempt (its due time set).
    Retry(Delivery),
    /// It is done here (succeeded or dead); its record is being stored.
    Settle,
}

/// A waiting delivery and its event, when held.
#[derive(Debug)]
struct Waiting {
    delivery: Delivery,
    event: Option<Arc<PreparedEvent>>,
}

impl Waiting {
    /// What it is charged to the memory budget.
    fn cost(&self) -> usize {
        ENTRY_BYTES + self.event.as_ref().map_or(0, |event| event.body.len())
    }
}

/// The pending deliveries one endpoint actor holds.
#[derive(Debug)]
pub(crate) struct PendingQueue {
    order: PendingOrder,
    /// Deliveries waiting for an attempt, in `order`.
    waiting: BTreeMap<PendingKey, Waiting>,
    /// Body bytes of the events held by waiting deliveries.
    held_bytes: usize,
    /// Every delivery the queue knows, and where it is.
    places: HashMap<DeliveryId, Place>,
    in_flight: usize,
    /// Most deliveries waiting plus in flight.
    capacity: usize,
    /// Keys at or above it may be pending in storage without being held.
    frontier: Option<PendingKey>,
    /// The last id a load covered: hand-offs up to it are dropped.
    seen_through: Option<DeliveryId>,
    /// The engine's budget for what all queues hold.
    budget: Arc<MemoryBudget>,
    /// What this queue's waiting deliveries are charged to it.
    charged: usize,
}

impl Drop for PendingQueue {
    fn drop(&mut self) {
        self.budget.release(self.charged);
    }
}

impl PendingQueue {
    /// An empty queue taking deliveries in `order`, holding at most `capacity`, and
    /// charging what it holds to `budget`.
    pub(crate) fn new(order: PendingOrder, capacity: usize, budget: Arc<MemoryBudget>) -> Self {
        Self {
            order,
            waiting: BTreeMap::new(),
            held_bytes: 0,
            places: HashMap::default(),
            in_flight: 0,
            capacity: capacity.max(1),
            frontier: None,
            seen_through: None,
            budget,
            charged: 0,
        }
    }

    /// The order it takes deliveries in.
    pub(crate) fn order(&self) -> PendingOrder {
        self.order
    }

    /// Changes the order (the endpoint's ordering changed): what waits is re-keyed,
    /// and since storage is read in the new order from now on, what is beyond the
    /// old frontier is read again from the start.
    pub(crate) fn set_order(&mut self, order: PendingOrder) {
        if order == self.order {
            return;
        }
        self.order = order;
        let waiting = std::mem::take(&mut self.waiting);
        for (_, entry) in waiting {
            let key = PendingKey::of(&entry.delivery, order);
            self.places
                .insert(entry.delivery.id.clone(), Place::Waiting(key.clone()));
            self.waiting.insert(key, entry);
        }
        if self.frontier.is_some() {
            self.frontier = Some(PendingKey {
                due: Timestamp::EPOCH,
                id: lowest_id(),
            });
        }
    }

    /// Whether the queue has the delivery (waiting, in flight or settling).
    #[cfg(test)]
    pub(crate) fn contains(&self, id: &DeliveryId) -> bool {
        self.places.contains_key(id)
    }

    /// A delivery handed off after its publish, with its event: dropped when a
    /// load covered it (false), else offered.
    pub(crate) fn hand_off(
        &mut self,
        delivery: Delivery,
        event: Option<Arc<PreparedEvent>>,
    ) -> bool {
        if self
            .seen_through
            .as_ref()
            .is_some_and(|seen| &delivery.id <= seen)
        {
            return false;
        }
        self.put(delivery, event) == Offered::Held
    }

    /// Adds a pending delivery unless the queue has it or its key is beyond the
    /// frontier; past capacity, the largest waiting key goes back to storage.
    pub(crate) fn offer(&mut self, delivery: Delivery) -> Offered {
        self.put(delivery, None)
    }

    fn put(&mut self, delivery: Delivery, event: Option<Arc<PreparedEvent>>) -> Offered {
        if self.places.contains_key(&delivery.id) {
            return Offered::AlreadyHere;
        }
        let key = PendingKey::of(&delivery, self.order);
        if self
            .frontier
            .as_ref()
            .is_some_and(|frontier| &key >= frontier)
        {
            return Offered::Beyond;
        }
        let event = event.filter(|event| {
            let bytes = event.body.len();
            self.held_bytes + bytes <= MAX_HELD_BYTES && bytes + ENTRY_BYTES <= self.budget.room()
        });
        self.places
            .insert(delivery.id.clone(), Place::Waiting(key.clone()));
        self.insert_waiting(key.clone(), Waiting { delivery, event });
        while !self.waiting.is_empty()
            && (self.len() > self.capacity || (self.budget.over() && self.waiting.len() > MIN_HELD))
        {
            self.evict_last();
        }
        if self.waiting.contains_key(&key) {
            Offered::Held
        } else {
            Offered::Beyond
        }
    }

    /// Puts an entry in the waiting map, charging it.
    fn insert_waiting(&mut self, key: PendingKey, entry: Waiting) {
        if let Some(event) = &entry.event {
            self.held_bytes += event.body.len();
        }
        let cost = entry.cost();
        self.charged += cost;
        self.budget.charge(cost);
        self.waiting.insert(key, entry);
    }

    /// Takes a waiting entry out, giving back its event's bytes.
    fn take_waiting(&mut self, key: &PendingKey) -> Option<Waiting> {
        let entry = self.waiting.remove(key)?;
        self.release(&entry);
        Some(entry)
    }

    /// Gives back what a waiting entry that left the map was charged.
    fn release(&mut self, entry: &Waiting) {
        if let Some(event) = &entry.event {
            self.held_bytes = self.held_bytes.saturating_sub(event.body.len());
        }
        let cost = entry.cost();
        self.charged -= cost;
        self.budget.release(cost);
    }

    /// Sends the largest waiting key back to storage and lowers the frontier to it.
    fn evict_last(&mut self) {
        if let Some((key, entry)) = self.waiting.pop_last() {
            self.release(&entry);
            self.places.remove(&key.id);
            self.lower_frontier(key);
        }
    }

    fn lower_frontier(&mut self, key: PendingKey) {
        if self
            .frontier
            .as_ref()
            .is_none_or(|frontier| &key < frontier)
        {
            self.frontier = Some(key);
        }
    }

    /// The first waiting delivery that may go, by order and in-flight limit, and when
    /// it is due; `None` when none may go.
    fn candidate(&self, max_in_flight: u32) -> Option<(&PendingKey, Timestamp)> {
        let limit = usize::try_from(max_in_flight.max(1)).unwrap_or(usize::MAX);
        if self.in_flight >= limit {
            return None;
        }
        let (key, entry) = self.waiting.first_key_value()?;
        Some((key, entry.delivery.due()))
    }

    /// Whether a delivery may be sent at `now` without taking it: `None` when one is
    /// ready, else `Blocked` or `WaitUntil`.
    pub(crate) fn peek(&self, now: Timestamp, max_in_flight: u32) -> Option<Next> {
        match self.candidate(max_in_flight) {
            None => Some(Next::Blocked),
            Some((_, due)) if due > now => Some(Next::WaitUntil(due)),
            Some(_) => None,
        }
    }

    /// The next delivery to send at `now` with at most `max_in_flight` attempts
    /// running; a returned delivery is in flight.
    pub(crate) fn next(&mut self, now: Timestamp, max_in_flight: u32) -> Next {
        let key = match self.candidate(max_in_flight) {
            None => return Next::Blocked,
            Some((_, due)) if due > now => return Next::WaitUntil(due),
            Some((key, _)) => key.clone(),
        };
        match self.take_waiting(&key) {
            Some(Waiting { delivery, event }) => {
                self.places.insert(delivery.id.clone(), Place::InFlight);
                self.in_flight += 1;
                Next::Send(delivery, event)
            }
            None => Next::Blocked,
        }
    }

    /// Takes over a delivery whose attempt an earlier actor of the endpoint started
    /// (its outcome is about to be handled): in flight, wherever it was.
    pub(crate) fn adopt(&mut self, delivery: &Delivery) {
        if let Some(Place::Waiting(key)) = self.places.get(&delivery.id).cloned() {
            self.take_waiting(&key);
        }
        if self.places.insert(delivery.id.clone(), Place::InFlight) != Some(Place::InFlight) {
            self.in_flight += 1;
        }
    }

    /// An attempt's outcome is decided: the delivery waits again, or settles. A retry
    /// due at or beyond the frontier settles too (storage holds it once its record
    /// is in, and a refill reads it back then).
    pub(crate) fn attempted(&mut self, id: &DeliveryId, after: AfterAttempt) {
        if self.places.get(id) == Some(&Place::InFlight) {
            self.in_flight -= 1;
        }
        match after {
            AfterAttempt::Retry(delivery) => {
                let key = PendingKey::of(&delivery, self.order);
                if self
                    .frontier
                    .as_ref()
                    .is_some_and(|frontier| &key >= frontier)
                {
                    self.places.insert(id.clone(), Place::Settling);
                } else if self.budget.over() && self.waiting.len() >= MIN_HELD {
                    // No room: it waits in storage once its record is in, and what
                    // waits after it goes back there too.
                    self.places.insert(id.clone(), Place::Settling);
                    while self
                        .waiting
                        .last_key_value()
                        .is_some_and(|(last, _)| last >= &key)
                    {
                        self.evict_last();
                    }
                    self.lower_frontier(key);
                } else {
                    self.places.insert(id.clone(), Place::Waiting(key.clone()));
                    let entry = Waiting {
                        delivery,
                        event: None,
                    };
                    self.insert_waiting(key, entry);
                }
            }
            AfterAttempt::Settle => {
                self.places.insert(id.clone(), Place::Settling);
            }
        }
    }

    /// A delivery that was not sent (a local failure) waits again as it was.
    pub(crate) fn not_sent(&mut self, delivery: Delivery) {
        self.attempted(&delivery.id.clone(), AfterAttempt::Retry(delivery));
    }

    /// A settling delivery's record is stored: the queue forgets it.
    pub(crate) fn recorded(&mut self, id: &DeliveryId) {
        if self.places.get(id) == Some(&Place::Settling) {
            self.places.remove(id);
        }
    }

    /// Where a refill reads from: `None` when storage holds nothing the queue lacks.
    pub(crate) fn frontier(&self) -> Option<&PendingKey> {
        self.frontier.as_ref()
    }

    /// Whether storage may hold deliveries the queue lacks and it has room for them.
    pub(crate) fn wants_refill(&self) -> bool {
        self.frontier.is_some() && self.len() <= self.capacity / 2 && self.room() > 0
    }

    /// How many more deliveries fit: by the capacity, and by the memory budget
    /// (though always up to `MIN_HELD` waiting).
    pub(crate) fn room(&self) -> usize {
        let by_count = self.capacity.saturating_sub(self.len());
        let by_budget =
            (self.budget.room() / ENTRY_BYTES).max(MIN_HELD.saturating_sub(self.waiting.len()));
        by_count.min(by_budget)
    }

    /// Takes what a load read from storage, from `from` (the start when `None`), at
    /// most `limit`: only deliveries with ids up to `through`, which every publish
    /// the load waited for had (later ones come by hand-off). Then hand-offs up to
    /// `through` are dropped, and the frontier is where the read stopped when it may
    /// have stopped short (`read.len() == limit`).
    pub(crate) fn loaded(
        &mut self,
        from: Option<PendingKey>,
        read: Vec<Delivery>,
        limit: usize,
        through: Option<DeliveryId>,
    ) {
        let short = read.len() >= limit;
        let last = read.last().map(|d| PendingKey::of(d, self.order));
        // A read from at or below the frontier covers what was beyond it: the
        // frontier is rebuilt from this read and whatever it evicts.
        let covers = |frontier: &PendingKey| from.as_ref().is_none_or(|from| from <= frontier);
        if self.frontier.as_ref().is_some_and(covers) {
            self.frontier = None;
        }
        for delivery in read {
            if through
                .as_ref()
                .is_some_and(|through| &delivery.id <= through)
            {
                self.offer(delivery);
            }
        }
        if let (true, Some(last)) = (short, last) {
            self.lower_frontier(last);
        }
        if through > self.seen_through {
            self.seen_through = through;
        }
    }

    /// Forgets every waiting delivery (retiring: storage dead-letters them);
    /// in-flight and settling ones stay tracked.
    pub(crate) fn drain_waiting(&mut self) {
        self.frontier = None;
        self.held_bytes = 0;
        self.budget.release(self.charged);
        self.charged = 0;
        for key in std::mem::take(&mut self.waiting).into_keys() {
            self.places.remove(&key.id);
        }
    }

    /// Waiting plus in flight (what counts against the capacity).
    pub(crate) fn len(&self) -> usize {
        self.waiting.len() + self.in_flight
    }

    /// Whether nothing waits, runs or settles.
    pub(crate) fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Attempts running.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }
}

/// An id below every delivery id (`dlv_` then the smallest ULID).
fn lowest_id() -> DeliveryId {
    DeliveryId::from_ulid(ulid::Ulid::nil())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EndpointId, EventId, TenantId};

    fn unbounded() -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget::new(usize::MAX))
    }

    fn delivery(due: u64) -> Delivery {
        Delivery::new(
            EventId::generate(),
            TenantId::parse("t").unwrap(),
            EndpointId::generate(),
            "x",
            Timestamp(due),
        )
    }

    fn at(delivery: &Delivery, due: u64) -> Delivery {
        Delivery {
            next_attempt_at: Some(Timestamp(due)),
            ..delivery.clone()
        }
    }

    fn sent(queue: &mut PendingQueue, now: u64) -> Delivery {
        match queue.next(Timestamp(now), 100) {
            Next::Send(d, _) => d,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    fn next(queue: &mut PendingQueue, now: u64, max_in_flight: u32) -> Option<Delivery> {
        match queue.next(Timestamp(now), max_in_flight) {
            Next::Send(d, _) => Some(d),
            Next::Blocked => None,
            Next::WaitUntil(at) => panic!("waits until {at:?}"),
        }
    }

    fn waits_until(queue: &mut PendingQueue, now: u64, max_in_flight: u32) -> Option<u64> {
        match queue.next(Timestamp(now), max_in_flight) {
            Next::WaitUntil(at) => Some(at.0),
            _ => None,
        }
    }

    #[test]
    fn unordered_respects_max_in_flight_and_due_times() {
        let mut queue = PendingQueue::new(PendingOrder::Due, 100, unbounded());
        let a = delivery(0);
        let b = delivery(0);
        let c = delivery(50);
        for d in [&a, &b, &c] {
            assert_eq!(queue.offer(d.clone()), Offered::Held);
        }
        assert_eq!(next(&mut queue, 10, 2), Some(a.clone()));
        assert_eq!(next(&mut queue, 10, 2), Some(b.clone()));
        assert_eq!(next(&mut queue, 10, 2), None);
        queue.attempted(&a.id, AfterAttempt::Settle);
        assert_eq!(waits_until(&mut queue, 10, 2), Some(50));
        assert_eq!(next(&mut queue, 50, 2), Some(c));
        assert!(queue.contains(&a.id), "settling until recorded");
        queue.recorded(&a.id);
        assert!(!queue.contains(&a.id));
    }

    #[test]
    fn fifo_head_blocks_until_it_leaves() {
        let mut queue = PendingQueue::new(PendingOrder::Publish, 100, unbounded());
        let a = delivery(0);
        let b = delivery(0);
        queue.offer(a.clone());
        queue.offer(b.clone());
        assert_eq!(next(&mut queue, 0, 1), Some(a.clone()));
        assert_eq!(next(&mut queue, 0, 1), None);
        queue.attempted(&a.id, AfterAttempt::Retry(at(&a, 100)));
        // b was published later, so it waits behind a's retry.
        assert_eq!(waits_until(&mut queue, 1, 1), Some(100));
        assert_eq!(next(&mut queue, 100, 1), Some(at(&a, 100)));
        queue.attempted(&a.id, AfterAttempt::Settle);
        assert_eq!(next(&mut queue, 100, 1), Some(b));
    }

    #[test]
    fn past_capacity_the_latest_due_go_back_to_storage() {
        let mut queue = PendingQueue::new(PendingOrder::Due, 2, unbounded());
        let late = delivery(500);
        let later = delivery(900);
        assert_eq!(queue.offer(later.clone()), Offered::Held);
        assert_eq!(queue.offer(late.clone()), Offered::Held);
        // A fresh delivery due now takes the place of the latest retry.
        let fresh = delivery(10);
        assert_eq!(queue.offer(fresh.clone()), Offered::Held);
        assert!(!queue.contains(&later.id));
        assert_eq!(
            queue.frontier(),
            Some(&PendingKey::of(&later, PendingOrder::Due))
        );
        assert_eq!(sent(&mut queue, 10), fresh);
        queue.attempted(&fresh.id, AfterAttempt::Settle);
        // Anything due at or after the frontier stays in storage; before it, a
        // delivery is held while there is room.
        assert_eq!(queue.offer(delivery(950)), Offered::Beyond);
        assert_eq!(queue.offer(delivery(600)), Offered::Held);
        assert_eq!(
            queue.offer(delivery(700)),
            Offered::Beyond,
            "full: 700 goes back"
        );
        assert_eq!(queue.frontier().map(|key| key.due), Some(Timestamp(700)));
    }

    #[test]
    fn a_retry_beyond_the_frontier_settles_and_is_read_back_later() {
        let mut queue = PendingQueue::new(PendingOrder::Due, 2, unbounded());
        let a = delivery(0);
        let b = delivery(0);
        let c = delivery(0);
        queue.offer(a.clone());
        queue.offer(b.clone());
        assert_eq!(queue.offer(c.clone()), Offered::Beyond);
        let first = sent(&mut queue, 0);
        queue.attempted(&first.id, AfterAttempt::Retry(at(&first, 10_000)));
        assert!(queue.contains(&first.id));
        assert_eq!(queue.len(), 1, "settling, not waiting");
        queue.recorded(&first.id);
        assert!(!queue.contains(&first.id));
        assert!(queue.wants_refill());
    }

    #[test]
    fn a_load_takes_only_what_it_covers_and_drops_covered_hand_offs() {
        let mut queue = PendingQueue::new(PendingOrder::Publish, 100, unbounded());
        let ds: Vec<Delivery> = (0..4).map(|_| delivery(0)).collect();
        // The load read all four, but only the first two publishes were stored
        // when it began: the last two come by hand-off.
        queue.loaded(None, ds.clone(), 100, Some(ds[1].id.clone()));
        assert!(queue.contains(&ds[0].id) && queue.contains(&ds[1].id));
        assert!(!queue.contains(&ds[2].id));
        let first = sent(&mut queue, 0);
        queue.attempted(&first.id, AfterAttempt::Settle);
        queue.recorded(&first.id);
        // The late hand-offs of covered deliveries are dropped, even after they
        // settled; the others are taken.
        assert!(!queue.hand_off(ds[0].clone(), None));
        assert!(!queue.hand_off(ds[1].clone(), None));
        assert!(queue.hand_off(ds[2].clone(), None));
        assert!(queue.hand_off(ds[3].clone(), None));
        assert!(!queue.contains(&ds[0].id));
    }

    #[test]
    fn a_short_read_leaves_the_frontier_where_it_stopped() {
        let mut queue = PendingQueue::new(PendingOrder::Publish, 10, unbounded());
        let ds: Vec<Delivery> = (0..6).map(|_| delivery(0)).collect();
        let through = Some(ds[5].id.clone());
        queue.loaded(None, ds[..3].to_vec(), 3, through.clone());
        let frontier = PendingKey::of(&ds[2], PendingOrder::Publish);
        assert_eq!(queue.frontier(), Some(&frontier));
        assert!(queue.wants_refill());
        // The refill reads from the frontier (the last entry again) on.
        queue.loaded(Some(frontier), ds[2..].to_vec(), 10, through);
        assert_eq!(queue.frontier(), None);
        assert_eq!(queue.len(), 6);
    }

    #[test]
    fn an_adopted_attempt_is_in_flight_wherever_it_was() {
        let mut queue = PendingQueue::new(PendingOrder::Due, 10, unbounded());
        let a = delivery(0);
        queue.offer(a.clone());
        queue.adopt(&a);
        assert_eq!(queue.in_flight(), 1);
        assert_eq!(next(&mut queue, 0, 10), None);
        let unknown = delivery(0);
        queue.adopt(&unknown);
        assert_eq!(queue.in_flight(), 2);
        queue.attempted(&a.id, AfterAttempt::Settle);
        queue.attempted(&unknown.id, AfterAttempt::Retry(at(&unknown, 5)));
        assert_eq!(queue.in_flight(), 0);
        assert_eq!(sent(&mut queue, 5).id, unknown.id);
    }
}

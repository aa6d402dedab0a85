//! `PendingQueue`: one endpoint's pending deliveries in memory: due order (unordered)
//! or strict publish order with head-of-line blocking (fifo), the in-flight set and
//! `max_in_flight`. Bounded: past `capacity` new deliveries stay in storage only and
//! the queue asks to be refilled once it drains, from the first delivery it turned
//! away (everything pending before that one it holds, or has held).

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::DeliveryId;
use crate::model::{Delivery, Ordering};
use crate::time::Timestamp;

/// What the queue says when asked for work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send this delivery now (it is now in flight).
    Send(Delivery),
    /// Nothing is due before this time.
    WaitUntil(Timestamp),
    /// Nothing can go until an in-flight attempt finishes (or nothing is waiting).
    Blocked,
}

/// One endpoint's pending deliveries.
#[derive(Debug)]
pub struct PendingQueue {
    ordering: Ordering,
    /// Deliveries not in flight, by id (= publish order).
    waiting: BTreeMap<DeliveryId, Delivery>,
    /// The same deliveries by due time, for unordered sending.
    by_due: BTreeSet<(Timestamp, DeliveryId)>,
    /// Deliveries whose attempt is running.
    in_flight: BTreeSet<DeliveryId>,
    /// Most deliveries held (waiting + in flight).
    capacity: usize,
    /// The smallest id turned away for lack of room since the last refill began:
    /// storage holds it, and may hold more after it.
    overflow_from: Option<DeliveryId>,
}

impl PendingQueue {
    /// An empty queue.
    pub fn new(ordering: Ordering, capacity: usize) -> Self {
        Self {
            ordering,
            waiting: BTreeMap::new(),
            by_due: BTreeSet::new(),
            in_flight: BTreeSet::new(),
            capacity: capacity.max(1),
            overflow_from: None,
        }
    }

    /// Changes the ordering (endpoint updated).
    pub fn set_ordering(&mut self, ordering: Ordering) {
        self.ordering = ordering;
    }

    /// Whether the delivery is waiting or in flight here.
    pub fn contains(&self, id: &DeliveryId) -> bool {
        self.waiting.contains_key(id) || self.in_flight.contains(id)
    }

    /// Adds a pending delivery unless it is already here. Returns false (and remembers
    /// that storage holds more) when the queue is full.
    pub fn insert(&mut self, delivery: Delivery) -> bool {
        if self.contains(&delivery.id) {
            return true;
        }
        if self.len() >= self.capacity {
            self.turned_away(&delivery.id);
            return false;
        }
        self.put_waiting(delivery);
        true
    }

    /// Remembers that storage holds `id`, and maybe more after it, that are not here.
    fn turned_away(&mut self, id: &DeliveryId) {
        if self.overflow_from.as_ref().is_none_or(|from| id < from) {
            self.overflow_from = Some(id.clone());
        }
    }

    fn put_waiting(&mut self, delivery: Delivery) {
        let due = delivery.next_attempt_at.unwrap_or(Timestamp::EPOCH);
        self.by_due.insert((due, delivery.id.clone()));
        self.waiting.insert(delivery.id.clone(), delivery);
    }

    fn take_waiting(&mut self, id: &DeliveryId) -> Option<Delivery> {
        let delivery = self.waiting.remove(id)?;
        let due = delivery.next_attempt_at.unwrap_or(Timestamp::EPOCH);
        self.by_due.remove(&(due, id.clone()));
        Some(delivery)
    }

    /// The delivery that would go next, by ordering and in-flight limit.
    /// `None` when nothing may go (blocked by in-flight attempts, or nothing waits).
    fn candidate(&self, max_in_flight: u32) -> Option<(Timestamp, DeliveryId)> {
        let limit = usize::try_from(max_in_flight.max(1)).unwrap_or(usize::MAX);
        match self.ordering {
            Ordering::Fifo if !self.in_flight.is_empty() => None,
            Ordering::Fifo => self
                .waiting
                .values()
                .next()
                .map(|d| (d.next_attempt_at.unwrap_or(Timestamp::EPOCH), d.id.clone())),
            Ordering::Unordered if self.in_flight.len() >= limit => None,
            Ordering::Unordered => self.by_due.iter().next().cloned(),
        }
    }

    /// Whether a delivery could be sent at `now` (without taking it): `Blocked`,
    /// `WaitUntil`, or `Send` is not returned; `None` means one is ready.
    pub fn peek(&self, now: Timestamp, max_in_flight: u32) -> Option<Next> {
        match self.candidate(max_in_flight) {
            None => Some(Next::Blocked),
            Some((due, _)) if due > now => Some(Next::WaitUntil(due)),
            Some(_) => None,
        }
    }

    /// The next delivery to send at `now` with at most `max_in_flight` attempts running.
    /// A returned delivery is moved to the in-flight set.
    pub fn next(&mut self, now: Timestamp, max_in_flight: u32) -> Next {
        match self.candidate(max_in_flight) {
            None => Next::Blocked,
            Some((due, _)) if due > now => Next::WaitUntil(due),
            Some((_, id)) => match self.take_waiting(&id) {
                Some(delivery) => {
                    self.in_flight.insert(id);
                    Next::Send(delivery)
                }
                None => Next::Blocked,
            },
        }
    }

    /// An attempt finished and the delivery left the queue (succeeded or dead).
    pub fn finish(&mut self, id: &DeliveryId) {
        self.in_flight.remove(id);
    }

    /// An attempt finished and the delivery waits for its next attempt.
    pub fn requeue(&mut self, delivery: Delivery) {
        self.in_flight.remove(&delivery.id);
        self.put_waiting(delivery);
    }

    /// Removes and returns every waiting delivery (disable); in-flight ones stay tracked.
    pub fn drain_waiting(&mut self) -> Vec<Delivery> {
        self.by_due.clear();
        self.overflow_from = None;
        std::mem::take(&mut self.waiting).into_values().collect()
    }

    /// Waiting plus in flight.
    pub fn len(&self) -> usize {
        self.waiting.len() + self.in_flight.len()
    }

    /// Whether nothing is waiting or in flight.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.in_flight.is_empty()
    }

    /// Attempts running.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether storage holds deliveries that did not fit and there is room again.
    pub fn wants_refill(&self) -> bool {
        self.overflow_from.is_some() && self.len() <= self.capacity / 2
    }

    /// Starts a load from storage: returns where a refill reads from (the first id
    /// turned away, `None` when none was), and forgets it: what is turned away from
    /// now on is remembered afresh.
    pub fn start_load(&mut self) -> Option<DeliveryId> {
        self.overflow_from.take()
    }

    /// A load is in (its deliveries inserted): when storage may hold more after its
    /// `last` delivery (`complete` false), the next refill starts there.
    pub fn loaded(&mut self, complete: bool, last: Option<&DeliveryId>) {
        if let (false, Some(last)) = (complete, last) {
            self.turned_away(last);
        }
    }

    /// How many more deliveries fit.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EndpointId, EventId, TenantId};

    fn delivery(due: u64) -> Delivery {
        Delivery::new(
            EventId::generate(),
            TenantId::parse("t").unwrap(),
            EndpointId::generate(),
            "x",
            Timestamp(due),
        )
    }

    #[test]
    fn unordered_respects_max_in_flight_and_due_times() {
        let mut queue = PendingQueue::new(Ordering::Unordered, 100);
        let a = delivery(0);
        let b = delivery(0);
        let c = delivery(50);
        for d in [&a, &b, &c] {
            queue.insert(d.clone());
        }
        assert_eq!(queue.next(Timestamp(10), 2), Next::Send(a.clone()));
        assert_eq!(queue.next(Timestamp(10), 2), Next::Send(b.clone()));
        assert_eq!(queue.next(Timestamp(10), 2), Next::Blocked);
        queue.finish(&a.id);
        assert_eq!(queue.next(Timestamp(10), 2), Next::WaitUntil(Timestamp(50)));
        assert_eq!(queue.next(Timestamp(50), 2), Next::Send(c));
    }

    #[test]
    fn fifo_head_blocks_until_it_leaves() {
        let mut queue = PendingQueue::new(Ordering::Fifo, 100);
        let a = delivery(0);
        let b = delivery(0);
        queue.insert(a.clone());
        queue.insert(b.clone());
        assert_eq!(queue.next(Timestamp(0), 16), Next::Send(a.clone()));
        assert_eq!(queue.next(Timestamp(0), 16), Next::Blocked);
        let mut retried = a.clone();
        retried.next_attempt_at = Some(Timestamp(100));
        queue.requeue(retried.clone());
        // b was published later, so it waits behind a's retry.
        assert_eq!(
            queue.next(Timestamp(1), 16),
            Next::WaitUntil(Timestamp(100))
        );
        assert_eq!(queue.next(Timestamp(100), 16), Next::Send(retried));
        queue.finish(&a.id);
        assert_eq!(queue.next(Timestamp(100), 16), Next::Send(b));
    }

    #[test]
    fn capacity_overflow_asks_for_refill() {
        let mut queue = PendingQueue::new(Ordering::Unordered, 2);
        assert!(queue.insert(delivery(0)));
        assert!(queue.insert(delivery(0)));
        assert!(!queue.insert(delivery(0)));
        assert!(!queue.wants_refill());
        let Next::Send(first) = queue.next(Timestamp(0), 10) else {
            panic!()
        };
        queue.finish(&first.id);
        assert!(queue.wants_refill());
        assert_eq!(queue.room(), 1);
    }

    #[test]
    fn a_refill_starts_at_the_first_delivery_turned_away() {
        let mut queue = PendingQueue::new(Ordering::Unordered, 2);
        let ds: Vec<Delivery> = (0..5).map(|_| delivery(0)).collect();
        assert!(queue.insert(ds[0].clone()));
        assert!(queue.insert(ds[2].clone()));
        // Turned away out of order: the refill starts at the smaller id.
        assert!(!queue.insert(ds[4].clone()));
        assert!(!queue.insert(ds[1].clone()));
        assert!(!queue.insert(ds[3].clone()));
        assert_eq!(queue.start_load(), Some(ds[1].id.clone()));
        assert_eq!(queue.start_load(), None, "forgotten once a load starts");
        assert!(!queue.wants_refill());

        // Turned away while the load ran, then the load came back incomplete after
        // a later id: the next refill starts at the smaller of the two.
        assert!(!queue.insert(ds[3].clone()));
        queue.loaded(false, Some(&ds[4].id));
        assert_eq!(queue.start_load(), Some(ds[3].id.clone()));
        queue.loaded(false, Some(&ds[1].id));
        assert_eq!(queue.start_load(), Some(ds[1].id.clone()));
        queue.loaded(true, Some(&ds[4].id));
        assert_eq!(
            queue.start_load(),
            None,
            "a complete load leaves nothing behind"
        );
    }
}

//! `Publishes`: delivery ids in publish order, and which publishes are still being
//! stored, so a load can tell which deliveries it must take and which will come to
//! the actor by hand-off (the watermark rule of `queue.rs`).
//!
//! The Router makes every delivery id here, one publish at a time, from one
//! monotonic source raised at start above every stored id: ids follow publish order,
//! across restarts too. Each publish with deliveries holds a ticket until its write
//! is done (stored or failed). `through` waits until every publish that had ids when
//! it was called holds no ticket, and returns the last id they were given: every
//! delivery with a larger id is newer, and is handed off to its actor once stored.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::ids::{DeliveryId, MonotonicUlids};
use crate::time::Timestamp;

/// The publishes of one engine; shared by the Router (which makes ids) and every
/// endpoint actor (which waits on `through` before each load).
#[derive(Debug)]
pub(crate) struct Publishes {
    state: Mutex<State>,
    /// Woken whenever the oldest publish being stored finishes.
    stored: Notify,
}

#[derive(Debug)]
struct State {
    ids: MonotonicUlids,
    /// The sequence number the next publish gets.
    next: u64,
    /// Publishes whose write is not done, by sequence number.
    storing: BTreeSet<u64>,
    /// The last delivery id made (or, before the first, the largest stored).
    last: Option<DeliveryId>,
}

/// A publish's place among those being stored; dropping it says its write is done.
#[derive(Debug)]
pub(crate) struct PublishTicket {
    publishes: Arc<Publishes>,
    seq: u64,
}

impl Drop for PublishTicket {
    fn drop(&mut self) {
        let oldest = {
            let mut state = self.publishes.state();
            let oldest = state.storing.first() == Some(&self.seq);
            state.storing.remove(&self.seq);
            oldest
        };
        if oldest {
            self.publishes.stored.notify_waiters();
        }
    }
}

impl Publishes {
    /// Publishes whose ids will all be larger than `floor` (the largest stored).
    pub(crate) fn new(floor: Option<DeliveryId>) -> Self {
        let mut ids = MonotonicUlids::new();
        if let Some(ulid) = floor.as_ref().and_then(DeliveryId::ulid) {
            ids.raise_floor(ulid);
        }
        Self {
            state: Mutex::new(State {
                ids,
                next: 0,
                storing: BTreeSet::new(),
                last: floor,
            }),
            stored: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a publish at `now` with `count` deliveries: their ids, in order, the
    /// time they were made at (the event's creation time: `now`, or later when the
    /// clock is behind the last id), and the ticket to drop once the write is done
    /// (none when there are no deliveries).
    pub(crate) fn begin(
        self: &Arc<Self>,
        now: Timestamp,
        count: usize,
    ) -> (Timestamp, Vec<DeliveryId>, Option<PublishTicket>) {
        let mut state = self.state();
        let time = Timestamp(state.ids.time_for(now.0));
        if count == 0 {
            return (time, Vec::new(), None);
        }
        let ids: Vec<DeliveryId> = (0..count)
            .map(|_| DeliveryId::from_ulid(state.ids.next(time.0)))
            .collect();
        state.last = ids.last().cloned();
        let seq = state.next;
        state.next += 1;
        state.storing.insert(seq);
        let ticket = PublishTicket {
            publishes: self.clone(),
            seq,
        };
        (time, ids, Some(ticket))
    }

    /// Waits until every publish begun before this call is done storing, and returns
    /// the last delivery id made by then (`None` when no delivery exists).
    pub(crate) async fn through(&self) -> Option<DeliveryId> {
        let (target, last) = {
            let state = self.state();
            (state.next, state.last.clone())
        };
        loop {
            let stored = self.stored.notified();
            tokio::pin!(stored);
            stored.as_mut().enable();
            let done = self
                .state()
                .storing
                .first()
                .is_none_or(|oldest| *oldest >= target);
            if done {
                return last;
            }
            stored.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn through_waits_for_earlier_publishes_only() {
        let publishes = Arc::new(Publishes::new(None));
        assert_eq!(publishes.through().await, None);
        let (_, first, first_ticket) = publishes.begin(Timestamp(10), 2);
        let (_, second, second_ticket) = publishes.begin(Timestamp(10), 1);
        assert!(first[0] < first[1] && first[1] < second[0]);

        let waiter = {
            let publishes = publishes.clone();
            tokio::spawn(async move { publishes.through().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        // A publish begun after the wait does not hold it up.
        let (_, _, third_ticket) = publishes.begin(Timestamp(11), 1);
        drop(second_ticket);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the first publish is still storing");
        drop(first_ticket);
        assert_eq!(waiter.await.unwrap(), Some(second[0].clone()));
        drop(third_ticket);
    }

    #[test]
    fn ids_start_above_the_floor_and_carry_their_time() {
        let floor = DeliveryId::from_ulid(ulid::Ulid::from_parts(5_000, 9));
        let publishes = Arc::new(Publishes::new(Some(floor.clone())));
        let (time, ids, _ticket) = publishes.begin(Timestamp(1_000), 1);
        assert_eq!(
            time,
            Timestamp(5_000),
            "a clock behind the stored ids waits for them"
        );
        assert!(ids[0] > floor);
        let (time, ids, _) = publishes.begin(Timestamp(9_000), 1);
        assert_eq!(time, Timestamp(9_000));
        assert_eq!(ids[0].ulid().unwrap().timestamp_ms(), 9_000);
    }
}

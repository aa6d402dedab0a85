//! `FoundEarly`: fresh deliveries an endpoint actor took from a storage load before
//! their hand-off reached it.
//!
//! A publish stores its deliveries, then hands them to their actors through the
//! Supervisor. A load (the actor's start, a reload, a refill) that reads storage in
//! between finds a delivery whose hand-off is still on its way. The actor queues
//! and sends it; when the hand-off then arrives after the delivery has settled, it
//! must not queue it again. The actor remembers what loads found that a hand-off may
//! still follow: deliveries never attempted, published within `WINDOW`.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use crate::ids::DeliveryId;
use crate::time::Timestamp;

/// How long a found delivery is remembered: far past the time a hand-off takes
/// from a publish's write to its actor (milliseconds, seconds on a starved host).
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// The deliveries, with when each was noted, oldest first.
#[derive(Debug, Default)]
pub(crate) struct FoundEarly {
    ids: HashSet<DeliveryId>,
    noted: VecDeque<(Timestamp, DeliveryId)>,
}

impl FoundEarly {
    /// Notes a delivery a load queued (its id, attempts and publish time), if a
    /// hand-off may still follow it: never attempted and published within `WINDOW`
    /// of `now`. Forgets notes past `WINDOW`.
    pub(crate) fn note(
        &mut self,
        id: &DeliveryId,
        attempts: u32,
        created_at: Timestamp,
        now: Timestamp,
    ) {
        self.forget_before(now.minus(WINDOW));
        if attempts == 0 && created_at >= now.minus(WINDOW) && self.ids.insert(id.clone()) {
            self.noted.push_back((now, id.clone()));
        }
    }

    /// Whether a hand-off of `id` comes after a load found it (the note is spent).
    pub(crate) fn take(&mut self, id: &DeliveryId) -> bool {
        self.ids.remove(id)
    }

    fn forget_before(&mut self, cutoff: Timestamp) {
        while let Some((at, _)) = self.noted.front() {
            if *at >= cutoff {
                break;
            }
            if let Some((_, id)) = self.noted.pop_front() {
                self.ids.remove(&id);
            }
        }
        if self.ids.is_empty() {
            self.noted.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(
        found: &mut FoundEarly,
        created_at: Timestamp,
        attempts: u32,
        now: Timestamp,
    ) -> DeliveryId {
        let id = DeliveryId::generate();
        found.note(&id, attempts, created_at, now);
        id
    }

    #[test]
    fn a_fresh_delivery_found_is_taken_once() {
        let now = Timestamp(1_000_000);
        let mut found = FoundEarly::default();
        let id = note(&mut found, now, 0, now);
        assert!(found.take(&id));
        assert!(!found.take(&id), "a note serves one hand-off");
    }

    #[test]
    fn attempted_or_old_deliveries_are_not_noted() {
        let now = Timestamp(1_000_000);
        let mut found = FoundEarly::default();
        note(&mut found, now, 1, now);
        note(
            &mut found,
            now.minus(WINDOW + Duration::from_millis(1)),
            0,
            now,
        );
        assert!(found.ids.is_empty());
    }

    #[test]
    fn notes_past_the_window_are_forgotten() {
        let start = Timestamp(1_000_000);
        let mut found = FoundEarly::default();
        let first = note(&mut found, start, 0, start);
        let later = start.plus(WINDOW + Duration::from_millis(1));
        let second = note(&mut found, later, 0, later);
        assert_eq!(found.ids.len(), 1);
        assert!(!found.take(&first));
        assert!(found.take(&second));
    }
}

//! `MemoryBudget`: the bytes all endpoint actors together may hold in waiting
//! deliveries and their events (`EngineConfig::queue_memory`). Each actor's queue
//! charges what it holds and gives it back when the delivery leaves (or the queue
//! is dropped); past the budget, a queue keeps only a few deliveries
//! (`queue::MIN_HELD`) and the rest wait in storage, read back as room frees. So a
//! thousand endpoints down cost the budget, not a thousand queues' worth.
//!
//! Counted, not allocated: the charge of a delivery is an estimate of its entry
//! (`queue::ENTRY_BYTES`) plus the body it holds, so the figure tracks what the
//! queues keep alive, within the allocator's own overhead.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes charged against one limit; shared by every queue of an engine.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    used: AtomicUsize,
    limit: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none used.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    /// Counts `bytes` as held (it may go over the limit: callers check `over`).
    pub(crate) fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Gives `bytes` back.
    pub(crate) fn release(&self, bytes: usize) {
        // Every release follows its charge, so this never goes below zero.
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Whether more is held than the limit allows.
    pub(crate) fn over(&self) -> bool {
        self.used() > self.limit
    }

    /// Bytes left under the limit.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.used())
    }

    /// Bytes held now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_and_releases_against_the_limit() {
        let budget = MemoryBudget::new(100);
        budget.charge(60);
        assert!(!budget.over());
        assert_eq!(budget.room(), 40);
        budget.charge(60);
        assert!(budget.over());
        assert_eq!(budget.room(), 0);
        budget.release(60);
        budget.release(60);
        assert_eq!(budget.used(), 0);
        assert_eq!(budget.limit(), 100);
    }
}

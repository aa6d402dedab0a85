//! Events read back from storage, shared by every endpoint actor for a while.
//!
//! An event fans out to one delivery per endpoint, each queued by its own actor.
//! While the actors hold the event from the hand-off, nothing is read; but deliveries
//! that waited in storage (a backlog past the queue's capacity, a restart) come back
//! without it, and each of an event's N deliveries would read it, decode it and
//! build its body again. Here the first reader leaves it for the other N − 1.
//! Bounded by bytes, oldest out first; events never change, so nothing goes stale.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::ids::{EventId, TenantId};
use crate::request::PreparedEvent;

/// Body bytes the cache holds at most.
pub(crate) const EVENT_CACHE_BYTES: usize = 16 * 1024 * 1024;

type Key = (TenantId, EventId);

/// See the module docs.
#[derive(Debug)]
pub(crate) struct EventCache {
    limit: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    events: HashMap<Key, Arc<PreparedEvent>>,
    /// Insertion order, for eviction.
    order: VecDeque<Key>,
    bytes: usize,
}

impl EventCache {
    /// An empty cache holding up to `limit` body bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The event, if a recent reader left it here.
    pub(crate) fn get(&self, tenant: &TenantId, id: &EventId) -> Option<Arc<PreparedEvent>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.events.get(&(tenant.clone(), id.clone())).cloned()
    }

    /// Leaves `event` for the next readers, evicting the oldest past the limit.
    pub(crate) fn put(&self, event: Arc<PreparedEvent>) {
        let size = event.body.len();
        if size > self.limit {
            return;
        }
        let key = (event.event.tenant.clone(), event.event.id.clone());
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.events.contains_key(&key) {
            return;
        }
        while inner.bytes + size > self.limit {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.events.remove(&oldest) {
                inner.bytes -= evicted.body.len();
            }
        }
        inner.bytes += size;
        inner.order.push_back(key.clone());
        inner.events.insert(key, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Event;
    use crate::time::Timestamp;

    fn event(id: &str, data_len: usize) -> Arc<PreparedEvent> {
        let data = format!("\"{}\"", "x".repeat(data_len));
        Arc::new(PreparedEvent::new(Event {
            id: EventId::parse(id).unwrap(),
            tenant: TenantId::parse("acme").unwrap(),
            event_type: "t".into(),
            channels: Vec::new(),
            created_at: Timestamp(0),
            data: data.into(),
            deliveries: 1,
        }))
    }

    #[test]
    fn keeps_recent_events_and_evicts_the_oldest_past_the_limit() {
        let one = event("e1", 100);
        let size = one.body.len();
        let cache = EventCache::new(size * 2);
        let tenant = TenantId::parse("acme").unwrap();
        let id = |s: &str| EventId::parse(s).unwrap();
        cache.put(one);
        cache.put(event("e2", 100));
        assert!(cache.get(&tenant, &id("e1")).is_some());
        cache.put(event("e3", 100));
        assert!(cache.get(&tenant, &id("e1")).is_none(), "oldest evicted");
        assert!(cache.get(&tenant, &id("e2")).is_some());
        assert!(cache.get(&tenant, &id("e3")).is_some());
        assert!(cache
            .get(&TenantId::parse("other").unwrap(), &id("e3"))
            .is_none());
        cache.put(event("huge", size * 3));
        assert!(
            cache.get(&tenant, &id("huge")).is_none(),
            "over the limit alone"
        );
        assert!(cache.get(&tenant, &id("e3")).is_some());
    }
}

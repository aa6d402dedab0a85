//! `HeldEvents`: the prepared events that came with hand-offs, kept by an endpoint
//! actor for deliveries not yet attempted, up to a byte budget; past it, an attempt
//! reads its event from the cache or storage. Bounds an actor's memory when its
//! receiver is down, whatever the payload size.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ids::DeliveryId;
use crate::request::PreparedEvent;

/// Most body bytes one actor holds (shared bodies count once per delivery).
pub(crate) const MAX_HELD_BYTES: usize = 16 * 1024 * 1024;

/// Events by the delivery that will send them.
#[derive(Debug, Default)]
pub(crate) struct HeldEvents {
    events: HashMap<DeliveryId, Arc<PreparedEvent>>,
    bytes: usize,
}

impl HeldEvents {
    /// Keeps `event` for delivery `id` if it fits the budget.
    pub(crate) fn hold(&mut self, id: DeliveryId, event: Arc<PreparedEvent>) {
        let size = event.body.len();
        if self.bytes + size <= MAX_HELD_BYTES {
            self.bytes += size;
            self.events.insert(id, event);
        }
    }

    /// Gives up the event of delivery `id` (its attempt is starting).
    pub(crate) fn take(&mut self, id: &DeliveryId) -> Option<Arc<PreparedEvent>> {
        let event = self.events.remove(id)?;
        self.bytes = self.bytes.saturating_sub(event.body.len());
        Some(event)
    }

    /// Forgets every event (the actor retires).
    pub(crate) fn clear(&mut self) {
        self.events.clear();
        self.bytes = 0;
    }
}

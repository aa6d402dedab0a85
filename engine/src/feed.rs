//! `Feed`: stored events handed to the open streams in publish order, each stream
//! through a bounded queue of its own, and the watermark that tells a stream's replay
//! where storage ends and the live feed begins.
//!
//! The Router gives every publish a ticket, one publish at a time, so tickets follow
//! publish order (which is also the order of the events' creation times). A publish's
//! write task releases its ticket once the write is durable, with the event when one
//! was stored, and drops it otherwise; the feed hands events on strictly in ticket
//! order, holding a finished publish back until every earlier one has finished. So
//! whatever a stream receives live is stored, and comes in publish order.
//!
//! Handing on never waits: each stream's queue takes `stream_buffer` events, and a
//! stream whose queue is full is dropped from the feed and told it overflowed. A
//! slow consumer costs publishing one failed `try_send`, nothing more.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;

use crate::ids::{EventId, TenantId};
use crate::model::Event;
use crate::stream::StreamFilter;
use crate::time::Timestamp;

/// The feed of one engine; shared by the Router (tickets), the publishes' write tasks
/// (releases) and every stream (subscriptions).
#[derive(Debug)]
pub(crate) struct Feed {
    /// A std `Mutex`: held for bookkeeping and `try_send`s, never across an `.await`.
    state: Mutex<State>,
    /// Events a stream's queue holds before it overflows.
    buffer: usize,
}

#[derive(Debug, Default)]
struct State {
    /// The ticket the next publish gets.
    next: u64,
    /// Every ticket below this one is released (its event handed on, if any).
    released: u64,
    /// Finished publishes waiting for an earlier one: by ticket, with the event
    /// stored (`None`: nothing was stored).
    finished: BTreeMap<u64, Option<Arc<Event>>>,
    /// Creation time of each publish begun and not yet released, by ticket.
    unreleased: BTreeMap<u64, Timestamp>,
    /// Creation time of the last publish begun (later ones are created no earlier).
    last_begun: Timestamp,
    /// Creation time of the last event handed on, and the ids of those handed on
    /// with that time.
    last_time: Timestamp,
    last_ids: Vec<EventId>,
    /// The open streams' queues, by tenant.
    subscribers: HashMap<TenantId, Vec<Subscriber>>,
    /// Open streams per tenant (counted from their start, replay included).
    open: HashMap<TenantId, usize>,
    /// The id of the next subscription.
    next_subscriber: u64,
    /// Set at shutdown: no new subscriptions, every queue closed.
    closed: bool,
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    filter: Arc<StreamFilter>,
    queue: mpsc::Sender<Arc<Event>>,
    overflowed: Arc<AtomicBool>,
}

/// Where storage ends for a stream's replay, as of one moment: every event created
/// before `time`, and those created at `time` whose ids are in `ids`, were handed on
/// (or stored before this process started); every other event reaches the feed
/// after that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Watermark {
    pub(crate) time: Timestamp,
    pub(crate) ids: Vec<EventId>,
}

impl Watermark {
    /// Whether `event` was handed on (or stored before) as of this watermark.
    pub(crate) fn covers(&self, event: &Event) -> bool {
        event.created_at < self.time
            || (event.created_at == self.time && self.ids.contains(&event.id))
    }
}

/// One stream's subscription: its queue, and whether the feed dropped it for
/// overflowing. Dropping it leaves the feed.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) queue: mpsc::Receiver<Arc<Event>>,
    pub(crate) overflowed: Arc<AtomicBool>,
    feed: Arc<Feed>,
    tenant: TenantId,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.feed.state();
        if let Some(list) = state.subscribers.get_mut(&self.tenant) {
            list.retain(|s| s.id != self.id);
            if list.is_empty() {
                state.subscribers.remove(&self.tenant);
            }
        }
    }
}

/// A stream counted against its tenant's `max_streams`; dropping it uncounts it.
#[derive(Debug)]
pub(crate) struct OpenStream {
    feed: Arc<Feed>,
    tenant: TenantId,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut state = self.feed.state();
        if let Some(count) = state.open.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.open.remove(&self.tenant);
            }
        }
        let total: usize = state.open.values().sum();
        drop(state);
        crate::metrics::streams_open(total);
    }
}

/// A publish's place in the feed. Released with its stored event; dropped when
/// nothing was stored (refused, repeated, failed), which frees the later ones.
#[derive(Debug)]
pub(crate) struct FeedTicket {
    feed: Arc<Feed>,
    ticket: u64,
    done: bool,
}

impl FeedTicket {
    /// The publish stored `event` durably: hand it on in its turn.
    pub(crate) fn release(mut self, event: &Event) {
        self.done = true;
        self.feed.finish(self.ticket, Some(event));
    }
}

impl Drop for FeedTicket {
    fn drop(&mut self) {
        if !self.done {
            self.feed.finish(self.ticket, None);
        }
    }
}

impl Feed {
    /// A feed whose streams' queues take `buffer` events.
    pub(crate) fn new(buffer: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            buffer: buffer.max(1),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A ticket for a publish creating its event at `created_at`. Called by the
    /// Router, one publish at a time.
    pub(crate) fn begin(self: &Arc<Self>, created_at: Timestamp) -> FeedTicket {
        let mut state = self.state();
        let ticket = state.next;
        state.next += 1;
        state.unreleased.insert(ticket, created_at);
        state.last_begun = state.last_begun.max(created_at);
        FeedTicket {
            feed: self.clone(),
            ticket,
            done: false,
        }
    }

    fn finish(&self, ticket: u64, event: Option<&Event>) {
        let mut state = self.state();
        if ticket != state.released {
            // An earlier publish is still being written: wait for it. Kept whole, as
            // a stream may subscribe before its turn comes.
            state
                .finished
                .insert(ticket, event.map(|e| Arc::new(e.clone())));
            return;
        }
        let wanted = event.is_some_and(|e| state.subscribers.contains_key(&e.tenant));
        let first = event.filter(|_| wanted).map(|e| Arc::new(e.clone()));
        state.hand_on(ticket, event.map(|e| (e.created_at, e.id.clone())), first);
        loop {
            let next = state.released;
            let Some(waiting) = state.finished.remove(&next) else {
                break;
            };
            let position = waiting.as_ref().map(|e| (e.created_at, e.id.clone()));
            state.hand_on(next, position, waiting);
        }
    }

    /// A watermark as of now.
    pub(crate) fn watermark(&self) -> Watermark {
        self.state().watermark()
    }

    /// Counts a stream of `tenant` open, unless it has `limit` open already.
    pub(crate) fn open(self: &Arc<Self>, tenant: &TenantId, limit: usize) -> Option<OpenStream> {
        let mut state = self.state();
        let count = state.open.entry(tenant.clone()).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        let total: usize = state.open.values().sum();
        drop(state);
        crate::metrics::streams_open(total);
        Some(OpenStream {
            feed: self.clone(),
            tenant: tenant.clone(),
        })
    }

    /// Subscribes a stream of `tenant` to the events `filter` lets through, from now
    /// on; returns the watermark of this moment with it. `None` once closed.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        tenant: &TenantId,
        filter: Arc<StreamFilter>,
    ) -> Option<(Subscription, Watermark)> {
        let mut state = self.state();
        if state.closed {
            return None;
        }
        let (queue, receiver) = mpsc::channel(self.buffer);
        let overflowed = Arc::new(AtomicBool::new(false));
        let id = state.next_subscriber;
        state.next_subscriber += 1;
        state
            .subscribers
            .entry(tenant.clone())
            .or_default()
            .push(Subscriber {
                id,
                filter,
                queue,
                overflowed: overflowed.clone(),
            });
        let watermark = state.watermark();
        Some((
            Subscription {
                queue: receiver,
                overflowed,
                feed: self.clone(),
                tenant: tenant.clone(),
                id,
            },
            watermark,
        ))
    }

    /// Closes every stream's queue (they end once drained) and refuses new ones.
    pub(crate) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.subscribers.clear();
    }
}

impl State {
    fn watermark(&self) -> Watermark {
        // Publishes not yet handed on are created no earlier than the oldest of them;
        // with none, no earlier than the last one begun.
        let time = self
            .unreleased
            .values()
            .min()
            .copied()
            .unwrap_or(self.last_begun);
        let ids = if time == self.last_time {
            self.last_ids.clone()
        } else {
            Vec::new()
        };
        Watermark { time, ids }
    }

    /// Hands on the publish of `ticket` (its turn has come): its event, when one
    /// was stored, to every subscriber of its tenant it matches.
    fn hand_on(
        &mut self,
        ticket: u64,
        position: Option<(Timestamp, EventId)>,
        event: Option<Arc<Event>>,
    ) {
        self.released = ticket + 1;
        self.unreleased.remove(&ticket);
        let Some((created_at, id)) = position else {
            return;
        };
        if created_at != self.last_time {
            self.last_time = created_at;
            self.last_ids.clear();
        }
        self.last_ids.push(id);
        let Some(event) = event else { return };
        let Some(list) = self.subscribers.get_mut(&event.tenant) else {
            return;
        };
        list.retain(|subscriber| {
            if !subscriber.filter.matches(&event) {
                return true;
            }
            match subscriber.queue.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Dropping its sender ends the queue after what it holds.
                    subscriber.overflowed.store(true, Ordering::SeqCst);
                    crate::metrics::stream_overflowed();
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if list.is_empty() {
            self.subscribers.remove(&event.tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tenant: &str, id: &str, at: u64) -> Event {
        Event {
            id: EventId::parse(id).unwrap(),
            tenant: TenantId::parse(tenant).unwrap(),
            event_type: "order.filled".into(),
            channels: vec![],
            created_at: Timestamp(at),
            data: Arc::from("{}"),
            deliveries: 0,
        }
    }

    fn all() -> Arc<StreamFilter> {
        Arc::new(StreamFilter::default())
    }

    #[test]
    fn events_are_handed_on_in_ticket_order_whatever_order_writes_finish_in() {
        let feed = Arc::new(Feed::new(10));
        let tenant = TenantId::parse("acme").unwrap();
        let (mut sub, mark) = feed.subscribe(&tenant, all()).unwrap();
        assert_eq!(mark.time, Timestamp(0));
        let first = feed.begin(Timestamp(5));
        let second = feed.begin(Timestamp(5));
        let third = feed.begin(Timestamp(6));
        assert_eq!(feed.watermark().time, Timestamp(5), "the oldest unreleased");
        third.release(&event("acme", "c", 6));
        second.release(&event("acme", "b", 5));
        assert!(
            sub.queue.try_recv().is_err(),
            "the first is still being written"
        );
        drop(first); // nothing stored
        let got: Vec<String> = std::iter::from_fn(|| sub.queue.try_recv().ok())
            .map(|e| e.id.to_string())
            .collect();
        assert_eq!(got, ["b", "c"]);
        let mark = feed.watermark();
        assert_eq!(mark.time, Timestamp(6));
        assert!(mark.covers(&event("acme", "c", 6)));
        assert!(!mark.covers(&event("acme", "d", 6)));
        assert!(mark.covers(&event("acme", "a", 5)));
    }

    #[test]
    fn a_full_queue_overflows_without_holding_the_feed() {
        let feed = Arc::new(Feed::new(2));
        let tenant = TenantId::parse("acme").unwrap();
        let (mut slow, _) = feed.subscribe(&tenant, all()).unwrap();
        let (mut other, _) = feed.subscribe(&tenant, all()).unwrap();
        for n in 0..3 {
            feed.begin(Timestamp(n))
                .release(&event("acme", &format!("e{n}"), n));
            other.queue.try_recv().unwrap();
        }
        assert!(slow.overflowed.load(Ordering::SeqCst));
        assert!(!other.overflowed.load(Ordering::SeqCst));
        assert_eq!(slow.queue.try_recv().unwrap().id.as_str(), "e0");
        assert_eq!(slow.queue.try_recv().unwrap().id.as_str(), "e1");
        assert!(matches!(
            slow.queue.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn open_streams_are_counted_per_tenant() {
        let feed = Arc::new(Feed::new(2));
        let acme = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        let one = feed.open(&acme, 2).unwrap();
        let _two = feed.open(&acme, 2).unwrap();
        assert!(feed.open(&acme, 2).is_none());
        assert!(feed.open(&other, 2).is_some());
        drop(one);
        assert!(feed.open(&acme, 2).is_some());
    }
}

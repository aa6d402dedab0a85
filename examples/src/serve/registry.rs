//! The connections the API holds: who gets a slot at `max_connections` (the
//! connection that has gone longest without a request in progress gives its slot up),
//! the cap on TLS handshakes in progress (the oldest yields), and the
//! `herald_api_connections` gauge.
//!
//! Evicting instead of refusing is what keeps a flood from locking a client out: a
//! flood's connections hold slots without requests, so each new connection, the
//! legitimate client's included, finds one to take; the client then sends its head at
//! once, starts a request, and is never evicted while it is served.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::Notify;

use super::phase::{CloseReason, Phase, Timeouts, Tracker};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held (field writes only), so a poisoned
    // lock still guards consistent data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connection's shared state. Its task owns it through `Admitted`, the registry
/// keeps a clone to evict it. Written by its IO (bytes of a head), its service (a
/// request's start and end) and the registry (eviction); its watchdog waits on
/// `changed` and reads the deadline.
#[derive(Debug)]
pub(crate) struct Conn {
    /// A std `Mutex`: held for a few field writes, never across an `.await`.
    tracker: Mutex<Tracker>,
    /// Wakes the watchdog when its deadline may have come sooner or the connection
    /// was evicted. `notify_one` keeps a permit when the watchdog is not waiting, so
    /// no change is missed.
    changed: Notify,
    /// A request's body was answered without being read to its end: hyper then closes
    /// the connection, and the close must linger (`io::Watched`).
    body_unread: AtomicBool,
}

impl Conn {
    fn new(tracker: Tracker) -> Self {
        Self {
            tracker: Mutex::new(tracker),
            changed: Notify::new(),
            body_unread: AtomicBool::new(false),
        }
    }

    /// A request's body was left unread (refused from its declared length, or past
    /// the limit).
    pub(crate) fn body_left_unread(&self) {
        self.body_unread.store(true, Ordering::Relaxed);
    }

    /// Whether a request's body was left unread.
    pub(crate) fn has_unread_body(&self) -> bool {
        self.body_unread.load(Ordering::Relaxed)
    }

    /// The TLS handshake finished.
    pub(crate) fn handshake_done(&self) {
        lock(&self.tracker).handshake_done(Instant::now());
    }

    /// Bytes arrived from the client.
    pub(crate) fn bytes_arrived(&self) {
        let mut tracker = lock(&self.tracker);
        // Only an idle connection changes phase: skip the clock read otherwise.
        if matches!(tracker.phase(), Phase::Idle { .. }) && tracker.bytes_arrived(Instant::now()) {
            drop(tracker);
            self.changed.notify_one();
        }
    }

    /// A whole head arrived. The watchdog needs no wake: its deadline only moves
    /// away, and it finds the request in progress when its timer fires.
    pub(crate) fn request_started(&self) {
        lock(&self.tracker).request_started();
    }

    /// The handler answered; its answer is being written (a deadline again).
    pub(crate) fn answer_started(&self) {
        lock(&self.tracker).answer_started(Instant::now());
        self.changed.notify_one();
    }

    /// The handler answered with a stream (no deadline until it produces bytes).
    pub(crate) fn streaming_started(&self) {
        lock(&self.tracker).streaming_started();
        self.changed.notify_one();
    }

    /// A streamed answer produced bytes: they must be flushed within the write
    /// timeout.
    pub(crate) fn frame_produced(&self) {
        let mut tracker = lock(&self.tracker);
        if matches!(
            tracker.phase(),
            Phase::Streaming {
                pending_since: None
            }
        ) {
            tracker.frame_produced(Instant::now());
            drop(tracker);
            self.changed.notify_one();
        }
    }

    /// hyper dropped the answer's body (or the request, unanswered).
    pub(crate) fn answer_dropped(&self) {
        lock(&self.tracker).answer_dropped(Instant::now());
        self.changed.notify_one();
    }

    /// A flush completed. Called on every flush: only the one that ends an answer
    /// reads the clock and wakes the watchdog.
    pub(crate) fn flushed(&self) {
        let mut tracker = lock(&self.tracker);
        if let Phase::Streaming {
            pending_since: Some(_),
        } = tracker.phase()
        {
            tracker.flushed(Instant::now());
            drop(tracker);
            self.changed.notify_one();
            return;
        }
        if matches!(tracker.phase(), Phase::Answering { written: true, .. })
            && tracker.flushed(Instant::now())
        {
            drop(tracker);
            self.changed.notify_one();
        }
    }

    fn evict(&self) {
        lock(&self.tracker).evict();
        self.changed.notify_one();
    }

    /// When the connection must close if nothing changes (now, once evicted).
    pub(crate) fn deadline(&self, timeouts: &Timeouts) -> Option<Instant> {
        let tracker = lock(&self.tracker);
        if tracker.is_evicted() {
            return Some(Instant::now());
        }
        tracker.deadline(timeouts).map(|(at, _)| at)
    }

    /// Why the connection must close now, if it must.
    pub(crate) fn expired(&self, timeouts: &Timeouts) -> Option<CloseReason> {
        lock(&self.tracker).expired(timeouts, Instant::now())
    }

    /// Completes at the next change reported to the watchdog.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// Of `candidates` (id, since when evictable or `None`), the one evictable longest.
fn oldest(candidates: impl Iterator<Item = (u64, Option<Instant>)>) -> Option<u64> {
    candidates
        .filter_map(|(id, since)| since.map(|since| (since, id)))
        .min()
        .map(|(_, id)| id)
}

/// Every connection the API holds. Shared by the accept loop (which admits) and each
/// connection's `Admitted` (which leaves on drop).
#[derive(Debug)]
pub(crate) struct Registry {
    max_connections: usize,
    max_handshakes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    conns: HashMap<u64, Arc<Conn>>,
}

impl Registry {
    /// A registry holding at most `max_connections`, of which at most
    /// `max_handshakes` in their TLS handshake.
    pub(crate) fn new(max_connections: usize, max_handshakes: usize) -> Self {
        Self {
            max_connections,
            max_handshakes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Admits a connection accepted at `now`, evicting one if the caps ask for it;
    /// `None` (and the new connection is to be closed) when every slot serves a
    /// request.
    pub(crate) fn admit(self: &Arc<Self>, tls: bool, now: Instant) -> Option<Admitted> {
        let mut inner = lock(&self.inner);
        if inner.conns.len() >= self.max_connections {
            let victim = oldest(
                inner
                    .conns
                    .iter()
                    .map(|(id, conn)| (*id, lock(&conn.tracker).evictable_since())),
            );
            let Some(victim) = victim else {
                closed(CloseReason::Refused);
                return None;
            };
            if let Some(conn) = inner.conns.remove(&victim) {
                conn.evict();
                closed(CloseReason::Evicted);
            }
        }
        // With fewer connections than the handshake cap, fewer handshakes too.
        if tls && inner.conns.len() >= self.max_handshakes {
            let handshakes: Vec<(u64, Option<Instant>)> = inner
                .conns
                .iter()
                .filter_map(|(id, conn)| {
                    let since = lock(&conn.tracker).handshake_since()?;
                    Some((*id, Some(since)))
                })
                .collect();
            if handshakes.len() >= self.max_handshakes {
                if let Some(conn) =
                    oldest(handshakes.into_iter()).and_then(|id| inner.conns.remove(&id))
                {
                    conn.evict();
                    closed(CloseReason::Evicted);
                }
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let conn = Arc::new(Conn::new(Tracker::accepted(now, tls)));
        inner.conns.insert(id, conn.clone());
        gauge(inner.conns.len());
        Some(Admitted {
            registry: self.clone(),
            id,
            conn,
        })
    }

    /// Connections held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.inner).conns.len()
    }
}

fn gauge(held: usize) {
    metrics::gauge!(herald::metrics::API_CONNECTIONS).set(held as f64);
}

/// Counts a connection the serve loop closed to keep within its limits.
pub(crate) fn closed(reason: CloseReason) {
    metrics::counter!(herald::metrics::API_CONNECTIONS_CLOSED, "reason" => reason.label())
        .increment(1);
}

/// A connection's slot in the registry, released on drop.
#[derive(Debug)]
pub(crate) struct Admitted {
    registry: Arc<Registry>,
    id: u64,
    conn: Arc<Conn>,
}

impl Admitted {
    /// Its shared state.
    pub(crate) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut inner = lock(&self.registry.inner);
        // An evicted connection left the registry already.
        if inner.conns.remove(&self.id).is_some() {
            gauge(inner.conns.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn timeouts() -> Timeouts {
        Timeouts {
            handshake: Duration::from_secs(10),
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            write: Duration::from_secs(30),
        }
    }

    fn evicted(admitted: &Admitted) -> bool {
        admitted.conn().expired(&timeouts()) == Some(CloseReason::Evicted)
    }

    #[test]
    fn the_oldest_evictable_candidate_is_chosen() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            oldest([(1, Some(later)), (2, None), (3, Some(t0))].into_iter()),
            Some(3)
        );
        assert_eq!(oldest([(1, None), (2, None)].into_iter()), None);
        assert_eq!(oldest(std::iter::empty()), None);
    }

    #[test]
    fn at_the_cap_the_connection_quiet_longest_makes_room() {
        let registry = Arc::new(Registry::new(3, 3));
        let t0 = Instant::now();
        let first = registry.admit(false, t0).unwrap();
        let second = registry
            .admit(false, t0 + Duration::from_millis(1))
            .unwrap();
        let third = registry
            .admit(false, t0 + Duration::from_millis(2))
            .unwrap();
        // The first serves a request: the second, quiet longest, goes.
        first.conn().request_started();
        let fourth = registry
            .admit(false, t0 + Duration::from_millis(3))
            .unwrap();
        assert_eq!(registry.len(), 3);
        assert!(!evicted(&first));
        assert!(evicted(&second));
        assert!(!evicted(&third) && !evicted(&fourth));
        // The evicted one's drop leaves the count alone; another's frees its slot.
        drop(second);
        assert_eq!(registry.len(), 3);
        drop(third);
        assert_eq!(registry.len(), 2);
    }

    #[test]
    fn when_every_slot_serves_a_request_the_newcomer_is_refused() {
        let registry = Arc::new(Registry::new(2, 2));
        let t0 = Instant::now();
        let a = registry.admit(false, t0).unwrap();
        let b = registry.admit(false, t0).unwrap();
        a.conn().request_started();
        b.conn().request_started();
        assert!(registry.admit(false, t0).is_none());
        assert!(!evicted(&a) && !evicted(&b));
        // Once its answer is written, that connection may make room again.
        a.conn().answer_started();
        a.conn().answer_dropped();
        a.conn().flushed();
        assert!(registry.admit(false, t0).is_some());
        assert!(evicted(&a));
    }

    #[test]
    fn at_the_handshake_cap_the_oldest_handshake_yields() {
        let registry = Arc::new(Registry::new(10, 2));
        let t0 = Instant::now();
        let plain = registry.admit(false, t0).unwrap();
        let old = registry.admit(true, t0 + Duration::from_millis(1)).unwrap();
        let done = registry.admit(true, t0 + Duration::from_millis(2)).unwrap();
        done.conn().handshake_done();
        let young = registry.admit(true, t0 + Duration::from_millis(3)).unwrap();
        // Two handshakes in progress (old, young): the next evicts `old`, never the
        // plain connection or the finished handshake, although they are older.
        let newest = registry.admit(true, t0 + Duration::from_millis(4)).unwrap();
        assert!(evicted(&old));
        assert!(!evicted(&plain) && !evicted(&done) && !evicted(&young) && !evicted(&newest));
        assert_eq!(registry.len(), 4);
    }
}

//! The supervision tree and who owns what.
//!
//! ```text
//! Supervisor ─┬─ Router                      owns the SubscriptionIndex
//!             └─ EndpointActor × (endpoints with work)
//!                                            owns one endpoint's PendingQueue,
//!                                            in-flight set, rate limiter, Breaker
//! ```
//!
//! - `publish` goes to the Router, which matches the event, stores it with its
//!   deliveries in one durable write (in a task of its own, so writes from many
//!   publishers share group commits), answers the caller, and hands the deliveries to
//!   the Supervisor, which forwards them to the endpoint's actor (spawning it first
//!   when it is not running).
//! - An EndpointActor sends attempts as spawned tasks (`attempt.rs`) whose results
//!   come back as messages, records them through storage in tasks too, and never
//!   awaits I/O in its handlers. When it has nothing left it tells the Supervisor,
//!   which stops it only if no message is on its way to it.
//! - Storage is the truth: a restarted actor reloads its pending work, and a periodic
//!   sweep restarts actors for endpoints whose pending work no actor holds.

pub(crate) mod attempt;
pub(crate) mod endpoint;
pub(crate) mod router;
pub(crate) mod supervisor;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ractor::ActorRef;

use crate::breaker::{BreakerState, BreakerStatus};
use crate::config::EngineConfig;
use crate::event_cache::{EventCache, EVENT_CACHE_BYTES};
use crate::ids::EndpointId;
use crate::notify::Notifier;
use crate::storage::Storage;
use crate::time::{Clock, Timestamp};
use crate::transport::Transport;

use router::RouterMsg;

/// What every actor and task of one engine shares. Owned by the `Engine` and cloned
/// (as an `Arc`) into each actor; lives until the last of them stops.
pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) config: EngineConfig,
    pub(crate) clock: Clock,
    pub(crate) notifier: Notifier,
    /// The running Router (replaced when the Supervisor restarts it).
    pub(crate) router: RwLock<Option<ActorRef<RouterMsg>>>,
    /// Set by `shutdown`: no new publishes, no new attempts.
    pub(crate) closing: AtomicBool,
    /// Attempts sent or being recorded; shutdown waits for zero.
    pub(crate) busy: AtomicUsize,
    /// Last time (clock ms) the Supervisor handled its periodic tick: readiness.
    pub(crate) heartbeat: AtomicU64,
    /// Breakers that are not closed, as their actors last published them.
    breakers: Mutex<HashMap<EndpointId, BreakerState>>,
    /// Events attempts read back from storage, for the same event's other deliveries.
    pub(crate) events: EventCache,
}

impl Shared {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        transport: Arc<dyn Transport>,
        config: EngineConfig,
    ) -> Self {
        let clock = Clock::new();
        Self {
            storage,
            transport,
            config,
            heartbeat: AtomicU64::new(clock.now().0),
            clock,
            notifier: Notifier::new(1024),
            router: RwLock::new(None),
            closing: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            breakers: Mutex::new(HashMap::new()),
            events: EventCache::new(EVENT_CACHE_BYTES),
        }
    }

    pub(crate) fn router(&self) -> Option<ActorRef<RouterMsg>> {
        self.router
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn set_router(&self, router: Option<ActorRef<RouterMsg>>) {
        *self
            .router
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = router;
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    pub(crate) fn busy_add(&self) {
        self.busy.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn busy_done(&self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    /// Publishes an endpoint's breaker state (closed ones are forgotten).
    pub(crate) fn publish_breaker(&self, id: &EndpointId, state: Option<BreakerState>) {
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match state {
            Some(BreakerState::Closed { .. }) | None => {
                breakers.remove(id);
            }
            Some(state) => {
                breakers.insert(id.clone(), state);
            }
        }
        let now = self.clock.now();
        let open = breakers
            .values()
            .filter(|s| matches!(s, BreakerState::Open { until, .. } if *until > now))
            .count();
        crate::metrics::breakers_open(open);
    }

    /// The breaker status of an endpoint as the API shows it.
    pub(crate) fn breaker_status(&self, id: &EndpointId) -> BreakerStatus {
        let breakers = self
            .breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = self.clock.now();
        match breakers.get(id) {
            Some(BreakerState::Open { until, .. }) if *until > now => BreakerStatus::Open,
            Some(BreakerState::Open { .. }) | Some(BreakerState::HalfOpen { .. }) => {
                BreakerStatus::HalfOpen
            }
            Some(BreakerState::Closed { .. }) | None => BreakerStatus::Closed,
        }
    }

    pub(crate) fn beat(&self, now: Timestamp) {
        self.heartbeat.store(now.0, Ordering::SeqCst);
    }
}

//! The supervision tree and who owns what.
//!
//! ```text
//! Supervisor ─┬─ Router                      owns the SubscriptionIndex
//!             └─ EndpointActor × (endpoints with work)
//!                                            owns one endpoint's PendingQueue,
//!                                            in-flight set, rate limiter, Breaker
//! ```
//!
//! - `publish` goes to the Router, which matches the event, gives its deliveries ids
//!   in publish order (`publishes`), stores it with them in one durable write (in a
//!   task of its own, so writes from many publishers share group commits), hands
//!   each delivery straight to its endpoint's running actor (`directory`), or to the
//!   Supervisor to start one, and answers the caller.
//! - An EndpointActor sends attempts as spawned tasks (`attempt`) whose results come
//!   back as messages, and stores their outcomes a batch at a time (`records`). It
//!   awaits storage (its loads), never a receiver. When it has had nothing to do for
//!   a while it leaves the directory, unless a message is on its way to it.
//! - Storage is the truth: a restarted actor reloads its pending work once the
//!   attempts its predecessor left are recorded (`ledger`), and a periodic sweep
//!   starts actors for endpoints whose pending work no actor holds.
//! - The engine watches the Supervisor: a Supervisor that dies is started again; one
//!   that keeps dying marks the engine failed (not ready).

pub(crate) mod attempt;
pub(crate) mod changes;
pub(crate) mod directory;
pub(crate) mod endpoint;
pub(crate) mod ledger;
pub(crate) mod publishes;
pub(crate) mod records;
pub(crate) mod router;
pub(crate) mod settings;
pub(crate) mod supervisor;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ractor::ActorRef;

use crate::breaker::{BreakerState, BreakerStatus};
use crate::config::EngineConfig;
use crate::event_cache::{EventCache, EVENT_CACHE_BYTES};
use crate::ids::{DeliveryId, EndpointId};
use crate::notify::Notifier;
use crate::storage::Storage;
use crate::time::{Clock, Timestamp};
use crate::transport::Transport;

use directory::Directory;
use endpoint::EndpointMsg;
use ledger::Ledger;
use publishes::Publishes;
use router::RouterMsg;
use supervisor::SupervisorMsg;

/// What every actor and task of one engine shares. Owned by the `Engine` and cloned
/// (as an `Arc`) into each actor; lives until the last of them stops.
pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) transport: Arc<dyn Transport>,
    /// Which endpoints this engine owns, and the other engines on its storage.
    pub(crate) membership: Arc<dyn crate::cluster::Membership>,
    pub(crate) config: EngineConfig,
    pub(crate) clock: Clock,
    pub(crate) notifier: Notifier,
    /// The running Router (replaced when the Supervisor restarts it).
    pub(crate) router: RwLock<Option<ActorRef<RouterMsg>>>,
    /// The running Supervisor (replaced when the engine restarts it).
    pub(crate) supervisor: RwLock<Option<ActorRef<SupervisorMsg>>>,
    /// Every delivery profile: built in and configured.
    pub(crate) profiles: crate::profile::Profiles,
    /// Delivery ids and the publishes still being stored.
    pub(crate) publishes: Arc<Publishes>,
    /// Stored events handed to the open streams, in publish order.
    pub(crate) feed: Arc<crate::feed::Feed>,
    /// The running endpoint actors.
    pub(crate) directory: Directory,
    /// Attempt work per endpoint, outliving the actors that started it.
    pub(crate) ledger: Arc<Ledger>,
    /// Set by `shutdown`: no new publishes, no new attempts.
    pub(crate) closing: AtomicBool,
    /// Set when the Supervisor kept dying and was not started again.
    pub(crate) failed: AtomicBool,
    /// Publishes between validation and durable write; bounds their memory.
    pub(crate) publish_slots: Arc<tokio::sync::Semaphore>,
    /// Tenants' settings, quotas and catalogs as applied.
    pub(crate) tenants: crate::tenants::Tenants,
    /// Last time (clock ms) the Supervisor handled its periodic tick: readiness.
    pub(crate) heartbeat: AtomicU64,
    /// Breakers that are not closed, as their actors last published them.
    breakers: Mutex<HashMap<EndpointId, BreakerState>>,
    /// Events attempts read back from storage, for the same event's other deliveries.
    pub(crate) events: EventCache,
    /// API keys found by their token's hash.
    pub(crate) keys: crate::keys::KeyCache,
    /// What all endpoint actors' queues hold, against `EngineConfig::queue_memory`.
    pub(crate) queue_memory: Arc<crate::memory_budget::MemoryBudget>,
    /// Attempts in flight, against `EngineConfig::max_attempts_in_flight`.
    pub(crate) attempt_slots: Arc<crate::fair_share::FairShare>,
    /// With storage shared: the endpoint changes applied to the Router's index.
    pub(crate) changes: changes::ChangeFeed,
}

impl Shared {
    /// The shared part of an engine whose storage's largest delivery id is
    /// `last_delivery` (new ids are made above it).
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        transport: Arc<dyn Transport>,
        membership: Arc<dyn crate::cluster::Membership>,
        config: EngineConfig,
        profiles: crate::profile::Profiles,
        tenants: crate::tenants::Tenants,
        last_delivery: Option<DeliveryId>,
    ) -> Self {
        let clock = Clock::new();
        let slots = config.max_publishes_in_flight.max(1);
        let queue_memory = Arc::new(crate::memory_budget::MemoryBudget::new(config.queue_memory));
        let config_attempts = config.max_attempts_in_flight;
        let stream_buffer = config.stream_buffer;
        Self {
            profiles,
            tenants,
            publish_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            storage,
            transport,
            membership,
            config,
            heartbeat: AtomicU64::new(clock.now().0),
            clock,
            notifier: Notifier::new(1024),
            router: RwLock::new(None),
            supervisor: RwLock::new(None),
            publishes: Arc::new(Publishes::new(last_delivery)),
            feed: Arc::new(crate::feed::Feed::new(stream_buffer)),
            directory: Directory::default(),
            ledger: Arc::new(Ledger::default()),
            closing: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            breakers: Mutex::new(HashMap::new()),
            events: EventCache::new(EVENT_CACHE_BYTES),
            keys: crate::keys::KeyCache::default(),
            queue_memory,
            attempt_slots: crate::fair_share::FairShare::new(config_attempts),
            changes: changes::ChangeFeed::default(),
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

    pub(crate) fn supervisor(&self) -> Option<ActorRef<SupervisorMsg>> {
        self.supervisor
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn set_supervisor(&self, supervisor: Option<ActorRef<SupervisorMsg>>) {
        *self
            .supervisor
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = supervisor;
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Hands a validated publish to the Router and waits for it to be stored (or
    /// refused): the path of every event, the tenants' and Herald's own.
    ///
    /// # Errors
    /// `Error::NotRunning` when the engine stops; the Router's refusals; storage's.
    pub(crate) async fn submit(
        &self,
        publish: router::Publish,
    ) -> Result<router::Published, crate::error::Error> {
        use crate::error::Error;
        let permit = self
            .publish_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::NotRunning)?;
        if self.is_clustered() {
            // Every endpoint change committed anywhere applies to this publish.
            self.changes.catch_up(self).await?;
        }
        let router = self.router().ok_or(Error::NotRunning)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = router::PublishRequest { publish, permit };
        router
            .cast(RouterMsg::Publish(request, reply))
            .map_err(|_| Error::NotRunning)?;
        answer.await.map_err(|_| Error::NotRunning)?
    }

    /// Whether other engines write the same storage (`cluster::Membership`).
    pub(crate) fn is_clustered(&self) -> bool {
        self.membership.is_shared()
    }

    /// Tells this engine's actor of the endpoint and the other engines on the
    /// storage (one of which may own it) that `signal` happened. The write it is
    /// about must be committed.
    pub(crate) fn signal(&self, signal: crate::cluster::Signal) {
        use crate::cluster::Signal;
        if self.tell_owned_actor(&signal) && matches!(signal, Signal::Work(_) | Signal::Requeued(_))
        {
            // Only the owner needs these, and it is this engine.
            return;
        }
        self.membership.tell(signal);
    }

    /// Gives the endpoint's actor the message `signal` means for it, when this
    /// engine owns the endpoint; true when it does.
    pub(crate) fn tell_owned_actor(&self, signal: &crate::cluster::Signal) -> bool {
        use crate::cluster::Signal;
        let (id, message) = match signal {
            Signal::Work(id) => (id, EndpointMsg::NewWork),
            Signal::Requeued(id) => (id, EndpointMsg::DeliveriesChanged),
            Signal::EndpointChanged(_, id) => (id, EndpointMsg::EndpointChanged),
            Signal::KeyRevoked(_) | Signal::TenantChanged(_) => return false,
        };
        let owned = self.membership.owns(id);
        if owned {
            self.deliver(id, message);
        }
        owned
    }

    /// Gives `message` to the endpoint's running actor, or to the Supervisor to start
    /// one. Lost only when neither runs (shutdown): storage holds the work.
    pub(crate) fn deliver(&self, endpoint_id: &EndpointId, message: EndpointMsg) {
        if matches!(message, EndpointMsg::NewWork) && self.directory.wake(endpoint_id) {
            return;
        }
        if let Err(message) = self.directory.send(endpoint_id, message) {
            if let Some(supervisor) = self.supervisor() {
                let delivery = Box::new((endpoint_id.clone(), message));
                let _ = supervisor.cast(SupervisorMsg::Deliver(delivery));
            }
        }
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

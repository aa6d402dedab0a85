//! Supervisor: spawns endpoint actors on demand, forwards their messages, stops them
//! when idle, restarts a failed one (which reloads its pending work from storage),
//! restarts the Router, and sweeps storage for pending work no actor holds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::actors::endpoint::{EndpointActor, EndpointArgs, EndpointMsg};
use crate::actors::router::Router;
use crate::actors::Shared;
use crate::ids::EndpointId;
use crate::model::Delivery;
use crate::request::PreparedEvent;

/// Restarts of one endpoint's actor allowed within `RESTART_WINDOW` before further
/// restarts wait `RESTART_DELAY` (a crash loop must not spin).
const RESTART_BUDGET: u32 = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
const RESTART_DELAY: Duration = Duration::from_secs(5);

/// Messages of the Supervisor.
pub(crate) enum SupervisorMsg {
    /// From the Router: an event's stored deliveries (one per endpoint), each for its
    /// endpoint's actor.
    Deliver(Vec<Delivery>, Option<Arc<PreparedEvent>>),
    /// From the engine: an endpoint or its deliveries changed in storage.
    Changed {
        endpoint_id: EndpointId,
        reset_breaker: bool,
    },
    /// From an endpoint actor: it has nothing to do, having handled `seen` messages.
    Idle { endpoint_id: EndpointId, seen: u64 },
    /// From its own interval: heartbeat, and sweep storage for orphaned work.
    Tick,
    /// From a sweep task: endpoints that have pending deliveries.
    Ensure(Vec<EndpointId>),
    /// From its own timer: restart an actor after a crash loop's delay.
    Respawn(EndpointId),
    /// From the engine (tests, benches): how many endpoint actors run.
    RunningCount(oneshot::Sender<usize>),
    /// Test hook: make an endpoint's actor fail.
    #[doc(hidden)]
    Crash(EndpointId),
}

/// The actor.
pub(crate) struct Supervisor {
    pub(crate) shared: Arc<Shared>,
}

/// A running endpoint actor.
struct Running {
    actor: ActorRef<EndpointMsg>,
    /// Messages forwarded to it; it is stopped for idleness only when it has seen all.
    sent: u64,
}

/// The Supervisor's state.
pub(crate) struct SupervisorState {
    running: HashMap<EndpointId, Running>,
    /// Which endpoint each running actor serves (no parsing of actor names).
    by_actor: HashMap<ActorId, EndpointId>,
    router: Option<ActorId>,
    /// Recent failures per endpoint: (count, window start).
    failures: HashMap<EndpointId, (u32, tokio::time::Instant)>,
    tick: Option<JoinHandle<()>>,
    sweeping: bool,
}

impl Supervisor {
    async fn spawn_router(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state_router: &mut Option<ActorId>,
    ) -> Result<(), ActorProcessingErr> {
        let router = Router {
            shared: self.shared.clone(),
            supervisor: myself.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, router, (), myself.get_cell()).await?;
        *state_router = Some(actor.get_id());
        self.shared.set_router(Some(actor));
        Ok(())
    }

    async fn spawn_endpoint(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        endpoint_id: &EndpointId,
    ) -> Option<ActorRef<EndpointMsg>> {
        if let Some(running) = state.running.get(endpoint_id) {
            return Some(running.actor.clone());
        }
        if self.shared.is_closing() {
            return None;
        }
        let actor = EndpointActor {
            shared: self.shared.clone(),
            supervisor: myself.clone(),
        };
        let args = EndpointArgs {
            endpoint_id: endpoint_id.clone(),
        };
        match Actor::spawn_linked(None, actor, args, myself.get_cell()).await {
            Ok((actor, _)) => {
                state.by_actor.insert(actor.get_id(), endpoint_id.clone());
                state.running.insert(
                    endpoint_id.clone(),
                    Running {
                        actor: actor.clone(),
                        sent: 0,
                    },
                );
                Some(actor)
            }
            Err(error) => {
                tracing::error!(%error, %endpoint_id, "spawning an endpoint actor failed");
                None
            }
        }
    }

    /// Sends a message to the endpoint's actor, spawning it when it is not running.
    async fn forward(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        endpoint_id: &EndpointId,
        message: EndpointMsg,
    ) {
        let Some(actor) = self.spawn_endpoint(myself, state, endpoint_id).await else {
            return;
        };
        if actor.cast(message).is_ok() {
            if let Some(running) = state.running.get_mut(endpoint_id) {
                running.sent += 1;
            }
        }
        // A failed cast means the actor just died; its supervision event restarts it
        // and the restarted actor reloads this work from storage.
    }

    fn forget(&self, state: &mut SupervisorState, actor_id: ActorId) -> Option<EndpointId> {
        let endpoint_id = state.by_actor.remove(&actor_id)?;
        if state
            .running
            .get(&endpoint_id)
            .is_some_and(|r| r.actor.get_id() == actor_id)
        {
            state.running.remove(&endpoint_id);
        }
        Some(endpoint_id)
    }

    fn sweep(&self, myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        if state.sweeping || self.shared.is_closing() {
            return;
        }
        state.sweeping = true;
        let shared = self.shared.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            let ids = match shared.storage.endpoints_with_pending().await {
                Ok(ids) => ids,
                Err(error) => {
                    tracing::error!(%error, "sweeping for pending work failed");
                    Vec::new()
                }
            };
            let _ = me.cast(SupervisorMsg::Ensure(ids));
        });
    }

    /// Restarts a failed endpoint actor at once, or after a delay in a crash loop.
    async fn restart(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        endpoint_id: EndpointId,
    ) {
        let now = tokio::time::Instant::now();
        let entry = state
            .failures
            .entry(endpoint_id.clone())
            .or_insert((0, now));
        if now.duration_since(entry.1) > RESTART_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
        if entry.0 <= RESTART_BUDGET {
            self.spawn_endpoint(myself, state, &endpoint_id).await;
        } else {
            tracing::error!(%endpoint_id, "endpoint actor keeps failing; restarting after a delay");
            let me = myself.clone();
            tokio::spawn(async move {
                tokio::time::sleep(RESTART_DELAY).await;
                let _ = me.cast(SupervisorMsg::Respawn(endpoint_id));
            });
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = ();

    /// Starts the Router (which loads the subscription index) before anything else.
    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut router = None;
        self.spawn_router(&myself, &mut router).await?;
        Ok(SupervisorState {
            running: HashMap::new(),
            by_actor: HashMap::new(),
            router,
            failures: HashMap::new(),
            tick: None,
            sweeping: false,
        })
    }

    /// Sweeps at once (resuming pending work after a restart), then periodically.
    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.sweep(&myself, state);
        let interval = self
            .shared
            .config
            .sweep_interval
            .max(Duration::from_millis(10));
        let me = myself.clone();
        state.tick = Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if me.cast(SupervisorMsg::Tick).is_err() {
                    break;
                }
            }
        }));
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Deliver(deliveries, event) => {
                for delivery in deliveries {
                    let endpoint_id = delivery.endpoint_id.clone();
                    let message = EndpointMsg::Enqueue(delivery, event.clone());
                    self.forward(&myself, state, &endpoint_id, message).await;
                }
            }
            SupervisorMsg::Changed {
                endpoint_id,
                reset_breaker,
            } => {
                let message = EndpointMsg::Reload { reset_breaker };
                self.forward(&myself, state, &endpoint_id, message).await;
            }
            SupervisorMsg::Idle { endpoint_id, seen } => {
                let idle = state
                    .running
                    .get(&endpoint_id)
                    .is_some_and(|r| r.sent == seen);
                if idle {
                    if let Some(running) = state.running.remove(&endpoint_id) {
                        state.by_actor.remove(&running.actor.get_id());
                        running.actor.stop(Some("idle".into()));
                    }
                }
            }
            SupervisorMsg::Tick => {
                self.shared.beat(self.shared.clock.now());
                self.sweep(&myself, state);
            }
            SupervisorMsg::Ensure(ids) => {
                state.sweeping = false;
                self.shared.beat(self.shared.clock.now());
                for endpoint_id in ids {
                    if !state.running.contains_key(&endpoint_id) {
                        self.spawn_endpoint(&myself, state, &endpoint_id).await;
                    }
                }
            }
            SupervisorMsg::Respawn(endpoint_id) => {
                self.spawn_endpoint(&myself, state, &endpoint_id).await;
            }
            SupervisorMsg::RunningCount(reply) => {
                let _ = reply.send(state.running.len());
            }
            SupervisorMsg::Crash(endpoint_id) => {
                if let Some(running) = state.running.get(&endpoint_id) {
                    let _ = running.actor.cast(EndpointMsg::Crash);
                }
            }
        }
        Ok(())
    }

    /// Overrides ractor's default (which stops the supervisor when any child exits):
    /// forget stopped children, restart failed ones.
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (actor_id, failed) = match &event {
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell.get_id(), None),
            SupervisionEvent::ActorFailed(cell, error) => (cell.get_id(), Some(error.to_string())),
            _ => return Ok(()),
        };
        if state.router == Some(actor_id) {
            state.router = None;
            self.shared.set_router(None);
            if !self.shared.is_closing() {
                tracing::error!(error = ?failed, "router stopped; restarting it");
                self.spawn_router(&myself, &mut state.router).await?;
            }
            return Ok(());
        }
        let Some(endpoint_id) = self.forget(state, actor_id) else {
            return Ok(());
        };
        if let Some(error) = failed {
            tracing::error!(%endpoint_id, %error, "endpoint actor failed; restarting it from storage");
            if !self.shared.is_closing() {
                self.restart(&myself, state, endpoint_id).await;
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(tick) = state.tick.take() {
            tick.abort();
        }
        self.shared.set_router(None);
        Ok(())
    }
}

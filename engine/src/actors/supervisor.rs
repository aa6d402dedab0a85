//! Supervisor: starts endpoint actors on demand, restarts a failed one once the
//! attempts it left are recorded (see `ledger`), restarts the Router, and sweeps
//! storage for pending work no actor holds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::task::JoinHandle;

use crate::actors::endpoint::{EndpointActor, EndpointArgs, EndpointMsg};
use crate::actors::router::Router;
use crate::actors::Shared;
use crate::ids::EndpointId;

/// Restarts of one endpoint's actor allowed within `RESTART_WINDOW` before further
/// restarts wait `RESTART_DELAY` (a crash loop must not spin).
const RESTART_BUDGET: u32 = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
const RESTART_DELAY: Duration = Duration::from_secs(5);

/// Messages of the Supervisor.
pub(crate) enum SupervisorMsg {
    /// From a sender that found no running actor for the endpoint in the directory:
    /// start one, then deliver the message (boxed: rare, and large).
    Deliver(Box<(EndpointId, EndpointMsg)>),
    /// From a task it spawned: the endpoint's earlier attempts are all recorded (and
    /// any restart delay is over): start its actor.
    Quiet(EndpointId),
    /// From its own interval: heartbeat, and sweep storage for orphaned work.
    Tick,
    /// From a sweep task: endpoints that have pending deliveries.
    Ensure(Vec<EndpointId>),
    /// From the engine's cluster task: which endpoints this engine owns changed. Let
    /// go of those it no longer owns (answering once their attempts are recorded),
    /// and sweep for work in those it gained.
    Reown(Option<tokio::sync::oneshot::Sender<()>>),
    /// Test hook: make the Supervisor itself fail.
    #[cfg(feature = "testing")]
    Crash,
}

/// The actor.
pub(crate) struct Supervisor {
    pub(crate) shared: Arc<Shared>,
}

/// The Supervisor's state.
pub(crate) struct SupervisorState {
    /// Which endpoint each running actor serves (no parsing of actor names).
    by_actor: HashMap<ActorId, EndpointId>,
    router: Option<ActorId>,
    /// Recent failures per endpoint: (count, window start).
    failures: HashMap<EndpointId, (u32, tokio::time::Instant)>,
    /// Endpoints whose actor waits for its predecessor's attempts (and any delay).
    restarting: HashSet<EndpointId>,
    tick: Option<JoinHandle<()>>,
    sweeping: bool,
    /// Sweep again when the running sweep ends (ownership changed during it).
    sweep_again: bool,
}

/// How long letting go of endpoints may take before it is answered anyway (an
/// attempt's timeout is bounded well below it).
const LET_GO_LIMIT: Duration = Duration::from_secs(120);

impl Supervisor {
    async fn spawn_router(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state_router: &mut Option<ActorId>,
    ) -> Result<(), ActorProcessingErr> {
        let router = Router {
            shared: self.shared.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, router, (), myself.get_cell()).await?;
        *state_router = Some(actor.get_id());
        self.shared.set_router(Some(actor));
        Ok(())
    }

    /// Starts the endpoint's actor unless it runs, or waits for its predecessor's
    /// attempts (then `Quiet` starts it).
    async fn start_endpoint(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        endpoint_id: &EndpointId,
    ) {
        let shared = &self.shared;
        if shared.is_closing()
            || state.restarting.contains(endpoint_id)
            || shared.directory.get(endpoint_id).is_some()
            || !shared.membership.owns(endpoint_id)
        {
            return;
        }
        if shared.ledger.busy(endpoint_id) {
            self.start_when_quiet(myself, state, endpoint_id.clone(), Duration::ZERO);
            return;
        }
        let actor = EndpointActor {
            shared: shared.clone(),
        };
        let args = EndpointArgs {
            endpoint_id: endpoint_id.clone(),
        };
        match Actor::spawn_linked(None, actor, args, myself.get_cell()).await {
            Ok((actor, _)) => {
                state.by_actor.insert(actor.get_id(), endpoint_id.clone());
                shared.directory.insert(endpoint_id.clone(), actor);
            }
            Err(error) => {
                tracing::error!(%error, %endpoint_id, "starting an endpoint actor failed");
            }
        }
    }

    /// Starts the endpoint's actor after `delay`, once no attempt of an earlier actor
    /// of it is unrecorded. Messages for it meanwhile are dropped: storage holds the
    /// work, and the new actor reads the endpoint and its pending work afresh.
    fn start_when_quiet(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        endpoint_id: EndpointId,
        delay: Duration,
    ) {
        if !state.restarting.insert(endpoint_id.clone()) {
            return;
        }
        let shared = self.shared.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            shared.ledger.until_quiet(&endpoint_id).await;
            let _ = me.cast(SupervisorMsg::Quiet(endpoint_id));
        });
    }

    fn sweep(&self, myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        if self.shared.is_closing() {
            return;
        }
        if state.sweeping {
            state.sweep_again = true;
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

    /// Tells the actors of endpoints this engine no longer owns to yield, answers
    /// `done` once they stopped and their attempts are recorded, and sweeps for work
    /// in what it gained.
    fn reown(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        done: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let shared = &self.shared;
        let letting_go: Vec<EndpointId> = state
            .by_actor
            .values()
            .filter(|id| !shared.membership.owns(id))
            .cloned()
            .collect();
        for endpoint_id in &letting_go {
            let _ = shared.directory.send(endpoint_id, EndpointMsg::Yield);
        }
        if !letting_go.is_empty() {
            tracing::info!(
                endpoints = letting_go.len(),
                "letting endpoints go to other nodes"
            );
        }
        self.sweep(myself, state);
        let Some(done) = done else {
            return;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let quiet = async {
                for endpoint_id in &letting_go {
                    while shared.directory.get(endpoint_id).is_some() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    shared.ledger.until_quiet(endpoint_id).await;
                }
            };
            if tokio::time::timeout(LET_GO_LIMIT, quiet).await.is_err() {
                tracing::warn!(
                    "endpoints being let go did not stop in time; handing them over anyway"
                );
            }
            let _ = done.send(());
        });
    }

    /// Restarts a failed endpoint actor once its attempts are recorded, after a delay
    /// in a crash loop.
    fn restart(
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
        let delay = if entry.0 <= RESTART_BUDGET {
            Duration::ZERO
        } else {
            tracing::error!(%endpoint_id, "endpoint actor keeps failing; restarting after a delay");
            RESTART_DELAY
        };
        self.start_when_quiet(myself, state, endpoint_id, delay);
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = ();

    /// Forgets the actors of any earlier Supervisor (they died with it), then starts
    /// the Router (which loads the subscription index) before anything else.
    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        self.shared.directory.clear();
        let mut router = None;
        self.spawn_router(&myself, &mut router).await?;
        Ok(SupervisorState {
            by_actor: HashMap::new(),
            router,
            failures: HashMap::new(),
            restarting: HashSet::new(),
            tick: None,
            sweeping: false,
            sweep_again: false,
        })
    }

    /// Sweeps at once (resuming pending work after a restart), then periodically.
    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.shared.beat(self.shared.clock.now());
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
            SupervisorMsg::Deliver(delivery) => {
                let (endpoint_id, message) = *delivery;
                self.start_endpoint(&myself, state, &endpoint_id).await;
                // No actor (closing, or restarting): storage holds the work.
                let _ = self.shared.directory.send(&endpoint_id, message);
            }
            SupervisorMsg::Quiet(endpoint_id) => {
                state.restarting.remove(&endpoint_id);
                self.start_endpoint(&myself, state, &endpoint_id).await;
            }
            SupervisorMsg::Tick => {
                self.shared.beat(self.shared.clock.now());
                self.sweep(&myself, state);
            }
            SupervisorMsg::Ensure(ids) => {
                state.sweeping = false;
                self.shared.beat(self.shared.clock.now());
                let clustered = self.shared.is_clustered();
                for endpoint_id in ids {
                    // With storage shared a signal can be lost (a dropped connection):
                    // a running actor looks for new work at every sweep.
                    if clustered && self.shared.membership.owns(&endpoint_id) {
                        self.shared.directory.wake(&endpoint_id);
                    }
                    self.start_endpoint(&myself, state, &endpoint_id).await;
                }
                if std::mem::take(&mut state.sweep_again) {
                    self.sweep(&myself, state);
                }
            }
            SupervisorMsg::Reown(done) => self.reown(&myself, state, done),
            #[cfg(feature = "testing")]
            SupervisorMsg::Crash => return Err("crash requested for the supervisor".into()),
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
        let Some(endpoint_id) = state.by_actor.remove(&actor_id) else {
            return Ok(());
        };
        self.shared.directory.remove(&endpoint_id, actor_id);
        if let Some(error) = failed {
            tracing::error!(%endpoint_id, %error, "endpoint actor failed; restarting it from storage");
            if !self.shared.is_closing() {
                self.restart(&myself, state, endpoint_id);
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

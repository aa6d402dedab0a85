//! EndpointActor: owns one endpoint's pending deliveries and sends them as its policy
//! allows (queue order, `max_in_flight`, rate limit, breaker), retries them on
//! schedule, and retires the endpoint when it must be disabled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::actors::attempt::{self, AttemptJob, AttemptReport};
use crate::actors::supervisor::SupervisorMsg;
use crate::actors::Shared;
use crate::breaker::{Breaker, BreakerConfig, BreakerState, Permit};
use crate::config::EffectivePolicy;
use crate::disable::{self, DisableRule};
use crate::found_early::FoundEarly;
use crate::ids::{AttemptId, DeliveryId, EndpointId};
use crate::metrics;
use crate::model::{
    Attempt, DeadReason, Delivery, DeliveryStatus, DisabledReason, Endpoint, EndpointHealth,
};
use crate::notify::{self, DeliveryDead, EndpointDisabled, OperationalEvent};
use crate::outcome::{classify, Verdict};
use crate::queue::{Next, PendingQueue};
use crate::rate::RateLimit;
use crate::request::PreparedEvent;
use crate::retry::RetrySchedule;
use crate::time::Timestamp;

/// Most body bytes an actor keeps in memory for deliveries not yet attempted (their
/// events came with the hand-off); past it, attempts read their event from storage.
/// Bounds memory when receivers are down, whatever the payload size.
const MAX_HELD_BYTES: usize = 16 * 1024 * 1024;

/// Pending deliveries read at start before the first attempt goes out; the rest of
/// the queue fills in the background, so a restart with a large backlog resumes at once.
const FIRST_PAGE: usize = 1000;

/// How long an actor with nothing to do lingers before asking to stop: spares the
/// spawn cost for endpoints that get an event every little while, and lets a rate
/// limit's bucket (one second's worth) refill before it is forgotten.
const IDLE_LINGER: Duration = Duration::from_secs(2);

/// Messages of an EndpointActor.
pub(crate) enum EndpointMsg {
    /// From the Supervisor: a delivery already stored durably, with its event.
    Enqueue(Delivery, Option<Arc<PreparedEvent>>),
    /// From the Supervisor: the endpoint or its deliveries changed in storage (update,
    /// disable, enable, delete, replay, retry): reload. `reset_breaker` on re-enable.
    Reload { reset_breaker: bool },
    /// From an attempt task it spawned: the outcome, to decide on and record.
    AttemptFinished(AttemptReport),
    /// From a record task: the attempt and the delivery's new state are stored.
    Recorded {
        delivery: Delivery,
        dead: Option<DeliveryDead>,
    },
    /// From its own load task: pending deliveries read from storage.
    Loaded {
        deliveries: Vec<Delivery>,
        complete: bool,
    },
    /// From its own timer: something is due or the breaker's cooldown ended.
    Wake,
    /// From its retire task: pending work is dead-lettered; stop.
    Retired,
    /// Test hook: fail while handling a message, as a bug would.
    #[doc(hidden)]
    Crash,
}

/// The actor; its dependencies live in `Shared`.
pub(crate) struct EndpointActor {
    pub(crate) shared: Arc<Shared>,
    pub(crate) supervisor: ActorRef<SupervisorMsg>,
}

/// Start-up arguments.
pub(crate) struct EndpointArgs {
    pub(crate) endpoint_id: EndpointId,
}

/// What the endpoint is doing with its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Loading its endpoint and pending deliveries.
    Starting,
    /// Delivering.
    Running,
    /// Disabled or deleted: sends nothing more, waits for in-flight attempts, then
    /// dead-letters what is left (`write` says whether to store the endpoint as
    /// disabled and announce it) and stops.
    Retiring {
        reason: Option<DisabledReason>,
        announce: bool,
    },
    /// Retire task running.
    Retired,
}

/// An actor's state.
pub(crate) struct EndpointState {
    endpoint_id: EndpointId,
    /// The endpoint as last read from storage.
    endpoint: Option<Arc<Endpoint>>,
    /// Its URL as a request target.
    uri: Option<http::Uri>,
    /// Its settings with defaults applied.
    policy: EffectivePolicy,
    schedule: RetrySchedule,
    disable_rule: DisableRule,
    queue: PendingQueue,
    /// Events of deliveries not yet attempted, when they came with the hand-off.
    events: HashMap<DeliveryId, Arc<PreparedEvent>>,
    /// Body bytes counted against `MAX_HELD_BYTES` (shared bodies count per delivery).
    held_bytes: usize,
    /// Deliveries that succeeded and left the queue while their record is being
    /// stored: a storage read still sees them pending, so they must not be queued again.
    recording: HashSet<DeliveryId>,
    /// Deliveries whose record was stored as settled while a load was reading: the
    /// load may have read them still pending, so its result must not queue them again.
    settled_while_loading: HashSet<DeliveryId>,
    /// Fresh deliveries a load queued before their hand-off came: the hand-off,
    /// when it comes, is dropped (the delivery may have settled by then).
    found_early: FoundEarly,
    breaker: Breaker,
    /// The breaker state last shown through `Shared` (shown again only on change).
    published_breaker: Option<BreakerState>,
    health: EndpointHealth,
    rate: Option<RateLimit>,
    /// The pending wake-up timer and when it fires.
    wake: Option<(Timestamp, JoinHandle<()>)>,
    /// Messages from the Supervisor handled (for the idle handshake).
    seen: u64,
    /// Since when it has had nothing to do.
    idle_since: Option<Timestamp>,
    idle_reported: bool,
    loading: bool,
    /// A reload from the first pending delivery was asked for while a load ran.
    reload_queued: bool,
    phase: Phase,
    /// Deliveries counted in the pending gauge.
    gauge: usize,
}

fn breaker_config(shared: &Shared) -> BreakerConfig {
    let d = &shared.config.delivery;
    BreakerConfig {
        threshold: d.breaker_threshold,
        cooldown: d.breaker_cooldown,
        cooldown_max: d.breaker_cooldown_max,
    }
}

/// A breaker that resumes from stored health: a streak past the threshold means it
/// was open. Its cooldown is taken as over, so a new actor (after a restart of the
/// engine or of the actor) sends one probe at once: the endpoint may have recovered
/// meanwhile, and a backlog should not wait out a cooldown that began before the
/// restart. A failed probe opens it again with the next, longer cooldown.
fn breaker_from_health(config: BreakerConfig, health: &EndpointHealth, now: Timestamp) -> Breaker {
    let mut breaker = Breaker::new(config);
    if health.consecutive_failures >= config.threshold.max(1) {
        let opened = now.minus(config.cooldown);
        for _ in 0..config.threshold.max(1) {
            breaker.on_failure(opened);
        }
    }
    breaker
}

fn uri_of(url: &str) -> Option<http::Uri> {
    let parsed = url::Url::parse(url).ok()?;
    http::Uri::try_from(parsed.as_str()).ok()
}

fn jitter_sample() -> f64 {
    rand::random::<f64>() * 2.0 - 1.0
}

impl EndpointState {
    fn new(shared: &Shared, endpoint_id: EndpointId) -> Self {
        let defaults = &shared.config.delivery;
        let policy = EffectivePolicy {
            ordering: Default::default(),
            max_in_flight: defaults.max_in_flight,
            rate_limit: None,
            timeout: defaults.timeout,
            retry_schedule: defaults.retry_schedule.clone(),
        };
        Self {
            endpoint_id,
            endpoint: None,
            uri: None,
            schedule: RetrySchedule::new(policy.retry_schedule.clone()).unwrap_or_else(|_| {
                RetrySchedule::new(Vec::new()).expect("empty schedule is valid")
            }),
            policy,
            disable_rule: DisableRule {
                after: defaults.disable_after,
                after_failures: defaults.disable_after_failures,
            },
            queue: PendingQueue::new(Default::default(), shared.config.queue_capacity),
            events: HashMap::new(),
            held_bytes: 0,
            recording: HashSet::new(),
            settled_while_loading: HashSet::new(),
            found_early: FoundEarly::default(),
            breaker: Breaker::new(breaker_config(shared)),
            published_breaker: None,
            health: EndpointHealth::default(),
            rate: None,
            wake: None,
            seen: 0,
            idle_since: None,
            idle_reported: false,
            loading: false,
            reload_queued: false,
            phase: Phase::Starting,
            gauge: 0,
        }
    }

    /// Adopts the endpoint as stored: policy, schedule, rate limit; retires when it is
    /// gone or disabled.
    fn adopt(&mut self, shared: &Shared, endpoint: Option<Endpoint>) {
        let Some(endpoint) = endpoint else {
            // Deleted: storage already marked its pending deliveries dead.
            self.endpoint = None;
            self.retire(None, false);
            return;
        };
        let policy = EffectivePolicy::resolve(&endpoint, &shared.config.delivery);
        if self.rate.as_ref().map(RateLimit::rate) != policy.rate_limit {
            self.rate = policy.rate_limit.and_then(RateLimit::new);
        }
        self.schedule = RetrySchedule::new(policy.retry_schedule.clone())
            .unwrap_or_else(|_| RetrySchedule::new(Vec::new()).expect("empty schedule is valid"));
        self.queue.set_ordering(policy.ordering);
        self.breaker.set_config(breaker_config(shared));
        self.uri = uri_of(&endpoint.url);
        self.policy = policy;
        let active = endpoint.active;
        self.endpoint = Some(Arc::new(endpoint));
        if !active {
            self.retire(None, false);
        } else if matches!(self.phase, Phase::Starting) {
            self.phase = Phase::Running;
        }
    }

    fn retire(&mut self, reason: Option<DisabledReason>, announce: bool) {
        if matches!(self.phase, Phase::Retiring { .. } | Phase::Retired) {
            return;
        }
        self.phase = Phase::Retiring { reason, announce };
        self.cancel_wake();
    }

    /// Shows the breaker's state to the API and the open-breaker gauge when it changed
    /// (a closed breaker counting failures shows as plain closed).
    fn publish_breaker(&mut self, shared: &Shared) {
        let state = match self.breaker.state() {
            BreakerState::Closed { .. } => BreakerState::Closed { failures: 0 },
            other => other,
        };
        if self.published_breaker != Some(state) {
            self.published_breaker = Some(state);
            shared.publish_breaker(&self.endpoint_id, Some(state));
        }
    }

    fn cancel_wake(&mut self) {
        if let Some((_, handle)) = self.wake.take() {
            handle.abort();
        }
    }

    fn forget_event(&mut self, id: &DeliveryId) {
        if let Some(event) = self.events.remove(id) {
            self.held_bytes = self.held_bytes.saturating_sub(event.body.len());
        }
    }

    /// Queues a pending delivery unless it is here already; true when it was queued.
    fn insert(&mut self, delivery: Delivery, event: Option<Arc<PreparedEvent>>) -> bool {
        if delivery.status != DeliveryStatus::Pending
            || self.queue.contains(&delivery.id)
            || self.recording.contains(&delivery.id)
        {
            return false;
        }
        let id = delivery.id.clone();
        if !self.queue.insert(delivery) {
            return false;
        }
        if let Some(event) = event {
            if self.held_bytes + event.body.len() <= MAX_HELD_BYTES {
                self.held_bytes += event.body.len();
                self.events.insert(id, event);
            }
        }
        true
    }

    /// A delivery handed off by the Supervisor after its publish, unless a load
    /// already queued it.
    fn handed_off(&mut self, delivery: Delivery, event: Option<Arc<PreparedEvent>>) {
        if !self.found_early.take(&delivery.id) {
            self.insert(delivery, event);
        }
    }

    /// Queues pending deliveries read from storage; `complete` when they were all
    /// there was from where the load began.
    fn take_loaded(&mut self, deliveries: Vec<Delivery>, complete: bool, now: Timestamp) {
        let settled = std::mem::take(&mut self.settled_while_loading);
        let last = deliveries.last().map(|d| d.id.clone());
        for delivery in deliveries {
            if settled.contains(&delivery.id) {
                continue;
            }
            let id = delivery.id.clone();
            let (attempts, created_at) = (delivery.attempts, delivery.created_at);
            if self.insert(delivery, None) {
                self.found_early.note(&id, attempts, created_at, now);
            }
        }
        self.queue.loaded(complete, last.as_ref());
    }

    /// A message from the Supervisor: counted for the idle handshake, and not idle.
    fn heard_from_supervisor(&mut self) {
        self.seen += 1;
        self.idle_reported = false;
        self.idle_since = None;
    }

    fn sync_gauge(&mut self) {
        let now = self.queue.len();
        metrics::pending_changed(now as f64 - self.gauge as f64);
        self.gauge = now;
    }

    /// Arms the wake-up timer for `at`, unless an earlier one is armed.
    fn wake_at(&mut self, shared: &Shared, myself: &ActorRef<EndpointMsg>, at: Timestamp) {
        if let Some((armed, _)) = &self.wake {
            if *armed <= at {
                return;
            }
        }
        self.cancel_wake();
        let delay = at.since(shared.clock.now());
        let me = myself.clone();
        let handle = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = me.cast(EndpointMsg::Wake);
        });
        self.wake = Some((at, handle));
    }

    /// Starts every attempt the policy allows now, and arms the timer for the next.
    fn pump(&mut self, shared: &Arc<Shared>, myself: &ActorRef<EndpointMsg>) {
        if self.phase != Phase::Running || shared.is_closing() {
            return;
        }
        let Some(endpoint) = self.endpoint.clone() else {
            return;
        };
        if self.queue.wants_refill() && !self.loading {
            let from = self.queue.start_load();
            self.load(shared, myself, from);
        }
        loop {
            let now = shared.clock.now();
            match self.queue.peek(now, self.policy.max_in_flight) {
                Some(Next::WaitUntil(at)) => {
                    self.wake_at(shared, myself, at);
                    break;
                }
                Some(_) => break,
                None => {}
            }
            if let Some(rate) = &self.rate {
                if let Err(wait) = rate.try_take() {
                    self.wake_at(shared, myself, now.plus(wait.max(Duration::from_millis(1))));
                    break;
                }
            }
            match self.breaker.permit(now) {
                Permit::Denied(Some(until)) => {
                    self.publish_breaker(shared);
                    self.wake_at(shared, myself, until);
                    break;
                }
                Permit::Denied(None) => break,
                Permit::Allowed | Permit::Probe => {}
            }
            let Next::Send(delivery) = self.queue.next(now, self.policy.max_in_flight) else {
                break;
            };
            let event = self.events.get(&delivery.id).cloned();
            let job = AttemptJob {
                delivery,
                endpoint: endpoint.clone(),
                uri: self.uri.clone(),
                timeout: self.policy.timeout,
                event,
            };
            shared.busy_add();
            let task_shared = shared.clone();
            let me = myself.clone();
            tokio::spawn(async move {
                let report = attempt::run(task_shared.clone(), job).await;
                if me.cast(EndpointMsg::AttemptFinished(report)).is_err() {
                    // The actor is gone (killed at shutdown); storage still holds the
                    // delivery as pending, so it is retried after a restart.
                    task_shared.busy_done();
                }
            });
        }
    }

    /// Decides what an attempt's outcome means, then records it in a task.
    fn on_attempt(
        &mut self,
        shared: &Arc<Shared>,
        myself: &ActorRef<EndpointMsg>,
        report: AttemptReport,
    ) {
        let now = shared.clock.now();
        let AttemptReport {
            mut delivery,
            started_at,
            outcome,
            event_missing,
        } = report;
        self.forget_event(&delivery.id);
        delivery.attempts = delivery.attempts.saturating_add(1);
        delivery.last_status = outcome.status;
        delivery.last_error = outcome.error;
        delivery.updated_at = now;
        let verdict = classify(&outcome, now);
        let success = verdict == Verdict::Success;
        metrics::attempt(success, outcome.duration);
        let mut disable_reason = None;
        match verdict {
            Verdict::Success => {
                self.breaker.on_success();
                disable::record_success(&mut self.health, now);
                delivery.status = DeliveryStatus::Succeeded;
                delivery.next_attempt_at = None;
                metrics::delivery_succeeded();
                // A success is final: its slot is free for the next request now, not
                // once the record is durable (which on sled waits for a group commit).
                self.queue.finish(&delivery.id);
                self.recording.insert(delivery.id.clone());
            }
            Verdict::Gone => {
                disable::record_failure(&mut self.health, now, outcome.status, outcome.error);
                delivery.kill(DeadReason::Gone, now);
                disable_reason = Some(DisabledReason::Gone);
            }
            Verdict::Failure { not_before } => {
                disable::record_failure(&mut self.health, now, outcome.status, outcome.error);
                if self.breaker.on_failure(now) {
                    tracing::warn!(endpoint_id = %self.endpoint_id, "breaker opened");
                }
                let next = if event_missing {
                    None
                } else {
                    self.schedule.next_due(
                        delivery.budget_attempts(),
                        now,
                        jitter_sample(),
                        not_before,
                    )
                };
                match next {
                    Some(due) => delivery.next_attempt_at = Some(due),
                    None => delivery.kill(DeadReason::RetriesExhausted, now),
                }
                if self.disable_rule.should_disable(&self.health, now) {
                    disable_reason = Some(DisabledReason::Failing);
                }
            }
        }
        self.publish_breaker(shared);
        let dead = (delivery.status == DeliveryStatus::Dead).then(|| {
            metrics::deliveries_dead(1);
            DeliveryDead {
                tenant: delivery.tenant.clone(),
                endpoint_id: delivery.endpoint_id.clone(),
                delivery_id: delivery.id.clone(),
                event_id: delivery.event_id.clone(),
                event_type: delivery.event_type.to_string(),
                attempts: delivery.attempts,
                reason: delivery
                    .dead_reason
                    .map(DeadReason::as_str)
                    .unwrap_or("retries_exhausted"),
            }
        });
        let record = Attempt {
            id: AttemptId::generate(),
            tenant: delivery.tenant.clone(),
            endpoint_id: delivery.endpoint_id.clone(),
            delivery_id: delivery.id.clone(),
            event_id: delivery.event_id.clone(),
            event_type: delivery.event_type.clone(),
            attempt: delivery.attempts,
            started_at,
            duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
            status: outcome.status,
            error: outcome.error,
            response_body: outcome.body,
        };
        let health = self.health.clone();
        let task_shared = shared.clone();
        let me = myself.clone();
        tokio::spawn(
            async move {
                if let Err(error) = task_shared
                    .storage
                    .record_attempt(&record, &delivery, &health)
                    .await
                {
                    tracing::error!(%error, "recording an attempt failed; the delivery stays pending in storage");
                }
                if me.cast(EndpointMsg::Recorded { delivery, dead }).is_err() {
                    task_shared.busy_done();
                }
            }
            .in_current_span(),
        );
        if let Some(reason) = disable_reason {
            tracing::warn!(endpoint_id = %self.endpoint_id, reason = reason.as_str(), "disabling endpoint");
            self.retire(Some(reason), true);
        }
    }

    fn on_recorded(&mut self, shared: &Shared, delivery: Delivery, dead: Option<DeliveryDead>) {
        shared.busy_done();
        self.recording.remove(&delivery.id);
        let retiring = matches!(self.phase, Phase::Retiring { .. } | Phase::Retired);
        if delivery.status == DeliveryStatus::Pending && !retiring {
            self.queue.requeue(delivery);
        } else {
            if self.loading && delivery.status != DeliveryStatus::Pending {
                self.settled_while_loading.insert(delivery.id.clone());
            }
            self.queue.finish(&delivery.id);
        }
        if let Some(dead) = dead {
            shared.notifier.send(OperationalEvent::DeliveryDead(dead));
        }
    }

    /// Reads every pending delivery from the first, now or once the running load is
    /// in: a replay or a retry stored pending deliveries with old ids, which a
    /// refill (reading past what the queue holds) would not reach.
    fn reload(&mut self, shared: &Arc<Shared>, myself: &ActorRef<EndpointMsg>) {
        if self.loading {
            self.reload_queued = true;
            return;
        }
        self.queue.start_load();
        self.load(shared, myself, None);
    }

    /// Reads pending deliveries from storage in a task: from the first (reload), or
    /// from `from` on (a refill past what the queue holds).
    fn load(
        &mut self,
        shared: &Arc<Shared>,
        myself: &ActorRef<EndpointMsg>,
        from: Option<DeliveryId>,
    ) {
        self.loading = true;
        // A refill needs only what fits; a reload reads past what the queue holds.
        let limit = match from {
            Some(_) => self.queue.room().max(1),
            None => shared.config.queue_capacity,
        };
        let id = self.endpoint_id.clone();
        let task_shared = shared.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            let read = task_shared
                .storage
                .pending_deliveries(&id, from.as_ref(), limit)
                .await;
            match read {
                Ok(deliveries) => {
                    let complete = deliveries.len() < limit;
                    let _ = me.cast(EndpointMsg::Loaded {
                        deliveries,
                        complete,
                    });
                }
                Err(error) => {
                    tracing::error!(%error, endpoint_id = %id, "loading pending deliveries failed");
                    let _ = me.cast(EndpointMsg::Loaded {
                        deliveries: Vec::new(),
                        complete: false,
                    });
                }
            }
        });
    }

    /// When retiring and nothing is in flight: dead-letter what is pending (and, for an
    /// automatic disable, store the endpoint disabled and announce it) in a task.
    fn maybe_finish_retiring(&mut self, shared: &Arc<Shared>, myself: &ActorRef<EndpointMsg>) {
        let Phase::Retiring { reason, announce } = self.phase else {
            return;
        };
        if self.queue.in_flight() > 0 || !self.recording.is_empty() || self.loading {
            return;
        }
        self.phase = Phase::Retired;
        self.queue.drain_waiting();
        self.events.clear();
        self.held_bytes = 0;
        self.sync_gauge();
        let task_shared = shared.clone();
        let me = myself.clone();
        let endpoint_id = self.endpoint_id.clone();
        let health = self.health.clone();
        tokio::spawn(async move {
            if let Err(error) =
                retire_in_storage(&task_shared, &endpoint_id, reason, announce, &health).await
            {
                tracing::error!(%error, %endpoint_id, "retiring endpoint failed; the sweep will retry");
            }
            let _ = me.cast(EndpointMsg::Retired);
        });
    }

    /// What follows every message: update the pending gauge, finish retiring when it
    /// can, start what is due, and ask to stop when there is nothing left to do.
    fn act(
        &mut self,
        shared: &Arc<Shared>,
        myself: &ActorRef<EndpointMsg>,
        supervisor: &ActorRef<SupervisorMsg>,
    ) {
        self.sync_gauge();
        self.maybe_finish_retiring(shared, myself);
        self.pump(shared, myself);
        self.report_idle_if_idle(shared, myself, supervisor);
    }

    /// Asks the Supervisor to stop it once it has had nothing to do for `IDLE_LINGER`.
    fn report_idle_if_idle(
        &mut self,
        shared: &Shared,
        myself: &ActorRef<EndpointMsg>,
        supervisor: &ActorRef<SupervisorMsg>,
    ) {
        let idle = self.phase == Phase::Running
            && self.queue.is_empty()
            && self.recording.is_empty()
            && !self.loading
            && !self.queue.wants_refill();
        if !idle {
            self.idle_since = None;
            return;
        }
        if self.idle_reported {
            return;
        }
        let now = shared.clock.now();
        let since = *self.idle_since.get_or_insert(now);
        if now.since(since) >= IDLE_LINGER {
            self.idle_reported = true;
            let _ = supervisor.cast(SupervisorMsg::Idle {
                endpoint_id: self.endpoint_id.clone(),
                seen: self.seen,
            });
        } else {
            self.wake_at(shared, myself, since.plus(IDLE_LINGER));
        }
    }
}

/// Stores an automatic disable and moves the endpoint's pending deliveries to dead
/// letters. Idempotent: a crash half-way is finished by the next actor.
async fn retire_in_storage(
    shared: &Arc<Shared>,
    endpoint_id: &EndpointId,
    reason: Option<DisabledReason>,
    announce: bool,
    health: &EndpointHealth,
) -> Result<(), crate::error::StorageError> {
    let storage = &shared.storage;
    let now = shared.clock.now();
    let mut endpoint = storage.endpoint_by_id(endpoint_id).await?;
    if let (Some(reason), Some(stored)) = (reason, endpoint.as_mut()) {
        if stored.active {
            stored.active = false;
            stored.disabled_reason = Some(reason);
            stored.updated_at = now;
            storage.put_endpoint(stored).await?;
            if let Some(router) = shared.router() {
                let _ = router.cast(crate::actors::router::RouterMsg::Upsert(stored.clone()));
            }
        }
    }
    let dead_reason = if endpoint.is_some() {
        DeadReason::EndpointDisabled
    } else {
        DeadReason::EndpointDeleted
    };
    let mut moved = 0u64;
    loop {
        let mut pending = storage
            .pending_deliveries(endpoint_id, None, 10_000)
            .await?;
        if pending.is_empty() {
            break;
        }
        for delivery in &mut pending {
            delivery.kill(dead_reason, now);
        }
        storage.update_deliveries(&pending).await?;
        moved += pending.len() as u64;
    }
    if moved > 0 {
        metrics::deliveries_dead(moved);
    }
    if let (true, Some(reason), Some(endpoint)) = (announce, reason, endpoint) {
        metrics::endpoint_disabled();
        shared
            .notifier
            .send(OperationalEvent::EndpointDisabled(EndpointDisabled {
                tenant: endpoint.tenant.clone(),
                endpoint_id: endpoint.id.clone(),
                url: endpoint.url.clone(),
                reason: reason.as_str(),
                failing_since: notify::rfc3339(health.failing_since),
                last_status: health.last_status,
                last_error: health.last_error.map(|e| e.as_str()),
                dead_lettered: moved,
            }));
    }
    Ok(())
}

impl Actor for EndpointActor {
    type Msg = EndpointMsg;
    type State = EndpointState;
    type Arguments = EndpointArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(EndpointState::new(&self.shared, args.endpoint_id))
    }

    /// Loads the endpoint, its health and its pending deliveries (in the actor's own
    /// task, so the Supervisor is never held up by storage).
    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let storage = &self.shared.storage;
        let endpoint = storage.endpoint_by_id(&state.endpoint_id).await?;
        state.health = storage.endpoint_health(&state.endpoint_id).await?;
        state.breaker = breaker_from_health(
            breaker_config(&self.shared),
            &state.health,
            self.shared.clock.now(),
        );
        state.publish_breaker(&self.shared);
        state.adopt(&self.shared, endpoint);
        let limit = self.shared.config.queue_capacity.min(FIRST_PAGE);
        let pending = storage
            .pending_deliveries(&state.endpoint_id, None, limit)
            .await?;
        let complete = pending.len() < limit;
        state.take_loaded(pending, complete, self.shared.clock.now());
        state.act(&self.shared, &myself, &self.supervisor);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let shared = &self.shared;
        match message {
            EndpointMsg::Enqueue(delivery, event) => {
                state.heard_from_supervisor();
                state.handed_off(delivery, event);
            }
            EndpointMsg::Reload { reset_breaker } => {
                state.heard_from_supervisor();
                let endpoint = shared.storage.endpoint_by_id(&state.endpoint_id).await?;
                if reset_breaker {
                    state.breaker.reset();
                    disable::reset_streak(&mut state.health);
                    state.publish_breaker(shared);
                }
                state.adopt(shared, endpoint);
                if state.phase == Phase::Running {
                    state.reload(shared, &myself);
                }
            }
            EndpointMsg::AttemptFinished(report) => state.on_attempt(shared, &myself, report),
            EndpointMsg::Recorded { delivery, dead } => state.on_recorded(shared, delivery, dead),
            EndpointMsg::Loaded {
                deliveries,
                complete,
            } => {
                state.loading = false;
                state.take_loaded(deliveries, complete, shared.clock.now());
                if std::mem::take(&mut state.reload_queued) && state.phase == Phase::Running {
                    state.reload(shared, &myself);
                }
            }
            EndpointMsg::Wake => {
                state.wake = None;
            }
            EndpointMsg::Retired => {
                shared.publish_breaker(&state.endpoint_id, None);
                myself.stop(Some("retired".into()));
                return Ok(());
            }
            EndpointMsg::Crash => {
                return Err(format!("crash requested for {}", state.endpoint_id).into());
            }
        }
        state.act(shared, &myself, &self.supervisor);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.cancel_wake();
        metrics::pending_changed(-(state.gauge as f64));
        state.gauge = 0;
        if matches!(state.breaker.state(), BreakerState::Closed { .. }) {
            self.shared.publish_breaker(&state.endpoint_id, None);
        }
        Ok(())
    }
}

//! EndpointActor: owns one endpoint's pending deliveries and sends them as its policy
//! allows (queue order, `max_in_flight`, rate limit, breaker), retries them on
//! schedule, records every outcome, and retires the endpoint when it must be
//! disabled. It is the one writer of its endpoint's health.
//!
//! New work reaches it by hand-off and by its own loads from storage; the queue's
//! watermark rule (`queue.rs`) makes the two agree exactly. When other engines share
//! the storage (`cluster`) there are no hand-offs: a `NewWork` signal makes it read
//! what was stored since the last position it read (`Storage::pending_since`), and
//! its loads take everything they read. Loads, retiring and the
//! auto-disable write are awaited in its handlers (storage only: it never awaits a
//! receiver); attempts and record batches run in tasks whose results come back as
//! messages.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::actors::attempt::{self, AttemptJob, AttemptReport, Attempted, NotSent, ReportBody};
use crate::actors::ledger::Ticket;
use crate::actors::records::{Queued, RecordPipeline, RecordedBatch};
use crate::actors::router::RouterMsg;
use crate::actors::settings::Settings;
use crate::actors::Shared;
use crate::breaker::{Breaker, BreakerConfig, BreakerState, Permit};
use crate::decide::{decide, Rules, SentAttempt, Standing};
use crate::disable;
use crate::error::StorageError;
use crate::ids::EndpointId;
use crate::metrics;
use crate::model::{
    DeadReason, Delivery, DeliveryStatus, DisabledReason, Endpoint, EndpointHealth,
};
use crate::notices::{self, EndpointChange, Notice};
use crate::notify::{self, DeliveryDead, EndpointDisabled};
use crate::queue::{AfterAttempt, Next, PendingQueue};
use crate::request::PreparedEvent;
use crate::storage::{Outcome, PendingKey, ReplaceEndpoint};
use crate::time::Timestamp;

/// Pending deliveries read at start before the first attempt goes out; the rest of
/// the queue fills by refills, so a restart with a large backlog resumes at once.
const FIRST_PAGE: usize = 1000;

/// How long an actor with nothing to do lingers before it leaves: spares the spawn
/// cost for endpoints that get an event every little while, and lets a rate
/// limit's bucket (one second's worth) refill before it is forgotten.
const IDLE_LINGER: Duration = Duration::from_secs(2);

/// How soon new work whose position is not final yet is read again.
const NEW_WORK_RECHECK: Duration = Duration::from_millis(5);

/// A delivery not sent for a local reason waits this long, doubling with each such
/// failure in a row up to `NOT_SENT_PAUSE_MAX`.
const NOT_SENT_PAUSE: Duration = Duration::from_secs(1);
const NOT_SENT_PAUSE_MAX: Duration = Duration::from_secs(60);

/// A delivery just stored, with its prepared event, on its way to its actor.
#[derive(Debug)]
pub(crate) struct HandOff {
    pub(crate) delivery: Delivery,
    pub(crate) event: Option<Arc<PreparedEvent>>,
}

/// Messages of an EndpointActor.
#[derive(Debug)]
pub(crate) enum EndpointMsg {
    /// From a publish, through the directory: a delivery already stored durably.
    Enqueue(HandOff),
    /// Through the directory, with storage shared: deliveries of the endpoint were
    /// stored (here or on another node): read what is new.
    NewWork,
    /// Through the directory, with storage shared: this node no longer owns the
    /// endpoint: send nothing more, record what is in flight, and stop.
    Yield,
    /// From the engine, through the directory: the endpoint changed in storage
    /// (update, enable, disable, delete, rotation): read it again.
    EndpointChanged,
    /// From the engine, through the directory: deliveries were queued again in
    /// storage (replay, retry): read pending work from the start.
    DeliveriesChanged,
    /// From an attempt task it spawned.
    AttemptFinished(AttemptReport),
    /// From its record task: a batch is stored, or failed.
    Recorded(RecordedBatch),
    /// From its own timer: something is due, or a pause ended.
    Wake,
    /// Test hook: fail while handling a message, as a bug would.
    #[cfg(feature = "testing")]
    Crash,
}

impl EndpointMsg {
    /// Whether it came through the directory (counted for the idle handshake).
    fn through_directory(&self) -> bool {
        match self {
            EndpointMsg::Enqueue(_)
            | EndpointMsg::NewWork
            | EndpointMsg::Yield
            | EndpointMsg::EndpointChanged
            | EndpointMsg::DeliveriesChanged => true,
            #[cfg(feature = "testing")]
            EndpointMsg::Crash => true,
            _ => false,
        }
    }
}

/// The actor; its dependencies live in `Shared`.
pub(crate) struct EndpointActor {
    pub(crate) shared: Arc<Shared>,
}

/// Start-up arguments.
pub(crate) struct EndpointArgs {
    pub(crate) endpoint_id: EndpointId,
}

/// What the actor is doing with its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Delivering.
    Running,
    /// Disabled or deleted: sends nothing more, waits for in-flight attempts and
    /// their records, then dead-letters what is left and stops. `disable` is set for
    /// an automatic disable, which it stores and announces.
    Retiring { disable: Option<DisabledReason> },
    /// Another node takes the endpoint over: sends nothing more, waits for in-flight
    /// attempts and their records, then stops (its pending work stays pending).
    Yielding,
}

/// An actor's state.
pub(crate) struct EndpointState {
    endpoint_id: EndpointId,
    /// The endpoint as last read from storage (`None` once deleted).
    endpoint: Option<Arc<Endpoint>>,
    settings: Settings,
    queue: PendingQueue,
    breaker: Breaker,
    /// The breaker state last shown through `Shared`.
    shown_breaker: Option<BreakerState>,
    health: EndpointHealth,
    records: RecordPipeline,
    /// Local failures in a row (not sent), and until when sending pauses for them.
    not_sent: (u32, Option<Timestamp>),
    /// The wake-up timer and when it fires.
    wake: Option<(Timestamp, JoinHandle<()>)>,
    /// Since when it has had nothing to do.
    idle_since: Option<Timestamp>,
    /// Directory messages handled (for the idle handshake).
    handled: u64,
    phase: Phase,
    /// Deliveries counted in the pending gauge.
    gauge: usize,
    /// With storage shared: the last position of the endpoint's work read, and
    /// whether more was signalled since.
    work_seen: u64,
    new_work: bool,
    /// A write was fenced off: stop at once, writing nothing more.
    fenced: bool,
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

fn jitter_sample() -> f64 {
    rand::random::<f64>() * 2.0 - 1.0
}

impl EndpointState {
    fn new(shared: &Shared, endpoint_id: EndpointId) -> Self {
        let settings = Settings::defaults(&shared.config.delivery);
        Self {
            endpoint_id,
            endpoint: None,
            queue: PendingQueue::new(
                settings.order(),
                shared.config.queue_capacity,
                Arc::clone(&shared.queue_memory),
            ),
            breaker: Breaker::new(settings.breaker),
            settings,
            shown_breaker: None,
            health: EndpointHealth::default(),
            records: RecordPipeline::default(),
            not_sent: (0, None),
            wake: None,
            idle_since: None,
            handled: 0,
            phase: Phase::Running,
            gauge: 0,
            work_seen: 0,
            new_work: false,
            fenced: false,
        }
    }

    /// Adopts the endpoint as stored: its settings, and a breaker reset when it was
    /// enabled since its failure streak began; retires when it is gone or disabled.
    /// Returns whether the order changed (storage must be read again from the start).
    fn adopt(&mut self, shared: &Shared, endpoint: Option<Endpoint>) -> bool {
        let Some(endpoint) = endpoint else {
            // Deleted: storage already marked its pending deliveries dead.
            self.endpoint = None;
            self.retire(None);
            return false;
        };
        let previous = std::mem::replace(
            &mut self.settings,
            Settings::defaults(&shared.config.delivery),
        );
        self.settings = Settings::of(
            &endpoint,
            &shared.profiles,
            &shared.config.delivery,
            previous,
        );
        self.breaker.set_config(self.settings.breaker);
        let order = self.settings.order();
        let reordered = order != self.queue.order();
        self.queue.set_order(order);
        if disable::streak_predates(&self.health, endpoint.enabled_at) {
            disable::reset_streak(&mut self.health);
            self.breaker.reset();
            self.records.health_changed();
        }
        let active = endpoint.active;
        self.endpoint = Some(Arc::new(endpoint));
        if !active {
            self.retire(None);
        } else if matches!(self.phase, Phase::Retiring { disable: None }) {
            // Enabled again before the retiring finished: carry on.
            self.phase = Phase::Running;
        }
        reordered
    }

    fn retire(&mut self, disable: Option<DisabledReason>) {
        match self.phase {
            Phase::Running | Phase::Retiring { disable: None } => {
                self.phase = Phase::Retiring { disable };
                self.cancel_wake();
            }
            Phase::Retiring { disable: Some(_) } | Phase::Yielding => {}
        }
    }

    /// Lets the endpoint go to its new owner: nothing more is sent.
    fn yield_ownership(&mut self) {
        self.phase = Phase::Yielding;
        self.cancel_wake();
    }

    /// Shows the breaker's state to the API and the open-breaker gauge when it
    /// changed (a closed breaker counting failures shows as plain closed).
    fn show_breaker(&mut self, shared: &Shared) {
        let state = match self.breaker.state() {
            BreakerState::Closed { .. } => BreakerState::Closed { failures: 0 },
            other => other,
        };
        if self.shown_breaker != Some(state) {
            self.shown_breaker = Some(state);
            shared.publish_breaker(&self.endpoint_id, Some(state));
        }
    }

    fn cancel_wake(&mut self) {
        if let Some((_, handle)) = self.wake.take() {
            handle.abort();
        }
    }

    /// Arms the wake-up timer for `at`, unless an earlier one is armed.
    fn wake_at(&mut self, shared: &Shared, myself: &ActorRef<EndpointMsg>, at: Timestamp) {
        if self.wake.as_ref().is_some_and(|(armed, _)| *armed <= at) {
            return;
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

    fn sync_gauge(&mut self, shared: &Shared) {
        let now = self.queue.len();
        if now != self.gauge {
            metrics::pending_changed(now as f64 - self.gauge as f64);
            metrics::queue_memory(shared.queue_memory.used());
            self.gauge = now;
        }
    }

    /// Reads pending deliveries from `from` (the start when `None`), at most `limit`,
    /// once every publish begun before is stored, and takes what the queue's rule
    /// lets it (see `queue.rs`).
    async fn load(
        &mut self,
        shared: &Shared,
        from: Option<PendingKey>,
        limit: usize,
    ) -> Result<(), StorageError> {
        let waited = if shared.is_clustered() {
            None
        } else {
            Some(shared.publishes.through().await)
        };
        let read = shared
            .storage
            .pending_deliveries(&self.endpoint_id, self.queue.order(), from.as_ref(), limit)
            .await?;
        // With storage shared nothing comes by hand-off: take all that was read.
        let through = waited.unwrap_or_else(|| read.iter().map(|d| d.id.clone()).max());
        self.queue.loaded(from, read, limit, through);
        Ok(())
    }

    /// With storage shared: takes what was stored since the last position read, a
    /// page at a time, until it is all read (what the queue has no room for stays in
    /// storage beyond its frontier, as any overflow does). True when more work's
    /// position is not final yet: read again shortly.
    async fn load_new(&mut self, shared: &Shared) -> Result<bool, StorageError> {
        const PAGE: usize = 1000;
        self.new_work = false;
        loop {
            let read = shared
                .storage
                .pending_since(&self.endpoint_id, self.work_seen, PAGE)
                .await?;
            let full = read.deliveries.len() >= PAGE;
            for (position, delivery) in read.deliveries {
                self.work_seen = self.work_seen.max(position);
                self.queue.offer(delivery);
            }
            if !full {
                return Ok(read.more_soon);
            }
        }
    }

    /// A hand-off: queued unless a load covered it or the queue is past it.
    fn hand_off(&mut self, hand_off: HandOff) {
        if self.phase == Phase::Running {
            self.queue.hand_off(hand_off.delivery, hand_off.event);
        }
    }

    /// Handles an attempt's report: decides, queues the outcome for storage.
    fn on_report(&mut self, shared: &Arc<Shared>, body: ReportBody, ticket: Ticket) {
        let now = shared.clock.now();
        let ReportBody {
            delivery,
            started_at,
            result,
        } = body;
        let outcome = match result {
            Attempted::Sent(outcome) => outcome,
            Attempted::NotSent(reason) => {
                return self.on_not_sent(shared, delivery, reason, ticket)
            }
        };
        self.not_sent = (0, None);
        let was_closed = matches!(self.breaker.state(), BreakerState::Closed { .. });
        let rules = Rules {
            schedule: &self.settings.schedule,
            disable: self.settings.disable,
            disable_on_dead: self.settings.disable_on_dead,
        };
        let sent = SentAttempt {
            delivery,
            started_at,
            outcome,
        };
        let standing = Standing {
            breaker: &mut self.breaker,
            health: &mut self.health,
        };
        let decision = decide(sent, now, rules, standing, jitter_sample());
        metrics::attempt(
            decision.succeeded(),
            Duration::from_millis(decision.attempt.duration_ms),
        );
        if decision.succeeded() {
            metrics::delivery_succeeded();
        }
        if decision.breaker_opened {
            tracing::warn!(endpoint_id = %self.endpoint_id, "breaker opened");
            self.announce_breaker(shared, true, now);
        } else if !was_closed && matches!(self.breaker.state(), BreakerState::Closed { .. }) {
            tracing::info!(endpoint_id = %self.endpoint_id, "breaker closed");
            self.announce_breaker(shared, false, now);
        }
        self.queue.attempted(&decision.delivery.id, decision.after);
        if let Some(reason) = decision.disable {
            tracing::warn!(endpoint_id = %self.endpoint_id, reason = reason.as_str(), "disabling endpoint");
            self.retire(Some(reason));
        }
        self.show_breaker(shared);
        let dead = dead_notice(shared, &decision.delivery);
        self.records.push(Queued {
            outcome: Outcome {
                delivery: decision.delivery,
                attempt: Some(decision.attempt),
            },
            ticket: Some(ticket),
            dead,
        });
    }

    /// Announces that the breaker opened (or closed again), in a task: a notice of
    /// state, stored as an event, that nothing else waits for.
    fn announce_breaker(&self, shared: &Arc<Shared>, opened: bool, now: Timestamp) {
        let Some(endpoint) = &self.endpoint else {
            return;
        };
        let change = EndpointChange {
            tenant: endpoint.tenant.clone(),
            endpoint_id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            at: now.to_rfc3339(),
        };
        let notice = if opened {
            Notice::BreakerOpened(change)
        } else {
            Notice::BreakerClosed(change)
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(error) = notices::announce(&shared, notice).await {
                tracing::error!(%error, "announcing a breaker change failed");
            }
        });
    }

    /// A delivery that never reached the receiver: a purged event kills it; any
    /// other local reason pauses sending and retries it, its budget untouched.
    fn on_not_sent(
        &mut self,
        shared: &Shared,
        mut delivery: Delivery,
        reason: NotSent,
        ticket: Ticket,
    ) {
        let now = shared.clock.now();
        self.breaker.not_sent();
        metrics::not_sent(reason.as_str());
        let dead_reason = match reason {
            NotSent::EventMissing => Some(DeadReason::EventPurged),
            NotSent::Unwritable => Some(DeadReason::Unwritable),
            _ => None,
        };
        if let Some(dead_reason) = dead_reason {
            tracing::warn!(endpoint_id = %self.endpoint_id, delivery_id = %delivery.id, reason = dead_reason.as_str(), "a pending delivery cannot be sent; it is dead");
            delivery.kill(dead_reason, now);
            self.queue.attempted(&delivery.id, AfterAttempt::Settle);
            let dead = dead_notice(shared, &delivery);
            self.records.push(Queued {
                outcome: Outcome {
                    delivery,
                    attempt: None,
                },
                ticket: Some(ticket),
                dead,
            });
            return;
        }
        let (streak, _) = self.not_sent;
        let pause = NOT_SENT_PAUSE
            .saturating_mul(1 << streak.min(16))
            .min(NOT_SENT_PAUSE_MAX);
        self.not_sent = (streak.saturating_add(1), Some(now.plus(pause)));
        tracing::warn!(endpoint_id = %self.endpoint_id, delivery_id = %delivery.id, reason = reason.as_str(), pause_ms = pause.as_millis() as u64, "delivery not sent; retrying after a pause");
        self.queue.not_sent(delivery);
        drop(ticket);
    }

    /// A record batch came back.
    fn on_recorded(&mut self, shared: &Shared, batch: RecordedBatch) {
        let now = shared.clock.now();
        match batch {
            RecordedBatch::Stored { ids, dead } => {
                self.records.finished(None, now);
                for id in &ids {
                    self.queue.recorded(id);
                }
                if dead > 0 {
                    metrics::deliveries_dead(dead);
                }
            }
            RecordedBatch::Failed(_, crate::error::Error::Storage(StorageError::Fenced(_))) => {
                // Another node owns the endpoint now; its actor takes it from here.
                tracing::warn!(endpoint_id = %self.endpoint_id, "fenced off: another node owns the endpoint; stopping");
                self.records.finished(None, now);
                self.fenced = true;
            }
            RecordedBatch::Failed(batch, error) => {
                tracing::error!(%error, endpoint_id = %self.endpoint_id, outcomes = batch.len(), "storing attempt outcomes failed; retrying");
                self.records.finished(Some(batch), now);
            }
        }
    }

    /// Starts every attempt the policy allows now, and arms the timer for the next.
    fn pump(&mut self, shared: &Arc<Shared>, myself: &ActorRef<EndpointMsg>) {
        if self.phase != Phase::Running || shared.is_closing() {
            return;
        }
        let Some(endpoint) = self.endpoint.clone() else {
            return;
        };
        loop {
            let now = shared.clock.now();
            if let Some(until) = self.not_sent.1.filter(|until| *until > now) {
                self.wake_at(shared, myself, until);
                return;
            }
            match self.queue.peek(now, self.settings.policy.max_in_flight) {
                Some(Next::WaitUntil(at)) => return self.wake_at(shared, myself, at),
                Some(_) => return,
                None => {}
            }
            if let Some(rate) = &self.settings.rate {
                if let Err(wait) = rate.try_take() {
                    let at = now.plus(wait.max(Duration::from_millis(1)));
                    return self.wake_at(shared, myself, at);
                }
            }
            match self.breaker.permit(now) {
                Permit::Denied(Some(until)) => {
                    self.show_breaker(shared);
                    return self.wake_at(shared, myself, until);
                }
                Permit::Denied(None) => return,
                Permit::Allowed | Permit::Probe => {}
            }
            let Next::Send(delivery, event) =
                self.queue.next(now, self.settings.policy.max_in_flight)
            else {
                return;
            };
            let ticket = shared.ledger.begin(&self.endpoint_id);
            let Some(profile) = self.settings.profile.clone() else {
                self.on_not_sent(shared, delivery, NotSent::UnknownProfile, ticket);
                continue;
            };
            let Some(uri) = self.settings.uri.clone() else {
                self.on_not_sent(shared, delivery, NotSent::InvalidUrl, ticket);
                continue;
            };
            let job = AttemptJob {
                event,
                delivery,
                profile,
                endpoint: endpoint.clone(),
                uri,
                headers: Arc::clone(&self.settings.headers),
                timeout: self.settings.policy.timeout,
                ticket,
            };
            tokio::spawn(attempt::run(shared.clone(), job, myself.clone()).in_current_span());
        }
    }

    /// What follows every message: refill, send what is due, write outcomes, finish
    /// retiring, and leave when there has been nothing to do for a while.
    async fn act(
        &mut self,
        shared: &Arc<Shared>,
        myself: &ActorRef<EndpointMsg>,
    ) -> Result<(), ActorProcessingErr> {
        if self.fenced {
            self.leave(shared, myself, "fenced");
            return Ok(());
        }
        if self.new_work
            && self.phase == Phase::Running
            && !shared.is_closing()
            && self.load_new(shared).await?
        {
            // Stored by a transaction that ended before an older one: its
            // position becomes final when that one ends, in milliseconds.
            self.new_work = true;
            let at = shared.clock.now().plus(NEW_WORK_RECHECK);
            self.wake_at(shared, myself, at);
        }
        self.pump(shared, myself);
        if self.phase == Phase::Running && self.queue.wants_refill() && !shared.is_closing() {
            let from = self.queue.frontier().cloned();
            let room = self.queue.room().max(1);
            self.load(shared, from, room).await?;
            self.pump(shared, myself);
        }
        self.records
            .write_next(shared, myself, &self.endpoint_id, &self.health);
        if let Some(until) = self.records.paused_until(shared.clock.now()) {
            self.wake_at(shared, myself, until);
        }
        self.sync_gauge(shared);
        if self.phase == Phase::Yielding {
            if self.queue.in_flight() == 0 && self.records.is_idle() {
                self.leave(shared, myself, "yielded");
            }
        } else if self.finish_retiring(shared).await? {
            self.leave(shared, myself, "retired");
        } else {
            self.leave_if_idle(shared, myself);
        }
        Ok(())
    }

    /// Once retiring with nothing in flight and nothing left to store: stores an
    /// automatic disable, dead-letters what is pending and announces it. True when
    /// done (the actor stops).
    async fn finish_retiring(&mut self, shared: &Shared) -> Result<bool, crate::error::Error> {
        let Phase::Retiring { disable } = self.phase else {
            return Ok(false);
        };
        if self.queue.in_flight() > 0 || !self.records.is_idle() {
            return Ok(false);
        }
        self.queue.drain_waiting();
        self.sync_gauge(shared);
        // Boxed: inline, this rare path's future would make the future of every
        // message's handler (moved several times per message) five times larger.
        Box::pin(retire_in_storage(
            shared,
            &self.endpoint_id,
            disable,
            &self.health,
        ))
        .await?;
        Ok(true)
    }

    /// Leaves the directory and stops once idle for `IDLE_LINGER`, unless a message
    /// is on its way to it.
    fn leave_if_idle(&mut self, shared: &Shared, myself: &ActorRef<EndpointMsg>) {
        let idle = self.phase == Phase::Running
            && self.queue.is_empty()
            && self.records.is_idle()
            && self.queue.frontier().is_none();
        if !idle {
            self.idle_since = None;
            return;
        }
        let now = shared.clock.now();
        let since = *self.idle_since.get_or_insert(now);
        if now.since(since) < IDLE_LINGER {
            self.wake_at(shared, myself, since.plus(IDLE_LINGER));
        } else if shared
            .directory
            .leave_if_idle(&self.endpoint_id, myself.get_id(), self.handled)
        {
            myself.stop(Some("idle".into()));
        } else {
            // A message is on its way: handle it first.
            self.idle_since = None;
        }
    }

    fn leave(&mut self, shared: &Shared, myself: &ActorRef<EndpointMsg>, why: &str) {
        shared.directory.remove(&self.endpoint_id, myself.get_id());
        shared.publish_breaker(&self.endpoint_id, None);
        myself.stop(Some(why.into()));
    }
}

/// The `delivery.dead` notice of a delivery that died, unless it delivered a
/// notification (no notice about a notice).
fn dead_notice(shared: &Shared, delivery: &Delivery) -> Option<DeliveryDead> {
    let announced = delivery.status == DeliveryStatus::Dead
        && !notices::is_notification(shared, &delivery.tenant, &delivery.event_type);
    announced.then(|| DeliveryDead {
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
    })
}

/// Stores an automatic disable (unless the endpoint was enabled again since its
/// failure streak began) and moves the endpoint's pending deliveries to dead
/// letters. Idempotent: a crash half-way is finished by the next actor.
async fn retire_in_storage(
    shared: &Shared,
    endpoint_id: &EndpointId,
    disable: Option<DisabledReason>,
    health: &EndpointHealth,
) -> Result<(), crate::error::Error> {
    let storage = &shared.storage;
    let now = shared.clock.now();
    let mut disabled = None;
    let endpoint = loop {
        let Some(mut endpoint) = storage.endpoint_by_id(endpoint_id).await? else {
            break None;
        };
        let Some(reason) = disable else {
            break Some(endpoint);
        };
        if !endpoint.active || disable::streak_predates(health, endpoint.enabled_at) {
            break Some(endpoint);
        }
        let expected = endpoint.version;
        endpoint.active = false;
        endpoint.disabled_reason = Some(reason);
        endpoint.updated_at = now;
        endpoint.version = expected + 1;
        if storage.replace_endpoint(&endpoint, expected).await? == ReplaceEndpoint::Replaced {
            if let Some(router) = shared.router() {
                let _ = router.cast(RouterMsg::Upsert(endpoint.clone()));
            }
            shared
                .membership
                .tell(crate::cluster::Signal::EndpointChanged(
                    endpoint.tenant.clone(),
                    endpoint.id.clone(),
                ));
            disabled = Some(reason);
            break Some(endpoint);
        }
    };
    if endpoint.as_ref().is_some_and(|e| e.active) {
        // Enabled again meanwhile: nothing to dead-letter.
        return Ok(());
    }
    if disabled.is_some() {
        metrics::endpoint_disabled();
    }
    // An automatic disable is announced before its deliveries are dead-lettered: a
    // crash in between leaves them pending, so the next actor retires again and
    // announces it again (its id keeps it from being stored twice).
    if let Some(endpoint) = endpoint.as_ref().filter(|e| {
        e.disabled_reason
            .is_some_and(|r| r != DisabledReason::Manual)
    }) {
        let pending = storage.delivery_counts(endpoint_id).await?.pending;
        let data = EndpointDisabled {
            tenant: endpoint.tenant.clone(),
            endpoint_id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            reason: endpoint
                .disabled_reason
                .map_or("failing", DisabledReason::as_str),
            failing_since: notify::rfc3339(health.failing_since),
            last_status: health.last_status,
            last_error: health.last_error.map(|e| e.as_str()),
            dead_lettered: pending,
        };
        notices::announce(shared, Notice::EndpointDisabled(data, endpoint.version)).await?;
    }
    let dead_reason = if endpoint.is_some() {
        DeadReason::EndpointDisabled
    } else {
        DeadReason::EndpointDeleted
    };
    let mut moved = 0u64;
    loop {
        let mut pending = storage
            .pending_deliveries(
                endpoint_id,
                crate::storage::PendingOrder::Publish,
                None,
                10_000,
            )
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

    /// Takes the reports an earlier actor left, reads the endpoint, its health and its
    /// first page of pending deliveries, handles those reports, then starts sending.
    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let shared = &self.shared;
        let orphans = shared.ledger.take_orphans(&state.endpoint_id);
        let endpoint = shared.storage.endpoint_by_id(&state.endpoint_id).await?;
        state.health = shared.storage.endpoint_health(&state.endpoint_id).await?;
        state.breaker =
            breaker_from_health(state.settings.breaker, &state.health, shared.clock.now());
        state.adopt(shared, endpoint);
        state.show_breaker(shared);
        if shared.is_clustered() {
            // Read before the first load: whatever is stored after it is new work.
            state.work_seen = shared.storage.work_position(&state.endpoint_id).await?;
        }
        if state.phase == Phase::Running {
            // No more than the queue may hold: with the memory budget spent by other
            // actors, a few; the rest is read as room frees.
            let limit = FIRST_PAGE.min(state.queue.room()).max(1);
            state.load(shared, None, limit).await?;
        }
        for orphan in orphans {
            state.queue.adopt(&orphan.delivery);
            let ticket = shared.ledger.begin(&state.endpoint_id);
            state.on_report(shared, orphan, ticket);
        }
        state.act(shared, &myself).await?;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let shared = &self.shared;
        if message.through_directory() {
            state.handled += 1;
        }
        match message {
            EndpointMsg::Enqueue(hand_off) => state.hand_off(hand_off),
            EndpointMsg::NewWork => {
                shared.directory.woken(&state.endpoint_id, myself.get_id());
                state.new_work = true;
            }
            EndpointMsg::Yield => state.yield_ownership(),
            EndpointMsg::EndpointChanged => {
                let endpoint = shared.storage.endpoint_by_id(&state.endpoint_id).await?;
                let reordered = state.adopt(shared, endpoint);
                state.show_breaker(shared);
                if reordered && state.phase == Phase::Running {
                    state
                        .load(shared, None, shared.config.queue_capacity)
                        .await?;
                }
            }
            EndpointMsg::DeliveriesChanged => {
                if state.phase == Phase::Running {
                    state
                        .load(shared, None, shared.config.queue_capacity)
                        .await?;
                }
            }
            EndpointMsg::AttemptFinished(report) => {
                let (body, ticket) = report.take();
                state.on_report(shared, body, ticket);
            }
            EndpointMsg::Recorded(batch) => state.on_recorded(shared, batch),
            EndpointMsg::Wake => state.wake = None,
            #[cfg(feature = "testing")]
            EndpointMsg::Crash => {
                return Err(format!("crash requested for {}", state.endpoint_id).into());
            }
        }
        state.act(shared, &myself).await?;
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

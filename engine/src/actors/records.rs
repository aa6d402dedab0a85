//! `RecordPipeline`: an endpoint actor's decided outcomes on their way to storage,
//! one batch at a time.
//!
//! Outcomes decided while a batch is being written wait for the next batch; each
//! batch is one `Storage::record_outcomes` call (one commit-group entry on sled) with
//! the actor's health as it stands. One batch at a time keeps the health writes in
//! the order the actor made them, and a busy endpoint pays one write task per batch
//! rather than one per attempt. A batch that fails is written again after a pause,
//! its attempts' tickets held meanwhile (see `ledger`).

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;

use crate::actors::endpoint::EndpointMsg;
use crate::actors::ledger::Ticket;
use crate::actors::Shared;
use crate::ids::{DeliveryId, EndpointId};
use crate::model::EndpointHealth;
use crate::notify::DeliveryDead;
use crate::storage::Outcome;
use crate::time::Timestamp;

/// How long a failed batch waits before it is written again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// One outcome waiting to be stored, with what follows once it is.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) outcome: Outcome,
    /// The attempt's ticket (none for a change without an attempt).
    pub(crate) ticket: Option<Ticket>,
    /// The `delivery.dead` notice to send once stored.
    pub(crate) dead: Option<DeliveryDead>,
}

/// What follows an outcome once it is stored.
#[derive(Debug)]
struct Follow {
    ticket: Option<Ticket>,
    dead: Option<DeliveryDead>,
}

/// Outcomes waiting together, with what follows each (kept apart, so the outcomes
/// go to storage by reference, not copied).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    outcomes: Vec<Outcome>,
    follow: Vec<Follow>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    /// How many outcomes it holds.
    pub(crate) fn len(&self) -> usize {
        self.outcomes.len()
    }

    fn push(&mut self, queued: Queued) {
        self.outcomes.push(queued.outcome);
        self.follow.push(Follow {
            ticket: queued.ticket,
            dead: queued.dead,
        });
    }

    /// `self` then `later`.
    fn then(mut self, later: Batch) -> Batch {
        self.outcomes.extend(later.outcomes);
        self.follow.extend(later.follow);
        self
    }
}

/// What a record task reports back.
#[derive(Debug)]
pub(crate) enum RecordedBatch {
    /// Stored: these deliveries' records are durable; `dead` of them died.
    Stored { ids: Vec<DeliveryId>, dead: u64 },
    /// Not stored (nor, maybe, announced): the batch, to write again.
    Failed(Batch, crate::error::Error),
}

/// The outcomes of one actor not yet stored.
#[derive(Debug, Default)]
pub(crate) struct RecordPipeline {
    waiting: Batch,
    writing: bool,
    /// The health changed without an outcome (a reset): write it with the next batch.
    health_changed: bool,
    /// A failed batch is written again no earlier than this.
    pause_until: Option<Timestamp>,
}

impl RecordPipeline {
    /// Queues an outcome for the next batch.
    pub(crate) fn push(&mut self, queued: Queued) {
        self.waiting.push(queued);
    }

    /// Asks for the health to be written with the next batch.
    pub(crate) fn health_changed(&mut self) {
        self.health_changed = true;
    }

    /// Whether nothing waits or is being written.
    pub(crate) fn is_idle(&self) -> bool {
        !self.writing && self.waiting.is_empty() && !self.health_changed
    }

    /// When a paused pipeline may write again, if it waits for that.
    pub(crate) fn paused_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.pause_until
            .filter(|until| *until > now && !self.waiting.is_empty())
    }

    /// Starts writing a batch in a task when none is being written and something
    /// waits.
    pub(crate) fn write_next(
        &mut self,
        shared: &Arc<Shared>,
        actor: &ActorRef<EndpointMsg>,
        endpoint_id: &EndpointId,
        health: &EndpointHealth,
    ) {
        let now = shared.clock.now();
        if self.writing
            || (self.waiting.is_empty() && !self.health_changed)
            || self.pause_until.is_some_and(|until| until > now)
        {
            return;
        }
        self.writing = true;
        self.health_changed = false;
        self.pause_until = None;
        let batch = std::mem::take(&mut self.waiting);
        let (shared, actor) = (shared.clone(), actor.clone());
        let (endpoint_id, health) = (endpoint_id.clone(), health.clone());
        tokio::spawn(async move {
            let written = match announce_deaths(&shared, &batch).await {
                Ok(()) => shared
                    .storage
                    .record_outcomes(&endpoint_id, &batch.outcomes, &health)
                    .await
                    .map_err(crate::error::Error::from),
                Err(error) => Err(error),
            };
            let report = match written {
                Ok(()) => {
                    let ids = batch.outcomes.into_iter().map(|o| o.delivery.id).collect();
                    // The records are durable: the attempts' tickets go now.
                    let dead = batch
                        .follow
                        .into_iter()
                        .map(|follow| {
                            drop(follow.ticket);
                            u64::from(follow.dead.is_some())
                        })
                        .sum();
                    RecordedBatch::Stored { ids, dead }
                }
                Err(error) => RecordedBatch::Failed(batch, error),
            };
            // An actor gone meanwhile needs nothing more: storage has the records,
            // or (on failure) the next actor reads the deliveries as they were.
            let _ = actor.cast(EndpointMsg::Recorded(report));
        });
    }

    /// A batch came back: stored, or to be written again after a pause.
    pub(crate) fn finished(&mut self, failed: Option<Batch>, now: Timestamp) {
        self.writing = false;
        if let Some(batch) = failed {
            self.waiting = batch.then(std::mem::take(&mut self.waiting));
            self.health_changed = true;
            self.pause_until = Some(now.plus(RETRY_PAUSE));
        }
    }
}

/// Announces the deaths of a batch before it is stored: a crash in between leaves
/// the deliveries pending, so they die again later and are announced again (their
/// notices' ids keep them from being stored twice); never the other way round, a
/// death stored and its notice lost.
async fn announce_deaths(shared: &Shared, batch: &Batch) -> Result<(), crate::error::Error> {
    for dead in batch.follow.iter().filter_map(|f| f.dead.as_ref()) {
        crate::notices::announce(shared, crate::notices::Notice::DeliveryDead(dead.clone()))
            .await?;
    }
    Ok(())
}

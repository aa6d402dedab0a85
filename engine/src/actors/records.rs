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
use crate::error::StorageError;
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

/// What a record task reports back.
#[derive(Debug)]
pub(crate) enum RecordedBatch {
    /// Stored: these deliveries' records are durable; these notices may go out.
    Stored {
        ids: Vec<DeliveryId>,
        dead: Vec<DeliveryDead>,
    },
    /// Not stored: the batch, to write again.
    Failed(Vec<Queued>, StorageError),
}

/// The outcomes of one actor not yet stored.
#[derive(Debug, Default)]
pub(crate) struct RecordPipeline {
    waiting: Vec<Queued>,
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
            let outcomes: Vec<Outcome> = batch.iter().map(|q| q.outcome.clone()).collect();
            let written = shared
                .storage
                .record_outcomes(&endpoint_id, &outcomes, &health)
                .await;
            let report = match written {
                Ok(()) => {
                    let ids = outcomes.into_iter().map(|o| o.delivery.id).collect();
                    // The records are durable: the attempts' tickets go now.
                    let dead = batch
                        .into_iter()
                        .filter_map(|queued| {
                            drop(queued.ticket);
                            queued.dead
                        })
                        .collect();
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
    pub(crate) fn finished(&mut self, failed: Option<Vec<Queued>>, now: Timestamp) {
        self.writing = false;
        if let Some(mut batch) = failed {
            batch.append(&mut self.waiting);
            self.waiting = batch;
            self.health_changed = true;
            self.pause_until = Some(now.plus(RETRY_PAUSE));
        }
    }
}

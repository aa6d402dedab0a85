//! Router: owns the subscription index; a publish is matched here, given its
//! delivery ids (`publishes`: one publish at a time, so ids follow publish order),
//! stored in one durable write (in a task, so concurrent publishes share group
//! commits), handed to the endpoints' actors, and answered.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::actors::endpoint::{EndpointMsg, HandOff};
use crate::actors::Shared;
use crate::cluster::Signal;
use crate::error::Error;
use crate::error::Invalid;
use crate::filter::SubscriptionIndex;
use crate::ids::{EndpointId, EventId, TenantId};
use crate::metrics;
use crate::model::{Delivery, Endpoint, Event};
use crate::profile::JsonMode;
use crate::request::PreparedEvent;
use crate::storage::{self, InsertEvent};
use foldhash::HashMap;

/// Why `data` cannot be written in one of `modes`, if it cannot.
fn unwritable_for(data: &str, modes: &[JsonMode]) -> Option<Invalid> {
    modes.iter().find_map(|mode| {
        mode.write(data).err().map(|why| {
            Invalid::new(
                "data",
                format!(
                    "cannot be written as the `{}` JSON mode writes it ({why}), and an endpoint that would receive this event uses that mode",
                    mode.as_str()
                ),
            )
        })
    })
}

/// A validated publish.
pub(crate) struct Publish {
    pub(crate) tenant: TenantId,
    pub(crate) event_type: String,
    /// Compact JSON.
    pub(crate) data: String,
    pub(crate) channels: Vec<String>,
    /// The caller's idempotency key, if any.
    pub(crate) id: Option<EventId>,
    /// Deliver to this endpoint only, bypassing the filters (test events).
    pub(crate) only: Option<EndpointId>,
    /// Whether a repeated `id` must repeat the first publish (a caller's idempotency
    /// key: another body is `Error::IdempotencyConflict`). False for Herald's own
    /// notices: one announced again after a crash is the same notice, even when
    /// its data carries a later time.
    pub(crate) strict_repeat: bool,
}

/// A publish on its way to storage.
pub(crate) struct PublishRequest {
    pub(crate) publish: Publish,
    /// Held until the write completes: bounds publishes in progress.
    pub(crate) permit: OwnedSemaphorePermit,
}

/// What `publish` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The event as stored (the first one, for a repeated idempotency key).
    pub event: Event,
    /// False when the idempotency key was seen before and nothing was created.
    pub created: bool,
}

/// Messages of the Router.
pub(crate) enum RouterMsg {
    /// From `Engine::publish`: match, store, answer, hand off.
    Publish(PublishRequest, oneshot::Sender<Result<Published, Error>>),
    /// From the engine (create, update, enable, disable) and from an endpoint actor that
    /// disabled its endpoint: the endpoint as now stored.
    Upsert(Endpoint),
    /// From the engine: the endpoint was deleted.
    Remove(TenantId, EndpointId),
    /// From the engine's cluster task: other engines' changes may have been missed;
    /// build the index again from storage.
    Reload,
}

/// The actor.
pub(crate) struct Router {
    pub(crate) shared: Arc<Shared>,
}

/// The Router's state.
pub(crate) struct RouterState {
    /// Every active endpoint's filters.
    index: SubscriptionIndex,
    /// The JSON mode of endpoints whose profile writes JSON as a runtime does (`js`,
    /// `python`): a publish they would receive is refused when its data cannot be
    /// written that way. Endpoints in `raw` mode have no entry.
    modes: HashMap<EndpointId, JsonMode>,
}

impl RouterState {
    /// The index of every stored endpoint, read a page at a time.
    async fn load(shared: &Shared) -> Result<Self, crate::error::StorageError> {
        let mut state = RouterState {
            index: SubscriptionIndex::new(),
            modes: HashMap::default(),
        };
        storage::for_each_endpoint_page(&*shared.storage, |page| {
            for endpoint in &page {
                state.upsert(shared, endpoint);
            }
        })
        .await?;
        Ok(state)
    }

    /// Indexes `endpoint` and notes its JSON mode.
    fn upsert(&mut self, shared: &Shared, endpoint: &Endpoint) {
        self.index.upsert(endpoint);
        let mode = shared
            .profiles
            .get(&endpoint.profile)
            .map_or(JsonMode::Raw, |profile| profile.json());
        if mode == JsonMode::Raw {
            self.modes.remove(&endpoint.id);
        } else {
            self.modes.insert(endpoint.id.clone(), mode);
        }
    }

    /// The distinct non-raw JSON modes of `targets`.
    fn modes_of<'a>(&self, targets: impl Iterator<Item = &'a EndpointId>) -> Vec<JsonMode> {
        let mut modes = Vec::new();
        if self.modes.is_empty() {
            return modes;
        }
        for target in targets {
            if let Some(mode) = self.modes.get(target) {
                if !modes.contains(mode) {
                    modes.push(*mode);
                }
            }
        }
        modes
    }

    fn publish(
        &self,
        shared: &Arc<Shared>,
        request: PublishRequest,
        reply: oneshot::Sender<Result<Published, Error>>,
    ) {
        let PublishRequest {
            publish: request,
            permit,
        } = request;
        let targets = match &request.only {
            Some(id) => vec![id.clone()],
            None => self
                .index
                .matching(&request.tenant, &request.event_type, &request.channels),
        };
        // Delivery ids are made here, one publish at a time, so they follow publish
        // order; the event is created at the time they carry.
        let (now, ids, ticket) = shared.publishes.begin(shared.clock.now(), targets.len());
        // Streams get events in this order too: the feed hands each on once every
        // publish begun before it is written.
        let feed_ticket = shared.feed.begin(now);
        let event = Event {
            id: request.id.clone().unwrap_or_else(EventId::generate),
            tenant: request.tenant.clone(),
            event_type: request.event_type,
            channels: request.channels,
            created_at: now,
            data: request.data.into(),
            deliveries: u32::try_from(targets.len()).unwrap_or(u32::MAX),
        };
        let event_type: Arc<str> = Arc::from(event.event_type.as_str());
        let deliveries: Vec<Delivery> = targets
            .into_iter()
            .zip(ids)
            .map(|(endpoint_id, id)| {
                Delivery::with_id(
                    id,
                    event.id.clone(),
                    event.tenant.clone(),
                    endpoint_id,
                    event_type.clone(),
                    now,
                )
            })
            .collect();
        let modes = self.modes_of(deliveries.iter().map(|d| &d.endpoint_id));
        let strict_repeat = request.strict_repeat;
        let shared = shared.clone();
        tokio::spawn(async move {
            // delivery.md §1: a value that cannot be written as a receiving
            // endpoint's runtime writes JSON is refused before anything is stored.
            if let Some(refused) = unwritable_for(&event.data, &modes) {
                drop(ticket);
                drop(permit);
                let _ = reply.send(Err(refused.into()));
                return;
            }
            let inserted = shared.storage.insert_event(&event, &deliveries).await;
            // The write is done: loads waiting for this publish may read now.
            drop(ticket);
            let result = match inserted {
                Ok(InsertEvent::Inserted) => {
                    metrics::event_published();
                    feed_ticket.release(&event);
                    let prepared = Arc::new(PreparedEvent::new(event));
                    if shared.is_clustered() {
                        // No hand-off across processes: the owners read it from storage.
                        for delivery in &deliveries {
                            shared.signal(Signal::Work(delivery.endpoint_id.clone()));
                        }
                    } else {
                        // Hand off before answering: a caller that publishes again
                        // after this returns finds these deliveries ahead of its next.
                        for delivery in deliveries {
                            let endpoint_id = delivery.endpoint_id.clone();
                            let hand_off = HandOff {
                                delivery,
                                event: Some(prepared.clone()),
                            };
                            shared.deliver(&endpoint_id, EndpointMsg::Enqueue(hand_off));
                        }
                    }
                    Ok(Published {
                        event: Arc::unwrap_or_clone(prepared).event,
                        created: true,
                    })
                }
                Ok(InsertEvent::Exists(existing))
                    if strict_repeat && !existing.is_same_publish(&event) =>
                {
                    Err(Error::IdempotencyConflict {
                        tenant: existing.tenant,
                        event_id: existing.id,
                    })
                }
                Ok(InsertEvent::Exists(existing)) => Ok(Published {
                    event: existing,
                    created: false,
                }),
                Err(error) => Err(Error::Storage(error)),
            };
            drop(permit);
            let _ = reply.send(result);
        });
    }
}

impl Actor for Router {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = ();

    /// Builds the index from every stored endpoint, reading them a page at a time.
    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RouterState::load(&self.shared).await?)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RouterMsg::Publish(request, reply) => state.publish(&self.shared, request, reply),
            RouterMsg::Upsert(endpoint) => state.upsert(&self.shared, &endpoint),
            RouterMsg::Remove(tenant, id) => {
                state.index.remove(&tenant, &id);
                state.modes.remove(&id);
            }
            RouterMsg::Reload => match RouterState::load(&self.shared).await {
                Ok(fresh) => *state = fresh,
                Err(error) => tracing::error!(%error, "reading the endpoints again failed"),
            },
        }
        Ok(())
    }
}

//! Router: owns the subscription index; a publish is matched here, given its
//! delivery ids (`publishes`: one publish at a time, so ids follow publish order),
//! stored in one durable write (in a task, so concurrent publishes share group
//! commits), handed to the endpoints' actors, and answered.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::actors::endpoint::{EndpointMsg, HandOff};
use crate::actors::Shared;
use crate::error::Error;
use crate::filter::SubscriptionIndex;
use crate::ids::{EndpointId, EventId, TenantId};
use crate::metrics;
use crate::model::{Delivery, Endpoint, Event};
use crate::request::PreparedEvent;
use crate::storage::{self, InsertEvent};

/// A validated publish on its way to storage.
pub(crate) struct PublishRequest {
    pub(crate) tenant: TenantId,
    pub(crate) event_type: String,
    /// Compact JSON.
    pub(crate) data: String,
    pub(crate) channels: Vec<String>,
    /// The caller's idempotency key, if any.
    pub(crate) id: Option<EventId>,
    /// Deliver to this endpoint only, bypassing the filters (test events).
    pub(crate) only: Option<EndpointId>,
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
}

/// The actor.
pub(crate) struct Router {
    pub(crate) shared: Arc<Shared>,
}

/// The Router's state.
pub(crate) struct RouterState {
    /// Every active endpoint's filters.
    index: SubscriptionIndex,
}

impl RouterState {
    fn publish(
        &self,
        shared: &Arc<Shared>,
        request: PublishRequest,
        reply: oneshot::Sender<Result<Published, Error>>,
    ) {
        let targets = match &request.only {
            Some(id) => vec![id.clone()],
            None => self
                .index
                .matching(&request.tenant, &request.event_type, &request.channels),
        };
        // Delivery ids are made here, one publish at a time, so they follow publish
        // order; the event is created at the time they carry.
        let (now, ids, ticket) = shared.publishes.begin(shared.clock.now(), targets.len());
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
        let shared = shared.clone();
        let permit = request.permit;
        tokio::spawn(async move {
            let inserted = shared.storage.insert_event(&event, &deliveries).await;
            // The write is done: loads waiting for this publish may read now.
            drop(ticket);
            let result = match inserted {
                Ok(InsertEvent::Inserted) => {
                    metrics::event_published();
                    let prepared = Arc::new(PreparedEvent::new(event));
                    // Hand off before answering: a caller that publishes again after
                    // this returns finds these deliveries ahead of its next ones.
                    for delivery in deliveries {
                        let endpoint_id = delivery.endpoint_id.clone();
                        let hand_off = HandOff {
                            delivery,
                            event: Some(prepared.clone()),
                        };
                        shared.deliver(&endpoint_id, EndpointMsg::Enqueue(hand_off));
                    }
                    Ok(Published {
                        event: Arc::unwrap_or_clone(prepared).event,
                        created: true,
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
        let mut index = SubscriptionIndex::new();
        storage::for_each_endpoint_page(&*self.shared.storage, |page| {
            for endpoint in &page {
                index.upsert(endpoint);
            }
        })
        .await?;
        Ok(RouterState { index })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RouterMsg::Publish(request, reply) => state.publish(&self.shared, request, reply),
            RouterMsg::Upsert(endpoint) => state.index.upsert(&endpoint),
            RouterMsg::Remove(tenant, id) => state.index.remove(&tenant, &id),
        }
        Ok(())
    }
}

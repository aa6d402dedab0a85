//! `Engine`, the public handle: start, endpoints, publish, queries, replay, listeners,
//! shutdown. Each call validates, talks to storage, and tells the actors what changed.

use std::collections::VecDeque;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::time::Duration;

use ractor::Actor;
use serde_json::value::RawValue;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::actors::router::{Publish, RouterMsg};
use crate::actors::supervisor::Supervisor;
use crate::actors::Shared;
use crate::cluster::{ClusterEvent, Membership, Signal, SingleNode};
use crate::config::{EffectivePolicy, EngineConfig};
use crate::disable;
use crate::error::{Error, Invalid};
use crate::filter::{validate_event_type, NOTIFICATION_PREFIX};
use crate::ids::{DeliveryId, EndpointId, EventId, TenantId};
use crate::model::{
    minify_json_with_depth, Attempt, AttemptFilter, Delivery, DeliveryStatus, DisabledReason,
    Endpoint, EndpointPatch, Event, NewEndpoint, NewEvent, MAX_DATA_DEPTH,
};
use crate::notices::{self, EndpointChange, Notice};
use crate::notify::OperationalEvent;
use crate::profile::{Profile, Profiles};
use crate::signing::Secret;
use crate::storage::{CreateEndpoint, EventFilter, Page, PageRequest, ReplaceEndpoint, Storage};
use crate::tenants::{CatalogDoc, Tenants};
use crate::time::Timestamp;
use crate::transport::Transport;
use crate::validate;
use crate::views::EndpointInfo;

pub use crate::actors::router::Published;

/// A new endpoint and its secret: the only time the secret is shown, apart from rotation.
#[derive(Debug, Clone)]
pub struct CreatedEndpoint {
    /// The endpoint as the API shows it.
    pub info: EndpointInfo,
    /// Its secret.
    pub secret: Secret,
}

/// The answer to a secret rotation.
#[derive(Debug, Clone)]
pub struct RotatedSecret {
    /// The new secret.
    pub secret: Secret,
    /// Until when the previous one still signs.
    pub previous_valid_until: Timestamp,
}

/// What the endpoint actors' queues hold against the `queue_memory` budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueMemory {
    /// Bytes held now (an estimate of the waiting deliveries and their bodies).
    pub used: usize,
    /// `EngineConfig::queue_memory`.
    pub limit: usize,
}

/// The engine: a cheap-to-clone handle on the actors, storage and transport.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// The retention purge loop, stopped at shutdown or drop.
    purge: JoinHandle<()>,
    /// The task that restarts the Supervisor, stopped at shutdown or drop.
    watchdog: JoinHandle<()>,
    /// The task that acts on what the membership reports (shared storage only).
    cluster: Option<JoinHandle<()>>,
    /// Turns true when the engine gave up (see `Engine::failed`).
    failure: watch::Receiver<bool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.purge.abort();
        self.watchdog.abort();
        if let Some(cluster) = &self.cluster {
            cluster.abort();
        }
    }
}

/// Supervisor restarts allowed within `SUPERVISOR_WINDOW`; one more marks the engine
/// failed (a process manager restarting the whole process is the better cure then).
const SUPERVISOR_BUDGET: usize = 5;
const SUPERVISOR_WINDOW: Duration = Duration::from_secs(60);

/// Tries of a change to an endpoint that keeps meeting a newer version.
const CHANGE_TRIES: usize = 16;

/// Dead letters a replay reads, requeues and stores at once: one storage write
/// each, and at most this many deliveries in memory.
const REPLAY_PAGE: usize = 1000;

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// Clamps a page size to the API's rules (default 50, at most 250).
pub fn page_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(50).clamp(1, 250)
}

impl Engine {
    /// Starts the actors on `storage` and `transport`. Pending deliveries found in
    /// storage resume at once.
    ///
    /// # Errors
    /// `Error::Invalid` for a bad default schedule; `Error::Storage` when the endpoints
    /// cannot be read; `Error::NotRunning` when the actors fail to start.
    pub async fn start(
        storage: Arc<dyn Storage>,
        transport: Arc<dyn Transport>,
        config: EngineConfig,
    ) -> Result<Engine, Error> {
        Self::start_in(storage, transport, config, Arc::new(SingleNode)).await
    }

    /// Starts the actors as one engine of several sharing `storage`: it delivers for
    /// the endpoints `membership` says it owns, and tells the others what it stores
    /// (`cluster`).
    ///
    /// # Errors
    /// As `start`.
    pub async fn start_in(
        storage: Arc<dyn Storage>,
        transport: Arc<dyn Transport>,
        config: EngineConfig,
        membership: Arc<dyn Membership>,
    ) -> Result<Engine, Error> {
        crate::retry::RetrySchedule::new(config.delivery.retry_schedule.clone())?;
        let profiles = Profiles::new(config.profiles.clone())?;
        if profiles.get(&config.tenants.default_profile).is_none() {
            return Err(Invalid::new(
                "tenants.default_profile",
                format!("no profile is named `{}`", config.tenants.default_profile),
            )
            .into());
        }
        let catalog = config
            .event_types
            .iter()
            .map(CatalogDoc::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let tenants = Tenants::new(config.tenants.clone(), catalog);
        let last_delivery = storage.last_delivery_id().await?;
        let events = membership.take_events();
        let shared = Arc::new(Shared::new(
            storage,
            transport,
            membership,
            config,
            profiles,
            tenants,
            last_delivery,
        ));
        if shared.is_clustered() {
            // Read before the Router reads the endpoints: later changes are applied
            // on top of what it reads.
            let position = shared.storage.endpoint_change_position().await?;
            shared.changes.start_at(position);
        }
        let supervisor = start_supervisor(&shared).await.map_err(|error| {
            tracing::error!(%error, "starting the engine's actors failed");
            Error::NotRunning
        })?;
        let (failed, failure) = watch::channel(false);
        let watchdog = tokio::spawn(watch_supervisor(shared.clone(), supervisor, failed));
        let purge = tokio::spawn(purge_loop(shared.clone()));
        let cluster = events.map(|events| tokio::spawn(cluster_loop(shared.clone(), events)));
        tracing::info!("engine started");
        Ok(Engine {
            inner: Arc::new(Inner {
                shared,
                purge,
                watchdog,
                cluster,
                failure,
            }),
        })
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn storage(&self) -> &dyn Storage {
        self.inner.shared.storage.as_ref()
    }

    /// The storage, for the engine's other modules.
    pub(crate) fn storage_handle(&self) -> &dyn Storage {
        self.storage()
    }

    fn now(&self) -> Timestamp {
        self.shared().clock.now()
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.shared().config
    }

    /// Every delivery profile: the built-ins first, then the configured ones.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.shared().profiles.iter().map(|p| p.as_ref())
    }

    /// A delivery profile by name.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.shared().profiles.get(name).map(|p| p.as_ref())
    }

    fn tell_router(&self, message: RouterMsg) {
        if let Some(router) = self.shared().router() {
            let _ = router.cast(message);
        }
    }

    /// Tells the endpoint's actor (starting one when none runs), and the other
    /// engines on the storage, that the endpoint changed in storage.
    fn tell_endpoint_changed(&self, tenant: &TenantId, endpoint_id: &EndpointId) {
        self.shared()
            .signal(Signal::EndpointChanged(tenant.clone(), endpoint_id.clone()));
    }

    /// Tells the endpoint's actor (wherever it runs) that deliveries were queued
    /// again in storage.
    fn tell_deliveries_changed(&self, endpoint_id: &EndpointId) {
        self.shared().signal(Signal::Requeued(endpoint_id.clone()));
    }

    /// Applies `change` to the endpoint as stored and stores the result over the
    /// version it was made from, reading again and retrying when another change came
    /// first (a change is never lost to a concurrent one). `change` gets the current
    /// endpoint and returns the next one (its version is set here) with a value.
    async fn change_endpoint<T>(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        mut change: impl FnMut(&Endpoint) -> Result<(Endpoint, T), Error>,
    ) -> Result<(Endpoint, T), Error> {
        for _ in 0..CHANGE_TRIES {
            let current = self.endpoint(tenant, id).await?;
            let (mut next, value) = change(&current)?;
            next.version = current.version + 1;
            match self
                .storage()
                .replace_endpoint(&next, current.version)
                .await?
            {
                ReplaceEndpoint::Replaced => return Ok((next, value)),
                ReplaceEndpoint::Stale(None) => {
                    return Err(Error::EndpointNotFound {
                        tenant: tenant.clone(),
                        endpoint_id: id.clone(),
                    })
                }
                ReplaceEndpoint::Stale(Some(_)) => {}
            }
        }
        Err(Error::Conflict(
            "the endpoint kept changing while this change was made: try again".into(),
        ))
    }

    async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Endpoint, Error> {
        self.storage()
            .get_endpoint(tenant, id)
            .await?
            .ok_or_else(|| Error::EndpointNotFound {
                tenant: tenant.clone(),
                endpoint_id: id.clone(),
            })
    }

    async fn info(&self, endpoint: Endpoint) -> Result<EndpointInfo, Error> {
        let health = self.storage().endpoint_health(&endpoint.id).await?;
        // A streak from before the last enable no longer counts, even before the
        // endpoint's actor has written that down.
        let health = disable::effective(health, endpoint.enabled_at);
        let counts = self.storage().delivery_counts(&endpoint.id).await?;
        Ok(EndpointInfo {
            policy: EffectivePolicy::resolve(&endpoint, &self.config().delivery),
            breaker: self.shared().breaker_status(&endpoint.id),
            health,
            counts,
            endpoint,
        })
    }

    /// Creates an endpoint; it receives the very next matching publish.
    ///
    /// # Errors
    /// `Error::Invalid` naming the field; `Error::Storage`.
    pub async fn create_endpoint(
        &self,
        tenant: &TenantId,
        input: NewEndpoint,
    ) -> Result<CreatedEndpoint, Error> {
        let state = self.tenant_state(tenant).await?;
        let defaults = &self.shared().tenants.defaults;
        let default_profile = state
            .settings
            .default_profile
            .as_deref()
            .unwrap_or(&defaults.default_profile);
        let endpoint = validate::new_endpoint(
            tenant.clone(),
            input,
            &self.config().destinations,
            &self.shared().profiles,
            default_profile,
            self.now(),
        )?;
        let limit = state
            .settings
            .max_endpoints
            .unwrap_or(defaults.max_endpoints);
        self.store_new_endpoint(&endpoint, Some(u64::from(limit)))
            .await?;
        let secret = endpoint.secrets.current.clone();
        Ok(CreatedEndpoint {
            info: self.info(endpoint).await?,
            secret,
        })
    }

    /// Stores a new endpoint within `limit` endpoints of its tenant, and indexes it.
    pub(crate) async fn store_new_endpoint(
        &self,
        endpoint: &Endpoint,
        limit: Option<u64>,
    ) -> Result<(), Error> {
        let created = self
            .storage()
            .create_endpoint_within(endpoint, limit)
            .await?;
        if created == CreateEndpoint::LimitReached {
            return Err(Error::Conflict(format!(
                "the tenant has its limit of {} endpoints (max_endpoints)",
                limit.unwrap_or(0)
            )));
        }
        self.tell_router(RouterMsg::Upsert(endpoint.clone()));
        // No actor here needs it (the endpoint has no work yet); other engines do.
        self.shared().membership.tell(Signal::EndpointChanged(
            endpoint.tenant.clone(),
            endpoint.id.clone(),
        ));
        Ok(())
    }

    /// The tenant as applied: its settings, rate and catalog.
    pub(crate) async fn tenant_state(
        &self,
        tenant: &TenantId,
    ) -> Result<Arc<crate::tenants::TenantState>, Error> {
        Ok(self.shared().tenants.get(self.storage(), tenant).await?)
    }

    /// One endpoint.
    ///
    /// # Errors
    /// `Error::EndpointNotFound`; `Error::Storage`.
    pub async fn get_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<EndpointInfo, Error> {
        let endpoint = self.endpoint(tenant, id).await?;
        self.info(endpoint).await
    }

    /// A tenant's endpoints, newest first.
    ///
    /// # Errors
    /// `Error::Storage`.
    pub async fn list_endpoints(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<EndpointInfo>, Error> {
        let found = self.storage().list_endpoints(tenant, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for endpoint in found.items {
            items.push(self.info(endpoint).await?);
        }
        Ok(Page {
            items,
            next_cursor: found.next_cursor,
        })
    }

    /// Changes an endpoint. `active: false` disables it (reason `manual`) and moves its
    /// pending deliveries to dead letters; `active: true` re-enables it and resets its
    /// breaker and failure streak. Takes effect for the very next publish.
    ///
    /// # Errors
    /// `Error::Invalid`; `Error::EndpointNotFound`; `Error::Storage`.
    pub async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        mut patch: EndpointPatch,
    ) -> Result<EndpointInfo, Error> {
        let active = patch.active.take();
        let destinations = &self.config().destinations;
        let profiles = &self.shared().profiles;
        let now = self.now();
        let (next, ()) = self
            .change_endpoint(tenant, id, |current| {
                let mut next =
                    validate::patch_endpoint(current, patch.clone(), destinations, profiles, now)?;
                match active {
                    Some(false) if current.active => {
                        next.active = false;
                        next.disabled_reason = Some(DisabledReason::Manual);
                    }
                    Some(true) if !current.active => {
                        next.active = true;
                        next.disabled_reason = None;
                        // Its actor resets the breaker and the failure streak.
                        next.enabled_at = Some(now);
                    }
                    _ => {}
                }
                Ok((next, ()))
            })
            .await?;
        self.tell_router(RouterMsg::Upsert(next.clone()));
        self.tell_endpoint_changed(tenant, id);
        if active == Some(true) && next.enabled_at == Some(now) {
            let change = EndpointChange {
                tenant: tenant.clone(),
                endpoint_id: id.clone(),
                url: next.url.clone(),
                at: now.to_rfc3339(),
            };
            // The change is stored; a notice that fails is logged, not a failure of it.
            if let Err(error) =
                notices::announce(self.shared(), Notice::EndpointEnabled(change, next.version))
                    .await
            {
                tracing::error!(%error, endpoint_id = %id, "announcing an enabled endpoint failed");
            }
        }
        self.info(next).await
    }

    /// Deletes an endpoint. Its pending deliveries become dead with reason
    /// `endpoint_deleted` (no operational event); its history stays until retention.
    ///
    /// # Errors
    /// `Error::EndpointNotFound`; `Error::Storage`.
    pub async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<(), Error> {
        let removed = self
            .storage()
            .delete_endpoint(tenant, id, self.now())
            .await?;
        if removed.is_none() {
            return Err(Error::EndpointNotFound {
                tenant: tenant.clone(),
                endpoint_id: id.clone(),
            });
        }
        self.tell_router(RouterMsg::Remove(tenant.clone(), id.clone()));
        self.tell_endpoint_changed(tenant, id);
        Ok(())
    }

    /// Rotates the endpoint's secret; the previous one keeps signing for the rotation
    /// grace period.
    ///
    /// # Errors
    /// `Error::Invalid { field: "secret" }`; `Error::EndpointNotFound`; `Error::Storage`.
    pub async fn rotate_secret(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        secret: Option<String>,
    ) -> Result<RotatedSecret, Error> {
        let generated = Secret::generate();
        let now = self.now();
        let profiles = &self.shared().profiles;
        let defaults = &self.config().delivery;
        let mut valid_until = now;
        let (_, new_secret) = self
            .change_endpoint(tenant, id, |current| {
                let profile = profiles.get(&current.profile);
                let grace = profile
                    .map(|p| p.delivery().apply(defaults).rotation_grace)
                    .unwrap_or(defaults.rotation_grace);
                valid_until = now.plus(grace);
                let new_secret = match (&secret, profile) {
                    (Some(text), Some(profile)) => profile.parse_secret(text)?,
                    (Some(_), None) => {
                        return Err(Invalid::new(
                            "profile",
                            format!("no profile is named `{}`", current.profile),
                        )
                        .into())
                    }
                    (None, _) => generated.clone(),
                };
                let mut next = current.clone();
                next.secrets.rotate(new_secret.clone(), valid_until);
                next.updated_at = now;
                Ok((next, new_secret))
            })
            .await?;
        self.tell_endpoint_changed(tenant, id);
        Ok(RotatedSecret {
            secret: new_secret,
            previous_valid_until: valid_until,
        })
    }

    /// Sends a synthetic event to this endpoint only, through the normal path.
    ///
    /// # Errors
    /// `Error::EndpointNotFound`; `Error::Conflict` when it is disabled; `Error::Invalid`.
    pub async fn send_test_event(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        event_type: Option<String>,
        data: Option<Box<RawValue>>,
    ) -> Result<Published, Error> {
        let endpoint = self.endpoint(tenant, id).await?;
        if !endpoint.active {
            return Err(Error::Conflict("the endpoint is disabled".into()));
        }
        let event_type = event_type.unwrap_or_else(|| "webhook.test".to_owned());
        let data = match data {
            Some(data) => data,
            None => {
                // access.md §4: a test event of a catalog type sends its example.
                let state = self.tenant_state(tenant).await?;
                let example = self
                    .shared()
                    .tenants
                    .entry(&state, &event_type)
                    .and_then(|entry| entry.entry.example.clone());
                let text = match example {
                    Some(example) => example.to_string(),
                    None => format!("{{\"endpoint_id\":\"{id}\"}}"),
                };
                RawValue::from_string(text).map_err(|_| Invalid::new("data", "not JSON"))?
            }
        };
        let input = NewEvent {
            event_type,
            data,
            id: None,
            channels: None,
        };
        self.publish_to(tenant, input, Some(id.clone())).await
    }

    /// Publishes an event to every matching endpoint of the tenant. Returns once the
    /// event and its deliveries are durable. With an idempotency key (`input.id`) seen
    /// before, creates nothing and returns the first event (`created: false`) when
    /// this publish repeats it (`Event::is_same_publish`).
    ///
    /// # Errors
    /// `Error::Invalid` naming the field; `Error::PayloadTooLarge`;
    /// `Error::IdempotencyConflict` for a seen key with another type, data or
    /// channels; `Error::NotRunning` during shutdown; `Error::Storage`.
    pub async fn publish(&self, tenant: &TenantId, input: NewEvent) -> Result<Published, Error> {
        self.publish_to(tenant, input, None).await
    }

    async fn publish_to(
        &self,
        tenant: &TenantId,
        input: NewEvent,
        only: Option<EndpointId>,
    ) -> Result<Published, Error> {
        if self.shared().is_closing() {
            return Err(Error::NotRunning);
        }
        validate_event_type(&input.event_type, "type")?;
        if input.event_type.starts_with(NOTIFICATION_PREFIX) {
            return Err(Invalid::new(
                "type",
                format!(
                    "the `{NOTIFICATION_PREFIX}` prefix is reserved for Herald's notifications"
                ),
            )
            .into());
        }
        let channels = validate::validate_channels(input.channels.as_deref().unwrap_or(&[]))?;
        let id = input.id.as_deref().map(EventId::parse).transpose()?;
        let (data, depth) = minify_json_with_depth(input.data.get());
        if depth > MAX_DATA_DEPTH {
            return Err(Invalid::new(
                "data",
                format!("nested deeper than {MAX_DATA_DEPTH} levels"),
            )
            .into());
        }
        let limit = self.config().delivery.max_payload_bytes;
        if data.len() > limit {
            return Err(Error::PayloadTooLarge {
                size: data.len(),
                limit,
            });
        }
        // Refused before anything is stored: a type outside a strict catalog, data
        // that does not fit its type's schema, a publish over the tenant's rate.
        let state = self.tenant_state(tenant).await?;
        if let Err(error) = self
            .shared()
            .tenants
            .admit(&state, &input.event_type, &data)
        {
            // A repeated idempotency key stores nothing: its answer (the first event,
            // or a conflict) stands over the rate, so that a publisher retrying after
            // a lost answer learns the outcome instead of waiting for a token.
            let repeat = match (&error, &id) {
                (Error::RateLimited { .. }, Some(id)) => {
                    self.storage().get_event(tenant, id).await?.is_some()
                }
                _ => false,
            };
            if !repeat {
                return Err(error);
            }
        }
        self.shared()
            .submit(Publish {
                tenant: tenant.clone(),
                event_type: input.event_type,
                data,
                channels,
                id,
                only,
                strict_repeat: true,
            })
            .await
    }

    /// One event.
    ///
    /// # Errors
    /// `Error::EventNotFound`; `Error::Storage`.
    pub async fn get_event(&self, tenant: &TenantId, id: &EventId) -> Result<Event, Error> {
        self.storage()
            .get_event(tenant, id)
            .await?
            .ok_or_else(|| Error::EventNotFound {
                tenant: tenant.clone(),
                event_id: id.clone(),
            })
    }

    /// A tenant's events, newest first. A call reads at most
    /// `storage::EVENT_SCAN_LIMIT` events: with a type filter, the page may be short
    /// or empty and still have a cursor.
    ///
    /// # Errors
    /// `Error::Invalid` naming `cursor`; `Error::Storage`.
    pub async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>, Error> {
        Ok(self.storage().list_events(tenant, filter, page).await?)
    }

    /// A page of the deliveries of one event, in creation order.
    ///
    /// # Errors
    /// `Error::EventNotFound`; `Error::Invalid` naming `cursor`; `Error::Storage`.
    pub async fn event_deliveries(
        &self,
        tenant: &TenantId,
        id: &EventId,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, Error> {
        self.get_event(tenant, id).await?;
        Ok(self.storage().event_deliveries(tenant, id, page).await?)
    }

    /// One delivery.
    ///
    /// # Errors
    /// `Error::DeliveryNotFound`; `Error::Storage`.
    pub async fn get_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Delivery, Error> {
        self.storage()
            .get_delivery(tenant, id)
            .await?
            .ok_or_else(|| Error::DeliveryNotFound {
                tenant: tenant.clone(),
                delivery_id: id.clone(),
            })
    }

    /// An endpoint's attempts that pass `filter`, newest first. Storage filters by
    /// outcome; the type and time parts are applied here over storage's pages, so
    /// one call passes over at most about `ATTEMPT_SCAN_LIMIT` attempts: a page may
    /// end short, or empty, and still have a cursor. Attempts older than `since`
    /// end the list.
    ///
    /// # Errors
    /// `Error::EndpointNotFound`; `Error::Storage`.
    pub async fn list_attempts(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> Result<Page<Attempt>, Error> {
        self.endpoint(tenant, endpoint_id).await?;
        let storage = self.storage();
        if filter.is_outcome_only() {
            return Ok(storage
                .list_attempts(tenant, endpoint_id, filter.outcome, page)
                .await?);
        }
        let mut found = Vec::new();
        let mut cursor = page.cursor.clone();
        let mut scanned = 0;
        loop {
            let request = PageRequest {
                limit: page.limit,
                cursor: cursor.clone(),
            };
            let batch = storage
                .list_attempts(tenant, endpoint_id, filter.outcome, &request)
                .await?;
            // An empty page with a cursor: storage passed over its own scan limit.
            scanned += if batch.items.is_empty() {
                crate::storage::ATTEMPT_SCAN_LIMIT
            } else {
                0
            };
            for attempt in batch.items {
                scanned += 1;
                if filter.since.is_some_and(|since| attempt.started_at < since) {
                    return Ok(Page {
                        items: found,
                        next_cursor: None,
                    });
                }
                if !filter.matches(&attempt) {
                    continue;
                }
                found.push(attempt);
                if found.len() == page.limit {
                    let position = found.last().map(crate::storage::attempt_cursor);
                    return Ok(Page {
                        items: found,
                        next_cursor: position,
                    });
                }
            }
            cursor = match batch.next_cursor {
                Some(next) => Some(next),
                None => {
                    return Ok(Page {
                        items: found,
                        next_cursor: None,
                    })
                }
            };
            if scanned >= crate::storage::ATTEMPT_SCAN_LIMIT {
                return Ok(Page {
                    items: found,
                    next_cursor: cursor,
                });
            }
        }
    }

    /// An endpoint's dead letters, newest first.
    ///
    /// # Errors
    /// `Error::EndpointNotFound`; `Error::Storage`.
    pub async fn list_dead_letters(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, Error> {
        self.endpoint(tenant, endpoint_id).await?;
        Ok(self
            .storage()
            .list_dead_letters(tenant, endpoint_id, page)
            .await?)
    }

    /// Queues every dead delivery of the endpoint (that died in `[since, until)`, when
    /// given) again with a fresh retry budget. Returns how many.
    ///
    /// Works a page of `REPLAY_PAGE` dead letters at a time, newest first, each
    /// page stored before the next is read: memory stays bounded however many there
    /// are. A page continues below the previous one's ids, so a delivery replayed
    /// here is never met again, even if it dies again meanwhile; one dying for the
    /// first time meanwhile is replayed only when the pages have not passed its id.
    ///
    /// # Errors
    /// `Error::EndpointNotFound`; `Error::Conflict` when the endpoint is disabled;
    /// `Error::Storage` (the pages stored before it stay replayed).
    pub async fn replay_dead_letters(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<u64, Error> {
        let endpoint = self.endpoint(tenant, endpoint_id).await?;
        if !endpoint.active {
            return Err(Error::Conflict(
                "the endpoint is disabled: enable it before replaying".into(),
            ));
        }
        let now = self.now();
        let mut page = PageRequest::first(REPLAY_PAGE);
        let mut replayed = 0u64;
        loop {
            let found = self
                .storage()
                .list_dead_letters(tenant, endpoint_id, &page)
                .await?;
            let mut replay: Vec<Delivery> = found
                .items
                .into_iter()
                .filter(|d| {
                    since.is_none_or(|s| d.updated_at >= s)
                        && until.is_none_or(|u| d.updated_at < u)
                })
                .collect();
            if !replay.is_empty() {
                for delivery in &mut replay {
                    delivery.requeue(now);
                }
                self.storage().update_deliveries(&replay).await?;
                replayed += replay.len() as u64;
                // Its actor starts on this page while the next is read.
                self.tell_deliveries_changed(endpoint_id);
            }
            match found.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(replayed),
            }
        }
    }

    /// Queues one delivery (dead or succeeded) again with a fresh retry budget.
    ///
    /// # Errors
    /// `Error::DeliveryNotFound`; `Error::Conflict` when it is pending already or its
    /// endpoint is gone or disabled; `Error::Storage`.
    pub async fn retry_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Delivery, Error> {
        let mut delivery = self.get_delivery(tenant, id).await?;
        if delivery.status == DeliveryStatus::Pending {
            return Err(Error::Conflict("the delivery is already pending".into()));
        }
        match self
            .storage()
            .get_endpoint(tenant, &delivery.endpoint_id)
            .await?
        {
            Some(endpoint) if endpoint.active => {}
            Some(_) => return Err(Error::Conflict("its endpoint is disabled".into())),
            None => return Err(Error::Conflict("its endpoint was deleted".into())),
        }
        delivery.requeue(self.now());
        self.storage()
            .update_deliveries(std::slice::from_ref(&delivery))
            .await?;
        self.tell_deliveries_changed(&delivery.endpoint_id);
        Ok(delivery)
    }

    /// A listener of operational events (`endpoint.disabled`, `delivery.dead`). A
    /// listener that falls more than 1024 events behind loses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<OperationalEvent> {
        self.shared().notifier.subscribe()
    }

    /// What the endpoint actors' queues hold now, against the `queue_memory`
    /// budget. Past the budget each running actor keeps a few waiting deliveries,
    /// so `used` may pass `limit` by that much.
    pub fn queue_memory(&self) -> QueueMemory {
        let budget = &self.shared().queue_memory;
        QueueMemory {
            used: budget.used(),
            limit: budget.limit(),
        }
    }

    /// Whether the actors run and make progress: the engine has not given up, the
    /// Supervisor handled its periodic tick recently and the Router is up.
    pub fn is_ready(&self) -> bool {
        let shared = self.shared();
        if shared.is_closing()
            || shared.failed.load(AtomicOrdering::SeqCst)
            || shared.router().is_none()
        {
            return false;
        }
        let last = Timestamp(shared.heartbeat.load(AtomicOrdering::SeqCst));
        let allowed = shared.config.sweep_interval * 3 + Duration::from_secs(5);
        shared.clock.now().since(last) <= allowed
    }

    /// Resolves once the engine has given up: its Supervisor kept dying and was not
    /// started again (or could not be). The engine then delivers nothing more and
    /// `is_ready` is false; a daemon should exit so a process manager restarts it.
    pub fn failed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut failure = self.inner.failure.clone();
        async move {
            // An error means the watchdog is gone (shutdown): nothing failed then.
            if failure.wait_for(|failed| *failed).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// How many endpoint actors are running (idle endpoints have none).
    ///
    /// # Errors
    /// `Error::NotRunning` when the engine is not running.
    pub async fn running_endpoint_actors(&self) -> Result<usize, Error> {
        if self.shared().supervisor().is_none() {
            return Err(Error::NotRunning);
        }
        Ok(self.shared().directory.len())
    }

    /// Test hook: makes the endpoint's actor fail as a bug would.
    #[cfg(feature = "testing")]
    pub fn crash_endpoint_actor(&self, id: &EndpointId) {
        let _ = self
            .shared()
            .directory
            .send(id, crate::actors::endpoint::EndpointMsg::Crash);
    }

    /// Test hook: makes the Supervisor fail as a bug would (the whole actor tree
    /// dies with it).
    #[cfg(feature = "testing")]
    pub fn crash_supervisor(&self) {
        if let Some(supervisor) = self.shared().supervisor() {
            let _ = supervisor.cast(crate::actors::supervisor::SupervisorMsg::Crash);
        }
    }

    /// Stops gracefully: refuses new publishes, lets in-flight attempts finish and be
    /// recorded (up to `grace`), stops the actors and flushes storage. Pending work
    /// stays in storage and resumes at the next start.
    ///
    /// # Errors
    /// `Error::Storage` when the final flush fails.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), Error> {
        let shared = self.shared();
        shared.closing.store(true, AtomicOrdering::SeqCst);
        shared.feed.close();
        self.inner.purge.abort();
        self.inner.watchdog.abort();
        let deadline = tokio::time::Instant::now() + grace;
        while shared.ledger.total() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let left = shared.ledger.total();
        if left > 0 {
            tracing::warn!(
                attempts = left,
                "shutdown grace elapsed with attempts in flight; they will be retried"
            );
        }
        if let Some(supervisor) = shared.supervisor() {
            let _ = supervisor
                .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
                .await;
        }
        shared.set_supervisor(None);
        self.storage().flush().await?;
        tracing::info!("engine stopped");
        Ok(())
    }
}

/// Starts a Supervisor (and with it the Router) and makes it the engine's.
async fn start_supervisor(shared: &Arc<Shared>) -> Result<JoinHandle<()>, ractor::SpawnErr> {
    let supervisor = Supervisor {
        shared: shared.clone(),
    };
    let (actor, handle) = Actor::spawn(None, supervisor, ()).await?;
    shared.set_supervisor(Some(actor));
    Ok(handle)
}

/// Starts the Supervisor again whenever it dies (the actor tree dies with it; storage
/// and the ledger carry everything over). Past `SUPERVISOR_BUDGET` restarts within
/// `SUPERVISOR_WINDOW`, or when a restart fails, marks the engine failed.
async fn watch_supervisor(
    shared: Arc<Shared>,
    mut supervisor: JoinHandle<()>,
    failed: watch::Sender<bool>,
) {
    let mut restarts: VecDeque<tokio::time::Instant> = VecDeque::new();
    loop {
        let _ = (&mut supervisor).await;
        if shared.is_closing() {
            return;
        }
        shared.set_supervisor(None);
        shared.set_router(None);
        let now = tokio::time::Instant::now();
        while restarts
            .front()
            .is_some_and(|at| now.duration_since(*at) > SUPERVISOR_WINDOW)
        {
            restarts.pop_front();
        }
        if restarts.len() >= SUPERVISOR_BUDGET {
            tracing::error!("the supervisor keeps dying; the engine gives up");
            break;
        }
        restarts.push_back(now);
        tracing::error!("the supervisor died; starting it again");
        match start_supervisor(&shared).await {
            Ok(handle) => supervisor = handle,
            Err(error) => {
                tracing::error!(%error, "starting the supervisor again failed; the engine gives up");
                break;
            }
        }
    }
    shared.failed.store(true, AtomicOrdering::SeqCst);
    let _ = failed.send(true);
    // Keep the sender until the engine is dropped, so `failed()` stays resolved.
    std::future::pending::<()>().await;
}

/// Acts on what the membership reports: other engines' signals, changes of
/// ownership, and resyncs after signals may have been lost.
async fn cluster_loop(
    shared: Arc<Shared>,
    mut events: tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>,
) {
    use crate::actors::supervisor::SupervisorMsg;
    while let Some(event) = events.recv().await {
        match event {
            ClusterEvent::Signal(signal) => on_remote_signal(&shared, signal).await,
            ClusterEvent::OwnershipChanged { done } => {
                let unsent = match shared.supervisor() {
                    Some(supervisor) => match supervisor.cast(SupervisorMsg::Reown(done)) {
                        Err(ractor::MessagingErr::SendErr(SupervisorMsg::Reown(done))) => done,
                        _ => None,
                    },
                    None => done,
                };
                // No Supervisor: no actor runs to let go of.
                if let Some(done) = unsent {
                    let _ = done.send(());
                }
            }
            ClusterEvent::Resync => {
                if let Err(error) = shared.changes.catch_up(&shared).await {
                    tracing::error!(%error, "reading endpoint changes failed");
                }
                if let Some(supervisor) = shared.supervisor() {
                    let _ = supervisor.cast(SupervisorMsg::Reown(None));
                }
            }
        }
    }
}

/// What another engine said, applied here.
async fn on_remote_signal(shared: &Shared, signal: Signal) {
    match &signal {
        Signal::EndpointChanged(_, id) => {
            if let Err(error) = shared.changes.catch_up(shared).await {
                tracing::error!(%error, endpoint_id = %id, "reading endpoint changes failed");
            }
        }
        Signal::KeyRevoked(id) => shared.keys.revoked_elsewhere(id),
        Signal::TenantChanged(tenant) => shared.tenants.forget(tenant),
        Signal::Work(_) | Signal::Requeued(_) => {}
    }
    shared.tell_owned_actor(&signal);
}

/// Purges events and attempt logs older than the retention period, periodically.
async fn purge_loop(shared: Arc<Shared>) {
    let mut ticks = tokio::time::interval(shared.config.purge_interval.max(Duration::from_secs(1)));
    loop {
        ticks.tick().await;
        let cutoff = shared.clock.now().minus(shared.config.delivery.retention);
        match shared.storage.purge_before(cutoff).await {
            Ok(stats) if stats.events + stats.attempts > 0 => {
                tracing::info!(
                    events = stats.events,
                    attempts = stats.attempts,
                    "retention purge"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "retention purge failed"),
        }
    }
}

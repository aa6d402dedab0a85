//! Herald: an embeddable webhook delivery engine.
//!
//! Services that own events push them through an [`Engine`]; Herald delivers each one
//! to every matching endpoint of the tenant, signed (Standard Webhooks by default),
//! retried on a schedule with backoff, behind a circuit breaker, and never lost once
//! `publish` has returned.
//!
//! # Layout
//! - [`engine`]: the public handle; [`config`]: settings and defaults.
//! - [`model`], [`ids`], [`time`]: the records and their ids.
//! - [`storage`] and [`transport`]: the traits backends implement.
//! - Pure rules: [`signing`], [`retry`], [`breaker`], [`disable`], [`filter`],
//!   [`validate`], [`destination`]; inside the crate also `outcome` (what a
//!   response means), `decide` (what it does), `queue` (an actor's pending
//!   deliveries) and `rate` (rate limits).
//! - `actors`: the Supervisor, Router and one EndpointActor per endpoint with work.
//! - [`stream`]: a tenant's events as a Rust `Stream` with resume, fed in publish
//!   order by `feed`.
//! - [`notify`]: operational events; [`metrics`]: metric names; [`views`]: API objects.
//!
//! # Embedding
//! ```
//! use std::sync::Arc;
//! use herald::{Engine, EngineConfig, DestinationPolicy, NewEndpoint, NewEvent, TenantId};
//! use herald_storage_memory::MemoryStorage;
//! use herald_transport_http::{HttpTransport, HttpTransportConfig};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let destinations = DestinationPolicy::permissive(); // production: the default (https, public only)
//! let transport = HttpTransport::new(HttpTransportConfig {
//!     destinations: destinations.clone(),
//!     ..Default::default()
//! })?;
//! let config = EngineConfig { destinations, ..Default::default() };
//! let engine = Engine::start(Arc::new(MemoryStorage::new()), Arc::new(transport), config).await?;
//!
//! let tenant = TenantId::parse("acme")?;
//! let mut input = NewEndpoint::new("http://127.0.0.1:9/hooks");
//! input.event_types = Some(vec!["order.*".into()]);
//! let created = engine.create_endpoint(&tenant, input).await?;
//! println!("give this secret to the receiver: {}", created.secret.expose());
//!
//! let published = engine
//!     .publish(&tenant, NewEvent::new("order.filled", r#"{"order_id":"ord_1"}"#)?)
//!     .await?;
//! assert_eq!(published.event.deliveries, 1);
//! engine.shutdown(std::time::Duration::from_secs(1)).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs, unreachable_pub)]

pub(crate) mod actors;
pub mod breaker;
pub mod cluster;
pub mod config;
mod decide;
pub mod destination;
pub mod disable;
pub mod engine;
pub mod error;
mod event_cache;
mod fair_share;
mod feed;
pub mod filter;
pub mod ids;
pub mod keys;
mod memory_budget;
pub mod metrics;
pub mod model;
pub mod notices;
pub mod notify;
mod outcome;
pub mod profile;
mod queue;
mod rate;
pub mod request;
pub mod retry;
pub mod sealing;
pub mod signing;
mod sorted_ids;
pub mod storage;
pub mod stream;
mod tenancy;
pub mod tenants;
pub mod time;
pub mod transport;
pub mod validate;
pub mod views;

pub use config::{DeliveryDefaults, EffectivePolicy, EngineConfig};
pub use destination::DestinationPolicy;
pub use engine::{page_limit, CreatedEndpoint, Engine, Published, QueueMemory, RotatedSecret};
pub use error::{Error, Invalid, StorageError};
pub use ids::{AttemptId, DeliveryId, EndpointId, EventId, KeyId, TenantId};
pub use keys::{CreatedKey, NewKey};
pub use model::{
    Attempt, AttemptFilter, AttemptOutcome, DeadReason, Delivery, DeliveryStatus, DisabledReason,
    Endpoint, EndpointHealth, EndpointPatch, Event, NewEndpoint, NewEvent, Ordering,
};
pub use notify::OperationalEvent;
pub use signing::{Secret, SignatureScheme};
pub use storage::{EventFilter, Page, PageRequest, Storage};
pub use stream::{EventStream, StreamEnd, StreamFilter, StreamItem};
pub use tenancy::{TenantChange, MAX_CATALOG_JSON};
pub use time::Timestamp;
pub use transport::{ErrorClass, SignedRequest, Transport, TransportOutcome};
pub use views::EndpointInfo;

//! The engine's error types: `Error` for callers, `StorageError` for backends,
//! `Invalid` for input that does not fit (always naming the field).

use thiserror::Error;

use crate::ids::{DeliveryId, EndpointId, EventId, TenantId};

/// Input that does not fit the contract; `field` names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The offending field, as named in http-api.md (`url`, `headers.x-foo`, `tenant`, ...).
    pub field: String,
    /// What is wrong with it, for people.
    pub message: String,
}

impl Invalid {
    /// Builds an `Invalid` for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A storage backend failed; the backend's own error is kept as the source.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The backend's I/O or database layer failed.
    #[error("storage backend failed: {context}")]
    Backend {
        /// What the storage was doing.
        context: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored record could not be decoded (corruption or an incompatible format).
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The storage has been closed.
    #[error("storage is closed")]
    Closed,
    /// A record the write would create exists already (nothing was written).
    #[error("already stored: {0}")]
    Conflict(String),
    /// A list's cursor that this list did not make: the caller's input, not a
    /// failure (`Error::Invalid` naming `cursor` for callers of the engine).
    #[error("`{0}` is not a cursor of this list")]
    BadCursor(String),
    /// The write was an endpoint owner's, and this node no longer owns the endpoint
    /// (another node took its partition over): nothing was written, and the actor
    /// that tried stops.
    #[error("this node no longer owns endpoint {0}: the write was fenced off")]
    Fenced(String),
    /// The storage does not do this (a storage one engine uses alone is never asked).
    #[error("this storage does not support {0}")]
    Unsupported(&'static str),
}

impl StorageError {
    /// Wraps a backend error with what was being done.
    pub fn backend(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Backend {
            context: context.into(),
            source: Box::new(source),
        }
    }
}

/// Everything an `Engine` call can fail with.
#[derive(Debug, Error)]
pub enum Error {
    /// The input does not fit (422 in the daemon).
    #[error("invalid {0}")]
    Invalid(#[from] Invalid),
    /// No such endpoint for this tenant.
    #[error("endpoint {endpoint_id} not found for tenant {tenant}")]
    EndpointNotFound {
        /// The tenant asked about.
        tenant: TenantId,
        /// The endpoint asked for.
        endpoint_id: EndpointId,
    },
    /// No such event for this tenant.
    #[error("event {event_id} not found for tenant {tenant}")]
    EventNotFound {
        /// The tenant asked about.
        tenant: TenantId,
        /// The event asked for.
        event_id: EventId,
    },
    /// No such delivery for this tenant.
    #[error("delivery {delivery_id} not found for tenant {tenant}")]
    DeliveryNotFound {
        /// The tenant asked about.
        tenant: TenantId,
        /// The delivery asked for.
        delivery_id: DeliveryId,
    },
    /// No such entry in the tenant's event catalog.
    #[error("event type {event_type} is not in the catalog of tenant {tenant}")]
    EventTypeNotFound {
        /// The tenant asked about.
        tenant: TenantId,
        /// The type asked for.
        event_type: String,
    },
    /// No such API key for this tenant.
    #[error("key {id} not found for tenant {tenant}")]
    KeyNotFound {
        /// The tenant asked about.
        tenant: TenantId,
        /// The key asked for.
        id: crate::ids::KeyId,
    },
    /// A publish's idempotency key names an event of the tenant whose type, data or
    /// channels differ (`Event::is_same_publish`): nothing was stored (409 in the
    /// daemon).
    #[error(
        "the idempotency key {event_id} was already used by tenant {tenant} for an event with another type, data or channels"
    )]
    IdempotencyConflict {
        /// The tenant publishing.
        tenant: TenantId,
        /// The key, which is the first event's id.
        event_id: EventId,
    },
    /// The request conflicts with the current state (409 in the daemon).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The payload is larger than the configured limit (413 in the daemon).
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The serialized size of `data`.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The tenant publishes faster than its `publish_rate` (429 in the daemon, with
    /// `retry-after`); nothing was stored.
    #[error("the tenant's publish rate is exceeded; retry after {retry_after:?}")]
    RateLimited {
        /// How long until a publish would be accepted.
        retry_after: std::time::Duration,
    },
    /// The tenant has as many streams open as `max_streams` allows (429 in the
    /// daemon).
    #[error("tenant {tenant} has its limit of {limit} open streams (max_streams)")]
    TooManyStreams {
        /// The tenant.
        tenant: TenantId,
        /// `max_streams`.
        limit: u32,
    },
    /// The engine is shutting down or its actors stopped.
    #[error("engine is not running")]
    NotRunning,
    /// Storage failed.
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for Error {
    /// A cursor the list did not make is the caller's mistake (`Invalid`); every
    /// other storage error is a failure.
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::BadCursor(_) => Self::Invalid(Invalid::new("cursor", error.to_string())),
            error => Self::Storage(error),
        }
    }
}

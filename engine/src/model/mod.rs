//! Plain data records: what storage keeps and the engine passes around.

mod access;
mod attempt;
mod delivery;
mod endpoint;
mod event;

pub use access::{
    ApiKey, EventTypeEntry, EventTypeInput, KeyScope, Tenant, TenantInput, TenantSettings,
};
pub use attempt::{Attempt, AttemptFilter, AttemptOutcome};
pub use delivery::{DeadReason, Delivery, DeliveryStatus};
pub use endpoint::{
    DisabledReason, Endpoint, EndpointHealth, EndpointPatch, NewEndpoint, Ordering,
};
pub use event::{minify_json, minify_json_with_depth, Event, NewEvent, MAX_DATA_DEPTH};

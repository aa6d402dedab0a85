//! The records of access.md §1, §2 and §4: API keys (stored as hashes), a tenant's
//! settings and quotas, and the event catalog's entries.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{EndpointId, KeyId, TenantId};
use crate::time::Timestamp;

/// What an API key may do (access.md §1). The admin key is not stored: it is the
/// daemon's configured or generated token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    /// Every route under its tenant.
    Tenant,
    /// Publishing events to its tenant only.
    Publish,
    /// `GET` routes under its tenant only.
    Read,
}

impl KeyScope {
    /// The scope as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Tenant => "tenant",
            KeyScope::Publish => "publish",
            KeyScope::Read => "read",
        }
    }
}

/// An API key of a tenant, as stored: never its token, only the token's SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// `key_...`.
    pub id: KeyId,
    /// The tenant it acts for.
    pub tenant: TenantId,
    /// What it may do.
    pub scope: KeyScope,
    /// Free text.
    pub description: Option<String>,
    /// Lowercase hex SHA-256 of the token.
    pub token_hash: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it was last used (written at most once a minute).
    pub last_used_at: Option<Timestamp>,
}

/// A tenant's settings (access.md §2). A tenant without stored settings uses the
/// configured defaults; every field left unset here does too.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TenantSettings {
    /// The profile of endpoints created without one.
    pub default_profile: Option<String>,
    /// Most endpoints the tenant may have.
    pub max_endpoints: Option<u32>,
    /// Events per second it may publish (0: unlimited).
    pub publish_rate: Option<u32>,
    /// Where its notifications go: Herald keeps an endpoint for it.
    pub notification_url: Option<String>,
    /// Which notifications go there (`endpoint.disabled`, ...; every one when
    /// empty).
    pub notification_types: Vec<String>,
    /// A publish of a type outside the catalog is refused.
    pub strict_types: bool,
    /// The endpoint Herald keeps for `notification_url`.
    pub notification_endpoint: Option<EndpointId>,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A tenant's stored settings, with the tenant they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant.
    pub id: TenantId,
    /// Its settings.
    pub settings: TenantSettings,
}

/// An entry of a tenant's event catalog (access.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTypeEntry {
    /// The tenant.
    pub tenant: TenantId,
    /// The event type.
    pub event_type: String,
    /// What the event means.
    pub description: Option<String>,
    /// An example of its `data`, compact JSON (test events send it).
    pub example: Option<Arc<str>>,
    /// A JSON Schema its `data` must validate against, compact JSON.
    pub schema: Option<Arc<str>>,
    /// Last change.
    pub updated_at: Timestamp,
}

/// The body of `PUT /v1/tenants/{tenant}`: the whole of a tenant's settings (a
/// field left out returns to the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    /// The profile of endpoints created without one.
    #[serde(default)]
    pub default_profile: Option<String>,
    /// Most endpoints (1 to 1,000,000).
    #[serde(default)]
    pub max_endpoints: Option<u32>,
    /// Events per second (0: no limit).
    #[serde(default)]
    pub publish_rate: Option<u32>,
    /// Where its notifications go (Herald keeps an endpoint for it).
    #[serde(default)]
    pub notification_url: Option<String>,
    /// Which notifications (every one when absent or empty).
    #[serde(default)]
    pub notification_types: Option<Vec<String>>,
    /// Refuse a publish of a type outside the catalog.
    #[serde(default)]
    pub strict_types: Option<bool>,
}

/// The body of `PUT .../event-types/{type}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypeInput {
    /// What the event means (at most 1024 bytes).
    #[serde(default)]
    pub description: Option<String>,
    /// An example of its `data` (test events send it).
    #[serde(default)]
    pub example: Option<Box<serde_json::value::RawValue>>,
    /// A JSON Schema its `data` must validate against.
    #[serde(default)]
    pub schema: Option<Box<serde_json::value::RawValue>>,
}

//! Tenants as the engine applies them (access.md §2 and §4): each tenant's settings
//! with the configured defaults filled in, its publish rate limiter, and its event
//! catalog with the schemas compiled. Read from storage once per tenant, kept, and
//! replaced by the engine's calls that change them.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::error::{Error, Invalid, StorageError};
use crate::ids::TenantId;
use crate::model::{EventTypeEntry, TenantSettings};
use crate::rate::RateLimit;
use crate::storage::{PageRequest, Storage};

/// Most entries one tenant's catalog holds.
pub const MAX_CATALOG: usize = 1000;

/// What tenants get when their settings do not say (config `[tenants]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDefaults {
    /// Most endpoints a tenant may have.
    pub max_endpoints: u32,
    /// Events per second a tenant may publish; 0 means no limit.
    pub publish_rate: u32,
    /// The profile of endpoints created without one.
    pub default_profile: String,
    /// Streams (`Engine::stream`) a tenant may have open at once (access.md §6).
    pub max_streams: u32,
}

impl Default for TenantDefaults {
    fn default() -> Self {
        Self {
            max_endpoints: 1000,
            publish_rate: 0,
            default_profile: "standard".into(),
            max_streams: 100,
        }
    }
}

/// A catalog entry of the configuration (`[event_types."order.filled"]`), for every
/// tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogDoc {
    /// The event type.
    pub event_type: String,
    /// What the event means.
    pub description: Option<String>,
    /// An example of its `data`, JSON.
    pub example: Option<String>,
    /// A JSON Schema its `data` must validate against, JSON.
    pub schema: Option<String>,
}

/// The tenant configured entries are shown under before a tenant asks for them.
pub(crate) fn config_tenant() -> TenantId {
    TenantId::parse("config").expect("a valid tenant name")
}

impl CatalogDoc {
    /// Checks the entry as `Engine::start` will: the type, the example and schema as
    /// JSON, the schema as a JSON Schema, the example against it.
    ///
    /// # Errors
    /// `Invalid` whose field is `event_types."TYPE".KEY`, or `event_types."TYPE"` for
    /// a bad type.
    pub fn check(&self) -> Result<(), Invalid> {
        self.compile().map(drop)
    }

    /// Checks it into a compiled entry.
    ///
    /// # Errors
    /// `Invalid` whose field is `event_types."TYPE".KEY`, or `event_types."TYPE"` for
    /// a bad type.
    pub(crate) fn compile(&self) -> Result<CatalogEntry, Invalid> {
        let field = |key: &str| format!("event_types.\"{}\".{key}", self.event_type);
        // The table's own name is at fault: there is no `type` key to point at.
        let table = format!("event_types.\"{}\"", self.event_type);
        crate::filter::validate_event_type(&self.event_type, &table)?;
        let compact = |text: &Option<String>, key: &str| -> Result<Option<Arc<str>>, Invalid> {
            text.as_deref()
                .map(|t| {
                    serde_json::from_str::<serde_json::Value>(t)
                        .map(|v| Arc::from(v.to_string()))
                        .map_err(|e| Invalid::new(field(key), format!("not JSON: {e}")))
                })
                .transpose()
        };
        let entry = EventTypeEntry {
            tenant: config_tenant(),
            event_type: self.event_type.clone(),
            description: self.description.clone(),
            example: compact(&self.example, "example")?,
            schema: compact(&self.schema, "schema")?,
            updated_at: crate::time::Timestamp::EPOCH,
        };
        CatalogEntry::new(entry).map_err(|e| Invalid::new(field(&e.field), e.message))
    }
}

/// A catalog entry ready to check publishes: its schema compiled.
pub(crate) struct CatalogEntry {
    pub(crate) entry: EventTypeEntry,
    validator: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for CatalogEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogEntry")
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

impl CatalogEntry {
    /// Compiles `entry`'s schema.
    ///
    /// # Errors
    /// `Invalid { field: "schema" }` when it is not JSON or not a JSON Schema; or
    /// `Invalid { field: "example" }` when the example does not validate.
    pub(crate) fn new(entry: EventTypeEntry) -> Result<Self, Invalid> {
        let validator = match &entry.schema {
            None => None,
            Some(text) => {
                let schema: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| Invalid::new("schema", format!("not JSON: {e}")))?;
                let validator = jsonschema::validator_for(&schema)
                    .map_err(|e| Invalid::new("schema", format!("not a valid JSON Schema: {e}")))?;
                Some(validator)
            }
        };
        let compiled = Self { entry, validator };
        if let Some(example) = &compiled.entry.example {
            compiled.check(example).map_err(|e| {
                Invalid::new(
                    "example",
                    format!("does not fit the schema: {}: {}", e.field, e.message),
                )
            })?;
        }
        Ok(compiled)
    }

    /// Checks `data` (compact JSON) against the schema, naming the first failing
    /// path (`data/price`).
    ///
    /// # Errors
    /// `Invalid` whose field is `data` and the JSON pointer of the first failure.
    pub(crate) fn check(&self, data: &str) -> Result<(), Invalid> {
        let Some(validator) = &self.validator else {
            return Ok(());
        };
        let value: serde_json::Value = serde_json::from_str(data)
            .map_err(|e| Invalid::new("data", format!("not JSON: {e}")))?;
        match validator.validate(&value) {
            Ok(()) => Ok(()),
            Err(error) => Err(Invalid::new(
                format!("data{}", error.instance_path()),
                format!(
                    "does not fit the schema of `{}`: {error}",
                    self.entry.event_type
                ),
            )),
        }
    }
}

/// One tenant as the engine applies it.
#[derive(Debug)]
pub(crate) struct TenantState {
    /// Its stored settings (default when none are stored).
    pub(crate) settings: TenantSettings,
    /// Its publish rate, when limited (shared by the states that replace this one,
    /// so a change of the catalog does not refill the bucket).
    pub(crate) rate: Option<Arc<RateLimit>>,
    /// Its own catalog entries by type (the configured ones apply besides).
    pub(crate) catalog: HashMap<String, Arc<CatalogEntry>>,
}

/// Every tenant the engine has met, and the configured catalog.
#[derive(Debug)]
pub(crate) struct Tenants {
    pub(crate) defaults: TenantDefaults,
    /// Catalog entries of the configuration, for every tenant.
    configured: HashMap<String, Arc<CatalogEntry>>,
    known: RwLock<HashMap<TenantId, Arc<TenantState>>>,
}

impl Tenants {
    /// Tenants with these defaults and configured catalog entries (already checked).
    pub(crate) fn new(defaults: TenantDefaults, configured: Vec<CatalogEntry>) -> Self {
        Self {
            defaults,
            configured: configured
                .into_iter()
                .map(|e| (e.entry.event_type.clone(), Arc::new(e)))
                .collect(),
            known: RwLock::new(HashMap::new()),
        }
    }

    /// The tenant as applied, read from storage the first time.
    ///
    /// # Errors
    /// The storage's.
    pub(crate) async fn get(
        &self,
        storage: &dyn Storage,
        tenant: &TenantId,
    ) -> Result<Arc<TenantState>, StorageError> {
        if let Some(state) = self
            .known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
        {
            return Ok(state.clone());
        }
        let settings = storage.tenant_settings(tenant).await?.unwrap_or_default();
        let mut catalog = HashMap::new();
        let mut page = PageRequest::first(250);
        loop {
            let found = storage.list_event_types(tenant, &page).await?;
            for entry in found.items {
                // Stored entries were checked when put; one that no longer compiles
                // (a newer schema dialect) is kept without its schema rather than lost.
                let compiled = CatalogEntry::new(entry.clone()).unwrap_or(CatalogEntry {
                    entry,
                    validator: None,
                });
                catalog.insert(compiled.entry.event_type.clone(), Arc::new(compiled));
            }
            match found.next_cursor {
                Some(cursor) if catalog.len() < MAX_CATALOG => page.cursor = Some(cursor),
                _ => break,
            }
        }
        let state = Arc::new(self.state(settings, catalog));
        self.known
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.clone(), state.clone());
        Ok(state)
    }

    fn state(
        &self,
        settings: TenantSettings,
        catalog: HashMap<String, Arc<CatalogEntry>>,
    ) -> TenantState {
        let rate = settings.publish_rate.unwrap_or(self.defaults.publish_rate);
        TenantState {
            rate: RateLimit::new(rate).map(Arc::new),
            settings,
            catalog,
        }
    }

    /// Forgets what it knows of the tenant (another engine changed it): the next use
    /// reads it from storage again.
    pub(crate) fn forget(&self, tenant: &TenantId) {
        self.known
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(tenant);
    }

    /// Keeps `settings` as the tenant's (they are stored); its catalog stays.
    pub(crate) fn set_settings(
        &self,
        tenant: &TenantId,
        settings: TenantSettings,
        old: &TenantState,
    ) {
        let catalog = old.catalog.clone();
        let state = Arc::new(self.state(settings, catalog));
        self.known
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.clone(), state);
    }

    /// Keeps `entry` (stored) in the tenant's catalog, or removes `event_type`.
    pub(crate) fn set_entry(
        &self,
        tenant: &TenantId,
        event_type: &str,
        entry: Option<CatalogEntry>,
        old: &TenantState,
    ) {
        let mut catalog = old.catalog.clone();
        match entry {
            Some(entry) => {
                catalog.insert(event_type.to_owned(), Arc::new(entry));
            }
            None => {
                catalog.remove(event_type);
            }
        }
        let state = Arc::new(TenantState {
            settings: old.settings.clone(),
            rate: old.rate.clone(),
            catalog,
        });
        self.known
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.clone(), state);
    }

    /// The catalog entry of `event_type` for `tenant`: its own, else the configured.
    pub(crate) fn entry(&self, state: &TenantState, event_type: &str) -> Option<Arc<CatalogEntry>> {
        state
            .catalog
            .get(event_type)
            .or_else(|| self.configured.get(event_type))
            .cloned()
    }

    /// The configured catalog entries, by type.
    pub(crate) fn configured(&self) -> impl Iterator<Item = &Arc<CatalogEntry>> {
        self.configured.values()
    }

    /// Checks a publish of `event_type` with `data` against the tenant's rules: its
    /// publish rate (a token is taken), `strict_types`, and the type's schema.
    ///
    /// # Errors
    /// `Error::RateLimited` over the rate; `Error::Invalid` for a type outside a
    /// strict catalog or data that does not fit its schema.
    pub(crate) fn admit(
        &self,
        state: &TenantState,
        event_type: &str,
        data: &str,
    ) -> Result<(), Error> {
        let entry = self.entry(state, event_type);
        if state.settings.strict_types && entry.is_none() {
            return Err(Invalid::new(
                "type",
                format!("`{event_type}` is not in the tenant's event catalog (strict_types)"),
            )
            .into());
        }
        if let Some(entry) = &entry {
            entry.check(data)?;
        }
        if let Some(rate) = &state.rate {
            rate.try_take()
                .map_err(|wait| Error::RateLimited { retry_after: wait })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::CatalogDoc;

    #[test]
    fn a_bad_configured_type_names_its_table() {
        let doc = CatalogDoc {
            event_type: "bad type".into(),
            description: None,
            example: None,
            schema: Some("{\"type\": 12}".into()),
        };
        assert_eq!(doc.check().unwrap_err().field, "event_types.\"bad type\"");
        let doc = CatalogDoc {
            event_type: "order.filled".into(),
            ..doc
        };
        assert_eq!(
            doc.check().unwrap_err().field,
            "event_types.\"order.filled\".schema"
        );
    }
}

//! The engine's calls on tenants (access.md §2 to §4): their settings and quotas,
//! the notification endpoint Herald keeps for them, and their event catalogs.

use std::sync::Arc;

use crate::engine::Engine;
use crate::error::{Error, Invalid};
use crate::filter::{validate_event_type, NOTIFICATION_PREFIX};
use crate::ids::TenantId;
use crate::model::{EventTypeEntry, EventTypeInput, NewEndpoint, TenantInput, TenantSettings};
use crate::notices::TYPES;
use crate::signing::Secret;
use crate::storage::{Page, PageRequest};
use crate::tenants::{CatalogEntry, MAX_CATALOG};
use crate::validate;
use crate::views::{EventTypeView, TenantView};

/// Largest catalog example or schema, in bytes.
pub const MAX_CATALOG_JSON: usize = 64 * 1024;

/// A tenant's settings as the API shows them, and the notification endpoint's
/// secret when this call created it (the only time it is shown).
#[derive(Debug, Clone)]
pub struct TenantChange {
    /// The tenant's settings, defaults filled in.
    pub view: TenantView,
    /// The secret of a notification endpoint made by this call.
    pub notification_secret: Option<Secret>,
}

impl Engine {
    /// A tenant's settings with the defaults in force filled in.
    ///
    /// # Errors
    /// `Error::Storage`.
    pub async fn tenant_settings(&self, tenant: &TenantId) -> Result<TenantView, Error> {
        let state = self.tenant_state(tenant).await?;
        Ok(TenantView::new(
            tenant,
            &state.settings,
            &self.shared().tenants.defaults,
        ))
    }

    /// Creates or replaces a tenant's settings (a field left out returns to the
    /// default), and creates, changes or deletes the endpoint Herald keeps for its
    /// `notification_url`.
    ///
    /// # Errors
    /// `Error::Invalid` naming the field; `Error::Storage`.
    pub async fn put_tenant_settings(
        &self,
        tenant: &TenantId,
        input: TenantInput,
    ) -> Result<TenantChange, Error> {
        let shared = self.shared();
        if let Some(profile) = &input.default_profile {
            if shared.profiles.get(profile).is_none() {
                return Err(Invalid::new(
                    "default_profile",
                    format!("no profile is named `{profile}`"),
                )
                .into());
            }
        }
        if input
            .max_endpoints
            .is_some_and(|n| !(1..=1_000_000).contains(&n))
        {
            return Err(Invalid::new("max_endpoints", "must be 1 to 1000000").into());
        }
        if input.publish_rate.is_some_and(|n| n > 1_000_000) {
            return Err(Invalid::new(
                "publish_rate",
                "must be 0 (no limit) to 1000000 events per second",
            )
            .into());
        }
        let types = input.notification_types.clone().unwrap_or_default();
        for kind in &types {
            if !TYPES.contains(&kind.as_str()) {
                return Err(Invalid::new(
                    "notification_types",
                    format!("`{kind}` is not one of {}", TYPES.join(", ")),
                )
                .into());
            }
        }
        if let Some(url) = &input.notification_url {
            shared
                .config
                .destinations
                .check_url(url)
                .map_err(|e| Invalid::new("notification_url", e.message))?;
        }
        let state = self.tenant_state(tenant).await?;
        let now = self.shared().clock.now();
        let event_types: Vec<String> = if types.is_empty() {
            vec![format!("{NOTIFICATION_PREFIX}*")]
        } else {
            types
                .iter()
                .map(|t| format!("{NOTIFICATION_PREFIX}{t}"))
                .collect()
        };
        let mut notification_endpoint = state.settings.notification_endpoint.clone();
        let mut notification_secret = None;
        match (&input.notification_url, &notification_endpoint) {
            (Some(url), Some(id)) if self.get_endpoint(tenant, id).await.is_ok() => {
                let patch = crate::model::EndpointPatch {
                    url: Some(url.clone()),
                    event_types: Some(Some(event_types)),
                    active: Some(true),
                    ..Default::default()
                };
                self.update_endpoint(tenant, id, patch).await?;
            }
            (Some(url), _) => {
                let mut new = NewEndpoint::new(url.clone());
                new.description = Some("Herald's notifications (kept by Herald)".into());
                new.event_types = Some(event_types);
                let endpoint = validate::new_endpoint(
                    tenant.clone(),
                    new,
                    &shared.config.destinations,
                    &shared.profiles,
                    "standard",
                    now,
                )?;
                // Herald's own endpoint does not count against the tenant's limit.
                self.store_new_endpoint(&endpoint, None).await?;
                notification_secret = Some(endpoint.secrets.current.clone());
                notification_endpoint = Some(endpoint.id);
            }
            (None, Some(id)) => {
                match self.delete_endpoint(tenant, id).await {
                    Ok(()) | Err(Error::EndpointNotFound { .. }) => {}
                    Err(error) => return Err(error),
                }
                notification_endpoint = None;
            }
            (None, None) => {}
        }
        let settings = TenantSettings {
            default_profile: input.default_profile,
            max_endpoints: input.max_endpoints,
            publish_rate: input.publish_rate,
            notification_url: input.notification_url,
            notification_types: types,
            strict_types: input.strict_types.unwrap_or(false),
            notification_endpoint,
            updated_at: now,
        };
        self.storage_handle()
            .put_tenant_settings(tenant, &settings)
            .await?;
        shared
            .tenants
            .set_settings(tenant, settings.clone(), &state);
        shared.signal(crate::cluster::Signal::TenantChanged(tenant.clone()));
        Ok(TenantChange {
            view: TenantView::new(tenant, &settings, &shared.tenants.defaults),
            notification_secret,
        })
    }

    /// Creates or replaces an entry of the tenant's event catalog.
    ///
    /// # Errors
    /// `Error::Invalid` naming the field (`type`, `description`, `example`,
    /// `schema`); `Error::Storage`.
    pub async fn put_event_type(
        &self,
        tenant: &TenantId,
        event_type: &str,
        input: EventTypeInput,
    ) -> Result<EventTypeView, Error> {
        validate_event_type(event_type, "type")?;
        if event_type.starts_with(NOTIFICATION_PREFIX) {
            return Err(Invalid::new(
                "type",
                format!("the `{NOTIFICATION_PREFIX}` prefix is reserved"),
            )
            .into());
        }
        if input.description.as_ref().is_some_and(|d| d.len() > 1024) {
            return Err(Invalid::new("description", "at most 1024 bytes").into());
        }
        let compact = |raw: &Option<Box<serde_json::value::RawValue>>,
                       field: &str|
         -> Result<Option<Arc<str>>, Invalid> {
            match raw {
                None => Ok(None),
                Some(raw) => {
                    let (text, _) = crate::model::minify_json_with_depth(raw.get());
                    if text.len() > MAX_CATALOG_JSON {
                        return Err(Invalid::new(
                            field,
                            format!("at most {MAX_CATALOG_JSON} bytes"),
                        ));
                    }
                    Ok(Some(Arc::from(text)))
                }
            }
        };
        let entry = EventTypeEntry {
            tenant: tenant.clone(),
            event_type: event_type.to_owned(),
            description: input.description,
            example: compact(&input.example, "example")?,
            schema: compact(&input.schema, "schema")?,
            updated_at: self.shared().clock.now(),
        };
        let compiled = CatalogEntry::new(entry.clone())?;
        let state = self.tenant_state(tenant).await?;
        if !state.catalog.contains_key(event_type) && state.catalog.len() >= MAX_CATALOG {
            return Err(Error::Conflict(format!(
                "the tenant's catalog holds its limit of {MAX_CATALOG} types"
            )));
        }
        self.storage_handle().put_event_type(&entry).await?;
        self.shared()
            .tenants
            .set_entry(tenant, event_type, Some(compiled), &state);
        self.shared()
            .signal(crate::cluster::Signal::TenantChanged(tenant.clone()));
        Ok(EventTypeView::new(tenant, &entry, false))
    }

    /// An entry of the tenant's catalog: its own, else the configured one.
    ///
    /// # Errors
    /// `Error::Invalid { field: "type" }` when there is none; `Error::Storage`.
    pub async fn event_type(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> Result<EventTypeView, Error> {
        let state = self.tenant_state(tenant).await?;
        if let Some(own) = state.catalog.get(event_type) {
            return Ok(EventTypeView::new(tenant, &own.entry, false));
        }
        self.shared()
            .tenants
            .entry(&state, event_type)
            .map(|configured| EventTypeView::new(tenant, &configured.entry, true))
            .ok_or_else(|| Error::EventTypeNotFound {
                tenant: tenant.clone(),
                event_type: event_type.to_owned(),
            })
    }

    /// The tenant's catalog, its own entries and the configured ones it does not
    /// override, in type order; the cursor is the last type.
    ///
    /// # Errors
    /// `Error::Storage`.
    pub async fn list_event_types(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<EventTypeView>, Error> {
        let state = self.tenant_state(tenant).await?;
        let mut all: Vec<EventTypeView> = state
            .catalog
            .values()
            .map(|own| EventTypeView::new(tenant, &own.entry, false))
            .chain(
                self.shared()
                    .tenants
                    .configured()
                    .filter(|c| !state.catalog.contains_key(&c.entry.event_type))
                    .map(|c| EventTypeView::new(tenant, &c.entry, true)),
            )
            .collect();
        all.sort_by(|a, b| a.event_type.cmp(&b.event_type));
        let start = match &page.cursor {
            Some(cursor) => all.partition_point(|v| &v.event_type <= cursor),
            None => 0,
        };
        let items: Vec<EventTypeView> = all.into_iter().skip(start).collect();
        let more = items.len() > page.limit;
        let items: Vec<EventTypeView> = items.into_iter().take(page.limit).collect();
        let next_cursor = if more {
            items.last().map(|v| v.event_type.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Removes an entry of the tenant's own catalog.
    ///
    /// # Errors
    /// `Error::EventTypeNotFound` when the tenant has no such entry of its own;
    /// `Error::Storage`.
    pub async fn delete_event_type(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> Result<(), Error> {
        let state = self.tenant_state(tenant).await?;
        if !self
            .storage_handle()
            .delete_event_type(tenant, event_type)
            .await?
        {
            return Err(Error::EventTypeNotFound {
                tenant: tenant.clone(),
                event_type: event_type.to_owned(),
            });
        }
        self.shared()
            .tenants
            .set_entry(tenant, event_type, None, &state);
        self.shared()
            .signal(crate::cluster::Signal::TenantChanged(tenant.clone()));
        Ok(())
    }
}

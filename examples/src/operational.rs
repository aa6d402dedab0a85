//! The operator's webhook (`operational_webhook_url`) as an endpoint Herald keeps in
//! the reserved tenant `_herald`, subscribed to `endpoint.disabled` and
//! `delivery.dead`: the engine publishes a copy of every tenant's automatic disables
//! and dead deliveries there (`EngineConfig::operator`), so they are stored, signed
//! `standard` with the configured secret, retried and replayable like any event.
//!
//! At each start the endpoint is made to match the configuration: created, changed
//! (URL, secret, enabled again), or deleted when the webhook is no longer configured.

use herald::{EndpointPatch, Engine, NewEndpoint, PageRequest, TenantId};

use crate::config::{OperationalWebhook, OPERATOR_TENANT};

/// The types the operator's endpoint takes (without the tenants' `herald.` prefix).
const OPERATOR_TYPES: [&str; 2] = ["endpoint.disabled", "delivery.dead"];
/// The description that marks the endpoint as the one this module keeps.
const DESCRIPTION: &str = "operational_webhook_url (kept by heraldd)";

/// Makes the `_herald` tenant's endpoint match `target`.
///
/// # Errors
/// The engine's (a storage failure, a URL the destination policy refuses).
pub(crate) async fn reconcile(
    engine: &Engine,
    target: Option<&OperationalWebhook>,
) -> Result<(), herald::Error> {
    let tenant = TenantId::parse(OPERATOR_TENANT)?;
    let page = PageRequest {
        limit: 100,
        cursor: None,
    };
    let existing = engine.list_endpoints(&tenant, &page).await?.items;
    let mut kept = None;
    for info in existing {
        let endpoint = info.endpoint;
        if target.is_some() && kept.is_none() {
            kept = Some(endpoint);
        } else {
            engine.delete_endpoint(&tenant, &endpoint.id).await?;
        }
    }
    let Some(target) = target else {
        return Ok(());
    };
    let event_types: Vec<String> = OPERATOR_TYPES.iter().map(|t| (*t).to_owned()).collect();
    match kept {
        None => {
            let mut input = NewEndpoint::new(target.url.clone());
            input.description = Some(DESCRIPTION.into());
            input.event_types = Some(event_types);
            input.secret = Some(target.secret.expose().to_owned());
            input.profile = Some("standard".into());
            engine.create_endpoint(&tenant, input).await?;
        }
        Some(endpoint) => {
            let patch = EndpointPatch {
                url: Some(target.url.clone()),
                description: Some(Some(DESCRIPTION.into())),
                event_types: Some(Some(event_types)),
                active: Some(true),
                ..EndpointPatch::default()
            };
            engine.update_endpoint(&tenant, &endpoint.id, patch).await?;
            if endpoint.secrets.current.expose() != target.secret.expose() {
                engine
                    .rotate_secret(
                        &tenant,
                        &endpoint.id,
                        Some(target.secret.expose().to_owned()),
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

//! Notifications are events (access.md §3): what Herald says about a tenant's
//! endpoints and deliveries is published into that tenant as an event of a reserved
//! `herald.` type, through the same durable path as any event (stored, signed,
//! retried, replayable), and reaches only endpoints that name a `herald.` type or
//! pattern. Automatic disables and dead deliveries also go to the operator's tenant,
//! when one is configured, as `endpoint.disabled` and `delivery.dead`; and every
//! notice goes to the engine's listeners (`Engine::subscribe`) as before.
//!
//! Each notice has an id made from what it is about, so announcing it twice (after a
//! crash between the change and its notice, the change is made again) stores it once.

use serde::Serialize;

use crate::actors::router::Publish;
use crate::actors::Shared;
use crate::error::Error;
use crate::filter::NOTIFICATION_PREFIX;
use crate::ids::{EndpointId, EventId, TenantId};
use crate::notify::{DeliveryDead, EndpointDisabled, OperationalEvent};

/// The notification types a tenant may ask for (`notification_types`), without the
/// `herald.` prefix.
pub const TYPES: [&str; 5] = [
    "endpoint.disabled",
    "endpoint.enabled",
    "endpoint.breaker_opened",
    "endpoint.breaker_closed",
    "delivery.dead",
];

/// `data` of `endpoint.enabled`, `endpoint.breaker_opened` and
/// `endpoint.breaker_closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointChange {
    /// Owner.
    pub tenant: TenantId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Its URL.
    pub url: String,
    /// RFC 3339 time of the change.
    pub at: String,
}

/// Something Herald announces.
#[derive(Debug, Clone)]
pub(crate) enum Notice {
    /// An endpoint was disabled automatically; `version` is the endpoint's version
    /// the disable stored.
    EndpointDisabled(EndpointDisabled, u64),
    /// An endpoint was enabled again; `version` as above.
    EndpointEnabled(EndpointChange, u64),
    /// An endpoint's breaker opened.
    BreakerOpened(EndpointChange),
    /// An endpoint's breaker closed again.
    BreakerClosed(EndpointChange),
    /// A delivery died.
    DeliveryDead(DeliveryDead),
}

impl Notice {
    /// The type, without the prefix.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Notice::EndpointDisabled(..) => TYPES[0],
            Notice::EndpointEnabled(..) => TYPES[1],
            Notice::BreakerOpened(_) => TYPES[2],
            Notice::BreakerClosed(_) => TYPES[3],
            Notice::DeliveryDead(_) => TYPES[4],
        }
    }

    /// The tenant it concerns.
    fn tenant(&self) -> &TenantId {
        match self {
            Notice::EndpointDisabled(e, _) => &e.tenant,
            Notice::EndpointEnabled(e, _) | Notice::BreakerOpened(e) | Notice::BreakerClosed(e) => {
                &e.tenant
            }
            Notice::DeliveryDead(e) => &e.tenant,
        }
    }

    /// What it is about, the same each time it is announced.
    fn subject(&self) -> String {
        match self {
            Notice::EndpointDisabled(e, version) => format!("{}:v{version}", e.endpoint_id),
            Notice::EndpointEnabled(e, version) => format!("{}:v{version}", e.endpoint_id),
            Notice::BreakerOpened(e) | Notice::BreakerClosed(e) => {
                format!("{}:{}", e.endpoint_id, e.at)
            }
            Notice::DeliveryDead(e) => format!("{}:{}", e.delivery_id, e.attempts),
        }
    }

    fn data(&self) -> String {
        let json = match self {
            Notice::EndpointDisabled(e, _) => serde_json::to_string(e),
            Notice::EndpointEnabled(e, _) | Notice::BreakerOpened(e) | Notice::BreakerClosed(e) => {
                serde_json::to_string(e)
            }
            Notice::DeliveryDead(e) => serde_json::to_string(e),
        };
        // Plain structs of strings and numbers always serialize.
        json.expect("notice data serializes")
    }

    /// What the engine's listeners get, for the kinds they always had.
    fn operational(&self) -> Option<OperationalEvent> {
        match self {
            Notice::EndpointDisabled(e, _) => Some(OperationalEvent::EndpointDisabled(e.clone())),
            Notice::DeliveryDead(e) => Some(OperationalEvent::DeliveryDead(e.clone())),
            _ => None,
        }
    }
}

/// Whether deliveries of an event of `event_type` in `tenant` announce nothing when
/// they die: Herald's own notifications (no notice about a notice), and the
/// operator's tenant.
pub(crate) fn is_notification(shared: &Shared, tenant: &TenantId, event_type: &str) -> bool {
    event_type.starts_with(NOTIFICATION_PREFIX) || shared.config.operator.as_ref() == Some(tenant)
}

/// Publishes `notice` into its tenant (and the operator's, for its two kinds), and
/// tells the engine's listeners; returns once both events are stored.
///
/// # Errors
/// The publish's: the caller retries (or a later recovery announces it again, and
/// its id keeps it from being stored twice).
pub(crate) async fn announce(shared: &Shared, notice: Notice) -> Result<(), Error> {
    let tenant = notice.tenant().clone();
    let kind = notice.kind();
    let subject = notice.subject();
    let data = notice.data();
    let operator = shared.config.operator.as_ref();
    let mut created = false;
    if operator != Some(&tenant) && !about_notification_endpoint(shared, &notice).await? {
        let event_type = format!("{NOTIFICATION_PREFIX}{kind}");
        created |= publish(shared, &tenant, &event_type, &subject, &data).await?;
    }
    if let Some(operator) = operator.filter(|o| *o != &tenant) {
        if matches!(
            notice,
            Notice::EndpointDisabled(..) | Notice::DeliveryDead(_)
        ) {
            let subject = format!("{tenant}:{subject}");
            created |= publish(shared, operator, kind, &subject, &data).await?;
        }
    }
    // Listeners hear of it once, not again when it is announced anew after a crash
    // (its events were stored then): except with no tenant or operator event at all.
    let stored_nothing = operator == Some(&tenant);
    if created || stored_nothing {
        if let Some(event) = notice.operational() {
            shared.notifier.send(event);
        }
    }
    Ok(())
}

/// Whether `notice` is about the endpoint Herald keeps for the tenant's
/// notifications (telling it about itself would feed a failing one forever).
async fn about_notification_endpoint(shared: &Shared, notice: &Notice) -> Result<bool, Error> {
    let endpoint = match notice {
        Notice::EndpointDisabled(e, _) => &e.endpoint_id,
        Notice::EndpointEnabled(e, _) | Notice::BreakerOpened(e) | Notice::BreakerClosed(e) => {
            &e.endpoint_id
        }
        Notice::DeliveryDead(e) => &e.endpoint_id,
    };
    let state = shared
        .tenants
        .get(shared.storage.as_ref(), notice.tenant())
        .await?;
    Ok(state.settings.notification_endpoint.as_ref() == Some(endpoint))
}

/// Publishes one notification event; true when it was stored now (not before).
async fn publish(
    shared: &Shared,
    tenant: &TenantId,
    event_type: &str,
    subject: &str,
    data: &str,
) -> Result<bool, Error> {
    let id = EventId::parse(&format!("{event_type}:{subject}"))?;
    shared
        .submit(Publish {
            tenant: tenant.clone(),
            event_type: event_type.to_owned(),
            data: data.to_owned(),
            channels: Vec::new(),
            id: Some(id),
            only: None,
            strict_repeat: false,
        })
        .await
        .map(|published| published.created)
}

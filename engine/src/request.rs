//! The request of delivery.md §1: Herald's headers, the signature headers of the
//! endpoint's scheme, the endpoint's custom headers (which never override Herald's),
//! and the event's envelope as the body. Used for every attempt and by anything else
//! that sends Herald-shaped webhooks (the daemon's operational webhook).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use http::HeaderMap;

use crate::ids::DeliveryId;
use crate::model::Event;
use crate::signing::{sign, SecretSet, SignatureScheme};
use crate::time::Timestamp;
use crate::transport::SignedRequest;

/// `user-agent` of every request.
pub const USER_AGENT_VALUE: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"));

/// An event with its request body built once, shared by all its deliveries and
/// attempts (the body is byte-identical on every attempt, delivery.md §1).
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// The event.
    pub event: Event,
    /// Its envelope, `{"id","type","created_at","data"}`.
    pub body: Bytes,
}

impl PreparedEvent {
    /// Builds the body of `event`.
    pub fn new(event: Event) -> Self {
        let body = Bytes::from(event.body());
        Self { event, body }
    }
}

/// Where and how a request is sent and signed.
#[derive(Debug, Clone)]
pub struct RequestTarget<'a> {
    /// The receiver's URL.
    pub url: http::Uri,
    /// The signature scheme.
    pub scheme: SignatureScheme,
    /// The secrets in force.
    pub secrets: &'a SecretSet,
    /// Custom headers (already validated; never Herald's own names).
    pub custom_headers: &'a BTreeMap<String, String>,
    /// The attempt's timeout.
    pub timeout: Duration,
}

fn header(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// Builds and signs the request that delivers `event`, signed at `now`. `delivery`
/// gives `x-delivery-id` and `x-delivery-attempt` when the request is one attempt of a
/// delivery.
pub fn signed_request(
    target: &RequestTarget<'_>,
    prepared: &PreparedEvent,
    delivery: Option<(&DeliveryId, u32)>,
    now: Timestamp,
) -> SignedRequest {
    let event = &prepared.event;
    let body = prepared.body.clone();
    let timestamp = now.as_secs();
    let signatures = sign(
        target.scheme,
        target.secrets,
        now,
        event.id.as_str(),
        timestamp,
        &body,
    );
    let mut headers = HeaderMap::with_capacity(target.custom_headers.len() + 10);
    for (name, value) in target.custom_headers {
        if let (Ok(name), Some(value)) = (HeaderName::from_bytes(name.as_bytes()), header(value)) {
            headers.insert(name, value);
        }
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    let mut set = |name: &'static str, value: &str| {
        if let Some(value) = header(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("webhook-id", event.id.as_str());
    set("webhook-timestamp", &timestamp.to_string());
    if let Some(sig) = &signatures.webhook_signature {
        set("webhook-signature", sig);
    }
    if let Some(sig) = &signatures.x_webhook_signature {
        set("x-webhook-signature", sig);
    }
    set("x-event-type", &event.event_type);
    if let Some((id, attempt)) = delivery {
        set("x-delivery-id", id.as_str());
        set("x-delivery-attempt", &attempt.to_string());
    }
    SignedRequest {
        url: target.url.clone(),
        headers,
        body,
        timeout: target.timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EventId, TenantId};
    use crate::signing::Secret;

    #[test]
    fn custom_headers_never_override_herald_headers() {
        let secrets = SecretSet::new(Secret::generate());
        let mut custom = BTreeMap::new();
        custom.insert("x-event-type".to_owned(), "forged".to_owned());
        custom.insert("x-team".to_owned(), "payments".to_owned());
        let event = Event {
            id: EventId::parse("evt_1").unwrap(),
            tenant: TenantId::parse("t").unwrap(),
            event_type: "order.filled".into(),
            channels: vec![],
            created_at: Timestamp(0),
            data: "{}".into(),
            deliveries: 1,
        };
        let target = RequestTarget {
            url: http::Uri::from_static("https://example.com/"),
            scheme: SignatureScheme::Standard,
            secrets: &secrets,
            custom_headers: &custom,
            timeout: Duration::from_secs(1),
        };
        let delivery = DeliveryId::generate();
        let request = signed_request(
            &target,
            &PreparedEvent::new(event),
            Some((&delivery, 3)),
            Timestamp(5000),
        );
        let get = |name: &str| {
            request
                .headers
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(get("x-event-type"), "order.filled");
        assert_eq!(get("x-team"), "payments");
        assert_eq!(get("x-delivery-attempt"), "3");
        assert_eq!(get("webhook-timestamp"), "5");
        assert!(get("webhook-signature").starts_with("v1,"));
    }
}

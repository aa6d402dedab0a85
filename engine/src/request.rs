//! The request of delivery.md §1, in the shape of the endpoint's profile
//! (profiles.md): the profile's headers (with the signature of its recipe), the
//! endpoint's custom headers (which never override them), and the profile's body.
//! Used for every attempt and by anything else that sends Herald-shaped webhooks
//! (the daemon's operational webhook).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use http::HeaderMap;

use crate::ids::{DeliveryId, EndpointId};
use crate::model::Event;
use crate::profile::{
    envelope, signature, DeliveryContext, Envelope, HeaderRole, JsonMode, Profile, Signing,
    Unwritable,
};
use crate::signing::{sign, SecretSet};
use crate::time::Timestamp;
use crate::transport::SignedRequest;

/// `user-agent` of every request.
pub const USER_AGENT_VALUE: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"));

/// A body built for one profile (and one delivery, for envelopes that name it).
#[derive(Debug)]
struct ProfileBody {
    profile: Arc<str>,
    delivery: Option<DeliveryId>,
    body: Bytes,
}

/// An event with its request bodies built once and shared by all its deliveries
/// and attempts (the body is byte-identical on every attempt, delivery.md §1): the
/// standard envelope at once, another profile's on first use.
#[derive(Debug)]
pub struct PreparedEvent {
    /// The event.
    pub event: Event,
    /// The standard envelope `{"id","type","created_at","data"}`, as the built-in
    /// profiles send it.
    pub body: Bytes,
    /// Bodies of configured profiles, made when first asked for.
    others: Mutex<Vec<ProfileBody>>,
}

impl Clone for PreparedEvent {
    fn clone(&self) -> Self {
        Self {
            event: self.event.clone(),
            body: self.body.clone(),
            others: Mutex::new(Vec::new()),
        }
    }
}

impl PreparedEvent {
    /// Builds the standard body of `event`.
    pub fn new(event: Event) -> Self {
        let body = Bytes::from(event.body());
        Self {
            event,
            body,
            others: Mutex::new(Vec::new()),
        }
    }

    /// The body `profile` sends for this event (to `delivery`, when its envelope
    /// names the endpoint or the delivery): built once per profile (and delivery),
    /// then shared.
    ///
    /// # Errors
    /// `Unwritable` when the profile's JSON mode cannot write the data faithfully.
    pub fn body_for(
        &self,
        profile: &Profile,
        delivery: Option<DeliveryContext<'_>>,
    ) -> Result<Bytes, Unwritable> {
        if profile.json() == JsonMode::Raw && profile.envelope() == &Envelope::standard() {
            return Ok(self.body.clone());
        }
        let delivery_key = profile
            .envelope()
            .per_delivery()
            .then(|| delivery.map(|d| d.delivery_id.clone()))
            .flatten();
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = others
            .iter()
            .find(|b| &*b.profile == profile.name() && b.delivery == delivery_key)
        {
            return Ok(found.body.clone());
        }
        let text = envelope::write(profile.envelope(), &self.event, delivery);
        let body = Bytes::from(profile.json().write(&text)?);
        others.push(ProfileBody {
            profile: Arc::from(profile.name()),
            delivery: delivery_key,
            body: body.clone(),
        });
        Ok(body)
    }
}

/// An endpoint's custom headers, parsed once (when the endpoint is read) rather than
/// for every request. A name or value that does not parse is left out: the API
/// refuses those when they are set, so only a store written by other means has any.
#[derive(Debug, Clone, Default)]
pub struct CustomHeaders(Vec<(HeaderName, HeaderValue)>);

impl CustomHeaders {
    /// Parses an endpoint's `headers`.
    pub fn parse(headers: &BTreeMap<String, String>) -> Self {
        Self(
            headers
                .iter()
                .filter_map(|(name, value)| {
                    let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
                    Some((name, header(value)?))
                })
                .collect(),
        )
    }
}

/// Where and how a request is sent and signed.
#[derive(Debug, Clone)]
pub struct RequestTarget<'a> {
    /// The receiver's URL.
    pub url: http::Uri,
    /// The endpoint's profile.
    pub profile: &'a Profile,
    /// The secrets in force.
    pub secrets: &'a SecretSet,
    /// The endpoint's custom headers (the profile's own names override them).
    pub custom_headers: &'a CustomHeaders,
    /// The attempt's timeout.
    pub timeout: Duration,
}

/// The delivery attempt a request is, when it is one.
#[derive(Debug, Clone, Copy)]
pub struct AttemptOf<'a> {
    /// The delivery.
    pub delivery_id: &'a DeliveryId,
    /// Its endpoint.
    pub endpoint_id: &'a EndpointId,
    /// The attempt's number (1 for the first).
    pub attempt: u32,
}

fn header(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// Builds and signs the request that delivers `prepared` as `target`'s profile
/// shapes it, signed at `now`; `attempt` gives the delivery's headers when the
/// request is one attempt of a delivery.
///
/// # Errors
/// `Unwritable` when the profile's JSON mode cannot write the event's data.
pub fn signed_request(
    target: &RequestTarget<'_>,
    prepared: &PreparedEvent,
    attempt: Option<AttemptOf<'_>>,
    now: Timestamp,
) -> Result<SignedRequest, Unwritable> {
    let event = &prepared.event;
    let profile = target.profile;
    let context = attempt.map(|a| DeliveryContext {
        endpoint_id: a.endpoint_id,
        delivery_id: a.delivery_id,
    });
    let body = prepared.body_for(profile, context)?;
    let timestamp = now.as_secs();
    let mut headers = HeaderMap::with_capacity(target.custom_headers.0.len() + 10);
    for (name, value) in &target.custom_headers.0 {
        headers.insert(name.clone(), value.clone());
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    let mut set = |name: &HeaderName, value: &str| {
        if let Some(value) = header(value) {
            headers.insert(name.clone(), value);
        }
    };
    let timestamp_text = timestamp.to_string();
    for (role, name) in profile.headers().wire() {
        match role {
            HeaderRole::EventId => set(name, event.id.as_str()),
            HeaderRole::Timestamp => set(name, &timestamp_text),
            HeaderRole::EventType => set(name, &event.event_type),
            HeaderRole::Tenant => set(name, event.tenant.as_str()),
            HeaderRole::DeliveryId => {
                if let Some(a) = attempt {
                    set(name, a.delivery_id.as_str());
                }
            }
            HeaderRole::Attempt => {
                if let Some(a) = attempt {
                    set(name, &a.attempt.to_string());
                }
            }
            HeaderRole::EndpointId => {
                if let Some(a) = attempt {
                    set(name, a.endpoint_id.as_str());
                }
            }
            HeaderRole::Signature => match profile.signing() {
                Signing::Scheme(_) => {}
                Signing::Recipe { kind, key } => {
                    let secrets = target.secrets.valid_at(now);
                    let signed =
                        signature::sign(kind, key, &secrets, event.id.as_str(), timestamp, &body);
                    if let Some(value) = signed {
                        set(name, &value);
                    }
                }
            },
        }
    }
    if let Signing::Scheme(scheme) = profile.signing() {
        let signatures = sign(
            scheme,
            target.secrets,
            now,
            event.id.as_str(),
            timestamp,
            &body,
        );
        if let Some(sig) = &signatures.webhook_signature {
            set(&HeaderName::from_static("webhook-signature"), sig);
        }
        if let Some(sig) = &signatures.x_webhook_signature {
            set(&HeaderName::from_static("x-webhook-signature"), sig);
        }
    }
    Ok(SignedRequest {
        url: target.url.clone(),
        headers,
        body,
        timeout: target.timeout,
        title_case_headers: profile.headers().title_case(),
    })
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
        let profile = Profile::builtin("standard").unwrap();
        let target = RequestTarget {
            url: http::Uri::from_static("https://example.com/"),
            profile: &profile,
            secrets: &secrets,
            custom_headers: &CustomHeaders::parse(&custom),
            timeout: Duration::from_secs(1),
        };
        let delivery = DeliveryId::generate();
        let endpoint = EndpointId::generate();
        let request = signed_request(
            &target,
            &PreparedEvent::new(event),
            Some(AttemptOf {
                delivery_id: &delivery,
                endpoint_id: &endpoint,
                attempt: 3,
            }),
            Timestamp(5000),
        )
        .unwrap();
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

//! Input validation: a `NewEndpoint` or `EndpointPatch` becomes a valid `Endpoint`,
//! or an `Invalid` naming the field. Nothing is stored until this passes.

use std::collections::BTreeMap;

use crate::config::MAX_ENDPOINT_TIMEOUT;
use crate::destination::DestinationPolicy;
use crate::error::Invalid;
use crate::filter::{validate_channel, EventTypePattern};
use crate::ids::{EndpointId, TenantId};
use crate::model::{DisabledReason, Endpoint, EndpointPatch, NewEndpoint};
use crate::profile::{KeyKind, Profile, Profiles};
use crate::retry::{MAX_DELAY, MAX_STEPS};
use crate::signing::{Secret, SecretSet, SignatureScheme};
use crate::time::Timestamp;

/// Header names Herald sets or that would break HTTP (delivery.md §1).
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-event-type",
    "x-delivery-id",
    "x-delivery-attempt",
    "x-webhook-signature",
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
];

/// Most custom headers per endpoint.
const MAX_HEADERS: usize = 32;
/// Most event type patterns and channels per endpoint.
const MAX_FILTERS: usize = 256;

/// Checks custom headers: valid lowercase-insensitive names, none reserved, values
/// without CR/LF or other control characters.
///
/// # Errors
/// `Invalid { field: "headers.<name>" }` naming the first bad header.
pub fn validate_headers(
    headers: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Invalid> {
    if headers.len() > MAX_HEADERS {
        return Err(Invalid::new("headers", "at most 32 custom headers"));
    }
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        let field = format!("headers.{}", printable(name));
        let lower = name.to_ascii_lowercase();
        if http::HeaderName::from_bytes(lower.as_bytes()).is_err()
            || name.is_empty()
            || name.len() > 256
        {
            return Err(Invalid::new(field, "not a valid header name"));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(Invalid::new(field, "is reserved and cannot be set"));
        }
        if value.len() > 4096
            || value.chars().any(|c| c.is_control())
            || http::HeaderValue::from_str(value).is_err()
        {
            return Err(Invalid::new(field, "value must be at most 4096 visible characters, without CR, LF or control characters"));
        }
        if out.insert(lower, value.clone()).is_some() {
            return Err(Invalid::new(field, "is given twice"));
        }
    }
    Ok(out)
}

/// Checks a header name's form (a valid HTTP token, at most 256 bytes).
///
/// # Errors
/// What is wrong, for people.
pub(crate) fn check_header_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 256 || http::HeaderName::from_bytes(name.as_bytes()).is_err()
    {
        return Err("not a valid header name");
    }
    Ok(())
}

/// A header name made safe to echo in an error message.
fn printable(text: &str) -> String {
    text.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn validate_event_types(types: &[String]) -> Result<Vec<String>, Invalid> {
    if types.len() > MAX_FILTERS {
        return Err(Invalid::new("event_types", "at most 256 patterns"));
    }
    for t in types {
        EventTypePattern::parse(t)?;
    }
    Ok(types.to_vec())
}

/// Checks channel lists (endpoint or event).
///
/// # Errors
/// `Invalid { field: "channels" }` for a bad name or too many.
pub fn validate_channels(channels: &[String]) -> Result<Vec<String>, Invalid> {
    if channels.len() > MAX_FILTERS {
        return Err(Invalid::new("channels", "at most 256 channels"));
    }
    for c in channels {
        validate_channel(c, "channels")?;
    }
    Ok(channels.to_vec())
}

fn validate_description(description: &Option<String>) -> Result<(), Invalid> {
    match description {
        Some(d) if d.len() > 1024 => Err(Invalid::new("description", "at most 1024 bytes")),
        _ => Ok(()),
    }
}

fn validate_limits(
    max_in_flight: Option<u32>,
    rate_limit: Option<u32>,
    timeout_ms: Option<u64>,
    schedule: Option<&Vec<u64>>,
) -> Result<(), Invalid> {
    if let Some(n) = max_in_flight {
        if !(1..=1000).contains(&n) {
            return Err(Invalid::new("max_in_flight", "must be 1 to 1000"));
        }
    }
    if let Some(n) = rate_limit {
        if !(1..=100_000).contains(&n) {
            return Err(Invalid::new(
                "rate_limit",
                "must be 1 to 100000 attempts per second",
            ));
        }
    }
    if let Some(ms) = timeout_ms {
        let max = u64::try_from(MAX_ENDPOINT_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
        if !(1..=max).contains(&ms) {
            return Err(Invalid::new("timeout_ms", "must be 1 to 60000"));
        }
    }
    if let Some(delays) = schedule {
        if delays.len() > MAX_STEPS {
            return Err(Invalid::new("retry_schedule_secs", "at most 50 delays"));
        }
        if delays.iter().any(|s| *s > MAX_DELAY.as_secs()) {
            return Err(Invalid::new(
                "retry_schedule_secs",
                "each delay at most 604800 seconds (7 days)",
            ));
        }
    }
    Ok(())
}

/// Validates a creation input into a new endpoint (with a generated secret unless one
/// was given).
///
/// # Errors
/// `Invalid` naming the first field that does not fit.
pub fn new_endpoint(
    tenant: TenantId,
    input: NewEndpoint,
    destinations: &DestinationPolicy,
    profiles: &Profiles,
    default_profile: &str,
    now: Timestamp,
) -> Result<Endpoint, Invalid> {
    destinations.check_url(&input.url)?;
    validate_description(&input.description)?;
    let event_types = validate_event_types(input.event_types.as_deref().unwrap_or(&[]))?;
    let channels = validate_channels(input.channels.as_deref().unwrap_or(&[]))?;
    let profile = chosen_profile(input.signature_scheme, input.profile.as_deref())?
        .unwrap_or(default_profile);
    let profile = profiles
        .get(profile)
        .ok_or_else(|| Invalid::new("profile", format!("no profile is named `{profile}`")))?;
    let headers = validate_headers(&input.headers.unwrap_or_default())?;
    check_headers_against(profile, &headers)?;
    validate_limits(
        input.max_in_flight,
        input.rate_limit,
        input.timeout_ms,
        input.retry_schedule_secs.as_ref(),
    )?;
    let secret = match input.secret {
        Some(text) => profile.parse_secret(&text)?,
        None => Secret::generate(),
    };
    let active = input.active.unwrap_or(true);
    Ok(Endpoint {
        id: EndpointId::generate(),
        tenant,
        url: input.url,
        description: input.description,
        event_types,
        channels,
        active,
        disabled_reason: (!active).then_some(DisabledReason::Manual),
        profile: profile.name().to_owned(),
        secrets: SecretSet::new(secret),
        headers,
        ordering: input.ordering.unwrap_or_default(),
        max_in_flight: input.max_in_flight,
        rate_limit: input.rate_limit,
        timeout_ms: input.timeout_ms,
        retry_schedule_secs: input.retry_schedule_secs,
        created_at: now,
        updated_at: now,
        enabled_at: None,
        version: 1,
    })
}

/// The profile named by an input's `signature_scheme` or `profile`, if either.
///
/// # Errors
/// `Invalid { field: "profile" }` when both are given.
fn chosen_profile(
    scheme: Option<SignatureScheme>,
    profile: Option<&str>,
) -> Result<Option<&str>, Invalid> {
    match (scheme, profile) {
        (Some(_), Some(_)) => Err(Invalid::new(
            "profile",
            "give `profile` or `signature_scheme`, not both",
        )),
        (Some(SignatureScheme::Standard), None) => Ok(Some("standard")),
        (Some(SignatureScheme::Hex), None) => Ok(Some("hex")),
        (Some(SignatureScheme::Timestamped), None) => Ok(Some("timestamped")),
        (None, profile) => Ok(profile),
    }
}

/// Refuses custom headers that would collide with a header of the profile.
fn check_headers_against(
    profile: &Profile,
    headers: &BTreeMap<String, String>,
) -> Result<(), Invalid> {
    for (_, name) in profile.headers().iter() {
        let lower = name.to_ascii_lowercase();
        if headers.contains_key(&lower) {
            return Err(Invalid::new(
                format!("headers.{lower}"),
                format!(
                    "is set by the profile `{}` and cannot be set",
                    profile.name()
                ),
            ));
        }
    }
    Ok(())
}

/// Applies a patch to a copy of `endpoint`. `active` is applied by the caller (it has
/// side effects: dead-lettering, breaker reset).
///
/// # Errors
/// `Invalid` naming the first field that does not fit.
pub fn patch_endpoint(
    endpoint: &Endpoint,
    patch: EndpointPatch,
    destinations: &DestinationPolicy,
    profiles: &Profiles,
    now: Timestamp,
) -> Result<Endpoint, Invalid> {
    let mut next = endpoint.clone();
    if let Some(url) = patch.url {
        destinations.check_url(&url)?;
        next.url = url;
    }
    if let Some(description) = patch.description {
        validate_description(&description)?;
        next.description = description;
    }
    if let Some(types) = patch.event_types {
        next.event_types = validate_event_types(types.as_deref().unwrap_or(&[]))?;
    }
    if let Some(channels) = patch.channels {
        next.channels = validate_channels(channels.as_deref().unwrap_or(&[]))?;
    }
    if let Some(headers) = patch.headers {
        next.headers = validate_headers(&headers.unwrap_or_default())?;
    }
    let field = if patch.signature_scheme.is_some() {
        "signature_scheme"
    } else {
        "profile"
    };
    if let Some(name) = chosen_profile(patch.signature_scheme, patch.profile.as_deref())? {
        let profile = profiles
            .get(name)
            .ok_or_else(|| Invalid::new("profile", format!("no profile is named `{name}`")))?;
        if profile.parse_secret(next.secrets.current.expose()).is_err() {
            return Err(Invalid::new(
                field,
                format!(
                    "the profile `{name}` needs a {} secret: rotate the secret first",
                    match profile.signing().key() {
                        KeyKind::Whsec => "whsec_",
                        KeyKind::Text => "16 to 128 printable ASCII character",
                    }
                ),
            ));
        }
        next.profile = name.to_owned();
    }
    if let Some(profile) = profiles.get(&next.profile) {
        check_headers_against(profile, &next.headers)?;
    }
    if let Some(ordering) = patch.ordering {
        next.ordering = ordering;
    }
    if let Some(v) = patch.max_in_flight {
        next.max_in_flight = v;
    }
    if let Some(v) = patch.rate_limit {
        next.rate_limit = v;
    }
    if let Some(v) = patch.timeout_ms {
        next.timeout_ms = v;
    }
    if let Some(v) = patch.retry_schedule_secs {
        next.retry_schedule_secs = v;
    }
    validate_limits(
        next.max_in_flight,
        next.rate_limit,
        next.timeout_ms,
        next.retry_schedule_secs.as_ref(),
    )?;
    next.updated_at = now;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("t").unwrap()
    }

    fn create(input: NewEndpoint) -> Result<Endpoint, Invalid> {
        new_endpoint(
            tenant(),
            input,
            &DestinationPolicy::default(),
            &Profiles::default(),
            "standard",
            Timestamp(0),
        )
    }

    #[test]
    fn minimal_input_gets_defaults_and_a_secret() {
        let endpoint = create(NewEndpoint::new("https://example.com/hooks")).unwrap();
        assert!(endpoint.active);
        assert!(endpoint.secrets.current.expose().starts_with("whsec_"));
        assert!(endpoint.event_types.is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(NewEndpoint, &str)> = vec![
            (NewEndpoint::new("http://example.com"), "url"),
            (
                NewEndpoint {
                    event_types: Some(vec!["bad type".into()]),
                    ..NewEndpoint::new("https://e.com")
                },
                "event_types",
            ),
            (
                NewEndpoint {
                    channels: Some(vec!["".into()]),
                    ..NewEndpoint::new("https://e.com")
                },
                "channels",
            ),
            (
                NewEndpoint {
                    secret: Some("short".into()),
                    ..NewEndpoint::new("https://e.com")
                },
                "secret",
            ),
            (
                NewEndpoint {
                    max_in_flight: Some(0),
                    ..NewEndpoint::new("https://e.com")
                },
                "max_in_flight",
            ),
            (
                NewEndpoint {
                    rate_limit: Some(0),
                    ..NewEndpoint::new("https://e.com")
                },
                "rate_limit",
            ),
            (
                NewEndpoint {
                    timeout_ms: Some(60_001),
                    ..NewEndpoint::new("https://e.com")
                },
                "timeout_ms",
            ),
            (
                NewEndpoint {
                    retry_schedule_secs: Some(vec![1; 51]),
                    ..NewEndpoint::new("https://e.com")
                },
                "retry_schedule_secs",
            ),
            (
                NewEndpoint {
                    description: Some("x".repeat(1025)),
                    ..NewEndpoint::new("https://e.com")
                },
                "description",
            ),
        ];
        for (input, field) in cases {
            assert_eq!(create(input).unwrap_err().field, field);
        }
    }

    #[test]
    fn headers_refuse_reserved_names_and_crlf() {
        let check = |name: &str, value: &str| {
            let mut headers = BTreeMap::new();
            headers.insert(name.to_owned(), value.to_owned());
            validate_headers(&headers)
        };
        assert!(check("x-custom", "ok").is_ok());
        assert_eq!(
            check("x-custom", "a\r\nb: c").unwrap_err().field,
            "headers.x-custom"
        );
        for reserved in [
            "Webhook-Signature",
            "host",
            "Content-Length",
            "connection",
            "proxy-authorization",
            "x-webhook-signature",
        ] {
            assert!(check(reserved, "v").is_err(), "{reserved}");
        }
        assert!(check("bad name", "v").is_err());
        assert!(check("x-a", "tab\tinside").is_err());
    }

    proptest::proptest! {
        #[test]
        fn header_values_with_cr_or_lf_are_always_refused(
            before in "[ -~]{0,20}",
            breaker in "[\r\n]",
            after in "[ -~]{0,20}",
        ) {
            let mut headers = BTreeMap::new();
            headers.insert("x-custom".to_owned(), format!("{before}{breaker}{after}"));
            proptest::prop_assert!(validate_headers(&headers).is_err());
        }
    }

    #[test]
    fn patch_keeps_absent_fields_and_clears_nulls() {
        let mut endpoint = create(NewEndpoint {
            rate_limit: Some(5),
            description: Some("d".into()),
            ..NewEndpoint::new("https://example.com/")
        })
        .unwrap();
        endpoint = patch_endpoint(
            &endpoint,
            EndpointPatch {
                rate_limit: Some(None),
                ..Default::default()
            },
            &DestinationPolicy::default(),
            &Profiles::default(),
            Timestamp(1),
        )
        .unwrap();
        assert_eq!(endpoint.rate_limit, None);
        assert_eq!(endpoint.description.as_deref(), Some("d"));
        assert_eq!(endpoint.updated_at, Timestamp(1));
    }
}

//! Generated input through the engine's validators (the tenant, id, event type,
//! pattern and channel rules, custom headers, `DestinationPolicy::check_url`, and
//! `validate::new_endpoint` over all of them): none panics on any string, every
//! refusal is an `Invalid` naming its field with a message, and whatever is accepted
//! keeps its meaning: a parsed id prints back as the same text, an accepted URL parses
//! again to the same URL and can be sent, accepted header values carry no CR, LF, NUL
//! or other control character.
//!
//! Each property runs `PROPTEST_CASES` cases (default 2000, or 500 for the map and
//! whole-input ones; about a second each here); raise it for a longer soak:
//! `PROPTEST_CASES=200000 cargo test -p herald --test fuzz_validators --release`.
#![allow(clippy::unwrap_used)]

use herald::filter::{validate_channel, validate_event_type, EventTypePattern};
use herald::profile::Profiles;
use herald::validate::{new_endpoint, validate_channels, validate_headers};
use herald::{
    AttemptId, DeliveryId, DestinationPolicy, EndpointId, EventId, Invalid, KeyId, NewEndpoint,
    TenantId, Timestamp,
};
use herald_testkit::fuzz::{self, hostile_text, name_like, url_text};
use proptest::prelude::*;

/// Every refusal names a field and says what is wrong, in text safe to echo into an
/// API message or a log line.
fn assert_clear(invalid: &Invalid, field: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        invalid.field.starts_with(field),
        "field `{}` for `{field}`",
        invalid.field
    );
    prop_assert!(!invalid.message.trim().is_empty(), "{invalid:?}");
    prop_assert!(
        !invalid.field.chars().any(char::is_control),
        "a control character in the field name: {invalid:?}"
    );
    Ok(())
}

/// Text shaped like a prefixed id: a prefix (right, wrong or none), an underscore or
/// not, and a ULID-like tail of any case, length and alphabet.
fn id_like() -> BoxedStrategy<String> {
    let prefix = proptest::sample::select(vec!["ep", "evt", "dlv", "att", "key", "EP", "", "ep_"]);
    let tail = prop_oneof![
        4 => "[0-7][0-9A-HJKMNP-TV-Z]{25}",
        1 => "[0-9a-z]{26}",
        1 => "[8-9A-Z][0-9A-Z]{25}",
        1 => "[0-9A-Z]{0,30}",
        1 => hostile_text(),
    ];
    (
        prefix,
        proptest::sample::select(vec!["_", "", "-", "__"]),
        tail,
    )
        .prop_map(|(p, sep, t)| format!("{p}{sep}{t}"))
        .boxed()
}

fn any_text() -> BoxedStrategy<String> {
    prop_oneof![name_like(), hostile_text(), id_like()].boxed()
}

fn is_name(text: &str, max: usize, extra: &[u8]) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

proptest! {
    #![proptest_config(fuzz::config(2000))]

    /// http-api.md "Conventions": `{tenant}` is 1 to 64 characters of `[A-Za-z0-9_-]`.
    #[test]
    fn tenant_names_follow_their_rule_and_print_back(text in any_text()) {
        match TenantId::parse(&text) {
            Ok(tenant) => {
                prop_assert!(is_name(&text, 64, b"_-"), "accepted `{text:?}`");
                prop_assert_eq!(tenant.as_str(), text.as_str());
                prop_assert_eq!(TenantId::parse(&tenant.to_string()).unwrap(), tenant);
            }
            Err(invalid) => {
                prop_assert!(!is_name(&text, 64, b"_-"), "refused `{text:?}`");
                assert_clear(&invalid, "tenant")?;
            }
        }
    }

    /// An event id is generated or a caller's idempotency key of
    /// `[A-Za-z0-9_.:-]{1,128}`.
    #[test]
    fn event_ids_follow_their_rule_and_print_back(text in any_text()) {
        match EventId::parse(&text) {
            Ok(id) => {
                prop_assert!(is_name(&text, 128, b"_.:-"), "accepted `{text:?}`");
                prop_assert_eq!(id.as_str(), text.as_str());
                prop_assert_eq!(EventId::parse(&id.to_string()).unwrap(), id);
            }
            Err(invalid) => {
                prop_assert!(!is_name(&text, 128, b"_.:-"), "refused `{text:?}`");
                assert_clear(&invalid, "id")?;
            }
        }
    }

    /// Prefixed ids carry their own prefix and a ULID; what parses prints back as the
    /// text given.
    #[test]
    fn prefixed_ids_keep_their_prefix_and_print_back(text in any_text()) {
        fn check<T: std::fmt::Display + PartialEq + std::fmt::Debug>(
            text: &str,
            prefix: &str,
            parsed: Result<T, Invalid>,
            again: impl Fn(&str) -> Result<T, Invalid>,
        ) -> Result<(), TestCaseError> {
            match parsed {
                Ok(id) => {
                    prop_assert!(text.starts_with(&format!("{prefix}_")), "{text:?}");
                    prop_assert_eq!(text.len(), prefix.len() + 27);
                    prop_assert_eq!(id.to_string(), text);
                    prop_assert_eq!(again(&id.to_string()).unwrap(), id);
                }
                Err(invalid) => assert_clear(&invalid, "id")?,
            }
            Ok(())
        }
        check(&text, "ep", EndpointId::parse(&text), EndpointId::parse)?;
        check(&text, "dlv", DeliveryId::parse(&text), DeliveryId::parse)?;
        check(&text, "att", AttemptId::parse(&text), AttemptId::parse)?;
        check(&text, "key", KeyId::parse(&text), KeyId::parse)?;
    }

    /// An event type is 1 to 128 characters of `[A-Za-z0-9_.-]`; a pattern is a type,
    /// `prefix.*` or `*`, and a parsed pattern gives back the text it came from.
    #[test]
    fn event_types_and_patterns_follow_their_rule(text in any_text(), other in name_like()) {
        match validate_event_type(&text, "type") {
            Ok(()) => prop_assert!(is_name(&text, 128, b"_.-"), "accepted `{text:?}`"),
            Err(invalid) => {
                prop_assert!(!is_name(&text, 128, b"_.-"), "refused `{text:?}`");
                assert_clear(&invalid, "type")?;
            }
        }
        match EventTypePattern::parse(&text) {
            Ok(pattern) => {
                let back = match &pattern {
                    EventTypePattern::Exact(t) => t.clone(),
                    EventTypePattern::Prefix(p) => format!("{p}*"),
                    EventTypePattern::All => "*".to_owned(),
                };
                prop_assert_eq!(&back, &text);
                prop_assert!(pattern.matches(&text));
                let _ = pattern.matches(&other);
            }
            Err(invalid) => assert_clear(&invalid, "event_types")?,
        }
    }

    /// A channel is 1 to 128 printable ASCII characters without spaces; a list holds
    /// at most 256.
    #[test]
    fn channels_follow_their_rule(
        text in any_text(),
        list in prop_oneof![
            proptest::collection::vec(name_like(), 0..4),
            (255usize..258).prop_map(|n| vec!["c".to_owned(); n]),
        ],
    ) {
        let printable = !text.is_empty()
            && text.len() <= 128
            && text.bytes().all(|b| (0x21..=0x7e).contains(&b));
        match validate_channel(&text, "channels") {
            Ok(()) => prop_assert!(printable, "accepted `{text:?}`"),
            Err(invalid) => {
                prop_assert!(!printable, "refused `{text:?}`");
                assert_clear(&invalid, "channels")?;
            }
        }
        match validate_channels(&list) {
            Ok(kept) => {
                prop_assert!(list.len() <= 256);
                prop_assert_eq!(kept, list);
            }
            Err(invalid) => assert_clear(&invalid, "channels")?,
        }
    }

    /// delivery.md §6: an accepted URL is https (or http where allowed), has a host and
    /// no credentials or fragment, parses again to the same URL, passes the check
    /// again, and is one the transport can send to (the endpoint actor turns it into
    /// an `http::Uri` the same way); the strict policy accepts no literal address it
    /// would refuse to connect to.
    #[test]
    fn accepted_urls_parse_again_and_can_be_sent(text in url_text()) {
        for (policy, allow_http) in [
            (DestinationPolicy::default(), false),
            (DestinationPolicy::permissive(), true),
        ] {
            match policy.check_url(&text) {
                Ok(url) => {
                    prop_assert!(
                        url.scheme() == "https" || (allow_http && url.scheme() == "http"),
                        "{text:?}"
                    );
                    prop_assert!(url.username().is_empty() && url.password().is_none());
                    prop_assert!(url.fragment().is_none());
                    prop_assert!(url.host().is_some(), "{text:?}");
                    prop_assert_eq!(&url::Url::parse(url.as_str()).unwrap(), &url);
                    prop_assert_eq!(&policy.check_url(url.as_str()).unwrap(), &url);
                    prop_assert!(
                        http::Uri::try_from(url.as_str()).is_ok(),
                        "accepted {text:?} ({}) cannot be sent",
                        url.as_str()
                    );
                    let literal = match url.host() {
                        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                        _ => None,
                    };
                    if let Some(ip) = literal {
                        prop_assert!(policy.allows(ip), "{text:?} reaches {ip}");
                    }
                }
                Err(invalid) => {
                    assert_clear(&invalid, "url")?;
                    prop_assert_eq!(invalid.field.as_str(), "url");
                    prop_assert!(
                        !invalid.message.contains(['\r', '\n', '\0']),
                        "the message echoes a line break: {invalid:?}"
                    );
                }
            }
        }
    }
}

proptest! {
    // Each case builds maps and whole inputs: fewer cases keep these near a second.
    #![proptest_config(fuzz::config(500))]

    /// Custom headers that pass can be sent as they are: valid lowercase names, values
    /// of at most 4096 bytes without CR, LF, NUL or any other control character.
    #[test]
    fn accepted_custom_headers_are_sendable(
        headers in prop_oneof![
            4 => proptest::collection::btree_map(header_name(), hostile_text(), 0..6),
            1 => proptest::collection::btree_map("x-[a-z]{1,8}", "[ -~]{0,4}", 30..36),
        ],
    ) {
        match validate_headers(&headers) {
            Ok(kept) => {
                prop_assert!(kept.len() <= 32);
                for (name, value) in &kept {
                    prop_assert_eq!(name, &name.to_ascii_lowercase());
                    prop_assert!(http::HeaderName::from_bytes(name.as_bytes()).is_ok(), "{name:?}");
                    prop_assert!(http::HeaderValue::from_str(value).is_ok(), "{value:?}");
                    prop_assert!(!value.chars().any(char::is_control), "{value:?}");
                    prop_assert!(value.len() <= 4096);
                }
            }
            Err(invalid) => assert_clear(&invalid, "headers")?,
        }
    }

    /// A whole creation input of hostile parts: refused with a named field, or accepted
    /// as an endpoint whose URL and headers pass their own checks again.
    #[test]
    fn endpoint_inputs_are_refused_by_field_or_valid_throughout(input in new_endpoint_input()) {
        let profiles = Profiles::default();
        let tenant = TenantId::parse("t").unwrap();
        let policy = DestinationPolicy::default();
        match new_endpoint(tenant, input.clone(), &policy, &profiles, "standard", Timestamp(0)) {
            Ok(endpoint) => {
                prop_assert!(policy.check_url(&endpoint.url).is_ok());
                prop_assert_eq!(&validate_headers(&endpoint.headers).unwrap(), &endpoint.headers);
                prop_assert!(endpoint.headers.values().all(|v| !v.chars().any(char::is_control)));
            }
            Err(invalid) => {
                prop_assert!(!invalid.field.is_empty() && !invalid.message.is_empty(), "{invalid:?}");
                prop_assert!(!invalid.field.chars().any(char::is_control), "{invalid:?}");
            }
        }
    }
}

/// Header names: plausible tokens, names reserved by Herald or by HTTP, and hostile
/// text.
fn header_name() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[A-Za-z][A-Za-z0-9-]{0,20}",
        1 => proptest::sample::select(vec![
            "Content-Type", "host", "Webhook-Signature", "x-webhook-signature", "TE",
            "proxy-authorization", "Proxy-X", "connection", "x-event-type", "X-Custom",
        ])
        .prop_map(str::to_owned),
        2 => hostile_text(),
    ]
    .boxed()
}

fn new_endpoint_input() -> BoxedStrategy<NewEndpoint> {
    let lists = proptest::option::of(proptest::collection::vec(name_like(), 0..4));
    (
        url_text(),
        proptest::option::of(hostile_text()),
        lists.clone(),
        lists,
        proptest::option::of(prop_oneof![
            "whsec_[A-Za-z0-9+/]{20,60}={0,2}".boxed(),
            hostile_text(),
        ]),
        proptest::option::of(proptest::sample::select(vec![
            "standard",
            "hex",
            "timestamped",
            "perps",
            "",
        ])),
        proptest::option::of(proptest::collection::btree_map(
            header_name(),
            hostile_text(),
            0..4,
        )),
        (
            proptest::option::of(prop_oneof![
                Just(0u32),
                Just(1),
                Just(1000),
                Just(1001),
                any::<u32>()
            ]),
            proptest::option::of(prop_oneof![
                Just(0u32),
                Just(100_000),
                Just(100_001),
                any::<u32>()
            ]),
            proptest::option::of(prop_oneof![
                Just(0u64),
                Just(60_000),
                Just(60_001),
                any::<u64>()
            ]),
            proptest::option::of(proptest::collection::vec(
                prop_oneof![Just(0u64), Just(604_800), Just(604_801), any::<u64>()],
                0..60,
            )),
        ),
    )
        .prop_map(
            |(url, description, event_types, channels, secret, profile, headers, limits)| {
                let (max_in_flight, rate_limit, timeout_ms, retry_schedule_secs) = limits;
                NewEndpoint {
                    url,
                    description,
                    event_types,
                    channels,
                    secret,
                    profile: profile.map(str::to_owned),
                    headers,
                    max_in_flight,
                    rate_limit,
                    timeout_ms,
                    retry_schedule_secs,
                    ..NewEndpoint::default()
                }
            },
        )
        .boxed()
}

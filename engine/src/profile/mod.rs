//! Delivery profiles (profiles.md): a platform's existing webhook contract, declared
//! once and picked by endpoints, so its customers' receivers verify Herald's
//! requests without changing a line: the body's envelope, the header names, the
//! signature recipe and key, how the JSON is written, and delivery defaults.
//!
//! Three profiles are built in and reproduce the three signature schemes exactly
//! (`standard`, the default, `hex` and `timestamped`); more come from configuration
//! (`ProfileSpec`, validated by `Profile::from_spec`). Pure: no I/O.
//!
//! - `envelope`: the body's fields and sources; `json`: the `js` and `python` modes;
//! - `headers`: header roles and names; `signature`: the recipes and their verify.

pub mod envelope;
pub mod headers;
pub(crate) mod json;
pub mod signature;
mod verify;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::DeliveryDefaults;
use crate::error::Invalid;
use crate::signing::{Secret, SignatureScheme};

pub use envelope::{DeliveryContext, Envelope, Source, TimeFormat};
pub use headers::{HeaderNames, HeaderRole};
pub use json::Unwritable;
pub use signature::{KeyKind, SignatureKind, VerifyInput};
pub use verify::verify_request;

/// The names of the built-in profiles.
pub const BUILTIN: [&str; 3] = ["standard", "hex", "timestamped"];

/// How a profile writes the body's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JsonMode {
    /// The publisher's bytes, whitespace removed.
    #[default]
    Raw,
    /// Exactly what Node.js writes for `JSON.stringify(JSON.parse(body))`.
    Js,
    /// Exactly what Python 3 writes for
    /// `json.dumps(json.loads(body), separators=(",", ":"))`.
    Python,
}

impl JsonMode {
    /// Reads a mode as profiles name it.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "raw" => Some(JsonMode::Raw),
            "js" => Some(JsonMode::Js),
            "python" => Some(JsonMode::Python),
            _ => None,
        }
    }

    /// The name profiles use for it.
    pub fn as_str(self) -> &'static str {
        match self {
            JsonMode::Raw => "raw",
            JsonMode::Js => "js",
            JsonMode::Python => "python",
        }
    }

    /// `text` (compact JSON) written in this mode.
    ///
    /// # Errors
    /// `Unwritable` when the runtime would not write the value faithfully (a number
    /// JavaScript reads as infinity, an integer Python refuses to read, ...).
    pub fn write(self, text: &str) -> Result<String, Unwritable> {
        match self {
            JsonMode::Raw => Ok(text.to_owned()),
            JsonMode::Js => json::js::write(text),
            JsonMode::Python => json::python::write(text),
        }
    }
}

/// How a profile signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// A built-in profile: its scheme's headers, as every earlier version signed
    /// (`signing::sign`; `hex` and `timestamped` add `webhook-signature` whenever the
    /// secret has the `whsec_` form).
    Scheme(SignatureScheme),
    /// A configured recipe: `kind`, keyed as `key`, in the `signature` header role.
    Recipe {
        /// What is signed and how the value reads.
        kind: SignatureKind,
        /// How the secret becomes the key.
        key: KeyKind,
    },
}

impl Signing {
    /// The name of the recipe as the API shows it.
    pub fn kind_name(self) -> &'static str {
        match self {
            Signing::Scheme(SignatureScheme::Standard) => "standard",
            Signing::Scheme(SignatureScheme::Hex) => "hex",
            Signing::Scheme(SignatureScheme::Timestamped) => "timestamped",
            Signing::Recipe { kind, .. } => kind.as_str(),
        }
    }

    /// How secrets become keys.
    pub fn key(self) -> KeyKind {
        match self {
            Signing::Scheme(SignatureScheme::Standard) => KeyKind::Whsec,
            Signing::Scheme(_) => KeyKind::Text,
            Signing::Recipe { key, .. } => key,
        }
    }
}

/// Delivery settings a profile gives its endpoints: between the engine-wide
/// defaults and the endpoint's own fields. Unset ones keep the engine's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileDelivery {
    /// Delays after attempt 1, 2, ...
    pub retry_schedule: Option<Vec<Duration>>,
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
    /// Attempts at once.
    pub max_in_flight: Option<u32>,
    /// Consecutive failures that open the breaker.
    pub breaker_threshold: Option<u32>,
    /// First breaker cooldown.
    pub breaker_cooldown: Option<Duration>,
    /// Longest breaker cooldown.
    pub breaker_cooldown_max: Option<Duration>,
    /// Failing this long without a success disables.
    pub disable_after: Option<Duration>,
    /// This many consecutive failures disable.
    pub disable_after_failures: Option<u32>,
    /// How long a rotated-out secret keeps signing.
    pub rotation_grace: Option<Duration>,
    /// A delivery that dies (its schedule exhausted) disables its endpoint, reason
    /// `retries_exhausted`.
    pub disable_on_dead: bool,
}

impl ProfileDelivery {
    /// `defaults` with this profile's settings over them.
    pub fn apply(&self, defaults: &DeliveryDefaults) -> DeliveryDefaults {
        let mut out = defaults.clone();
        if let Some(v) = &self.retry_schedule {
            out.retry_schedule = v.clone();
        }
        macro_rules! over {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field {
                    out.$field = v;
                }
            )*};
        }
        over!(
            timeout,
            max_in_flight,
            breaker_threshold,
            breaker_cooldown,
            breaker_cooldown_max,
            disable_after,
            disable_after_failures,
            rotation_grace
        );
        out
    }
}

/// A profile as configuration gives it, before it is checked (`Profile::from_spec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileSpec {
    /// Free text.
    pub description: Option<String>,
    /// `name=source` entries, or `None` for the body as the bare data (`"data"`).
    pub envelope: Option<Vec<String>>,
    /// Role → header name.
    pub headers: Vec<(String, String)>,
    /// `standard`, `hex`, `hex_timestamp`, `stripe` or `github`.
    pub signature: String,
    /// `text` or `whsec`.
    pub key: String,
    /// `raw` (the default when `None`), `js` or `python`.
    pub json: Option<String>,
    /// Delivery defaults.
    pub delivery: ProfileDelivery,
}

/// A delivery profile. Made by `Profile::builtin` or `Profile::from_spec`; fields
/// are read through methods so a profile is always valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    name: String,
    description: Option<String>,
    envelope: Envelope,
    headers: HeaderNames,
    signing: Signing,
    json: JsonMode,
    delivery: ProfileDelivery,
}

/// Header names a profile may not use: Herald's own fixed ones and what HTTP
/// reserves.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-connection",
    "expect",
];

impl Profile {
    /// A built-in profile by name (`standard`, `hex`, `timestamped`).
    pub fn builtin(name: &str) -> Option<Self> {
        let scheme = match name {
            "standard" => SignatureScheme::Standard,
            "hex" => SignatureScheme::Hex,
            "timestamped" => SignatureScheme::Timestamped,
            _ => return None,
        };
        let signature = match scheme {
            SignatureScheme::Standard => "webhook-signature",
            _ => "x-webhook-signature",
        };
        let headers = [
            (HeaderRole::EventId, "webhook-id"),
            (HeaderRole::Timestamp, "webhook-timestamp"),
            (HeaderRole::Signature, signature),
            (HeaderRole::EventType, "x-event-type"),
            (HeaderRole::DeliveryId, "x-delivery-id"),
            (HeaderRole::Attempt, "x-delivery-attempt"),
        ]
        .map(|(role, name)| (role, name.to_owned()));
        let description = match scheme {
            SignatureScheme::Standard => "Standard Webhooks (the default)",
            SignatureScheme::Hex => {
                "x-webhook-signature: hex HMAC of the body, keyed by the whole secret"
            }
            SignatureScheme::Timestamped => {
                "x-webhook-signature: t=<ts>,v1=<hex HMAC of \"ts.body\">, keyed by the whole secret"
            }
        };
        Some(Self {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            envelope: Envelope::standard(),
            headers: HeaderNames::new(headers.to_vec()),
            signing: Signing::Scheme(scheme),
            json: JsonMode::Raw,
            delivery: ProfileDelivery::default(),
        })
    }

    /// The built-in profile of a signature scheme.
    pub fn of_scheme(scheme: SignatureScheme) -> Self {
        let name = match scheme {
            SignatureScheme::Standard => "standard",
            SignatureScheme::Hex => "hex",
            SignatureScheme::Timestamped => "timestamped",
        };
        Self::builtin(name).expect("every scheme has a built-in profile")
    }

    /// Checks a configured profile against the rules of profiles.md §1.
    ///
    /// # Errors
    /// `Invalid` whose field names the profile and its key
    /// (`profiles.perps.headers.signature`), with what is wrong.
    pub fn from_spec(name: &str, spec: ProfileSpec) -> Result<Self, Invalid> {
        let field = |key: &str| format!("profiles.{name}.{key}");
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(Invalid::new(
                format!("profiles.{name}"),
                "a profile name is 1 to 64 characters of [A-Za-z0-9_-]",
            ));
        }
        if BUILTIN.contains(&name) {
            return Err(Invalid::new(
                format!("profiles.{name}"),
                "is a built-in profile's name; choose another",
            ));
        }
        if let Some(description) = &spec.description {
            if description.chars().count() > 500 {
                return Err(Invalid::new(field("description"), "at most 500 characters"));
            }
        }
        let envelope = envelope_of(&spec.envelope, &field("envelope"))?;
        let kind = SignatureKind::parse(&spec.signature).ok_or_else(|| {
            Invalid::new(
                field("signature"),
                format!(
                    "`{}` is not one of standard, hex, hex_timestamp, stripe, github",
                    spec.signature
                ),
            )
        })?;
        let key = KeyKind::parse(&spec.key).ok_or_else(|| {
            Invalid::new(
                field("key"),
                format!("`{}` is not one of text, whsec", spec.key),
            )
        })?;
        let json = match &spec.json {
            None => JsonMode::Raw,
            Some(text) => JsonMode::parse(text).ok_or_else(|| {
                Invalid::new(
                    field("json"),
                    format!("`{text}` is not one of raw, js, python"),
                )
            })?,
        };
        let headers = headers_of(&spec.headers, &field("headers"))?;
        if headers.get(HeaderRole::Signature).is_none() {
            return Err(Invalid::new(
                field("headers.signature"),
                "every profile names the header that carries its signature",
            ));
        }
        match kind {
            SignatureKind::Standard => {
                if key != KeyKind::Whsec {
                    return Err(Invalid::new(
                        field("key"),
                        "the standard signature needs key = \"whsec\"",
                    ));
                }
                for role in [HeaderRole::EventId, HeaderRole::Timestamp] {
                    if headers.get(role).is_none() {
                        return Err(Invalid::new(
                            field(&format!("headers.{role}")),
                            "the standard signature needs the event_id, timestamp and signature headers",
                        ));
                    }
                }
            }
            SignatureKind::HexTimestamp if headers.get(HeaderRole::Timestamp).is_none() => {
                return Err(Invalid::new(
                    field("headers.timestamp"),
                    "hex_timestamp signs the timestamp: name the header that carries it",
                ));
            }
            _ => {}
        }
        crate::retry::RetrySchedule::new(spec.delivery.retry_schedule.clone().unwrap_or_default())
            .map_err(|e| Invalid::new(field("delivery.retry_schedule"), e.message))?;
        if let Some(timeout) = spec.delivery.timeout {
            if timeout.is_zero() || timeout > crate::config::MAX_ENDPOINT_TIMEOUT {
                return Err(Invalid::new(
                    field("delivery.timeout"),
                    "between 1 ms and 60 s",
                ));
            }
        }
        if spec.delivery.max_in_flight == Some(0) {
            return Err(Invalid::new(field("delivery.max_in_flight"), "at least 1"));
        }
        Ok(Self {
            name: name.to_owned(),
            description: spec.description,
            envelope,
            headers,
            signing: Signing::Recipe { kind, key },
            json,
            delivery: spec.delivery,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is one of the three built in.
    pub fn is_builtin(&self) -> bool {
        matches!(self.signing, Signing::Scheme(_))
    }

    /// Its description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The body's shape.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The headers it sends.
    pub fn headers(&self) -> &HeaderNames {
        &self.headers
    }

    /// How it signs.
    pub fn signing(&self) -> Signing {
        self.signing
    }

    /// How it writes JSON.
    pub fn json(&self) -> JsonMode {
        self.json
    }

    /// Its delivery settings.
    pub fn delivery(&self) -> &ProfileDelivery {
        &self.delivery
    }

    /// Checks a caller-supplied secret against its key kind: `whsec` needs the
    /// `whsec_` form; `text` any 16 to 128 printable ASCII characters.
    ///
    /// # Errors
    /// `Invalid { field: "secret" }`.
    pub fn parse_secret(&self, text: &str) -> Result<Secret, Invalid> {
        let scheme = match self.signing.key() {
            KeyKind::Whsec => SignatureScheme::Standard,
            KeyKind::Text => SignatureScheme::Hex,
        };
        Secret::parse(scheme, text)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn envelope_of(spec: &Option<Vec<String>>, field: &str) -> Result<Envelope, Invalid> {
    let Some(entries) = spec else {
        return Ok(Envelope::Data);
    };
    if entries.is_empty() {
        return Err(Invalid::new(
            field,
            "list the body's fields (`name=source`), or give \"data\" for the bare data",
        ));
    }
    let mut fields = Vec::with_capacity(entries.len());
    let mut names = HashSet::new();
    let mut sources = HashSet::new();
    for entry in entries {
        let (name, source) = entry
            .split_once('=')
            .ok_or_else(|| Invalid::new(field, format!("`{entry}` is not `name=source`")))?;
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_name {
            return Err(Invalid::new(
                field,
                format!("field name `{name}`: 1 to 64 characters of [A-Za-z0-9_]"),
            ));
        }
        let source = Source::parse(source).ok_or_else(|| {
            Invalid::new(
                field,
                format!("`{source}` is not a source (event_id, event_type, time:rfc3339, time:rfc3339_ms, time:unix, time:unix_ms, tenant, endpoint_id, delivery_id, data)"),
            )
        })?;
        if !names.insert(name.to_owned()) {
            return Err(Invalid::new(
                field,
                format!("field `{name}` is named twice"),
            ));
        }
        if !sources.insert(source) {
            return Err(Invalid::new(
                field,
                format!("source `{source}` is used twice"),
            ));
        }
        fields.push((name.to_owned(), source));
    }
    if !sources.contains(&Source::Data) {
        return Err(Invalid::new(
            field,
            "the envelope needs the `data` source once",
        ));
    }
    Ok(Envelope::Fields(fields))
}

fn headers_of(spec: &[(String, String)], field: &str) -> Result<HeaderNames, Invalid> {
    let mut names = Vec::with_capacity(spec.len());
    let mut seen_roles = HashSet::new();
    let mut seen_names = HashSet::new();
    for (role_text, name) in spec {
        let role = HeaderRole::parse(role_text).ok_or_else(|| {
            Invalid::new(
                format!("{field}.{role_text}"),
                "not a header role (event_id, timestamp, signature, event_type, delivery_id, attempt, endpoint_id, tenant)",
            )
        })?;
        let here = format!("{field}.{role}");
        if !seen_roles.insert(role) {
            return Err(Invalid::new(here, "named twice"));
        }
        crate::validate::check_header_name(name).map_err(|why| Invalid::new(&here, why))?;
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Invalid::new(here, format!("`{name}` is reserved")));
        }
        if !seen_names.insert(lower) {
            return Err(Invalid::new(
                here,
                format!("`{name}` is already used by another role"),
            ));
        }
        names.push((role, name.clone()));
    }
    Ok(HeaderNames::new(names))
}

/// The profiles an engine knows: the three built in and the configured ones.
#[derive(Debug, Clone)]
pub struct Profiles {
    all: Vec<Arc<Profile>>,
}

impl Profiles {
    /// The built-ins plus `configured`.
    ///
    /// # Errors
    /// `Invalid` naming a profile given twice or under a built-in's name.
    pub fn new(configured: Vec<Profile>) -> Result<Self, Invalid> {
        let mut all: Vec<Arc<Profile>> = BUILTIN
            .iter()
            .filter_map(|name| Profile::builtin(name))
            .map(Arc::new)
            .collect();
        for profile in configured {
            if all.iter().any(|p| p.name == profile.name) {
                return Err(Invalid::new(
                    format!("profiles.{}", profile.name),
                    "is defined twice or is a built-in profile's name",
                ));
            }
            all.push(Arc::new(profile));
        }
        Ok(Self { all })
    }

    /// A profile by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Profile>> {
        self.all.iter().find(|p| p.name == name)
    }

    /// Every profile: the built-ins first, then as configured.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.all.iter()
    }
}

impl Default for Profiles {
    fn default() -> Self {
        Self::new(Vec::new()).expect("the built-ins alone are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        envelope: &[&str],
        signature: &str,
        key: &str,
        headers: &[(&str, &str)],
    ) -> ProfileSpec {
        ProfileSpec {
            envelope: Some(envelope.iter().map(|s| s.to_string()).collect()),
            headers: headers
                .iter()
                .map(|(r, n)| (r.to_string(), n.to_string()))
                .collect(),
            signature: signature.into(),
            key: key.into(),
            ..ProfileSpec::default()
        }
    }

    fn perps() -> ProfileSpec {
        ProfileSpec {
            json: Some("js".into()),
            ..spec(
                &[
                    "id=event_id",
                    "type=event_type",
                    "created=time:unix",
                    "data=data",
                ],
                "hex",
                "text",
                &[
                    ("signature", "X-Webhook-Signature"),
                    ("endpoint_id", "X-Webhook-ID"),
                    ("event_type", "X-Event-Type"),
                    ("delivery_id", "X-Delivery-ID"),
                ],
            )
        }
    }

    fn refused(name: &str, spec: ProfileSpec) -> Invalid {
        Profile::from_spec(name, spec).expect_err("refused")
    }

    #[test]
    fn a_platform_profile_is_read_as_written() {
        let profile = Profile::from_spec("perps", perps()).unwrap();
        assert_eq!(profile.json(), JsonMode::Js);
        assert_eq!(
            profile.signing(),
            Signing::Recipe {
                kind: SignatureKind::Hex,
                key: KeyKind::Text
            }
        );
        assert_eq!(
            profile.headers().get(HeaderRole::EndpointId),
            Some("X-Webhook-ID")
        );
        assert!(profile.headers().title_case());
        assert!(!Profile::builtin("standard").unwrap().headers().title_case());
    }

    #[test]
    fn every_rule_of_section_1_is_enforced_and_named() {
        let cases: Vec<(&str, ProfileSpec, &str)> = vec![
            ("standard", perps(), "profiles.standard"),
            ("bad name!", perps(), "profiles.bad name!"),
            (
                "p",
                ProfileSpec {
                    envelope: Some(vec!["id=nope".into(), "d=data".into()]),
                    ..perps()
                },
                "profiles.p.envelope",
            ),
            (
                "p",
                ProfileSpec {
                    envelope: Some(vec!["id=event_id".into()]),
                    ..perps()
                },
                "profiles.p.envelope",
            ),
            (
                "p",
                ProfileSpec {
                    envelope: Some(vec!["a=data".into(), "b=data".into()]),
                    ..perps()
                },
                "profiles.p.envelope",
            ),
            (
                "p",
                ProfileSpec {
                    envelope: Some(vec!["a=data".into(), "a=event_id".into()]),
                    ..perps()
                },
                "profiles.p.envelope",
            ),
            (
                "p",
                ProfileSpec {
                    envelope: Some(vec!["a-b=data".into()]),
                    ..perps()
                },
                "profiles.p.envelope",
            ),
            (
                "p",
                ProfileSpec {
                    envelope: Some(vec!["nofield".into()]),
                    ..perps()
                },
                "profiles.p.envelope",
            ),
            (
                "p",
                ProfileSpec {
                    envelope: Some(vec![]),
                    ..perps()
                },
                "profiles.p.envelope",
            ),
            (
                "p",
                ProfileSpec {
                    signature: "sha1".into(),
                    ..perps()
                },
                "profiles.p.signature",
            ),
            (
                "p",
                ProfileSpec {
                    key: "base64".into(),
                    ..perps()
                },
                "profiles.p.key",
            ),
            (
                "p",
                ProfileSpec {
                    json: Some("ruby".into()),
                    ..perps()
                },
                "profiles.p.json",
            ),
            (
                "p",
                spec(&["d=data"], "hex", "text", &[("signatur", "X-S")]),
                "profiles.p.headers.signatur",
            ),
            (
                "p",
                spec(&["d=data"], "hex", "text", &[]),
                "profiles.p.headers.signature",
            ),
            (
                "p",
                spec(
                    &["d=data"],
                    "hex",
                    "text",
                    &[("signature", "X-S"), ("tenant", "x-s")],
                ),
                "profiles.p.headers.tenant",
            ),
            (
                "p",
                spec(&["d=data"], "hex", "text", &[("signature", "Host")]),
                "profiles.p.headers.signature",
            ),
            (
                "p",
                spec(
                    &["d=data"],
                    "hex",
                    "text",
                    &[("signature", "Content-Length")],
                ),
                "profiles.p.headers.signature",
            ),
            (
                "p",
                spec(&["d=data"], "hex", "text", &[("signature", "bad name")]),
                "profiles.p.headers.signature",
            ),
            (
                "p",
                spec(
                    &["d=data"],
                    "standard",
                    "text",
                    &[("signature", "s"), ("event_id", "i"), ("timestamp", "t")],
                ),
                "profiles.p.key",
            ),
            (
                "p",
                spec(
                    &["d=data"],
                    "standard",
                    "whsec",
                    &[("signature", "s"), ("timestamp", "t")],
                ),
                "profiles.p.headers.event_id",
            ),
            (
                "p",
                spec(&["d=data"], "hex_timestamp", "text", &[("signature", "s")]),
                "profiles.p.headers.timestamp",
            ),
            (
                "p",
                ProfileSpec {
                    delivery: ProfileDelivery {
                        timeout: Some(Duration::from_secs(61)),
                        ..ProfileDelivery::default()
                    },
                    ..perps()
                },
                "profiles.p.delivery.timeout",
            ),
            (
                "p",
                ProfileSpec {
                    delivery: ProfileDelivery {
                        retry_schedule: Some(vec![Duration::from_secs(8 * 24 * 3600)]),
                        ..ProfileDelivery::default()
                    },
                    ..perps()
                },
                "profiles.p.delivery.retry_schedule",
            ),
        ];
        for (name, spec, field) in cases {
            let invalid = refused(name, spec);
            assert_eq!(invalid.field, field, "{invalid}");
            assert!(!invalid.message.is_empty());
        }
    }

    #[test]
    fn a_profile_is_not_defined_twice() {
        let p = Profile::from_spec("perps", perps()).unwrap();
        let invalid = Profiles::new(vec![p.clone(), p]).unwrap_err();
        assert_eq!(invalid.field, "profiles.perps");
        let profiles = Profiles::new(vec![Profile::from_spec("perps", perps()).unwrap()]).unwrap();
        let names: Vec<&str> = profiles.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["standard", "hex", "timestamped", "perps"]);
    }

    #[test]
    fn delivery_settings_sit_between_the_engine_and_the_endpoint() {
        let defaults = DeliveryDefaults::default();
        let delivery = ProfileDelivery {
            timeout: Some(Duration::from_secs(3)),
            retry_schedule: Some(vec![Duration::from_secs(30)]),
            ..ProfileDelivery::default()
        };
        let applied = delivery.apply(&defaults);
        assert_eq!(applied.timeout, Duration::from_secs(3));
        assert_eq!(applied.retry_schedule, vec![Duration::from_secs(30)]);
        assert_eq!(applied.max_in_flight, defaults.max_in_flight);
    }

    #[test]
    fn secrets_follow_the_key_kind() {
        let text = Profile::from_spec("perps", perps()).unwrap();
        assert!(text.parse_secret("a-customer-chosen-secret").is_ok());
        assert!(text.parse_secret("short").is_err());
        let standard = Profile::builtin("standard").unwrap();
        assert!(standard.parse_secret("a-customer-chosen-secret").is_err());
    }
}

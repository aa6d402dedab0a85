//! `[profiles.NAME]` tables of the configuration file (profiles.md §1): each read
//! into a `herald::profile::ProfileSpec` and checked by `Profile::from_spec`, so a
//! bad profile stops the start with a message naming the profile and the key.

use std::collections::BTreeMap;

use herald::profile::{Profile, ProfileDelivery, ProfileSpec};
use serde::Deserialize;

use crate::config::{parse_duration, ConfigError};

/// One `[profiles.NAME]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    #[serde(default)]
    description: Option<String>,
    envelope: RawEnvelope,
    signature: String,
    key: String,
    #[serde(default)]
    json: Option<String>,
    /// Role = header name.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    delivery: RawProfileDelivery,
}

/// `envelope`: a list of `name=source`, or the string `"data"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawEnvelope {
    Fields(Vec<String>),
    Data(String),
}

/// `[profiles.NAME.delivery]`: the keys of `[delivery]` an endpoint can have of its
/// own, and `disable_on_dead`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfileDelivery {
    retry_schedule: Option<Vec<String>>,
    timeout: Option<String>,
    max_in_flight: Option<u32>,
    breaker_threshold: Option<u32>,
    breaker_cooldown: Option<String>,
    breaker_cooldown_max: Option<String>,
    disable_after: Option<String>,
    disable_after_failures: Option<u32>,
    rotation_grace: Option<String>,
    max_payload_bytes: Option<usize>,
    retention: Option<String>,
    disable_on_dead: Option<bool>,
}

/// Reads every profile table into a checked `Profile`.
pub(crate) fn profiles(raw: BTreeMap<String, RawProfile>) -> Result<Vec<Profile>, ConfigError> {
    raw.into_iter()
        .map(|(name, raw)| {
            let key = |k: &str| format!("profiles.{name}.{k}");
            let envelope = match raw.envelope {
                RawEnvelope::Fields(fields) => Some(fields),
                RawEnvelope::Data(text) if text == "data" => None,
                RawEnvelope::Data(text) => {
                    return Err(ConfigError::new(
                        key("envelope"),
                        format!("`{text}`: give a list of `name=source`, or \"data\""),
                    ))
                }
            };
            let spec = ProfileSpec {
                description: raw.description,
                envelope,
                headers: raw.headers.into_iter().collect(),
                signature: raw.signature,
                key: raw.key,
                json: raw.json,
                delivery: delivery(&name, raw.delivery)?,
            };
            Profile::from_spec(&name, spec).map_err(|e| ConfigError::new(e.field, e.message))
        })
        .collect()
}

fn delivery(name: &str, raw: RawProfileDelivery) -> Result<ProfileDelivery, ConfigError> {
    let key = |k: &str| format!("profiles.{name}.delivery.{k}");
    let duration = |k: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| parse_duration(t).map_err(|m| ConfigError::new(key(k), m)))
            .transpose()
    };
    for (k, set) in [
        ("max_payload_bytes", raw.max_payload_bytes.is_some()),
        ("retention", raw.retention.is_some()),
    ] {
        if set {
            return Err(ConfigError::new(
                key(k),
                "applies to the whole engine: set it in [delivery]",
            ));
        }
    }
    let retry_schedule = match &raw.retry_schedule {
        None => None,
        Some(steps) => Some(
            steps
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    parse_duration(text)
                        .map_err(|m| ConfigError::new(format!("{}[{i}]", key("retry_schedule")), m))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    for (k, value) in [
        ("max_in_flight", raw.max_in_flight),
        ("breaker_threshold", raw.breaker_threshold),
        ("disable_after_failures", raw.disable_after_failures),
    ] {
        if value == Some(0) {
            return Err(ConfigError::new(key(k), "must be at least 1"));
        }
    }
    Ok(ProfileDelivery {
        retry_schedule,
        timeout: duration("timeout", &raw.timeout)?,
        max_in_flight: raw.max_in_flight,
        breaker_threshold: raw.breaker_threshold,
        breaker_cooldown: duration("breaker_cooldown", &raw.breaker_cooldown)?,
        breaker_cooldown_max: duration("breaker_cooldown_max", &raw.breaker_cooldown_max)?,
        disable_after: duration("disable_after", &raw.disable_after)?,
        disable_after_failures: raw.disable_after_failures,
        rotation_grace: duration("rotation_grace", &raw.rotation_grace)?,
        disable_on_dead: raw.disable_on_dead.unwrap_or(false),
    })
}

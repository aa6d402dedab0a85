//! `[tenants]` and `[event_types."TYPE"]` of the configuration file (access.md §2 and
//! §4): the defaults of every tenant's settings and the catalog entries every tenant
//! shares, checked at load so that a bad one names its key.

use std::collections::BTreeMap;

use herald::tenants::{CatalogDoc, TenantDefaults};
use serde::Deserialize;

use crate::config::ConfigError;

/// `[tenants]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTenants {
    max_endpoints: u32,
    publish_rate: u32,
    default_profile: String,
    max_streams: u32,
    stream_buffer: usize,
}

impl Default for RawTenants {
    fn default() -> Self {
        let defaults = TenantDefaults::default();
        Self {
            max_endpoints: defaults.max_endpoints,
            publish_rate: defaults.publish_rate,
            default_profile: defaults.default_profile,
            max_streams: defaults.max_streams,
            stream_buffer: herald::EngineConfig::default().stream_buffer,
        }
    }
}

impl RawTenants {
    /// Checks the values (the profile name is checked against the profiles in force).
    pub(crate) fn validate(
        self,
        profiles: &[herald::profile::Profile],
    ) -> Result<(TenantDefaults, usize), ConfigError> {
        if !(1..=100_000).contains(&self.max_streams) {
            return Err(ConfigError::new(
                "tenants.max_streams",
                "must be 1 to 100000",
            ));
        }
        if !(1..=1_000_000).contains(&self.stream_buffer) {
            return Err(ConfigError::new(
                "tenants.stream_buffer",
                "must be 1 to 1000000 events",
            ));
        }
        if !(1..=1_000_000).contains(&self.max_endpoints) {
            return Err(ConfigError::new(
                "tenants.max_endpoints",
                "must be 1 to 1000000",
            ));
        }
        if self.publish_rate > 1_000_000 {
            return Err(ConfigError::new(
                "tenants.publish_rate",
                "must be 0 (no limit) to 1000000 events per second",
            ));
        }
        let built_in = ["standard", "hex", "timestamped"];
        let known = built_in.contains(&self.default_profile.as_str())
            || profiles.iter().any(|p| p.name() == self.default_profile);
        if !known {
            return Err(ConfigError::new(
                "tenants.default_profile",
                format!("no profile is named `{}`", self.default_profile),
            ));
        }
        let defaults = TenantDefaults {
            max_endpoints: self.max_endpoints,
            publish_rate: self.publish_rate,
            default_profile: self.default_profile,
            max_streams: self.max_streams,
        };
        Ok((defaults, self.stream_buffer))
    }
}

/// One `[event_types."TYPE"]` table: `example` and `schema` are written as TOML
/// values (tables, arrays, strings, numbers) and become JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEventType {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    example: Option<toml::Value>,
    #[serde(default)]
    schema: Option<toml::Value>,
}

/// Reads and checks every catalog table.
pub(crate) fn catalog(raw: BTreeMap<String, RawEventType>) -> Result<Vec<CatalogDoc>, ConfigError> {
    raw.into_iter()
        .map(|(event_type, raw)| {
            let json = |value: Option<toml::Value>, key: &str| {
                value
                    .map(|v| {
                        serde_json::to_string(&v).map_err(|e| {
                            ConfigError::new(
                                format!("event_types.\"{event_type}\".{key}"),
                                e.to_string(),
                            )
                        })
                    })
                    .transpose()
            };
            let doc = CatalogDoc {
                example: json(raw.example, "example")?,
                schema: json(raw.schema, "schema")?,
                description: raw.description,
                event_type,
            };
            doc.check()
                .map_err(|e| ConfigError::new(e.field, e.message))?;
            Ok(doc)
        })
        .collect()
}

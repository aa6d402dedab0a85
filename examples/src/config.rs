//! `DaemonConfig`: the TOML file, then `HERALD_<KEY>` environment variables, then flags,
//! validated once into plain values (`herald::EngineConfig`, the transport's settings).
//!
//! Every key of http-api.md "Configuration" is read here with its default. Unknown
//! keys and invalid values fail at start with a `ConfigError` naming the key; durations
//! are strings with a unit, read by `parse_duration` alone.

use crate::serde_path::field_of;
use crate::strict_tables::StrictTables;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use herald::config::MAX_ENDPOINT_TIMEOUT;
use herald::signing::{Secret, SignatureScheme};
use herald::{DeliveryDefaults, DestinationPolicy, EngineConfig};
use herald_transport_http::HttpTransportConfig;
use ipnet::IpNet;
use serde::Deserialize;

pub use crate::api_config::ApiLimits;

/// A configuration that cannot be used; `key` names the offending setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: `{key}`: {message}")]
pub struct ConfigError {
    /// The key as written in the file (`delivery.timeout`, `listen`, ...).
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Text that must never be logged (tokens). `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself (compare it, hand it out; never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where the engine keeps its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// Durable, in `data_dir` (the default).
    Sled,
    /// In memory: everything is lost at exit (tests, trials).
    Memory,
    /// In the PostgreSQL database of `postgres_url`.
    Postgres,
}

/// The PEM files of an HTTPS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// The tenant that holds the operational webhook's endpoint and its events.
pub const OPERATOR_TENANT: &str = "_herald";

/// Where operational events are posted, and the secret that signs them.
#[derive(Debug, Clone)]
pub struct OperationalWebhook {
    /// The receiver's URL (checked against the destination policy).
    pub url: String,
    /// A `whsec_` secret; requests are signed `standard` with it.
    pub secret: Secret,
}

/// The daemon's settings, validated. Built by `DaemonConfig::load`, or directly by
/// tests and embedders (`DaemonConfig::default()` is every default of http-api.md).
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Address of the management API.
    pub listen: SocketAddr,
    /// Where sled keeps its files and the generated API token lives.
    pub data_dir: PathBuf,
    /// Storage backend.
    pub storage: StorageKind,
    /// The database of `StorageKind::Postgres` (a `postgres://` URL; it may hold a
    /// password, hence `Sensitive`).
    pub postgres_url: Option<Sensitive>,
    /// How this node shares the endpoints with the others on the same database
    /// (`node_id` and `[cluster]`; only with `StorageKind::Postgres`).
    pub cluster: herald_storage_postgres::ClusterOptions,
    /// The API token; `None` means generated on first start (see `api::auth`).
    pub api_token: Option<Sensitive>,
    /// When set, `/metrics` needs this bearer token.
    pub metrics_token: Option<Sensitive>,
    /// When set, the API is served over HTTPS.
    pub tls: Option<TlsFiles>,
    /// When set, operational events are posted there.
    pub operational_webhook: Option<OperationalWebhook>,
    /// How long in-flight requests and attempts get at shutdown.
    pub shutdown_grace: Duration,
    /// `[api]`: what a client of the management API may hold.
    pub api: ApiLimits,
    /// `[console]`: how long portal links and console sessions last.
    pub console: crate::console_config::ConsoleSettings,
    /// Logs as JSON lines instead of human text (flag `--log-json` only).
    pub log_json: bool,
    /// The keys storage seals endpoint secrets and header values with (the current
    /// one first); `None` means sled's keyring file in the data directory, made on
    /// the first start (PostgreSQL needs them set: every node of a database needs
    /// the same keys).
    pub encryption_keys: Option<herald::sealing::Keyring>,
    /// The engine's settings, destinations included.
    pub engine: EngineConfig,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        let raw = RawConfig::default();
        // The defaults are constants of this file; they always validate.
        raw.validate(false)
            .expect("the built-in defaults are a valid configuration")
    }
}

/// The flags that override the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config`: the TOML file to read (none: every default applies).
    pub config: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<String>,
    /// `--storage`.
    pub storage: Option<String>,
    /// `--log-json`.
    pub log_json: bool,
}

/// Top-level keys that `HERALD_<KEY>` may set, with how the variable's text is read.
const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("listen", EnvKind::Text),
    ("data_dir", EnvKind::Text),
    ("storage", EnvKind::Text),
    ("postgres_url", EnvKind::Text),
    ("node_id", EnvKind::Text),
    ("api_token", EnvKind::Text),
    ("metrics_token", EnvKind::Text),
    ("tls_cert", EnvKind::Text),
    ("tls_key", EnvKind::Text),
    ("allow_http", EnvKind::Bool),
    ("allow_private_destinations", EnvKind::Bool),
    ("destination_allowlist", EnvKind::List),
    ("destination_denylist", EnvKind::List),
    ("destination_allowed_ports", EnvKind::Numbers),
    ("operational_webhook_url", EnvKind::Text),
    ("operational_webhook_secret", EnvKind::Text),
    ("shutdown_grace", EnvKind::Text),
    ("encryption_keys", EnvKind::List),
    ("queue_memory_mb", EnvKind::Number),
    ("max_attempts_in_flight", EnvKind::Number),
];

#[derive(Debug, Clone, Copy)]
enum EnvKind {
    Text,
    Bool,
    /// Comma-separated.
    List,
    /// A whole number.
    Number,
    /// Comma-separated whole numbers.
    Numbers,
}

impl DaemonConfig {
    /// The directory sled keeps its files in (`data_dir/db`), with its keyring file
    /// when `encryption_keys` is not set.
    pub fn sled_dir(&self) -> PathBuf {
        self.data_dir.join("db")
    }

    /// Reads the file named by `flags.config` (if any), applies the `HERALD_*` entries
    /// of `env` (pass `std::env::vars()`), then the flags, and validates the result.
    ///
    /// # Errors
    /// `ConfigError` naming the key: an unreadable or malformed file, an unknown key,
    /// a value of the wrong type or out of range.
    pub fn load(
        flags: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match &flags.config {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(key) = name.strip_prefix("HERALD_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            // Other HERALD_ variables (RUST_LOG-like settings of other tools) are not ours.
            let Some((key, kind)) = ENV_KEYS.iter().find(|(k, _)| *k == key) else {
                continue;
            };
            table.insert((*key).to_owned(), env_value(key, *kind, &name, &value)?);
        }
        let flag_values = [
            ("listen", &flags.listen),
            ("data_dir", &flags.data_dir),
            ("storage", &flags.storage),
        ];
        for (key, value) in flag_values {
            if let Some(value) = value {
                table.insert(key.to_owned(), toml::Value::String(value.clone()));
            }
        }
        let raw: RawConfig = serde_path_to_error::deserialize(StrictTables(toml::Value::Table(
            table,
        )))
        .map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            ConfigError::new(field_of(&path, &message, "config"), message)
        })?;
        raw.validate(flags.log_json)
    }

    /// The transport's settings: the same destination policy as the engine's.
    pub fn transport_config(&self) -> HttpTransportConfig {
        HttpTransportConfig {
            destinations: self.engine.destinations.clone(),
            ..HttpTransportConfig::default()
        }
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("config", format!("cannot read {}: {e}", path.display())))?;
    text.parse::<toml::Table>().map_err(|e| {
        let key = e
            .span()
            .and_then(|span| key_at(&text, span.start))
            .unwrap_or_else(|| "config".to_owned());
        ConfigError::new(key, format!("{} is not valid TOML: {e}", path.display()))
    })
}

/// The key on the line holding byte `offset` of a TOML text, for syntax errors.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let line = text.get(..offset)?.rsplit('\n').next()?;
    let end = text.get(offset..)?.split('\n').next()?;
    let whole = format!("{line}{end}");
    let key = whole.split('=').next()?.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_owned())
}

fn env_value(
    key: &str,
    kind: EnvKind,
    name: &str,
    value: &str,
) -> Result<toml::Value, ConfigError> {
    match kind {
        EnvKind::Text => Ok(toml::Value::String(value.to_owned())),
        EnvKind::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "" => Ok(toml::Value::Boolean(false)),
            _ => Err(ConfigError::new(
                key,
                format!("{name} must be true or false, not `{value}`"),
            )),
        },
        EnvKind::Number => value
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| {
                ConfigError::new(key, format!("{name} must be a whole number, not `{value}`"))
            }),
        EnvKind::List => Ok(toml::Value::Array(
            list_items(value)
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        )),
        EnvKind::Numbers => list_items(value)
            .map(|item| {
                item.parse::<i64>().map(toml::Value::Integer).map_err(|_| {
                    ConfigError::new(
                        key,
                        format!("{name} must be whole numbers separated by commas, not `{value}`"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(toml::Value::Array),
    }
}

/// The non-empty items of a comma-separated list.
fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// Parses a duration with a unit: `500ms`, `30s`, `2m`, `4h`, `5d`.
///
/// # Errors
/// A message saying what form is expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit (use ms, s, m, h or d, e.g. `30s`)"))?;
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let unit_millis: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60 * 1000,
        "h" => 3600 * 1000,
        "d" => 24 * 3600 * 1000,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit (use ms, s, m, h or d)"
            ))
        }
    };
    value
        .checked_mul(unit_millis)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// The file's shape, with http-api.md's defaults; values are checked by `validate`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    listen: String,
    data_dir: String,
    storage: String,
    postgres_url: String,
    node_id: String,
    api_token: String,
    metrics_token: String,
    tls_cert: String,
    tls_key: String,
    allow_http: bool,
    allow_private_destinations: bool,
    destination_allowlist: Vec<String>,
    destination_denylist: Vec<String>,
    /// Whole numbers, checked by `validate` (so 0 or 70000 gets a message of ours).
    destination_allowed_ports: Vec<i64>,
    operational_webhook_url: String,
    operational_webhook_secret: String,
    shutdown_grace: String,
    encryption_keys: Vec<String>,
    queue_memory_mb: u64,
    max_attempts_in_flight: u64,
    api: crate::api_config::RawApi,
    console: crate::console_config::RawConsole,
    /// `None` when the file has no `[cluster]` (it is refused without PostgreSQL).
    cluster: Option<crate::cluster_config::RawCluster>,
    delivery: RawDelivery,
    profiles: std::collections::BTreeMap<String, crate::profiles_config::RawProfile>,
    tenants: crate::tenants_config::RawTenants,
    event_types: std::collections::BTreeMap<String, crate::tenants_config::RawEventType>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: "./herald-data".into(),
            storage: "sled".into(),
            postgres_url: String::new(),
            node_id: String::new(),
            api_token: String::new(),
            metrics_token: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            allow_http: false,
            allow_private_destinations: false,
            destination_allowlist: Vec::new(),
            destination_denylist: Vec::new(),
            destination_allowed_ports: Vec::new(),
            operational_webhook_url: String::new(),
            operational_webhook_secret: String::new(),
            shutdown_grace: "10s".into(),
            encryption_keys: Vec::new(),
            queue_memory_mb: 256,
            max_attempts_in_flight: 1024,
            api: crate::api_config::RawApi::default(),
            console: crate::console_config::RawConsole::default(),
            cluster: None,
            delivery: RawDelivery::default(),
            profiles: std::collections::BTreeMap::new(),
            tenants: crate::tenants_config::RawTenants::default(),
            event_types: std::collections::BTreeMap::new(),
        }
    }
}

/// `[delivery]`: delivery.md §7.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDelivery {
    retry_schedule: Vec<String>,
    timeout: String,
    max_in_flight: u32,
    breaker_threshold: u32,
    breaker_cooldown: String,
    breaker_cooldown_max: String,
    disable_after: String,
    disable_after_failures: u32,
    rotation_grace: String,
    max_payload_bytes: usize,
    retention: String,
}

impl Default for RawDelivery {
    fn default() -> Self {
        Self {
            retry_schedule: ["5s", "30s", "2m", "10m", "1h", "4h", "12h", "24h"]
                .map(String::from)
                .to_vec(),
            timeout: "10s".into(),
            max_in_flight: 16,
            breaker_threshold: 5,
            breaker_cooldown: "30s".into(),
            breaker_cooldown_max: "10m".into(),
            disable_after: "5d".into(),
            disable_after_failures: 1000,
            rotation_grace: "24h".into(),
            max_payload_bytes: 262_144,
            retention: "30d".into(),
        }
    }
}

/// The duration `text` of setting `key`, or an error naming the key.
pub(crate) fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    parse_duration(text).map_err(|message| ConfigError::new(key, message))
}

fn at_least_one(key: &str, value: u32) -> Result<u32, ConfigError> {
    if value == 0 {
        Err(ConfigError::new(key, "must be at least 1"))
    } else {
        Ok(value)
    }
}

fn optional(text: String) -> Option<String> {
    (!text.trim().is_empty()).then_some(text)
}

/// The shortest admin token accepted, in characters: 32 random hex digits are 128
/// bits, out of reach of guessing; a generated token has 64.
pub const MIN_API_TOKEN_CHARS: usize = 32;

/// The admin token as compared: without surrounding whitespace (a presented token is
/// trimmed the same way), and at least `MIN_API_TOKEN_CHARS` long.
///
/// # Errors
/// A `ConfigError` naming `api_token` when it is shorter.
pub fn api_token(text: &str) -> Result<Sensitive, ConfigError> {
    let token = text.trim();
    let length = token.chars().count();
    if length < MIN_API_TOKEN_CHARS {
        return Err(ConfigError::new(
            "api_token",
            format!(
                "must be at least {MIN_API_TOKEN_CHARS} characters (this one has {length}); \
                 leave it empty to have one generated"
            ),
        ));
    }
    Ok(Sensitive::new(token))
}

/// The CIDR ranges of list `key`; an error names the item (`key[i]`).
fn cidrs(key: &str, texts: &[String]) -> Result<Vec<IpNet>, ConfigError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            text.trim().parse::<IpNet>().map_err(|_| {
                ConfigError::new(
                    format!("{key}[{i}]"),
                    format!("`{text}` is not a CIDR range such as 10.0.0.0/8"),
                )
            })
        })
        .collect()
}

/// The TCP ports of list `key`, each 1 to 65535; an error names the item (`key[i]`).
fn ports(key: &str, numbers: &[i64]) -> Result<Vec<u16>, ConfigError> {
    numbers
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            u16::try_from(n)
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| {
                    ConfigError::new(
                        format!("{key}[{i}]"),
                        format!("`{n}` is not a port from 1 to 65535"),
                    )
                })
        })
        .collect()
}

impl RawDelivery {
    fn validate(self) -> Result<DeliveryDefaults, ConfigError> {
        let retry_schedule = self
            .retry_schedule
            .iter()
            .enumerate()
            .map(|(i, text)| duration(&format!("delivery.retry_schedule[{i}]"), text))
            .collect::<Result<Vec<_>, _>>()?;
        herald::retry::RetrySchedule::new(retry_schedule.clone())
            .map_err(|e| ConfigError::new("delivery.retry_schedule", e.message))?;
        let timeout = duration("delivery.timeout", &self.timeout)?;
        if timeout.is_zero() || timeout > MAX_ENDPOINT_TIMEOUT {
            return Err(ConfigError::new(
                "delivery.timeout",
                "must be more than 0 and at most 60s",
            ));
        }
        let breaker_cooldown = duration("delivery.breaker_cooldown", &self.breaker_cooldown)?;
        let breaker_cooldown_max =
            duration("delivery.breaker_cooldown_max", &self.breaker_cooldown_max)?;
        if breaker_cooldown_max < breaker_cooldown {
            return Err(ConfigError::new(
                "delivery.breaker_cooldown_max",
                "must not be shorter than delivery.breaker_cooldown",
            ));
        }
        if self.max_payload_bytes == 0 {
            return Err(ConfigError::new(
                "delivery.max_payload_bytes",
                "must be at least 1",
            ));
        }
        Ok(DeliveryDefaults {
            retry_schedule,
            timeout,
            max_in_flight: at_least_one("delivery.max_in_flight", self.max_in_flight)?,
            breaker_threshold: at_least_one("delivery.breaker_threshold", self.breaker_threshold)?,
            breaker_cooldown,
            breaker_cooldown_max,
            disable_after: duration("delivery.disable_after", &self.disable_after)?,
            disable_after_failures: at_least_one(
                "delivery.disable_after_failures",
                self.disable_after_failures,
            )?,
            rotation_grace: duration("delivery.rotation_grace", &self.rotation_grace)?,
            max_payload_bytes: self.max_payload_bytes,
            retention: duration("delivery.retention", &self.retention)?,
        })
    }
}

impl RawConfig {
    fn validate(self, log_json: bool) -> Result<DaemonConfig, ConfigError> {
        let listen = self.listen.trim().parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "listen",
                format!("`{}` is not an address such as 127.0.0.1:8080", self.listen),
            )
        })?;
        if self.data_dir.trim().is_empty() {
            return Err(ConfigError::new("data_dir", "must not be empty"));
        }
        let storage = match self.storage.trim() {
            "sled" => StorageKind::Sled,
            "memory" => StorageKind::Memory,
            "postgres" => StorageKind::Postgres,
            other => {
                return Err(ConfigError::new(
                    "storage",
                    format!("`{other}` is not `sled`, `memory` or `postgres`"),
                ))
            }
        };
        let postgres_url = optional(self.postgres_url).map(|url| Sensitive::new(url.trim()));
        if storage == StorageKind::Postgres && postgres_url.is_none() {
            return Err(ConfigError::new(
                "postgres_url",
                "must be set when storage is \"postgres\" (or HERALD_POSTGRES_URL)",
            ));
        }
        if storage != StorageKind::Postgres {
            if self.cluster.is_some() {
                return Err(ConfigError::new(
                    "cluster",
                    "needs storage = \"postgres\": nodes share endpoints through the database",
                ));
            }
            if !self.node_id.trim().is_empty() {
                return Err(ConfigError::new(
                    "node_id",
                    "needs storage = \"postgres\": it names this node among those on the database",
                ));
            }
        }
        let cluster = self.cluster.unwrap_or_default().validate(&self.node_id)?;
        let tls = match (optional(self.tls_cert), optional(self.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new("tls_key", "must be set when tls_cert is"))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new("tls_cert", "must be set when tls_key is"))
            }
        };
        let destinations = DestinationPolicy {
            allow_http: self.allow_http,
            allow_private_destinations: self.allow_private_destinations,
            allowlist: cidrs("destination_allowlist", &self.destination_allowlist)?,
            deny: cidrs("destination_denylist", &self.destination_denylist)?,
            allowed_ports: ports("destination_allowed_ports", &self.destination_allowed_ports)?,
        };
        let operational_webhook = match (
            optional(self.operational_webhook_url),
            optional(self.operational_webhook_secret),
        ) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "operational_webhook_url",
                    "must be set when operational_webhook_secret is",
                ))
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "operational_webhook_secret",
                    "must be set when operational_webhook_url is",
                ))
            }
            (Some(url), Some(secret)) => {
                // Literal addresses and the scheme are checked now; host names again
                // after resolution, by the transport.
                destinations
                    .check_url(&url)
                    .map_err(|e| ConfigError::new("operational_webhook_url", e.message))?;
                let secret = Secret::parse(SignatureScheme::Standard, secret.trim())
                    .map_err(|e| ConfigError::new("operational_webhook_secret", e.message))?;
                Some(OperationalWebhook { url, secret })
            }
        };
        let shutdown_grace = duration("shutdown_grace", &self.shutdown_grace)?;
        let encryption_keys = encryption_keys(&self.encryption_keys)?;
        if storage == StorageKind::Postgres && encryption_keys.is_none() {
            // A keyring file per node would give each node keys of its own.
            return Err(ConfigError::new(
                "encryption_keys",
                "must be set when storage is \"postgres\": the same keys on every node \
                 of the database (a key is ID:BASE64 of 32 random bytes, e.g. \
                 k1: then the output of `head -c 32 /dev/urandom | base64`)",
            ));
        }
        if !(1..=1 << 20).contains(&self.queue_memory_mb) {
            return Err(ConfigError::new(
                "queue_memory_mb",
                "must be from 1 to 1048576 (MiB)",
            ));
        }
        let queue_memory = usize::try_from(self.queue_memory_mb << 20).unwrap_or(usize::MAX);
        if !(2..=1_000_000).contains(&self.max_attempts_in_flight) {
            return Err(ConfigError::new(
                "max_attempts_in_flight",
                "must be from 2 to 1000000",
            ));
        }
        let max_attempts_in_flight =
            usize::try_from(self.max_attempts_in_flight).unwrap_or(usize::MAX);
        let api = self.api.validate()?;
        let console = self.console.validate()?;
        let profiles = crate::profiles_config::profiles(self.profiles)?;
        let (tenants, stream_buffer) = self.tenants.validate(&profiles)?;
        let engine = EngineConfig {
            delivery: self.delivery.validate()?,
            destinations,
            tenants,
            stream_buffer,
            event_types: crate::tenants_config::catalog(self.event_types)?,
            operator: operational_webhook
                .as_ref()
                .map(|_| herald::TenantId::parse(OPERATOR_TENANT).expect("a valid tenant name")),
            profiles,
            queue_memory,
            max_attempts_in_flight,
            ..EngineConfig::default()
        };
        Ok(DaemonConfig {
            listen,
            data_dir: PathBuf::from(self.data_dir),
            storage,
            postgres_url,
            cluster,
            api_token: optional(self.api_token)
                .map(|token| api_token(&token))
                .transpose()?,
            metrics_token: optional(self.metrics_token).map(|t| Sensitive::new(t.trim())),
            tls,
            operational_webhook,
            shutdown_grace,
            api,
            console,
            log_json,
            encryption_keys,
            engine,
        })
    }
}

/// `encryption_keys`: none, or a keyring whose messages name the key's position and
/// id, never the key.
fn encryption_keys(texts: &[String]) -> Result<Option<herald::sealing::Keyring>, ConfigError> {
    use herald::sealing::{Keyring, KeyringError};
    if texts.is_empty() {
        return Ok(None);
    }
    Keyring::from_texts(texts.iter().map(String::as_str))
        .map(Some)
        .map_err(|e| match e {
            KeyringError::Malformed { index, message } => {
                ConfigError::new(format!("encryption_keys[{}]", index - 1), message)
            }
            other => ConfigError::new("encryption_keys", other.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<DaemonConfig, ConfigError> {
        let dir = std::env::temp_dir().join(format!("heraldd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(format!("{:x}.toml", rand::random::<u64>()));
        std::fs::write(&path, text).expect("write config");
        let flags = Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        };
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        let result = DaemonConfig::load(&flags, env);
        let _ = std::fs::remove_file(path);
        result
    }

    proptest::proptest! {
        #[test]
        fn durations_parse_back_from_their_parts(value in 0u64..1_000_000, unit in 0usize..5) {
            let (suffix, millis) = [("ms", 1u64), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)][unit];
            let parsed = parse_duration(&format!("{value}{suffix}")).unwrap();
            proptest::prop_assert_eq!(parsed, Duration::from_millis(value * millis));
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in ".{0,24}") {
            let _ = parse_duration(&text);
        }
    }

    #[test]
    fn durations_take_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse_duration("5d"), Ok(Duration::from_secs(5 * 86400)));
        for bad in ["", "30", "s", "1.5s", "10 parsecs", "-1s", "3w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_file_means_every_default() {
        let config = DaemonConfig::load(&Overrides::default(), Vec::new()).expect("defaults");
        assert_eq!(config.listen, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(config.storage, StorageKind::Sled);
        assert_eq!(config.data_dir, PathBuf::from("./herald-data"));
        assert!(config.api_token.is_none() && config.metrics_token.is_none());
        assert_eq!(config.shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.engine.delivery, DeliveryDefaults::default());
        assert_eq!(config.engine.destinations, DestinationPolicy::default());
        assert_eq!(config.api, ApiLimits::default());
        assert_eq!(config.api.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.api.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.api.max_connections, 1024);
    }

    #[test]
    fn api_table_is_read() {
        let config = load_text(
            "[api]\nheader_read_timeout = \"300ms\"\nbody_read_timeout = \"2s\"\n\
             idle_timeout = \"5s\"\nwrite_timeout = \"3s\"\nmax_connections = 64\n\
             max_header_bytes = 8192\n\
             max_headers = 32\ntls_handshake_timeout = \"1s\"\nmax_tls_handshakes = 8\n\
             max_concurrent_writes = 4\n",
            &[],
        )
        .expect("valid");
        assert_eq!(
            config.api,
            ApiLimits {
                header_read_timeout: Duration::from_millis(300),
                body_read_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(5),
                write_timeout: Duration::from_secs(3),
                max_connections: 64,
                max_header_bytes: 8192,
                max_headers: 32,
                tls_handshake_timeout: Duration::from_secs(1),
                max_tls_handshakes: 8,
                max_concurrent_writes: 4,
            }
        );
    }

    #[test]
    fn env_overrides_the_file_and_flags_override_env() {
        let mut flags = Overrides {
            listen: Some("127.0.0.1:0".into()),
            ..Overrides::default()
        };
        flags.storage = Some("memory".into());
        let env = [
            ("HERALD_LISTEN", "127.0.0.1:9999"),
            ("HERALD_ALLOW_HTTP", "true"),
            ("HERALD_DESTINATION_ALLOWLIST", "10.0.0.0/8, 192.168.0.0/16"),
            ("HERALD_API_TOKEN", "  0123456789abcdef0123456789abcdef\n"),
            ("HERALD_DESTINATION_DENYLIST", "127.0.0.0/8, ::1/128"),
            ("HERALD_DESTINATION_ALLOWED_PORTS", "443, 8443"),
            ("HERALD_SOMETHING_ELSE", "ignored"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = DaemonConfig::load(&flags, env).expect("valid");
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.storage, StorageKind::Memory);
        assert!(config.engine.destinations.allow_http);
        assert_eq!(config.engine.destinations.allowlist.len(), 2);
        assert_eq!(
            config.api_token.map(|t| t.0),
            Some("0123456789abcdef0123456789abcdef".to_owned()),
            "trimmed"
        );
        assert_eq!(config.engine.destinations.deny.len(), 2);
        assert_eq!(config.engine.destinations.allowed_ports, vec![443, 8443]);
    }

    #[test]
    fn postgres_storage_takes_its_url_from_the_file_or_the_environment() {
        let key = herald::sealing::SealingKey::generate().to_text();
        let text = format!("storage = \"postgres\"\nencryption_keys = [\"{key}\"]\n");
        let url = "postgres://herald:pw@db.internal:5432/herald?sslmode=require";
        let config = load_text(&text, &[("HERALD_POSTGRES_URL", url)]).expect("valid");
        assert_eq!(config.storage, StorageKind::Postgres);
        assert_eq!(
            config.postgres_url.as_ref().map(Sensitive::expose),
            Some(url)
        );
        assert!(
            !format!("{config:?}").contains("pw@"),
            "the URL is not logged"
        );
        let text = format!("{text}postgres_url = \"postgres://h/db\"\n");
        let config = load_text(&text, &[]).expect("valid");
        assert_eq!(
            config.postgres_url.as_ref().map(Sensitive::expose),
            Some("postgres://h/db")
        );
    }

    #[test]
    fn the_deny_list_and_the_allowed_ports_are_read() {
        let config = load_text(
            "destination_denylist = [\"10.0.0.0/8\", \"fd00::/8\"]\ndestination_allowed_ports = [443, 8443]\n",
            &[],
        )
        .expect("valid");
        let policy = &config.engine.destinations;
        assert_eq!(
            policy.deny,
            vec![
                "10.0.0.0/8".parse::<IpNet>().expect("cidr"),
                "fd00::/8".parse().expect("cidr")
            ]
        );
        assert_eq!(policy.allowed_ports, vec![443, 8443]);
        assert_eq!(config.transport_config().destinations, *policy);
        let none = DaemonConfig::load(&Overrides::default(), Vec::new()).expect("defaults");
        assert!(none.engine.destinations.deny.is_empty());
        assert!(
            none.engine.destinations.allowed_ports.is_empty(),
            "any port"
        );
    }

    #[test]
    fn an_api_token_shorter_than_32_characters_is_refused() {
        let short = "0123456789abcdef0123456789abcde"; // 31
        for (text, env) in [
            (format!("api_token = \"{short}\"\n"), vec![]),
            (String::new(), vec![("HERALD_API_TOKEN", short)]),
            // Whitespace does not count.
            (format!("api_token = \"  {short}  \"\n"), vec![]),
        ] {
            let error = load_text(&text, &env).expect_err("short");
            assert_eq!(error.key, "api_token", "{error}");
            assert!(error.message.contains("32"), "{error}");
        }
        let long = format!("api_token = \"{short}f\"\n");
        assert!(load_text(&long, &[]).is_ok());
    }

    #[test]
    fn delivery_table_is_read() {
        let config = load_text(
            "[delivery]\nretry_schedule = [\"500ms\", \"1s\"]\ntimeout = \"2s\"\nmax_payload_bytes = 1024\n",
            &[],
        )
        .expect("valid");
        assert_eq!(
            config.engine.delivery.retry_schedule,
            vec![Duration::from_millis(500), Duration::from_secs(1)]
        );
        assert_eq!(config.engine.delivery.timeout, Duration::from_secs(2));
        assert_eq!(config.engine.delivery.max_payload_bytes, 1024);
    }

    #[test]
    fn errors_name_the_key() {
        /// The file's text, the environment, and the key the error must name.
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            ("listne = \"x\"\n", &[], "listne"),
            ("api = [\"x\"]\n", &[], "api"),
            ("api = []\n", &[], "api"),
            ("delivery = [1, 2]\n", &[], "delivery"),
            ("[delivery]\ncolour = 1\n", &[], "delivery.colour"),
            (
                "[delivery]\ntimeout = \"10 parsecs\"\n",
                &[],
                "delivery.timeout",
            ),
            (
                "[delivery]\nmax_in_flight = \"many\"\n",
                &[],
                "delivery.max_in_flight",
            ),
            (
                "[delivery]\nretry_schedule = [\"1s\", \"x\"]\n",
                &[],
                "delivery.retry_schedule[1]",
            ),
            ("shutdown_grace = \"soon\"\n", &[], "shutdown_grace"),
            ("storage = \"floppy\"\n", &[], "storage"),
            ("storage = \"postgres\"\n", &[], "postgres_url"),
            (
                "storage = \"postgres\"\npostgres_url = \"postgres://herald@127.0.0.1/herald\"\n",
                &[],
                "encryption_keys",
            ),
            ("[cluster]\npartitions = 8\n", &[], "cluster"),
            ("node_id = \"a\"\n", &[], "node_id"),
            (
                "storage = \"postgres\"\npostgres_url = \"postgres://h/db\"\nencryption_keys = [\"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\nnode_id = \"a b\"\n",
                &[],
                "node_id",
            ),
            (
                "storage = \"postgres\"\npostgres_url = \"postgres://h/db\"\nencryption_keys = [\"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n[cluster]\npartitions = 0\n",
                &[],
                "cluster.partitions",
            ),
            (
                "storage = \"postgres\"\npostgres_url = \"postgres://h/db\"\nencryption_keys = [\"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n[cluster]\npartitions = 5000\n",
                &[],
                "cluster.partitions",
            ),
            (
                "storage = \"postgres\"\npostgres_url = \"postgres://h/db\"\nencryption_keys = [\"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n[cluster]\nlease_ttl = \"soon\"\n",
                &[],
                "cluster.lease_ttl",
            ),
            (
                "storage = \"postgres\"\npostgres_url = \"postgres://h/db\"\nencryption_keys = [\"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n[cluster]\nlease_renew = \"15s\"\n",
                &[],
                "cluster.lease_renew",
            ),
            (
                "storage = \"postgres\"\npostgres_url = \"postgres://h/db\"\nencryption_keys = [\"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n[cluster]\nleases = 3\n",
                &[],
                "cluster.leases",
            ),
            ("listen = \"here\"\n", &[], "listen"),
            (
                "destination_allowlist = [\"10/8\"]\n",
                &[],
                "destination_allowlist[0]",
            ),
            (
                "destination_denylist = [\"10.0.0.0/8\", \"nope\"]\n",
                &[],
                "destination_denylist[1]",
            ),
            (
                "destination_allowed_ports = [443, 0]\n",
                &[],
                "destination_allowed_ports[1]",
            ),
            (
                "destination_allowed_ports = [70000]\n",
                &[],
                "destination_allowed_ports[0]",
            ),
            (
                "",
                &[("HERALD_DESTINATION_ALLOWED_PORTS", "443, https")],
                "destination_allowed_ports",
            ),
            ("api_token = \"short\"\n", &[], "api_token"),
            ("tls_cert = \"a.pem\"\n", &[], "tls_key"),
            (
                "operational_webhook_url = \"https://ops.example.com/\"\n",
                &[],
                "operational_webhook_secret",
            ),
            ("", &[("HERALD_ALLOW_HTTP", "maybe")], "allow_http"),
            ("allow_http = \"yes\"\n", &[], "allow_http"),
            ("queue_memory_mb = 0\n", &[], "queue_memory_mb"),
            (
                "max_attempts_in_flight = 1\n",
                &[],
                "max_attempts_in_flight",
            ),
            ("queue_memory_mb = \"lots\"\n", &[], "queue_memory_mb"),
            ("", &[("HERALD_QUEUE_MEMORY_MB", "lots")], "queue_memory_mb"),
            ("encryption_keys = [\"k1\"]\n", &[], "encryption_keys[0]"),
            ("listen = \n", &[], "listen"),
            ("[api]\ncolour = 1\n", &[], "api.colour"),
            ("[api]\nidle_timeout = \"0s\"\n", &[], "api.idle_timeout"),
            (
                "[api]\nheader_read_timeout = \"soon\"\n",
                &[],
                "api.header_read_timeout",
            ),
            (
                "[api]\nbody_read_timeout = \"0ms\"\n",
                &[],
                "api.body_read_timeout",
            ),
            ("[api]\nwrite_timeout = \"0s\"\n", &[], "api.write_timeout"),
            ("[api]\nmax_connections = 0\n", &[], "api.max_connections"),
            ("[api]\nmax_connections = -1\n", &[], "api.max_connections"),
            (
                "[api]\nmax_header_bytes = 100\n",
                &[],
                "api.max_header_bytes",
            ),
            ("[api]\nmax_headers = 2\n", &[], "api.max_headers"),
            (
                "[api]\ntls_handshake_timeout = \"10\"\n",
                &[],
                "api.tls_handshake_timeout",
            ),
            (
                "[api]\nmax_tls_handshakes = 0\n",
                &[],
                "api.max_tls_handshakes",
            ),
            (
                "[api]\nmax_concurrent_writes = 0\n",
                &[],
                "api.max_concurrent_writes",
            ),
        ];
        for (text, env, key) in cases {
            let error = load_text(text, env).expect_err(text);
            assert_eq!(&error.key, key, "{text}: {error}");
            assert!(error.to_string().contains(key), "{error}");
        }
    }
}

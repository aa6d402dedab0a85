//! `EngineConfig` and `DeliveryDefaults` (delivery.md §7), and `EffectivePolicy`: an
//! endpoint's settings resolved once against the defaults.

use std::time::Duration;

use crate::destination::DestinationPolicy;
use crate::model::{Endpoint, Ordering};

/// Defaults for every endpoint (delivery.md §7); each is configurable.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryDefaults {
    /// Delays after attempt 1, 2, ...; its length + 1 is the number of attempts.
    pub retry_schedule: Vec<Duration>,
    /// Per-attempt timeout, connect included.
    pub timeout: Duration,
    /// Attempts at once per endpoint (unordered).
    pub max_in_flight: u32,
    /// Consecutive failures that open the breaker.
    pub breaker_threshold: u32,
    /// First cooldown of an open breaker.
    pub breaker_cooldown: Duration,
    /// Cooldowns double up to this.
    pub breaker_cooldown_max: Duration,
    /// Disable after failing without a success for this long.
    pub disable_after: Duration,
    /// Disable after this many consecutive failed attempts.
    pub disable_after_failures: u32,
    /// How long a rotated-out secret keeps signing.
    pub rotation_grace: Duration,
    /// Largest `data`, serialized, in bytes.
    pub max_payload_bytes: usize,
    /// How long events and attempt logs are kept.
    pub retention: Duration,
}

impl Default for DeliveryDefaults {
    fn default() -> Self {
        let mins = |m: u64| Duration::from_secs(m * 60);
        let hours = |h: u64| Duration::from_secs(h * 3600);
        Self {
            retry_schedule: vec![
                Duration::from_secs(5),
                Duration::from_secs(30),
                mins(2),
                mins(10),
                hours(1),
                hours(4),
                hours(12),
                hours(24),
            ],
            timeout: Duration::from_secs(10),
            max_in_flight: 16,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            breaker_cooldown_max: mins(10),
            disable_after: hours(24 * 5),
            disable_after_failures: 1000,
            rotation_grace: hours(24),
            max_payload_bytes: 256 * 1024,
            retention: hours(24 * 30),
        }
    }
}

/// Largest per-endpoint attempt timeout (delivery.md §7).
pub const MAX_ENDPOINT_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything an `Engine` is started with.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Per-endpoint defaults.
    pub delivery: DeliveryDefaults,
    /// Where deliveries may go (also give it to the transport).
    pub destinations: DestinationPolicy,
    /// Pending deliveries an endpoint actor keeps in memory; the rest wait in storage
    /// and are loaded as the queue drains (bounds memory when receivers are down).
    pub queue_capacity: usize,
    /// Bytes all endpoint actors together hold in waiting deliveries and their
    /// event bodies (estimated); past it, each keeps a few and the rest wait in
    /// storage. Bounds memory when many receivers are down at once.
    pub queue_memory: usize,
    /// Attempts in flight at once, all endpoints together, shared fairly between
    /// tenants (one tenant may hold at most `max / (tenants active + 1)`): bounds the
    /// sockets and descriptors that receivers which never answer can hold.
    pub max_attempts_in_flight: usize,
    /// Publishes allowed between match and durable write at once; further publishes
    /// wait (back-pressure instead of unbounded memory).
    pub max_publishes_in_flight: usize,
    /// How often the supervisor checks storage for endpoints with pending work that
    /// no actor holds (the safety net behind every hand-off).
    pub sweep_interval: Duration,
    /// How often the retention purge runs.
    pub purge_interval: Duration,
    /// Delivery profiles beyond the three built in (`standard`, `hex`,
    /// `timestamped`); endpoints pick one by name.
    pub profiles: Vec<crate::profile::Profile>,
    /// What tenants get when their settings do not say.
    pub tenants: crate::tenants::TenantDefaults,
    /// Event catalog entries for every tenant.
    pub event_types: Vec<crate::tenants::CatalogDoc>,
    /// The operator's tenant: automatic disables and dead deliveries of every tenant
    /// are also published there, as `endpoint.disabled` and `delivery.dead` (the
    /// daemon's operational webhook is an endpoint of it).
    pub operator: Option<crate::ids::TenantId>,
    /// Matching events a stream's consumer may fall behind before its stream ends
    /// with `StreamEnd::Overflow` (access.md §6): a slow consumer never delays
    /// publishing or delivery.
    pub stream_buffer: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            delivery: DeliveryDefaults::default(),
            destinations: DestinationPolicy::default(),
            queue_capacity: 10_000,
            queue_memory: 256 * 1024 * 1024,
            max_attempts_in_flight: 1024,
            max_publishes_in_flight: 4096,
            sweep_interval: Duration::from_secs(30),
            purge_interval: Duration::from_secs(3600),
            profiles: Vec::new(),
            tenants: crate::tenants::TenantDefaults::default(),
            event_types: Vec::new(),
            operator: None,
            stream_buffer: 1000,
        }
    }
}

/// An endpoint's delivery settings with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectivePolicy {
    /// Order of delivery.
    pub ordering: Ordering,
    /// Attempts at once (1 under fifo).
    pub max_in_flight: u32,
    /// Attempts per second.
    pub rate_limit: Option<u32>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retry delays.
    pub retry_schedule: Vec<Duration>,
}

impl EffectivePolicy {
    /// Resolves `endpoint`'s settings against `defaults`.
    pub fn resolve(endpoint: &Endpoint, defaults: &DeliveryDefaults) -> Self {
        let max_in_flight = match endpoint.ordering {
            Ordering::Fifo => 1,
            Ordering::Unordered => endpoint
                .max_in_flight
                .unwrap_or(defaults.max_in_flight)
                .max(1),
        };
        Self {
            ordering: endpoint.ordering,
            max_in_flight,
            rate_limit: endpoint.rate_limit,
            timeout: endpoint
                .timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.timeout),
            retry_schedule: endpoint
                .retry_schedule_secs
                .as_ref()
                .map(|secs| secs.iter().map(|s| Duration::from_secs(*s)).collect())
                .unwrap_or_else(|| defaults.retry_schedule.clone()),
        }
    }
}

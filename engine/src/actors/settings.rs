//! `Settings`: an endpoint's stored settings turned into what its actor applies:
//! its profile, the effective policy (the endpoint's fields over its profile's
//! delivery settings over the engine's), the retry schedule, the auto-disable rule,
//! the rate limit, and the request target with its custom headers. Made once per
//! change of the endpoint, not per attempt.

use std::sync::Arc;

use crate::breaker::BreakerConfig;
use crate::config::{DeliveryDefaults, EffectivePolicy};
use crate::disable::DisableRule;
use crate::model::{Endpoint, Ordering};
use crate::profile::{Profile, Profiles};
use crate::rate::RateLimit;
use crate::request::CustomHeaders;
use crate::retry::RetrySchedule;
use crate::storage::PendingOrder;

/// What an endpoint actor applies.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) policy: EffectivePolicy,
    pub(crate) schedule: RetrySchedule,
    pub(crate) disable: DisableRule,
    pub(crate) breaker: BreakerConfig,
    pub(crate) rate: Option<RateLimit>,
    /// The URL as a request target; `None` when it no longer parses (its attempts
    /// are then not sent, and say why).
    pub(crate) uri: Option<http::Uri>,
    /// Its profile; `None` when no profile has its name (one removed from the
    /// configuration): its attempts are then not sent, and say why.
    pub(crate) profile: Option<Arc<Profile>>,
    /// A delivery that dies disables the endpoint (its profile says so).
    pub(crate) disable_on_dead: bool,
    /// Its custom headers, parsed.
    pub(crate) headers: Arc<CustomHeaders>,
}

impl Settings {
    /// The engine's defaults alone (before the endpoint is read).
    pub(crate) fn defaults(defaults: &DeliveryDefaults) -> Self {
        let policy = EffectivePolicy {
            ordering: Ordering::default(),
            max_in_flight: defaults.max_in_flight,
            rate_limit: None,
            timeout: defaults.timeout,
            retry_schedule: defaults.retry_schedule.clone(),
        };
        Self {
            schedule: schedule_of(&policy),
            policy,
            disable: disable_rule(defaults),
            breaker: breaker_config(defaults),
            rate: None,
            uri: None,
            profile: None,
            disable_on_dead: false,
            headers: Arc::default(),
        }
    }

    /// The settings of `endpoint`, keeping the rate limiter's bucket when the rate
    /// did not change.
    pub(crate) fn of(
        endpoint: &Endpoint,
        profiles: &Profiles,
        engine_defaults: &DeliveryDefaults,
        previous: Self,
    ) -> Self {
        let profile = profiles.get(&endpoint.profile).cloned();
        let defaults = match &profile {
            Some(profile) => profile.delivery().apply(engine_defaults),
            None => engine_defaults.clone(),
        };
        let defaults = &defaults;
        let policy = EffectivePolicy::resolve(endpoint, defaults);
        let rate = if previous.rate.as_ref().map(RateLimit::rate) == policy.rate_limit {
            previous.rate
        } else {
            policy.rate_limit.and_then(RateLimit::new)
        };
        Self {
            schedule: schedule_of(&policy),
            policy,
            disable: disable_rule(defaults),
            breaker: breaker_config(defaults),
            rate,
            uri: uri_of(&endpoint.url),
            headers: Arc::new(CustomHeaders::parse(&endpoint.headers)),
            disable_on_dead: profile
                .as_ref()
                .is_some_and(|p| p.delivery().disable_on_dead),
            profile,
        }
    }

    /// The order its pending deliveries are taken in.
    pub(crate) fn order(&self) -> PendingOrder {
        match self.policy.ordering {
            Ordering::Unordered => PendingOrder::Due,
            Ordering::Fifo => PendingOrder::Publish,
        }
    }
}

fn schedule_of(policy: &EffectivePolicy) -> RetrySchedule {
    // Stored schedules were validated when set; an empty one means no retries.
    RetrySchedule::new(policy.retry_schedule.clone())
        .unwrap_or_else(|_| RetrySchedule::new(Vec::new()).expect("an empty schedule is valid"))
}

fn disable_rule(defaults: &DeliveryDefaults) -> DisableRule {
    DisableRule {
        after: defaults.disable_after,
        after_failures: defaults.disable_after_failures,
    }
}

fn breaker_config(defaults: &DeliveryDefaults) -> BreakerConfig {
    BreakerConfig {
        threshold: defaults.breaker_threshold,
        cooldown: defaults.breaker_cooldown,
        cooldown_max: defaults.breaker_cooldown_max,
    }
}

fn uri_of(url: &str) -> Option<http::Uri> {
    let parsed = url::Url::parse(url).ok()?;
    http::Uri::try_from(parsed.as_str()).ok()
}

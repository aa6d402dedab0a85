//! The auto-disable rule (delivery.md §5) and the health bookkeeping it reads:
//! consecutive failures, `failing_since`, and the 410 rule.

use std::time::Duration;

use crate::model::{DisabledReason, EndpointHealth};
use crate::time::Timestamp;
use crate::transport::ErrorClass;

/// When an endpoint is disabled automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisableRule {
    /// Failing without a single success for this long.
    pub after: Duration,
    /// This many consecutive failed attempts.
    pub after_failures: u32,
}

impl DisableRule {
    /// Whether `health` at `now` calls for disabling (reason `failing`).
    pub fn should_disable(&self, health: &EndpointHealth, now: Timestamp) -> bool {
        let too_many = health.consecutive_failures >= self.after_failures.max(1);
        let too_long = health
            .failing_since
            .is_some_and(|since| now.since(since) >= self.after);
        too_many || too_long
    }
}

/// Records a successful attempt.
pub fn record_success(health: &mut EndpointHealth, now: Timestamp) {
    health.consecutive_failures = 0;
    health.failing_since = None;
    health.succeeded = health.succeeded.saturating_add(1);
    health.last_success_at = Some(now);
}

/// Records a failed attempt.
pub fn record_failure(
    health: &mut EndpointHealth,
    now: Timestamp,
    status: Option<u16>,
    error: Option<ErrorClass>,
) {
    health.consecutive_failures = health.consecutive_failures.saturating_add(1);
    health.failing_since.get_or_insert(now);
    health.failed_attempts = health.failed_attempts.saturating_add(1);
    health.last_failure_at = Some(now);
    health.last_status = status;
    health.last_error = error;
}

/// Clears the failure streak (re-enable), keeping the all-time counters.
pub fn reset_streak(health: &mut EndpointHealth) {
    health.consecutive_failures = 0;
    health.failing_since = None;
}

/// Whether the failure streak in `health` began before the endpoint was last
/// enabled (`enabled_at`): such a streak no longer counts, and its actor resets it.
pub fn streak_predates(health: &EndpointHealth, enabled_at: Option<Timestamp>) -> bool {
    match (health.failing_since, enabled_at) {
        (Some(since), Some(enabled)) => since <= enabled,
        _ => false,
    }
}

/// `health` as it counts now: without a streak that predates the last enable.
pub fn effective(mut health: EndpointHealth, enabled_at: Option<Timestamp>) -> EndpointHealth {
    if streak_predates(&health, enabled_at) {
        reset_streak(&mut health);
    }
    health
}

/// The reason to record for an automatic disable.
pub fn reason_for(gone: bool) -> DisabledReason {
    if gone {
        DisabledReason::Gone
    } else {
        DisabledReason::Failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: DisableRule = DisableRule {
        after: Duration::from_secs(3600),
        after_failures: 3,
    };

    #[test]
    fn disables_on_consecutive_failures() {
        let mut health = EndpointHealth::default();
        record_failure(&mut health, Timestamp(0), Some(500), None);
        record_failure(&mut health, Timestamp(1), None, Some(ErrorClass::Timeout));
        assert!(!RULE.should_disable(&health, Timestamp(2)));
        record_failure(&mut health, Timestamp(2), Some(500), None);
        assert!(RULE.should_disable(&health, Timestamp(2)));
        assert_eq!(health.failing_since, Some(Timestamp(0)));
    }

    #[test]
    fn disables_after_failing_for_the_period_and_success_resets() {
        let mut health = EndpointHealth::default();
        record_failure(&mut health, Timestamp(0), Some(500), None);
        assert!(!RULE.should_disable(&health, Timestamp(3_599_999)));
        assert!(RULE.should_disable(&health, Timestamp(3_600_000)));
        record_success(&mut health, Timestamp(3_600_001));
        assert!(!RULE.should_disable(&health, Timestamp(99_999_999)));
        assert_eq!(health.succeeded, 1);
        assert_eq!(health.failed_attempts, 1);
    }
}

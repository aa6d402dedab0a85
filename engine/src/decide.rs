//! What a sent attempt's outcome does (delivery.md §3 to §5): the delivery's next
//! state, the attempt record, the breaker, the endpoint's health and whether the
//! endpoint must be disabled. Pure: the actor passes in the clock reading and the
//! jitter sample.

use crate::breaker::Breaker;
use crate::disable::{self, DisableRule};
use crate::ids::AttemptId;
use crate::model::{Attempt, DeadReason, Delivery, DeliveryStatus, DisabledReason, EndpointHealth};
use crate::outcome::{classify, Verdict};
use crate::queue::AfterAttempt;
use crate::retry::RetrySchedule;
use crate::time::Timestamp;
use crate::transport::TransportOutcome;

/// The endpoint's rules an outcome is judged by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules<'a> {
    /// When retries are due, and when they run out.
    pub(crate) schedule: &'a RetrySchedule,
    /// When failing makes the endpoint disabled.
    pub(crate) disable: DisableRule,
    /// A delivery that exhausts its schedule disables the endpoint (its profile's
    /// `disable_on_dead`).
    pub(crate) disable_on_dead: bool,
}

/// What one sent attempt changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The delivery as it now stands (attempt counted).
    pub(crate) delivery: Delivery,
    /// The attempt record to log.
    pub(crate) attempt: Attempt,
    /// Where the delivery goes in the queue.
    pub(crate) after: AfterAttempt,
    /// The endpoint must be disabled, for this reason.
    pub(crate) disable: Option<DisabledReason>,
    /// This failure opened (or re-opened) the breaker.
    pub(crate) breaker_opened: bool,
}

impl Decision {
    /// Whether the delivery succeeded.
    pub(crate) fn succeeded(&self) -> bool {
        self.delivery.status == DeliveryStatus::Succeeded
    }
}

/// An attempt that went out: the delivery as it was when sent (the attempt not yet
/// counted), when it started, and what the transport says happened.
#[derive(Debug)]
pub(crate) struct SentAttempt {
    pub(crate) delivery: Delivery,
    pub(crate) started_at: Timestamp,
    pub(crate) outcome: TransportOutcome,
}

/// An endpoint's standing, which an outcome changes: its breaker and health.
#[derive(Debug)]
pub(crate) struct Standing<'a> {
    pub(crate) breaker: &'a mut Breaker,
    pub(crate) health: &'a mut EndpointHealth,
}

/// Judges attempt number `delivery.attempts + 1` at `now` with the jitter sample
/// `jitter` (in -1..1); updates the endpoint's breaker and health.
pub(crate) fn decide(
    sent: SentAttempt,
    now: Timestamp,
    rules: Rules<'_>,
    endpoint: Standing<'_>,
    jitter: f64,
) -> Decision {
    let SentAttempt {
        mut delivery,
        started_at,
        outcome,
    } = sent;
    let Standing { breaker, health } = endpoint;
    delivery.attempts = delivery.attempts.saturating_add(1);
    delivery.last_status = outcome.status;
    delivery.last_error = outcome.error;
    delivery.updated_at = now;
    let mut disable = None;
    let mut breaker_opened = false;
    let after = match classify(&outcome, now) {
        Verdict::Success => {
            breaker.on_success();
            disable::record_success(health, now);
            delivery.status = DeliveryStatus::Succeeded;
            delivery.next_attempt_at = None;
            AfterAttempt::Settle
        }
        Verdict::Gone => {
            disable::record_failure(health, now, outcome.status, outcome.error);
            delivery.kill(DeadReason::Gone, now);
            disable = Some(DisabledReason::Gone);
            AfterAttempt::Settle
        }
        Verdict::Failure { not_before } => {
            disable::record_failure(health, now, outcome.status, outcome.error);
            breaker_opened = breaker.on_failure(now);
            let next = rules
                .schedule
                .next_due(delivery.budget_attempts(), now, jitter, not_before);
            if rules.disable.should_disable(health, now) {
                disable = Some(DisabledReason::Failing);
            }
            match next {
                Some(due) => {
                    delivery.next_attempt_at = Some(due);
                    AfterAttempt::Retry(delivery.clone())
                }
                None => {
                    delivery.kill(DeadReason::RetriesExhausted, now);
                    if rules.disable_on_dead {
                        disable = Some(DisabledReason::RetriesExhausted);
                    }
                    AfterAttempt::Settle
                }
            }
        }
    };
    let attempt = Attempt {
        id: AttemptId::generate(),
        tenant: delivery.tenant.clone(),
        endpoint_id: delivery.endpoint_id.clone(),
        delivery_id: delivery.id.clone(),
        event_id: delivery.event_id.clone(),
        event_type: delivery.event_type.clone(),
        attempt: delivery.attempts,
        started_at,
        duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        status: outcome.status,
        error: outcome.error,
        response_body: outcome.body,
    };
    Decision {
        delivery,
        attempt,
        after,
        disable,
        breaker_opened,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::breaker::{BreakerConfig, BreakerState};
    use crate::ids::{EndpointId, EventId, TenantId};
    use crate::transport::ErrorClass;

    fn delivery() -> Delivery {
        Delivery::new(
            EventId::generate(),
            TenantId::parse("t").unwrap(),
            EndpointId::generate(),
            "x",
            Timestamp(0),
        )
    }

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            threshold: 2,
            cooldown: Duration::from_secs(10),
            cooldown_max: Duration::from_secs(60),
        })
    }

    fn rules(schedule: &RetrySchedule) -> Rules<'_> {
        Rules {
            schedule,
            disable: DisableRule {
                after: Duration::from_secs(3600),
                after_failures: 3,
            },
            disable_on_dead: false,
        }
    }

    #[test]
    fn a_success_settles_and_closes_the_breaker() {
        let schedule = RetrySchedule::new(vec![Duration::from_secs(1)]).unwrap();
        let (mut breaker, mut health) = (breaker(), EndpointHealth::default());
        let outcome = TransportOutcome::status(204, Duration::from_millis(3));
        let decision = decide(
            SentAttempt {
                delivery: delivery(),
                started_at: Timestamp(5),
                outcome,
            },
            Timestamp(8),
            rules(&schedule),
            Standing {
                breaker: &mut breaker,
                health: &mut health,
            },
            0.0,
        );
        assert!(decision.succeeded());
        assert_eq!(decision.after, AfterAttempt::Settle);
        assert_eq!(decision.attempt.attempt, 1);
        assert_eq!(decision.attempt.duration_ms, 3);
        assert_eq!(health.succeeded, 1);
    }

    #[test]
    fn failures_retry_then_die_open_the_breaker_and_disable() {
        let schedule = RetrySchedule::new(vec![Duration::from_secs(1)]).unwrap();
        let (mut breaker, mut health) = (breaker(), EndpointHealth::default());
        let fail = || TransportOutcome::error(ErrorClass::Connect, Duration::ZERO);
        let first = decide(
            SentAttempt {
                delivery: delivery(),
                started_at: Timestamp(0),
                outcome: fail(),
            },
            Timestamp(0),
            rules(&schedule),
            Standing {
                breaker: &mut breaker,
                health: &mut health,
            },
            0.0,
        );
        let AfterAttempt::Retry(retried) = &first.after else {
            panic!("{first:?}")
        };
        assert_eq!(retried.next_attempt_at, Some(Timestamp(1000)));
        let second = decide(
            SentAttempt {
                delivery: first.delivery,
                started_at: Timestamp(1000),
                outcome: fail(),
            },
            Timestamp(1000),
            rules(&schedule),
            Standing {
                breaker: &mut breaker,
                health: &mut health,
            },
            0.0,
        );
        assert_eq!(
            second.delivery.dead_reason,
            Some(DeadReason::RetriesExhausted)
        );
        assert!(second.breaker_opened);
        assert!(matches!(breaker.state(), BreakerState::Open { .. }));
        assert_eq!(second.disable, None);
        let third = decide(
            SentAttempt {
                delivery: delivery(),
                started_at: Timestamp(2000),
                outcome: fail(),
            },
            Timestamp(2000),
            rules(&schedule),
            Standing {
                breaker: &mut breaker,
                health: &mut health,
            },
            0.0,
        );
        assert_eq!(third.disable, Some(DisabledReason::Failing));
    }

    #[test]
    fn gone_kills_and_disables() {
        let schedule = RetrySchedule::new(vec![Duration::from_secs(1)]).unwrap();
        let (mut breaker, mut health) = (breaker(), EndpointHealth::default());
        let decision = decide(
            SentAttempt {
                delivery: delivery(),
                started_at: Timestamp(0),
                outcome: TransportOutcome::status(410, Duration::ZERO),
            },
            Timestamp(0),
            rules(&schedule),
            Standing {
                breaker: &mut breaker,
                health: &mut health,
            },
            0.0,
        );
        assert_eq!(decision.delivery.dead_reason, Some(DeadReason::Gone));
        assert_eq!(decision.disable, Some(DisabledReason::Gone));
    }
}

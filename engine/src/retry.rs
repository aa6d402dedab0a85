//! `RetrySchedule` (delivery.md §4): the delay after each failed attempt, ±10% jitter,
//! the `Retry-After` floor (capped at the largest delay), and exhaustion.

use std::time::Duration;

use crate::error::Invalid;
use crate::time::Timestamp;

/// Largest single delay accepted in a schedule.
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most delays in one schedule.
pub const MAX_STEPS: usize = 50;
/// Jitter applied to every delay: ±10%.
pub const JITTER: f64 = 0.10;

/// Delays after attempt 1, 2, ...; the delivery is dead after `len() + 1` failed attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    /// Builds a schedule.
    ///
    /// # Errors
    /// `Invalid { field: "retry_schedule" }` when it has more than 50 steps or a delay
    /// longer than 7 days.
    pub fn new(delays: Vec<Duration>) -> Result<Self, Invalid> {
        if delays.len() > MAX_STEPS {
            return Err(Invalid::new("retry_schedule", "at most 50 delays"));
        }
        if delays.iter().any(|d| *d > MAX_DELAY) {
            return Err(Invalid::new("retry_schedule", "each delay at most 7 days"));
        }
        Ok(Self { delays })
    }

    /// Attempts a delivery gets in one budget.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The largest delay (the cap for `Retry-After`).
    pub fn largest_delay(&self) -> Duration {
        self.delays.iter().max().copied().unwrap_or(Duration::ZERO)
    }

    /// When the next attempt is due after `attempt` (1-based, within the budget) failed
    /// at `now`, or `None` when the schedule is exhausted. `jitter` is a sample in
    /// [-1, 1] scaled to ±10%; `retry_after` is a floor from the receiver, capped at the
    /// largest delay.
    pub fn next_due(
        &self,
        attempt: u32,
        now: Timestamp,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Timestamp> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        let base = *self.delays.get(index)?;
        let factor = 1.0 + JITTER * jitter.clamp(-1.0, 1.0);
        let mut delay = base.mul_f64(factor);
        if let Some(floor) = retry_after {
            delay = delay.max(floor.min(self.largest_delay()));
        }
        Some(now.plus(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(list: &[u64]) -> RetrySchedule {
        RetrySchedule::new(list.iter().map(|s| Duration::from_secs(*s)).collect()).unwrap()
    }

    #[test]
    fn exhausts_after_the_last_delay() {
        let schedule = secs(&[5, 30]);
        assert_eq!(schedule.max_attempts(), 3);
        assert_eq!(
            schedule.next_due(1, Timestamp(0), 0.0, None),
            Some(Timestamp(5000))
        );
        assert_eq!(
            schedule.next_due(2, Timestamp(0), 0.0, None),
            Some(Timestamp(30_000))
        );
        assert_eq!(schedule.next_due(3, Timestamp(0), 0.0, None), None);
    }

    #[test]
    fn retry_after_is_capped_at_largest_delay() {
        let schedule = secs(&[5, 60]);
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(
            schedule.next_due(1, Timestamp(0), 0.0, hour),
            Some(Timestamp(60_000))
        );
        let twenty = Some(Duration::from_secs(20));
        assert_eq!(
            schedule.next_due(1, Timestamp(0), 0.0, twenty),
            Some(Timestamp(20_000))
        );
    }

    #[test]
    fn rejects_oversized_schedules() {
        assert!(RetrySchedule::new(vec![Duration::from_secs(1); 51]).is_err());
        assert!(RetrySchedule::new(vec![MAX_DELAY + Duration::from_secs(1)]).is_err());
    }

    proptest! {
        #[test]
        fn delays_stay_within_jitter_bounds(delay in 1u64..100_000, jitter in -1.0f64..=1.0, now in 0u64..1_000_000_000) {
            let schedule = secs(&[delay]);
            let due = schedule.next_due(1, Timestamp(now), jitter, None).unwrap();
            let waited = due.0 - now;
            let base = delay * 1000;
            prop_assert!(waited as f64 >= base as f64 * 0.9 - 1.0);
            prop_assert!(waited as f64 <= base as f64 * 1.1 + 1.0);
        }
    }
}

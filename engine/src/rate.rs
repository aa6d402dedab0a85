//! `RateLimit`: an endpoint's `rate_limit` as a governor token bucket holding one
//! second's worth (burst = the rate, delivery.md §4), on a clock that follows tokio's
//! so paused-time tests see it refill.

use std::num::NonZeroU32;
use std::ops::Add;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Nanoseconds since the limiter's creation, on tokio's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TokioInstant(u64);

impl Add<Nanos> for TokioInstant {
    type Output = Self;

    fn add(self, other: Nanos) -> Self {
        Self(self.0.saturating_add(other.as_u64()))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_sub(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        Self(self.0.saturating_sub(duration.as_u64()))
    }
}

/// governor's clock on `tokio::time::Instant`.
#[derive(Debug, Clone)]
pub(crate) struct TokioClock {
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

/// At most `rate` attempts per second, bursting up to `rate`.
#[derive(Debug)]
pub(crate) struct RateLimit {
    rate: u32,
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>,
    clock: TokioClock,
}

impl RateLimit {
    /// A limiter of `rate` per second (`None` for 0).
    pub(crate) fn new(rate: u32) -> Option<Self> {
        let per_second = NonZeroU32::new(rate)?;
        let clock = TokioClock {
            start: tokio::time::Instant::now(),
        };
        let limiter = RateLimiter::direct_with_clock(Quota::per_second(per_second), clock.clone());
        Some(Self {
            rate,
            limiter,
            clock,
        })
    }

    /// The configured rate.
    pub(crate) fn rate(&self) -> u32 {
        self.rate
    }

    /// Takes a token, or says how long until one is available.
    pub(crate) fn try_take(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_the_rate_then_refills_over_a_second() {
        let limit = RateLimit::new(5).unwrap();
        for _ in 0..5 {
            assert!(limit.try_take().is_ok());
        }
        let wait = limit.try_take().unwrap_err();
        assert!(
            wait <= Duration::from_millis(200) && wait > Duration::ZERO,
            "{wait:?}"
        );
        tokio::time::advance(wait).await;
        assert!(limit.try_take().is_ok());
        assert!(RateLimit::new(0).is_none());
    }
}

//! `Breaker` (delivery.md §5): closed, open with a doubling cooldown, half-open with
//! exactly one probe. Cooldowns have no jitter.

use std::time::Duration;

use crate::time::Timestamp;

/// A breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open it.
    pub threshold: u32,
    /// First cooldown.
    pub cooldown: Duration,
    /// Largest cooldown.
    pub cooldown_max: Duration,
}

/// The breaker's state; each variant carries what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Normal; counts consecutive failures.
    Closed {
        /// Failures since the last success.
        failures: u32,
    },
    /// No attempts until `until`.
    Open {
        /// End of the cooldown.
        until: Timestamp,
        /// The cooldown that was applied (doubles on the next re-open).
        cooldown: Duration,
    },
    /// One probe allowed; `probing` once it is out.
    HalfOpen {
        /// The cooldown of the last opening.
        cooldown: Duration,
        /// Whether the probe is in flight.
        probing: bool,
    },
}

/// The state as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerStatus {
    /// `closed`
    Closed,
    /// `open`
    Open,
    /// `half_open`
    HalfOpen,
}

impl BreakerStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerStatus::Closed => "closed",
            BreakerStatus::Open => "open",
            BreakerStatus::HalfOpen => "half_open",
        }
    }
}

/// Whether an attempt may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Yes, normally.
    Allowed,
    /// Yes, as the half-open probe (only this one).
    Probe,
    /// No; ask again at this time (or when the probe returns, if `None`).
    Denied(Option<Timestamp>),
}

/// One endpoint's circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: BreakerState::Closed { failures: 0 },
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// The state as the API shows it at `now` (an expired open breaker is half-open).
    pub fn status(&self, now: Timestamp) -> BreakerStatus {
        match self.state {
            BreakerState::Closed { .. } => BreakerStatus::Closed,
            BreakerState::Open { until, .. } if now < until => BreakerStatus::Open,
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => BreakerStatus::HalfOpen,
        }
    }

    /// Replaces the settings (endpoint changed), keeping the state.
    pub fn set_config(&mut self, config: BreakerConfig) {
        self.config = config;
    }

    /// Asks to start an attempt at `now`; a granted probe is recorded.
    pub fn permit(&mut self, now: Timestamp) -> Permit {
        if let BreakerState::Open { until, cooldown } = self.state {
            if now < until {
                return Permit::Denied(Some(until));
            }
            self.state = BreakerState::HalfOpen {
                cooldown,
                probing: false,
            };
        }
        match self.state {
            BreakerState::Closed { .. } => Permit::Allowed,
            BreakerState::HalfOpen { probing: true, .. } => Permit::Denied(None),
            BreakerState::HalfOpen { cooldown, .. } => {
                self.state = BreakerState::HalfOpen {
                    cooldown,
                    probing: true,
                };
                Permit::Probe
            }
            BreakerState::Open { until, .. } => Permit::Denied(Some(until)),
        }
    }

    /// An attempt succeeded: the breaker closes.
    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
    }

    /// An attempt failed at `now`. Returns true when this opened (or re-opened) the breaker.
    pub fn on_failure(&mut self, now: Timestamp) -> bool {
        match self.state {
            BreakerState::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.threshold.max(1) {
                    let cooldown = self.config.cooldown;
                    self.state = BreakerState::Open {
                        until: now.plus(cooldown),
                        cooldown,
                    };
                    true
                } else {
                    self.state = BreakerState::Closed { failures };
                    false
                }
            }
            BreakerState::HalfOpen { cooldown, .. } => {
                let cooldown = cooldown.saturating_mul(2).min(self.config.cooldown_max);
                self.state = BreakerState::Open {
                    until: now.plus(cooldown),
                    cooldown,
                };
                true
            }
            // An attempt that started before the breaker opened: already open.
            BreakerState::Open { .. } => false,
        }
    }

    /// A granted attempt was not sent (a local failure, not the receiver's): a probe
    /// it held may go again.
    pub fn not_sent(&mut self) {
        if let BreakerState::HalfOpen { cooldown, .. } = self.state {
            self.state = BreakerState::HalfOpen {
                cooldown,
                probing: false,
            };
        }
    }

    /// Closes the breaker (re-enable).
    pub fn reset(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            threshold: 3,
            cooldown: Duration::from_secs(30),
            cooldown_max: Duration::from_secs(100),
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let mut b = breaker();
        assert!(!b.on_failure(Timestamp(0)));
        assert!(!b.on_failure(Timestamp(0)));
        b.on_success();
        assert!(!b.on_failure(Timestamp(0)));
        assert!(!b.on_failure(Timestamp(0)));
        assert!(b.on_failure(Timestamp(0)));
        assert_eq!(
            b.permit(Timestamp(29_999)),
            Permit::Denied(Some(Timestamp(30_000)))
        );
        assert_eq!(b.status(Timestamp(1)), BreakerStatus::Open);
    }

    #[test]
    fn half_open_breaker_sends_exactly_one_probe() {
        let mut b = breaker();
        for _ in 0..3 {
            b.on_failure(Timestamp(0));
        }
        assert_eq!(b.permit(Timestamp(30_000)), Permit::Probe);
        assert_eq!(b.permit(Timestamp(30_001)), Permit::Denied(None));
        b.on_success();
        assert_eq!(b.permit(Timestamp(30_002)), Permit::Allowed);
    }

    #[test]
    fn cooldown_doubles_on_reopen_up_to_the_max() {
        let mut b = breaker();
        for _ in 0..3 {
            b.on_failure(Timestamp(0));
        }
        assert_eq!(b.permit(Timestamp(30_000)), Permit::Probe);
        assert!(b.on_failure(Timestamp(30_000)));
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: Timestamp(90_000),
                cooldown: Duration::from_secs(60)
            }
        );
        assert_eq!(b.permit(Timestamp(90_000)), Permit::Probe);
        assert!(b.on_failure(Timestamp(90_000)));
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: Timestamp(190_000),
                cooldown: Duration::from_secs(100)
            }
        );
    }
}

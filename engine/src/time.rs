//! `Timestamp` (Unix milliseconds) and `Clock`, the engine's one source of "now".
//!
//! The clock is wall time that advances with tokio's clock: under
//! `tokio::time::pause()` it stands still and jumps with `advance`, so schedule
//! logic is tested without sleeping.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Invalid;

/// A point in time as milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// Converts a `SystemTime` (times before the epoch become the epoch).
    pub fn from_system(time: SystemTime) -> Self {
        let millis = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    /// Whole seconds since the epoch (the `webhook-timestamp` unit).
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This time plus `duration`, saturating.
    pub fn plus(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// This time minus `duration`, saturating at the epoch.
    pub fn minus(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_sub(millis))
    }

    /// How long after `earlier` this is (zero when it is not after).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// RFC 3339 UTC in whole seconds: `2026-11-22T10:30:00Z`.
    pub fn to_rfc3339_secs(self) -> String {
        let millis = self.to_rfc3339();
        // `…:SS.mmmZ` → `…:SSZ`
        match millis.rsplit_once('.') {
            Some((head, _)) => format!("{head}Z"),
            None => millis,
        }
    }

    /// RFC 3339 UTC with millisecond precision: `2026-11-22T10:30:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.millisecond()
            ),
            Err(_) => "9999-12-31T23:59:59.999Z".to_owned(),
        }
    }

    /// Parses an RFC 3339 time (any offset; sub-millisecond digits are dropped).
    ///
    /// # Errors
    /// `Invalid` naming `field` when the text is not RFC 3339 or is before the epoch.
    pub fn parse_rfc3339(text: &str, field: &str) -> Result<Self, Invalid> {
        let parsed =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| Invalid::new(field, "must be an RFC 3339 time"))?;
        let millis = parsed.unix_timestamp_nanos() / 1_000_000;
        u64::try_from(millis)
            .map(Self)
            .map_err(|_| Invalid::new(field, "must not be before 1970"))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Wall-clock time that follows tokio's clock (and so pauses in tests).
///
/// Cheap to copy; every actor holds one and reads it once per message.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base_wall: Timestamp,
    base_instant: tokio::time::Instant,
}

impl Clock {
    /// A clock anchored at the current wall time. Must be made inside a tokio runtime
    /// when time is paused, so that it follows the paused clock.
    pub fn new() -> Self {
        Self {
            base_wall: Timestamp::from_system(SystemTime::now()),
            base_instant: tokio::time::Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.base_wall.plus(self.base_instant.elapsed())
    }

    /// The tokio instant at which wall time `at` is reached (now, if it has passed).
    pub fn instant_at(&self, at: Timestamp) -> tokio::time::Instant {
        let now = self.now();
        tokio::time::Instant::now() + at.since(now)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_at_millisecond_precision() {
        let t = Timestamp(1_764_000_000_123);
        let text = t.to_rfc3339();
        assert_eq!(text, "2025-11-24T16:00:00.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&text, "since").unwrap(), t);
        assert!(Timestamp::parse_rfc3339("yesterday", "since").is_err());
    }
}

//! What an attempt's result means (delivery.md §3): success, a retryable failure
//! (with an optional `Retry-After` floor), or gone.

use std::time::Duration;

use crate::time::Timestamp;
use crate::transport::TransportOutcome;

/// The meaning of one attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// 2xx: the delivery is done.
    Success,
    /// A failure; retry per schedule, not before `not_before` when the receiver said so.
    Failure {
        /// From `Retry-After` on 429/503.
        not_before: Option<Duration>,
    },
    /// 410: disable the endpoint at once; the delivery is dead.
    Gone,
}

/// Classifies an outcome at `now` (for `Retry-After` dates).
pub(crate) fn classify(outcome: &TransportOutcome, now: Timestamp) -> Verdict {
    match outcome.status {
        Some(status) if (200..300).contains(&status) => Verdict::Success,
        Some(410) => Verdict::Gone,
        Some(429) | Some(503) => Verdict::Failure {
            not_before: outcome
                .retry_after
                .as_deref()
                .and_then(|value| parse_retry_after(value, now)),
        },
        _ => Verdict::Failure { not_before: None },
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (a date in the past means 0).
pub(crate) fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(Timestamp::from_system(date).since(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ErrorClass;
    use proptest::prelude::*;

    fn with_retry_after(status: u16, value: &str) -> TransportOutcome {
        let mut outcome = TransportOutcome::status(status, Duration::ZERO);
        outcome.retry_after = Some(value.to_owned());
        outcome
    }

    #[test]
    fn statuses_map_to_verdicts() {
        let now = Timestamp(0);
        assert_eq!(
            classify(&TransportOutcome::status(204, Duration::ZERO), now),
            Verdict::Success
        );
        assert_eq!(
            classify(&TransportOutcome::status(410, Duration::ZERO), now),
            Verdict::Gone
        );
        assert_eq!(
            classify(&TransportOutcome::status(302, Duration::ZERO), now),
            Verdict::Failure { not_before: None }
        );
        assert_eq!(
            classify(
                &TransportOutcome::error(ErrorClass::Timeout, Duration::ZERO),
                now
            ),
            Verdict::Failure { not_before: None }
        );
        // Retry-After only counts on 429 and 503.
        assert_eq!(
            classify(&with_retry_after(500, "60"), now),
            Verdict::Failure { not_before: None }
        );
        assert_eq!(
            classify(&with_retry_after(429, "60"), now),
            Verdict::Failure {
                not_before: Some(Duration::from_secs(60))
            }
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = Timestamp(1_445_412_480_000); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    proptest! {
        #[test]
        fn retry_after_parser_never_panics(value in ".{0,64}") {
            let _ = parse_retry_after(&value, Timestamp(0));
        }
    }
}

//! A connection's phase (TLS handshake, waiting for a request head, idle between
//! requests, serving a request) and the deadline each phase sets: the rules of the
//! serve loop, apart from sockets and clocks so that they are tested with plain
//! instants.
//!
//! Each waiting phase has its own bound, as Go's `net/http` server has: a new
//! connection must send its first head within `header_read_timeout`; between
//! requests it may stay silent for `idle_timeout`, and once the first byte of the next
//! head arrives, that head must be whole within `header_read_timeout` again. hyper's
//! own header timer starts when a connection goes idle, so it would fold the idle wait
//! into the head's bound; it is off, and these rules replace it.

use std::time::{Duration, Instant};

use crate::config::ApiLimits;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The TLS handshake is in progress, since `since` (the accept).
    Handshake {
        /// The accept.
        since: Instant,
    },
    /// Waiting for a request head to arrive whole, since `since`: the accept (or the
    /// end of the handshake) for a connection's first request, the first byte of a
    /// later one.
    Head {
        /// When the wait for this head started.
        since: Instant,
    },
    /// No request in progress and no byte of a next one; the last response ended at
    /// `since`.
    Idle {
        /// The end of the last response.
        since: Instant,
    },
    /// A request is being handled, from its head to its answer. The serve loop sets
    /// no deadline: the body check bounds the body, the engine its work.
    Busy,
    /// A streamed answer (an event stream) is being written: it lasts as long as the
    /// client stays, so it has no deadline of its own and is never evicted; but
    /// bytes it produced must reach the kernel within `write_timeout` of the oldest
    /// still waiting (`pending_since`), or the client stopped reading.
    Streaming {
        /// When the oldest bytes not yet flushed were produced; `None` when all are.
        pending_since: Option<Instant>,
    },
    /// The answer is being written, since `since`: a client that does not read it
    /// would otherwise hold the connection as long as it likes. Ends at the first
    /// flush that completes once hyper has taken the whole body (`written`): only then
    /// is every byte with the kernel.
    Answering {
        /// When the handler gave its answer.
        since: Instant,
        /// Whether hyper has taken the whole body (and dropped it).
        written: bool,
    },
}

/// Why the serve loop closed a connection (the `reason` label of
/// `herald_api_connections_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The TLS handshake took longer than `tls_handshake_timeout`.
    HandshakeTimeout,
    /// A request head took longer than `header_read_timeout`.
    HeaderTimeout,
    /// No request came for `idle_timeout`.
    IdleTimeout,
    /// An answer was not taken within `write_timeout`.
    WriteTimeout,
    /// Closed for a newer connection at `max_connections` or `max_tls_handshakes`.
    Evicted,
    /// A new connection closed at once: every slot serves a request.
    Refused,
}

impl CloseReason {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            CloseReason::HandshakeTimeout => "handshake_timeout",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::Evicted => "evicted",
            CloseReason::Refused => "refused",
        }
    }
}

/// The waits a connection may spend, from `ApiLimits`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// `tls_handshake_timeout`.
    pub(crate) handshake: Duration,
    /// `header_read_timeout`.
    pub(crate) header: Duration,
    /// `idle_timeout`.
    pub(crate) idle: Duration,
    /// `write_timeout`.
    pub(crate) write: Duration,
}

impl Timeouts {
    pub(crate) fn new(limits: &ApiLimits) -> Self {
        Self {
            handshake: limits.tls_handshake_timeout,
            header: limits.header_read_timeout,
            idle: limits.idle_timeout,
            write: limits.write_timeout,
        }
    }
}

/// One connection's phase, when it last stopped serving a request, and whether it
/// was evicted.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    phase: Phase,
    /// The accept, or the end of the last response: how long the connection has held
    /// a slot without a request in progress. Eviction picks the oldest; a drip of head
    /// bytes does not make a connection younger.
    quiet_since: Instant,
    evicted: bool,
}

impl Tracker {
    /// A connection accepted at `now`: in its handshake when `tls`, else waiting for
    /// its first head.
    pub(crate) fn accepted(now: Instant, tls: bool) -> Self {
        let phase = if tls {
            Phase::Handshake { since: now }
        } else {
            Phase::Head { since: now }
        };
        Self {
            phase,
            quiet_since: now,
            evicted: false,
        }
    }

    /// The phase now.
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// The handshake finished at `now`: the first head is awaited from now.
    pub(crate) fn handshake_done(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Handshake { .. }) {
            self.phase = Phase::Head { since: now };
        }
    }

    /// Bytes of a request arrived at `now`. Returns whether the phase changed (an
    /// idle connection started a head, whose deadline may come sooner).
    pub(crate) fn bytes_arrived(&mut self, now: Instant) -> bool {
        if matches!(self.phase, Phase::Idle { .. }) {
            self.phase = Phase::Head { since: now };
            true
        } else {
            false
        }
    }

    /// A whole head arrived: the request is being served.
    pub(crate) fn request_started(&mut self) {
        self.phase = Phase::Busy;
    }

    /// The handler answered at `now`: the answer is being written.
    pub(crate) fn answer_started(&mut self, now: Instant) {
        if self.phase == Phase::Busy {
            self.phase = Phase::Answering {
                since: now,
                written: false,
            };
        }
    }

    /// The handler answered with a stream: long-lived, bounded by its writes only.
    pub(crate) fn streaming_started(&mut self) {
        if self.phase == Phase::Busy {
            self.phase = Phase::Streaming {
                pending_since: None,
            };
        }
    }

    /// A streamed answer produced bytes at `now`: they must be flushed within
    /// `write_timeout`.
    pub(crate) fn frame_produced(&mut self, now: Instant) {
        if let Phase::Streaming {
            pending_since: None,
        } = self.phase
        {
            self.phase = Phase::Streaming {
                pending_since: Some(now),
            };
        }
    }

    /// hyper dropped the answer's body at `now`, having taken all of it, or the
    /// request was dropped before its answer (the connection is going).
    pub(crate) fn answer_dropped(&mut self, now: Instant) {
        match self.phase {
            Phase::Busy => self.become_idle(now),
            Phase::Streaming { pending_since } => {
                self.phase = Phase::Answering {
                    since: pending_since.unwrap_or(now),
                    written: true,
                };
            }
            Phase::Answering { since, .. } => {
                self.phase = Phase::Answering {
                    since,
                    written: true,
                };
            }
            _ => {}
        }
    }

    /// A flush completed at `now`: every byte hyper held is with the kernel. Returns
    /// whether it ended an answer (the connection is idle now).
    pub(crate) fn flushed(&mut self, now: Instant) -> bool {
        if let Phase::Streaming { .. } = self.phase {
            self.phase = Phase::Streaming {
                pending_since: None,
            };
            return false;
        }
        if matches!(self.phase, Phase::Answering { written: true, .. }) {
            self.become_idle(now);
            true
        } else {
            false
        }
    }

    fn become_idle(&mut self, now: Instant) {
        self.phase = Phase::Idle { since: now };
        self.quiet_since = now;
    }

    /// Marks the connection closed for another one.
    pub(crate) fn evict(&mut self) {
        self.evicted = true;
    }

    /// Whether it was evicted.
    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted
    }

    /// When the connection must close if nothing changes, and why; `None` while a
    /// request is handled.
    pub(crate) fn deadline(&self, timeouts: &Timeouts) -> Option<(Instant, CloseReason)> {
        match self.phase {
            Phase::Handshake { since } => {
                Some((since + timeouts.handshake, CloseReason::HandshakeTimeout))
            }
            Phase::Head { since } => Some((since + timeouts.header, CloseReason::HeaderTimeout)),
            Phase::Idle { since } => Some((since + timeouts.idle, CloseReason::IdleTimeout)),
            Phase::Busy => None,
            Phase::Streaming { pending_since } => {
                pending_since.map(|since| (since + timeouts.write, CloseReason::WriteTimeout))
            }
            Phase::Answering { since, .. } => {
                Some((since + timeouts.write, CloseReason::WriteTimeout))
            }
        }
    }

    /// Why the connection must close at `now`, if it must.
    pub(crate) fn expired(&self, timeouts: &Timeouts, now: Instant) -> Option<CloseReason> {
        if self.evicted {
            return Some(CloseReason::Evicted);
        }
        self.deadline(timeouts)
            .filter(|(at, _)| *at <= now)
            .map(|(_, reason)| reason)
    }

    /// Since when it may be evicted (it serves no request), or `None`.
    pub(crate) fn evictable_since(&self) -> Option<Instant> {
        match self.phase {
            Phase::Busy | Phase::Streaming { .. } | Phase::Answering { .. } => None,
            _ => Some(self.quiet_since),
        }
    }

    /// Since when its handshake has been in progress, or `None`.
    pub(crate) fn handshake_since(&self) -> Option<Instant> {
        match self.phase {
            Phase::Handshake { since } => Some(since),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts() -> Timeouts {
        Timeouts {
            handshake: Duration::from_secs(3),
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            write: Duration::from_secs(30),
        }
    }

    fn secs(start: Instant, n: u64) -> Instant {
        start + Duration::from_secs(n)
    }

    #[test]
    fn a_new_connection_must_send_its_first_head_within_the_header_timeout() {
        let t0 = Instant::now();
        let tracker = Tracker::accepted(t0, false);
        assert_eq!(
            tracker.deadline(&timeouts()),
            Some((secs(t0, 10), CloseReason::HeaderTimeout))
        );
        assert_eq!(tracker.expired(&timeouts(), secs(t0, 9)), None);
        assert_eq!(
            tracker.expired(&timeouts(), secs(t0, 10)),
            Some(CloseReason::HeaderTimeout)
        );
    }

    #[test]
    fn a_tls_connection_has_the_handshake_timeout_then_the_header_timeout() {
        let t0 = Instant::now();
        let mut tracker = Tracker::accepted(t0, true);
        assert_eq!(
            tracker.deadline(&timeouts()),
            Some((secs(t0, 3), CloseReason::HandshakeTimeout))
        );
        assert_eq!(tracker.handshake_since(), Some(t0));
        tracker.handshake_done(secs(t0, 2));
        assert_eq!(
            tracker.deadline(&timeouts()),
            Some((secs(t0, 12), CloseReason::HeaderTimeout))
        );
        assert_eq!(tracker.handshake_since(), None);
    }

    #[test]
    fn a_request_in_progress_has_no_deadline_and_cannot_be_evicted() {
        let t0 = Instant::now();
        let mut tracker = Tracker::accepted(t0, false);
        assert_eq!(tracker.evictable_since(), Some(t0));
        tracker.request_started();
        assert_eq!(tracker.deadline(&timeouts()), None);
        assert_eq!(tracker.expired(&timeouts(), secs(t0, 100_000)), None);
        assert_eq!(tracker.evictable_since(), None);
    }

    #[test]
    fn between_requests_the_idle_timeout_applies_until_the_next_head_starts() {
        let t0 = Instant::now();
        let mut tracker = Tracker::accepted(t0, false);
        tracker.request_started();
        tracker.answer_started(secs(t0, 4));
        tracker.answer_dropped(secs(t0, 4));
        assert!(tracker.flushed(secs(t0, 5)));
        assert_eq!(
            tracker.deadline(&timeouts()),
            Some((secs(t0, 65), CloseReason::IdleTimeout))
        );
        assert_eq!(tracker.evictable_since(), Some(secs(t0, 5)));
        // The first byte of the next head: the head must be whole 10 s later, sooner
        // than the idle deadline, and the phase change is reported.
        assert!(tracker.bytes_arrived(secs(t0, 30)));
        assert_eq!(
            tracker.deadline(&timeouts()),
            Some((secs(t0, 40), CloseReason::HeaderTimeout))
        );
        // More bytes of that head move nothing: a drip cannot extend its bound.
        assert!(!tracker.bytes_arrived(secs(t0, 35)));
        assert_eq!(
            tracker.expired(&timeouts(), secs(t0, 40)),
            Some(CloseReason::HeaderTimeout)
        );
        // Nor does it make the connection look younger to eviction.
        assert_eq!(tracker.evictable_since(), Some(secs(t0, 5)));
    }

    #[test]
    fn an_answer_must_be_written_within_the_write_timeout_and_is_never_evicted() {
        let t0 = Instant::now();
        let mut tracker = Tracker::accepted(t0, false);
        tracker.request_started();
        tracker.answer_started(secs(t0, 2));
        assert_eq!(
            tracker.deadline(&timeouts()),
            Some((secs(t0, 32), CloseReason::WriteTimeout))
        );
        assert_eq!(tracker.evictable_since(), None);
        // A flush while hyper still holds part of the body ends nothing.
        assert!(!tracker.flushed(secs(t0, 3)));
        // Its body taken whole, the answer is written at the next completed flush:
        // idle, and evictable again.
        tracker.answer_dropped(secs(t0, 3));
        assert_eq!(
            tracker.deadline(&timeouts()),
            Some((secs(t0, 32), CloseReason::WriteTimeout))
        );
        assert!(tracker.flushed(secs(t0, 4)));
        assert_eq!(tracker.evictable_since(), Some(secs(t0, 4)));
        assert_eq!(
            tracker.deadline(&timeouts()),
            Some((secs(t0, 64), CloseReason::IdleTimeout))
        );
        // Later flushes and drops change nothing.
        assert!(!tracker.flushed(secs(t0, 5)));
        tracker.answer_dropped(secs(t0, 5));
        tracker.answer_started(secs(t0, 5));
        assert_eq!(tracker.phase(), Phase::Idle { since: secs(t0, 4) });
    }

    #[test]
    fn a_request_dropped_before_its_answer_leaves_the_connection_idle() {
        let t0 = Instant::now();
        let mut tracker = Tracker::accepted(t0, false);
        tracker.request_started();
        tracker.answer_dropped(secs(t0, 1));
        assert_eq!(tracker.phase(), Phase::Idle { since: secs(t0, 1) });
    }

    #[test]
    fn bytes_of_a_body_being_served_change_nothing() {
        let t0 = Instant::now();
        let mut tracker = Tracker::accepted(t0, false);
        tracker.request_started();
        assert!(!tracker.bytes_arrived(secs(t0, 1)));
        assert_eq!(tracker.phase(), Phase::Busy);
    }

    #[test]
    fn a_stream_lives_while_its_client_reads_and_no_longer() {
        let t0 = Instant::now();
        let mut tracker = Tracker::accepted(t0, false);
        tracker.request_started();
        tracker.streaming_started();
        // Quiet for longer than every timeout: neither closed nor evictable.
        assert_eq!(tracker.deadline(&timeouts()), None);
        assert_eq!(tracker.expired(&timeouts(), secs(t0, 100_000)), None);
        assert_eq!(tracker.evictable_since(), None);
        // An event written and flushed: no deadline left behind.
        tracker.frame_produced(secs(t0, 10));
        assert!(!tracker.flushed(secs(t0, 10)));
        assert_eq!(tracker.deadline(&timeouts()), None);
        // An event the client does not take: closed `write_timeout` after it, however
        // many more follow.
        tracker.frame_produced(secs(t0, 20));
        tracker.frame_produced(secs(t0, 25));
        assert_eq!(
            tracker.deadline(&timeouts()),
            Some((secs(t0, 50), CloseReason::WriteTimeout))
        );
        assert_eq!(
            tracker.expired(&timeouts(), secs(t0, 50)),
            Some(CloseReason::WriteTimeout)
        );
        // A stream that ends is an answer being written: idle after its last flush.
        tracker.flushed(secs(t0, 30));
        tracker.answer_dropped(secs(t0, 31));
        assert!(tracker.flushed(secs(t0, 31)));
        assert_eq!(tracker.evictable_since(), Some(secs(t0, 31)));
    }

    #[test]
    fn an_evicted_connection_expires_at_once() {
        let t0 = Instant::now();
        let mut tracker = Tracker::accepted(t0, false);
        tracker.evict();
        assert!(tracker.is_evicted());
        assert_eq!(tracker.expired(&timeouts(), t0), Some(CloseReason::Evicted));
    }
}

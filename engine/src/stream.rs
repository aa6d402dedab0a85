//! `Engine::stream`: a tenant's events as a Rust `Stream`, for consumers that hold a
//! connection instead of running a webhook receiver (access.md §6).
//!
//! A stream resumed after an event first replays, oldest first, the stored events
//! after it, then follows the live feed (`feed`), with no gap and no repeat at the
//! seam. The seam is a watermark: events it covers were handed to the feed (or stored
//! before this process started) and are read from storage; every other event reaches
//! the feed after the watermark was taken. The replay reads storage under a watermark
//! taken before each page, so it never sends an event the feed will send again, and
//! subscribes only once it has caught up: a long backlog is read at the consumer's
//! pace, not buffered. At subscription the feed gives the watermark of that moment;
//! the replay finishes up to it, and the live events come after.
//!
//! A consumer more than `stream_buffer` matching events behind is dropped from the
//! feed: its stream yields what it had, then `StreamEnd::Overflow`, and it resumes
//! from the last event it received. Publishing never waits for a stream.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use crate::engine::Engine;
use crate::error::{Error, Invalid, StorageError};
use crate::feed::{OpenStream, Subscription, Watermark};
use crate::filter::{validate_channel, EventTypePattern};
use crate::ids::{EventId, TenantId};
use crate::model::Event;
use crate::time::Timestamp;

/// Events a replay reads from storage at once.
const REPLAY_PAGE: usize = 500;

/// Which events a stream carries: the type patterns and channels of an endpoint's
/// subscription, with the same meaning (no patterns: every type; no channels: every
/// event; with channels, events on at least one of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamFilter {
    types: Vec<EventTypePattern>,
    channels: Vec<String>,
}

impl StreamFilter {
    /// A filter from type patterns (`order.filled`, `order.*`, `*`) and channels.
    ///
    /// # Errors
    /// `Invalid` naming `types` or `channels` for a bad pattern or channel.
    pub fn new(types: &[String], channels: &[String]) -> Result<Self, Invalid> {
        let types = types
            .iter()
            .map(|t| EventTypePattern::parse(t).map_err(|e| Invalid::new("types", e.message)))
            .collect::<Result<Vec<_>, _>>()?;
        for channel in channels {
            validate_channel(channel, "channels")?;
        }
        Ok(Self {
            types,
            channels: channels.to_vec(),
        })
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &Event) -> bool {
        let type_ok =
            self.types.is_empty() || self.types.iter().any(|p| p.matches(&event.event_type));
        let channel_ok =
            self.channels.is_empty() || self.channels.iter().any(|c| event.channels.contains(c));
        type_ok && channel_ok
    }
}

/// Why a stream ended; the last item it yields.
#[derive(Debug, thiserror::Error)]
pub enum StreamEnd {
    /// The consumer fell more than `buffer` matching events behind: it resumes after
    /// the last event it received.
    #[error(
        "the consumer fell more than {buffer} events behind; resume after the last event received"
    )]
    Overflow {
        /// `stream_buffer`.
        buffer: usize,
    },
    /// The engine is shutting down.
    #[error("Herald is shutting down")]
    Closing,
    /// Reading the replay from storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The standard envelope of `event`, as a `standard` profile's webhook body has it:
/// `{"id","type","created_at","data"}`, compact JSON. A stream's transports send
/// each event as this text.
pub fn envelope(event: &Event) -> String {
    crate::profile::envelope::write(&crate::profile::Envelope::standard(), event, None)
}

/// What a stream yields: events in publish order, then at most one `Err` saying why
/// it ended.
pub type StreamItem = Result<Arc<Event>, StreamEnd>;

/// A tenant's events: stored ones after the resume point, then live ones. Counted
/// against the tenant's `max_streams` until dropped.
pub struct EventStream {
    inner: BoxStream<'static, StreamItem>,
    _open: OpenStream,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = StreamItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        let polled = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            crate::metrics::stream_event_sent();
        }
        polled
    }
}

/// Where a stream is.
enum Step {
    /// Replaying storage, not yet subscribed: after `after`, under fresh watermarks.
    CatchUp { after: Option<(Timestamp, EventId)> },
    /// Subscribed: replaying storage after `after` up to `mark`, then live.
    Seam {
        after: Option<(Timestamp, EventId)>,
        mark: Watermark,
        live: Subscription,
    },
    /// Following the feed; events at or before `floor` (the resume point) are
    /// skipped.
    Live {
        live: Subscription,
        floor: Option<(Timestamp, EventId)>,
    },
    /// Ended.
    Done,
}

struct Cursor {
    engine: Engine,
    tenant: TenantId,
    filter: Arc<StreamFilter>,
    /// The resume point the consumer gave.
    resume: Option<(Timestamp, EventId)>,
    step: Step,
    /// Events read and not yet yielded, oldest first.
    ready: std::collections::VecDeque<Arc<Event>>,
}

impl Engine {
    /// The tenant's events matching `filter`, in publish order: with `after`, first
    /// every stored event after that one, then live events, with no gap and no
    /// repeat between them; without, live events from now on.
    ///
    /// # Errors
    /// `Error::TooManyStreams` when the tenant has `max_streams` open;
    /// `Error::Invalid` naming `after` when no stored event of the tenant has that id;
    /// `Error::NotRunning` while shutting down; `Error::Storage`.
    pub async fn stream(
        &self,
        tenant: &TenantId,
        filter: StreamFilter,
        after: Option<&EventId>,
    ) -> Result<EventStream, Error> {
        if self.shared().is_closing() {
            return Err(Error::NotRunning);
        }
        let limit = self.shared().tenants.defaults.max_streams;
        let open = self
            .shared()
            .feed
            .open(tenant, limit as usize)
            .ok_or_else(|| Error::TooManyStreams {
                tenant: tenant.clone(),
                limit,
            })?;
        let resume = match after {
            None => None,
            Some(id) => {
                let event = self
                    .storage_handle()
                    .get_event(tenant, id)
                    .await?
                    .ok_or_else(|| {
                        Invalid::new(
                            "after",
                            format!("no stored event of this tenant has the id `{id}` (it may be past retention)"),
                        )
                    })?;
                Some((event.created_at, event.id))
            }
        };
        let filter = Arc::new(filter);
        let step = match &resume {
            Some(after) => Step::CatchUp {
                after: Some(after.clone()),
            },
            None => {
                let (live, _) = self
                    .shared()
                    .feed
                    .subscribe(tenant, filter.clone())
                    .ok_or(Error::NotRunning)?;
                Step::Live { live, floor: None }
            }
        };
        let cursor = Cursor {
            engine: self.clone(),
            tenant: tenant.clone(),
            filter,
            resume,
            step,
            ready: std::collections::VecDeque::new(),
        };
        let inner = futures::stream::unfold(cursor, |mut cursor| async move {
            let item = cursor.next().await?;
            Some((item, cursor))
        })
        .boxed();
        Ok(EventStream { inner, _open: open })
    }
}

impl Cursor {
    /// The next item; `None` once ended.
    async fn next(&mut self) -> Option<StreamItem> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            match std::mem::replace(&mut self.step, Step::Done) {
                Step::Done => return None,
                Step::CatchUp { after } => {
                    let mark = self.engine.shared().feed.watermark();
                    match self.replay(after, &mark).await {
                        Err(error) => return Some(Err(error.into())),
                        Ok((after, true)) => self.step = Step::CatchUp { after },
                        Ok((after, false)) => {
                            let feed = &self.engine.shared().feed;
                            let Some((live, mark)) =
                                feed.subscribe(&self.tenant, self.filter.clone())
                            else {
                                return Some(Err(StreamEnd::Closing));
                            };
                            self.step = Step::Seam { after, mark, live };
                        }
                    }
                }
                Step::Seam { after, mark, live } => match self.replay(after, &mark).await {
                    Err(error) => return Some(Err(error.into())),
                    Ok((after, true)) => self.step = Step::Seam { after, mark, live },
                    Ok((_, false)) => {
                        self.step = Step::Live {
                            live,
                            floor: self.resume.clone(),
                        }
                    }
                },
                Step::Live { mut live, floor } => match live.queue.recv().await {
                    Some(event) => {
                        let behind = floor
                            .as_ref()
                            .is_some_and(|(at, id)| (event.created_at, &event.id) <= (*at, id));
                        self.step = Step::Live { live, floor };
                        if !behind {
                            return Some(Ok(event));
                        }
                    }
                    None if live.overflowed.load(Ordering::SeqCst) => {
                        return Some(Err(StreamEnd::Overflow {
                            buffer: self.engine.config().stream_buffer,
                        }))
                    }
                    None => return Some(Err(StreamEnd::Closing)),
                },
            }
        }
    }

    /// Reads one page of stored events after `after`, queues those `mark` covers
    /// that match, and returns where it stopped and whether more may follow under
    /// `mark` (false once it met an event `mark` does not cover, or ran out).
    async fn replay(
        &mut self,
        after: Option<(Timestamp, EventId)>,
        mark: &Watermark,
    ) -> Result<(Option<(Timestamp, EventId)>, bool), StorageError> {
        let page = self
            .engine
            .storage_handle()
            .events_after(&self.tenant, after.as_ref(), REPLAY_PAGE)
            .await?;
        let full = page.len() == REPLAY_PAGE;
        let mut last = after;
        for event in page {
            if !mark.covers(&event) {
                return Ok((last, false));
            }
            last = Some((event.created_at, event.id.clone()));
            if self.filter.matches(&event) {
                self.ready.push_back(Arc::new(event));
            }
        }
        Ok((last, full))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, channels: &[&str]) -> Event {
        Event {
            id: EventId::parse("e1").unwrap(),
            tenant: TenantId::parse("acme").unwrap(),
            event_type: event_type.into(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            created_at: Timestamp(1),
            data: Arc::from("{}"),
            deliveries: 0,
        }
    }

    #[test]
    fn filters_mean_what_an_endpoint_subscription_means() {
        let every = StreamFilter::default();
        assert!(every.matches(&event("order.filled", &[])));
        let orders = StreamFilter::new(
            &["order.*".into(), "position.closed".into()],
            &["BTC-USD".into()],
        )
        .unwrap();
        assert!(orders.matches(&event("order.filled", &["BTC-USD", "X"])));
        assert!(orders.matches(&event("position.closed", &["BTC-USD"])));
        assert!(!orders.matches(&event("order.filled", &["ETH-USD"])));
        assert!(!orders.matches(&event("order.filled", &[])));
        assert!(!orders.matches(&event("position.opened", &["BTC-USD"])));
        assert_eq!(
            StreamFilter::new(&["bad type".into()], &[])
                .unwrap_err()
                .field,
            "types"
        );
        assert_eq!(
            StreamFilter::new(&[], &["has space".into()])
                .unwrap_err()
                .field,
            "channels"
        );
    }
}

//! `ScriptedTransport`: an in-process `Transport` for engine tests. Each URL answers
//! from a script of steps (then from its default), every request is recorded, and the
//! concurrency per URL is tracked. Delays use tokio time, so paused-time tests run
//! instantly.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use herald::transport::{ErrorClass, SignedRequest, Transport, TransportOutcome};
use tokio::sync::watch;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Step {
    /// Wait this long (tokio time) before answering.
    pub delay: Duration,
    /// The outcome to report.
    pub outcome: TransportOutcome,
}

impl Step {
    /// Answer with this HTTP status.
    pub fn status(status: u16) -> Self {
        Self {
            delay: Duration::ZERO,
            outcome: TransportOutcome::status(status, Duration::from_millis(1)),
        }
    }

    /// Answer with this status and a `Retry-After` value.
    pub fn retry_after(status: u16, value: &str) -> Self {
        let mut step = Self::status(status);
        step.outcome.retry_after = Some(value.to_owned());
        step
    }

    /// Fail with this error class.
    pub fn error(class: ErrorClass) -> Self {
        Self {
            delay: Duration::ZERO,
            outcome: TransportOutcome::error(class, Duration::from_millis(1)),
        }
    }

    /// Answer after a delay.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the transport received.
#[derive(Debug, Clone)]
pub struct SentRequest {
    /// Target URL.
    pub url: String,
    /// Headers as sent.
    pub headers: http::HeaderMap,
    /// Body as sent.
    pub body: bytes::Bytes,
    /// When it arrived (tokio time).
    pub at: tokio::time::Instant,
}

impl SentRequest {
    /// A header as text (empty when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Step>>,
    defaults: HashMap<String, Step>,
    sent: Vec<SentRequest>,
    in_flight: HashMap<String, usize>,
    max_in_flight: HashMap<String, usize>,
}

/// The scripted transport. Share it as `Arc<ScriptedTransport>`.
pub struct ScriptedTransport {
    state: Mutex<State>,
    count: watch::Sender<usize>,
}

impl Default for ScriptedTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedTransport {
    /// A transport that answers 200 everywhere until scripted.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            count: watch::channel(0).0,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends steps to the URL's script.
    pub fn script(&self, url: &str, steps: impl IntoIterator<Item = Step>) {
        self.state()
            .scripts
            .entry(url.to_owned())
            .or_default()
            .extend(steps);
    }

    /// What the URL answers once its script is used up (200 unless set).
    pub fn set_default(&self, url: &str, step: Step) {
        self.state().defaults.insert(url.to_owned(), step);
    }

    /// Every request so far.
    pub fn sent(&self) -> Vec<SentRequest> {
        self.state().sent.clone()
    }

    /// Requests to one URL.
    pub fn sent_to(&self, url: &str) -> Vec<SentRequest> {
        self.state()
            .sent
            .iter()
            .filter(|r| r.url == url)
            .cloned()
            .collect()
    }

    /// Most requests to `url` that were in progress at once.
    pub fn max_concurrent(&self, url: &str) -> usize {
        self.state().max_in_flight.get(url).copied().unwrap_or(0)
    }

    /// Waits until at least `n` requests arrived (false on timeout).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.count.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[async_trait]
impl Transport for ScriptedTransport {
    async fn send(&self, request: SignedRequest) -> TransportOutcome {
        let url = request.url.to_string();
        let step = {
            let mut state = self.state();
            let step = state
                .scripts
                .get_mut(&url)
                .and_then(VecDeque::pop_front)
                .or_else(|| state.defaults.get(&url).cloned())
                .unwrap_or_else(|| Step::status(200));
            state.sent.push(SentRequest {
                url: url.clone(),
                headers: request.headers.clone(),
                body: request.body.clone(),
                at: tokio::time::Instant::now(),
            });
            let now = {
                let n = state.in_flight.entry(url.clone()).or_default();
                *n += 1;
                *n
            };
            let max = state.max_in_flight.entry(url.clone()).or_default();
            *max = (*max).max(now);
            let total = state.sent.len();
            self.count.send_replace(total);
            step
        };
        if !step.delay.is_zero() {
            tokio::time::sleep(step.delay).await;
        }
        if let Some(n) = self.state().in_flight.get_mut(&url) {
            *n -= 1;
        }
        step.outcome
    }
}

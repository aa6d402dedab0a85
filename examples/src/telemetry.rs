//! Logs to stderr (human text or JSON lines, filtered by `RUST_LOG`, `info` by default)
//! and the Prometheus recorder that `/metrics` renders.

use std::io::IsTerminal;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tracing_subscriber::EnvFilter;

/// Upper bounds of `herald_attempt_duration_seconds`: from a fast local receiver
/// (5 ms) to the largest per-endpoint timeout (60 s, delivery.md §7).
pub const ATTEMPT_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How often histogram data is folded in (the recorder leaves this to its owner).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the process's log subscriber, writing to stderr. A second call (an
/// embedder that set its own) leaves the first in place.
pub fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Installs the global Prometheus recorder (with buckets for the attempt-duration
/// histogram) and returns its handle. When a recorder is installed already (a second
/// daemon in one process), returns the handle of a detached recorder instead, which
/// renders nothing.
pub fn install_metrics() -> PrometheusHandle {
    let builder = || {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(herald::metrics::ATTEMPT_DURATION.to_owned()),
                ATTEMPT_DURATION_BUCKETS,
            )
            .unwrap_or_else(|_| PrometheusBuilder::new())
    };
    match builder().install_recorder() {
        Ok(handle) => handle,
        Err(error) => {
            tracing::warn!(%error, "a metrics recorder is installed already; /metrics stays empty");
            builder().build_recorder().handle()
        }
    }
}

/// Runs the recorder's periodic upkeep until the returned task is aborted.
pub fn spawn_upkeep(handle: PrometheusHandle) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    })
}

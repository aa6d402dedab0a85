//! The management API's serve loop: accepts connections within `[api]`'s limits and
//! serves each with hyper's HTTP/1.1, so that no client (or crowd of clients) can hold
//! the API away from the others.
//!
//! - `registry`: the connections held; at `max_connections` the one quiet longest
//!   makes room, at `max_tls_handshakes` the oldest handshake does.
//! - `phase`: each connection's phase and the deadline it sets (handshake, head,
//!   idle, writing an answer); pure rules.
//! - `connection`: one connection's life and the watchdog that enforces its deadline.
//! - `io`, `service`: what tells a connection's state about bytes, flushes, requests
//!   and answers.
//!
//! The body of a request is bounded by the API itself (`api::extract::check_body`:
//! size, `body_read_timeout`, `max_concurrent_writes`), which knows when it reads one.

mod connection;
mod io;
mod phase;
mod registry;
mod service;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::ApiLimits;
use connection::Shared;
use phase::Timeouts;
use registry::Registry;

/// Serves `router` on `listener` (over TLS with `tls`) until `stopped` turns true;
/// then stops accepting, closes idle connections, and returns once the requests in
/// progress have been answered and every connection is closed. The caller bounds
/// that drain in time (dropping this future closes what is left).
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    limits: ApiLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let registry = Arc::new(Registry::new(
        limits.max_connections,
        limits.max_tls_handshakes,
    ));
    let shared = Arc::new(Shared {
        http: http_settings(&limits),
        router,
        tls,
        timeouts: Timeouts::new(&limits),
    });
    // Each connection's copy; `stopped` itself is borrowed by the loop's wait.
    let stopping = stopped.clone();
    // Owns every connection's task: dropping this future aborts them.
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = until_stopped(&mut stopped) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        backoff(&error).await;
                        continue;
                    }
                };
                let Some(admitted) = registry.admit(shared.tls.is_some(), Instant::now()) else {
                    // Every slot serves a request: this one is closed at once.
                    continue;
                };
                // Answers are written whole by hyper; Nagle would only delay them.
                let _ = stream.set_nodelay(true);
                tasks.spawn(connection::run(
                    stream,
                    admitted,
                    shared.clone(),
                    stopping.clone(),
                ));
            }
        }
    }
    drop(listener);
    // Each connection saw `stopped`: idle ones close now, one serving a request after
    // its response, a handshake in progress at once.
    while tasks.join_next().await.is_some() {}
}

/// Completes once `stopped` turns true (or its sender is gone). The guard `wait_for`
/// returns is dropped here, so that no caller holds it across an `.await` (it is not
/// `Send`).
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// hyper's HTTP/1 settings from `limits`.
fn http_settings(limits: &ApiLimits) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.max_header_size(limits.max_header_bytes)
        // hyper's read buffer holds a head whole; it need not be larger than one
        // (its default is about 400 KiB), and hyper's floor is 8 KiB.
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers)
        // No timer is given to hyper: `phase` bounds heads and idle connections.
        .header_read_timeout(None);
    http
}

/// After a failed accept: wait a little when the process or system is out of file
/// descriptors or memory (retrying at once would spin), not at all otherwise (the
/// client left before the accept).
async fn backoff(error: &std::io::Error) {
    let exhausted = matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    if exhausted {
        tracing::warn!(%error, "accepting a connection failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    } else {
        tracing::debug!(%error, "accepting a connection failed");
    }
}

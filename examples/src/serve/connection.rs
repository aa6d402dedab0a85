//! One connection's life: the TLS handshake (if any), then HTTP/1.1 until the client
//! leaves, the connection outstays its phase's deadline, it is evicted, or a graceful
//! shutdown closes it.

use std::future::Future;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::io::Watched;
use super::phase::{CloseReason, Timeouts};
use super::registry::{closed, Admitted, Conn};
use super::service::Tracked;
use super::until_stopped;

/// What every connection's task shares; built once by the serve loop.
pub(crate) struct Shared {
    /// hyper's HTTP/1 settings: header bytes and count; no timer of its own.
    pub(crate) http: http1::Builder,
    /// The API.
    pub(crate) router: axum::Router,
    /// Present when the API is served over HTTPS.
    pub(crate) tls: Option<TlsAcceptor>,
    /// The waits a connection may spend.
    pub(crate) timeouts: Timeouts,
}

/// Serves one accepted connection. `stopped` ends a handshake still in progress at
/// shutdown, and closes the connection between requests (gracefully: a request in
/// progress is answered first).
pub(crate) async fn run(
    stream: TcpStream,
    admitted: Admitted,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let conn = admitted.conn().clone();
    let Some(tls) = &shared.tls else {
        serve(Watched::new(stream, conn.clone()), &conn, &shared, stopped).await;
        return;
    };
    let handshake = async {
        tokio::select! {
            done = tls.accept(stream) => Some(done),
            () = until_stopped(&mut stopped) => None,
        }
    };
    match watchdog(&conn, &shared.timeouts, handshake).await {
        Ok(Some(Ok(stream))) => {
            conn.handshake_done();
            serve(Watched::new(stream, conn.clone()), &conn, &shared, stopped).await;
        }
        Ok(Some(Err(error))) => tracing::debug!(%error, "TLS handshake failed"),
        Ok(None) => {}
        Err(reason) => closed(reason),
    }
}

async fn serve<S>(
    stream: Watched<S>,
    conn: &Arc<Conn>,
    shared: &Shared,
    mut stopped: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = Tracked::new(shared.router.clone(), conn.clone());
    // Upgrades carry the stream route's WebSocket: once upgraded, the socket leaves
    // this connection (and its slot), bounded by the stream's own write timeout and
    // by `max_streams`.
    let http = shared
        .http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let connection = async move {
        tokio::pin!(http);
        tokio::select! {
            done = http.as_mut() => return done,
            () = until_stopped(&mut stopped) => {}
        }
        http.as_mut().graceful_shutdown();
        http.await
    };
    match watchdog(conn, &shared.timeouts, connection).await {
        Ok(Ok(())) => {}
        // A client that leaves mid-request, a malformed or too large head (hyper
        // answered 400 or 431): nothing for the operator.
        Ok(Err(error)) => tracing::debug!(%error, "API connection ended"),
        Err(reason) => closed(reason),
    }
}

/// Runs `work` until it completes, or until the connection outstays its phase's
/// deadline or is evicted (then `work` is dropped, which closes the socket).
async fn watchdog<F: Future>(
    conn: &Conn,
    timeouts: &Timeouts,
    work: F,
) -> Result<F::Output, CloseReason> {
    tokio::pin!(work);
    loop {
        if let Some(reason) = conn.expired(timeouts) {
            return Err(reason);
        }
        let deadline = conn.deadline(timeouts);
        let timer = tokio::time::sleep_until(
            deadline
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(far_future),
        );
        tokio::select! {
            done = &mut work => return Ok(done),
            () = conn.changed() => {}
            () = timer, if deadline.is_some() => {}
        }
    }
}

/// A timer value for "no deadline" (the branch is disabled; any instant will do).
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(86_400)
}

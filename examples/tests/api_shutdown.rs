//! Shutdown of the API's serve loop (http-api.md "Operations"): on SIGTERM, `heraldd`
//! stops accepting, closes idle connections and drops TLS handshakes at once, answers
//! the requests in progress (within `shutdown_grace`), then stops the engine and exits
//! 0.
#![allow(clippy::unwrap_used)]

mod common;

use common::raw::{closed_within, publish_head, read_answer, request, start};
use common::{eventually, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A publish whose body is on its way when SIGTERM comes is answered 202 once the body
/// arrives; a kept-alive idle connection and a silent new one are closed at once, new
/// connections are refused, and the exit is 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_sigterm_requests_in_progress_are_answered_and_idle_connections_close() {
    let dir = tempfile::tempdir().unwrap();
    // Timeouts past the test's wait: only the shutdown closes a connection here.
    let config = "[api]\nheader_read_timeout = \"60s\"\nidle_timeout = \"60s\"\n";
    let (daemon, target) = start(dir.path(), config, false).await;

    let mut idle = target.connect().await;
    idle.write_all(&request("GET", "/healthz", false, false, None))
        .await
        .unwrap();
    assert_eq!(read_answer(&mut idle).await.status, 200);
    let mut silent = target.connect().await;

    // `expect: 100-continue`: the daemon says `100 Continue` when it starts reading
    // the body, so the request is known to be in progress before SIGTERM.
    let body = br#"{"type":"order.filled","data":{"n":1}}"#;
    let mut head = publish_head(true, body.len());
    head.truncate(head.len() - 2);
    head.extend_from_slice(b"expect: 100-continue\r\n\r\n");
    let mut publishing = target.connect().await;
    publishing.write_all(&head).await.unwrap();
    let mut continued = [0u8; 25];
    tokio::time::timeout(WAIT, publishing.read_exact(&mut continued))
        .await
        .expect("the daemon asks for the body")
        .unwrap();
    assert_eq!(&continued, b"HTTP/1.1 100 Continue\r\n\r\n");

    daemon.sigterm();
    assert!(
        closed_within(&mut idle, WAIT).await,
        "an idle connection stays open after SIGTERM"
    );
    assert!(
        closed_within(&mut silent, WAIT).await,
        "a silent connection stays open after SIGTERM"
    );
    let addr = target.addr;
    eventually("new connections to be refused", || async move {
        TcpStream::connect(addr).await.is_err().then_some(())
    })
    .await;

    publishing.write_all(body).await.unwrap();
    let answer = read_answer(&mut publishing).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert!(daemon.exited().await.success());
}

/// Over TLS, a handshake in progress at SIGTERM is dropped at once rather than waited
/// for: with `shutdown_grace` and `tls_handshake_timeout` longer than the test's
/// wait, the connection closes and `heraldd` exits 0 in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_sigterm_a_handshake_in_progress_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = "shutdown_grace = \"60s\"\n[api]\ntls_handshake_timeout = \"60s\"\n";
    let (daemon, target) = start(dir.path(), config, true).await;
    let mut handshaking = target.tcp().await;
    // A finished connection shows the daemon serves (and has accepted the first).
    let mut served = target.connect().await;
    served
        .write_all(&request("GET", "/healthz", false, false, None))
        .await
        .unwrap();
    assert_eq!(read_answer(&mut served).await.status, 200);

    daemon.sigterm();
    assert!(
        closed_within(&mut handshaking, WAIT).await,
        "a handshake in progress holds the shutdown"
    );
    assert!(daemon.exited().await.success());
}

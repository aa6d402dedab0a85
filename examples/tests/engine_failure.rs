//! When the engine gives up (its Supervisor cannot be started again), the daemon's
//! `/readyz` answers 503 and `serve` returns an error, so `heraldd` exits non-zero
//! and a process manager starts it again.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use herald_examples::config::{DaemonConfig, Overrides};
use herald_examples::Daemon;
use herald_storage_memory::MemoryStorage;
use herald_testkit::hooked::HookedStorage;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

async fn readyz(
    client: &Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Empty<bytes::Bytes>,
    >,
    base: &str,
) -> u16 {
    let uri: http::Uri = format!("{base}/readyz").parse().unwrap();
    client.get(uri).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_daemon_whose_engine_gives_up_turns_unready_and_stops_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("HERALD_API_TOKEN", "a-test-token-of-thirty-two-chars"),
        ("HERALD_DATA_DIR", dir.path().to_str().unwrap()),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let config = DaemonConfig::load(&Overrides::default(), env).unwrap();
    let storage = Arc::new(HookedStorage::new(Arc::new(MemoryStorage::new())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let daemon = Daemon::start_on(config, listener, storage.clone())
        .await
        .unwrap();
    let base = daemon.url();
    let engine = daemon.engine().clone();
    let serving = tokio::spawn(daemon.serve(std::future::pending()));
    let client = Client::builder(TokioExecutor::new()).build_http();
    assert_eq!(readyz(&client, &base).await, 200);

    // The Supervisor dies, and its restart fails (the Router cannot read the
    // endpoints): the engine gives up.
    storage.fail_endpoint_pages.store(true, SeqCst);
    engine.crash_supervisor();
    tokio::time::timeout(Duration::from_secs(10), engine.failed())
        .await
        .expect("the engine gives up");
    assert!(!engine.is_ready());

    // `serve` returns an error: heraldd's exit code is then non-zero.
    let result = tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .expect("serve returns")
        .unwrap();
    let error = result.expect_err("an error, so the process exits non-zero");
    assert!(
        format!("{error:#}").contains("could not be restarted"),
        "{error:#}"
    );
}

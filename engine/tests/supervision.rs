//! The actor system itself is supervised: a Supervisor that dies is started again by
//! the engine; one that cannot be started again, or keeps dying, makes the engine
//! give up (`failed` resolves, `is_ready` is false) so its process can exit and be
//! restarted.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use common::{config, eventually, url, ScriptedTransport};
use herald::{Engine, NewEndpoint, NewEvent, TenantId};
use herald_storage_memory::MemoryStorage;
use herald_testkit::hooked::HookedStorage;

async fn engine_on(storage: Arc<HookedStorage>) -> Engine {
    Engine::start(storage, Arc::new(ScriptedTransport::new()), config())
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_supervisor_that_cannot_start_again_makes_the_engine_give_up() {
    let storage = Arc::new(HookedStorage::new(Arc::new(MemoryStorage::new())));
    let engine = engine_on(storage.clone()).await;
    assert!(engine.is_ready());
    let failed = engine.failed();
    // The Router's start-up read of the endpoints fails from now on.
    storage.fail_endpoint_pages.store(true, SeqCst);
    engine.crash_supervisor();
    tokio::time::timeout(Duration::from_secs(5), failed)
        .await
        .expect("the engine gives up");
    assert!(!engine.is_ready());
    let tenant = TenantId::parse("acme").unwrap();
    assert!(matches!(
        engine
            .publish(&tenant, NewEvent::new("x", "{}").unwrap())
            .await,
        Err(herald::Error::NotRunning)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_supervisor_that_keeps_dying_is_given_up_after_five_restarts() {
    let storage = Arc::new(HookedStorage::new(Arc::new(MemoryStorage::new())));
    let engine = engine_on(storage).await;
    let tenant = TenantId::parse("acme").unwrap();
    engine
        .create_endpoint(&tenant, NewEndpoint::new(url("a")))
        .await
        .unwrap();
    let failed = engine.failed();
    tokio::pin!(failed);
    for restart in 0..5 {
        engine.crash_supervisor();
        tokio::time::sleep(Duration::from_millis(10)).await;
        eventually(Duration::from_secs(5), || async { engine.is_ready() }).await;
        assert!(
            futures::poll!(failed.as_mut()).is_pending(),
            "still running after restart {restart}"
        );
        // It still delivers after every restart.
        engine
            .publish(&tenant, NewEvent::new("x", "{}").unwrap())
            .await
            .unwrap();
    }
    engine.crash_supervisor();
    tokio::time::timeout(Duration::from_secs(5), failed)
        .await
        .expect("the sixth death within a minute is one too many");
    assert!(!engine.is_ready());
}

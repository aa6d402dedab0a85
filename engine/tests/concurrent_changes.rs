//! Changes to an endpoint made at the same moment never undo each other: every
//! change is stored over the version it was made from (compare-and-set), and one
//! that meets a newer version is made again on it. Each test holds two changes at
//! the storage's door after both read the same version, lets one in, then the other.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, eventually, url, ScriptedTransport, Step};
use herald::{
    DeliveryDefaults, DisabledReason, EndpointPatch, Engine, EngineConfig, NewEndpoint, TenantId,
};
use herald_storage_memory::MemoryStorage;
use herald_testkit::hooked::HookedStorage;

struct Setup {
    storage: Arc<HookedStorage>,
    transport: Arc<ScriptedTransport>,
    engine: Engine,
    tenant: TenantId,
}

async fn start(config: EngineConfig) -> Setup {
    let storage = Arc::new(HookedStorage::new(Arc::new(MemoryStorage::new())));
    let transport = Arc::new(ScriptedTransport::new());
    let engine = Engine::start(storage.clone(), transport.clone(), config)
        .await
        .unwrap();
    Setup {
        storage,
        transport,
        engine,
        tenant: TenantId::parse("acme").unwrap(),
    }
}

fn describe(text: &str) -> EndpointPatch {
    EndpointPatch {
        description: Some(Some(text.into())),
        ..Default::default()
    }
}

/// An automatic disable racing a PATCH: the endpoint ends disabled (reason
/// `failing`) and described.
#[tokio::test(start_paused = true)]
async fn an_automatic_disable_and_a_patch_keep_both() {
    let config = EngineConfig {
        delivery: DeliveryDefaults {
            disable_after_failures: 1,
            ..DeliveryDefaults::default()
        },
        ..config()
    };
    let s = start(config).await;
    let id = s
        .engine
        .create_endpoint(&s.tenant, NewEndpoint::new(url("a")))
        .await
        .unwrap()
        .info
        .endpoint
        .id;
    s.transport.set_default(&url("a"), Step::status(500));

    s.storage.before_replace.close();
    let patching = {
        let (engine, tenant, id) = (s.engine.clone(), s.tenant.clone(), id.clone());
        tokio::spawn(async move { engine.update_endpoint(&tenant, &id, describe("kept")).await })
    };
    s.storage.before_replace.until_reached(1).await;
    // The failure disables the endpoint: its actor read the same version.
    s.engine
        .send_test_event(&s.tenant, &id, None, None)
        .await
        .unwrap();
    s.storage.before_replace.until_reached(2).await;
    s.storage.before_replace.release(1);
    patching.await.unwrap().unwrap();
    s.storage.before_replace.open();

    eventually(Duration::from_secs(10), || async {
        !s.engine
            .get_endpoint(&s.tenant, &id)
            .await
            .unwrap()
            .endpoint
            .active
    })
    .await;
    let endpoint = s
        .engine
        .get_endpoint(&s.tenant, &id)
        .await
        .unwrap()
        .endpoint;
    assert_eq!(endpoint.disabled_reason, Some(DisabledReason::Failing));
    assert_eq!(endpoint.description.as_deref(), Some("kept"));
    assert_eq!(endpoint.version, 3, "created, described, disabled");
    assert!(
        s.storage.before_replace.reached() >= 3,
        "the disable was made again"
    );
}

/// A secret rotation racing a PATCH of the URL: both land.
#[tokio::test(start_paused = true)]
async fn a_rotation_and_a_patch_keep_both() {
    let s = start(config()).await;
    let id = s
        .engine
        .create_endpoint(&s.tenant, NewEndpoint::new(url("a")))
        .await
        .unwrap()
        .info
        .endpoint
        .id;
    s.storage.before_replace.close();
    let patching = {
        let (engine, tenant, id) = (s.engine.clone(), s.tenant.clone(), id.clone());
        let patch = EndpointPatch {
            url: Some(url("moved")),
            ..Default::default()
        };
        tokio::spawn(async move { engine.update_endpoint(&tenant, &id, patch).await })
    };
    s.storage.before_replace.until_reached(1).await;
    let rotating = {
        let (engine, tenant, id) = (s.engine.clone(), s.tenant.clone(), id.clone());
        tokio::spawn(async move { engine.rotate_secret(&tenant, &id, None).await })
    };
    s.storage.before_replace.until_reached(2).await;
    s.storage.before_replace.release(1);
    patching.await.unwrap().unwrap();
    s.storage.before_replace.open();
    let rotated = rotating.await.unwrap().unwrap();

    let endpoint = s
        .engine
        .get_endpoint(&s.tenant, &id)
        .await
        .unwrap()
        .endpoint;
    assert_eq!(endpoint.url, url("moved"));
    assert_eq!(
        endpoint.secrets.current.expose(),
        rotated.secret.expose(),
        "the rotation survived the patch"
    );
    assert_eq!(endpoint.version, 3);
    assert_eq!(
        s.storage.before_replace.reached(),
        3,
        "the rotation was made again"
    );
}

/// Two PATCHes of different fields from the same version: both land.
#[tokio::test(start_paused = true)]
async fn two_patches_of_different_fields_keep_both() {
    let s = start(config()).await;
    let id = s
        .engine
        .create_endpoint(&s.tenant, NewEndpoint::new(url("a")))
        .await
        .unwrap()
        .info
        .endpoint
        .id;
    s.storage.before_replace.close();
    let first = {
        let (engine, tenant, id) = (s.engine.clone(), s.tenant.clone(), id.clone());
        tokio::spawn(async move { engine.update_endpoint(&tenant, &id, describe("one")).await })
    };
    s.storage.before_replace.until_reached(1).await;
    let second = {
        let (engine, tenant, id) = (s.engine.clone(), s.tenant.clone(), id.clone());
        let patch = EndpointPatch {
            rate_limit: Some(Some(7)),
            ..Default::default()
        };
        tokio::spawn(async move { engine.update_endpoint(&tenant, &id, patch).await })
    };
    s.storage.before_replace.until_reached(2).await;
    s.storage.before_replace.open();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    let endpoint = s
        .engine
        .get_endpoint(&s.tenant, &id)
        .await
        .unwrap()
        .endpoint;
    assert_eq!(endpoint.description.as_deref(), Some("one"));
    assert_eq!(endpoint.rate_limit, Some(7));
    assert_eq!(endpoint.version, 3);
}

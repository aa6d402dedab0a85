//! Shared set-up for the engine's behaviour tests: an engine on memory storage and a
//! scripted transport, under tokio's paused clock.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use herald::{
    CreatedEndpoint, Delivery, DeliveryStatus, DestinationPolicy, Engine, EngineConfig, EventId,
    NewEndpoint, NewEvent, PageRequest, Published, TenantId,
};
use herald_storage_memory::MemoryStorage;
pub use herald_testkit::scripted::{ScriptedTransport, Step};

/// An engine with its storage and transport.
pub struct Harness {
    pub engine: Engine,
    pub storage: Arc<MemoryStorage>,
    pub transport: Arc<ScriptedTransport>,
    pub tenant: TenantId,
}

/// A config that allows the test URLs.
pub fn config() -> EngineConfig {
    EngineConfig {
        destinations: DestinationPolicy::permissive(),
        ..EngineConfig::default()
    }
}

/// The URL of test endpoint `name` (never contacted: the transport is scripted).
pub fn url(name: &str) -> String {
    format!("http://127.0.0.1:9/{name}")
}

impl Harness {
    pub async fn start(config: EngineConfig) -> Self {
        let storage = Arc::new(MemoryStorage::new());
        let transport = Arc::new(ScriptedTransport::new());
        Self::start_on(storage, transport, config).await
    }

    pub async fn start_on(
        storage: Arc<MemoryStorage>,
        transport: Arc<ScriptedTransport>,
        config: EngineConfig,
    ) -> Self {
        let engine = Engine::start(storage.clone(), transport.clone(), config)
            .await
            .unwrap();
        Self {
            engine,
            storage,
            transport,
            tenant: TenantId::parse("acme").unwrap(),
        }
    }

    /// Creates an endpoint at `url(name)`, adjusted by `edit`.
    pub async fn endpoint(
        &self,
        name: &str,
        edit: impl FnOnce(&mut NewEndpoint),
    ) -> CreatedEndpoint {
        let mut input = NewEndpoint::new(url(name));
        edit(&mut input);
        self.engine
            .create_endpoint(&self.tenant, input)
            .await
            .unwrap()
    }

    /// The deliveries of one event.
    pub async fn deliveries(&self, event_id: &EventId) -> Vec<Delivery> {
        self.engine
            .event_deliveries(&self.tenant, event_id, &PageRequest::first(250))
            .await
            .unwrap()
            .items
    }

    /// Waits (virtual time) until every delivery of the event has `status`.
    pub async fn wait_until_all(
        &self,
        event_id: &EventId,
        status: DeliveryStatus,
        within: Duration,
    ) {
        eventually(within, || async {
            self.deliveries(event_id)
                .await
                .iter()
                .all(|d| d.status == status)
        })
        .await;
    }

    pub async fn publish(&self, event_type: &str, data: &str) -> Published {
        self.engine
            .publish(&self.tenant, NewEvent::new(event_type, data).unwrap())
            .await
            .unwrap()
    }
}

/// Polls `check` on the paused clock until it holds; panics after `within` of virtual time.
pub async fn eventually<F, Fut>(within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let step = Duration::from_millis(20);
    let mut waited = Duration::ZERO;
    while waited <= within {
        if check().await {
            return;
        }
        tokio::time::sleep(step).await;
        waited += step;
    }
    panic!("condition not reached within {within:?} of virtual time");
}

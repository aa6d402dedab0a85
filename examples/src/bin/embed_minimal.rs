//! The smallest embedding of Herald: memory storage, the HTTP transport, one endpoint,
//! one publish, and a listener printing the engine's operational events.
//!
//! Usage: `embed_minimal [RECEIVER_URL]`. Without a URL it posts to a closed local
//! port, so the delivery fails, exhausts its short schedule and the listener prints
//! `delivery.dead`.

use std::sync::Arc;
use std::time::Duration;

use herald::{
    DeliveryDefaults, DestinationPolicy, Engine, EngineConfig, NewEndpoint, NewEvent, TenantId,
};
use herald_storage_memory::MemoryStorage;
use herald_transport_http::{HttpTransport, HttpTransportConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:9/hooks".to_owned());
    // Local receivers need http and private addresses; production keeps the default.
    let destinations = DestinationPolicy::permissive();
    let transport = HttpTransport::new(HttpTransportConfig {
        destinations: destinations.clone(),
        ..HttpTransportConfig::default()
    })?;
    let config = EngineConfig {
        destinations,
        delivery: DeliveryDefaults {
            retry_schedule: vec![Duration::from_millis(200), Duration::from_millis(400)],
            timeout: Duration::from_secs(2),
            ..DeliveryDefaults::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::start(Arc::new(MemoryStorage::new()), Arc::new(transport), config).await?;

    let mut operational = engine.subscribe();
    let listener = tokio::spawn(async move {
        while let Ok(event) = operational.recv().await {
            println!(
                "operational event {}: {}",
                event.event_type(),
                event.data_json()
            );
        }
    });

    let tenant = TenantId::parse("acme")?;
    let created = engine
        .create_endpoint(&tenant, NewEndpoint::new(&url))
        .await?;
    println!("endpoint {} -> {url}", created.info.endpoint.id);
    println!(
        "its secret, for the receiver only: {}",
        created.secret.expose()
    );

    let published = engine
        .publish(
            &tenant,
            NewEvent::new("order.filled", r#"{"order_id":"ord_1"}"#)?,
        )
        .await?;
    println!(
        "published {} to {} endpoint(s)",
        published.event.id, published.event.deliveries
    );

    // Long enough for the whole schedule to run out against a closed port.
    tokio::time::sleep(Duration::from_secs(3)).await;
    engine.shutdown(Duration::from_secs(2)).await?;
    listener.abort();
    Ok(())
}

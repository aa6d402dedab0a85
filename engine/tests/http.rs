//! Delivery through the real HTTP transport to a real receiver on 127.0.0.1, plain
//! and over TLS, with signatures checked as a receiver would.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use herald::{DestinationPolicy, Engine, EngineConfig, NewEndpoint, NewEvent, TenantId};
use herald_storage_memory::MemoryStorage;
use herald_testkit::certs::TestCerts;
use herald_testkit::receiver::{Mode, Receiver};
use herald_transport_http::{HttpTransport, HttpTransportConfig};

const WAIT: Duration = Duration::from_secs(20);

async fn engine(extra_ca: Vec<Vec<u8>>) -> Engine {
    let destinations = DestinationPolicy::permissive();
    let transport = HttpTransport::new(HttpTransportConfig {
        destinations: destinations.clone(),
        extra_root_certs_pem: extra_ca,
        ..Default::default()
    })
    .unwrap();
    let config = EngineConfig {
        destinations,
        ..Default::default()
    };
    Engine::start(Arc::new(MemoryStorage::new()), Arc::new(transport), config)
        .await
        .unwrap()
}

#[tokio::test]
async fn events_reach_a_real_receiver_signed() {
    let receiver = Receiver::start().await;
    let engine = engine(Vec::new()).await;
    let tenant = TenantId::parse("acme").unwrap();
    let created = engine
        .create_endpoint(&tenant, NewEndpoint::new(receiver.url("/hooks")))
        .await
        .unwrap();
    for n in 0..10 {
        let data = format!("{{\"n\":{n}}}");
        engine
            .publish(&tenant, NewEvent::new("order.filled", &data).unwrap())
            .await
            .unwrap();
    }
    assert!(receiver.wait_for(10, WAIT).await);
    for request in receiver.requests() {
        request.verify_standard(created.secret.expose()).unwrap();
    }
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn events_reach_a_tls_receiver_and_failures_are_retried() {
    let certs = TestCerts::generate();
    let receiver = Receiver::builder()
        .tls(certs.server_config())
        .mode("/flaky", Mode::FailFirst(1))
        .start()
        .await;
    let engine = engine(vec![certs.ca_pem()]).await;
    let tenant = TenantId::parse("acme").unwrap();
    let mut input = NewEndpoint::new(receiver.url("/flaky"));
    input.retry_schedule_secs = Some(vec![0]);
    engine.create_endpoint(&tenant, input).await.unwrap();
    let published = engine
        .publish(&tenant, NewEvent::new("order.filled", "{}").unwrap())
        .await
        .unwrap();
    assert!(receiver.wait_for(2, WAIT).await);
    let requests = receiver.requests();
    assert_eq!(requests[1].header("x-delivery-attempt"), Some("2"));
    assert_eq!(
        requests[1].header("webhook-id"),
        Some(published.event.id.as_str())
    );
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
}

//! Delivery through the real HTTP transport to a real receiver on 127.0.0.1, plain
//! and over TLS, with signatures checked as a receiver would.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use herald::{
    DestinationPolicy, EndpointPatch, Engine, EngineConfig, NewEndpoint, NewEvent, TenantId,
};
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

/// Custom headers are parsed when the endpoint is read: a change of them applies
/// from the next attempt, and a cleared set sends none.
#[tokio::test]
async fn custom_headers_follow_the_endpoint_as_it_changes() {
    let receiver = Receiver::start().await;
    let engine = engine(Vec::new()).await;
    let tenant = TenantId::parse("acme").unwrap();
    let mut new = NewEndpoint::new(receiver.url("/hooks"));
    new.headers = Some([("x-team".to_owned(), "payments".to_owned())].into());
    let created = engine.create_endpoint(&tenant, new).await.unwrap();
    let publish = |n: u32| {
        let engine = engine.clone();
        let tenant = tenant.clone();
        async move {
            let data = format!("{{\"n\":{n}}}");
            engine
                .publish(&tenant, NewEvent::new("order.filled", &data).unwrap())
                .await
                .unwrap();
        }
    };
    publish(1).await;
    assert!(receiver.wait_for(1, WAIT).await);

    let changes = [
        Some(
            [("x-team", "risk"), ("x-desk", "fx")]
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .into(),
        ),
        None,
    ];
    for (sent, headers) in (2..).zip(changes) {
        let patch = EndpointPatch {
            headers: Some(headers),
            ..Default::default()
        };
        engine
            .update_endpoint(&tenant, &created.info.endpoint.id, patch)
            .await
            .unwrap();
        publish(sent).await;
        assert!(receiver.wait_for(sent as usize, WAIT).await);
    }

    let requests = receiver.requests();
    let received: Vec<(Option<&str>, Option<&str>)> = requests
        .iter()
        .map(|r| (r.header("x-team"), r.header("x-desk")))
        .collect();
    assert_eq!(
        received,
        [
            (Some("payments"), None),
            (Some("risk"), Some("fx")),
            (None, None)
        ]
    );
    for request in &requests {
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

//! Criterion: attempts per second through `HttpTransport` against a bare pooled
//! hyper-util client sending the same signed requests to the same local receiver, at
//! one request at a time and at 32 in flight. The difference is what the transport
//! adds: destination checks, the timeout, the bounded body read, outcome classing.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use herald::profile::Profile;
use herald::request::{signed_request, CustomHeaders, PreparedEvent, RequestTarget};
use herald::signing::{Secret, SecretSet, SignatureScheme};
use herald::{DestinationPolicy, Event, EventId, SignedRequest, TenantId, Timestamp, Transport};
use herald_benches::receiver::BenchReceiver;
use herald_transport_http::{HttpTransport, HttpTransportConfig};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

fn request(url: &str) -> SignedRequest {
    let secrets = SecretSet::new(Secret::generate());
    let event = Event {
        id: EventId::generate(),
        tenant: TenantId::parse("bench").unwrap(),
        event_type: "order.filled".into(),
        channels: Vec::new(),
        created_at: Timestamp(1_764_000_000_000),
        data: format!("{{\"pad\":\"{}\"}}", "x".repeat(1000)).into(),
        deliveries: 1,
    };
    let profile = Profile::of_scheme(SignatureScheme::Standard);
    let target = RequestTarget {
        url: url.parse().unwrap(),
        profile: &profile,
        secrets: &secrets,
        custom_headers: &CustomHeaders::default(),
        timeout: Duration::from_secs(10),
    };
    signed_request(
        &target,
        &PreparedEvent::new(event),
        None,
        Timestamp(1_764_000_000_000),
    )
    .unwrap()
}

async fn bare_send(client: &Client<HttpConnector, Full<Bytes>>, request: &SignedRequest) -> u16 {
    let mut builder = http::Request::post(request.url.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let response = client
        .request(builder.body(Full::new(request.body.clone())).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

fn transport(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime.block_on(BenchReceiver::start());
    let url = format!("http://{}/hooks", receiver.addr());
    let signed = Arc::new(request(&url));
    let herald = Arc::new(
        HttpTransport::new(HttpTransportConfig {
            destinations: DestinationPolicy::permissive(),
            ..Default::default()
        })
        .unwrap(),
    );
    let bare = Arc::new(
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build_http::<Full<Bytes>>(),
    );
    let mut group = c.benchmark_group("attempts");
    for in_flight in [1usize, 32] {
        group.throughput(Throughput::Elements(in_flight as u64));
        group.bench_with_input(
            BenchmarkId::new("bare_hyper", in_flight),
            &in_flight,
            |b, &n| {
                b.to_async(&runtime).iter(|| {
                    let (bare, signed) = (bare.clone(), signed.clone());
                    async move {
                        let sends = (0..n).map(|_| bare_send(&bare, &signed));
                        for status in futures::future::join_all(sends).await {
                            assert_eq!(status, 200);
                        }
                    }
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("http_transport", in_flight),
            &in_flight,
            |b, &n| {
                b.to_async(&runtime).iter(|| {
                    let (herald, signed) = (herald.clone(), signed.clone());
                    async move {
                        let sends = (0..n).map(|_| herald.send(signed.as_ref().clone()));
                        for outcome in futures::future::join_all(sends).await {
                            assert_eq!(outcome.status, Some(200));
                        }
                    }
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, transport);
criterion_main!(benches);

//! Criterion: signing one attempt (`herald::signing::sign`) per scheme, for 1 KiB and
//! 64 KiB bodies, plus a Standard Webhooks signature during a rotation (two secrets)
//! and the receiver-side `verify_standard`; and building a whole attempt's request
//! (`herald::request::signed_request`: body, headers and signature) per built-in
//! profile.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use herald::model::Event;
use herald::profile::Profile;
use herald::request::{signed_request, AttemptOf, PreparedEvent, RequestTarget};
use herald::signing::{
    sign, verify_standard, Secret, SecretSet, SignatureScheme, DEFAULT_TOLERANCE,
};
use herald::{DeliveryId, EndpointId, EventId, TenantId, Timestamp};

const MSG_ID: &str = "evt_01JD0000000000000000000000";
const NOW: Timestamp = Timestamp(1_700_000_000_000);

fn body(size: usize) -> Vec<u8> {
    let mut body = b"{\"id\":\"evt_1\",\"type\":\"order.filled\",\"data\":{\"pad\":\"".to_vec();
    body.resize(size.saturating_sub(3), b'x');
    body.extend_from_slice(b"\"}}");
    body
}

fn secrets(scheme: SignatureScheme) -> SecretSet {
    match scheme {
        SignatureScheme::Standard => SecretSet::new(Secret::generate()),
        // A plain secret: a `whsec_` one would add a Standard signature too.
        _ => SecretSet::new(Secret::parse(scheme, "plain-bench-secret-0123456789").unwrap()),
    }
}

fn signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    for size in [1024usize, 64 * 1024] {
        let payload = body(size);
        group.throughput(Throughput::Bytes(size as u64));
        for (name, scheme) in [
            ("standard", SignatureScheme::Standard),
            ("hex", SignatureScheme::Hex),
            ("timestamped", SignatureScheme::Timestamped),
        ] {
            let set = secrets(scheme);
            group.bench_with_input(BenchmarkId::new(name, size), &payload, |b, payload| {
                b.iter(|| {
                    sign(
                        scheme,
                        black_box(&set),
                        NOW,
                        MSG_ID,
                        NOW.as_secs(),
                        black_box(payload),
                    )
                })
            });
        }
        let mut rotating = SecretSet::new(Secret::generate());
        rotating.rotate(
            Secret::generate(),
            NOW.plus(std::time::Duration::from_secs(3600)),
        );
        group.bench_with_input(
            BenchmarkId::new("standard_rotating", size),
            &payload,
            |b, payload| {
                b.iter(|| {
                    sign(
                        SignatureScheme::Standard,
                        black_box(&rotating),
                        NOW,
                        MSG_ID,
                        NOW.as_secs(),
                        black_box(payload),
                    )
                })
            },
        );
        let secret = Secret::generate();
        let header = sign(
            SignatureScheme::Standard,
            &SecretSet::new(secret.clone()),
            NOW,
            MSG_ID,
            NOW.as_secs(),
            &payload,
        )
        .webhook_signature
        .unwrap();
        let timestamp = NOW.as_secs().to_string();
        group.bench_with_input(
            BenchmarkId::new("verify_standard", size),
            &payload,
            |b, payload| {
                b.iter(|| {
                    verify_standard(
                        secret.expose(),
                        MSG_ID,
                        &timestamp,
                        &header,
                        black_box(payload),
                        NOW.as_secs(),
                        DEFAULT_TOLERANCE,
                    )
                    .unwrap()
                })
            },
        );
    }
    group.finish();
}

fn request(c: &mut Criterion) {
    let mut group = c.benchmark_group("signed_request");
    let data = String::from_utf8(body(1024)).unwrap();
    let event = PreparedEvent::new(Event {
        id: EventId::parse(MSG_ID).unwrap(),
        tenant: TenantId::parse("acme").unwrap(),
        event_type: "order.filled".into(),
        channels: vec![],
        created_at: NOW,
        data: data.into(),
        deliveries: 1,
    });
    let (delivery_id, endpoint_id) = (DeliveryId::generate(), EndpointId::generate());
    let custom_headers = herald::request::CustomHeaders::default();
    for (name, scheme) in [
        ("standard", SignatureScheme::Standard),
        ("hex", SignatureScheme::Hex),
    ] {
        let profile = Profile::builtin(name).unwrap();
        let secrets = secrets(scheme);
        let target = RequestTarget {
            url: http::Uri::from_static("https://example.com/hooks"),
            profile: &profile,
            secrets: &secrets,
            custom_headers: &custom_headers,
            timeout: std::time::Duration::from_secs(10),
        };
        group.bench_function(BenchmarkId::new(name, 1024), |b| {
            b.iter(|| {
                let attempt = AttemptOf {
                    delivery_id: &delivery_id,
                    endpoint_id: &endpoint_id,
                    attempt: 1,
                };
                signed_request(&target, black_box(&event), Some(attempt), NOW).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, signing, request);
criterion_main!(benches);

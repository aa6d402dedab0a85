//! Criterion: signing one attempt (`herald::signing::sign`) per scheme, for 1 KiB and
//! 64 KiB bodies, plus a Standard Webhooks signature during a rotation (two secrets)
//! and the receiver-side `verify_standard`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use herald::signing::{
    sign, verify_standard, Secret, SecretSet, SignatureScheme, DEFAULT_TOLERANCE,
};
use herald::Timestamp;

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

criterion_group!(benches, signing);
criterion_main!(benches);

//! Criterion: matching one event against one tenant's subscriptions
//! (`SubscriptionIndex::matching`) with 10 and 10,000 endpoints, for three shapes of
//! subscriptions: each endpoint its own exact type (one match), a mix of exact,
//! prefix and every-type filters, and every endpoint taking every type (all match).
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use herald::filter::SubscriptionIndex;
use herald::TenantId;
use herald_testkit::conformance;

/// How endpoint `i` of `n` subscribes.
fn event_types(shape: &str, i: usize) -> Vec<String> {
    match shape {
        "one_match" => vec![format!("order.e{i}")],
        "mixed" => match i % 3 {
            0 => vec![format!("order.e{i}"), "order.filled".to_owned()],
            1 => vec!["order.*".to_owned()],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn index(tenant: &TenantId, shape: &str, n: usize) -> SubscriptionIndex {
    let mut index = SubscriptionIndex::new();
    // A second tenant of the same size, so the index is not trivially one tenant.
    let other = TenantId::parse("other").unwrap();
    for i in 0..n {
        for t in [tenant, &other] {
            let mut endpoint = conformance::endpoint(t);
            endpoint.event_types = event_types(shape, i);
            index.upsert(&endpoint);
        }
    }
    index
}

fn matching(c: &mut Criterion) {
    let tenant = TenantId::parse("acme").unwrap();
    let mut group = c.benchmark_group("filter_matching");
    group.throughput(Throughput::Elements(1));
    for shape in ["one_match", "mixed", "all_match"] {
        for n in [10usize, 10_000] {
            let index = index(&tenant, shape, n);
            let event_type = if shape == "one_match" {
                "order.e7"
            } else {
                "order.filled"
            };
            group.bench_with_input(BenchmarkId::new(shape, n), &index, |b, index| {
                b.iter(|| index.matching(black_box(&tenant), black_box(event_type), &[]))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);

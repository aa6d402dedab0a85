//! Criterion: the durable write of a publish (`Storage::insert_event`, an event and
//! its deliveries), memory against sled: one writer at a time (each write waits for
//! its own flush) and 64 writers at once (sled's group commit shares flushes).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use herald::{Delivery, Event, Storage, TenantId};
use herald_storage_memory::MemoryStorage;
use herald_storage_sled::SledStorage;
use herald_testkit::conformance;

/// Deliveries per event (endpoints matched).
const FAN_OUT: usize = 4;
/// Writers of the concurrent case.
const WRITERS: u64 = 64;

struct Fixture {
    tenant: TenantId,
    endpoints: Vec<herald::Endpoint>,
    data: String,
}

impl Fixture {
    fn new() -> Self {
        let tenant = conformance::tenant("acme");
        let endpoints = (0..FAN_OUT)
            .map(|_| conformance::endpoint(&tenant))
            .collect();
        Self {
            tenant,
            endpoints,
            data: format!("{{\"pad\":\"{}\"}}", "x".repeat(1000)),
        }
    }

    fn publish(&self) -> (Event, Vec<Delivery>) {
        let mut event = conformance::event(&self.tenant, "order.filled", conformance::T0);
        event.data = self.data.as_str().into();
        event.deliveries = FAN_OUT as u32;
        let deliveries = self
            .endpoints
            .iter()
            .map(|e| conformance::delivery(&event, e))
            .collect();
        (event, deliveries)
    }
}

async fn write_many(storage: Arc<dyn Storage>, fixture: Arc<Fixture>, iters: u64) -> Duration {
    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let (storage, fixture) = (storage.clone(), fixture.clone());
        let share = iters / WRITERS + u64::from(w < iters % WRITERS);
        writers.spawn(async move {
            for _ in 0..share {
                let (event, deliveries) = fixture.publish();
                storage.insert_event(&event, &deliveries).await.unwrap();
            }
        });
    }
    while writers.join_next().await.is_some() {}
    started.elapsed()
}

fn insert_event(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixture = Arc::new(Fixture::new());
    let stores: Vec<(&str, Arc<dyn Storage>)> = vec![
        ("memory", Arc::new(MemoryStorage::new())),
        (
            "sled",
            Arc::new(SledStorage::open(dir.path().join("db")).unwrap()),
        ),
    ];
    let mut group = c.benchmark_group("insert_event");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    for (name, storage) in &stores {
        group.bench_function(BenchmarkId::new("one_writer", name), |b| {
            b.to_async(&runtime).iter_batched(
                || fixture.publish(),
                |(event, deliveries)| {
                    let storage = storage.clone();
                    async move { storage.insert_event(&event, &deliveries).await.unwrap() }
                },
                criterion::BatchSize::SmallInput,
            )
        });
        group.bench_function(BenchmarkId::new("64_writers", name), |b| {
            b.to_async(&runtime)
                .iter_custom(|iters| write_many(storage.clone(), fixture.clone(), iters))
        });
    }
    group.finish();
}

criterion_group!(benches, insert_event);
criterion_main!(benches);

//! Criterion: the durable write of a publish (`Storage::insert_event`, an event and
//! its deliveries), memory against sled: one writer at a time (each write waits for
//! its own flush) and 64 writers at once (sled's group commit shares flushes); and
//! the whole write cycle of a delivered event (`delivery_cycle`: the publish, then
//! each delivery's successful attempt), which is what the end-to-end rows write.
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

/// What each of the 64 writers does per iteration.
#[derive(Clone, Copy)]
enum Cycle {
    /// Only the publish.
    Publish,
    /// The publish, then a successful attempt recorded for each delivery.
    Deliver,
}

async fn write_many(
    storage: Arc<dyn Storage>,
    fixture: Arc<Fixture>,
    iters: u64,
    cycle: Cycle,
) -> Duration {
    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let (storage, fixture) = (storage.clone(), fixture.clone());
        let share = iters / WRITERS + u64::from(w < iters % WRITERS);
        writers.spawn(async move {
            for _ in 0..share {
                let (event, deliveries) = fixture.publish();
                storage.insert_event(&event, &deliveries).await.unwrap();
                if let Cycle::Deliver = cycle {
                    record_successes(&*storage, deliveries).await;
                }
            }
        });
    }
    while writers.join_next().await.is_some() {}
    started.elapsed()
}

/// Records a first attempt answered 200 for each delivery, as an endpoint actor does.
async fn record_successes(storage: &dyn Storage, deliveries: Vec<Delivery>) {
    let health = conformance::health(0);
    for mut delivery in deliveries {
        let attempt = conformance::attempt(&delivery, 1, 200, conformance::T0);
        delivery.attempts = 1;
        delivery.last_status = Some(200);
        delivery.status = herald::DeliveryStatus::Succeeded;
        storage
            .record_attempt(&attempt, &delivery, &health)
            .await
            .unwrap();
    }
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
            b.to_async(&runtime).iter_custom(|iters| {
                write_many(storage.clone(), fixture.clone(), iters, Cycle::Publish)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("delivery_cycle");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    for (name, storage) in &stores {
        group.bench_function(BenchmarkId::new("64_writers", name), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                write_many(storage.clone(), fixture.clone(), iters, Cycle::Deliver)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, insert_event);
criterion_main!(benches);

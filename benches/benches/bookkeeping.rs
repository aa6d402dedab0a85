//! Criterion: the per-attempt bookkeeping of an endpoint actor, all pure code: the
//! breaker (permit and outcome), the retry schedule's next due time, and the pending
//! queue (insert, take, finish) at a small and a large depth.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use herald::breaker::{Breaker, BreakerConfig};
use herald::model::Ordering;
use herald::queue::{Next, PendingQueue};
use herald::retry::RetrySchedule;
use herald::{DeliveryDefaults, Timestamp};
use herald_testkit::conformance;

const NOW: Timestamp = Timestamp(1_700_000_000_000);

fn breaker_config() -> BreakerConfig {
    BreakerConfig {
        threshold: 5,
        cooldown: Duration::from_secs(30),
        cooldown_max: Duration::from_secs(600),
    }
}

fn breaker(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker");
    group.throughput(Throughput::Elements(1));
    group.bench_function("permit_then_success", |b| {
        let mut breaker = Breaker::new(breaker_config());
        b.iter(|| {
            let permit = breaker.permit(black_box(NOW));
            breaker.on_success();
            permit
        })
    });
    group.bench_function("permit_then_failure_cycle", |b| {
        // Failures open it, the cooldown passes, a probe fails, ...: every state visited.
        let mut breaker = Breaker::new(breaker_config());
        let mut now = NOW;
        b.iter(|| {
            now = now.plus(Duration::from_secs(1));
            let permit = breaker.permit(black_box(now));
            breaker.on_failure(now);
            permit
        })
    });
    group.finish();
}

fn schedule(c: &mut Criterion) {
    let schedule = RetrySchedule::new(DeliveryDefaults::default().retry_schedule).unwrap();
    let mut group = c.benchmark_group("retry_schedule");
    group.throughput(Throughput::Elements(1));
    group.bench_function("next_due", |b| {
        let mut attempt = 0u32;
        b.iter(|| {
            attempt = attempt % 8 + 1;
            schedule.next_due(black_box(attempt), NOW, 0.37, None)
        })
    });
    group.bench_function("next_due_retry_after", |b| {
        b.iter(|| schedule.next_due(black_box(3), NOW, -0.5, Some(Duration::from_secs(90))))
    });
    group.finish();
}

fn queue(c: &mut Criterion) {
    let tenant = conformance::tenant("acme");
    let endpoint = conformance::endpoint(&tenant);
    let event = conformance::event(&tenant, "order.filled", NOW);
    let mut group = c.benchmark_group("pending_queue");
    group.throughput(Throughput::Elements(1));
    for depth in [16usize, 100_000] {
        group.bench_with_input(
            BenchmarkId::new("insert_next_finish", depth),
            &depth,
            |b, &depth| {
                let mut queue = PendingQueue::new(Ordering::Unordered, depth + 16);
                for _ in 0..depth {
                    queue.insert(conformance::delivery(&event, &endpoint));
                }
                b.iter_batched(
                    || conformance::delivery(&event, &endpoint),
                    |delivery| {
                        queue.insert(delivery);
                        if let Next::Send(sent) = queue.next(NOW, 16) {
                            queue.finish(&sent.id);
                        }
                    },
                    criterion::BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, breaker, schedule, queue);
criterion_main!(benches);

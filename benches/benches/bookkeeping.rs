//! Criterion: the per-attempt bookkeeping of an endpoint actor that is public pure
//! code: the breaker (permit and outcome) and the retry schedule's next due time.
//! (The actor's pending queue is internal to the engine; `herald-bench` measures
//! it as part of every delivery.)
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use herald::breaker::{Breaker, BreakerConfig};
use herald::retry::RetrySchedule;
use herald::{DeliveryDefaults, Timestamp};

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

criterion_group!(benches, breaker, schedule);
criterion_main!(benches);

//! The engine-wide cap on attempts in flight, shared between tenants: a tenant
//! whose endpoints never answer holds at most its share, and another tenant's
//! deliveries go out at once.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{config, eventually, url, Harness, Step};
use herald::{NewEndpoint, NewEvent, TenantId};

const TARPITS: usize = 20;
const CAPACITY: usize = 32;

#[tokio::test(start_paused = true)]
async fn tarpits_of_one_tenant_take_only_its_share() {
    let mut cfg = config();
    cfg.max_attempts_in_flight = CAPACITY;
    let h = Harness::start(cfg).await;
    // Tenant acme: 20 endpoints that accept and answer after an hour.
    for n in 0..TARPITS {
        let name = format!("tarpit{n}");
        h.endpoint(&name, |e| e.timeout_ms = Some(60_000)).await;
        h.transport.set_default(
            &url(&name),
            Step::status(200).after(Duration::from_secs(3600)),
        );
    }
    for _ in 0..10 {
        h.publish("order.filled", "{}").await;
    }
    // 20 endpoints x 10 deliveries want 200 attempts; acme alone may hold half.
    let tarpit_sent = |h: &Harness| {
        (0..TARPITS)
            .map(|n| h.transport.sent_to(&url(&format!("tarpit{n}"))).len())
            .sum::<usize>()
    };
    eventually(Duration::from_secs(5), || async {
        tarpit_sent(&h) == CAPACITY / 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        tarpit_sent(&h),
        CAPACITY / 2,
        "more than its share in flight"
    );

    // Tenant globex: its deliveries go out at once, beside the tarpits.
    let globex = TenantId::parse("globex").unwrap();
    h.engine
        .create_endpoint(&globex, NewEndpoint::new(url("healthy")))
        .await
        .unwrap();
    for n in 0..20 {
        h.engine
            .publish(
                &globex,
                NewEvent::new("order.filled", &format!("{{\"n\":{n}}}")).unwrap(),
            )
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(2), || async {
        h.transport.sent_to(&url("healthy")).len() == 20
    })
    .await;
    assert_eq!(tarpit_sent(&h), CAPACITY / 2);
}

//! The queue memory budget: with many endpoints down, what their actors hold stays
//! near `queue_memory` (the rest waits in storage), and once they come back every
//! delivery is sent exactly once and the budget is given back.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{config, eventually, url, Harness, Step};

const ENDPOINTS: usize = 40;
const EVENTS: usize = 300;
const PAYLOAD: usize = 2048;
const BUDGET: usize = 256 * 1024;

#[tokio::test(start_paused = true)]
async fn many_endpoints_down_hold_the_budget_and_drain_when_back() {
    let mut cfg = config();
    cfg.queue_memory = BUDGET;
    let h = Harness::start(cfg).await;
    for n in 0..ENDPOINTS {
        let name = format!("ep{n}");
        h.endpoint(&name, |e| e.retry_schedule_secs = Some(vec![1; 30]))
            .await;
        h.transport.set_default(&url(&name), Step::status(503));
    }
    let data = format!("{{\"pad\":\"{}\"}}", "x".repeat(PAYLOAD));
    for _ in 0..EVENTS {
        h.publish("order.filled", &data).await;
    }
    // Without the budget each actor would hold all 300 deliveries and their bodies:
    // 40 x 300 x (2 KiB + the entry), about 30 MB. With it: the budget, plus a few
    // waiting deliveries per actor.
    let bound = 4 * 1024 * 1024;
    let mut peak = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let memory = h.engine.queue_memory();
        assert_eq!(memory.limit, BUDGET);
        peak = peak.max(memory.used);
        assert!(memory.used <= bound, "{} bytes held", memory.used);
    }
    assert!(peak > 0, "the actors held nothing at all");

    // The receivers come back: every delivery is sent once more, with success,
    // and the budget is given back.
    let before = h.transport.sent().len();
    for n in 0..ENDPOINTS {
        h.transport
            .set_default(&url(&format!("ep{n}")), Step::status(200));
    }
    let after = |h: &Harness| {
        let sent = h.transport.sent();
        let pairs: Vec<(String, String)> = sent[before..]
            .iter()
            .map(|r| (r.url.clone(), r.header("webhook-id")))
            .collect();
        let unique: HashSet<&(String, String)> = pairs.iter().collect();
        (pairs.len(), unique.len())
    };
    eventually(Duration::from_secs(600), || async {
        after(&h).1 == ENDPOINTS * EVENTS
    })
    .await;
    assert_eq!(
        after(&h),
        (ENDPOINTS * EVENTS, ENDPOINTS * EVENTS),
        "a delivery sent twice"
    );
    eventually(Duration::from_secs(60), || async {
        h.engine.queue_memory().used == 0
    })
    .await;
}

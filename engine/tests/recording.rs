//! New work reaches an endpoint actor two ways, by hand-off and by its own loads
//! from storage, and each delivery is sent exactly once whatever their order: a
//! success frees its slot before its record is stored and is never sent again by a
//! load that reads it as still pending; a load never takes a delivery whose hand-off
//! is still on its way, nor does a hand-off queue one a load took.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{config, eventually, url, ScriptedTransport, Step};
use herald::storage::PendingOrder;
use herald::{EndpointId, EndpointPatch, Engine, NewEndpoint, NewEvent, TenantId};
use herald_storage_memory::MemoryStorage;
use herald_testkit::hooked::HookedStorage;

/// An engine on a fresh `HookedStorage`, with endpoint `a` (adjusted by `edit`)
/// whose receiver answers 200.
struct Hooked {
    storage: Arc<HookedStorage>,
    transport: Arc<ScriptedTransport>,
    engine: Engine,
    tenant: TenantId,
    endpoint_id: EndpointId,
}

impl Hooked {
    async fn start(edit: impl FnOnce(&mut NewEndpoint)) -> Self {
        let storage = Arc::new(HookedStorage::new(Arc::new(MemoryStorage::new())));
        let transport = Arc::new(ScriptedTransport::new());
        let engine = Engine::start(storage.clone(), transport.clone(), config())
            .await
            .unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        let mut input = NewEndpoint::new(url("a"));
        edit(&mut input);
        let endpoint = engine.create_endpoint(&tenant, input).await.unwrap();
        transport.set_default(&url("a"), Step::status(200));
        Self {
            storage,
            transport,
            engine,
            tenant,
            endpoint_id: endpoint.info.endpoint.id.clone(),
        }
    }

    async fn publish(&self) -> herald::Published {
        self.engine
            .publish(&self.tenant, NewEvent::new("order.filled", "{}").unwrap())
            .await
            .unwrap()
    }

    /// Makes the endpoint's actor read its pending deliveries from the start (a replay
    /// does; replaying an endpoint without dead letters is the empty replay, so
    /// changing the ordering back and forth is used instead).
    async fn reload(&self) {
        for ordering in [herald::Ordering::Fifo, herald::Ordering::Unordered] {
            let patch = EndpointPatch {
                ordering: Some(ordering),
                ..Default::default()
            };
            self.engine
                .update_endpoint(&self.tenant, &self.endpoint_id, patch)
                .await
                .unwrap();
        }
    }

    /// Waits until storage holds no pending delivery of the endpoint.
    async fn until_none_pending(&self) {
        eventually(Duration::from_secs(30), || async {
            self.storage
                .inner()
                .pending_deliveries(&self.endpoint_id, PendingOrder::Publish, None, 10)
                .await
                .unwrap()
                .is_empty()
        })
        .await;
    }

    /// The webhook ids sent, in order.
    fn sent(&self) -> Vec<String> {
        self.transport
            .sent()
            .iter()
            .map(|r| r.header("webhook-id"))
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn successes_free_their_slot_before_their_record_is_stored_and_are_never_resent() {
    let h = Hooked::start(|e| e.max_in_flight = Some(1)).await;
    h.storage.before_record.close();
    for _ in 0..3 {
        h.publish().await;
    }

    // One at a time, all three go out though not one record is stored yet.
    assert!(h.transport.wait_for(3, Duration::from_secs(30)).await);
    assert_eq!(h.transport.max_concurrent(&url("a")), 1);
    let pending = h
        .storage
        .inner()
        .pending_deliveries(&h.endpoint_id, PendingOrder::Publish, None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 3, "storage still has them pending");

    // A reload reads them back as pending: none may be sent again.
    h.reload().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.transport.sent().len(), 3);

    // The records land; every delivery is stored as succeeded, sent once.
    h.storage.before_record.open();
    h.until_none_pending().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let sent: HashSet<String> = h.sent().into_iter().collect();
    assert_eq!(sent.len(), 3, "three distinct events, each sent once");
    assert_eq!(h.transport.sent().len(), 3);
    let counts = h
        .storage
        .inner()
        .delivery_counts(&h.endpoint_id)
        .await
        .unwrap();
    assert_eq!((counts.pending, counts.dead), (0, 0), "all three succeeded");
}

#[tokio::test(start_paused = true)]
async fn a_success_stored_while_a_load_reads_is_not_sent_again() {
    let h = Hooked::start(|_| {}).await;
    h.storage.before_record.close();
    h.publish().await;
    assert!(h.transport.wait_for(1, Duration::from_secs(30)).await);

    // A reload reads the delivery as pending (its record is not stored yet), and
    // answers only after the record has landed.
    h.storage.after_load.close();
    let reached = h.storage.after_load.reached();
    let reloading = {
        let (engine, tenant, id) = (h.engine.clone(), h.tenant.clone(), h.endpoint_id.clone());
        tokio::spawn(async move {
            let patch = EndpointPatch {
                ordering: Some(herald::Ordering::Fifo),
                ..Default::default()
            };
            engine.update_endpoint(&tenant, &id, patch).await.unwrap();
        })
    };
    h.storage.after_load.until_reached(reached + 1).await;
    h.storage.before_record.open();
    h.until_none_pending().await;
    h.storage.after_load.open();
    reloading.await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.transport.sent().len(), 1, "sent once");
}

/// The watermark rule, when the hand-off trails a load that reads after the
/// publish was stored: the load leaves the delivery to its hand-off.
#[tokio::test(start_paused = true)]
async fn a_load_leaves_a_delivery_stored_after_it_began_to_its_hand_off() {
    let h = Hooked::start(|_| {}).await;
    h.publish().await;
    assert!(h.transport.wait_for(1, Duration::from_secs(30)).await);

    // The actor starts a load and stops before reading; a publish is stored and
    // its hand-off queues behind the load; then the load reads, and finds it.
    h.storage.before_load.close();
    let reached = h.storage.before_load.reached();
    let reloading = {
        let (engine, tenant, id) = (h.engine.clone(), h.tenant.clone(), h.endpoint_id.clone());
        tokio::spawn(async move {
            let patch = EndpointPatch {
                ordering: Some(herald::Ordering::Fifo),
                ..Default::default()
            };
            engine.update_endpoint(&tenant, &id, patch).await.unwrap();
        })
    };
    h.storage.before_load.until_reached(reached + 1).await;
    let second = h.publish().await;
    h.storage.before_load.open();
    reloading.await.unwrap();

    // A third event follows through the same path: anything sent twice would go
    // out before it.
    let third = h.publish().await;
    assert!(h.transport.wait_for(3, Duration::from_secs(30)).await);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let sent = h.sent();
    assert_eq!(sent.len(), 3, "each event sent once: {sent:?}");
    assert_eq!(sent[1], second.event.id.as_str());
    assert_eq!(sent[2], third.event.id.as_str());
}

/// The watermark rule, when a load reads a publish whose hand-off has not reached
/// the actor yet: the late hand-off is dropped. The actor is started by the very
/// publish whose delivery its first load finds.
#[tokio::test(start_paused = true)]
async fn a_delivery_a_load_took_is_not_queued_again_by_its_hand_off() {
    let h = Hooked::start(|_| {}).await;
    // The publish is stored, but its write does not answer yet.
    h.storage.after_insert.close();
    let publishing = {
        let (engine, tenant) = (h.engine.clone(), h.tenant.clone());
        tokio::spawn(async move {
            engine
                .publish(&tenant, NewEvent::new("order.filled", "{}").unwrap())
                .await
                .unwrap()
        })
    };
    h.storage.after_insert.until_reached(1).await;
    // An actor starts (for a change of the endpoint); its first load waits for the
    // publish's write to answer, then reads and takes the delivery, so the hand-off
    // that follows the write finds it taken.
    h.reload().await;
    h.storage.after_insert.open();
    let first = publishing.await.unwrap();
    h.until_none_pending().await;
    let second = h.publish().await;
    assert!(h.transport.wait_for(2, Duration::from_secs(30)).await);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        h.sent(),
        vec![
            first.event.id.as_str().to_owned(),
            second.event.id.as_str().to_owned()
        ],
        "each event sent once"
    );
}

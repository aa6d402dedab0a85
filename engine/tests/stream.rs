//! `Engine::stream` (access.md §6): filters, resume with no gap and no repeat at the
//! seam between stored and live events (publishes in flight while the replay runs
//! included), overflow of a stalled consumer that holds up nothing else, and the
//! per-tenant limit.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, Harness};
use futures::StreamExt;
use herald::storage::Storage;
use herald::{Error, EventId, EventStream, NewEvent, StreamEnd, StreamFilter, TenantId};
use herald_storage_memory::MemoryStorage;
use herald_testkit::hooked::HookedStorage;
use herald_testkit::scripted::ScriptedTransport;

const WAIT: Duration = Duration::from_secs(20);

/// The ids of the next `n` items of `stream`, which must all be events.
async fn take_ids(stream: &mut EventStream, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let item = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events came", ids.len()))
            .expect("the stream ended");
        ids.push(item.unwrap().id.to_string());
    }
    ids
}

/// Nothing more is ready on `stream` right now.
async fn assert_quiet(stream: &mut EventStream) {
    let more = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(more.is_err(), "unexpected item: {:?}", more.unwrap());
}

/// Every stored event of the tenant, oldest first.
async fn stored_ids(storage: &dyn Storage, tenant: &TenantId) -> Vec<String> {
    storage
        .events_after(tenant, None, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id.to_string())
        .collect()
}

#[tokio::test]
async fn filters_select_by_type_pattern_and_channel() {
    let h = Harness::start(config()).await;
    let filter = StreamFilter::new(&["order.*".into()], &["BTC-USD".into()]).unwrap();
    let mut stream = h.engine.stream(&h.tenant, filter, None).await.unwrap();
    let publish = |event_type: &'static str, channel: &'static str| {
        let engine = h.engine.clone();
        let tenant = h.tenant.clone();
        async move {
            let event = NewEvent::new(event_type, "{}")
                .unwrap()
                .with_channels(vec![channel.into()]);
            engine.publish(&tenant, event).await.unwrap().event.id
        }
    };
    let wanted = publish("order.filled", "BTC-USD").await;
    publish("order.filled", "ETH-USD").await;
    publish("position.closed", "BTC-USD").await;
    let also = publish("order.cancelled", "BTC-USD").await;
    assert_eq!(
        take_ids(&mut stream, 2).await,
        [wanted.to_string(), also.to_string()]
    );
    assert_quiet(&mut stream).await;
}

/// The seam, step by step: two publishes are stored but not yet answered (nor handed
/// to the feed) while a stream replays. The replay must not send them (the feed will,
/// in their turn), and nothing may be sent twice.
#[tokio::test]
async fn events_stored_but_not_yet_handed_on_cross_the_seam_once_and_in_order() {
    let hooked = Arc::new(HookedStorage::new(Arc::new(MemoryStorage::new())));
    let engine =
        herald::Engine::start(hooked.clone(), Arc::new(ScriptedTransport::new()), config())
            .await
            .unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    let publish = |n: u32| {
        let engine = engine.clone();
        let tenant = tenant.clone();
        async move {
            let event = NewEvent::new("order.filled", &format!("{{\"n\":{n}}}")).unwrap();
            engine.publish(&tenant, event).await.unwrap().event.id
        }
    };
    let first = publish(1).await;
    let second = publish(2).await;
    // The two publishes above passed the gate too: it counts every call.
    hooked.after_insert.close();
    let third = tokio::spawn(publish(3));
    hooked.after_insert.until_reached(3).await;
    let fourth = tokio::spawn(publish(4));
    hooked.after_insert.until_reached(4).await;

    let mut stream = engine
        .stream(&tenant, StreamFilter::default(), Some(&first))
        .await
        .unwrap();
    assert_eq!(take_ids(&mut stream, 1).await, [second.to_string()]);
    assert_quiet(&mut stream).await;

    hooked.after_insert.open();
    let third = third.await.unwrap();
    let fourth = fourth.await.unwrap();
    let fifth = publish(5).await;
    assert_eq!(
        take_ids(&mut stream, 3).await,
        [third.to_string(), fourth.to_string(), fifth.to_string()]
    );
    assert_quiet(&mut stream).await;
    engine.shutdown(Duration::from_secs(1)).await.unwrap();
}

/// Many publishers at once while streams start at different points of a backlog:
/// each stream gets exactly the stored events after its resume point, in storage
/// order (which is publish order), each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_while_publishers_run_loses_and_repeats_nothing() {
    let h = Harness::start(config()).await;
    let mut backlog = Vec::new();
    for n in 0..1200 {
        backlog.push(
            h.publish("order.filled", &format!("{{\"n\":{n}}}"))
                .await
                .event
                .id,
        );
    }
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let engine = h.engine.clone();
            let tenant = h.tenant.clone();
            tokio::spawn(async move {
                for n in 0..250 {
                    let data = format!("{{\"p\":{p},\"n\":{n}}}");
                    let event = NewEvent::new("order.filled", &data).unwrap();
                    engine.publish(&tenant, event).await.unwrap();
                }
            })
        })
        .collect();
    // Streams resuming deep in the backlog (a replay of several pages), near its
    // end, and at its last event, all while the publishers run.
    let mut streams = Vec::new();
    for after in [&backlog[10], &backlog[1100], &backlog[1199]] {
        let stream = h
            .engine
            .stream(&h.tenant, StreamFilter::default(), Some(after))
            .await
            .unwrap();
        streams.push((after.clone(), stream));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let stored = stored_ids(h.storage.as_ref(), &h.tenant).await;
    assert_eq!(stored.len(), 2200);
    for (after, mut stream) in streams {
        let start = stored.iter().position(|id| id == after.as_str()).unwrap() + 1;
        let expected = &stored[start..];
        let got = take_ids(&mut stream, expected.len()).await;
        assert_eq!(got, expected, "the stream after {after}");
        assert_quiet(&mut stream).await;
    }
}

/// A consumer that stops reading is closed with `Overflow` after what its buffer
/// holds; publishing and webhook delivery carry on meanwhile.
#[tokio::test]
async fn a_stalled_consumer_overflows_and_holds_up_nothing() {
    let mut cfg = config();
    cfg.stream_buffer = 5;
    let h = Harness::start(cfg).await;
    h.endpoint("orders", |_| {}).await;
    let mut stalled = h
        .engine
        .stream(&h.tenant, StreamFilter::default(), None)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..40 {
        ids.push(
            h.publish("order.filled", &format!("{{\"n\":{n}}}"))
                .await
                .event
                .id,
        );
    }
    assert!(
        h.transport.wait_for(40, WAIT).await,
        "every webhook went out"
    );
    let got = take_ids(&mut stalled, 5).await;
    let expected: Vec<String> = ids[..5].iter().map(EventId::to_string).collect();
    assert_eq!(got, expected);
    match tokio::time::timeout(WAIT, stalled.next()).await.unwrap() {
        Some(Err(StreamEnd::Overflow { buffer: 5 })) => {}
        other => panic!("expected the overflow, got {other:?}"),
    }
    assert!(stalled.next().await.is_none());
    // It resumes from the last event it received: the rest, nothing twice.
    let mut resumed = h
        .engine
        .stream(&h.tenant, StreamFilter::default(), Some(&ids[4]))
        .await
        .unwrap();
    let rest: Vec<String> = ids[5..].iter().map(EventId::to_string).collect();
    assert_eq!(take_ids(&mut resumed, 35).await, rest);
}

#[tokio::test]
async fn max_streams_and_unknown_resume_points_are_refused() {
    let mut cfg = config();
    cfg.tenants.max_streams = 2;
    let h = Harness::start(cfg).await;
    let open = |after: Option<EventId>| {
        let engine = h.engine.clone();
        let tenant = h.tenant.clone();
        async move {
            engine
                .stream(&tenant, StreamFilter::default(), after.as_ref())
                .await
        }
    };
    let one = open(None).await.unwrap();
    let _two = open(None).await.unwrap();
    match open(None).await {
        Err(Error::TooManyStreams { limit: 2, .. }) => {}
        other => panic!("expected TooManyStreams, got {other:?}"),
    }
    // Another tenant has its own count.
    let other = TenantId::parse("other").unwrap();
    h.engine
        .stream(&other, StreamFilter::default(), None)
        .await
        .unwrap();
    drop(one);
    let _three = open(None).await.unwrap();
    drop(_three);
    match open(Some(EventId::parse("evt_unknown").unwrap())).await {
        Err(Error::Invalid(invalid)) => assert_eq!(invalid.field, "after"),
        other => panic!("expected Invalid(after), got {other:?}"),
    }
}

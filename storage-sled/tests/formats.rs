//! The committed data directories of each format this build opens, read back
//! whole: every endpoint, event, delivery (in every state), attempt and health
//! record, the access records (an API key, a tenant's settings, catalog entries),
//! the tenants' endpoint counts, and every index over them. A change that moves a
//! byte of the format breaks these tests instead of the data directories in the
//! field.
//!
//! - `tests/fixtures/format-8.tar.gz`: the current format, with its keyring file
//!   (a key made for this fixture, protecting nothing else);
//! - `tests/fixtures/format-7.tar.gz`: the format before, whose endpoint records
//!   held their secrets and header values in the clear; opening it migrates it.
//!
//! A directory is written by `fixture` with fixed ids, times and secrets, so it
//! holds the same records whenever it is made again (the sled files themselves are
//! not byte for byte the same). To make the current one again, after a deliberate
//! change of format (with a new `FORMAT_VERSION`, and a new fixture file beside
//! these): `cargo test -p herald-storage-sled --test formats -- --ignored --exact
//! write_the_fixture`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use herald::ids::{AttemptId, DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::model::{
    ApiKey, Attempt, DeadReason, Delivery, DeliveryStatus, DisabledReason, Endpoint,
    EndpointHealth, Event, EventTypeEntry, KeyScope, Ordering, TenantSettings,
};
use herald::sealing::{Keyring, SealingKey};
use herald::signing::{Secret, SecretSet, SignatureScheme};
use herald::storage::{
    EventFilter, InsertEvent, Outcome, PageRequest, PendingKey, PendingOrder, ReplaceEndpoint,
    Storage,
};
use herald::time::Timestamp;
use herald::transport::ErrorClass;
use herald_storage_sled::{OpenError, SledStorage, FORMAT_VERSION, KEYRING_FILE};

/// The committed fixture of `format`: the data directory, as `format-N/` in a
/// gzipped tar.
fn archive(format: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/format-{format}.tar.gz"))
}

/// The directory in the archive of `format`.
fn archived_dir(format: u32) -> String {
    format!("format-{format}")
}

/// 2023-11-14T22:13:20Z.
const T: u64 = 1_700_000_000_000;

/// `T` plus `secs` seconds.
fn at(secs: u64) -> Timestamp {
    Timestamp(T + secs * 1000)
}

/// The ULID made at `ms` with `n` as its random part, in Crockford's base 32.
fn ulid(ms: u64, n: u128) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let value = (u128::from(ms) << 80) | n;
    (0..26)
        .map(|i| char::from(ALPHABET[((value >> (125 - 5 * i)) & 31) as usize]))
        .collect()
}

/// What the fixture holds, as the domain values written last.
struct Fixture {
    endpoints: Vec<Endpoint>,
    health: BTreeMap<EndpointId, EndpointHealth>,
    events: Vec<Event>,
    /// Each delivery as it stands, by id.
    deliveries: BTreeMap<DeliveryId, Delivery>,
    attempts: Vec<Attempt>,
    /// acme's one API key, touched once.
    key: ApiKey,
    /// acme's settings (globex has none).
    settings: TenantSettings,
    /// acme's catalog, in type order.
    event_types: Vec<EventTypeEntry>,
}

/// A secret, as stored (checked when it was set, not when read back).
fn secret(text: &str) -> Secret {
    Secret::parse(SignatureScheme::Hex, text).unwrap()
}

/// Endpoint `n` of `tenant` with default settings and a fixed id and secret.
fn endpoint(tenant: &str, n: u128) -> Endpoint {
    let id = EndpointId::parse(&format!("ep_{}", ulid(T, n))).unwrap();
    Endpoint {
        url: format!("https://example.com/hooks/{n}"),
        id,
        tenant: TenantId::parse(tenant).unwrap(),
        description: None,
        event_types: Vec::new(),
        channels: Vec::new(),
        active: true,
        disabled_reason: None,
        profile: "standard".into(),
        secrets: SecretSet::new(secret(&format!("fixture-secret-{n:04}"))),
        headers: BTreeMap::new(),
        ordering: Ordering::Unordered,
        max_in_flight: None,
        rate_limit: None,
        timeout_ms: None,
        retry_schedule_secs: None,
        created_at: Timestamp(T),
        updated_at: Timestamp(T),
        enabled_at: None,
        version: 1,
    }
}

/// Event `n` of `tenant` at `secs`, with a generated-looking id.
fn event(tenant: &str, n: u128, secs: u64, event_type: &str) -> Event {
    Event {
        id: EventId::parse(&format!("evt_{}", ulid(at(secs).0, n))).unwrap(),
        tenant: TenantId::parse(tenant).unwrap(),
        event_type: event_type.into(),
        channels: Vec::new(),
        created_at: at(secs),
        data: format!("{{\"n\":{n}}}").into(),
        deliveries: 0,
    }
}

/// The deliveries of `event` to `endpoints`, fresh, their ids made at its time.
fn deliveries(event: &Event, endpoints: &[&Endpoint]) -> Vec<Delivery> {
    (1u128..)
        .zip(endpoints)
        .map(|(n, endpoint)| {
            let id = DeliveryId::parse(&format!("dlv_{}", ulid(event.created_at.0, n))).unwrap();
            Delivery::with_id(
                id,
                event.id.clone(),
                event.tenant.clone(),
                endpoint.id.clone(),
                event.event_type.clone(),
                event.created_at,
            )
        })
        .collect()
}

/// Attempt number `number` of `delivery` at `secs`: a status, or an error class.
fn attempt(
    delivery: &Delivery,
    number: u32,
    secs: u64,
    answer: Result<u16, ErrorClass>,
) -> Attempt {
    let started_at = at(secs);
    Attempt {
        id: AttemptId::parse(&format!("att_{}", ulid(started_at.0, u128::from(number)))).unwrap(),
        tenant: delivery.tenant.clone(),
        endpoint_id: delivery.endpoint_id.clone(),
        delivery_id: delivery.id.clone(),
        event_id: delivery.event_id.clone(),
        event_type: delivery.event_type.clone(),
        attempt: number,
        started_at,
        duration_ms: 40 + u64::from(number),
        status: answer.ok(),
        error: answer.err(),
        response_body: match answer {
            Ok(status) => format!("status {status}"),
            Err(_) => String::new(),
        },
    }
}

/// `delivery` after an attempt at `secs` that answered `answer`, due again at
/// `next` (`None`: it succeeded).
fn after(
    delivery: &Delivery,
    secs: u64,
    answer: Result<u16, ErrorClass>,
    next: Option<u64>,
) -> Delivery {
    let mut changed = delivery.clone();
    changed.attempts += 1;
    changed.updated_at = at(secs);
    changed.last_status = answer.ok();
    changed.last_error = answer.err();
    match next {
        Some(next) => changed.next_attempt_at = Some(at(next)),
        None => {
            changed.status = DeliveryStatus::Succeeded;
            changed.next_attempt_at = None;
        }
    }
    changed
}

/// Writes the fixture's records into `s` and returns what it holds.
async fn fixture(s: &dyn Storage) -> Fixture {
    let a = endpoint("acme", 1);
    let mut b = Endpoint {
        description: Some("orders desk".into()),
        event_types: vec!["order.*".into(), "invoice.paid".into()],
        channels: vec!["eu".into()],
        profile: "timestamped".into(),
        headers: BTreeMap::from([("x-team".into(), "desk-7".into())]),
        ordering: Ordering::Fifo,
        max_in_flight: Some(1),
        rate_limit: Some(50),
        timeout_ms: Some(2_500),
        retry_schedule_secs: Some(vec![1, 10, 60]),
        ..endpoint("acme", 2)
    };
    let mut c = endpoint("globex", 3);
    for ep in [&a, &b, &c] {
        s.create_endpoint(ep).await.unwrap();
    }
    // b: its secret rotated, disabled and enabled again; c: disabled.
    let mut changed = b.clone();
    changed
        .secrets
        .rotate(secret("fixture-secret-rotated"), at(3600));
    changed.enabled_at = Some(at(2));
    changed.updated_at = at(2);
    changed.version = 2;
    assert_eq!(
        s.replace_endpoint(&changed, 1).await.unwrap(),
        ReplaceEndpoint::Replaced
    );
    b = changed;
    let mut disabled = c.clone();
    disabled.active = false;
    disabled.disabled_reason = Some(DisabledReason::Failing);
    disabled.updated_at = at(3);
    disabled.version = 2;
    assert_eq!(
        s.replace_endpoint(&disabled, 1).await.unwrap(),
        ReplaceEndpoint::Replaced
    );
    c = disabled;

    let mut events = Vec::new();
    let mut all = BTreeMap::new();
    let mut publish = |event: Event, to: &[&Endpoint]| {
        let made = deliveries(&event, to);
        let event = Event {
            deliveries: u32::try_from(made.len()).unwrap(),
            ..event
        };
        events.push(event.clone());
        for d in &made {
            all.insert(d.id.clone(), d.clone());
        }
        (event, made)
    };
    let mut published = Vec::new();
    for (n, secs) in (1..=5).zip([10, 11, 12, 13, 14]) {
        published.push(publish(event("acme", n, secs, "order.filled"), &[&a, &b]));
    }
    let mut keyed = event("acme", 6, 15, "invoice.paid");
    keyed.id = EventId::parse("order:42").unwrap();
    keyed.channels = vec!["eu".into()];
    published.push(publish(keyed, &[]));
    // Large enough for sled to store it as a blob file.
    let mut large = event("acme", 7, 16, "report.ready");
    large.data = format!("{{\"rows\":[{}0]}}", "1234567890,".repeat(20_000)).into();
    published.push(publish(large, &[]));
    published.push(publish(event("globex", 8, 17, "order.filled"), &[&c]));
    for (event, made) in &published {
        assert_eq!(
            s.insert_event(event, made).await.unwrap(),
            InsertEvent::Inserted
        );
    }
    let d = |event: usize, to: usize| published[event].1[to].clone();

    // a: one succeeded, one dead after its retries, one retried on a timeout.
    let mut attempts = Vec::new();
    let mut outcomes = Vec::new();
    let mut record = |delivery: Delivery, attempt: Option<Attempt>| {
        if let Some(attempt) = &attempt {
            attempts.push(attempt.clone());
        }
        all.insert(delivery.id.clone(), delivery.clone());
        outcomes.push(Outcome { delivery, attempt });
    };
    record(
        after(&d(0, 0), 20, Ok(200), None),
        Some(attempt(&d(0, 0), 1, 20, Ok(200))),
    );
    let mut exhausted = after(&d(1, 0), 21, Ok(500), Some(90));
    exhausted.kill(DeadReason::RetriesExhausted, at(21));
    record(exhausted, Some(attempt(&d(1, 0), 1, 21, Ok(500))));
    record(
        after(&d(4, 0), 22, Err(ErrorClass::Timeout), Some(80)),
        Some(attempt(&d(4, 0), 1, 22, Err(ErrorClass::Timeout))),
    );
    let a_health = EndpointHealth {
        consecutive_failures: 1,
        failing_since: Some(at(22)),
        succeeded: 1,
        failed_attempts: 2,
        last_success_at: Some(at(20)),
        last_failure_at: Some(at(22)),
        last_status: None,
        last_error: Some(ErrorClass::Timeout),
    };
    s.record_outcomes(&a.id, &outcomes, &a_health)
        .await
        .unwrap();

    // b (fifo): its head retried twice, the rest waiting.
    let once = after(&d(0, 1), 23, Ok(503), Some(24));
    let twice = after(&once, 24, Ok(503), Some(40));
    let b_health = EndpointHealth {
        consecutive_failures: 2,
        failing_since: Some(at(23)),
        failed_attempts: 2,
        last_failure_at: Some(at(24)),
        last_status: Some(503),
        ..EndpointHealth::default()
    };
    for (before, now, number, secs) in [(&d(0, 1), &once, 1, 23), (&once, &twice, 2, 24)] {
        let tried = attempt(before, number, secs, Ok(503));
        s.record_attempt(&tried, now, &b_health).await.unwrap();
        attempts.push(tried);
        all.insert(now.id.clone(), now.clone());
    }

    // a: one killed when it was disabled, then replayed by hand; c's one dead.
    let mut replayed = d(3, 0);
    replayed.kill(DeadReason::EndpointDisabled, at(25));
    s.update_deliveries(std::slice::from_ref(&replayed))
        .await
        .unwrap();
    replayed.requeue(at(30));
    let mut c_dead = d(7, 0);
    c_dead.kill(DeadReason::EndpointDisabled, at(26));
    s.update_deliveries(&[replayed.clone(), c_dead.clone()])
        .await
        .unwrap();
    for delivery in [replayed, c_dead] {
        all.insert(delivery.id.clone(), delivery);
    }

    // The access records: a key (used once since), acme's settings, its catalog.
    let acme = a.tenant.clone();
    let mut key = ApiKey {
        id: KeyId::parse(&format!("key_{}", ulid(T, 1))).unwrap(),
        tenant: acme.clone(),
        scope: KeyScope::Publish,
        description: Some("ci publisher".into()),
        token_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        created_at: at(4),
        last_used_at: None,
    };
    s.create_key(&key).await.unwrap();
    s.touch_keys(&[(key.id.clone(), at(27))]).await.unwrap();
    key.last_used_at = Some(at(27));
    let settings = TenantSettings {
        default_profile: Some("timestamped".into()),
        max_endpoints: Some(20),
        publish_rate: Some(0),
        notification_url: Some("https://ops.example.com/herald".into()),
        notification_types: vec!["endpoint.disabled".into()],
        strict_types: true,
        notification_endpoint: Some(a.id.clone()),
        updated_at: at(5),
    };
    s.put_tenant_settings(&acme, &settings).await.unwrap();
    let event_types = vec![
        EventTypeEntry {
            tenant: acme.clone(),
            event_type: "invoice.paid".into(),
            description: None,
            example: None,
            schema: None,
            updated_at: at(6),
        },
        EventTypeEntry {
            tenant: acme,
            event_type: "order.filled".into(),
            description: Some("an order filled".into()),
            example: Some("{\"n\":1}".into()),
            schema: Some("{\"type\":\"object\"}".into()),
            updated_at: at(7),
        },
    ];
    for entry in event_types.iter().rev() {
        s.put_event_type(entry).await.unwrap();
    }

    Fixture {
        endpoints: vec![a.clone(), b.clone(), c],
        health: BTreeMap::from([(a.id, a_health), (b.id, b_health)]),
        events,
        deliveries: all,
        attempts,
        key,
        settings,
        event_types,
    }
}

/// Checks that `s` holds exactly the fixture: every record, through every read.
async fn assert_holds(s: &dyn Storage, fixture: &Fixture) {
    let mut endpoints = fixture.endpoints.clone();
    endpoints.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(s.all_endpoints().await.unwrap(), endpoints);
    let mut with_pending = Vec::new();
    for ep in &fixture.endpoints {
        assert_eq!(
            s.get_endpoint(&ep.tenant, &ep.id).await.unwrap().as_ref(),
            Some(ep)
        );
        let listed = s
            .list_endpoints(&ep.tenant, &PageRequest::first(10))
            .await
            .unwrap()
            .items;
        assert!(listed.contains(ep));
        assert_eq!(
            s.endpoint_health(&ep.id).await.unwrap(),
            fixture.health.get(&ep.id).cloned().unwrap_or_default(),
            "health of {}",
            ep.id
        );

        let mine: Vec<&Delivery> = fixture
            .deliveries
            .values()
            .filter(|d| d.endpoint_id == ep.id)
            .collect();
        let by_id: Vec<Delivery> = mine
            .iter()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .map(|d| (*d).clone())
            .collect();
        let mut by_due = by_id.clone();
        by_due.sort_by_key(|d| PendingKey::of(d, PendingOrder::Due));
        let dead: Vec<Delivery> = mine
            .iter()
            .rev()
            .filter(|d| d.status == DeliveryStatus::Dead)
            .map(|d| (*d).clone())
            .collect();
        for (order, expected) in [
            (PendingOrder::Publish, &by_id),
            (PendingOrder::Due, &by_due),
        ] {
            let read = s
                .pending_deliveries(&ep.id, order, None, 100)
                .await
                .unwrap();
            assert_eq!(&read, expected, "{order:?} of {}", ep.id);
        }
        let counts = s.delivery_counts(&ep.id).await.unwrap();
        assert_eq!(
            (counts.pending, counts.dead),
            (by_id.len() as u64, dead.len() as u64)
        );
        let listed_dead = s
            .list_dead_letters(&ep.tenant, &ep.id, &PageRequest::first(10))
            .await
            .unwrap()
            .items;
        assert_eq!(listed_dead, dead);
        if !by_id.is_empty() {
            with_pending.push(ep.id.clone());
        }

        let mut attempts: Vec<Attempt> = fixture
            .attempts
            .iter()
            .filter(|a| a.endpoint_id == ep.id)
            .cloned()
            .collect();
        attempts.sort_by(|x, y| (y.started_at, &y.id).cmp(&(x.started_at, &x.id)));
        let listed = s
            .list_attempts(&ep.tenant, &ep.id, None, &PageRequest::first(10))
            .await
            .unwrap()
            .items;
        assert_eq!(listed, attempts, "attempts of {}", ep.id);
    }
    with_pending.sort();
    assert_eq!(s.endpoints_with_pending().await.unwrap(), with_pending);

    for event in &fixture.events {
        assert_eq!(
            s.get_event(&event.tenant, &event.id)
                .await
                .unwrap()
                .as_ref(),
            Some(event)
        );
        let of_event: Vec<Delivery> = fixture
            .deliveries
            .values()
            .filter(|d| d.event_id == event.id)
            .cloned()
            .collect();
        assert_eq!(
            s.event_deliveries(&event.tenant, &event.id, &PageRequest::first(250))
                .await
                .unwrap()
                .items,
            of_event
        );
    }
    for tenant in ["acme", "globex"] {
        let tenant = TenantId::parse(tenant).unwrap();
        let mut events: Vec<&Event> = fixture
            .events
            .iter()
            .filter(|e| e.tenant == tenant)
            .collect();
        events.sort_by(|x, y| (y.created_at, &y.id).cmp(&(x.created_at, &x.id)));
        let listed = s
            .list_events(&tenant, &EventFilter::default(), &PageRequest::first(100))
            .await
            .unwrap()
            .items;
        assert_eq!(listed.iter().collect::<Vec<_>>(), events);
    }
    for delivery in fixture.deliveries.values() {
        assert_eq!(
            s.get_delivery(&delivery.tenant, &delivery.id)
                .await
                .unwrap()
                .as_ref(),
            Some(delivery)
        );
    }
    assert_eq!(
        s.last_delivery_id().await.unwrap().as_ref(),
        fixture.deliveries.keys().next_back()
    );

    let (acme, globex) = (
        fixture.key.tenant.clone(),
        TenantId::parse("globex").unwrap(),
    );
    for tenant in [&acme, &globex] {
        let count = fixture
            .endpoints
            .iter()
            .filter(|e| &e.tenant == tenant)
            .count();
        assert_eq!(
            s.count_endpoints(tenant).await.unwrap(),
            count as u64,
            "{tenant}"
        );
    }
    assert_eq!(
        s.key_by_hash(&fixture.key.token_hash)
            .await
            .unwrap()
            .as_ref(),
        Some(&fixture.key)
    );
    assert_eq!(
        s.list_keys(&acme, &PageRequest::first(10))
            .await
            .unwrap()
            .items,
        vec![fixture.key.clone()]
    );
    assert_eq!(
        s.tenant_settings(&acme).await.unwrap().as_ref(),
        Some(&fixture.settings)
    );
    assert_eq!(s.tenant_settings(&globex).await.unwrap(), None);
    assert_eq!(
        s.list_event_types(&acme, &PageRequest::first(10))
            .await
            .unwrap()
            .items,
        fixture.event_types
    );
    for entry in &fixture.event_types {
        assert_eq!(
            s.event_type(&acme, &entry.event_type)
                .await
                .unwrap()
                .as_ref(),
            Some(entry)
        );
    }
    assert!(s
        .list_event_types(&globex, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
}

/// Unpacks the committed fixture of `format` under `into`; returns the data
/// directory.
fn unpack(format: u32, into: &Path) -> PathBuf {
    let file = std::fs::File::open(archive(format)).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(into)
        .unwrap();
    into.join(archived_dir(format))
}

/// The fixture's records, written now to a store that is thrown away: only the
/// domain values are kept.
async fn expected() -> Fixture {
    let scratch = SledStorage::temporary().unwrap();
    fixture(&scratch).await
}

/// The texts of the fixture that a data directory must not hold in the clear: its
/// endpoints' secrets and header values.
fn clear_texts(fixture: &Fixture) -> Vec<String> {
    let mut texts = Vec::new();
    for endpoint in &fixture.endpoints {
        texts.push(endpoint.secrets.current.expose().to_owned());
        texts.extend(
            endpoint
                .secrets
                .previous
                .iter()
                .map(|s| s.expose().to_owned()),
        );
        texts.extend(endpoint.headers.values().cloned());
    }
    texts
}

/// Whether any endpoint record (`E` key) of the closed store at `dir` holds one of
/// `texts` in the clear.
fn endpoint_records_hold(dir: &Path, texts: &[String]) -> Vec<String> {
    let db = sled::open(dir).unwrap();
    let mut found = Vec::new();
    for entry in db.scan_prefix(b"E") {
        let (_, value) = entry.unwrap();
        for text in texts {
            if value.windows(text.len()).any(|w| w == text.as_bytes()) {
                found.push(text.clone());
            }
        }
    }
    found
}

/// Writes the fixture anew (see the module docs). It checks what it wrote before
/// packing it, and prints the sizes.
#[tokio::test]
#[ignore = "writes tests/fixtures/format-N.tar.gz; run by hand after a deliberate format change"]
async fn write_the_fixture() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join(archived_dir(FORMAT_VERSION));
    {
        let s = SledStorage::open(&dir).unwrap();
        let fixture = fixture(&s).await;
        assert_holds(&s, &fixture).await;
        s.flush().await.unwrap();
    }
    let raw: u64 = walk(&dir).iter().map(|f| f.metadata().unwrap().len()).sum();
    let path = archive(FORMAT_VERSION);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let out = std::fs::File::create(&path).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        out,
        flate2::Compression::best(),
    ));
    tar.mode(tar::HeaderMode::Deterministic);
    tar.append_dir_all(archived_dir(FORMAT_VERSION), &dir)
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let packed = std::fs::metadata(&path).unwrap().len();
    println!("format {FORMAT_VERSION}: {raw} B of sled files, {packed} B packed");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn the_committed_format_8_directory_reads_back_whole() {
    assert_eq!(FORMAT_VERSION, 8, "a new format needs a fixture of its own");
    let work = tempfile::tempdir().unwrap();
    let dir = unpack(8, work.path());
    let expected = expected().await;
    assert!(
        dir.join(KEYRING_FILE).exists(),
        "the fixture keeps its keyring"
    );
    {
        let s = SledStorage::open(&dir).unwrap();
        assert_holds(&s, &expected).await;
    }
    assert_eq!(
        endpoint_records_hold(&dir, &clear_texts(&expected)),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_committed_format_7_directory_is_sealed_on_open_and_reads_back_whole() {
    let work = tempfile::tempdir().unwrap();
    let dir = unpack(7, work.path());
    let expected = expected().await;
    let texts = clear_texts(&expected);
    assert!(
        !endpoint_records_hold(&dir, &texts).is_empty(),
        "format 7 held them in the clear"
    );
    {
        let s = SledStorage::open(&dir).unwrap();
        assert_holds(&s, &expected).await;
    }
    assert_eq!(endpoint_records_hold(&dir, &texts), Vec::<String>::new());
    // It is format 8 now, and reads back whole again.
    let db = sled::open(&dir).unwrap();
    assert_eq!(db.get(b"V").unwrap().unwrap().as_ref(), 8u32.to_be_bytes());
    drop(db);
    let s = SledStorage::open(&dir).unwrap();
    assert_holds(&s, &expected).await;
}

#[test]
fn the_committed_directory_with_another_version_is_incompatible() {
    let work = tempfile::tempdir().unwrap();
    let dir = unpack(FORMAT_VERSION, work.path());
    {
        let db = sled::open(&dir).unwrap();
        db.insert(b"V", &(FORMAT_VERSION + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    match SledStorage::open(&dir) {
        Err(OpenError::IncompatibleFormat {
            found, expected, ..
        }) => {
            assert_eq!(found, (FORMAT_VERSION + 1).to_string());
            assert_eq!(expected, FORMAT_VERSION);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_wrong_or_missing_key_stops_the_open() {
    let work = tempfile::tempdir().unwrap();
    let dir = unpack(FORMAT_VERSION, work.path());
    let keyring =
        Keyring::parse(&std::fs::read_to_string(dir.join(KEYRING_FILE)).unwrap()).unwrap();
    let id = keyring.current().id().to_owned();
    // Another key under the same id.
    let impostor = Keyring::parse(&format!("{id}:{}", "A".repeat(43) + "=")).unwrap();
    match SledStorage::open_with_keyring(&dir, impostor) {
        Err(e @ OpenError::WrongKey { .. }) => {
            assert!(e.to_string().contains("wrong encryption key"), "{e}");
            assert!(e.to_string().contains(&id), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // A keyring without the store's key.
    match SledStorage::open_with_keyring(&dir, Keyring::generate()) {
        Err(OpenError::MissingKey { id: missing, .. }) => assert_eq!(missing, id),
        other => panic!("{other:?}"),
    }
    // A keyring file that does not parse names the file, never a key.
    std::fs::write(dir.join(KEYRING_FILE), "k1:not-base64\n").unwrap();
    match SledStorage::open(&dir) {
        Err(e @ OpenError::Keyring { .. }) => {
            assert!(e.to_string().contains(KEYRING_FILE), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rotating_the_keyring_file_seals_everything_under_the_new_key_alone() {
    let work = tempfile::tempdir().unwrap();
    let dir = unpack(FORMAT_VERSION, work.path());
    let old = Keyring::parse(&std::fs::read_to_string(dir.join(KEYRING_FILE)).unwrap()).unwrap();
    let (new_id, resealed) = SledStorage::rotate_keyring_file(&dir).unwrap();
    let expected = expected().await;
    assert_eq!(resealed, expected.endpoints.len());
    let now = Keyring::parse(&std::fs::read_to_string(dir.join(KEYRING_FILE)).unwrap()).unwrap();
    assert_eq!(now.keys().len(), 1);
    assert_eq!(now.current().id(), new_id);
    assert_ne!(new_id, old.current().id());
    {
        let s = SledStorage::open(&dir).unwrap();
        assert_holds(&s, &expected).await;
    }
    // The old key alone no longer opens it.
    match SledStorage::open_with_keyring(&dir, old) {
        Err(OpenError::MissingKey { id, .. }) => assert_eq!(id, new_id),
        other => panic!("{other:?}"),
    }
    // Resealing under a configured keyring that keeps the current key as a second one.
    let configured = now.clone().with_current(SealingKey::generate());
    assert_eq!(
        SledStorage::reseal(&dir, &configured).unwrap(),
        expected.endpoints.len()
    );
    let s = SledStorage::open_with_keyring(&dir, configured.retain(|_| false)).unwrap();
    assert_holds(&s, &expected).await;
}

//! Order-preserving key encoding and the one function per key kind of the keyspace.
//!
//! A key is one prefix byte (its kind) followed by components. Each component is
//! encoded so that comparing encoded keys byte by byte gives the same order as
//! comparing the component tuples:
//! - text: its bytes with `0x00` escaped as `0x00 0xFF`, then the terminator
//!   `0x00 0x00`; no encoded text is a prefix of another, and a shorter text sorts
//!   before its extensions;
//! - `u64`: 8 bytes big-endian.
//!
//! So the keys sharing leading components form one contiguous range, scanned with a
//! prefix. Pure functions, no I/O.

use herald::ids::{DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::storage::PendingKey;
use herald::time::Timestamp;

/// The prefix byte of each kind of key (see the keyspace in the crate docs).
pub(crate) mod kind {
    /// `V`: the format version.
    pub(crate) const VERSION: u8 = b'V';
    /// `E` endpoint id → endpoint.
    pub(crate) const ENDPOINT: u8 = b'E';
    /// `e` tenant, endpoint id → endpoint id.
    pub(crate) const TENANT_ENDPOINT: u8 = b'e';
    /// `H` endpoint id → health.
    pub(crate) const HEALTH: u8 = b'H';
    /// `C` endpoint id → pending and dead counts.
    pub(crate) const COUNTS: u8 = b'C';
    /// `W` endpoint id → endpoint id, while it has pending deliveries.
    pub(crate) const WITH_PENDING: u8 = b'W';
    /// `N` tenant, event id → event and its deliveries' ids and endpoints.
    pub(crate) const EVENT: u8 = b'N';
    /// `n` tenant, created_at, event id → event id.
    pub(crate) const TENANT_EVENT: u8 = b'n';
    /// `D` delivery id → delivery, once it changed after its publish (an attempt,
    /// a replay, a kill): its record from then on, in every state.
    pub(crate) const DELIVERY: u8 = b'D';
    /// `Q` endpoint id, bucket, chunk number → the deliveries to that endpoint
    /// published in one commit group whose ids share the bucket (a pending chunk).
    pub(crate) const PUBLISHED: u8 = b'Q';
    /// `P` endpoint id, due time, delivery id → nothing, while the delivery is
    /// pending with its record under `D` (retried or replayed).
    pub(crate) const PENDING: u8 = b'P';
    /// `X` endpoint id, delivery id → delivery id, while dead.
    pub(crate) const DEAD: u8 = b'X';
    /// `A` endpoint id, newest started_at, chunk number → the attempts to that
    /// endpoint recorded in one commit group (a chunk, see `records`).
    pub(crate) const ATTEMPT: u8 = b'A';
    /// `S`: the last chunk number used.
    pub(crate) const CHUNK_NUMBER: u8 = b'S';
    /// `L`: the largest delivery id ever written.
    pub(crate) const LAST_DELIVERY: u8 = b'L';
    /// `M` tenant → how many endpoints it has.
    pub(crate) const ENDPOINT_COUNT: u8 = b'M';
    /// `K` key id → API key.
    pub(crate) const API_KEY: u8 = b'K';
    /// `k` tenant, key id → key id.
    pub(crate) const TENANT_KEY: u8 = b'k';
    /// `h` token hash → key id.
    pub(crate) const KEY_HASH: u8 = b'h';
    /// `T` tenant → its settings.
    pub(crate) const TENANT_SETTINGS: u8 = b'T';
    /// `Y` tenant, event type → catalog entry.
    pub(crate) const EVENT_TYPE: u8 = b'Y';
    /// `Z` sealing key id → a check value sealed under that key.
    pub(crate) const SEALING_CHECK: u8 = b'Z';
}

/// A key under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key(Vec<u8>);

impl Key {
    /// A key of kind `prefix` with no components yet.
    pub(crate) fn new(prefix: u8) -> Self {
        let mut bytes = Vec::with_capacity(48);
        bytes.push(prefix);
        Self(bytes)
    }

    /// Appends a text component.
    pub(crate) fn text(mut self, text: &str) -> Self {
        for byte in text.bytes() {
            if byte == 0 {
                self.0.extend_from_slice(&[0x00, 0xFF]);
            } else {
                self.0.push(byte);
            }
        }
        self.0.extend_from_slice(&[0x00, 0x00]);
        self
    }

    /// Appends a `u64` component.
    pub(crate) fn number(mut self, n: u64) -> Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// The encoded key.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` when
/// no such key exists (the prefix is all `0xFF`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `V`.
pub(crate) fn version() -> Vec<u8> {
    vec![kind::VERSION]
}

/// `Z` sealing key id.
pub(crate) fn sealing_check(key_id: &str) -> Vec<u8> {
    Key::new(kind::SEALING_CHECK).text(key_id).into_bytes()
}

/// The sealing key id of a `Z` key (key ids hold no `0x00`).
pub(crate) fn sealing_check_id(key: &[u8]) -> Option<String> {
    let id = key
        .strip_prefix(&[kind::SEALING_CHECK])?
        .strip_suffix(&[0, 0])?;
    String::from_utf8(id.to_vec()).ok()
}

/// `E` endpoint.
pub(crate) fn endpoint(id: &EndpointId) -> Vec<u8> {
    Key::new(kind::ENDPOINT).text(id.as_str()).into_bytes()
}

/// `e` tenant, endpoint.
pub(crate) fn tenant_endpoint(tenant: &TenantId, id: &EndpointId) -> Vec<u8> {
    Key::new(kind::TENANT_ENDPOINT)
        .text(tenant.as_str())
        .text(id.as_str())
        .into_bytes()
}

/// Prefix of a tenant's `e` keys.
pub(crate) fn tenant_endpoints(tenant: &TenantId) -> Vec<u8> {
    Key::new(kind::TENANT_ENDPOINT)
        .text(tenant.as_str())
        .into_bytes()
}

/// `M` tenant.
pub(crate) fn endpoint_count(tenant: &TenantId) -> Vec<u8> {
    Key::new(kind::ENDPOINT_COUNT)
        .text(tenant.as_str())
        .into_bytes()
}

/// `H` endpoint.
pub(crate) fn health(id: &EndpointId) -> Vec<u8> {
    Key::new(kind::HEALTH).text(id.as_str()).into_bytes()
}

/// `C` endpoint.
pub(crate) fn counts(id: &EndpointId) -> Vec<u8> {
    Key::new(kind::COUNTS).text(id.as_str()).into_bytes()
}

/// `W` endpoint.
pub(crate) fn with_pending(id: &EndpointId) -> Vec<u8> {
    Key::new(kind::WITH_PENDING).text(id.as_str()).into_bytes()
}

/// `N` tenant, event.
pub(crate) fn event(tenant: &TenantId, id: &EventId) -> Vec<u8> {
    Key::new(kind::EVENT)
        .text(tenant.as_str())
        .text(id.as_str())
        .into_bytes()
}

/// Prefix of a tenant's `n` keys.
pub(crate) fn tenant_events(tenant: &TenantId) -> Key {
    Key::new(kind::TENANT_EVENT).text(tenant.as_str())
}

/// `n` tenant, created_at, event.
pub(crate) fn tenant_event(tenant: &TenantId, created_at: Timestamp, id: &EventId) -> Vec<u8> {
    tenant_events(tenant)
        .number(created_at.0)
        .text(id.as_str())
        .into_bytes()
}

/// The `u64` component that starts at byte `at` of `key` (the creation time of an
/// `n` key, after its tenant prefix), if the key is long enough.
pub(crate) fn number_at(key: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = key.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// `D` delivery.
pub(crate) fn delivery(id: &DeliveryId) -> Vec<u8> {
    delivery_text(id.as_str())
}

/// `D` delivery, from the id's text as stored (a chunk entry's id is not parsed to
/// find its record).
pub(crate) fn delivery_text(id: &str) -> Vec<u8> {
    Key::new(kind::DELIVERY).text(id).into_bytes()
}

/// How many characters of a delivery id name its bucket: `dlv_` and the first 9 of
/// its ULID, whose first 10 encode the millisecond it was made in, 5 bits each. So
/// a bucket holds the ids made in one span of 32 ms, and buckets sort as their ids
/// do.
const BUCKET_CHARS: usize = 4 + 9;

/// `Q` endpoint, bucket: the prefix of the pending chunks that may hold delivery
/// `id` of `endpoint`.
pub(crate) fn published_bucket(endpoint: &EndpointId, id: &DeliveryId) -> Vec<u8> {
    let id = id.as_str();
    let bucket = id.get(..BUCKET_CHARS).unwrap_or(id);
    Key::new(kind::PUBLISHED)
        .text(endpoint.as_str())
        .text(bucket)
        .into_bytes()
}

/// The first time a ULID cannot carry (48 bits of milliseconds, in the year 10889).
const ULID_TIME_END: u64 = 1 << 48;

/// Crockford's base 32, the alphabet of ULIDs.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `Q` endpoint, bucket: the prefix of the pending chunks of `endpoint` holding
/// the ids made at `time` (ms), or `None` past the last time a ULID carries. A
/// ULID's first 10 characters are its 48-bit time, 3 bits then 5 per character, so
/// its first 9 (the bucket's) are the time's top 43 bits: `time >> 5`.
pub(crate) fn published_bucket_at(endpoint: &EndpointId, time: Timestamp) -> Option<Vec<u8>> {
    if time.0 >= ULID_TIME_END {
        return None;
    }
    let top = time.0 >> 5;
    let mut text = [0u8; BUCKET_CHARS];
    text[..4].copy_from_slice(b"dlv_");
    for (i, char) in text[4..].iter_mut().enumerate() {
        let shift = 40 - 5 * i;
        // Masked to 5 bits: always an index into the alphabet.
        *char = CROCKFORD[((top >> shift) & 0x1f) as usize];
    }
    let text = std::str::from_utf8(&text).expect("the alphabet and prefix are ASCII");
    Some(
        Key::new(kind::PUBLISHED)
            .text(endpoint.as_str())
            .text(text)
            .into_bytes(),
    )
}

/// Prefix of an endpoint's `Q` keys.
pub(crate) fn published_of(endpoint: &EndpointId) -> Vec<u8> {
    Key::new(kind::PUBLISHED)
        .text(endpoint.as_str())
        .into_bytes()
}

/// A pending chunk's key: its bucket (`published_bucket`) and its number.
pub(crate) fn published_chunk(bucket: &[u8], number: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(bucket.len() + 8);
    key.extend_from_slice(bucket);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The bucket of a pending chunk's key (all but its number).
pub(crate) fn bucket_of_chunk(key: &[u8]) -> &[u8] {
    &key[..key.len().saturating_sub(8)]
}

/// `P` endpoint, due, delivery: a changed pending delivery, due at `due`.
pub(crate) fn pending(endpoint: &EndpointId, due: Timestamp, id: &DeliveryId) -> Vec<u8> {
    Key::new(kind::PENDING)
        .text(endpoint.as_str())
        .number(due.0)
        .text(id.as_str())
        .into_bytes()
}

/// The `P` key of `from` under `endpoint`: where a due-order read starts.
pub(crate) fn pending_at(endpoint: &EndpointId, from: &PendingKey) -> Vec<u8> {
    pending(endpoint, from.due, &from.id)
}

/// Prefix of an endpoint's `P` keys.
pub(crate) fn pending_of(endpoint: &EndpointId) -> Vec<u8> {
    Key::new(kind::PENDING).text(endpoint.as_str()).into_bytes()
}

/// `X` endpoint, delivery.
pub(crate) fn dead(endpoint: &EndpointId, id: &DeliveryId) -> Vec<u8> {
    Key::new(kind::DEAD)
        .text(endpoint.as_str())
        .text(id.as_str())
        .into_bytes()
}

/// Prefix of an endpoint's `X` keys.
pub(crate) fn dead_of(endpoint: &EndpointId) -> Vec<u8> {
    Key::new(kind::DEAD).text(endpoint.as_str()).into_bytes()
}

/// A chunk's key: a log's prefix (`attempts_of`), the newest start time in the
/// chunk, the chunk's number. Chunks sort by their newest attempt, so everything
/// in the chunks after a key (in a newest-first scan) started no later than it.
pub(crate) fn chunk(log: &[u8], newest: Timestamp, number: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(log.len() + 16);
    key.extend_from_slice(log);
    key.extend_from_slice(&newest.0.to_be_bytes());
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The newest start time and the number of a chunk's key (`chunk`).
pub(crate) fn chunk_position(key: &[u8]) -> Option<(u64, u64)> {
    let (group, newest) = group_and_number(key)?;
    if key.len() != group.len() + 16 {
        return None;
    }
    let number = key.get(group.len() + 8..)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(number);
    Some((newest, u64::from_be_bytes(word)))
}

/// `S`.
pub(crate) fn chunk_number() -> Vec<u8> {
    vec![kind::CHUNK_NUMBER]
}

/// `L`.
pub(crate) fn last_delivery() -> Vec<u8> {
    vec![kind::LAST_DELIVERY]
}

/// `K` key.
pub(crate) fn api_key(id: &KeyId) -> Vec<u8> {
    Key::new(kind::API_KEY).text(id.as_str()).into_bytes()
}

/// `k` tenant, key.
pub(crate) fn tenant_key(tenant: &TenantId, id: &KeyId) -> Vec<u8> {
    Key::new(kind::TENANT_KEY)
        .text(tenant.as_str())
        .text(id.as_str())
        .into_bytes()
}

/// Prefix of a tenant's `k` keys.
pub(crate) fn tenant_keys(tenant: &TenantId) -> Vec<u8> {
    Key::new(kind::TENANT_KEY)
        .text(tenant.as_str())
        .into_bytes()
}

/// `h` token hash.
pub(crate) fn key_hash(token_hash: &str) -> Vec<u8> {
    Key::new(kind::KEY_HASH).text(token_hash).into_bytes()
}

/// `T` tenant.
pub(crate) fn tenant_settings(tenant: &TenantId) -> Vec<u8> {
    Key::new(kind::TENANT_SETTINGS)
        .text(tenant.as_str())
        .into_bytes()
}

/// `Y` tenant, event type.
pub(crate) fn event_type(tenant: &TenantId, event_type: &str) -> Vec<u8> {
    Key::new(kind::EVENT_TYPE)
        .text(tenant.as_str())
        .text(event_type)
        .into_bytes()
}

/// Prefix of a tenant's `Y` keys.
pub(crate) fn event_types(tenant: &TenantId) -> Vec<u8> {
    Key::new(kind::EVENT_TYPE)
        .text(tenant.as_str())
        .into_bytes()
}

/// Prefix of an endpoint's `A` keys.
pub(crate) fn attempts_of(endpoint: &EndpointId) -> Vec<u8> {
    Key::new(kind::ATTEMPT).text(endpoint.as_str()).into_bytes()
}

/// For a key of the form prefix byte, text, `u64`, ...: the key's bytes up to the end
/// of the text (the group all its keys share) and the number after it. `None` for a
/// key of another form.
pub(crate) fn group_and_number(key: &[u8]) -> Option<(&[u8], u64)> {
    let end = first_text_end(key)?;
    let group = key.get(..end)?;
    let number = key.get(end..end + 8)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(number);
    Some((group, u64::from_be_bytes(word)))
}

/// The due time and the delivery id's text in a `P` key (endpoint, due, delivery).
/// Ids hold no `0x00`, so the text is the bytes before the terminator.
pub(crate) fn pending_entry(key: &[u8]) -> Option<(u64, &[u8])> {
    let (_, due) = group_and_number(key)?;
    let start = first_text_end(key)? + 8;
    let id = key.get(start..key.len().checked_sub(2)?)?;
    Some((due, id))
}

/// For a key of the form prefix byte, text, ...: where the text's terminator ends.
fn first_text_end(key: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i + 1 < key.len() {
        match (key[i], key[i + 1]) {
            (0x00, 0x00) => return Some(i + 2),
            (0x00, _) => i += 2,
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald::ids::{DeliveryId, EndpointId, KeyId};
    use proptest::prelude::*;

    fn pair(a: &str, n: u64, b: &str) -> Vec<u8> {
        Key::new(b'k').text(a).number(n).text(b).into_bytes()
    }

    proptest! {
        #[test]
        fn encoding_preserves_tuple_order(
            a1 in "[\\x00-\\x03a-c]{0,4}", n1 in 0u64..4, b1 in "[\\x00a-b]{0,3}",
            a2 in "[\\x00-\\x03a-c]{0,4}", n2 in 0u64..4, b2 in "[\\x00a-b]{0,3}",
        ) {
            let tuples = (&a1, n1, &b1).cmp(&(&a2, n2, &b2));
            let keys = pair(&a1, n1, &b1).cmp(&pair(&a2, n2, &b2));
            prop_assert_eq!(tuples, keys);
        }

        #[test]
        fn a_component_prefix_covers_exactly_its_keys(
            a1 in "[\\x00-\\x02a-b]{0,4}", a2 in "[\\x00-\\x02a-b]{0,4}", n in any::<u64>(),
        ) {
            let prefix = Key::new(b'k').text(&a1).into_bytes();
            let key = Key::new(b'k').text(&a2).number(n).into_bytes();
            prop_assert_eq!(key.starts_with(&prefix), a1 == a2);
            let end = prefix_end(&prefix).unwrap();
            let inside = key >= prefix && key < end;
            prop_assert_eq!(inside, a1 == a2);
        }
    }

    #[test]
    fn text_escapes_nul_and_terminates() {
        assert_eq!(Key::new(b'k').text("a").into_bytes(), b"ka\0\0");
        assert_eq!(Key::new(b'k').text("a\0b").into_bytes(), b"ka\0\xffb\0\0");
        assert_eq!(
            Key::new(b'k').number(258).into_bytes(),
            b"k\0\0\0\0\0\0\x01\x02"
        );
    }

    #[test]
    fn prefix_end_skips_trailing_ff() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
    }

    #[test]
    fn an_event_index_key_gives_back_its_time() {
        let tenant = TenantId::parse("acme").unwrap();
        let id = EventId::parse("evt_1").unwrap();
        let key = tenant_event(&tenant, Timestamp(1_764_000_000_123), &id);
        let at = tenant_events(&tenant).into_bytes().len();
        assert_eq!(number_at(&key, at), Some(1_764_000_000_123));
        assert_eq!(number_at(&key[..at + 7], at), None);
    }

    #[test]
    fn times_order_events_and_ids_within_a_time() {
        let t = TenantId::parse("t").unwrap();
        let (e1, e2) = (EventId::generate(), EventId::generate());
        assert!(tenant_event(&t, Timestamp(5), &e2) < tenant_event(&t, Timestamp(6), &e1));
        assert!(tenant_event(&t, Timestamp(5), &e1) < tenant_event(&t, Timestamp(5), &e2));
        let later_tenant = TenantId::parse("u").unwrap();
        assert!(
            tenant_event(&t, Timestamp(u64::MAX), &e2) < tenant_events(&later_tenant).into_bytes()
        );
    }

    #[test]
    fn pending_keys_give_back_their_due_time_and_delivery_and_sort_by_them() {
        let ep = EndpointId::generate();
        let d = DeliveryId::generate();
        assert_eq!(
            pending_entry(&pending(&ep, Timestamp(7), &d)),
            Some((7, d.as_str().as_bytes()))
        );
        assert_eq!(pending_entry(b"P"), None);
        assert_eq!(pending_entry(&pending_of(&ep)), None, "no due time");
        let earlier_id = DeliveryId::generate_at(Timestamp(1));
        assert!(pending(&ep, Timestamp(7), &d) < pending(&ep, Timestamp(8), &earlier_id));
        assert!(pending(&ep, Timestamp(7), &earlier_id) < pending(&ep, Timestamp(7), &d));
        let from = PendingKey {
            due: Timestamp(7),
            id: d.clone(),
        };
        assert_eq!(pending_at(&ep, &from), pending(&ep, Timestamp(7), &d));
    }

    #[test]
    fn the_bucket_of_a_time_is_the_bucket_of_every_id_made_then() {
        let ep = EndpointId::generate();
        for ms in [
            0,
            31,
            32,
            1_700_000_000_000,
            1_700_000_000_031,
            (1 << 48) - 1,
        ] {
            let id = DeliveryId::generate_at(Timestamp(ms));
            assert_eq!(
                published_bucket_at(&ep, Timestamp(ms)),
                Some(published_bucket(&ep, &id)),
                "{ms} ms"
            );
        }
        assert_eq!(published_bucket_at(&ep, Timestamp(1 << 48)), None);
        assert_eq!(
            published_bucket_at(&ep, Timestamp(1_700_000_000_000)),
            published_bucket_at(&ep, Timestamp(1_700_000_000_000 + 1)),
        );
    }

    #[test]
    fn buckets_sort_as_ids() {
        let ep = EndpointId::generate();
        let id = |text: &str| DeliveryId::parse(text).unwrap();

        // The same first 9 ULID characters (32 ms): one bucket; the next span sorts after.
        let early = id("dlv_01ARZ3NDEKTSV4RRFFQ69G5FAV");
        let same = id("dlv_01ARZ3NDEZZZZZZZZZZZZZZZZZ");
        let later = id("dlv_01ARZ3NDF00000000000000000");
        assert_eq!(published_bucket(&ep, &early), published_bucket(&ep, &same));
        assert!(published_bucket(&ep, &same) < published_bucket(&ep, &later));
        let chunk = published_chunk(&published_bucket(&ep, &later), 7);
        assert_eq!(bucket_of_chunk(&chunk), published_bucket(&ep, &later));
        assert!(chunk.starts_with(&published_of(&ep)));
    }

    /// A tenant's catalog is one range in type order, and holds no other tenant's
    /// entries, not even a tenant whose name extends its own.
    #[test]
    fn a_tenants_catalog_and_keys_are_one_range_each() {
        let (a, ab) = (
            TenantId::parse("a").unwrap(),
            TenantId::parse("ab").unwrap(),
        );
        assert!(event_type(&a, "order") < event_type(&a, "order.filled"));
        assert!(event_type(&a, "order.filled") < event_type(&a, "position"));
        assert!(event_type(&a, "order").starts_with(&event_types(&a)));
        assert!(!event_type(&ab, "order").starts_with(&event_types(&a)));
        let end = prefix_end(&event_types(&a)).unwrap();
        assert!(event_type(&a, "\u{10FFFF}") < end);
        assert!(event_type(&ab, "") >= end);

        let (older, newer) = (KeyId::generate(), KeyId::generate());
        assert!(tenant_key(&a, &older) < tenant_key(&a, &newer));
        assert!(tenant_key(&a, &newer).starts_with(&tenant_keys(&a)));
        assert!(!tenant_key(&ab, &older).starts_with(&tenant_keys(&a)));
    }

    #[test]
    fn group_and_number_split_keys_and_refuse_other_forms() {
        let t = TenantId::parse("t").unwrap();
        let e = EventId::generate();
        let key = tenant_event(&t, Timestamp(7), &e);
        let (group, number) = group_and_number(&key).unwrap();
        assert_eq!(group, tenant_events(&t).into_bytes().as_slice());
        assert_eq!(number, 7);
        let escaped = Key::new(b'k').text("a\0b").number(9).into_bytes();
        assert_eq!(group_and_number(&escaped).unwrap().1, 9);
        assert_eq!(group_and_number(b"k\0\0\x01"), None, "number cut short");
        assert_eq!(group_and_number(b"kabc"), None, "no text");
    }
}

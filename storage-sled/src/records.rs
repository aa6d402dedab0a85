//! How values are stored: records in postcard (compact binary serde), counters as
//! fixed-width integers.
//!
//! Postcard rather than JSON because every byte of a record is copied several times
//! on the one commit thread (into sled's node, its log buffer, and again at every
//! node split and consolidation): a delivery record is about a third of its JSON
//! size. Postcard carries no field names, so any change to a stored record's fields
//! is a change of `FORMAT_VERSION`.

use herald::error::StorageError;
use herald::ids::{DeliveryId, EndpointId};
use herald::model::Event;
use herald::storage::StorageResult;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The value under an `N` key: the event and its deliveries in creation order.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    /// The event as published.
    pub(crate) event: Event,
    /// Where its deliveries' records are.
    pub(crate) deliveries: Vec<DeliveryRef>,
}

impl StoredEvent {
    /// Serializes it (postcard) into a buffer sized for it up front: the payload, a
    /// `DeliveryRef` per delivery, and room for the rest.
    pub(crate) fn encode(&self) -> StorageResult<Vec<u8>> {
        let capacity =
            RECORD_CAPACITY + self.event.data.len() + DELIVERY_REF_CAPACITY * self.deliveries.len();
        encode_with_capacity(self, capacity)
    }
}

/// Room for one encoded `DeliveryRef`: its two ids and their lengths.
const DELIVERY_REF_CAPACITY: usize = 64;

/// A delivery of a stored event: enough to find its record, which is its entry in
/// a pending chunk (`Q` endpoint, bucket of its id) until it first changes, and
/// under `D` delivery from then on.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DeliveryRef {
    /// The delivery's id.
    pub(crate) id: DeliveryId,
    /// Its endpoint.
    pub(crate) endpoint_id: EndpointId,
}

/// An endpoint's delivery counters (the value under a `C` key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Pending deliveries.
    pub(crate) pending: u64,
    /// Dead deliveries.
    pub(crate) dead: u64,
}

impl Counts {
    /// 16 bytes: pending then dead, big-endian.
    pub(crate) fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.pending.to_be_bytes());
        out.extend_from_slice(&self.dead.to_be_bytes());
        out
    }

    /// Reads what `encode` wrote.
    pub(crate) fn decode(bytes: &[u8]) -> StorageResult<Self> {
        let (pending, dead) = match (bytes.get(..8), bytes.get(8..16)) {
            (Some(p), Some(d)) if bytes.len() == 16 => (p, d),
            _ => return Err(StorageError::Corrupt("delivery counters".into())),
        };
        let word = |b: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(b);
            u64::from_be_bytes(w)
        };
        Ok(Self {
            pending: word(pending),
            dead: word(dead),
        })
    }
}

/// The value under an `A` key: a chunk, the records (`encode`d attempts) appended
/// to one log in one commit group. A `u32` count, then each record as a `u32`
/// length and its bytes (little-endian), so the commit thread builds it by copying
/// bytes, and the purge counts its attempts without decoding them.
pub(crate) fn encode_chunk(records: &[Vec<u8>]) -> Vec<u8> {
    let size = 4 + records.iter().map(|r| 4 + r.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&chunk_word(records.len()).to_le_bytes());
    for record in records {
        out.extend_from_slice(&chunk_word(record.len()).to_le_bytes());
        out.extend_from_slice(record);
    }
    out
}

/// A count or length in a chunk; records and groups are far below 4 GiB.
fn chunk_word(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The records of a chunk written by `encode_chunk`.
pub(crate) fn chunk_records(bytes: &[u8]) -> StorageResult<Vec<&[u8]>> {
    let corrupt = || StorageError::Corrupt("attempt chunk: truncated".into());
    let word = |at: usize| -> StorageResult<usize> {
        let b = bytes.get(at..at + 4).ok_or_else(corrupt)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(0)?;
    let mut records = Vec::with_capacity(count.min(bytes.len() / 4));
    let mut at = 4;
    for _ in 0..count {
        let len = word(at)?;
        records.push(bytes.get(at + 4..at + 4 + len).ok_or_else(corrupt)?);
        at += 4 + len;
    }
    if at != bytes.len() {
        return Err(StorageError::Corrupt(
            "attempt chunk: trailing bytes".into(),
        ));
    }
    Ok(records)
}

/// Room a record's encoding starts with: a delivery, an attempt or the fixed part of
/// an event fits, so the buffer is not regrown (and copied) byte range by byte range.
const RECORD_CAPACITY: usize = 256;

/// Serializes a record (postcard).
pub(crate) fn encode<T: Serialize>(value: &T) -> StorageResult<Vec<u8>> {
    encode_with_capacity(value, RECORD_CAPACITY)
}

/// Serializes a record (postcard) into a buffer of `capacity` bytes to start with.
fn encode_with_capacity<T: Serialize>(value: &T, capacity: usize) -> StorageResult<Vec<u8>> {
    postcard::to_extend(value, Vec::with_capacity(capacity))
        .map_err(|e| StorageError::backend("encoding a record", e))
}

/// Deserializes a record written by `encode`; `what` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> StorageResult<T> {
    postcard::from_bytes(bytes).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

/// The id of an `encode`d delivery (its first field), without decoding the rest.
pub(crate) fn delivery_id(record: &[u8]) -> StorageResult<DeliveryId> {
    #[derive(Deserialize)]
    struct Head {
        id: DeliveryId,
    }
    postcard::take_from_bytes::<Head>(record)
        .map(|(head, _)| head.id)
        .map_err(|e| StorageError::Corrupt(format!("delivery: {e}")))
}

/// Reads an id stored as UTF-8 text.
pub(crate) fn text(bytes: &[u8], what: &str) -> StorageResult<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| StorageError::Corrupt(format!("{what}: not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    use herald::model::{
        Attempt, DeadReason, Delivery, DisabledReason, Endpoint, EndpointHealth, Ordering,
    };
    use herald::signing::{Secret, SignatureScheme};
    use herald::transport::ErrorClass;
    use herald_testkit::conformance::{self as fixtures, at};

    /// Encodes `value`, decodes it back, and checks it is unchanged; returns the
    /// encoded length next to the JSON length.
    fn round_trip<T>(value: &T) -> (usize, usize)
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let bytes = encode(value).unwrap();
        let back: T = decode(&bytes, "record").unwrap();
        assert_eq!(&back, value);
        (bytes.len(), serde_json::to_vec(value).unwrap().len())
    }

    #[test]
    fn every_record_round_trips_with_every_field_set() {
        let tenant = fixtures::tenant("acme");
        let mut endpoint: Endpoint = fixtures::endpoint(&tenant);
        endpoint.description = Some("orders".into());
        endpoint.event_types = vec!["order.filled".into(), "order.*".into()];
        endpoint.channels = vec!["eu".into()];
        endpoint.active = false;
        endpoint.disabled_reason = Some(DisabledReason::Failing);
        endpoint.signature_scheme = SignatureScheme::default();
        endpoint.secrets.rotate(Secret::generate(), at(60));
        endpoint.headers.insert("x-team".into(), "desk-7".into());
        endpoint.ordering = Ordering::default();
        endpoint.max_in_flight = Some(4);
        endpoint.rate_limit = Some(100);
        endpoint.timeout_ms = Some(2_500);
        endpoint.retry_schedule_secs = Some(vec![1, 5, 30]);
        endpoint.updated_at = at(61);
        round_trip(&endpoint);

        let mut event = fixtures::event(&tenant, "order.filled", at(1));
        event.channels = vec!["eu".into()];
        event.deliveries = 1;
        let mut delivery: Delivery = fixtures::delivery(&event, &endpoint);
        delivery.attempts = 3;
        delivery.budget_start = 1;
        delivery.next_attempt_at = Some(at(90));
        delivery.last_status = Some(503);
        delivery.last_error = Some(ErrorClass::Timeout);
        delivery.kill(DeadReason::RetriesExhausted, at(91));
        let (binary, json) = round_trip(&delivery);
        assert!(binary * 2 < json, "{binary} B against {json} B of JSON");

        let mut attempt: Attempt = fixtures::attempt(&delivery, 3, 503, at(90));
        attempt.error = Some(ErrorClass::Protocol);
        attempt.response_body = "busy\r\n\u{0}é".into();
        round_trip(&attempt);

        let health = EndpointHealth {
            succeeded: 7,
            last_success_at: Some(at(2)),
            last_error: Some(ErrorClass::Connect),
            ..fixtures::health(3)
        };
        round_trip(&health);

        let stored = StoredEvent {
            event: event.clone(),
            deliveries: vec![DeliveryRef {
                id: delivery.id.clone(),
                endpoint_id: endpoint.id.clone(),
            }],
        };
        let back: StoredEvent = decode(&stored.encode().unwrap(), "event").unwrap();
        assert_eq!(back.event, event);
        assert_eq!(back.deliveries.len(), 1);
        assert_eq!(back.deliveries[0].id, delivery.id);
        assert_eq!(back.deliveries[0].endpoint_id, endpoint.id);
    }

    #[test]
    fn a_truncated_record_is_corrupt_not_a_panic() {
        let tenant = fixtures::tenant("acme");
        let event = fixtures::event(&tenant, "order.filled", at(1));
        let delivery = fixtures::delivery(&event, &fixtures::endpoint(&tenant));
        let bytes = encode(&delivery).unwrap();
        for cut in 0..bytes.len() {
            let result = decode::<Delivery>(&bytes[..cut], "delivery");
            assert!(
                matches!(result, Err(StorageError::Corrupt(ref why)) if why.starts_with("delivery: ")),
                "cut at {cut}: {result:?}"
            );
        }
    }

    #[test]
    fn chunks_round_trip_and_reject_every_truncation() {
        let records = vec![b"first".to_vec(), Vec::new(), vec![0u8; 300]];
        let bytes = encode_chunk(&records);
        let back: Vec<Vec<u8>> = chunk_records(&bytes)
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(back, records);
        assert!(chunk_records(&encode_chunk(&[])).unwrap().is_empty());
        for cut in 0..bytes.len() {
            assert!(chunk_records(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(chunk_records(&longer).is_err());
    }

    #[test]
    fn counts_round_trip_and_reject_garbage() {
        let counts = Counts {
            pending: 3,
            dead: u64::MAX,
        };
        assert_eq!(Counts::decode(&counts.encode()).unwrap(), counts);
        assert!(Counts::decode(b"short").is_err());
    }
}

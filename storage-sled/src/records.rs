//! How values are stored: records as JSON, counters as fixed-width integers.

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

/// A delivery of a stored event: enough to find its record, which is under
/// `P` endpoint, delivery while pending and under `D` delivery once settled.
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

/// Serializes a record.
pub(crate) fn encode<T: Serialize>(value: &T) -> StorageResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StorageError::backend("encoding a record", e))
}

/// Deserializes a record; `what` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> StorageResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

/// Reads an id stored as UTF-8 text.
pub(crate) fn text(bytes: &[u8], what: &str) -> StorageResult<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| StorageError::Corrupt(format!("{what}: not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

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

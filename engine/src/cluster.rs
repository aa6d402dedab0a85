//! `Membership`: how an engine shares its storage with other engines (several
//! `heraldd` nodes on one database), and `SingleNode`, the engine alone with its
//! storage (sled, memory, or PostgreSQL used by one process).
//!
//! Each endpoint has exactly one actor in the whole cluster: the engine of the node
//! that owns it. The membership says which endpoints this engine owns now, carries
//! what one engine must tell the others (new work, changed endpoints, revoked keys),
//! and reports changes of ownership, which the engine answers by letting go of the
//! endpoints it no longer owns (their attempts recorded first) and picking up those
//! it gained.
//!
//! With storage shared, new work reaches an endpoint's actor only through storage:
//! a signal wakes the owner, which reads what was stored since it last looked, in
//! the storage's commit order per endpoint (`Storage::pending_since`). No delivery
//! is handed from one process to another in memory.

use tokio::sync::{mpsc, oneshot};

use crate::ids::{EndpointId, KeyId, TenantId};

/// What one engine tells the others sharing its storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Pending deliveries of the endpoint were stored (a publish).
    Work(EndpointId),
    /// Deliveries of the endpoint were queued again (replay, retry by hand).
    Requeued(EndpointId),
    /// The endpoint was created, changed or deleted.
    EndpointChanged(TenantId, EndpointId),
    /// An API key was revoked.
    KeyRevoked(KeyId),
    /// A tenant's settings or event catalog changed.
    TenantChanged(TenantId),
}

/// What the membership reports to its engine.
#[derive(Debug)]
pub enum ClusterEvent {
    /// Another engine said this.
    Signal(Signal),
    /// Which endpoints this engine owns changed: it stops the actors of those it no
    /// longer owns, answers `done` (when given) once their attempts are recorded, and
    /// starts actors for the endpoints with work it now owns.
    OwnershipChanged {
        /// Answered when the endpoints let go are quiet.
        done: Option<oneshot::Sender<()>>,
    },
    /// Signals may have been missed (the channel that carries them was down): read
    /// every endpoint again and look for work.
    Resync,
}

/// How an engine shares its storage with other engines. See the module docs.
pub trait Membership: Send + Sync + std::fmt::Debug + 'static {
    /// Whether this engine delivers for the endpoint now.
    fn owns(&self, endpoint: &EndpointId) -> bool;

    /// Whether other engines write the same storage: new work then reaches actors
    /// only through storage reads, never by an in-memory hand-off.
    fn is_shared(&self) -> bool;

    /// Tells the other engines, after the write it is about is committed.
    fn tell(&self, signal: Signal);

    /// What the membership reports; the engine takes it once, at start.
    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<ClusterEvent>>;
}

/// An engine alone with its storage: it owns every endpoint and tells nobody.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleNode;

impl Membership for SingleNode {
    fn owns(&self, _endpoint: &EndpointId) -> bool {
        true
    }

    fn is_shared(&self) -> bool {
        false
    }

    fn tell(&self, _signal: Signal) {}

    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<ClusterEvent>> {
        None
    }
}

/// The partition of an endpoint among `partitions`: FNV-1a of its id, the same on
/// every node and every build (never `std`'s randomly seeded hasher).
pub fn partition_of(endpoint: &EndpointId, partitions: u32) -> u32 {
    let hash = fnv1a(endpoint.as_str().as_bytes());
    u32::try_from(hash % u64::from(partitions.max(1))).unwrap_or(0)
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        let id = EndpointId::parse("ep_01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        // Fixed: every node and every later build must agree on it.
        assert_eq!(partition_of(&id, 256), 56);
        assert_eq!(partition_of(&id, 1), 0);
        let mut counts = [0u32; 8];
        for _ in 0..8000 {
            counts[partition_of(&EndpointId::generate(), 8) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (700..1300).contains(c)), "{counts:?}");
    }

    #[test]
    fn fnv_1a_of_known_strings() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}

//! Typed ids: prefixed, URL-safe, monotonic ULIDs that sort by creation time.
//!
//! Every generated id is `<prefix>_<ULID>`; the ULIDs come from one process-wide
//! monotonic generator, so ids made later in a process always sort after earlier ones
//! (http-api.md "Conventions"). Event ids may also be a caller's idempotency key.
//!
//! The text is shared (`Arc<str>`): ids are cloned into every queue, message and
//! record a delivery passes through, and a clone is then a reference count, not an
//! allocation and a copy.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::Invalid;

/// The one monotonic ULID source of the process for ids made at the wall clock's
/// time: ids made later sort later, even within one millisecond.
static GENERATOR: Mutex<MonotonicUlids> = Mutex::new(MonotonicUlids::new());

fn next_ulid() -> ulid::Ulid {
    let now = crate::time::Timestamp::from_system(SystemTime::now());
    GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .next(now.0)
}

/// ULIDs in strictly increasing order, each made at a given time or, when that time is
/// behind the last one made, at the last one's time. Delivery ids come from one of
/// these per engine (`actors::publishes`), raised at start above every stored id, so
/// they follow publish order across restarts too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MonotonicUlids {
    last: Option<ulid::Ulid>,
}

impl MonotonicUlids {
    /// A source that has made nothing yet.
    pub(crate) const fn new() -> Self {
        Self { last: None }
    }

    /// Makes every later ULID sort after `floor`.
    pub(crate) fn raise_floor(&mut self, floor: ulid::Ulid) {
        if self.last.is_none_or(|last| last < floor) {
            self.last = Some(floor);
        }
    }

    /// The time the next ULID is made at for `millis`: `millis`, or the last one's
    /// time when that is later (a clock that stepped back).
    pub(crate) fn time_for(&self, millis: u64) -> u64 {
        self.last
            .map_or(millis, |last| last.timestamp_ms().max(millis))
    }

    /// A ULID after every one made before, at `time_for(millis)`.
    pub(crate) fn next(&mut self, millis: u64) -> ulid::Ulid {
        let time = self.time_for(millis);
        let next = match self.last {
            Some(last) if last.timestamp_ms() == time => last
                .increment()
                // 2^80 ids in one millisecond: carry into the next one.
                .unwrap_or_else(|| random_ulid(time.saturating_add(1))),
            _ => random_ulid(time),
        };
        self.last = Some(next);
        next
    }
}

fn random_ulid(millis: u64) -> ulid::Ulid {
    // Leaves headroom below the top so `increment` carries for a long while.
    ulid::Ulid::from_parts(millis, rand::random::<u128>() >> 2)
}

/// `as_str`, `Display` and `Debug` (the bare text) for an id newtype over `Arc<str>`.
macro_rules! text_id {
    ($name:ident, $what:literal) => {
        impl $name {
            #[doc = concat!("The ", $what, " as text.")]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The prefix every generated id of this kind carries.
            pub const PREFIX: &'static str = $prefix;

            /// Makes a new id, later than every id made before it in this process.
            pub fn generate() -> Self {
                Self(Arc::from(format!("{}_{}", $prefix, next_ulid())))
            }

            /// Parses an id received from outside (a URL path, a stored record).
            ///
            /// # Errors
            /// `Invalid` when the text lacks the prefix or its ULID is malformed.
            pub fn parse(text: &str) -> Result<Self, Invalid> {
                let ulid_part = text
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .ok_or_else(|| Invalid::new("id", format!("must start with `{}_`", $prefix)))?;
                ulid::Ulid::from_string(ulid_part)
                    .map_err(|_| Invalid::new("id", "malformed id"))?;
                Ok(Self(Arc::from(text)))
            }
        }

        text_id!($name, "id");
    };
}

prefixed_id!(
    /// An endpoint's id, `ep_...`.
    EndpointId,
    "ep"
);
prefixed_id!(
    /// A delivery's id, `dlv_...`: one per (event, endpoint).
    DeliveryId,
    "dlv"
);
prefixed_id!(
    /// An attempt's id, `att_...`.
    AttemptId,
    "att"
);
prefixed_id!(
    /// An API key's id, `key_...` (not its token).
    KeyId,
    "key"
);

/// An event's id: `evt_...` when generated, or the caller's idempotency key
/// (`[A-Za-z0-9_.:-]{1,128}`). It is also the `webhook-id` receivers dedupe on.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Arc<str>);

impl EventId {
    /// Makes a new `evt_` id, later than every id made before it in this process.
    pub fn generate() -> Self {
        Self(Arc::from(format!("evt_{}", next_ulid())))
    }

    /// Parses a caller-supplied id (idempotency key) or a stored one.
    ///
    /// # Errors
    /// `Invalid { field: "id" }` unless it matches `[A-Za-z0-9_.:-]{1,128}`.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let ok = !text.is_empty()
            && text.len() <= 128
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if ok {
            Ok(Self(Arc::from(text)))
        } else {
            Err(Invalid::new(
                "id",
                "must be 1 to 128 characters of [A-Za-z0-9_.:-]",
            ))
        }
    }
}

text_id!(EventId, "id");

impl DeliveryId {
    /// A delivery id made at `now`: its ULID carries `now` as its time, so ids of
    /// deliveries created in time order sort in that order (the engine's own ids come
    /// from the Router, in publish order). Ids made at the same time on one thread
    /// sort in the order they were made.
    pub fn generate_at(now: crate::time::Timestamp) -> Self {
        thread_local! {
            static LAST: std::cell::Cell<Option<ulid::Ulid>> = const { std::cell::Cell::new(None) };
        }
        let ulid = LAST.with(|last| {
            let next = match last.get() {
                Some(previous) if previous.timestamp_ms() == now.0 => {
                    previous.increment().unwrap_or_else(|| random_ulid(now.0))
                }
                _ => random_ulid(now.0),
            };
            last.set(Some(next));
            next
        });
        Self::from_ulid(ulid)
    }

    /// The id of `ulid`.
    pub(crate) fn from_ulid(ulid: ulid::Ulid) -> Self {
        Self(Arc::from(format!("{}_{}", Self::PREFIX, ulid)))
    }

    /// The ULID inside (every parsed or generated delivery id has one).
    pub(crate) fn ulid(&self) -> Option<ulid::Ulid> {
        self.0
            .strip_prefix("dlv_")
            .and_then(|text| ulid::Ulid::from_string(text).ok())
    }
}

/// The account endpoints and events belong to: 1 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Parses a tenant name.
    ///
    /// # Errors
    /// `Invalid { field: "tenant" }` unless it matches `[A-Za-z0-9_-]{1,64}`.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(Arc::from(text)))
        } else {
            Err(Invalid::new(
                "tenant",
                "must be 1 to 64 characters of [A-Za-z0-9_-]",
            ))
        }
    }
}

text_id!(TenantId, "tenant");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_sort_in_creation_order() {
        let ids: Vec<DeliveryId> = (0..1000).map(|_| DeliveryId::generate()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids[0].as_str().starts_with("dlv_"));
    }

    #[test]
    fn monotonic_ulids_follow_time_and_never_go_back() {
        let mut source = MonotonicUlids::new();
        let a = source.next(1000);
        let b = source.next(1000);
        let c = source.next(999);
        let d = source.next(2000);
        assert!(a < b && b < c && c < d);
        assert_eq!(
            c.timestamp_ms(),
            1000,
            "a clock that steps back keeps the last time"
        );
        assert_eq!(d.timestamp_ms(), 2000);
        source.raise_floor(ulid::Ulid::from_parts(5000, 7));
        let e = source.next(3000);
        assert!(e > ulid::Ulid::from_parts(5000, 7));
        assert_eq!(e.timestamp_ms(), 5000);
    }

    #[test]
    fn delivery_ids_made_at_a_time_carry_it() {
        let id = DeliveryId::generate_at(crate::time::Timestamp(1_700_000_000_123));
        assert_eq!(id.ulid().unwrap().timestamp_ms(), 1_700_000_000_123);
        assert_eq!(DeliveryId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn parse_checks_prefix_and_ulid() {
        let id = EndpointId::generate();
        assert_eq!(EndpointId::parse(id.as_str()).unwrap(), id);
        assert!(EndpointId::parse("evt_01J0000000000000000000000").is_err());
        assert!(EndpointId::parse("ep_notaulid").is_err());
    }

    #[test]
    fn tenant_and_event_id_rules() {
        assert!(TenantId::parse("acme-1_x").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
        assert!(TenantId::parse("a b").is_err());
        assert!(EventId::parse("order:42.v1-x_y").is_ok());
        assert!(EventId::parse("bad/slash").is_err());
        assert!(EventId::parse(&"a".repeat(129)).is_err());
    }
}

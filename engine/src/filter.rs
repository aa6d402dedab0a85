//! Subscription matching: event-type patterns (exact or `prefix.*`), channels, and
//! `SubscriptionIndex`, which finds a tenant's matching endpoints without scanning
//! them all (exact types and prefixes are hash lookups).

use std::collections::{BTreeSet, HashMap};

use crate::error::Invalid;
use crate::ids::{EndpointId, TenantId};
use crate::model::Endpoint;
use crate::sorted_ids::SortedIds;

/// The prefix of Herald's own notification types (`herald.endpoint.disabled`, ...):
/// reserved, publishers may not use it.
pub const NOTIFICATION_PREFIX: &str = "herald.";

/// Checks an event type: 1 to 128 characters of `[A-Za-z0-9_.-]`.
///
/// # Errors
/// `Invalid { field }` otherwise.
pub fn validate_event_type(text: &str, field: &str) -> Result<(), Invalid> {
    let ok = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            "must be 1 to 128 characters of [A-Za-z0-9_.-]",
        ))
    }
}

/// One entry of an endpoint's `event_types`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventTypePattern {
    /// Matches this type only.
    Exact(String),
    /// `order.*`: matches every type starting with `order.` (kept with the dot).
    Prefix(String),
    /// `*`: every type.
    All,
}

impl EventTypePattern {
    /// Parses `order.filled`, `order.*` or `*`.
    ///
    /// # Errors
    /// `Invalid { field: "event_types" }` for anything else.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if text == "*" {
            return Ok(Self::All);
        }
        if let Some(prefix) = text.strip_suffix(".*") {
            validate_event_type(prefix, "event_types")?;
            return Ok(Self::Prefix(format!("{prefix}.")));
        }
        validate_event_type(text, "event_types").map_err(|_| {
            Invalid::new(
                "event_types",
                format!("`{text}` is not an event type or a `prefix.*` pattern"),
            )
        })?;
        Ok(Self::Exact(text.to_owned()))
    }

    /// Whether `event_type` matches.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::Exact(t) => t == event_type,
            Self::Prefix(p) => event_type.starts_with(p.as_str()),
            Self::All => true,
        }
    }
}

/// Checks a channel name: 1 to 128 printable ASCII characters, no spaces.
///
/// # Errors
/// `Invalid { field }` otherwise.
pub fn validate_channel(text: &str, field: &str) -> Result<(), Invalid> {
    let ok =
        !text.is_empty() && text.len() <= 128 && text.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            "each channel must be 1 to 128 printable ASCII characters",
        ))
    }
}

/// What the index keeps of one active endpoint.
#[derive(Debug, Clone)]
struct Subscription {
    patterns: Vec<EventTypePattern>,
    channels: Vec<String>,
}

impl Subscription {
    fn channels_match(&self, event_channels: &[String]) -> bool {
        self.channels.is_empty() || self.channels.iter().any(|c| event_channels.contains(c))
    }
}

/// One tenant's active endpoints, indexed by what they subscribe to.
#[derive(Debug, Default)]
struct TenantIndex {
    subscriptions: HashMap<EndpointId, Subscription>,
    exact: HashMap<String, SortedIds>,
    prefixes: HashMap<String, SortedIds>,
    every_type: SortedIds,
}

impl TenantIndex {
    fn insert(&mut self, id: EndpointId, subscription: Subscription) {
        if subscription.patterns.is_empty() {
            self.every_type.insert(id.clone());
        }
        for pattern in &subscription.patterns {
            match pattern {
                EventTypePattern::Exact(t) => {
                    self.exact.entry(t.clone()).or_default().insert(id.clone());
                }
                EventTypePattern::Prefix(p) => {
                    self.prefixes
                        .entry(p.clone())
                        .or_default()
                        .insert(id.clone());
                }
                EventTypePattern::All => {
                    self.every_type.insert(id.clone());
                }
            }
        }
        self.subscriptions.insert(id, subscription);
    }

    fn remove(&mut self, id: &EndpointId) {
        let Some(subscription) = self.subscriptions.remove(id) else {
            return;
        };
        self.every_type.remove(id);
        for pattern in &subscription.patterns {
            let (map, key) = match pattern {
                EventTypePattern::Exact(t) => (&mut self.exact, t),
                EventTypePattern::Prefix(p) => (&mut self.prefixes, p),
                EventTypePattern::All => continue,
            };
            if let Some(set) = map.get_mut(key) {
                set.remove(id);
                if set.is_empty() {
                    map.remove(key);
                }
            }
        }
    }

    fn matching(&self, event_type: &str, channels: &[String]) -> Vec<EndpointId> {
        // access.md §3: Herald's own notifications reach only endpoints that name a
        // `herald.` type or pattern, never those that take every type.
        let mut found: BTreeSet<&EndpointId> = if event_type.starts_with(NOTIFICATION_PREFIX) {
            BTreeSet::new()
        } else {
            self.every_type.iter().collect()
        };
        if let Some(set) = self.exact.get(event_type) {
            found.extend(set.iter());
        }
        if !self.prefixes.is_empty() {
            for (index, byte) in event_type.bytes().enumerate() {
                if byte == b'.' {
                    if let Some(set) = self.prefixes.get(&event_type[..=index]) {
                        found.extend(set.iter());
                    }
                }
            }
        }
        found
            .into_iter()
            .filter(|id| {
                self.subscriptions
                    .get(*id)
                    .is_some_and(|s| s.channels_match(channels))
            })
            .cloned()
            .collect()
    }
}

/// Every tenant's active endpoints and their filters.
#[derive(Debug, Default)]
pub struct SubscriptionIndex {
    tenants: HashMap<TenantId, TenantIndex>,
}

impl SubscriptionIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds, replaces or (when inactive) removes an endpoint.
    pub fn upsert(&mut self, endpoint: &Endpoint) {
        self.remove(&endpoint.tenant, &endpoint.id);
        if !endpoint.active {
            return;
        }
        // Stored endpoints were validated at creation; an unparsable pattern matches nothing.
        let patterns = endpoint
            .event_types
            .iter()
            .filter_map(|p| EventTypePattern::parse(p).ok())
            .collect::<Vec<_>>();
        if patterns.len() != endpoint.event_types.len() {
            return;
        }
        self.tenants
            .entry(endpoint.tenant.clone())
            .or_default()
            .insert(
                endpoint.id.clone(),
                Subscription {
                    patterns,
                    channels: endpoint.channels.clone(),
                },
            );
    }

    /// Removes an endpoint.
    pub fn remove(&mut self, tenant: &TenantId, id: &EndpointId) {
        if let Some(index) = self.tenants.get_mut(tenant) {
            index.remove(id);
            if index.subscriptions.is_empty() {
                self.tenants.remove(tenant);
            }
        }
    }

    /// The tenant's active endpoints that an event of this type and channels reaches,
    /// in id order.
    pub fn matching(
        &self,
        tenant: &TenantId,
        event_type: &str,
        channels: &[String],
    ) -> Vec<EndpointId> {
        self.tenants
            .get(tenant)
            .map(|index| index.matching(event_type, channels))
            .unwrap_or_default()
    }

    /// How many active endpoints are indexed.
    pub fn len(&self) -> usize {
        self.tenants.values().map(|t| t.subscriptions.len()).sum()
    }

    /// Whether no endpoint is indexed.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{Secret, SecretSet};
    use crate::time::Timestamp;

    fn endpoint(tenant: &str, types: &[&str], channels: &[&str]) -> Endpoint {
        Endpoint {
            id: EndpointId::generate(),
            tenant: TenantId::parse(tenant).unwrap(),
            url: "https://example.com/".into(),
            description: None,
            event_types: types.iter().map(|s| s.to_string()).collect(),
            channels: channels.iter().map(|s| s.to_string()).collect(),
            active: true,
            disabled_reason: None,
            profile: "standard".into(),
            secrets: SecretSet::new(Secret::generate()),
            headers: Default::default(),
            ordering: Default::default(),
            max_in_flight: None,
            rate_limit: None,
            timeout_ms: None,
            retry_schedule_secs: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            enabled_at: None,
            version: 1,
        }
    }

    #[test]
    fn patterns_parse_and_match() {
        let p = EventTypePattern::parse("order.*").unwrap();
        assert!(p.matches("order.filled"));
        assert!(p.matches("order.x.y"));
        assert!(!p.matches("orders.filled"));
        assert!(!p.matches("order"));
        assert!(EventTypePattern::parse("order.*.x").is_err());
        assert!(EventTypePattern::parse("bad type").is_err());
        assert!(EventTypePattern::parse("").is_err());
        assert_eq!(EventTypePattern::parse("*").unwrap(), EventTypePattern::All);
    }

    proptest::proptest! {
        #[test]
        fn prefix_patterns_match_exactly_the_types_under_them(
            prefix in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
            rest in "[a-z._-]{0,16}",
            other in "[A-Za-z0-9_.-]{1,32}",
        ) {
            let pattern = EventTypePattern::parse(&format!("{prefix}.*")).unwrap();
            let under = format!("{prefix}.{rest}");
            proptest::prop_assert!(pattern.matches(&under));
            proptest::prop_assert_eq!(pattern.matches(&other), other.starts_with(&format!("{prefix}.")));
        }

        #[test]
        fn the_index_agrees_with_scanning_every_pattern(
            types in proptest::collection::vec("[ab](\\.[ab]){0,2}(\\.\\*)?", 1..4),
            event_type in "[ab](\\.[ab]){0,3}",
        ) {
            let mut index = SubscriptionIndex::new();
            let type_refs: Vec<&str> = types.iter().map(String::as_str).collect();
            let e = endpoint("t", &type_refs, &[]);
            index.upsert(&e);
            let expected = types.iter().any(|t| EventTypePattern::parse(t).unwrap().matches(&event_type));
            let tenant = TenantId::parse("t").unwrap();
            proptest::prop_assert_eq!(!index.matching(&tenant, &event_type, &[]).is_empty(), expected);
        }
    }

    #[test]
    fn index_matches_types_prefixes_channels_and_tenants() {
        let mut index = SubscriptionIndex::new();
        let all = endpoint("a", &[], &[]);
        let orders = endpoint("a", &["order.*"], &[]);
        let filled = endpoint("a", &["order.filled"], &["BTC-USD"]);
        let other_tenant = endpoint("b", &[], &[]);
        let mut inactive = endpoint("a", &[], &[]);
        inactive.active = false;
        for e in [&all, &orders, &filled, &other_tenant, &inactive] {
            index.upsert(e);
        }
        let tenant = TenantId::parse("a").unwrap();
        let btc = vec!["BTC-USD".to_string()];
        let mut expected = vec![all.id.clone(), orders.id.clone(), filled.id.clone()];
        expected.sort();
        assert_eq!(index.matching(&tenant, "order.filled", &btc), expected);
        let mut expected = vec![all.id.clone(), orders.id.clone()];
        expected.sort();
        assert_eq!(index.matching(&tenant, "order.filled", &[]), expected);
        assert_eq!(
            index.matching(&tenant, "deposit.received", &[]),
            vec![all.id.clone()]
        );
        index.remove(&tenant, &all.id);
        assert!(index.matching(&tenant, "deposit.received", &[]).is_empty());
        assert_eq!(index.len(), 3);
    }
}

//! `SortedIds`: the endpoints under one key of the subscription index.
//!
//! Most keys hold one endpoint (a type few endpoints subscribe to), and a `BTreeSet`
//! allocates a whole node (about 200 bytes) even for one. So one id is held inline,
//! and a `BTreeSet` (ordered, logarithmic inserts in any order) only from two on.

use std::collections::BTreeSet;

use crate::ids::EndpointId;

/// Endpoint ids, each once, iterated in order.
#[derive(Debug, Clone)]
pub(crate) enum SortedIds {
    /// Exactly one id.
    One(EndpointId),
    /// None, or two and more.
    Many(BTreeSet<EndpointId>),
}

impl Default for SortedIds {
    fn default() -> Self {
        Self::Many(BTreeSet::new())
    }
}

impl SortedIds {
    /// Adds `id` unless present.
    pub(crate) fn insert(&mut self, id: EndpointId) {
        match self {
            Self::One(only) if *only == id => {}
            Self::One(only) => *self = Self::Many(BTreeSet::from([only.clone(), id])),
            Self::Many(set) if set.is_empty() => *self = Self::One(id),
            Self::Many(set) => {
                set.insert(id);
            }
        }
    }

    /// Removes `id` if present.
    pub(crate) fn remove(&mut self, id: &EndpointId) {
        match self {
            Self::One(only) if only == id => *self = Self::default(),
            Self::One(_) => {}
            Self::Many(set) => {
                set.remove(id);
                if set.len() == 1 {
                    let last = set.pop_first().expect("one id is left");
                    *self = Self::One(last);
                }
            }
        }
    }

    /// Whether no id is left.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Self::Many(set) if set.is_empty())
    }

    /// The ids in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &EndpointId> {
        let (one, many) = match self {
            Self::One(id) => (Some(id), None),
            Self::Many(set) => (None, Some(set)),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(set: &SortedIds) -> Vec<EndpointId> {
        set.iter().cloned().collect()
    }

    #[test]
    fn ids_stay_sorted_and_unique_through_inserts_and_removes() {
        let ids: Vec<EndpointId> = (0..6).map(|_| EndpointId::generate()).collect();
        let mut set = SortedIds::default();
        assert!(set.is_empty());
        set.insert(ids[3].clone());
        set.insert(ids[3].clone());
        assert!(matches!(set, SortedIds::One(_)));
        assert_eq!(contents(&set), vec![ids[3].clone()]);
        for i in [1, 5, 1, 0, 4, 3, 2] {
            set.insert(ids[i].clone());
        }
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(contents(&set), expected);
        set.remove(&ids[1]);
        set.remove(&ids[1]);
        expected.retain(|id| id != &ids[1]);
        assert_eq!(contents(&set), expected);
        for id in &ids[..5] {
            set.remove(id);
        }
        assert!(matches!(set, SortedIds::One(_)));
        assert_eq!(contents(&set), vec![ids[5].clone()]);
        set.remove(&ids[4]);
        assert_eq!(contents(&set), vec![ids[5].clone()]);
        set.remove(&ids[5]);
        assert!(set.is_empty());
        assert!(contents(&set).is_empty());
    }
}

//! Reading an endpoint's attempt log newest first.
//!
//! The log is chunks: the attempts one commit group recorded for the endpoint, under
//! one key that sorts by the newest start time in the chunk (`keys::chunk`). Attempts
//! of neighbouring chunks interleave in time (an attempt can finish, and be recorded,
//! after attempts that started later), so the listing merges them: it reads chunks
//! newest key first and gives out an attempt only once no unread chunk can hold a
//! newer one, which is exact because a chunk's key bounds everything in it.
//!
//! A cursor says where the merge stood: the key of the newest chunk that still held
//! attempts not yet listed, and the last attempt listed. The next page reads from
//! that chunk down and skips what is not older than that attempt.
//!
//! A filtered listing stops reading once it has passed over `ATTEMPT_SCAN_LIMIT`
//! attempts that do not match while none that match waits to be listed: the page
//! ends there, short or empty, with a cursor at the next unread chunk.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Bound;

use herald::error::StorageError;
use herald::ids::{AttemptId, EndpointId, TenantId};
use herald::model::{Attempt, AttemptOutcome};
use herald::storage::{Page, PageRequest, StorageResult, ATTEMPT_SCAN_LIMIT};
use herald::time::Timestamp;
use sled::Tree;

use crate::{keys, records};

/// An attempt read from a chunk and not yet listed; ordered by start time, then id.
struct Unlisted {
    attempt: Attempt,
    /// The position (`keys::chunk_position`) of the chunk it came from.
    chunk: (u64, u64),
}

impl Unlisted {
    fn order(&self) -> (Timestamp, &AttemptId) {
        (self.attempt.started_at, &self.attempt.id)
    }
}

impl PartialEq for Unlisted {
    fn eq(&self, other: &Self) -> bool {
        self.order() == other.order()
    }
}

impl Eq for Unlisted {}

impl PartialOrd for Unlisted {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Unlisted {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order().cmp(&other.order())
    }
}

/// Where a listing continues (see the module docs).
struct Cursor {
    /// The newest start time and number of the chunk to read from (`keys::chunk`).
    chunk: (u64, u64),
    /// The last attempt listed: start time and id; `None` when the listing stopped
    /// at the scan limit before listing any, so that nothing of the chunk is skipped.
    after: Option<(Timestamp, AttemptId)>,
}

impl Cursor {
    fn format(&self) -> String {
        let (newest, number) = self.chunk;
        match &self.after {
            Some((started_at, id)) => format!("{newest}.{number}.{}.{id}", started_at.0),
            None => format!("{newest}.{number}.*"),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(4, '.');
        let mut number = || parts.next()?.parse::<u64>().ok();
        let (newest, chunk) = (number()?, number()?);
        let after = match parts.next()? {
            "*" if parts.next().is_none() => None,
            started_at => {
                let started_at = started_at.parse::<u64>().ok()?;
                let id = AttemptId::parse(parts.next()?).ok()?;
                Some((Timestamp(started_at), id))
            }
        };
        Some(Self {
            chunk: (newest, chunk),
            after,
        })
    }
}

/// A page of `endpoint`'s attempts of `tenant`, newest first (by start time, then
/// id), optionally only successes or failures.
pub(crate) fn list(
    tree: &Tree,
    tenant: &TenantId,
    endpoint: &EndpointId,
    outcome: Option<AttemptOutcome>,
    page: &PageRequest,
) -> StorageResult<Page<Attempt>> {
    let cursor = match &page.cursor {
        Some(text) => Some(Cursor::parse(text).ok_or_else(|| crate::bad_cursor(text))?),
        None => None,
    };
    let log = keys::attempts_of(endpoint);
    let upper = match &cursor {
        Some(c) => Bound::Included(keys::chunk(&log, Timestamp(c.chunk.0), c.chunk.1)),
        None => keys::prefix_end(&log).map_or(Bound::Unbounded, Bound::Excluded),
    };
    let after = cursor.and_then(|c| c.after);
    let older = |a: &Attempt| {
        after
            .as_ref()
            .is_none_or(|(t, id)| (a.started_at, &a.id) < (*t, id))
    };
    let wanted = |a: &Attempt| &a.tenant == tenant && outcome.is_none_or(|o| o.matches(a));

    let mut chunks = tree.range((Bound::Included(log.clone()), upper)).rev();
    let mut next_chunk = chunks.next().transpose().map_err(crate::scan_error)?;
    let mut unlisted = BinaryHeap::new();
    let mut items: Vec<Attempt> = Vec::new();
    let mut passed_over = 0usize;
    let mut stopped_at = None;
    loop {
        // Read chunks while the next may hold an attempt as new as the newest unlisted.
        while let Some((key, value)) = &next_chunk {
            let chunk = keys::chunk_position(key)
                .ok_or_else(|| StorageError::Corrupt("attempt chunk key".into()))?;
            if unlisted
                .peek()
                .is_some_and(|top: &Unlisted| top.attempt.started_at.0 > chunk.0)
            {
                break;
            }
            if unlisted.is_empty() && passed_over >= ATTEMPT_SCAN_LIMIT {
                stopped_at = Some(chunk);
                break;
            }
            for record in records::chunk_records(value)? {
                let attempt: Attempt = records::decode(record)?;
                if !older(&attempt) {
                    continue;
                }
                if wanted(&attempt) {
                    unlisted.push(Unlisted { attempt, chunk });
                } else {
                    passed_over += 1;
                }
            }
            next_chunk = chunks.next().transpose().map_err(crate::scan_error)?;
        }
        let Some(newest) = unlisted.pop() else { break };
        if items.len() == page.limit {
            unlisted.push(newest);
            break;
        }
        // The same attempt recorded twice is listed once.
        if items
            .last()
            .is_some_and(|last| (last.started_at, &last.id) == newest.order())
        {
            continue;
        }
        items.push(newest.attempt);
    }

    // Chunk keys sort by position, so the newest chunk still holding one is the
    // greatest position.
    let resume = unlisted.iter().map(|u| u.chunk).max();
    let last = items.last().map(|last| (last.started_at, last.id.clone()));
    let next_cursor = match (resume, stopped_at) {
        (Some(chunk), _) => Some(Cursor { chunk, after: last }),
        // Every attempt listed is newer than everything in the unread chunks.
        (None, Some(chunk)) => Some(Cursor {
            chunk,
            after: last.or(after),
        }),
        (None, None) => None,
    }
    .map(|cursor| cursor.format());
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_testkit::conformance::{self as fixtures, at};

    /// Chunks whose time ranges overlap in every way (one spans all the others), an
    /// attempt stored twice and one of another tenant: every page size lists each of
    /// the tenant's attempts once, newest first.
    #[test]
    fn overlapping_chunks_merge_into_start_time_order_on_every_page_size() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree: Tree = (*db).clone();
        let acme = fixtures::tenant("acme");
        let endpoint = fixtures::endpoint(&acme);
        let event = fixtures::event(&acme, "x", at(0));
        let delivery = fixtures::delivery(&event, &endpoint);
        let made = |secs: u64| fixtures::attempt(&delivery, 1, 200, at(secs));
        let mut foreign = made(44);
        foreign.tenant = fixtures::tenant("globex");
        let twice = made(41);
        let chunks: Vec<Vec<Attempt>> = vec![
            vec![made(1), made(50), made(20)],
            vec![made(40), twice.clone(), foreign],
            vec![made(2), made(45), made(30), made(45)],
            vec![made(49)],
            vec![made(3), twice],
            vec![made(5)],
        ];
        let log = keys::attempts_of(&endpoint.id);
        let mut expected = Vec::new();
        for (number, chunk) in (1u64..).zip(&chunks) {
            let newest = chunk.iter().map(|a| a.started_at).max().unwrap();
            let encoded: Vec<Vec<u8>> = chunk.iter().map(|a| records::encode(a).unwrap()).collect();
            tree.insert(
                keys::chunk(&log, newest, number),
                records::encode_chunk(&encoded),
            )
            .unwrap();
            expected.extend(chunk.iter().filter(|a| a.tenant == acme).cloned());
        }
        expected.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
        expected.dedup_by(|a, b| a.id == b.id);
        let expected: Vec<AttemptId> = expected.into_iter().map(|a| a.id).collect();
        assert_eq!(expected.len(), 12);

        for limit in 1..=15 {
            let mut listed = Vec::new();
            let mut page = PageRequest::first(limit);
            for _ in 0..=expected.len() {
                let got = list(&tree, &acme, &endpoint.id, None, &page).unwrap();
                assert!(got.items.len() <= limit);
                listed.extend(got.items.into_iter().map(|a| a.id));
                match got.next_cursor {
                    Some(cursor) => page.cursor = Some(cursor),
                    None => break,
                }
            }
            assert_eq!(listed, expected, "limit {limit}");
        }
        let bad = PageRequest {
            cursor: Some("garbage".into()),
            ..PageRequest::first(2)
        };
        assert!(list(&tree, &acme, &endpoint.id, None, &bad).is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for after in [Some((Timestamp(16), AttemptId::generate())), None] {
            let cursor = Cursor {
                chunk: (17, 3),
                after,
            };
            let back = Cursor::parse(&cursor.format()).unwrap();
            assert_eq!(back.chunk, cursor.chunk);
            assert_eq!(back.after, cursor.after);
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.*.x",
            "1.x",
            "1.2.3",
            "1.2.x.att_1",
            "a.2.3.att_1",
            "1.2.3.not an id",
        ] {
            assert!(Cursor::parse(bad).is_none(), "{bad}");
        }
    }
}

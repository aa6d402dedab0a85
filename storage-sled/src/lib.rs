//! `SledStorage`: Herald's durable `Storage` on sled 0.34, with group commit.
//!
//! # Layout
//! - `lib.rs` (this file): opening a data directory, the keyspace, and the reads.
//! - `keys`: the order-preserving key encoding, one function per kind of key.
//! - `records`: how values are encoded (postcard records, fixed-width counters).
//! - `commit`: group commit: the writer thread, the flusher thread, and stopping them.
//! - `attempt_log`: listing an endpoint's attempts newest first from its chunks.
//! - `write`: the write rules, run on the commit thread.
//!
//! # Keyspace
//! Everything lives in sled's default tree, so one `sled::Batch` (atomic on one
//! tree) can carry a whole commit group. A key is a prefix byte and components
//! (text or big-endian `u64`, see `keys`), so each list below is one range scan:
//!
//! | key | value | serves |
//! |---|---|---|
//! | `V` | format version (`u32` BE) | open-time compatibility check |
//! | `E` endpoint | `Endpoint` | `get_endpoint`, `endpoint_by_id`, `endpoints_after` |
//! | `e` tenant, endpoint | endpoint id | `list_endpoints` (ids sort by creation) |
//! | `H` endpoint | `EndpointHealth` | `endpoint_health` |
//! | `C` endpoint | pending, dead (`u64` BE each) | `delivery_counts` in O(1) |
//! | `W` endpoint | endpoint id | `endpoints_with_pending` (present while pending > 0) |
//! | `N` tenant, event | event + its deliveries' ids and endpoints | `get_event`, idempotency, `event_deliveries` |
//! | `n` tenant, created_at, event | event id | `list_events` (time filters are key bounds), `purge_before` |
//! | `Q` endpoint, bucket, chunk number | the deliveries to that endpoint published in one commit group, their ids in one 32 ms bucket | `pending_deliveries` in publish order, `get_delivery` |
//! | `D` delivery | `Delivery`, from its first change (attempt, replay, kill) on | `get_delivery`, `pending_deliveries` |
//! | `P` endpoint, delivery | nothing; present while the delivery is pending with its record under `D` | `pending_deliveries` |
//! | `X` endpoint, delivery | delivery id | `list_dead_letters` |
//! | `A` endpoint, newest started_at, chunk number | the endpoint's attempts recorded in one commit group | `list_attempts` newest first, `purge_before` |
//! | `S` | last chunk number (`u64` BE) | numbering `A` and `Q` chunks uniquely |
//!
//! No index spans tenants or endpoints: each publish and attempt writes only keys
//! it needs to be found by, and few of them. A publish writes no key per delivery:
//! the deliveries a commit group publishes to one endpoint, their ids made in the
//! same 32 ms, share one `Q` chunk (`commit`), and an entry there is the delivery's
//! record until the delivery first changes. The change writes its record under `D`
//! (with a `P` index entry while it stays pending), so the success that settles a
//! fresh delivery writes one key. A chunk goes once none of its bucket's entries is
//! live any more. Finding a delivery by id alone (`get_delivery`) reads `D`, then
//! the bucket its id names under each of the tenant's endpoints, paid by that API
//! read rather than by every publish. Attempts are not a key each either: the
//! attempts a commit group records for one endpoint share one chunk (`commit`),
//! which `list_attempts` merges back into start-time order (`attempt_log`). The
//! retention purge skips through the `n` and `A` ranges one tenant or endpoint at a
//! time, each in time order; an attempt chunk goes once its newest attempt is older
//! than the cutoff.
//!
//! # Writes and durability
//! Every write goes through the commit thread (`commit`): concurrent writes share
//! one batch and one flush, and each returns only once durable. Reads go straight
//! to the tree: a batch is atomic to readers too, so a read sees a write whole or
//! not at all (it may see a group just before its flush completes).
//!
//! # Recovery
//! Nothing to do on open beyond sled's own recovery: pending deliveries, with their
//! attempt counts and due times, are simply there. A chunk whose removal a crash
//! interrupted is removed when next met (`commit`).
#![warn(missing_docs, unreachable_pub)]

mod attempt_log;
mod commit;
mod keys;
mod records;
mod write;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use herald::error::StorageError;
use herald::ids::{DeliveryId, EndpointId, EventId, TenantId};
use herald::model::{
    Attempt, AttemptOutcome, Delivery, DeliveryStatus, Endpoint, EndpointHealth, Event,
};
use herald::storage::{
    self, DeliveryCounts, EventFilter, InsertEvent, Page, PageRequest, PurgeStats, Storage,
    StorageResult,
};
use herald::time::Timestamp;
use sled::Tree;

use crate::commit::CommitWriter;
use crate::records::{Counts, StoredEvent};

/// The on-disk format this build reads and writes (6: deliveries published in
/// chunks, their records under `D` from their first change; 5: attempts stored in
/// chunks, one per endpoint and commit group; 4: records in postcard instead of
/// JSON; 3: a pending delivery's record is its `P` entry; 2: attempts keyed by start
/// time, no global time indexes).
pub const FORMAT_VERSION: u32 = 6;

/// How long `SledStorage::open` waits for a locked directory to be released
/// before it reports `OpenError::Locked`.
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process has the directory open (sled holds an exclusive file lock),
    /// still after `LOCK_WAIT`.
    #[error("data directory {path} is in use by another process (it holds the lock on its database file)")]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// The directory cannot be created, read or recovered.
    #[error("data directory {path} cannot be opened")]
    Unreadable {
        /// The data directory.
        path: PathBuf,
        /// What sled reported.
        #[source]
        source: sled::Error,
    },
    /// The directory holds data in a format this build does not read.
    #[error("data directory {path} holds format {found}; this build reads format {expected}")]
    IncompatibleFormat {
        /// The data directory.
        path: PathBuf,
        /// The format found (`unknown` when the data carries no version).
        found: String,
        /// `FORMAT_VERSION`.
        expected: u32,
    },
    /// The commit thread could not be started.
    #[error("cannot start the commit thread")]
    Thread(#[source] std::io::Error),
}

/// Durable storage on sled. Open one per data directory and share it behind an
/// `Arc`; dropping the last handle stops the commit thread after it has committed
/// every write already queued.
#[derive(Debug)]
pub struct SledStorage {
    /// The commit thread; declared first so it stops before the tree is dropped.
    writer: CommitWriter,
    /// The default tree, for reads.
    tree: Tree,
    /// The database, kept open for the storage's life.
    _db: sled::Db,
}

impl SledStorage {
    /// Opens (or creates) the data directory at `path`.
    ///
    /// # Errors
    /// `Locked` when another process has it open (after waiting `LOCK_WAIT` for it
    /// to let go), `IncompatibleFormat` when it holds another format, `Unreadable`
    /// for anything else sled reports, `Thread` when the commit thread cannot start.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let path = path.as_ref().to_path_buf();
        let config = sled::Config::new().path(&path);
        Self::with_config(&config, path)
    }

    /// A storage in a temporary directory that sled removes when it is dropped (for
    /// tests and benchmarks that want real writes and flushes).
    ///
    /// # Errors
    /// As `open`.
    pub fn temporary() -> Result<Self, OpenError> {
        let config = sled::Config::new().temporary(true);
        let path = config.get_path();
        Self::with_config(&config, path)
    }

    fn with_config(config: &sled::Config, path: PathBuf) -> Result<Self, OpenError> {
        let began = Instant::now();
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    // A store this process just dropped: sled's I/O threads may hold
                    // the file a moment longer. Another process holding it is
                    // reported once the wait is over.
                    if began.elapsed() >= LOCK_WAIT {
                        return Err(OpenError::Locked { path });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => return Err(OpenError::Unreadable { path, source }),
            }
        };
        let tree: Tree = (*db).clone();
        check_format(&tree, &path)?;
        let last_chunk = read_last_chunk(&tree, &path)?;
        let writer = CommitWriter::start(tree.clone(), last_chunk).map_err(OpenError::Thread)?;
        Ok(Self {
            writer,
            tree,
            _db: db,
        })
    }

    /// The stored value of `key`.
    fn get(&self, key: &[u8]) -> StorageResult<Option<sled::IVec>> {
        self.tree
            .get(key)
            .map_err(|e| StorageError::backend("reading a key", e))
    }

    /// The record stored under `key`, if any.
    fn delivery_at(&self, key: &[u8]) -> StorageResult<Option<Delivery>> {
        self.get(key)?
            .map(|bytes| records::decode(&bytes, "delivery"))
            .transpose()
    }

    /// A delivery by id, whatever its state (see `write`): under `D`, else in a
    /// pending chunk of the first of `endpoints` that has it.
    fn find_delivery(
        &self,
        id: &DeliveryId,
        endpoints: impl IntoIterator<Item = StorageResult<EndpointId>>,
    ) -> StorageResult<Option<Delivery>> {
        let record = keys::delivery(id);
        if let Some(found) = self.delivery_at(&record)? {
            return Ok(Some(found));
        }
        for endpoint in endpoints {
            for chunk in self
                .tree
                .scan_prefix(keys::published_bucket(&endpoint?, id))
            {
                let (_, chunk) = chunk.map_err(scan_error)?;
                if let Some(published) = write::find_published(&chunk, id)? {
                    // It may have changed since the first read: `D` wins.
                    return Ok(Some(self.delivery_at(&record)?.unwrap_or(published)));
                }
            }
        }
        // It may have changed, and its chunk gone, since the first read: the write
        // that changed it wrote `D` in the same batch.
        self.delivery_at(&record)
    }

    /// An endpoint's deliveries still as published, in id order, from `from` on when
    /// given: every one of the first buckets, until at least `limit` (or the end).
    /// Reports each bucket met with nothing live to the writer, which removes it.
    fn published_pending(
        &self,
        endpoint_id: &EndpointId,
        from: Option<&DeliveryId>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        let start = from.map(|id| keys::published_bucket(endpoint_id, id));
        let mut found = Vec::new();
        let mut bucket = BucketScan::default();
        for chunk in self
            .tree
            .range(under(keys::published_of(endpoint_id), start))
        {
            let (key, chunk) = chunk.map_err(scan_error)?;
            let this = keys::bucket_of_chunk(&key);
            if this != bucket.key.as_slice() {
                self.close_bucket(&mut found, &bucket);
                if found.len() >= limit {
                    return Ok(found);
                }
                bucket = BucketScan {
                    key: this.to_vec(),
                    ..BucketScan::default()
                };
            }
            for record in records::chunk_records(&chunk)? {
                // Only the entries read back whole: the id decides the rest.
                let id = records::delivery_id(record)?;
                if from.is_some_and(|from| &id < from) {
                    bucket.skipped = true;
                    continue;
                }
                bucket.seen += 1;
                if self.get(&keys::delivery(&id))?.is_none() {
                    found.push(records::decode(record, "delivery")?);
                    bucket.live += 1;
                }
            }
        }
        self.close_bucket(&mut found, &bucket);
        Ok(found)
    }

    /// Ends a bucket of `published_pending`: sorts its live entries (its chunks may
    /// interleave) and reports it when it had entries and none was live.
    fn close_bucket(&self, found: &mut [Delivery], bucket: &BucketScan) {
        if bucket.seen > 0 && bucket.live == 0 && !bucket.skipped {
            self.writer.report_settled(bucket.key.clone());
        }
        let start = found.len() - bucket.live;
        found[start..].sort_by(|a, b| a.id.cmp(&b.id));
    }

    /// Runs a purge `step` from the start of its range until it reports no next step;
    /// each step is its own small write, so a large purge never builds one huge batch
    /// and publishes keep flowing between steps. Returns how many it removed.
    async fn purge_in_steps(
        &self,
        cutoff: Timestamp,
        step: write::PurgeStep,
    ) -> StorageResult<u64> {
        let mut removed = 0;
        let mut start = None;
        loop {
            let (count, next) = self
                .writer
                .write(move |txn| step(txn, cutoff, start))
                .await?;
            removed += count;
            match next {
                Some(next) => start = Some(next),
                None => return Ok(removed),
            }
        }
    }

    /// The ids of a tenant's endpoints, oldest first.
    fn tenant_endpoint_ids(
        &self,
        tenant: &TenantId,
    ) -> impl Iterator<Item = StorageResult<EndpointId>> + '_ {
        self.tree
            .scan_prefix(keys::tenant_endpoints(tenant))
            .map(|entry| {
                let (_, id) = entry.map_err(scan_error)?;
                parse_endpoint_id(&id, "endpoint index")
            })
    }
}

/// The keys under `prefix`, from `start` on when given (a key under `prefix`).
fn under(prefix: Vec<u8>, start: Option<Vec<u8>>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let end = keys::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(start.unwrap_or(prefix)), end)
}

/// One bucket of pending chunks as `published_pending` reads it.
#[derive(Default)]
struct BucketScan {
    /// The bucket (`keys::published_bucket`).
    key: Vec<u8>,
    /// Entries looked at, and how many of them were live.
    seen: usize,
    live: usize,
    /// Whether entries before the read's start were passed over unread.
    skipped: bool,
}

/// Writes the format version into a fresh store, or checks the one found.
fn check_format(tree: &Tree, path: &Path) -> Result<(), OpenError> {
    let unreadable = |source| OpenError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let incompatible = |found: String| OpenError::IncompatibleFormat {
        path: path.to_path_buf(),
        found,
        expected: FORMAT_VERSION,
    };
    match tree.get(keys::version()).map_err(unreadable)? {
        Some(stored) => {
            let found = <[u8; 4]>::try_from(stored.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| incompatible("unknown".into()))?;
            if found != FORMAT_VERSION {
                return Err(incompatible(found.to_string()));
            }
        }
        None => {
            if tree.first().map_err(unreadable)?.is_some() {
                return Err(incompatible("unknown".into()));
            }
            tree.insert(keys::version(), &FORMAT_VERSION.to_be_bytes())
                .map_err(unreadable)?;
            tree.flush().map_err(unreadable)?;
        }
    }
    Ok(())
}

/// The last attempt chunk number used in the directory (`keys::chunk_number`; 0
/// before the first chunk).
fn read_last_chunk(tree: &Tree, path: &Path) -> Result<u64, OpenError> {
    let stored = tree
        .get(keys::chunk_number())
        .map_err(|source| OpenError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
    match stored {
        None => Ok(0),
        Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| OpenError::IncompatibleFormat {
                path: path.to_path_buf(),
                found: "unknown (a malformed chunk number)".into(),
                expected: FORMAT_VERSION,
            }),
    }
}

/// An endpoint id stored as the value of the index `what` names.
fn parse_endpoint_id(bytes: &[u8], what: &str) -> StorageResult<EndpointId> {
    let text = records::text(bytes, what)?;
    EndpointId::parse(&text).map_err(|_| StorageError::Corrupt(format!("{what}: {text}")))
}

/// Up to `limit` records (`what` names them in errors) from scanned entries.
fn decode_records<T: serde::de::DeserializeOwned>(
    entries: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    what: &str,
    limit: usize,
) -> StorageResult<Vec<T>> {
    entries
        .take(limit)
        .map(|entry| {
            let (_, bytes) = entry.map_err(scan_error)?;
            records::decode(&bytes, what)
        })
        .collect()
}

/// A delivery id stored as an index value.
fn parse_delivery_id(bytes: &[u8]) -> StorageResult<DeliveryId> {
    let text = records::text(bytes, "delivery index")?;
    DeliveryId::parse(&text).map_err(|_| StorageError::Corrupt(format!("delivery index: {text}")))
}

/// A malformed cursor: a caller bug or a cursor from another list.
fn bad_cursor(cursor: &str) -> StorageError {
    StorageError::BadCursor(cursor.to_owned())
}

/// The bounds for a newest-first listing of the keys under `prefix`, stopping
/// before `cursor_key` when continuing a list.
fn newest_first_bounds(
    prefix: Vec<u8>,
    cursor_key: Option<Vec<u8>>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let upper = match cursor_key {
        Some(key) => Bound::Excluded(key),
        None => match keys::prefix_end(&prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        },
    };
    (Bound::Included(prefix), upper)
}

/// Takes up to `limit` items and makes the cursor from the last one when more remain.
fn paginate<T>(
    mut items: impl Iterator<Item = StorageResult<T>>,
    limit: usize,
    cursor_of: impl Fn(&T) -> String,
) -> StorageResult<Page<T>> {
    let mut taken = Vec::new();
    while taken.len() < limit {
        match items.next() {
            Some(item) => taken.push(item?),
            None => break,
        }
    }
    let more = if taken.len() == limit && limit > 0 {
        items.next().transpose()?.is_some()
    } else {
        false
    };
    let next_cursor = if more {
        taken.last().map(cursor_of)
    } else {
        None
    };
    Ok(Page {
        items: taken,
        next_cursor,
    })
}

/// Maps a sled scan error.
fn scan_error(e: sled::Error) -> StorageError {
    StorageError::backend("scanning keys", e)
}

#[async_trait]
impl Storage for SledStorage {
    async fn put_endpoint(&self, endpoint: &Endpoint) -> StorageResult<()> {
        let endpoint = endpoint.clone();
        self.writer
            .write(move |txn| write::put_endpoint(txn, &endpoint))
            .await
    }

    async fn get_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> StorageResult<Option<Endpoint>> {
        Ok(self
            .endpoint_by_id(id)
            .await?
            .filter(|e| &e.tenant == tenant))
    }

    async fn endpoint_by_id(&self, id: &EndpointId) -> StorageResult<Option<Endpoint>> {
        self.get(&keys::endpoint(id))?
            .map(|bytes| records::decode(&bytes, "endpoint"))
            .transpose()
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<Endpoint>> {
        let cursor_key = match &page.cursor {
            Some(c) => Some(keys::tenant_endpoint(
                tenant,
                &EndpointId::parse(c).map_err(|_| bad_cursor(c))?,
            )),
            None => None,
        };
        let bounds = newest_first_bounds(keys::tenant_endpoints(tenant), cursor_key);
        let items = self.tree.range(bounds).rev().filter_map(|entry| {
            let found = entry.map_err(scan_error).and_then(|(_, id)| {
                let id = parse_endpoint_id(&id, "endpoint index")?;
                self.get(&keys::endpoint(&id))?
                    .map(|bytes| records::decode::<Endpoint>(&bytes, "endpoint"))
                    .transpose()
            });
            found.transpose()
        });
        paginate(items, page.limit, |e| e.id.to_string())
    }

    async fn endpoints_after(
        &self,
        after: Option<&EndpointId>,
        limit: usize,
    ) -> StorageResult<Vec<Endpoint>> {
        let lower = match after {
            Some(id) => Bound::Excluded(keys::endpoint(id)),
            None => Bound::Included(vec![keys::kind::ENDPOINT]),
        };
        let upper =
            keys::prefix_end(&[keys::kind::ENDPOINT]).map_or(Bound::Unbounded, Bound::Excluded);
        decode_records(self.tree.range((lower, upper)), "endpoint", limit)
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        now: Timestamp,
    ) -> StorageResult<Option<u64>> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.writer
            .write(move |txn| write::delete_endpoint(txn, &tenant, &id, now))
            .await
    }

    async fn endpoint_health(&self, id: &EndpointId) -> StorageResult<EndpointHealth> {
        Ok(self
            .get(&keys::health(id))?
            .map(|bytes| records::decode(&bytes, "health"))
            .transpose()?
            .unwrap_or_default())
    }

    async fn put_endpoint_health(
        &self,
        id: &EndpointId,
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        let (id, health) = (id.clone(), health.clone());
        self.writer
            .write(move |txn| write::put_health(txn, &id, &health))
            .await
    }

    async fn delivery_counts(&self, id: &EndpointId) -> StorageResult<DeliveryCounts> {
        let counts = match self.get(&keys::counts(id))? {
            Some(bytes) => Counts::decode(&bytes)?,
            None => Counts::default(),
        };
        Ok(DeliveryCounts {
            pending: counts.pending,
            dead: counts.dead,
        })
    }

    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
    ) -> StorageResult<InsertEvent> {
        let encoded = write::EncodedEvent::new(event, deliveries)?;
        self.writer
            .write(move |txn| write::insert_event(txn, encoded))
            .await
    }

    async fn get_event(&self, tenant: &TenantId, id: &EventId) -> StorageResult<Option<Event>> {
        Ok(self
            .get(&keys::event(tenant, id))?
            .map(|bytes| records::decode::<StoredEvent>(&bytes, "event"))
            .transpose()?
            .map(|stored| stored.event))
    }

    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> StorageResult<Page<Event>> {
        let prefix = keys::tenant_events(tenant);
        let lower = match filter.since {
            Some(since) => prefix.clone().number(since.0).into_bytes(),
            None => prefix.clone().into_bytes(),
        };
        let mut upper = match filter.until {
            Some(until) => Some(prefix.clone().number(until.0).into_bytes()),
            None => keys::prefix_end(&prefix.clone().into_bytes()),
        };
        if let Some(c) = &page.cursor {
            let (created_at, id) = storage::parse_event_cursor(c).ok_or_else(|| bad_cursor(c))?;
            let after = keys::tenant_event(tenant, created_at, &id);
            if upper.as_ref().is_none_or(|u| &after < u) {
                upper = Some(after);
            }
        }
        if upper.as_ref().is_some_and(|u| u <= &lower) {
            return Ok(Page::empty());
        }
        let upper = match upper {
            Some(u) => Bound::Excluded(u),
            None => Bound::Unbounded,
        };
        let items = self
            .tree
            .range((Bound::Included(lower), upper))
            .rev()
            .filter_map(|entry| {
                let found = entry.map_err(scan_error).and_then(|(_, id)| {
                    let id = records::text(&id, "event index")?;
                    let id = EventId::parse(&id)
                        .map_err(|_| StorageError::Corrupt(format!("event index: {id}")))?;
                    self.get(&keys::event(tenant, &id))?
                        .map(|bytes| records::decode::<StoredEvent>(&bytes, "event"))
                        .transpose()
                });
                match found {
                    Ok(Some(stored))
                        if filter
                            .event_type
                            .as_ref()
                            .is_none_or(|t| &stored.event.event_type == t) =>
                    {
                        Some(Ok(stored.event))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            });
        paginate(items, page.limit, storage::event_cursor)
    }

    async fn event_deliveries(
        &self,
        tenant: &TenantId,
        event_id: &EventId,
    ) -> StorageResult<Vec<Delivery>> {
        let Some(bytes) = self.get(&keys::event(tenant, event_id))? else {
            return Ok(Vec::new());
        };
        let stored: StoredEvent = records::decode(&bytes, "event")?;
        let mut deliveries = Vec::with_capacity(stored.deliveries.len());
        for delivery in &stored.deliveries {
            let endpoint = [Ok(delivery.endpoint_id.clone())];
            if let Some(found) = self.find_delivery(&delivery.id, endpoint)? {
                deliveries.push(found);
            }
        }
        deliveries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(deliveries)
    }

    async fn get_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> StorageResult<Option<Delivery>> {
        Ok(self
            .find_delivery(id, self.tenant_endpoint_ids(tenant))?
            .filter(|d| &d.tenant == tenant))
    }

    async fn pending_deliveries(
        &self,
        endpoint_id: &EndpointId,
        from: Option<&DeliveryId>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        // The deliveries as published, and those changed since (under `D`, indexed
        // under `P`); one that changed between the two reads is in both, as changed.
        let mut pending: BTreeMap<DeliveryId, Delivery> = self
            .published_pending(endpoint_id, from, limit)?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
        let start = from.map(|id| keys::pending(endpoint_id, id));
        let changed = self.tree.range(under(keys::pending_of(endpoint_id), start));
        for entry in changed.take(limit) {
            let (key, _) = entry.map_err(scan_error)?;
            let id = write::pending_id(&key)?;
            match self.delivery_at(&keys::delivery(&id))? {
                Some(d) if d.status == DeliveryStatus::Pending => {
                    pending.insert(id, d);
                }
                _ => {
                    pending.remove(&id);
                }
            }
        }
        Ok(pending.into_values().take(limit).collect())
    }

    async fn endpoints_with_pending(&self) -> StorageResult<Vec<EndpointId>> {
        self.tree
            .scan_prefix([keys::kind::WITH_PENDING])
            .map(|entry| {
                let (_, id) = entry.map_err(scan_error)?;
                parse_endpoint_id(&id, "pending endpoints")
            })
            .collect()
    }

    async fn record_attempt(
        &self,
        attempt: &Attempt,
        delivery: &Delivery,
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        let encoded = write::EncodedAttempt::new(attempt, delivery, health)?;
        self.writer
            .write(move |txn| write::record_attempt(txn, encoded))
            .await
    }

    async fn update_deliveries(&self, deliveries: &[Delivery]) -> StorageResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let deliveries = deliveries.to_vec();
        self.writer
            .write(move |txn| {
                deliveries
                    .iter()
                    .try_for_each(|d| write::put_delivery(txn, d))
            })
            .await
    }

    async fn list_attempts(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        outcome: Option<AttemptOutcome>,
        page: &PageRequest,
    ) -> StorageResult<Page<Attempt>> {
        attempt_log::list(&self.tree, tenant, endpoint_id, outcome, page)
    }

    async fn list_dead_letters(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        let cursor_key = match &page.cursor {
            Some(c) => Some(keys::dead(
                endpoint_id,
                &DeliveryId::parse(c).map_err(|_| bad_cursor(c))?,
            )),
            None => None,
        };
        let bounds = newest_first_bounds(keys::dead_of(endpoint_id), cursor_key);
        let items = self.tree.range(bounds).rev().filter_map(|entry| {
            let found = entry.map_err(scan_error).and_then(|(_, id)| {
                let id = parse_delivery_id(&id)?;
                self.delivery_at(&keys::delivery(&id))
            });
            match found {
                Ok(Some(d)) if d.status == DeliveryStatus::Dead && &d.tenant == tenant => {
                    Some(Ok(d))
                }
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        });
        paginate(items, page.limit, |d| d.id.to_string())
    }

    async fn purge_before(&self, cutoff: Timestamp) -> StorageResult<PurgeStats> {
        Ok(PurgeStats {
            events: self.purge_in_steps(cutoff, write::purge_events).await?,
            attempts: self.purge_in_steps(cutoff, write::purge_attempts).await?,
        })
    }

    async fn flush(&self) -> StorageResult<()> {
        // An empty request still makes its group flush, after every write before it.
        self.writer.write(|_| Ok(())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_testkit::conformance::{self as fixtures, at};

    /// A temporary store with one endpoint of tenant `acme`.
    async fn store_with_endpoint() -> (SledStorage, TenantId, Endpoint) {
        let s = SledStorage::temporary().unwrap();
        let acme = fixtures::tenant("acme");
        let ep = fixtures::endpoint(&acme);
        s.put_endpoint(&ep).await.unwrap();
        (s, acme, ep)
    }

    /// Attempts recorded in one group share one chunk; the purge takes the chunk only
    /// once its newest attempt is older than the cutoff, and counts each attempt in it.
    #[tokio::test]
    async fn a_chunk_is_purged_whole_once_its_newest_attempt_is_old() {
        let (s, acme, ep) = store_with_endpoint().await;
        let d = fixtures::publish(&s, &fixtures::event(&acme, "x", at(1)), &[&ep, &ep]).await;
        let encoded = [(&d[0], at(2)), (&d[1], at(20))].map(|(delivery, started_at)| {
            let attempt = fixtures::attempt(delivery, 1, 500, started_at);
            write::EncodedAttempt::new(&attempt, delivery, &fixtures::health(1)).unwrap()
        });
        s.writer
            .write(move |txn| {
                encoded
                    .into_iter()
                    .try_for_each(|attempt| write::record_attempt(txn, attempt))
            })
            .await
            .unwrap();
        assert_eq!(s.tree.scan_prefix([keys::kind::ATTEMPT]).count(), 1);
        let listed = |s: &SledStorage| {
            attempt_log::list(&s.tree, &acme, &ep.id, None, &PageRequest::first(10))
                .unwrap()
                .items
                .len()
        };

        assert_eq!(s.purge_before(at(10)).await.unwrap().attempts, 0);
        assert_eq!(listed(&s), 2);
        assert_eq!(s.purge_before(at(21)).await.unwrap().attempts, 2);
        assert_eq!(listed(&s), 0);
    }

    /// How many pending chunks are stored.
    fn published_chunks(s: &SledStorage) -> usize {
        s.tree.scan_prefix([keys::kind::PUBLISHED]).count()
    }

    /// `delivery` as its attempt number `number` answered `status` leaves it.
    async fn attempted(s: &SledStorage, delivery: &Delivery, status: u16) -> Delivery {
        let mut after = delivery.clone();
        after.attempts += 1;
        after.last_status = Some(status);
        after.updated_at = at(5);
        if status < 300 {
            after.status = DeliveryStatus::Succeeded;
            after.next_attempt_at = None;
        } else {
            after.next_attempt_at = Some(at(60));
        }
        let attempt = fixtures::attempt(delivery, after.attempts, status, at(5));
        s.record_attempt(&attempt, &after, &fixtures::health(0))
            .await
            .unwrap();
        after
    }

    /// Publishes events to `endpoints`, each in its own commit group.
    async fn publish_each(
        s: &SledStorage,
        events: usize,
        endpoints: &[&Endpoint],
    ) -> Vec<Delivery> {
        let acme = fixtures::tenant("acme");
        let mut all = Vec::new();
        for t in 0..events {
            let event = fixtures::event(&acme, "x", at(t as u64));
            all.extend(fixtures::publish(s, &event, endpoints).await);
        }
        all
    }

    /// A pending chunk stays while any delivery in it is as published, and goes in
    /// the group after the last one changed (a retry counts: the record moved).
    #[tokio::test]
    async fn published_chunks_go_once_none_of_their_deliveries_is_live() {
        let s = SledStorage::temporary().unwrap();
        let acme = fixtures::tenant("acme");
        let (a, b) = (fixtures::endpoint(&acme), fixtures::endpoint(&acme));
        s.put_endpoint(&a).await.unwrap();
        s.put_endpoint(&b).await.unwrap();
        let all = publish_each(&s, 3, &[&a, &b]).await;
        let (to_a, to_b): (Vec<Delivery>, Vec<Delivery>) =
            all.into_iter().partition(|d| d.endpoint_id == a.id);
        assert_eq!(published_chunks(&s), 6, "one chunk per endpoint and group");

        for d in &to_a {
            attempted(&s, d, 200).await;
        }
        let retried = attempted(&s, &to_b[1], 500).await;
        s.flush().await.unwrap();
        assert_eq!(
            published_chunks(&s),
            3,
            "a's chunks went; b's bucket holds live ones"
        );
        assert_eq!(
            s.pending_deliveries(&b.id, None, 10).await.unwrap(),
            vec![to_b[0].clone(), retried.clone(), to_b[2].clone()]
        );

        let mut settled = Vec::new();
        for d in [&to_b[0], &retried, &to_b[2]] {
            settled.push(attempted(&s, d, 200).await);
        }
        s.flush().await.unwrap();
        assert_eq!(published_chunks(&s), 0);
        for d in &settled {
            assert_eq!(
                s.get_delivery(&acme, &d.id).await.unwrap().as_ref(),
                Some(d)
            );
        }
        assert!(s
            .pending_deliveries(&b.id, None, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.delivery_counts(&b.id).await.unwrap().pending, 0);
    }

    /// Chunks whose removal a restart interrupted are removed once met: by the
    /// next change in their bucket, or by a reader that finds nothing live there.
    #[tokio::test]
    async fn chunks_left_by_a_restart_are_removed_once_met() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let acme = fixtures::tenant("acme");
        let (a, b) = (fixtures::endpoint(&acme), fixtures::endpoint(&acme));
        let (to_a, to_b) = {
            let s = SledStorage::open(&path).unwrap();
            s.put_endpoint(&a).await.unwrap();
            s.put_endpoint(&b).await.unwrap();
            let to_a = publish_each(&s, 2, &[&a]).await;
            let to_b = publish_each(&s, 2, &[&b]).await;
            // Settled in one group (the two publishes to an endpoint may fall in two
            // buckets, whose removal a later group would run), and dropped before a
            // next group could remove a's chunks.
            let settled: Vec<Delivery> = [&to_a[0], &to_a[1], &to_b[0]]
                .into_iter()
                .map(|d| Delivery {
                    status: DeliveryStatus::Succeeded,
                    attempts: 1,
                    ..d.clone()
                })
                .collect();
            s.update_deliveries(&settled).await.unwrap();
            (to_a, to_b)
        };
        let s = SledStorage::open(&path).unwrap();
        assert_eq!(published_chunks(&s), 4);

        // A reader finds a's bucket with nothing live in it.
        assert!(s
            .pending_deliveries(&a.id, None, 10)
            .await
            .unwrap()
            .is_empty());
        s.flush().await.unwrap();
        assert_eq!(published_chunks(&s), 2);

        // The last live delivery of b's bucket changes: the writer, which has no
        // count for that bucket, checks it.
        assert_eq!(
            s.pending_deliveries(&b.id, None, 10).await.unwrap(),
            vec![to_b[1].clone()]
        );
        let done = attempted(&s, &to_b[1], 200).await;
        s.flush().await.unwrap();
        assert_eq!(published_chunks(&s), 0);
        assert_eq!(s.get_delivery(&acme, &done.id).await.unwrap(), Some(done));
        assert_eq!(
            s.get_delivery(&acme, &to_a[1].id)
                .await
                .unwrap()
                .map(|d| d.status),
            Some(DeliveryStatus::Succeeded)
        );
    }

    /// The purge never removes the record of a delivery whose chunk is still
    /// there (that would make its entry live again): an old settled event that
    /// shares a chunk with a pending delivery stays until the chunk goes.
    #[tokio::test]
    async fn the_purge_waits_for_a_shared_chunk_to_go() {
        let (s, acme, ep) = store_with_endpoint().await;
        let events = [1, 2].map(|t| fixtures::event(&acme, "x", at(t)));
        let deliveries = events
            .clone()
            .map(|event| vec![fixtures::delivery(&event, &ep)]);
        let encoded: Vec<write::EncodedEvent> = events
            .iter()
            .zip(&deliveries)
            .map(|(event, ds)| write::EncodedEvent::new(event, ds).unwrap())
            .collect();
        s.writer
            .write(move |txn| {
                encoded
                    .into_iter()
                    .try_for_each(|e| write::insert_event(txn, e).map(|_| ()))
            })
            .await
            .unwrap();
        assert_eq!(published_chunks(&s), 1, "one group, one chunk");
        let first = attempted(&s, &deliveries[0][0], 200).await;

        assert_eq!(s.purge_before(at(10)).await.unwrap().events, 0);
        assert_eq!(s.get_delivery(&acme, &first.id).await.unwrap(), Some(first));
        assert_eq!(
            s.pending_deliveries(&ep.id, None, 10).await.unwrap(),
            deliveries[1]
        );

        attempted(&s, &deliveries[1][0], 200).await;
        assert_eq!(s.purge_before(at(10)).await.unwrap().events, 2);
        assert_eq!(published_chunks(&s), 0);
        assert!(s
            .pending_deliveries(&ep.id, None, 10)
            .await
            .unwrap()
            .is_empty());
    }

    /// Pending deliveries list in id order across buckets, chunks and changed
    /// records, at every limit.
    #[tokio::test]
    async fn pending_deliveries_merge_buckets_and_changed_records_in_id_order() {
        let (s, _, ep) = store_with_endpoint().await;
        let mut all = Vec::new();
        for _ in 0..3 {
            all.extend(publish_each(&s, 3, &[&ep]).await);
            // Ids made 40 ms apart fall in different buckets.
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        }
        let buckets: std::collections::BTreeSet<Vec<u8>> = s
            .tree
            .scan_prefix([keys::kind::PUBLISHED])
            .map(|entry| keys::bucket_of_chunk(&entry.unwrap().0).to_vec())
            .collect();
        assert!(buckets.len() >= 3, "{} buckets", buckets.len());

        let mut expected = all.clone();
        for i in [1, 4, 8] {
            expected[i] = attempted(&s, &all[i], 500).await;
        }
        attempted(&s, &all[5], 200).await;
        expected.remove(5);
        for limit in 0..=expected.len() + 1 {
            let listed = s.pending_deliveries(&ep.id, None, limit).await.unwrap();
            let want = &expected[..limit.min(expected.len())];
            assert_eq!(listed, want, "limit {limit}");
        }
        for from in &all {
            let rest: Vec<&Delivery> = expected.iter().filter(|d| d.id >= from.id).collect();
            for limit in [1, 3, 100] {
                let listed = s
                    .pending_deliveries(&ep.id, Some(&from.id), limit)
                    .await
                    .unwrap();
                let want: Vec<Delivery> = rest.iter().take(limit).map(|d| (*d).clone()).collect();
                assert_eq!(listed, want, "from {}, limit {limit}", from.id);
            }
        }
    }
}

//! `SledStorage`: Herald's durable `Storage` on sled 0.34, with group commit.
//!
//! # Layout
//! - `lib.rs` (this file): opening a data directory, the keyspace, and the reads.
//! - `keys`: the order-preserving key encoding, one function per kind of key.
//! - `records`: the stored record types (frozen formats, apart from the domain
//!   structs), fixed-width counters and chunks.
//! - `endpoint_record`: the endpoint record, its secrets and header values sealed.
//! - `sealing_keys`: the keyring file, and the check that a keyring opens the store.
//! - `commit`: group commit: the writer thread, the flusher thread, and stopping them.
//! - `device_sync`: making a flushed group durable on the device (fdatasync).
//! - `permissions`: the data directory `0700`, its files `0600`.
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
//! | `E` endpoint | `EndpointRecord`, secrets and header values sealed | `get_endpoint`, `endpoint_by_id`, `endpoints_after`, `replace_endpoint`'s compare |
//! | `e` tenant, endpoint | endpoint id | `list_endpoints` (ids sort by creation) |
//! | `H` endpoint | `HealthRecord` | `endpoint_health` |
//! | `C` endpoint | pending, dead (`u64` BE each) | `delivery_counts` in O(1) |
//! | `W` endpoint | endpoint id | `endpoints_with_pending` (present while pending > 0) |
//! | `N` tenant, event | `EventRecord`: the event + its deliveries' ids and endpoints | `get_event`, idempotency, `event_deliveries` |
//! | `n` tenant, created_at, event | event id | `list_events` (time filters are key bounds), `purge_before` |
//! | `Q` endpoint, bucket, chunk number | the deliveries (`DeliveryRecord`s) to that endpoint published in one commit group, their ids in one 32 ms bucket | `pending_deliveries` in both orders, `get_delivery` |
//! | `D` delivery | `DeliveryRecord`, from its first change (attempt, replay, kill) on | `get_delivery`, `pending_deliveries` |
//! | `P` endpoint, due (`u64` BE ms), delivery | nothing; present while the delivery is pending with its record under `D` | `pending_deliveries` in due order (a range from any key), and in publish order (read whole) |
//! | `X` endpoint, delivery | delivery id | `list_dead_letters` |
//! | `A` endpoint, newest started_at, chunk number | the endpoint's `AttemptRecord`s recorded in one commit group | `list_attempts` newest first, `purge_before` |
//! | `S` | last chunk number (`u64` BE) | numbering `A` and `Q` chunks uniquely |
//! | `L` | the largest delivery id ever written (text) | `last_delivery_id`; written only when it grows |
//! | `M` tenant | its endpoint count (`u64` BE; no key at 0) | `count_endpoints` in O(1), the limit of `create_endpoint_within` |
//! | `K` key | `ApiKeyRecord` (its token's SHA-256, never the token) | `delete_key`, `touch_keys` (given key ids alone) |
//! | `k` tenant, key | key id | `list_keys` newest first (ids sort by creation) |
//! | `h` token hash | key id | `key_by_hash` in two reads |
//! | `T` tenant | `TenantSettingsRecord` | `tenant_settings` |
//! | `Y` tenant, event type | `EventTypeRecord` | `event_type`, `list_event_types` in type order |
//! | `Z` sealing key id | a check value sealed under that key | the open's check that the keyring opens the store |
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
//! The access records (`M`, `K`, `k`, `h`, `T`, `Y`) are few and change rarely. A
//! request's token names no tenant, so its key is found across tenants by the
//! token's hash (`h`), as an endpoint is by its id (`E`). `M` is kept by the endpoint
//! writes themselves (`write::create_endpoint`, `write::delete_endpoint`), so the
//! limit check and the create are one step on the commit thread.
//!
//! # Pending deliveries in two orders
//! A live `Q` entry is a fresh delivery: pending, never attempted, due at its
//! creation. The engine makes a delivery id at its creation time (the ULID's time
//! is `created_at`, `DeliveryId::generate_at`), so for a fresh delivery due order,
//! (due, id), is id order, and a `Q` scan in key order is in both orders at once.
//! The reads rely on this. Changed pending deliveries are indexed by due time under
//! `P`. So a due-order read from (due, id) merges a `Q` scan from the bucket of
//! that due time with a `P` range from that key, and takes the first `limit` of
//! both. A publish-order read merges a `Q` scan from the bucket of that id with all
//! of the endpoint's `P` entries, ordered by id (the id is in the key): `P` holds
//! only deliveries retried or replayed, few for a fifo endpoint, whose failing
//! head blocks the rest.
//!
//! # Writes and durability
//! Every write goes through the commit thread (`commit`): concurrent writes share
//! one batch and one flush, and each returns only once durable: after sled's flush
//! and an `fdatasync` of its files (`device_sync`; sled alone would leave them in
//! the page cache). Reads run on tokio's blocking pool (`spawn_blocking`), never on
//! an async worker: a sled read may wait on the disk. A batch is atomic to readers
//! too, so a read sees a write whole or not at all (it may see a group just before
//! its flush completes).
//!
//! # Files
//! The data directory is `0700` and every file in it `0600` (`permissions`): it
//! holds endpoint secrets and payloads. Files sled creates after the open (snapshots)
//! get the process's umask, but are out of others' reach inside the `0700`
//! directory; blob files are set to `0600` as they are synced.
//!
//! # Recovery
//! Nothing to do on open beyond sled's own recovery: pending deliveries, with their
//! attempt counts and due times, are simply there. A chunk whose removal a crash
//! interrupted is removed when next met (`commit`).
#![warn(missing_docs, unreachable_pub)]

mod attempt_log;
mod commit;
mod device_sync;
mod endpoint_record;
mod keys;
mod permissions;
mod records;
mod sealing_keys;
mod write;

pub use sealing_keys::KEYRING_FILE;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use herald::error::StorageError;
use herald::ids::{DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::model::{
    ApiKey, Attempt, AttemptOutcome, Delivery, DeliveryStatus, Endpoint, EndpointHealth, Event,
    EventTypeEntry, TenantSettings,
};
use herald::sealing::Keyring;
use herald::storage::{
    self, CreateEndpoint, DeliveryCounts, EventFilter, InsertEvent, Outcome, Page, PageRequest,
    PendingKey, PendingOrder, PurgeStats, ReplaceEndpoint, Storage, StorageResult,
};
use herald::time::Timestamp;
use sled::Tree;

use crate::commit::{CommitWriter, Counters};
use crate::device_sync::DeviceSync;
use crate::records::{Counts, StoredEvent};

/// The on-disk format this build reads and writes (8: endpoint secrets and header
/// values sealed, the keyring checks under `Z`; 7: storage-owned record types,
/// `P` keyed by due time, the largest delivery id under `L`, the access records
/// and the tenants' endpoint counts; 6: deliveries
/// published in chunks, their records under `D` from their first change; 5:
/// attempts stored in chunks, one per endpoint and commit group; 4: records in
/// postcard instead of JSON; 3: a pending delivery's record is its `P` entry; 2:
/// attempts keyed by start time, no global time indexes).
pub const FORMAT_VERSION: u32 = 8;

/// The earlier format this build migrates on open (its endpoint records are sealed
/// in place; nothing else changed).
pub const MIGRATES_FORMAT: u32 = 7;

/// The most sled keeps of the tree in memory (sled's own default is 1 GiB): the
/// working set of delivery is recent keys, and a backlog of millions of deliveries
/// must not grow the process by a gigabyte of cache.
pub const CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads at once on tokio's blocking pool.
const READERS: usize = 16;

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
    /// The directory cannot be created, read, restricted to its owner, synced or
    /// recovered.
    #[error("data directory {path} cannot be opened")]
    Unreadable {
        /// The data directory.
        path: PathBuf,
        /// What sled reported (`sled::Error::Io` for the file system's errors).
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
    /// The keyring file cannot be read, written or parsed.
    #[error("keyring {path}: {message}")]
    Keyring {
        /// The keyring file.
        path: PathBuf,
        /// What is wrong (never a key).
        message: String,
    },
    /// The keyring has a key of this id, but not the key the store sealed with.
    #[error(
        "data directory {path} was sealed with another key of id `{id}`: wrong encryption key"
    )]
    WrongKey {
        /// The data directory.
        path: PathBuf,
        /// The key id.
        id: String,
    },
    /// The store holds values sealed under a key the keyring does not have.
    #[error("data directory {path} holds values sealed under key `{id}`, which the keyring does not have")]
    MissingKey {
        /// The data directory.
        path: PathBuf,
        /// The key id.
        id: String,
    },
}

/// Durable storage on sled. Open one per data directory and share it behind an
/// `Arc`; dropping the last handle (and the last read still running, which holds
/// the store too) stops the commit thread after it has committed every write
/// already queued.
#[derive(Debug)]
pub struct SledStorage {
    /// The store, shared with the reads running on the blocking pool.
    store: Arc<Store>,
}

/// What the handle and its running reads share.
#[derive(Debug)]
struct Store {
    /// The commit thread; declared first so it stops before the tree is dropped.
    writer: CommitWriter,
    /// The default tree, for reads.
    tree: Tree,
    /// Seals and opens endpoint secrets and header values (`endpoint_record`).
    keyring: Arc<Keyring>,
    /// Reads running on the blocking pool (see `read`).
    readers: Arc<tokio::sync::Semaphore>,
    /// The database, kept open for the storage's life.
    _db: sled::Db,
}

/// What a commit waits for before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Sled's flush, then an `fdatasync` (`device_sync`): the data is on the device.
    Device,
    /// Sled's flush alone: the data is in the page cache (a temporary store, whose
    /// files sled does not sync either).
    PageCache,
}

impl SledStorage {
    /// Opens (or creates) the data directory at `path`, creating it `0700` or
    /// tightening it to `0700`, and setting every file in it to `0600`.
    ///
    /// # Errors
    /// `Locked` when another process has it open (after waiting `LOCK_WAIT` for it
    /// to let go), `IncompatibleFormat` when it holds another format, `Unreadable`
    /// for anything else sled or the file system reports, `Thread` when the commit
    /// thread cannot start.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let path = path.as_ref();
        permissions::prepare(path).map_err(|e| unreadable(path, e))?;
        let keyring = sealing_keys::load_or_create(path)?;
        Self::open_with(path, keyring, Durability::Device)
    }

    /// As `open`, sealing with `keyring` instead of the directory's keyring file (for
    /// keys kept apart from the data: configuration, a secret store).
    ///
    /// # Errors
    /// As `open`; `WrongKey` or `MissingKey` when `keyring` does not open what the
    /// store sealed.
    pub fn open_with_keyring(path: impl AsRef<Path>, keyring: Keyring) -> Result<Self, OpenError> {
        Self::open_with(path.as_ref(), keyring, Durability::Device)
    }

    /// A storage in a temporary directory that sled removes when it is dropped (for
    /// tests and benchmarks that want real writes and flushes), sealing with a new
    /// key held in memory. Its commits wait for sled's flush but not for the device:
    /// sled does not sync a temporary store's files either.
    ///
    /// # Errors
    /// As `open`.
    pub fn temporary() -> Result<Self, OpenError> {
        let config = sled::Config::new().temporary(true);
        let path = config.get_path();
        Self::with_config(&config, path, Keyring::generate(), Durability::PageCache)
    }

    /// `open`, with commits waiting for `durability`.
    fn open_with(path: &Path, keyring: Keyring, durability: Durability) -> Result<Self, OpenError> {
        let path = path.to_path_buf();
        permissions::prepare(&path).map_err(|e| unreadable(&path, e))?;
        // No background flush: every commit group is flushed (and synced) by the
        // commit pipeline before it is answered, and sled's own flush every 500 ms
        // only competed with it, holding publishes up for tens of milliseconds.
        let config = sled::Config::new()
            .path(&path)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None);
        Self::with_config(&config, path, keyring, durability)
    }

    fn with_config(
        config: &sled::Config,
        path: PathBuf,
        keyring: Keyring,
        durability: Durability,
    ) -> Result<Self, OpenError> {
        let db = open_db(config, &path)?;
        permissions::restrict(&path).map_err(|e| unreadable(&path, e))?;
        let tree: Tree = (*db).clone();
        check_format(&tree, &path, &keyring)?;
        let counters = read_counters(&tree, &path)?;
        let device = match durability {
            Durability::Device => Some(DeviceSync::open(&path).map_err(|e| unreadable(&path, e))?),
            Durability::PageCache => None,
        };
        let writer =
            CommitWriter::start(tree.clone(), counters, device).map_err(OpenError::Thread)?;
        Ok(Self {
            store: Arc::new(Store {
                writer,
                tree,
                keyring: Arc::new(keyring),
                readers: Arc::new(tokio::sync::Semaphore::new(READERS)),
                _db: db,
            }),
        })
    }

    /// Seals every endpoint's secrets and header values of the data directory at
    /// `path` again, under `keyring`'s current key, and forgets the other keys: after
    /// it, the current key alone opens the store. The store must not be open
    /// (`heraldd` stopped). Returns how many endpoints were sealed again.
    ///
    /// # Errors
    /// As `open_with_keyring`: `keyring` must open what the store sealed so far.
    pub fn reseal(path: impl AsRef<Path>, keyring: &Keyring) -> Result<usize, OpenError> {
        let path = path.as_ref().to_path_buf();
        permissions::prepare(&path).map_err(|e| unreadable(&path, e))?;
        let db = open_db(&sled::Config::new().path(&path), &path)?;
        let tree: Tree = (*db).clone();
        check_format(&tree, &path, keyring)?;
        let corrupt = |e: StorageError| OpenError::IncompatibleFormat {
            path: path.clone(),
            found: format!("unknown ({e})"),
            expected: FORMAT_VERSION,
        };
        let mut batch = sled::Batch::default();
        let mut count = 0;
        for entry in tree.scan_prefix([keys::kind::ENDPOINT]) {
            let (key, bytes) = entry.map_err(|source| unreadable_sled(&path, source))?;
            let endpoint = endpoint_record::decode(&bytes, keyring).map_err(corrupt)?;
            batch.insert(
                key,
                endpoint_record::encode(&endpoint, keyring).map_err(corrupt)?,
            );
            count += 1;
        }
        for id in sealing_keys::used_ids(&tree, &path)? {
            if id != keyring.current().id() {
                batch.remove(keys::sealing_check(&id));
            }
        }
        tree.apply_batch(batch)
            .map_err(|source| unreadable_sled(&path, source))?;
        tree.flush()
            .map_err(|source| unreadable_sled(&path, source))?;
        DeviceSync::open(&path)
            .and_then(|mut device| device.sync().map_err(std::io::Error::other))
            .map_err(|e| unreadable(&path, e))?;
        permissions::restrict(&path).map_err(|e| unreadable(&path, e))?;
        Ok(count)
    }

    /// Rotates the keyring file of the data directory at `path` (the keys `open`
    /// uses): a new current key is added to the file, every endpoint is sealed again
    /// under it (`reseal`), and then the older keys leave the file. A crash on the way
    /// leaves a file that still opens the store. The store must not be open. Returns
    /// the new key's id and how many endpoints were sealed again.
    ///
    /// # Errors
    /// As `reseal`, and `Keyring` when the file cannot be read or written.
    pub fn rotate_keyring_file(path: impl AsRef<Path>) -> Result<(String, usize), OpenError> {
        let path = path.as_ref();
        permissions::prepare(path).map_err(|e| unreadable(path, e))?;
        let old = sealing_keys::load_or_create(path)?;
        let new_key = herald::sealing::SealingKey::generate();
        let id = new_key.id().to_owned();
        let rotated = old.with_current(new_key);
        sealing_keys::write(path, &rotated)?;
        let count = Self::reseal(path, &rotated)?;
        sealing_keys::write(path, &rotated.retain(|_| false))?;
        Ok((id, count))
    }

    /// Runs the read `op` on tokio's blocking pool (a sled read may wait on the
    /// disk, which must not stall an async worker) and waits for its answer. A
    /// panic in `op` goes on in the caller, as it would have inline.
    async fn read<R, F>(&self, op: F) -> StorageResult<R>
    where
        F: FnOnce(&Store) -> StorageResult<R> + Send + 'static,
        R: Send + 'static,
    {
        // At most `READERS` reads on the pool at once: each blocking thread keeps
        // its own stack and allocator heap, and hundreds of attempts reading at
        // once would otherwise start hundreds of threads.
        let Ok(reader) = Arc::clone(&self.store.readers).acquire_owned().await else {
            return Err(StorageError::Closed);
        };
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || {
            let _reader = reader;
            op(&store)
        })
        .await
        {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down.
            Err(_) => Err(StorageError::Closed),
        }
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
                .store
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
}

/// A file system error met opening the data directory.
fn unreadable(path: &Path, error: std::io::Error) -> OpenError {
    unreadable_sled(path, sled::Error::Io(error))
}

/// An error of sled's met opening the data directory.
fn unreadable_sled(path: &Path, source: sled::Error) -> OpenError {
    OpenError::Unreadable {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens sled's database at `path`, waiting up to `LOCK_WAIT` for a lock this
/// process may still hold a moment after dropping a store.
fn open_db(config: &sled::Config, path: &Path) -> Result<sled::Db, OpenError> {
    let began = Instant::now();
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                // A store this process just dropped: sled's I/O threads may hold
                // the file a moment longer. Another process holding it is
                // reported once the wait is over.
                if began.elapsed() >= LOCK_WAIT {
                    return Err(OpenError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(source) => return Err(unreadable_sled(path, source)),
        }
    }
}

/// Where a read of an endpoint's chunk entries (`Store::published_pending`) starts,
/// and which entries of its first bucket it keeps.
#[derive(Debug, Clone, Copy)]
enum PublishedFrom<'a> {
    /// From the first.
    Start,
    /// Publish order: from this id on.
    Id(&'a DeliveryId),
    /// Due order: from this key on (a fresh entry's due time is its id's time).
    Key(&'a PendingKey),
}

/// The reads, run on the blocking pool (`SledStorage::read`).
impl Store {
    /// The stored value of `key`.
    fn get(&self, key: &[u8]) -> StorageResult<Option<sled::IVec>> {
        self.tree
            .get(key)
            .map_err(|e| StorageError::backend("reading a key", e))
    }

    /// The record stored under `key`, if any.
    fn delivery_at(&self, key: &[u8]) -> StorageResult<Option<Delivery>> {
        self.get(key)?
            .map(|bytes| records::decode(&bytes))
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

    /// An endpoint's deliveries still as published, in id order (which is also due
    /// order: see the crate docs), from `from` on: every one of the first buckets,
    /// until at least `limit` (or the end). Reports each bucket met with nothing
    /// live to the writer, which removes it.
    fn published_pending(
        &self,
        endpoint_id: &EndpointId,
        from: PublishedFrom<'_>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        let start = match from {
            PublishedFrom::Start => None,
            PublishedFrom::Id(id) => Some(keys::published_bucket(endpoint_id, id)),
            // Entries of earlier buckets were made, so are due, before `key.due`.
            PublishedFrom::Key(key) => match keys::published_bucket_at(endpoint_id, key.due) {
                Some(bucket) => Some(bucket),
                // Past every time an id can carry: no fresh delivery is due then.
                None => return Ok(Vec::new()),
            },
        };
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
                let id = records::delivery_id_text(record)?;
                if let PublishedFrom::Id(from) = from {
                    if id < from.as_str() {
                        bucket.skipped = true;
                        continue;
                    }
                }
                bucket.seen += 1;
                if self.get(&keys::delivery_text(id))?.is_some() {
                    continue;
                }
                let delivery: Delivery = records::decode(record)?;
                if let PublishedFrom::Key(from) = from {
                    if &PendingKey::of(&delivery, PendingOrder::Due) < from {
                        bucket.skipped = true;
                        continue;
                    }
                }
                found.push(delivery);
                bucket.live += 1;
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

    fn endpoint_by_id(&self, id: &EndpointId) -> StorageResult<Option<Endpoint>> {
        self.get(&keys::endpoint(id))?
            .map(|bytes| endpoint_record::decode(&bytes, &self.keyring))
            .transpose()
    }

    fn list_endpoints(
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
                self.endpoint_by_id(&id)
            });
            found.transpose()
        });
        paginate(items, page.limit, |e| e.id.to_string())
    }

    fn endpoints_after(
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
        self.tree
            .range((lower, upper))
            .take(limit)
            .map(|entry| {
                let (_, bytes) = entry.map_err(scan_error)?;
                endpoint_record::decode(&bytes, &self.keyring)
            })
            .collect()
    }

    fn endpoint_health(&self, id: &EndpointId) -> StorageResult<EndpointHealth> {
        Ok(self
            .get(&keys::health(id))?
            .map(|bytes| records::decode(&bytes))
            .transpose()?
            .unwrap_or_default())
    }

    fn delivery_counts(&self, id: &EndpointId) -> StorageResult<DeliveryCounts> {
        let counts = match self.get(&keys::counts(id))? {
            Some(bytes) => Counts::decode(&bytes)?,
            None => Counts::default(),
        };
        Ok(DeliveryCounts {
            pending: counts.pending,
            dead: counts.dead,
        })
    }

    fn stored_event(&self, tenant: &TenantId, id: &EventId) -> StorageResult<Option<StoredEvent>> {
        self.get(&keys::event(tenant, id))?
            .map(|bytes| StoredEvent::decode(&bytes))
            .transpose()
    }

    fn list_events(
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
        let time_at = prefix.into_bytes().len();
        let entries = self
            .tree
            .range((Bound::Included(lower), upper))
            .rev()
            .map(|entry| {
                let (key, id) = entry.map_err(scan_error)?;
                let created_at = keys::number_at(&key, time_at)
                    .ok_or_else(|| StorageError::Corrupt("event index key".into()))?;
                let id = records::text(&id, "event index")?;
                let id = EventId::parse(&id)
                    .map_err(|_| StorageError::Corrupt(format!("event index: {id}")))?;
                let event = self.listed_event(tenant, &id, filter.event_type.as_deref())?;
                Ok(((Timestamp(created_at), id), event))
            });
        storage::bounded_page(
            entries,
            page.limit,
            storage::EVENT_SCAN_LIMIT,
            |(created_at, id)| storage::event_cursor_at(*created_at, id),
        )
    }

    fn events_after(
        &self,
        tenant: &TenantId,
        after: Option<&(Timestamp, EventId)>,
        limit: usize,
    ) -> StorageResult<Vec<Event>> {
        let prefix = keys::tenant_events(tenant).into_bytes();
        let lower = match after {
            Some((created_at, id)) => Bound::Excluded(keys::tenant_event(tenant, *created_at, id)),
            None => Bound::Included(prefix.clone()),
        };
        let upper = match keys::prefix_end(&prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        let mut events = Vec::new();
        for entry in self.tree.range((lower, upper)) {
            if events.len() == limit {
                break;
            }
            let (_, id) = entry.map_err(scan_error)?;
            let id = records::text(&id, "event index")?;
            let id = EventId::parse(&id)
                .map_err(|_| StorageError::Corrupt(format!("event index: {id}")))?;
            // An index entry whose event a purge just removed is skipped.
            if let Some(event) = self.listed_event(tenant, &id, None)? {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Event `id` when it is stored and of `event_type` (any type when `None`);
    /// an event of another type is told by its record's first bytes alone.
    fn listed_event(
        &self,
        tenant: &TenantId,
        id: &EventId,
        event_type: Option<&str>,
    ) -> StorageResult<Option<Event>> {
        let Some(bytes) = self.get(&keys::event(tenant, id))? else {
            return Ok(None);
        };
        if event_type
            .is_some_and(|wanted| records::event_type_text(&bytes).is_ok_and(|t| t != wanted))
        {
            return Ok(None);
        }
        Ok(Some(StoredEvent::decode(&bytes)?.event))
    }

    /// A page of an event's deliveries in id order: the event's record lists them
    /// all (ids and endpoints), but only the page's records (and one more, to tell
    /// whether another page follows) are looked up.
    fn event_deliveries(
        &self,
        tenant: &TenantId,
        event_id: &EventId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        let after = match &page.cursor {
            Some(c) => Some(DeliveryId::parse(c).map_err(|_| bad_cursor(c))?),
            None => None,
        };
        let Some(mut stored) = self.stored_event(tenant, event_id)? else {
            return Ok(Page::empty());
        };
        stored.deliveries.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let start = after.map_or(0, |after| {
            stored.deliveries.partition_point(|d| d.id <= after)
        });
        let items = stored.deliveries[start..].iter().filter_map(|delivery| {
            let endpoint = [Ok(delivery.endpoint_id.clone())];
            self.find_delivery(&delivery.id, endpoint).transpose()
        });
        paginate(items, page.limit, |d| d.id.to_string())
    }

    fn get_delivery(&self, tenant: &TenantId, id: &DeliveryId) -> StorageResult<Option<Delivery>> {
        Ok(self
            .find_delivery(id, self.tenant_endpoint_ids(tenant))?
            .filter(|d| &d.tenant == tenant))
    }

    /// Pending deliveries in due order: the chunk entries from the bucket of
    /// `from.due` on (in id order, which is their due order), merged with the `P`
    /// range from `from`. The deliveries as published are read first, then those
    /// changed since: one that changed between the two reads is in both, and its
    /// changed record wins.
    fn pending_by_due(
        &self,
        endpoint_id: &EndpointId,
        from: Option<&PendingKey>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        let published_from = from.map_or(PublishedFrom::Start, PublishedFrom::Key);
        let mut pending: BTreeMap<DeliveryId, Delivery> = self
            .published_pending(endpoint_id, published_from, limit)?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
        let start = from.map(|key| keys::pending_at(endpoint_id, key));
        let changed = self.tree.range(under(keys::pending_of(endpoint_id), start));
        for entry in changed.take(limit) {
            let (key, _) = entry.map_err(scan_error)?;
            self.merge_changed(&mut pending, write::pending_id(&key)?)?;
        }
        let mut found: Vec<Delivery> = pending
            .into_values()
            .filter(|d| storage::pending_from(d, PendingOrder::Due, from))
            .collect();
        found.sort_by_cached_key(|d| PendingKey::of(d, PendingOrder::Due));
        found.truncate(limit);
        Ok(found)
    }

    /// Pending deliveries in publish (id) order: the chunk entries from the bucket
    /// of `from` on, merged with every `P` entry of the endpoint from `from` on in id
    /// order (keyed by due time, so read whole: the id is in the key, and only the
    /// first `limit` records are read).
    fn pending_by_id(
        &self,
        endpoint_id: &EndpointId,
        from: Option<&DeliveryId>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        let published_from = from.map_or(PublishedFrom::Start, PublishedFrom::Id);
        let mut pending: BTreeMap<DeliveryId, Delivery> = self
            .published_pending(endpoint_id, published_from, limit)?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
        let mut changed = Vec::new();
        for entry in self.tree.scan_prefix(keys::pending_of(endpoint_id)) {
            let (key, _) = entry.map_err(scan_error)?;
            let id = write::pending_id(&key)?;
            if from.is_none_or(|from| &id >= from) {
                changed.push(id);
            }
        }
        changed.sort_unstable();
        for id in changed.into_iter().take(limit) {
            self.merge_changed(&mut pending, id)?;
        }
        Ok(pending.into_values().take(limit).collect())
    }

    /// Puts delivery `id`'s record (under `D`) in `pending` while it is pending, and
    /// takes it out otherwise (it settled since its `P` entry was read).
    fn merge_changed(
        &self,
        pending: &mut BTreeMap<DeliveryId, Delivery>,
        id: DeliveryId,
    ) -> StorageResult<()> {
        match self.delivery_at(&keys::delivery(&id))? {
            Some(d) if d.status == DeliveryStatus::Pending => {
                pending.insert(id, d);
            }
            _ => {
                pending.remove(&id);
            }
        }
        Ok(())
    }

    fn endpoints_with_pending(&self) -> StorageResult<Vec<EndpointId>> {
        self.tree
            .scan_prefix([keys::kind::WITH_PENDING])
            .map(|entry| {
                let (_, id) = entry.map_err(scan_error)?;
                parse_endpoint_id(&id, "pending endpoints")
            })
            .collect()
    }

    fn last_delivery_id(&self) -> StorageResult<Option<DeliveryId>> {
        self.get(&keys::last_delivery())?
            .map(|bytes| parse_delivery_id(&bytes, "largest delivery id"))
            .transpose()
    }

    fn list_dead_letters(
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
                let id = parse_delivery_id(&id, "delivery index")?;
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
}

/// The reads of the access records (keys, tenant settings, the event catalog).
impl Store {
    /// The record of type `T` stored under `key`, if any.
    fn record<T: records::Record>(&self, key: &[u8]) -> StorageResult<Option<T>> {
        self.get(key)?
            .map(|bytes| records::decode(&bytes))
            .transpose()
    }

    fn count_endpoints(&self, tenant: &TenantId) -> StorageResult<u64> {
        self.get(&keys::endpoint_count(tenant))?
            .map_or(Ok(0), |bytes| records::decode_count(&bytes))
    }

    /// Two reads: the `h` entry names the key, `K` holds it.
    fn key_by_hash(&self, token_hash: &str) -> StorageResult<Option<ApiKey>> {
        let Some(id) = self.get(&keys::key_hash(token_hash))? else {
            return Ok(None);
        };
        let id = parse_key_id(&id, "key hash index")?;
        self.record(&keys::api_key(&id))
    }

    fn list_keys(&self, tenant: &TenantId, page: &PageRequest) -> StorageResult<Page<ApiKey>> {
        let cursor_key = match &page.cursor {
            Some(c) => Some(keys::tenant_key(
                tenant,
                &KeyId::parse(c).map_err(|_| bad_cursor(c))?,
            )),
            None => None,
        };
        let bounds = newest_first_bounds(keys::tenant_keys(tenant), cursor_key);
        let items = self.tree.range(bounds).rev().filter_map(|entry| {
            let found = entry.map_err(scan_error).and_then(|(_, id)| {
                let id = parse_key_id(&id, "key index")?;
                self.record::<ApiKey>(&keys::api_key(&id))
            });
            found.transpose()
        });
        paginate(items, page.limit, |k| k.id.to_string())
    }

    /// In type order: the `Y` keys of a tenant sort as their types' bytes, which is
    /// `String`'s order. The cursor is a type, not checked: any text is a place in
    /// that order.
    fn list_event_types(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<EventTypeEntry>> {
        let prefix = keys::event_types(tenant);
        let upper = keys::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
        let lower = match &page.cursor {
            Some(after) => Bound::Excluded(keys::event_type(tenant, after)),
            None => Bound::Included(prefix),
        };
        let items = self.tree.range((lower, upper)).map(|entry| {
            let (_, bytes) = entry.map_err(scan_error)?;
            records::decode(&bytes)
        });
        paginate(items, page.limit, |e: &EventTypeEntry| e.event_type.clone())
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
    /// Entries looked at, and how many of them were live and kept.
    seen: usize,
    live: usize,
    /// Whether entries before the read's start were passed over.
    skipped: bool,
}

/// Writes the format version into a fresh store, or checks the one found (and
/// migrates format 7, sealing its endpoint records); then checks that `keyring`
/// opens what the store sealed.
fn check_format(tree: &Tree, path: &Path, keyring: &Keyring) -> Result<(), OpenError> {
    let unreadable = |source| unreadable_sled(path, source);
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
            if found == MIGRATES_FORMAT {
                migrate_format_7(tree, path, keyring)?;
            } else if found != FORMAT_VERSION {
                return Err(incompatible(found.to_string()));
            }
        }
        None => {
            if tree.first().map_err(unreadable)?.is_some() {
                return Err(incompatible("unknown".into()));
            }
            tree.insert(keys::version(), &FORMAT_VERSION.to_be_bytes())
                .map_err(unreadable)?;
        }
    }
    sealing_keys::check(tree, keyring, path)?;
    tree.flush().map_err(unreadable)?;
    Ok(())
}

/// Format 7 to 8: every endpoint record sealed under `keyring`, and the version, in
/// one batch (sled applies a batch whole or not at all).
fn migrate_format_7(tree: &Tree, path: &Path, keyring: &Keyring) -> Result<(), OpenError> {
    let corrupt = |e: StorageError| OpenError::IncompatibleFormat {
        path: path.to_path_buf(),
        found: format!("{MIGRATES_FORMAT}, with an unreadable endpoint ({e})"),
        expected: FORMAT_VERSION,
    };
    let mut batch = sled::Batch::default();
    let mut count = 0usize;
    for entry in tree.scan_prefix([keys::kind::ENDPOINT]) {
        let (key, bytes) = entry.map_err(|source| unreadable_sled(path, source))?;
        let endpoint = endpoint_record::decode_format_7(&bytes).map_err(corrupt)?;
        batch.insert(
            key,
            endpoint_record::encode(&endpoint, keyring).map_err(corrupt)?,
        );
        count += 1;
    }
    batch.insert(keys::version(), &FORMAT_VERSION.to_be_bytes());
    tree.apply_batch(batch)
        .map_err(|source| unreadable_sled(path, source))?;
    tracing::info!(
        endpoints = count,
        "data directory migrated from format {MIGRATES_FORMAT} to {FORMAT_VERSION}: endpoint secrets and header values sealed"
    );
    Ok(())
}

/// What the writer numbers and tracks, as stored in the directory: the last chunk
/// number used (`keys::chunk_number`; 0 before the first chunk) and the largest
/// delivery id written (`keys::last_delivery`).
fn read_counters(tree: &Tree, path: &Path) -> Result<Counters, OpenError> {
    let read = |key: Vec<u8>| {
        tree.get(key).map_err(|source| OpenError::Unreadable {
            path: path.to_path_buf(),
            source,
        })
    };
    let malformed = |what: &str| OpenError::IncompatibleFormat {
        path: path.to_path_buf(),
        found: format!("unknown (a malformed {what})"),
        expected: FORMAT_VERSION,
    };
    let last_chunk = match read(keys::chunk_number())? {
        None => 0,
        Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| malformed("chunk number"))?,
    };
    let last_delivery = match read(keys::last_delivery())? {
        None => None,
        Some(bytes) => Some(
            parse_delivery_id(&bytes, "largest delivery id")
                .map_err(|_| malformed("largest delivery id"))?,
        ),
    };
    Ok(Counters {
        last_chunk,
        last_delivery,
    })
}

/// An endpoint id stored as the value of the index `what` names.
fn parse_endpoint_id(bytes: &[u8], what: &str) -> StorageResult<EndpointId> {
    let text = records::text(bytes, what)?;
    EndpointId::parse(&text).map_err(|_| StorageError::Corrupt(format!("{what}: {text}")))
}

/// A key id stored as the value of the index `what` names.
fn parse_key_id(bytes: &[u8], what: &str) -> StorageResult<KeyId> {
    let text = records::text(bytes, what)?;
    KeyId::parse(&text).map_err(|_| StorageError::Corrupt(format!("{what}: {text}")))
}

/// A delivery id stored as the value `what` names.
fn parse_delivery_id(bytes: &[u8], what: &str) -> StorageResult<DeliveryId> {
    let text = records::text(bytes, what)?;
    DeliveryId::parse(&text).map_err(|_| StorageError::Corrupt(format!("{what}: {text}")))
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
    async fn create_endpoint_within(
        &self,
        endpoint: &Endpoint,
        limit: Option<u64>,
    ) -> StorageResult<CreateEndpoint> {
        let encoded = endpoint_record::encode(endpoint, &self.store.keyring)?;
        let endpoint = endpoint.clone();
        self.store
            .writer
            .write(move |txn| write::create_endpoint(txn, &endpoint, encoded, limit))
            .await
    }

    async fn count_endpoints(&self, tenant: &TenantId) -> StorageResult<u64> {
        let tenant = tenant.clone();
        self.read(move |store| store.count_endpoints(&tenant)).await
    }

    async fn replace_endpoint(
        &self,
        endpoint: &Endpoint,
        expected_version: u64,
    ) -> StorageResult<ReplaceEndpoint> {
        let encoded = endpoint_record::encode(endpoint, &self.store.keyring)?;
        let endpoint = endpoint.clone();
        let keyring = Arc::clone(&self.store.keyring);
        self.store
            .writer
            .write(move |txn| {
                write::replace_endpoint(txn, &endpoint, encoded, expected_version, &keyring)
            })
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
        let id = id.clone();
        self.read(move |store| store.endpoint_by_id(&id)).await
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<Endpoint>> {
        let (tenant, page) = (tenant.clone(), page.clone());
        self.read(move |store| store.list_endpoints(&tenant, &page))
            .await
    }

    async fn endpoints_after(
        &self,
        after: Option<&EndpointId>,
        limit: usize,
    ) -> StorageResult<Vec<Endpoint>> {
        let after = after.cloned();
        self.read(move |store| store.endpoints_after(after.as_ref(), limit))
            .await
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        now: Timestamp,
    ) -> StorageResult<Option<u64>> {
        let (tenant, id) = (tenant.clone(), id.clone());
        let keyring = Arc::clone(&self.store.keyring);
        self.store
            .writer
            .write(move |txn| write::delete_endpoint(txn, &tenant, &id, now, &keyring))
            .await
    }

    async fn endpoint_health(&self, id: &EndpointId) -> StorageResult<EndpointHealth> {
        let id = id.clone();
        self.read(move |store| store.endpoint_health(&id)).await
    }

    async fn put_endpoint_health(
        &self,
        id: &EndpointId,
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        let (id, health) = (id.clone(), health.clone());
        self.store
            .writer
            .write(move |txn| write::put_health(txn, &id, &health))
            .await
    }

    async fn delivery_counts(&self, id: &EndpointId) -> StorageResult<DeliveryCounts> {
        let id = id.clone();
        self.read(move |store| store.delivery_counts(&id)).await
    }

    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
    ) -> StorageResult<InsertEvent> {
        let encoded = write::EncodedEvent::new(event, deliveries)?;
        self.store
            .writer
            .write(move |txn| write::insert_event(txn, encoded))
            .await
    }

    async fn get_event(&self, tenant: &TenantId, id: &EventId) -> StorageResult<Option<Event>> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |store| Ok(store.stored_event(&tenant, &id)?.map(|s| s.event)))
            .await
    }

    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> StorageResult<Page<Event>> {
        let (tenant, filter, page) = (tenant.clone(), filter.clone(), page.clone());
        self.read(move |store| store.list_events(&tenant, &filter, &page))
            .await
    }

    async fn events_after(
        &self,
        tenant: &TenantId,
        after: Option<&(Timestamp, EventId)>,
        limit: usize,
    ) -> StorageResult<Vec<Event>> {
        let (tenant, after) = (tenant.clone(), after.cloned());
        self.read(move |store| store.events_after(&tenant, after.as_ref(), limit))
            .await
    }

    async fn event_deliveries(
        &self,
        tenant: &TenantId,
        event_id: &EventId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        let (tenant, event_id, page) = (tenant.clone(), event_id.clone(), page.clone());
        self.read(move |store| store.event_deliveries(&tenant, &event_id, &page))
            .await
    }

    async fn get_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> StorageResult<Option<Delivery>> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |store| store.get_delivery(&tenant, &id))
            .await
    }

    async fn pending_deliveries(
        &self,
        endpoint_id: &EndpointId,
        order: PendingOrder,
        from: Option<&PendingKey>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (endpoint_id, from) = (endpoint_id.clone(), from.cloned());
        self.read(move |store| match order {
            PendingOrder::Due => store.pending_by_due(&endpoint_id, from.as_ref(), limit),
            PendingOrder::Publish => {
                store.pending_by_id(&endpoint_id, from.as_ref().map(|key| &key.id), limit)
            }
        })
        .await
    }

    async fn endpoints_with_pending(&self) -> StorageResult<Vec<EndpointId>> {
        self.read(Store::endpoints_with_pending).await
    }

    async fn last_delivery_id(&self) -> StorageResult<Option<DeliveryId>> {
        self.read(Store::last_delivery_id).await
    }

    async fn record_outcomes(
        &self,
        endpoint_id: &EndpointId,
        outcomes: &[Outcome],
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        let encoded = write::EncodedOutcomes::new(endpoint_id, outcomes, health)?;
        self.store
            .writer
            .write(move |txn| write::record_outcomes(txn, encoded))
            .await
    }

    async fn update_deliveries(&self, deliveries: &[Delivery]) -> StorageResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let deliveries = deliveries.to_vec();
        self.store
            .writer
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
        let (tenant, endpoint_id, page) = (tenant.clone(), endpoint_id.clone(), page.clone());
        self.read(move |store| {
            attempt_log::list(&store.tree, &tenant, &endpoint_id, outcome, &page)
        })
        .await
    }

    async fn list_dead_letters(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        let (tenant, endpoint_id, page) = (tenant.clone(), endpoint_id.clone(), page.clone());
        self.read(move |store| store.list_dead_letters(&tenant, &endpoint_id, &page))
            .await
    }

    async fn purge_before(&self, cutoff: Timestamp) -> StorageResult<PurgeStats> {
        Ok(PurgeStats {
            events: self.purge_in_steps(cutoff, write::purge_events).await?,
            attempts: self.purge_in_steps(cutoff, write::purge_attempts).await?,
        })
    }

    async fn flush(&self) -> StorageResult<()> {
        // An empty request still makes its group flush, after every write before it.
        self.store.writer.write(|_| Ok(())).await
    }

    async fn create_key(&self, key: &ApiKey) -> StorageResult<()> {
        let encoded = records::encode(key)?;
        let key = key.clone();
        self.store
            .writer
            .write(move |txn| write::create_key(txn, &key, encoded))
            .await
    }

    async fn key_by_hash(&self, token_hash: &str) -> StorageResult<Option<ApiKey>> {
        let token_hash = token_hash.to_owned();
        self.read(move |store| store.key_by_hash(&token_hash)).await
    }

    async fn list_keys(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<ApiKey>> {
        let (tenant, page) = (tenant.clone(), page.clone());
        self.read(move |store| store.list_keys(&tenant, &page))
            .await
    }

    async fn delete_key(&self, tenant: &TenantId, id: &KeyId) -> StorageResult<bool> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.store
            .writer
            .write(move |txn| write::delete_key(txn, &tenant, &id))
            .await
    }

    async fn touch_keys(&self, used: &[(KeyId, Timestamp)]) -> StorageResult<()> {
        if used.is_empty() {
            return Ok(());
        }
        let used = used.to_vec();
        self.store
            .writer
            .write(move |txn| write::touch_keys(txn, &used))
            .await
    }

    async fn tenant_settings(&self, tenant: &TenantId) -> StorageResult<Option<TenantSettings>> {
        let key = keys::tenant_settings(tenant);
        self.read(move |store| store.record(&key)).await
    }

    async fn put_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
    ) -> StorageResult<()> {
        let (key, value) = (keys::tenant_settings(tenant), records::encode(settings)?);
        self.store
            .writer
            .write(move |txn| {
                txn.insert(key, value);
                Ok(())
            })
            .await
    }

    async fn put_event_type(&self, entry: &EventTypeEntry) -> StorageResult<()> {
        let key = keys::event_type(&entry.tenant, &entry.event_type);
        let value = records::encode(entry)?;
        self.store
            .writer
            .write(move |txn| {
                txn.insert(key, value);
                Ok(())
            })
            .await
    }

    async fn event_type(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> StorageResult<Option<EventTypeEntry>> {
        let key = keys::event_type(tenant, event_type);
        self.read(move |store| store.record(&key)).await
    }

    async fn list_event_types(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<EventTypeEntry>> {
        let (tenant, page) = (tenant.clone(), page.clone());
        self.read(move |store| store.list_event_types(&tenant, &page))
            .await
    }

    async fn delete_event_type(&self, tenant: &TenantId, event_type: &str) -> StorageResult<bool> {
        let key = keys::event_type(tenant, event_type);
        self.store
            .writer
            .write(move |txn| write::remove_existing(txn, key))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_testkit::conformance::{self as fixtures, at, from_id};

    /// A temporary store with one endpoint of tenant `acme`.
    async fn store_with_endpoint() -> (SledStorage, TenantId, Endpoint) {
        let s = SledStorage::temporary().unwrap();
        let acme = fixtures::tenant("acme");
        let ep = fixtures::endpoint(&acme);
        s.create_endpoint(&ep).await.unwrap();
        (s, acme, ep)
    }

    /// Attempts recorded in one group share one chunk; the purge takes the chunk only
    /// once its newest attempt is older than the cutoff, and counts each attempt in it.
    #[tokio::test]
    async fn a_chunk_is_purged_whole_once_its_newest_attempt_is_old() {
        let (s, acme, ep) = store_with_endpoint().await;
        let d = fixtures::publish(&s, &fixtures::event(&acme, "x", at(1)), &[&ep, &ep]).await;
        let outcomes = [(&d[0], at(2)), (&d[1], at(20))].map(|(delivery, started_at)| Outcome {
            attempt: Some(fixtures::attempt(delivery, 1, 500, started_at)),
            delivery: delivery.clone(),
        });
        // Encoded apart and written in one closure: one group, so one chunk.
        let encoded = outcomes.map(|outcome| {
            write::EncodedOutcomes::new(&ep.id, &[outcome], &fixtures::health(1)).unwrap()
        });
        s.store
            .writer
            .write(move |txn| {
                encoded
                    .into_iter()
                    .try_for_each(|batch| write::record_outcomes(txn, batch))
            })
            .await
            .unwrap();
        assert_eq!(s.store.tree.scan_prefix([keys::kind::ATTEMPT]).count(), 1);
        let listed = |s: &SledStorage| {
            attempt_log::list(&s.store.tree, &acme, &ep.id, None, &PageRequest::first(10))
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
        s.store.tree.scan_prefix([keys::kind::PUBLISHED]).count()
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

    /// Publishes events to `endpoints`, each in its own commit group, one
    /// millisecond apart from `T0` on: their delivery ids (made at their creation)
    /// share one 32 ms bucket, so each endpoint's chunks share one bucket too.
    async fn publish_each(
        s: &SledStorage,
        events: usize,
        endpoints: &[&Endpoint],
    ) -> Vec<Delivery> {
        assert!(events <= 32, "one bucket holds 32 ms");
        let acme = fixtures::tenant("acme");
        let mut all = Vec::new();
        for t in 0..events {
            let created_at = Timestamp(fixtures::T0.0 + t as u64);
            let event = fixtures::event(&acme, "x", created_at);
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
        s.create_endpoint(&a).await.unwrap();
        s.create_endpoint(&b).await.unwrap();
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
            s.pending_deliveries(&b.id, PendingOrder::Publish, None, 10)
                .await
                .unwrap(),
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
            .pending_deliveries(&b.id, PendingOrder::Publish, None, 10)
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
            s.create_endpoint(&a).await.unwrap();
            s.create_endpoint(&b).await.unwrap();
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
            .pending_deliveries(&a.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap()
            .is_empty());
        s.flush().await.unwrap();
        assert_eq!(published_chunks(&s), 2);

        // The last live delivery of b's bucket changes: the writer, which has no
        // count for that bucket, checks it.
        assert_eq!(
            s.pending_deliveries(&b.id, PendingOrder::Publish, None, 10)
                .await
                .unwrap(),
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
        // One bucket: ids made in the same 32 ms.
        let events = [1, 2].map(|ms| fixtures::event(&acme, "x", Timestamp(fixtures::T0.0 + ms)));
        let deliveries = events
            .clone()
            .map(|event| vec![fixtures::delivery(&event, &ep)]);
        let encoded: Vec<write::EncodedEvent> = events
            .iter()
            .zip(&deliveries)
            .map(|(event, ds)| write::EncodedEvent::new(event, ds).unwrap())
            .collect();
        s.store
            .writer
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
            s.pending_deliveries(&ep.id, PendingOrder::Publish, None, 10)
                .await
                .unwrap(),
            deliveries[1]
        );

        attempted(&s, &deliveries[1][0], 200).await;
        assert_eq!(s.purge_before(at(10)).await.unwrap().events, 2);
        assert_eq!(published_chunks(&s), 0);
        assert!(s
            .pending_deliveries(&ep.id, PendingOrder::Publish, None, 10)
            .await
            .unwrap()
            .is_empty());
    }

    /// Pending deliveries list in both orders across buckets, chunks and changed
    /// records (retried to a due time before, among and after the fresh ones), at
    /// every limit and from every key.
    #[tokio::test]
    async fn pending_deliveries_merge_buckets_and_changed_records_in_both_orders() {
        let (s, acme, ep) = store_with_endpoint().await;
        // Three buckets (32 ms each) of three deliveries, each its own group and so
        // its own chunk; made at their creation times, as the engine makes them.
        let mut all = Vec::new();
        for bucket in 0..3 {
            for t in 0..3 {
                let created_at = Timestamp(fixtures::T0.0 + bucket * 64 + t);
                let event = fixtures::event(&acme, "x", created_at);
                all.extend(fixtures::publish(&s, &event, &[&ep]).await);
            }
        }
        assert!(all.windows(2).all(|pair| pair[0].id < pair[1].id));
        let buckets: std::collections::BTreeSet<Vec<u8>> = s
            .store
            .tree
            .scan_prefix([keys::kind::PUBLISHED])
            .map(|entry| keys::bucket_of_chunk(&entry.unwrap().0).to_vec())
            .collect();
        assert_eq!(buckets.len(), 3);

        // Retried: due before everything, after everything, among the fresh ones,
        // and at the same time as the first (then after it, by id).
        let mut expected = all.clone();
        let among = Timestamp(fixtures::T0.0 + 65);
        for (i, due) in [(1, Timestamp(1)), (4, at(3)), (8, among), (6, all[0].due())] {
            expected[i] = retried(&s, &all[i], due).await;
        }
        attempted(&s, &all[5], 200).await;
        expected.remove(5);

        let mut by_due = expected.clone();
        by_due.sort_by_key(|d| PendingKey::of(d, PendingOrder::Due));
        for (order, expected) in [
            (PendingOrder::Publish, &expected),
            (PendingOrder::Due, &by_due),
        ] {
            for limit in 0..=expected.len() + 1 {
                let listed = s
                    .pending_deliveries(&ep.id, order, None, limit)
                    .await
                    .unwrap();
                let want = &expected[..limit.min(expected.len())];
                assert_eq!(listed, want, "{order:?}, limit {limit}");
            }
        }
        for from in &all {
            let rest: Vec<&Delivery> = expected.iter().filter(|d| d.id >= from.id).collect();
            for limit in [1, 3, 100] {
                let listed = s
                    .pending_deliveries(
                        &ep.id,
                        PendingOrder::Publish,
                        Some(&from_id(&from.id)),
                        limit,
                    )
                    .await
                    .unwrap();
                let want: Vec<Delivery> = rest.iter().take(limit).map(|d| (*d).clone()).collect();
                assert_eq!(listed, want, "from {}, limit {limit}", from.id);
            }
        }
        let mut keys: Vec<PendingKey> = by_due
            .iter()
            .map(|d| PendingKey::of(d, PendingOrder::Due))
            .collect();
        // Keys of no delivery: in the middle of a bucket, and before everything.
        keys.push(PendingKey {
            due: Timestamp(among.0 + 1),
            id: DeliveryId::generate_at(Timestamp(0)),
        });
        keys.push(PendingKey {
            due: Timestamp::EPOCH,
            id: DeliveryId::generate_at(Timestamp(0)),
        });
        for from in &keys {
            let rest: Vec<&Delivery> = by_due
                .iter()
                .filter(|d| &PendingKey::of(d, PendingOrder::Due) >= from)
                .collect();
            for limit in [1, 2, 3, 100] {
                let listed = s
                    .pending_deliveries(&ep.id, PendingOrder::Due, Some(from), limit)
                    .await
                    .unwrap();
                let want: Vec<Delivery> = rest.iter().take(limit).map(|d| (*d).clone()).collect();
                assert_eq!(listed, want, "from {from:?}, limit {limit}");
            }
        }
    }

    /// `delivery` as a failed attempt leaves it: pending, due at `due`.
    async fn retried(s: &SledStorage, delivery: &Delivery, due: Timestamp) -> Delivery {
        let mut after = delivery.clone();
        after.attempts += 1;
        after.last_status = Some(503);
        after.next_attempt_at = Some(due);
        let attempt = fixtures::attempt(delivery, after.attempts, 503, at(5));
        s.record_attempt(&attempt, &after, &fixtures::health(1))
            .await
            .unwrap();
        after
    }

    /// The `P` keys of an endpoint: due time and delivery id text.
    fn pending_index(s: &SledStorage, endpoint: &EndpointId) -> Vec<(u64, String)> {
        s.store
            .tree
            .scan_prefix(keys::pending_of(endpoint))
            .map(|entry| {
                let (key, _) = entry.unwrap();
                let (due, id) = keys::pending_entry(&key).unwrap();
                (due, String::from_utf8(id.to_vec()).unwrap())
            })
            .collect()
    }

    /// A changed pending delivery has exactly one `P` entry, at its current due
    /// time: a retry to a new time moves it, settling removes it, a replay adds it.
    #[tokio::test]
    async fn the_pending_index_follows_the_due_time() {
        let (s, acme, ep) = store_with_endpoint().await;
        let d = fixtures::publish(&s, &fixtures::event(&acme, "x", at(1)), &[&ep])
            .await
            .remove(0);
        assert!(
            pending_index(&s, &ep.id).is_empty(),
            "a fresh one is in its chunk"
        );
        let id = d.id.to_string();
        let once = retried(&s, &d, at(10)).await;
        assert_eq!(pending_index(&s, &ep.id), vec![(at(10).0, id.clone())]);
        let twice = retried(&s, &once, at(30)).await;
        assert_eq!(pending_index(&s, &ep.id), vec![(at(30).0, id.clone())]);
        let mut dead = twice.clone();
        dead.kill(herald::model::DeadReason::RetriesExhausted, at(31));
        s.update_deliveries(std::slice::from_ref(&dead))
            .await
            .unwrap();
        assert!(pending_index(&s, &ep.id).is_empty());
        dead.requeue(at(40));
        s.update_deliveries(&[dead]).await.unwrap();
        assert_eq!(pending_index(&s, &ep.id), vec![(at(40).0, id)]);
        assert_eq!(s.delivery_counts(&ep.id).await.unwrap().pending, 1);
    }

    /// The largest delivery id is stored with the group that raised it, never
    /// lowered (a delivery written again, or purged, leaves it), and read at open.
    #[tokio::test]
    async fn the_largest_delivery_id_survives_a_reopen_and_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let acme = fixtures::tenant("acme");
        let ep = fixtures::endpoint(&acme);
        let largest = {
            let s = SledStorage::open(&path).unwrap();
            assert_eq!(s.last_delivery_id().await.unwrap(), None);
            s.create_endpoint(&ep).await.unwrap();
            let early = publish_each(&s, 2, &[&ep]).await;
            let largest = early[1].id.clone();
            assert_eq!(s.last_delivery_id().await.unwrap(), Some(largest.clone()));
            attempted(&s, &early[0], 200).await;
            assert_eq!(s.last_delivery_id().await.unwrap(), Some(largest.clone()));
            largest
        };
        let s = SledStorage::open(&path).unwrap();
        assert_eq!(s.last_delivery_id().await.unwrap(), Some(largest.clone()));
        // An id written by hand, smaller than every stored one, changes nothing.
        let mut old = fixtures::delivery(&fixtures::event(&acme, "x", at(0)), &ep);
        old.id = DeliveryId::generate_at(Timestamp(1));
        s.update_deliveries(&[old]).await.unwrap();
        assert_eq!(s.last_delivery_id().await.unwrap(), Some(largest));
    }

    /// A value too large for sled's log goes to a blob file, which the device sync
    /// restricts to its owner and syncs; it reads back after a reopen.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_large_event_is_a_synced_blob_readable_after_a_reopen() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let acme = fixtures::tenant("acme");
        let mut event = fixtures::event(&acme, "big", at(1));
        event.data = format!("{{\"blob\":\"{}\"}}", "x".repeat(300 * 1024)).into();
        {
            let s = SledStorage::open(&path).unwrap();
            fixtures::publish(&s, &event, &[]).await;
        }
        let blobs: Vec<std::fs::Metadata> = std::fs::read_dir(path.join("blobs"))
            .unwrap()
            .map(|entry| entry.unwrap().metadata().unwrap())
            .collect();
        assert!(!blobs.is_empty(), "the event went to a blob");
        for blob in &blobs {
            assert_eq!(blob.permissions().mode() & 0o777, 0o600);
        }
        let s = SledStorage::open(&path).unwrap();
        let back = s.get_event(&acme, &event.id).await.unwrap().unwrap();
        assert_eq!(back.data, event.data);
    }

    /// A measurement, not a check: what the device sync (`fdatasync`) costs a commit
    /// group. One writer makes every publish its own group, so its µs per publish is
    /// the µs per group; more writers share groups. Run it in release:
    /// `cargo test --release -p herald-storage-sled --lib -- --ignored --nocapture sync_cost`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run by hand in release"]
    async fn device_sync_cost_per_group() {
        async fn rate(durability: Durability, writers: usize) -> f64 {
            let dir = tempfile::tempdir().unwrap();
            let s = Arc::new(
                SledStorage::open_with(&dir.path().join("data"), Keyring::generate(), durability)
                    .unwrap(),
            );
            let acme = fixtures::tenant("acme");
            let ep = fixtures::endpoint(&acme);
            s.create_endpoint(&ep).await.unwrap();
            let span = std::time::Duration::from_secs(3);
            let started = Instant::now();
            let tasks: Vec<_> = (0..writers)
                .map(|_| {
                    let (s, acme, ep) = (s.clone(), acme.clone(), ep.clone());
                    tokio::spawn(async move {
                        let mut done = 0u64;
                        while started.elapsed() < span {
                            let event = fixtures::event(&acme, "x", at(done));
                            fixtures::publish(&*s, &event, &[&ep]).await;
                            done += 1;
                        }
                        done
                    })
                })
                .collect();
            let mut total = 0;
            for task in tasks {
                total += task.await.unwrap();
            }
            total as f64 / started.elapsed().as_secs_f64()
        }
        for writers in [1, 16, 64, 256] {
            let synced = rate(Durability::Device, writers).await;
            let cached = rate(Durability::PageCache, writers).await;
            println!(
                "{writers:>4} writers: {synced:>8.0} publishes/s with the device sync ({:>6.0} µs each), \
                 {cached:>8.0} without ({:>6.0} µs each)",
                1e6 / synced,
                1e6 / cached,
            );
        }
    }
}

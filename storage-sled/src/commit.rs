//! Group commit: one writer thread applies every waiting write as one atomic batch,
//! flushes once for the whole group, then answers every waiter.
//!
//! Callers hand `CommitWriter::write` a closure that reads and stages writes through
//! a `Txn`. The writer thread takes the first request, then everything already
//! queued (up to `MAX_GROUP`), and runs the closures one after another against the
//! tree plus the writes staged so far in the group, so later writes in a group see
//! earlier ones, and read-then-write rules (idempotency, "only if still pending")
//! are free of races: there is only one writer. A closure that fails leaves no
//! writes behind. The group becomes one `sled::Batch` (atomic on one tree), then one
//! `flush` (one fdatasync) makes it durable, and only then is every waiter answered.
//!
//! Records appended to a log (`Txn::append`, the attempt log) are not one key each:
//! the group writes each log's records as one chunk under one key (`keys::chunk`),
//! numbered from a counter stored with it. Every key costs the one commit thread a
//! search, a node copy and, as a log grows, a share of node splits; a group holds
//! several attempts to each busy endpoint, so chunks divide that cost among them.
//!
//! Deliveries published in a group (`Txn::publish`) are chunked too: the group
//! writes one chunk per endpoint and bucket of delivery ids (`keys::published_bucket`)
//! under `Q`, so a publish costs a share of a key per delivery instead of a key. A
//! chunk entry is the delivery's record until the delivery first changes; then its
//! record goes under `D` (`write`) and the entry is dead weight. The writer counts
//! the live entries of every bucket it has seen (`Buckets`); when a bucket's count
//! reaches zero, or a bucket it has no count for is touched (after a restart), the
//! next group starts by checking the bucket against `D` entry by entry
//! (`write::collect_bucket`) and removes its chunks once none is live. The count only
//! says when to look: the check decides, so a miscount can leave a chunk a while,
//! never remove a live one. Readers that meet a bucket with nothing live in it
//! report it (`CommitWriter::report_settled`) so it is checked too.
//!
//! The writer also keeps the largest delivery id any group wrote (published in a
//! chunk or written under `D`), and stores it under `L` with the group that raised
//! it, so `last_delivery_id` never goes back, even once that delivery is purged.
//!
//! The flush runs on a second thread, so the writer stages and applies the next
//! group while the previous one is being synced (a pipeline: the writer is the
//! bottleneck under load, and it would otherwise sit idle through every fdatasync).
//! The flusher takes every applied group waiting for it and flushes once for all of
//! them; a group is answered only by a flush that began after it was applied. Sled's
//! flush alone reaches only the page cache (`sync_file_range`), so the flusher then
//! syncs the files to the device (`device_sync`) before it answers.
//!
//! Sled calls block, so both are dedicated std threads; callers wait on a tokio
//! oneshot and never block a runtime worker. `CommitWriter` owns the threads:
//! dropping it closes the queue, lets them finish the requests already queued and
//! joins them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use herald::error::StorageError;
use herald::ids::DeliveryId;
use herald::storage::StorageResult;
use herald::time::Timestamp;
use sled::Tree;
use tokio::sync::oneshot;

use crate::device_sync::DeviceSync;
use crate::{keys, records};

/// At most this many requests share one batch and one flush.
pub(crate) const MAX_GROUP: usize = 1024;

/// Staged writes: `Some(value)` to insert, `None` to remove.
type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A record appended to a log, waiting for its group's chunk.
struct Append {
    /// The log's key prefix.
    log: Vec<u8>,
    /// The record's time (an attempt's start): a chunk is keyed by its newest.
    time: Timestamp,
    record: Vec<u8>,
}

/// A delivery published in the group, waiting for its bucket's chunk.
struct Published {
    /// `keys::published_bucket`.
    bucket: Vec<u8>,
    record: Vec<u8>,
}

/// What a closure (and then a group) writes besides its staged writes.
#[derive(Default)]
struct Extra {
    appends: Vec<Append>,
    published: Vec<Published>,
    /// The bucket and id of each chunk entry that stopped being live.
    settled: Vec<(Vec<u8>, DeliveryId)>,
    /// The largest delivery id written.
    largest: Option<DeliveryId>,
}

impl Extra {
    fn extend(&mut self, other: Extra) {
        self.appends.extend(other.appends);
        self.published.extend(other.published);
        self.settled.extend(other.settled);
        if let Some(id) = &other.largest {
            self.saw(id);
        }
    }

    /// Keeps `id` when it is the largest delivery id so far.
    fn saw(&mut self, id: &DeliveryId) {
        if self.largest.as_ref().is_none_or(|largest| id > largest) {
            self.largest = Some(id.clone());
        }
    }
}

/// What a group writes: its staged writes and the rest.
#[derive(Default)]
struct Group {
    writes: Writes,
    extra: Extra,
}

impl Group {
    /// Adds what a closure that succeeded staged (`Txn::staged`).
    fn join(&mut self, (writes, extra): (Writes, Extra)) {
        self.writes.extend(writes);
        self.extra.extend(extra);
    }
}

/// The view one write closure works on: the tree, the writes of earlier closures in
/// the group, and its own writes.
pub(crate) struct Txn<'a> {
    tree: &'a Tree,
    group: &'a Writes,
    own: Writes,
    extra: Extra,
}

impl Txn<'_> {
    /// The current value of `key`, including staged writes.
    pub(crate) fn get(&self, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        if let Some(staged) = self.own.get(key).or_else(|| self.group.get(key)) {
            return Ok(staged.clone());
        }
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| StorageError::backend("reading a key", e))
    }

    /// Stages an insert.
    pub(crate) fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.own.insert(key, Some(value));
    }

    /// Stages a removal.
    pub(crate) fn remove(&mut self, key: Vec<u8>) {
        self.own.insert(key, None);
    }

    /// Appends `record` to the log under `log` (a key prefix), in the chunk its group
    /// writes there (see the module docs). Reads in the same group do not see it.
    pub(crate) fn append(&mut self, log: Vec<u8>, time: Timestamp, record: Vec<u8>) {
        self.extra.appends.push(Append { log, time, record });
    }

    /// Adds a new pending delivery's `record` to its group's chunk for `bucket`
    /// (`keys::published_bucket`). Reads in the same group do not see it.
    pub(crate) fn publish(&mut self, bucket: Vec<u8>, record: Vec<u8>) {
        self.extra.published.push(Published { bucket, record });
    }

    /// Tells the writer that delivery `id`'s entry in a chunk of `bucket` is no
    /// longer live: its record is now under `D`.
    pub(crate) fn settled(&mut self, bucket: Vec<u8>, id: DeliveryId) {
        self.extra.settled.push((bucket, id));
    }

    /// Tells the writer that a record of delivery `id` is written (published or
    /// under `D`), for `last_delivery_id`.
    pub(crate) fn wrote_delivery(&mut self, id: &DeliveryId) {
        self.extra.saw(id);
    }

    /// Up to `limit` entries with `start <= key < end` in key order, including staged
    /// writes.
    pub(crate) fn range(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> StorageResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let upper = match end {
            Some(end) => Bound::Excluded(end.to_vec()),
            None => Bound::Unbounded,
        };
        let bounds = (Bound::Included(start.to_vec()), upper);
        // Staged writes in range, own over group.
        let mut staged: Writes = self
            .group
            .range(bounds.clone())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        staged.extend(
            self.own
                .range(bounds.clone())
                .map(|(k, v)| (k.clone(), v.clone())),
        );

        let mut out = Vec::new();
        let mut staged = staged.into_iter().peekable();
        let mut stored = self.tree.range(bounds).peekable();
        while out.len() < limit {
            let stored_key = match stored.peek() {
                Some(Ok((key, _))) => Some(key.clone()),
                Some(Err(_)) => {
                    return match stored.next() {
                        Some(Err(e)) => Err(StorageError::backend("scanning keys", e)),
                        _ => Err(StorageError::Corrupt("scan failed".into())),
                    };
                }
                None => None,
            };
            let staged_key = staged.peek().map(|(key, _)| key.as_slice());
            let take_staged = match (stored_key.as_deref(), staged_key) {
                (None, None) => break,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(s), Some(w)) => w <= s,
            };
            if take_staged {
                if stored_key.as_deref() == staged_key {
                    // The staged write replaces the stored value.
                    stored.next();
                }
                if let Some((key, Some(value))) = staged.next() {
                    out.push((key, value));
                }
            } else if let Some(Ok((key, value))) = stored.next() {
                out.push((key.to_vec(), value.to_vec()));
            }
        }
        Ok(out)
    }

    /// Every entry whose key starts with `prefix`, including staged writes.
    pub(crate) fn scan_prefix(&self, prefix: &[u8]) -> StorageResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let end = crate::keys::prefix_end(prefix);
        self.range(prefix, end.as_deref(), usize::MAX)
    }
}

impl<'a> Txn<'a> {
    fn new(tree: &'a Tree, group: &'a Writes) -> Self {
        Self {
            tree,
            group,
            own: Writes::new(),
            extra: Extra::default(),
        }
    }

    /// What this closure staged, to join its group's (it succeeded).
    fn staged(self) -> (Writes, Extra) {
        (self.own, self.extra)
    }
}

/// One queued request: stages its writes, then answers its waiter.
trait Job: Send {
    /// Runs the closure on a `Txn`; on success its writes join the group's.
    fn stage(&mut self, tree: &Tree, group: &mut Group);
    /// Answers the waiter: the closure's outcome once the group is durable, or the
    /// commit's failure.
    fn answer(self: Box<Self>, commit: Result<(), &str>);
}

/// A job whose closure produces an `R`.
struct TypedJob<F, R> {
    op: Option<F>,
    outcome: Option<StorageResult<R>>,
    reply: oneshot::Sender<StorageResult<R>>,
}

impl<F, R> Job for TypedJob<F, R>
where
    F: FnOnce(&mut Txn<'_>) -> StorageResult<R> + Send,
    R: Send,
{
    fn stage(&mut self, tree: &Tree, group: &mut Group) {
        let Some(op) = self.op.take() else { return };
        let mut txn = Txn::new(tree, &group.writes);
        let outcome = op(&mut txn);
        if outcome.is_ok() {
            let staged = txn.staged();
            group.join(staged);
        }
        self.outcome = Some(outcome);
    }

    fn answer(self: Box<Self>, commit: Result<(), &str>) {
        let outcome = match (commit, self.outcome) {
            (Err(why), Some(Ok(_))) => Err(StorageError::Backend {
                context: "committing a write group".into(),
                source: why.into(),
            }),
            (_, Some(outcome)) => outcome,
            (_, None) => Err(StorageError::Closed),
        };
        // The waiter may have gone away (its future dropped); nothing to tell then.
        let _ = self.reply.send(outcome);
    }
}

/// The handle on the writer thread; see the module docs. Owned by `SledStorage`.
#[derive(Debug)]
pub(crate) struct CommitWriter {
    /// The queue; `None` once dropping.
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    /// The writer thread, then the flusher thread, joined on drop.
    threads: Vec<JoinHandle<()>>,
    /// Buckets readers found with nothing live, for the writer to check.
    reported: Reported,
}

/// Buckets reported by readers (`CommitWriter::report_settled`).
type Reported = Arc<Mutex<BTreeSet<Vec<u8>>>>;

impl std::fmt::Debug for dyn Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

/// What the writer numbers and tracks across groups, as stored when it starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    /// The last chunk number used (`keys::chunk_number`; 0 before the first chunk).
    pub(crate) last_chunk: u64,
    /// The largest delivery id written (`keys::last_delivery`).
    pub(crate) last_delivery: Option<DeliveryId>,
}

impl CommitWriter {
    /// Starts the writer thread on `tree`, from the `counters` stored in it, and the
    /// flusher thread, which syncs to the device with `device` after each flush
    /// (`None`: sled's flush alone, for a temporary store).
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub(crate) fn start(
        tree: Tree,
        counters: Counters,
        device: Option<DeviceSync>,
    ) -> std::io::Result<Self> {
        let (queue, requests) = mpsc::channel::<Box<dyn Job>>();
        let (to_flush, applied) = mpsc::channel::<Applied>();
        let flush_tree = tree.clone();
        let flusher = std::thread::Builder::new()
            .name("herald-sled-flush".into())
            .spawn(move || flush_loop(&flush_tree, device, &applied))?;
        let reported = Reported::default();
        let buckets = Buckets {
            live: HashMap::new(),
            to_check: BTreeSet::new(),
            reported: reported.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("herald-sled-commit".into())
            .spawn(move || run(&tree, &requests, &to_flush, counters, buckets))?;
        Ok(Self {
            queue: Some(queue),
            threads: vec![writer, flusher],
            reported,
        })
    }

    /// Asks the writer to check `bucket` (a reader found nothing live in it) at the
    /// start of its next group.
    pub(crate) fn report_settled(&self, bucket: Vec<u8>) {
        self.reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(bucket);
    }

    /// Runs `op` in the next group and waits until its writes are durable.
    ///
    /// # Errors
    /// `op`'s own error (nothing it staged is written), a failed commit, or `Closed`
    /// when the writer has stopped.
    pub(crate) async fn write<R, F>(&self, op: F) -> StorageResult<R>
    where
        F: FnOnce(&mut Txn<'_>) -> StorageResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            op: Some(op),
            outcome: None,
            reply,
        });
        let queue = self.queue.as_ref().ok_or(StorageError::Closed)?;
        queue.send(job).map_err(|_| StorageError::Closed)?;
        answer.await.map_err(|_| StorageError::Closed)?
    }
}

impl Drop for CommitWriter {
    fn drop(&mut self) {
        // Closing the queue ends the writer's loop once it has drained; its end
        // closes the flusher's queue in turn.
        self.queue = None;
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a sled commit thread panicked");
            }
        }
    }
}

/// A group applied to the tree (or that failed to apply), waiting for its flush.
struct Applied {
    jobs: Vec<Box<dyn Job>>,
    applied: Result<(), String>,
}

/// What the writer knows of the pending buckets (see the module docs).
struct Buckets {
    /// The buckets whose chunks this writer wrote or checked.
    live: HashMap<Vec<u8>, Bucket>,
    /// Buckets to check at the start of the next group.
    to_check: BTreeSet<Vec<u8>>,
    /// Buckets readers reported.
    reported: Reported,
}

/// A bucket of pending chunks, as the writer counts it.
#[derive(Default)]
struct Bucket {
    /// Live entries.
    live: u64,
    /// The ids of the entries settled since the bucket was last checked: the check
    /// takes these as settled without reading `D` (their `D` was written with the
    /// news). Text, as the check reads the ids in the chunk without parsing them.
    settled: HashSet<Box<str>>,
}

impl Buckets {
    /// Checks every bucket due, staging the removal of those with nothing live, as
    /// the first writes of `group` (so the check sees only what is committed).
    /// Returns the buckets it staged for removal.
    fn check(&mut self, tree: &Tree, group: &mut Group) -> Vec<Vec<u8>> {
        let mut removed = Vec::new();
        let reported =
            std::mem::take(&mut *self.reported.lock().unwrap_or_else(PoisonError::into_inner));
        self.to_check.extend(reported);
        for bucket in std::mem::take(&mut self.to_check) {
            let settled = self
                .live
                .remove(&bucket)
                .map(|known| known.settled)
                .unwrap_or_default();
            let mut txn = Txn::new(tree, &group.writes);
            match crate::write::collect_bucket(&mut txn, &bucket, &settled) {
                Ok(0) => {
                    let staged = txn.staged();
                    group.join(staged);
                    removed.push(bucket);
                }
                Ok(live) => {
                    self.live.insert(bucket, Bucket { live, settled });
                }
                Err(error) => {
                    tracing::error!(%error, "checking a bucket of pending chunks failed");
                }
            }
        }
        removed
    }

    /// Counts what an applied group changed: its new chunks' entries, then the
    /// entries it settled; a bucket whose count reaches zero, or that had no count,
    /// is checked next.
    fn count(&mut self, created: Vec<(Vec<u8>, u64)>, settled: Vec<(Vec<u8>, DeliveryId)>) {
        for (bucket, entries) in created {
            self.live.entry(bucket).or_default().live += entries;
        }
        for (bucket, id) in settled {
            match self.live.get_mut(&bucket) {
                Some(known) => {
                    known.live = known.live.saturating_sub(1);
                    known.settled.insert(id.as_str().into());
                    if known.live == 0 {
                        self.to_check.insert(bucket);
                    }
                }
                None => {
                    self.to_check.insert(bucket);
                }
            }
        }
    }
}

/// The writer loop: take a group, stage it, apply it, pass it to the flusher.
fn run(
    tree: &Tree,
    requests: &mpsc::Receiver<Box<dyn Job>>,
    to_flush: &mpsc::Sender<Applied>,
    mut counters: Counters,
    mut buckets: Buckets,
) {
    while let Ok(first) = requests.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match requests.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let mut group = Group::default();
        let removing = buckets.check(tree, &mut group);
        for job in &mut jobs {
            job.stage(tree, &mut group);
        }
        let settled = std::mem::take(&mut group.extra.settled);
        let applied = match apply(tree, group, &mut counters) {
            Ok(created) => {
                buckets.count(created, settled);
                Ok(())
            }
            Err(why) => {
                // The removals did not happen: check those buckets again.
                buckets.to_check.extend(removing);
                Err(why)
            }
        };
        if let Err(applied) = to_flush.send(Applied { jobs, applied }) {
            // The flusher is gone (it panicked): nothing will be made durable.
            for job in applied.0.jobs {
                job.answer(Err("the flush thread stopped"));
            }
        }
    }
}

/// Applies `group` as one batch (atomic, visible to readers, not yet durable), its
/// appends as one chunk per log and its published deliveries as one chunk per
/// bucket, numbered after the last chunk, and the largest delivery id when it grew;
/// `counters` follow once the batch is applied. Returns each new pending chunk's
/// bucket and entry count.
fn apply(
    tree: &Tree,
    group: Group,
    counters: &mut Counters,
) -> Result<Vec<(Vec<u8>, u64)>, String> {
    let Group { writes, extra } = group;
    if writes.is_empty() && extra.appends.is_empty() && extra.published.is_empty() {
        return Ok(Vec::new());
    }
    // A chunk number is never reused, even when the batch then fails, so two chunks
    // never share a key; the largest delivery id moves only once it is stored.
    let last_chunk = &mut counters.last_chunk;
    let mut batch = sled::Batch::default();
    for (key, value) in writes {
        match value {
            Some(value) => batch.insert(key, value),
            None => batch.remove(key),
        }
    }
    let numbered = !extra.appends.is_empty() || !extra.published.is_empty();
    for (key, value) in chunks(extra.appends, last_chunk) {
        batch.insert(key, value);
    }
    let mut created = Vec::new();
    for chunk in published_chunks(extra.published, last_chunk) {
        batch.insert(chunk.key, chunk.value);
        created.push((chunk.bucket, chunk.entries));
    }
    if numbered {
        batch.insert(keys::chunk_number(), last_chunk.to_be_bytes().to_vec());
    }
    let grown = extra.largest.filter(|largest| {
        counters
            .last_delivery
            .as_ref()
            .is_none_or(|last| largest > last)
    });
    if let Some(largest) = &grown {
        batch.insert(keys::last_delivery(), largest.as_str().as_bytes().to_vec());
    }
    tree.apply_batch(batch)
        .map_err(|e| format!("applying the batch: {e}"))?;
    if grown.is_some() {
        counters.last_delivery = grown;
    }
    Ok(created)
}

/// A pending chunk a group writes.
struct NewChunk {
    bucket: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
    entries: u64,
}

/// One chunk per bucket of `published`, in the order published, keyed by the bucket
/// and the next number after `last_chunk`.
fn published_chunks(published: Vec<Published>, last_chunk: &mut u64) -> Vec<NewChunk> {
    let mut buckets: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for entry in published {
        buckets.entry(entry.bucket).or_default().push(entry.record);
    }
    buckets
        .into_iter()
        .map(|(bucket, records)| {
            *last_chunk += 1;
            NewChunk {
                key: keys::published_chunk(&bucket, *last_chunk),
                value: records::encode_chunk(&records),
                entries: records.len() as u64,
                bucket,
            }
        })
        .collect()
}

/// One chunk per log of `appends`, in the order appended, keyed by the log, its
/// newest time and the next number after `last_chunk`.
fn chunks(appends: Vec<Append>, last_chunk: &mut u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut logs: BTreeMap<Vec<u8>, (Timestamp, Vec<Vec<u8>>)> = BTreeMap::new();
    for append in appends {
        let (newest, records) = logs.entry(append.log).or_default();
        *newest = (*newest).max(append.time);
        records.push(append.record);
    }
    logs.into_iter()
        .map(|(log, (newest, records))| {
            *last_chunk += 1;
            (
                keys::chunk(&log, newest, *last_chunk),
                records::encode_chunk(&records),
            )
        })
        .collect()
}

/// The flusher loop: take every applied group waiting, flush once (then sync to the
/// device with `device`), answer them all.
fn flush_loop(tree: &Tree, mut device: Option<DeviceSync>, applied: &mpsc::Receiver<Applied>) {
    while let Ok(first) = applied.recv() {
        let mut groups = vec![first];
        groups.extend(applied.try_iter());
        let flushed = tree
            .flush()
            .map(|_| ())
            .map_err(|e| format!("flushing: {e}"))
            .and_then(|()| device.as_mut().map_or(Ok(()), DeviceSync::sync));
        for group in groups {
            let outcome = group.applied.and(flushed.clone());
            if let Err(why) = &outcome {
                tracing::error!(error = %why, jobs = group.jobs.len(), "sled group commit failed");
            }
            let outcome = outcome.as_ref().map(|_| ()).map_err(String::as_str);
            for job in group.jobs {
                job.answer(outcome);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        let db = sled::Config::new().temporary(true).open().unwrap();
        db.open_tree("t").unwrap()
    }

    #[test]
    fn range_merges_staged_writes_over_the_tree() {
        let tree = tree();
        for k in [b"a1", b"a3", b"a5", b"b1"] {
            tree.insert(k, k.to_vec()).unwrap();
        }
        let mut group = Writes::new();
        group.insert(b"a2".to_vec(), Some(b"g".to_vec()));
        group.insert(b"a3".to_vec(), None);
        let mut txn = Txn::new(&tree, &group);
        txn.insert(b"a5".to_vec(), b"own".to_vec());
        txn.insert(b"a6".to_vec(), b"own".to_vec());
        txn.remove(b"a1".to_vec());
        let all = txn.scan_prefix(b"a").unwrap();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"a2".to_vec(), b"g".to_vec()),
            (b"a5".to_vec(), b"own".to_vec()),
            (b"a6".to_vec(), b"own".to_vec()),
        ];
        assert_eq!(all, expected);
        assert_eq!(txn.range(b"a", None, 2).unwrap(), expected[..2].to_vec());
        assert_eq!(txn.get(b"a3").unwrap(), None);
        assert_eq!(txn.get(b"b1").unwrap(), Some(b"b1".to_vec()));
    }

    #[tokio::test]
    async fn failed_closures_write_nothing_and_groups_commit() {
        let tree = tree();
        let writer = CommitWriter::start(tree.clone(), Counters::default(), None).unwrap();
        let failed: StorageResult<()> = writer
            .write(|txn| {
                txn.insert(b"x".to_vec(), b"1".to_vec());
                Err(StorageError::Corrupt("no".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(tree.get(b"x").unwrap(), None);

        let writer = std::sync::Arc::new(writer);
        let tasks: Vec<_> = (0..50u8)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(move |txn| {
                            let n = txn.get(b"n")?.map_or(0, |v| v[0]);
                            txn.insert(b"n".to_vec(), vec![n + 1]);
                            txn.insert(vec![b'k', i], vec![i]);
                            Ok(i)
                        })
                        .await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(usize::from(task.await.unwrap().unwrap()), i);
        }
        assert_eq!(tree.get(b"n").unwrap().unwrap().to_vec(), vec![50]);
    }

    #[tokio::test]
    async fn appends_of_a_group_become_one_chunk_per_log_numbered_onwards() {
        let tree = tree();
        let counters = Counters {
            last_chunk: 7,
            last_delivery: None,
        };
        let writer = CommitWriter::start(tree.clone(), counters, None).unwrap();
        writer
            .write(|txn| {
                txn.append(b"Ax".to_vec(), Timestamp(5), b"x1".to_vec());
                txn.append(b"Ay".to_vec(), Timestamp(2), b"y1".to_vec());
                txn.append(b"Ax".to_vec(), Timestamp(9), b"x2".to_vec());
                txn.append(b"Ax".to_vec(), Timestamp(3), b"x3".to_vec());
                Ok(())
            })
            .await
            .unwrap();
        // A failed closure's appends are dropped with its writes.
        let failed: StorageResult<()> = writer
            .write(|txn| {
                txn.append(b"Ax".to_vec(), Timestamp(1), b"lost".to_vec());
                Err(StorageError::Corrupt("no".into()))
            })
            .await;
        assert!(failed.is_err());
        drop(writer);

        let chunks: Vec<(Vec<u8>, Vec<Vec<u8>>)> = tree
            .scan_prefix(b"A")
            .map(|entry| {
                let (key, value) = entry.unwrap();
                let records = records::chunk_records(&value)
                    .unwrap()
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect();
                (key.to_vec(), records)
            })
            .collect();
        assert_eq!(
            chunks,
            vec![
                (
                    keys::chunk(b"Ax", Timestamp(9), 8),
                    vec![b"x1".to_vec(), b"x2".to_vec(), b"x3".to_vec()]
                ),
                (keys::chunk(b"Ay", Timestamp(2), 9), vec![b"y1".to_vec()]),
            ]
        );
        let stored = tree.get(keys::chunk_number()).unwrap().unwrap();
        assert_eq!(stored.as_ref(), 9u64.to_be_bytes());
    }

    /// The largest delivery id goes under `L` with the group that raised it; a
    /// smaller one, or one of a closure that failed, leaves it as it is.
    #[tokio::test]
    async fn the_largest_delivery_id_is_stored_only_when_it_grows() {
        let tree = tree();
        let id = |ms: u64| DeliveryId::generate_at(Timestamp(ms));
        let (small, large, between, larger) = (id(1), id(2), id(3), id(4));
        let writer = CommitWriter::start(tree.clone(), Counters::default(), None).unwrap();
        let stored = || {
            tree.get(keys::last_delivery())
                .unwrap()
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
        };
        let write = |ids: Vec<DeliveryId>, fail: bool| {
            writer.write(move |txn| {
                txn.insert(b"k".to_vec(), Vec::new());
                for id in &ids {
                    txn.wrote_delivery(id);
                }
                if fail {
                    return Err(StorageError::Corrupt("no".into()));
                }
                Ok(())
            })
        };
        write(vec![large.clone(), small.clone()], false)
            .await
            .unwrap();
        assert_eq!(stored().as_deref(), Some(large.as_str()));
        write(vec![small], false).await.unwrap();
        assert_eq!(stored().as_deref(), Some(large.as_str()));
        assert!(write(vec![larger.clone()], true).await.is_err());
        assert_eq!(stored().as_deref(), Some(large.as_str()));
        drop(writer);

        // Started from a larger id (stored by a group since), a smaller one is not
        // written over what is stored.
        let counters = Counters {
            last_chunk: 0,
            last_delivery: Some(larger),
        };
        let writer = CommitWriter::start(tree.clone(), counters, None).unwrap();
        writer
            .write(move |txn| {
                txn.insert(b"k".to_vec(), Vec::new());
                txn.wrote_delivery(&between);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(stored().as_deref(), Some(large.as_str()));
    }
}

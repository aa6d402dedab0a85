//! `PostgresCluster`: several nodes on one database, each endpoint owned by one
//! node at a time through partition leases.
//!
//! - **Partitions.** An endpoint's partition is `herald::cluster::partition_of`
//!   its id among `cluster_settings.partitions` (fixed by the first node).
//! - **Leases.** `partition_leases` holds each partition's owner, epoch and
//!   expiry, judged by the database's clock. Every `lease_renew` a node beats its
//!   heartbeat, renews what it holds, claims free or expired partitions up to its
//!   fair share (`FOR UPDATE SKIP LOCKED`, the epoch raised by each claim) and hands
//!   back what it holds beyond its share once its actors for them are quiet.
//! - **A node that cannot renew** lets go of everything before its leases can
//!   expire: a local deadline of the last renew's start plus `lease_ttl`, less a
//!   margin, on the monotonic clock.
//! - **Fencing.** The storage checks owner and epoch in the transaction of every
//!   owner write (`PostgresStorage::check_fence`): a node that lost a partition
//!   without knowing it writes nothing there (`StorageError::Fenced`).
//! - **Signals.** What the engine tells other nodes goes out with `pg_notify`
//!   after its write committed, many signals per notification; a dedicated
//!   connection listens, reconnects when it drops, and asks the engine to resync.
//! - **Leaving** (SIGTERM): the node stops its actors, their attempts recorded,
//!   gives its partitions back and tells the others, which claim them at once.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use herald::cluster::{partition_of, ClusterEvent, Membership, Signal};
use herald::error::StorageError;
use herald::ids::{EndpointId, KeyId, TenantId};
use herald::storage::StorageResult;
use herald::time::Timestamp;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::AsyncMessage;

use crate::error::ConnectError;
use crate::PostgresStorage;

/// The notification channel signals travel on.
const CHANNEL: &str = "herald_cluster";

/// Most bytes of one notification's payload (PostgreSQL's limit is 8000).
const MAX_PAYLOAD: usize = 7900;

/// Most partitions a cluster may have.
pub const MAX_PARTITIONS: u32 = 4096;

/// How long the listener waits before connecting again after its connection
/// dropped.
const LISTEN_RETRY: Duration = Duration::from_millis(500);

/// How long a node that left is kept in `cluster_nodes` after its last heartbeat
/// (for `GET /v1/cluster`), before a round removes it.
const FORGET_NODES_AFTER: &str = "1 day";

/// How a node takes part in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Unique among the nodes: letters, digits, `.`, `_`, `:` and `-`, at most 64.
    pub node_id: String,
    /// Partitions endpoints are spread over, used by the first node to start on a
    /// database (later nodes take the stored number).
    pub partitions: u32,
    /// How long a lease lasts without renewal.
    pub lease_ttl: Duration,
    /// How often leases are renewed (and free ones claimed).
    pub lease_renew: Duration,
}

/// A cluster setting that is wrong: its name as heraldd's configuration spells
/// it, and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidOption {
    /// `node_id`, `cluster.partitions`, `cluster.lease_ttl` or `cluster.lease_renew`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl InvalidOption {
    fn new(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            key,
            message: message.into(),
        }
    }
}

impl ClusterOptions {
    /// The defaults (256 partitions, 20 s leases renewed every 5 s) for `node_id`.
    pub fn new(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            partitions: 256,
            lease_ttl: Duration::from_secs(20),
            lease_renew: Duration::from_secs(5),
        }
    }

    /// What is wrong with the options, if anything.
    ///
    /// # Errors
    /// The first setting that is wrong.
    pub fn check(&self) -> Result<(), InvalidOption> {
        let id = &self.node_id;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if !id_ok {
            return Err(InvalidOption::new(
                "node_id",
                format!("{id:?}: 1 to 64 letters, digits, `.`, `_`, `:` or `-`"),
            ));
        }
        if self.partitions == 0 || self.partitions > MAX_PARTITIONS {
            return Err(InvalidOption::new(
                "cluster.partitions",
                format!("from 1 to {MAX_PARTITIONS}, not {}", self.partitions),
            ));
        }
        if self.lease_ttl < Duration::from_millis(500) {
            return Err(InvalidOption::new("cluster.lease_ttl", "at least 500ms"));
        }
        if self.lease_renew.is_zero() || self.lease_renew * 2 > self.lease_ttl {
            return Err(InvalidOption::new(
                "cluster.lease_renew",
                "more than zero and at most half of cluster.lease_ttl",
            ));
        }
        Ok(())
    }

    /// How long before a lease's expiry its holder lets go when it could not
    /// renew: a fifth of the lease, so clocks and pauses have room.
    fn margin(&self) -> Duration {
        self.lease_ttl / 5
    }
}

/// The partitions this node holds, as the storage's fence and `owns` read them.
#[derive(Debug)]
pub(crate) struct Fence {
    pub(crate) node_id: String,
    pub(crate) partitions: u32,
    leases: Mutex<Leases>,
}

#[derive(Debug, Default)]
struct Leases {
    /// Partition → epoch: what this node may write for.
    held: HashMap<u32, i64>,
    /// Held partitions being handed back: written for (their actors record what is
    /// in flight), but no longer owned (no actor starts for them).
    releasing: HashSet<u32>,
}

impl Fence {
    fn leases(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The epoch this node holds the partition under, if it holds it.
    pub(crate) fn epoch_of(&self, partition: u32) -> Option<i64> {
        self.leases().held.get(&partition).copied()
    }

    fn owns(&self, partition: u32) -> bool {
        let leases = self.leases();
        leases.held.contains_key(&partition) && !leases.releasing.contains(&partition)
    }
}

/// A node of a cluster on one PostgreSQL database: the engine's `Membership`.
/// Cheap to clone.
#[derive(Clone)]
pub struct PostgresCluster {
    inner: Arc<Inner>,
}

struct Inner {
    storage: PostgresStorage,
    options: ClusterOptions,
    fence: Arc<Fence>,
    events: mpsc::UnboundedSender<ClusterEvent>,
    events_out: Mutex<Option<mpsc::UnboundedReceiver<ClusterEvent>>>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    /// Runs a lease round now (another node handed partitions back).
    round_now: Notify,
    /// Set when leaving: no more claims.
    leaving: std::sync::atomic::AtomicBool,
    /// Set while surplus partitions are being handed back.
    releasing: std::sync::atomic::AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The lease loop (stopped by `leave`).
    lease_task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
        self.stop_rounds();
    }
}

impl fmt::Debug for PostgresCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresCluster")
            .field("node_id", &self.inner.options.node_id)
            .field("partitions", &self.inner.fence.partitions)
            .finish_non_exhaustive()
    }
}

/// What goes out on the notification channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Outgoing {
    Signal(Signal),
    /// Partitions were handed back: claim them now.
    Rebalance,
}

/// A node as `GET /v1/cluster` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    /// Its id.
    pub node_id: String,
    /// When it joined (RFC 3339).
    pub started_at: String,
    /// Its last heartbeat (RFC 3339, the database's clock).
    pub heartbeat_at: String,
    /// Whether its heartbeat is younger than a lease.
    pub alive: bool,
    /// Partitions it holds under an unexpired lease.
    pub partitions_owned: u32,
}

/// The cluster as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// The node answering.
    pub node_id: String,
    /// Partitions endpoints are spread over.
    pub partitions: u32,
    /// Partitions no live lease holds (being handed over).
    pub partitions_unowned: u32,
    /// `lease_ttl` and `lease_renew`, in milliseconds.
    pub lease_ttl_ms: u64,
    /// How often leases are renewed.
    pub lease_renew_ms: u64,
    /// Every node that beat within the last day.
    pub nodes: Vec<NodeStatus>,
}

fn database(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> ConnectError {
    move |e| ConnectError::database(context, e)
}

fn backend(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StorageError {
    move |e| StorageError::backend(context, e)
}

/// A `Duration` as a PostgreSQL interval parameter, in whole milliseconds.
fn millis(duration: Duration) -> f64 {
    duration.as_millis() as f64
}

impl PostgresCluster {
    /// Joins the cluster on `storage`'s database as `options.node_id`: fixes the
    /// partition count at the first join, drops leases a former process of this
    /// node id left, fences `storage`'s owner writes by this node's leases, starts
    /// listening for signals, and runs the first lease round.
    ///
    /// # Errors
    /// `Cluster` for bad options or a storage already in a cluster; `Database` when
    /// the database refuses.
    pub async fn join(
        storage: &PostgresStorage,
        options: ClusterOptions,
    ) -> Result<Self, ConnectError> {
        options
            .check()
            .map_err(|invalid| ConnectError::Cluster(invalid.to_string()))?;
        let client = storage
            .client()
            .await
            .map_err(|e| ConnectError::Pool(e.to_string()))?;
        client
            .execute(
                "INSERT INTO cluster_settings (partitions) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&(options.partitions as i32)],
            )
            .await
            .map_err(database("fixing the partition count"))?;
        let partitions: i32 = client
            .query_one("SELECT partitions FROM cluster_settings", &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(database("reading the partition count"))?;
        client
            .execute(
                "INSERT INTO partition_leases (partition)
                 SELECT generate_series(0, $1 - 1) ON CONFLICT DO NOTHING",
                &[&partitions],
            )
            .await
            .map_err(database("creating the partition leases"))?;
        client
            .execute(
                "UPDATE partition_leases SET owner = NULL, expires_at = NULL WHERE owner = $1",
                &[&options.node_id],
            )
            .await
            .map_err(database(
                "dropping the leases of a former process of this node",
            ))?;
        client
            .execute(
                "INSERT INTO cluster_nodes (node_id, started_at, heartbeat_at)
                 VALUES ($1, now(), now())
                 ON CONFLICT (node_id) DO UPDATE SET started_at = now(), heartbeat_at = now()",
                &[&options.node_id],
            )
            .await
            .map_err(database("registering the node"))?;
        drop(client);

        let fence = Arc::new(Fence {
            node_id: options.node_id.clone(),
            partitions: u32::try_from(partitions).unwrap_or(1).max(1),
            leases: Mutex::new(Leases::default()),
        });
        storage
            .fence
            .set(fence.clone())
            .map_err(|_| ConnectError::Cluster("this storage is in a cluster already".into()))?;
        let (events, events_out) = mpsc::unbounded_channel();
        let (outbox, outgoing) = mpsc::unbounded_channel();
        let cluster = Self {
            inner: Arc::new(Inner {
                storage: storage.clone(),
                options,
                fence,
                events,
                events_out: Mutex::new(Some(events_out)),
                outbox,
                round_now: Notify::new(),
                leaving: std::sync::atomic::AtomicBool::new(false),
                releasing: std::sync::atomic::AtomicBool::new(false),
                tasks: Mutex::new(Vec::new()),
                lease_task: Mutex::new(None),
            }),
        };
        let (listening, listened) = oneshot::channel();
        let weak = Arc::downgrade(&cluster.inner);
        let listener = tokio::spawn(listen(weak.clone(), listening));
        match listened.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                listener.abort();
                return Err(error);
            }
            Err(_) => {
                return Err(ConnectError::Cluster(
                    "the signal listener stopped at start".into(),
                ))
            }
        }
        let notifier = tokio::spawn(notify(
            storage.clone(),
            cluster.node_id().to_owned(),
            outgoing,
        ));
        let mut deadline = None;
        if let Err(error) = cluster.inner.round(&mut deadline).await {
            tracing::warn!(%error, "the first lease round failed; trying again");
        }
        let leases = tokio::spawn(lease_loop(weak, deadline));
        cluster
            .inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([listener, notifier]);
        *cluster
            .inner
            .lease_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(leases);
        Ok(cluster)
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.options.node_id
    }

    /// Partitions endpoints are spread over (the stored number).
    pub fn partitions(&self) -> u32 {
        self.inner.fence.partitions
    }

    /// How many partitions this node owns now.
    pub fn partitions_owned(&self) -> usize {
        let leases = self.inner.fence.leases();
        leases.held.len() - leases.releasing.len()
    }

    /// The nodes and their partitions, as the database says now.
    ///
    /// # Errors
    /// The storage's.
    pub async fn status(&self) -> StorageResult<ClusterStatus> {
        const CONTEXT: &str = "reading the cluster's state";
        let options = &self.inner.options;
        let client = self.inner.storage.client().await?;
        let rows = client
            .query(
                "SELECT n.node_id,
                        (extract(epoch FROM n.started_at) * 1000)::bigint,
                        (extract(epoch FROM n.heartbeat_at) * 1000)::bigint,
                        n.heartbeat_at > now() - make_interval(secs => $1::float8 / 1000),
                        (SELECT count(*) FROM partition_leases l
                         WHERE l.owner = n.node_id AND l.expires_at > now())
                 FROM cluster_nodes n ORDER BY n.node_id",
                &[&millis(options.lease_ttl)],
            )
            .await
            .map_err(backend(CONTEXT))?;
        let mut nodes = Vec::with_capacity(rows.len());
        for row in &rows {
            let started: i64 = row.try_get(1).map_err(backend(CONTEXT))?;
            let beat: i64 = row.try_get(2).map_err(backend(CONTEXT))?;
            let owned: i64 = row.try_get(4).map_err(backend(CONTEXT))?;
            nodes.push(NodeStatus {
                node_id: row.try_get(0).map_err(backend(CONTEXT))?,
                started_at: Timestamp(u64::try_from(started).unwrap_or(0)).to_rfc3339(),
                heartbeat_at: Timestamp(u64::try_from(beat).unwrap_or(0)).to_rfc3339(),
                alive: row.try_get(3).map_err(backend(CONTEXT))?,
                partitions_owned: u32::try_from(owned).unwrap_or(0),
            });
        }
        let unowned: i64 = client
            .query_one(
                "SELECT count(*) FROM partition_leases
                 WHERE owner IS NULL OR expires_at IS NULL OR expires_at <= now()",
                &[],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(backend(CONTEXT))?;
        Ok(ClusterStatus {
            node_id: options.node_id.clone(),
            partitions: self.inner.fence.partitions,
            partitions_unowned: u32::try_from(unowned).unwrap_or(0),
            lease_ttl_ms: options.lease_ttl.as_millis() as u64,
            lease_renew_ms: options.lease_renew.as_millis() as u64,
            nodes,
        })
    }

    /// Hands every partition back (graceful stop): the engine's actors stop once
    /// their attempts are recorded (waited for at most `within`), then the leases
    /// are released and the other nodes told, so they claim them at once.
    pub async fn leave(&self, within: Duration) {
        let inner = &self.inner;
        inner
            .leaving
            .store(true, std::sync::atomic::Ordering::SeqCst);
        {
            let mut leases = inner.fence.leases();
            let held: Vec<u32> = leases.held.keys().copied().collect();
            leases.releasing.extend(held);
        }
        let (done, quiet) = oneshot::channel();
        let _ = inner
            .events
            .send(ClusterEvent::OwnershipChanged { done: Some(done) });
        if tokio::time::timeout(within, quiet).await.is_err() {
            tracing::warn!("actors did not stop in time; leaving anyway");
        }
        // No more rounds: one would beat the heartbeat again.
        inner.stop_rounds();
        if let Err(error) = inner.release_all().await {
            tracing::warn!(%error, "handing the partitions back failed; they pass over when their leases expire");
        }
    }
}

impl Inner {
    /// Stops the lease loop (leaving, or dropped).
    fn stop_rounds(&self) {
        if let Some(rounds) = self
            .lease_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            rounds.abort();
        }
    }

    /// One lease round: heartbeat, renew, claim up to the fair share, hand back
    /// the surplus. `deadline` becomes the time before which the renewed leases
    /// are surely still ours.
    async fn round(self: &Arc<Self>, deadline: &mut Option<Instant>) -> StorageResult<()> {
        const CONTEXT: &str = "renewing partition leases";
        let options = &self.options;
        let started = Instant::now();
        let ttl = millis(options.lease_ttl);
        let client = self.storage.client().await?;
        client
            .execute(
                "INSERT INTO cluster_nodes (node_id, started_at, heartbeat_at)
                 VALUES ($1, now(), now())
                 ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now()",
                &[&options.node_id],
            )
            .await
            .map_err(backend(CONTEXT))?;
        let held: Vec<i32> = self.fence.leases().held.keys().map(|p| *p as i32).collect();
        let renewed = client
            .query(
                "UPDATE partition_leases
                 SET expires_at = now() + make_interval(secs => $3::float8 / 1000)
                 WHERE owner = $1 AND partition = ANY($2)
                 RETURNING partition, epoch",
                &[&options.node_id, &held, &ttl],
            )
            .await
            .map_err(backend(CONTEXT))?;
        let mut still: HashMap<u32, i64> = HashMap::new();
        for row in &renewed {
            let partition: i32 = row.try_get(0).map_err(backend(CONTEXT))?;
            let epoch: i64 = row.try_get(1).map_err(backend(CONTEXT))?;
            still.insert(partition as u32, epoch);
        }
        let lost = {
            let mut leases = self.fence.leases();
            let before = leases.held.len();
            leases
                .held
                .retain(|partition, epoch| still.get(partition) == Some(epoch));
            let kept: HashSet<u32> = leases.held.keys().copied().collect();
            leases.releasing.retain(|p| kept.contains(p));
            before - leases.held.len()
        };
        *deadline = Some(started + options.lease_ttl - options.margin());
        if lost > 0 {
            tracing::warn!(
                partitions = lost,
                "partitions were taken over by other nodes"
            );
            let _ = self
                .events
                .send(ClusterEvent::OwnershipChanged { done: None });
        }
        if self.leaving.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        client
            .execute(
                &format!(
                    "DELETE FROM cluster_nodes WHERE heartbeat_at < now() - interval '{FORGET_NODES_AFTER}'"
                ),
                &[],
            )
            .await
            .map_err(backend(CONTEXT))?;
        client
            .execute(
                "DELETE FROM endpoint_changes
                 WHERE seq <= (SELECT last FROM endpoint_change_head) - $1",
                &[&crate::store::ENDPOINT_CHANGES_KEPT],
            )
            .await
            .map_err(backend(CONTEXT))?;
        let live: i64 = client
            .query_one(
                "SELECT count(*) FROM cluster_nodes
                 WHERE heartbeat_at > now() - make_interval(secs => $1::float8 / 1000)",
                &[&ttl],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(backend(CONTEXT))?;
        let live = u32::try_from(live.max(1)).unwrap_or(1);
        let share = self.fence.partitions.div_ceil(live) as usize;
        let holding = self.fence.leases().held.len();
        if holding < share {
            let want = (share - holding) as i64;
            let claimed = client
                .query(
                    "UPDATE partition_leases l
                     SET owner = $1, epoch = l.epoch + 1,
                         expires_at = now() + make_interval(secs => $3::float8 / 1000)
                     FROM (SELECT partition FROM partition_leases
                           WHERE owner IS NULL OR expires_at IS NULL OR expires_at < now()
                           ORDER BY partition LIMIT $2 FOR UPDATE SKIP LOCKED) free
                     WHERE l.partition = free.partition
                     RETURNING l.partition, l.epoch",
                    &[&options.node_id, &want, &ttl],
                )
                .await
                .map_err(backend(CONTEXT))?;
            if !claimed.is_empty() {
                {
                    let mut leases = self.fence.leases();
                    for row in &claimed {
                        let partition: i32 = row.try_get(0).map_err(backend(CONTEXT))?;
                        let epoch: i64 = row.try_get(1).map_err(backend(CONTEXT))?;
                        leases.held.insert(partition as u32, epoch);
                    }
                }
                tracing::info!(partitions = claimed.len(), "claimed partitions");
                let _ = self
                    .events
                    .send(ClusterEvent::OwnershipChanged { done: None });
            }
        } else if holding > share
            && !self
                .releasing
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let surplus: Vec<u32> = {
                let mut leases = self.fence.leases();
                let mut mine: Vec<u32> = leases.held.keys().copied().collect();
                mine.sort_unstable();
                let surplus: Vec<u32> = mine.split_off(share);
                leases.releasing.extend(surplus.iter().copied());
                surplus
            };
            tracing::info!(
                partitions = surplus.len(),
                "handing partitions to other nodes"
            );
            tokio::spawn(self.clone().release(surplus));
        }
        Ok(())
    }

    /// Hands `partitions` back once the engine's actors for them are quiet.
    async fn release(self: Arc<Self>, partitions: Vec<u32>) {
        let (done, quiet) = oneshot::channel();
        let _ = self
            .events
            .send(ClusterEvent::OwnershipChanged { done: Some(done) });
        let _ = quiet.await;
        let list: Vec<i32> = partitions.iter().map(|p| *p as i32).collect();
        let released = async {
            let client = self.storage.client().await?;
            client
                .execute(
                    "UPDATE partition_leases SET owner = NULL, expires_at = NULL
                     WHERE owner = $1 AND partition = ANY($2)",
                    &[&self.options.node_id, &list],
                )
                .await
                .map_err(backend("handing partitions back"))
        }
        .await;
        {
            let mut leases = self.fence.leases();
            for partition in &partitions {
                leases.held.remove(partition);
                leases.releasing.remove(partition);
            }
        }
        match released {
            Ok(_) => {
                let _ = self.outbox.send(Outgoing::Rebalance);
            }
            Err(error) => {
                tracing::warn!(%error, "handing partitions back failed; they pass over when their leases expire");
            }
        }
        self.releasing
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Gives every lease back and leaves the node list (graceful stop).
    async fn release_all(&self) -> StorageResult<()> {
        const CONTEXT: &str = "leaving the cluster";
        let client = self.storage.client().await?;
        client
            .execute(
                "UPDATE partition_leases SET owner = NULL, expires_at = NULL WHERE owner = $1",
                &[&self.options.node_id],
            )
            .await
            .map_err(backend(CONTEXT))?;
        client
            .execute(
                "DELETE FROM cluster_nodes WHERE node_id = $1",
                &[&self.options.node_id],
            )
            .await
            .map_err(backend(CONTEXT))?;
        {
            let mut leases = self.fence.leases();
            leases.held.clear();
            leases.releasing.clear();
        }
        // Sent on this connection, not through the outbox: it must go before the
        // process ends.
        client
            .execute(
                "SELECT pg_notify($1, $2)",
                &[
                    &CHANNEL,
                    &encode_batch(&self.options.node_id, &[Outgoing::Rebalance])[0],
                ],
            )
            .await
            .map_err(backend(CONTEXT))?;
        Ok(())
    }

    /// Lets go of everything at once: the leases may have expired (no renewal
    /// succeeded in time); what is in flight is written only if the fence allows.
    fn drop_all(&self) {
        let dropped = {
            let mut leases = self.fence.leases();
            let count = leases.held.len();
            leases.held.clear();
            leases.releasing.clear();
            count
        };
        if dropped > 0 {
            tracing::error!(
                partitions = dropped,
                "could not renew the partition leases in time; letting every endpoint go"
            );
            let _ = self
                .events
                .send(ClusterEvent::OwnershipChanged { done: None });
        }
    }
}

impl Membership for PostgresCluster {
    fn owns(&self, endpoint: &EndpointId) -> bool {
        let fence = &self.inner.fence;
        fence.owns(partition_of(endpoint, fence.partitions))
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn tell(&self, signal: Signal) {
        let _ = self.inner.outbox.send(Outgoing::Signal(signal));
    }

    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<ClusterEvent>> {
        self.inner
            .events_out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Renews every `lease_renew` (or at once when another node handed partitions
/// back), and lets everything go when the deadline passes without a renewal.
async fn lease_loop(inner: std::sync::Weak<Inner>, mut deadline: Option<Instant>) {
    loop {
        let Some(this) = inner.upgrade() else {
            return;
        };
        let renew = this.options.lease_renew;
        let next = Instant::now() + renew;
        let wake_at = deadline.map_or(next, |d| d.min(next));
        tokio::select! {
            () = tokio::time::sleep_until(wake_at) => {}
            () = this.round_now.notified() => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            this.drop_all();
            deadline = None;
        }
        // A round that hangs (the database unreachable) must not hold the deadline.
        match tokio::time::timeout(renew, this.round(&mut deadline)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "a lease round failed"),
            Err(_) => tracing::warn!("a lease round timed out"),
        }
    }
}

/// Sends what the outbox gets as notifications, as many signals per notification
/// as arrived while the previous one was being sent.
async fn notify(
    storage: PostgresStorage,
    node_id: String,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    const BATCH: usize = 4096;
    while let Some(first) = outgoing.recv().await {
        let mut seen: HashSet<Outgoing> = HashSet::new();
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(item) = next {
            if seen.insert(item.clone()) {
                batch.push(item);
            }
            next = if batch.len() < BATCH {
                outgoing.try_recv().ok()
            } else {
                None
            };
        }
        for payload in encode_batch(&node_id, &batch) {
            let mut tries = 0;
            loop {
                let sent = match storage.client().await {
                    Ok(client) => client
                        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match sent {
                    Ok(()) => break,
                    Err(error) if tries < 5 => {
                        tries += 1;
                        tracing::warn!(%error, "sending signals failed; trying again");
                        tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                    }
                    Err(error) => {
                        // The owners' sweeps find the work.
                        tracing::error!(%error, "sending signals failed; the sweep will find the work");
                        break;
                    }
                }
            }
        }
    }
}

/// Listens for other nodes' signals on a connection of its own, connecting again
/// when it drops (then asking the engine to resync: signals may have been lost).
/// `listening` is answered once the first LISTEN is in place (or failed).
async fn listen(
    inner: std::sync::Weak<Inner>,
    listening: oneshot::Sender<Result<(), ConnectError>>,
) {
    let mut listening = Some(listening);
    loop {
        let Some(this) = inner.upgrade() else {
            return;
        };
        let storage = this.storage.clone();
        let node_id = this.options.node_id.clone();
        let events = this.events.clone();
        drop(this);
        let connected = storage
            .config
            .connect(storage.tls.clone())
            .await
            .map_err(database("connecting the signal listener"));
        let (client, mut connection) = match connected {
            Ok(pair) => pair,
            Err(error) => {
                if let Some(first) = listening.take() {
                    let _ = first.send(Err(error));
                    return;
                }
                tracing::warn!(%error, "the signal listener could not connect; trying again");
                tokio::time::sleep(LISTEN_RETRY).await;
                continue;
            }
        };
        let (payloads, mut received) = mpsc::unbounded_channel::<String>();
        let driver = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if payloads.send(n.payload().to_owned()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "the signal listener's connection failed");
                        return;
                    }
                }
            }
        });
        match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
            Ok(()) => match listening.take() {
                Some(first) => {
                    let _ = first.send(Ok(()));
                }
                // Back after a drop: what was said meanwhile is lost.
                None => {
                    let _ = events.send(ClusterEvent::Resync);
                }
            },
            Err(error) => {
                driver.abort();
                let error = ConnectError::database("listening for signals", error);
                if let Some(first) = listening.take() {
                    let _ = first.send(Err(error));
                    return;
                }
                tracing::warn!(%error, "the signal listener could not LISTEN; trying again");
                tokio::time::sleep(LISTEN_RETRY).await;
                continue;
            }
        }
        while let Some(payload) = received.recv().await {
            let Some((from, items)) = decode_batch(&payload) else {
                tracing::warn!("a malformed signal was ignored");
                continue;
            };
            if from == node_id {
                continue;
            }
            for item in items {
                match item {
                    Outgoing::Signal(signal) => {
                        let _ = events.send(ClusterEvent::Signal(signal));
                    }
                    Outgoing::Rebalance => {
                        if let Some(this) = inner.upgrade() {
                            this.round_now.notify_one();
                        }
                    }
                }
            }
        }
        drop(client);
        driver.abort();
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// Notification payloads for `items`: the sender's node id on the first line,
/// then one item per line, each payload under `MAX_PAYLOAD` bytes.
fn encode_batch(node_id: &str, items: &[Outgoing]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current = String::from(node_id);
    for item in items {
        let line = match item {
            Outgoing::Signal(Signal::Work(id)) => format!("w {id}"),
            Outgoing::Signal(Signal::Requeued(id)) => format!("q {id}"),
            Outgoing::Signal(Signal::EndpointChanged(tenant, id)) => format!("c {tenant} {id}"),
            Outgoing::Signal(Signal::KeyRevoked(id)) => format!("k {id}"),
            Outgoing::Signal(Signal::TenantChanged(tenant)) => format!("t {tenant}"),
            Outgoing::Rebalance => "r".to_owned(),
        };
        if current.len() + 1 + line.len() > MAX_PAYLOAD && current.len() > node_id.len() {
            payloads.push(std::mem::replace(&mut current, String::from(node_id)));
        }
        current.push('\n');
        current.push_str(&line);
    }
    if current.len() > node_id.len() {
        payloads.push(current);
    }
    payloads
}

/// The sender and items of a payload `encode_batch` made; `None` when malformed.
fn decode_batch(payload: &str) -> Option<(&str, Vec<Outgoing>)> {
    let mut lines = payload.split('\n');
    let from = lines.next()?;
    let mut items = Vec::new();
    for line in lines {
        let mut words = line.split(' ');
        let item = match (words.next()?, words.next(), words.next()) {
            ("w", Some(id), None) => Outgoing::Signal(Signal::Work(EndpointId::parse(id).ok()?)),
            ("q", Some(id), None) => {
                Outgoing::Signal(Signal::Requeued(EndpointId::parse(id).ok()?))
            }
            ("c", Some(tenant), Some(id)) => Outgoing::Signal(Signal::EndpointChanged(
                TenantId::parse(tenant).ok()?,
                EndpointId::parse(id).ok()?,
            )),
            ("k", Some(id), None) => Outgoing::Signal(Signal::KeyRevoked(KeyId::parse(id).ok()?)),
            ("t", Some(tenant), None) => {
                Outgoing::Signal(Signal::TenantChanged(TenantId::parse(tenant).ok()?))
            }
            ("r", None, None) => Outgoing::Rebalance,
            _ => return None,
        };
        items.push(item);
    }
    Some((from, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_survive_encoding_and_split_under_the_payload_limit() {
        let tenant = TenantId::parse("acme").unwrap();
        let mut items: Vec<Outgoing> = (0..400)
            .map(|_| Outgoing::Signal(Signal::Work(EndpointId::generate())))
            .collect();
        items.push(Outgoing::Signal(Signal::EndpointChanged(
            tenant.clone(),
            EndpointId::generate(),
        )));
        items.push(Outgoing::Signal(Signal::KeyRevoked(KeyId::generate())));
        items.push(Outgoing::Signal(Signal::TenantChanged(tenant)));
        items.push(Outgoing::Rebalance);
        let payloads = encode_batch("node-1", &items);
        assert!(payloads.len() > 1, "split");
        let mut decoded = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD);
            let (from, part) = decode_batch(payload).unwrap();
            assert_eq!(from, "node-1");
            decoded.extend(part);
        }
        assert_eq!(decoded, items);
    }

    #[test]
    fn malformed_payloads_are_refused() {
        for bad in [
            "n\nw",
            "n\nw not-an-id",
            "n\nx ep_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "n\nr extra",
        ] {
            assert!(decode_batch(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn options_are_checked() {
        let good = ClusterOptions::new("node-1");
        assert_eq!(good.check(), Ok(()));
        let cases = [
            ClusterOptions::new(""),
            ClusterOptions::new("a b"),
            ClusterOptions::new("x".repeat(65)),
            ClusterOptions {
                partitions: 0,
                ..good.clone()
            },
            ClusterOptions {
                partitions: MAX_PARTITIONS + 1,
                ..good.clone()
            },
            ClusterOptions {
                lease_renew: Duration::from_secs(11),
                ..good.clone()
            },
            ClusterOptions {
                lease_ttl: Duration::from_millis(100),
                lease_renew: Duration::from_millis(10),
                ..good.clone()
            },
        ];
        for case in cases {
            assert!(case.check().is_err(), "{case:?}");
        }
    }
}

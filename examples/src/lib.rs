//! `heraldd` as a library: `run(config, listener, shutdown)` serves the management API
//! of http-api.md over an `Engine` until `shutdown` completes.
//!
//! # Layout
//! - `allocator`: mimalloc's tuning (freed memory kept 10 s, no transparent huge pages).
//! - `config`: `DaemonConfig` from TOML + `HERALD_*` + flags; errors name the key.
//! - `api`: `router(state)`, every route in one table; handlers, extractors, errors, auth.
//! - `telemetry`: logs to stderr, the Prometheus recorder behind `/metrics`.
//! - `operational`: keeps the operational webhook as an endpoint of the `_herald` tenant.
//! - `tenants_config`: `[tenants]` defaults and `[event_types."TYPE"]` catalog entries.
//! - `profiles_config`: `[profiles.NAME]` tables into checked delivery profiles.
//! - `api_config`: the `[api]` table, the limits of what a client may hold.
//! - `cluster_config`: `node_id` and the `[cluster]` table (nodes on one PostgreSQL).
//! - `console`: the web console under `/console/`, a client of the API in process;
//!   `console_config`: its `[console]` table.
//! - `serve`: the serve loop: connections within `[api]`'s limits, served by hyper.
//! - `tls`: HTTPS for the API when `tls_cert` and `tls_key` are set.
//! - `fd_limit`: raises the open-files limit, which the connections must fit under.
//! - `shutdown`: the SIGINT/SIGTERM future.
//! - `serde_path`: names the field a deserialization error is about.
//!
//! The binaries in `src/bin/` stay thin: `heraldd` parses flags, loads the config,
//! binds, starts a `Daemon`, prints the `listening on` line and serves.
#![warn(missing_docs, unreachable_pub)]

pub mod allocator;
pub mod api;
mod api_config;
mod cluster_config;
pub mod config;
mod console;
pub mod console_config;
pub use console::console_routes;
pub mod fd_limit;
mod operational;
mod profiles_config;
mod serde_path;
mod serve;
pub mod shutdown;
mod strict_tables;
pub mod telemetry;
mod tenants_config;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald::{Engine, Storage, Transport};
use herald_storage_memory::MemoryStorage;
use herald_storage_postgres::{PostgresCluster, PostgresStorage};
use herald_storage_sled::SledStorage;
use herald_transport_http::HttpTransport;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::api::AppState;
use crate::config::{ApiLimits, DaemonConfig, Sensitive, StorageKind};

/// Runs the daemon on `listener` until `shutdown` completes, then stops in order:
/// the listener, in-flight requests, the engine (up to `shutdown_grace`).
///
/// # Errors
/// When storage, the transport or the engine cannot start, the engine gives up, or
/// its final flush fails.
pub async fn run(
    config: DaemonConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Daemon::start(config, listener).await?.serve(shutdown).await
}

/// A started daemon: storage open, engine running, listener bound, not yet serving.
/// Owns the background tasks (metrics upkeep); `serve` stops them.
pub struct Daemon {
    engine: Engine,
    state: AppState,
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    limits: ApiLimits,
    shutdown_grace: Duration,
    generated_token: Option<(Sensitive, std::path::PathBuf)>,
    tasks: Vec<JoinHandle<()>>,
    /// Ends the open streams when serving stops.
    streams_stop: tokio::sync::watch::Sender<bool>,
    /// This node's membership, when it shares a PostgreSQL database with others.
    cluster: Option<PostgresCluster>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Opens storage, resolves the API token, starts the transport and the engine, and
    /// keeps the operational webhook's endpoint.
    ///
    /// # Errors
    /// With context naming what failed (data dir locked, bad TLS files, ...).
    pub async fn start(config: DaemonConfig, listener: TcpListener) -> anyhow::Result<Daemon> {
        let mut cluster = None;
        let storage: Arc<dyn Storage> =
            match config.storage {
                StorageKind::Memory => Arc::new(MemoryStorage::new()),
                StorageKind::Sled => {
                    std::fs::create_dir_all(&config.data_dir).with_context(|| {
                        format!("cannot create data_dir {}", config.data_dir.display())
                    })?;
                    let path = config.sled_dir();
                    let opened = match config.encryption_keys.clone() {
                        Some(keyring) => SledStorage::open_with_keyring(&path, keyring),
                        None => SledStorage::open(&path),
                    };
                    Arc::new(opened.with_context(|| {
                        format!("cannot open the storage in {}", path.display())
                    })?)
                }
                StorageKind::Postgres => {
                    // `validate` makes both present with this storage; an embedder's
                    // config built without it gets the same message.
                    let url = config
                        .postgres_url
                        .as_ref()
                        .context("postgres_url must be set when storage is \"postgres\"")?;
                    let keyring = config
                        .encryption_keys
                        .clone()
                        .context("encryption_keys must be set when storage is \"postgres\"")?;
                    let storage = PostgresStorage::connect(url.expose(), keyring)
                        .await
                        .context("cannot open the storage in PostgreSQL (postgres_url)")?;
                    let member = PostgresCluster::join(&storage, config.cluster.clone())
                        .await
                        .context("cannot join the cluster on PostgreSQL")?;
                    tracing::info!(
                        node_id = member.node_id(),
                        partitions = member.partitions(),
                        "joined the cluster"
                    );
                    cluster = Some(member);
                    Arc::new(storage)
                }
            };
        Self::start_with(config, listener, storage, cluster).await
    }

    /// As `start`, on a storage the caller opened (its `storage` setting is not
    /// read): an embedder's own backend, or a test's.
    ///
    /// # Errors
    /// As `start`.
    pub async fn start_on(
        config: DaemonConfig,
        listener: TcpListener,
        storage: Arc<dyn Storage>,
    ) -> anyhow::Result<Daemon> {
        Self::start_with(config, listener, storage, None).await
    }

    /// As `start_on`, as a node of `cluster` when given.
    async fn start_with(
        config: DaemonConfig,
        listener: TcpListener,
        storage: Arc<dyn Storage>,
        cluster: Option<PostgresCluster>,
    ) -> anyhow::Result<Daemon> {
        let local_addr = listener
            .local_addr()
            .context("the listener has no local address")?;
        let tls = match &config.tls {
            Some(files) => Some(tls::acceptor(&files.cert, &files.key)?),
            None => None,
        };
        let (api_token, generated_token) = match &config.api_token {
            // Checked here too: an embedder may build the config without `load`.
            Some(token) => (config::api_token(token.expose())?, None),
            None => {
                let stored = api::auth::load_or_generate(&config.data_dir).with_context(|| {
                    format!(
                        "cannot keep the API token in data_dir {}",
                        config.data_dir.display()
                    )
                })?;
                let generated = stored
                    .generated
                    .then(|| (stored.token.clone(), stored.path));
                (stored.token, generated)
            }
        };
        let transport: Arc<dyn Transport> = Arc::new(
            HttpTransport::new(config.transport_config())
                .context("cannot build the HTTP transport")?,
        );
        let metrics = telemetry::install_metrics();
        let body_limit = config.engine.delivery.max_payload_bytes + api::BODY_MARGIN_BYTES;
        let membership: Arc<dyn herald::cluster::Membership> = match &cluster {
            Some(cluster) => Arc::new(cluster.clone()),
            None => Arc::new(herald::cluster::SingleNode),
        };
        let engine = Engine::start_in(storage, transport, config.engine, membership)
            .await
            .context("cannot start the engine")?;
        operational::reconcile(&engine, config.operational_webhook.as_ref())
            .await
            .context("cannot keep the operational_webhook_url endpoint")?;
        let tasks = vec![telemetry::spawn_upkeep(metrics.clone())];
        let (streams_stop, streams_closing) = tokio::sync::watch::channel(false);
        let console = Arc::new(console::session::Sessions::new(&api_token, config.console));
        let state = AppState {
            engine: engine.clone(),
            api_token: Arc::new(api_token),
            metrics_token: config.metrics_token.map(Arc::new),
            metrics,
            body_limit,
            body_read_timeout: config.api.body_read_timeout,
            write_slots: Arc::new(tokio::sync::Semaphore::new(
                config.api.max_concurrent_writes,
            )),
            stream_write_timeout: config.api.write_timeout,
            streams_closing,
            cluster: cluster.clone(),
            console,
        };
        fd_limit::check(config.api.max_connections);
        Ok(Daemon {
            engine,
            state,
            listener,
            local_addr,
            tls,
            limits: config.api,
            shutdown_grace: config.shutdown_grace,
            generated_token,
            tasks,
            streams_stop,
            cluster,
        })
    }

    /// The address the API is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// The engine, for embedders that serve the API and use the engine directly.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The API token and the file keeping it, when it was generated by this start
    /// (to be shown once to the operator); `None` when configured or reused.
    pub fn generated_api_token(&self) -> Option<(&str, &std::path::Path)> {
        self.generated_token
            .as_ref()
            .map(|(token, path)| (token.expose(), path.as_path()))
    }

    /// Serves until `shutdown` completes, then stops taking requests, gives in-flight
    /// requests and attempts up to `shutdown_grace`, and stops the engine (which
    /// flushes storage). When the engine gives up meanwhile (its actors kept dying),
    /// stops the same way and returns an error, so the process exits non-zero and a
    /// process manager starts it again; `/readyz` answers 503 from that moment.
    ///
    /// # Errors
    /// When the engine gave up, or the engine's final flush fails.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let streams_stop = self.streams_stop;
        let failed = self.engine.failed();
        let (gave_up, gave_up_seen) = tokio::sync::oneshot::channel();
        let signal = async move {
            tokio::select! {
                () = shutdown => {}
                () = failed => {
                    tracing::error!("the engine gave up; stopping");
                    let _ = gave_up.send(());
                }
            }
            let _ = stop.send(true);
            // Streams never finish by themselves: they end now, so the drain can.
            let _ = streams_stop.send(true);
        };
        let app = console::with_api(
            api::router(self.state.clone()),
            &self.state,
            self.tls.is_some(),
        );
        let grace = self.shutdown_grace;
        let serving = serve::serve(self.listener, self.tls, app, self.limits, stopped.clone());
        let serving = async move {
            tokio::join!(signal, serving);
        };
        // Draining connections may not outlast the grace period.
        let drain_deadline = async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = serving => {}
            () = drain_deadline => tracing::warn!("requests still open after shutdown_grace; closing"),
        }
        if let Some(cluster) = &self.cluster {
            // Hand the endpoints over first: the other nodes resume them at once.
            tracing::info!("handing this node's endpoints to the other nodes");
            cluster.leave(grace).await;
        }
        tracing::info!("listener closed; stopping the engine");
        let result = self
            .engine
            .shutdown(grace)
            .await
            .context("stopping the engine failed");
        for task in &self.tasks {
            task.abort();
        }
        if gave_up_seen.await.is_ok() {
            anyhow::bail!(
                "the engine's actors kept failing and could not be restarted; \
                 exiting so that the process is started again"
            );
        }
        result
    }
}

/// The README's Rust snippets, compiled as doc tests so that they stay true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

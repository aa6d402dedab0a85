//! `PostgresStorage`: Herald's durable `Storage` on PostgreSQL, with tokio-postgres
//! on a deadpool pool and hand-written SQL.
//!
//! # Layout
//! - `lib.rs` (this file): connecting (options, TLS, pool, migrations) and the
//!   handle.
//! - `store`: the `Storage` methods, one SQL statement or transaction each.
//! - `rows`: how each record is stored: column lists, row readers, the column
//!   arrays that write many records in one statement.
//! - `migrate`: the embedded migrations (`migrations/*.sql`), applied under an
//!   advisory lock, and the schema version check.
//! - `sealing`: endpoint secrets and header values sealed at rest, and the check
//!   that the keyring opens the database.
//! - `tls`: rustls (ring provider) for connections whose `sslmode` asks for TLS.
//! - `error`: `ConnectError`.
//!
//! # Durability and atomicity
//! Every write is one PostgreSQL transaction, committed before the method returns
//! (`synchronous_commit` as the server sets it: on by default, so a returned write
//! is in the server's WAL on disk). A method documented as atomic is one
//! transaction; a concurrent reader sees it whole or not at all.
//!
//! # Several handles, several processes
//! The database is the only shared state: any number of `PostgresStorage` handles,
//! in one process or many, may use one database at once. Idempotency is the
//! events' primary key, the endpoint limit a per-tenant advisory lock, and
//! `replace_endpoint` a compare-and-set on the stored version, so concurrent
//! writers never undo each other.
#![warn(missing_docs, unreachable_pub)]

mod cluster;
mod error;
mod migrate;
mod rows;
mod sealing;
mod store;
mod tls;

pub use cluster::{
    ClusterOptions, ClusterStatus, InvalidOption, NodeStatus, PostgresCluster, MAX_PARTITIONS,
};
pub use error::ConnectError;
pub use migrate::SCHEMA_VERSION;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use herald::sealing::Keyring;

/// Connections in the pool unless `PostgresOptions::pool_size` says otherwise:
/// enough for publishes, attempt records and API reads to overlap, few enough that
/// several nodes stay well under PostgreSQL's default `max_connections` (100).
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How long connecting (and taking a connection from a full pool) may take by
/// default before it fails.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach the database and what to seal with.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A `postgres://user:password@host:port/database?sslmode=...` URL or a
    /// libpq key/value connection string.
    pub url: String,
    /// Seals endpoint secrets and header values; every key the database sealed
    /// under must be in it.
    pub keyring: Keyring,
    /// Most connections at once.
    pub pool_size: usize,
    /// How long a connection may take to open, and a caller may wait for one.
    pub connect_timeout: Duration,
    /// CA certificates (PEM) trusted beside the webpki roots, for TLS to a server
    /// whose certificate a private CA signed.
    pub extra_root_certs_pem: Vec<String>,
}

impl PostgresOptions {
    /// The defaults for `url`, sealing with `keyring`.
    pub fn new(url: impl Into<String>, keyring: Keyring) -> Self {
        Self {
            url: url.into(),
            keyring,
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            extra_root_certs_pem: Vec::new(),
        }
    }
}

/// Durable storage on PostgreSQL. Cheap to clone: clones share one pool. The pool
/// closes its connections when the last clone is dropped.
#[derive(Clone)]
pub struct PostgresStorage {
    /// The connections.
    pool: Pool,
    /// Seals and opens endpoint secrets and header values (`rows`).
    keyring: Arc<Keyring>,
    /// How to open a connection outside the pool (the cluster's listener).
    config: Arc<tokio_postgres::Config>,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// Set when the storage is a cluster node's: owner writes check its leases.
    fence: Arc<std::sync::OnceLock<Arc<cluster::Fence>>>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("pool", &self.pool.status())
            .field("in_cluster", &self.fence.get().is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// Connects to `url` with the default options (`PostgresOptions::new`).
    ///
    /// # Errors
    /// As `connect_with`.
    pub async fn connect(url: &str, keyring: Keyring) -> Result<Self, ConnectError> {
        Self::connect_with(PostgresOptions::new(url, keyring)).await
    }

    /// Connects, migrates the schema to `SCHEMA_VERSION` under an advisory lock
    /// (other nodes starting at once wait for it), checks that the keyring opens
    /// what the database sealed, and builds the pool.
    ///
    /// # Errors
    /// `Url` when the URL does not parse; `Database` when the server cannot be
    /// reached or refuses a statement; `SchemaTooNew` when a newer build migrated
    /// the database; `WrongKey` or `MissingKey` when the keyring does not open it;
    /// `InvalidRootCertificate`, `Tls` or `Pool` for the configuration.
    pub async fn connect_with(options: PostgresOptions) -> Result<Self, ConnectError> {
        let mut config =
            tokio_postgres::Config::from_str(&options.url).map_err(ConnectError::Url)?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("herald");
        }
        let tls = tls::connector(&options.extra_root_certs_pem)?;

        // Migrations and the keyring check run on a connection of their own: its
        // session holds the advisory lock, released at the latest when it closes.
        let (mut client, connection) = config
            .connect(tls.clone())
            .await
            .map_err(|e| ConnectError::database("connecting to PostgreSQL", e))?;
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "the migration connection ended with an error");
            }
        });
        migrate::migrate(&mut client).await?;
        sealing::check_keyring(&client, &options.keyring).await?;
        migrate::unlock(&client).await?;
        drop(client);
        let _ = connection.await;

        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(options.connect_timeout))
            .wait_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| ConnectError::Pool(e.to_string()))?;
        Ok(Self {
            pool,
            keyring: Arc::new(options.keyring),
            config: Arc::new(config),
            tls,
            fence: Arc::new(std::sync::OnceLock::new()),
        })
    }

    /// The schema version of the database (what `connect` left it at).
    ///
    /// # Errors
    /// The storage's, when the database cannot be read.
    pub async fn schema_version(&self) -> herald::storage::StorageResult<i32> {
        let client = self.client().await?;
        client
            .query_one("SELECT max(version) FROM herald_schema", &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| herald::error::StorageError::backend("reading the schema version", e))
    }
}

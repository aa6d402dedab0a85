//! `ConnectError`: why `PostgresStorage::connect` could not make a storage. Errors
//! of the storage's methods are `herald::error::StorageError`, with PostgreSQL's
//! own error as the source.

/// Why a storage could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL (or connection string) does not parse.
    #[error("postgres_url does not parse: {0}")]
    Url(#[source] tokio_postgres::Error),
    /// An extra CA certificate is unreadable.
    #[error("CA certificate {index}: {reason}")]
    InvalidRootCertificate {
        /// Its position among the PEM texts given, from 0.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the TLS configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    /// The cluster settings are wrong, or the storage cannot join.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The pool could not be built.
    #[error("connection pool: {0}")]
    Pool(String),
    /// The database could not be reached or refused a statement of the start.
    #[error("{context}")]
    Database {
        /// What was being done.
        context: String,
        /// What PostgreSQL (or the pool) reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database holds a newer schema than this build knows (a newer Herald
    /// migrated it): this build would misread it.
    #[error(
        "the database holds schema version {found}; this build knows versions up to \
         {supported}: run a Herald at least as new as the one that migrated it"
    )]
    SchemaTooNew {
        /// The version found.
        found: i32,
        /// The newest this build knows.
        supported: i32,
    },
    /// The keyring has a key of this id, but not the key the database sealed with.
    #[error("the database was sealed with another key of id `{id}`: wrong encryption key")]
    WrongKey {
        /// The key id.
        id: String,
    },
    /// The database holds values sealed under a key the keyring does not have.
    #[error("the database holds values sealed under key `{id}`, which the keyring does not have")]
    MissingKey {
        /// The key id.
        id: String,
    },
}

impl ConnectError {
    /// A database error met during the start, with what was being done.
    pub(crate) fn database(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Database {
            context: context.into(),
            source: Box::new(source),
        }
    }
}

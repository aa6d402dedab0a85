//! The two-handle conformance cases on PostgreSQL: two `PostgresStorage`, each
//! with its own pool, on one database, as two nodes hold them.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use herald::sealing::Keyring;
use herald::storage::Storage;
use herald_storage_postgres::PostgresStorage;
use herald_testkit::postgres::TestPostgres;

/// Two handles on a new, empty database, sealing with one keyring.
async fn two() -> (Arc<dyn Storage>, Arc<dyn Storage>, ()) {
    let url = TestPostgres::shared().database().await;
    let keyring = Keyring::generate();
    let a = PostgresStorage::connect(&url, keyring.clone())
        .await
        .unwrap();
    let b = PostgresStorage::connect(&url, keyring).await.unwrap();
    (Arc::new(a), Arc::new(b), ())
}

herald_testkit::storage_conformance_two_handles!(two());

//! Runs the shared storage conformance suite against `PostgresStorage`, each case
//! on a fresh database of the test binary's private PostgreSQL cluster
//! (`herald_testkit::postgres`).
#![allow(clippy::unwrap_used)]

use herald::sealing::Keyring;
use herald_storage_postgres::PostgresStorage;
use herald_testkit::postgres::TestPostgres;

/// A storage on a new, empty database.
async fn fresh() -> (PostgresStorage, ()) {
    let url = TestPostgres::shared().database().await;
    let storage = PostgresStorage::connect(&url, Keyring::generate())
        .await
        .unwrap();
    (storage, ())
}

herald_testkit::storage_conformance!(fresh());

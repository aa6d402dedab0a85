//! Runs the shared storage conformance suite against `SledStorage` on a temporary
//! directory.
#![allow(clippy::unwrap_used)]

use herald_storage_sled::SledStorage;

/// A fresh store in a new temporary directory; the directory outlives the store.
async fn fresh() -> (SledStorage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = SledStorage::open(dir.path().join("data")).unwrap();
    (storage, dir)
}

herald_testkit::storage_conformance!(fresh());

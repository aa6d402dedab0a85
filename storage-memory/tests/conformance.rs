//! Runs the shared storage conformance suite against `MemoryStorage`.
#![allow(clippy::unwrap_used)]

use herald_storage_memory::MemoryStorage;

herald_testkit::storage_conformance!(async { (MemoryStorage::new(), ()) });

/// One store given twice: the two-handle cases hold trivially for one handle, and
/// keep the cases themselves honest.
async fn one_store_twice() -> (
    std::sync::Arc<dyn herald::storage::Storage>,
    std::sync::Arc<dyn herald::storage::Storage>,
    (),
) {
    let storage: std::sync::Arc<dyn herald::storage::Storage> =
        std::sync::Arc::new(MemoryStorage::new());
    (storage.clone(), storage, ())
}

mod two_handles {
    use super::*;
    herald_testkit::storage_conformance_two_handles!(one_store_twice());
}

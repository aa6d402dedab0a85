//! Runs the shared storage conformance suite against `MemoryStorage`.
#![allow(clippy::unwrap_used)]

use herald_storage_memory::MemoryStorage;

herald_testkit::storage_conformance!(async { (MemoryStorage::new(), ()) });

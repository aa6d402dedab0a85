//! A data directory is its owner's alone: `0700`, every file in it `0600`, whether
//! `SledStorage::open` created it or found it looser.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use herald::storage::Storage;
use herald_storage_sled::SledStorage;
use herald_testkit::conformance::{at, endpoint, event, publish, tenant};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Paths and their modes.
type Modes = Vec<(String, u32)>;

/// Every file under `dir` and its mode; every directory under it and its mode.
fn modes(dir: &Path) -> (Modes, Modes) {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.display().to_string();
        if path.is_dir() {
            dirs.push((name, mode(&path)));
            let (more_files, more_dirs) = modes(&path);
            files.extend(more_files);
            dirs.extend(more_dirs);
        } else {
            files.push((name, mode(&path)));
        }
    }
    (files, dirs)
}

fn assert_owner_only(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "the data directory");
    let (files, dirs) = modes(dir);
    assert!(
        files.iter().any(|(name, _)| name.ends_with("/db")),
        "{files:?}"
    );
    for (name, mode) in files {
        assert_eq!(mode, 0o600, "{name}");
    }
    for (name, mode) in dirs {
        assert_eq!(mode, 0o700, "{name}");
    }
}

#[tokio::test]
async fn a_new_data_directory_and_its_files_are_owner_only() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("nested").join("data");
    let s = SledStorage::open(&dir).unwrap();
    let acme = tenant("acme");
    let ep = endpoint(&acme);
    s.create_endpoint(&ep).await.unwrap();
    publish(&s, &event(&acme, "x", at(1)), &[&ep]).await;
    assert_owner_only(&dir);
    drop(s);
    assert_owner_only(&dir);
}

#[tokio::test]
async fn an_existing_directory_is_tightened_at_open() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    drop(SledStorage::open(&dir).unwrap());
    set_mode(&dir, 0o755);
    for (name, _) in modes(&dir).0 {
        set_mode(Path::new(&name), 0o644);
    }
    set_mode(&dir.join("blobs"), 0o755);

    let s = SledStorage::open(&dir).unwrap();
    assert_owner_only(&dir);
    assert!(s.endpoints_with_pending().await.unwrap().is_empty());
}

//! `SledStorage::open` fails with a typed error for a locked, unreadable or
//! incompatible data directory.
#![allow(clippy::unwrap_used)]

use herald_storage_sled::{OpenError, SledStorage, FORMAT_VERSION};

#[test]
fn a_directory_in_use_is_reported_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let first = SledStorage::open(&path).unwrap();
    let err = SledStorage::open(&path).unwrap_err();
    assert!(matches!(err, OpenError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    drop(first);
    SledStorage::open(&path).unwrap();
}

#[test]
fn a_path_that_is_not_a_directory_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a-file");
    std::fs::write(&path, b"not a database").unwrap();
    let err = SledStorage::open(&path).unwrap_err();
    assert!(matches!(err, OpenError::Unreadable { .. }), "{err:?}");
}

#[test]
fn another_format_version_is_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    drop(SledStorage::open(&path).unwrap());
    {
        let db = sled::open(&path).unwrap();
        db.insert(b"V", &(FORMAT_VERSION + 98).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = SledStorage::open(&path).unwrap_err();
    match err {
        OpenError::IncompatibleFormat {
            found, expected, ..
        } => {
            assert_eq!(found, (FORMAT_VERSION + 98).to_string());
            assert_eq!(expected, FORMAT_VERSION);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn data_without_a_version_is_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    {
        let db = sled::open(&path).unwrap();
        db.insert(b"something else", b"x").unwrap();
        db.flush().unwrap();
    }
    let err = SledStorage::open(&path).unwrap_err();
    assert!(
        matches!(&err, OpenError::IncompatibleFormat { found, .. } if found == "unknown"),
        "{err:?}"
    );
}

//! The store's sealing keys (`herald::sealing`): the keyring file kept in the data
//! directory when no keyring is given (made `0600` on the first open), and the
//! check that a keyring opens this store. For every key the store has sealed under,
//! a small value sealed under it is kept (`Z` key id); each open opens them all, so
//! a wrong or missing key stops the open with a clear error instead of failing one
//! endpoint read at a time.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use herald::sealing::{Keyring, SealError, KEYRING_CHECK_CONTEXT, KEYRING_CHECK_TEXT};
use sled::Tree;

use crate::keys;
use crate::OpenError;

/// The keyring file's name in the data directory.
pub const KEYRING_FILE: &str = "keyring";

/// The keyring file of the data directory `dir`.
pub(crate) fn file(dir: &Path) -> PathBuf {
    dir.join(KEYRING_FILE)
}

/// Reads the data directory's keyring file, or makes one with a new key when there
/// is none (a store's first open).
///
/// # Errors
/// `OpenError::Keyring` when the file cannot be read, written or parsed.
pub(crate) fn load_or_create(dir: &Path) -> Result<Keyring, OpenError> {
    let path = file(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => Keyring::parse(&text).map_err(|e| keyring_error(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keyring = Keyring::generate();
            write(dir, &keyring)?;
            Ok(keyring)
        }
        Err(e) => Err(keyring_error(&path, e)),
    }
}

/// Replaces the keyring file with `keyring`: written beside it `0600`, synced, then
/// renamed over it, so the file is always one whole keyring.
///
/// # Errors
/// `OpenError::Keyring`.
pub(crate) fn write(dir: &Path, keyring: &Keyring) -> Result<(), OpenError> {
    let path = file(dir);
    let temporary = dir.join(format!("{KEYRING_FILE}.tmp"));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut out = options.open(&temporary)?;
        crate::permissions::restrict_file(&out)?;
        out.write_all(keyring.to_text().as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    written.map_err(|e| keyring_error(&path, e))
}

fn keyring_error(path: &Path, e: impl std::fmt::Display) -> OpenError {
    OpenError::Keyring {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The ids of the keys the store has sealed under (its check values).
pub(crate) fn used_ids(tree: &Tree, path: &Path) -> Result<Vec<String>, OpenError> {
    tree.scan_prefix([keys::kind::SEALING_CHECK])
        .map(|entry| {
            let (key, _) = entry.map_err(|source| unreadable(path, source))?;
            keys::sealing_check_id(&key).ok_or_else(|| OpenError::IncompatibleFormat {
                path: path.to_path_buf(),
                found: "unknown (a malformed keyring check)".into(),
                expected: crate::FORMAT_VERSION,
            })
        })
        .collect()
}

/// Checks that `keyring` opens every value the store sealed, and records its
/// current key as used.
///
/// # Errors
/// `MissingKey` when the store used a key the keyring lacks, `WrongKey` when the
/// keyring's key of that id is another key.
pub(crate) fn check(tree: &Tree, keyring: &Keyring, path: &Path) -> Result<(), OpenError> {
    for entry in tree.scan_prefix([keys::kind::SEALING_CHECK]) {
        let (_, sealed) = entry.map_err(|source| unreadable(path, source))?;
        match keyring.open(&sealed, KEYRING_CHECK_CONTEXT) {
            Ok(text) if text == KEYRING_CHECK_TEXT => {}
            Ok(_) | Err(SealError::Malformed) => {
                return Err(OpenError::IncompatibleFormat {
                    path: path.to_path_buf(),
                    found: "unknown (a malformed keyring check)".into(),
                    expected: crate::FORMAT_VERSION,
                })
            }
            Err(SealError::UnknownKey(id)) => {
                return Err(OpenError::MissingKey {
                    path: path.to_path_buf(),
                    id,
                })
            }
            Err(SealError::WrongKey(id)) => {
                return Err(OpenError::WrongKey {
                    path: path.to_path_buf(),
                    id,
                })
            }
        }
    }
    let current = keys::sealing_check(keyring.current().id());
    if tree
        .get(&current)
        .map_err(|source| unreadable(path, source))?
        .is_none()
    {
        tree.insert(
            current,
            keyring.seal(KEYRING_CHECK_TEXT, KEYRING_CHECK_CONTEXT),
        )
        .map_err(|source| unreadable(path, source))?;
    }
    Ok(())
}

fn unreadable(path: &Path, source: sled::Error) -> OpenError {
    OpenError::Unreadable {
        path: path.to_path_buf(),
        source,
    }
}

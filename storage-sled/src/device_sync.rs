//! Makes what sled flushed durable on the device: an `fdatasync` of its database
//! file, and an `fsync` of every blob file written since the last sync and of the
//! `blobs` directory.
//!
//! Sled 0.34's flush writes its log with `pwrite` and then calls only
//! `sync_file_range` (`pagecache/iobuf.rs`): that starts and waits for the writeback
//! of the range, but flushes neither the device's write cache nor the file's
//! metadata (its size, when the file grew), so a power loss can still lose an
//! acknowledged group. Values and nodes too large for a log segment go to files
//! under `blobs/` (`pagecache/blob_io.rs` `write_blob`), which sled never syncs at
//! all, nor the directory entries that name them. The commit's flusher thread calls
//! `DeviceSync::sync` after every `tree.flush()` and answers the group's writers
//! only after it (`commit`).
//!
//! A blob file is written once, by one `write_all` right after it is created, but
//! possibly while a sync runs (a later group's, or a node sled rewrites on a
//! reader's thread): the sync remembers the length each blob had when it synced it,
//! and syncs a blob again whenever its length changed, so one caught half written
//! is synced again once whole.
//!
//! After a failed sync the kernel may have dropped the dirty pages it could not
//! write, and a later sync could then succeed without them: every later sync fails
//! too, until the store is reopened (and sled recovers from what is on disk).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::permissions;

/// Syncs one data directory's files to the device. Owned by the commit's flusher
/// thread, the one caller of `sync`.
#[derive(Debug)]
pub(crate) struct DeviceSync {
    /// `<dir>/db`, opened once: sled's log and the file its flush only writes back.
    db: File,
    /// `<dir>/blobs`.
    blobs: PathBuf,
    /// Each blob file present at the last sync, and its length then.
    synced: HashMap<OsString, u64>,
    /// Why an earlier sync failed, once one did: every later one fails as well.
    failed: Option<String>,
}

impl DeviceSync {
    /// Opens the database file of the data directory `dir` (which sled has opened),
    /// and syncs once what is there: the database file (the format version a new
    /// store starts with), every blob file, the `blobs` directory, `dir` and its
    /// parent (which name the files and the directory sled may just have created).
    ///
    /// # Errors
    /// When a file cannot be opened or synced.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        let mut device = Self {
            db: File::open(dir.join("db"))?,
            blobs: dir.join("blobs"),
            synced: HashMap::new(),
            failed: None,
        };
        device.db.sync_data()?;
        device.sync_blobs()?;
        sync_directory(&device.blobs)?;
        sync_directory(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_directory(parent)?;
        }
        Ok(device)
    }

    /// Syncs the blob files new or changed since the last sync (then the `blobs`
    /// directory, when one is new), then the database file.
    ///
    /// # Errors
    /// What failed, now or in an earlier sync (see the module docs).
    pub(crate) fn sync(&mut self) -> Result<(), String> {
        if let Some(why) = &self.failed {
            return Err(format!("an earlier sync failed ({why}); reopen the store"));
        }
        let synced = self
            .sync_blobs()
            .and_then(|new| {
                if new {
                    sync_directory(&self.blobs)
                } else {
                    Ok(())
                }
            })
            .and_then(|()| self.db.sync_data());
        synced.map_err(|e| {
            let why = format!("syncing to the device: {e}");
            self.failed = Some(why.clone());
            why
        })
    }

    /// Syncs every blob file whose length is not the one last synced, restricting it
    /// to its owner as it goes (sled creates it with the process's umask). Returns
    /// whether a file is new since the last sync: its directory entry needs a sync.
    fn sync_blobs(&mut self) -> io::Result<bool> {
        let mut present = HashMap::with_capacity(self.synced.len());
        let mut new = false;
        for entry in std::fs::read_dir(&self.blobs)? {
            let entry = entry?;
            let name = entry.file_name();
            let file = match File::open(entry.path()) {
                Ok(file) => file,
                // Removed meanwhile: sled's cleanup of blobs no longer referenced.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let len = file.metadata()?.len();
            match self.synced.remove(&name) {
                Some(synced) if synced == len => {}
                known => {
                    new |= known.is_none();
                    permissions::restrict_file(&file)?;
                    file.sync_data()?;
                }
            }
            present.insert(name, len);
        }
        self.synced = present;
        Ok(new)
    }
}

/// Syncs a directory: the entries it holds (names of files created or renamed).
fn sync_directory(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_synced_when_new_or_changed_and_a_failure_sticks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("db"), b"log").unwrap();
        std::fs::write(dir.path().join("blobs").join("7"), b"old").unwrap();
        let mut device = DeviceSync::open(dir.path()).unwrap();
        assert_eq!(device.synced.get(&OsString::from("7")), Some(&3));

        std::fs::write(dir.path().join("blobs").join("9"), b"half").unwrap();
        assert!(device.sync_blobs().unwrap(), "a new blob");
        std::fs::write(dir.path().join("blobs").join("9"), b"half and whole").unwrap();
        assert!(!device.sync_blobs().unwrap(), "a known one, longer");
        assert_eq!(device.synced.get(&OsString::from("9")), Some(&14));
        std::fs::remove_file(dir.path().join("blobs").join("7")).unwrap();
        device.sync().unwrap();
        assert_eq!(device.synced.len(), 1, "a removed blob is forgotten");

        std::fs::remove_dir_all(dir.path().join("blobs")).unwrap();
        assert!(device.sync().is_err());
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        let again = device.sync().unwrap_err();
        assert!(again.contains("an earlier sync failed"), "{again}");
    }
}

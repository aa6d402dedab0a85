//! Keeps a data directory to its owner: the directory is `0700` and every file in
//! it `0600`, since it holds endpoint secrets and event payloads.
//!
//! `prepare` creates the directory `0700` (or tightens an existing one) before sled
//! opens it; `restrict` sets the mode of what sled created once it has. Files sled
//! creates later (snapshots, `conf` rewrites) get the process's umask, but no one
//! else can reach them through a `0700` directory; the blob files it creates later
//! are restricted by the device sync as it syncs them (`device_sync`). On other
//! than Unix, modes do not exist and these do nothing.

use std::fs::File;
use std::io;
use std::path::Path;

/// The mode of the data directory and its subdirectories.
#[cfg(unix)]
const DIRECTORY_MODE: u32 = 0o700;

/// The mode of every file in the data directory.
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;

/// Creates the data directory `path` (and its missing parents) `0700`, or sets an
/// existing one to `0700`.
///
/// # Errors
/// When it cannot be created (a file is in the way) or its mode set.
pub(crate) fn prepare(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIRECTORY_MODE)
            .create(path)?;
        set_mode(path, DIRECTORY_MODE)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(path)
    }
}

/// Sets the data directory `path` to `0700`, every file in it (and in its
/// subdirectories: `blobs/`) to `0600` and every subdirectory to `0700`. Symbolic
/// links are left alone.
///
/// # Errors
/// When a directory cannot be read or a mode set.
pub(crate) fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        set_mode(path, DIRECTORY_MODE)?;
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                restrict(&entry.path())?;
            } else if kind.is_file() {
                set_mode(&entry.path(), FILE_MODE)?;
            }
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Sets an open file of the data directory to `0600`.
///
/// # Errors
/// When its mode cannot be set.
pub(crate) fn restrict_file(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode() & 0o777;
        if mode == FILE_MODE {
            return Ok(());
        }
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

/// Sets the mode of `path` (not following a link) unless it has it already.
#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::symlink_metadata(path)?.permissions().mode() & 0o777;
    if current == mode {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_directory_is_created_owner_only_and_an_open_one_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("data");
        prepare(&path).unwrap();
        assert_eq!(mode(&path), 0o700);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(path.join("blobs")).unwrap();
        std::fs::write(path.join("db"), b"x").unwrap();
        std::fs::write(path.join("blobs").join("1"), b"x").unwrap();
        for file in ["db", "blobs/1"] {
            std::fs::set_permissions(path.join(file), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        prepare(&path).unwrap();
        assert_eq!(mode(&path), 0o700);
        restrict(&path).unwrap();
        assert_eq!(mode(&path.join("blobs")), 0o700);
        assert_eq!(mode(&path.join("db")), 0o600);
        assert_eq!(mode(&path.join("blobs").join("1")), 0o600);

        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(prepare(&file).is_err(), "a file is in the way");
    }
}

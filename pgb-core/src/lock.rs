//! One dump of a database at a time per backup folder. Two overlapping cron
//! runs would otherwise race for the same names and double the load on the
//! server. The lock is an advisory `flock` on `.NAME.pgb-lock` in the folder:
//! the kernel releases it when the process dies, so a crash never leaves a
//! stale lock. pgb-prune uses the same lock to leave a backup being written
//! alone.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::exit::IoContext;
use crate::naming::safe_fragment;
use crate::{Error, Result};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct FolderLock {
    path: PathBuf,
    _file: File,
}

/// The lock file of `key` (a database name, or `globals`) in `dir`.
pub fn lock_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!(".{}.pgb-lock", safe_fragment(key)))
}

impl FolderLock {
    /// Takes the lock, waiting up to `timeout` (zero: fail at once).
    pub fn acquire(dir: &Path, key: &str, timeout: Duration) -> Result<FolderLock> {
        let path = lock_path(dir, key);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .at(&path)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FolderLock { path, _file: file }),
                Err(TryLockError::WouldBlock) => {
                    if started.elapsed() >= timeout {
                        return Err(Error::Locked {
                            path,
                            database: key.to_string(),
                            waited_ms: u64::try_from(started.elapsed().as_millis())
                                .unwrap_or(u64::MAX),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// True if some process holds the lock of `key` in `dir` right now.
pub fn is_held(dir: &Path, key: &str) -> bool {
    let path = lock_path(dir, key);
    match File::open(&path) {
        Ok(file) => matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// True if any pgb lock in `dir` is held: some dump is writing there.
pub fn any_held(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with('.')
            && name.ends_with(".pgb-lock")
            && File::open(e.path())
                .map(|f| matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock)))
                .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        let held = FolderLock::acquire(dir.path(), "shop", Duration::ZERO).unwrap();
        assert!(is_held(dir.path(), "shop"));
        let started = Instant::now();
        let err = FolderLock::acquire(dir.path(), "shop", Duration::from_millis(200)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(
            err.to_string().contains("another pgb-dump of shop"),
            "{err}"
        );
        FolderLock::acquire(dir.path(), "other", Duration::ZERO).unwrap();
        drop(held);
        assert!(!is_held(dir.path(), "shop"));
        FolderLock::acquire(dir.path(), "shop", Duration::ZERO).unwrap();
    }
}

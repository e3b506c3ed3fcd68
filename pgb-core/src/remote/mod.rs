//! Where backups live besides the local folder: another (mounted) folder, an
//! S3-compatible bucket, or a folder on an SSH host. Each is a [`Store`] of
//! named files with the same guarantees as the local folder: a file appears
//! under its final name only when complete and checked, and an existing file
//! is never replaced. pgb-ship writes to stores; the catalog tools read them.

mod local;
mod s3;
mod ssh;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub use local::LocalStore;
pub use s3::S3Store;
pub use ssh::SshStore;

/// What a store knows about one of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    pub bytes: u64,
    /// SHA-256 when the store can tell it (local and SSH compute it; S3
    /// returns the digest recorded when pgb uploaded the object).
    pub sha256: Option<String>,
}

/// A place that holds backup files.
pub trait Store: std::fmt::Debug {
    /// The store's address, safe to print (no credentials).
    fn url(&self) -> String;
    /// The file `name`, if it exists.
    fn stat(&self, name: &str) -> Result<Option<RemoteObject>>;
    /// Copies `local` to `name` without replacing anything, and confirms the
    /// stored size and digest before returning.
    fn put(&self, name: &str, local: &Path, bytes: u64, sha256: &str) -> Result<RemoteObject>;
    /// The names of the files in the store (not recursive).
    fn list(&self) -> Result<Vec<String>>;
    /// Streams the file `name` into `out`; returns the bytes written.
    fn get(&self, name: &str, out: &mut (dyn Write + Send)) -> Result<u64>;
    /// Removes the file `name` (absent is fine).
    fn delete(&self, name: &str) -> Result<()>;
}

/// Settings that only some stores use.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// S3: a custom endpoint (MinIO, Ceph, moto...); also `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// S3: region; also `AWS_REGION` / `AWS_DEFAULT_REGION`; default us-east-1.
    pub region: Option<String>,
    /// S3: path-style addressing (`endpoint/bucket/key`).
    pub path_style: bool,
    /// S3: storage class for uploaded objects (e.g. STANDARD_IA, GLACIER_IR).
    pub storage_class: Option<String>,
    /// S3: server-side encryption (AES256 or aws:kms).
    pub sse: Option<String>,
    /// SSH: a config file for `ssh -F`.
    pub ssh_config: Option<PathBuf>,
}

/// True if `text` names a remote store rather than a local path.
pub fn is_url(text: &str) -> bool {
    text.starts_with("s3://") || text.starts_with("ssh://") || text.starts_with("file://")
}

/// Opens the store a URL or path names.
pub fn open(text: &str, options: &StoreOptions) -> Result<Box<dyn Store>> {
    if let Some(rest) = text.strip_prefix("s3://") {
        return Ok(Box::new(S3Store::open(rest, options)?));
    }
    if let Some(rest) = text.strip_prefix("ssh://") {
        return Ok(Box::new(SshStore::parse(rest, options)?));
    }
    let path = text.strip_prefix("file://").unwrap_or(text);
    if path.is_empty() {
        return Err(Error::Usage(format!("{text:?}: empty destination")));
    }
    Ok(Box::new(LocalStore::new(PathBuf::from(path))))
}

/// POSIX shell quoting, for the few commands that must cross SSH as text.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_their_store() {
        let o = StoreOptions::default();
        // Opening a bucket needs credentials; without them the error says so.
        match open("s3://bucket/prefix", &o) {
            Ok(store) => assert_eq!(store.url(), "s3://bucket/prefix"),
            Err(e) => assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}"),
        }
        assert_eq!(
            open("ssh://backup@nas:2222/srv/pg", &o).unwrap().url(),
            "ssh://backup@nas:2222/srv/pg"
        );
        assert_eq!(
            open("file:///mnt/usb", &o).unwrap().url(),
            "file:///mnt/usb"
        );
        assert!(open("ssh://nas", &o).is_err(), "a folder is required");
        assert!(open("s3://", &o).is_err());
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}

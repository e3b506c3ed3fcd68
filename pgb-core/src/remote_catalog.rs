//! Catalogs of remote stores, so pgb-prune, pgb-check, pgb-verify and
//! pgb-restore work on `s3://` and `ssh://` URLs as on folders. The manifests
//! are fetched (they are small) and read like local ones; a backup's `path`
//! becomes its URL. Backups to read in full are fetched into a local work
//! folder, hashed while they download, and then handled like local backups;
//! the stored bytes are what is fetched, so an encrypted backup stays
//! encrypted on the local disk too.

use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, MANIFEST_SUFFIX, SIDECAR_SUFFIX};
use crate::exit::IoContext;
use crate::publish::{is_partial_name, PartialFile};
use crate::record::{BackupRecord, PROTOCOL_VERSION};
use crate::remote::Store;
use crate::stream::HashingWriter;
use crate::{Error, Result};

/// The file name of a backup's data file (the last part of its path or URL).
pub fn data_name(record: &BackupRecord) -> String {
    record
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads every manifest in the store.
pub fn scan_store(store: &dyn Store) -> Result<Catalog> {
    let names = store.list()?;
    let mut catalog = Catalog::default();
    for name in &names {
        if is_partial_name(name) || name.contains(".pgb-partial") {
            catalog
                .partials
                .push(PathBuf::from(format!("{}/{name}", store.url())));
            continue;
        }
        let Some(data) = name.strip_suffix(MANIFEST_SUFFIX) else {
            continue;
        };
        let mut text = Vec::new();
        store.get(name, &mut text)?;
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&text) else {
            continue;
        };
        let ours = value.get("pgb").and_then(|v| v.as_u64()) == Some(u64::from(PROTOCOL_VERSION))
            && value.get("type").and_then(|v| v.as_str()) == Some(BackupRecord::TYPE);
        if !ours {
            continue;
        }
        match serde_json::from_value::<BackupRecord>(value) {
            Ok(mut record) => {
                record.path = PathBuf::from(format!("{}/{data}", store.url()));
                catalog.backups.push(record);
            }
            Err(e) => catalog.damaged.push((
                PathBuf::from(format!("{}/{name}", store.url())),
                format!("damaged pgb manifest: {e}"),
            )),
        }
    }
    catalog.backups.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(catalog)
}

/// The `.sha256` sidecar text of a remote backup, if present.
pub fn fetch_sidecar(store: &dyn Store, record: &BackupRecord) -> Option<String> {
    let mut text = Vec::new();
    store
        .get(&format!("{}{SIDECAR_SUFFIX}", data_name(record)), &mut text)
        .ok()?;
    String::from_utf8(text).ok()
}

/// Fetches a backup's three files into `dir` (published atomically, the data
/// hashed as it arrives) and returns the local copy's record. A download
/// whose digest differs from the manifest is an error.
pub fn fetch_backup(store: &dyn Store, record: &BackupRecord, dir: &Path) -> Result<BackupRecord> {
    let data = data_name(record);
    for name in [
        format!("{data}{SIDECAR_SUFFIX}"),
        format!("{data}{MANIFEST_SUFFIX}"),
        data.clone(),
    ] {
        let target = dir.join(&name);
        let partial = PartialFile::create(&target)?;
        let mut writer = HashingWriter::new(partial);
        store.get(&name, &mut writer)?;
        let (partial, digest) = writer.finish();
        if name == data && (digest.sha256 != record.sha256 || digest.bytes != record.bytes) {
            return Err(Error::Integrity {
                path: record.path.clone(),
                message: format!(
                    "downloaded {} bytes sha256 {}, the manifest says {} bytes {}",
                    digest.bytes, digest.sha256, record.bytes, record.sha256
                ),
            });
        }
        partial.publish()?;
    }
    crate::catalog::read_manifest(&dir.join(format!("{data}{MANIFEST_SUFFIX}")))?.ok_or_else(|| {
        Error::Integrity {
            path: record.path.clone(),
            message: "the fetched manifest is not a pgb manifest".into(),
        }
    })
}

/// Deletes a remote backup: manifest first, then sidecar, then data.
pub fn delete_remote_backup(store: &dyn Store, record: &BackupRecord) -> Result<()> {
    let data = data_name(record);
    store.delete(&format!("{data}{MANIFEST_SUFFIX}"))?;
    store.delete(&format!("{data}{SIDECAR_SUFFIX}"))?;
    store.delete(&data)
}

/// A private work folder for fetched backups, removed when dropped.
pub fn work_dir() -> Result<tempfile::TempDir> {
    let base = std::env::temp_dir();
    tempfile::Builder::new()
        .prefix("pgb-fetch-")
        .tempdir_in(&base)
        .at(&base)
}

/// Where a tool finds backups: a local folder or a remote store. The one
/// place that decides between them, for pgb-prune, pgb-check and pgb-restore.
#[derive(Debug)]
pub enum Location {
    Local(PathBuf),
    Remote(Box<dyn Store>),
}

impl Location {
    /// A folder path, `file://` path, or `s3://` / `ssh://` URL.
    pub fn open(text: &str, options: &crate::remote::StoreOptions) -> Result<Location> {
        if crate::remote::is_url(text) && !text.starts_with("file://") {
            Ok(Location::Remote(crate::remote::open(text, options)?))
        } else {
            Ok(Location::Local(PathBuf::from(
                text.trim_start_matches("file://"),
            )))
        }
    }

    /// For messages: the folder or the URL.
    pub fn label(&self) -> String {
        match self {
            Location::Local(dir) => dir.display().to_string(),
            Location::Remote(store) => store.url(),
        }
    }

    pub fn store(&self) -> Option<&dyn Store> {
        match self {
            Location::Local(_) => None,
            Location::Remote(store) => Some(store.as_ref()),
        }
    }

    /// The catalog; `recursive` applies to folders only.
    pub fn catalog(&self, recursive: bool) -> Result<Catalog> {
        match self {
            Location::Local(dir) => crate::catalog::scan(dir, recursive),
            Location::Remote(store) => scan_store(store.as_ref()),
        }
    }

    /// Every file name at the location (not recursive).
    pub fn names(&self) -> Vec<String> {
        match self {
            Location::Local(dir) => std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default(),
            Location::Remote(store) => store.list().unwrap_or_default(),
        }
    }

    /// A local record to read the backup from: the record itself for a
    /// folder; for a remote store the backup is fetched into `work`.
    pub fn materialize(&self, record: &BackupRecord, work: &Path) -> Result<BackupRecord> {
        match self {
            Location::Local(_) => Ok(record.clone()),
            Location::Remote(store) => fetch_backup(store.as_ref(), record, work),
        }
    }
}

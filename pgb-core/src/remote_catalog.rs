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

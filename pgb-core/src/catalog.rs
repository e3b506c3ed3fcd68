//! What backups exist in a folder. The manifest `NAME.EXT.json` is the commit
//! marker: a data file without one is not a backup and is never counted,
//! verified, restored or used for retention. Files that are not pgb manifests
//! (a user's `notes.json`) are ignored, never touched.

use std::fs;
use std::path::{Path, PathBuf};

use crate::exit::IoContext;
use crate::publish::is_partial_name;
use crate::record::{BackupRecord, PROTOCOL_VERSION};
use crate::{Error, Result};

pub const MANIFEST_SUFFIX: &str = ".json";
pub const SIDECAR_SUFFIX: &str = ".sha256";

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn manifest_path(data_path: &Path) -> PathBuf {
    with_suffix(data_path, MANIFEST_SUFFIX)
}

pub fn sidecar_path(data_path: &Path) -> PathBuf {
    with_suffix(data_path, SIDECAR_SUFFIX)
}

/// The `sha256sum` line for a data file: `HEX  BASENAME\n`.
pub fn sidecar_line(sha256: &str, data_path: &Path) -> String {
    let name = data_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{sha256}  {name}\n")
}

/// Parses a sidecar: the hex digest and the file name it names.
pub fn parse_sidecar(text: &str) -> Option<(String, String)> {
    let line = text.lines().next()?;
    let (hex, name) = line.split_once(' ')?;
    let name = name.trim_start_matches([' ', '*']);
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| (hex.to_ascii_lowercase(), name.to_string()))
}

/// Reads a manifest. `Ok(None)` means the file is not a pgb manifest at all
/// (not JSON, or JSON without `"pgb"`/`"type":"backup"`): someone else's file.
pub fn read_manifest(manifest: &Path) -> Result<Option<BackupRecord>> {
    let text = fs::read(manifest).at(manifest)?;
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    let is_ours = value.get("pgb").and_then(|v| v.as_u64()) == Some(u64::from(PROTOCOL_VERSION))
        && value.get("type").and_then(|v| v.as_str()) == Some(BackupRecord::TYPE);
    if !is_ours {
        return Ok(None);
    }
    let mut record: BackupRecord = serde_json::from_value(value).map_err(|e| Error::Integrity {
        path: manifest.to_path_buf(),
        message: format!("damaged pgb manifest: {e}"),
    })?;
    // The data file is wherever the manifest is now, whatever path was
    // recorded when the folder was elsewhere.
    let name = manifest.to_string_lossy();
    record.path = PathBuf::from(name.strip_suffix(MANIFEST_SUFFIX).unwrap_or(&name));
    Ok(Some(record))
}

/// Everything pgb finds in a backup folder.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Complete backups (they have a manifest), oldest first by `started_at`.
    pub backups: Vec<BackupRecord>,
    /// Files pgb was writing and never published.
    pub partials: Vec<PathBuf>,
    /// Manifests that claim to be pgb's but cannot be read.
    pub damaged: Vec<(PathBuf, String)>,
}

/// The backups of one database and kind in one folder: what retention and
/// monitoring reason about.
#[derive(Debug)]
pub struct Series<'a> {
    pub dir: PathBuf,
    pub kind: crate::record::BackupKind,
    pub database: String,
    /// Oldest first.
    pub backups: Vec<&'a BackupRecord>,
}

impl Catalog {
    /// The backups grouped per folder, kind and database, in a stable order.
    pub fn series(&self) -> Vec<Series<'_>> {
        let mut groups: std::collections::BTreeMap<(PathBuf, String, String), Vec<&BackupRecord>> =
            std::collections::BTreeMap::new();
        for b in &self.backups {
            let dir = b.path.parent().map(Path::to_path_buf).unwrap_or_default();
            let kind = format!("{:?}", b.kind);
            groups
                .entry((dir, kind, b.database.clone()))
                .or_default()
                .push(b);
        }
        groups
            .into_iter()
            .map(|((dir, _, database), backups)| Series {
                dir,
                kind: backups[0].kind,
                database,
                backups,
            })
            .collect()
    }
}

/// Scans `dir` (and its subfolders with `recursive`).
pub fn scan(dir: &Path, recursive: bool) -> Result<Catalog> {
    let mut catalog = Catalog::default();
    scan_into(dir, recursive, &mut catalog)?;
    catalog.backups.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(catalog)
}

fn scan_into(dir: &Path, recursive: bool, catalog: &mut Catalog) -> Result<()> {
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let path = entry.path();
        let file_type = entry.file_type().at(&path)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if file_type.is_dir() {
            if recursive {
                scan_into(&path, recursive, catalog)?;
            }
        } else if is_partial_name(&name) {
            catalog.partials.push(path);
        } else if file_type.is_file() && name.ends_with(MANIFEST_SUFFIX) {
            match read_manifest(&path) {
                Ok(Some(record)) => catalog.backups.push(record),
                Ok(None) => {}
                Err(e) => catalog.damaged.push((path, e.to_string())),
            }
        }
    }
    Ok(())
}

/// Turns a command-line argument (a data file, its sidecar or manifest, a
/// folder, or a glob of those) into manifest paths, one result per backup
/// meant, so one bad match does not hide the others. Shells expand `dir/*`
/// before pgb sees it, so a sidecar or manifest stands for its backup and
/// callers deduplicate. A data file without a manifest is an error item: it
/// is not a complete backup. Partial files and foreign JSON are skipped when
/// they come from a glob and refused when named alone.
pub fn resolve_argument(arg: &str) -> Result<Vec<Result<PathBuf>>> {
    let has_glob = arg.contains(['*', '?', '[']);
    let paths: Vec<PathBuf> = if has_glob {
        let matches = glob::glob(arg).map_err(|e| Error::Usage(format!("{arg}: bad glob: {e}")))?;
        let paths: Vec<PathBuf> = matches.filter_map(|m| m.ok()).collect();
        if paths.is_empty() {
            return Err(Error::Usage(format!("{arg}: no file matches")));
        }
        paths
    } else {
        vec![PathBuf::from(arg)]
    };
    let mut resolved = Vec::new();
    for path in paths {
        if path.is_dir() {
            let catalog = scan(&path, false)?;
            resolved.extend(catalog.backups.iter().map(|b| Ok(b.manifest_path())));
        } else if let Some(item) = manifest_for_path(&path, has_glob) {
            resolved.push(item);
        }
    }
    let mut seen = std::collections::HashSet::new();
    resolved.retain(|r| match r {
        Ok(m) => seen.insert(m.clone()),
        Err(_) => true,
    });
    Ok(resolved)
}

/// The manifest of the backup `path` belongs to; `None` to skip it.
fn manifest_for_path(path: &Path, from_glob: bool) -> Option<Result<PathBuf>> {
    let name = path.to_string_lossy().into_owned();
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let refuse = |message: String| {
        Some(Err(Error::Integrity {
            path: path.to_path_buf(),
            message,
        }))
    };
    if is_partial_name(&base) || base.ends_with(".pgb-lock") {
        return if from_glob {
            None
        } else {
            refuse("a file pgb is writing or a lock, not a backup".into())
        };
    }
    if name.ends_with(MANIFEST_SUFFIX) {
        return if is_manifest(path) {
            Some(Ok(path.to_path_buf()))
        } else if from_glob {
            None
        } else if !path.exists() {
            Some(Err(Error::io(path, std::io::ErrorKind::NotFound.into())))
        } else {
            refuse("not a pgb manifest".into())
        };
    }
    let data = match name.strip_suffix(SIDECAR_SUFFIX) {
        Some(data) => PathBuf::from(data),
        None => path.to_path_buf(),
    };
    let manifest = manifest_path(&data);
    Some(if manifest.exists() {
        Ok(manifest)
    } else if !data.exists() {
        Err(Error::io(&data, std::io::ErrorKind::NotFound.into()))
    } else {
        Err(Error::Integrity {
            path: data,
            message: format!(
                "no manifest ({}): not a complete pgb backup",
                manifest.display()
            ),
        })
    })
}

/// Deletes a backup: the manifest first, so that a deletion interrupted
/// half way never leaves something that looks complete; then the sidecar and
/// the data file; then the folder is synced.
pub fn delete_backup(record: &BackupRecord) -> Result<()> {
    crate::publish::remove_if_exists(&record.manifest_path())?;
    crate::publish::remove_if_exists(&record.sidecar_path())?;
    crate::publish::remove_if_exists(&record.path)?;
    crate::publish::sync_parent(&record.path)
}

fn is_manifest(path: &Path) -> bool {
    matches!(read_manifest(path), Ok(Some(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_format_matches_sha256sum() {
        let line = sidecar_line(&"a".repeat(64), Path::new("/x/db_1.sql.gz"));
        assert_eq!(line, format!("{}  db_1.sql.gz\n", "a".repeat(64)));
        let (hex, name) = parse_sidecar(&line).unwrap();
        assert_eq!(hex, "a".repeat(64));
        assert_eq!(name, "db_1.sql.gz");
        assert!(parse_sidecar("zz  x").is_none());
    }

    #[test]
    fn foreign_json_is_not_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.json"), b"{\"hello\":1}").unwrap();
        fs::write(
            dir.path().join("broken.json"),
            b"{\"pgb\":1,\"type\":\"backup\"}",
        )
        .unwrap();
        fs::write(dir.path().join(".x.sql.gz.abc.partial"), b"").unwrap();
        let c = scan(dir.path(), false).unwrap();
        assert!(c.backups.is_empty());
        assert_eq!(c.partials.len(), 1);
        assert_eq!(c.damaged.len(), 1);
    }

    #[test]
    fn a_data_file_without_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("db.sql.gz");
        fs::write(&data, b"x").unwrap();
        let items = resolve_argument(data.to_str().unwrap()).unwrap();
        let err = items[0].as_ref().unwrap_err();
        assert!(err.to_string().contains("no manifest"), "{err}");
        fs::write(manifest_path(&data), b"{}").unwrap();
        fs::write(sidecar_path(&data), b"").unwrap();
        let pattern = format!("{}/*", dir.path().display());
        let items = resolve_argument(&pattern).unwrap();
        assert_eq!(
            items.len(),
            1,
            "foreign JSON is skipped, the sidecar stands for its backup"
        );
        let sidecar = sidecar_path(&data);
        let items = resolve_argument(sidecar.to_str().unwrap()).unwrap();
        assert_eq!(items[0].as_ref().unwrap(), &manifest_path(&data));
    }
}

//! Atomic publication: nothing ever appears under a final name half written.
//! Every file is written as `.NAME.XXXXXX.partial` in its target folder
//! (created 0600), fsynced, renamed into place without replacing an existing
//! file, and the folder fsynced so the rename survives a crash. A partial
//! file that is dropped before publication is deleted; one left behind by a
//! killed process is visible to pgb-check and removed by pgb-prune.

use std::fs::{self, DirBuilder, File};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::exit::IoContext;
use crate::{Error, Result};

/// Suffix of every file pgb is still writing.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// True for names pgb gives to files it is still writing.
pub fn is_partial_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX)
}

/// A file being written under a temporary name beside its final name.
#[derive(Debug)]
pub struct PartialFile {
    temp: NamedTempFile,
    final_path: PathBuf,
}

impl PartialFile {
    /// Creates `.NAME.XXXXXX.partial` (mode 0600) in the folder of `final_path`.
    /// Fails early if the final name is taken, to avoid a wasted dump.
    pub fn create(final_path: &Path) -> Result<PartialFile> {
        if final_path.symlink_metadata().is_ok() {
            return Err(Error::Exists {
                path: final_path.to_path_buf(),
            });
        }
        let (dir, name) = split(final_path)?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(PARTIAL_SUFFIX)
            .tempfile_in(dir)
            .at(dir)?;
        Ok(PartialFile {
            temp,
            final_path: final_path.to_path_buf(),
        })
    }

    pub fn partial_path(&self) -> &Path {
        self.temp.path()
    }

    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// fsync, rename to the final name unless it exists, fsync the folder.
    pub fn publish(self) -> Result<PathBuf> {
        let partial = self.temp.path().to_path_buf();
        self.temp.as_file().sync_all().at(&partial)?;
        let final_path = self.final_path;
        match self.temp.persist_noclobber(&final_path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists { path: final_path });
            }
            Err(e) => return Err(Error::io(&final_path, e.error)),
        }
        sync_parent(&final_path)?;
        Ok(final_path)
    }

    /// Like [`PartialFile::publish`] but replacing an existing file, for
    /// updating a manifest in place (the rename is still atomic).
    pub fn publish_replacing(self) -> Result<PathBuf> {
        let partial = self.temp.path().to_path_buf();
        self.temp.as_file().sync_all().at(&partial)?;
        let final_path = self.final_path;
        self.temp
            .persist(&final_path)
            .map_err(|e| Error::io(&final_path, e.error))?;
        sync_parent(&final_path)?;
        Ok(final_path)
    }
}

impl Write for PartialFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

fn split(path: &Path) -> Result<(&Path, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Usage(format!("{}: not a file name", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((dir, name.to_string()))
}

/// fsyncs the folder holding `path`, so a rename in it is durable.
pub fn sync_parent(path: &Path) -> Result<()> {
    let (dir, _) = split(path)?;
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Writes a new small file (sidecar, manifest) atomically; never replaces.
pub fn write_new_file(path: &Path, contents: &[u8]) -> Result<PathBuf> {
    let mut partial = PartialFile::create(path)?;
    partial.write_all(contents).at(partial.partial_path())?;
    partial.publish()
}

/// Replaces a small file atomically (readers see the old or the new file).
pub fn replace_file(path: &Path, contents: &[u8]) -> Result<PathBuf> {
    let (dir, name) = split(path)?;
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(PARTIAL_SUFFIX)
        .tempfile_in(dir)
        .at(dir)?;
    let mut partial = PartialFile {
        temp,
        final_path: path.to_path_buf(),
    };
    partial.write_all(contents).at(partial.partial_path())?;
    partial.publish_replacing()
}

/// Creates a backup folder (and missing parents) with mode 0700. An existing
/// folder keeps the mode its owner chose.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .at(dir)
}

/// Removes a file pgb created, ignoring "already gone".
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn publish_never_replaces_and_drop_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.sql.gz");
        let mut p = PartialFile::create(&target).unwrap();
        p.write_all(b"one").unwrap();
        let partial = p.partial_path().to_path_buf();
        assert!(is_partial_name(
            partial.file_name().unwrap().to_str().unwrap()
        ));
        assert!(
            !target.exists(),
            "nothing under the final name before publish"
        );
        p.publish().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"one");
        assert!(!partial.exists());
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        assert!(matches!(
            PartialFile::create(&target),
            Err(Error::Exists { .. })
        ));

        let other = dir.path().join("b.sql.gz");
        let p = PartialFile::create(&other).unwrap();
        let partial = p.partial_path().to_path_buf();
        fs::write(&other, b"appeared meanwhile").unwrap();
        assert!(matches!(p.publish(), Err(Error::Exists { .. })));
        assert_eq!(fs::read(&other).unwrap(), b"appeared meanwhile");
        assert!(!partial.exists(), "a failed publish removes its partial");

        let dropped = PartialFile::create(&dir.path().join("c")).unwrap();
        let partial = dropped.partial_path().to_path_buf();
        drop(dropped);
        assert!(!partial.exists());
    }

    #[test]
    fn replace_file_swaps_contents_and_new_dirs_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("x/y");
        ensure_dir(&nested).unwrap();
        let mode = fs::metadata(&nested).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let m = nested.join("m.json");
        write_new_file(&m, b"{}").unwrap();
        replace_file(&m, b"{\"v\":1}").unwrap();
        assert_eq!(fs::read(&m).unwrap(), b"{\"v\":1}");
        assert_eq!(fs::read_dir(&nested).unwrap().count(), 1);
    }
}

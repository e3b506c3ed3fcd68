//! A local or mounted folder as a store: the same atomic publish as
//! pgb-dump, with the copy hashed as it is written.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{RemoteObject, Store};
use crate::exit::IoContext;
use crate::publish::{ensure_dir, remove_if_exists, PartialFile};
use crate::stream::{HashingReader, HashingWriter};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    pub fn new(dir: PathBuf) -> LocalStore {
        LocalStore { dir }
    }
}

impl Store for LocalStore {
    fn url(&self) -> String {
        format!(
            "file://{}",
            std::path::absolute(&self.dir)
                .unwrap_or(self.dir.clone())
                .display()
        )
    }

    fn stat(&self, name: &str) -> Result<Option<RemoteObject>> {
        let path = self.dir.join(name);
        match File::open(&path) {
            Ok(file) => {
                let (_, digest) = HashingReader::new(file).finish().at(&path)?;
                Ok(Some(RemoteObject {
                    bytes: digest.bytes,
                    sha256: Some(digest.sha256),
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn put(&self, name: &str, local: &Path, bytes: u64, sha256: &str) -> Result<RemoteObject> {
        ensure_dir(&self.dir)?;
        let target = self.dir.join(name);
        let partial = PartialFile::create(&target)?;
        let partial_path = partial.partial_path().to_path_buf();
        let mut writer = HashingWriter::new(partial);
        let mut source = File::open(local).at(local)?;
        io::copy(&mut source, &mut writer).at(&partial_path)?;
        writer.flush().at(&partial_path)?;
        let (partial, digest) = writer.finish();
        if digest.bytes != bytes || digest.sha256 != sha256 {
            return Err(Error::Integrity {
                path: local.to_path_buf(),
                message: format!(
                    "copy has {} bytes sha256 {}, expected {bytes} bytes {sha256}: the source changed while shipping",
                    digest.bytes, digest.sha256
                ),
            });
        }
        partial.publish()?;
        Ok(RemoteObject {
            bytes: digest.bytes,
            sha256: Some(digest.sha256),
        })
    }

    fn list(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            if entry.file_type().at(entry.path())?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn get(&self, name: &str, out: &mut (dyn Write + Send)) -> Result<u64> {
        let path = self.dir.join(name);
        let mut file = File::open(&path).at(&path)?;
        io::copy(&mut file, out).at(&path)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.dir.join(name);
        remove_if_exists(&path)?;
        crate::publish::sync_parent(&path)
    }
}

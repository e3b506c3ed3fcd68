//! The restore strategies: swap (default) and in-place, and what every
//! strategy shares (checksum judgement, loading, table checks); partial
//! tables and globals live in their own modules. Every strategy that can
//! restore into a new database does, and touches the user's database only
//! after the copy passed its checks.

use std::fs::File;
use std::io::IsTerminal;

use chrono::Utc;
use indicatif::ProgressBar;
use pgb_core::conn::DbTarget;
use pgb_core::dump::{take_backup, DumpRequest};
use pgb_core::exit::IoContext;
use pgb_core::load::{check_tables, load_custom_file, load_custom_stream, load_plain, LoadOptions};
use pgb_core::log::HumanLog;
use pgb_core::naming::NameTemplate;
use pgb_core::pg::quote_ident;
use pgb_core::progress::Progress;
use pgb_core::record::{
    BackupKind, BackupRecord, CheckResult, Compression, DumpFormat, DumpOptions, RestoreRecord,
    RestoreSource, PROTOCOL_VERSION,
};
use pgb_core::stream::HashingReader;
use pgb_core::trailer::{TrailerWindow, DATABASE_MARKER};
use pgb_core::{Error, Result};

use crate::server::{derived_name, Server};

/// Everything a restore needs besides the backup and its target.
#[derive(Debug)]
pub struct Restorer {
    pub server: Server,
    /// For encrypted backups.
    pub key: Option<pgb_core::crypto::DecryptionKey>,
    pub no_verify: bool,
    pub jobs: u32,
    pub in_place: bool,
    pub safety_dump: bool,
    pub safety_dir: Option<std::path::PathBuf>,
    pub tables: Vec<String>,
    pub drop_old: bool,
    pub yes: bool,
    pub load: LoadOptions,
    pub log: HumanLog,
    pub progress: Progress,
}

pub(crate) fn pass(name: &str, detail: String) -> CheckResult {
    CheckResult {
        name: name.into(),
        ok: true,
        detail: Some(detail),
    }
}

impl Restorer {
    /// Restores `backup` into `to` with the strategy the options ask for.
    pub fn restore(&self, backup: &BackupRecord, to: &str) -> Result<RestoreRecord> {
        let started_at = Utc::now();
        let mut record = RestoreRecord {
            pgb: PROTOCOL_VERSION,
            record_type: RestoreRecord::TYPE.to_string(),
            source: RestoreSource {
                id: backup.id.clone(),
                path: backup.path.clone(),
                database: backup.database.clone(),
                sha256: backup.sha256.clone(),
            },
            target: to.to_string(),
            strategy: String::new(),
            started_at,
            finished_at: started_at,
            duration_ms: 0,
            old_database: None,
            safety_backup: None,
            tables: Vec::new(),
            checks: Vec::new(),
            notes: Vec::new(),
            rollback: None,
        };
        self.check_size(backup, &mut record)?;
        if backup.encryption.is_some() && self.key.is_none() {
            return Err(Error::Usage(format!(
                "{} is encrypted: give --identity FILE or --passphrase-file FILE",
                backup.id
            )));
        }
        if backup.kind == BackupKind::Globals {
            self.restore_globals(backup, &mut record)?;
        } else {
            if (self.load.no_owner || self.load.no_acl) && backup.format == DumpFormat::Plain {
                return Err(Error::Usage(
                    "--no-owner and --no-acl apply to custom-format backups (pg_restore); \
                     take the backup with pgb-dump --no-owner/--no-acl instead"
                        .into(),
                ));
            }
            self.server.check_can_create()?;
            if !self.tables.is_empty() {
                self.restore_tables(backup, to, &mut record)?;
            } else if self.in_place {
                self.restore_in_place(backup, to, &mut record)?;
            } else {
                self.restore_swap(backup, to, &mut record)?;
            }
        }
        record.finished_at = Utc::now();
        record.duration_ms =
            u64::try_from((record.finished_at - started_at).num_milliseconds()).unwrap_or(0);
        Ok(record)
    }

    /// A file whose size is not the manifest's is refused before anything.
    fn check_size(&self, backup: &BackupRecord, record: &mut RestoreRecord) -> Result<()> {
        let size = std::fs::metadata(&backup.path).at(&backup.path)?.len();
        if size == backup.bytes {
            return Ok(());
        }
        let message = format!("{} bytes on disk, the manifest says {}", size, backup.bytes);
        if self.no_verify {
            record.notes.push(format!("--no-verify: {message}"));
            return Ok(());
        }
        Err(Error::Integrity {
            path: backup.path.clone(),
            message: format!("{message}: refusing to restore (--no-verify overrides)"),
        })
    }

    /// Compares a digest with the manifest: refuses unless --no-verify.
    fn judge_digest(
        &self,
        backup: &BackupRecord,
        sha256: &str,
        record: &mut RestoreRecord,
    ) -> Result<()> {
        if sha256 == backup.sha256 {
            record
                .checks
                .push(pass("sha256", format!("matches the manifest ({sha256})")));
            return Ok(());
        }
        let message = format!(
            "sha256 {sha256} does not match the manifest's {}",
            backup.sha256
        );
        if self.no_verify {
            record.notes.push(format!("--no-verify: {message}"));
            return Ok(());
        }
        Err(Error::Integrity {
            path: backup.path.clone(),
            message: format!("{message}: refusing to restore (--no-verify overrides)"),
        })
    }

    fn bar(&self, backup: &BackupRecord) -> ProgressBar {
        self.progress.bytes(&backup.id, Some(backup.bytes))
    }

    /// A read of the whole file just for its checksum, for strategies that
    /// change something before the restore's own read is over.
    pub(crate) fn precheck_digest(
        &self,
        backup: &BackupRecord,
        record: &mut RestoreRecord,
    ) -> Result<()> {
        let file = File::open(&backup.path).at(&backup.path)?;
        let (_, digest) = HashingReader::new(file).finish().at(&backup.path)?;
        self.judge_digest(backup, &digest.sha256, record)
    }

    /// Loads the backup into `database`, hashing the file as it is read; the
    /// digest is judged at the end, before the caller touches anything else.
    fn load_into(
        &self,
        backup: &BackupRecord,
        database: &str,
        record: &mut RestoreRecord,
    ) -> Result<()> {
        let target = DbTarget::named(database);
        let client = &self.server.client;
        let parallel = backup.format == DumpFormat::Custom && self.jobs > 1;
        if parallel && backup.encryption.is_some() {
            // pg_restore --jobs must seek in a file; decrypting to disk would
            // put plaintext there, so an encrypted archive streams instead.
            record
                .notes
                .push("--jobs ignored: an encrypted archive is restored as a stream".into());
        } else if parallel {
            self.precheck_digest(backup, record)?;
            load_custom_file(client, &target, &backup.path, self.jobs, &self.load)?;
            record.checks.push(pass(
                "restore",
                format!("pg_restore --jobs {} into {database}", self.jobs),
            ));
            return Ok(());
        }
        let bar = self.bar(backup);
        let file = File::open(&backup.path).at(&backup.path)?;
        let mut hashing = HashingReader::new(bar.wrap_read(file));
        let mut input = self.plaintext(backup, &mut hashing)?;
        match backup.format {
            DumpFormat::Plain => {
                let mut trailer = TrailerWindow::new();
                let outcome = load_plain(
                    backup,
                    client,
                    &target,
                    &mut input,
                    &self.load,
                    &mut trailer,
                )?;
                outcome.decompressed?;
                outcome.loaded?;
                if !trailer.is_complete(DATABASE_MARKER) {
                    return Err(Error::Integrity {
                        path: backup.path.clone(),
                        message: format!(
                            "the dump is incomplete: it ends with {}",
                            trailer.describe_end()
                        ),
                    });
                }
            }
            DumpFormat::Custom => load_custom_stream(client, &target, &mut input, &self.load)?,
        }
        drop(input);
        bar.finish_and_clear();
        let (_, digest) = hashing.finish().at(&backup.path)?;
        self.judge_digest(backup, &digest.sha256, record)?;
        record
            .checks
            .push(pass("restore", format!("restored into {database}")));
        Ok(())
    }

    /// The readable stream of a backup: decrypted as it is read when sealed.
    pub(crate) fn plaintext<'a, R: std::io::Read + 'a>(
        &self,
        backup: &BackupRecord,
        reader: R,
    ) -> Result<Box<dyn std::io::Read + 'a>> {
        match backup.encryption {
            Some(_) => pgb_core::crypto::open(reader, self.key.as_ref()),
            None => Ok(Box::new(reader)),
        }
    }

    /// Table checks against the manifest; a failure is an error.
    fn check_restored(
        &self,
        backup: &BackupRecord,
        database: &str,
        record: &mut RestoreRecord,
    ) -> Result<()> {
        let check = check_tables(backup, &self.server.client, &DbTarget::named(database))?;
        let ok = check.ok;
        let detail = check.detail.clone().unwrap_or_default();
        record.checks.push(check);
        if ok {
            Ok(())
        } else {
            Err(Error::Failed(format!(
                "the restored database does not match the manifest: {detail}"
            )))
        }
    }

    /// Restores into a scratch database; drops it on any failure.
    pub(crate) fn restore_to_scratch(
        &self,
        backup: &BackupRecord,
        to: &str,
        stamp: &str,
        record: &mut RestoreRecord,
    ) -> Result<String> {
        let scratch = derived_name(to, "restore", stamp);
        self.server.create(&scratch)?;
        let loaded = self
            .load_into(backup, &scratch, record)
            .and_then(|_| self.check_restored(backup, &scratch, record));
        if let Err(e) = loaded {
            let dropped = self.server.drop(&scratch);
            let note = match dropped {
                Ok(()) => format!("the new database {scratch} was dropped"),
                Err(d) => format!("the new database {scratch} could not be dropped: {d}"),
            };
            return Err(Error::Failed(format!("{e}; {to} was not touched; {note}")));
        }
        Ok(scratch)
    }

    fn restore_swap(
        &self,
        backup: &BackupRecord,
        to: &str,
        record: &mut RestoreRecord,
    ) -> Result<()> {
        let exists = self.server.exists(to)?;
        if exists {
            confirm(&format!("replace database {to}"), to, self.yes)?;
        }
        let stamp = Utc::now().format("%Y%m%dT%H%M%S").to_string();
        let scratch = self.restore_to_scratch(backup, to, &stamp, record)?;
        if !exists {
            self.server.rename(&scratch, to)?;
            record.strategy = "new".into();
            record.rollback = Some(format!("DROP DATABASE {};", quote_ident(to)));
            return Ok(());
        }
        record.strategy = "swap".into();
        let old = derived_name(to, "old", &stamp);
        self.server.allow_connections(to, false)?;
        let swapped = self
            .server
            .clear_sessions(to)
            .and_then(|n| {
                if n > 0 {
                    record
                        .notes
                        .push(format!("terminated {n} session(s) on {to}"));
                }
                self.server.rename(to, &old)
            })
            .and_then(|_| self.server.rename(&scratch, to));
        if let Err(e) = swapped {
            // Put things back as they were: the old name, connections allowed.
            if !self.server.exists(to).unwrap_or(true) && self.server.exists(&old).unwrap_or(false)
            {
                let _ = self.server.rename(&old, to);
            }
            let _ = self.server.allow_connections(to, true);
            let _ = self.server.drop(&scratch);
            return Err(Error::Failed(format!(
                "swap failed, {to} restored to its previous state: {e}"
            )));
        }
        self.server.allow_connections(&old, true)?;
        if self.drop_old {
            self.server.drop(&old)?;
            record
                .notes
                .push(format!("dropped the replaced database {old} (--drop-old)"));
        } else {
            record.old_database = Some(old.clone());
            record.rollback = Some(format!(
                "ALTER DATABASE {to_q} RENAME TO {tmp}; ALTER DATABASE {old_q} RENAME TO {to_q};",
                to_q = quote_ident(to),
                tmp = quote_ident(&derived_name(to, "rejected", &stamp)),
                old_q = quote_ident(&old)
            ));
            self.log.info(&format!(
                "the previous {to} is kept as {old}; drop it when you no longer need it"
            ));
        }
        Ok(())
    }

    fn restore_in_place(
        &self,
        backup: &BackupRecord,
        to: &str,
        record: &mut RestoreRecord,
    ) -> Result<()> {
        record.strategy = "in-place".into();
        self.precheck_digest(backup, record)?;
        if self.server.exists(to)? {
            confirm(&format!("drop and recreate database {to}"), to, self.yes)?;
            if self.safety_dump {
                let safety = self.safety_dump(backup, to)?;
                self.log
                    .info(&format!("safety dump of {to}: {}", safety.display()));
                record.safety_backup = Some(safety);
            } else {
                record
                    .notes
                    .push("--no-safety-dump: the previous contents were not saved".into());
            }
            self.server.allow_connections(to, false)?;
            self.server.clear_sessions(to)?;
            self.server.drop(to)?;
        }
        self.server.create(to)?;
        let restored = self
            .load_into(backup, to, record)
            .and_then(|_| self.check_restored(backup, to, record));
        if let Err(e) = restored {
            let hint = match &record.safety_backup {
                Some(p) => format!("; the previous contents are in {}", p.display()),
                None => String::new(),
            };
            return Err(Error::Failed(format!(
                "in-place restore into {to} failed: {e}{hint}"
            )));
        }
        if let Some(p) = &record.safety_backup {
            record.rollback = Some(format!("pgb-restore --in-place --to {to} {}", p.display()));
        }
        Ok(())
    }

    /// A plain gzip dump of the current database, through pgb-dump's engine.
    fn safety_dump(&self, backup: &BackupRecord, to: &str) -> Result<std::path::PathBuf> {
        let dir = match &self.safety_dir {
            Some(dir) => dir.clone(),
            None => backup
                .path
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_default(),
        };
        pgb_core::publish::ensure_dir(&dir)?;
        let request = DumpRequest {
            client: self.server.client.clone(),
            target: DbTarget::named(to),
            kind: BackupKind::Database,
            format: DumpFormat::Plain,
            compression: Compression::Gzip,
            level: None,
            dir,
            name: NameTemplate::parse("{db}_pre-restore_{YYYYMMDD}T{HHMMSS}Z")?,
            label: Some("pre-restore".into()),
            options: DumpOptions::default(),
            count_rows: false,
            lock_timeout: std::time::Duration::from_secs(60),
            compress_workers: 1,
            encryption: None,
        };
        let record = take_backup(&request, &ProgressBar::hidden()).map_err(|e| {
            Error::Failed(format!(
                "safety dump of {to} failed, nothing was changed: {e}"
            ))
        })?;
        Ok(record.path)
    }
}

/// Asks on a terminal for `expected` to be typed; refuses without one
/// unless `yes`.
pub fn confirm(action: &str, expected: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Error::Usage(format!(
            "refusing to {action} without confirmation: run on a terminal or pass --yes"
        )));
    }
    eprint!("pgb-restore: about to {action}. Type the database name ({expected}) to go on: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::Failed(format!("reading the answer: {e}")))?;
    if answer.trim_end_matches(['\n', '\r']) == expected {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "not confirmed: {action} cancelled, nothing changed"
        )))
    }
}

//! pgb-ship: sorts its arguments into destinations and backups, copies each
//! backup's three files to every destination through pgb-core's stores (data,
//! sidecar, manifest last), passes records on with their `copies`, and
//! optionally deletes local backups that every destination confirmed.

pub mod cli;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use pgb_core::catalog::{delete_backup, read_manifest, resolve_argument, scan};
use pgb_core::jsonl::{collect_backups, RecordSink};
use pgb_core::log::HumanLog;
use pgb_core::record::{BackupRecord, ErrorRecord};
use pgb_core::remote::{self, Store};
use pgb_core::stream::HashingReader;
use pgb_core::{Error, ExitStatus, Result};
use serde_json::{json, Value};

use cli::Cli;

pub const TOOL: &str = "pgb-ship";

pub fn main_entry(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    pgb_cli::run_main::<Cli>(TOOL, args, run)
}

pub fn run(cli: &Cli) -> ExitStatus {
    let log = match cli.log.open(TOOL) {
        Ok(log) => log,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    let mut options = cli.store.options();
    options.storage_class = cli.storage_class.clone();
    options.sse = cli.sse.clone();
    let (destinations, backup_args): (Vec<&String>, Vec<&String>) = cli
        .targets
        .iter()
        .partition(|t| remote::is_url(t) || Path::new(t).is_dir());
    let stores: Vec<Box<dyn Store>> =
        match destinations
            .into_iter()
            .chain(cli.destinations.iter())
            .map(|d| remote::open(d, &options))
            .collect::<Result<Vec<_>>>()
        {
            Ok(stores) if !stores.is_empty() => stores,
            Ok(_) => return pgb_core::exit::report_fatal(
                TOOL,
                &Error::Usage(
                    "no destination: give s3://..., ssh://..., file://... or an existing folder"
                        .into(),
                ),
            ),
            Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
        };
    let sink = RecordSink::new(std::io::stdout());
    let mut status = ExitStatus::Success;
    let mut backups = Vec::new();
    if backup_args.is_empty() {
        if std::io::stdin().is_terminal() {
            return pgb_core::exit::report_fatal(
                TOOL,
                &Error::Usage(
                    "no backup: pipe records in (pgb-dump ... | pgb-ship DEST) or name backups"
                        .into(),
                ),
            );
        }
        let (records, failed) = collect_backups(std::io::stdin().lock(), &sink, TOOL, &log);
        backups = records;
        if failed {
            status = ExitStatus::Failed;
        }
    } else {
        for arg in backup_args {
            match resolve_argument(arg) {
                Ok(items) => {
                    for item in items {
                        match item.and_then(|m| {
                            read_manifest(&m)?.ok_or_else(|| Error::Integrity {
                                path: m,
                                message: "not a pgb manifest".into(),
                            })
                        }) {
                            Ok(record) => backups.push(record),
                            Err(e) => {
                                status = status.worst(fail(
                                    &sink,
                                    &log,
                                    ErrorRecord::from_error(TOOL, &e),
                                ))
                            }
                        }
                    }
                }
                Err(e) => {
                    status = status.worst(fail(
                        &sink,
                        &log,
                        ErrorRecord::from_error(TOOL, &e).path(arg.as_str()),
                    ))
                }
            }
        }
    }
    for backup in backups {
        status = status.worst(ship_backup(cli, &stores, backup, &log, &sink));
    }
    status
}

fn fail<W: std::io::Write>(
    sink: &RecordSink<W>,
    log: &HumanLog,
    record: ErrorRecord,
) -> ExitStatus {
    log.error(&record.message);
    let _ = sink.emit_line(&record.to_json_line());
    ExitStatus::Failed
}

/// One of the three files of a backup, with its digest.
struct LocalFile {
    name: String,
    path: std::path::PathBuf,
    bytes: u64,
    sha256: String,
}

fn local_file(path: &Path, digest: Option<(u64, String)>) -> Result<LocalFile> {
    use pgb_core::exit::IoContext;
    let (bytes, sha256) = match digest {
        Some(d) => d,
        None => {
            let file = std::fs::File::open(path).at(path)?;
            let (_, d) = HashingReader::new(file).finish().at(path)?;
            (d.bytes, d.sha256)
        }
    };
    Ok(LocalFile {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.to_path_buf(),
        bytes,
        sha256,
    })
}

/// Copies one backup to one store; returns its `copies` entry.
fn ship_to(store: &dyn Store, files: &[LocalFile]) -> Result<Value> {
    let mut skipped_all = true;
    for (i, file) in files.iter().enumerate() {
        let is_manifest = i == files.len() - 1;
        match store.stat(&file.name)? {
            Some(found) if found.sha256.as_deref() == Some(file.sha256.as_str()) => {}
            Some(_) if is_manifest => {}
            Some(found) => {
                return Err(Error::Integrity {
                    path: format!("{}/{}", store.url(), file.name).into(),
                    message: format!(
                        "a different file is already there ({} bytes, sha256 {}); pgb never overwrites a backup",
                        found.bytes,
                        found.sha256.unwrap_or_else(|| "unknown".into())
                    ),
                })
            }
            None => {
                skipped_all = false;
                store.put(&file.name, &file.path, file.bytes, &file.sha256)?;
            }
        }
    }
    let data = &files[0];
    Ok(json!({
        "url": format!("{}/{}", store.url(), data.name),
        "bytes": data.bytes,
        "sha256": data.sha256,
        "shipped_at": Utc::now(),
        "skipped": skipped_all,
    }))
}

fn ship_backup<W: std::io::Write>(
    cli: &Cli,
    stores: &[Box<dyn Store>],
    mut backup: BackupRecord,
    log: &HumanLog,
    sink: &RecordSink<W>,
) -> ExitStatus {
    let files = (|| -> Result<Vec<LocalFile>> {
        Ok(vec![
            local_file(&backup.path, Some((backup.bytes, backup.sha256.clone())))?,
            local_file(&backup.sidecar_path(), None)?,
            local_file(&backup.manifest_path(), None)?,
        ])
    })();
    let files = match files {
        Ok(files) => files,
        Err(e) => {
            return fail(
                sink,
                log,
                ErrorRecord::from_error(TOOL, &e)
                    .database(backup.database.clone())
                    .path(backup.path.clone()),
            )
        }
    };
    let mut status = ExitStatus::Success;
    let mut copies: Vec<Value> = backup
        .extra
        .get("copies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for store in stores {
        match ship_to(store.as_ref(), &files) {
            Ok(copy) => {
                let verb = if copy["skipped"] == true {
                    "already at"
                } else {
                    "shipped to"
                };
                log.info(&format!("{} {verb} {}", backup.id, store.url()));
                copies.push(copy);
            }
            Err(e) => {
                let mut record = ErrorRecord::from_error(TOOL, &e)
                    .database(backup.database.clone())
                    .path(backup.path.clone());
                record.extra.insert("url".into(), store.url().into());
                status = fail(sink, log, record);
            }
        }
    }
    backup.extra.insert("copies".into(), Value::Array(copies));
    if cli.delete_local && status == ExitStatus::Success {
        match delete_if_allowed(&backup, cli.delete_newest) {
            Ok(true) => {
                log.info(&format!("deleted the local copy of {}", backup.id));
                backup.extra.insert("local_deleted".into(), true.into());
            }
            Ok(false) => log.info(&format!(
                "kept {}: it is the newest local backup of {}",
                backup.id, backup.database
            )),
            Err(e) => {
                status = fail(
                    sink,
                    log,
                    ErrorRecord::from_error(TOOL, &e).path(backup.path.clone()),
                )
            }
        }
    }
    if let Err(e) = sink.emit_line(&backup.to_json_line()) {
        log.error(&format!("cannot write to stdout: {e}"));
        status = ExitStatus::Failed;
    }
    status
}

/// Deletes the local backup unless it is the newest of its series.
fn delete_if_allowed(backup: &BackupRecord, delete_newest: bool) -> Result<bool> {
    let dir = backup.path.parent().unwrap_or(Path::new("."));
    let catalog = scan(dir, false)?;
    let newest = catalog
        .backups
        .iter()
        .filter(|b| b.database == backup.database && b.kind == backup.kind)
        .max_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| a.id.cmp(&b.id))
        });
    if !delete_newest && newest.is_some_and(|n| n.id == backup.id) {
        return Ok(false);
    }
    delete_backup(backup)?;
    Ok(true)
}

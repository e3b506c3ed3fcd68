//! Taking one backup: the engine behind pgb-dump, also used by pgb-restore
//! for its safety dump. One database (or the cluster's globals) becomes a
//! data file, a `.sha256` sidecar and a manifest, published in that order so
//! the manifest is the commit marker.
//!
//! The metadata session (psql) opens a repeatable-read transaction and
//! exports its snapshot; pg_dump runs with `--snapshot`, so the table list,
//! the estimates and the optional exact row counts describe exactly the data
//! in the dump. pg_dump's stdout is read on its own thread in blocks and
//! compressed and hashed on another on its way into the partial file.

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use indicatif::ProgressBar;

use crate::catalog::{manifest_path, sidecar_line, sidecar_path};
use crate::conn::DbTarget;
use crate::crypto::Sealer;
use crate::exit::IoContext;
use crate::lock::FolderLock;
use crate::naming::{extension, NameParts, NameTemplate};
use crate::pattern::select_tables;
use crate::pg::{quote_ident, PgClient, PgProgram, PsqlSession, RunningChild};
use crate::publish::{remove_if_exists, write_new_file, PartialFile};
use crate::record::{
    BackupKind, BackupRecord, Compression, ConnectionInfo, DumpFormat, DumpOptions,
    EncryptionRecord, TableRecord, PROTOCOL_VERSION,
};
use crate::stream::{Encoder, HashingWriter, BLOCK_SIZE};
use crate::trailer::{TrailerWindow, CLUSTER_MARKER, DATABASE_MARKER};
use crate::{Error, Result, PGB_VERSION};

/// Everything needed to take one backup.
#[derive(Debug, Clone)]
pub struct DumpRequest {
    pub client: PgClient,
    /// The database to dump; for globals, the database pg_dumpall connects to.
    pub target: DbTarget,
    pub kind: BackupKind,
    pub format: DumpFormat,
    pub compression: Compression,
    pub level: Option<i32>,
    pub dir: PathBuf,
    pub name: NameTemplate,
    pub label: Option<String>,
    pub options: DumpOptions,
    pub count_rows: bool,
    pub lock_timeout: Duration,
    /// Extra threads the compressor may use.
    pub compress_workers: u32,
    /// Seal the stored bytes with age.
    pub encryption: Option<crate::crypto::EncryptionKey>,
}

/// What the metadata session learnt about the database.
#[derive(Debug)]
struct Snapshot {
    session: PsqlSession,
    id: String,
    server_version: String,
    user: String,
    tables: Vec<TableRecord>,
}

const TABLES_SQL: &str = "SELECT coalesce(jsonb_agg(jsonb_build_object(\
 'schema', n.nspname, 'name', c.relname, 'estimated_rows', c.reltuples::bigint) \
 ORDER BY n.nspname, c.relname), '[]'::jsonb)::text \
 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
 WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' \
 AND n.nspname NOT LIKE 'pg\\_%' \
 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
 AND d.objid = c.oid AND d.deptype = 'e')";

/// Connects and learns which database the target names, before any lock is
/// taken (a URI or conninfo target only tells after connecting).
fn open_session(request: &DumpRequest) -> Result<(PsqlSession, String)> {
    let mut session = PsqlSession::open(&request.client, Some(&request.target))?;
    let database = session.query_value("SELECT current_database()")?;
    Ok((session, database))
}

/// Starts the snapshot pg_dump will share and reads the metadata in it.
fn begin_snapshot(request: &DumpRequest, mut session: PsqlSession) -> Result<Snapshot> {
    session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
    let id = session.query_value("SELECT pg_export_snapshot()")?;
    let info = session.query_value(
        "SELECT jsonb_build_object('version', current_setting('server_version'),          'user', current_user)::text",
    )?;
    let info: serde_json::Value = serde_json::from_str(&info)
        .map_err(|e| Error::Failed(format!("unexpected answer from psql: {e}: {info}")))?;
    let text = |key: &str| info[key].as_str().unwrap_or_default().to_string();
    let tables: Vec<TableRecord> = serde_json::from_str(&session.query_value(TABLES_SQL)?)
        .map_err(|e| Error::Failed(format!("unexpected table list from psql: {e}")))?;
    Ok(Snapshot {
        id,
        server_version: text("version"),
        user: text("user"),
        tables: select_tables(tables, &request.options),
        session,
    })
}

/// Counts rows of every table with data, in the snapshot's transaction.
fn count_rows(session: &mut PsqlSession, tables: &mut [TableRecord]) -> Result<()> {
    for table in tables.iter_mut().filter(|t| t.data) {
        let sql = format!(
            "SELECT count(*) FROM {}.{}",
            quote_ident(&table.schema),
            quote_ident(&table.name)
        );
        let value = session.query_value(&sql)?;
        table.rows = Some(value.trim().parse().map_err(|_| {
            Error::Failed(format!(
                "unexpected count for {}.{}: {value}",
                table.schema, table.name
            ))
        })?);
    }
    Ok(())
}

/// The pg_dump (or pg_dumpall) command for the request.
fn dump_command(
    request: &DumpRequest,
    snapshot: Option<&str>,
) -> Result<(PgProgram, std::process::Command)> {
    let program = match request.kind {
        BackupKind::Database => PgProgram::PgDump,
        BackupKind::Globals => PgProgram::PgDumpall,
    };
    let mut command = request.client.command(program, Some(&request.target))?;
    // Never prompt for a password: a backup run must fail, not hang.
    command.arg("--no-password");
    if request.kind == BackupKind::Globals {
        command.arg("--globals-only");
        return Ok((program, command));
    }
    if let Some(id) = snapshot {
        command.arg(format!("--snapshot={id}"));
    }
    match request.format {
        DumpFormat::Plain => command.arg("--format=plain"),
        DumpFormat::Custom => command.arg("--format=custom"),
    };
    if let (DumpFormat::Custom, Some(level)) = (request.format, request.level) {
        command.arg(format!("--compress={level}"));
    }
    let o = &request.options;
    for (flag, on) in [
        ("--schema-only", o.schema_only),
        ("--data-only", o.data_only),
        ("--no-owner", o.no_owner),
        ("--no-privileges", o.no_acl),
    ] {
        if on {
            command.arg(flag);
        }
    }
    for (flag, patterns) in [
        ("--table", &o.tables),
        ("--exclude-table", &o.exclude_tables),
        ("--schema", &o.schemas),
        ("--exclude-schema", &o.exclude_schemas),
        ("--exclude-table-data", &o.exclude_table_data),
    ] {
        for p in patterns {
            command.arg(format!("{flag}={p}"));
        }
    }
    Ok((program, command))
}

/// What the streaming stage produced.
#[derive(Debug)]
struct Streamed {
    partial: PartialFile,
    bytes: u64,
    sha256: String,
    raw_bytes: u64,
    trailer: TrailerWindow,
    /// The compressed stream before encryption.
    plaintext: crate::stream::StreamDigest,
}

/// Streams the child's stdout through compression and hashing into
/// `partial`. The child is killed if pgb cannot keep writing.
fn stream_child(
    mut child: RunningChild,
    partial: PartialFile,
    request: &DumpRequest,
    progress: &ProgressBar,
) -> Result<Streamed> {
    let stdout = child
        .take_stdout()
        .ok_or_else(|| Error::Failed(format!("{}: no stdout", child.program)))?;
    let (tx, rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(8);
    let reader = std::thread::spawn(move || read_blocks(stdout, &tx));

    let partial_path = partial.partial_path().to_path_buf();
    let compression = match request.format {
        DumpFormat::Plain => request.compression,
        DumpFormat::Custom => Compression::PgDump,
    };
    // compress -> (count/hash plaintext) -> seal -> hash stored bytes -> file
    let stored = HashingWriter::new(BufWriter::with_capacity(BLOCK_SIZE, partial));
    let sealer = Sealer::new(stored, request.encryption.as_ref()).at(&partial_path)?;
    let plaintext = match request.encryption {
        Some(_) => HashingWriter::new(sealer),
        None => HashingWriter::counting_only(sealer),
    };
    let mut encoder = Encoder::new(
        compression,
        request.level,
        request.compress_workers,
        plaintext,
    )
    .at(&partial_path)?;
    let mut trailer = TrailerWindow::new();
    let mut raw_bytes = 0u64;
    let mut failure: Option<Error> = None;
    for block in rx.iter() {
        let block = match block {
            Ok(block) => block,
            Err(e) => {
                failure = Some(Error::Failed(format!(
                    "reading {} output: {e}",
                    child.program
                )));
                break;
            }
        };
        raw_bytes += block.len() as u64;
        trailer.update(&block);
        progress.inc(block.len() as u64);
        if let Err(e) = encoder.write_all(&block) {
            failure = Some(Error::io(&partial_path, e));
            break;
        }
    }
    drop(rx);
    if let Some(error) = failure {
        // pgb cannot store what pg_dump sends: stop it rather than let it
        // block on a full pipe, and report pgb's own error.
        child.kill();
        let _ = reader.join();
        return Err(error);
    }
    let _ = reader.join();
    child.wait()?;
    let (sealer, plain) = encoder.finish().at(&partial_path)?.finish();
    let (buffered, digest) = sealer.finish().at(&partial_path)?.finish();
    let partial = buffered
        .into_inner()
        .map_err(|e| Error::io(&partial_path, e.into_error()))?;
    Ok(Streamed {
        partial,
        bytes: digest.bytes,
        sha256: digest.sha256,
        raw_bytes,
        trailer,
        plaintext: plain,
    })
}

fn read_blocks(mut stdout: impl Read, tx: &mpsc::SyncSender<std::io::Result<Vec<u8>>>) {
    loop {
        let mut block = vec![0u8; BLOCK_SIZE];
        let mut filled = 0;
        // Fill whole blocks: fewer, larger writes downstream.
        while filled < BLOCK_SIZE {
            match stdout.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if filled == 0 {
            return;
        }
        block.truncate(filled);
        if tx.send(Ok(block)).is_err() {
            return;
        }
    }
}

/// Takes one backup and publishes it; returns its record. On any failure no
/// file is left under a final name and the partial file is removed.
pub fn take_backup(request: &DumpRequest, progress: &ProgressBar) -> Result<BackupRecord> {
    let session = match request.kind {
        BackupKind::Database => Some(open_session(request)?),
        BackupKind::Globals => None,
    };
    let database = match &session {
        Some((_, name)) => name.clone(),
        None => "globals".to_string(),
    };
    let _lock = FolderLock::acquire(
        &request.dir,
        &lock_key(request.kind, &database),
        request.lock_timeout,
    )?;
    // Time and snapshot are taken once the lock is ours, so a run that
    // waited gets its own name and current data.
    let started_at = Utc::now();
    let mut snapshot = match session {
        Some((session, _)) => Some(begin_snapshot(request, session)?),
        None => None,
    };

    let kind_name = match request.kind {
        BackupKind::Database => "database",
        BackupKind::Globals => "globals",
    };
    let compression = match request.format {
        DumpFormat::Plain => request.compression,
        DumpFormat::Custom => Compression::PgDump,
    };
    let base = request.name.render(&NameParts {
        database: &database,
        kind: kind_name,
        label: request.label.as_deref(),
        time: started_at,
    });
    let sealed = if request.encryption.is_some() {
        ".age"
    } else {
        ""
    };
    let data_path = request.dir.join(format!(
        "{base}.{}{sealed}",
        extension(request.format, compression)
    ));
    for path in [manifest_path(&data_path), sidecar_path(&data_path)] {
        if path.symlink_metadata().is_ok() {
            return Err(Error::Exists { path });
        }
    }
    let partial = PartialFile::create(&data_path)?;
    let (program, command) = dump_command(request, snapshot.as_ref().map(|s| s.id.as_str()))?;
    let child = RunningChild::spawn(program.name(), command, Stdio::null(), Stdio::piped())?;

    // Exact counts run in the snapshot session while pg_dump streams.
    let (streamed, counted) = std::thread::scope(|scope| {
        let counter = snapshot
            .as_mut()
            .filter(|_| request.count_rows)
            .map(|s| scope.spawn(|| count_rows(&mut s.session, &mut s.tables)));
        let streamed = stream_child(child, partial, request, progress);
        let counted = counter.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Failed("row counting panicked".into())))
        });
        (streamed, counted)
    });
    let streamed = streamed?;
    if let Some(counted) = counted {
        counted?;
    }
    if request.format == DumpFormat::Plain {
        let marker = match request.kind {
            BackupKind::Database => DATABASE_MARKER,
            BackupKind::Globals => CLUSTER_MARKER,
        };
        if !streamed.trailer.is_complete(marker) {
            return Err(Error::Failed(format!(
                "{} exited 0 but its output ends without {marker:?} (ends with {}): incomplete dump",
                program.name(),
                streamed.trailer.describe_end()
            )));
        }
    }
    let (server_version, user, tables) = match snapshot {
        Some(s) => {
            let Snapshot {
                session,
                server_version,
                user,
                tables,
                ..
            } = s;
            session.close()?;
            (Some(server_version), Some(user), tables)
        }
        None => (None, None, Vec::new()),
    };
    let rows_exact =
        request.count_rows && tables.iter().filter(|t| t.data).all(|t| t.rows.is_some());
    let record = BackupRecord {
        pgb: PROTOCOL_VERSION,
        record_type: BackupRecord::TYPE.to_string(),
        id: base,
        path: absolute(&data_path),
        database,
        kind: request.kind,
        format: request.format,
        compression,
        level: request.level.or(crate::stream::default_level(compression)),
        bytes: streamed.bytes,
        raw_bytes: streamed.raw_bytes,
        sha256: streamed.sha256.clone(),
        started_at,
        finished_at: Utc::now(),
        server_version,
        pg_dump_version: request.client.version(program).ok(),
        pgb_version: PGB_VERSION.to_string(),
        connection: connection_info(request, user),
        label: request.label.clone(),
        options: request.options.clone(),
        tables,
        rows_exact,
        encryption: request.encryption.as_ref().map(|key| {
            let (recipients, passphrase) = key.describe();
            EncryptionRecord {
                method: "age".into(),
                recipients,
                passphrase,
                plaintext_sha256: streamed.plaintext.sha256.clone(),
                plaintext_bytes: streamed.plaintext.bytes,
            }
        }),
        verify: None,
        extra: serde_json::Map::new(),
    };
    publish_backup(streamed.partial, &record)?;
    Ok(record)
}

/// Publishes data, then sidecar, then manifest. If a later step fails the
/// earlier files are removed again: a data file must never outlive a failed
/// run under its final name.
fn publish_backup(partial: PartialFile, record: &BackupRecord) -> Result<()> {
    let data_path = partial.publish()?;
    let sidecar = sidecar_path(&data_path);
    let manifest = manifest_path(&data_path);
    let result = write_new_file(
        &sidecar,
        sidecar_line(&record.sha256, &data_path).as_bytes(),
    )
    .and_then(|_| {
        let mut json = record.to_json_line();
        json.push('\n');
        write_new_file(&manifest, json.as_bytes())
    });
    if let Err(error) = result {
        let _ = remove_if_exists(&sidecar);
        let _ = remove_if_exists(&data_path);
        return Err(error);
    }
    Ok(())
}

/// The lock key of a backup series in a folder.
pub fn lock_key(kind: BackupKind, database: &str) -> String {
    match kind {
        BackupKind::Database => database.to_string(),
        BackupKind::Globals => ":globals".to_string(),
    }
}

fn connection_info(request: &DumpRequest, user: Option<String>) -> ConnectionInfo {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let conn = &request.client.conn;
    ConnectionInfo {
        host: conn.host.clone().or_else(|| env("PGHOST")),
        port: conn
            .port
            .or_else(|| env("PGPORT").and_then(|p| p.parse().ok())),
        user: user
            .or_else(|| conn.username.clone())
            .or_else(|| env("PGUSER")),
        container: request.client.container.clone(),
        target: Some(request.target.dbname.clone()),
    }
}

fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

//! Loading a backup's stream into a database: plain SQL through psql
//! (ON_ERROR_STOP, optionally one transaction) or a custom archive through
//! pg_restore, fed from whatever reader the caller hashes as it goes. Shared
//! by restore-level verification (into a scratch database) and pgb-restore.
//! Also the post-load check of tables and row counts against the manifest.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

use crate::conn::DbTarget;
use crate::exit::IoContext;
use crate::pg::{quote_ident, quote_literal, run_sql, PgClient, PgProgram, RunningChild};
use crate::record::{BackupRecord, CheckResult};
use crate::stream::{buffered, decoder, CountingReader, BLOCK_SIZE};
use crate::trailer::TrailerWindow;
use crate::{Error, Result};

/// How to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// All or nothing: psql --single-transaction / pg_restore --single-transaction.
    pub single_transaction: bool,
    /// pg_restore --no-owner (custom archives only).
    pub no_owner: bool,
    /// pg_restore --no-privileges (custom archives only).
    pub no_acl: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            single_transaction: true,
            no_owner: false,
            no_acl: false,
        }
    }
}

/// What loading a plain dump did: decompression and psql are judged apart,
/// so a failed psql does not hide whether the file itself was complete.
#[derive(Debug)]
pub struct PlainLoad {
    /// Bytes of SQL decompressed, or why decompression failed.
    pub decompressed: Result<u64>,
    /// psql's outcome.
    pub loaded: Result<()>,
}

/// Streams a plain dump from `input` into psql connected to `target`.
pub fn load_plain(
    reference: &BackupRecord,
    client: &PgClient,
    target: &DbTarget,
    input: &mut dyn Read,
    options: &LoadOptions,
    trailer: &mut TrailerWindow,
) -> Result<PlainLoad> {
    let mut command = client.command(PgProgram::Psql, Some(target))?;
    command.args([
        "--no-psqlrc",
        "--quiet",
        "--no-password",
        "--set=ON_ERROR_STOP=1",
    ]);
    if options.single_transaction {
        command.arg("--single-transaction");
    }
    let mut child = RunningChild::spawn("psql", command, Stdio::piped(), Stdio::null())?;
    let mut stdin = child
        .take_stdin()
        .ok_or_else(|| Error::Failed("psql: no stdin".into()))?;
    let decompressed = pump_plain(reference, input, trailer, Some(&mut stdin));
    drop(stdin);
    let loaded = child.wait().map(|_| ());
    Ok(PlainLoad {
        decompressed,
        loaded,
    })
}

fn pg_restore_command(
    client: &PgClient,
    target: &DbTarget,
    options: &LoadOptions,
) -> Result<std::process::Command> {
    let mut command = client.command(PgProgram::PgRestore, Some(target))?;
    command.args(["--exit-on-error", "--no-password"]);
    if options.single_transaction {
        command.arg("--single-transaction");
    }
    if options.no_owner {
        command.arg("--no-owner");
    }
    if options.no_acl {
        command.arg("--no-privileges");
    }
    Ok(command)
}

/// Streams a custom archive from `input` into pg_restore.
pub fn load_custom_stream(
    client: &PgClient,
    target: &DbTarget,
    input: &mut dyn Read,
    options: &LoadOptions,
) -> Result<()> {
    let command = pg_restore_command(client, target, options)?;
    let mut child = RunningChild::spawn("pg_restore", command, Stdio::piped(), Stdio::null())?;
    feed_child(&mut child, input)?;
    child.wait().map(|_| ())
}

/// pg_restore --jobs N reads the archive itself (it needs to seek), so the
/// file is passed by path; the caller checks its checksum beforehand.
pub fn load_custom_file(
    client: &PgClient,
    target: &DbTarget,
    path: &Path,
    jobs: u32,
    options: &LoadOptions,
) -> Result<()> {
    let mut options = options.clone();
    // pg_restore refuses --single-transaction with --jobs.
    options.single_transaction = options.single_transaction && jobs <= 1;
    let mut command = pg_restore_command(client, target, &options)?;
    command.arg(format!("--jobs={jobs}")).arg(path);
    let child = RunningChild::spawn("pg_restore", command, Stdio::null(), Stdio::null())?;
    child.wait().map(|_| ())
}

/// Every table of the manifest is present in `target`, with the exact row
/// count when the manifest has one.
pub fn check_tables(
    reference: &BackupRecord,
    client: &PgClient,
    target: &DbTarget,
) -> Result<CheckResult> {
    let mut problems = Vec::new();
    let mut compared = 0;
    for table in &reference.tables {
        let name = format!(
            "{}.{}",
            quote_ident(&table.schema),
            quote_ident(&table.name)
        );
        let sql = match (table.data, table.rows) {
            (true, Some(_)) => format!("SELECT count(*) FROM {name}"),
            _ => format!(
                "SELECT CASE WHEN to_regclass({}) IS NULL THEN -1 ELSE 0 END",
                quote_literal(&name)
            ),
        };
        let found: i64 = run_sql(client, target, &sql)?.trim().parse().unwrap_or(-1);
        match table.rows.filter(|_| table.data) {
            Some(expected) if expected != found => problems.push(format!(
                "{}.{}: expected {expected} rows, found {found}",
                table.schema, table.name
            )),
            None if found < 0 => problems.push(format!("{}.{}: missing", table.schema, table.name)),
            _ => compared += 1,
        }
    }
    let what = if reference.rows_exact {
        "row counts"
    } else {
        "tables present"
    };
    let ok = problems.is_empty();
    Ok(CheckResult {
        name: "tables".into(),
        ok,
        detail: Some(if ok {
            format!("{compared} tables checked ({what})")
        } else {
            problems.join(", ")
        }),
    })
}

/// Decompresses `input` to its end, updating `trailer` and copying to `sink`.
pub(crate) fn pump_plain(
    reference: &BackupRecord,
    input: &mut dyn Read,
    trailer: &mut TrailerWindow,
    mut sink: Option<&mut dyn Write>,
) -> Result<u64> {
    let mut decoded =
        CountingReader::new(decoder(reference.compression, buffered(input)).at(&reference.path)?);
    let mut buf = vec![0u8; BLOCK_SIZE];
    loop {
        let n = decoded.read(&mut buf).map_err(|e| Error::Integrity {
            path: reference.path.clone(),
            message: format!(
                "cannot decompress ({}): {e}",
                reference.compression.as_str()
            ),
        })?;
        if n == 0 {
            break;
        }
        trailer.update(&buf[..n]);
        if let Some(target) = sink.as_mut() {
            if target.write_all(&buf[..n]).is_err() {
                // The consumer stopped (psql hit an error; its status and
                // stderr explain why). Keep decompressing so the archive
                // check still judges the whole file.
                sink = None;
            }
        }
    }
    Ok(decoded.count())
}

/// Writes `input` to the child's stdin while a thread reads its stdout into
/// a trailer window; returns the window.
pub(crate) fn feed_child(child: &mut RunningChild, input: &mut dyn Read) -> Result<TrailerWindow> {
    let mut stdin = child
        .take_stdin()
        .ok_or_else(|| Error::Failed("no stdin".into()))?;
    let stdout = child.take_stdout();
    let reader = std::thread::spawn(move || {
        let mut trailer = TrailerWindow::new();
        if let Some(mut out) = stdout {
            let mut buf = vec![0u8; BLOCK_SIZE];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                trailer.update(&buf[..n]);
            }
        }
        trailer
    });
    let mut buf = vec![0u8; BLOCK_SIZE];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| Error::Failed(format!("reading backup: {e}")))?;
        if n == 0 || stdin.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    drop(stdin);
    reader
        .join()
        .map_err(|_| Error::Failed("output reader panicked".into()))
}

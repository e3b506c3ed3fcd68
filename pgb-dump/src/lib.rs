//! pgb-dump: turns the command line into one backup request per database
//! (or per `--all` database plus the globals), runs them up to `--jobs` at a
//! time with pgb-core's dump engine, and prints one record per result. The
//! engine does the streaming, hashing and publishing; this crate decides what
//! to dump and reports.

pub mod cli;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Mutex;

use pgb_core::conn::DbTarget;
use pgb_core::crypto::EncryptionKey;
use pgb_core::dump::{take_backup, DumpRequest};
use pgb_core::jsonl::RecordSink;
use pgb_core::log::HumanLog;
use pgb_core::naming::NameTemplate;
use pgb_core::pg::{PgClient, PgProgram, PsqlSession};
use pgb_core::progress::Progress;
use pgb_core::record::{BackupKind, Compression, DumpFormat, DumpOptions, ErrorRecord};
use pgb_core::{Error, ExitStatus, Result};

use cli::{Cli, CompressArg, FormatArg};

pub const TOOL: &str = "pgb-dump";

/// Parses arguments and runs; what `main` calls.
pub fn main_entry(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    ignore_file_size_signal();
    pgb_cli::run_main::<Cli>(TOOL, args, run)
}

/// A write past RLIMIT_FSIZE must fail with EFBIG (reported, partial file
/// removed) instead of killing pgb-dump with SIGXFSZ and leaving it behind.
#[allow(unsafe_code)]
fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN at startup, before
    // any thread exists, has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Runs pgb-dump with parsed arguments.
pub fn run(cli: &Cli) -> ExitStatus {
    let log = match cli.log.open(TOOL) {
        Ok(log) => log,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    let requests = match plan(cli) {
        Ok(requests) => requests,
        Err(e) => {
            log.error(&e.to_string());
            return pgb_core::exit::emit_fatal_record(TOOL, &e);
        }
    };
    let sink = RecordSink::new(std::io::stdout());
    execute(
        requests,
        cli.jobs,
        &log,
        &Progress::new(cli.log.quiet),
        &sink,
    )
}

/// Runs the requests, up to `jobs` at a time, printing one record each.
pub fn execute<W: std::io::Write + Send>(
    requests: Vec<DumpRequest>,
    jobs: u32,
    log: &HumanLog,
    progress: &Progress,
    sink: &RecordSink<W>,
) -> ExitStatus {
    let queue = Mutex::new(requests.into_iter());
    let status = Mutex::new(ExitStatus::Success);
    let workers = usize::try_from(jobs).unwrap_or(1).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let next = queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .next();
                let Some(request) = next else { break };
                let outcome = dump_one(&request, log, progress, sink);
                let mut s = status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *s = s.worst(outcome);
            });
        }
    });
    status
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn dump_one<W: std::io::Write>(
    request: &DumpRequest,
    log: &HumanLog,
    progress: &Progress,
    sink: &RecordSink<W>,
) -> ExitStatus {
    let what = describe(request);
    log.info(&format!("dumping {what} into {}", request.dir.display()));
    let bar = progress.bytes(&what, None);
    let result = take_backup(request, &bar);
    bar.finish_and_clear();
    let line = match result {
        Ok(record) => {
            let seconds =
                (record.finished_at - record.started_at).num_milliseconds() as f64 / 1000.0;
            log.info(&format!(
                "{what}: {} ({} bytes stored, {} bytes of dump) in {seconds:.1}s",
                record.path.display(),
                record.bytes,
                record.raw_bytes
            ));
            Ok(record.to_json_line())
        }
        Err(e) => {
            log.error(&format!("{what}: {e}"));
            let record = ErrorRecord::from_error(TOOL, &e).database(what.clone());
            Err(record.to_json_line())
        }
    };
    let (text, status) = match line {
        Ok(text) => (text, ExitStatus::Success),
        Err(text) => (text, ExitStatus::Failed),
    };
    if let Err(e) = sink.emit_line(&text) {
        log.error(&format!("cannot write to stdout: {e}"));
        return ExitStatus::Failed;
    }
    status
}

/// A name for messages: the database, or "globals".
fn describe(request: &DumpRequest) -> String {
    match request.kind {
        BackupKind::Globals => "globals".to_string(),
        BackupKind::Database => pgb_core::conn::redact(&request.target.dbname),
    }
}

/// Validates the options and builds one request per backup to take.
pub fn plan(cli: &Cli) -> Result<Vec<DumpRequest>> {
    let format = match cli.format {
        FormatArg::Plain => DumpFormat::Plain,
        FormatArg::Custom => DumpFormat::Custom,
    };
    let compression =
        match (format, cli.compress) {
            (DumpFormat::Custom, Some(_)) => return Err(Error::Usage(
                "--compress applies to --format plain; custom archives are compressed by pg_dump \
                 (set its level with --level)"
                    .into(),
            )),
            (DumpFormat::Custom, None) => Compression::PgDump,
            (DumpFormat::Plain, None | Some(CompressArg::Gzip)) => Compression::Gzip,
            (DumpFormat::Plain, Some(CompressArg::Zstd)) => Compression::Zstd,
            (DumpFormat::Plain, Some(CompressArg::None)) => Compression::None,
        };
    if let Some(level) = cli.level {
        pgb_core::stream::check_level(compression, level).map_err(Error::Usage)?;
    }
    let name = NameTemplate::parse(&cli.name_template)?;
    let exclude_db = cli
        .exclude_db
        .iter()
        .map(|p| {
            glob::Pattern::new(p).map_err(|e| Error::Usage(format!("--exclude-db {p:?}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(label) = &cli.label {
        if label.trim().is_empty() || label.contains('\n') {
            return Err(Error::Usage("--label must be one non-empty line".into()));
        }
    }
    let client = cli.connection.client();
    if let Some(dir) = &client.bin_dir {
        if !dir.is_dir() {
            return Err(Error::Setup(format!(
                "--pg-bin {}: not a folder",
                dir.display()
            )));
        }
    }
    pgb_core::publish::ensure_dir(&cli.dir).map_err(|e| Error::Setup(e.to_string()))?;
    if !cli.dir.is_dir() {
        return Err(Error::Setup(format!(
            "--dir {}: not a folder",
            cli.dir.display()
        )));
    }

    let template = DumpRequest {
        client: client.clone(),
        target: DbTarget::named("postgres"),
        kind: BackupKind::Database,
        format,
        compression,
        level: cli.level,
        dir: cli.dir.clone(),
        name,
        label: cli.label.clone(),
        options: DumpOptions {
            schema_only: cli.schema_only,
            data_only: cli.data_only,
            tables: cli.tables.clone(),
            exclude_tables: cli.exclude_tables.clone(),
            schemas: cli.schemas.clone(),
            exclude_schemas: cli.exclude_schemas.clone(),
            exclude_table_data: cli.exclude_table_data.clone(),
            no_owner: cli.no_owner,
            no_acl: cli.no_acl,
        },
        count_rows: cli.count_rows,
        lock_timeout: cli.lock_timeout,
        compress_workers: compress_workers(cli.jobs),
        encryption: match (&cli.encrypt_passphrase_file, cli.encrypt_to.is_empty()) {
            (Some(file), _) => Some(EncryptionKey::Passphrase(
                pgb_core::crypto::read_passphrase(file)?,
            )),
            (None, false) => Some(pgb_core::crypto::parse_recipients(&cli.encrypt_to)?),
            (None, true) => None,
        },
    };

    let mut targets: Vec<DbTarget> = cli.dbnames.iter().map(|d| DbTarget::parse(d)).collect();
    let mut requests = Vec::new();
    if cli.all {
        // Check the programs exist before asking the server anything.
        client.check_programs(&[PgProgram::PgDump, PgProgram::PgDumpall, PgProgram::Psql])?;
        let maintenance = DbTarget::parse(&cli.maintenance_db);
        let names = list_databases(&client, &maintenance)?;
        targets = names
            .iter()
            .filter(|n| !exclude_db.iter().any(|p| p.matches(n)))
            .map(|n| DbTarget::named(n))
            .collect();
        if !cli.no_globals {
            requests.push(DumpRequest {
                target: maintenance,
                kind: BackupKind::Globals,
                format: DumpFormat::Plain,
                compression: match compression {
                    Compression::PgDump => Compression::Gzip,
                    c => c,
                },
                level: if format == DumpFormat::Custom {
                    None
                } else {
                    cli.level
                },
                ..template.clone()
            });
        }
    } else if targets.is_empty() {
        match std::env::var("PGDATABASE") {
            Ok(db) if !db.is_empty() => targets.push(DbTarget::parse(&db)),
            _ => {
                return Err(Error::Usage(
                    "nothing to dump: give -d DBNAME (repeatable), --all, or set PGDATABASE".into(),
                ))
            }
        }
    } else {
        client.check_programs(&[PgProgram::PgDump, PgProgram::PgDumpall, PgProgram::Psql])?;
    }
    requests.extend(targets.into_iter().map(|target| DumpRequest {
        target,
        ..template.clone()
    }));
    Ok(requests)
}

/// Compression threads per dump: the machine's cores shared by the dumps
/// running at once. pg_dump and the server wait on I/O much of the time,
/// so the compressor may use every core; the scheduler shares them.
fn compress_workers(jobs: u32) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (u32::try_from(cores).unwrap_or(1) / jobs.max(1)).max(1)
}

/// Every connectable, non-template database, by name.
fn list_databases(client: &PgClient, maintenance: &DbTarget) -> Result<Vec<String>> {
    let mut session = PsqlSession::open(client, Some(maintenance))?;
    let json = session.query_value(
        "SELECT coalesce(jsonb_agg(datname ORDER BY datname), '[]'::jsonb)::text \
         FROM pg_database WHERE datallowconn AND NOT datistemplate",
    )?;
    session.close()?;
    serde_json::from_str(&json).map_err(|e| Error::Failed(format!("unexpected database list: {e}")))
}

//! pgb-restore: picks the backups to restore (paths, stdin records,
//! `--latest`), asks for confirmation where something would be replaced,
//! runs the strategy, and prints one restore record per backup.

pub mod cli;
mod globals;
mod partial;
pub mod select;
pub mod server;
pub mod strategy;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;

use pgb_core::conn::DbTarget;
use pgb_core::jsonl::{collect_backups, RecordSink};
use pgb_core::load::LoadOptions;
use pgb_core::progress::Progress;
use pgb_core::record::{BackupRecord, ErrorRecord};
use pgb_core::remote_catalog::Location;
use pgb_core::{Error, ExitStatus};

use cli::Cli;
use server::Server;
use strategy::Restorer;

pub const TOOL: &str = "pgb-restore";

pub fn main_entry(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    pgb_cli::run_main::<Cli>(TOOL, args, run)
}

pub fn run(cli: &Cli) -> ExitStatus {
    let log = match cli.log.open(TOOL) {
        Ok(log) => log,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    if (cli.latest || cli.list) && cli.paths.len() > 1 {
        return pgb_core::exit::report_fatal(
            TOOL,
            &Error::Usage("--latest and --list take one place to look (a folder or URL)".into()),
        );
    }
    let location = match Location::open(cli.paths.first().unwrap_or(&cli.dir), &cli.store.options())
    {
        Ok(location) => location,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    if cli.list {
        return match select::list(&location, cli.database.as_deref(), chrono::Utc::now()) {
            Ok(text) => {
                print!("{text}");
                ExitStatus::Success
            }
            Err(e) => pgb_core::exit::report_fatal(TOOL, &e),
        };
    }
    let sink = RecordSink::new(std::io::stdout());
    let mut status = ExitStatus::Success;
    // Keeps a fetched remote backup on disk until the restore is done.
    let mut _work = None;
    let mut remote_source = None;
    let backups: Vec<BackupRecord> = if cli.latest {
        let chosen = select::latest(&location, cli.database.as_deref(), &log).and_then(|b| {
            let work = pgb_core::remote_catalog::work_dir()?;
            let local = location.materialize(&b, work.path())?;
            if local.path != b.path {
                remote_source = Some(b.path.clone());
            }
            _work = Some(work);
            Ok(local)
        });
        match chosen {
            Ok(b) => vec![b],
            Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
        }
    } else if !cli.paths.is_empty() {
        match select::from_paths(&cli.paths) {
            Ok(b) => b,
            Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
        }
    } else if std::io::stdin().is_terminal() {
        return pgb_core::exit::report_fatal(
            TOOL,
            &Error::Usage(
                "nothing to restore: give a path, --latest, or pipe backup records in".into(),
            ),
        );
    } else {
        let (backups, failed) = collect_backups(std::io::stdin().lock(), &sink, TOOL, &log);
        if failed {
            status = ExitStatus::Failed;
        }
        backups
            .into_iter()
            .filter(|b| cli.database.as_ref().is_none_or(|d| &b.database == d))
            .collect()
    };
    if backups.is_empty() && status == ExitStatus::Success {
        return pgb_core::exit::report_fatal(
            TOOL,
            &Error::Failed("no backup record on stdin: nothing was restored".into()),
        );
    }
    if cli.to.is_some() && backups.len() > 1 {
        return pgb_core::exit::report_fatal(
            TOOL,
            &Error::Usage(format!(
                "--to names one database but {} backups were selected; pick one (--database NAME)",
                backups.len()
            )),
        );
    }
    let key = match cli.decrypt.key() {
        Ok(key) => key,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    let restorer = Restorer {
        key,
        server: Server {
            client: cli.connection.client(),
            maintenance: DbTarget::parse(&cli.maintenance_db),
        },
        no_verify: cli.no_verify,
        jobs: cli.jobs,
        in_place: cli.in_place,
        safety_dump: !cli.no_safety_dump,
        safety_dir: cli.safety_dir.clone(),
        tables: cli.tables.clone(),
        drop_old: cli.drop_old,
        yes: cli.yes,
        load: LoadOptions {
            single_transaction: true,
            no_owner: cli.no_owner,
            no_acl: cli.no_acl,
        },
        progress: Progress::new(cli.log.quiet),
        log,
    };
    for backup in &backups {
        let to = cli.to.clone().unwrap_or_else(|| backup.database.clone());
        restorer
            .log
            .info(&format!("restoring {} into {to}", backup.id));
        match restorer.restore(backup, &to) {
            Ok(mut record) => {
                if let Some(url) = &remote_source {
                    record.source.path = url.clone();
                }
                restorer.log.info(&format!(
                    "{} restored into {to} ({}, {:.1}s)",
                    backup.id,
                    record.strategy,
                    record.duration_ms as f64 / 1000.0
                ));
                if let Err(e) = sink.emit_line(&record.to_json_line()) {
                    restorer.log.error(&format!("cannot write to stdout: {e}"));
                    status = status.worst(ExitStatus::Failed);
                }
            }
            Err(e) => {
                restorer.log.error(&format!("{}: {e}", backup.id));
                let record = ErrorRecord::from_error(TOOL, &e)
                    .database(to)
                    .path(backup.path.clone());
                let _ = sink.emit_line(&record.to_json_line());
                status = status.worst(e.exit_status());
            }
        }
    }
    status
}

//! pgb-verify: gathers backups from stdin records or path arguments, runs
//! pgb-core's verification engine on each, records the result in the
//! manifest, and passes every record on. Error records and unknown records
//! flow through untouched; malformed lines become error records.

pub mod cli;

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use pgb_core::catalog::{read_manifest, resolve_argument};
use pgb_core::jsonl::{forward, read_items, Forwarded, RecordSink};
use pgb_core::log::HumanLog;
use pgb_core::progress::Progress;
use pgb_core::record::VerifySection;
use pgb_core::record::{BackupRecord, ErrorRecord};
use pgb_core::remote::{self, StoreOptions};
use pgb_core::remote_catalog::{fetch_backup, scan_store, work_dir};
use pgb_core::verify::{record_result, verify_backup, VerifyLevel, VerifyRequest};
use pgb_core::{Error, ExitStatus};

use cli::{Cli, LevelArg};

pub const TOOL: &str = "pgb-verify";

/// Parses arguments and runs; what `main` calls.
pub fn main_entry(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    pgb_cli::run_main::<Cli>(TOOL, args, run)
}

/// Everything a run needs besides its input.
#[derive(Debug)]
pub struct Verifier {
    pub request: VerifyRequest,
    /// Options for s3:// and ssh:// arguments.
    pub store: StoreOptions,
    pub record_results: bool,
    pub log: HumanLog,
    pub progress: Progress,
}

pub fn run(cli: &Cli) -> ExitStatus {
    let log = match cli.log.open(TOOL) {
        Ok(log) => log,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    if cli.paths.is_empty() && std::io::stdin().is_terminal() {
        return pgb_core::exit::report_fatal(
            TOOL,
            &Error::Usage(
                "no input: pipe backup records in (pgb-dump ... | pgb-verify) or name backups as arguments"
                    .into(),
            ),
        );
    }
    let key = match cli.decrypt.key() {
        Ok(key) => key,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    let verifier = Verifier {
        request: VerifyRequest {
            level: match cli.level {
                LevelArg::Checksum => VerifyLevel::Checksum,
                LevelArg::Archive => VerifyLevel::Archive,
                LevelArg::Restore => VerifyLevel::Restore,
            },
            client: cli.connection.client(),
            maintenance_db: cli.maintenance_db.clone(),
            key,
        },
        store: cli.store.options(),
        record_results: !cli.no_record,
        log,
        progress: Progress::new(cli.log.quiet),
    };
    let sink = RecordSink::new(std::io::stdout());
    if cli.paths.is_empty() {
        verifier.run_stdin(std::io::stdin().lock(), &sink)
    } else {
        verifier.run_paths(&cli.paths, &sink)
    }
}

impl Verifier {
    /// Verifies the records read from `input`, passing everything on.
    pub fn run_stdin<W: Write>(&self, input: impl BufRead, sink: &RecordSink<W>) -> ExitStatus {
        let mut status = ExitStatus::Success;
        for item in read_items(input) {
            let outcome = match forward(item, sink, TOOL, &self.log) {
                Forwarded::Backup(record) => self.verify_and_emit(*record, sink),
                Forwarded::PassedOn { failed: true } => ExitStatus::Failed,
                Forwarded::PassedOn { failed: false } => ExitStatus::Success,
            };
            status = status.worst(outcome);
        }
        status
    }

    /// Verifies the backups named by path arguments.
    pub fn run_paths<W: Write>(&self, paths: &[String], sink: &RecordSink<W>) -> ExitStatus {
        let mut status = ExitStatus::Success;
        // `dir/*` names a data file, its sidecar and its manifest: one backup.
        let mut seen = std::collections::HashSet::new();
        for arg in paths {
            if remote::is_url(arg) && !arg.starts_with("file://") {
                status = status.worst(self.run_remote(arg, &self.store, sink));
                continue;
            }
            let resolved = match resolve_argument(arg) {
                Ok(resolved) => resolved,
                Err(e) => {
                    self.log.error(&e.to_string());
                    let record = ErrorRecord::from_error(TOOL, &e).path(arg.as_str());
                    status = status.worst(
                        self.emit(sink, &record.to_json_line())
                            .worst(e.exit_status()),
                    );
                    continue;
                }
            };
            for manifest in resolved {
                if let Ok(path) = &manifest {
                    if !seen.insert(path.clone()) {
                        continue;
                    }
                }
                let record = manifest.and_then(|path| match read_manifest(&path)? {
                    Some(record) => Ok(record),
                    None => Err(Error::Integrity {
                        path,
                        message: "not a pgb manifest".into(),
                    }),
                });
                let outcome = match record {
                    Ok(record) => self.verify_and_emit(record, sink),
                    Err(e) => {
                        self.log.error(&e.to_string());
                        let mut record = ErrorRecord::from_error(TOOL, &e);
                        if let Error::Integrity { path, .. } | Error::Io { path, .. } = &e {
                            record.path = Some(path.clone());
                        }
                        self.emit(sink, &record.to_json_line())
                            .worst(ExitStatus::Failed)
                    }
                };
                status = status.worst(outcome);
            }
        }
        status
    }

    fn verify_and_emit<W: Write>(&self, record: BackupRecord, sink: &RecordSink<W>) -> ExitStatus {
        let bar = self.progress.bytes(&record.id, Some(record.bytes));
        let mut section = verify_backup(&record, &self.request, &bar);
        bar.finish_and_clear();
        let manifest_ok = section.checks.iter().any(|c| c.name == "manifest" && c.ok);
        if self.record_results && manifest_ok {
            if let Err(e) = record_result(&record, &section) {
                section.ok = false;
                section.checks.push(pgb_core::record::CheckResult {
                    name: "record".into(),
                    ok: false,
                    detail: Some(format!("cannot write the result into the manifest: {e}")),
                });
                section.error = Some(format!("record: {e}"));
            }
        }
        self.report(record, section, sink)
    }

    /// Logs and prints a verified record; failed verification is exit 1.
    fn report<W: Write>(
        &self,
        mut record: BackupRecord,
        section: VerifySection,
        sink: &RecordSink<W>,
    ) -> ExitStatus {
        let label = record.path.display().to_string();
        let ok = section.ok;
        if ok {
            self.log
                .info(&format!("{label}: ok ({} level)", section.level));
        } else {
            self.log.error(&format!(
                "{label}: FAILED: {}",
                section.error.clone().unwrap_or_default()
            ));
        }
        record.verify = Some(section);
        let status = self.emit(sink, &record.to_json_line());
        if ok {
            status
        } else {
            ExitStatus::Failed
        }
    }

    /// Verifies every backup of a remote store: each is fetched into a work
    /// folder (hashed as it downloads) and checked there. Results are not
    /// written back: pgb never overwrites a remote manifest.
    pub fn run_remote<W: Write>(
        &self,
        url: &str,
        options: &StoreOptions,
        sink: &RecordSink<W>,
    ) -> ExitStatus {
        let fatal = |e: &Error| {
            self.log.error(&e.to_string());
            let record = ErrorRecord::from_error(TOOL, e).path(url);
            self.emit(sink, &record.to_json_line())
                .worst(ExitStatus::Failed)
        };
        let store = match remote::open(url, options) {
            Ok(store) => store,
            Err(e) => return fatal(&e),
        };
        let catalog = match scan_store(store.as_ref()) {
            Ok(catalog) => catalog,
            Err(e) => return fatal(&e),
        };
        let mut status = ExitStatus::Success;
        for record in catalog.backups {
            let work = match work_dir() {
                Ok(work) => work,
                Err(e) => return fatal(&e),
            };
            let section = match fetch_backup(store.as_ref(), &record, work.path()) {
                Ok(local) => {
                    let bar = self.progress.bytes(&record.id, Some(record.bytes));
                    let section = verify_backup(&local, &self.request, &bar);
                    bar.finish_and_clear();
                    section
                }
                Err(e) => VerifySection {
                    ok: false,
                    level: self.request.level.as_str().to_string(),
                    checks: vec![pgb_core::record::CheckResult {
                        name: "download".into(),
                        ok: false,
                        detail: Some(e.to_string()),
                    }],
                    verified_at: chrono::Utc::now(),
                    error: Some(format!("download: {e}")),
                },
            };
            status = status.worst(self.report(record, section, sink));
        }
        status
    }

    fn emit<W: Write>(&self, sink: &RecordSink<W>, line: &str) -> ExitStatus {
        match sink.emit_line(line) {
            Ok(()) => ExitStatus::Success,
            Err(e) => {
                self.log.error(&format!("cannot write to stdout: {e}"));
                ExitStatus::Failed
            }
        }
    }
}

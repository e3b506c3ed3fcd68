//! pgb-prune: builds the retention policy from the command line, reads the
//! folder's catalog, lets pgb-core's pure `retention::decide` choose per
//! series, then (unless `--dry-run`) deletes exactly what was decided. The
//! decisions are computed before anything is deleted, so a dry run and a
//! real run print the same decisions.

pub mod cli;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use pgb_core::catalog::{delete_backup, Catalog};
use pgb_core::dump::lock_key;
use pgb_core::jsonl::RecordSink;
use pgb_core::log::HumanLog;
use pgb_core::record::{ErrorRecord, PruneRecord, PROTOCOL_VERSION};
use pgb_core::remote::Store;
use pgb_core::remote_catalog::delete_remote_backup;
use pgb_core::retention::{decide, BackupFacts, Period, RetentionPolicy};
use pgb_core::units::parse_chrono_duration;
use pgb_core::{lock, Error, ExitStatus, Result};

use cli::Cli;

pub const TOOL: &str = "pgb-prune";

pub fn main_entry(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    pgb_cli::run_main::<Cli>(TOOL, args, run)
}

pub fn run(cli: &Cli) -> ExitStatus {
    let log = match cli.log.open(TOOL) {
        Ok(log) => log,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    let policy = match policy(cli, std::env::var("RETENTION_DAYS").ok()) {
        Ok(policy) => policy,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    let location = match cli.location.open(&cli.store) {
        Ok(location) => location,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &e),
    };
    let catalog = match location.catalog(cli.location.recursive) {
        Ok(catalog) => catalog,
        Err(e) => return pgb_core::exit::report_fatal(TOOL, &Error::Setup(e.to_string())),
    };
    for (path, problem) in &catalog.damaged {
        log.warn(&format!("{}: left alone: {problem}", path.display()));
    }
    let now = cli.now.unwrap_or_else(Utc::now);
    let plan = plan(&catalog, &policy, &cli.databases, now, cli.partial_max_age);
    let sink = RecordSink::new(std::io::stdout());
    execute(&plan, cli.dry_run, location.store(), &log, &sink)
}

/// Builds the policy; no rule at all is a usage error.
pub fn policy(cli: &Cli, retention_days: Option<String>) -> Result<RetentionPolicy> {
    let keep_within = match (&cli.keep_within, retention_days) {
        (Some(text), _) => Some(
            parse_chrono_duration(text).map_err(|e| Error::Usage(format!("--keep-within: {e}")))?,
        ),
        (None, Some(days)) if !days.trim().is_empty() => {
            let days: u32 = days.trim().parse().map_err(|_| {
                Error::Usage(format!(
                    "RETENTION_DAYS={days:?} is not a whole number of days"
                ))
            })?;
            Some((chrono::Duration::days(i64::from(days)), format!("{days}d")))
        }
        _ => None,
    };
    let counts = [
        cli.keep_hourly,
        cli.keep_daily,
        cli.keep_weekly,
        cli.keep_monthly,
        cli.keep_yearly,
    ];
    let policy = RetentionPolicy {
        keep_last: cli.keep_last,
        keep_within,
        keep_periods: Period::ALL
            .iter()
            .zip(counts)
            .filter_map(|(p, n)| n.map(|n| (*p, n)))
            .collect(),
        keep_labels: cli.keep_label.clone(),
        min_keep: cli.min_keep,
    };
    if !policy.has_rules() {
        return Err(Error::Usage(
            "no retention rule given: use --keep-last, --keep-within (or RETENTION_DAYS), \
             --keep-hourly/daily/weekly/monthly/yearly or --keep-label; pgb-prune never means \
             \"delete everything\""
                .into(),
        ));
    }
    Ok(policy)
}

/// What one run will do, decided before anything is deleted.
#[derive(Debug)]
pub struct PrunePlan<'a> {
    pub backups: Vec<(&'a pgb_core::record::BackupRecord, PruneRecord)>,
    pub partials: Vec<PruneRecord>,
}

/// Decides for every series and stale partial file in the catalog.
pub fn plan<'a>(
    catalog: &'a Catalog,
    policy: &RetentionPolicy,
    databases: &[String],
    now: DateTime<Utc>,
    partial_max_age: std::time::Duration,
) -> PrunePlan<'a> {
    let mut backups = Vec::new();
    for series in catalog.series() {
        if !databases.is_empty() && !databases.contains(&series.database) {
            continue;
        }
        let locked = lock::is_held(&series.dir, &lock_key(series.kind, &series.database));
        let facts: Vec<BackupFacts> = series
            .backups
            .iter()
            .map(|b| BackupFacts {
                id: b.id.clone(),
                started_at: b.started_at,
                verified: b.verify.as_ref().map(|v| v.ok),
                label: b.label.clone(),
            })
            .collect();
        let decisions = decide(policy, &facts, now);
        for (backup, decision) in series.backups.iter().zip(decisions) {
            let (keep, reasons) = if locked {
                (
                    true,
                    vec!["lock held: a pgb-dump of this database is running".to_string()],
                )
            } else {
                (decision.keep, decision.reasons)
            };
            backups.push((
                *backup,
                record("backup", keep, &backup.path, reasons, Some(backup)),
            ));
        }
    }
    let mut partials = Vec::new();
    let cutoff = SystemTime::now().checked_sub(partial_max_age);
    for path in &catalog.partials {
        let modified = path.metadata().and_then(|m| m.modified()).ok();
        let stale = matches!((modified, cutoff), (Some(m), Some(c)) if m < c);
        let busy = path.parent().is_some_and(lock::any_held);
        if stale && !busy {
            partials.push(record("partial", false, path, Vec::new(), None));
        }
    }
    PrunePlan { backups, partials }
}

fn record(
    subject: &str,
    keep: bool,
    path: &std::path::Path,
    reasons: Vec<String>,
    backup: Option<&pgb_core::record::BackupRecord>,
) -> PruneRecord {
    PruneRecord {
        pgb: PROTOCOL_VERSION,
        record_type: PruneRecord::TYPE.to_string(),
        action: if keep { "keep" } else { "delete" }.to_string(),
        subject: subject.to_string(),
        path: path.to_path_buf(),
        id: backup.map(|b| b.id.clone()),
        database: backup.map(|b| b.database.clone()),
        kind: backup.map(|b| b.kind),
        started_at: backup.map(|b| b.started_at),
        reasons,
        dry_run: false,
        deleted: false,
    }
}

/// Carries out a plan (or, with `dry_run`, only reports it).
pub fn execute<W: std::io::Write>(
    plan: &PrunePlan<'_>,
    dry_run: bool,
    store: Option<&dyn Store>,
    log: &HumanLog,
    sink: &RecordSink<W>,
) -> ExitStatus {
    let mut status = ExitStatus::Success;
    let mut emit = |line: String| {
        if let Err(e) = sink.emit_line(&line) {
            log.error(&format!("cannot write to stdout: {e}"));
            status = ExitStatus::Failed;
        }
    };
    let mut deleted = 0;
    let mut failed = 0;
    let jobs = plan
        .backups
        .iter()
        .map(|(b, r)| (Some(*b), r))
        .chain(plan.partials.iter().map(|r| (None, r)));
    for (backup, planned) in jobs {
        let mut out = planned.clone();
        out.dry_run = dry_run;
        if out.action == "delete" && !dry_run {
            let result = match (backup, store) {
                (Some(b), Some(store)) => delete_remote_backup(store, b),
                (Some(b), None) => delete_backup(b),
                (None, _) => pgb_core::publish::remove_if_exists(&out.path),
            };
            match result {
                Ok(()) => {
                    out.deleted = true;
                    deleted += 1;
                    log.info(&format!("deleted {}", out.path.display()));
                }
                Err(e) => {
                    failed += 1;
                    log.error(&format!("cannot delete {}: {e}", out.path.display()));
                    let mut error = ErrorRecord::from_error(TOOL, &e).path(out.path.clone());
                    error.database = out.database.clone();
                    emit(error.to_json_line());
                }
            }
        }
        emit(out.to_json_line());
    }
    let planned = plan
        .backups
        .iter()
        .filter(|(_, r)| r.action == "delete")
        .count()
        + plan.partials.len();
    if dry_run {
        log.info(&format!(
            "dry run: would delete {planned} item(s); nothing deleted"
        ));
    } else {
        log.info(&format!("deleted {deleted} of {planned} item(s)"));
    }
    if failed > 0 {
        status = ExitStatus::Failed;
    }
    status
}

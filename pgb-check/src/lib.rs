//! pgb-check: reads a backup folder's catalog, runs the checks, prints them
//! in the chosen format, optionally writes Prometheus metrics and posts a
//! webhook, and exits with the monitoring-plugin status.

pub mod checks;
pub mod cli;
pub mod output;
pub mod webhook;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use pgb_core::record::{CheckRecord, PROTOCOL_VERSION};
use pgb_core::remote_catalog::Location;

use checks::{evaluate, CheckSettings, Report, Source, Status};
use cli::{Cli, OutputFormat};

pub const TOOL: &str = "pgb-check";

/// pgb-check exits 3 (UNKNOWN) for bad arguments, per the plugin convention.
pub fn main_entry(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let status = match Cli::try_parse_from(args) {
        Ok(cli) => run(&cli),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                pgb_core::exit::report_usage_message(TOOL, &e.to_string());
                Status::Unknown
            } else {
                Status::Ok
            }
        }
    };
    ExitCode::from(status as u8)
}

pub fn run(cli: &Cli) -> Status {
    let log = match cli.log.open(TOOL) {
        Ok(log) => log,
        Err(e) => {
            pgb_core::exit::report_fatal(TOOL, &e);
            return Status::Unknown;
        }
    };
    if cli.critical_age < cli.max_age {
        return unknown(
            cli,
            "--critical-age must not be shorter than --max-age".into(),
        );
    }
    if cli.size_change.is_nan() || cli.size_change < 0.0 {
        return unknown(
            cli,
            "--size-change must be a percentage of zero or more".into(),
        );
    }
    let location = match cli.location.open(&cli.store) {
        Ok(location) => location,
        Err(e) => return unknown(cli, e.to_string()),
    };
    let source = match &location {
        Location::Local(dir) => Source::Local(dir),
        Location::Remote(store) => Source::Remote(store.as_ref()),
    };
    let catalog = match location.catalog(cli.location.recursive) {
        Ok(catalog) => catalog,
        Err(e) => {
            return unknown(
                cli,
                format!("cannot read the backups at {}: {e}", location.label()),
            )
        }
    };

    let settings = CheckSettings {
        databases: cli.databases.clone(),
        max_age: cli.max_age,
        critical_age: cli.critical_age,
        require_verified: cli.require_verified,
        size_change_percent: cli.size_change,
        min_count: cli.min_count,
        partial_max_age: cli.partial_max_age,
        deep: cli.deep,
        min_free: cli.min_free,
        now: cli.now.unwrap_or_else(chrono::Utc::now),
    };
    let report = evaluate(source, &catalog, &settings);
    finish(cli, &report, &log)
}

/// A result that could not be computed: one UNKNOWN check, exit 3.
fn unknown(cli: &Cli, message: String) -> Status {
    let mut report = Report::default();
    report.checks.push(CheckRecord {
        pgb: PROTOCOL_VERSION,
        record_type: CheckRecord::TYPE.to_string(),
        database: None,
        kind: None,
        check: "folder".into(),
        status: Status::Unknown.as_str().into(),
        message,
        figures: Default::default(),
    });
    match cli.log.open(TOOL) {
        Ok(log) => finish(cli, &report, &log),
        Err(_) => Status::Unknown,
    }
}

fn finish(cli: &Cli, report: &Report, log: &pgb_core::log::HumanLog) -> Status {
    let status = report.status();
    let text = match cli.format {
        OutputFormat::Json => output::json_lines(report),
        OutputFormat::Nagios => output::nagios_line(report),
        OutputFormat::Prometheus => output::prometheus_text(report),
    };
    print!("{text}");
    if let Some(path) = &cli.prometheus_file {
        if let Err(e) =
            pgb_core::publish::replace_file(path, output::prometheus_text(report).as_bytes())
        {
            log.error(&format!("cannot write --prometheus-file: {e}"));
        }
    }
    for c in report.checks.iter().filter(|c| c.status != "OK") {
        log.warn(&format!("{}: {}", c.status, c.message));
    }
    if status != Status::Ok {
        if let Some(url) = &cli.webhook {
            if let Err(e) = webhook::post(url, report) {
                log.error(&e);
            }
        }
    }
    status
}

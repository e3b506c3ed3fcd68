//! The three output formats of pgb-check: JSON check records, the single
//! monitoring-plugin line with performance data, and the Prometheus text
//! exposition format.

use std::fmt::Write;

use crate::checks::{Report, Status};

/// One JSON line per check.
pub fn json_lines(report: &Report) -> String {
    report
        .checks
        .iter()
        .map(|c| c.to_json_line() + "\n")
        .collect()
}

/// `PGB STATUS - summary | perfdata`, the Nagios/Icinga plugin format.
pub fn nagios_line(report: &Report) -> String {
    let status = report.status();
    let problems: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.status != "OK")
        .map(|c| c.message.as_str())
        .collect();
    let summary = if problems.is_empty() {
        let newest: Vec<String> = report
            .series
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s.database,
                    s.newest.as_ref().map_or("-", |b| b.id.as_str())
                )
            })
            .collect();
        format!(
            "{} series checked, newest: {}",
            report.series.len(),
            newest.join(", ")
        )
    } else {
        problems.join("; ")
    };
    let mut perf = Vec::new();
    for c in &report.checks {
        let Some(db) = &c.database else { continue };
        let label = perf_label(db);
        match c.check.as_str() {
            "age" => perf.push(format!(
                "'{label}_age'={}s;{};{}",
                c.figures["age_seconds"],
                c.figures["warning_seconds"],
                c.figures["critical_seconds"]
            )),
            "size" => perf.push(format!("'{label}_size'={}B", c.figures["bytes"])),
            "count" => perf.push(format!(
                "'{label}_count'={};{}:",
                c.figures["count"], c.figures["min_count"]
            )),
            _ => {}
        }
    }
    let summary = summary.replace('|', "/").replace('\n', " ");
    if perf.is_empty() {
        format!("PGB {} - {summary}\n", status.as_str())
    } else {
        format!("PGB {} - {summary} | {}\n", status.as_str(), perf.join(" "))
    }
}

fn perf_label(db: &str) -> String {
    db.replace(['\'', '=', ' '], "_")
}

/// Prometheus text exposition format, one gauge family at a time.
pub fn prometheus_text(report: &Report) -> String {
    let mut out = String::new();
    let family = |out: &mut String, name: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
    };
    let labels = |db: &str, kind: &str| format!("database=\"{}\",kind=\"{}\"", escape(db), kind);
    let kind_name = |k: pgb_core::record::BackupKind| match k {
        pgb_core::record::BackupKind::Database => "database",
        pgb_core::record::BackupKind::Globals => "globals",
    };

    family(
        &mut out,
        "pgb_last_backup_timestamp_seconds",
        "Finish time of the newest complete backup (Unix time).",
    );
    for s in &report.series {
        if let Some(b) = &s.newest {
            let _ = writeln!(
                out,
                "pgb_last_backup_timestamp_seconds{{{}}} {}",
                labels(&s.database, kind_name(s.kind)),
                b.finished_at.timestamp()
            );
        }
    }
    family(
        &mut out,
        "pgb_last_backup_size_bytes",
        "Stored size of the newest complete backup.",
    );
    for s in &report.series {
        if let Some(b) = &s.newest {
            let _ = writeln!(
                out,
                "pgb_last_backup_size_bytes{{{}}} {}",
                labels(&s.database, kind_name(s.kind)),
                b.bytes
            );
        }
    }
    family(&mut out, "pgb_backups", "Number of complete backups.");
    for s in &report.series {
        let _ = writeln!(
            out,
            "pgb_backups{{{}}} {}",
            labels(&s.database, kind_name(s.kind)),
            s.count
        );
    }
    family(
        &mut out,
        "pgb_last_verified_timestamp_seconds",
        "Verification time of the newest backup that passed verification (Unix time).",
    );
    for s in &report.series {
        if let Some(t) = s.last_verified_at {
            let _ = writeln!(
                out,
                "pgb_last_verified_timestamp_seconds{{{}}} {}",
                labels(&s.database, kind_name(s.kind)),
                t.timestamp()
            );
        }
    }
    family(
        &mut out,
        "pgb_check_status",
        "Status of one check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    );
    for c in &report.checks {
        let status = Status::parse(&c.status) as u8;
        let db = c.database.as_deref().unwrap_or("");
        let kind = c.kind.map_or("", kind_name);
        let _ = writeln!(
            out,
            "pgb_check_status{{{},check=\"{}\"}} {status}",
            labels(db, kind),
            c.check
        );
    }
    family(
        &mut out,
        "pgb_check_overall_status",
        "Worst status of all checks: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    );
    let _ = writeln!(out, "pgb_check_overall_status {}", report.status() as u8);
    out
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

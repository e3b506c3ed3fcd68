//! The checks themselves: from a catalog (manifests only, never file times
//! or names) to a list of check records and the figures the output formats
//! need. Nothing here prints or exits.

use std::path::Path;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use pgb_core::catalog::{parse_sidecar, Catalog, Series};
use pgb_core::record::{BackupKind, BackupRecord, CheckRecord, PROTOCOL_VERSION};
use pgb_core::remote::Store;
use pgb_core::remote_catalog::{data_name, fetch_sidecar};
use pgb_core::units::SpaceThreshold;
use serde_json::{json, Map, Value};

/// Monitoring statuses, ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(text: &str) -> Status {
        match text {
            "OK" => Status::Ok,
            "WARNING" => Status::Warning,
            "CRITICAL" => Status::Critical,
            _ => Status::Unknown,
        }
    }
}

/// The thresholds of a run.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub databases: Vec<String>,
    pub max_age: std::time::Duration,
    pub critical_age: std::time::Duration,
    pub require_verified: bool,
    pub size_change_percent: f64,
    pub min_count: usize,
    pub partial_max_age: std::time::Duration,
    pub deep: bool,
    pub min_free: Option<SpaceThreshold>,
    pub now: DateTime<Utc>,
}

/// Per-series facts for metrics and performance data.
#[derive(Debug, Clone)]
pub struct SeriesFigures {
    pub database: String,
    pub kind: BackupKind,
    pub count: usize,
    pub newest: Option<BackupRecord>,
    pub last_verified_at: Option<DateTime<Utc>>,
}

/// Everything a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<CheckRecord>,
    pub series: Vec<SeriesFigures>,
}

impl Report {
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|c| Status::parse(&c.status))
            .max()
            .unwrap_or(Status::Ok)
    }

    fn add(
        &mut self,
        series: Option<(&str, BackupKind)>,
        check: &str,
        status: Status,
        message: String,
        figures: Value,
    ) {
        let figures = match figures {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.checks.push(CheckRecord {
            pgb: PROTOCOL_VERSION,
            record_type: CheckRecord::TYPE.to_string(),
            database: series.map(|s| s.0.to_string()),
            kind: series.map(|s| s.1),
            check: check.to_string(),
            status: status.as_str().to_string(),
            message,
            figures,
        });
    }
}

/// Runs every check on the catalog of `dir`.
/// Where the checked backups are.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Local(&'a Path),
    Remote(&'a dyn Store),
}

impl Source<'_> {
    fn describe(&self) -> String {
        match self {
            Source::Local(dir) => dir.display().to_string(),
            Source::Remote(store) => store.url(),
        }
    }

    fn sidecar_text(&self, b: &BackupRecord) -> Option<String> {
        match self {
            Source::Local(_) => std::fs::read_to_string(b.sidecar_path()).ok(),
            Source::Remote(store) => fetch_sidecar(*store, b),
        }
    }

    /// Size and SHA-256 of the stored data file, read in full.
    fn rehash(&self, b: &BackupRecord) -> pgb_core::Result<(u64, String)> {
        match self {
            Source::Local(_) => rehash(&b.path),
            Source::Remote(store) => {
                let mut writer = pgb_core::stream::HashingWriter::new(std::io::sink());
                store.get(&data_name(b), &mut writer)?;
                let (_, digest) = writer.finish();
                Ok((digest.bytes, digest.sha256))
            }
        }
    }
}

pub fn evaluate(source: Source<'_>, catalog: &Catalog, settings: &CheckSettings) -> Report {
    let mut report = Report::default();
    let all = catalog.series();
    let selected: Vec<&Series<'_>> = all
        .iter()
        .filter(|s| settings.databases.is_empty() || settings.databases.contains(&s.database))
        .collect();
    for name in &settings.databases {
        if !all.iter().any(|s| &s.database == name) {
            report.add(
                Some((name, BackupKind::Database)),
                "exists",
                Status::Critical,
                format!("{name}: no complete backup in {}", source.describe()),
                json!({"count": 0}),
            );
        }
    }
    for series in selected {
        check_series(&mut report, series, settings, source);
    }
    check_folder(&mut report, source, catalog, settings);
    report
}

fn check_series(
    report: &mut Report,
    series: &Series<'_>,
    settings: &CheckSettings,
    source: Source<'_>,
) {
    let key = Some((series.database.as_str(), series.kind));
    let name = &series.database;
    let Some(newest) = series.backups.last().copied() else {
        return;
    };
    report.series.push(SeriesFigures {
        database: name.clone(),
        kind: series.kind,
        count: series.backups.len(),
        newest: Some(newest.clone()),
        last_verified_at: series
            .backups
            .iter()
            .rev()
            .find_map(|b| b.verify.as_ref().filter(|v| v.ok).map(|v| v.verified_at)),
    });

    // Age of the newest backup.
    let age = (settings.now - newest.finished_at).num_seconds().max(0);
    let (warn, crit) = (settings.max_age.as_secs(), settings.critical_age.as_secs());
    let status = match u64::try_from(age).unwrap_or(0) {
        a if a > crit => Status::Critical,
        a if a > warn => Status::Warning,
        _ => Status::Ok,
    };
    report.add(
        key,
        "age",
        status,
        format!("{name}: newest backup {} old ({})", human_age(age), newest.id),
        json!({"age_seconds": age, "warning_seconds": warn, "critical_seconds": crit, "newest": newest.id}),
    );

    // Verification of the newest backup.
    let (status, message) = match &newest.verify {
        Some(v) if !v.ok => (
            Status::Critical,
            format!(
                "{name}: newest backup {} FAILED verification: {}",
                newest.id,
                v.error.clone().unwrap_or_default()
            ),
        ),
        Some(v) => (
            Status::Ok,
            format!(
                "{name}: newest backup verified ({} level) at {}",
                v.level, v.verified_at
            ),
        ),
        None if settings.require_verified => (
            Status::Warning,
            format!("{name}: newest backup {} was never verified", newest.id),
        ),
        None => (
            Status::Ok,
            format!("{name}: newest backup not verified (not required)"),
        ),
    };
    report.add(key, "verified", status, message, json!({}));

    // Size against the median of the previous ones.
    let previous: Vec<u64> = series
        .backups
        .iter()
        .rev()
        .skip(1)
        .take(30)
        .map(|b| b.bytes)
        .collect();
    let (status, message, figures) = match median(previous) {
        None => (
            Status::Ok,
            format!(
                "{name}: {} bytes (no earlier backup to compare)",
                newest.bytes
            ),
            json!({"bytes": newest.bytes}),
        ),
        Some(median) => {
            let change = if median == 0 {
                if newest.bytes == 0 {
                    0.0
                } else {
                    100.0
                }
            } else {
                (newest.bytes as f64 - median as f64).abs() / median as f64 * 100.0
            };
            let status = if change > settings.size_change_percent {
                Status::Warning
            } else {
                Status::Ok
            };
            (
                status,
                format!("{name}: newest backup {} bytes, {change:.0}% off the median {median} of earlier ones", newest.bytes),
                json!({"bytes": newest.bytes, "median_bytes": median, "change_percent": change}),
            )
        }
    };
    report.add(key, "size", status, message, figures);

    // How many.
    let count = series.backups.len();
    let status = if count < settings.min_count {
        Status::Warning
    } else {
        Status::Ok
    };
    report.add(
        key,
        "count",
        status,
        format!(
            "{name}: {count} complete backup(s), minimum {}",
            settings.min_count
        ),
        json!({"count": count, "min_count": settings.min_count}),
    );

    check_sidecars(report, series, settings.deep, source);
}

fn check_sidecars(report: &mut Report, series: &Series<'_>, deep: bool, source: Source<'_>) {
    let key = Some((series.database.as_str(), series.kind));
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for b in &series.backups {
        match source.sidecar_text(b).and_then(|t| parse_sidecar(&t)) {
            None => missing.push(b.id.clone()),
            Some((hex, _)) if hex != b.sha256 => {
                wrong.push(format!("{}: sidecar disagrees with manifest", b.id))
            }
            Some(_) => {}
        }
        if deep {
            match source.rehash(b) {
                Ok((bytes, sha)) if bytes != b.bytes || sha != b.sha256 => wrong.push(format!(
                    "{}: data file has {bytes} bytes sha256 {sha}, manifest says {} bytes {}",
                    b.id, b.bytes, b.sha256
                )),
                Ok(_) => {}
                Err(e) => wrong.push(format!("{}: {e}", b.id)),
            }
        }
    }
    let checked = series.backups.len();
    let (status, message) = if !wrong.is_empty() {
        (Status::Critical, wrong.join("; "))
    } else if !missing.is_empty() {
        (
            Status::Warning,
            format!(
                "{}: missing or unreadable .sha256 sidecar for {}",
                series.database,
                missing.join(", ")
            ),
        )
    } else {
        (
            Status::Ok,
            format!(
                "{}: {checked} sidecar(s) agree with their manifests{}",
                series.database,
                if deep { ", data re-hashed" } else { "" }
            ),
        )
    };
    report.add(key, "sidecar", status, message, json!({"checked": checked, "missing": missing.len(), "mismatched": wrong.len(), "deep": deep}));
}

fn rehash(path: &Path) -> pgb_core::Result<(u64, String)> {
    use pgb_core::exit::IoContext;
    let file = std::fs::File::open(path).at(path)?;
    let (_, digest) = pgb_core::stream::HashingReader::new(file)
        .finish()
        .at(path)?;
    Ok((digest.bytes, digest.sha256))
}

fn check_folder(
    report: &mut Report,
    source: Source<'_>,
    catalog: &Catalog,
    settings: &CheckSettings,
) {
    let cutoff = SystemTime::now().checked_sub(settings.partial_max_age);
    let stale: Vec<String> = catalog
        .partials
        .iter()
        .filter(|p| {
            // A remote store keeps no partial files of running dumps: any
            // leftover there is stale.
            if matches!(source, Source::Remote(_)) {
                return true;
            }
            let modified = p.metadata().and_then(|m| m.modified()).ok();
            matches!((modified, cutoff), (Some(m), Some(c)) if m < c)
        })
        .map(|p| p.display().to_string())
        .collect();
    report.add(
        None,
        "partials",
        if stale.is_empty() {
            Status::Ok
        } else {
            Status::Warning
        },
        if stale.is_empty() {
            "no stale partial files".to_string()
        } else {
            format!(
                "{} stale partial file(s) from runs that died: {}",
                stale.len(),
                stale.join(", ")
            )
        },
        json!({"stale": stale.len()}),
    );
    if !catalog.damaged.is_empty() {
        let list: Vec<String> = catalog
            .damaged
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display()))
            .collect();
        report.add(
            None,
            "manifests",
            Status::Critical,
            list.join("; "),
            json!({"damaged": list.len()}),
        );
    }
    if let Some(threshold) = settings.min_free {
        let Source::Local(dir) = source else {
            report.add(
                None,
                "space",
                Status::Ok,
                "free space is not checked on remote stores".into(),
                json!({}),
            );
            return;
        };
        let (status, message, figures) = match rustix::fs::statvfs(dir) {
            Ok(s) => {
                let available = s.f_bavail.saturating_mul(s.f_frsize);
                let total = s.f_blocks.saturating_mul(s.f_frsize).max(1);
                let percent = available as f64 / total as f64 * 100.0;
                let low = match threshold {
                    SpaceThreshold::Bytes(b) => available < b,
                    SpaceThreshold::Percent(p) => percent < p,
                };
                (
                    if low { Status::Warning } else { Status::Ok },
                    format!(
                        "{available} bytes free ({percent:.1}%) in {}",
                        dir.display()
                    ),
                    json!({"free_bytes": available, "total_bytes": total, "free_percent": percent}),
                )
            }
            Err(e) => (
                Status::Unknown,
                format!("{}: cannot read free space: {e}", dir.display()),
                json!({}),
            ),
        };
        report.add(None, "space", status, message, figures);
    }
}

fn median(mut values: Vec<u64>) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2
    } else {
        values[mid]
    })
}

/// "3h 5m", "2d 4h": ages as people read them.
pub fn human_age(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ages() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
        assert_eq!(human_age(59), "0m");
        assert_eq!(human_age(3 * 3600 + 300), "3h 5m");
        assert_eq!(human_age(2 * 86_400 + 4 * 3600), "2d 4h");
    }
}

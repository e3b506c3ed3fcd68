//! Choosing what to restore: path arguments, `--latest` from a folder's
//! catalog (skipping incomplete and failed backups, and saying so), and the
//! `--list` view.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use pgb_core::catalog::{read_manifest, resolve_argument, MANIFEST_SUFFIX};
use pgb_core::log::HumanLog;
use pgb_core::record::{BackupKind, BackupRecord};
use pgb_core::remote_catalog::Location;
use pgb_core::{Error, Result};

/// The backups named by path arguments.
pub fn from_paths(paths: &[String]) -> Result<Vec<BackupRecord>> {
    let mut records = Vec::new();
    for arg in paths {
        for manifest in resolve_argument(arg)? {
            let manifest = manifest?;
            match read_manifest(&manifest)? {
                Some(record) if !records.iter().any(|r: &BackupRecord| r.path == record.path) => {
                    records.push(record)
                }
                Some(_) => {}
                None => {
                    return Err(Error::Integrity {
                        path: manifest,
                        message: "not a pgb manifest".into(),
                    })
                }
            }
        }
    }
    Ok(records)
}

/// Data files that have no manifest: dumps that never completed.
fn incomplete_files(names: &[String]) -> Vec<String> {
    let mut incomplete: Vec<String> = names
        .iter()
        .filter(|n| {
            !n.starts_with('.')
                && [".sql.gz", ".sql.zst", ".sql", ".dump"]
                    .iter()
                    .any(|ext| n.ends_with(ext) || n.ends_with(&format!("{ext}.age")))
                && !names.contains(&format!("{n}{MANIFEST_SUFFIX}"))
        })
        .cloned()
        .collect();
    incomplete.sort();
    incomplete
}

/// The newest complete backup of `database` that did not fail verification.
pub fn latest(location: &Location, database: Option<&str>, log: &HumanLog) -> Result<BackupRecord> {
    let catalog = location.catalog(false)?;
    for name in incomplete_files(&location.names()) {
        log.warn(&format!(
            "skipping {name}: no manifest, not a complete backup"
        ));
    }
    let candidates: Vec<&BackupRecord> = catalog
        .backups
        .iter()
        .filter(|b| b.kind == BackupKind::Database)
        .filter(|b| database.is_none_or(|d| b.database == d))
        .collect();
    let mut names: Vec<&str> = candidates.iter().map(|b| b.database.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if database.is_none() && names.len() > 1 {
        return Err(Error::Usage(format!(
            "--latest: {} holds backups of several databases ({}); choose one with --database",
            location.label(),
            names.join(", ")
        )));
    }
    for b in candidates.iter().rev() {
        match &b.verify {
            Some(v) if !v.ok => log.warn(&format!(
                "skipping {}: failed verification at {}: {}",
                b.id,
                v.verified_at,
                v.error.clone().unwrap_or_default()
            )),
            _ => return Ok((*b).clone()),
        }
    }
    Err(Error::Failed(format!(
        "no complete backup{} in {} that passed or awaits verification",
        database.map(|d| format!(" of {d}")).unwrap_or_default(),
        location.label()
    )))
}

/// `--list`: JSON records newest first (with `age_seconds`), or a table
/// when stdout is a terminal.
pub fn list(location: &Location, database: Option<&str>, now: DateTime<Utc>) -> Result<String> {
    let catalog = location.catalog(false)?;
    let mut backups: Vec<BackupRecord> = catalog
        .backups
        .into_iter()
        .filter(|b| database.is_none_or(|d| b.database == d))
        .collect();
    backups.reverse();
    let mut out = String::new();
    if std::io::stdout().is_terminal() {
        out.push_str(&format!(
            "{:<40} {:<16} {:>10} {:>12} {:<14} {}\n",
            "BACKUP", "DATABASE", "AGE", "SIZE", "LABEL", "VERIFIED"
        ));
        for b in &backups {
            let verified = match &b.verify {
                Some(v) if v.ok => format!("ok ({})", v.level),
                Some(_) => "FAILED".to_string(),
                None => "never".to_string(),
            };
            out.push_str(&format!(
                "{:<40} {:<16} {:>10} {:>12} {:<14} {verified}\n",
                b.id,
                b.database,
                age((now - b.finished_at).num_seconds()),
                b.bytes,
                b.label.clone().unwrap_or_default()
            ));
        }
    } else {
        for mut b in backups {
            let age = (now - b.finished_at).num_seconds();
            b.extra.insert("age_seconds".into(), age.into());
            out.push_str(&b.to_json_line());
            out.push('\n');
        }
    }
    Ok(out)
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

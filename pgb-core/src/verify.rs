//! Checking a backup, in one streaming read of its data file whatever the
//! level: the bytes read are hashed and counted (checksum), decompressed and
//! checked for pg_dump's completion trailer or fed to pg_restore (archive),
//! and fed to psql or pg_restore into a scratch database (restore). Every
//! problem becomes a failed check naming expected and found values; this
//! module never stops at the first one. Used by pgb-verify and, for its
//! pre-restore checksum, by pgb-restore.

use std::fs::File;
use std::io::{self, Read};
use std::process::Stdio;

use chrono::Utc;
use indicatif::ProgressBar;

use crate::catalog::{parse_sidecar, read_manifest};
use crate::conn::DbTarget;
use crate::exit::IoContext;
use crate::load::{
    check_tables, feed_child, load_custom_stream, load_plain, pump_plain, LoadOptions,
};
use crate::pg::{quote_ident, run_sql, PgClient, PgProgram, RunningChild};
use crate::record::{BackupKind, BackupRecord, CheckResult, DumpFormat, VerifySection};
use crate::stream::HashingReader;
use crate::trailer::{TrailerWindow, CLUSTER_MARKER, DATABASE_MARKER};
use crate::{Error, Result};

/// How deep a verification goes; each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VerifyLevel {
    Checksum,
    Archive,
    Restore,
}

impl VerifyLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyLevel::Checksum => "checksum",
            VerifyLevel::Archive => "archive",
            VerifyLevel::Restore => "restore",
        }
    }
}

/// Where restore-level checks create their scratch database.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    pub level: VerifyLevel,
    pub client: PgClient,
    /// Database to connect to for CREATE/DROP DATABASE.
    pub maintenance_db: String,
    /// For encrypted backups, at the archive and restore levels.
    pub key: Option<crate::crypto::DecryptionKey>,
}

/// Collects checks as they are made.
#[derive(Debug, Default)]
struct Checks(Vec<CheckResult>);

impl Checks {
    fn pass(&mut self, name: &str, detail: impl Into<Option<String>>) {
        self.0.push(CheckResult {
            name: name.into(),
            ok: true,
            detail: detail.into(),
        });
    }

    fn fail(&mut self, name: &str, detail: String) {
        self.0.push(CheckResult {
            name: name.into(),
            ok: false,
            detail: Some(detail),
        });
    }

    fn check(&mut self, name: &str, ok: bool, detail: String) {
        if ok {
            self.pass(name, Some(detail));
        } else {
            self.fail(name, detail);
        }
    }
}

/// Verifies one backup. `record` is what the caller was given (from stdin or
/// read from the manifest); the manifest on disk is the reference.
pub fn verify_backup(
    record: &BackupRecord,
    request: &VerifyRequest,
    progress: &ProgressBar,
) -> VerifySection {
    let mut checks = Checks::default();
    let manifest = check_manifest(record, &mut checks);
    let reference = manifest.as_ref().unwrap_or(record);
    check_sidecar(reference, &mut checks);
    if let Err(e) = stream_checks(reference, request, progress, &mut checks) {
        checks.fail("read", e.to_string());
    }
    let failures: Vec<String> = checks
        .0
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail.clone().unwrap_or_default()))
        .collect();
    VerifySection {
        ok: failures.is_empty(),
        level: request.level.as_str().to_string(),
        checks: checks.0,
        verified_at: Utc::now(),
        error: (!failures.is_empty()).then(|| failures.join("; ")),
    }
}

fn check_manifest(record: &BackupRecord, checks: &mut Checks) -> Option<BackupRecord> {
    let path = record.manifest_path();
    match read_manifest(&path) {
        Ok(Some(manifest)) => {
            let same = manifest.sha256 == record.sha256 && manifest.bytes == record.bytes;
            checks.check(
                "manifest",
                same,
                if same {
                    path.display().to_string()
                } else {
                    format!(
                        "{} says sha256 {} ({} bytes), the record says {} ({} bytes)",
                        path.display(),
                        manifest.sha256,
                        manifest.bytes,
                        record.sha256,
                        record.bytes
                    )
                },
            );
            Some(manifest)
        }
        Ok(None) => {
            checks.fail(
                "manifest",
                format!("{}: not a pgb manifest", path.display()),
            );
            None
        }
        Err(e) => {
            let detail = match &e {
                Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => format!(
                    "{} is missing: the backup was never completed (or its manifest was removed)",
                    path.display()
                ),
                _ => e.to_string(),
            };
            checks.fail("manifest", detail);
            None
        }
    }
}

fn check_sidecar(reference: &BackupRecord, checks: &mut Checks) {
    let path = reference.sidecar_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return checks.fail("sidecar", format!("{}: {e}", path.display())),
    };
    let base = reference
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match parse_sidecar(&text) {
        None => checks.fail(
            "sidecar",
            format!("{}: not in sha256sum format", path.display()),
        ),
        Some((_, name)) if name != base => checks.fail(
            "sidecar",
            format!("{} names {name:?}, expected {base:?}", path.display()),
        ),
        Some((hex_found, _)) => checks.check(
            "sidecar",
            hex_found == reference.sha256,
            if hex_found == reference.sha256 {
                path.display().to_string()
            } else {
                format!(
                    "{}: sha256 {hex_found} disagrees with manifest {}",
                    path.display(),
                    reference.sha256
                )
            },
        ),
    }
}

/// The single read of the data file with every check of the level.
fn stream_checks(
    reference: &BackupRecord,
    request: &VerifyRequest,
    progress: &ProgressBar,
    checks: &mut Checks,
) -> Result<()> {
    let path = &reference.path;
    let file = File::open(path).at(path)?;
    if let Ok(meta) = file.metadata() {
        progress.set_length(meta.len());
    }
    let mut hashing = HashingReader::new(progress.wrap_read(file));
    let deep = request.level >= VerifyLevel::Archive;
    let globals = reference.kind == BackupKind::Globals;
    let run_level = |input: &mut dyn Read, checks: &mut Checks| {
        if request.level == VerifyLevel::Restore && !globals {
            restore_check(reference, request, input, checks)
        } else {
            archive_check(reference, request, input, checks)
        }
    };
    let outcome = match (&reference.encryption, deep) {
        (_, false) => Ok(()),
        (None, true) => run_level(&mut hashing, checks),
        (Some(sealed), true) => {
            // Decrypt as the file streams; the plaintext digest is checked too.
            crate::crypto::open(&mut hashing, request.key.as_ref()).and_then(|plain| {
                let mut plain = HashingReader::new(plain);
                let result = run_level(&mut plain, checks);
                let (_, digest) = plain.finish().at(path)?;
                checks.check(
                    "plaintext_sha256",
                    digest.sha256 == sealed.plaintext_sha256,
                    format!(
                        "decrypted stream: expected {}, found {}",
                        sealed.plaintext_sha256, digest.sha256
                    ),
                );
                result
            })
        }
    };
    if request.level == VerifyLevel::Restore && globals {
        checks.pass(
            "restore",
            Some(
                "skipped: roles and tablespaces cannot be restored into a scratch database".into(),
            ),
        );
    }
    let (leftover, digest) = hashing.finish().at(path)?;
    if let Err(e) = outcome {
        checks.fail(request.level.as_str(), e.to_string());
    }
    if deep && leftover > 0 && reference.format == DumpFormat::Plain {
        checks.fail(
            "archive",
            format!("{leftover} bytes after the end of the compressed stream"),
        );
    }
    checks.check(
        "size",
        digest.bytes == reference.bytes,
        format!("expected {} bytes, found {}", reference.bytes, digest.bytes),
    );
    checks.check(
        "sha256",
        digest.sha256 == reference.sha256,
        format!("expected {}, found {}", reference.sha256, digest.sha256),
    );
    Ok(())
}

fn marker_for(kind: BackupKind) -> &'static str {
    match kind {
        BackupKind::Database => DATABASE_MARKER,
        BackupKind::Globals => CLUSTER_MARKER,
    }
}

/// Plain: decompress to the end, check the trailer and the raw size.
/// Custom: pg_restore reads the whole archive and writes its SQL script,
/// whose trailer proves every data block was readable.
fn archive_check(
    reference: &BackupRecord,
    request: &VerifyRequest,
    input: &mut dyn Read,
    checks: &mut Checks,
) -> Result<()> {
    let marker = marker_for(reference.kind);
    match reference.format {
        DumpFormat::Plain => {
            let mut trailer = TrailerWindow::new();
            let raw = pump_plain(reference, input, &mut trailer, None)?;
            check_plain_stream(reference, &trailer, raw, checks);
        }
        DumpFormat::Custom => {
            let mut command = request.client.command(PgProgram::PgRestore, None)?;
            command.arg("--file=-");
            let mut child =
                RunningChild::spawn("pg_restore", command, Stdio::piped(), Stdio::piped())?;
            let trailer = feed_child(&mut child, input)?;
            child.wait()?;
            checks.check(
                "archive",
                trailer.is_complete(marker),
                format!(
                    "pg_restore read the whole archive; script ends with {}",
                    trailer.describe_end()
                ),
            );
        }
    }
    Ok(())
}

fn check_plain_stream(
    reference: &BackupRecord,
    trailer: &TrailerWindow,
    raw: u64,
    checks: &mut Checks,
) {
    let marker = marker_for(reference.kind);
    checks.check(
        "archive",
        trailer.is_complete(marker),
        if trailer.is_complete(marker) {
            format!("{} bytes decompressed, completion trailer present", raw)
        } else {
            format!(
                "no {marker:?} at the end; the dump ends with {}",
                trailer.describe_end()
            )
        },
    );
    checks.check(
        "raw_size",
        raw == reference.raw_bytes,
        format!(
            "expected {} bytes of SQL, decompressed {raw}",
            reference.raw_bytes
        ),
    );
}

/// Restores into a scratch database, checks tables and row counts, and drops
/// the scratch database whatever happened.
fn restore_check(
    reference: &BackupRecord,
    request: &VerifyRequest,
    input: &mut dyn Read,
    checks: &mut Checks,
) -> Result<()> {
    let scratch = format!(
        "pgb_verify_{}_{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or(0) % 1_000_000_000
    );
    let maintenance = DbTarget::parse(&request.maintenance_db);
    run_sql(
        &request.client,
        &maintenance,
        &format!("CREATE DATABASE {}", quote_ident(&scratch)),
    )?;
    let result = restore_into(reference, request, &scratch, input, checks);
    let dropped = run_sql(
        &request.client,
        &maintenance,
        &format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&scratch)
        ),
    );
    result.map_err(|e| Error::Failed(format!("in scratch database {scratch}: {e}")))?;
    dropped.map(|_| ())
}

fn restore_into(
    reference: &BackupRecord,
    request: &VerifyRequest,
    scratch: &str,
    input: &mut dyn Read,
    checks: &mut Checks,
) -> Result<()> {
    let target = DbTarget::named(scratch);
    let options = LoadOptions::default();
    match reference.format {
        DumpFormat::Plain => {
            let mut trailer = TrailerWindow::new();
            let outcome = load_plain(
                reference,
                &request.client,
                &target,
                input,
                &options,
                &mut trailer,
            )?;
            check_plain_stream(reference, &trailer, outcome.decompressed?, checks);
            outcome.loaded?;
        }
        DumpFormat::Custom => {
            load_custom_stream(&request.client, &target, input, &options)?;
            checks.pass(
                "archive",
                Some("pg_restore restored the whole archive".into()),
            );
        }
    }
    checks.pass(
        "restore",
        Some(format!("restored into scratch database {scratch}")),
    );
    checks
        .0
        .push(check_tables(reference, &request.client, &target)?);
    Ok(())
}

/// Reads a record's manifest and writes it back with `section` as its
/// `verify` field, atomically. Fields other tools added are kept.
pub fn record_result(record: &BackupRecord, section: &VerifySection) -> Result<()> {
    let path = record.manifest_path();
    let Some(mut manifest) = read_manifest(&path)? else {
        return Err(Error::Integrity {
            path,
            message: "not a pgb manifest".into(),
        });
    };
    manifest.verify = Some(section.clone());
    // The stored path is where the backup was written; keep it as written.
    manifest.path = record.path.clone();
    let mut json = manifest.to_json_line();
    json.push('\n');
    crate::publish::replace_file(&path, json.as_bytes())?;
    Ok(())
}

/// True if `path` looks like it holds a verification worth trusting.
pub fn is_verified_ok(record: &BackupRecord) -> bool {
    record.verify.as_ref().is_some_and(|v| v.ok)
}

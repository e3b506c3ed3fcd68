//! The JSON line types of the pgb protocol (version 1). This module is the
//! specification of what the tools print; man/pgb.7 documents the same fields
//! for users and must be kept in step with it.
//!
//! Every record is one JSON object on one line with `"pgb": 1` and `"type"`.
//!
//! * `backup` ([`BackupRecord`]): one backup artifact. pgb-dump creates it and
//!   writes the same object as the manifest `NAME.EXT.json`; later tools add
//!   their own sections (`verify`, `copies`). Fields a tool does not know are
//!   kept in [`BackupRecord::extra`] and written back unchanged.
//! * `error` ([`ErrorRecord`]): something failed. Tools pass error records they
//!   receive through untouched and exit non-zero at the end.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const PROTOCOL_VERSION: u32 = 1;

/// What a backup contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// One database, from pg_dump.
    Database,
    /// The cluster's roles and tablespaces, from `pg_dumpall --globals-only`.
    Globals,
}

/// How the data file was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DumpFormat {
    /// SQL text, restorable with psql.
    Plain,
    /// pg_dump's custom archive (`-Fc`), restorable with pg_restore.
    Custom,
}

/// Compression of the stored bytes. `pg_dump` means the custom archive's own
/// internal compression: pgb stores pg_dump's output as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    Gzip,
    Zstd,
    None,
    PgDump,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
            Compression::PgDump => "pg_dump",
        }
    }
}

/// Where the backup was taken from. Never holds a password.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The `-d` argument as given, with any password removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The pg_dump selection options the backup was taken with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DumpOptions {
    #[serde(default)]
    pub schema_only: bool,
    #[serde(default)]
    pub data_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_tables: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_table_data: Vec<String>,
    #[serde(default)]
    pub no_owner: bool,
    #[serde(default)]
    pub no_acl: bool,
}

/// One table of the dumped database, as seen in the dump's snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRecord {
    pub schema: String,
    pub name: String,
    /// The planner's estimate (`pg_class.reltuples`); -1 when never analysed.
    pub estimated_rows: i64,
    /// Exact count taken in the dump's snapshot (`--count-rows`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// False when the dump holds the table's definition but not its rows
    /// (`--schema-only`, `--exclude-table-data`).
    #[serde(default = "default_true")]
    pub data: bool,
}

fn default_true() -> bool {
    true
}

/// How an encrypted backup was sealed. Holds no secret: public keys only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncryptionRecord {
    /// Always "age" (age-encryption.org/v1).
    pub method: String,
    /// The x25519 recipients' public keys (`age1...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// True when sealed with a passphrase (scrypt).
    #[serde(default)]
    pub passphrase: bool,
    /// SHA-256 and size of the compressed stream before encryption, checked
    /// after decryption.
    pub plaintext_sha256: String,
    pub plaintext_bytes: u64,
}

/// One check pgb-verify ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The `verify` section pgb-verify adds to a record and its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifySection {
    pub ok: bool,
    pub level: String,
    pub checks: Vec<CheckResult>,
    pub verified_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A backup artifact: the record on stdout and the manifest on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRecord {
    pub pgb: u32,
    #[serde(rename = "type")]
    pub record_type: String,
    /// Unique name of the backup in its folder: the file name without extension.
    pub id: String,
    /// The data file. Rewritten from the manifest's own location when read
    /// from disk, so a moved folder still resolves.
    pub path: PathBuf,
    pub database: String,
    pub kind: BackupKind,
    pub format: DumpFormat,
    pub compression: Compression,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<i32>,
    /// Size of the stored data file.
    pub bytes: u64,
    /// Bytes pg_dump produced before pgb compressed them.
    pub raw_bytes: u64,
    /// SHA-256 of the stored data file, as in the `.sha256` sidecar.
    pub sha256: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_dump_version: Option<String>,
    pub pgb_version: String,
    pub connection: ConnectionInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default)]
    pub options: DumpOptions,
    #[serde(default)]
    pub tables: Vec<TableRecord>,
    /// True when every table with data has an exact `rows` count.
    #[serde(default)]
    pub rows_exact: bool,
    /// Present when the data file is age-encrypted (extension `.age`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySection>,
    /// Fields written by other tools or later versions, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BackupRecord {
    pub const TYPE: &'static str = "backup";

    /// The `.sha256` sidecar beside the data file.
    pub fn sidecar_path(&self) -> PathBuf {
        crate::catalog::sidecar_path(&self.path)
    }

    /// The manifest beside the data file.
    pub fn manifest_path(&self) -> PathBuf {
        crate::catalog::manifest_path(&self.path)
    }

    pub fn to_json_line(&self) -> String {
        to_line(self)
    }
}

/// Something failed; passed through untouched by every later tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub pgb: u32,
    #[serde(rename = "type")]
    pub record_type: String,
    pub tool: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// What the failing PostgreSQL program printed on stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Input line number, for malformed input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ErrorRecord {
    pub const TYPE: &'static str = "error";

    pub fn new(tool: &str, message: impl Into<String>) -> ErrorRecord {
        ErrorRecord {
            pgb: PROTOCOL_VERSION,
            record_type: Self::TYPE.to_string(),
            tool: tool.to_string(),
            message: message.into(),
            database: None,
            path: None,
            stderr: None,
            line: None,
            at: Utc::now(),
            extra: Map::new(),
        }
    }

    /// An error record for a library error, quoting a child's stderr if any.
    pub fn from_error(tool: &str, error: &crate::Error) -> ErrorRecord {
        let mut record = ErrorRecord::new(tool, error.to_string());
        record.stderr = error.child_stderr().map(str::to_string);
        record
    }

    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into());
        self
    }

    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn to_json_line(&self) -> String {
        to_line(self)
    }
}

/// pgb-prune's decision about one backup or stale partial file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneRecord {
    pub pgb: u32,
    #[serde(rename = "type")]
    pub record_type: String,
    /// "keep" or "delete".
    pub action: String,
    /// "backup" or "partial".
    pub subject: String,
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<BackupKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// Every rule that keeps the backup; empty for deletions.
    pub reasons: Vec<String>,
    pub dry_run: bool,
    /// True once the files are gone (never in a dry run).
    pub deleted: bool,
}

impl PruneRecord {
    pub const TYPE: &'static str = "prune";

    pub fn to_json_line(&self) -> String {
        to_line(self)
    }
}

/// One pgb-check result for one database (or the folder) and one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub pgb: u32,
    #[serde(rename = "type")]
    pub record_type: String,
    /// The database checked; absent for folder-wide checks (space, partials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<BackupKind>,
    pub check: String,
    /// "OK", "WARNING", "CRITICAL" or "UNKNOWN".
    pub status: String,
    pub message: String,
    /// The figures behind the status (ages in seconds, sizes in bytes...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub figures: Map<String, Value>,
}

impl CheckRecord {
    pub const TYPE: &'static str = "check";

    pub fn to_json_line(&self) -> String {
        to_line(self)
    }
}

/// The backup a restore came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreSource {
    pub id: String,
    pub path: PathBuf,
    pub database: String,
    pub sha256: String,
}

/// pgb-restore's result for one backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRecord {
    pub pgb: u32,
    #[serde(rename = "type")]
    pub record_type: String,
    pub source: RestoreSource,
    /// The database restored into (the maintenance database for globals).
    pub target: String,
    /// "swap", "new", "in-place", "tables" or "globals".
    pub strategy: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// The replaced database, kept under this name (swap without --drop-old).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_database: Option<String>,
    /// The safety dump taken before an in-place restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_backup: Option<PathBuf>,
    /// Tables restored by a partial restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    pub checks: Vec<CheckResult>,
    /// Things the user should know (roles that already existed...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// How to undo the restore, when it can be undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
}

impl RestoreRecord {
    pub const TYPE: &'static str = "restore";

    pub fn to_json_line(&self) -> String {
        to_line(self)
    }
}

fn to_line<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs cannot fail: every map key is a string
    // and no field has a fallible Serialize implementation.
    serde_json::to_string(value).unwrap_or_else(|e| {
        format!(
            r#"{{"pgb":1,"type":"error","tool":"pgb","message":"cannot encode record: {}"}}"#,
            e.to_string().replace('"', "'")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let line = r#"{"pgb":1,"type":"backup","id":"a","path":"/b/a.sql.gz","database":"a","kind":"database","format":"plain","compression":"gzip","bytes":1,"raw_bytes":2,"sha256":"00","started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:01Z","pgb_version":"0.1.0","connection":{},"copies":[{"url":"s3://x"}],"future":{"a":1}}"#;
        let record: BackupRecord = serde_json::from_str(line).unwrap();
        let back: Value = serde_json::from_str(&record.to_json_line()).unwrap();
        assert_eq!(back["copies"][0]["url"], "s3://x");
        assert_eq!(back["future"]["a"], 1);
        assert_eq!(back["compression"], "gzip");
    }

    #[test]
    fn error_records_carry_the_childs_stderr() {
        let error = crate::Error::Child {
            program: "pg_dump".into(),
            status: "exit code 1".into(),
            stderr: "FATAL: database \"x\" does not exist\n".into(),
        };
        let record = ErrorRecord::from_error("pgb-dump", &error).database("x");
        let value: Value = serde_json::from_str(&record.to_json_line()).unwrap();
        assert_eq!(value["type"], "error");
        assert_eq!(value["database"], "x");
        assert!(value["stderr"].as_str().unwrap().contains("does not exist"));
        assert!(value["message"]
            .as_str()
            .unwrap()
            .contains("pg_dump failed"));
    }
}

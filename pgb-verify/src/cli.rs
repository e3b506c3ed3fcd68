//! The command line of pgb-verify, kept apart from the logic so the man page
//! generator can render it.

use clap::{ArgAction, Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    /// Size and sha256 of the stored file against manifest and sidecar
    Checksum,
    /// Also decompress to the end and check the dump is complete (plain: pg_dump's
    /// completion trailer; custom: pg_restore reads the whole archive)
    Archive,
    /// Also restore into a scratch database, compare tables and row counts, drop it
    Restore,
}

/// Check pgb backups: checksums, archive completeness, test restores.
///
/// Reads backup records on stdin (from pgb-dump) and passes each on with a "verify"
/// section added, or checks the backups named as arguments (data files, manifests,
/// folders or globs). Every check of a level is made in one streaming read of the
/// file. The result is also written into the backup's manifest, atomically, so
/// monitoring can tell when each backup was last verified.
#[derive(Debug, Parser)]
#[command(
    name = "pgb-verify",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Backups to check (data file, manifest, folder, glob, or every backup of an
    /// s3://BUCKET/PREFIX or ssh://HOST/PATH store); default: records on stdin
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,

    /// How deep to check
    #[arg(long, value_enum, default_value = "archive")]
    pub level: LevelArg,

    /// Do not write the result into the manifests (e.g. read-only backup media)
    #[arg(long)]
    pub no_record: bool,

    #[command(flatten)]
    pub connection: pgb_cli::ConnectionArgs,

    #[command(flatten)]
    pub decrypt: pgb_cli::DecryptArgs,

    /// Database to connect to for creating and dropping the scratch database
    #[arg(long, value_name = "DB", default_value = "postgres")]
    pub maintenance_db: String,

    #[command(flatten)]
    pub store: pgb_cli::StoreArgs,

    #[command(flatten)]
    pub log: pgb_cli::LogArgs,

    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Extra man page sections, in order.
pub const MAN_SECTIONS: &[(&str, &str)] = &[
    ("CHECKS", "manifest: the manifest exists, is a pgb manifest and agrees with the record received. sidecar: the .sha256 file exists, names the data file and holds the manifest's digest. size, sha256: the stored file's size and SHA-256 equal the manifest's. archive: the dump decompresses to its end and ends with pg_dump's completion trailer, and raw_size: its decompressed size equals the manifest's raw_bytes (plain); pg_restore reads the whole archive (custom). restore: the backup restores into a scratch database pgb_verify_PID_N with ON_ERROR_STOP in one transaction; tables: every table listed in the manifest exists and, when the manifest has exact counts (pgb-dump --count-rows), has that many rows. The scratch database is dropped even when a check fails. A globals backup is checked up to the archive level. An encrypted backup (.age) is checked at the checksum level without a key; the archive and restore levels decrypt it as it streams (--identity or --passphrase-file) and also check plaintext_sha256, the digest of the decrypted stream."),
    ("REMOTE STORES", "With an s3:// or ssh:// argument every backup of the store is fetched into a temporary folder (TMPDIR), hashed as it downloads, and checked there at the chosen level; the results are printed, not written back (pgb never overwrites a remote manifest). The stored bytes are what is fetched: an encrypted backup stays encrypted on the local disk."),
    ("OUTPUT", "Each backup record is passed on with \"verify\": {\"ok\", \"level\", \"checks\": [{\"name\", \"ok\", \"detail\"}], \"verified_at\", \"error\"} added; all other fields are kept. Error records from earlier tools pass through untouched. A malformed input line gives an error record naming its line number; the other lines are still processed. See pgb(7)."),
    ("EXIT STATUS", "0: every backup passed. 1: a backup failed a check, an input line was malformed or an error record was received. 2: usage or setup error."),
    ("EXAMPLES", "pgb-dump -d shop | pgb-verify\n\npgb-verify --level checksum /var/backups/pgb/*.sql.gz\n\npgb-verify --level restore -h /run/postgresql /var/backups/pgb/shop_20261121T031500Z.sql.gz"),
];

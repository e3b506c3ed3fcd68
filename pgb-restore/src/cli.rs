//! The command line of pgb-restore, kept apart from the logic so the man page
//! generator can render it.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// Restore pgb backups safely: into a new database, checked, then swapped in.
///
/// By default a backup is restored into a new database TO__pgb_restore_TIMESTAMP, its
/// checksum and tables are checked, and only then are the other sessions on TO
/// terminated, TO renamed to TO__pgb_old_TIMESTAMP and the new database renamed to TO.
/// Any failure before the swap leaves TO untouched and drops the new database. The old
/// database is kept until --drop-old or until you drop it.
#[derive(Debug, Parser)]
#[command(
    name = "pgb-restore",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Backups to restore (data file or manifest); default: backup records on stdin.
    /// With --latest or --list: the one place to look (a folder, s3://BUCKET/PREFIX or
    /// ssh://[USER@]HOST[:PORT]/PATH) instead of --dir
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,

    /// Restore the newest complete backup in --dir that did not fail verification
    #[arg(long, conflicts_with = "list")]
    pub latest: bool,

    /// List the backups in --dir, newest first, with age, size, label and verification
    #[arg(long)]
    pub list: bool,

    /// Backup folder (or s3:// or ssh:// URL) for --latest and --list
    #[arg(
        long,
        value_name = "DIR",
        env = "BACKUP_DIR",
        default_value = "./backups"
    )]
    pub dir: String,

    /// Only backups of this database (with --latest, --list and stdin records)
    #[arg(long = "database", value_name = "NAME")]
    pub database: Option<String>,

    /// Database to restore into (default: the backup's source database)
    #[arg(long, value_name = "NAME")]
    pub to: Option<String>,

    /// Database to connect to for creating, renaming and dropping databases
    #[arg(long, value_name = "DB", default_value = "postgres")]
    pub maintenance_db: String,

    /// Restore even if the file's SHA-256 does not match its manifest
    #[arg(long)]
    pub no_verify: bool,

    /// Restore a custom-format backup with N parallel pg_restore jobs
    #[arg(short = 'j', long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,

    /// The runbooks' way: terminate sessions, drop TO, recreate it and restore into it,
    /// after taking a safety dump of TO
    #[arg(long, conflicts_with_all = ["tables", "drop_old"])]
    pub in_place: bool,

    /// With --in-place: skip the safety dump of the current database
    #[arg(long, requires = "in_place")]
    pub no_safety_dump: bool,

    /// Folder for the safety dump (default: the backup's folder)
    #[arg(long, value_name = "DIR")]
    pub safety_dir: Option<PathBuf>,

    /// Restore only this table (SCHEMA.TABLE; repeatable) into the existing TO; an existing
    /// table is replaced in one transaction
    #[arg(long = "table", value_name = "SCHEMA.TABLE")]
    pub tables: Vec<String>,

    /// After a successful swap, drop the replaced database instead of keeping it
    #[arg(long)]
    pub drop_old: bool,

    /// Replace existing databases or tables without asking
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Do not restore ownership (pg_restore --no-owner; custom-format backups)
    #[arg(long)]
    pub no_owner: bool,

    /// Do not restore privileges (pg_restore --no-privileges; custom-format backups)
    #[arg(long)]
    pub no_acl: bool,

    #[command(flatten)]
    pub connection: pgb_cli::ConnectionArgs,

    #[command(flatten)]
    pub decrypt: pgb_cli::DecryptArgs,

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
    ("STRATEGIES", "swap (default): restore into TO__pgb_restore_TIMESTAMP (plain: decompressed into psql with ON_ERROR_STOP in one transaction; custom: pg_restore, --jobs N in parallel), hashing the file as it is read; check the SHA-256 and size against the manifest, and every table of the manifest (exact row counts when the manifest has them); then disallow new connections to TO, terminate its sessions, rename TO to TO__pgb_old_TIMESTAMP and the new database to TO. If TO does not exist the new database is simply renamed (strategy new). Any failure before the swap drops the new database and leaves TO untouched. The restore record's rollback field says how to undo the swap.\n\nin-place (--in-place): check the checksum first, take a safety dump of TO with pgb-dump's engine (unless --no-safety-dump; its path is printed and recorded), terminate sessions, drop and recreate TO, restore into it.\n\ntables (--table): restore the whole backup into a scratch database, then copy the named tables into TO with pg_dump --clean | psql in one transaction, replacing existing ones; the scratch database is dropped.\n\nglobals: a globals backup (roles, tablespaces) is run through psql on the maintenance database; objects that already exist are reported as notes, not errors."),
    ("ENCRYPTION", "An encrypted backup (.age) is decrypted as it streams with --identity FILE or --passphrase-file FILE; without a key it is refused before anything is created. pg_restore --jobs needs a seekable plaintext file, so an encrypted custom archive is restored as a stream (one job) rather than decrypted to disk."),
    ("REMOTE STORES", "pgb-restore --latest s3://BUCKET/PREFIX (or ssh://...) picks the newest good backup from the store's manifests, fetches it into a temporary folder (TMPDIR; the stored, possibly encrypted, bytes), checking its SHA-256 as it downloads, and restores it from there."),
    ("CONFIRMATION", "Replacing an existing database or table asks on a terminal for its name to be typed. Without a terminal pgb-restore refuses (exit 2) unless --yes is given."),
    ("CHOOSING A BACKUP", "A path; or backup records on stdin (pgb-dump ... | pgb-restore restores each, --database picks one); or --latest --dir DIR [--database NAME]: the newest backup with a manifest that did not fail verification, saying on stderr which incomplete or failed backups were skipped. --list prints the backups (JSON records with age_seconds; a table on a terminal)."),
    ("OUTPUT", "One line per restore: {\"pgb\":1,\"type\":\"restore\",\"source\":{id,path,database,sha256},\"target\",\"strategy\",\"started_at\",\"finished_at\",\"duration_ms\",\"old_database\",\"safety_backup\",\"tables\",\"checks\":[...],\"notes\",\"rollback\"}. Failures give error records. See pgb(7)."),
    ("EXIT STATUS", "0: every restore succeeded. 1: a restore failed (the target is untouched unless --in-place) or an error record was received. 2: usage error, missing confirmation, or the role cannot create databases."),
    ("EXAMPLES", "pgb-restore --latest --dir /var/backups/pgb --database shop --to shop --yes\n\npgb-restore /var/backups/pgb/shop_20261121T031500Z.dump --to shop_copy --jobs 4\n\npgb-restore --list --dir /var/backups/pgb\n\npgb-restore --latest --database shop --table public.orders --to shop\n\npgb-dump -d shop | pgb-verify | pgb-restore --to shop_staging --yes"),
];

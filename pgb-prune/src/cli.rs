//! The command line of pgb-prune, kept apart from the logic so the man page
//! generator can render it.

use clap::{ArgAction, Parser};

/// Delete old pgb backups by a retention policy that never loses the last good one.
///
/// Reads the backups of a folder from their manifests (files without a pgb manifest are
/// never touched), groups them per database and kind, and deletes those that no rule
/// keeps. Rules combine: a backup is kept if any rule keeps it. Whatever the policy, the
/// newest backup that passed verification (or the newest complete one if none did) and
/// the --min-keep newest are kept, and a series whose dump lock is held is left alone.
#[derive(Debug, Parser)]
#[command(
    name = "pgb-prune",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub location: pgb_cli::LocationArgs,

    /// Only prune the backups of this database; repeatable
    #[arg(short = 'd', long = "database", value_name = "NAME")]
    pub databases: Vec<String>,

    /// Keep the N newest backups
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,

    /// Keep backups started within DURATION before now (e.g. 30d, 36h; inclusive).
    /// RETENTION_DAYS=N in the environment means --keep-within Nd
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,

    /// Keep the newest backup of each of the N most recent hours that have backups
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,

    /// Keep the newest backup of each of the N most recent days (UTC) that have backups
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,

    /// Keep the newest backup of each of the N most recent ISO weeks that have backups
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,

    /// Keep the newest backup of each of the N most recent months that have backups
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,

    /// Keep the newest backup of each of the N most recent years that have backups
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,

    /// Keep every backup with this label (pgb-dump --label); repeatable
    #[arg(long, value_name = "LABEL")]
    pub keep_label: Vec<String>,

    /// Always keep at least the N newest backups of each series, whatever the policy
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_keep: u32,

    /// Remove pgb partial files older than this when no dump is running in the folder
    #[arg(long, value_name = "DURATION", default_value = "24h",
          value_parser = pgb_core::units::parse_duration)]
    pub partial_max_age: std::time::Duration,

    /// Decide exactly as a real run would, and delete nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Evaluate the policy as if it were this time (RFC 3339 or YYYY-MM-DD, UTC)
    #[arg(long, value_name = "TIMESTAMP", value_parser = pgb_core::units::parse_timestamp)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,

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
    ("RULES", "last N: the N newest backups. within D: backups started at or after now minus D. hourly, daily, weekly, monthly, yearly N: for each of the N most recent UTC calendar periods (ISO weeks) that have backups, the newest backup of the period. label L: backups with that label. A backup whose verification failed never fills a last or calendar slot, so it cannot push out the good backup of its period; it is kept only by within, a label or the floor.\n\nThe floor, whatever the policy says: the newest backup that passed verification (or the newest complete one if none was verified), and the --min-keep newest; backups newer than --now are kept. Running with no rule at all is a usage error, not \"delete everything\". Ordering and ages come from the manifests' started_at, never from file times or names."),
    ("DELETION", "A backup is deleted manifest first, then its sidecar, then its data file, so an interrupted deletion never leaves something that looks like a complete backup. Files that have no pgb manifest (notes.txt, other.sql.gz) are never touched. A series whose lock (.DB.pgb-lock) is held by a running pgb-dump is kept whole. Partial files (.NAME.XXXXXX.partial) older than --partial-max-age are removed when no lock in their folder is held; their age is their modification time, the only clock a file without manifest has."),
    ("OUTPUT", "One line per backup: {\"pgb\":1,\"type\":\"prune\",\"action\":\"keep\"|\"delete\",\"subject\":\"backup\",\"path\",\"id\",\"database\",\"kind\",\"started_at\",\"reasons\":[\"daily 2026-11-20\",\"within 30d\",\"newest verified\",...],\"dry_run\",\"deleted\"}, and one per stale partial file with \"subject\":\"partial\". A deletion that fails gives an error record; the rest is still processed. See pgb(7)."),
    ("REMOTE STORES", "With an s3:// or ssh:// LOCATION the manifests are read from the store and the same policy is applied; deletions remove the manifest object first. Locks and partial files exist only in local folders: remotely, leftovers are reported by pgb-check and left alone."),
    ("ENVIRONMENT", "BACKUP_DIR sets --dir. RETENTION_DAYS=N means --keep-within Nd when --keep-within is not given."),
    ("EXIT STATUS", "0: done (or nothing to do). 1: a deletion failed. 2: usage error (no rule given, bad value) or the folder cannot be read."),
    ("EXAMPLES", "pgb-prune --dir /var/backups/pgb --keep-daily 7 --keep-weekly 4 --keep-monthly 12\n\nRETENTION_DAYS=30 pgb-prune --dir /var/backups/pgb --dry-run\n\npgb-prune --keep-last 3 --keep-label pre-deploy --now 2027-01-01"),
];

//! The command line of pgb-check, kept apart from the logic so the man page
//! generator can render it.

use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One check record per database and check (JSON lines)
    Json,
    /// One monitoring-plugin line with performance data
    Nagios,
    /// Prometheus text exposition format (node_exporter textfile collector)
    Prometheus,
}

/// Monitor pgb backup folders: notice when backups stop, fail, shrink or rot.
///
/// Checks every database with backups in the folder (or only --database NAME): that a
/// complete backup exists, how old the newest is, whether it passed verification, whether
/// its size jumped, how many there are, that sidecars agree with manifests; and, for the
/// folder, stale partial files, damaged manifests and free space. Follows the
/// monitoring-plugin convention for its exit status.
#[derive(Debug, Parser)]
#[command(
    name = "pgb-check",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub location: pgb_cli::LocationArgs,

    /// Only check this database (CRITICAL if it has no backup); repeatable
    #[arg(short = 'd', long = "database", value_name = "NAME")]
    pub databases: Vec<String>,

    /// WARNING when the newest backup finished longer ago than this
    #[arg(long, value_name = "DURATION", default_value = "26h", value_parser = pgb_core::units::parse_duration)]
    pub max_age: std::time::Duration,

    /// CRITICAL when the newest backup finished longer ago than this
    #[arg(long, value_name = "DURATION", default_value = "50h", value_parser = pgb_core::units::parse_duration)]
    pub critical_age: std::time::Duration,

    /// WARNING when the newest backup was never verified (pgb-verify)
    #[arg(long)]
    pub require_verified: bool,

    /// WARNING when the newest backup's size differs from the median of the previous
    /// ones by more than this many percent
    #[arg(long, value_name = "PERCENT", default_value_t = 50.0)]
    pub size_change: f64,

    /// WARNING when a database has fewer complete backups than this
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_count: usize,

    /// WARNING for pgb partial files older than this (a run that died)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = pgb_core::units::parse_duration)]
    pub partial_max_age: std::time::Duration,

    /// Re-hash every data file and compare with its manifest (reads all backups)
    #[arg(long)]
    pub deep: bool,

    /// WARNING when the folder's filesystem has less free space than this (e.g. 10G, 15%)
    #[arg(long, value_name = "SIZE|PERCENT", value_parser = pgb_core::units::parse_space)]
    pub min_free: Option<pgb_core::units::SpaceThreshold>,

    /// Evaluate ages as if it were this time (RFC 3339 or YYYY-MM-DD, UTC)
    #[arg(long, value_name = "TIMESTAMP", value_parser = pgb_core::units::parse_timestamp)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,

    /// Output format on stdout
    #[arg(long, value_enum, default_value = "json")]
    pub format: OutputFormat,

    /// Also write the Prometheus metrics to this file, atomically (for the node_exporter
    /// textfile collector)
    #[arg(long, value_name = "PATH")]
    pub prometheus_file: Option<PathBuf>,

    /// When the status is not OK, POST a JSON body with a Slack-compatible "text" field
    /// and the check records to this URL
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,

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
    ("CHECKS", "Per database and kind: exists (CRITICAL: no complete backup of a --database named), age (WARNING past --max-age, CRITICAL past --critical-age; from the manifest's finished_at), verified (CRITICAL: the newest backup failed verification; WARNING with --require-verified: never verified), size (WARNING: the newest backup's size differs from the median of up to 30 previous ones by more than --size-change percent), count (WARNING: fewer than --min-count), sidecar (WARNING: a .sha256 file is missing; CRITICAL: one disagrees with its manifest, or with --deep a data file's SHA-256 or size does not match).\n\nPer folder: partials (WARNING: partial files older than --partial-max-age), manifests (CRITICAL: a file claims to be a pgb manifest but cannot be read), space (WARNING: less free space than --min-free)."),
    ("REMOTE STORES", "With an s3:// or ssh:// LOCATION the manifests and sidecars are read from the store; --deep downloads each data file to hash it; any leftover partial file there is reported; free space is not checked."),
    ("OUTPUT", "json: one line per database and check, {\"pgb\":1,\"type\":\"check\",\"database\",\"kind\",\"check\",\"status\",\"message\",\"figures\":{...}}; folder-wide checks have no database. nagios: one line \"PGB OK - ...\", \"PGB WARNING - ...\", \"PGB CRITICAL - ...\" or \"PGB UNKNOWN - ...\" with performance data such as shop_age=3600s;93600;180000 shop_size=1234B shop_count=5. prometheus: gauges pgb_last_backup_timestamp_seconds, pgb_last_backup_size_bytes, pgb_backups, pgb_last_verified_timestamp_seconds and pgb_check_status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), labelled by database and kind (and check), plus pgb_check_overall_status."),
    ("WEBHOOK", "With --webhook URL, a status other than OK is POSTed as {\"text\": \"PGB CRITICAL - ...\", \"status\", \"checks\": [...]} (Content-Type application/json), which Slack and Mattermost incoming webhooks display. A failure to post is reported on stderr and does not change the exit status."),
    ("EXIT STATUS", "The monitoring-plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the folder cannot be read, or bad arguments)."),
    ("EXAMPLES", "pgb-check --dir /var/backups/pgb --max-age 26h --format nagios\n\npgb-check --dir /var/backups/pgb --require-verified --min-free 15% --prometheus-file /var/lib/node_exporter/textfile/pgb.prom\n\npgb-check --database shop --webhook https://hooks.slack.com/services/T000/B000/XXXX"),
];

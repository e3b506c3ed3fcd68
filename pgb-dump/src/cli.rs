//! The command line of pgb-dump, kept apart from the logic so the man page
//! generator can render it and tests can parse arguments without running.

use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// SQL text, compressed by pgb (`gunzip -c F | psql` restores it)
    Plain,
    /// pg_dump's custom archive (-Fc), restored with pg_restore
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressArg {
    Gzip,
    Zstd,
    None,
}

/// Take PostgreSQL backups that are complete, checksummed and published atomically.
///
/// Each backup is a data file, a sha256sum-compatible `.sha256` sidecar and a JSON
/// manifest written last as the commit marker. Nothing appears under a final name
/// until it is complete. stdout carries one JSON backup record per backup (or an
/// error record per failure), so the output can be piped into pgb-verify.
#[derive(Debug, Parser)]
#[command(
    name = "pgb-dump",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub connection: pgb_cli::ConnectionArgs,

    /// Database to dump: a name, a conninfo string or a postgresql:// URI; repeatable.
    /// Default: PGDATABASE. A password inside a URI is passed to pg_dump through
    /// the environment, never on its command line.
    #[arg(short = 'd', long = "dbname", value_name = "DB")]
    pub dbnames: Vec<String>,

    /// Dump every connectable non-template database, plus the cluster's roles and
    /// tablespaces (pg_dumpall --globals-only) as a backup of kind "globals"
    #[arg(long, conflicts_with = "dbnames")]
    pub all: bool,

    /// With --all: skip databases matching this glob pattern; repeatable
    #[arg(long, value_name = "PATTERN", requires = "all")]
    pub exclude_db: Vec<String>,

    /// With --all: do not dump the cluster's roles and tablespaces
    #[arg(long, requires = "all")]
    pub no_globals: bool,

    /// With --all: the database to connect to for listing databases and for pg_dumpall
    #[arg(long, value_name = "DB", default_value = "postgres")]
    pub maintenance_db: String,

    /// Dump only the object definitions, no data (pg_dump --schema-only)
    #[arg(long, conflicts_with = "data_only")]
    pub schema_only: bool,

    /// Dump only the data, no definitions (pg_dump --data-only)
    #[arg(long)]
    pub data_only: bool,

    /// Dump only tables matching PATTERN (pg_dump -t); repeatable
    #[arg(short = 't', long = "table", value_name = "PATTERN")]
    pub tables: Vec<String>,

    /// Do not dump tables matching PATTERN (pg_dump -T); repeatable
    #[arg(short = 'T', long = "exclude-table", value_name = "PATTERN")]
    pub exclude_tables: Vec<String>,

    /// Dump only schemas matching PATTERN (pg_dump -n); repeatable
    #[arg(short = 'n', long = "schema", value_name = "PATTERN")]
    pub schemas: Vec<String>,

    /// Do not dump schemas matching PATTERN (pg_dump -N); repeatable
    #[arg(short = 'N', long = "exclude-schema", value_name = "PATTERN")]
    pub exclude_schemas: Vec<String>,

    /// Dump the definition but not the rows of tables matching PATTERN; repeatable
    #[arg(long, value_name = "PATTERN")]
    pub exclude_table_data: Vec<String>,

    /// Do not output commands to set object ownership (pg_dump --no-owner)
    #[arg(long)]
    pub no_owner: bool,

    /// Do not dump privileges, GRANT/REVOKE (pg_dump --no-privileges)
    #[arg(long)]
    pub no_acl: bool,

    /// Dump up to N databases at once
    #[arg(short = 'j', long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,

    /// Output format
    #[arg(short = 'F', long, value_enum, default_value = "plain")]
    pub format: FormatArg,

    /// Compression of plain dumps [default: gzip]. Custom archives are compressed by
    /// pg_dump itself; use --level to set its level.
    #[arg(long, value_enum, value_name = "METHOD")]
    pub compress: Option<CompressArg>,

    /// Compression level: gzip 0-9 (default 6), zstd 1-19 (default 3), custom 0-9
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub level: Option<i32>,

    /// Folder to write backups into (created 0700 if missing)
    #[arg(
        long,
        value_name = "DIR",
        env = "BACKUP_DIR",
        default_value = "./backups"
    )]
    pub dir: PathBuf,

    /// File name template, without extension. Placeholders: {db} {kind} {label}
    /// {YYYYMMDD} {HHMMSS} {YYYY} {MM} {DD} {hh} {mm} {ss}, in UTC
    #[arg(long = "name", value_name = "TEMPLATE", default_value = pgb_core::naming::DEFAULT_TEMPLATE)]
    pub name_template: String,

    /// Free-form label recorded in the manifest (e.g. pre-deploy)
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// Encrypt with age to this recipient: an age1... public key, or a file listing
    /// them; repeatable. The sidecar hashes the encrypted bytes
    #[arg(long, value_name = "RECIPIENT")]
    pub encrypt_to: Vec<String>,

    /// Encrypt with age using the passphrase on the first line of FILE
    #[arg(long, value_name = "FILE", conflicts_with = "encrypt_to")]
    pub encrypt_passphrase_file: Option<PathBuf>,

    /// Record exact per-table row counts, taken in the same snapshot as the dump
    #[arg(long)]
    pub count_rows: bool,

    /// How long to wait for another pgb-dump of the same database in the same folder
    /// (e.g. 30s, 5m; 0 fails at once)
    #[arg(long, value_name = "DURATION", default_value = "0",
          value_parser = pgb_core::units::parse_duration)]
    pub lock_timeout: std::time::Duration,

    #[command(flatten)]
    pub log: pgb_cli::LogArgs,

    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Extra man page sections, in order.
pub const MAN_SECTIONS: &[(&str, &str)] = &[
    ("OUTPUT", "One JSON line per backup on stdout: {\"pgb\":1,\"type\":\"backup\",...} as described in pgb(7), identical to the manifest NAME.EXT.json. A database that could not be dumped gives {\"type\":\"error\"} with database, message and pg_dump's stderr; the other databases are still dumped. Human messages and the progress bar (only on a terminal) go to stderr."),
    ("FILES", "DIR/NAME.sql.gz (or .sql.zst, .sql, .dump; with .age appended when encrypted): the data. DIR/NAME.EXT.sha256: the checksum in sha256sum format (cd DIR && sha256sum -c NAME.EXT.sha256). DIR/NAME.EXT.json: the manifest, written last; a data file without it is not a backup. DIR/.NAME.EXT.XXXXXX.partial: a file being written, never a backup. DIR/.DB.pgb-lock: the per-database lock. Files are created 0600, a missing DIR 0700."),
    ("ENCRYPTION", "With --encrypt-to or --encrypt-passphrase-file the compressed stream is encrypted with age (age-encryption.org/v1) in the same pass, before anything is written: no plaintext of an encrypted backup touches the disk. The sidecar and the manifest's sha256 are of the encrypted file, so checksum checks need no key; the manifest's encryption section records the method, the recipients' public keys (or that a passphrase was used) and the SHA-256 of the compressed stream before encryption. pgb-verify and pgb-restore decrypt with --identity FILE or --passphrase-file FILE; age -d -i KEY FILE | gunzip also works."),
    ("ENVIRONMENT", "PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, PGPASSFILE, PGSERVICE, PGSSLMODE and the other libpq variables are honoured by the PostgreSQL programs pgb runs; with --docker they are forwarded into the container by name. BACKUP_DIR sets --dir."),
    ("EXIT STATUS", "0: every backup was taken. 1: at least one backup failed (each failure is an error record). 2: usage or setup error (bad option, program not found, folder unusable); nothing was dumped."),
    ("EXAMPLES", "pgb-dump -d shop --dir /var/backups/pgb | pgb-verify\n\npgb-dump --all --jobs 2 --compress zstd --dir /var/backups/pgb\n\npgb-dump -d fitcoach --name '{db}_backup_{YYYYMMDD}_{HHMMSS}' --label pre-deploy\n\npgb-dump --docker app-db-1 -U app -d app --format custom --count-rows\n\ncron: 15 3 * * * pgb-dump --all --quiet --log-file /var/log/pgb.log --dir /var/backups/pgb | pgb-verify --quiet"),
];

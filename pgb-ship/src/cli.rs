//! The command line of pgb-ship, kept apart from the logic so the man page
//! generator can render it.

use clap::{ArgAction, Parser};

/// Copy pgb backups off-site: other folders, S3-compatible buckets, SSH hosts.
///
/// Reads backup records on stdin (from pgb-dump or pgb-verify), or takes backups named
/// as arguments, and copies each backup's data file, sidecar and manifest (last) to every
/// destination. Each record is passed on with a "copies" section. A copy that is already
/// at a destination with the same SHA-256 is skipped; a different file under the same
/// name is an error and is never overwritten.
#[derive(Debug, Parser)]
#[command(
    name = "pgb-ship",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Destinations (s3://BUCKET/PREFIX, ssh://[USER@]HOST[:PORT]/PATH, file:///PATH or an
    /// existing folder) and backups to ship (data files or manifests); without backups,
    /// records are read from stdin
    #[arg(value_name = "DEST|BACKUP", required = true)]
    pub targets: Vec<String>,

    /// A destination, when it could be mistaken for a backup path (e.g. a folder that
    /// does not exist yet); repeatable
    #[arg(long = "to", value_name = "DEST")]
    pub destinations: Vec<String>,

    /// S3 storage class of uploaded objects (e.g. STANDARD_IA, GLACIER_IR)
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,

    /// S3 server-side encryption of uploaded objects (AES256 or aws:kms)
    #[arg(long, value_name = "ALGORITHM")]
    pub sse: Option<String>,

    /// After every destination confirmed its copy, delete the local backup (never the
    /// newest local backup of its database unless --delete-newest)
    #[arg(long)]
    pub delete_local: bool,

    /// With --delete-local: also delete the newest local backup
    #[arg(long, requires = "delete_local")]
    pub delete_newest: bool,

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
    ("DESTINATIONS", "A folder (a path that exists, or file:///PATH): each file is written as a partial file, hashed while copied, fsynced and renamed into place without replacing anything.\n\ns3://BUCKET/PREFIX: AWS or any S3-compatible service (--endpoint or AWS_ENDPOINT_URL; path-style addressing with --path-style, always with a custom endpoint; --region). Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or the AWS profile files (AWS_PROFILE). Files over 8 MiB go up as multipart uploads read part by part (memory stays around one part), a failed upload is aborted, transient errors are retried with backoff. The file's SHA-256 is stored as object metadata (pgb-sha256); after the upload the stored size, that digest and the ETag computed from the parts' MD5s are checked.\n\nssh://[USER@]HOST[:PORT]/PATH: the system ssh with your keys, agent and known_hosts (BatchMode: never prompts; --ssh-config FILE for ssh -F). The file streams into a temporary name, is hard-linked to its final name (which fails if the name exists) and its remote sha256sum is compared with the local digest."),
    ("ORDER AND IDEMPOTENCE", "For each destination the data file goes first, then the sidecar, then the manifest: a remote backup without manifest is incomplete, and the next run completes it. A file already present with the same SHA-256 is skipped and reported (\"skipped\": true); a different file under the same name is an error and nothing is overwritten; a remote manifest that exists is kept as it is."),
    ("OUTPUT", "Each backup record is passed on with \"copies\": [{\"url\", \"bytes\", \"sha256\", \"shipped_at\", \"skipped\"}] appended (earlier copies are kept). A failed copy gives an error record naming the backup and the destination, exit 1; the other destinations and backups still go. Error records received pass through untouched."),
    ("EXIT STATUS", "0: every backup reached every destination. 1: a copy failed, or an error record was received. 2: usage error (no destination, bad URL, no credentials)."),
    ("EXAMPLES", "pgb-dump -d shop | pgb-verify | pgb-ship s3://acme-backups/pg ssh://backup@nas/srv/pg\n\npgb-ship --endpoint https://minio.internal:9000 s3://pg/prod /var/backups/pgb/*.json\n\npgb-ship --delete-local /mnt/usb/pgb /var/backups/pgb/shop_20261101T031500Z.sql.gz"),
];

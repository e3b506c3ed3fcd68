//! pgb(7): the JSON lines protocol, the on-disk layout and the rules every
//! tool follows, for users and for scripts that read pgb's output. The field
//! list mirrors pgb_core::record; change both together.

use roff::Roff;

use crate::section;

const SECTIONS: &[(&str, &str)] = &[
    ("NAME", "pgb - PostgreSQL backups as small composable tools speaking JSON lines"),
    ("DESCRIPTION", "pgb-dump takes backups, pgb-verify checks them, pgb-prune applies retention, pgb-check monitors, pgb-restore restores them safely, pgb-ship copies them off-site (folders, S3-compatible buckets, SSH hosts). Each reads and writes JSON lines so they chain in shell pipelines, Makefiles and cron lines:\n\npgb-dump -d shop --dir /var/backups/pgb | pgb-verify\n\nstdout carries only JSON lines, one object per line. Human messages, logs and progress bars go to stderr; progress bars are drawn only when stderr is a terminal."),
    ("COMMON FIELDS", "Every record has \"pgb\": 1 (the protocol version) and \"type\". A tool keeps every field it does not understand and writes it back unchanged, so records from newer tools survive older ones."),
    ("BACKUP RECORDS", "\"type\": \"backup\" describes one backup. pgb-dump prints it and writes the same object as the manifest NAME.EXT.json. Fields:\n\nid: the backup's name, unique in its folder (the file name without extension). path: absolute path of the data file; when read from a manifest, the folder the manifest is in. database: the database name (\"globals\" for a globals backup). kind: \"database\" or \"globals\" (roles and tablespaces from pg_dumpall --globals-only). format: \"plain\" (SQL) or \"custom\" (pg_dump -Fc). compression: \"gzip\", \"zstd\", \"none\", or \"pg_dump\" for the custom format's own compression. level: the compression level, when one applies.\n\nbytes: size of the stored file. raw_bytes: bytes pg_dump produced before pgb compressed them. sha256: SHA-256 of the stored file, as in the .sha256 sidecar. started_at, finished_at: RFC 3339 UTC timestamps; ordering and ages always come from these, never from file times or names.\n\nserver_version, pg_dump_version, pgb_version: the programs involved. connection: {host, port, user, container, target}; target is the -d argument with any password removed. A password never appears in a record. label: the --label text. options: {schema_only, data_only, tables, exclude_tables, schemas, exclude_schemas, exclude_table_data, no_owner, no_acl} as given to pg_dump.\n\ntables: [{schema, name, estimated_rows, rows, data}] for every table whose definition is in the dump, read in the dump's own snapshot. estimated_rows is the planner's estimate (-1 if never analysed); rows is the exact count, present with pgb-dump --count-rows; data is false when the dump holds the table's definition but not its rows. rows_exact: true when every table with data has an exact count. encryption (encrypted backups only): {method: \"age\", recipients (public keys), passphrase (true when sealed with a passphrase), plaintext_sha256 and plaintext_bytes (the compressed stream before encryption)}; the record's sha256 and the sidecar are of the encrypted file, so integrity checks need no key.\n\ncopies (added by pgb-ship): [{url, bytes, sha256, shipped_at, skipped}], one entry per destination and run; skipped is true when the copy was already there.\n\nverify (added by pgb-verify): {ok, level, checks, verified_at, error}. level is \"checksum\", \"archive\" or \"restore\"; checks is a list of {name, ok, detail}; error joins the failed checks' details. The same section is written into the manifest, atomically."),
    ("ERROR RECORDS", "\"type\": \"error\" reports a failure: tool (the tool that failed), message, at (timestamp), and what identifies the subject: database, path, line (for a malformed input line), stderr (what the failing PostgreSQL program printed). Every tool passes error records it receives through byte for byte and exits non-zero at the end, so a failure anywhere in a pipeline fails the pipeline's last command. A tool that cannot start (bad option, missing program) also prints an error record, so the next tool does not mistake an empty input for success."),
    ("PRUNE RECORDS", "\"type\": \"prune\" (pgb-prune): one per backup and per stale partial file: action (\"keep\" or \"delete\"), subject (\"backup\" or \"partial\"), path, id, database, kind, started_at, reasons (every rule that keeps the backup: \"last 1 of 3\", \"within 30d\", \"daily 2026-11-20\", \"weekly 2026-W47\", \"monthly 2026-11\", \"yearly 2026\", \"label pre-deploy\", \"newest verified\", \"newest complete\", \"min-keep 1\", \"newer than --now\", \"lock held: ...\"), dry_run, and deleted (true once the files are gone)."),
    ("CHECK RECORDS", "\"type\": \"check\" (pgb-check --format json): database and kind (absent for folder-wide checks), check (exists, age, verified, size, count, sidecar, partials, manifests, space, folder), status (\"OK\", \"WARNING\", \"CRITICAL\", \"UNKNOWN\"), message, and figures, the numbers behind the status (age_seconds, warning_seconds, critical_seconds, bytes, median_bytes, change_percent, count, free_bytes...)."),
    ("RESTORE RECORDS", "\"type\": \"restore\" (pgb-restore): source {id, path, database, sha256}, target, strategy (\"swap\", \"new\", \"in-place\", \"tables\", \"globals\"), started_at, finished_at, duration_ms, old_database (the replaced database, kept), safety_backup (the dump taken before an in-place restore), tables (of a partial restore), checks (as in verify: sha256, restore, tables), notes, and rollback (how to undo the restore)."),
    ("OTHER RECORDS", "Records of other types are passed through unchanged by tools that do not handle them. An input line that is not a pgb record gives an error record naming its line number; the remaining lines are still processed."),
    ("FILES", "A backup is three files in its folder: NAME.EXT, the data (EXT is sql.gz, sql.zst, sql or dump, followed by .age when encrypted); NAME.EXT.sha256, its checksum in sha256sum format with the base name, so cd DIR && sha256sum -c NAME.EXT.sha256 works anywhere; NAME.EXT.json, the manifest, written last. The manifest is the commit marker: a data file without one is not a backup and is never counted, verified, restored or used for retention.\n\nEvery file is written as .NAME.XXXXXX.partial in the target folder, fsynced, renamed into place without replacing an existing file, and the folder fsynced: nothing appears under a final name half written, and pgb never overwrites a backup. Files are created 0600 and missing folders 0700. .DB.pgb-lock is the lock that keeps two pgb-dump runs of one database in one folder apart; it is released by the kernel when its holder exits.\n\nThe default name is DB_YYYYMMDDTHHMMSSZ in UTC; pgb-dump --name sets another template."),
    ("EXIT STATUS", "0: success. 1: the job ran and found or caused a failure (a backup failed, a check failed, an error record was received). 2: usage or setup error. pgb-check follows the monitoring-plugin convention instead (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."),
    ("SECURITY", "PostgreSQL programs are found on PATH or in --pg-bin, or run with docker exec -i for --docker, always with argument vectors, never through a shell. A password embedded in a URI or conninfo string is passed to them in the PGPASSWORD environment variable, never in argv; connection strings are redacted in every message. PGPASSFILE and .pgpass work as usual."),
    ("SEE ALSO", "pgb-dump(1), pgb-verify(1), pgb-prune(1), pgb-check(1), pgb-restore(1), pgb-ship(1), pg_dump(1), pg_dumpall(1), pg_restore(1), psql(1), sha256sum(1)"),
];

pub fn render() -> String {
    let mut roff = Roff::new();
    roff.control(
        "TH",
        [
            "PGB",
            "7",
            "",
            &format!("pgb {}", env!("CARGO_PKG_VERSION")),
            "pgb manual",
        ],
    );
    for (title, text) in SECTIONS {
        section(&mut roff, title, text);
    }
    roff.to_roff()
}

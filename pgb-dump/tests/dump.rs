//! pgb-dump against a real PostgreSQL server: round trips that compare
//! content, and every failure the foundation issue names, provoked for real.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pgb_testkit::compare::{assert_same_content, restore_with_plain_tools};
use pgb_testkit::fixtures::{create_large_database, create_rich_database, create_small_database};
use pgb_testkit::wrappers::{
    file_names, new_files, pg_bin_pausing, pg_bin_with_pg_dump, shell_quote, wait_for_file,
};
use pgb_testkit::{Cluster, Tool};
use serde_json::Value;

fn dump(cluster: &Cluster, dir: &Path) -> Tool {
    Tool::new("pgb-dump")
        .cluster(cluster)
        .args(["--dir", dir.to_str().unwrap()])
}

fn sha256sum_check(dir: &Path, data: &Path) {
    let sidecar = format!("{}.sha256", data.file_name().unwrap().to_str().unwrap());
    let out = Command::new("sha256sum")
        .args(["-c", &sidecar])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sha256sum -c {sidecar}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The files of one complete backup, checked against its record.
fn assert_complete_backup(record: &Value) -> PathBuf {
    let data = PathBuf::from(record["path"].as_str().unwrap());
    let bytes = std::fs::read(&data).unwrap();
    assert_eq!(bytes.len() as u64, record["bytes"].as_u64().unwrap());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", data.display())).unwrap())
            .unwrap();
    assert_eq!(
        &manifest, record,
        "stdout record and manifest are the same object"
    );
    sha256sum_check(data.parent().unwrap(), &data);
    data
}

#[test]
fn round_trip_every_format_and_compression_restores_identical_content() {
    let cluster = Cluster::shared();
    let source = cluster.unique_name("rich");
    create_rich_database(cluster, &source);
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["--compress", "gzip"],
        &["--compress", "zstd"],
        &["--compress", "none"],
        &["--format", "custom"],
    ];
    for (i, extra) in cases.iter().enumerate() {
        let sub = dir.path().join(i.to_string());
        let out = dump(cluster, &sub)
            .args(["-d", &source, "--count-rows"])
            .args(*extra)
            .run();
        out.expect_code(0);
        let records = out.of_type("backup");
        assert_eq!(records.len(), 1);
        let record = &records[0];
        let data = assert_complete_backup(record);
        assert_eq!(record["rows_exact"], true);
        let customers = record["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "customers")
            .unwrap();
        assert_eq!(customers["rows"], 600);
        assert!(record["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Event Log" && t["schema"] == "Audit Trail" && t["rows"] == 900));
        let copy = cluster.unique_name("rich_copy");
        restore_with_plain_tools(cluster, &data, &copy);
        assert_same_content(cluster, &source, &copy);
    }
}

#[test]
fn manifest_records_what_was_dumped_and_how() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("meta");
    create_rich_database(cluster, &db);
    let dir = tempfile::tempdir().unwrap();
    let out = dump(cluster, dir.path())
        .args([
            "-d",
            &db,
            "--label",
            "pre-deploy",
            "-n",
            "sales",
            "--exclude-table-data",
            "sales.orders",
        ])
        .args(["--name", "{db}_backup_{YYYYMMDD}_{HHMMSS}", "--level", "9"])
        .run();
    out.expect_code(0);
    let r = &out.of_type("backup")[0];
    let id = r["id"].as_str().unwrap();
    let expected_prefix = format!("{db}_backup_");
    assert!(
        id.starts_with(&expected_prefix) && id.len() == expected_prefix.len() + 15,
        "{id}"
    );
    assert!(r["path"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{id}.sql.gz")));
    for field in [
        "server_version",
        "pg_dump_version",
        "pgb_version",
        "started_at",
        "finished_at",
        "sha256",
    ] {
        assert!(
            r[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} missing: {r}"
        );
    }
    assert_eq!(r["label"], "pre-deploy");
    assert_eq!(r["level"], 9);
    assert_eq!(r["kind"], "database");
    assert_eq!(r["options"]["schemas"], serde_json::json!(["sales"]));
    assert_eq!(r["connection"]["user"], "postgres");
    assert!(r["raw_bytes"].as_u64().unwrap() > r["bytes"].as_u64().unwrap());
    let tables = r["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "only the sales schema: {tables:?}");
    assert_eq!(tables[0]["name"], "orders");
    assert_eq!(tables[0]["data"], false, "--exclude-table-data is recorded");
    assert_eq!(tables[0]["estimated_rows"], 900);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(r["path"].as_str().unwrap())
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn all_databases_plus_globals_with_jobs_and_exclusions() {
    let cluster = Cluster::start();
    for name in ["app_one", "app_two", "scratch_x"] {
        create_small_database(&cluster, name, 10);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Tool::new("pgb-dump")
        .cluster(&cluster)
        .args([
            "--all",
            "--jobs",
            "2",
            "--exclude-db",
            "scratch_*",
            "--compress",
            "zstd",
        ])
        .args(["--dir", dir.path().to_str().unwrap()])
        .run();
    out.expect_code(0);
    let records = out.of_type("backup");
    let mut names: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["database"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("database".into(), "app_one".into()),
            ("database".into(), "app_two".into()),
            ("database".into(), "postgres".into()),
            ("globals".into(), "globals".into()),
        ]
    );
    for r in &records {
        assert_complete_backup(r);
    }
    let globals = records.iter().find(|r| r["kind"] == "globals").unwrap();
    let text = Command::new("zstd")
        .args(["-dc", globals["path"].as_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("CREATE ROLE pgb_secret"));
}

#[test]
fn wrong_password_fails_cleanly_and_passwords_never_reach_argv() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("auth");
    create_small_database(cluster, &db, 5);
    let dir = tempfile::tempdir().unwrap();
    let argv_log = dir.path().join("argv.log");
    let bin = pg_bin_with_pg_dump(
        cluster,
        &dir.path().join("bin"),
        &format!(
            "echo \"$@\" >> {}\nexec \"$REAL/pg_dump\" \"$@\"",
            shell_quote(argv_log.to_str().unwrap())
        ),
    );
    let backups = dir.path().join("backups");
    let host = cluster.host().to_str().unwrap();
    let uri = |password: &str| {
        format!(
            "postgresql://pgb_secret:{}@/{db}?host={host}",
            password.replace(' ', "%20")
        )
    };

    let out = dump(cluster, &backups)
        .args(["--pg-bin", bin.to_str().unwrap(), "-d", &uri("wrong")])
        .run();
    out.expect_code(1);
    let errors = out.of_type("error");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]["stderr"]
            .as_str()
            .unwrap()
            .contains("password authentication failed"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("wrong@") && !out.stderr.contains(":wrong"),
        "password leaked: {}",
        out.stdout
    );
    assert_eq!(new_files(&backups, &[]), Vec::<String>::new());

    let out = dump(cluster, &backups)
        .args([
            "--pg-bin",
            bin.to_str().unwrap(),
            "-d",
            &uri(pgb_testkit::cluster::PASSWORD),
        ])
        .run();
    out.expect_code(0);
    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(argv.contains("--snapshot="), "pg_dump ran: {argv}");
    assert!(
        !argv.contains("horse"),
        "password in pg_dump's argv: {argv}"
    );
    assert!(!out.stdout.contains("horse") && !out.stderr.contains("horse"));
    let manifest = std::fs::read_to_string(format!(
        "{}.json",
        out.of_type("backup")[0]["path"].as_str().unwrap()
    ))
    .unwrap();
    assert!(!manifest.contains("horse"));
}

#[test]
fn pgpass_file_is_honoured() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("pgpass");
    create_small_database(cluster, &db, 5);
    let dir = tempfile::tempdir().unwrap();
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("*:*:*:pgb_secret:{}\n", pgb_testkit::cluster::PASSWORD),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = dump(cluster, &dir.path().join("b"))
        .args(["-U", "pgb_secret", "-d", &db])
        .env("PGPASSFILE", &pgpass)
        .run();
    out.expect_code(0);
    assert_eq!(out.of_type("backup")[0]["connection"]["user"], "pgb_secret");
}

#[test]
fn missing_database_gives_an_error_record_and_the_others_are_still_dumped() {
    let cluster = Cluster::shared();
    let good = cluster.unique_name("good");
    create_small_database(cluster, &good, 5);
    let dir = tempfile::tempdir().unwrap();
    let out = dump(cluster, dir.path())
        .args(["-d", "no_such_db", "-d", &good])
        .run();
    out.expect_code(1);
    let errors = out.of_type("error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["database"], "no_such_db");
    assert!(errors[0]["stderr"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    let backups = out.of_type("backup");
    assert_eq!(backups.len(), 1);
    assert_complete_backup(&backups[0]);
    let names = new_files(dir.path(), &[]);
    assert_eq!(
        names.len(),
        3,
        "only the good backup's three files: {names:?}"
    );
}

/// A good backup in `dir` to prove later failures leave earlier ones alone.
fn earlier_backup(
    cluster: &Cluster,
    dir: &Path,
    db: &str,
) -> (Vec<String>, Vec<(PathBuf, Vec<u8>)>) {
    let out = dump(cluster, dir)
        .args(["-d", db, "--name", "{db}_earlier"])
        .run();
    out.expect_code(0);
    let names = file_names(dir);
    let contents = names
        .iter()
        .filter(|n| !n.ends_with(".pgb-lock"))
        .map(|n| (dir.join(n), std::fs::read(dir.join(n)).unwrap()))
        .collect();
    (names, contents)
}

fn assert_untouched(contents: &[(PathBuf, Vec<u8>)]) {
    for (path, bytes) in contents {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
}

#[test]
fn pg_dump_killed_mid_stream_leaves_nothing_behind() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("killed");
    create_large_database(cluster, &db, 4);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let (before, contents) = earlier_backup(cluster, &backups, &db);
    let ready = dir.path().join("ready");
    // Real pg_dump output, cut after 300 kB; then this process (pgb's child)
    // stalls holding stdout open until the test kills it with SIGKILL.
    let bin = pg_bin_with_pg_dump(
        cluster,
        &dir.path().join("bin"),
        &format!(
            "\"$REAL/pg_dump\" \"$@\" | head -c 300000\necho $$ > {r}.tmp && mv {r}.tmp {r}\nexec sleep 60",
            r = shell_quote(ready.to_str().unwrap())
        ),
    );
    let child = dump(cluster, &backups)
        .args(["--pg-bin", bin.to_str().unwrap(), "-d", &db])
        .spawn();
    wait_for_file(&ready, 30);
    let pid = std::fs::read_to_string(&ready).unwrap().trim().to_string();
    let partials: Vec<String> = file_names(&backups)
        .into_iter()
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert_eq!(
        partials.len(),
        1,
        "the dump is being written to a partial file"
    );
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let error: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(error["type"], "error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("killed by signal 9"),
        "{error}"
    );
    assert_eq!(
        new_files(&backups, &before),
        Vec::<String>::new(),
        "no partial, no final file"
    );
    assert_untouched(&contents);
}

#[test]
fn server_stopped_mid_dump_fails_loudly() {
    let mut cluster = Cluster::start();
    create_large_database(&cluster, "big", 24);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let (before, contents) = earlier_backup(&cluster, &backups, "big");
    let (bin, ready) = pg_bin_pausing(&cluster, dir.path(), 65536, 2);
    let child = dump(&cluster, &backups)
        .args(["--pg-bin", bin.to_str().unwrap(), "-d", "big"])
        .spawn();
    wait_for_file(&ready, 30);
    cluster.stop_fast();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}");
    let error: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["database"], "big");
    let stderr = error["stderr"].as_str().unwrap_or_default();
    assert!(
        stderr.contains("terminating connection")
            || stderr.contains("server closed the connection"),
        "pg_dump's stderr is quoted: {error}"
    );
    assert_eq!(new_files(&backups, &before), Vec::<String>::new());
    assert_untouched(&contents);
}

#[test]
fn write_error_from_file_size_limit_removes_the_partial_file() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("fsize");
    create_large_database(cluster, &db, 4);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let small = cluster.unique_name("fsize_small");
    create_small_database(cluster, &small, 3);
    let (before, contents) = earlier_backup(cluster, &backups, &small);
    // A 1 MiB file size limit: the ~2.5 MB compressed dump cannot be stored.
    let out = Command::new("prlimit")
        .arg("--fsize=1048576")
        .arg(pgb_testkit::bin("pgb-dump"))
        .args(["--dir", backups.to_str().unwrap(), "-d", &db])
        .envs(cluster.env())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("File too large"),
        "{error}"
    );
    assert!(
        error["message"].as_str().unwrap().contains(".partial"),
        "names the path: {error}"
    );
    assert_eq!(new_files(&backups, &before), Vec::<String>::new());
    assert_untouched(&contents);
}

#[test]
fn concurrent_run_on_the_same_database_is_refused_or_waits() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("locked");
    create_small_database(cluster, &db, 100);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let (bin, ready) = pg_bin_pausing(cluster, dir.path(), 100, 2);
    let first = dump(cluster, &backups)
        .args(["--pg-bin", bin.to_str().unwrap(), "-d", &db])
        .spawn();
    wait_for_file(&ready, 30);
    let before = file_names(&backups);

    let refused = dump(cluster, &backups).args(["-d", &db]).run();
    refused.expect_code(1);
    let error = &refused.of_type("error")[0];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("another pgb-dump of"),
        "{error}"
    );
    assert_eq!(
        file_names(&backups),
        before,
        "the refused run wrote nothing"
    );

    let waited = dump(cluster, &backups)
        .args(["-d", &db, "--lock-timeout", "30s"])
        .run();
    waited.expect_code(0);
    let first = first.wait_with_output().unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    let second = &waited.of_type("backup")[0];
    assert_complete_backup(&first);
    assert_complete_backup(second);
    assert_ne!(first["path"], second["path"]);
    assert!(second["started_at"].as_str().unwrap() > first["finished_at"].as_str().unwrap());
}

#[test]
fn docker_mode_runs_programs_through_docker_exec_without_leaking_the_password() {
    // No container engine runs here, so a `docker` stand-in on PATH checks
    // the `exec -i -e NAME... CONTAINER PROGRAM ARGS` shape pgb produces and
    // runs the real program.
    let cluster = Cluster::shared();
    let db = cluster.unique_name("docker");
    create_small_database(cluster, &db, 5);
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fakebin");
    std::fs::create_dir_all(&fake).unwrap();
    let log = dir.path().join("docker.log");
    pgb_testkit::wrappers::write_script(
        &fake.join("docker"),
        &format!(
            "#!/bin/bash\necho \"$@\" >> {log}\n[ \"$1\" = exec ] && [ \"$2\" = -i ] || exit 99\nshift 2\n\
             while [ \"$1\" = -e ]; do shift 2; done\n[ \"$1\" = app-db-1 ] || exit 98\nshift\n\
             prog=$1; shift\nexec {real}/$prog \"$@\"\n",
            log = shell_quote(log.to_str().unwrap()),
            real = shell_quote(cluster.bin_dir().to_str().unwrap())
        ),
    );
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    let out = dump(cluster, &dir.path().join("b"))
        .args(["--docker", "app-db-1", "-U", "pgb_secret", "-d", &db])
        .env("PATH", &path)
        .env("PGPASSWORD", pgb_testkit::cluster::PASSWORD)
        .run();
    out.expect_code(0);
    assert_eq!(
        out.of_type("backup")[0]["connection"]["container"],
        "app-db-1"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("exec -i") && calls.contains("-e PGPASSWORD") && calls.contains("pg_dump"),
        "{calls}"
    );
    assert!(
        !calls.contains("horse"),
        "password value in docker argv: {calls}"
    );
}

#[test]
fn usage_errors_exit_2_with_an_error_record() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["--format", "custom", "--compress", "zstd", "-d", "x"],
        &["--compress", "gzip", "--level", "12", "-d", "x"],
        &["--name", "{nope}", "-d", "x"],
        &["--exclude-db", "a"],
        &["--lock-timeout", "soon", "-d", "x"],
        &["--jobs", "0", "-d", "x"],
        &["--pg-bin", "/nonexistent", "-d", "x"],
        &["--label", " ", "-d", "x"],
    ];
    for args in cases {
        let out = dump(cluster, dir.path()).args(*args).run();
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(out.of_type("error").len(), 1, "{args:?}");
        assert!(out.stderr.contains("error"), "{args:?}");
    }
    let out = dump(cluster, dir.path()).run();
    assert_eq!(out.code, 2, "nothing to dump");
    assert!(out.stderr.contains("nothing to dump"));
}

#[test]
fn log_file_and_quiet() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("logged");
    create_small_database(cluster, &db, 5);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pgb.log");
    let out = dump(cluster, &dir.path().join("b"))
        .args([
            "-d",
            &db,
            "-d",
            "missing_for_log",
            "--quiet",
            "--log-file",
            log.to_str().unwrap(),
        ])
        .run();
    out.expect_code(1);
    assert!(
        !out.stderr.contains("dumping"),
        "quiet hides progress messages: {}",
        out.stderr
    );
    assert!(out.stderr.contains("missing_for_log"), "errors still shown");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains(&format!("dumping {db}"))),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("error: missing_for_log")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.len() > 21 && l.as_bytes()[4] == b'-' && &l[19..20] == "Z"),
        "{text}"
    );
}

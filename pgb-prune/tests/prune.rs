//! pgb-prune end to end, on real backups from pgb-dump. A history over
//! weeks is made by re-dating the manifests of real backups (the data files
//! stay real) and evaluating with `--now`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pgb_testkit::fixtures::create_small_database;
use pgb_testkit::wrappers::{file_names, pg_bin_pausing, wait_for_file};
use pgb_testkit::{take_backup, Cluster, Tool, ToolOutput};
use serde_json::Value;

fn dump(cluster: &Cluster, dir: &Path, db: &str, name: &str) -> Value {
    take_backup(cluster, dir, db, &["--name", name])
}

/// Gives a real backup another start time in its manifest.
fn redate(record: &Value, started_at: &str) {
    let manifest = format!("{}.json", record["path"].as_str().unwrap());
    let mut value: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    value["started_at"] = Value::from(started_at);
    value["finished_at"] = Value::from(started_at);
    std::fs::write(&manifest, value.to_string()).unwrap();
}

fn prune(dir: &Path, args: &[&str]) -> ToolOutput {
    Tool::new("pgb-prune")
        .args(["--dir", dir.to_str().unwrap()])
        .args(args)
        .run()
}

fn decisions(out: &ToolOutput) -> Vec<(String, String, Vec<String>)> {
    let mut d: Vec<_> = out
        .of_type("prune")
        .iter()
        .filter(|r| r["subject"] == "backup")
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
                r["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    d.sort();
    d
}

/// Six real backups of `db`, re-dated over five weeks (ids h0..h5, oldest first).
fn history(cluster: &Cluster, dir: &Path, db: &str) -> Vec<Value> {
    let dates = [
        "2026-10-14T03:00:00Z", // week 42
        "2026-10-21T03:00:00Z", // week 43
        "2026-10-31T23:00:00Z", // October's last, ISO week 44
        "2026-11-18T03:00:00Z", // week 47
        "2026-11-19T03:00:00Z",
        "2026-11-20T03:00:00Z",
    ];
    dates
        .iter()
        .enumerate()
        .map(|(i, date)| {
            let r = dump(cluster, dir, db, &format!("{{db}}_h{i}"));
            redate(&r, date);
            r
        })
        .collect()
}

#[test]
fn gfs_policy_over_weeks_deletes_exactly_what_no_rule_keeps_and_never_foreign_files() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("gfs");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    let records = history(cluster, dir.path(), &db);
    let foreign = ["notes.txt", "other.sql.gz", "notes.json"];
    for name in foreign {
        std::fs::write(dir.path().join(name), "not pgb's").unwrap();
    }
    // A data file whose dump never completed: no manifest.
    std::fs::write(dir.path().join(format!("{db}_orphan.sql.gz")), "half").unwrap();
    let args = [
        "--keep-daily",
        "2",
        "--keep-weekly",
        "3",
        "--keep-monthly",
        "2",
        "--now",
        "2026-11-21T00:00:00Z",
    ];

    let dry = prune(dir.path(), &[&args[..], &["--dry-run"]].concat());
    dry.expect_code(0);
    let before = file_names(dir.path());
    let real = prune(dir.path(), &args);
    real.expect_code(0);
    assert_eq!(
        decisions(&dry),
        decisions(&real),
        "a dry run decides exactly as a real run"
    );
    assert!(dry
        .of_type("prune")
        .iter()
        .all(|r| r["dry_run"] == true && r["deleted"] == false));

    let d = decisions(&real);
    let by_id = |suffix: &str| {
        d.iter()
            .find(|(id, ..)| id.ends_with(suffix))
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_id("_h5").2,
        vec![
            "daily 2026-11-20",
            "weekly 2026-W47",
            "monthly 2026-11",
            "newest complete",
            "min-keep 1"
        ]
    );
    assert_eq!(by_id("_h4").2, vec!["daily 2026-11-19"]);
    assert_eq!(
        by_id("_h3").1,
        "delete",
        "same week and month as h5, older than two days"
    );
    assert_eq!(
        by_id("_h2").2,
        vec!["weekly 2026-W44", "monthly 2026-10"],
        "Oct 31 is in ISO week 44"
    );
    assert_eq!(by_id("_h1").2, vec!["weekly 2026-W43"]);
    assert_eq!(by_id("_h0").1, "delete");

    for (i, record) in records.iter().enumerate() {
        let data = PathBuf::from(record["path"].as_str().unwrap());
        let gone = [0, 3].contains(&i);
        for path in [
            data.clone(),
            PathBuf::from(format!("{}.json", data.display())),
            PathBuf::from(format!("{}.sha256", data.display())),
        ] {
            assert_eq!(!path.exists(), gone, "{}", path.display());
        }
    }
    for name in foreign {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            "not pgb's"
        );
    }
    assert!(
        dir.path().join(format!("{db}_orphan.sql.gz")).exists(),
        "files without manifest are never touched"
    );
    assert_eq!(file_names(dir.path()).len(), before.len() - 6);
}

#[test]
fn the_newest_verified_backup_survives_even_a_keep_last_of_one() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("floor");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    let records = history(cluster, dir.path(), &db);
    // h2 verified good; h5 (newest) failed verification.
    Tool::new("pgb-verify")
        .args([records[2]["path"].as_str().unwrap()])
        .run()
        .expect_code(0);
    let newest = records[5]["path"].as_str().unwrap();
    std::fs::write(newest, b"corrupted").unwrap();
    Tool::new("pgb-verify").args([newest]).run().expect_code(1);

    let out = prune(dir.path(), &["--keep-last", "1", "--now", "2026-11-21"]);
    out.expect_code(0);
    let d = decisions(&out);
    let kept: Vec<&str> = d
        .iter()
        .filter(|x| x.1 == "keep")
        .map(|x| x.0.as_str())
        .collect();
    assert_eq!(kept.len(), 2, "{d:?}");
    assert!(d
        .iter()
        .any(|(id, _, r)| id.ends_with("_h2") && r.contains(&"newest verified".to_string())));
    assert!(
        d.iter()
            .any(|(id, _, r)| id.ends_with("_h4") && r.contains(&"last 1 of 1".to_string())),
        "the failed h5 does not take the last slot: {d:?}"
    );
}

#[test]
fn stale_partials_are_removed_and_a_backup_being_written_is_left_alone() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("busy");
    create_small_database(cluster, &db, 100);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("b");
    let older = dump(cluster, &backups, &db, "{db}_old");
    redate(&older, "2026-01-01T00:00:00Z");
    let stale = backups.join(".crashed.sql.gz.ABC123.partial");
    std::fs::write(&stale, "left by a killed run").unwrap();
    assert!(Command::new("touch")
        .args(["-d", "3 days ago"])
        .arg(&stale)
        .status()
        .unwrap()
        .success());

    // A dump in progress holds the lock of the database in this folder.
    let (bin, ready) = pg_bin_pausing(cluster, dir.path(), 100, 3);
    let running = Tool::new("pgb-dump")
        .cluster(cluster)
        .args([
            "--dir",
            backups.to_str().unwrap(),
            "-d",
            &db,
            "--pg-bin",
            bin.to_str().unwrap(),
        ])
        .spawn();
    wait_for_file(&ready, 30);
    let out = prune(
        &backups,
        &[
            "--keep-last",
            "1",
            "--min-keep",
            "0",
            "--partial-max-age",
            "1h",
        ],
    );
    out.expect_code(0);
    let records = out.of_type("prune");
    assert!(
        records.iter().all(|r| r["action"] == "keep"),
        "{}",
        out.stdout
    );
    assert!(records[0]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("lock held"));
    assert!(
        stale.exists(),
        "no partial removed while a dump writes in the folder"
    );
    assert_eq!(running.wait_with_output().unwrap().status.code(), Some(0));

    let check = Tool::new("pgb-check")
        .args(["--dir", backups.to_str().unwrap(), "--format", "json"])
        .run();
    assert!(
        check
            .of_type("check")
            .iter()
            .any(|r| r["check"] == "partials" && r["status"] == "WARNING"),
        "{}",
        check.stdout
    );

    let out = prune(
        &backups,
        &[
            "--keep-last",
            "1",
            "--min-keep",
            "0",
            "--partial-max-age",
            "1h",
        ],
    );
    out.expect_code(0);
    let partial = out
        .of_type("prune")
        .into_iter()
        .find(|r| r["subject"] == "partial")
        .unwrap();
    assert_eq!(partial["deleted"], true);
    assert!(!stale.exists());
    assert!(
        !Path::new(older["path"].as_str().unwrap()).exists(),
        "the older backup is pruned now"
    );
    assert_eq!(
        out.of_type("prune")
            .iter()
            .filter(|r| r["action"] == "keep")
            .count(),
        1
    );
}

#[test]
fn a_failed_deletion_is_an_error_and_the_rest_goes_on() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("faildel");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    let records = history(cluster, dir.path(), &db);
    // h0's data file is replaced by a non-empty folder: it cannot be removed.
    let stuck = PathBuf::from(records[0]["path"].as_str().unwrap());
    std::fs::remove_file(&stuck).unwrap();
    std::fs::create_dir(&stuck).unwrap();
    std::fs::write(stuck.join("x"), "x").unwrap();
    let out = prune(dir.path(), &["--keep-last", "1", "--now", "2026-11-21"]);
    out.expect_code(1);
    let errors = out.of_type("error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["path"], records[0]["path"]);
    for r in &records[1..5] {
        assert!(
            !Path::new(r["path"].as_str().unwrap()).exists(),
            "the other deletions went on"
        );
    }
    assert!(Path::new(records[5]["path"].as_str().unwrap()).exists());
}

#[test]
fn no_rule_is_a_usage_error_and_retention_days_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let out = prune(dir.path(), &[]);
    out.expect_code(2);
    assert!(out.stderr.contains("no retention rule"));
    assert_eq!(out.of_type("error").len(), 1);
    let out = Tool::new("pgb-prune")
        .args(["--dir", dir.path().to_str().unwrap()])
        .env("RETENTION_DAYS", "30")
        .run();
    out.expect_code(0);
    let out = Tool::new("pgb-prune")
        .args(["--dir", dir.path().to_str().unwrap()])
        .env("RETENTION_DAYS", "a month")
        .run();
    out.expect_code(2);
    prune(dir.path(), &["--keep-within", "soon"]).expect_code(2);
    prune(dir.path(), &["--keep-last", "1", "--now", "yesterday"]).expect_code(2);
    prune(&dir.path().join("missing"), &["--keep-last", "1"]).expect_code(2);
}

/// 10,000 generated manifests: the dry run decides for all of them. The time
/// is printed, not asserted (timings belong to the benchmark).
#[test]
fn ten_thousand_backups_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    pgb_testkit::fixtures::generate_manifests(dir.path(), 10_000);
    let started = std::time::Instant::now();
    let out = prune(
        dir.path(),
        &[
            "--dry-run",
            "--keep-daily",
            "7",
            "--keep-weekly",
            "4",
            "--now",
            "2026-11-21",
        ],
    );
    eprintln!(
        "pgb-prune --dry-run on 10,000 backups: {:?}",
        started.elapsed()
    );
    out.expect_code(0);
    let records = out.of_type("prune");
    assert_eq!(records.len(), 10_000);
    let kept = records.iter().filter(|r| r["action"] == "keep").count();
    // Per database: the newest of Nov 14..20 (daily), plus weeks 45 and 44
    // (weeks 47 and 46 have their newest, Nov 20 and Sunday Nov 15, already kept).
    assert_eq!(kept, 10 * 9);
    assert_eq!(
        file_names(dir.path()).len(),
        20_000,
        "a dry run deletes nothing"
    );
}

//! The tools chained through real OS pipes, as in a shell line
//! `pgb-dump ... | pgb-verify`, against a real server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use pgb_testkit::compare::{assert_same_content, restore_with_plain_tools};
use pgb_testkit::fixtures::{create_rich_database, create_small_database};
use pgb_testkit::{bin, Cluster};
use serde_json::Value;

/// Runs `pgb-dump ARGS | pgb-verify VERIFY_ARGS`; returns both exit codes
/// and pgb-verify's stdout lines.
fn dump_into_verify(
    cluster: &Cluster,
    dump_args: &[&str],
    verify_args: &[&str],
) -> (i32, i32, Vec<String>) {
    let mut dump = Command::new(bin("pgb-dump"))
        .envs(cluster.env())
        .args(dump_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let verify = Command::new(bin("pgb-verify"))
        .envs(cluster.env())
        .args(verify_args)
        .stdin(Stdio::from(dump.stdout.take().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let dump_code = dump.wait().unwrap().code().unwrap();
    let lines = String::from_utf8_lossy(&verify.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (dump_code, verify.status.code().unwrap(), lines)
}

#[test]
fn good_record_arrives_verified_and_the_error_record_passes_through() {
    let cluster = Cluster::shared();
    let good = cluster.unique_name("good");
    create_small_database(cluster, &good, 100);
    let dir = tempfile::tempdir().unwrap();
    let (dump_code, verify_code, lines) = dump_into_verify(
        cluster,
        &[
            "--dir",
            dir.path().to_str().unwrap(),
            "-d",
            &good,
            "-d",
            "missing_db",
        ],
        &[],
    );
    assert_eq!(dump_code, 1);
    assert_eq!(verify_code, 1, "the pipeline's last command fails too");
    assert_eq!(lines.len(), 2, "{lines:?}");
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let backup = records.iter().find(|r| r["type"] == "backup").unwrap();
    assert_eq!(backup["database"], good.as_str());
    assert_eq!(backup["verify"]["ok"], true);
    assert_eq!(backup["verify"]["level"], "archive");
    let error = records.iter().find(|r| r["type"] == "error").unwrap();
    assert_eq!(error["tool"], "pgb-dump", "passed through untouched");
    assert_eq!(error["database"], "missing_db");
}

#[test]
fn usage_error_upstream_fails_the_whole_pipeline() {
    let cluster = Cluster::shared();
    let (dump_code, verify_code, lines) =
        dump_into_verify(cluster, &["--level", "99", "-d", "x"], &[]);
    assert_eq!(dump_code, 2);
    assert_eq!(
        verify_code, 1,
        "an empty-looking input must not read as success"
    );
    assert_eq!(lines.len(), 1);
}

#[test]
fn restore_level_pipeline_then_restore_with_plain_tools_matches_the_source() {
    let cluster = Cluster::shared();
    let source = cluster.unique_name("chain");
    create_rich_database(cluster, &source);
    let dir = tempfile::tempdir().unwrap();
    let (dump_code, verify_code, lines) = dump_into_verify(
        cluster,
        &[
            "--dir",
            dir.path().to_str().unwrap(),
            "-d",
            &source,
            "--count-rows",
            "--compress",
            "zstd",
        ],
        &["--level", "restore"],
    );
    assert_eq!((dump_code, verify_code), (0, 0), "{lines:?}");
    let record: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(record["verify"]["ok"], true);
    let copy = cluster.unique_name("chain_copy");
    restore_with_plain_tools(
        cluster,
        std::path::Path::new(record["path"].as_str().unwrap()),
        &copy,
    );
    assert_same_content(cluster, &source, &copy);
}

//! pgb-check on real backups: each check provoked for real, each output
//! format parsed back, the webhook received by an HTTP server in the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;

use pgb_testkit::fixtures::create_small_database;
use pgb_testkit::{take_backup, Cluster, Tool, ToolOutput};
use serde_json::Value;

fn dump(cluster: &Cluster, dir: &Path, db: &str, name: &str) -> Value {
    take_backup(cluster, dir, db, &["--name", name])
}

fn check(dir: &Path, args: &[&str]) -> ToolOutput {
    Tool::new("pgb-check")
        .args(["--dir", dir.to_str().unwrap()])
        .args(args)
        .run()
}

fn status_of(out: &ToolOutput, db: Option<&str>, name: &str) -> String {
    out.of_type("check")
        .into_iter()
        .find(|c| c["check"] == name && c["database"].as_str() == db)
        .unwrap_or_else(|| panic!("no {name} check for {db:?}: {}", out.stdout))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn fresh_verified_backups_are_ok_in_every_format() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("okdb");
    create_small_database(cluster, &db, 50);
    let dir = tempfile::tempdir().unwrap();
    let one = dump(cluster, dir.path(), &db, "{db}_1");
    let two = dump(cluster, dir.path(), &db, "{db}_2");
    Tool::new("pgb-verify")
        .args([two["path"].as_str().unwrap()])
        .run()
        .expect_code(0);
    let _ = one;

    let out = check(dir.path(), &["--require-verified", "--min-count", "2"]);
    out.expect_code(0);
    for name in ["age", "verified", "size", "count", "sidecar"] {
        assert_eq!(status_of(&out, Some(&db), name), "OK", "{name}");
    }
    assert_eq!(status_of(&out, None, "partials"), "OK");

    let nagios = check(dir.path(), &["--format", "nagios"]);
    nagios.expect_code(0);
    let line = nagios.stdout.trim_end();
    assert_eq!(nagios.stdout.lines().count(), 1);
    assert!(line.starts_with("PGB OK - "), "{line}");
    let perf = line.split(" | ").nth(1).unwrap();
    let age = perf
        .split(' ')
        .find(|p| p.starts_with(&format!("'{db}_age'=")))
        .unwrap();
    let fields: Vec<&str> = age.split('=').nth(1).unwrap().split(';').collect();
    assert!(
        fields[0].ends_with('s') && fields[1] == "93600" && fields[2] == "180000",
        "{age}"
    );
    assert!(
        perf.contains(&format!("'{db}_size'={}B", two["bytes"])),
        "{perf}"
    );

    let prom_file = dir.path().join("metrics").join("pgb.prom");
    std::fs::create_dir(dir.path().join("metrics")).unwrap();
    let prom = check(
        dir.path(),
        &[
            "--format",
            "prometheus",
            "--prometheus-file",
            prom_file.to_str().unwrap(),
        ],
    );
    prom.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&prom_file).unwrap(),
        prom.stdout,
        "file and stdout agree"
    );
    let metrics = parse_prometheus(&prom.stdout);
    let labels = format!("database=\"{db}\",kind=\"database\"");
    let finished = chrono::DateTime::parse_from_rfc3339(two["finished_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(
        metrics[&format!("pgb_last_backup_timestamp_seconds{{{labels}}}")],
        finished as f64
    );
    assert_eq!(metrics[&format!("pgb_backups{{{labels}}}")], 2.0);
    assert_eq!(
        metrics[&format!("pgb_last_backup_size_bytes{{{labels}}}")],
        two["bytes"].as_f64().unwrap()
    );
    assert!(metrics.contains_key(&format!("pgb_last_verified_timestamp_seconds{{{labels}}}")));
    assert_eq!(metrics["pgb_check_overall_status"], 0.0);
}

/// `name{labels} value` lines into a map; comments must be HELP/TYPE.
fn parse_prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    let mut map = std::collections::HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (key, value) = line.rsplit_once(' ').unwrap();
        map.insert(key.to_string(), value.parse().unwrap());
    }
    map
}

#[test]
fn age_thresholds_warn_then_go_critical() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("agedb");
    create_small_database(cluster, &db, 5);
    let dir = tempfile::tempdir().unwrap();
    let r = dump(cluster, dir.path(), &db, "{db}_1");
    let finished =
        chrono::DateTime::parse_from_rfc3339(r["finished_at"].as_str().unwrap()).unwrap();
    let at = |hours: i64| (finished + chrono::Duration::hours(hours)).to_rfc3339();
    let out = check(dir.path(), &["--now", &at(27)]);
    out.expect_code(1);
    assert_eq!(status_of(&out, Some(&db), "age"), "WARNING");
    let out = check(dir.path(), &["--now", &at(51), "--format", "nagios"]);
    out.expect_code(2);
    assert!(
        out.stdout.starts_with("PGB CRITICAL - ") && out.stdout.contains("2d 3h old"),
        "{}",
        out.stdout
    );
    let out = check(
        dir.path(),
        &["--now", &at(3), "--max-age", "2h", "--critical-age", "4h"],
    );
    out.expect_code(1);
}

#[test]
fn missing_database_failed_verification_and_unverified_are_flagged() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("verdb");
    create_small_database(cluster, &db, 5);
    let dir = tempfile::tempdir().unwrap();
    let r = dump(cluster, dir.path(), &db, "{db}_1");

    let out = check(dir.path(), &["--database", "nothing_here"]);
    out.expect_code(2);
    assert_eq!(status_of(&out, Some("nothing_here"), "exists"), "CRITICAL");

    let out = check(dir.path(), &["--require-verified"]);
    out.expect_code(1);
    assert_eq!(status_of(&out, Some(&db), "verified"), "WARNING");

    let data = r["path"].as_str().unwrap();
    let mut bytes = std::fs::read(data).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(data, bytes).unwrap();
    Tool::new("pgb-verify").args([data]).run().expect_code(1);
    let out = check(dir.path(), &[]);
    out.expect_code(2);
    assert_eq!(status_of(&out, Some(&db), "verified"), "CRITICAL");
}

#[test]
fn size_jump_count_and_sidecar_problems() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("sizedb");
    create_small_database(cluster, &db, 20);
    let dir = tempfile::tempdir().unwrap();
    dump(cluster, dir.path(), &db, "{db}_1");
    dump(cluster, dir.path(), &db, "{db}_2");
    cluster.psql(
        &db,
        "INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1000, 50000) i",
    );
    let big = dump(cluster, dir.path(), &db, "{db}_3");
    let out = check(dir.path(), &["--min-count", "5"]);
    out.expect_code(1);
    assert_eq!(status_of(&out, Some(&db), "size"), "WARNING");
    assert_eq!(status_of(&out, Some(&db), "count"), "WARNING");
    check(dir.path(), &["--size-change", "10000000"]).expect_code(0);

    let data = big["path"].as_str().unwrap().to_string();
    let sidecar = format!("{data}.sha256");
    let original = std::fs::read_to_string(&sidecar).unwrap();
    std::fs::remove_file(&sidecar).unwrap();
    let out = check(dir.path(), &["--size-change", "10000000"]);
    out.expect_code(1);
    assert_eq!(status_of(&out, Some(&db), "sidecar"), "WARNING");
    std::fs::write(&sidecar, format!("{}{}", "0".repeat(64), &original[64..])).unwrap();
    let out = check(dir.path(), &["--size-change", "10000000"]);
    out.expect_code(2);
    assert_eq!(status_of(&out, Some(&db), "sidecar"), "CRITICAL");

    std::fs::write(&sidecar, original).unwrap();
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    check(dir.path(), &["--size-change", "10000000"]).expect_code(0);
    let out = check(dir.path(), &["--size-change", "10000000", "--deep"]);
    out.expect_code(2);
    assert_eq!(status_of(&out, Some(&db), "sidecar"), "CRITICAL");
}

#[test]
fn free_space_unreadable_folder_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), &["--min-free", "100%"]);
    out.expect_code(1);
    assert_eq!(status_of(&out, None, "space"), "WARNING");
    check(dir.path(), &["--min-free", "1"]).expect_code(0);
    let out = check(&dir.path().join("missing"), &["--format", "nagios"]);
    out.expect_code(3);
    assert!(out.stdout.starts_with("PGB UNKNOWN - "), "{}", out.stdout);
    check(dir.path(), &["--max-age", "tomorrow"]).expect_code(3);
    check(dir.path(), &["--min-free", "lots"]).expect_code(3);
    check(dir.path(), &["--max-age", "10h", "--critical-age", "5h"]).expect_code(3);
}

#[test]
fn webhook_receives_not_ok_results_and_a_dead_webhook_changes_nothing() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("hookdb");
    create_small_database(cluster, &db, 5);
    let dir = tempfile::tempdir().unwrap();
    dump(cluster, dir.path(), &db, "{db}_1");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hooks/secret-token",
        listener.local_addr().unwrap()
    );
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .unwrap();
        (request_line, String::from_utf8(body).unwrap())
    });
    let out = check(dir.path(), &["--require-verified", "--webhook", &url]);
    out.expect_code(1);
    let (request_line, body) = server.join().unwrap();
    assert!(
        request_line.starts_with("POST /hooks/secret-token"),
        "{request_line}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(body["text"].as_str().unwrap().starts_with("PGB WARNING - "));
    assert_eq!(body["status"], "WARNING");
    assert!(body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["check"] == "verified"));

    // Nothing listens on this port any more: reported, exit status unchanged.
    let out = check(dir.path(), &["--require-verified", "--webhook", &url]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("webhook http://127.0.0.1"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("secret-token"),
        "the webhook path is a credential"
    );
}

/// 10,000 generated manifests checked; the time is printed, not asserted.
#[test]
fn ten_thousand_backups() {
    let dir = tempfile::tempdir().unwrap();
    pgb_testkit::fixtures::generate_manifests(dir.path(), 10_000);
    let started = std::time::Instant::now();
    let out = check(dir.path(), &["--now", "2026-11-21T00:00:00Z"]);
    eprintln!("pgb-check on 10,000 backups: {:?}", started.elapsed());
    out.expect_code(0);
    let checks = out.of_type("check");
    assert_eq!(checks.iter().filter(|c| c["check"] == "count").count(), 10);
    assert!(checks
        .iter()
        .filter(|c| c["check"] == "count")
        .all(|c| c["figures"]["count"] == 1000));
}

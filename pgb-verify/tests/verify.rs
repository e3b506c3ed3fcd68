//! pgb-verify against real backups from pgb-dump and a real server:
//! corruption of every kind is detected, results land in the manifest,
//! records pass through with their unknown fields.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use pgb_testkit::fixtures::{create_rich_database, create_small_database};
use pgb_testkit::{take_backup, Cluster, Tool, ToolOutput};
use serde_json::Value;

/// Takes a backup of `db` into `dir` and returns its record.
fn backup(cluster: &Cluster, dir: &Path, db: &str, extra: &[&str]) -> Value {
    take_backup(cluster, dir, db, extra)
}

fn verify_paths(cluster: &Cluster, args: &[&str]) -> ToolOutput {
    Tool::new("pgb-verify").cluster(cluster).args(args).run()
}

fn data_path(record: &Value) -> PathBuf {
    PathBuf::from(record["path"].as_str().unwrap())
}

fn failed_checks(record: &Value) -> Vec<String> {
    record["verify"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn manifest_of(record: &Value) -> Value {
    serde_json::from_slice(&std::fs::read(format!("{}.json", data_path(record).display())).unwrap())
        .unwrap()
}

#[test]
fn every_level_passes_on_good_backups_of_both_formats_and_is_recorded() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("good");
    create_rich_database(cluster, &db);
    let dir = tempfile::tempdir().unwrap();
    let plain = backup(cluster, &dir.path().join("p"), &db, &["--count-rows"]);
    let custom = backup(cluster, &dir.path().join("c"), &db, &["--format", "custom"]);
    let zstd = backup(
        cluster,
        &dir.path().join("z"),
        &db,
        &["--compress", "zstd", "--count-rows"],
    );
    for record in [&plain, &custom, &zstd] {
        for level in ["checksum", "archive", "restore"] {
            let out = verify_paths(
                cluster,
                &["--level", level, data_path(record).to_str().unwrap()],
            );
            out.expect_code(0);
            let verified = &out.of_type("backup")[0];
            assert_eq!(verified["verify"]["ok"], true, "{level}: {verified}");
            assert_eq!(verified["verify"]["level"], level);
            let names: Vec<&str> = verified["verify"]["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
                .collect();
            for expected in ["manifest", "sidecar", "size", "sha256"] {
                assert!(names.contains(&expected), "{level}: {names:?}");
            }
            if level != "checksum" {
                assert!(names.contains(&"archive"), "{level}: {names:?}");
            }
            if level == "restore" {
                assert!(
                    names.contains(&"restore") && names.contains(&"tables"),
                    "{names:?}"
                );
            }
            let manifest = manifest_of(record);
            assert_eq!(
                manifest["verify"]["level"], level,
                "result recorded in the manifest"
            );
            assert_eq!(
                manifest["sha256"], record["sha256"],
                "manifest otherwise unchanged"
            );
        }
    }
    let out = verify_paths(
        cluster,
        &["--level", "restore", data_path(&plain).to_str().unwrap()],
    );
    assert_scratch_dropped(cluster, &out.stdout);
    let tables = &out.of_type("backup")[0]["verify"]["checks"];
    let detail = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tables")
        .unwrap()["detail"]
        .clone();
    assert!(detail.as_str().unwrap().contains("row counts"), "{detail}");
}

/// Asserts that every scratch database named in pgb-verify's output is gone
/// (other tests run restores at the same time, so only these names count).
fn assert_scratch_dropped(cluster: &Cluster, stdout: &str) {
    let mut named = 0;
    for (i, _) in stdout.match_indices("pgb_verify_") {
        let name: String = stdout[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        named += 1;
        assert!(!cluster.database_exists(&name), "{name} was left behind");
    }
    assert!(named > 0, "the output names its scratch database: {stdout}");
}

#[test]
fn flipped_byte_is_detected() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("flip");
    create_small_database(cluster, &db, 2000);
    let dir = tempfile::tempdir().unwrap();
    let record = backup(cluster, dir.path(), &db, &[]);
    let path = data_path(&record);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let out = verify_paths(cluster, &["--level", "checksum", path.to_str().unwrap()]);
    out.expect_code(1);
    let verified = &out.of_type("backup")[0];
    assert_eq!(failed_checks(verified), vec!["sha256"]);
    assert!(out.stderr.contains("FAILED") && out.stderr.contains("sha256"));
    assert_eq!(
        manifest_of(&record)["verify"]["ok"],
        false,
        "the failure is recorded"
    );
    let out = verify_paths(cluster, &[path.to_str().unwrap()]);
    out.expect_code(1);
    assert!(failed_checks(&out.of_type("backup")[0]).contains(&"archive".to_string()));
}

#[test]
fn truncated_file_is_detected_at_every_level() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("trunc");
    create_small_database(cluster, &db, 2000);
    let dir = tempfile::tempdir().unwrap();
    for format in ["plain", "custom"] {
        let record = backup(
            cluster,
            &dir.path().join(format),
            &db,
            &["--format", format],
        );
        let path = data_path(&record);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
        for level in ["checksum", "archive", "restore"] {
            let out = verify_paths(cluster, &["--level", level, path.to_str().unwrap()]);
            out.expect_code(1);
            if level == "restore" {
                assert_scratch_dropped(cluster, &out.stdout);
            }
            let failed = failed_checks(&out.of_type("backup")[0]);
            assert!(
                failed.contains(&"size".to_string()) && failed.contains(&"sha256".to_string()),
                "{failed:?}"
            );
            if level != "checksum" {
                assert!(
                    failed.contains(&"archive".to_string()) || failed.contains(&level.to_string()),
                    "{format} {level}: {failed:?}"
                );
            }
        }
    }
}

#[test]
fn missing_manifest_means_not_a_backup() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("nomani");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    let record = backup(cluster, dir.path(), &db, &[]);
    std::fs::remove_file(format!("{}.json", data_path(&record).display())).unwrap();
    let out = verify_paths(cluster, &[data_path(&record).to_str().unwrap()]);
    out.expect_code(1);
    let error = &out.of_type("error")[0];
    assert!(
        error["message"].as_str().unwrap().contains("no manifest"),
        "{error}"
    );
    // The record from stdin still names the backup: the manifest check fails.
    let out = Tool::new("pgb-verify")
        .cluster(cluster)
        .stdin(format!("{record}\n"))
        .run();
    out.expect_code(1);
    let verified = &out.of_type("backup")[0];
    assert!(
        failed_checks(verified).contains(&"manifest".to_string()),
        "{verified}"
    );
    assert!(
        !Path::new(&format!("{}.json", data_path(&record).display())).exists(),
        "no manifest created"
    );
}

#[test]
fn sidecar_that_disagrees_or_is_missing_is_detected() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("sidecar");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    let record = backup(cluster, dir.path(), &db, &[]);
    let sidecar = format!("{}.sha256", data_path(&record).display());
    let name = data_path(&record)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    std::fs::write(&sidecar, format!("{}  {name}\n", "0".repeat(64))).unwrap();
    let out = verify_paths(
        cluster,
        &["--level", "checksum", data_path(&record).to_str().unwrap()],
    );
    out.expect_code(1);
    let verified = &out.of_type("backup")[0];
    assert_eq!(failed_checks(verified), vec!["sidecar"]);
    assert!(verified["verify"]["error"]
        .as_str()
        .unwrap()
        .contains("disagrees"));
    std::fs::remove_file(&sidecar).unwrap();
    let out = verify_paths(
        cluster,
        &["--level", "checksum", data_path(&record).to_str().unwrap()],
    );
    out.expect_code(1);
    assert_eq!(failed_checks(&out.of_type("backup")[0]), vec!["sidecar"]);
}

#[test]
fn restore_level_compares_exact_row_counts() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("counts");
    create_small_database(cluster, &db, 50);
    let dir = tempfile::tempdir().unwrap();
    let record = backup(cluster, dir.path(), &db, &["--count-rows"]);
    // A manifest that expects more rows than the dump holds.
    let manifest_path = format!("{}.json", data_path(&record).display());
    let mut manifest = manifest_of(&record);
    manifest["tables"][0]["rows"] = Value::from(51);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let out = verify_paths(
        cluster,
        &["--level", "restore", data_path(&record).to_str().unwrap()],
    );
    out.expect_code(1);
    let verified = &out.of_type("backup")[0];
    assert_eq!(failed_checks(verified), vec!["tables"]);
    assert!(verified["verify"]["error"]
        .as_str()
        .unwrap()
        .contains("expected 51 rows, found 50"));
    assert_scratch_dropped(cluster, &out.stdout);
}

#[test]
fn records_pass_through_with_unknown_fields_and_errors_untouched() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("pass");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    let mut record = backup(cluster, dir.path(), &db, &[]);
    record["copies"] = serde_json::json!([{"url": "s3://bucket/x", "bytes": 1}]);
    let error_line =
        r#"{"pgb":1,"type":"error","tool":"pgb-dump","message":"boom","database":"other"}"#;
    let other_line = r#"{"pgb":1,"type":"note","x":[1,2]}"#;
    let input = format!("{record}\nthis is not json\n{error_line}\n\n{other_line}\n");
    let out = Tool::new("pgb-verify").cluster(cluster).stdin(input).run();
    out.expect_code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    let verified: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(verified["verify"]["ok"], true);
    assert_eq!(verified["copies"][0]["url"], "s3://bucket/x");
    let malformed: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(malformed["type"], "error");
    assert_eq!(malformed["line"], 2);
    assert_eq!(
        lines[2], error_line,
        "error records pass through byte for byte"
    );
    assert_eq!(lines[3], other_line);
}

#[test]
fn globs_and_folders_name_each_backup_once() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("globs");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    backup(cluster, dir.path(), &db, &["--name", "{db}_one"]);
    backup(cluster, dir.path(), &db, &["--name", "{db}_two"]);
    std::fs::write(dir.path().join("notes.json"), "{\"mine\": true}").unwrap();
    let glob = format!("{}/*", dir.path().display());
    let out = verify_paths(cluster, &["--level", "checksum", &glob]);
    out.expect_code(0);
    assert_eq!(out.of_type("backup").len(), 2);
    let out = verify_paths(
        cluster,
        &["--level", "checksum", dir.path().to_str().unwrap()],
    );
    out.expect_code(0);
    assert_eq!(out.of_type("backup").len(), 2);
    let out = verify_paths(
        cluster,
        &[
            "--level",
            "checksum",
            &format!("{}/nothing*", dir.path().display()),
        ],
    );
    out.expect_code(2);
}

#[test]
fn no_record_leaves_manifests_alone_and_bad_options_are_usage_errors() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("norec");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    let record = backup(cluster, dir.path(), &db, &[]);
    let manifest = format!("{}.json", data_path(&record).display());
    let before = std::fs::read(&manifest).unwrap();
    verify_paths(
        cluster,
        &["--no-record", data_path(&record).to_str().unwrap()],
    )
    .expect_code(0);
    assert_eq!(std::fs::read(&manifest).unwrap(), before);
    let out = verify_paths(
        cluster,
        &["--level", "deep", data_path(&record).to_str().unwrap()],
    );
    out.expect_code(2);
    assert_eq!(out.of_type("error").len(), 1);
}

//! pgb-ship against real destinations: a folder, a moto S3 server on
//! loopback (behind a proxy that can cut an upload half way) and an sshd on
//! loopback with its own keys and known_hosts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pgb_testkit::fixtures::{create_large_database, create_small_database};
use pgb_testkit::servers::{CuttingProxy, S3Server, SshServer};
use pgb_testkit::{take_backup, Cluster, Tool, ToolOutput};
use serde_json::Value;

fn dump(cluster: &Cluster, dir: &Path, db: &str, extra: &[&str]) -> Value {
    take_backup(cluster, dir, db, extra)
}

fn ship(record: &Value, args: &[&str], env: &[(String, String)]) -> ToolOutput {
    let mut tool = Tool::new("pgb-ship")
        .args(args)
        .stdin(format!("{record}\n"));
    for (k, v) in env {
        tool = tool.env(k, v);
    }
    tool.run()
}

fn names(record: &Value) -> [String; 3] {
    let data = Path::new(record["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    [
        data.clone(),
        format!("{data}.sha256"),
        format!("{data}.json"),
    ]
}

fn sha256sum_check(dir: &Path, sidecar: &str) {
    let out = Command::new("sha256sum")
        .args(["-c", sidecar])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn folder_destination_copy_skip_and_conflict() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("shipdir");
    create_small_database(cluster, &db, 50);
    let dir = tempfile::tempdir().unwrap();
    let record = dump(cluster, &dir.path().join("local"), &db, &[]);
    let dest = dir.path().join("offsite");
    std::fs::create_dir(&dest).unwrap();

    let out = ship(&record, &[dest.to_str().unwrap()], &[]);
    out.expect_code(0);
    let shipped = &out.of_type("backup")[0];
    assert_eq!(shipped["copies"][0]["skipped"], false);
    assert_eq!(shipped["copies"][0]["sha256"], record["sha256"]);
    let [data, sidecar, manifest] = names(&record);
    for name in [&data, &sidecar, &manifest] {
        assert!(dest.join(name).exists(), "{name}");
    }
    sha256sum_check(&dest, &sidecar);

    let again = ship(shipped, &[dest.to_str().unwrap()], &[]);
    again.expect_code(0);
    let copies = &again.of_type("backup")[0]["copies"];
    assert_eq!(
        copies.as_array().unwrap().len(),
        2,
        "earlier copies are kept"
    );
    assert_eq!(copies[1]["skipped"], true, "shipping twice is a no-op");

    std::fs::write(dest.join(&data), b"someone else's file").unwrap();
    let conflict = ship(&record, &[dest.to_str().unwrap()], &[]);
    conflict.expect_code(1);
    let error = &conflict.of_type("error")[0];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("never overwrites"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(dest.join(&data)).unwrap(),
        b"someone else's file"
    );
}

#[test]
fn s3_multipart_upload_idempotence_and_interrupted_upload() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("ships3");
    create_large_database(cluster, &db, 20);
    let dir = tempfile::tempdir().unwrap();
    // Uncompressed so the file spans several 8 MiB parts.
    let record = dump(cluster, dir.path(), &db, &["--compress", "none"]);
    assert!(record["bytes"].as_u64().unwrap() > 17 * 1024 * 1024);
    let s3 = S3Server::start();
    s3.create_bucket("backups");
    let [data, sidecar, manifest] = names(&record);

    // The server "dies" after 10 MB: the upload fails, nothing looks complete.
    let proxy = CuttingProxy::start(s3.port, 10 * 1024 * 1024);
    let mut env = s3.env();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
    let out = ship(
        &record,
        &["s3://backups/pg/prod", "--endpoint", &proxy.endpoint()],
        &env,
    );
    out.expect_code(1);
    assert!(proxy.cut());
    assert_eq!(out.of_type("error").len(), 1);
    assert!(
        s3.keys("backups", "pg/")
            .iter()
            .all(|k| !k.ends_with(".json")),
        "no remote manifest"
    );
    assert!(
        !s3.keys("backups", "pg/")
            .contains(&format!("pg/prod/{data}")),
        "no partial object"
    );

    // The next run completes the copy.
    proxy.heal();
    let out = ship(
        &record,
        &["s3://backups/pg/prod", "--endpoint", &proxy.endpoint()],
        &env,
    );
    out.expect_code(0);
    let keys = s3.keys("backups", "pg/prod/");
    assert_eq!(
        keys,
        vec![
            format!("pg/prod/{data}"),
            format!("pg/prod/{manifest}"),
            format!("pg/prod/{sidecar}")
        ]
    );
    let stored = s3.object("backups", &format!("pg/prod/{data}"));
    assert_eq!(
        stored,
        std::fs::read(record["path"].as_str().unwrap()).unwrap()
    );
    let shipped = &out.of_type("backup")[0];
    assert_eq!(
        shipped["copies"][0]["url"],
        format!("s3://backups/pg/prod/{data}")
    );

    // Twice is a no-op; the direct endpoint from AWS_ENDPOINT_URL works too.
    let out = ship(&record, &["s3://backups/pg/prod"], &s3.env());
    out.expect_code(0);
    assert_eq!(out.of_type("backup")[0]["copies"][0]["skipped"], true);
}

/// Peak RSS (KiB) of `pgb-ship s3://BUCKET/x FILE`.
fn ship_peak_rss(s3: &S3Server, bucket: &str, file: &str, dir: &Path) -> u64 {
    let rss = dir.join(format!("rss-{bucket}"));
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o", rss.to_str().unwrap()])
        .arg(pgb_testkit::bin("pgb-ship"))
        .args([&format!("s3://{bucket}/x"), file])
        .envs(s3.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&rss)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn s3_memory_does_not_grow_with_the_file_and_credentials_are_required() {
    let cluster = Cluster::shared();
    let (small_db, large_db) = (
        cluster.unique_name("shipmem_s"),
        cluster.unique_name("shipmem_l"),
    );
    create_large_database(cluster, &small_db, 16);
    create_large_database(cluster, &large_db, 64);
    let dir = tempfile::tempdir().unwrap();
    let small = dump(cluster, dir.path(), &small_db, &["--compress", "none"]);
    let large = dump(cluster, dir.path(), &large_db, &["--compress", "none"]);
    let s3 = S3Server::start();
    s3.create_bucket("small");
    s3.create_bucket("large");
    let small_rss = ship_peak_rss(&s3, "small", small["path"].as_str().unwrap(), dir.path());
    let large_rss = ship_peak_rss(&s3, "large", large["path"].as_str().unwrap(), dir.path());
    let (small_mb, large_mb) = (
        small["bytes"].as_u64().unwrap() >> 20,
        large["bytes"].as_u64().unwrap() >> 20,
    );
    eprintln!("pgb-ship peak RSS: {small_mb} MiB file {small_rss} KiB, {large_mb} MiB file {large_rss} KiB");
    // Four times the data, about the same memory: one part at a time.
    assert!(large_mb > 3 * small_mb);
    assert!(
        large_rss < small_rss + 16 * 1024,
        "{small_rss} KiB vs {large_rss} KiB"
    );

    let mut no_credentials =
        Tool::new("pgb-ship").args(["s3://small/y", small["path"].as_str().unwrap()]);
    no_credentials
        .command_mut()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", s3.endpoint())
        .env("HOME", dir.path());
    let out = no_credentials.run();
    out.expect_code(2);
    assert!(out.stderr.contains("AWS_ACCESS_KEY_ID"), "{}", out.stderr);
}

#[test]
fn ssh_destination_copy_skip_and_conflict() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("shipssh");
    create_small_database(cluster, &db, 50);
    let dir = tempfile::tempdir().unwrap();
    let record = dump(cluster, &dir.path().join("local"), &db, &[]);
    let sshd = SshServer::start(&dir.path().join("sshd"));
    let remote = dir.path().join("remote dir");
    let url = format!("ssh://pgbtest{}", remote.display());
    let config = sshd.config();
    let args = [url.as_str(), "--ssh-config", config.to_str().unwrap()];

    let out = ship(&record, &args, &[]);
    out.expect_code(0);
    let [data, sidecar, _] = names(&record);
    sha256sum_check(&remote, &sidecar);
    let leftovers: Vec<PathBuf> = std::fs::read_dir(&remote)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("pgb-partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let again = ship(&record, &args, &[]);
    again.expect_code(0);
    assert_eq!(again.of_type("backup")[0]["copies"][0]["skipped"], true);

    std::fs::write(remote.join(&data), b"different").unwrap();
    let conflict = ship(&record, &args, &[]);
    conflict.expect_code(1);
    assert_eq!(std::fs::read(remote.join(&data)).unwrap(), b"different");

    let unknown_host = ship(
        &record,
        &[
            "ssh://nosuchhost.invalid/x",
            "--ssh-config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    unknown_host.expect_code(1);
    assert!(
        unknown_host.of_type("error")[0]["stderr"]
            .as_str()
            .is_some(),
        "ssh's own message is quoted"
    );
}

#[test]
fn delete_local_keeps_the_newest_backup() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("shipdel");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    let older = dump(cluster, &local, &db, &["--name", "{db}_1"]);
    let newer = dump(cluster, &local, &db, &["--name", "{db}_2"]);
    let dest = dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let out = Tool::new("pgb-ship")
        .args([
            dest.to_str().unwrap(),
            older["path"].as_str().unwrap(),
            newer["path"].as_str().unwrap(),
            "--delete-local",
        ])
        .run();
    out.expect_code(0);
    assert!(
        !Path::new(older["path"].as_str().unwrap()).exists(),
        "confirmed everywhere: deleted"
    );
    assert!(
        Path::new(newer["path"].as_str().unwrap()).exists(),
        "the newest local backup stays"
    );
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 6);
    Tool::new("pgb-ship")
        .args(["--delete-newest", dest.to_str().unwrap()])
        .run()
        .expect_code(2);
    Tool::new("pgb-ship")
        .args([newer["path"].as_str().unwrap()])
        .run()
        .expect_code(2);
}

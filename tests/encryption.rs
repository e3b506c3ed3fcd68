//! Encryption at rest through the whole chain: dump, verify, restore, with
//! recipients and with a passphrase; wrong or missing keys refused; and no
//! plaintext on disk while an encrypted dump is being written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use pgb_testkit::compare::assert_same_content;
use pgb_testkit::fixtures::{create_large_database, create_rich_database};
use pgb_testkit::wrappers::{file_names, pg_bin_pausing, wait_for_file};
use pgb_testkit::{Cluster, Tool};
use serde_json::Value;

/// A fresh identity file and its public key.
fn identity(dir: &Path, name: &str) -> (PathBuf, String) {
    let id = age::x25519::Identity::generate();
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).unwrap();
    (path, id.to_public().to_string())
}

fn checks_failed(record: &Value) -> Vec<String> {
    record["verify"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| format!("{}: {}", c["name"], c["detail"]))
        .collect()
}

#[test]
fn recipients_round_trip_through_dump_verify_restore() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("sealed");
    create_rich_database(cluster, &db);
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = identity(dir.path(), "key.txt");
    let (other_key, _) = identity(dir.path(), "other.txt");
    let backups = dir.path().join("b");
    for format in ["plain", "custom"] {
        let out = Tool::new("pgb-dump")
            .cluster(cluster)
            .args([
                "--dir",
                backups.to_str().unwrap(),
                "-d",
                &db,
                "--format",
                format,
                "--count-rows",
            ])
            .args(["--encrypt-to", &public])
            .run();
        out.expect_code(0);
        let record = &out.of_type("backup")[0];
        let path = record["path"].as_str().unwrap();
        assert!(path.ends_with(".age"), "{path}");
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1"));
        assert_eq!(record["encryption"]["recipients"][0], public.as_str());
        assert!(!record.to_string().contains("AGE-SECRET-KEY"));
        let sidecar = format!(
            "{}.sha256",
            Path::new(path).file_name().unwrap().to_str().unwrap()
        );
        let status = std::process::Command::new("sha256sum")
            .args(["-c", &sidecar])
            .current_dir(&backups)
            .status()
            .unwrap();
        assert!(status.success(), "the sidecar hashes the encrypted bytes");

        Tool::new("pgb-verify")
            .args(["--level", "checksum", path])
            .run()
            .expect_code(0);
        let out = Tool::new("pgb-verify").args(["--no-record", path]).run();
        out.expect_code(1);
        assert!(
            checks_failed(&out.of_type("backup")[0])
                .join(" ")
                .contains("--identity"),
            "{}",
            out.stdout
        );
        let out = Tool::new("pgb-verify")
            .args([
                "--no-record",
                "--identity",
                other_key.to_str().unwrap(),
                path,
            ])
            .run();
        out.expect_code(1);
        assert!(
            checks_failed(&out.of_type("backup")[0])
                .join(" ")
                .contains("wrong key"),
            "{}",
            out.stdout
        );
        let out = Tool::new("pgb-verify")
            .cluster(cluster)
            .args([
                "--level",
                "restore",
                "--identity",
                key.to_str().unwrap(),
                path,
            ])
            .run();
        out.expect_code(0);
        let checks = out.of_type("backup")[0]["verify"]["checks"].to_string();
        assert!(checks.contains("plaintext_sha256"), "{checks}");

        let refused = Tool::new("pgb-restore")
            .cluster(cluster)
            .args([path, "--to", &cluster.unique_name("nokey")])
            .run();
        refused.expect_code(2);
        let copy = cluster.unique_name("sealed_copy");
        let out = Tool::new("pgb-restore")
            .cluster(cluster)
            .args([path, "--to", &copy, "--identity", key.to_str().unwrap()])
            .run();
        out.expect_code(0);
        assert_same_content(cluster, &db, &copy);
    }
}

#[test]
fn passphrase_round_trip_and_wrong_passphrase() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("phrase");
    pgb_testkit::fixtures::create_small_database(cluster, &db, 100);
    let dir = tempfile::tempdir().unwrap();
    let phrase = dir.path().join("phrase");
    std::fs::write(&phrase, "correct horse battery staple\n").unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "incorrect\n").unwrap();
    let out = Tool::new("pgb-dump")
        .cluster(cluster)
        .args(["--dir", dir.path().join("b").to_str().unwrap(), "-d", &db])
        .args(["--encrypt-passphrase-file", phrase.to_str().unwrap()])
        .run();
    out.expect_code(0);
    let record = &out.of_type("backup")[0];
    assert_eq!(record["encryption"]["passphrase"], true);
    let path = record["path"].as_str().unwrap();
    Tool::new("pgb-verify")
        .args(["--passphrase-file", phrase.to_str().unwrap(), path])
        .run()
        .expect_code(0);
    let out = Tool::new("pgb-verify")
        .args(["--passphrase-file", wrong.to_str().unwrap(), path])
        .run();
    out.expect_code(1);
    assert!(checks_failed(&out.of_type("backup")[0])
        .join(" ")
        .contains("wrong key"));
    Tool::new("pgb-dump")
        .args(["-d", "x", "--encrypt-to", "age1notakey"])
        .run()
        .expect_code(2);
    Tool::new("pgb-dump")
        .args(["-d", "x", "--encrypt-passphrase-file", "/nonexistent"])
        .run()
        .expect_code(2);
}

#[test]
fn no_plaintext_touches_the_disk_during_an_encrypted_dump() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("noplain");
    create_large_database(cluster, &db, 3);
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = identity(dir.path(), "key.txt");
    let backups = dir.path().join("b");
    let (bin, ready) = pg_bin_pausing(cluster, dir.path(), 1000000, 2);
    let child = Tool::new("pgb-dump")
        .cluster(cluster)
        .args([
            "--dir",
            backups.to_str().unwrap(),
            "-d",
            &db,
            "--pg-bin",
            bin.to_str().unwrap(),
        ])
        .args(["--encrypt-to", &public, "--compress", "none"])
        .spawn();
    wait_for_file(&ready, 30);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let names = file_names(&backups);
    let partials: Vec<&String> = names.iter().filter(|n| n.ends_with(".partial")).collect();
    assert_eq!(partials.len(), 1, "{names:?}");
    assert_eq!(
        names.len(),
        2,
        "only the partial file and the lock: {names:?}"
    );
    let partial = std::fs::read(backups.join(partials[0])).unwrap();
    assert!(
        partial.len() > 100_000,
        "data is being written ({} bytes)",
        partial.len()
    );
    assert!(partial.starts_with(b"age-encryption.org/v1"));
    for needle in [
        &b"PostgreSQL database dump"[..],
        b"COPY public.payload",
        b"CREATE TABLE",
    ] {
        assert!(
            !partial.windows(needle.len()).any(|w| w == needle),
            "plaintext on disk"
        );
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

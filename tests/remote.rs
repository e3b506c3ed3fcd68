//! Remote catalogs: pgb-check, pgb-verify, pgb-prune and pgb-restore on
//! s3:// (moto on loopback) and ssh:// (sshd on loopback) URLs, with backups
//! shipped there by pgb-ship.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use pgb_testkit::compare::assert_same_content;
use pgb_testkit::fixtures::create_small_database;
use pgb_testkit::servers::{S3Server, SshServer};
use pgb_testkit::{Cluster, Tool, ToolOutput};
use serde_json::Value;

fn with_env(mut tool: Tool, env: &[(String, String)]) -> Tool {
    for (k, v) in env {
        tool = tool.env(k, v);
    }
    tool
}

fn run(name: &str, args: &[&str], env: &[(String, String)], cluster: &Cluster) -> ToolOutput {
    with_env(Tool::new(name).cluster(cluster).args(args), env).run()
}

/// Three real backups re-dated a day apart, then shipped to `dests`.
fn backups_shipped(
    cluster: &Cluster,
    db: &str,
    local: &Path,
    dests: &[&str],
    env: &[(String, String)],
) -> Vec<Value> {
    let mut records = Vec::new();
    for (i, day) in ["2026-11-18", "2026-11-19", "2026-11-20"]
        .iter()
        .enumerate()
    {
        let out = run(
            "pgb-dump",
            &[
                "--dir",
                local.to_str().unwrap(),
                "-d",
                db,
                "--name",
                &format!("{{db}}_{i}"),
                "--count-rows",
            ],
            &[],
            cluster,
        );
        out.expect_code(0);
        let mut record = out.of_type("backup").remove(0);
        let manifest = format!("{}.json", record["path"].as_str().unwrap());
        record["started_at"] = Value::from(format!("{day}T03:00:00Z"));
        record["finished_at"] = Value::from(format!("{day}T03:00:10Z"));
        std::fs::write(&manifest, record.to_string()).unwrap();
        records.push(record);
        cluster.psql(
            db,
            &format!("INSERT INTO items VALUES ({}, 'day {i}')", 1000 + i),
        );
    }
    let paths: Vec<&str> = records
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    let mut args: Vec<&str> = dests.to_vec();
    args.extend(paths);
    run("pgb-ship", &args, env, cluster).expect_code(0);
    records
}

#[test]
fn check_verify_prune_restore_on_s3_and_ssh() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("remote");
    create_small_database(cluster, &db, 20);
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start();
    s3.create_bucket("bkp");
    let sshd = SshServer::start(&dir.path().join("sshd"));
    let remote_dir = dir.path().join("nas");
    let ssh_url = format!("ssh://pgbtest{}", remote_dir.display());
    let config = sshd.config();
    let env = s3.env();
    let ssh_args = ["--ssh-config", config.to_str().unwrap()];
    let records = backups_shipped(
        cluster,
        &db,
        &dir.path().join("local"),
        &[
            "s3://bkp/prod",
            &ssh_url,
            "--ssh-config",
            config.to_str().unwrap(),
        ],
        &env,
    );

    // Monitoring sees all three, on both stores.
    for location in ["s3://bkp/prod", ssh_url.as_str()] {
        let out = run(
            "pgb-check",
            &[&[location, "--now", "2026-11-20T12:00:00Z"], &ssh_args[..]].concat(),
            &env,
            cluster,
        );
        out.expect_code(0);
        let count = out
            .of_type("check")
            .into_iter()
            .find(|c| c["check"] == "count")
            .unwrap();
        assert_eq!(count["figures"]["count"], 3, "{location}: {}", out.stdout);
    }

    // Verification downloads and checks every backup.
    let out = run(
        "pgb-verify",
        &["--level", "restore", "s3://bkp/prod"],
        &env,
        cluster,
    );
    out.expect_code(0);
    let verified = out.of_type("backup");
    assert_eq!(verified.len(), 3);
    assert!(verified
        .iter()
        .all(|r| r["verify"]["ok"] == true
            && r["path"].as_str().unwrap().starts_with("s3://bkp/prod/")));

    // A remote file that rots is caught by --deep and by pgb-verify.
    let rotten = remote_dir.join(
        Path::new(records[1]["path"].as_str().unwrap())
            .file_name()
            .unwrap(),
    );
    let mut bytes = std::fs::read(&rotten).unwrap();
    bytes[30] ^= 0xff;
    std::fs::write(&rotten, bytes).unwrap();
    let out = run(
        "pgb-check",
        &[
            &[ssh_url.as_str(), "--deep", "--now", "2026-11-20T12:00:00Z"],
            &ssh_args[..],
        ]
        .concat(),
        &env,
        cluster,
    );
    out.expect_code(2);
    let out = run(
        "pgb-verify",
        &[&[ssh_url.as_str()], &ssh_args[..]].concat(),
        &env,
        cluster,
    );
    out.expect_code(1);
    assert_eq!(
        out.of_type("backup")
            .iter()
            .filter(|r| r["verify"]["ok"] == false)
            .count(),
        1
    );

    // Retention on S3: keep the newest two.
    let out = run(
        "pgb-prune",
        &["s3://bkp/prod", "--keep-last", "2", "--now", "2026-11-21"],
        &env,
        cluster,
    );
    out.expect_code(0);
    let deleted: Vec<Value> = out
        .of_type("prune")
        .into_iter()
        .filter(|r| r["action"] == "delete")
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["id"], records[0]["id"]);
    let keys = s3.keys("bkp", "prod/");
    assert_eq!(keys.len(), 6, "two backups of three files left: {keys:?}");
    assert!(keys.iter().all(|k| !k.contains(&format!("{db}_0"))));

    // Restore the newest straight from S3.
    let copy = cluster.unique_name("remote_copy");
    let out = run(
        "pgb-restore",
        &[
            "--latest",
            "s3://bkp/prod",
            "--database",
            &db,
            "--to",
            &copy,
        ],
        &env,
        cluster,
    );
    out.expect_code(0);
    let restored = &out.of_type("restore")[0];
    assert_eq!(restored["source"]["id"], records[2]["id"]);
    assert!(restored["source"]["path"]
        .as_str()
        .unwrap()
        .starts_with("s3://bkp/prod/"));
    let reference = cluster.unique_name("remote_ref");
    pgb_testkit::compare::restore_with_plain_tools(
        cluster,
        Path::new(records[2]["path"].as_str().unwrap()),
        &reference,
    );
    assert_same_content(cluster, &reference, &copy);

    // Retention over SSH, dry run first.
    let out = run(
        "pgb-prune",
        &[
            &[
                ssh_url.as_str(),
                "--keep-last",
                "1",
                "--now",
                "2026-11-21",
                "--dry-run",
            ],
            &ssh_args[..],
        ]
        .concat(),
        &env,
        cluster,
    );
    out.expect_code(0);
    assert_eq!(
        std::fs::read_dir(&remote_dir).unwrap().count(),
        9,
        "a dry run deletes nothing"
    );
    let out = run(
        "pgb-prune",
        &[
            &[ssh_url.as_str(), "--keep-last", "1", "--now", "2026-11-21"],
            &ssh_args[..],
        ]
        .concat(),
        &env,
        cluster,
    );
    out.expect_code(0);
    assert_eq!(std::fs::read_dir(&remote_dir).unwrap().count(), 3);
}

//! pgb-restore against a real server: content-checked restores with every
//! strategy, and the failures that must leave the target untouched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use pgb_testkit::compare::{assert_same_content, data_checksums, restore_with_plain_tools};
use pgb_testkit::fixtures::{create_rich_database, create_small_database};
use pgb_testkit::wrappers::pg_bin_with_pg_dump;
use pgb_testkit::{bin, take_backup, Cluster, Tool, ToolOutput};
use serde_json::Value;

fn dump(cluster: &Cluster, dir: &Path, db: &str, extra: &[&str]) -> Value {
    take_backup(cluster, dir, db, extra)
}

fn restore(cluster: &Cluster, args: &[&str]) -> ToolOutput {
    Tool::new("pgb-restore").cluster(cluster).args(args).run()
}

fn path(record: &Value) -> &str {
    record["path"].as_str().unwrap()
}

/// Databases whose name contains `fragment`, e.g. leftover scratch copies.
fn databases_like(cluster: &Cluster, fragment: &str) -> Vec<String> {
    cluster
        .psql("postgres", &format!("SELECT datname FROM pg_database WHERE strpos(datname, '{fragment}') > 0 ORDER BY 1"))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn swap_over_a_database_in_use_terminates_sessions_and_keeps_the_old_one() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("swap");
    create_rich_database(cluster, &db);
    let dir = tempfile::tempdir().unwrap();
    let backup = dump(cluster, dir.path(), &db, &["--count-rows"]);
    let reference = cluster.unique_name("swap_ref");
    restore_with_plain_tools(cluster, Path::new(path(&backup)), &reference);
    cluster.psql(&db, "INSERT INTO public.customers (name) VALUES ('after the backup'); DROP VIEW sales.paid_orders");
    let changed = data_checksums(cluster, &db);

    let mut session = Command::new(cluster.bin_dir().join("psql"))
        .envs(cluster.env())
        .args(["-X", "-d", &db, "-c", "SELECT pg_sleep(120)"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));

    let out = restore(cluster, &[path(&backup), "--yes"]);
    out.expect_code(0);
    let record = &out.of_type("restore")[0];
    assert_eq!(record["strategy"], "swap");
    assert_eq!(record["target"], db.as_str());
    assert!(record["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("terminated 1 session")));
    let status = session.wait().unwrap();
    assert!(!status.success(), "the other session was terminated");

    assert_same_content(cluster, &reference, &db);
    let old = record["old_database"].as_str().unwrap();
    assert!(old.starts_with(&format!("{db}__pgb_old_")));
    assert_eq!(
        data_checksums(cluster, old),
        changed,
        "the old database is kept as it was"
    );
    assert!(record["rollback"].as_str().unwrap().contains("RENAME TO"));
    assert!(databases_like(cluster, &format!("{db}__pgb_restore_")).is_empty());
}

#[test]
fn sql_failing_near_the_end_leaves_the_target_untouched() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("badsql");
    create_small_database(cluster, &db, 100);
    let dir = tempfile::tempdir().unwrap();
    // A real dump with a failing statement before its completion trailer:
    // checksum, sidecar and manifest are all right, the SQL is not.
    let bin_dir = pg_bin_with_pg_dump(
        cluster,
        &dir.path().join("bin"),
        "set -o pipefail\n\"$REAL/pg_dump\" \"$@\" | awk '/^-- PostgreSQL database dump complete$/ { print \"SELECT pgb_no_such_function();\" } { print }'",
    );
    let backup = dump(
        cluster,
        &dir.path().join("b"),
        &db,
        &["--pg-bin", bin_dir.to_str().unwrap()],
    );
    cluster.psql(
        &db,
        "INSERT INTO items VALUES (100000, 'only in the live database')",
    );
    let before = data_checksums(cluster, &db);

    let out = restore(cluster, &[path(&backup), "--yes"]);
    out.expect_code(1);
    let error = &out.of_type("error")[0];
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("pgb_no_such_function") && message.contains("was not touched"),
        "{message}"
    );
    assert_eq!(data_checksums(cluster, &db), before);
    assert!(
        databases_like(cluster, &format!("{db}__pgb_")).is_empty(),
        "no scratch database left"
    );
}

#[test]
fn checksum_mismatch_and_missing_confirmation_are_refused_without_change() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("refuse");
    create_small_database(cluster, &db, 100);
    let dir = tempfile::tempdir().unwrap();
    let backup = dump(cluster, dir.path(), &db, &[]);
    cluster.psql(&db, "DELETE FROM items WHERE id > 50");
    let before = data_checksums(cluster, &db);

    let out = restore(cluster, &[path(&backup)]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("without confirmation"),
        "{}",
        out.stderr
    );
    assert_eq!(out.of_type("error").len(), 1);
    assert_eq!(data_checksums(cluster, &db), before);

    let mut bytes = std::fs::read(path(&backup)).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(path(&backup), &bytes).unwrap();
    let out = restore(cluster, &[path(&backup), "--yes"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("refusing to restore") || out.stderr.contains("cannot decompress"),
        "{}",
        out.stderr
    );
    assert_eq!(data_checksums(cluster, &db), before);
    assert!(databases_like(cluster, &format!("{db}__pgb_")).is_empty());

    // Same size, still the wrong bytes: refused at the checksum.
    let out = restore(cluster, &[path(&backup), "--yes", "--in-place"]);
    out.expect_code(1);
    assert!(out.of_type("error")[0]["message"]
        .as_str()
        .unwrap()
        .contains("does not match the manifest"));
    assert_eq!(data_checksums(cluster, &db), before);
}

#[test]
fn latest_skips_incomplete_and_failed_backups_and_list_shows_them() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("latest");
    create_small_database(cluster, &db, 10);
    let dir = tempfile::tempdir().unwrap();
    let good = dump(cluster, dir.path(), &db, &["--name", "{db}_1_good"]);
    cluster.psql(&db, "INSERT INTO items VALUES (1000, 'second')");
    let failed = dump(cluster, dir.path(), &db, &["--name", "{db}_2_failed"]);
    cluster.psql(&db, "INSERT INTO items VALUES (1001, 'third')");
    let incomplete = dump(cluster, dir.path(), &db, &["--name", "{db}_3_incomplete"]);
    std::fs::remove_file(format!("{}.json", path(&incomplete))).unwrap();
    std::fs::write(path(&failed), b"garbage").unwrap();
    Tool::new("pgb-verify")
        .args([path(&failed)])
        .run()
        .expect_code(1);

    let list = restore(cluster, &["--list", "--dir", dir.path().to_str().unwrap()]);
    list.expect_code(0);
    let listed = list.of_type("backup");
    assert_eq!(listed.len(), 2, "only complete backups are listed");
    assert_eq!(listed[0]["id"], failed["id"], "newest first");
    assert_eq!(listed[0]["verify"]["ok"], false);
    assert!(listed[1]["age_seconds"].as_i64().unwrap() >= 0);

    let copy = cluster.unique_name("latest_copy");
    let out = restore(
        cluster,
        &[
            "--latest",
            "--dir",
            dir.path().to_str().unwrap(),
            "--database",
            &db,
            "--to",
            &copy,
        ],
    );
    out.expect_code(0);
    assert_eq!(out.of_type("restore")[0]["source"]["id"], good["id"]);
    assert_eq!(out.of_type("restore")[0]["strategy"], "new");
    assert!(
        out.stderr.contains("_3_incomplete.sql.gz: no manifest"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("_2_failed: failed verification"),
        "{}",
        out.stderr
    );
    assert_eq!(cluster.psql(&copy, "SELECT count(*) FROM items"), "10");
}

#[test]
fn partial_restore_replaces_one_table_in_one_transaction() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("partial");
    create_rich_database(cluster, &db);
    let dir = tempfile::tempdir().unwrap();
    let backup = dump(cluster, dir.path(), &db, &["--format", "custom"]);
    let orders_before = cluster.psql(
        &db,
        "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM sales.orders o",
    );
    cluster.psql(&db, "DELETE FROM sales.orders WHERE id % 2 = 0; INSERT INTO public.customers (name) VALUES ('new customer')");
    let customers_now = cluster.psql(&db, "SELECT count(*) FROM public.customers");

    let out = restore(cluster, &[path(&backup), "--table", "sales.orders"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("replace table(s) sales.orders"),
        "{}",
        out.stderr
    );

    let out = restore(
        cluster,
        &[
            path(&backup),
            "--table",
            "sales.orders",
            "--table",
            "public.new_table",
            "--yes",
        ],
    );
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("not in this backup's manifest: public.new_table"),
        "{}",
        out.stderr
    );
    assert_eq!(
        cluster.psql(&db, "SELECT count(*) FROM public.customers"),
        customers_now
    );

    let out = restore(
        cluster,
        &[path(&backup), "--table", "sales.orders", "--yes"],
    );
    out.expect_code(0);
    let record = &out.of_type("restore")[0];
    assert_eq!(record["strategy"], "tables");
    assert_eq!(record["tables"], serde_json::json!(["sales.orders"]));
    assert_eq!(
        cluster.psql(
            &db,
            "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM sales.orders o"
        ),
        orders_before
    );
    assert_eq!(
        cluster.psql(&db, "SELECT count(*) FROM public.customers"),
        customers_now,
        "other tables untouched"
    );
    assert_eq!(
        cluster.psql(
            &db,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_customer_idx'"
        ),
        "1"
    );
    assert_eq!(
        cluster.psql(&db, "SELECT count(*) FROM \"Audit Trail\".\"Event Log\""),
        "900",
        "the orders trigger did not fire during the refill"
    );
    assert!(databases_like(cluster, &format!("{db}__pgb_")).is_empty());
}

#[test]
fn parallel_restore_of_a_custom_backup() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("parallel");
    create_rich_database(cluster, &db);
    let dir = tempfile::tempdir().unwrap();
    let backup = dump(
        cluster,
        dir.path(),
        &db,
        &["--format", "custom", "--count-rows"],
    );
    let copy = cluster.unique_name("parallel_copy");
    let out = restore(cluster, &[path(&backup), "--to", &copy, "--jobs", "2"]);
    out.expect_code(0);
    let record = &out.of_type("restore")[0];
    assert!(record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["detail"].as_str().unwrap_or("").contains("--jobs 2")));
    assert_same_content(cluster, &db, &copy);
}

#[test]
fn in_place_takes_a_safety_dump_first() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("inplace");
    create_small_database(cluster, &db, 30);
    let dir = tempfile::tempdir().unwrap();
    let backup = dump(cluster, &dir.path().join("b"), &db, &[]);
    cluster.psql(
        &db,
        "INSERT INTO items VALUES (999, 'only in the live database')",
    );
    let live = data_checksums(cluster, &db);
    let safety_dir = dir.path().join("safety");

    let out = restore(
        cluster,
        &[
            path(&backup),
            "--in-place",
            "--yes",
            "--safety-dir",
            safety_dir.to_str().unwrap(),
        ],
    );
    out.expect_code(0);
    let record = &out.of_type("restore")[0];
    assert_eq!(record["strategy"], "in-place");
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM items"), "30");
    let safety = record["safety_backup"].as_str().unwrap();
    assert!(
        safety.starts_with(safety_dir.to_str().unwrap())
            && Path::new(&format!("{safety}.json")).exists()
    );
    // The safety dump holds what was live before.
    let check = cluster.unique_name("inplace_safety");
    restore_with_plain_tools(cluster, Path::new(safety), &check);
    assert_eq!(data_checksums(cluster, &check), live);
}

#[test]
fn globals_restore_reports_existing_roles_and_recreates_missing_ones() {
    let cluster = Cluster::start();
    cluster.psql("postgres", "CREATE ROLE pgb_app_role LOGIN");
    let dir = tempfile::tempdir().unwrap();
    let out = Tool::new("pgb-dump")
        .cluster(&cluster)
        .args(["--all", "--dir", dir.path().to_str().unwrap()])
        .run();
    out.expect_code(0);
    let globals = out
        .of_type("backup")
        .into_iter()
        .find(|r| r["kind"] == "globals")
        .unwrap();
    cluster.psql("postgres", "DROP ROLE pgb_app_role");
    let out = Tool::new("pgb-restore")
        .cluster(&cluster)
        .args([path(&globals)])
        .run();
    out.expect_code(0);
    let record = &out.of_type("restore")[0];
    assert_eq!(record["strategy"], "globals");
    assert!(record["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("already exists")));
    assert_eq!(
        cluster.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'pgb_app_role'"
        ),
        "1"
    );
}

#[test]
fn whole_chain_dump_verify_restore_through_pipes() {
    let cluster = Cluster::shared();
    let db = cluster.unique_name("chain");
    create_rich_database(cluster, &db);
    let dir = tempfile::tempdir().unwrap();
    let copy = cluster.unique_name("chain_copy");
    let mut dumper = Command::new(bin("pgb-dump"))
        .envs(cluster.env())
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "-d",
            &db,
            "--count-rows",
            "-q",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut verifier = Command::new(bin("pgb-verify"))
        .envs(cluster.env())
        .arg("-q")
        .stdin(Stdio::from(dumper.stdout.take().unwrap()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let restorer = Command::new(bin("pgb-restore"))
        .envs(cluster.env())
        .args(["--to", &copy, "--yes", "-q"])
        .stdin(Stdio::from(verifier.stdout.take().unwrap()))
        .output()
        .unwrap();
    assert!(dumper.wait().unwrap().success());
    assert!(verifier.wait().unwrap().success());
    assert_eq!(
        restorer.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&restorer.stderr)
    );
    let record: Value = serde_json::from_slice(&restorer.stdout).unwrap();
    assert_eq!(record["type"], "restore");
    assert!(record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "tables" && c["ok"] == true));
    assert_same_content(cluster, &db, &copy);
}

#[test]
fn usage_errors() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = restore(cluster, &[]);
    out.expect_code(1);
    assert!(out.stderr.contains("nothing was restored"));
    restore(
        cluster,
        &["--latest", "--dir", dir.path().to_str().unwrap()],
    )
    .expect_code(1);
    restore(cluster, &["--in-place", "--table", "a.b", "x"]).expect_code(2);
    restore(cluster, &["--no-safety-dump", "x"]).expect_code(2);
    restore(cluster, &["--jobs", "0", "x"]).expect_code(2);
    let out = restore(cluster, &[dir.path().join("nope.sql.gz").to_str().unwrap()]);
    out.expect_code(1);
    assert_eq!(out.of_type("error").len(), 1);
}

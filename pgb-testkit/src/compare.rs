//! Content comparison for round-trip tests: a restored database must have
//! the same schema (as `pg_dump --schema-only` prints it) and the same rows
//! (a count and an md5 over every table's rows in a stable order) as the
//! source, plus the same large objects.

use std::collections::BTreeMap;
use std::process::Command;

use crate::Cluster;

/// `pg_dump --schema-only`, without the lines that differ between any two
/// dumps (the random `\restrict` key).
pub fn schema_dump(cluster: &Cluster, db: &str) -> String {
    let out = Command::new(cluster.bin_dir().join("pg_dump"))
        .envs(cluster.env())
        .args(["--schema-only", "-d", db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Per table: "rows:md5" over all rows sorted by their text form; plus one
/// entry for large objects.
pub fn data_checksums(cluster: &Cluster, db: &str) -> BTreeMap<String, String> {
    let tables = cluster.psql(
        db,
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1",
    );
    let mut sums = BTreeMap::new();
    for table in tables.lines().filter(|l| !l.is_empty()) {
        let sum = cluster.psql(
            db,
            &format!(
                "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM {table} t"
            ),
        );
        sums.insert(table.to_string(), sum);
    }
    let objects = cluster.psql(
        db,
        "SELECT count(*) || ':' || coalesce(md5(string_agg(md5(lo_get(oid)), ',' ORDER BY md5(lo_get(oid)))), '-') \
         FROM pg_largeobject_metadata",
    );
    sums.insert("(large objects)".into(), objects);
    sums
}

/// Asserts two databases hold the same schema and data.
pub fn assert_same_content(cluster: &Cluster, source: &str, copy: &str) {
    let a = schema_dump(cluster, source);
    let b = schema_dump(cluster, copy);
    assert!(
        a == b,
        "schema of {copy} differs from {source}:\n{}",
        first_difference(&a, &b)
    );
    assert_eq!(
        data_checksums(cluster, source),
        data_checksums(cluster, copy),
        "data of {copy} differs from {source}"
    );
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}: {x:?} vs {y:?}", i + 1);
        }
    }
    format!("lengths {} vs {}", a.lines().count(), b.lines().count())
}

/// Restores a pgb data file with the tools a runbook uses, into a new
/// database `db`: `gunzip -c F | psql`, `zstd -dc F | psql`, `psql < F`, or
/// `pg_restore -d db F`. Proves the files are usable without pgb.
pub fn restore_with_plain_tools(cluster: &Cluster, file: &std::path::Path, db: &str) {
    cluster.create_db(db);
    let name = file.to_str().unwrap();
    let psql = format!(
        "{} -X -q -v ON_ERROR_STOP=1 -d {}",
        crate::wrappers::shell_quote(cluster.bin_dir().join("psql").to_str().unwrap()),
        crate::wrappers::shell_quote(db)
    );
    let quoted = crate::wrappers::shell_quote(name);
    let script = if name.ends_with(".sql.gz") {
        format!("set -o pipefail; gunzip -c {quoted} | {psql}")
    } else if name.ends_with(".sql.zst") {
        format!("set -o pipefail; zstd -dc {quoted} | {psql}")
    } else if name.ends_with(".sql") {
        format!("{psql} < {quoted}")
    } else {
        format!(
            "{} --exit-on-error -d {} {quoted}",
            crate::wrappers::shell_quote(cluster.bin_dir().join("pg_restore").to_str().unwrap()),
            crate::wrappers::shell_quote(db)
        )
    };
    let out = Command::new("bash")
        .args(["-c", &script])
        .envs(cluster.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "restoring {name} with plain tools failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Folders to pass as `--pg-bin`, holding the real client programs plus a
//! `pg_dump` wrapper script that runs the real one and then misbehaves in a
//! controlled way (stalls, records its arguments, gets killed). This is how
//! tests put a child process into a precise state without mocking
//! PostgreSQL: the data still comes from the real pg_dump and server.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::Cluster;

/// Creates `dir` with symlinks to the real psql, pg_dumpall and pg_restore,
/// and a bash `pg_dump` made of `body`. In `body`, `$REAL` is the folder of
/// the real programs and `$@` the arguments pgb passed.
pub fn pg_bin_with_pg_dump(cluster: &Cluster, dir: &Path, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let real = cluster.bin_dir();
    for program in ["psql", "pg_dumpall", "pg_restore"] {
        let link = dir.join(program);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(real.join(program), &link).unwrap();
    }
    write_script(
        &dir.join("pg_dump"),
        &format!(
            "#!/bin/bash\nREAL={}\n{body}\n",
            shell_quote(real.to_str().unwrap())
        ),
    );
    dir.to_path_buf()
}

/// Writes an executable script.
pub fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Waits until `path` exists (a wrapper's "I got this far" signal).
pub fn wait_for_file(path: &Path, seconds: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Every file name in `dir`, hidden ones included, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The names in `dir` that are neither lock files nor in `before`: what a
/// failed run left behind.
pub fn new_files(dir: &Path, before: &[String]) -> Vec<String> {
    file_names(dir)
        .into_iter()
        .filter(|n| !n.ends_with(".pgb-lock") && !before.contains(n))
        .collect()
}

/// A `--pg-bin` folder whose pg_dump passes the first `bytes` bytes of the
/// real dump, creates the returned `ready` file, pauses `seconds`, then
/// sends the rest (and fails as the real pg_dump fails). While it pauses,
/// the dump is mid-stream: the lock is held and a partial file exists.
pub fn pg_bin_pausing(
    cluster: &Cluster,
    dir: &Path,
    bytes: u64,
    seconds: u32,
) -> (PathBuf, PathBuf) {
    let ready = dir.join("ready");
    let bin = pg_bin_with_pg_dump(
        cluster,
        &dir.join("bin"),
        &format!(
            "set -o pipefail\n\"$REAL/pg_dump\" \"$@\" | {{ head -c {bytes}; touch {r}; sleep {seconds}; cat; }}",
            r = shell_quote(ready.to_str().unwrap())
        ),
    );
    (bin, ready)
}

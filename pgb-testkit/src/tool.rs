//! Runs the real pgb binaries as a user would, with the cluster's
//! environment, and parses their JSON lines output.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::Cluster;

/// The path of a built pgb binary (`cargo test --workspace` builds them all
/// before running any test).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap()
    } else {
        dir
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// A pgb tool invocation being prepared.
#[derive(Debug)]
pub struct Tool {
    command: Command,
    stdin: Option<Vec<u8>>,
}

/// What a tool did.
#[derive(Debug)]
pub struct ToolOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    /// Every stdout line as JSON; panics on a line that is not JSON, since
    /// stdout must carry only JSON lines.
    pub fn records(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!(
                        "stdout line is not JSON ({e}): {l:?}\nstderr: {}",
                        self.stderr
                    )
                })
            })
            .collect()
    }

    pub fn of_type(&self, kind: &str) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|r| r["type"] == kind)
            .collect()
    }

    /// Asserts the exit code, showing both streams otherwise.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Tool {
    pub fn new(name: &str) -> Tool {
        let mut command = Command::new(bin(name));
        command.env_remove("PGPASSWORD").env_remove("PGDATABASE");
        Tool {
            command,
            stdin: None,
        }
    }

    /// Connects to `cluster` through PGHOST/PGPORT/PGUSER.
    pub fn cluster(mut self, cluster: &Cluster) -> Tool {
        self.command.envs(cluster.env());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Tool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Tool {
        self.command.env(key, value);
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Tool {
        self.stdin = Some(input.into());
        self
    }

    pub fn command_mut(&mut self) -> &mut Command {
        &mut self.command
    }

    pub fn run(mut self) -> ToolOutput {
        let mut child = self
            .command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = self.stdin.take() {
            let mut pipe = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let out = child.wait_with_output().unwrap();
        ToolOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts the tool without waiting (for concurrency and kill tests).
    pub fn spawn(mut self) -> std::process::Child {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Takes a backup of `db` into `dir` with the real pgb-dump (plus `extra`
/// options) and returns its record; panics if it fails.
pub fn take_backup(cluster: &Cluster, dir: &std::path::Path, db: &str, extra: &[&str]) -> Value {
    let out = Tool::new("pgb-dump")
        .cluster(cluster)
        .args(["--dir", dir.to_str().unwrap(), "-d", db])
        .args(extra)
        .run();
    out.expect_code(0);
    out.of_type("backup").remove(0)
}

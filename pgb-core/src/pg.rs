//! Running the real PostgreSQL client programs. pgb uses pg_dump, pg_dumpall,
//! pg_restore and psql rather than a protocol library so that users get the
//! exact libpq behaviour they rely on (PG* variables, .pgpass, services, URIs,
//! sslmode). Programs are found on PATH or in `--pg-bin DIR`, or run inside a
//! container with `docker exec -i`. Arguments are always vectors, never shell
//! lines. A child succeeds only if it exited 0 and its output was read to the
//! end; its stderr is drained on its own thread and quoted when it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use crate::conn::{ConnOptions, DbTarget};
use crate::exit::describe_status;
use crate::{Error, Result};

/// The client programs pgb runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgProgram {
    PgDump,
    PgDumpall,
    PgRestore,
    Psql,
}

impl PgProgram {
    pub fn name(self) -> &'static str {
        match self {
            PgProgram::PgDump => "pg_dump",
            PgProgram::PgDumpall => "pg_dumpall",
            PgProgram::PgRestore => "pg_restore",
            PgProgram::Psql => "psql",
        }
    }
}

/// How to reach the client programs and the server.
#[derive(Debug, Clone, Default)]
pub struct PgClient {
    /// `--pg-bin DIR`: take programs from here instead of PATH.
    pub bin_dir: Option<PathBuf>,
    /// `--docker CONTAINER`: run programs inside this container.
    pub container: Option<String>,
    pub conn: ConnOptions,
}

const STDERR_KEEP: usize = 64 * 1024;

impl PgClient {
    /// A command for `program` connecting with the common options and, if
    /// given, `target` (its password goes to PGPASSWORD, never argv).
    pub fn command(&self, program: PgProgram, target: Option<&DbTarget>) -> Result<Command> {
        let password = target.and_then(DbTarget::password);
        let mut command = self.bare_command(program, password.is_some())?;
        if let Some(password) = password {
            command.env("PGPASSWORD", password);
        }
        command.args(self.conn.args());
        if let Some(target) = target {
            // pg_dumpall reads --dbname only as a connection string; a plain
            // name is its "database to connect to", --database.
            if program == PgProgram::PgDumpall && target.is_plain_name() {
                command.arg(format!("--database={}", target.dbname));
            } else {
                command.arg(format!("--dbname={}", target.dbname));
            }
        }
        Ok(command)
    }

    /// The program itself, locally or through `docker exec`, without
    /// connection options.
    fn bare_command(&self, program: PgProgram, forward_password: bool) -> Result<Command> {
        let Some(container) = &self.container else {
            return Ok(Command::new(self.locate(program)?));
        };
        let docker = which::which("docker")
            .map_err(|_| Error::Setup("--docker: the docker program is not on PATH".to_string()))?;
        let mut c = Command::new(docker);
        c.arg("exec").arg("-i");
        // `-e NAME` without a value makes docker copy the variable from its
        // own environment: the value never reaches argv.
        for name in forwarded_env(forward_password) {
            c.arg("-e").arg(name);
        }
        c.arg(container);
        match &self.bin_dir {
            Some(dir) => c.arg(dir.join(program.name())),
            None => c.arg(program.name()),
        };
        Ok(c)
    }

    /// Fails with a setup error unless every program can be run.
    pub fn check_programs(&self, programs: &[PgProgram]) -> Result<()> {
        if self.container.is_some() {
            return self.bare_command(PgProgram::Psql, false).map(|_| ());
        }
        for program in programs {
            self.locate(*program)?;
        }
        Ok(())
    }

    /// Finds a program in `--pg-bin` or on PATH.
    pub fn locate(&self, program: PgProgram) -> Result<PathBuf> {
        match &self.bin_dir {
            Some(dir) => {
                let path = dir.join(program.name());
                if is_executable(&path) {
                    Ok(path)
                } else {
                    Err(Error::Setup(format!(
                        "{}: not an executable file (from --pg-bin {})",
                        path.display(),
                        dir.display()
                    )))
                }
            }
            None => which::which(program.name()).map_err(|_| {
                Error::Setup(format!(
                    "{} not found on PATH: install the PostgreSQL client programs \
                     (Debian/Ubuntu: apt-get install postgresql-client) or pass --pg-bin DIR",
                    program.name()
                ))
            }),
        }
    }

    /// `pg_dump --version` and friends, e.g. "pg_dump (PostgreSQL) 15.18".
    pub fn version(&self, program: PgProgram) -> Result<String> {
        let output = self
            .bare_command(program, false)?
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Setup(format!("cannot run {}: {e}", program.name())))?;
        if !output.status.success() {
            return Err(Error::child(
                program.name(),
                output.status,
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The libpq variables set in pgb's environment, to forward into a container.
fn forwarded_env(with_password: bool) -> Vec<String> {
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("PG"))
        .collect();
    if with_password && !names.iter().any(|n| n == "PGPASSWORD") {
        names.push("PGPASSWORD".to_string());
    }
    names.sort();
    names
}

/// A running client program whose stderr is being collected.
#[derive(Debug)]
pub struct RunningChild {
    pub program: String,
    child: Child,
    stderr: Option<JoinHandle<String>>,
}

impl RunningChild {
    /// Spawns `command` with the given stdin/stdout and stderr drained on a
    /// thread (keeping the last 64 KiB, which is where the cause usually is).
    pub fn spawn(
        program: &str,
        mut command: Command,
        stdin: Stdio,
        stdout: Stdio,
    ) -> Result<RunningChild> {
        let mut child = command
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Setup(format!("cannot start {program}: {e}")))?;
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut kept: Vec<u8> = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            kept.extend_from_slice(&buf[..n]);
                            if kept.len() > 2 * STDERR_KEEP {
                                kept.drain(..kept.len() - STDERR_KEEP);
                            }
                        }
                    }
                }
                String::from_utf8_lossy(&kept).into_owned()
            })
        });
        Ok(RunningChild {
            program: program.to_string(),
            child,
            stderr,
        })
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child (used when pgb itself fails mid-stream) and reaps it.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// Waits for the child; any status other than exit 0 is an error quoting
    /// its stderr. On success returns the stderr text (warnings).
    pub fn wait(mut self) -> Result<String> {
        let status = self
            .child
            .wait()
            .map_err(|e| Error::Failed(format!("waiting for {}: {e}", self.program)))?;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if status.success() {
            Ok(stderr)
        } else {
            Err(Error::Child {
                program: self.program.clone(),
                status: describe_status(status),
                stderr,
            })
        }
    }
}

/// An open psql session used for metadata queries, kept open so that its
/// exported snapshot stays valid while pg_dump uses it. Each query returns
/// one line (queries are written to return a single JSON text value), which
/// keeps identifiers with newlines or tabs unambiguous.
#[derive(Debug)]
pub struct PsqlSession {
    child: Option<RunningChild>,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl PsqlSession {
    pub fn open(client: &PgClient, target: Option<&DbTarget>) -> Result<PsqlSession> {
        let mut command = client.command(PgProgram::Psql, target)?;
        command.args([
            "--no-psqlrc",
            "--no-align",
            "--tuples-only",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
        ]);
        let mut child = RunningChild::spawn("psql", command, Stdio::piped(), Stdio::piped())?;
        let stdin = child.take_stdin();
        let stdout = child
            .take_stdout()
            .ok_or_else(|| Error::Failed("psql: no stdout".into()))?;
        Ok(PsqlSession {
            child: Some(child),
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    /// Runs one statement that returns exactly one row of one column and
    /// returns that value as text. Statements returning nothing (BEGIN) are
    /// sent with [`PsqlSession::execute`].
    pub fn query_value(&mut self, sql: &str) -> Result<String> {
        self.send(sql)?;
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap_or(0);
        if n == 0 {
            return Err(self.failure());
        }
        Ok(line.trim_end_matches('\n').to_string())
    }

    /// Runs a statement whose output is not needed.
    pub fn execute(&mut self, sql: &str) -> Result<()> {
        // psql prints nothing for these in --quiet mode; a marker line proves
        // the statement finished without error before we go on.
        self.send(sql)?;
        self.send("\\echo __pgb_ok__")?;
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap_or(0);
        if n == 0 || line.trim_end() != "__pgb_ok__" {
            return Err(self.failure());
        }
        Ok(())
    }

    fn send(&mut self, sql: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Failed("psql session already closed".into()))?;
        let text = if sql.trim_end().ends_with(';') || sql.starts_with('\\') {
            format!("{sql}\n")
        } else {
            format!("{sql};\n")
        };
        if stdin
            .write_all(text.as_bytes())
            .and_then(|_| stdin.flush())
            .is_err()
        {
            return Err(self.failure());
        }
        Ok(())
    }

    /// The error of a session that stopped answering: psql's own stderr.
    fn failure(&mut self) -> Error {
        self.stdin = None;
        match self.child.take() {
            Some(child) => match child.wait() {
                Err(e) => e,
                Ok(stderr) => Error::Child {
                    program: "psql".into(),
                    status: "stopped answering".into(),
                    stderr,
                },
            },
            None => Error::Failed("psql session already closed".into()),
        }
    }

    /// Ends the session: closes stdin (psql exits) and checks its status.
    pub fn close(mut self) -> Result<()> {
        self.stdin = None;
        let mut rest = Vec::new();
        let _ = self.stdout.read_to_end(&mut rest);
        match self.child.take() {
            Some(child) => child.wait().map(|_| ()),
            None => Ok(()),
        }
    }
}

impl Drop for PsqlSession {
    fn drop(&mut self) {
        self.stdin = None;
        if let Some(child) = self.child.take() {
            child.kill();
        }
    }
}

/// Runs one statement with psql and returns its unaligned, tuples-only output.
pub fn run_sql(client: &PgClient, target: &DbTarget, sql: &str) -> Result<String> {
    let mut command = client.command(PgProgram::Psql, Some(target))?;
    command.args([
        "--no-psqlrc",
        "--quiet",
        "--no-align",
        "--tuples-only",
        "--no-password",
    ]);
    command.args(["--set=ON_ERROR_STOP=1", "--command", sql]);
    let mut child = RunningChild::spawn("psql", command, Stdio::null(), Stdio::piped())?;
    let mut out = String::new();
    if let Some(mut stdout) = child.take_stdout() {
        let _ = stdout.read_to_string(&mut out);
    }
    child.wait()?;
    Ok(out)
}

/// A SQL identifier quoted for PostgreSQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

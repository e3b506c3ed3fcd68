//! One error type for the whole library and the exit-code contract every tool
//! documents: 0 success, 1 the job ran and found or caused a failure, 2 usage
//! or setup error. Keeping the mapping here means no tool can invent its own.

use std::path::{Path, PathBuf};
use std::process::ExitStatus as ProcessStatus;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The exit codes of the pgb tools (pgb-check uses the monitoring convention
/// instead and maps its own statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    Success = 0,
    Failed = 1,
    Usage = 2,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The worse of two statuses, so a run can fold the outcome of each item.
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        self.max(other)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line input; exit 2.
    #[error("{0}")]
    Usage(String),

    /// The environment cannot run the job at all (missing program, unusable
    /// folder); exit 2.
    #[error("{0}")]
    Setup(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A PostgreSQL client program (or docker) failed. `stderr` is what it
    /// printed, quoted in error records so the user sees the real cause.
    #[error("{program} failed ({status}){}", quote_stderr(stderr))]
    Child {
        program: String,
        status: String,
        stderr: String,
    },

    /// A final name is already taken; pgb never replaces an existing backup.
    #[error("{}: already exists; pgb never overwrites a backup", path.display())]
    Exists { path: PathBuf },

    /// Another run holds the lock of this database in this folder.
    #[error("{}: another pgb-dump of {database} is running in this folder (lock held{})", path.display(), waited(*waited_ms))]
    Locked {
        path: PathBuf,
        database: String,
        waited_ms: u64,
    },

    /// A file is not what its manifest or sidecar says it is.
    #[error("{}: {message}", path.display())]
    Integrity { path: PathBuf, message: String },

    /// Anything else that made the job fail; exit 1.
    #[error("{0}")]
    Failed(String),
}

fn quote_stderr(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(": {trimmed}")
    }
}

fn waited(ms: u64) -> String {
    if ms == 0 {
        String::new()
    } else {
        format!(", waited {:.1}s", ms as f64 / 1000.0)
    }
}

impl Error {
    /// Wraps an I/O error with the path it concerns; every I/O error names its path.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn child(program: impl Into<String>, status: ProcessStatus, stderr: String) -> Error {
        Error::Child {
            program: program.into(),
            status: describe_status(status),
            stderr,
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_) | Error::Setup(_) => ExitStatus::Usage,
            _ => ExitStatus::Failed,
        }
    }

    /// What the failed program printed, for the `stderr` field of error records.
    pub fn child_stderr(&self) -> Option<&str> {
        match self {
            Error::Child { stderr, .. } if !stderr.trim().is_empty() => Some(stderr.trim()),
            _ => None,
        }
    }
}

/// "exit code 1" or "killed by signal 9": the words users grep logs for.
pub fn describe_status(status: ProcessStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown status".to_string(),
    }
}

/// Extension to attach a path to any `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

/// Reports an error that stopped a tool before it could do its job (bad
/// arguments, missing programs): a message on stderr and an error record on
/// stdout, so that the next tool in a pipeline fails too instead of seeing
/// an empty, "successful" input.
pub fn report_fatal(tool: &str, error: &Error) -> ExitStatus {
    eprintln!("{tool}: error: {}", crate::conn::redact(&error.to_string()));
    emit_fatal_record(tool, error)
}

/// The stdout half of [`report_fatal`], for callers that already told the user.
pub fn emit_fatal_record(tool: &str, error: &Error) -> ExitStatus {
    let record = crate::record::ErrorRecord::from_error(tool, error);
    println!("{}", record.to_json_line());
    error.exit_status()
}

/// After the argument parser printed its own message on stderr: its first
/// line as an error record on stdout, exit 2.
pub fn report_usage_message(tool: &str, parser_message: &str) -> ExitStatus {
    let first = parser_message.lines().next().unwrap_or("invalid arguments");
    let first = first.trim_start_matches("error: ").to_string();
    emit_fatal_record(tool, &Error::Usage(first))
}

//! Human-readable messages: to stderr (unless `--quiet`) and, with
//! `--log-file`, appended to a file with a UTC timestamp, so cron runs leave
//! a trail. stdout is reserved for JSON records and never written here.
//! Messages pass through [`redact`] so a URI password can never be logged.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};

use crate::conn::redact;
use crate::exit::IoContext;
use crate::Result;

#[derive(Debug)]
pub struct HumanLog {
    tool: String,
    quiet: bool,
    file: Option<Mutex<File>>,
}

impl HumanLog {
    pub fn new(tool: &str, quiet: bool, log_file: Option<&Path>) -> Result<HumanLog> {
        let file = match log_file {
            Some(path) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .at(path)?,
            )),
            None => None,
        };
        Ok(HumanLog {
            tool: tool.to_string(),
            quiet,
            file,
        })
    }

    /// Progress and success messages: hidden by `--quiet`.
    pub fn info(&self, message: &str) {
        self.write("info", message, !self.quiet);
    }

    /// Failures: always on stderr, quiet or not.
    pub fn error(&self, message: &str) {
        self.write("error", message, true);
    }

    pub fn warn(&self, message: &str) {
        self.write("warning", message, true);
    }

    fn write(&self, level: &str, message: &str, to_stderr: bool) {
        let message = redact(message);
        if to_stderr {
            let prefix = if level == "info" {
                String::new()
            } else {
                format!("{level}: ")
            };
            eprintln!("{}: {prefix}{message}", self.tool);
        }
        if let Some(file) = &self.file {
            let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // A log line that cannot be written must not fail the backup.
            let _ = writeln!(file, "{now} {} {level}: {message}", self.tool);
        }
    }
}

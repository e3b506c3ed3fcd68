//! The command-line pieces every pgb tool shares, as clap argument groups
//! to flatten into each tool's `Cli`, plus the `main` glue that turns a parse
//! failure into an error record. pgb-core stays free of CLI code; the tools
//! stay free of copies of the same options (the uucore model).

mod store;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser};
use pgb_core::conn::ConnOptions;
use pgb_core::log::HumanLog;
use pgb_core::pg::PgClient;
use pgb_core::ExitStatus;

pub use store::{LocationArgs, StoreArgs};

/// How to reach the server and its client programs.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Database server host or socket folder (default: libpq's, PGHOST)
    #[arg(short = 'h', long, value_name = "HOST")]
    pub host: Option<String>,

    /// Database server port (default: libpq's, PGPORT)
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Role to connect as (default: libpq's, PGUSER)
    #[arg(short = 'U', long, value_name = "NAME")]
    pub username: Option<String>,

    /// Take the PostgreSQL client programs from this folder instead of PATH
    #[arg(long, value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,

    /// Run the PostgreSQL client programs inside this container (docker exec -i CONTAINER ...)
    #[arg(long, value_name = "CONTAINER")]
    pub docker: Option<String>,
}

impl ConnectionArgs {
    pub fn client(&self) -> PgClient {
        PgClient {
            bin_dir: self.pg_bin.clone(),
            container: self.docker.clone(),
            conn: ConnOptions {
                host: self.host.clone(),
                port: self.port,
                username: self.username.clone(),
            },
        }
    }
}

/// Where human-readable messages go.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// No progress bar and no informational messages on stderr (errors still shown)
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Append timestamped human-readable messages to this file
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

impl LogArgs {
    pub fn open(&self, tool: &str) -> pgb_core::Result<HumanLog> {
        HumanLog::new(tool, self.quiet, self.log_file.as_deref())
    }
}

/// Keys for reading encrypted backups.
#[derive(Debug, Clone, Args)]
pub struct DecryptArgs {
    /// age identity file (AGE-SECRET-KEY-1... lines) for encrypted backups
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// File whose first line is the passphrase of encrypted backups
    #[arg(long, value_name = "FILE", conflicts_with = "identity")]
    pub passphrase_file: Option<PathBuf>,
}

impl DecryptArgs {
    pub fn key(&self) -> pgb_core::Result<Option<pgb_core::crypto::DecryptionKey>> {
        match (&self.identity, &self.passphrase_file) {
            (Some(path), _) => pgb_core::crypto::read_identities(path).map(Some),
            (None, Some(path)) => Ok(Some(pgb_core::crypto::DecryptionKey::Passphrase(
                pgb_core::crypto::read_passphrase(path)?,
            ))),
            (None, None) => Ok(None),
        }
    }
}

/// Parses `args` as `C` and runs `run`. `--help` and `--version` exit 0; a
/// parse error is printed by clap and reported as an error record, exit 2.
pub fn run_main<C: Parser>(
    tool: &str,
    args: impl IntoIterator<Item = OsString>,
    run: impl FnOnce(&C) -> ExitStatus,
) -> ExitCode {
    let status = match C::try_parse_from(args) {
        Ok(cli) => run(&cli),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                pgb_core::exit::report_usage_message(tool, &e.to_string())
            } else {
                ExitStatus::Success
            }
        }
    };
    ExitCode::from(status.code())
}

//! The database-level operations a restore needs, each one statement run
//! through psql on the maintenance database: existence, permission,
//! creating, renaming, dropping, and clearing out other sessions.

use std::time::{Duration, Instant};

use pgb_core::conn::DbTarget;
use pgb_core::pg::{quote_ident, quote_literal, run_sql, PgClient};
use pgb_core::{Error, Result};

/// The server as seen from the maintenance database.
#[derive(Debug, Clone)]
pub struct Server {
    pub client: PgClient,
    pub maintenance: DbTarget,
}

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_NAME_BYTES: usize = 63;

impl Server {
    pub fn sql(&self, sql: &str) -> Result<String> {
        run_sql(&self.client, &self.maintenance, sql).map(|s| s.trim().to_string())
    }

    pub fn exists(&self, database: &str) -> Result<bool> {
        Ok(self.sql(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = {}",
            quote_literal(database)
        ))? == "1")
    }

    /// Fails unless the current role may create databases.
    pub fn check_can_create(&self) -> Result<()> {
        let answer = self.sql(
            "SELECT current_user || ' ' || (rolcreatedb OR rolsuper)::text FROM pg_roles WHERE rolname = current_user",
        )?;
        match answer.rsplit_once(' ') {
            Some((_, "true")) => Ok(()),
            Some((role, _)) => Err(Error::Setup(format!(
                "role {role} cannot create databases (needs CREATEDB): a safe restore goes into a new database first"
            ))),
            None => Err(Error::Setup(format!("unexpected answer about the current role: {answer:?}"))),
        }
    }

    pub fn create(&self, database: &str) -> Result<()> {
        self.sql(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_ident(database)
        ))
        .map(|_| ())
    }

    pub fn drop(&self, database: &str) -> Result<()> {
        self.sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(database)
        ))
        .map(|_| ())
    }

    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.sql(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(from),
            quote_ident(to)
        ))
        .map(|_| ())
    }

    pub fn allow_connections(&self, database: &str, allow: bool) -> Result<()> {
        self.sql(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allow}",
            quote_ident(database)
        ))
        .map(|_| ())
    }

    /// Terminates every other session on `database` and waits until they are
    /// gone (termination is asynchronous). Returns how many were terminated.
    pub fn clear_sessions(&self, database: &str) -> Result<u64> {
        let terminated: u64 = self
            .sql(&format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = {} AND pid <> pg_backend_pid()",
                quote_literal(database)
            ))?
            .parse()
            .unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = self.sql(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = {}",
                quote_literal(database)
            ))?;
            if left == "0" {
                return Ok(terminated);
            }
            if Instant::now() > deadline {
                return Err(Error::Failed(format!(
                    "{left} session(s) on {database} did not end after being terminated"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `TO__pgb_SUFFIX_STAMP`, shortened to PostgreSQL's 63-byte limit by
/// trimming TO, never the suffix that identifies it.
pub fn derived_name(to: &str, suffix: &str, stamp: &str) -> String {
    let tail = format!("__pgb_{suffix}_{stamp}");
    let room = MAX_NAME_BYTES.saturating_sub(tail.len());
    let mut head = to.to_string();
    while head.len() > room {
        head.pop();
    }
    format!("{head}{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_names_fit_postgres_limits() {
        let name = super::derived_name("shop", "restore", "20261121T031500");
        assert_eq!(name, "shop__pgb_restore_20261121T031500");
        let long = "é".repeat(40);
        let name = super::derived_name(&long, "old", "20261121T031500");
        assert!(
            name.len() <= 63 && name.ends_with("__pgb_old_20261121T031500"),
            "{name}"
        );
    }
}

//! Partial restore (`--table`): the whole backup goes into a scratch
//! database, then the chosen tables are copied into the target in one psql
//! transaction. Existing tables keep their definitions and get their rows
//! replaced; missing ones are created from the backup.

use std::io::Read;
use std::process::Stdio;

use chrono::Utc;
use pgb_core::conn::DbTarget;
use pgb_core::pg::{quote_ident, PgProgram, RunningChild};
use pgb_core::record::{BackupRecord, RestoreRecord};
use pgb_core::{Error, Result};

use crate::server::Server;
use crate::strategy::{confirm, Restorer};

impl Restorer {
    pub(crate) fn restore_tables(
        &self,
        backup: &BackupRecord,
        to: &str,
        record: &mut RestoreRecord,
    ) -> Result<()> {
        record.strategy = "tables".into();
        if !self.server.exists(to)? {
            return Err(Error::Usage(format!(
                "--table restores into an existing database; {to} does not exist"
            )));
        }
        let tables: Vec<(String, String)> = self
            .tables
            .iter()
            .map(|t| split_table(t))
            .collect::<Result<_>>()?;
        let missing: Vec<String> = tables
            .iter()
            .filter(|(s, t)| !backup.tables.iter().any(|b| &b.schema == s && &b.name == t))
            .map(|(s, t)| format!("{s}.{t}"))
            .collect();
        if !missing.is_empty() {
            return Err(Error::Usage(format!(
                "not in this backup's manifest: {} (see its \"tables\")",
                missing.join(", ")
            )));
        }
        let target = DbTarget::named(to);
        let present: Vec<bool> = tables
            .iter()
            .map(|(s, t)| table_exists(&self.server, &target, s, t))
            .collect::<Result<_>>()?;
        let existing: Vec<String> = tables
            .iter()
            .zip(&present)
            .filter(|(_, p)| **p)
            .map(|((s, t), _)| format!("{s}.{t}"))
            .collect();
        if !existing.is_empty() {
            confirm(
                &format!("replace table(s) {} in {to}", existing.join(", ")),
                to,
                self.yes,
            )?;
        }
        let stamp = Utc::now().format("%Y%m%dT%H%M%S").to_string();
        let scratch = self.restore_to_scratch(backup, to, &stamp, record)?;
        let copied = self.copy_tables(&scratch, to, &tables, &present);
        let dropped = self.server.drop(&scratch);
        copied
            .map_err(|e| Error::Failed(format!("{e}; {to} was not changed (one transaction)")))?;
        dropped?;
        record.tables = tables.iter().map(|(s, t)| format!("{s}.{t}")).collect();
        if !existing.is_empty() {
            record.notes.push(format!(
                "rows replaced, definitions kept: {}",
                existing.join(", ")
            ));
        }
        Ok(())
    }

    /// One psql transaction on `to`: existing tables are emptied and refilled
    /// (`TRUNCATE` then pg_dump's `--data-only --disable-triggers` COPY), so
    /// their definitions, dependent views and grants stay; missing tables are
    /// created from the backup with their indexes and constraints.
    fn copy_tables(
        &self,
        scratch: &str,
        to: &str,
        tables: &[(String, String)],
        existing: &[bool],
    ) -> Result<()> {
        let client = &self.server.client;
        let quoted = |(schema, table): &(String, String)| {
            format!("{}.{}", quote_ident(schema), quote_ident(table))
        };
        let mut script: Vec<u8> = Vec::new();
        let refill: Vec<String> = tables
            .iter()
            .zip(existing)
            .filter(|(_, e)| **e)
            .map(|(t, _)| quoted(t))
            .collect();
        let create: Vec<String> = tables
            .iter()
            .zip(existing)
            .filter(|(_, e)| !**e)
            .map(|(t, _)| quoted(t))
            .collect();
        if !refill.is_empty() {
            script.extend(format!("TRUNCATE TABLE ONLY {};\n", refill.join(", ")).into_bytes());
            script.extend(self.dump_tables(
                scratch,
                &refill,
                &["--data-only", "--disable-triggers"],
            )?);
        }
        if !create.is_empty() {
            script.extend(self.dump_tables(scratch, &create, &[])?);
        }
        let mut load = client.command(PgProgram::Psql, Some(&DbTarget::named(to)))?;
        load.args([
            "--no-psqlrc",
            "--quiet",
            "--no-password",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
        ]);
        let mut loader = RunningChild::spawn("psql", load, Stdio::piped(), Stdio::null())?;
        if let Some(mut stdin) = loader.take_stdin() {
            // A write error means psql stopped; its status says why.
            let _ = std::io::Write::write_all(&mut stdin, &script);
        }
        loader.wait().map(|_| ())
    }

    /// pg_dump of some tables of the scratch database, as SQL text.
    fn dump_tables(&self, scratch: &str, tables: &[String], extra: &[&str]) -> Result<Vec<u8>> {
        let mut dump = self
            .server
            .client
            .command(PgProgram::PgDump, Some(&DbTarget::named(scratch)))?;
        dump.args(["--no-password", "--strict-names"]).args(extra);
        for table in tables {
            dump.arg(format!("--table={table}"));
        }
        let mut child = RunningChild::spawn("pg_dump", dump, Stdio::null(), Stdio::piped())?;
        let mut sql = Vec::new();
        if let Some(mut out) = child.take_stdout() {
            out.read_to_end(&mut sql)
                .map_err(|e| Error::Failed(format!("reading pg_dump output: {e}")))?;
        }
        child.wait()?;
        Ok(sql)
    }
}

fn table_exists(server: &Server, target: &DbTarget, schema: &str, table: &str) -> Result<bool> {
    let name = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let answer = pgb_core::pg::run_sql(
        &server.client,
        target,
        &format!(
            "SELECT to_regclass({}) IS NOT NULL",
            pgb_core::pg::quote_literal(&name)
        ),
    )?;
    Ok(answer.trim() == "t")
}

/// `schema.table`, `table` (public) or `"My Schema"."My Table"`.
pub fn split_table(text: &str) -> Result<(String, String)> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(p) = parts.last_mut() {
                    p.push('"');
                }
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c => {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    match parts.as_slice() {
        [table] if !table.is_empty() => Ok(("public".into(), table.clone())),
        [schema, table] if !schema.is_empty() && !table.is_empty() => {
            Ok((schema.clone(), table.clone()))
        }
        _ => Err(Error::Usage(format!(
            "--table {text:?}: expected SCHEMA.TABLE"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::split_table;

    #[test]
    fn table_names() {
        assert_eq!(
            split_table("public.items").unwrap(),
            ("public".into(), "items".into())
        );
        assert_eq!(
            split_table("items").unwrap(),
            ("public".into(), "items".into())
        );
        assert_eq!(
            split_table("\"Audit Trail\".\"Event.Log\"").unwrap(),
            ("Audit Trail".into(), "Event.Log".into())
        );
        assert!(split_table("a.b.c").is_err());
        assert!(split_table("").is_err());
    }
}

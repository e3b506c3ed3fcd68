//! Restoring a globals backup (roles, tablespaces): psql on the
//! maintenance database, not transactional, so the checksum is checked
//! first; objects that already exist are reported as notes, any other error
//! fails the restore.

use std::fs::File;
use std::io::Read;
use std::process::Stdio;

use pgb_core::exit::IoContext;
use pgb_core::pg::{PgProgram, RunningChild};
use pgb_core::record::{BackupRecord, RestoreRecord};
use pgb_core::stream::{buffered, decoder};
use pgb_core::trailer::{TrailerWindow, CLUSTER_MARKER};
use pgb_core::{Error, Result};

use crate::strategy::{pass, Restorer};

impl Restorer {
    pub(crate) fn restore_globals(
        &self,
        backup: &BackupRecord,
        record: &mut RestoreRecord,
    ) -> Result<()> {
        record.strategy = "globals".into();
        record.target = self.server.maintenance.dbname.clone();
        // Not transactional: check the whole file first.
        self.precheck_digest(backup, record)?;
        let mut command = self
            .server
            .client
            .command(PgProgram::Psql, Some(&self.server.maintenance))?;
        command.args(["--no-psqlrc", "--quiet", "--no-password"]);
        let mut child = RunningChild::spawn("psql", command, Stdio::piped(), Stdio::null())?;
        let mut stdin = child
            .take_stdin()
            .ok_or_else(|| Error::Failed("psql: no stdin".into()))?;
        let file = File::open(&backup.path).at(&backup.path)?;
        let plain = self.plaintext(backup, file)?;
        let mut sql = decoder(backup.compression, buffered(plain)).at(&backup.path)?;
        let mut trailer = TrailerWindow::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = sql.read(&mut buf).at(&backup.path)?;
            if n == 0 {
                break;
            }
            trailer.update(&buf[..n]);
            if std::io::Write::write_all(&mut stdin, &buf[..n]).is_err() {
                break;
            }
        }
        drop(stdin);
        let stderr = child.wait()?;
        if !trailer.is_complete(CLUSTER_MARKER) {
            return Err(Error::Integrity {
                path: backup.path.clone(),
                message: "the globals dump is incomplete".into(),
            });
        }
        let mut failures = Vec::new();
        for line in stderr.lines().filter(|l| l.contains("ERROR:")) {
            if line.contains("already exists") {
                record.notes.push(
                    line.split("ERROR:")
                        .nth(1)
                        .unwrap_or(line)
                        .trim()
                        .to_string(),
                );
            } else {
                failures.push(line.trim().to_string());
            }
        }
        if !failures.is_empty() {
            return Err(Error::Failed(format!(
                "globals restore had errors: {}",
                failures.join("; ")
            )));
        }
        record.checks.push(pass(
            "restore",
            "roles and tablespaces applied with psql".into(),
        ));
        Ok(())
    }
}

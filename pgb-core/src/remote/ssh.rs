//! A folder on an SSH host as a store, through the system `ssh` with the
//! user's keys, agent and known_hosts (or `--ssh-config FILE`). Uploads
//! stream into a temporary name and are hard-linked into place, which fails
//! rather than replaces when the name exists; the host's `sha256sum` of the
//! final file is compared with the local digest. The remote commands are
//! the only shell text pgb builds, and every path in them is single-quoted.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{shell_quote, RemoteObject, Store, StoreOptions};
use crate::exit::IoContext;
use crate::pg::RunningChild;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct SshStore {
    /// `user@host` or `host`.
    destination: String,
    port: Option<u16>,
    dir: String,
    config: Option<PathBuf>,
}

impl SshStore {
    /// `[user@]host[:port]/path` (the part after `ssh://`).
    pub fn parse(rest: &str, options: &StoreOptions) -> Result<SshStore> {
        let bad = || {
            Error::Usage(format!(
                "ssh://{rest}: expected ssh://[user@]host[:port]/path"
            ))
        };
        let (authority, path) = rest.split_once('/').ok_or_else(bad)?;
        if authority.is_empty() || path.is_empty() {
            return Err(bad());
        }
        let (destination, port) = match authority.rsplit_once(':') {
            Some((d, p)) => (d.to_string(), Some(p.parse::<u16>().map_err(|_| bad())?)),
            None => (authority.to_string(), None),
        };
        if destination.starts_with('-') {
            return Err(bad());
        }
        Ok(SshStore {
            destination,
            port,
            dir: format!("/{}", path.trim_end_matches('/')),
            config: options.ssh_config.clone(),
        })
    }

    fn command(&self, script: &str) -> Command {
        let mut command = Command::new("ssh");
        if let Some(config) = &self.config {
            command.arg("-F").arg(config);
        }
        if let Some(port) = self.port {
            command.arg("-p").arg(port.to_string());
        }
        // Never prompt: a cron job must fail, not wait for a password.
        command.args(["-o", "BatchMode=yes", "--", &self.destination, script]);
        command
    }

    fn path(&self, name: &str) -> String {
        shell_quote(&format!("{}/{name}", self.dir))
    }

    /// Runs a remote script, feeding `stdin`, and returns its stdout.
    fn run(&self, script: &str, stdin: Option<&Path>) -> Result<String> {
        let mut child = RunningChild::spawn(
            "ssh",
            self.command(script),
            if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            },
            Stdio::piped(),
        )?;
        if let (Some(local), Some(mut pipe)) = (stdin, child.take_stdin()) {
            let mut file = File::open(local).at(local)?;
            // A broken pipe means ssh or the remote side failed; its status
            // and stderr say why.
            let _ = std::io::copy(&mut file, &mut pipe);
        }
        let mut out = String::new();
        if let Some(mut stdout) = child.take_stdout() {
            let _ = stdout.read_to_string(&mut out);
        }
        child.wait()?;
        Ok(out)
    }
}

fn parse_digest(output: &str) -> Option<RemoteObject> {
    let mut lines = output.lines();
    let bytes = lines.next()?.trim().parse().ok()?;
    let sha = lines.next()?.split_whitespace().next()?.to_string();
    Some(RemoteObject {
        bytes,
        sha256: Some(sha),
    })
}

impl Store for SshStore {
    fn url(&self) -> String {
        match self.port {
            Some(port) => format!("ssh://{}:{port}{}", self.destination, self.dir),
            None => format!("ssh://{}{}", self.destination, self.dir),
        }
    }

    fn stat(&self, name: &str) -> Result<Option<RemoteObject>> {
        let f = self.path(name);
        let out = self.run(
            &format!("if [ -e {f} ]; then wc -c < {f}; sha256sum < {f}; fi"),
            None,
        )?;
        if out.trim().is_empty() {
            return Ok(None);
        }
        parse_digest(&out).map(Some).ok_or_else(|| {
            Error::Failed(format!(
                "{}: unexpected answer from the host: {out:?}",
                self.url()
            ))
        })
    }

    fn put(&self, name: &str, local: &Path, bytes: u64, sha256: &str) -> Result<RemoteObject> {
        let dir = shell_quote(&self.dir);
        let tmp = shell_quote(&format!("{}/.{name}.pgb-partial", self.dir));
        let f = self.path(name);
        // ln fails when the final name exists: nothing is ever replaced.
        let script = format!(
            "set -e; umask 077; mkdir -p -- {dir}; t={tmp}.$$; trap 'rm -f -- \"$t\"' EXIT; \
             cat > \"$t\"; ln -- \"$t\" {f}; wc -c < {f}; sha256sum < {f}"
        );
        let out = self.run(&script, Some(local)).map_err(|e| match &e {
            Error::Child { stderr, .. } if stderr.contains("File exists") => Error::Exists {
                path: format!("{}/{name}", self.url()).into(),
            },
            _ => e,
        })?;
        let stored = parse_digest(&out).ok_or_else(|| {
            Error::Failed(format!(
                "{}: unexpected answer from the host: {out:?}",
                self.url()
            ))
        })?;
        if stored.bytes != bytes || stored.sha256.as_deref() != Some(sha256) {
            return Err(Error::Integrity {
                path: format!("{}/{name}", self.url()).into(),
                message: format!(
                    "stored {} bytes sha256 {:?}, sent {bytes} bytes {sha256}",
                    stored.bytes, stored.sha256
                ),
            });
        }
        Ok(stored)
    }

    fn list(&self) -> Result<Vec<String>> {
        let dir = shell_quote(&self.dir);
        let out = self.run(&format!("cd -- {dir} && for f in * .*; do [ -f \"$f\" ] && printf '%s\\n' \"$f\"; done; true"), None)?;
        let mut names: Vec<String> = out
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        names.sort();
        Ok(names)
    }

    fn get(&self, name: &str, out: &mut (dyn Write + Send)) -> Result<u64> {
        let mut child = RunningChild::spawn(
            "ssh",
            self.command(&format!("cat -- {}", self.path(name))),
            Stdio::null(),
            Stdio::piped(),
        )?;
        let mut stdout = child
            .take_stdout()
            .ok_or_else(|| Error::Failed("ssh: no stdout".into()))?;
        let copied = std::io::copy(&mut stdout, out);
        child.wait()?;
        copied.map_err(|e| Error::Failed(format!("{}/{name}: {e}", self.url())))
    }

    fn delete(&self, name: &str) -> Result<()> {
        self.run(&format!("rm -f -- {}", self.path(name)), None)
            .map(|_| ())
    }
}

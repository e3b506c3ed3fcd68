//! A throwaway PostgreSQL cluster. `Cluster::shared()` gives one server per
//! test binary (each test uses its own databases); `Cluster::start()` gives a
//! private one for tests that stop the server on purpose. The server listens
//! only on a Unix socket inside its temp folder (`listen_addresses=''`).
//!
//! The shared server is started from a keeper thread that never ends, with
//! the parent-death signal set, so it is shut down by the kernel when the
//! test process exits however it exits.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

static SHARED: OnceLock<Cluster> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running PostgreSQL server owned by the tests.
#[derive(Debug)]
pub struct Cluster {
    root: PathBuf,
    bin: PathBuf,
    server: Option<Child>,
    owned: bool,
}

/// The role the harness creates with a password, for authentication tests.
pub const PASSWORD_ROLE: &str = "pgb_secret";
pub const PASSWORD: &str = "correct horse";

impl Cluster {
    /// The server shared by all tests of this test binary.
    pub fn shared() -> &'static Cluster {
        SHARED.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let cluster = Cluster::boot(false);
                tx.send(cluster).unwrap();
                // The server's parent-death signal fires when this thread
                // ends, so it must live as long as the process.
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("cluster keeper thread died")
        })
    }

    /// A private server, stopped and removed when dropped.
    pub fn start() -> Cluster {
        Cluster::boot(true)
    }

    fn boot(owned: bool) -> Cluster {
        let bin = server_bin_dir();
        clean_stale_roots();
        let root = std::env::temp_dir().join(format!(
            "pgb-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        as_server_user_owns(&root);
        let data = root.join("data");
        let out = server_command(&bin.join("initdb"))
            .args([
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
            ])
            .args(["--no-sync", "-E", "UTF8", "--no-locale"])
            .output()
            .expect("cannot run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n"),
        )
        .unwrap();
        let mut cluster = Cluster {
            root,
            bin,
            server: None,
            owned,
        };
        cluster.launch();
        cluster.psql(
            "postgres",
            &format!("CREATE ROLE {PASSWORD_ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'"),
        );
        cluster
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut command = server_command(&self.bin.join("postgres"));
        command
            .args(["-D", self.root.join("data").to_str().unwrap()])
            .args(["-c", "listen_addresses="])
            .args(["-k", self.root.to_str().unwrap()])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=60"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if !self.owned {
            die_with_parent(&mut command);
        }
        self.server = Some(command.spawn().expect("cannot start postgres"));
        let started = Instant::now();
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-h", self.root.to_str().unwrap(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return;
            }
            if let Some(child) = self.server.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("postgres exited ({status}):\n{}", self.log_tail());
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                let probe = Command::new(self.bin.join("pg_isready"))
                    .args(["-h", self.root.to_str().unwrap()])
                    .output();
                panic!("postgres did not start ({probe:?}):\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server abruptly, as a crash or an OOM kill would.
    pub fn stop_immediately(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Stops the server the way `pg_ctl stop -m fast` does: every session is
    /// terminated and the server shuts down.
    pub fn stop_fast(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// The folder holding the server's socket: use as PGHOST or `-h`.
    pub fn host(&self) -> &Path {
        &self.root
    }

    /// The folder with the server's programs (initdb, psql, pg_dump...).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// The end of the server log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text[start..].to_string()
    }

    /// Environment for client programs and pgb tools to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PGHOST".into(), self.root.to_str().unwrap().into()),
            ("PGPORT".into(), "5432".into()),
            ("PGUSER".into(), "postgres".into()),
        ]
    }

    /// A database name no other test of this binary uses.
    pub fn unique_name(&self, prefix: &str) -> String {
        format!("{prefix}_{}", COUNTER.fetch_add(1, Ordering::SeqCst))
    }

    /// Runs SQL with psql (ON_ERROR_STOP); panics with psql's stderr and the
    /// server log on failure. Returns unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.try_psql(db, sql);
        match out {
            Ok(text) => text,
            Err(e) => panic!(
                "psql -d {db} failed: {e}\nSQL: {sql}\nserver log:\n{}",
                self.log_tail()
            ),
        }
    }

    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .envs(self.env())
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs a SQL script file-like text through psql's stdin.
    pub fn psql_script(&self, db: &str, script: &str) {
        use std::io::Write;
        let mut child = Command::new(self.bin.join("psql"))
            .envs(self.env())
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "psql script on {db} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn create_db(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    pub fn database_exists(&self, name: &str) -> bool {
        self.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{}'",
                name.replace('\'', "''")
            ),
        ) == "1"
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned {
            self.stop_immediately();
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("cannot run id");
    assert!(
        out.status.success(),
        "the tests run as root, and initdb refuses root: create a 'postgres' user \
         (apt-get install postgresql creates one)"
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A command for a server program, as the `postgres` user when we are root.
fn server_command(program: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    if running_as_root() {
        command.uid(id_of("-u")).gid(id_of("-g"));
        command.env("HOME", "/tmp");
    }
    command
}

fn as_server_user_owns(dir: &Path) {
    if running_as_root() {
        let status = Command::new("chown")
            .arg("postgres:")
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no
    // memory of the parent; it is the documented way to tie a child's life
    // to its parent thread.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
            Ok(())
        });
    }
}

/// Where initdb and postgres are: PATH first, then Debian's layout.
fn server_bin_dir() -> PathBuf {
    // Debian links initdb into /usr/local/bin on some images; the other
    // server programs are only beside the link's target.
    if let Some(initdb) = which::which("initdb")
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
    {
        return initdb.parent().unwrap().to_path_buf();
    }
    let mut candidates: Vec<PathBuf> = glob::glob("/usr/lib/postgresql/*/bin/initdb")
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    candidates.sort_by_key(|p| {
        p.components()
            .nth(4)
            .and_then(|c| c.as_os_str().to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    match candidates.pop() {
        Some(initdb) => initdb.parent().unwrap().to_path_buf(),
        None => panic!(
            "PostgreSQL server programs (initdb, postgres) not found on PATH or under \
             /usr/lib/postgresql/*/bin. Install them: apt-get install postgresql \
             (Debian/Ubuntu), then run the tests again."
        ),
    }
}

/// Removes folders of earlier test processes that no longer exist.
fn clean_stale_roots() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("pgb-test-") else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

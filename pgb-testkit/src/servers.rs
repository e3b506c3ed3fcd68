//! Real remote-storage servers on loopback for the shipping tests: an
//! S3-compatible server (moto_server from PyPI's moto[server]), an sshd with
//! its own host key, client key and known_hosts, and a TCP proxy that can
//! cut a transfer half way, as a server that dies mid-upload would.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A moto S3 server, stopped when dropped.
#[derive(Debug)]
pub struct S3Server {
    pub port: u16,
    child: Child,
}

impl S3Server {
    pub fn start() -> S3Server {
        let port = free_port();
        let args = [
            "-H".to_string(),
            "127.0.0.1".to_string(),
            "-p".to_string(),
            port.to_string(),
        ];
        // The console script may not be on PATH yet (pyenv shims are made
        // lazily); the module always runs with the python that has it.
        let mut child = Command::new("moto_server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .or_else(|_| {
                Command::new("python3")
                    .args(["-m", "moto.server"])
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
            })
            .unwrap_or_else(|e| {
                panic!("cannot start moto_server ({e}): install it with python3 -m pip install 'moto[server]'")
            });
        wait_for_port(port, "moto_server", &mut child);
        S3Server { port, child }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Credentials and endpoint for the tools, as users would set them.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
        ]
    }

    fn request(&self, method: &str, path: &str) -> (u16, Vec<u8>) {
        http(self.port, method, path)
    }

    pub fn create_bucket(&self, bucket: &str) {
        let (code, body) = self.request("PUT", &format!("/{bucket}"));
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// Object keys under `prefix`.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (code, body) = self.request("GET", &format!("/{bucket}?list-type=2&prefix={prefix}"));
        assert_eq!(code, 200);
        let text = String::from_utf8_lossy(&body);
        let mut keys: Vec<String> = text
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect();
        keys.sort();
        keys
    }

    pub fn object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let (code, body) = self.request("GET", &format!("/{bucket}/{key}"));
        assert_eq!(code, 200, "GET {key}");
        body
    }

    /// Uploads that were started and neither completed nor aborted.
    pub fn pending_uploads(&self, bucket: &str) -> usize {
        let (_, body) = self.request("GET", &format!("/{bucket}?uploads"));
        String::from_utf8_lossy(&body).matches("<UploadId>").count()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request without signature (moto accepts those).
fn http(port: u16, method: &str, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut body = response[(split + 4).min(response.len())..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (code, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// A TCP proxy in front of a server that, once `budget` bytes went from
/// clients to the server, drops every connection and refuses new ones until
/// healed: to pgb it looks like the server died mid-transfer.
#[derive(Debug)]
pub struct CuttingProxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    limit: Arc<AtomicU64>,
}

impl CuttingProxy {
    pub fn start(target: u16, budget: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let limit = Arc::new(AtomicU64::new(budget));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, s, l) = (down.clone(), sent.clone(), limit.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                open.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (d2, sent2, l2, open2) = (d.clone(), s.clone(), l.clone(), open.clone());
                std::thread::spawn(move || pump(client, server, Some((sent2, l2, d2, open2))));
                std::thread::spawn(move || pump(s2, c2, None));
            }
        });
        CuttingProxy {
            port,
            down,
            sent,
            limit,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether the cut happened.
    pub fn cut(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Lets traffic through again, with no budget.
    pub fn heal(&self) {
        self.limit.store(u64::MAX, Ordering::SeqCst);
        self.sent.store(0, Ordering::SeqCst);
        self.down.store(false, Ordering::SeqCst);
    }
}

type Budget = (
    Arc<AtomicU64>,
    Arc<AtomicU64>,
    Arc<AtomicBool>,
    Arc<Mutex<Vec<TcpStream>>>,
);

fn pump(mut from: TcpStream, mut to: TcpStream, budget: Option<Budget>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((sent, limit, down, open)) = &budget {
            let total = sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            if !down.load(Ordering::SeqCst) && total > limit.load(Ordering::SeqCst) {
                down.store(true, Ordering::SeqCst);
                for s in open.lock().unwrap().drain(..) {
                    let _ = s.shutdown(Shutdown::Both);
                }
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// An sshd on loopback with a generated host key and client key; use
/// `config()` with ssh -F (pgb's --ssh-config) and host alias `pgbtest`.
#[derive(Debug)]
pub struct SshServer {
    dir: PathBuf,
    child: Child,
}

impl SshServer {
    pub fn start(dir: &Path) -> SshServer {
        std::fs::create_dir_all(dir).unwrap();
        let _ = std::fs::create_dir_all("/run/sshd");
        for key in ["host_key", "client_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .status()
                .expect("ssh-keygen not found: apt-get install openssh-client");
            assert!(status.success());
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin yes\n\
                 PubkeyAuthentication yes\n"
            ),
        )
        .unwrap();
        let host_key = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", host_key.join(" ")),
        )
        .unwrap();
        let user =
            String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host pgbtest\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n  IdentityFile {d}/client_key\n\
                 \x20 IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n",
                user.trim()
            ),
        )
        .unwrap();
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("sshd not found: apt-get install openssh-server");
        let mut child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port, "sshd", &mut child);
        SshServer {
            dir: dir.to_path_buf(),
            child,
        }
    }

    /// The client configuration (host alias `pgbtest`).
    pub fn config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Shared by the integration tests: the committed handlers compiled once
//! per test process, a server on an ephemeral loopback port, and a small
//! HTTP/1.1 client over a raw socket (so the tests see exactly what the
//! server sends).

#![allow(dead_code)]

use lucet_serve::{Config, ConfigBuilder, Server};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The committed handler `NAME.wasm`.
pub fn wasm(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("handlers/wasm")
        .join(format!("{name}.wasm"))
}

fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

/// Handler `name` compiled to a shared object (once per process), with
/// instruction counting if `counted`.
pub fn so(name: &str, counted: bool) -> PathBuf {
    static DONE: OnceLock<Mutex<HashMap<(String, bool), PathBuf>>> = OnceLock::new();
    let mut done = DONE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = done.get(&(name.to_string(), counted)) {
        return p.clone();
    }
    let out = scratch().join(format!(
        "{name}{}.so",
        if counted { "-counted" } else { "" }
    ));
    let options = lucetc::Options {
        allowed_imports: Some(lucetc::AllowedImport::wasi_preview1()),
        count_instructions: counted,
        ..lucetc::Options::default()
    };
    lucetc::compile_file(&wasm(name), &out, &options)
        .unwrap_or_else(|e| panic!("compiling {name}: {e}"));
    done.insert((name.to_string(), counted), out.clone());
    out
}

/// A config builder listening on an ephemeral loopback port, two workers.
pub fn config() -> ConfigBuilder {
    ConfigBuilder::new().listen("127.0.0.1:0").workers(2)
}

/// TOML for one route with extra settings, e.g. `route_toml("/a", &so, "deadline = \"5ms\"")`.
pub fn route_toml(path: &str, module: &Path, extra: &str) -> String {
    format!(
        "[[route]]\npath = {path:?}\nmodule = {:?}\n{extra}\n",
        module.display().to_string()
    )
}

/// A server running on the test's runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics: std::sync::Arc<lucet_serve::metrics::Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Start serving `config`.
    pub fn start(config: Config) -> TestServer {
        let server = Server::new(config).expect("server starts");
        let addr = server.local_addr();
        let metrics = server.metrics();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            metrics,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Ask for a graceful shutdown.
    pub fn begin_shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Shut down and wait (at most 20 s) for the server to stop.
    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server result");
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, &[], b"").await
    }
}

/// A response as read off the socket.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send one request on a fresh connection (`Connection: close`) and read
/// the whole response; at most 20 s.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await.expect("write head");
        s.write_all(body).await.expect("write body");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read response");
        parse_reply(&raw)
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no response within 20 s"))
}

/// Parse a complete HTTP/1.1 response with a Content-Length body.
pub fn parse_reply(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let body = raw[end + 4..].to_vec();
    if let Some((_, len)) = headers.iter().find(|(k, _)| k == "content-length") {
        assert_eq!(body.len(), len.parse::<usize>().unwrap(), "body length");
    }
    Reply {
        status,
        headers,
        body,
    }
}

/// The value of a metric sample line `name{labels}` (exactly as rendered),
/// or 0 if absent.
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Read one response (with a Content-Length body) off a keep-alive
/// connection; at most 20 s.
pub async fn read_response(s: &mut TcpStream) -> Reply {
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            if let Some(e) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break e + 4;
            }
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "connection closed before a response");
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while raw.len() < end + len {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "connection closed inside a body");
            raw.extend_from_slice(&buf[..n]);
        }
        parse_reply(&raw)
    })
    .await
    .expect("a response within 20 s")
}

/// How long until the server closes `s` (end of file or reset), reading
/// and discarding what comes; `None` if it is still open after `limit`.
pub async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A connection to `addr` from the local address `from` (any port).
pub async fn connect_from(from: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    sock.connect(addr).await
}

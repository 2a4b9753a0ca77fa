//! The hostile half of `loadtest.sh`: what wrk cannot do.
//!
//!     loadgen rate ADDR FROM PATH RATE SECONDS MAX_CONNS
//!         Open loop: send GET PATH at RATE requests per second for SECONDS,
//!         from the local address FROM (a comma-separated list is used in
//!         turn, so that a server's per-address cap can be met with several
//!         addresses), over keep-alive connections (at most
//!         MAX_CONNS; a request due when all are busy is counted as
//!         `no_connection` and not sent). A slow answer (a guest asleep)
//!         holds its connection, not the schedule.
//!     loadgen flood ADDR FROM CONNS RATE SECONDS
//!         Idle-connection flood: open CONNS connections from FROM (one
//!         address, or several in turn) that never
//!         send a byte, at most RATE new connections per second, and open a
//!         new one whenever the server closes one.
//!
//! Both print one line of `key=value` counts. One thread (a current-thread
//! runtime), so the load generator's CPU cost is small and visible.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn usage() -> ! {
    eprintln!(
        "usage: loadgen rate ADDR FROM PATH RATE SECONDS MAX_CONNS\n       \
         loadgen flood ADDR FROM CONNS RATE SECONDS"
    );
    std::process::exit(2)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let line = match args.first().map(String::as_str) {
        Some("rate") => local.block_on(
            &rt,
            rate(
                arg(&args, 1),
                arg(&args, 2),
                arg(&args, 3),
                arg(&args, 4),
                arg(&args, 5),
                arg(&args, 6),
            ),
        ),
        Some("flood") => local.block_on(
            &rt,
            flood(
                arg(&args, 1),
                arg(&args, 2),
                arg(&args, 3),
                arg(&args, 4),
                arg(&args, 5),
            ),
        ),
        _ => usage(),
    };
    println!("{line}");
}

/// Local addresses to connect from, in turn.
struct From(Vec<IpAddr>, std::cell::Cell<usize>);

impl std::str::FromStr for From {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<From, Self::Err> {
        let v = s.split(',').map(str::parse).collect::<Result<_, _>>()?;
        Ok(From(v, std::cell::Cell::new(0)))
    }
}

impl From {
    fn next(&self) -> IpAddr {
        let i = self.1.get();
        self.1.set(i + 1);
        self.0[i % self.0.len()]
    }
}

async fn connect(from: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(from, 0))?;
    let c = s.connect(addr).await?;
    c.set_nodelay(true)?;
    Ok(c)
}

/// Read one response; its status. The body is skipped by its length.
async fn response(c: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(e) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break e + 4;
        }
        let n = c.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - end;
    while have < len {
        let n = c.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
    }
    Ok(status)
}

#[derive(Default)]
struct Counts(BTreeMap<String, u64>);

impl Counts {
    fn add(&mut self, key: impl Into<String>) {
        *self.0.entry(key.into()).or_default() += 1;
    }

    fn line(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

async fn rate(
    addr: SocketAddr,
    from: From,
    path: String,
    rate: f64,
    seconds: f64,
    max_conns: usize,
) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let request: Rc<[u8]> = request.into();
    let idle: Rc<RefCell<Vec<TcpStream>>> = Rc::default();
    let open = Rc::new(RefCell::new(0usize));
    let counts: Rc<RefCell<Counts>> = Rc::default();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut sent: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while Instant::now() < end {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            sent += 1;
            let conn = idle.borrow_mut().pop();
            if conn.is_none() && *open.borrow() >= max_conns {
                counts.borrow_mut().add("no_connection");
                continue;
            }
            if conn.is_none() {
                *open.borrow_mut() += 1;
            }
            let from = from.next();
            let (idle, open, counts, request) =
                (idle.clone(), open.clone(), counts.clone(), request.clone());
            tokio::task::spawn_local(async move {
                let mut c = match conn {
                    Some(c) => c,
                    None => match connect(from, addr).await {
                        Ok(c) => c,
                        Err(_) => {
                            counts.borrow_mut().add("connect_error");
                            *open.borrow_mut() -= 1;
                            return;
                        }
                    },
                };
                let mut buf = Vec::new();
                let r = match c.write_all(&request).await {
                    Ok(()) => response(&mut c, &mut buf).await,
                    Err(e) => Err(e),
                };
                match r {
                    Ok(status) => {
                        counts.borrow_mut().add(format!("status_{status}"));
                        idle.borrow_mut().push(c);
                    }
                    Err(_) => {
                        counts.borrow_mut().add("closed");
                        *open.borrow_mut() -= 1;
                    }
                }
            });
        }
    }
    let c = counts.borrow();
    format!("sent={sent} conns={} {}", open.borrow(), c.line())
}

async fn flood(addr: SocketAddr, from: From, conns: usize, rate: f64, seconds: f64) -> String {
    let counts: Rc<RefCell<Counts>> = Rc::default();
    let open = Rc::new(RefCell::new(0usize));
    let mut max_open = 0;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut started: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut held: Vec<u64> = Vec::new();
    while Instant::now() < end {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        // One connection per token, keeping at most `conns` open.
        while started < due && *open.borrow() < conns {
            started += 1;
            *open.borrow_mut() += 1;
            let from = from.next();
            let (open, counts) = (open.clone(), counts.clone());
            tokio::task::spawn_local(async move {
                match connect(from, addr).await {
                    Ok(mut c) => {
                        counts.borrow_mut().add("connected");
                        // Never send; wait for the server to close it.
                        let mut b = [0u8; 64];
                        let _ = c.read(&mut b).await;
                        counts.borrow_mut().add("closed_by_server");
                    }
                    Err(_) => counts.borrow_mut().add("connect_error"),
                }
                *open.borrow_mut() -= 1;
            });
        }
        max_open = max_open.max(*open.borrow());
        held.push(*open.borrow() as u64);
    }
    let avg = held.iter().sum::<u64>() / held.len().max(1) as u64;
    format!(
        "attempts={started} open_at_end={} max_open={max_open} avg_open={avg} {}",
        open.borrow(),
        counts.borrow().line()
    )
}

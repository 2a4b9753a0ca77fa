//! Connection hygiene: the listening socket's backlog, caps on open
//! connections (in all and per client address), and the header-read and
//! idle timeouts.
//!
//! The timeouts are the server's own rather than hyper's: hyper's
//! `header_read_timeout` starts whenever it waits for a request head, so
//! it cannot tell an idle keep-alive connection from a slow head. Here a
//! connection is in one of three phases, noted by the stream wrapper
//! ([`Tracked`]) and the request handler:
//! - *head*: from accepting it, or from the first byte after an idle
//!   spell, until a whole request head has arrived (`header_read_timeout`);
//! - *busy*: a request is being answered (no timeout here: the route's
//!   deadline bounds the guest);
//! - *idle*: a response went out and nothing has come since
//!   (`idle_timeout`).
//!
//! One timer per connection ([`watch`]) wakes at the end of the current
//! phase's allowance, so a busy server sets no timer per request.

use crate::metrics::{ConnClose, Metrics};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
// Tokio's clock (the system's, unless a test pauses it).
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A listening socket on `addr` with room for `backlog` connections not yet
/// accepted (`std`'s `bind` fixes it at 128).
pub(crate) fn listen(addr: SocketAddr, backlog: u32) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std does: a restarted server can bind while old connections of
    // the previous one linger in TIME_WAIT.
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog.min(i32::MAX as u32) as i32)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Counts of open connections, in all and per client address.
pub(crate) struct ConnLimits {
    max: usize,
    per_client: usize,
    by_client: Mutex<HashMap<IpAddr, usize>>,
    metrics: Arc<Metrics>,
}

/// An admitted connection; counted until dropped.
pub(crate) struct ConnGuard {
    limits: Arc<ConnLimits>,
    client: IpAddr,
}

impl ConnLimits {
    pub fn new(max: usize, per_client: usize, metrics: Arc<Metrics>) -> Arc<ConnLimits> {
        Arc::new(ConnLimits {
            max,
            per_client,
            by_client: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// Count a new connection from `client`, or say why it must be closed.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Result<ConnGuard, ConnClose> {
        let mut by = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        if self.metrics.open_connections.get() as usize >= self.max {
            return Err(ConnClose::MaxConnections);
        }
        let n = by.entry(client).or_default();
        if *n >= self.per_client {
            return Err(ConnClose::PerClient);
        }
        *n += 1;
        self.metrics.open_connections.inc();
        Ok(ConnGuard {
            limits: self.clone(),
            client,
        })
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let l = &self.limits;
        let mut by = l.by_client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = by.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                by.remove(&self.client);
            }
        }
        l.metrics.open_connections.dec();
    }
}

const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// A connection's phase and since when (milliseconds of the server's
/// clock), shared by its stream, its request handler and its timer.
pub(crate) struct ConnPhase {
    phase: AtomicU8,
    since: AtomicU64,
    epoch: Instant,
}

impl ConnPhase {
    /// A connection just accepted: waiting for its first head.
    pub fn new(epoch: Instant) -> Arc<ConnPhase> {
        let p = ConnPhase {
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
            epoch,
        };
        p.since.store(p.now(), Ordering::Relaxed);
        Arc::new(p)
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn set(&self, phase: u8) {
        self.since.store(self.now(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// A request head arrived: the handler runs.
    pub fn busy(&self) {
        self.phase.store(BUSY, Ordering::Relaxed);
    }

    /// The response is ready: the connection is idle until its next byte.
    pub fn idle(&self) {
        self.set(IDLE);
    }

    /// Bytes arrived.
    fn bytes_arrived(&self) {
        if self.phase.load(Ordering::Relaxed) == IDLE {
            self.set(HEAD);
        }
    }
}

/// Resolves when the connection has spent longer in its phase than that
/// phase allows, with the reason to close it.
pub(crate) async fn watch(phase: Arc<ConnPhase>, header: Duration, idle: Duration) -> ConnClose {
    let look_again = header.min(idle);
    loop {
        let (p, since) = (
            phase.phase.load(Ordering::Relaxed),
            phase.since.load(Ordering::Relaxed),
        );
        let (allowed, why) = match p {
            HEAD => (header, ConnClose::HeaderTimeout),
            IDLE => (idle, ConnClose::IdleTimeout),
            _ => {
                // Busy: look again later.
                tokio::time::sleep(look_again).await;
                continue;
            }
        };
        let end = phase.epoch + Duration::from_millis(since) + allowed;
        let now = Instant::now();
        if now >= end {
            return why;
        }
        tokio::time::sleep_until(end.min(now + look_again)).await;
    }
}

/// A TCP stream that tells its connection's phase when bytes arrive.
pub(crate) struct Tracked {
    inner: TcpStream,
    phase: Arc<ConnPhase>,
}

impl Tracked {
    pub fn new(inner: TcpStream, phase: Arc<ConnPhase>) -> Tracked {
        Tracked { inner, phase }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.phase.bytes_arrived();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_client_and_in_all() {
        let m = Arc::new(Metrics::new(["/a"]));
        let l = ConnLimits::new(3, 2, m.clone());
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).err(), Some(ConnClose::PerClient));
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).err(), Some(ConnClose::MaxConnections));
        drop(a1);
        assert_eq!(m.open_connections.get(), 2);
        let _a3 = l.admit(a).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn phases_have_their_own_allowance() {
        let epoch = Instant::now();
        let p = ConnPhase::new(epoch);
        let w = tokio::spawn(watch(
            p.clone(),
            Duration::from_secs(10),
            Duration::from_secs(3),
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        p.busy();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!w.is_finished(), "a busy connection has no timeout");
        p.idle();
        let why = w.await.unwrap();
        assert_eq!(why, ConnClose::IdleTimeout);
    }
}

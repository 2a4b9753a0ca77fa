//! The HTTP side: accept connections (hyper, HTTP/1.1 with keep-alive)
//! within the connection limits, route requests, hand them to the worker
//! pool (streaming request bodies to guests as they arrive), turn outcomes
//! into responses, metrics and one log line each; answer the server's own
//! endpoints (metrics, liveness, readiness); shut down gracefully, first
//! draining (not ready, still serving) for the configured delay.

use crate::cgi::{self, RequestInfo};
use crate::config::Config;
use crate::conn::{self, ConnLimits, ConnPhase, Tracked};
use crate::metrics::{self, Metrics, Rejection, RouteMetrics};
use crate::outcome::{Failure, FailureKind};
use crate::pool::{Job, Outcome, Pool, PoolConfig, Stdin};
use crate::route::Routes;
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

struct State {
    routes: Routes,
    pool: Pool,
    metrics: Arc<Metrics>,
    metrics_path: Option<String>,
    health_path: Option<String>,
    ready_path: Option<String>,
    /// Shutdown has begun: not ready, and every response closes its
    /// connection.
    draining: AtomicBool,
    next_id: AtomicU64,
}

/// A configured server: modules loaded, regions reserved, workers started,
/// socket bound. [`Server::run`] serves until told to stop.
pub struct Server {
    state: Arc<State>,
    listener: std::net::TcpListener,
    shutdown_timeout: Duration,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    drain_delay: Duration,
    limits: Arc<ConnLimits>,
}

impl Server {
    /// Load and check every route (compiling `.wasm` modules), start the
    /// workers and bind the listening socket. Blocking: call it before
    /// entering the async runtime, or from a blocking context.
    ///
    /// Nothing is written to disk unless a `.wasm`/`.wat` route needs
    /// compiling (in a scratch directory under `TMPDIR`, removed once the
    /// routes are loaded): with precompiled `.so` routes the server needs
    /// no writable directory at all.
    pub fn new(config: Config) -> Result<Server> {
        config.validate()?;
        let metrics = Arc::new(Metrics::new(config.routes.iter().map(|r| r.path.as_str())));
        let pool_config = PoolConfig {
            workers: config.workers,
            queue: config.queue,
            slow_workers: config.slow_workers,
            slow_queue: config.slow_queue,
            penalty: config.penalty,
            slow_lane_cpu: config.slow_lane_cpu,
        };
        let linker = crate::pool::linker();
        let routes = Routes::load(&config, config.workers, &linker)?;
        let pool = Pool::new(&pool_config, &routes, linker, metrics.clone())
            .context("starting worker threads")?;
        let listener = conn::listen(config.listen, config.listen_backlog)
            .with_context(|| format!("binding {}", config.listen))?;
        for r in routes.all() {
            info!(
                route = %r.config.path,
                module = %r.config.module.display(),
                deadline = ?r.config.limits.deadline,
                cpu_time = ?r.config.limits.cpu_time,
                heap = r.config.limits.heap,
                instruction_budget = ?r.config.limits.instruction_budget,
                max_concurrency = r.config.limits.max_concurrency,
                max_running = r.max_running,
                "route ready"
            );
        }
        let limits = ConnLimits::new(
            config.max_connections,
            config.max_connections_per_client,
            metrics.clone(),
        );
        Ok(Server {
            state: Arc::new(State {
                routes,
                pool,
                metrics,
                metrics_path: config.metrics_path,
                health_path: config.health_path,
                ready_path: config.ready_path,
                draining: AtomicBool::new(false),
                next_id: AtomicU64::new(1),
            }),
            listener,
            shutdown_timeout: config.shutdown_timeout,
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            drain_delay: config.drain_delay,
            limits,
        })
    }

    /// The address the server listens on (with the real port if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// The server's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// Serve until `shutdown` completes; then drain: keep serving for the
    /// configured `drain_delay` with the readiness endpoint answering 503
    /// and every response closing its connection; then stop accepting, let
    /// in-flight requests finish (closing idle connections), and stop the
    /// workers. Requests still running after the shutdown timeout are
    /// stopped.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        info!(addr = %self.listener.local_addr()?, "listening");
        // Accepted with std's accept on readiness from tokio, so that a
        // connection refused by the limits is closed without ever being
        // registered with the event loop.
        // SAFETY: the listener owns its descriptor, which stays open and
        // the same for as long as the AsyncFd (its owner now) lives.
        let listener = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                self.listener,
                tokio::io::Interest::READABLE,
            )
        }?;
        let graceful = GracefulShutdown::new();
        let http = http1::Builder::new();
        let epoch = tokio::time::Instant::now();
        let (header_timeout, idle_timeout) = (self.header_read_timeout, self.idle_timeout);
        tokio::pin!(shutdown);
        // Armed when shutdown is asked for: the end of the drain.
        let drained = tokio::time::sleep(Duration::MAX / 4);
        tokio::pin!(drained);
        loop {
            let draining = self.state.draining.load(Ordering::Relaxed);
            tokio::select! {
                ready = listener.readable() => {
                    let mut ready = match ready {
                        Ok(r) => r,
                        Err(e) => {
                            warn!(error = %e, "polling the listener failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let (stream, peer) = match ready.try_io(|l| l.get_ref().accept()) {
                        Ok(Ok(a)) => a,
                        Ok(Err(e)) => {
                            // Out of descriptors and the like: back off.
                            warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                        // Not ready after all.
                        Err(_) => continue,
                    };
                    self.state.metrics.connections.inc();
                    let guard = match self.limits.admit(peer.ip()) {
                        Ok(g) => g,
                        Err(why) => {
                            // Accepted and closed at once, counted: with a
                            // reset (linger 0), so the refusal leaves no
                            // connection to wind down on either side.
                            self.state.metrics.conn_closed(why);
                            debug!(%peer, reason = why.as_str(), "connection refused");
                            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                            drop(stream);
                            continue;
                        }
                    };
                    let stream = match stream
                        .set_nonblocking(true)
                        .and_then(|()| tokio::net::TcpStream::from_std(stream))
                    {
                        Ok(s) => s,
                        Err(e) => {
                            warn!(%peer, error = %e, "cannot use an accepted connection");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
                    let phase = ConnPhase::new(epoch);
                    let state = self.state.clone();
                    let p = phase.clone();
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        let phase = p.clone();
                        async move {
                            phase.busy();
                            let r = handle(&state, req, peer, local).await;
                            phase.idle();
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let io = TokioIo::new(Tracked::new(stream, phase.clone()));
                    let conn = graceful.watch(http.serve_connection(io, service));
                    let metrics = self.state.metrics.clone();
                    tokio::spawn(async move {
                        let _guard = guard;
                        tokio::select! {
                            r = conn => {
                                if let Err(e) = r {
                                    debug!(%peer, error = %e, "connection ended with an error");
                                }
                            }
                            why = conn::watch(phase, header_timeout, idle_timeout) => {
                                // Dropping the connection closes it.
                                metrics.conn_closed(why);
                                debug!(%peer, reason = why.as_str(), "connection closed");
                            }
                        }
                    });
                }
                () = &mut shutdown, if !draining => {
                    self.state.draining.store(true, Ordering::Relaxed);
                    if self.drain_delay.is_zero() {
                        break;
                    }
                    info!(delay = ?self.drain_delay, "draining: not ready, still serving");
                    drained.as_mut().reset(tokio::time::Instant::now() + self.drain_delay);
                }
                () = &mut drained, if draining => break,
            }
        }
        self.state.draining.store(true, Ordering::Relaxed);
        drop(listener);
        let open = graceful.count();
        info!(
            connections = open,
            "shutting down: finishing in-flight requests"
        );
        let state = self.state.clone();
        tokio::select! {
            () = graceful.shutdown() => info!("all connections closed"),
            () = tokio::time::sleep(self.shutdown_timeout) => {
                warn!(timeout = ?self.shutdown_timeout, "shutdown timeout: stopping the guests still running");
                state.pool.kill_all();
            }
        }
        tokio::task::spawn_blocking(move || state.pool.stop()).await?;
        info!("stopped");
        Ok(())
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Counts the request in flight until dropped.
struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// Finish a request that ran no guest: count it, log it.
fn refuse(
    rm: &RouteMetrics,
    id: u64,
    req: (&hyper::Method, &str, &str),
    start: Instant,
    status: StatusCode,
    cause: &str,
) -> Response<Full<Bytes>> {
    let elapsed = start.elapsed();
    rm.response(status.as_u16(), elapsed);
    info!(
        id,
        method = %req.0,
        path = req.1,
        route = req.2,
        status = status.as_u16(),
        us = elapsed.as_micros() as u64,
        cause,
        "request"
    );
    let mut r = text(status, format!("{status}: {cause}\n"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

async fn handle(
    state: &State,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Response<Full<Bytes>> {
    let start = Instant::now();
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    state.metrics.in_flight.inc();
    let _in_flight = InFlight(&state.metrics);
    let mut response = route_request(state, req, id, start, peer, local).await;
    let headers = response.headers_mut();
    headers.insert("x-request-id", HeaderValue::from(id));
    if state.draining.load(Ordering::Relaxed) {
        // Keep-alive clients reconnect, to a server that is staying.
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn route_request(
    state: &State,
    req: Request<Incoming>,
    id: u64,
    start: Instant,
    peer: SocketAddr,
    local: SocketAddr,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let method = &parts.method;
    if state.health_path.as_deref() == Some(path) {
        debug!(id, path, "liveness");
        return text(StatusCode::OK, "ok\n");
    }
    if state.ready_path.as_deref() == Some(path) {
        debug!(id, path, "readiness");
        return if state.draining.load(Ordering::Relaxed) {
            text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        } else {
            text(StatusCode::OK, "ready\n")
        };
    }
    if state.metrics_path.as_deref() == Some(path) {
        let mut r = text(StatusCode::OK, state.metrics.render());
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        );
        debug!(id, path, "metrics");
        return r;
    }
    let Some(route) = state.routes.find(path) else {
        return refuse(
            state.metrics.unrouted(),
            id,
            (method, path, ""),
            start,
            StatusCode::NOT_FOUND,
            "no route",
        );
    };
    let rm = state.metrics.route(route.index);
    let label = route.config.path.as_str();
    let refuse = |status, cause: &str| refuse(rm, id, (method, path, label), start, status, cause);
    let limits = &route.config.limits;

    // The body, within the route's limit.
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    }
    let Some(permit) = route.admit() else {
        state.metrics.reject(Rejection::RouteConcurrency);
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "route at its concurrency limit",
        );
    };
    // With a declared length the guest reads the body as it arrives (a
    // guest waiting for it is suspended, holding no thread); a chunked
    // body is gathered first, so that CONTENT_LENGTH can say its length.
    let (stdin, content_length, mut feed) = if body.is_end_stream() {
        (Stdin::Bytes(Bytes::new()), 0, None)
    } else if let Some(n) = declared {
        let (writer, reader) = lucet_wasi::async_pipe();
        (Stdin::Streaming(reader), n, Some((body, writer)))
    } else {
        let wait = limits.deadline.unwrap_or(Duration::from_secs(10));
        let gathered =
            tokio::time::timeout(wait, Limited::new(body, limits.max_body as usize).collect());
        match gathered.await {
            Err(_) => return refuse(StatusCode::REQUEST_TIMEOUT, "body too slow"),
            Ok(Ok(b)) => {
                let b = b.to_bytes();
                let n = b.len() as u64;
                (Stdin::Bytes(b), n, None)
            }
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return refuse(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
            }
            Ok(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "error reading the body"),
        }
    };
    let env = cgi::request_env(&RequestInfo {
        method,
        uri: &parts.uri,
        version: parts.version,
        headers: &parts.headers,
        route: label,
        script_name: &route.script_name,
        content_length,
        peer,
        local,
    });
    let (reply, mut outcome) = oneshot::channel();
    let job = Job {
        route: route.clone(),
        env,
        stdin,
        reply,
        permit,
    };
    let abandon = match state.pool.submit(job) {
        Ok(info) => Abandon(Some(info)),
        Err(why) => {
            state.metrics.reject(why);
            return refuse(StatusCode::SERVICE_UNAVAILABLE, why.as_str());
        }
    };
    // Wait for the guest, feeding it the body meanwhile. (If the client
    // goes away, hyper drops this future: `abandon` stops the guest.)
    let outcome: Outcome = loop {
        tokio::select! {
            biased;
            o = &mut outcome => match o {
                Ok(o) => {
                    abandon.disarm();
                    break o;
                }
                Err(_) => {
                    state.metrics.reject(Rejection::ShuttingDown);
                    return refuse(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
                }
            },
            frame = next_frame(&mut feed) => match frame {
                Some(Ok(f)) => {
                    if let (Ok(data), Some((_, w))) = (f.into_data(), &feed) {
                        w.write(&data);
                    }
                }
                // The end: the guest reads end-of-file after the data.
                None => {
                    if let Some((_, w)) = feed.take() {
                        w.finish();
                    }
                }
                // Cut short: the guest's next read fails (the writer is
                // dropped unfinished).
                Some(Err(_)) => feed = None,
            },
        }
    };

    if let Some(d) = outcome.instantiate {
        rm.instantiate.observe(d);
    }
    let inst_us = outcome.instantiate.map_or(0, |d| d.as_micros() as u64);
    let run_us = outcome.run.as_micros() as u64;
    let cpu_us = outcome.cpu.as_micros() as u64;
    let failure = match outcome.result {
        Ok(stdout) => match cgi::parse_output(stdout) {
            Ok(cgi) => {
                let status = cgi.status;
                let mut r = Response::new(Full::new(cgi.body));
                *r.status_mut() = status;
                let h = r.headers_mut();
                for (name, value) in cgi.headers {
                    h.append(name, value);
                }
                let elapsed = start.elapsed();
                rm.response(status.as_u16(), elapsed);
                info!(
                    id,
                    method = %method,
                    path,
                    route = label,
                    status = status.as_u16(),
                    us = elapsed.as_micros() as u64,
                    inst_us,
                    run_us,
                    cpu_us,
                    "request"
                );
                return r;
            }
            Err(e) => Failure::new(FailureKind::BadOutput, e.0),
        },
        Err(f) => f,
    };
    let elapsed = start.elapsed();
    let status = failure.status();
    rm.response(status.as_u16(), elapsed);
    if status != StatusCode::SERVICE_UNAVAILABLE {
        // (503s here are refusals counted in lucet_serve_rejected_total.)
        rm.failure(failure.kind.as_str());
    }
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    warn!(
        id,
        method = %method,
        path,
        route = label,
        status = status.as_u16(),
        us = elapsed.as_micros() as u64,
        inst_us,
        run_us,
        cpu_us,
        kind = failure.kind.as_str(),
        cause = failure.message.as_str(),
        stderr = stderr.trim_end(),
        "request failed"
    );
    let mut r = text(
        status,
        format!(
            "{} {}: the handler failed ({})\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            failure.kind.as_str()
        ),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// Stops a request's guest if dropped armed: its handler was dropped
/// because the client went away.
struct Abandon(Option<Arc<crate::sched::TaskInfo>>);

impl Abandon {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(info) = self.0.take() {
            info.abandon();
        }
    }
}

/// The next frame of a body being fed to a guest; never, once there is
/// none.
async fn next_frame(
    feed: &mut Option<(Incoming, lucet_wasi::AsyncPipeWriter)>,
) -> Option<Result<hyper::body::Frame<Bytes>, hyper::Error>> {
    match feed {
        Some((body, _)) => body.frame().await,
        None => std::future::pending().await,
    }
}

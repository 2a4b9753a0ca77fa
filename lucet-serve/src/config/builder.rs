//! [`ConfigBuilder`]: a configuration file and command-line settings
//! combined and checked into a [`Config`](super::Config).

use super::file_spec::*;
use super::*;

/// Builds a [`Config`] from a TOML file and command-line settings; the
/// builder's own settings override the file's, whatever the order of calls.
#[derive(Debug, Default)]
pub struct ConfigBuilder {
    file: FileSpec,
    over: FileSpec,
    base: PathBuf,
    defaults: Vec<LimitsSpec>,
    extra_routes: Vec<(String, PathBuf)>,
    extra_keys: Vec<PathBuf>,
}

impl ConfigBuilder {
    /// A builder with nothing set.
    pub fn new() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Read settings from TOML text; relative module paths are resolved
    /// against `base`.
    pub fn toml(mut self, text: &str, base: impl Into<PathBuf>) -> Result<Self> {
        self.file = toml::from_str(text)?;
        self.base = base.into();
        Ok(self)
    }

    /// Read settings from a TOML file.
    pub fn file(self, path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.toml(&text, base)
            .with_context(|| format!("in {}", path.display()))
    }

    /// Listen on `addr` (e.g. `127.0.0.1:0`).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.over.listen = Some(addr.into());
        self
    }

    /// Run guests on `n` threads.
    pub fn workers(mut self, n: usize) -> Self {
        self.over.workers = Some(n);
        self
    }

    /// Let `n` requests wait for a worker.
    pub fn queue(mut self, n: usize) -> Self {
        self.over.queue = Some(n);
        self
    }

    /// Keep a route whose guest ran out its deadline or budget in the slow
    /// lane this long (e.g. "10s", or "none" for no slow lane).
    pub fn penalty(mut self, d: impl Into<String>) -> Self {
        self.over.penalty = Some(DurationText::Text(d.into()));
        self
    }

    /// Run penalized routes on `n` low-priority threads.
    pub fn slow_workers(mut self, n: usize) -> Self {
        self.over.slow_workers = Some(n);
        self
    }

    /// Handle connections on `n` threads.
    pub fn io_threads(mut self, n: usize) -> Self {
        self.over.io_threads = Some(n);
        self
    }

    /// Wait at most this long (e.g. "30s") for in-flight requests on shutdown.
    pub fn shutdown_timeout(mut self, d: impl Into<String>) -> Self {
        self.over.shutdown_timeout = Some(DurationText::Text(d.into()));
        self
    }

    /// After shutdown is asked for, keep serving this long (e.g. "5s") with
    /// the readiness endpoint answering 503 (see [`Config::drain_delay`]).
    pub fn drain_delay(mut self, d: impl Into<String>) -> Self {
        self.over.drain_delay = Some(DurationText::Text(d.into()));
        self
    }

    /// Close connections that take longer than this to send a request head.
    pub fn header_read_timeout(mut self, d: impl Into<String>) -> Self {
        self.over.header_read_timeout = Some(DurationText::Text(d.into()));
        self
    }

    /// Close keep-alive connections idle this long.
    pub fn idle_timeout(mut self, d: impl Into<String>) -> Self {
        self.over.idle_timeout = Some(DurationText::Text(d.into()));
        self
    }

    /// Keep at most `n` connections open.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.over.max_connections = Some(n);
        self
    }

    /// Keep at most `n` connections open per client address.
    pub fn max_connections_per_client(mut self, n: usize) -> Self {
        self.over.max_connections_per_client = Some(n);
        self
    }

    /// Let the kernel queue `n` connections for accept.
    pub fn listen_backlog(mut self, n: u32) -> Self {
        self.over.listen_backlog = Some(n);
        self
    }

    /// Override the default CPU time limit per request (e.g. "50ms", "none";
    /// a bare number is refused).
    pub fn cpu_time(mut self, d: impl Into<String>) -> Self {
        self.defaults.push(LimitsSpec {
            cpu_time: Some(DurationText::Text(d.into())),
            ..LimitsSpec::default()
        });
        self
    }

    /// Override default limits with a deadline (e.g. "50ms" or "none"; a
    /// bare number is refused).
    pub fn deadline(mut self, d: impl Into<String>) -> Self {
        self.defaults.push(LimitsSpec {
            deadline: Some(DurationText::Text(d.into())),
            ..LimitsSpec::default()
        });
        self
    }

    /// Override the default heap limit (e.g. "16MiB"; a bare number is
    /// bytes).
    pub fn heap(mut self, h: impl Into<String>) -> Self {
        self.defaults.push(LimitsSpec {
            heap: Some(Size::Text(h.into())),
            ..LimitsSpec::default()
        });
        self
    }

    /// Override the default instruction budget.
    pub fn instruction_budget(mut self, n: u64) -> Self {
        self.defaults.push(LimitsSpec {
            instruction_budget: Some(n),
            ..LimitsSpec::default()
        });
        self
    }

    /// Add a route with the default limits; relative module paths are
    /// taken as they are (from the working directory).
    pub fn route(mut self, path: impl Into<String>, module: impl Into<PathBuf>) -> Self {
        self.extra_routes.push((path.into(), module.into()));
        self
    }

    /// Trust the minisign public key in `path` (in addition to the file's
    /// `trusted_keys`): every route's module must then be signed.
    pub fn trusted_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_keys.push(path.into());
        self
    }

    /// Check everything and produce the configuration.
    pub fn build(self) -> Result<Config> {
        let d = Config::default();
        let o = self.over;
        let f = FileSpec {
            listen: o.listen.or(self.file.listen),
            workers: o.workers.or(self.file.workers),
            queue: o.queue.or(self.file.queue),
            slow_workers: o.slow_workers.or(self.file.slow_workers),
            slow_queue: o.slow_queue.or(self.file.slow_queue),
            slow_lane_cpu: o.slow_lane_cpu.or(self.file.slow_lane_cpu),
            penalty: o.penalty.or(self.file.penalty),
            io_threads: o.io_threads.or(self.file.io_threads),
            shutdown_timeout: o.shutdown_timeout.or(self.file.shutdown_timeout),
            header_read_timeout: o.header_read_timeout.or(self.file.header_read_timeout),
            idle_timeout: o.idle_timeout.or(self.file.idle_timeout),
            max_connections: o.max_connections.or(self.file.max_connections),
            max_connections_per_client: o
                .max_connections_per_client
                .or(self.file.max_connections_per_client),
            listen_backlog: o.listen_backlog.or(self.file.listen_backlog),
            drain_delay: o.drain_delay.or(self.file.drain_delay),
            ..self.file
        };
        let listen = match &f.listen {
            Some(l) => l.parse().with_context(|| format!("listen address {l:?}"))?,
            None => d.listen,
        };
        let shutdown_timeout = match &f.shutdown_timeout {
            Some(t) => t.duration("shutdown_timeout")?,
            None => d.shutdown_timeout,
        };
        let penalty = match &f.penalty {
            Some(p) => p.deadline("penalty")?,
            None => d.penalty,
        };
        let timeout =
            |v: &Option<DurationText>, name: &str, default: Duration| -> Result<Duration> {
                match v {
                    Some(t) => {
                        let d = t.duration(name)?;
                        if d.is_zero() {
                            bail!("{name} must be more than zero");
                        }
                        Ok(d)
                    }
                    None => Ok(default),
                }
            };
        let header_read_timeout = timeout(
            &f.header_read_timeout,
            "header_read_timeout",
            d.header_read_timeout,
        )?;
        let idle_timeout = timeout(&f.idle_timeout, "idle_timeout", d.idle_timeout)?;
        let endpoint = |given: &Option<String>, default: Option<String>| match given {
            Some(p) if p.is_empty() => None,
            Some(p) => Some(p.clone()),
            None => default,
        };
        let metrics_path = endpoint(&f.metrics_path, d.metrics_path);
        let health_path = endpoint(&f.health_path, d.health_path);
        let ready_path = endpoint(&f.ready_path, d.ready_path);
        let drain_delay = match &f.drain_delay {
            Some(t) => t.duration("drain_delay")?,
            None => d.drain_delay,
        };
        let mut defaults = f
            .defaults
            .apply(RouteLimits::default())
            .context("[defaults]")?;
        for spec in &self.defaults {
            defaults = spec.apply(defaults)?;
        }
        let mut routes = Vec::new();
        for r in &f.routes {
            let limits = r
                .limits
                .apply(defaults.clone())
                .with_context(|| format!("route {}", r.path))?;
            routes.push(RouteConfig {
                path: r.path.clone(),
                module: self.base.join(&r.module),
                limits,
            });
        }
        for (path, module) in &self.extra_routes {
            routes.push(RouteConfig {
                path: path.clone(),
                module: module.clone(),
                limits: defaults.clone(),
            });
        }
        let trusted_keys = f
            .trusted_keys
            .iter()
            .map(|k| self.base.join(k))
            .chain(self.extra_keys.iter().cloned())
            .collect();
        let config = Config {
            trusted_keys,
            listen,
            workers: f.workers.unwrap_or(d.workers),
            queue: f.queue.unwrap_or(d.queue),
            slow_workers: f.slow_workers.unwrap_or(d.slow_workers),
            slow_queue: f.slow_queue.unwrap_or(d.slow_queue),
            slow_lane_cpu: f.slow_lane_cpu.unwrap_or(d.slow_lane_cpu),
            penalty,
            io_threads: f.io_threads.unwrap_or(d.io_threads),
            shutdown_timeout,
            metrics_path,
            health_path,
            ready_path,
            drain_delay,
            routes,
            header_read_timeout,
            idle_timeout,
            max_connections: f.max_connections.unwrap_or(d.max_connections),
            max_connections_per_client: f
                .max_connections_per_client
                .unwrap_or(d.max_connections_per_client),
            listen_backlog: f.listen_backlog.unwrap_or(d.listen_backlog),
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines() {
        assert_eq!(
            parse_deadline("250us").unwrap(),
            Some(Duration::from_micros(250))
        );
        assert_eq!(
            parse_deadline(" 1.5s ").unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_deadline("none").unwrap(), None);
        assert_eq!(parse_deadline("off").unwrap(), None);
        assert!(parse_deadline("0ms")
            .unwrap_err()
            .to_string()
            .contains("zero"));
        assert!(parse_deadline("5 parsecs").is_err());
        assert!(parse_deadline("").is_err());
        assert_eq!(
            parse_deadline("7").unwrap_err().to_string(),
            "expected a duration with a unit, like 500ms or 2s, got \"7\""
        );
    }

    /// The configuration `text` makes, or its error as one line.
    fn build(text: &str) -> Result<Config, String> {
        ConfigBuilder::new()
            .toml(text, ".")
            .and_then(|b| b.build())
            .map_err(|e| format!("{e:#}"))
    }

    /// A duration is never a bare number, in a string or as a TOML
    /// number; a size as a bare number is bytes, in either form.
    #[test]
    fn bare_numbers_are_bytes_and_never_durations() {
        let route = "[[route]]\npath=\"/a\"\nmodule=\"a\"\n";
        let c = build(&format!(
            "[defaults]\nheap = \"4096\"\nmax_body = 100\nmax_output = \"2KB\"\n{route}"
        ))
        .unwrap();
        let l = &c.routes[0].limits;
        assert_eq!((l.heap, l.max_body, l.max_output), (4096, 100, 2000));
        for key in ["deadline", "cpu_time", "penalty_cpu"] {
            let e = build(&format!("[defaults]\n{key} = 100\n{route}")).unwrap_err();
            assert!(
                e.contains(&format!("{key} = 100: a duration needs a unit"))
                    && e.contains(&format!("write {key} = \"100ms\"")),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
            let e = build(&format!("[defaults]\n{key} = \"100\"\n{route}")).unwrap_err();
            assert!(
                e.contains(&format!(
                    "{key}: expected a duration with a unit, like 500ms or 2s, got \"100\""
                )),
                "{e}"
            );
        }
        for key in [
            "penalty",
            "shutdown_timeout",
            "header_read_timeout",
            "idle_timeout",
        ] {
            let e = build(&format!("{key} = 5\n{route}")).unwrap_err();
            assert!(e.contains(&format!("write {key} = \"5ms\"")), "{e}");
            let e = build(&format!("{key} = \"1.5\"\n{route}")).unwrap_err();
            assert!(e.contains("expected a duration with a unit"), "{e}");
        }
        // The builder's (command line's) settings are read the same way.
        let e = ConfigBuilder::new()
            .route("/a", "a.wasm")
            .deadline("50")
            .build()
            .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "deadline: expected a duration with a unit, like 500ms or 2s, got \"50\""
        );
        let e = ConfigBuilder::new()
            .route("/a", "a.wasm")
            .heap("64 parsecs")
            .build()
            .unwrap_err();
        assert!(format!("{e:#}").starts_with("heap: bad size"), "{e:#}");
        let e = build(&format!("[defaults]\ndeadline = true\n{route}")).unwrap_err();
        assert!(
            e.contains("expected a duration with a unit, as a string such as \"500ms\""),
            "{e}"
        );
    }

    #[test]
    fn toml_defaults_routes_and_overrides() {
        let text = r#"
            listen = "127.0.0.1:0"
            workers = 3
            queue = 7
            [defaults]
            deadline = "20ms"
            heap = "8MiB"
            max_body = 1000
            [[route]]
            path = "/a"
            module = "a.wasm"
            [[route]]
            path = "/b/..."
            module = "/abs/b.so"
            deadline = "none"
            heap = 1048576
            instruction_budget = 1000
            max_concurrency = 2
        "#;
        let c = ConfigBuilder::new()
            .toml(text, "/etc/serve")
            .unwrap()
            .queue(9)
            .route("/c", "c.wasm")
            .build()
            .unwrap();
        assert_eq!(c.listen.port(), 0);
        assert_eq!((c.workers, c.queue), (3, 9));
        assert_eq!(c.routes.len(), 3);
        let a = &c.routes[0];
        assert_eq!(a.module, PathBuf::from("/etc/serve/a.wasm"));
        assert_eq!(a.limits.deadline, Some(Duration::from_millis(20)));
        assert_eq!(a.limits.heap, 8 << 20);
        assert_eq!(a.limits.max_body, 1000);
        let b = &c.routes[1];
        assert_eq!(b.module, PathBuf::from("/abs/b.so"));
        assert_eq!(b.limits.deadline, None);
        assert_eq!(b.limits.heap, 1 << 20);
        assert_eq!(b.limits.instruction_budget, Some(1000));
        assert_eq!(b.limits.max_concurrency, 2);
        assert_eq!(c.routes[2].module, PathBuf::from("c.wasm"));
        assert_eq!(c.routes[2].limits.heap, 8 << 20);
    }

    #[test]
    fn connection_settings_and_shares() {
        let text = r#"
            header_read_timeout = "2s"
            idle_timeout = "500ms"
            max_connections = 100
            max_connections_per_client = 10
            listen_backlog = 64
            [defaults]
            cpu_time = "20ms"
            penalty_cpu = "5ms"
            penalty_memory = "4MiB"
            [[route]]
            path = "/a"
            module = "a.wasm"
            max_running = 3
            cpu_time = "none"
            [[route]]
            path = "/b"
            module = "b.wasm"
        "#;
        let c = ConfigBuilder::new()
            .toml(text, ".")
            .unwrap()
            .idle_timeout("1s")
            .build()
            .unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.idle_timeout, Duration::from_secs(1), "the builder wins");
        assert_eq!(
            (
                c.max_connections,
                c.max_connections_per_client,
                c.listen_backlog
            ),
            (100, 10, 64)
        );
        let (a, b) = (&c.routes[0].limits, &c.routes[1].limits);
        assert_eq!((a.max_running, a.cpu_time), (Some(3), None));
        assert_eq!(b.max_running, None);
        assert_eq!(b.cpu_time, Some(Duration::from_millis(20)));
        assert_eq!(b.penalty_cpu, Duration::from_millis(5));
        assert_eq!(b.penalty_memory, 4 << 20);
        assert_eq!(b.max_concurrency, 64);
        // The documented defaults.
        let d = Config::default();
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        assert_eq!(d.idle_timeout, Duration::from_secs(15));
        assert!(d.max_connections <= 10_000 && d.max_connections >= 16);
        assert_eq!(d.max_connections_per_client, 256);
        assert!(d.listen_backlog >= 1024);
        let l = RouteLimits::default();
        assert_eq!(l.cpu_time, Some(Duration::from_millis(100)));
        assert_eq!(l.max_concurrency, 64);
    }

    #[test]
    fn health_endpoints_and_drain_delay() {
        let route = "[[route]]\npath=\"/a\"\nmodule=\"a\"\n";
        let c = ConfigBuilder::new()
            .toml(route, ".")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.health_path.as_deref(), Some("/healthz"));
        assert_eq!(c.ready_path.as_deref(), Some("/readyz"));
        assert_eq!(c.drain_delay, Duration::ZERO);
        let text =
            format!("health_path = \"/live\"\nready_path = \"\"\ndrain_delay = \"5s\"\n{route}");
        let c = ConfigBuilder::new()
            .toml(&text, ".")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.health_path.as_deref(), Some("/live"));
        assert_eq!(c.ready_path, None, "an empty path turns the endpoint off");
        assert_eq!(c.drain_delay, Duration::from_secs(5));
        let c = ConfigBuilder::new()
            .toml(&text, ".")
            .unwrap()
            .drain_delay("1s")
            .build()
            .unwrap();
        assert_eq!(c.drain_delay, Duration::from_secs(1), "the builder wins");
    }

    #[test]
    fn bad_configs_are_rejected_with_a_reason() {
        let bad = |text: &str| build(text).unwrap_err();
        assert!(bad("").contains("no routes"));
        assert!(bad("wrokers = 2").contains("unknown field"));
        let dup = "[[route]]\npath=\"/a\"\nmodule=\"a\"\n[[route]]\npath=\"/a\"\nmodule=\"b\"";
        assert!(bad(dup).contains("twice"));
        assert!(bad("[[route]]\npath=\"a\"\nmodule=\"a\"").contains("start with"));
        assert!(bad("[[route]]\npath=\"/metrics\"\nmodule=\"a\"").contains("metrics"));
        assert!(bad("[[route]]\npath=\"/healthz\"\nmodule=\"a\"").contains("health_path"));
        assert!(bad("[[route]]\npath=\"/readyz\"\nmodule=\"a\"").contains("ready_path"));
        let route = "[[route]]\npath=\"/a\"\nmodule=\"a\"\n";
        assert!(bad(&format!("{route}max_running = 0")).contains("max_running"));
        assert!(bad(&format!("max_connections = 0\n{route}")).contains("max_connections"));
        assert!(bad(&format!("idle_timeout = \"0s\"\n{route}")).contains("idle_timeout"));
        let e = bad(&format!("ready_path = \"/metrics\"\n{route}"));
        assert!(
            e.contains("ready_path") && e.contains("metrics_path"),
            "{e}"
        );
        assert!(bad(&format!("health_path = \"up\"\n{route}")).contains("start with"));
        assert!(bad(&format!("drain_delay = 5\n{route}")).contains("drain_delay = \"5ms\""));
        let e = ConfigBuilder::new()
            .toml(
                "[[route]]\npath=\"/a\"\nmodule=\"a\"\ndeadline=\"soon\"",
                ".",
            )
            .and_then(|b| b.build())
            .unwrap_err();
        assert!(format!("{e:#}").contains("bad duration"), "{e:#}");
    }
}

//! Samples, percentiles and the records the program reports.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One figure: the JSON schema of `results/latest.json` is a list of these.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub metric: String,
    pub subject: String,
    /// `lucet`, `wasmtime` or `native`.
    pub runtime: String,
    pub unit: String,
    pub p50: f64,
    pub p99: f64,
}

impl Record {
    pub fn new(metric: &str, subject: &str, runtime: &str, unit: &str, s: Summary) -> Record {
        Record {
            metric: metric.into(),
            subject: subject.into(),
            runtime: runtime.into(),
            unit: unit.into(),
            p50: s.p50,
            p99: s.p99,
        }
    }

    /// A figure measured once (a count, a resident size): p50 = p99.
    pub fn single(metric: &str, subject: &str, runtime: &str, unit: &str, v: f64) -> Record {
        Record::new(metric, subject, runtime, unit, Summary { p50: v, p99: v })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub p50: f64,
    pub p99: f64,
}

/// Nearest-rank percentile of sorted samples (`p` in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarize(mut samples: Vec<f64>) -> Summary {
    samples.sort_by(|a, b| a.total_cmp(b));
    Summary {
        p50: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
    }
}

/// Time `op` `n` times, one sample per call, in nanoseconds.
pub fn time_each(n: usize, out: &mut Vec<f64>, mut op: impl FnMut()) {
    for _ in 0..n {
        let t = Instant::now();
        op();
        out.push(t.elapsed().as_nanos() as f64);
    }
}

/// Run several timed operations side by side: `warmup` untimed calls of
/// each, then `rounds` rounds in which each operation runs `per_round`
/// times (the order rotating from round to round), so that drift on a busy
/// machine is shared by all. Returns samples in nanoseconds, one vector
/// per operation.
pub fn interleaved(
    warmup: usize,
    rounds: usize,
    per_round: usize,
    ops: &mut [&mut dyn FnMut()],
) -> Vec<Vec<f64>> {
    for op in ops.iter_mut() {
        for _ in 0..warmup {
            op();
        }
    }
    let mut samples: Vec<Vec<f64>> = ops
        .iter()
        .map(|_| Vec::with_capacity(rounds * per_round))
        .collect();
    for r in 0..rounds {
        for k in 0..ops.len() {
            let i = (r + k) % ops.len();
            time_each(per_round, &mut samples[i], &mut *ops[i]);
        }
    }
    samples
}

/// How far one process got filling a pool with live instances.
#[derive(Debug)]
pub struct MaxLive {
    /// Live instances reached.
    pub reached: usize,
    /// The pool or region size that could be created.
    pub capacity: usize,
    /// Why it stopped there.
    pub stop: String,
    /// Time to create them all.
    pub create_ms: f64,
    /// Resident memory they added.
    pub rss_mib: f64,
    /// Page-table memory they added.
    pub pagetables_mib: f64,
}

/// Memory the kernel spends on this process's page tables, in bytes
/// (`VmPTE` of /proc/self/status). Not part of the resident set size, but
/// real memory: a page touched in a fresh 2 MiB (1 GiB) stretch of address
/// space costs a page-table page (two) besides itself.
pub fn pagetable_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmPTE:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Memory mappings of this process now, and the kernel's limit on them
/// (`vm.max_map_count`).
pub fn mappings() -> (usize, usize) {
    let now = std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    (now, max)
}

/// Resident and page-table memory at a moment.
#[derive(Clone, Copy, Debug)]
pub struct Footprint {
    pub rss: u64,
    pub pagetables: u64,
}

impl Footprint {
    /// Now, after giving freed heap memory back to the system (so that
    /// what the next allocations touch shows up in the resident set).
    pub fn now() -> Footprint {
        // SAFETY: malloc_trim has no preconditions.
        unsafe { libc::malloc_trim(0) };
        Footprint {
            rss: rss_bytes(),
            pagetables: pagetable_bytes(),
        }
    }

    /// Bytes per instance since `base`, for `n` instances: (resident,
    /// page tables).
    pub fn per(&self, base: &Footprint, n: usize) -> (f64, f64) {
        (
            self.rss.saturating_sub(base.rss) as f64 / n as f64,
            self.pagetables.saturating_sub(base.pagetables) as f64 / n as f64,
        )
    }
}

/// Resident set size of this process, in bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        let s = summarize(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.p50, s.p99), (2.0, 3.0));
    }
}

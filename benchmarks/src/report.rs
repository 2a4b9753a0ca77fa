//! The table (console and Markdown), the JSON, the machine description and
//! the generated region of `benchmarks/README.md`: one concern, reporting
//! a run, with a summary line per question the benchmarks answer.

use crate::stats::Record;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The metrics, in report order, with a title and whether more is better.
pub const METRICS: &[(&str, &str, bool)] = &[
    ("instantiate_drop", "instantiate + drop", false),
    (
        "instantiate_call_drop",
        "instantiate + call export + drop",
        false,
    ),
    (
        "wasi_hello_start",
        "WASI hello: instantiate + _start + drop",
        false,
    ),
    (
        "rss_per_instance",
        "resident memory per live instance",
        false,
    ),
    (
        "pagetables_per_instance",
        "page-table memory per live instance",
        false,
    ),
    (
        "max_live_instances",
        "most live instances in one process",
        true,
    ),
    (
        "max_live_create_time",
        "time to create each of the most live instances",
        false,
    ),
    (
        "max_live_rss",
        "resident memory per instance at the most live instances",
        false,
    ),
    (
        "max_live_pagetables",
        "page-table memory per instance at the most live instances",
        false,
    ),
    ("hostcall_roundtrip", "hostcall round trip", false),
    ("exec", "CPU-bound kernels", false),
    ("compile_throughput", "compile throughput", true),
];

pub fn metric_title(metric: &str) -> &str {
    METRICS
        .iter()
        .find(|m| m.0 == metric)
        .map_or(metric, |m| m.1)
}

pub fn higher_is_better(metric: &str) -> bool {
    METRICS.iter().any(|m| m.0 == metric && m.2)
}

/// Where and with what the figures were taken.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct Machine {
    pub date: String,
    pub cpu: String,
    pub nproc: usize,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub wasmtime: String,
    pub lucetc_cranelift: String,
    pub gcc: String,
    pub clang: String,
    pub mode: String,
    pub code: String,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the run started and ended:
    /// other work on the machine shows here.
    #[serde(default)]
    pub load: String,
    /// Facts of the run worth a sentence (where a pool stopped, and why).
    #[serde(default)]
    pub notes: Vec<String>,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        s / 3600,
        s % 3600 / 60
    )
}

/// The three load averages of /proc/loadavg.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

impl Machine {
    pub fn here(mode: &str) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or("unknown".into(), |kb| {
                format!("{:.1} GiB", kb as f64 / (1 << 20) as f64)
            });
        let code = std::process::Command::new("git")
            .args([
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                "rev-parse",
                "--short",
                "HEAD",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Machine {
            date: utc_now(),
            cpu,
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory,
            kernel: read_trim("/proc/sys/kernel/osrelease"),
            rustc: env!("BENCH_RUSTC_VERSION").into(),
            wasmtime: env!("BENCH_WASMTIME_VERSION").into(),
            lucetc_cranelift: env!("BENCH_CRANELIFT_LUCETC_VERSION").into(),
            gcc: env!("BENCH_GCC_VERSION").into(),
            clang: env!("BENCH_CLANG_VERSION").into(),
            mode: mode.into(),
            code,
            load: loadavg(),
            notes: Vec::new(),
        }
    }
}

pub fn write_json(path: &Path, records: &[Record]) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let text = serde_json::to_string_pretty(records)? + "\n";
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub fn read_json(path: &Path) -> Result<Vec<Record>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// One line of the table: a (metric, subject) with each runtime's figures.
pub struct Row<'a> {
    pub metric: &'a str,
    pub subject: &'a str,
    pub unit: &'a str,
    pub lucet: Option<&'a Record>,
    pub wasmtime: Option<&'a Record>,
    pub native: Option<&'a Record>,
}

impl Row<'_> {
    /// lucet p50 / wasmtime p50.
    pub fn vs_wasmtime(&self) -> Option<f64> {
        Some(self.lucet?.p50 / self.wasmtime?.p50)
    }
    /// lucet p50 / native p50.
    pub fn vs_native(&self) -> Option<f64> {
        Some(self.lucet?.p50 / self.native?.p50)
    }
    /// "ahead", "behind" or "even" (within 5%), at p50.
    pub fn verdict(&self) -> Option<&'static str> {
        let r = self.vs_wasmtime()?;
        let better = if higher_is_better(self.metric) {
            r > 1.05
        } else {
            r < 1.0 / 1.05
        };
        let worse = if higher_is_better(self.metric) {
            r < 1.0 / 1.05
        } else {
            r > 1.05
        };
        Some(if better {
            "ahead"
        } else if worse {
            "behind"
        } else {
            "even"
        })
    }
}

/// Rows in metric order, subjects in the order first measured.
pub fn rows(records: &[Record]) -> Vec<Row<'_>> {
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut by: BTreeMap<(&str, &str, &str), &Record> = BTreeMap::new();
    for r in records {
        let key = (r.metric.as_str(), r.subject.as_str());
        if !order.contains(&key) {
            order.push(key);
        }
        by.insert((key.0, key.1, r.runtime.as_str()), r);
    }
    let rank = |m: &str| METRICS.iter().position(|x| x.0 == m).unwrap_or(usize::MAX);
    order.sort_by_key(|(m, _)| rank(m));
    order
        .into_iter()
        .map(|(metric, subject)| {
            let get = |rt| by.get(&(metric, subject, rt)).copied();
            let any = get("lucet").or(get("wasmtime")).or(get("native")).unwrap();
            Row {
                metric,
                subject,
                unit: &any.unit,
                lucet: get("lucet"),
                wasmtime: get("wasmtime"),
                native: get("native"),
            }
        })
        .collect()
}

pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn cell(r: Option<&Record>, p99: bool) -> String {
    r.map_or("–".into(), |r| num(if p99 { r.p99 } else { r.p50 }))
}

fn ratio(v: Option<f64>) -> String {
    v.map_or("–".into(), ratio_text)
}

/// A ratio for people: two decimals, or "> 100" when the denominator is
/// next to nothing.
pub fn ratio_text(v: f64) -> String {
    if v > 100.0 {
        "> 100".into()
    } else {
        format!("{v:.2}")
    }
}

const HEADER: [&str; 11] = [
    "metric",
    "subject",
    "unit",
    "lucet p50",
    "lucet p99",
    "wasmtime p50",
    "wasmtime p99",
    "native p50",
    "lucet/wasmtime",
    "lucet/native",
    "vs wasmtime",
];

fn cells(row: &Row) -> [String; 11] {
    [
        row.metric.to_string(),
        row.subject.to_string(),
        row.unit.to_string(),
        cell(row.lucet, false),
        cell(row.lucet, true),
        cell(row.wasmtime, false),
        cell(row.wasmtime, true),
        cell(row.native, false),
        ratio(row.vs_wasmtime()),
        ratio(row.vs_native()),
        row.verdict().unwrap_or("–").to_string(),
    ]
}

/// The table for the terminal.
pub fn console_table(records: &[Record]) -> String {
    let rows: Vec<[String; 11]> = rows(records).iter().map(cells).collect();
    let mut width = HEADER.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(width).enumerate() {
            let pad = w - c.chars().count();
            if i < 3 {
                s += c;
                s += &" ".repeat(pad);
            } else {
                s += &" ".repeat(pad);
                s += c;
            }
            s += "  ";
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&HEADER.map(String::from));
    out += &line(&width.map(|w| "-".repeat(w)));
    for r in &rows {
        out += &line(r);
    }
    out
}

/// The same table in Markdown.
pub fn markdown_table(records: &[Record]) -> String {
    let mut out = format!("| {} |\n", HEADER.join(" | "));
    out += "|";
    for i in 0..HEADER.len() {
        out += if i < 3 { " --- |" } else { " ---: |" };
    }
    out += "\n";
    for row in rows(records) {
        let c = cells(&row);
        let mut c = c.to_vec();
        if let Some(v) = row.verdict() {
            if v != "even" {
                c[10] = format!("**{v}**");
            }
        }
        out += &format!("| {} |\n", c.join(" | "));
    }
    out
}

/// Plain statements of where we are behind Wasmtime (p50, more than 5%),
/// and how far from native code the kernels run.
pub fn statements(records: &[Record]) -> String {
    let rows = rows(records);
    let mut out = String::new();
    let behind: Vec<&Row> = rows
        .iter()
        .filter(|r| r.verdict() == Some("behind"))
        .collect();
    if behind.is_empty() {
        out += "- At p50 we are not behind Wasmtime on any figure of this run.\n";
    }
    for r in &behind {
        let (l, w) = (r.lucet.unwrap(), r.wasmtime.unwrap());
        let _ = writeln!(
            out,
            "- **Behind** on {} ({}): lucet {} {} vs Wasmtime {} {} at p50 (ratio {}{}).",
            metric_title(r.metric),
            r.subject,
            num(l.p50),
            r.unit,
            num(w.p50),
            r.unit,
            ratio_text(l.p50 / w.p50),
            if higher_is_better(r.metric) {
                ", higher is better"
            } else {
                ""
            },
        );
    }
    let p99_behind: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.verdict() != Some("behind")
                && !higher_is_better(r.metric)
                && matches!((r.lucet, r.wasmtime), (Some(l), Some(w)) if l.p99 > w.p99 * 1.25 && l.p99 != l.p50)
        })
        .collect();
    for r in p99_behind {
        let (l, w) = (r.lucet.unwrap(), r.wasmtime.unwrap());
        let _ = writeln!(
            out,
            "- Behind at p99 only (by more than 25%) on {} ({}): lucet {} {} vs Wasmtime {} {}.",
            metric_title(r.metric),
            r.subject,
            num(l.p99),
            r.unit,
            num(w.p99),
            r.unit,
        );
    }
    // Kernels against native code, per variant (the part of the subject
    // after a comma, such as "no checks").
    let native: Vec<&Row> = rows.iter().filter(|r| r.vs_native().is_some()).collect();
    let mut variants: Vec<&str> = Vec::new();
    for r in &native {
        let v = r.subject.split_once(", ").map_or("", |x| x.1);
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    for v in variants {
        let mine: Vec<&&Row> = native
            .iter()
            .filter(|r| r.subject.split_once(", ").map_or("", |x| x.1) == v)
            .collect();
        let ratios: Vec<String> = mine
            .iter()
            .map(|r| {
                let name = r.subject.split_once(", ").map_or(r.subject, |x| x.0);
                format!("{name} {:.2}×", r.vs_native().unwrap())
            })
            .collect();
        let geo = |f: &dyn Fn(&Row) -> Option<f64>| {
            let logs: Vec<f64> = mine.iter().filter_map(|r| f(r)).map(f64::ln).collect();
            (logs.iter().sum::<f64>() / logs.len().max(1) as f64).exp()
        };
        let lucet = geo(&|r| r.vs_native());
        let wasmtime = geo(&|r| Some(r.wasmtime?.p50 / r.native?.p50));
        let label = if v.is_empty() {
            String::new()
        } else {
            format!(" ({v})")
        };
        let _ = writeln!(
            out,
            "- Kernels{label} take {lucet:.2}× the time of the same C built natively with \
             gcc -O2 on lucet and {wasmtime:.2}× on Wasmtime (geometric means; lucet: {}).",
            ratios.join(", ")
        );
    }
    // What lucet's spectre guards cost: each kernel against itself compiled
    // without them, in the same run.
    let guarded: Vec<(&str, f64)> = native
        .iter()
        .filter(|r| !r.subject.contains(", "))
        .filter_map(|r| {
            let off = native
                .iter()
                .find(|o| o.subject == format!("{}, no spectre guards", r.subject))?;
            Some((r.subject, r.lucet?.p50 / off.lucet?.p50))
        })
        .collect();
    if !guarded.is_empty() {
        let geo = (guarded.iter().map(|g| g.1.ln()).sum::<f64>() / guarded.len() as f64).exp();
        let each: Vec<String> = guarded
            .iter()
            .map(|(n, r)| format!("{n} {:+.1}%", (r - 1.0) * 100.0))
            .collect();
        let _ = writeln!(
            out,
            "- Spectre guards (on by default) cost lucet's kernels {:+.1}% (geometric mean of \
             the time with guards over the time without; {}).",
            (geo - 1.0) * 100.0,
            each.join(", ")
        );
    }
    // What 64-bit memories cost: each kernel built for a 64-bit memory
    // against the same source built for a 32-bit one, in the same run.
    let pairs: Vec<(&str, f64, f64)> = crate::inputs::MEMORY_KERNELS
        .iter()
        .filter_map(|name| {
            let find = |bits| {
                let s = crate::memory_subject(name, bits);
                rows.iter().find(|r| r.subject == s)
            };
            let (m32, m64) = (find(32)?, find(64)?);
            Some((
                *name,
                m64.lucet?.p50 / m32.lucet?.p50,
                m64.wasmtime?.p50 / m32.wasmtime?.p50,
            ))
        })
        .collect();
    if !pairs.is_empty() {
        let geo = |f: &dyn Fn(&(&str, f64, f64)) -> f64| {
            (pairs.iter().map(|p| f(p).ln()).sum::<f64>() / pairs.len() as f64).exp()
        };
        let each: Vec<String> = pairs
            .iter()
            .map(|(n, l, w)| {
                format!(
                    "{n} {:+.1}% / {:+.1}%",
                    (l - 1.0) * 100.0,
                    (w - 1.0) * 100.0
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "- 64-bit memories (memory64; every access bounds-checked in code) cost lucet \
             {:+.1}% and Wasmtime {:+.1}% (geometric mean of the time of a kernel built by \
             clang-22 for a 64-bit memory over the same for a 32-bit one; lucet / Wasmtime: {}).",
            (geo(&|p| p.1) - 1.0) * 100.0,
            (geo(&|p| p.2) - 1.0) * 100.0,
            each.join(", ")
        );
    }
    // What exceptions cost: handlers that catch nothing, and a throw.
    let find = |name: &str| {
        let (_, arg) = crate::inputs::EXCEPTION_KERNELS
            .iter()
            .find(|(n, _)| *n == name)?;
        let s = crate::exception_subject(name, *arg);
        let r = rows.iter().find(|r| r.subject == s)?;
        Some((r.lucet?.p50, r.wasmtime?.p50, *arg))
    };
    if let (Some(plain), Some(tried), Some(thrown)) = (find("fib"), find("fib_try"), find("throw"))
    {
        let _ = writeln!(
            out,
            "- Exceptions: code outside `try` blocks makes plain calls and pays nothing; \
             calls inside one (here every call of a recursive fib) cost lucet {:+.1}% and \
             Wasmtime {:+.1}% (both make them calls after which no register survives). A \
             throw caught ten frames up takes {:.0} ns on lucet and {:.0} ns on Wasmtime.",
            (tried.0 / plain.0 - 1.0) * 100.0,
            (tried.1 / plain.1 - 1.0) * 100.0,
            thrown.0 * 1e6 / f64::from(thrown.2),
            thrown.1 * 1e6 / f64::from(thrown.2),
        );
    }
    out
}

pub const BEGIN: &str =
    "<!-- BEGIN GENERATED RESULTS: written by the benchmark program; do not edit by hand -->";
pub const END: &str = "<!-- END GENERATED RESULTS -->";

/// The generated region of the README.
pub fn readme_region(records: &[Record], m: &Machine, chart: &str) -> String {
    let mut s = String::new();
    s += BEGIN;
    s += "\n\n";
    let _ = writeln!(
        s,
        "Run of {} ({} mode, code at `{}`).\n",
        m.date, m.mode, m.code
    );
    let _ = writeln!(
        s,
        "- Machine: {} (`/proc/cpuinfo`), {} CPUs (`nproc`), {} RAM, Linux {} (`uname -r`)",
        m.cpu, m.nproc, m.memory, m.kernel
    );
    if !m.load.is_empty() {
        let _ = writeln!(
            s,
            "- Load average (1, 5, 15 min) at the start of the run → at its end: {} \
             (other work shared the CPUs when it is high; it slowed lucet and \
             Wasmtime alike, as their samples are interleaved)",
            m.load
        );
    }
    let _ = writeln!(s, "- Rust: {}", m.rustc);
    let _ = writeln!(
        s,
        "- Wasmtime {} (crates.io; lucetc uses Cranelift {})",
        m.wasmtime, m.lucetc_cranelift
    );
    let _ = writeln!(s, "- Native kernels: {}", m.gcc);
    let _ = writeln!(s, "- Kernels to wasm32-wasi: {}", m.clang);
    s += "\n### Where we are behind\n\n";
    s += &statements(records);
    if !m.notes.is_empty() {
        s += "\n### Notes from the run\n\n";
        for n in &m.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s += "\n### All figures\n\n";
    s += &markdown_table(records);
    s += "\n`vs wasmtime` compares p50s and calls a difference under 5% even; ";
    s += "for `max_live_instances` and `compile_throughput` more is better, for everything else less.\n\n";
    let _ = writeln!(s, "![lucet vs Wasmtime per metric]({chart})\n");
    s += "Kernels (`exec`), each called with the same argument on every run:\n\n";
    for k in crate::inputs::KERNELS {
        let native = if crate::native::kernel(k.name).is_some() {
            ""
        } else {
            " (no native build)"
        };
        let _ = writeln!(s, "- `{}`: {}{native}", k.name, k.what);
    }
    s += "\n";
    s += END;
    s
}

/// Replace the generated region of `readme` (or append one).
pub fn update_readme(readme: &Path, region: &str) -> Result<()> {
    let old = std::fs::read_to_string(readme).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => format!("{}{}{}", &old[..b], region, &old[e + END.len()..]),
        _ => format!("{old}\n## Results\n\n{region}\n"),
    };
    std::fs::write(readme, new).with_context(|| format!("writing {}", readme.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(metric: &str, subject: &str, runtime: &str, p50: f64) -> Record {
        Record::single(metric, subject, runtime, "us", p50)
    }

    #[test]
    fn verdicts_follow_the_metric_direction() {
        let records = vec![
            rec("instantiate_drop", "m", "lucet", 1.0),
            rec("instantiate_drop", "m", "wasmtime", 2.0),
            rec("compile_throughput", "c", "lucet", 1.0),
            rec("compile_throughput", "c", "wasmtime", 2.0),
            rec("exec", "k", "lucet", 1.02),
            rec("exec", "k", "wasmtime", 1.0),
            rec("exec", "k", "native", 0.5),
        ];
        let rows = rows(&records);
        let v: Vec<_> = rows.iter().map(|r| (r.subject, r.verdict())).collect();
        assert_eq!(
            v,
            [
                ("m", Some("ahead")),
                ("k", Some("even")),
                ("c", Some("behind"))
            ]
        );
        assert_eq!(rows[1].vs_native(), Some(2.04));
        let text = statements(&records);
        assert!(
            text.contains("**Behind** on compile throughput (c)"),
            "{text}"
        );
        assert!(!text.contains("(m)"), "{text}");
    }

    #[test]
    fn readme_region_is_replaced_not_duplicated() {
        let dir = tempfile::tempdir().unwrap();
        let readme = dir.path().join("README.md");
        std::fs::write(
            &readme,
            format!("# Title\n\nprose\n\n{BEGIN}\nold\n{END}\ntail\n"),
        )
        .unwrap();
        let records = vec![rec("instantiate_drop", "m", "lucet", 1.0)];
        let region = readme_region(&records, &Machine::default(), "results/chart.svg");
        update_readme(&readme, &region).unwrap();
        update_readme(&readme, &region).unwrap();
        let text = std::fs::read_to_string(&readme).unwrap();
        assert!(text.starts_with("# Title\n\nprose\n\n"));
        assert!(text.ends_with(&format!("{END}\ntail\n")));
        assert_eq!(text.matches(BEGIN).count(), 1);
        assert!(!text.contains("\nold\n"));
        assert!(text.contains("| instantiate_drop | m | us | 1.00 |"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_782), (2024, 2, 29));
    }
}

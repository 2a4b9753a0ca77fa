//! What live instances cost: resident memory and page tables per idle
//! instance, and how many instances one process holds.

use crate::args::Args;
use crate::lucet_side::Lucet;
use crate::stats::{MaxLive, Record, Summary};
use crate::{inputs, lucet_side, pair, report, wasmtime_side, RSS_COUNTS};
use anyhow::Result;

pub(crate) fn rss_phase(l: &Lucet, records: &mut Vec<Record>) -> Result<()> {
    eprintln!("resident memory per live instance");
    let deep = inputs::deep_recursion();
    for (subject, wasm, run) in [
        (inputs::MINIMAL, inputs::minimal(), None),
        (inputs::DATA, inputs::data_1mib(), None),
        (inputs::DEEP, deep, Some(("recurse", inputs::DEPTH))),
    ] {
        let lk = lucet_side::rss_per_instance(l.by_subject(subject), &l.plain, &RSS_COUNTS, run)?;
        let wk = wasmtime_side::rss_per_instance(&wasm, &RSS_COUNTS, run)?;
        let kib = |b: f64| Summary {
            p50: b / 1024.0,
            p99: b / 1024.0,
        };
        for ((n, lb), wb) in RSS_COUNTS.iter().zip(&lk).zip(&wk) {
            let at = format!("{subject} @{}k", n / 1000);
            pair(
                records,
                "rss_per_instance",
                &at,
                "KiB",
                kib(lb.0),
                kib(wb.0),
            );
            pair(
                records,
                "pagetables_per_instance",
                &at,
                "KiB",
                kib(lb.1),
                kib(wb.1),
            );
        }
        // Once every instance is dropped: what a free slot keeps.
        if let (Some(lf), Some(wf)) = (lk.last(), wk.last()) {
            let at = format!("{subject}, per free slot after all dropped");
            pair(
                records,
                "rss_per_instance",
                &at,
                "KiB",
                kib(lf.0),
                kib(wf.0),
            );
        }
    }
    Ok(())
}

pub(crate) fn maxlive_phase(
    args: &Args,
    l: &Lucet,
    records: &mut Vec<Record>,
    notes: &mut Vec<String>,
) -> Result<()> {
    eprintln!("most live instances (trying up to {})", args.max_live);
    for (subject, wasm, wasi) in [
        (inputs::MINIMAL, inputs::minimal(), false),
        (inputs::DATA, inputs::data_1mib(), false),
        (inputs::HELLO, inputs::read(&inputs::hello_path())?, true),
    ] {
        let linker = if wasi { &l.wasi } else { &l.plain };
        let lm = lucet_side::max_live(l.by_subject(subject), linker, args.max_live)?;
        let wm = wasmtime_side::max_live(&wasm, args.max_live, wasi)?;
        let one = |v: f64| Summary { p50: v, p99: v };
        pair(
            records,
            "max_live_instances",
            subject,
            "instances",
            one(lm.reached as f64),
            one(wm.reached as f64),
        );
        let mut extra = |metric: &str, unit: &str, f: fn(&MaxLive) -> f64| {
            records.push(Record::single(metric, subject, "lucet", unit, f(&lm)));
            records.push(Record::single(metric, subject, "wasmtime", unit, f(&wm)));
        };
        // Per instance: the runtimes reach different counts.
        extra("max_live_create_time", "us", |m| {
            m.create_ms * 1e3 / m.reached.max(1) as f64
        });
        extra("max_live_rss", "KiB", |m| {
            m.rss_mib * 1024.0 / m.reached.max(1) as f64
        });
        extra("max_live_pagetables", "KiB", |m| {
            m.pagetables_mib * 1024.0 / m.reached.max(1) as f64
        });
        for (rt, m) in [("lucet", &lm), ("Wasmtime", &wm)] {
            let note = format!(
                "{rt}, {subject}: {} live instances (of {} tried) in {} ms, {} MiB resident \
                 + {} MiB of page tables; {}.",
                m.reached,
                m.capacity,
                report::num(m.create_ms),
                report::num(m.rss_mib),
                report::num(m.pagetables_mib),
                m.stop
            );
            eprintln!("  {note}");
            notes.push(note);
        }
    }
    Ok(())
}

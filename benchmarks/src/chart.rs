//! `results/chart.svg`: one panel per metric, lucet beside Wasmtime (and
//! native code where there is one), bars at p50 with a line up to p99.

use crate::report::{metric_title, num};
use crate::stats::Record;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const LUCET: RGBColor = RGBColor(31, 119, 180);
const WASMTIME: RGBColor = RGBColor(255, 127, 14);
const NATIVE: RGBColor = RGBColor(127, 127, 127);

/// One runtime's bars: (name, colour, per subject (p50, p99)).
type Series = (&'static str, RGBColor, Vec<Option<(f64, f64)>>);

struct Panel {
    title: String,
    unit: String,
    subjects: Vec<String>,
    /// Per runtime: (name, colour, per subject (p50, p99)).
    series: Vec<Series>,
    /// Per runtime, a second quantity stacked on its bars (drawn lighter).
    stacked: Option<(&'static str, Vec<Vec<Option<f64>>>)>,
}

fn panel(records: &[Record], metric: &str, better: &str) -> Option<Panel> {
    let mine: Vec<&Record> = records.iter().filter(|r| r.metric == metric).collect();
    let mut subjects: Vec<String> = Vec::new();
    for r in &mine {
        if !subjects.contains(&r.subject) {
            subjects.push(r.subject.clone());
        }
    }
    if subjects.is_empty() {
        return None;
    }
    let get = |rt: &str| -> Vec<Option<(f64, f64)>> {
        subjects
            .iter()
            .map(|s| {
                mine.iter()
                    .find(|r| &r.subject == s && r.runtime == rt)
                    .map(|r| (r.p50, r.p99))
            })
            .collect()
    };
    let mut series = vec![
        ("lucet", LUCET, get("lucet")),
        ("wasmtime", WASMTIME, get("wasmtime")),
    ];
    let native = get("native");
    if native.iter().any(Option::is_some) {
        series.push(("native", NATIVE, native));
    }
    Some(Panel {
        title: format!("{} ({better})", metric_title(metric)),
        unit: mine[0].unit.clone(),
        subjects,
        series,
        stacked: None,
    })
}

/// Resident memory per instance with page-table memory stacked on top.
fn memory_panel(records: &[Record]) -> Option<Panel> {
    let mut p = panel(records, "rss_per_instance", "lower is better")?;
    let tables: Vec<Vec<Option<f64>>> = p
        .series
        .iter()
        .map(|(rt, _, _)| {
            p.subjects
                .iter()
                .map(|s| {
                    records
                        .iter()
                        .find(|r| {
                            r.metric == "pagetables_per_instance"
                                && &r.subject == s
                                && r.runtime == *rt
                        })
                        .map(|r| r.p50)
                })
                .collect()
        })
        .collect();
    if tables.iter().flatten().any(Option::is_some) {
        p.title = "memory per idle live instance: resident + page tables (lower is better)".into();
        p.stacked = Some(("page tables", tables));
    }
    Some(p)
}

/// Kernel times relative to native code, for the subjects with (or
/// without) `suffix` (kernels without a native build are left out).
fn exec_panel(records: &[Record], suffix: &str, title: &str) -> Option<Panel> {
    let p = panel(records, "exec", "")?;
    let native = p.series.iter().find(|s| s.0 == "native")?.2.clone();
    let wanted = |s: &str| {
        if suffix.is_empty() {
            !s.contains(", ")
        } else {
            s.ends_with(suffix)
        }
    };
    let keep: Vec<usize> = (0..p.subjects.len())
        .filter(|&i| native[i].is_some() && wanted(&p.subjects[i]))
        .collect();
    if keep.is_empty() {
        return None;
    }
    let series = p
        .series
        .iter()
        .filter(|s| s.0 != "native")
        .map(|(name, colour, v)| {
            let rel = keep
                .iter()
                .map(|&i| {
                    let n = native[i].unwrap().0;
                    v[i].map(|(a, b)| (a / n, b / n))
                })
                .collect();
            (*name, *colour, rel)
        })
        .collect();
    Some(Panel {
        title: title.into(),
        unit: "× native time".into(),
        subjects: keep
            .iter()
            .map(|&i| p.subjects[i].trim_end_matches(suffix).to_string())
            .collect(),
        series,
        stacked: None,
    })
}

fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, p: &Panel) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("chart: {e:?}");
    let n = p.subjects.len();
    let extra = |j: usize, i: usize| -> f64 {
        p.stacked.as_ref().and_then(|(_, t)| t[j][i]).unwrap_or(0.0)
    };
    let max_p50 = p
        .series
        .iter()
        .enumerate()
        .flat_map(|(j, s)| {
            s.2.iter()
                .enumerate()
                .filter_map(move |(i, v)| v.map(|v| (i, v.0)))
                .map(move |(i, v)| v + extra(j, i))
        })
        .fold(0.0f64, f64::max);
    let max_p99 = p
        .series
        .iter()
        .flat_map(|s| s.2.iter().flatten().map(|v| v.1))
        .fold(0.0f64, f64::max);
    let headroom = if p.stacked.is_some() { 1.6 } else { 1.25 };
    let top = (max_p50 * headroom)
        .max(max_p99.min(max_p50 * 2.0) * 1.05)
        .max(1e-9);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_labels(0)
        .y_desc(if p.unit == "us" {
            "µs"
        } else {
            p.unit.as_str()
        })
        .y_label_formatter(&|y| num(*y))
        .draw()
        .map_err(err)?;
    // Subject names under the axis, centred on their group of bars.
    let under = ("sans-serif", 13)
        .into_text_style(area)
        .pos(Pos::new(HPos::Center, VPos::Top));
    chart
        .draw_series(
            p.subjects
                .iter()
                .enumerate()
                .map(|(i, s)| Text::new(s.clone(), (i as f64 + 0.5, -top * 0.015), under.clone())),
        )
        .map_err(err)?;
    let k = p.series.len() as f64;
    let width = 0.8 / k;
    for (j, (name, colour, values)) in p.series.iter().enumerate() {
        let x0 = |i: usize| i as f64 + 0.1 + j as f64 * width;
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|(p50, _)| {
                    Rectangle::new([(x0(i), 0.0), (x0(i) + width * 0.92, p50)], colour.filled())
                })
            }))
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
        if let Some((what, tables)) = &p.stacked {
            let light = colour.mix(0.35);
            chart
                .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                    let (base, t) = ((*v)?.0, tables[j][i]?);
                    Some(Rectangle::new(
                        [(x0(i), base), (x0(i) + width * 0.92, base + t)],
                        light.filled(),
                    ))
                }))
                .map_err(err)?
                .label(format!("{name} {what}"))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], light.filled())
                });
        }
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                v.filter(|(p50, p99)| p99 > p50).map(|(p50, p99)| {
                    let x = x0(i) + width * 0.46;
                    PathElement::new(vec![(x, p50), (x, p99.min(top))], BLACK.stroke_width(1))
                })
            }))
            .map_err(err)?;
        let label = ("sans-serif", 12)
            .into_text_style(area)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|(p50, _)| {
                    let t = extra(j, i);
                    let text = if t > 0.0 {
                        format!("{} + {}", num(p50), num(t))
                    } else {
                        num(p50)
                    };
                    Text::new(
                        text,
                        (x0(i) + width * 0.46, (p50 + t).min(top)),
                        label.clone(),
                    )
                })
            }))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    Ok(())
}

pub fn write_chart(path: &Path, records: &[Record], subtitle: &str) -> Result<()> {
    let lower = "lower is better";
    let higher = "higher is better";
    let panels: Vec<Panel> = [
        panel(records, "instantiate_drop", lower),
        panel(records, "instantiate_call_drop", lower),
        panel(records, "wasi_hello_start", lower),
        panel(records, "hostcall_roundtrip", lower),
        memory_panel(records),
        panel(records, "max_live_instances", higher),
        exec_panel(
            records,
            "",
            "kernels, interrupt checks on (lucet) / epochs (Wasmtime): time relative to gcc -O2",
        ),
        exec_panel(
            records,
            ", no checks",
            "kernels, no interrupt checks on either side: time relative to gcc -O2",
        ),
        panel(records, "compile_throughput", higher),
    ]
    .into_iter()
    .flatten()
    .collect();
    let rows = panels.len().div_ceil(2).max(1);
    let root = SVGBackend::new(path, (1500, 60 + 420 * rows as u32)).into_drawing_area();
    let err = |e| anyhow!("chart: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            &format!("lucet vs Wasmtime — {subtitle}"),
            ("sans-serif", 22),
        )
        .map_err(err)?;
    let areas = root.split_evenly((rows, 2));
    for (a, p) in areas.iter().zip(&panels) {
        draw(a, p)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

//! The SVG chart of a [`Report`]: one panel per workload, one bar per
//! contender, the bar's height its speed relative to mapio (mapio's median
//! divided by the contender's: 1 is as fast as mapio, higher is faster),
//! labelled with that factor and the absolute figure (throughput or p50
//! latency). The machine is in the title, the command in the footer.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::harness::{Metric, Report, Role, WorkloadResult, rate_text};

const PANEL_W: u32 = 600;
const PANEL_H: u32 = 290;
const TITLE_H: u32 = 64;
const FOOTER_H: u32 = 44;

/// Blue for mapio, a palette for the alternatives, grey for the limits.
const MAPIO: RGBColor = RGBColor(31, 119, 180);
const OTHERS: [RGBColor; 5] = [
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
const LIMIT: RGBColor = RGBColor(170, 170, 170);

/// A chart error, as text.
fn err(e: impl std::fmt::Display) -> String {
    format!("drawing the chart: {e}")
}

/// A sans-serif text style.
fn ts(size: u32, bold: bool) -> TextStyle<'static> {
    let f = ("sans-serif", size).into_font();
    TextStyle::from(if bold { f.style(FontStyle::Bold) } else { f })
}

/// One contender's bars: label, heights (speed relative to mapio: the
/// whole run, and the hot phase if any), caption.
struct Bar {
    name: String,
    speed: f64,
    hot_speed: Option<f64>,
    caption: String,
    color: RGBColor,
    limit: bool,
}

fn bars(w: &WorkloadResult) -> Vec<Bar> {
    let mut other = 0;
    let inv = |r: Option<f64>| r.filter(|r| r.is_finite() && *r > 0.0).map(|r| 1.0 / r);
    w.contenders
        .iter()
        .filter_map(|c| {
            let speed = inv(c.ratio)?;
            let caption = match w.metric {
                Metric::Time => c.throughput_bps.map_or_else(String::new, rate_text),
                Metric::Latency => c
                    .latency_us
                    .as_ref()
                    .map_or_else(String::new, |l| format!("p50 {:.1} µs", l.median)),
            };
            let limit = c.role == Role::Limit;
            let color = if c.name == w.baseline {
                MAPIO
            } else if limit {
                LIMIT
            } else {
                other += 1;
                OTHERS[(other - 1) % OTHERS.len()]
            };
            Some(Bar {
                name: c.name.clone(),
                speed,
                hot_speed: w.hot_label.as_ref().and(inv(c.hot_ratio)),
                caption,
                color,
                limit,
            })
        })
        .collect()
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    w: &WorkloadResult,
) -> Result<(), String> {
    let bars = bars(w);
    let grouped = bars.iter().any(|b| b.hot_speed.is_some());
    // The scale follows mapio and its alternatives; a limit far above
    // them is cut at the top and labelled with its value.
    let heights = |b: &Bar| [Some(b.speed), b.hot_speed].into_iter().flatten();
    let tallest = bars
        .iter()
        .filter(|b| !b.limit)
        .flat_map(heights)
        .fold(1.0f64, f64::max);
    let top = tallest * 1.3;
    let n = bars.len().max(1) as f64;
    let invalid = if w.valid {
        ""
    } else {
        "  [INVALID: checksums differ]"
    };
    let caption = if grouped {
        format!(
            "{}{invalid}   (solid: whole run, durable; light: {} only)",
            w.name,
            w.hot_label.as_deref().unwrap_or("hot phase")
        )
    } else {
        format!("{}{invalid}", w.name)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ts(15, true))
        .margin(8)
        .margin_bottom(44)
        .x_label_area_size(4)
        .y_label_area_size(44)
        .build_cartesian_2d(0f64..n, 0f64..top)
        .map_err(err)?;
    let y_desc = match w.metric {
        Metric::Time => "speed vs mapio",
        Metric::Latency => "mapio p50 / p50",
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc(y_desc)
        .y_labels(6)
        .y_label_formatter(&|y| format!("{y:.1}x"))
        .label_style(ts(11, false))
        .light_line_style(WHITE)
        .draw()
        .map_err(err)?;
    // The "as fast as mapio" line.
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 1.0), (n, 1.0)],
            BLACK.mix(0.35).stroke_width(1),
        )))
        .map_err(err)?;
    let above = Pos::new(HPos::Center, VPos::Bottom);
    let below = Pos::new(HPos::Center, VPos::Top);
    for (i, b) in bars.iter().enumerate() {
        let x = i as f64;
        // (left, right, height, style, label size)
        let mut parts = Vec::new();
        match b.hot_speed {
            Some(h) => {
                parts.push((x + 0.10, x + 0.50, b.speed, b.color.filled(), 10));
                parts.push((x + 0.50, x + 0.90, h, b.color.mix(0.45).filled(), 10));
            }
            None => parts.push((x + 0.14, x + 0.86, b.speed, b.color.filled(), 12)),
        }
        for &(l, r, h, style, size) in &parts {
            let shown = h.min(top);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(l, 0.0), (r, shown)],
                    style,
                )))
                .map_err(err)?;
            let (label, dy) = if h > top {
                (format!("{h:.1}x ↑"), 16)
            } else {
                (format!("{h:.2}x"), if grouped { -2 } else { -15 })
            };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(((l + r) / 2.0, shown))
                        + Text::new(label, (0, dy), ts(size, true).pos(above)),
                ))
                .map_err(err)?;
        }
        let xc = x + 0.5;
        if !grouped {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((xc, b.speed.min(top)))
                        + Text::new(b.caption.clone(), (0, -2), ts(10, false).pos(above)),
                ))
                .map_err(err)?;
        }
        // The name, and in grouped panels the throughput under it.
        let second = if grouped {
            b.caption.clone()
        } else {
            String::new()
        };
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((xc, 0.0))
                    + Text::new(b.name.clone(), (0, 5), ts(10, false).pos(below))
                    + Text::new(
                        second,
                        (0, 18),
                        ts(9, false).color(&BLACK.mix(0.7)).pos(below),
                    ),
            ))
            .map_err(err)?;
    }
    // What the workload is, under the bars.
    let (pw, ph) = area.dim_in_pixel();
    let mut title = w.title.clone();
    if title.chars().count() > 100 {
        title = title.chars().take(97).collect::<String>() + "...";
    }
    area.draw(&Text::new(
        title,
        (pw as i32 / 2, ph as i32 - 9),
        ts(11, false)
            .color(&BLACK.mix(0.7))
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(err)?;
    Ok(())
}

/// The report's chart as an SVG document: a grid of panels (two columns),
/// one per workload.
pub fn svg_chart(report: &Report) -> Result<String, String> {
    let n = report.workloads.len().max(1) as u32;
    let cols = if n > 1 { 2 } else { 1 };
    let rows = n.div_ceil(cols);
    let width = PANEL_W * cols;
    let height = TITLE_H + rows * PANEL_H + FOOTER_H;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (head, rest) = root.split_vertically(TITLE_H);
        let (body, foot) = rest.split_vertically(rows * PANEL_H);
        let center = Pos::new(HPos::Center, VPos::Center);
        head.draw(&Text::new(
            "mapio bench: speed relative to mapio (higher is faster; mapio = 1.00x)".to_string(),
            (width as i32 / 2, 20),
            ts(19, true).pos(center),
        ))
        .map_err(err)?;
        head.draw(&Text::new(
            report.machine.description.clone(),
            (width as i32 / 2, 46),
            ts(13, false).pos(center),
        ))
        .map_err(err)?;
        let panels = body.split_evenly((rows as usize, cols as usize));
        for (w, area) in report.workloads.iter().zip(panels.iter()) {
            panel(area, w)?;
        }
        let load = |l: &[f64]| {
            l.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        foot.draw(&Text::new(
            format!(
                "{}  ·  {} build  ·  load average {} → {}  ·  {:.0} s  ·  bars: median of interleaved runs (latency: p50)",
                report.command,
                report.machine.build,
                load(&report.machine.load_before),
                load(&report.machine.load_after),
                report.duration_s
            ),
            (width as i32 / 2, 16),
            ts(12, false).pos(center),
        ))
        .map_err(err)?;
        if !report.valid {
            foot.draw(&Text::new(
                "INVALID RUN: some checksums did not match".to_string(),
                (width as i32 / 2, 34),
                ts(13, true).color(&RED).pos(center),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

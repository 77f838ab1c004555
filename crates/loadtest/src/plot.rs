//! An SVG plot of the rush over time: latency (p50, p99) on top, throughput
//! (reserves, purchases, refusals, load shed per second) below.
//!
//! plotters draws with its SVG backend only, so no system font library is
//! needed: text goes into the file as SVG `<text>` for the viewer to render,
//! sized by plotters' built-in estimate.

use std::path::Path;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::{RushReport, SecondReport};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Writes the plot of `report` to `path`.
pub fn write(report: &RushReport, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1000, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(|error| anyhow!("drawing {}: {error}", path.display()))?;
    let (upper, lower) = root.split_vertically(360);
    let title =
        format!("{}: {} buyers for {} places", report.server, report.buyers, report.capacity);
    latency(&upper, &report.timeline, &title)
        .map_err(|error| anyhow!("drawing latency: {error}"))?;
    throughput(&lower, &report.timeline).map_err(|error| anyhow!("drawing throughput: {error}"))?;
    root.present().map_err(|error| anyhow!("writing {}: {error}", path.display()))
}

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// A series to draw: its legend, its colour, and its value in a second.
type Line = (&'static str, RGBColor, fn(&SecondReport) -> f64);

fn latency(area: &Area, timeline: &[SecondReport], title: &str) -> Drawn {
    let lines: [Line; 2] = [("p50", BLUE, |s| s.p50_ms), ("p99", RED, |s| s.p99_ms)];
    let caption = format!("{title}: latency per second");
    panel(area, timeline, &caption, "ms", &lines)
}

fn throughput(area: &Area, timeline: &[SecondReport]) -> Drawn {
    let lines: [Line; 4] = [
        ("reserves", GREEN, |s| s.reserves as f64),
        ("purchases", BLUE, |s| s.purchases as f64),
        ("sold out / taken / lapsed", RED, |s| s.refused as f64),
        ("shed (503 / 429)", MAGENTA, |s| s.shed as f64),
    ];
    panel(area, timeline, "throughput per second", "per second", &lines)
}

/// One chart over the rush's seconds, scaled to its highest line.
fn panel(
    area: &Area,
    timeline: &[SecondReport],
    caption: &str,
    unit: &str,
    lines: &[Line],
) -> Drawn {
    let highest = lines.iter().flat_map(|(_, _, value)| timeline.iter().map(value));
    let top = highest.fold(1.0, f64::max) * 1.1;
    let seconds = 0.0..(timeline.len().max(1) as f64);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(seconds, 0.0..top)?;
    chart.configure_mesh().x_desc("seconds after on-sale").y_desc(unit).draw()?;
    for &(name, color, value) in lines {
        // Each point at the middle of its second.
        let points = timeline.iter().map(|second| (second.t as f64 + 0.5, value(second)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    Ok(())
}

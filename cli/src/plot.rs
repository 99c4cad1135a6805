//! SVG line charts (plotters' SVG backend needs no fonts on the machine).

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

/// One named series of (x, y) points.
pub struct Series<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// The series labels in a framed box (the house style of every chart).
fn legend<'a, CT>(chart: &mut ChartContext<'a, SVGBackend<'a>, CT>) -> Result<()>
where
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 18))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))
}

/// Draws the series as lines into an SVG file (written atomically).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let pts = series.iter().flat_map(|s| s.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts {
            if log_y && y <= 0.0 {
                continue;
            }
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 == x0 {
            x1 = x0 + 1.0;
        }
        if y1 == y0 {
            y1 = y0 + y0.abs().max(1e-12);
        }
        let pad = (y1 - y0) * 0.05;
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
        let mut builder = ChartBuilder::on(&root);
        builder.caption(title, ("sans-serif", 26)).margin(15).x_label_area_size(55).y_label_area_size(95);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart.configure_mesh().x_desc(x_label).y_desc(y_label).draw().map_err(|e| anyhow!("{e}"))?;
                for (i, s) in series.iter().enumerate() {
                    let c = colors[i % colors.len()];
                    let data: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .copied()
                        .filter(|p| p.0.is_finite() && p.1.is_finite() && (!log_y || p.1 > 0.0))
                        .collect();
                    chart
                        .draw_series(LineSeries::new(data, c.stroke_width(2)))
                        .map_err(|e| anyhow!("{e}"))?
                        .label(s.name)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
                }
                if series.len() > 1 {
                    legend(&mut chart)?;
                }
            }};
        }
        if log_y {
            draw!(builder.build_cartesian_2d(x0..x1, (y0 * 0.8..y1 * 1.25).log_scale()).map_err(|e| anyhow!("{e}"))?);
        } else {
            draw!(builder.build_cartesian_2d(x0..x1, y0 - pad..y1 + pad).map_err(|e| anyhow!("{e}"))?);
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    crate::files::write_atomic(path, svg.as_bytes())
}

/// One group of measured points with error bars and an optional straight-line
/// fit `y = c + s x`, drawn from `x = 0`.
pub struct Group<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64, f64)>,
    pub fit: Option<(f64, f64)>,
}

/// Points with vertical error bars and their fit lines (extrapolated to x = 0), as SVG; without
/// fits the x axis spans the points only.
pub fn scatter_with_fits(path: &Path, title: &str, x_label: &str, y_label: &str, groups: &[Group]) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let finite = |p: &&(f64, f64, f64)| p.0.is_finite() && p.1.is_finite();
        let pts: Vec<(f64, f64, f64)> = groups.iter().flat_map(|g| g.points.iter().filter(finite).copied()).collect();
        // From x = 0 when a fit is extrapolated there; else around the points.
        let x_max = pts.iter().map(|p| p.0).fold(f64::MIN, f64::max);
        let x_min = pts.iter().map(|p| p.0).fold(f64::MAX, f64::min);
        let (x0, x1) = if groups.iter().any(|g| g.fit.is_some()) || x_min >= x_max {
            (0.0, x_max.max(1e-3) * 1.1)
        } else {
            let pad = 0.05 * (x_max - x_min);
            (x_min - pad, x_max + pad)
        };
        let err = |e: f64| if e.is_finite() { e } else { 0.0 };
        let mut y0 = pts.iter().map(|p| p.1 - err(p.2)).fold(f64::MAX, f64::min);
        let mut y1 = pts.iter().map(|p| p.1 + err(p.2)).fold(f64::MIN, f64::max);
        for g in groups {
            if let Some((c, _)) = g.fit {
                y0 = y0.min(c);
                y1 = y1.max(c);
            }
        }
        if y0 > y1 {
            (y0, y1) = (0.0, 1.0);
        }
        let pad = ((y1 - y0) * 0.1).max(1e-3);
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(55)
            .y_label_area_size(95)
            .build_cartesian_2d(x0..x1, y0 - pad..y1 + pad)
            .map_err(|e| anyhow!("{e}"))?;
        chart.configure_mesh().x_desc(x_label).y_desc(y_label).draw().map_err(|e| anyhow!("{e}"))?;
        for (i, g) in groups.iter().enumerate() {
            let c = colors[i % colors.len()];
            let good: Vec<(f64, f64, f64)> = g.points.iter().filter(finite).copied().collect();
            chart
                .draw_series(good.iter().map(|&(x, y, _)| Circle::new((x, y), 5, c.filled())))
                .map_err(|e| anyhow!("{e}"))?
                .label(g.name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
            chart
                .draw_series(
                    good.iter()
                        .map(|&(x, y, e)| PathElement::new(vec![(x, y - err(e)), (x, y + err(e))], c.stroke_width(2))),
                )
                .map_err(|e| anyhow!("{e}"))?;
            if let Some((c0, s)) = g.fit {
                let xm = good.iter().map(|p| p.0).fold(0.0f64, f64::max);
                chart
                    .draw_series(LineSeries::new(vec![(0.0, c0), (xm, c0 + s * xm)], c.stroke_width(1)))
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }
        legend(&mut chart)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    crate::files::write_atomic(path, svg.as_bytes())
}

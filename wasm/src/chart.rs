//! Line charts on an HTML canvas with plotters-canvas (main thread only).

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use wasm_bindgen::prelude::*;

/// Draws series on the canvas `canvas_id`. `xs` and `ys` hold all points,
/// series after series, `lengths` the number of points of each, `names` their
/// labels separated by '|'. With `log_y` the y axis is logarithmic.
#[wasm_bindgen]
pub fn draw_chart(
    canvas_id: &str,
    title: &str,
    x_label: &str,
    y_label: &str,
    xs: &[f64],
    ys: &[f64],
    lengths: &[u32],
    names: &str,
    log_y: bool,
) -> Result<(), JsError> {
    let backend =
        CanvasBackend::new(canvas_id).ok_or_else(|| JsError::new(&format!("no canvas with id {canvas_id}")))?;
    let root = backend.into_drawing_area();
    let err = |e: &dyn std::fmt::Display| JsError::new(&e.to_string());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let pts: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys)
        .map(|(&x, &y)| (x, y))
        .filter(|p| p.0.is_finite() && p.1.is_finite() && (!log_y || p.1 > 0.0))
        .collect();
    if pts.is_empty() {
        root.present().map_err(|e| err(&e))?;
        return Ok(());
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + y0.abs().max(1e-9);
    }
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    let names: Vec<&str> = names.split('|').collect();
    let mut builder = ChartBuilder::on(&root);
    builder.caption(title, ("sans-serif", 18)).margin(10).x_label_area_size(35).y_label_area_size(65);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart.configure_mesh().x_desc(x_label).y_desc(y_label).draw().map_err(|e| err(&e))?;
            let mut off = 0usize;
            for (i, &n) in lengths.iter().enumerate() {
                let n = n as usize;
                let data: Vec<(f64, f64)> = (off..(off + n).min(xs.len()))
                    .map(|j| (xs[j], ys[j]))
                    .filter(|p| p.0.is_finite() && p.1.is_finite() && (!log_y || p.1 > 0.0))
                    .collect();
                off += n;
                let c = colors[i % colors.len()];
                chart
                    .draw_series(LineSeries::new(data, c.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label(names.get(i).copied().unwrap_or(""))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
            }
            if lengths.len() > 1 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| err(&e))?;
            }
        }};
    }
    if log_y {
        draw!(builder.build_cartesian_2d(x0..x1, (y0 * 0.8..y1 * 1.25).log_scale()).map_err(|e| err(&e))?);
    } else {
        let pad = (y1 - y0) * 0.05;
        draw!(builder.build_cartesian_2d(x0..x1, y0 - pad..y1 + pad).map_err(|e| err(&e))?);
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

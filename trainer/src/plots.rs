//! PNG plots beside the model (plotters): the meta-training curve, the adaptation curve (query MSE
//! vs inner steps for each K, through the runtime), and a few adapted sinusoid tasks.
//!
//! Text needs a TrueType font: DejaVu Sans is taken from the system when present; without it the
//! plots are drawn without text.

use crate::config::EvalConfig;
use crate::eval::{adapt_task, eval_tasks, mean_ci};
use crate::tasks::{Sinusoid, TaskSource};
use crate::train::State;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use runtime::Model;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers a system font once; false when none was found.
pub(crate) fn have_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

pub(crate) fn pe<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

pub(crate) const COLORS: [RGBColor; 5] = [BLUE, RED, GREEN, MAGENTA, RGBColor(230, 140, 0)];

fn with_ext(out: &Path, ext: &str) -> PathBuf {
    out.with_extension(ext)
}

/// Writes every plot that applies; returns the paths.
pub fn write_all(
    out: &Path,
    state: &State,
    blob: &[u8],
    source: &dyn TaskSource,
    e: &EvalConfig,
) -> Result<Vec<PathBuf>> {
    let model = Model::from_bytes(blob).map_err(|e| anyhow!("model: {e}"))?;
    let mut written = vec![];
    let p = with_ext(out, "curve.png");
    training_curve(&p, &state.curve)?;
    written.push(p);
    let p = with_ext(out, "adaptation.png");
    let max_steps = e
        .steps
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(state.spec.steps);
    adaptation_curve(&p, &model, source, &e.shots, max_steps, e.seed)?;
    written.push(p);
    if source.name() == "sinusoid" {
        let p = with_ext(out, "tasks.png");
        sinusoid_tasks(&p, &model, state.spec.steps, e.seed)?;
        written.push(p);
    }
    Ok(written)
}

pub fn training_curve(path: &Path, curve: &[(u64, f64)]) -> Result<()> {
    let text = have_font();
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(pe)?;
    let xmax = curve.last().map_or(1, |c| c.0).max(1) as f64;
    let (lo, hi) = curve.iter().fold((f64::INFINITY, 0.0f64), |(a, b), c| {
        (a.min(c.1), b.max(c.1))
    });
    let (lo, hi) = if lo.is_finite() && lo > 0.0 {
        (lo * 0.8, hi * 1.2)
    } else {
        (1e-3, 10.0)
    };
    let mut b = ChartBuilder::on(&root);
    b.margin(15).x_label_area_size(40).y_label_area_size(60);
    if text {
        b.caption(
            "meta-training: weighted query loss over the inner steps (mean per 100 iterations)",
            ("sans-serif", 20),
        );
    }
    let mut chart = b
        .build_cartesian_2d(0f64..xmax, (lo..hi).log_scale())
        .map_err(pe)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("meta-iteration").y_desc("meta-loss");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(pe)?;
    chart
        .draw_series(LineSeries::new(
            curve.iter().map(|&(i, l)| (i as f64, l)),
            &BLUE,
        ))
        .map_err(pe)?;
    root.present().map_err(pe)?;
    Ok(())
}

/// Query MSE (mean over 100 held-out tasks) after 0..=max_steps runtime inner steps, per K.
pub fn adaptation_curve(
    path: &Path,
    model: &Model<'_>,
    source: &dyn TaskSource,
    shots: &[usize],
    max_steps: usize,
    seed: u64,
) -> Result<()> {
    use rayon::prelude::*;
    let steps: Vec<usize> = (0..=max_steps).collect();
    let mut series = vec![];
    for &k in shots {
        let tasks = eval_tasks(source, k, 100, 100, seed ^ 0x5eed);
        let per: Vec<Vec<f64>> = tasks
            .par_iter()
            .map(|t| adapt_task(model, t, &steps, &[]).map(|r| r.0))
            .collect::<Result<_>>()?;
        let means: Vec<f64> = (0..steps.len())
            .map(|j| mean_ci(&per.iter().map(|r| r[j]).collect::<Vec<_>>()).0)
            .collect();
        series.push((k, means));
    }
    let text = have_font();
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(pe)?;
    let all = series.iter().flat_map(|s| s.1.iter().copied());
    let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() && lo > 0.0 {
        (lo * 0.8, hi * 1.2)
    } else {
        (1e-3, 10.0)
    };
    let mut b = ChartBuilder::on(&root);
    b.margin(15).x_label_area_size(40).y_label_area_size(60);
    if text {
        b.caption(
            "adaptation on the device's inner loop (100 held-out tasks)",
            ("sans-serif", 20),
        );
    }
    let mut chart = b
        .build_cartesian_2d(0f64..max_steps as f64, (lo..hi).log_scale())
        .map_err(pe)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("inner steps").y_desc("query MSE");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(pe)?;
    for (i, (k, m)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let s = chart
            .draw_series(LineSeries::new(
                m.iter().enumerate().map(|(j, &v)| (j as f64, v)),
                c.stroke_width(2),
            ))
            .map_err(pe)?;
        if text {
            s.label(format!("K = {k}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(pe)?;
    }
    root.present().map_err(pe)?;
    Ok(())
}

/// Four held-out sinusoid tasks (K = 10): truth, support points, prediction before and after.
pub fn sinusoid_tasks(path: &Path, model: &Model<'_>, steps: usize, seed: u64) -> Result<()> {
    let text = have_font();
    let tasks = eval_tasks(&Sinusoid, 10, 4, 10, seed ^ 0x7a5c);
    let xs: Vec<f64> = (0..=200).map(|i| -5.0 + 10.0 * i as f64 / 200.0).collect();
    let root = BitMapBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(pe)?;
    for (t, area) in tasks.iter().zip(root.split_evenly((2, 2))) {
        let (_, preds) = adapt_task(model, t, &[0, steps], &xs)?;
        let (a, ph) = t.truth.unwrap_or((1.0, 0.0));
        let mut b = ChartBuilder::on(&area);
        b.margin(10).x_label_area_size(25).y_label_area_size(35);
        if text {
            b.caption(
                format!("A = {a:.2}, phase = {ph:.2}, K = 10"),
                ("sans-serif", 16),
            );
        }
        let mut chart = b
            .build_cartesian_2d(-5f64..5f64, -5.5f64..5.5f64)
            .map_err(pe)?;
        let mut mesh = chart.configure_mesh();
        if !text {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(pe)?;
        let truth = LineSeries::new(
            xs.iter().map(|&x| (x, a * (x - ph).sin())),
            BLACK.stroke_width(2),
        );
        let s = chart.draw_series(truth).map_err(pe)?;
        if text {
            s.label("truth")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        }
        for (j, (name, c)) in [("before", BLUE), ("after", RED)].into_iter().enumerate() {
            if let Some(p) = preds.get(j) {
                let s = chart
                    .draw_series(LineSeries::new(
                        xs.iter().zip(p).map(|(&x, &y)| (x, y as f64)),
                        c,
                    ))
                    .map_err(pe)?;
                if text {
                    let label = if j == 0 {
                        name.to_string()
                    } else {
                        format!("{name} {steps} steps")
                    };
                    s.label(label)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
                }
            }
        }
        let pts = t
            .support_x
            .iter()
            .zip(&t.support_y)
            .map(|(&x, &y)| Circle::new((x, y), 4, GREEN.filled()));
        let s = chart.draw_series(pts).map_err(pe)?;
        if text {
            s.label("support")
                .legend(|(x, y)| Circle::new((x + 10, y), 4, GREEN.filled()));
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(pe)?;
        }
    }
    root.present().map_err(pe)?;
    Ok(())
}

/// One named line of a chart.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed-looking (thin, grey-mixed): a reference such as a baseline.
    pub reference: bool,
}

/// A line chart of several series in one drawing area (linear axes; the y range covers the data
/// with a margin, or `y_range` when given).
pub fn line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let text = have_font();
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (x0, x1, y0, y1) = pts.fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| {
            if y.is_finite() {
                (a.min(x), b.max(x), c.min(y), d.max(y))
            } else {
                (a.min(x), b.max(x), c, d)
            }
        },
    );
    let (x0, x1) = if x0.is_finite() && x1 > x0 {
        (x0, x1)
    } else {
        (0.0, 1.0)
    };
    let (y0, y1) = match y_range {
        Some(r) => r,
        None if y0.is_finite() && y1 > y0 => (y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0)),
        None if y0.is_finite() => (y0 - 1.0, y0 + 1.0),
        None => (0.0, 1.0),
    };
    let mut b = ChartBuilder::on(area);
    b.margin(15).x_label_area_size(40).y_label_area_size(60);
    if text {
        b.caption(title, ("sans-serif", 18));
    }
    let mut chart = b.build_cartesian_2d(x0..x1, y0..y1).map_err(pe)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(x_desc).y_desc(y_desc);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(pe)?;
    for (i, s) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let style = if s.reference {
            c.mix(0.5).stroke_width(1)
        } else {
            c.stroke_width(2)
        };
        if !s.reference {
            chart
                .draw_series(
                    s.points
                        .iter()
                        .filter(|p| p.1.is_finite())
                        .map(|&p| Circle::new(p, 3, c.filled())),
                )
                .map_err(pe)?;
        }
        let drawn = chart
            .draw_series(LineSeries::new(
                s.points.iter().copied().filter(|p| p.1.is_finite()),
                style,
            ))
            .map_err(pe)?;
        if text {
            drawn
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        }
    }
    if text && !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(pe)?;
    }
    Ok(())
}

/// A square matrix as a heatmap (blue negative, white zero, red positive, scaled by the largest
/// magnitude), each cell labelled with its value; NaN cells grey.
pub fn heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    names: &[String],
    m: &[Vec<f64>],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let text = have_font();
    let n = names.len().max(1);
    // Colour scale from the off-diagonal cells (the diagonal of a cosine matrix is 1).
    let big = m
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.iter().enumerate().filter(move |(j, _)| *j != i || n == 1))
        .map(|(_, v)| v)
        .filter(|v| v.is_finite())
        .fold(0.0f64, |a, v| a.max(v.abs()))
        .max(1e-12);
    let mut b = ChartBuilder::on(area);
    b.margin(20).x_label_area_size(60).y_label_area_size(110);
    if text {
        b.caption(title, ("sans-serif", 18));
    }
    let mut chart = b
        .build_cartesian_2d(0f64..n as f64, 0f64..n as f64)
        .map_err(pe)?;
    let cell = |v: &f64| {
        let i = (v - 0.5).round();
        ((v - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n).then_some(i as usize)
    };
    let label = |v: &f64| {
        cell(v)
            .and_then(|i| names.get(i).cloned())
            .unwrap_or_default()
    };
    // Row 0 is drawn at the top.
    let ylabel = |v: &f64| {
        cell(v)
            .and_then(|i| names.get(n - 1 - i).cloned())
            .unwrap_or_default()
    };
    let mut mesh = chart.configure_mesh();
    mesh.disable_mesh().x_labels(2 * n + 1).y_labels(2 * n + 1);
    if text {
        mesh.x_label_formatter(&label).y_label_formatter(&ylabel);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(pe)?;
    for (i, row) in m.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            // Row i at the top.
            let y = (n - 1 - i) as f64;
            let x = j as f64;
            let color = if !v.is_finite() {
                RGBColor(200, 200, 200)
            } else {
                let t = (v / big).clamp(-1.0, 1.0);
                let f = |c: f64| (255.0 * (1.0 - c.abs())) as u8;
                if t >= 0.0 {
                    RGBColor(255, f(t), f(t))
                } else {
                    RGBColor(f(t), f(t), 255)
                }
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    color.filled(),
                )))
                .map_err(pe)?;
            if text && v.is_finite() {
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{v:+.3}"),
                        (x + 0.35, y + 0.55),
                        ("sans-serif", 16),
                    )))
                    .map_err(pe)?;
            }
        }
    }
    Ok(())
}

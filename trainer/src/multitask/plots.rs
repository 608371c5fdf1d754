//! Multi-task plots: per-head training loss, validation loss and validation accuracy over
//! iterations; the relatedness heatmaps.

use super::relatedness::Report;
use super::MtTrained;
use crate::plots::{heatmap, line_chart, pe, Series};
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

pub fn curve(path: &Path, t: &MtTrained) -> Result<()> {
    let root = BitMapBackend::new(path, (1500, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(pe)?;
    let panels = root.split_evenly((1, 3));
    let per = |f: &dyn Fn(usize, &super::Point) -> Option<f64>| -> Vec<Series> {
        t.names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let points: Vec<(f64, f64)> = t
                    .curve
                    .iter()
                    .filter_map(|p| Some((p.iter as f64, f(i, p)?)))
                    .filter(|p| p.1.is_finite())
                    .collect();
                (!points.is_empty()).then(|| Series {
                    label: n.clone(),
                    points,
                    reference: false,
                })
            })
            .collect()
    };
    line_chart(
        &panels[0],
        "training loss per head (unweighted)",
        "iteration",
        "loss",
        &per(&|i, p| p.train_loss.get(i).copied()),
        None,
    )?;
    line_chart(
        &panels[1],
        "validation loss per head",
        "iteration",
        "loss",
        &per(&|i, p| p.val_loss.get(i).copied()),
        None,
    )?;
    line_chart(
        &panels[2],
        "validation accuracy (classification heads, %)",
        "iteration",
        "accuracy %",
        &per(&|i, p| p.val_acc.get(i).copied().flatten().map(|a| 100.0 * a)),
        None,
    )?;
    root.present().map_err(pe)?;
    Ok(())
}

/// The cosine matrix, and beside it the transfer gains when measured.
pub fn relatedness(path: &Path, r: &Report) -> Result<()> {
    let w = if r.gain.is_some() { 1300 } else { 650 };
    let root = BitMapBackend::new(path, (w, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(pe)?;
    let cos: Vec<Vec<f64>> = r
        .cos
        .iter()
        .map(|row| row.iter().map(|c| c.0).collect())
        .collect();
    if let Some(g) = &r.gain {
        let (a, b) = root.split_horizontally(650);
        heatmap(
            &a,
            "cosine of the heads' mean trunk gradients (diagonal: reliability), mean over seeds",
            &r.names,
            &cos,
        )?;
        heatmap(
            &b,
            "transfer gain: row head's val-loss drop with column head, % (mean over seeds)",
            &r.names,
            g,
        )?;
    } else {
        heatmap(
            &root,
            "cosine of the heads' mean trunk gradients (diagonal: reliability), mean over seeds",
            &r.names,
            &cos,
        )?;
    }
    root.present().map_err(pe)?;
    Ok(())
}

//! Plots of a classification run, beside the model: the training curve (per-head training loss,
//! training and validation accuracy over iterations) and accuracy vs device inner steps for 1 and
//! 5 shots on the novel classes, the model as deployed beside nearest centroid on standardised
//! inputs.

use super::deploy::{baseline, evaluate, Baselines};
use super::run::test_episodes;
use super::setup::Setup;
use super::train::Trained;
use crate::eval::mean_ci;
use crate::plots::{line_chart, pe, Series};
use anyhow::Result;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Episodes per shot count of the accuracy plot (fewer than the 2000 of the eval table: the plot
/// evaluates every step count).
pub const PLOT_EPISODES: usize = 300;

/// Writes `<out>.curve.png` and `<out>.accuracy.png`; returns their paths.
pub fn write_all(out: &Path, t: &Trained, model: &[u8], setup: &Setup) -> Result<Vec<PathBuf>> {
    let curve = out.with_extension("curve.png");
    training_curve(&curve, t)?;
    let acc = out.with_extension("accuracy.png");
    accuracy_plot(&acc, t, model, setup)?;
    Ok(vec![curve, acc])
}

pub fn training_curve(path: &Path, t: &Trained) -> Result<()> {
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(pe)?;
    let (left, right) = root.split_horizontally(600);
    // The first point is before any training step: no training loss yet.
    let trained = || t.curve.iter().filter(|c| c.iter > 0);
    let mut losses = vec![Series {
        label: "prototype head: query CE".into(),
        points: trained().map(|c| (c.iter as f64, c.proto_loss)).collect(),
        reference: false,
    }];
    if t.aux_classes > 0 {
        losses.push(Series {
            label: format!("{}-way head: CE", t.aux_classes),
            points: trained().map(|c| (c.iter as f64, c.aux_loss)).collect(),
            reference: false,
        });
    }
    line_chart(
        &left,
        "training loss per head (mean since the last point)",
        "iteration",
        "loss",
        &losses,
        None,
    )?;
    let n_shots = t.curve.first().map_or(0, |c| c.val_acc.len());
    let mut accs: Vec<Series> = (0..n_shots)
        .map(|j| Series {
            label: match t.val_shots.get(j) {
                Some(k) => format!("validation, {k}-shot"),
                None => format!("validation #{}", j + 1),
            },
            points: t
                .curve
                .iter()
                .filter_map(|c| Some((c.iter as f64, 100.0 * *c.val_acc.get(j)?)))
                .collect(),
            reference: false,
        })
        .collect();
    accs.push(Series {
        label: "training episodes".into(),
        points: trained()
            .map(|c| (c.iter as f64, 100.0 * c.train_acc))
            .collect(),
        reference: false,
    });
    line_chart(
        &right,
        "prototype-head accuracy, 0 device steps (%)",
        "iteration",
        "accuracy %",
        &accs,
        None,
    )?;
    root.present().map_err(pe)?;
    Ok(())
}

/// Accuracy on novel-class episodes after 0..=device steps, for 1 and 5 shots, through the
/// runtime, and nearest centroid on standardised inputs on the same episodes.
pub fn accuracy_plot(path: &Path, t: &Trained, model: &[u8], setup: &Setup) -> Result<()> {
    let steps: Vec<usize> = (0..=t.device.steps.max(1)).collect();
    let mut series = Vec::new();
    let (shots, query) = super::run::trained_eval_shots(setup, t.ways, &[]).unwrap_or_default();
    for k in shots {
        let eps = test_episodes(
            setup,
            t.ways,
            k,
            query,
            PLOT_EPISODES,
            crate::classify::EVAL_SEED,
        )?;
        let none = Baselines {
            standardise: &setup.standardise,
            model_input: None,
            trunk: None,
        };
        let rows = evaluate(model, &eps, &steps, &none)?;
        series.push(Series {
            label: format!("model, {k}-shot"),
            points: rows
                .iter()
                .filter(|r| r.method == "model")
                .filter_map(|r| Some((r.steps? as f64, r.accuracy)))
                .collect(),
            reference: false,
        });
        let (b, _) = mean_ci(&super::deploy::shares(&baseline(
            &eps,
            Some(&setup.standardise),
        )));
        let last = *steps.last().unwrap_or(&1) as f64;
        series.push(Series {
            label: format!("nearest centroid (standardised), {k}-shot"),
            points: vec![(0.0, 100.0 * b), (last, 100.0 * b)],
            reference: true,
        });
    }
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(pe)?;
    line_chart(
        &root,
        &format!(
            "novel classes, {}-way, {PLOT_EPISODES} episodes, as deployed",
            t.ways
        ),
        "device inner steps (from prototypes)",
        "query accuracy %",
        &series,
        None,
    )?;
    root.present().map_err(pe)?;
    Ok(())
}

//! `trainer quantise`: post-training quantisation of a run's trained trunk, evaluated beside
//! the f32 trunk and the baselines on the same novel-class episodes.

use super::{calibration_rows, f32_bytes, QuantTrunk, Ranges};
use crate::classify::config::ClsConfig;
use crate::classify::deploy::table;
use crate::classify::train::{Setup, Trained};
use anyhow::{Context, Result};
use std::path::Path;

/// The calibration rows' seed.
pub const CALIBRATION_SEED: u64 = 0x1a7;

/// What `trainer quantise` does.
pub struct QuantiseArgs<'a> {
    pub config: &'a Path,
    pub trained: &'a Path,
    pub calibration: usize,
    pub ranges: Ranges,
    pub episodes: usize,
}

/// Quantises the trunk of `<out>.trained.json`, prints the accuracy table and the flash sizes.
pub fn run(a: &QuantiseArgs) -> Result<()> {
    let cfg = ClsConfig::load(a.config)?;
    let setup = Setup::new(&cfg)?;
    let text = std::fs::read_to_string(a.trained)
        .with_context(|| format!("cannot read {}", a.trained.display()))?;
    let t: Trained = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a trained run (`<out>.trained.json`)",
            a.trained.display()
        )
    })?;
    let (arch, params) = t
        .trained_trunk
        .as_ref()
        .context("the run has no trained trunk (freeze_trunk)")?;
    let raw = calibration_rows(&setup, a.calibration, CALIBRATION_SEED);
    let x: Vec<f32> = arch.normalise(&raw);
    let q = QuantTrunk::new(arch, params, &x, a.ranges)?;
    let (n, query) = (a.episodes, 15);
    let rows = crate::classify::host::host_rows(
        &setup,
        &t,
        (arch, params),
        Some(&q),
        cfg.ways,
        &[1, 5],
        (n, query, crate::classify::EVAL_SEED),
    )?;
    println!(
        "int8 trunk: {} calibration rows of the training classes {:?} ({:?} ranges), novel classes {:?}, {}-way, {n} episodes per shot count, {query} queries per class; 95% CI over episodes",
        x.len() / arch.inputs.max(1),
        cfg.train_classes,
        a.ranges,
        cfg.test_classes,
        cfg.ways
    );
    print!("{}", table(&rows));
    println!(
        "trunk bytes: f32 {}, int8 {} (f32: weights and biases; int8: int8 weights, int32 biases, multipliers, shifts, scales and zero points)",
        f32_bytes(arch),
        q.bytes()
    );
    Ok(())
}

//! `trainer quantise`: post-training quantisation of a run's trained trunk, evaluated beside
//! the f32 trunk and the baselines on the same novel-class episodes.

use super::{calibration_rows, f32_bytes, QuantTrunk, Ranges};
use crate::classify::config::ClsConfig;
use crate::classify::deploy::evaluate;
use crate::classify::deploy::{table, with_heads, AccRow, Baselines};
use crate::classify::run::test_episodes;
use crate::classify::setup::Setup;
use crate::classify::train::Trained;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;

/// The calibration rows' seed.
pub const CALIBRATION_SEED: u64 = 0x1a7;

/// Which run `trainer quantise` reads: its configuration and `<out>.trained.json`, or a model
/// with its run record and `<out>.trained.json` beside it.
pub enum Run<'a> {
    Files { config: &'a Path, trained: &'a Path },
    Model(&'a Path),
}

impl Run<'_> {
    /// The run's configuration and data, checked against the record when read from one, and
    /// the path of its trained parameters.
    fn open(&self) -> Result<(ClsConfig, Setup, std::path::PathBuf)> {
        match *self {
            Run::Files { config, trained } => {
                let cfg = ClsConfig::load(config)?;
                let setup = Setup::new(&cfg)?;
                Ok((cfg, setup, trained.to_path_buf()))
            }
            Run::Model(model) => {
                let record = crate::classify::record::RunRecord::read(model)?.with_context(|| {
                    format!(
                        "{}: no classification run record beside it (`<name>.run.json`): give --config and --trained",
                        model.display()
                    )
                })?;
                let cfg = record.config.clone();
                let setup = Setup::new(&cfg)?;
                record.check(&cfg, &setup)?;
                let trained = model.with_extension("trained.json");
                if !trained.exists() {
                    bail!(
                        "{}: not found beside the model (`train` writes it; a re-exported model has none): give the run's --config and --trained",
                        trained.display()
                    );
                }
                Ok((cfg, setup, trained))
            }
        }
    }
}

/// What `trainer quantise` does.
pub struct QuantiseArgs<'a> {
    pub run: Run<'a>,
    pub calibration: usize,
    pub ranges: Ranges,
    pub episodes: usize,
    /// Write the int8 model there and evaluate it as deployed beside the f32 export.
    pub export: Option<&'a Path>,
    /// The trunk's first layers kept in f32 (`QuantTrunk::with_f32_layers`).
    pub f32_layers: usize,
}

/// Quantises the trunk of `<out>.trained.json`, prints the accuracy table and the flash sizes.
pub fn run(a: &QuantiseArgs) -> Result<()> {
    let (cfg, setup, trained) = a.run.open()?;
    let text = std::fs::read_to_string(&trained)
        .with_context(|| format!("cannot read {}", trained.display()))?;
    let t: Trained = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a trained run (`<out>.trained.json`)",
            trained.display()
        )
    })?;
    let (arch, params) = t
        .trained_trunk
        .as_ref()
        .context("the run has no trained trunk (freeze_trunk)")?;
    if a.export.is_some()
        && (t.trunk.layers != arch.layers || t.params.get(..arch.n_params()) != Some(params))
    {
        bail!("the run exported the identity trunk (no layer: nearest centroid on the normalised input), not its trained one: its model has no trunk to quantise, and runs on the device as it is");
    }
    let raw = calibration_rows(&setup, a.calibration, CALIBRATION_SEED);
    let x: Vec<f32> = arch.normalise(&raw);
    let q = QuantTrunk::with_f32_layers(arch, params, &x, a.ranges, a.f32_layers)?;
    let n = a.episodes;
    // None: too few novel classes (noted, with the fix). The export needs no episode; only
    // the comparison with f32 does.
    let eval = crate::classify::run::noted_eval_shots(&setup, cfg.ways, &cfg.shots);
    if let Some(out) = a.export {
        return deployed(
            &cfg,
            &setup,
            &t,
            &q,
            out,
            eval.as_ref().map(|(s, q)| (n, &s[..], *q)),
        );
    }
    let (shots, query) = eval.context(
        "no evaluation episode fits the novel classes, and without --export `quantise` only compares the int8 trunk with f32 on them: `--export OUT.postcard` writes the int8 model without that comparison",
    )?;
    let rows = crate::classify::host::host_rows(
        &setup,
        &t,
        (arch, params),
        Some(&q),
        cfg.ways,
        &shots,
        (n, query, crate::classify::EVAL_SEED),
    )?;
    println!(
        "int8 trunk{}: {} calibration rows of the trunk's training classes {} ({:?} ranges), novel classes {}, {}-way, {n} episodes per shot count, {query} queries per class; 95% CI over episodes",
        f32_note(&q),
        x.len() / arch.inputs.max(1),
        setup.ds.describe_classes(&calibration_classes(&setup)),
        a.ranges,
        setup.ds.describe_classes(&cfg.test_classes),
        cfg.ways
    );
    print!("{}", table(&rows));
    println!(
        "trunk bytes: f32 {}, int8 {} (f32: weights and biases; int8: as the model file stores them, int8 weights four to a word, per channel an int32 bias, multiplier, shift and an f32 weight scale, as `trainer inspect` counts them{})",
        f32_bytes(arch),
        q.bytes(),
        if q.f32_layers() > 0 { ", and the f32 layers' weights and biases" } else { "" }
    );
    Ok(())
}

/// What an int8 model costs in time: measured, not assumed.
const SPEED_NOTE: &str = "note: int8 saves flash and RAM, not necessarily time: on the Cortex-M4F the committed int8 models infer 1.12x (digits) and 1.17x (PLAID) slower than their f32 models (thin first layers pay a requantisation per output of few MACs); `cargo xtask bench-firmware --model OUT.postcard` measures yours, and `--f32-layers N` keeps thin first layers in f32 (firmware/README.md, \"int8 models on the device\")";

/// ` (its first N layers in f32)`, or nothing.
fn f32_note(q: &QuantTrunk) -> String {
    match q.f32_layers() {
        0 => String::new(),
        n => format!(" (its first {n} layers in f32)"),
    }
}

/// Writes the int8 model of `q` (the heads of the f32 export on the int8 stem) to `out`, then
/// evaluates it and the f32 export as deployed (the runtime's loader, inner loop and inference)
/// on the same episodes, beside nearest centroid; prints the table and the stem's flash.
/// Without episodes (`eval` None: too few novel classes), writes the model and warns that it
/// was not compared with f32.
fn deployed(
    cfg: &ClsConfig,
    setup: &Setup,
    t: &Trained,
    q: &QuantTrunk,
    out: &Path,
    eval: Option<(usize, &[usize], usize)>,
) -> Result<()> {
    let (arch, params) = t
        .trained_trunk
        .as_ref()
        .context("the run has no trained trunk")?;
    let name = crate::export::model_name(out).unwrap_or_else(|| "int8".into());
    let mut int8 = with_heads(super::export::int8_trunk_def(&name, arch, params, q)?, t)?;
    // The same front-end as the f32 export: the device builds it from the model.
    int8.front_end = cfg.front_end;
    let bytes = crate::export::write(out, &int8)?;
    // Its run record (the run's classes, split and normalisation, these bytes' SHA-256), so
    // that `trainer eval --model OUT` evaluates it like the f32 export.
    let record = crate::classify::record::RunRecord::new(out, cfg, setup, t)?.write(out)?;
    let int8 = crate::export::read(out)?;
    let mut f32 = crate::classify::deploy::model_def(&name, t)?;
    f32.front_end = cfg.front_end;
    let f32 = f32
        .to_aligned_bytes()
        .map_err(|e| anyhow!("runtime writer: {e}"))?;
    println!(
        "wrote {} ({bytes} bytes; the same model, named alike, with its f32 trunk: {} bytes) and its run record {}",
        out.display(),
        f32.as_bytes().len(),
        record.display()
    );
    match eval {
        Some(episodes) => compare(cfg, setup, t, q, (&f32, &int8), episodes)?,
        None => eprintln!(
            "warning: the int8 model was not compared with the f32 one: no evaluation episode fits the novel classes {} (the note above), so what int8 costs in accuracy is unmeasured; hold out more classes in `test_classes` and train again to measure it",
            setup.ds.describe_classes(&cfg.test_classes)
        ),
    }
    let model = runtime::Model::from_bytes(&int8).map_err(|e| anyhow!("{e}"))?;
    if let Some((i8b, f32b)) = crate::inspect::int8_flash(&model)? {
        println!(
            "trunk tensors: f32 {f32b} bytes, int8 {i8b} bytes ({} bytes saved)",
            f32b.saturating_sub(i8b)
        );
    }
    println!("{SPEED_NOTE}");
    Ok(())
}

/// The int8 bytes and the f32 export evaluated as deployed on the same episodes, beside
/// nearest centroid: the table.
fn compare(
    cfg: &ClsConfig,
    setup: &Setup,
    t: &Trained,
    q: &QuantTrunk,
    (f32, int8): (
        &runtime::format::AlignedBytes,
        &runtime::format::AlignedBytes,
    ),
    (n, shots, query): (usize, &[usize], usize),
) -> Result<()> {
    let baselines = Baselines {
        standardise: &setup.standardise,
        model_input: setup.norm.window.is_some().then_some(&setup.norm),
        trunk: None,
    };
    let none = Baselines {
        model_input: None,
        ..baselines
    };
    let steps = t.device.step_counts();
    let mut rows: Vec<AccRow> = Vec::new();
    for &k in shots {
        let eps = test_episodes(setup, cfg.ways, k, query, n, crate::classify::EVAL_SEED)?;
        let named = |rows: Vec<AccRow>, name: &'static str| {
            rows.into_iter().map(move |mut r| {
                if r.method == "model" {
                    r.method = name.into();
                }
                r
            })
        };
        rows.extend(named(
            evaluate(f32.as_bytes(), &eps, &steps, &baselines)?,
            "f32_model",
        ));
        let int8_rows = evaluate(int8, &eps, &steps, &none)?;
        rows.extend(named(int8_rows, "int8_model").filter(|r| r.method == "int8_model"));
    }
    println!(
        "as deployed{}: the exported bytes through the runtime (prototype head, {} inner steps), {}-way, {n} episodes per shot count, {query} queries per class, novel classes {}; 95% CI over episodes, then with the class as the unit",
        f32_note(q),
        t.device.steps,
        cfg.ways,
        setup.ds.describe_classes(&cfg.test_classes)
    );
    print!("{}", table(&rows));
    Ok(())
}

/// The classes the calibration rows are drawn from ([`super::calibrate::calibration_rows`]):
/// the trunk's training pool (the training classes but the validation ones), unrotated.
fn calibration_classes(setup: &crate::classify::setup::Setup) -> Vec<usize> {
    let mut classes: Vec<usize> = (setup.train.classes.iter())
        .filter(|c| c.rot == 0)
        .map(|c| c.class)
        .collect();
    classes.dedup();
    classes
}

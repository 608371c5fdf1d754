//! The multi-task model as the runtime reads it (every head, adaptable ones with their
//! adaptation spec), and the `train --config` run: train or resume, export, table, plots.

use super::config::MtConfig;
use super::heads::{build_heads, Head};
use super::plots;
use super::train::{train_from, MtState, MtTrained, Params};
use crate::engine::{train_checkpointed, RunFlags};
use crate::export::{f32s, head_def, trunk_def};
use anyhow::{bail, Context, Result};
use runtime::writer::ModelDef;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// The runtime's model: the trunk once, every head (adaptable ones with their adaptation spec).
pub fn model_def(name: &str, heads: &[Head], p: &Params) -> Result<ModelDef> {
    let Some(h0) = heads.first() else {
        bail!("no heads");
    };
    let mut def = trunk_def(name, &h0.arch, &p.theta(0))?;
    for (i, h) in heads.iter().enumerate() {
        let id = u16::try_from(i).context("too many heads")?;
        let adapt = h.cfg.adaptable.then_some((&h.spec, &p.u[i][..]));
        let mut hd = head_def(id, &h.cfg.name, &h.arch, &p.theta(i), adapt)?;
        if let Some((shift, scale)) = &h.targets {
            hd = hd.with_output_normalisation(f32s(shift), f32s(scale));
        }
        def = def.head(hd);
    }
    Ok(def)
}

/// Tasks (or episodes) drawn for a head whose units are not a finite list.
pub const DEPLOYED_TASKS: usize = 600;

/// The as-deployed table: every head, the model at 0 and its device steps, and its baseline.
pub fn print_deployed(rows: &[super::deployed::HeadRow]) {
    println!(
        "as deployed (the exported bytes through the runtime), 95% CI over independent units:"
    );
    println!(
        "{:<16} {:<22} {:>5} {:>9} {:>14} {:>12}  units",
        "head", "method", "steps", "metric", "mean", "95% CI"
    );
    for r in rows {
        println!(
            "{:<16} {:<22} {:>5} {:>9} {:>14.5} {:>12}  {} {}{}",
            r.head,
            r.method,
            r.steps.map_or("-".into(), |s| s.to_string()),
            r.metric,
            r.mean,
            crate::eval::ci_cell(r.ci95, 5),
            r.units,
            crate::eval::plural(r.unit),
            if r.draws > 1 {
                format!(" ({} support draws each, averaged per unit)", r.draws)
            } else {
                String::new()
            }
        );
    }
    // An adaptable classification head's 0-step row (a multi-task head starts from no
    // prototypes).
    let mut chance: Vec<&str> = rows
        .iter()
        .filter(|r| r.metric == "accuracy" && r.method == "model" && r.steps.is_some_and(|s| s > 0))
        .map(|r| r.head.as_str())
        .collect();
    chance.dedup();
    for head in chance {
        println!(
            "{}",
            crate::classify::deploy::chance_note(&format!("{head:?}"))
        );
    }
}

/// Prints the held-out task ids of every `csv_tasks` head (evaluated as deployed, never
/// trained on).
fn describe_splits(heads: &[Head]) {
    for h in heads {
        if let (super::Source::Tasks(src), Some(path)) = (&h.source, &h.cfg.path) {
            if let Some(held) = src.held_out() {
                let ids: Vec<&str> = held.iter().map(|(id, _)| id.as_str()).collect();
                eprintln!(
                    "head {:?}: {path}: {} held-out tasks {ids:?} (`test_fraction`, `split_seed`)",
                    h.cfg.name,
                    ids.len()
                );
            }
        }
    }
}

/// Load, train (or resume), export `out`, write `<out>.trained.json` and the plots. Returns
/// None when the run was interrupted (its checkpoint written).
pub fn train_and_export(
    cfg_path: &Path,
    out: &Path,
    flags: &RunFlags,
    stop: &AtomicBool,
) -> Result<Option<MtTrained>> {
    let mut cfg = MtConfig::load(cfg_path)?;
    if flags.iterations == Some(0) {
        bail!("--iterations must be >= 1");
    }
    flags.apply(
        &mut cfg.iterations,
        &mut cfg.seed,
        &mut cfg.checkpoint_every,
    );
    let base = cfg_path.parent().unwrap_or(Path::new("."));
    let heads = build_heads(&cfg, base).with_context(|| cfg_path.display().to_string())?;
    describe_splits(&heads);
    let t0 = std::time::Instant::now();
    let Some(st) = train_checkpointed(
        out,
        flags,
        stop,
        |ckpt| MtState::resume(ckpt, &cfg, &heads),
        || Ok(MtState::new(&cfg, &heads)),
        |st, ckpts| train_from(st, &heads, ckpts, true),
    )?
    else {
        return Ok(None);
    };
    let trained = st.trained(&heads);
    let name = crate::export::model_name(out).unwrap_or_else(|| "multitask".into());
    let bytes = crate::export::write(out, &model_def(&name, &heads, &trained.params)?)?;
    let blob = crate::export::read(out)?;
    eprintln!(
        "trained {} for {} iterations in {:.1} s; wrote {} ({bytes} bytes)",
        match heads.len() {
            1 => "1 head".to_string(),
            n => format!("{n} heads"),
        },
        trained.curve.last().map_or(0, |p| p.iter),
        t0.elapsed().as_secs_f64(),
        out.display()
    );
    crate::export::write_trained(out, &trained)?;
    let record = super::record::Record::new(out, cfg_path, &cfg, &heads)?.write(out)?;
    eprintln!("run record: {}", record.display());
    if flags.no_eval {
        return Ok(Some(trained));
    }
    if let Some(last) = trained.curve.last() {
        println!(
            "{:<16} {:>8} {:>10} {:>12} {:>9} {:>8}",
            "head", "kind", "adaptable", "val loss", "val acc", "weight"
        );
        for (i, h) in heads.iter().enumerate() {
            println!(
                "{:<16} {:>8} {:>10} {:>12.5} {:>9} {:>8.3}",
                h.cfg.name,
                h.cfg.loss.map_or("-", |l| l.name()),
                h.cfg.adaptable,
                last.val_loss[i],
                last.val_acc[i].map_or("-".into(), |a| format!("{:.2}%", 100.0 * a)),
                last.weight[i]
            );
        }
        for h in heads.iter().filter(|h| h.targets.is_some()) {
            println!(
                "{}: standardised targets (val loss in standardised units; the model returns raw units)",
                h.cfg.name
            );
        }
    }
    let rows = super::deployed::evaluate(&blob, &heads, &cfg, DEPLOYED_TASKS)?;
    print_deployed(&rows);
    let json = out.with_extension("eval.json");
    std::fs::write(&json, serde_json::to_string_pretty(&rows)?)?;
    eprintln!("as deployed: {}", json.display());
    let p = out.with_extension("curve.png");
    plots::curve(&p, &trained)?;
    eprintln!("plot: {}", p.display());
    Ok(Some(trained))
}

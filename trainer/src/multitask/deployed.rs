//! Every head of an exported multi-task model evaluated as deployed: the model's bytes loaded by
//! the runtime, adaptable heads adapted by the runtime's inner loop, beside baselines on the
//! same draws (regression heads: the population mean, and a line fitted to each support set
//! where draws have one; classification heads: nearest centroid on raw features), with
//! confidence intervals over independent units.
//!
//! Units: the held-out tasks of a CSV task source (the support draws shared out among them and
//! averaged per task, as the regression evaluator does), fresh tasks of an unbounded family,
//! episodes of the validation rows for an adaptable classification head, and every validation
//! row once for a fixed head on rows; classification heads again with the class as the unit
//! (each class's accuracy over all of its queries). Regression errors are in the data's units (a
//! head that trained on standardised targets returns raw units on the device).

use super::config::MtConfig;
use super::heads::{draws, Draw, Head, Source};
use crate::classify::deploy::{
    centroid_hits, class_means, episode_hits, nearest_mean, shares, ClassTally,
};
use crate::classify::episodes::Episode;
use crate::eval::{adapt_head, line_predict, mean_ci, mse};
use crate::tasks::Task;
use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;
use runtime::{Heads, Model};
use serde::Serialize;

/// One row of the table: a method on one head.
#[derive(Clone, Debug, Serialize)]
pub struct HeadRow {
    pub head: String,
    /// `model` or the baseline's name.
    pub method: String,
    /// Device inner steps (None for a baseline).
    pub steps: Option<usize>,
    /// `mse` (data units^2) or `accuracy` (percent).
    pub metric: &'static str,
    /// Independent units the interval is over, and what they are.
    pub units: usize,
    pub unit: &'static str,
    /// Draws per unit, averaged per unit before the mean over units.
    pub draws: usize,
    pub mean: f64,
    pub ci95: f64,
}

/// Every head of `bytes` on its validation data; `tasks` draws for unbounded task families
/// (and the support draws shared out among a finite set of held-out tasks).
pub fn evaluate(
    bytes: &[u8],
    heads: &[Head],
    cfg: &MtConfig,
    tasks: usize,
) -> Result<Vec<HeadRow>> {
    let scored: Vec<Scored> = heads
        .iter()
        .enumerate()
        .map(|(i, h)| Scored::new(i, h))
        .collect();
    let plan = Plan {
        tasks,
        steps: None,
        new_data: false,
    };
    evaluate_heads(bytes, &scored, cfg, &plan)
}

/// A head to score: the model's head `index`, its data, and its baseline (fitted on its
/// training data: kept when the data is swapped for a file the model never saw).
pub struct Scored<'a> {
    pub index: usize,
    pub head: &'a Head,
    pub baseline: Baseline,
}

impl<'a> Scored<'a> {
    /// Head `index` on its own data.
    pub fn new(index: usize, head: &'a Head) -> Self {
        Scored {
            index,
            head,
            baseline: Baseline::of(head),
        }
    }
}

/// How heads are scored: `tasks` draws for unbounded task families; the device step counts
/// (None: 0 and the head's own); `new_data`: the data is a file the model never saw (its units
/// are named so).
pub struct Plan {
    pub tasks: usize,
    pub steps: Option<Vec<usize>>,
    pub new_data: bool,
}

/// [`evaluate`] of `heads`, as `plan` says.
pub fn evaluate_heads(
    bytes: &[u8],
    heads: &[Scored<'_>],
    cfg: &MtConfig,
    plan: &Plan,
) -> Result<Vec<HeadRow>> {
    let model = Model::from_bytes(bytes).map_err(|e| anyhow!("model: {e}"))?;
    let mut rows = Vec::new();
    for s in heads {
        let (i, h, baseline) = (s.index, s.head, &s.baseline);
        let (unit, units) = units_of(h, cfg, plan)
            .with_context(|| format!("head {:?} (its `shots`)", h.cfg.name))?;
        let steps: Vec<usize> = match (&plan.steps, h.cfg.adaptable) {
            (Some(steps), true) => crate::eval::with_zero(steps),
            (None, true) => vec![0, h.spec.steps],
            (_, false) => vec![0],
        };
        let Some(first) = units.first().and_then(|u| u.first()) else {
            continue;
        };
        let cls = matches!(first, Draw::Labels { .. });
        let (metric, scale) = if cls {
            ("accuracy", 100.0)
        } else {
            ("mse", 1.0)
        };
        let baselines = baseline_names(first);
        let methods: Vec<(&str, Option<usize>)> = (steps.iter().map(|&s| ("model", Some(s))))
            .chain(baselines.iter().map(|&b| (b, None)))
            .collect();
        let scored: Vec<(Vec<f64>, Vec<ClassTally>)> = units
            .par_iter()
            .map(|u| score_unit(&model, (i, h), u, &steps, baseline, methods.len()))
            .collect::<Result<_>>()?;
        let draws = units.iter().map(Vec::len).max().unwrap_or(1);
        let row = |j: usize, v: &[f64], units: usize, unit: &'static str, draws: usize| {
            let (mean, ci) = mean_ci(v);
            let (method, steps) = methods[j];
            HeadRow {
                head: h.cfg.name.clone(),
                method: method.into(),
                steps,
                metric,
                units,
                unit,
                draws,
                mean: scale * mean,
                ci95: scale * ci,
            }
        };
        for j in 0..methods.len() {
            let v: Vec<f64> = scored.iter().map(|(u, _)| u[j]).collect();
            rows.push(row(j, &v, v.len(), unit, draws));
        }
        // Classification: the same queries with the class as the unit (each class's accuracy
        // over all of its queries), as the classification evaluator prints beside episodes.
        let mut tallies = vec![ClassTally::default(); methods.len()];
        for (_, unit) in &scored {
            for (t, u) in tallies.iter_mut().zip(unit) {
                t.merge(u);
            }
        }
        for (j, t) in tallies.iter().enumerate() {
            let v = t.accuracies();
            if v.len() >= 2 {
                rows.push(row(j, &v, v.len(), "class", 1));
            }
        }
    }
    Ok(rows)
}

/// The head's evaluation units in the data's units, each unit's draws (averaged before the
/// mean over units), and what a unit is. A finite set of held-out tasks shares `tasks` support
/// draws out among its tasks, as the regression evaluator does ([`crate::eval::draws`]).
fn units_of(h: &Head, cfg: &MtConfig, plan: &Plan) -> Result<(&'static str, Vec<Vec<Draw>>)> {
    let tasks = plan.tasks;
    let seed = cfg.seed ^ 0xe7a1 ^ h.key;
    let raw = |mut t: Task| {
        if let Some((shift, scale)) = &h.targets {
            let m = shift.len().max(1);
            for (j, y) in t
                .support_y
                .iter_mut()
                .chain(t.query_y.iter_mut())
                .enumerate()
            {
                let o = (j % t.n_out.max(1)) % m;
                *y = *y * scale[o] + shift[o];
            }
        }
        Draw::Values(t)
    };
    let one_each = |units: Vec<Draw>| units.into_iter().map(|d| vec![d]).collect();
    Ok(match (&h.source, h.cfg.adaptable) {
        (Source::Tasks(src), _) if src.held_out().is_some() => {
            let (k, q) = (h.cfg.shots, h.cfg.query);
            let d = crate::eval::draws(src.as_ref(), k, tasks, q, seed)?;
            let units = d
                .tasks
                .into_iter()
                .map(|u| u.into_iter().map(raw).collect());
            let unit = if plan.new_data {
                "new task"
            } else {
                "held-out task"
            };
            (unit, units.collect())
        }
        (Source::Tasks(_), _) => {
            let per = if h.cfg.adaptable { cfg.meta_batch } else { 1 };
            let n = tasks.div_ceil(per.max(1)) as u64;
            let all = (0..n).flat_map(|b| draws(h, cfg, cfg.seed ^ 0xe7a1, b, true));
            let units = all.map(|d| match d {
                Draw::Values(t) => raw(t),
                other => other,
            });
            ("task", one_each(units.collect()))
        }
        (Source::Rows(_), true) => {
            let n = tasks.div_ceil(cfg.meta_batch.max(1)) as u64;
            let all = (0..n).flat_map(|b| draws(h, cfg, cfg.seed ^ 0xe7a1, b, true));
            ("episode", one_each(all.collect()))
        }
        (Source::Rows(r), false) => {
            let d = r.d;
            let val: Vec<usize> = r.val.iter().flatten().copied().collect();
            let units = val.iter().map(|&j| {
                let x = r.x[j * d..(j + 1) * d].to_vec();
                if h.is_cls() {
                    Draw::Labels {
                        d,
                        sx: Vec::new(),
                        sl: Vec::new(),
                        qx: x,
                        ql: vec![r.class[j]],
                        classes: (0..r.classes).collect(),
                    }
                } else {
                    Draw::Values(Task {
                        n_in: d,
                        n_out: 1,
                        support_x: Vec::new(),
                        support_y: Vec::new(),
                        query_x: x,
                        query_y: vec![r.value[j]],
                        truth: None,
                    })
                }
            });
            let unit = if plan.new_data {
                "row"
            } else {
                "validation row"
            };
            (unit, one_each(units.collect()))
        }
    })
}

/// A head's baseline, fitted once on its training data.
pub enum Baseline {
    /// Regression: the mean training target of each output (raw units), and where draws have a
    /// support set, a line fitted to it ([`line_predict`]) on inputs standardised with this
    /// `(shift, scale)`.
    Mean(Vec<f64>, (Vec<f64>, Vec<f64>)),
    /// A fixed classification head: the class means of its training rows (raw features).
    ClassMeans(Vec<f64>),
    /// An adaptable classification head: nearest centroid on each episode's support set.
    SupportCentroids,
}

impl Baseline {
    /// The baseline of head `h`, fitted on its training data.
    pub fn of(h: &Head) -> Self {
        // The line's inputs standardised as its source's (rows: on the head's training rows).
        let line_norm = match &h.source {
            Source::Tasks(src) => src.normalisation(),
            Source::Rows(r) => {
                let x = h.train_inputs();
                crate::standardise::fit(r.d, x.chunks_exact(r.d.max(1)))
            }
        };
        match (&h.targets, &h.source) {
            (Some((shift, _)), _) => Baseline::Mean(shift.clone(), line_norm),
            (None, Source::Tasks(src)) => Baseline::Mean(src.target_mean(), line_norm),
            (None, Source::Rows(_)) if h.cfg.adaptable && h.is_cls() => Baseline::SupportCentroids,
            (None, Source::Rows(r)) => {
                let train: Vec<usize> = r.train.iter().flatten().copied().collect();
                if h.is_cls() {
                    let (d, classes) = (r.d, r.train.len());
                    let x: Vec<f64> = train
                        .iter()
                        .flat_map(|&j| r.x[j * d..(j + 1) * d].iter().copied())
                        .collect();
                    let y: Vec<usize> = (0..classes)
                        .flat_map(|c| std::iter::repeat_n(c, r.train[c].len()))
                        .collect();
                    Baseline::ClassMeans(class_means(&x, &y, classes, d))
                } else {
                    let mean = train.iter().map(|&j| r.value[j]).sum::<f64>();
                    Baseline::Mean(vec![mean / train.len().max(1) as f64], line_norm)
                }
            }
        }
    }
}

/// The baselines' method names for draws like `d`, in the order [`score`] returns them.
fn baseline_names(d: &Draw) -> Vec<&'static str> {
    match d {
        Draw::Labels { .. } => vec!["nearest_centroid_raw"],
        Draw::Values(t) if t.support_y.is_empty() => vec!["population_mean"],
        Draw::Values(_) => vec!["population_mean", "line"],
    }
}

/// One unit's score per method (its draws averaged) and, per method, its queries' tally by
/// class (classification draws).
fn score_unit(
    model: &Model<'_>,
    (i, h): (usize, &Head),
    u: &[Draw],
    steps: &[usize],
    baseline: &Baseline,
    methods: usize,
) -> Result<(Vec<f64>, Vec<ClassTally>)> {
    let mut acc = vec![0.0; methods];
    let mut tallies = vec![ClassTally::default(); methods];
    for d in u {
        let v = match d {
            Draw::Values(t) => score_values(model, i, h, t, steps, baseline)?,
            Draw::Labels { ql, classes, .. } => {
                let hits = label_hits(model, i, h, d, steps, baseline)?;
                for (t, m) in tallies.iter_mut().zip(&hits) {
                    t.add(m, ql, classes);
                }
                shares(&hits)
            }
        };
        for (a, v) in acc.iter_mut().zip(v) {
            *a += v / u.len() as f64;
        }
    }
    Ok((acc, tallies))
}

/// One regression draw's errors: the model after each of `steps`, then the baselines.
fn score_values(
    model: &Model<'_>,
    i: usize,
    h: &Head,
    t: &Task,
    steps: &[usize],
    baseline: &Baseline,
) -> Result<Vec<f64>> {
    let mut v = if h.cfg.adaptable {
        adapt_head(model, i, t, steps, &[])?.0
    } else {
        vec![fixed_mse(model, i, t)?]
    };
    let Baseline::Mean(mean, line_norm) = baseline else {
        bail!(
            "head {:?}: values scored against a class baseline",
            h.cfg.name
        );
    };
    let m = mean.len().max(1);
    let at = |j: usize| mean.get(j % m).copied().unwrap_or(0.0);
    v.push(mse((0..t.query_y.len()).map(at), &t.query_y));
    if !t.support_y.is_empty() {
        v.push(mse(line_predict(t, line_norm).into_iter(), &t.query_y));
    }
    Ok(v)
}

/// One labelled draw, query by query: which queries the model classifies right after each of
/// `steps`, then the baseline.
fn label_hits(
    model: &Model<'_>,
    i: usize,
    h: &Head,
    d: &Draw,
    steps: &[usize],
    baseline: &Baseline,
) -> Result<Vec<Vec<bool>>> {
    let Draw::Labels {
        d, sx, sl, qx, ql, ..
    } = d
    else {
        bail!("head {:?}: values scored as labels", h.cfg.name);
    };
    let ep = Episode {
        ways: h.arch.outputs(),
        shots: 0,
        query: 0,
        d: *d,
        support_x: sx.clone(),
        support_y: sl.clone(),
        query_x: qx.clone(),
        query_y: ql.clone(),
        pool_class: Vec::new(),
        rows: Vec::new(),
    };
    let mut v = Vec::new();
    for &s in steps {
        v.push(if h.cfg.adaptable {
            episode_hits(model, i, &ep, s)?
        } else {
            fixed_hits(model, i, &ep)?
        });
    }
    v.push(match baseline {
        Baseline::SupportCentroids => centroid_hits(&ep, None),
        Baseline::ClassMeans(mu) => (qx.chunks_exact(*d).zip(ql))
            .map(|(x, &y)| nearest_mean(mu, *d, x) == y)
            .collect(),
        Baseline::Mean(..) => {
            bail!("head {:?}: labels scored against a mean", h.cfg.name)
        }
    });
    Ok(v)
}

/// The model's outputs of head `i` for `x` (rows of the model's input width).
fn infer(model: &Model<'_>, i: usize, x: &[f64]) -> Result<Vec<f32>> {
    let e = |e: runtime::Error| anyhow!("runtime: {e}");
    let m = model.head(i).map_err(e)?.kind.outputs();
    let n = x.len() / model.input_len().max(1);
    let mut scratch = vec![0.0f32; model.infer_scratch_len()];
    let mut out = vec![0.0f32; n * m];
    let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    model
        .network()
        .infer_batch(&xs, Heads::only(i), &mut scratch, &mut out)
        .map_err(e)?;
    Ok(out)
}

fn fixed_mse(model: &Model<'_>, i: usize, t: &Task) -> Result<f64> {
    let out = infer(model, i, &t.query_x)?;
    Ok(mse(out.into_iter().map(f64::from), &t.query_y))
}

fn fixed_hits(model: &Model<'_>, i: usize, ep: &Episode) -> Result<Vec<bool>> {
    let out = infer(model, i, &ep.query_x)?;
    let m = ep.ways;
    let argmax = |z: &[f32]| (0..m).fold(0, |a, j| if z[j] > z[a] { j } else { a });
    Ok(out
        .chunks_exact(m)
        .zip(&ep.query_y)
        .map(|(z, &y)| argmax(z) == y)
        .collect())
}

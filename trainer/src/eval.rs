//! Evaluation as deployed: the exported bytes loaded by the runtime, adapted with the runtime's own
//! inner loop (f32, its clip and rates), query MSE on held-out tasks, beside baselines scored on
//! the same draws (the model's start at 0 steps, the population mean, a per-task straight line).
//!
//! The mean and its confidence interval are over independent units: for a finite set of held-out
//! tasks (CSV: subjects, units) every distinct task is one unit, drawn several times when there
//! are fewer tasks than asked and averaged per task first; for a task family (the sinusoid) every
//! draw is a new task. The interval is Student's t over the units.

use crate::export::f32s;
use crate::tasks::{Split, Task, TaskSource};
use anyhow::{anyhow, bail, ensure, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use runtime::{AdaptState, Heads, Model, Support};
use serde::{Deserialize, Serialize};

/// Adapted-state capacity used on the host (floats).
pub const STATE_CAP: usize = 1 << 15;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalRow {
    /// `model` (the exported model after `steps` device steps; 0 steps is its meta-learned
    /// start), `population_mean` (the mean target of the meta-training tasks) or `line` (a
    /// straight line fitted to each support set; see [`line_predict`]).
    pub method: String,
    pub shots: usize,
    /// Device steps (0 for the baselines, which do not run the model).
    pub steps: usize,
    /// Independent units the mean and its interval are over: distinct held-out tasks, or fresh
    /// draws of a task family.
    pub tasks: usize,
    /// Support draws per unit, averaged per unit before the mean over units.
    pub draws: usize,
    pub mean_mse: f64,
    /// Half-width of the 95% confidence interval of the mean over the units (Student's t,
    /// `tasks - 1` degrees of freedom); NaN (`null`) with 1 task: no interval.
    #[serde(deserialize_with = "nan_if_null")]
    pub ci95: f64,
    /// Each unit's mean query MSE (for paired comparisons; `eval --per-task`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_task: Vec<TaskScore>,
    /// With several outputs, each one's query MSE in its own units (`mean_mse` is their mean,
    /// so an output in large units would hide the others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_output: Vec<OutputMse>,
    /// A model row's query MSE minus each baseline's, unit by unit on the same draws (empty on
    /// a baseline's row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub minus_baseline: Vec<PairedDifference>,
}

/// The model's query MSE minus a baseline's, paired over the same units and draws: the mean of
/// the units' differences and its 95% CI half-width (negative: the model is better).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    /// `population_mean` or `line`.
    pub baseline: String,
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ci95: f64,
    /// With several outputs, the same for each output in its own units (`mean` is over their
    /// mean, in which a baseline better on one output can be hidden).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_output: Vec<OutputMse>,
}

/// One output's query MSE over the units: mean and 95% CI half-width.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputMse {
    /// Its target column's name, else `y1`, `y2`, ...
    pub output: String,
    pub mean_mse: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ci95: f64,
}

/// One held-out unit's mean query MSE over its draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    pub task: String,
    pub mse: f64,
}

/// The draws behind one K: which units, how many draws each, how many query rows they had.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Units {
    pub shots: usize,
    /// Distinct held-out tasks (true), or fresh draws of a task family (false).
    pub distinct: bool,
    pub tasks: usize,
    pub draws: usize,
    /// Query rows per draw, smallest and largest (a task's rows minus K, up to the asked query).
    pub query_min: usize,
    pub query_max: usize,
    /// The held-out task ids (empty for a task family).
    pub ids: Vec<String>,
    /// Held-out tasks left out of this K: fewer than K + 1 rows (`id (rows)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short: Vec<String>,
    /// The held-out tasks this K could take: more than `tasks` when `--tasks` chose some.
    #[serde(default)]
    pub of: usize,
}

/// An evaluation: the rows of every (method, K, steps) and the units behind each K.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub query: usize,
    /// The tasks' inputs: which fit the `line` baseline is at each K ([`line_predict`]).
    #[serde(default)]
    pub inputs: usize,
    pub units: Vec<Units>,
    pub results: Vec<EvalRow>,
}

/// Held-out tasks for one K: a pure function of (seed, K).
pub fn eval_tasks(
    source: &dyn TaskSource,
    k: usize,
    n: usize,
    query: usize,
    seed: u64,
) -> Vec<Task> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(k as u64);
    (0..n)
        .map(|_| source.sample(Split::MetaTest, k, query, &mut rng))
        .collect()
}

/// Query MSE of one task after each step count in `steps` (each from the meta-learned start),
/// and the predictions at `extra_x` (for plots) after each, with the model's head 0.
pub fn adapt_task(
    model: &Model<'_>,
    task: &Task,
    steps: &[usize],
    extra_x: &[f64],
) -> Result<(Vec<f64>, Vec<Vec<f32>>)> {
    adapt_head(model, 0, task, steps, extra_x)
}

/// [`adapt_task`] with head `head` of a multi-head model.
pub fn adapt_head(
    model: &Model<'_>,
    head: usize,
    task: &Task,
    steps: &[usize],
    extra_x: &[f64],
) -> Result<(Vec<f64>, Vec<Vec<f32>>)> {
    let (mses, _, preds) = adapt_head_outputs(model, head, task, steps, extra_x)?;
    Ok((mses, preds))
}

/// [`adapt_head`] with each output's query MSE after each step count too.
pub fn adapt_head_outputs(
    model: &Model<'_>,
    head: usize,
    task: &Task,
    steps: &[usize],
    extra_x: &[f64],
) -> Result<PerStep> {
    let e = |e: runtime::Error| anyhow!("runtime: {e}");
    let mut state = Box::new(AdaptState::<STATE_CAP>::new(model, head).map_err(e)?);
    let needs = model.ram_needs(head, task.k().max(task.q())).map_err(e)?;
    let mut scratch = vec![0.0f32; needs.adapt_scratch.max(needs.infer_scratch)];
    let max_steps = steps.iter().copied().max().unwrap_or(0);
    let mut losses = vec![0.0f32; max_steps + 1];
    let (sx, sy, qx) = (
        f32s(&task.support_x),
        f32s(&task.support_y),
        f32s(&task.query_x),
    );
    let ex = f32s(extra_x);
    let m = task.n_out;
    let mut mses = Vec::with_capacity(steps.len());
    let mut per_output = Vec::with_capacity(steps.len());
    let mut preds = Vec::new();
    for &s in steps {
        state.reset(model).map_err(e)?;
        if s > 0 {
            let n = u16::try_from(s).map_err(|_| anyhow!("{s} steps is too many"))?;
            state
                .adapt(
                    model,
                    Support::values(&sx, &sy),
                    Some(n),
                    &mut scratch,
                    &mut losses,
                )
                .map_err(e)?;
        }
        let net = state.network(model).map_err(e)?;
        let mut out = vec![0.0f32; task.q() * m];
        net.infer_batch(&qx, Heads::only(head), &mut scratch, &mut out)
            .map_err(e)?;
        let se: f64 = out
            .iter()
            .zip(&task.query_y)
            .map(|(&y, &t)| (y as f64 - t).powi(2))
            .sum();
        mses.push(se / out.len().max(1) as f64);
        per_output.push(output_mses(
            out.iter().map(|&y| f64::from(y)),
            &task.query_y,
            m,
        ));
        if !ex.is_empty() {
            let mut p = vec![0.0f32; ex.len() / task.n_in.max(1) * m];
            net.infer_batch(&ex, Heads::only(head), &mut scratch, &mut p)
                .map_err(e)?;
            preds.push(p);
        }
    }
    Ok((mses, per_output, preds))
}

/// What [`adapt_head_outputs`] gives per step count: the query MSE, each output's, and the
/// predictions at the extra inputs.
pub type PerStep = (Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f32>>);

/// Each of `m` outputs' mean squared error of `pred` against `truth` (row-major, `m` a row).
pub fn output_mses(pred: impl Iterator<Item = f64>, truth: &[f64], m: usize) -> Vec<f64> {
    let m = m.max(1);
    let (mut se, mut n) = (vec![0.0; m], vec![0usize; m]);
    for (i, (p, t)) in pred.zip(truth).enumerate() {
        se[i % m] += (p - t).powi(2);
        n[i % m] += 1;
    }
    se.iter()
        .zip(&n)
        .map(|(s, &n)| s / n.max(1) as f64)
        .collect()
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom (exact table to 30, then
/// the Cornish-Fisher expansion, within 1e-4; the normal's 1.96 in the limit).
pub fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        _ => {
            let (z, n) = (1.959_964_f64, df as f64);
            z + (z.powi(3) + z) / (4.0 * n)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * n * n)
        }
    }
}

/// Mean and half-width of its 95% confidence interval (Student's t over `v.len()` independent
/// values). Fewer than 2 values have no spread to estimate, so no interval: the half-width is
/// NaN, which JSON writes as `null` and [`Interval`] and [`ci_cell`] print as not available.
pub fn mean_ci(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, t95(v.len() - 1) * (var / n).sqrt())
}

/// Refuses a K that leaves one of the `held` tasks `(id, rows)` (`what` they are) no query row:
/// K support rows and at least 1 query, so the largest K that fits is the fewest rows - 1.
pub fn check_rows(k: usize, held: &[(String, usize)], what: &str) -> Result<()> {
    let short: Vec<String> = held
        .iter()
        .filter(|(_, rows)| *rows < k + 1)
        .map(|(id, rows)| format!("{id:?} ({rows} rows)"))
        .collect();
    if short.is_empty() {
        return Ok(());
    }
    let fit = held
        .iter()
        .map(|h| h.1)
        .min()
        .unwrap_or(1)
        .saturating_sub(1);
    bail!(
        "K = {k} needs {} rows per held-out task (K support + at least 1 query); {} of {} {what} have fewer: {}; a K up to {fit} fits every one",
        k + 1,
        short.len(),
        held.len(),
        short.join(", ")
    )
}

/// A mean and its 95% interval over `n` units (episodes, classes, tasks), as [`mean_ci`] gives
/// them: `52.13 +- 1.23`, or, with no interval (fewer than 2 units), `52.13 (1 class, no
/// interval)`. The formatter's precision (default 2) and `+` flag apply to the mean and the
/// half-width.
#[derive(Clone, Copy, Debug)]
pub struct Interval<'a> {
    pub mean: f64,
    pub half: f64,
    pub n: usize,
    pub unit: &'a str,
}

impl std::fmt::Display for Interval<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = f.precision().unwrap_or(2);
        let mean = match f.sign_plus() {
            true => format!("{:+.p$}", self.mean),
            false => format!("{:.p$}", self.mean),
        };
        match self.half.is_finite() {
            true => write!(f, "{mean} +- {:.p$}", self.half),
            false => write!(f, "{mean} ({}, no interval)", count(self.n, self.unit)),
        }
    }
}

/// A half-width written as `null` (no interval, see [`mean_ci`]) read back as NaN.
pub fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// A (mean, half-width) pair, if any, whose half-width may be `null` ([`nan_if_null`]).
pub fn pair_nan_if_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<(f64, f64)>, D::Error> {
    let pair = Option::<(f64, Option<f64>)>::deserialize(d)?;
    Ok(pair.map(|(m, h)| (m, h.unwrap_or(f64::NAN))))
}

/// A table's 95% CI cell: the half-width to `decimals`, or `n/a` where there is no interval
/// (fewer than 2 units, see [`mean_ci`]).
pub fn ci_cell(half: f64, decimals: usize) -> String {
    match half.is_finite() {
        true => format!("{half:.decimals$}"),
        false => "n/a".into(),
    }
}

/// A line saying that an interval over only 2 or 3 `unit`s (Student's t of 12.7 or 4.3: wider
/// than the scale) says little; empty for more units, or fewer (no interval at all).
pub fn few_units_note(n: usize, unit: &str) -> String {
    match n {
        2..=3 => format!(
            "with {n} {units} the per-{unit} interval has {} degree(s) of freedom (t = {:.1}): it says little; more {units} narrow it\n",
            n - 1,
            t95(n - 1),
            units = plural(unit)
        ),
        _ => String::new(),
    }
}

/// `n` `unit`s: "1 class", "3 classes", "2 tasks".
pub fn count(n: usize, unit: &str) -> String {
    match n {
        1 => format!("1 {unit}"),
        _ => format!("{n} {}", plural(unit)),
    }
}

/// `unit` in the plural: "episodes", "classes", "queries".
pub fn plural(unit: &str) -> String {
    let consonant_y = unit
        .strip_suffix('y')
        .filter(|stem| !stem.ends_with(['a', 'e', 'i', 'o', 'u']));
    if let Some(stem) = consonant_y {
        format!("{stem}ies")
    } else if unit.ends_with('s') {
        format!("{unit}es")
    } else {
        format!("{unit}s")
    }
}

/// The held-out draws of one K: per unit, its id and tasks.
pub struct Draws {
    pub ids: Vec<String>,
    pub tasks: Vec<Vec<Task>>,
    pub distinct: bool,
    /// Held-out tasks left out of this K, too short for it (`id (rows)`).
    pub short: Vec<String>,
    /// The held-out tasks this K could take (`ids` are all of them, or a seeded choice).
    pub of: usize,
}

/// The draws of one K, a pure function of (seed, K). Distinct held-out tasks: `n_tasks` of them
/// (seeded choice) when there are that many, else all of them, each drawn
/// `ceil(n_tasks / tasks)` times. A held-out task too short for K (K support rows and a query)
/// is left out of this K and named in [`Draws::short`] (each task's draws do not depend on
/// which others are left out); a K no held-out task can serve is refused. A task family:
/// `n_tasks` fresh tasks.
pub fn draws(
    source: &dyn TaskSource,
    k: usize,
    n_tasks: usize,
    query: usize,
    seed: u64,
) -> Result<Draws> {
    let Some(held) = source.held_out() else {
        let tasks = eval_tasks(source, k, n_tasks, query, seed);
        return Ok(Draws {
            ids: (0..tasks.len()).map(|i| i.to_string()).collect(),
            tasks: tasks.into_iter().map(|t| vec![t]).collect(),
            distinct: false,
            short: Vec::new(),
            of: 0,
        });
    };
    let fits = |i: &usize| held[*i].1 > k;
    let mut order: Vec<usize> = (0..held.len()).filter(fits).collect();
    if order.is_empty() {
        check_rows(k, &held, "held-out tasks")?;
    }
    let short = (0..held.len())
        .filter(|i| !fits(i))
        .map(|i| format!("{:?} ({} rows)", held[i].0, held[i].1))
        .collect();
    let eligible = order.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(k as u64);
    let per = if eligible >= n_tasks {
        use rand::seq::SliceRandom;
        order.shuffle(&mut rng);
        order.truncate(n_tasks);
        order.sort_unstable();
        1
    } else {
        n_tasks.div_ceil(eligible)
    };
    let tasks = order
        .iter()
        .map(|&i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
            rng.set_stream(k as u64);
            (0..per)
                .map(|_| source.sample_held_out(i, k, query, &mut rng))
                .collect()
        })
        .collect();
    Ok(Draws {
        ids: order.iter().map(|&i| held[i].0.clone()).collect(),
        tasks,
        distinct: true,
        short,
        of: eligible,
    })
}

/// Per-task straight line (the simplest adaptive baseline), its predictions at the query inputs
/// in raw units: per output, least squares of y on x over the support set (intercept free),
/// when the support has at least `inputs + 2` rows (one input: 2); with fewer, ridge
/// regression with a penalty of a tenth of the task's own mean input variance times the rows
/// (scale-free: a penalty fixed in population units shrank a task's line to its mean when its
/// inputs vary little within it); with one support row, or an input that does not vary, the
/// support mean. Inputs standardised with `norm` first.
pub fn line_predict(task: &Task, norm: &(Vec<f64>, Vec<f64>)) -> Vec<f64> {
    let (d, m, k, q) = (task.n_in, task.n_out, task.k(), task.q());
    let z = |x: &[f64], r: usize, j: usize| (x[r * d + j] - norm.0[j]) * norm.1[j];
    let xm: Vec<f64> = (0..d)
        .map(|j| (0..k).map(|r| z(&task.support_x, r, j)).sum::<f64>() / k as f64)
        .collect();
    // Centred Gram matrix + lambda I, Cholesky-factored by nalgebra (d is the input count:
    // small); None when it is not positive definite (a constant input).
    let mut gram = nalgebra::DMatrix::from_fn(d, d, |i, j| {
        (0..k)
            .map(|r| (z(&task.support_x, r, i) - xm[i]) * (z(&task.support_x, r, j) - xm[j]))
            .sum::<f64>()
    });
    if d > 1 && k < d + 2 {
        let lambda = 0.1 * gram.trace() / d as f64;
        for i in 0..d {
            gram[(i, i)] += lambda;
        }
    }
    let scale = gram.diagonal().amax();
    let chol = nalgebra::Cholesky::new(gram).filter(|c| {
        let l = c.l_dirty();
        (0..d).all(|i| l[(i, i)] * l[(i, i)] > 1e-12 * scale.max(f64::MIN_POSITIVE))
    });
    let mut out = vec![0.0; q * m];
    for o in 0..m {
        let ym = (0..k).map(|r| task.support_y[r * m + o]).sum::<f64>() / k as f64;
        let mut w = nalgebra::DVector::zeros(d);
        if let (Some(c), true) = (&chol, k >= 2) {
            let b = nalgebra::DVector::from_fn(d, |i, _| {
                (0..k)
                    .map(|r| (z(&task.support_x, r, i) - xm[i]) * (task.support_y[r * m + o] - ym))
                    .sum::<f64>()
            });
            w = c.solve(&b);
        }
        for r in 0..q {
            out[r * m + o] = ym
                + (0..d)
                    .map(|j| w[j] * (z(&task.query_x, r, j) - xm[j]))
                    .sum::<f64>();
        }
    }
    out
}

/// The mean squared error of `pred` against `truth`.
pub fn mse(pred: impl Iterator<Item = f64>, truth: &[f64]) -> f64 {
    let (se, n) = pred
        .zip(truth)
        .fold((0.0, 0usize), |(s, n), (p, t)| (s + (p - t).powi(2), n + 1));
    se / n.max(1) as f64
}

/// The method columns scored per draw: the model after each of `steps`, then the population
/// mean, then the line.
pub fn methods(steps: &[usize]) -> Vec<(String, usize)> {
    steps
        .iter()
        .map(|&s| ("model".to_string(), s))
        .chain([("population_mean".into(), 0), ("line".into(), 0)])
        .collect()
}

/// Every unit's mean query MSE per method column of [`methods`], averaged over its draws;
/// with several outputs, then each method's per-output MSEs (method-major: column
/// `methods + j * outputs + o`).
pub fn score(
    model: &Model<'_>,
    draws: &Draws,
    steps: &[usize],
    target_mean: &[f64],
    input_norm: &(Vec<f64>, Vec<f64>),
) -> Result<Vec<Vec<f64>>> {
    score_head(model, 0, draws, steps, target_mean, input_norm)
}

/// [`score`] with head `head` of a multi-head model.
pub fn score_head(
    model: &Model<'_>,
    head: usize,
    draws: &Draws,
    steps: &[usize],
    target_mean: &[f64],
    input_norm: &(Vec<f64>, Vec<f64>),
) -> Result<Vec<Vec<f64>>> {
    draws
        .tasks
        .par_iter()
        .map(|unit| {
            let mut acc = Vec::new();
            for t in unit {
                let (mses, outs, _) = adapt_head_outputs(model, head, t, steps, &[])?;
                let m = target_mean.len().max(1);
                let mean_pred = (0..t.query_y.len()).map(|i| target_mean[i % m]);
                let line_pred = line_predict(t, input_norm);
                let mean = mse(mean_pred.clone(), &t.query_y);
                let line = mse(line_pred.iter().copied(), &t.query_y);
                let mut v: Vec<f64> = mses.into_iter().chain([mean, line]).collect();
                if t.n_out > 1 {
                    let baselines = [
                        output_mses(mean_pred, &t.query_y, t.n_out),
                        output_mses(line_pred.into_iter(), &t.query_y, t.n_out),
                    ];
                    v.extend(outs.into_iter().chain(baselines).flatten());
                }
                acc.resize(v.len(), 0.0);
                for (a, v) in acc.iter_mut().zip(v) {
                    *a += v / unit.len() as f64;
                }
            }
            Ok(acc)
        })
        .collect()
}

/// Rows of one K from every unit's scores ([`score`]'s columns): mean +- t-interval over the
/// units; `outputs` names the outputs of a multi-output head (else `y1`, `y2`, ...).
pub fn rows(
    k: usize,
    steps: &[usize],
    ids: &[String],
    per_unit: &[Vec<f64>],
    draws: usize,
    outputs: &[String],
) -> Vec<EvalRow> {
    let methods = methods(steps);
    let nm = methods.len();
    let mo = per_unit
        .first()
        .map_or(0, |u| u.len().saturating_sub(nm) / nm.max(1));
    let over_units = |c: usize| -> (f64, f64) {
        let v: Vec<f64> = per_unit.iter().map(|u| u[c]).collect();
        mean_ci(&v)
    };
    // The baselines are the last two columns of `methods`.
    let baselines: Vec<(String, usize)> = methods[steps.len()..]
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.clone(), steps.len() + i))
        .collect();
    methods
        .into_iter()
        .enumerate()
        .map(|(j, (method, s))| {
            let v: Vec<f64> = per_unit.iter().map(|u| u[j]).collect();
            let (mean_mse, ci95) = mean_ci(&v);
            let minus_baseline = if j < steps.len() {
                paired_differences(per_unit, j, &baselines, (nm, mo, outputs))
            } else {
                Vec::new()
            };
            let per_output = (0..mo)
                .map(|o| {
                    let (mean_mse, ci95) = over_units(nm + j * mo + o);
                    let output = outputs.get(o).cloned();
                    OutputMse {
                        output: output.unwrap_or_else(|| format!("y{}", o + 1)),
                        mean_mse,
                        ci95,
                    }
                })
                .collect();
            EvalRow {
                method,
                shots: k,
                steps: s,
                tasks: v.len(),
                draws,
                mean_mse,
                ci95,
                per_task: ids
                    .iter()
                    .zip(&v)
                    .map(|(task, &mse)| TaskScore {
                        task: task.clone(),
                        mse,
                    })
                    .collect(),
                per_output,
                minus_baseline,
            }
        })
        .collect()
}

/// Column `j` minus each of `baselines` (name, column), unit by unit: mean and interval; with
/// `mo` outputs named `outputs` (their columns after the `nm` methods', [`score`]'s layout),
/// each output's too.
fn paired_differences(
    per_unit: &[Vec<f64>],
    j: usize,
    baselines: &[(String, usize)],
    (nm, mo, outputs): (usize, usize, &[String]),
) -> Vec<PairedDifference> {
    let paired = |a: usize, b: usize| {
        let d: Vec<f64> = per_unit.iter().map(|u| u[a] - u[b]).collect();
        mean_ci(&d)
    };
    baselines
        .iter()
        .map(|(baseline, c)| {
            let (mean, ci95) = paired(j, *c);
            let per_output = (0..mo)
                .map(|o| {
                    let (mean_mse, ci95) = paired(nm + j * mo + o, nm + c * mo + o);
                    OutputMse {
                        output: outputs
                            .get(o)
                            .cloned()
                            .unwrap_or_else(|| format!("y{}", o + 1)),
                        mean_mse,
                        ci95,
                    }
                })
                .collect();
            PairedDifference {
                baseline: baseline.clone(),
                mean,
                ci95,
                per_output,
            }
        })
        .collect()
}

/// The model's step counts with 0 (its meta-learned start) first.
pub fn with_zero(steps: &[usize]) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(steps.iter().copied().filter(|&s| s != 0));
    v
}

/// Loads `bytes` and checks they fit the tasks: as many inputs, a regression head 0 with their
/// outputs.
pub fn load_for<'a>(bytes: &'a [u8], source: &dyn TaskSource) -> Result<Model<'a>> {
    load_head_for(bytes, 0, source)
}

/// [`load_for`] with head `head` the regression head the tasks are for.
pub fn load_head_for<'a>(
    bytes: &'a [u8],
    head: usize,
    source: &dyn TaskSource,
) -> Result<Model<'a>> {
    let model = Model::from_bytes(bytes).map_err(|e| anyhow!("model: {e}"))?;
    let spec = model.head(head).map_err(|e| anyhow!("model: {e}"))?;
    let outputs = match spec.kind {
        runtime::HeadKind::Regression { outputs } => usize::from(outputs),
        _ => bail!("model: head {head} is not a regression head; these tasks are regression"),
    };
    if model.input_len() != source.n_in() || outputs != source.n_out() {
        bail!(
            "model has {} input(s) and {outputs} output(s), the tasks {} and {}",
            model.input_len(),
            source.n_in(),
            source.n_out()
        );
    }
    Ok(model)
}

/// The query rows of every draw: (smallest, largest).
pub fn query_range(d: &Draws) -> (usize, usize) {
    d.tasks
        .iter()
        .flatten()
        .map(Task::q)
        .fold((usize::MAX, 0), |(a, b), q| (a.min(q), b.max(q)))
}

/// Mean and 95% CI of the query MSE for every (method, K, steps), on the same draws.
pub fn evaluate(
    bytes: &[u8],
    source: &dyn TaskSource,
    shots: &[usize],
    steps: &[usize],
    n_tasks: usize,
    query: usize,
    seed: u64,
) -> Result<Report> {
    evaluate_head(bytes, 0, source, shots, steps, (n_tasks, query, seed))
}

/// [`evaluate`] of head `head` of a multi-head model (`(n_tasks, query, seed)` as there): the
/// same draws for the same seed, whichever head.
pub fn evaluate_head(
    bytes: &[u8],
    head: usize,
    source: &dyn TaskSource,
    shots: &[usize],
    steps: &[usize],
    (n_tasks, query, seed): (usize, usize, u64),
) -> Result<Report> {
    ensure!(
        n_tasks >= 1 && query >= 1,
        "need at least one task and one query point"
    );
    let model = load_head_for(bytes, head, source)?;
    let steps = with_zero(steps);
    let (mean, norm) = (source.target_mean(), source.normalisation());
    let mut report = Report {
        query,
        inputs: source.n_in(),
        units: vec![],
        results: vec![],
    };
    for &k in shots {
        let d = draws(source, k, n_tasks, query, seed)?;
        let per_unit = score_head(&model, head, &d, &steps, &mean, &norm)?;
        let per = d.tasks.first().map_or(1, Vec::len);
        let names = source.target_names();
        report
            .results
            .extend(rows(k, &steps, &d.ids, &per_unit, per, &names));
        let (query_min, query_max) = query_range(&d);
        report.units.push(Units {
            shots: k,
            distinct: d.distinct,
            tasks: d.ids.len(),
            draws: per,
            query_min,
            query_max,
            ids: if d.distinct { d.ids } else { vec![] },
            short: d.short,
            of: d.of,
        });
    }
    Ok(report)
}

/// What the rows are over, one line per K: distinct held-out tasks and their draws, or fresh
/// tasks of a family; the query rows really used; which fit the line is at each K.
pub fn describe(r: &Report) -> String {
    let mut s = line_note(r);
    for u in &r.units {
        let q = if u.query_min == u.query_max {
            format!("{}", u.query_min)
        } else {
            format!("{}-{}", u.query_min, u.query_max)
        };
        if u.distinct {
            s += &format!(
                "K = {}: {} distinct held-out tasks, {} support draw(s) each (averaged per task; the CI is over the {} tasks); {q} query points per draw (asked {})\n",
                u.shots, u.tasks, u.draws, u.tasks, r.query
            );
            if u.of > u.tasks {
                s += &format!(
                    "  K = {}: {} of the {} held-out tasks, chosen by the seed (--tasks {}): {}\n",
                    u.shots,
                    u.tasks,
                    u.of,
                    u.tasks,
                    crate::input_columns::names(&u.ids)
                );
            }
            if !u.short.is_empty() {
                // Only when another K kept other tasks are the rows of the K's not comparable.
                let apart = match r.units.iter().all(|o| o.short == u.short) {
                    true => "",
                    false => ", not the same tasks as the other K's",
                };
                s += &format!(
                    "  K = {}: {} held-out task(s) left out, fewer than {} rows (K support and a query): {}; this K's rows are over the other {}{apart}\n",
                    u.shots,
                    u.short.len(),
                    u.shots + 1,
                    crate::input_columns::names(&u.short),
                    u.tasks
                );
            }
        } else {
            s += &format!(
                "K = {}: {} fresh tasks of the family, one draw each; {q} query points per draw\n",
                u.shots, u.tasks
            );
        }
    }
    s
}

/// Which fit the `line` baseline is at the report's K's: least squares needs `inputs + 2`
/// support rows, a ridge fit below (empty when every K takes one kind, or without inputs).
fn line_note(r: &Report) -> String {
    let full = r.inputs + 2;
    let (ridge, lsq): (Vec<usize>, Vec<usize>) =
        r.units.iter().map(|u| u.shots).partition(|&k| k < full);
    // One input: least squares from 2 rows (no ridge).
    if r.inputs < 2 || ridge.is_empty() || lsq.is_empty() {
        return String::new();
    }
    let list = |v: &[usize]| {
        v.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "line: a ridge fit at K = {} (fewer than inputs + 2 = {full} support rows), least squares at K = {}: a line's error need not fall as K grows across that change\n",
        list(&ridge),
        list(&lsq)
    )
}

/// The rows as a table; with several outputs, a second table of each output's MSE.
pub fn table(rows: &[EvalRow]) -> String {
    let mut s = format!(
        "{:>6} {:<16} {:>6} {:>6} {:>12} {:>10}\n",
        "K", "method", "steps", "tasks", "query MSE", "95% CI"
    );
    for r in rows {
        let steps = if r.method == "model" {
            r.steps.to_string()
        } else {
            "-".into()
        };
        s += &format!(
            "{:>6} {:<16} {:>6} {:>6} {:>12.4} {:>10}\n",
            r.shots,
            r.method,
            steps,
            r.tasks,
            r.mean_mse,
            ci_cell(r.ci95, 4)
        );
    }
    s + &differences_table(rows) + &outputs_table(rows)
}

/// Each model row minus each baseline, paired over the same units (empty without model rows).
fn differences_table(rows: &[EvalRow]) -> String {
    let Some(first) = rows.iter().find(|r| !r.minus_baseline.is_empty()) else {
        return String::new();
    };
    let mut s =
        "the model's query MSE minus each baseline's, task by task on the same draws (negative: the model is better):\n"
            .to_string();
    s += &format!("{:>6} {:>6}", "K", "steps");
    for d in &first.minus_baseline {
        s += &format!(" {:>18} {:>10}", format!("- {}", d.baseline), "95% CI");
    }
    s += "\n";
    for r in rows.iter().filter(|r| !r.minus_baseline.is_empty()) {
        s += &format!("{:>6} {:>6}", r.shots, r.steps);
        for d in &r.minus_baseline {
            s += &format!(" {:>18.4} {:>10}", d.mean, ci_cell(d.ci95, 4));
        }
        s += "\n";
    }
    if first
        .minus_baseline
        .iter()
        .any(|d| !d.per_output.is_empty())
    {
        s += "the same for each output, in its own units^2:\n";
        for r in rows.iter().filter(|r| !r.minus_baseline.is_empty()) {
            for d in &r.minus_baseline {
                s += &format!("{:>6} {:>6} - {:<16}", r.shots, r.steps, d.baseline);
                for o in &d.per_output {
                    s += &format!(" {}: {:.4} +- {}", o.output, o.mean_mse, ci_cell(o.ci95, 4));
                }
                s += "\n";
            }
        }
    }
    s
}

/// Each output's query MSE, in its own units^2 (empty for one output).
fn outputs_table(rows: &[EvalRow]) -> String {
    let Some(first) = rows.iter().find(|r| !r.per_output.is_empty()) else {
        return String::new();
    };
    let mut s = "each output's query MSE in its own units^2 (the query MSE above is their mean):\n"
        .to_string();
    s += &format!("{:>6} {:<16} {:>6}", "K", "method", "steps");
    for o in &first.per_output {
        s += &format!(" {:>14} {:>10}", o.output, "95% CI");
    }
    s += "\n";
    for r in rows {
        let steps = if r.method == "model" {
            r.steps.to_string()
        } else {
            "-".into()
        };
        s += &format!("{:>6} {:<16} {:>6}", r.shots, r.method, steps);
        for o in &r.per_output {
            s += &format!(" {:>14.4} {:>10}", o.mean_mse, ci_cell(o.ci95, 4));
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{count, plural, rows};

    /// With two outputs each output's paired difference is over its own columns: one the
    /// line wins, the other it loses, which their mean hides.
    #[test]
    fn paired_differences_per_output() {
        // model, population mean, line; then each method's two outputs.
        let unit = |m: [f64; 2], p: [f64; 2], l: [f64; 2]| {
            let mean = |v: [f64; 2]| (v[0] + v[1]) / 2.0;
            vec![
                mean(m),
                mean(p),
                mean(l),
                m[0],
                m[1],
                p[0],
                p[1],
                l[0],
                l[1],
            ]
        };
        let per_unit = vec![
            unit([10.0, 100.0], [50.0, 500.0], [5.0, 300.0]),
            unit([12.0, 90.0], [40.0, 450.0], [6.0, 280.0]),
        ];
        let names = ["ppm".to_string(), "ppb".to_string()];
        let r = rows(5, &[0], &["a".into(), "b".into()], &per_unit, 1, &names);
        let line = &r[0].minus_baseline[1];
        assert_eq!(line.baseline, "line");
        assert!(line.mean < 0.0, "the mean of the outputs: the model better");
        let o = &line.per_output;
        assert_eq!((o[0].output.as_str(), o[1].output.as_str()), ("ppm", "ppb"));
        assert!((o[0].mean_mse - 5.5).abs() < 1e-12, "{o:?}");
        assert!((o[1].mean_mse + 195.0).abs() < 1e-12, "{o:?}");
    }

    /// A model a constant below the line on every task: the paired difference is that
    /// constant with no spread, however far apart the tasks' MSEs are.
    #[test]
    fn paired_differences_are_task_by_task() {
        // Columns: model at 0 steps, population mean, line.
        let per_unit = vec![
            vec![10.0, 50.0, 12.0],
            vec![1000.0, 900.0, 1002.0],
            vec![5.0, 40.0, 7.0],
        ];
        let ids: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let r = rows(5, &[0], &ids, &per_unit, 1, &[]);
        assert_eq!(r.len(), 3);
        let d = &r[0].minus_baseline;
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].baseline, "line");
        assert!((d[1].mean + 2.0).abs() < 1e-12 && d[1].ci95.abs() < 1e-12);
        assert_eq!(d[0].baseline, "population_mean");
        assert!((d[0].mean - (-40.0 + 100.0 - 35.0) / 3.0).abs() < 1e-12);
        assert!(d[0].ci95 > 0.0);
        // The unpaired intervals are far wider than the paired one.
        assert!(r[0].ci95 > 100.0 && r[2].ci95 > 100.0);
        assert!(r[1].minus_baseline.is_empty() && r[2].minus_baseline.is_empty());
    }

    #[test]
    fn plurals_of_the_units_printed() {
        let got: Vec<String> = ["query", "class", "episode", "day", "draw"]
            .iter()
            .map(|u| plural(u))
            .collect();
        assert_eq!(got, ["queries", "classes", "episodes", "days", "draws"]);
        assert_eq!(count(1, "query"), "1 query");
        assert_eq!(count(3, "distinct draw"), "3 distinct draws");
    }
}

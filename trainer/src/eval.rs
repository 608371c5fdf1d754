//! Evaluation as deployed: the exported bytes loaded by the runtime, adapted with the runtime's own
//! inner loop (f32, its clip and rates), query MSE on held-out tasks.

use crate::export::f32s;
use crate::tasks::{Split, Task, TaskSource};
use anyhow::{anyhow, bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use runtime::{AdaptState, Heads, Model, Support};
use serde::Serialize;

/// Adapted-state capacity used on the host (floats).
pub const STATE_CAP: usize = 1 << 15;

#[derive(Clone, Debug, Serialize)]
pub struct EvalRow {
    pub shots: usize,
    pub steps: usize,
    pub tasks: usize,
    pub mean_mse: f64,
    /// Half-width of the 95% confidence interval of the mean (1.96 standard errors).
    pub ci95: f64,
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
/// and the predictions at `extra_x` (for plots) after each.
pub fn adapt_task(
    model: &Model<'_>,
    task: &Task,
    steps: &[usize],
    extra_x: &[f64],
) -> Result<(Vec<f64>, Vec<Vec<f32>>)> {
    let e = |e: runtime::Error| anyhow!("runtime: {e}");
    let mut state = Box::new(AdaptState::<STATE_CAP>::new(model, 0).map_err(e)?);
    let needs = model.ram_needs(0, task.k()).map_err(e)?;
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
        net.infer_batch(&qx, Heads::only(0), &mut scratch, &mut out)
            .map_err(e)?;
        let se: f64 = out
            .iter()
            .zip(&task.query_y)
            .map(|(&y, &t)| (y as f64 - t).powi(2))
            .sum();
        mses.push(se / out.len().max(1) as f64);
        if !ex.is_empty() {
            let mut p = vec![0.0f32; ex.len() / task.n_in.max(1) * m];
            net.infer_batch(&ex, Heads::only(0), &mut scratch, &mut p)
                .map_err(e)?;
            preds.push(p);
        }
    }
    Ok((mses, preds))
}

pub fn mean_ci(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, 1.96 * (var / n).sqrt())
}

/// Mean and 95% CI of the query MSE for every (K, steps).
pub fn evaluate(
    bytes: &[u8],
    source: &dyn TaskSource,
    shots: &[usize],
    steps: &[usize],
    n_tasks: usize,
    query: usize,
    seed: u64,
) -> Result<Vec<EvalRow>> {
    let model = Model::from_bytes(bytes).map_err(|e| anyhow!("model: {e}"))?;
    // The model must fit the tasks: as many inputs, a regression head 0 with their outputs.
    let head = model.head(0).map_err(|e| anyhow!("model: {e}"))?;
    let outputs = match head.kind {
        runtime::HeadKind::Regression { outputs } => usize::from(outputs),
        _ => bail!("model: head 0 is not a regression head; these tasks are regression"),
    };
    if model.input_len() != source.n_in() || outputs != source.n_out() {
        bail!(
            "model has {} input(s) and {outputs} output(s), the tasks {} and {}",
            model.input_len(),
            source.n_in(),
            source.n_out()
        );
    }
    let mut rows = Vec::new();
    for &k in shots {
        let tasks = eval_tasks(source, k, n_tasks, query, seed);
        let per_task: Vec<Vec<f64>> = tasks
            .par_iter()
            .map(|t| adapt_task(&model, t, steps, &[]).map(|r| r.0))
            .collect::<Result<_>>()?;
        for (j, &s) in steps.iter().enumerate() {
            let v: Vec<f64> = per_task.iter().map(|r| r[j]).collect();
            let (mean_mse, ci95) = mean_ci(&v);
            rows.push(EvalRow {
                shots: k,
                steps: s,
                tasks: n_tasks,
                mean_mse,
                ci95,
            });
        }
    }
    Ok(rows)
}

pub fn table(rows: &[EvalRow]) -> String {
    let mut s = format!(
        "{:>6} {:>6} {:>6} {:>12} {:>10}\n",
        "K", "steps", "tasks", "query MSE", "95% CI"
    );
    for r in rows {
        s += &format!(
            "{:>6} {:>6} {:>6} {:>12.4} {:>10.4}\n",
            r.shots, r.steps, r.tasks, r.mean_mse, r.ci95
        );
    }
    s
}

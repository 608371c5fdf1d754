//! The inner loop of one task and its meta-gradient by reverse accumulation through the steps
//! (exact Hessian-vector products for the second-order algorithms), and the batched reduction.

use super::{adapted_layers, adapted_ranges, alpha_vector, clamp, rate_param_grad, rates};
use super::{proximal, Algorithm, MetaSpec, RateKind, TaskData};
use crate::net::{backward, forward, hvp, Arch, Bwd, Fwd, RScratch};
use crate::real::Real;
use std::ops::Range;

/// Per-iteration constants shared by all tasks of a meta-batch.
pub struct Ctx<'a, T> {
    pub arch: &'a Arch,
    pub spec: &'a MetaSpec,
    pub theta: Vec<T>,
    /// alpha vector per inner step.
    pub alphas: Vec<Vec<T>>,
    pub ranges: Vec<Range<usize>>,
    pub first: usize,
    pub clip: T,
    /// Rows of the alpha-gradient table (steps for MAML++, 1 for Meta-SGD, 0 for a scalar).
    pub rate_rows: usize,
}

impl<'a, T: Real> Ctx<'a, T> {
    pub fn new(arch: &'a Arch, spec: &'a MetaSpec, theta: &[f64], u: &[f64]) -> Self {
        let scope = spec.effective_scope();
        let r = rates(arch, spec, u);
        let alphas = (0..spec.steps)
            .map(|s| alpha_vector(arch, scope, &r, s))
            .collect();
        let layers = adapted_layers(arch, scope);
        Ctx {
            arch,
            spec,
            theta: theta.iter().map(|&v| T::from_f64(v)).collect(),
            alphas,
            ranges: adapted_ranges(arch, scope),
            first: layers.first().map_or(arch.layers.len(), |x| x.0),
            clip: T::from_f64(spec.clip),
            rate_rows: match spec.algorithm.rates() {
                RateKind::Scalar => 0,
                RateKind::PerParameter => 1,
                RateKind::PerLayerPerStep => spec.steps,
            },
        }
    }
}

/// Reusable buffers for one task's inner loop and meta-backward.
#[derive(Default)]
pub struct Workspace<T: Real> {
    thetas: Vec<Vec<T>>,
    grads: Vec<Vec<T>>,
    fwds: Vec<Fwd<T>>,
    bwds: Vec<Bwd<T>>,
    fq: Fwd<T>,
    bq: Bwd<T>,
    gq: Vec<T>,
    a: Vec<T>,
    h: Vec<T>,
    rs: RScratch<T>,
    prox: proximal::Scratch<T>,
}

/// The parts of `0..n` outside the ascending, disjoint `ranges`.
fn gaps(ranges: &[Range<usize>], n: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let starts = std::iter::once(0).chain(ranges.iter().map(|r| r.end));
    let ends = ranges.iter().map(|r| r.start).chain(std::iter::once(n));
    starts.zip(ends).filter(|(a, b)| a < b).map(|(a, b)| a..b)
}

/// Sets `a`'s length to `n` and zeroes every entry outside `ranges` (the entries inside are the
/// caller's to write): no pass over the whole buffer when the ranges cover it.
fn zero_outside<T: Real>(a: &mut Vec<T>, n: usize, ranges: &[Range<usize>]) {
    a.resize(n, T::zero());
    for g in gaps(ranges, n) {
        a[g].fill(T::zero());
    }
}

/// Result of one task: weighted query loss, gradient wrt theta_0 and wrt the alpha tables.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskLoss<T> {
    pub loss: T,
    /// Query loss after the last inner step (for logs).
    pub final_loss: T,
}

/// Inner loop plus meta-gradient of one task: writes the gradient wrt theta_0 into `g_theta`
/// (`n_params`) and wrt the alpha tables into `g_alpha` (`rate_rows x n_params`, row-major).
/// The proximal rule has its own closed-form steps (`proximal::task_meta_grad`).
pub fn task_meta_grad<T: Real>(
    ctx: &Ctx<T>,
    d: &TaskData<T>,
    ws: &mut Workspace<T>,
    g_theta: &mut [T],
    g_alpha: &mut [T],
) -> TaskLoss<T> {
    if ctx.spec.algorithm == Algorithm::Proximal {
        return proximal::task_meta_grad(ctx, d, &mut ws.prox, g_theta, g_alpha);
    }
    inner_loop(ctx, d, ws);
    g_alpha.fill(T::zero());
    if ctx.spec.algorithm == Algorithm::Reptile {
        return reptile(ctx, d, ws, g_theta);
    }
    meta_backward(ctx, d, ws, g_theta, g_alpha)
}

/// The inner loop on the support set: `ws.thetas[0..=steps]`, each step's gradient in
/// `ws.grads`, and the forward and backward passes the meta-backward reads again (every step's
/// for second order, else the last).
fn inner_loop<T: Real>(ctx: &Ctx<T>, d: &TaskData<T>, ws: &mut Workspace<T>) {
    let arch = ctx.arch;
    let spec = ctx.spec;
    let np = arch.n_params();
    let steps = spec.steps;
    let second = spec.second_order();
    let stop = if second { 0 } else { ctx.first };
    ws.thetas.resize_with(steps + 1, Vec::new);
    ws.grads.resize_with(steps, || vec![T::zero(); np]);
    let keep = if second { steps } else { 1 };
    ws.fwds.resize_with(keep, Fwd::default);
    ws.bwds.resize_with(keep, Bwd::default);
    ws.thetas[0].clear();
    ws.thetas[0].extend_from_slice(&ctx.theta);
    for s in 0..steps {
        let slot = if second { s } else { 0 };
        let from = if s == 0 || second { 0 } else { ctx.first };
        forward(arch, &ws.thetas[s], &d.sx, d.k, &mut ws.fwds[slot], from);
        let g = &mut ws.grads[s];
        g.resize(np, T::zero());
        backward(
            arch,
            &ws.thetas[s],
            &ws.fwds[slot],
            d.st(),
            g,
            stop,
            &mut ws.bwds[slot],
        );
        // theta_{s+1} = theta_s - alpha_s (.) clamp(g_s) on the adapted ranges, theta_s elsewhere.
        let (lo, hi) = ws.thetas.split_at_mut(s + 1);
        let (prev, next) = (&lo[s], &mut hi[0]);
        next.resize(np, T::zero());
        for r in gaps(&ctx.ranges, np) {
            next[r.clone()].copy_from_slice(&prev[r]);
        }
        let al = &ctx.alphas[s];
        for r in &ctx.ranges {
            for (((n, p), a), gi) in next[r.clone()]
                .iter_mut()
                .zip(&prev[r.clone()])
                .zip(&al[r.clone()])
                .zip(&g[r.clone()])
            {
                *n = *p - *a * clamp(*gi, ctx.clip);
            }
        }
    }
}

/// The Reptile direction `theta_0 - theta_S` into `g_theta`, and the query loss for logging.
fn reptile<T: Real>(
    ctx: &Ctx<T>,
    d: &TaskData<T>,
    ws: &mut Workspace<T>,
    g_theta: &mut [T],
) -> TaskLoss<T> {
    let (arch, steps) = (ctx.arch, ctx.spec.steps);
    forward(arch, &ws.thetas[steps], &d.qx, d.q, &mut ws.fq, 0);
    let lq = crate::net::loss_and_dy(
        arch.head,
        &ws.fq.ys[arch.layers.len()],
        arch.outputs(),
        d.qt(),
        &mut ws.gq,
    );
    for ((o, a), b) in g_theta.iter_mut().zip(&ws.thetas[0]).zip(&ws.thetas[steps]) {
        *o = *a - *b;
    }
    TaskLoss {
        loss: lq,
        final_loss: lq,
    }
}

/// The meta-gradient from the last step back to theta_0: the weighted query losses' gradients
/// carried through every step's update (with the Hessian-vector products of second order)
/// into `g_theta`, the rates' gradients into `g_alpha`.
fn meta_backward<T: Real>(
    ctx: &Ctx<T>,
    d: &TaskData<T>,
    ws: &mut Workspace<T>,
    g_theta: &mut [T],
    g_alpha: &mut [T],
) -> TaskLoss<T> {
    let (arch, spec) = (ctx.arch, ctx.spec);
    let (np, steps) = (arch.n_params(), spec.steps);
    let weight = |s: usize| {
        T::from_f64(
            spec.step_weights
                .get(s.wrapping_sub(1))
                .copied()
                .unwrap_or(0.0),
        )
    };
    // `v` is first written (not added to) at the last step, below.
    let v = g_theta;
    let mut loss = T::zero();
    let mut final_loss = T::zero();
    ws.gq.resize(np, T::zero());
    for s in (0..=steps).rev() {
        if s < steps {
            step_adjoint(ctx, d, ws, s, v, g_alpha);
        }
        let w = weight(s);
        if w != T::zero() || s == steps {
            forward(arch, &ws.thetas[s], &d.qx, d.q, &mut ws.fq, 0);
            let lq = backward(
                arch,
                &ws.thetas[s],
                &ws.fq,
                d.qt(),
                &mut ws.gq,
                0,
                &mut ws.bq,
            );
            if s == steps {
                final_loss = lq;
            }
            loss += w * lq;
            if s == steps {
                for (vi, gi) in v.iter_mut().zip(&ws.gq) {
                    *vi = w * *gi;
                }
            } else {
                for (vi, gi) in v.iter_mut().zip(&ws.gq) {
                    *vi += w * *gi;
                }
            }
        }
    }
    TaskLoss { loss, final_loss }
}

/// The adjoint `v` carried back through `theta_{s+1} = theta_s - alpha_s (.) clamp(g_s)`:
/// the rates' gradient of row `s` into `g_alpha`, and `v` minus the Hessian-vector product
/// at step `s` under second order.
fn step_adjoint<T: Real>(
    ctx: &Ctx<T>,
    d: &TaskData<T>,
    ws: &mut Workspace<T>,
    s: usize,
    v: &mut [T],
    g_alpha: &mut [T],
) {
    let (arch, np, second) = (ctx.arch, ctx.arch.n_params(), ctx.spec.second_order());
    let g = &ws.grads[s];
    let al = &ctx.alphas[s];
    // Every entry is written: zeros outside the adapted ranges, the adjoint inside.
    zero_outside(&mut ws.a, np, &ctx.ranges);
    let row = if ctx.rate_rows > 0 {
        Some(s.min(ctx.rate_rows - 1))
    } else {
        None
    };
    let clip = ctx.clip;
    for r in &ctx.ranges {
        let (gr, vr, ar) = (&g[r.clone()], &v[r.clone()], &al[r.clone()]);
        if let Some(row) = row {
            let ga_row = &mut g_alpha[row * np..(row + 1) * np];
            for ((ga, gi), vi) in ga_row[r.clone()].iter_mut().zip(gr).zip(vr) {
                *ga -= clamp(*gi, clip) * *vi;
            }
        }
        for (((o, gi), vi), ai) in ws.a[r.clone()].iter_mut().zip(gr).zip(vr).zip(ar) {
            // The clamp's derivative: 1 strictly inside the clip, else 0.
            let keep = if gi.abs() < clip { T::one() } else { T::zero() };
            *o = *ai * *vi * keep;
        }
    }
    if second {
        ws.h.resize(np, T::zero());
        hvp(
            arch,
            &ws.thetas[s],
            &ws.a,
            ctx.first,
            &ws.fwds[s],
            &ws.bwds[s],
            d.st(),
            &mut ws.h,
            &mut ws.rs,
        );
        for (vi, hi) in v.iter_mut().zip(&ws.h) {
            *vi -= *hi;
        }
    }
}

/// Mean meta-loss and meta-gradient (wrt theta and u) over a batch of tasks, in f64 sums.
/// Tasks run in parallel (rayon) and are reduced in a fixed order, so results are deterministic.
pub struct BatchGrad {
    pub loss: f64,
    pub final_loss: f64,
    pub g_theta: Vec<f64>,
    pub g_u: Vec<f64>,
}

pub fn batch_meta_grad<T: Real>(
    arch: &Arch,
    spec: &MetaSpec,
    theta: &[f64],
    u: &[f64],
    tasks: &[TaskData<T>],
    parallel: bool,
) -> BatchGrad {
    batch_meta_grad_in(
        &mut BatchWorkspace::default(),
        arch,
        spec,
        (theta, u),
        tasks,
        parallel,
    )
}

/// What [`batch_meta_grad_in`] keeps from one call to the next, so that a training loop does
/// not allocate (and zero) its buffers again every iteration: one task workspace per chunk of
/// tasks, and the per-task outputs, reduced in task order.
#[derive(Default)]
pub struct BatchWorkspace<T: Real> {
    tasks: Vec<Workspace<T>>,
    /// Each task's gradient wrt theta (`tasks x n_params`).
    theta: Vec<T>,
    /// Each task's gradient wrt the rate tables (`tasks x max(1, rate_rows x n_params)`).
    rates: Vec<T>,
    losses: Vec<TaskLoss<T>>,
}

/// [`batch_meta_grad`] in the buffers of `bw`.
pub fn batch_meta_grad_in<T: Real>(
    bw: &mut BatchWorkspace<T>,
    arch: &Arch,
    spec: &MetaSpec,
    (theta, u): (&[f64], &[f64]),
    tasks: &[TaskData<T>],
    parallel: bool,
) -> BatchGrad {
    use rayon::prelude::*;
    let ctx = Ctx::<T>::new(arch, spec, theta, u);
    let n = tasks.len().max(1) as f64;
    let np = arch.n_params();
    let nt = tasks.len();
    // Per-task outputs in one buffer (no per-task allocation), reduced below in task order, so
    // the result does not depend on the thread count or scheduling. Every task writes all of
    // its slice, so stale values from the previous call are never read.
    let ra = ctx.rate_rows * np;
    let ra1 = ra.max(1);
    bw.theta.resize(nt * np, T::zero());
    bw.rates.resize(nt * ra1, T::zero());
    bw.losses.resize(nt, TaskLoss::default());
    let (buf_t, buf_a, losses) = (&mut bw.theta, &mut bw.rates, &mut bw.losses);
    let one = |ws: &mut Workspace<T>,
               d: &TaskData<T>,
               bt: &mut [T],
               ba: &mut [T],
               l: &mut TaskLoss<T>| {
        *l = task_meta_grad(&ctx, d, ws, bt, &mut ba[..ra]);
    };
    let wss = &mut bw.tasks;
    if parallel && nt > 1 {
        // One workspace per chunk (a few chunks per thread for balance), not per task.
        let chunk = nt.div_ceil(2 * rayon::current_num_threads()).max(1);
        wss.resize_with(nt.div_ceil(chunk), Workspace::default);
        tasks
            .par_chunks(chunk)
            .zip(buf_t.par_chunks_mut(chunk * np))
            .zip(buf_a.par_chunks_mut(chunk * ra1))
            .zip(losses.par_chunks_mut(chunk))
            .zip(wss.par_iter_mut())
            .for_each(|((((tc, bt), ba), lc), ws)| {
                for (i, d) in tc.iter().enumerate() {
                    one(
                        ws,
                        d,
                        &mut bt[i * np..(i + 1) * np],
                        &mut ba[i * ra1..(i + 1) * ra1],
                        &mut lc[i],
                    );
                }
            });
    } else {
        wss.resize_with(1, Workspace::default);
        let ws = &mut wss[0];
        for (i, d) in tasks.iter().enumerate() {
            one(
                ws,
                d,
                &mut buf_t[i * np..(i + 1) * np],
                &mut buf_a[i * ra1..(i + 1) * ra1],
                &mut losses[i],
            );
        }
    }
    let mut g_theta = vec![0.0; np];
    let mut g_alpha = vec![vec![0.0; np]; ctx.rate_rows];
    let (mut loss, mut final_loss) = (0.0, 0.0);
    for i in 0..nt {
        loss += Real::to_f64(losses[i].loss);
        final_loss += Real::to_f64(losses[i].final_loss);
        for (a, b) in g_theta.iter_mut().zip(&buf_t[i * np..(i + 1) * np]) {
            *a += Real::to_f64(*b);
        }
        for (r, ga) in g_alpha.iter_mut().enumerate() {
            let off = i * ra1 + r * np;
            for (a, b) in ga.iter_mut().zip(&buf_a[off..off + np]) {
                *a += Real::to_f64(*b);
            }
        }
    }
    let (loss, final_loss) = (loss / n, final_loss / n);
    for x in g_theta.iter_mut().chain(g_alpha.iter_mut().flatten()) {
        *x /= n;
    }
    let g_u = rate_param_grad(arch, spec, u, &g_alpha);
    BatchGrad {
        loss,
        final_loss,
        g_theta,
        g_u,
    }
}

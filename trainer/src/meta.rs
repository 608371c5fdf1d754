//! Meta-learning algorithms: exact second-order MAML (Hessian-vector products through every inner
//! step), first-order MAML, Reptile, Meta-SGD (learned per-parameter rates), MAML++ per-layer
//! per-step rates, and ANIL. All share one inner loop with the runtime's semantics:
//! `theta <- theta - alpha (.) clamp(grad, -clip, clip)` on the adapted parameters only.

#![allow(clippy::needless_range_loop)] // index loops mirror the maths

use crate::net::{backward, forward, hvp, Arch, Bwd, Fwd, RScratch, Targets};
use crate::real::Real;
use crate::tasks::Task;
use serde::{Deserialize, Serialize};
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Second-order MAML, fixed scalar rate.
    Maml,
    /// First-order MAML.
    Fomaml,
    /// Reptile: meta-gradient = theta_0 - theta_S.
    Reptile,
    /// Learned per-parameter rates alpha = alpha_max * sigmoid(u) (second-order).
    MetaSgd,
    /// Learned per-layer, per-step rates (MAML++; second-order).
    MamlPp,
    /// Almost No Inner Loop: second-order MAML adapting the head only.
    Anil,
}

impl Algorithm {
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Maml,
        Algorithm::Fomaml,
        Algorithm::Reptile,
        Algorithm::MetaSgd,
        Algorithm::MamlPp,
        Algorithm::Anil,
    ];
    pub fn rates(self) -> RateKind {
        match self {
            Algorithm::MetaSgd => RateKind::PerParameter,
            Algorithm::MamlPp => RateKind::PerLayerPerStep,
            _ => RateKind::Scalar,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Maml => "maml",
            Algorithm::Fomaml => "fomaml",
            Algorithm::Reptile => "reptile",
            Algorithm::MetaSgd => "meta_sgd",
            Algorithm::MamlPp => "maml_pp",
            Algorithm::Anil => "anil",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    HeadOnly,
    HeadAndLastTrunk(usize),
    BiasesOnly,
    Everything,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateKind {
    Scalar,
    PerLayerPerStep,
    PerParameter,
}

/// Everything that defines the meta-objective (not the outer optimiser).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaSpec {
    pub algorithm: Algorithm,
    pub scope: Scope,
    /// Inner steps during meta-training (= the device's step count for learned rates).
    pub steps: usize,
    /// Scalar rate, and the initial value of learned rates.
    pub alpha: f64,
    /// Upper bound of learned rates.
    pub alpha_max: f64,
    pub clip: f64,
    /// Weight of the query loss after each step `1..=steps` (index 0 = after step 1).
    pub step_weights: Vec<f64>,
    /// Drop the Hessian terms even for second-order algorithms.
    pub first_order: bool,
}

impl MetaSpec {
    pub fn effective_scope(&self) -> Scope {
        if self.algorithm == Algorithm::Anil {
            Scope::HeadOnly
        } else {
            self.scope
        }
    }
    pub fn second_order(&self) -> bool {
        !self.first_order && !matches!(self.algorithm, Algorithm::Fomaml | Algorithm::Reptile)
    }
}

/// The adapted layers in chain order, with whether their weight matrix adapts (the bias always does).
pub fn adapted_layers(arch: &Arch, scope: Scope) -> Vec<(usize, bool)> {
    let nl = arch.layers.len();
    match scope {
        Scope::HeadOnly => (arch.n_trunk..nl).map(|l| (l, true)).collect(),
        Scope::HeadAndLastTrunk(k) => (arch.n_trunk.saturating_sub(k)..nl)
            .map(|l| (l, true))
            .collect(),
        Scope::BiasesOnly => (0..nl).map(|l| (l, false)).collect(),
        Scope::Everything => (0..nl).map(|l| (l, true)).collect(),
    }
}

/// Ranges of the flat parameter vector that adapt, in the runtime's Meta-SGD layout order.
pub fn adapted_ranges(arch: &Arch, scope: Scope) -> Vec<Range<usize>> {
    let mut r = Vec::new();
    for (l, w) in adapted_layers(arch, scope) {
        if w {
            r.push(arch.w_off(l)..arch.b_off(l));
        }
        r.push(arch.b_off(l)..arch.b_off(l) + arch.layers[l].outputs);
    }
    r
}

pub fn n_adapted(arch: &Arch, scope: Scope) -> usize {
    adapted_ranges(arch, scope).iter().map(|r| r.len()).sum()
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Number of learned rate parameters `u` for this spec.
pub fn n_rate_params(arch: &Arch, spec: &MetaSpec) -> usize {
    let scope = spec.effective_scope();
    match spec.algorithm.rates() {
        RateKind::Scalar => 0,
        RateKind::PerParameter => n_adapted(arch, scope),
        RateKind::PerLayerPerStep => spec.steps * adapted_layers(arch, scope).len() * 2,
    }
}

/// Initial rate parameters: every alpha starts at `spec.alpha`.
pub fn init_rates(arch: &Arch, spec: &MetaSpec) -> Vec<f64> {
    let u0 = logit((spec.alpha / spec.alpha_max).clamp(1e-6, 1.0 - 1e-6));
    vec![u0; n_rate_params(arch, spec)]
}

/// The rates in the runtime's shapes.
#[derive(Clone, Debug, PartialEq)]
pub enum Rates {
    Scalar(f64),
    /// `[steps][adapted layer][weight, bias]`
    PerLayerPerStep(Vec<Vec<[f64; 2]>>),
    /// One per adapted parameter, layout of `adapted_ranges`.
    PerParameter(Vec<f64>),
}

pub fn rates(arch: &Arch, spec: &MetaSpec, u: &[f64]) -> Rates {
    let a = |x: f64| spec.alpha_max * sigmoid(x);
    match spec.algorithm.rates() {
        RateKind::Scalar => Rates::Scalar(spec.alpha),
        RateKind::PerParameter => Rates::PerParameter(u.iter().map(|&x| a(x)).collect()),
        RateKind::PerLayerPerStep => {
            let nla = adapted_layers(arch, spec.effective_scope()).len();
            Rates::PerLayerPerStep(
                (0..spec.steps)
                    .map(|s| {
                        (0..nla)
                            .map(|l| [a(u[(s * nla + l) * 2]), a(u[(s * nla + l) * 2 + 1])])
                            .collect()
                    })
                    .collect(),
            )
        }
    }
}

/// Full-length per-parameter alpha vector for inner step `s` (zero outside the adapted set).
pub fn alpha_vector<T: Real>(arch: &Arch, scope: Scope, rates: &Rates, s: usize) -> Vec<T> {
    let mut out = vec![T::zero(); arch.n_params()];
    match rates {
        Rates::Scalar(a) => {
            for r in adapted_ranges(arch, scope) {
                out[r].fill(T::from_f64(*a));
            }
        }
        Rates::PerParameter(v) => {
            let mut i = 0;
            for r in adapted_ranges(arch, scope) {
                for o in &mut out[r] {
                    *o = T::from_f64(v[i]);
                    i += 1;
                }
            }
        }
        Rates::PerLayerPerStep(t) => {
            let row = &t[s.min(t.len().saturating_sub(1))];
            for (j, (l, w)) in adapted_layers(arch, scope).into_iter().enumerate() {
                if w {
                    out[arch.w_off(l)..arch.b_off(l)].fill(T::from_f64(row[j][0]));
                }
                let b = arch.b_off(l);
                out[b..b + arch.layers[l].outputs].fill(T::from_f64(row[j][1]));
            }
        }
    }
    out
}

/// A task converted to the compute type and normalised.
#[derive(Clone, Debug)]
pub struct TaskData<T> {
    pub k: usize,
    pub q: usize,
    pub sx: Vec<T>,
    pub sy: Vec<T>,
    pub qx: Vec<T>,
    pub qy: Vec<T>,
}

impl<T: Real> TaskData<T> {
    pub fn new(arch: &Arch, t: &Task) -> Self {
        TaskData {
            k: t.k(),
            q: t.q(),
            sx: arch.normalise(&t.support_x),
            sy: t.support_y.iter().map(|&v| T::from_f64(v)).collect(),
            qx: arch.normalise(&t.query_x),
            qy: t.query_y.iter().map(|&v| T::from_f64(v)).collect(),
        }
    }
}

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
pub struct Workspace<T> {
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
pub fn task_meta_grad<T: Real>(
    ctx: &Ctx<T>,
    d: &TaskData<T>,
    ws: &mut Workspace<T>,
    g_theta: &mut [T],
    g_alpha: &mut [T],
) -> TaskLoss<T> {
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
    // Inner loop on the support set.
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
            Targets::Reg(&d.sy),
            g,
            stop,
            &mut ws.bwds[slot],
        );
        let (lo, hi) = ws.thetas.split_at_mut(s + 1);
        let next = &mut hi[0];
        next.clear();
        next.extend_from_slice(&lo[s]);
        let al = &ctx.alphas[s];
        for r in &ctx.ranges {
            for ((n, a), gi) in next[r.clone()]
                .iter_mut()
                .zip(&al[r.clone()])
                .zip(&g[r.clone()])
            {
                *n -= *a * clamp(*gi, ctx.clip);
            }
        }
    }
    g_alpha.fill(T::zero());
    if spec.algorithm == Algorithm::Reptile {
        // The Reptile direction: theta_0 - theta_S, plus the query loss for logging.
        forward(arch, &ws.thetas[steps], &d.qx, d.q, &mut ws.fq, 0);
        let lq = crate::net::loss_and_dy(
            arch.head,
            &ws.fq.ys[arch.layers.len()],
            arch.outputs(),
            Targets::Reg(&d.qy),
            &mut ws.gq,
        );
        for ((o, a), b) in g_theta.iter_mut().zip(&ws.thetas[0]).zip(&ws.thetas[steps]) {
            *o = *a - *b;
        }
        return TaskLoss {
            loss: lq,
            final_loss: lq,
        };
    }
    // Meta-backward.
    let weight = |s: usize| {
        T::from_f64(
            spec.step_weights
                .get(s.wrapping_sub(1))
                .copied()
                .unwrap_or(0.0),
        )
    };
    let v = g_theta;
    v.fill(T::zero());
    let mut loss = T::zero();
    let mut final_loss = T::zero();
    ws.gq.resize(np, T::zero());
    for s in (0..=steps).rev() {
        if s < steps {
            // Adjoint through theta_{s+1} = theta_s - alpha_s (.) clamp(g_s).
            let g = &ws.grads[s];
            let al = &ctx.alphas[s];
            ws.a.clear();
            ws.a.resize(np, T::zero());
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
                    Targets::Reg(&d.sy),
                    &mut ws.h,
                    &mut ws.rs,
                );
                for (vi, hi) in v.iter_mut().zip(&ws.h) {
                    *vi -= *hi;
                }
            }
        }
        let w = weight(s);
        if w != T::zero() || s == steps {
            forward(arch, &ws.thetas[s], &d.qx, d.q, &mut ws.fq, 0);
            let lq = backward(
                arch,
                &ws.thetas[s],
                &ws.fq,
                Targets::Reg(&d.qy),
                &mut ws.gq,
                0,
                &mut ws.bq,
            );
            if s == steps {
                final_loss = lq;
            }
            loss += w * lq;
            for (vi, gi) in v.iter_mut().zip(&ws.gq) {
                *vi += w * *gi;
            }
        }
    }
    TaskLoss { loss, final_loss }
}

/// Chain the alpha-table gradients (summed over tasks) into gradients of the rate parameters `u`.
pub fn rate_param_grad(arch: &Arch, spec: &MetaSpec, u: &[f64], g_alpha: &[Vec<f64>]) -> Vec<f64> {
    let scope = spec.effective_scope();
    let dsig = |x: f64| spec.alpha_max * sigmoid(x) * (1.0 - sigmoid(x));
    let mut gu = vec![0.0; u.len()];
    match spec.algorithm.rates() {
        RateKind::Scalar => {}
        RateKind::PerParameter => {
            let mut j = 0;
            for r in adapted_ranges(arch, scope) {
                for i in r {
                    gu[j] = g_alpha[0][i] * dsig(u[j]);
                    j += 1;
                }
            }
        }
        RateKind::PerLayerPerStep => {
            let layers = adapted_layers(arch, scope);
            let nla = layers.len();
            for (s, ga) in g_alpha.iter().enumerate() {
                for (j, &(l, w)) in layers.iter().enumerate() {
                    let (wo, bo) = (arch.w_off(l), arch.b_off(l));
                    let iw = (s * nla + j) * 2;
                    if w {
                        gu[iw] = ga[wo..bo].iter().sum::<f64>() * dsig(u[iw]);
                    }
                    gu[iw + 1] =
                        ga[bo..bo + arch.layers[l].outputs].iter().sum::<f64>() * dsig(u[iw + 1]);
                }
            }
        }
    }
    gu
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
    use rayon::prelude::*;
    let ctx = Ctx::<T>::new(arch, spec, theta, u);
    let n = tasks.len().max(1) as f64;
    let np = arch.n_params();
    let nt = tasks.len();
    // Per-task outputs in one buffer (no per-task allocation), reduced below in task order, so
    // the result does not depend on the thread count or scheduling.
    let ra = ctx.rate_rows * np;
    let ra1 = ra.max(1);
    let mut buf_t = vec![T::zero(); nt * np];
    let mut buf_a = vec![T::zero(); nt * ra1];
    let mut losses = vec![TaskLoss::default(); nt];
    let one = |ws: &mut Workspace<T>,
               d: &TaskData<T>,
               bt: &mut [T],
               ba: &mut [T],
               l: &mut TaskLoss<T>| {
        *l = task_meta_grad(&ctx, d, ws, bt, &mut ba[..ra]);
    };
    if parallel && nt > 1 {
        // One workspace per chunk (a few chunks per thread for balance), not per task.
        let chunk = nt.div_ceil(2 * rayon::current_num_threads()).max(1);
        tasks
            .par_chunks(chunk)
            .zip(buf_t.par_chunks_mut(chunk * np))
            .zip(buf_a.par_chunks_mut(chunk * ra1))
            .zip(losses.par_chunks_mut(chunk))
            .for_each(|(((tc, bt), ba), lc)| {
                let mut ws = Workspace::default();
                for (i, d) in tc.iter().enumerate() {
                    one(
                        &mut ws,
                        d,
                        &mut bt[i * np..(i + 1) * np],
                        &mut ba[i * ra1..(i + 1) * ra1],
                        &mut lc[i],
                    );
                }
            });
    } else {
        let mut ws = Workspace::default();
        for (i, d) in tasks.iter().enumerate() {
            one(
                &mut ws,
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

/// The inner-loop trajectory theta_0..theta_S on the support set (as the meta-objective uses it).
pub fn inner_loop<T: Real>(ctx: &Ctx<T>, d: &TaskData<T>) -> Vec<Vec<T>> {
    let arch = ctx.arch;
    let np = arch.n_params();
    let mut fwd = Fwd::default();
    let mut bwd = Bwd::default();
    let mut g = vec![T::zero(); np];
    let mut out = vec![ctx.theta.clone()];
    for s in 0..ctx.spec.steps {
        let from = if s == 0 { 0 } else { ctx.first };
        let cur = &out[s];
        forward(arch, cur, &d.sx, d.k, &mut fwd, from);
        backward(
            arch,
            cur,
            &fwd,
            Targets::Reg(&d.sy),
            &mut g,
            ctx.first,
            &mut bwd,
        );
        let mut next = cur.clone();
        for r in &ctx.ranges {
            for i in r.clone() {
                next[i] -= ctx.alphas[s][i] * clamp(g[i], ctx.clip);
            }
        }
        out.push(next);
    }
    out
}

/// Mean squared error on a batch (rows x outputs).
pub fn batch_loss<T: Real>(arch: &Arch, p: &[T], x: &[T], y: &[T], k: usize) -> T {
    let mut fwd = Fwd::default();
    forward(arch, p, x, k, &mut fwd, 0);
    let mut gy = Vec::new();
    crate::net::loss_and_dy(
        arch.head,
        &fwd.ys[arch.layers.len()],
        arch.outputs(),
        Targets::Reg(y),
        &mut gy,
    )
}

pub fn query_loss<T: Real>(arch: &Arch, p: &[T], d: &TaskData<T>) -> T {
    batch_loss(arch, p, &d.qx, &d.qy, d.q)
}

pub fn support_loss<T: Real>(arch: &Arch, p: &[T], d: &TaskData<T>) -> T {
    batch_loss(arch, p, &d.sx, &d.sy, d.k)
}

/// `clamp(g, -c, c)` with plain comparisons (vectorises, unlike `max`/`min` with their NaN
/// rules; a NaN gradient stays NaN and is caught by the outer loop's finiteness check).
#[inline(always)]
pub fn clamp<T: Real>(g: T, c: T) -> T {
    if g > c {
        c
    } else if g < -c {
        -c
    } else {
        g
    }
}

//! The proximal (implicit) inner step on a linear regression head, solved in closed form, and its
//! exact meta-gradient.
//!
//! Only the head adapts, and it is one dense identity layer under the MSE loss
//! `L = (1/(K m)) sum_ij (f_ij - y_ij)^2`. The support features `Phi` (`K x H`, the head's inputs)
//! therefore stay fixed, and each output `j` is a least-squares problem in its row
//! `w = (W_j, b_j)` with the features `Phi~ = [Phi 1]`. With `D` the diagonal of the row's
//! learned rates, the implicit step `w' = w - D (.) grad L(w')` is
//! `w' = w + D Phi~^T a`, `M a = r`, `M = c I + Phi~ D Phi~^T` (`K x K`, SPD), `c = K m / 2`,
//! `r = y_j - Phi~ w`. Later steps reuse `M`: `r_{s+1} = c a_s`, so after `S` steps
//! `w_S = w + D Phi~^T A` with `A = sum_s a_s`.
//!
//! The meta-gradient follows the solves backwards. With `g = dLq/dw_S`, `u = D g`, `z = Phi~ u`,
//! `beta_{S-1} = M^-1 z` and `beta_s = M^-1 (z + c beta_{s+1})`:
//! `grad_w = g - Phi~^T beta_0`,
//! `grad_D = g (.) Phi~^T A - sum_s (Phi~^T beta_s) (.) (Phi~^T a_s)`,
//! `grad_Phi~ = A u^T - beta_0 w^T - sum_s [beta_s (D Phi~^T a_s)^T + a_s (D Phi~^T beta_s)^T]`,
//! summed over the outputs; `grad_Phi` then flows through the trunk on the support pass, and the
//! query loss reaches the trunk through the query pass with the adapted head.

#![allow(clippy::needless_range_loop)] // index loops mirror the maths

use super::{Ctx, MetaSpec, TaskData, TaskLoss};
use crate::net::{backward, backward_below, forward, Activation, Arch, Bwd, Fwd, HeadKind};
use crate::real::Real;
use nalgebra::{Cholesky, DMatrix, DVectorViewMut, Dyn};

/// Reusable buffers for one task's implicit steps and their meta-gradient.
#[derive(Default)]
pub struct Scratch<T: Real> {
    /// Support forward pass (its head inputs are `Phi`).
    fs: Fwd<T>,
    bs: Bwd<T>,
    fq: Fwd<T>,
    bq: Bwd<T>,
    /// Adapted parameters.
    theta: Vec<T>,
    /// Query-loss gradient at the adapted parameters.
    gq: Vec<T>,
    /// Per output: nalgebra's Cholesky factor of `M` (`K x K`; its storage is reused by the next
    /// task), and `a_0..a_{S-1}` (`S x K`).
    chol: Vec<Option<Cholesky<T::Field, Dyn>>>,
    a: Vec<T>,
    /// The right-hand side of one solve.
    rhs: Vec<T::Field>,
    /// One output at a time: `beta_0..beta_{S-1}` (`S x K`), `A` and `z` (`K`), then
    /// `Phi~^T a_s`, `Phi~^T beta_s` and `Phi~^T A` (`H + 1`).
    beta: Vec<T>,
    sum_a: Vec<T>,
    z: Vec<T>,
    pa: Vec<T>,
    pb: Vec<T>,
    p_sum: Vec<T>,
    /// dLq/dPhi of the support features, `K x H`.
    gphi: Vec<T>,
}

/// Why the proximal rule cannot train this network and spec, as (`meta` key, message): it needs a
/// head of one dense identity layer under the MSE loss (it solves the step exactly), its exact
/// meta-gradient, and the query loss after the last step only.
pub fn unsupported(arch: &Arch, spec: &MetaSpec) -> Option<(&'static str, String)> {
    let head = &arch.layers[arch.n_trunk.min(arch.layers.len())..];
    let linear = matches!(head, [l] if l.act == Activation::Identity);
    let last = spec.steps.saturating_sub(1);
    if !linear || arch.head != HeadKind::Regression {
        Some((
            "algorithm",
            "proximal needs a regression head of one linear (identity) layer".into(),
        ))
    } else if spec.first_order {
        Some((
            "first_order",
            "proximal has an exact meta-gradient only: set first_order = false".into(),
        ))
    } else if spec.step_weights.iter().take(last).any(|&w| w != 0.0) {
        Some((
            "step_weights",
            "proximal weighs the query loss after the last step only".into(),
        ))
    } else {
        None
    }
}

/// The head's shape: layer index, inputs `H`, outputs `m`, and its weight and bias offsets.
struct Head {
    l: usize,
    h: usize,
    m: usize,
    w: usize,
    b: usize,
}

impl Head {
    fn of(arch: &Arch) -> Self {
        let l = arch.layers.len() - 1;
        Head {
            l,
            h: arch.layers[l].inputs,
            m: arch.layers[l].outputs,
            w: arch.w_off(l),
            b: arch.b_off(l),
        }
    }
}

/// `out = Phi~^T v` (`H + 1` values: `Phi^T v`, then the sum of `v`).
fn phi_t<T: Real>(phi: &[T], h: usize, v: &[T], out: &mut [T]) {
    out.fill(T::zero());
    for (row, &vi) in phi.chunks_exact(h).zip(v) {
        for (o, &x) in out[..h].iter_mut().zip(row) {
            *o += x * vi;
        }
    }
    out[h] = v.iter().copied().sum();
}

/// `M = c I + Phi~ D Phi~^T` of one output (rates `dw`, `db`) factored by nalgebra, in the
/// storage of `old` (the previous task's factor) when it has the size. The exact pivots are at
/// least `c`; one that rounding leaves non-positive is replaced by `c`.
fn factor<T: Real>(
    old: Option<Cholesky<T::Field, Dyn>>,
    phi: &[T],
    (h, k): (usize, usize),
    (dw, db): (&[T], T),
    c: T,
) -> Option<Cholesky<T::Field, Dyn>> {
    let mut mm = match old.map(Cholesky::unpack_dirty) {
        Some(m) if m.shape() == (k, k) => m,
        _ => DMatrix::zeros(k, k),
    };
    for p in 0..k {
        let xp = &phi[p * h..(p + 1) * h];
        for q in 0..=p {
            let xq = &phi[q * h..(q + 1) * h];
            let mut s = db;
            for t in 0..h {
                s += xp[t] * dw[t] * xq[t];
            }
            mm[(p, q)] = if p == q { s + c } else { s }.to_field();
        }
    }
    Cholesky::new_with_substitute(mm, c.to_field())
}

/// Solves `M x = b` in place with the factor of [`factor`] (`rhs` is scratch); a factor nalgebra
/// refused (a NaN `c`) gives NaN, which the outer loop's finiteness check catches.
fn solve<T: Real>(chol: Option<&Cholesky<T::Field, Dyn>>, rhs: &mut Vec<T::Field>, b: &mut [T]) {
    rhs.clear();
    rhs.extend(b.iter().map(|x| x.to_field()));
    let Some(chol) = chol else {
        b.fill(T::nan());
        return;
    };
    let n = rhs.len();
    chol.solve_mut(&mut DVectorViewMut::from_slice(rhs, n));
    for (o, &x) in b.iter_mut().zip(rhs.iter()) {
        *o = T::from_field(x);
    }
}

/// Support forward pass, and per output the factor of `M` and `a_0..a_{S-1}`.
fn solve_steps<T: Real>(ctx: &Ctx<T>, d: &TaskData<T>, sc: &mut Scratch<T>) {
    let arch = ctx.arch;
    let hd = Head::of(arch);
    let (h, m, k, steps) = (hd.h, hd.m, d.k, ctx.spec.steps);
    let al = &ctx.alphas[0];
    forward(arch, &ctx.theta, &d.sx, k, &mut sc.fs, 0);
    let phi = &sc.fs.ys[hd.l];
    let f = &sc.fs.ys[hd.l + 1];
    let c = T::from_f64((k * m) as f64 / 2.0);
    sc.chol.resize_with(m, || None);
    sc.a.resize(m * steps * k, T::zero());
    for j in 0..m {
        let rates = (&al[hd.w + j * h..hd.w + (j + 1) * h], al[hd.b + j]);
        sc.chol[j] = factor(sc.chol[j].take(), phi, (h, k), rates, c);
        let chol = sc.chol[j].as_ref();
        let aj = &mut sc.a[j * steps * k..(j + 1) * steps * k];
        for i in 0..k {
            aj[i] = d.sy[i * m + j] - f[i * m + j];
        }
        solve(chol, &mut sc.rhs, &mut aj[..k]);
        for s in 1..steps {
            let (prev, cur) = aj.split_at_mut(s * k);
            for (x, &p) in cur[..k].iter_mut().zip(&prev[(s - 1) * k..]) {
                *x = c * p;
            }
            solve(chol, &mut sc.rhs, &mut cur[..k]);
        }
    }
}

/// `sc.theta` = the parameters after `n <= S` implicit steps: `w + D Phi~^T (a_0 + .. + a_{n-1})`
/// per output row (needs [`solve_steps`]).
fn adapted<T: Real>(ctx: &Ctx<T>, sc: &mut Scratch<T>, n: usize) {
    let hd = Head::of(ctx.arch);
    let (h, k, steps) = (hd.h, sc.fs.k, ctx.spec.steps);
    let al = &ctx.alphas[0];
    sc.theta.clear();
    sc.theta.extend_from_slice(&ctx.theta);
    sc.sum_a.resize(k, T::zero());
    sc.p_sum.resize(h + 1, T::zero());
    for j in 0..hd.m {
        sc.sum_a.fill(T::zero());
        for a in sc.a[j * steps * k..].chunks_exact(k).take(n) {
            for (o, &x) in sc.sum_a.iter_mut().zip(a) {
                *o += x;
            }
        }
        phi_t(&sc.fs.ys[hd.l], h, &sc.sum_a, &mut sc.p_sum);
        let row = hd.w + j * h;
        for t in 0..h {
            sc.theta[row + t] += al[row + t] * sc.p_sum[t];
        }
        sc.theta[hd.b + j] += al[hd.b + j] * sc.p_sum[h];
    }
}

/// The trajectory theta_0..theta_S of the implicit steps on the support set.
pub fn inner_loop<T: Real>(ctx: &Ctx<T>, d: &TaskData<T>) -> Vec<Vec<T>> {
    let mut sc = Scratch::default();
    solve_steps(ctx, d, &mut sc);
    (0..=ctx.spec.steps)
        .map(|n| {
            adapted(ctx, &mut sc, n);
            sc.theta.clone()
        })
        .collect()
}

/// Implicit steps plus meta-gradient of one task (the query loss after the last step, weighted
/// by its step weight): writes the gradient wrt theta_0 into `g_theta` and wrt the rates into
/// `g_alpha` (`n_params`, zero outside the head).
pub fn task_meta_grad<T: Real>(
    ctx: &Ctx<T>,
    d: &TaskData<T>,
    sc: &mut Scratch<T>,
    g_theta: &mut [T],
    g_alpha: &mut [T],
) -> TaskLoss<T> {
    let arch = ctx.arch;
    let np = arch.n_params();
    let hd = Head::of(arch);
    let (h, m, k, steps) = (hd.h, hd.m, d.k, ctx.spec.steps);
    let al = &ctx.alphas[0];
    let c = T::from_f64((k * m) as f64 / 2.0);
    let weight = T::from_f64(ctx.spec.step_weights.get(steps - 1).copied().unwrap_or(0.0));
    solve_steps(ctx, d, sc);
    adapted(ctx, sc, steps);
    // Query pass with the adapted head: dLq/dtheta_S (the trunk is theta_0's).
    forward(arch, &sc.theta, &d.qx, d.q, &mut sc.fq, 0);
    sc.gq.resize(np, T::zero());
    let lq = backward(arch, &sc.theta, &sc.fq, d.qt(), &mut sc.gq, 0, &mut sc.bq);
    for x in sc.gq.iter_mut() {
        *x *= weight;
    }
    // Through the implicit steps, one output row at a time.
    g_alpha.fill(T::zero());
    let phi = &sc.fs.ys[hd.l];
    sc.gphi.clear();
    sc.gphi.resize(k * h, T::zero());
    sc.beta.resize(steps * k, T::zero());
    for v in [&mut sc.sum_a, &mut sc.z] {
        v.resize(k, T::zero());
    }
    for v in [&mut sc.pa, &mut sc.pb, &mut sc.p_sum] {
        v.resize(h + 1, T::zero());
    }
    for j in 0..m {
        let row = hd.w + j * h;
        let (dw, db) = (&al[row..row + h], al[hd.b + j]);
        let (gw, gb) = (&sc.gq[row..row + h], sc.gq[hd.b + j]);
        let w = &ctx.theta[row..row + h];
        let chol = sc.chol[j].as_ref();
        let aj = &sc.a[j * steps * k..(j + 1) * steps * k];
        // z = Phi~ D g, then the adjoints beta_s.
        let ub = db * gb;
        for i in 0..k {
            let x = &phi[i * h..(i + 1) * h];
            let mut s = ub;
            for t in 0..h {
                s += x[t] * dw[t] * gw[t];
            }
            sc.z[i] = s;
        }
        for s in (0..steps).rev() {
            let (cur, next) = sc.beta.split_at_mut((s + 1) * k);
            let b = &mut cur[s * k..];
            for i in 0..k {
                b[i] = if s + 1 < steps {
                    sc.z[i] + c * next[i]
                } else {
                    sc.z[i]
                };
            }
            solve(chol, &mut sc.rhs, b);
        }
        sc.sum_a.fill(T::zero());
        for a in aj.chunks_exact(k) {
            for (o, &x) in sc.sum_a.iter_mut().zip(a) {
                *o += x;
            }
        }
        phi_t(phi, h, &sc.sum_a, &mut sc.p_sum);
        // Direct terms: grad_D += g (.) Phi~^T A; grad_Phi += A u^T - beta_0 w^T.
        let ga = &mut g_alpha[row..row + h];
        for t in 0..h {
            ga[t] = gw[t] * sc.p_sum[t];
        }
        g_alpha[hd.b + j] = gb * sc.p_sum[h];
        let b0 = &sc.beta[..k];
        for i in 0..k {
            let gp = &mut sc.gphi[i * h..(i + 1) * h];
            let (ai, bi) = (sc.sum_a[i], b0[i]);
            for t in 0..h {
                gp[t] += ai * dw[t] * gw[t] - bi * w[t];
            }
        }
        // The solves: grad_D -= Phi~^T beta_s (.) Phi~^T a_s;
        // grad_Phi -= beta_s (D Phi~^T a_s)^T + a_s (D Phi~^T beta_s)^T.
        for s in 0..steps {
            let (a, b) = (&aj[s * k..(s + 1) * k], &sc.beta[s * k..(s + 1) * k]);
            phi_t(phi, h, a, &mut sc.pa);
            phi_t(phi, h, b, &mut sc.pb);
            let ga = &mut g_alpha[row..row + h];
            for t in 0..h {
                ga[t] -= sc.pb[t] * sc.pa[t];
            }
            g_alpha[hd.b + j] -= sc.pb[h] * sc.pa[h];
            for i in 0..k {
                let gp = &mut sc.gphi[i * h..(i + 1) * h];
                let (ai, bi) = (a[i], b[i]);
                for t in 0..h {
                    gp[t] -= dw[t] * (bi * sc.pa[t] + ai * sc.pb[t]);
                }
            }
            if s == 0 {
                // grad_w = g - Phi~^T beta_0.
                for t in 0..h {
                    g_theta[row + t] = gw[t] - sc.pb[t];
                }
                g_theta[hd.b + j] = gb - sc.pb[h];
            }
        }
    }
    // The trunk: the support features' gradient on the support pass plus the query pass's.
    if hd.l > 0 {
        sc.bs.gy.resize_with(arch.layers.len(), Vec::new);
        let gy = &mut sc.bs.gy[hd.l - 1];
        gy.clear();
        gy.extend_from_slice(&sc.gphi);
        backward_below(arch, &ctx.theta, &sc.fs, g_theta, 0, hd.l, &mut sc.bs);
        for (o, &q) in g_theta[..hd.w].iter_mut().zip(&sc.gq) {
            *o += q;
        }
    }
    TaskLoss {
        loss: weight * lq,
        final_loss: lq,
    }
}

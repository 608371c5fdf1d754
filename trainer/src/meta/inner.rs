//! The plain inner loop (the trajectory the meta-objective differentiates) and batch losses.

use super::{Algorithm, Ctx, TaskData};
use crate::net::{backward, forward, Arch, Bwd, Fwd, Targets};
use crate::real::Real;

/// The inner-loop trajectory theta_0..theta_S on the support set (as the meta-objective uses it;
/// the implicit steps for the proximal rule).
pub fn inner_loop<T: Real>(ctx: &Ctx<T>, d: &TaskData<T>) -> Vec<Vec<T>> {
    if ctx.spec.algorithm == Algorithm::Proximal {
        return super::proximal::inner_loop(ctx, d);
    }
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
        backward(arch, cur, &fwd, d.st(), &mut g, ctx.first, &mut bwd);
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

/// The head's loss (MSE or softmax cross-entropy) on a batch.
pub fn batch_loss_t<T: Real>(arch: &Arch, p: &[T], x: &[T], t: Targets<T>, k: usize) -> T {
    let mut fwd = Fwd::default();
    forward(arch, p, x, k, &mut fwd, 0);
    let mut gy = Vec::new();
    crate::net::loss_and_dy(
        arch.head,
        &fwd.ys[arch.layers.len()],
        arch.outputs(),
        t,
        &mut gy,
    )
}

pub fn query_loss<T: Real>(arch: &Arch, p: &[T], d: &TaskData<T>) -> T {
    batch_loss_t(arch, p, &d.qx, d.qt(), d.q)
}

pub fn support_loss<T: Real>(arch: &Arch, p: &[T], d: &TaskData<T>) -> T {
    batch_loss_t(arch, p, &d.sx, d.st(), d.k)
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

//! Proves, before the state changes, that no value of an adaptation can overflow f32.
//!
//! With every weight finite (checked at load), finite support values, step sizes `alpha` and the
//! elementwise clip `c`, each adapted weight moves by at most `steps * alpha_max * c`. Interval
//! bounds on the row sums (forward) and column sums (backward) of every adapted layer at its
//! worst over the whole run then bound every activation, the loss, every backpropagated delta and
//! every gradient. When any bound reaches [`LIMIT`], the call is refused with
//! [`Error::MayOverflow`] and nothing has changed: the state is exactly as before the call.

use super::inner::InnerLoop;
use super::params::layer;
use crate::math::{max, Rate};
use crate::ops::step::Slot;
use crate::{Activation, Error};

/// Largest bound accepted (far below `f32::MAX`, leaving room for the sums the kernels form).
pub const LIMIT: f32 = 1.0e30;

pub(crate) fn ok(v: f32) -> Result<f32, Error> {
    if v.is_finite() && v < LIMIT {
        Ok(v)
    } else {
        Err(Error::MayOverflow)
    }
}

/// Largest magnitude in `v`; infinite when any value is not finite (a NaN must not vanish in
/// the fold: `max(NaN, x)` is `x`).
fn max_abs(v: &[f32]) -> f32 {
    if v.iter().any(|x| !x.is_finite()) {
        return f32::INFINITY;
    }
    v.iter().fold(0.0f32, |m, x| max(m, x.abs()))
}

/// Max over rows of `sum_j |W_ij|`, and max over columns of `sum_i |W_ij|`.
///
/// Out of line: inlined into [`check_bounds`], whose loop over the layers keeps more values
/// live, the strided column loop spilled a register and cost one more instruction per weight.
#[inline(never)]
fn norms(w: &[f32], inputs: usize, outputs: usize) -> (f32, f32) {
    let rows = w
        .chunks_exact(inputs.max(1))
        .map(|r| r.iter().map(|v| v.abs()).sum::<f32>())
        .fold(0.0, max);
    let cols = (0..inputs)
        .map(|j| {
            w.iter()
                .skip(j)
                .step_by(inputs.max(1))
                .take(outputs)
                .map(|v| v.abs())
                .sum::<f32>()
        })
        .fold(0.0, max);
    (rows, cols)
}

fn max_rate(lp: &InnerLoop<'_>, slot: Slot, steps: u16) -> (f32, f32) {
    let mut mw = 0.0f32;
    let mut mb = 0.0f32;
    for step in 0..steps.max(1) {
        let (rw, rb): (Rate<'_>, Rate<'_>) =
            lp.spec
                .rate
                .layer_rates(lp.rates, lp.range.layers(), slot, step);
        mw = max(mw, rw.max());
        mb = max(mb, rb.max());
        if lp.spec.rate.same_every_step() {
            break;
        }
    }
    (mw, mb)
}

/// Refuses the call when the run could overflow; `acts` holds the inputs of the first adapted
/// layer already.
pub(crate) fn check_bounds(
    lp: &InnerLoop<'_>,
    params: &[f32],
    acts: &[f32],
    steps: u16,
) -> Result<(), Error> {
    let k = lp.geo.k as f32;
    let first_len = lp.geo.starts.get(1).copied().unwrap_or(0);
    let mut a = ok(max_abs(
        acts.get(..first_len)
            .ok_or(Error::internal("adapt::bound::check_bounds"))?,
    ))?;
    let c = lp.spec.clip;
    let s = f32::from(steps);
    let last = lp.geo.chain_len - 1;
    // Column-sum bounds of each adapted layer (for the backward pass) and input bounds.
    let mut cols: heapless::Vec<(f32, f32), { crate::format::spec::MAX_CHAIN }> =
        heapless::Vec::new();
    for index in lp.range.first..lp.geo.chain_len {
        let position = index - lp.range.first;
        let (w, b, spec) = layer(lp.model, lp.head, &lp.range, params, index)?;
        let (ni, no) = (usize::from(spec.inputs), usize::from(spec.outputs));
        let (w_at, b_at) = crate::infer::state_offsets(lp.model, lp.head, &lp.range, index)?;
        let (mut rows, mut colsum) = norms(w, ni, no);
        let mut bias = max_abs(b);
        if index == last {
            if let Some(scale) = lp.spec.prototype_scale {
                // Prototype rows: 2 s mu with |mu_j| <= a; bias: s |mu|^2.
                rows = ok(2.0 * scale * ni as f32 * a)?;
                colsum = ok(2.0 * scale * no as f32 * a)?;
                bias = ok(scale * ni as f32 * a * a)?;
            }
        }
        let slot = Slot {
            position,
            w_at,
            b_at,
            nw: w.len(),
            nb: no,
        };
        let (lw, lb) = max_rate(lp, slot, steps);
        let dw = if w_at.is_some() { ok(s * lw * c)? } else { 0.0 };
        let db = ok(s * lb * c)?;
        let rows = ok(rows + ni as f32 * dw)?;
        let colsum = ok(colsum + no as f32 * dw)?;
        let bias = ok(bias + db)?;
        let z = ok(rows * a + bias)?;
        cols.push((colsum, a))
            .map_err(|_| Error::internal("adapt::bound::check_bounds"))?;
        a = match spec.activation {
            Activation::Identity | Activation::Relu => z,
            Activation::Tanh | Activation::Sigmoid => 1.0,
        };
    }
    // Loss and the delta of the last layer.
    let norm = lp.model.output_normalisation(lp.head);
    let mut delta = lp.kind.delta_bound(a, k, lp.support.targets, norm)?;
    // Backward: deltas and gradients of every adapted layer.
    for &(colsum, input) in cols.iter().rev() {
        ok(k * delta * input)?;
        ok(k * delta)?;
        delta = ok(colsum * delta)?;
    }
    Ok(())
}

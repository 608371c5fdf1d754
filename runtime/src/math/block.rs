//! The inner loop's backward pass through a dense layer, in blocks of 8 columns: the bias
//! update, then per block the backpropagation of the deltas through the block's (old) weights,
//! the block's gradient and update, then the deltas of the layer's inputs in place of its input
//! activations.
//!
//! [`columns_step`] and [`bias_step`] use the Cortex-M4F kernels where they apply (see
//! `arm_block.rs`: blocks of 8 columns with a ReLU or identity input activation, one column
//! without backpropagation, groups of 8 biases) and the portable code
//! ([`columns_step_portable`], [`bias_step_portable`]) for the rest and on other targets; both
//! perform the same f32 operations in the same order, so the results are identical bit for bit.
//!
//! These functions are public for the on-target kernel tests. They trust the dimensions they
//! are given (`ni`, `no`, `k`, `j0`, `width`); slices that disagree with them are reported as
//! [`Error::Internal`], which the inner loop's geometry rules out.

use super::{axpy_strided, clamp, derivative};
use crate::{Activation, Error};

/// A step size: the same for a whole tensor, or one per parameter.
#[derive(Clone, Copy, Debug)]
pub enum Rate<'a> {
    /// One step size for every parameter.
    Same(f32),
    /// One step size per parameter, laid out like the tensor.
    Each(&'a [f32]),
}

impl Rate<'_> {
    /// The step size of parameter `i` (0 when a per-parameter table is too short).
    #[inline]
    pub fn at(&self, i: usize) -> f32 {
        match self {
            Rate::Same(a) => *a,
            Rate::Each(v) => v.get(i).copied().unwrap_or(0.0),
        }
    }

    /// The largest step size.
    pub fn max(&self) -> f32 {
        match self {
            Rate::Same(a) => *a,
            Rate::Each(v) => v.iter().copied().fold(0.0, super::max),
        }
    }
}

/// Columns `j0..j0 + width` of a dense layer `y = W a + b` with `no` outputs and `ni` inputs,
/// over `k` samples (done in blocks of 8 columns).
pub struct Columns<'a> {
    /// `W`, row-major `[no][ni]`: updated in place.
    pub w: &'a mut [f32],
    /// Step sizes of `W` (a per-parameter table is laid out like `W`).
    pub rate: Rate<'a>,
    /// Elementwise gradient clip.
    pub clip: f32,
    /// Gradients of the loss w.r.t. the layer's pre-activations, `[k][no]`.
    pub deltas: &'a [f32],
    /// The layer's input activations, `[k][ni]`; with [`Backprop`], the block's columns are
    /// replaced by the gradients w.r.t. the previous layer's pre-activations.
    pub inputs: &'a mut [f32],
    /// Inputs of the layer (columns of `W`).
    pub ni: usize,
    /// Outputs of the layer (rows of `W`).
    pub no: usize,
    /// Samples.
    pub k: usize,
    /// First column of the block.
    pub j0: usize,
    /// Columns (from `j0`).
    pub width: usize,
}

/// Backpropagation through the block: `block` (at least `8 k` floats) receives
/// `sum_i delta[s][i] W[i][j0 + c]` (old `W`), which then, times the derivative of `act` (the
/// previous layer's activation), replaces the inputs' block.
pub struct Backprop<'a> {
    /// `8 k` floats of scratch: row `s` holds sample `s`'s backpropagated block.
    pub block: &'a mut [f32],
    /// The previous layer's activation.
    pub act: Activation,
}

/// For each block of 8 columns (the last one narrower): backpropagates through it (with
/// `back`), then updates it, `W[i][j] -= rate * clip(sum_s delta[s][i] a[s][j])`, the sum
/// sequential in `s` from `+0.0`, then (with `back`) writes the previous layer's deltas into
/// the inputs' block. Blocks touch disjoint columns, so their order does not matter.
#[inline]
pub fn columns_step(c: Columns<'_>, back: Option<Backprop<'_>>) -> Result<(), Error> {
    #[cfg(m4f_kernels)]
    let Some((c, back)) = super::arm_block::columns(c, back) else {
        return Ok(());
    };
    columns_step_portable(c, back)
}

/// [`columns_step`] on any target, in blocks of 8 columns.
pub fn columns_step_portable(c: Columns<'_>, mut back: Option<Backprop<'_>>) -> Result<(), Error> {
    let Columns {
        w,
        rate,
        clip,
        deltas,
        inputs,
        ni,
        no,
        k,
        j0,
        width,
    } = c;
    let end = j0.saturating_add(width);
    let mut j = j0;
    while j < end {
        let wd = (end - j).min(8);
        match &mut back {
            Some(Backprop { block, act }) => {
                backprop(w, deltas, block, ni, no, j, wd)?;
                update(w, rate, clip, deltas, inputs, ni, no, k, j, wd)?;
                apply_derivative(inputs, block, *act, ni, j, wd)?;
            }
            None => update(w, rate, clip, deltas, inputs, ni, no, k, j, wd)?,
        }
        j += wd;
    }
    Ok(())
}

/// `block[s][c] = sum_i delta[s][i] W[i][j0 + c]`, sequential in `i` from `+0.0`.
pub fn backprop(
    w: &[f32],
    deltas: &[f32],
    block: &mut [f32],
    ni: usize,
    no: usize,
    j0: usize,
    width: usize,
) -> Result<(), Error> {
    let w = w
        .get(j0..)
        .ok_or(Error::internal("math::block::backprop"))?;
    for (row, d) in block
        .chunks_exact_mut(8)
        .zip(deltas.chunks_exact(no.max(1)))
    {
        let acc = row
            .get_mut(..width)
            .ok_or(Error::internal("math::block::backprop"))?;
        acc.iter_mut().for_each(|v| *v = 0.0);
        axpy_strided(acc, d, 1, w, ni, no);
    }
    Ok(())
}

/// The block's gradient and update (see [`columns_step`]).
#[allow(clippy::too_many_arguments)]
fn update(
    w: &mut [f32],
    rate: Rate<'_>,
    clip: f32,
    deltas: &[f32],
    inputs: &[f32],
    ni: usize,
    no: usize,
    k: usize,
    j0: usize,
    width: usize,
) -> Result<(), Error> {
    let bug = Error::internal("math::block::update");
    if let Rate::Each(r) = rate {
        if r.len() < w.len() {
            return Err(bug);
        }
    }
    let inputs = inputs.get(j0..).ok_or(bug)?;
    for (i, row) in w.chunks_exact_mut(ni.max(1)).take(no).enumerate() {
        // g[c] = sum_s delta[s][i] a[s][j0 + c].
        let mut g = [0.0f32; 8];
        let g = g.get_mut(..width).ok_or(bug)?;
        let d = deltas.get(i..).ok_or(bug)?;
        axpy_strided(g, d, no, inputs, ni, k);
        let wrow = row.get_mut(j0..j0 + width).ok_or(bug)?;
        for ((at, wij), gi) in (i * ni + j0..).zip(wrow).zip(g.iter()) {
            *wij -= rate.at(at) * clamp(*gi, clip);
        }
    }
    Ok(())
}

/// The bias update `b[i] -= rate * clip(sum_s delta[s][i])`, the sum sequential in `s` from
/// `-0.0` (as `Iterator::sum`: the first term exactly), eight biases at a time.
#[inline]
pub fn bias_step(
    bias: &mut [f32],
    rate: Rate<'_>,
    clip: f32,
    deltas: &[f32],
    no: usize,
) -> Result<(), Error> {
    #[cfg(m4f_kernels)]
    let done = super::arm_block::bias8(bias, rate, clip, deltas, no);
    #[cfg(not(m4f_kernels))]
    let done = 0;
    bias_step_portable(bias, rate, clip, deltas, no, done)
}

/// [`bias_step`] on any target, from bias `first` on.
pub fn bias_step_portable(
    bias: &mut [f32],
    rate: Rate<'_>,
    clip: f32,
    deltas: &[f32],
    no: usize,
    first: usize,
) -> Result<(), Error> {
    let rest = bias
        .get_mut(first..)
        .ok_or(Error::internal("math::block::bias_step_portable"))?;
    for (i0, chunk) in (first..).step_by(8).zip(rest.chunks_mut(8)) {
        let mut g = [-0.0f32; 8];
        for d in deltas.chunks_exact(no.max(1)) {
            let d = d
                .get(i0..i0 + chunk.len())
                .ok_or(Error::internal("math::block::bias_step_portable"))?;
            g.iter_mut().zip(d).for_each(|(gi, di)| *gi += di);
        }
        for (i, (b, gi)) in (i0..).zip(chunk.iter_mut().zip(g)) {
            *b -= rate.at(i) * clamp(gi, clip);
        }
    }
    Ok(())
}

/// `a[s][j0 + c] = block[s][c] * act'(a[s][j0 + c])`.
pub fn apply_derivative(
    inputs: &mut [f32],
    block: &[f32],
    act: Activation,
    ni: usize,
    j0: usize,
    width: usize,
) -> Result<(), Error> {
    for (arow, brow) in inputs
        .chunks_exact_mut(ni.max(1))
        .zip(block.chunks_exact(8))
    {
        let a = arow
            .get_mut(j0..j0 + width)
            .ok_or(Error::internal("math::block::apply_derivative"))?;
        for (av, t) in a.iter_mut().zip(brow) {
            *av = times_derivative(act, *t, *av);
        }
    }
    Ok(())
}

/// `t * act'(a)`. Not inlined: the loop above would be copied once per activation (the kernels
/// do the ReLU and identity on the Cortex-M4F; this is the portable path).
#[inline(never)]
fn times_derivative(act: Activation, t: f32, a: f32) -> f32 {
    t * derivative(act, a)
}

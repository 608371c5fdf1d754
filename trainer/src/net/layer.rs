//! The one dispatch over layer kinds. Every layer is an affine map of its input, linear in its
//! weights (`z = L_w(x) + b`, `b` one value per output channel), followed by an activation; a
//! layer without weights (pooling, flatten) is a fixed map `z = L(x)`, piecewise linear for the
//! max pool (its routing taken from the input it saw). Three primitives per kind carry the whole
//! forward pass, backward pass and Hessian-vector product of [`super`]:
//!
//! - `linear`: `out (+)= J v`, the Jacobian of `x -> L_w(x)` at `x_ref` applied to `v` (for a
//!   layer linear in its input, `L_w(v)` itself);
//! - `linear_t`: `gx (+)= J^T g`, the same transposed;
//! - `weight_grad`: `gw (+)= d <g, L_w(v)> / dw`.
//!
//! Samples are rows of `inputs` values, channel-major (`c x l` for a series, `c x h x w` for an
//! image; a series is an image of height 1).

use super::avg_pool::AvgPool;
use super::conv::Conv;
use super::dense;
use super::max_pool::MaxPool;
use super::{Activation, LayerSpec};
use crate::real::Real;
use serde::{Deserialize, Serialize};

/// The shape of one sample between layers: `channels x height x width`, channel-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Shape {
    /// Values per sample.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }
    /// True when the shape holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A flat vector of `n` values: `n` channels of one position each.
    pub fn flat(n: usize) -> Self {
        Shape {
            channels: n,
            height: 1,
            width: 1,
        }
    }
}

/// What a layer computes between its input and its activation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Op {
    /// `z = x W^T + b`, `W` row-major `[outputs][inputs]`.
    #[default]
    Dense,
    /// A (depthwise) convolution in 1 or 2 dimensions with zero padding.
    Conv(Conv),
    /// The maximum of each window of each channel.
    MaxPool(MaxPool),
    /// The mean of each window of each channel (a window the size of the map: global average).
    AvgPool(AvgPool),
    /// The identity on the channel-major values: marks where a map becomes a feature vector.
    Flatten,
}

impl Op {
    /// The kind's name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Dense => "dense",
            Op::Conv(c) if c.depthwise => "depthwise convolution",
            Op::Conv(_) => "convolution",
            Op::MaxPool(_) => "max pooling",
            Op::AvgPool(_) => "average pooling",
            Op::Flatten => "flatten",
        }
    }
}

impl LayerSpec {
    /// A dense layer.
    pub fn dense(inputs: usize, outputs: usize, act: Activation) -> Self {
        LayerSpec {
            inputs,
            outputs,
            act,
            op: Op::Dense,
        }
    }
    /// A layer of kind `op` with input `inputs` values wide, its output width from the op.
    pub fn with_op(inputs: usize, op: Op, act: Activation) -> Self {
        let outputs = match &op {
            Op::Dense => inputs,
            Op::Conv(c) => c.output().len(),
            Op::MaxPool(p) => p.0.output().len(),
            Op::AvgPool(p) => p.0.output().len(),
            Op::Flatten => inputs,
        };
        LayerSpec {
            inputs,
            outputs,
            act,
            op,
        }
    }
    /// Number of weights (before the biases in the flat parameter vector).
    #[inline]
    pub fn n_weights(&self) -> usize {
        match &self.op {
            Op::Dense => self.inputs * self.outputs,
            Op::Conv(c) => c.n_weights(),
            Op::MaxPool(_) | Op::AvgPool(_) | Op::Flatten => 0,
        }
    }
    /// Number of biases: one per output channel (per output of a dense layer).
    #[inline]
    pub fn n_bias(&self) -> usize {
        match &self.op {
            Op::Dense => self.outputs,
            Op::Conv(c) => c.out_channels,
            Op::MaxPool(_) | Op::AvgPool(_) | Op::Flatten => 0,
        }
    }
    /// Weights and biases.
    #[inline]
    pub fn n_params(&self) -> usize {
        self.n_weights() + self.n_bias()
    }
    /// Inputs that reach one output (the initialisation's fan-in).
    pub fn fan_in(&self) -> usize {
        match &self.op {
            Op::Conv(c) => c.fan_in(),
            _ => self.inputs,
        }
    }
    /// True for a dense layer (what the runtime's format holds today).
    pub fn is_dense(&self) -> bool {
        self.op == Op::Dense
    }

    /// `out (+)= J v` for `k` rows (see the module docs); `acc` false overwrites `out`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn linear<T: Real>(
        &self,
        k: usize,
        x_ref: &[T],
        v: &[T],
        w: &[T],
        acc: bool,
        out: &mut [T],
    ) {
        match &self.op {
            Op::Dense => dense::linear(k, self.inputs, self.outputs, v, w, acc, out),
            Op::Conv(c) => c.linear(k, v, w, acc, out),
            Op::MaxPool(p) => p.linear(k, x_ref, v, acc, out),
            Op::AvgPool(p) => p.linear(k, v, acc, out),
            Op::Flatten => copy(v, acc, out),
        }
    }

    /// `gx (+)= J^T g` for `k` rows; `acc` false overwrites `gx`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn linear_t<T: Real>(
        &self,
        k: usize,
        x_ref: &[T],
        g: &[T],
        w: &[T],
        acc: bool,
        gx: &mut [T],
    ) {
        match &self.op {
            Op::Dense => dense::linear_t(k, self.inputs, self.outputs, g, w, acc, gx),
            Op::Conv(c) => c.linear_t(k, g, w, acc, gx),
            Op::MaxPool(p) => p.linear_t(k, x_ref, g, acc, gx),
            Op::AvgPool(p) => p.linear_t(k, g, acc, gx),
            Op::Flatten => copy(g, acc, gx),
        }
    }

    /// `gw (+)= d <g, L_w(v)> / dw` for `k` rows; `acc` false overwrites `gw`.
    #[inline]
    pub fn weight_grad<T: Real>(&self, k: usize, v: &[T], g: &[T], acc: bool, gw: &mut [T]) {
        match &self.op {
            Op::Dense => dense::weight_grad(k, self.inputs, self.outputs, v, g, acc, gw),
            Op::Conv(c) => c.weight_grad(k, v, g, acc, gw),
            Op::MaxPool(_) | Op::AvgPool(_) | Op::Flatten => {}
        }
    }

    /// Every row of `out` (`k x outputs`) set to the biases, each repeated over its channel's
    /// positions (zeros for a layer without biases).
    #[inline]
    pub fn fill_bias<T: Real>(&self, k: usize, b: &[T], out: &mut [T]) {
        if b.is_empty() {
            out.fill(T::zero());
            return;
        }
        let per = self.outputs / b.len();
        for row in out.chunks_exact_mut(self.outputs).take(k) {
            if per == 1 {
                row.copy_from_slice(b);
            } else {
                for (seg, &v) in row.chunks_exact_mut(per).zip(b) {
                    seg.fill(v);
                }
            }
        }
    }

    /// The biases' gradient (overwritten): `gz` summed over rows and each channel's positions.
    #[inline]
    pub fn bias_grad<T: Real>(&self, gz: &[T], gb: &mut [T]) {
        gb.fill(T::zero());
        if gb.is_empty() {
            return;
        }
        let per = self.outputs / gb.len();
        for row in gz.chunks_exact(self.outputs) {
            if per == 1 {
                for (o, g) in gb.iter_mut().zip(row) {
                    *o += *g;
                }
            } else {
                for (o, seg) in gb.iter_mut().zip(row.chunks_exact(per)) {
                    *o += seg.iter().copied().sum::<T>();
                }
            }
        }
    }
}

/// `out (+)= v`.
fn copy<T: Real>(v: &[T], acc: bool, out: &mut [T]) {
    if acc {
        for (o, x) in out.iter_mut().zip(v) {
            *o += *x;
        }
    } else {
        out.copy_from_slice(&v[..out.len()]);
    }
}

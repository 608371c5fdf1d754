//! The dense f32 layer: `y = act(W x + b)`, `W` row-major `[outputs][inputs]`, then `b`.
//!
//! Its forward passes are [`crate::math::dense`] and [`crate::math::dense_batch`]; its
//! backward pass updates `W` in blocks of 8 columns ([`columns_step`]): the block's
//! backpropagated deltas (old weights) go to the scratch block, then its gradient updates the
//! weights, then the deltas replace the input activations, which nothing needs any more. No
//! gradient is ever stored whole.

use super::{Backward, LayerOp, LayerTrain};
use crate::adapt::params::Weights;
use crate::format::{check_width, Capabilities, LayerSpec};
use crate::math::block::{apply_derivative, backprop, bias_step, columns_step, Backprop, Columns};
use crate::math::{dense, dense_batch};
use crate::{Activation, Error};

/// A dense layer's dimensions and nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dense {
    inputs: u16,
    outputs: u16,
    activation: Activation,
}

impl Dense {
    /// The dense layer of a header entry.
    #[inline(always)]
    pub fn of(spec: &LayerSpec) -> Dense {
        Dense {
            inputs: spec.inputs,
            outputs: spec.outputs,
            activation: spec.activation,
        }
    }
}

impl LayerOp for Dense {
    #[inline(always)]
    fn inputs(&self) -> usize {
        usize::from(self.inputs)
    }
    #[inline(always)]
    fn outputs(&self) -> usize {
        usize::from(self.outputs)
    }
    #[inline(always)]
    fn activation(&self) -> Activation {
        self.activation
    }
    #[inline(always)]
    fn weight_count(&self) -> usize {
        self.inputs() * self.outputs()
    }
    #[inline(always)]
    fn param_count(&self) -> usize {
        self.weight_count() + self.outputs()
    }
    #[inline(always)]
    fn macs(&self) -> usize {
        self.weight_count()
    }
    /// None: it reads its input buffer and writes its output buffer.
    #[inline(always)]
    fn scratch_len(&self) -> usize {
        0
    }
    fn capability(&self) -> Capabilities {
        Capabilities::DENSE
    }
    fn validate(&self, field: &'static str) -> Result<(), Error> {
        check_width(self.inputs, field)?;
        check_width(self.outputs, field)
    }
    #[inline(always)]
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        dense(w, b, x, y, self.activation);
    }
    #[inline(always)]
    fn forward_batch(&self, w: &[f32], b: &[f32], xs: &[f32], ys: &mut [f32]) {
        dense_batch(
            w,
            b,
            xs,
            ys,
            (self.inputs(), self.outputs()),
            self.activation,
        );
    }
}

impl LayerTrain for Dense {
    fn backward(&self, step: Backward<'_>) -> Result<(), Error> {
        let (ni, no) = (self.inputs(), self.outputs());
        let Backward {
            weights,
            bias,
            rates: (rw, rb),
            clip,
            k,
            inputs,
            deltas,
            block,
            back,
        } = step;
        // Bias: its gradient is the sum of the deltas over the samples.
        bias_step(bias, rb, clip, deltas, no)?;
        match (weights, back) {
            (Weights::Adapted(w), back) => {
                let cols = Columns {
                    w,
                    rate: rw,
                    clip,
                    deltas,
                    inputs,
                    ni,
                    no,
                    k,
                    j0: 0,
                    width: ni,
                };
                let back = back.map(|act| Backprop { block, act });
                columns_step(cols, back)?;
            }
            (Weights::Frozen(w), Some(act)) => {
                let mut j0 = 0;
                while j0 < ni {
                    let width = (ni - j0).min(8);
                    backprop(w, deltas, block, ni, no, j0, width)?;
                    apply_derivative(inputs, block, act, ni, j0, width)?;
                    j0 += width;
                }
            }
            (Weights::Frozen(_), None) => {}
        }
        Ok(())
    }
}

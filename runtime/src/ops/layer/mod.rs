//! Trunk and head layers: the one place that dispatches each kind of layer the runtime runs.
//!
//! A layer kind is a file here implementing [`LayerOp`] (its geometry, validation, forward
//! pass, and in `LayerTrain` the inner loop's backward pass) and one arm of [`Layer`]. Every layer of the trunk and
//! the heads is [`dense`] (f32 `W x + b` and an activation); an int8 layer would be another
//! file, another variant of `Layer` and another arm in [`Layer::of`] and in each method below.
//!
//! The frozen stem before the trunk (format v4, cargo feature `conv`) has its own dispatch,
//! [`Stem`]: convolutions (`conv`) and poolings (`pool`) over channel-major maps, forward
//! only. Flattening a map is no layer: the channel-major map is already the flat vector. With
//! the cargo feature `int8` the stem may also run in int8 ([`int8`]).
//!
//! ```
//! use fewshot_runtime::ops::layer::{Layer, LayerOp};
//! use fewshot_runtime::{Activation, LayerSpec};
//! let spec = LayerSpec { inputs: 2, outputs: 3, activation: Activation::Relu, offset: 0 };
//! let layer = Layer::of(&spec);
//! assert_eq!((layer.param_count(), layer.macs(), layer.scratch_len()), (9, 6, 0));
//! ```

#[cfg(feature = "conv")]
pub mod conv;
pub mod dense;
#[cfg(all(feature = "conv", feature = "int8"))]
pub mod int8;
#[cfg(feature = "conv")]
pub mod pool;
pub mod stem;

use crate::adapt::params::Weights;
use crate::format::{Capabilities, LayerSpec};
use crate::math::Rate;
use crate::{Activation, Error};
#[cfg(feature = "conv")]
pub use conv::Conv;
pub use dense::Dense;
#[cfg(all(feature = "conv", feature = "int8"))]
pub use int8::{Boundary, QConv, QDense, QPool};
#[cfg(feature = "conv")]
pub use pool::Pool;
pub use stem::Stem;

/// What every kind of layer declares and does. Parameters are a weights slice and a bias
/// slice (read from flash or from an adapted state).
pub trait LayerOp {
    /// Input width (floats per sample).
    fn inputs(&self) -> usize;
    /// Output width (floats per sample).
    fn outputs(&self) -> usize;
    /// The nonlinearity applied to its output (the backward pass of the next layer needs it).
    fn activation(&self) -> Activation;
    /// Number of weights (the first tensor).
    fn weight_count(&self) -> usize;
    /// Number of parameters (weights and biases, contiguous in the weights section).
    fn param_count(&self) -> usize;
    /// Multiply-accumulates per sample.
    fn macs(&self) -> usize;
    /// Floats of scratch it needs beyond its input and output buffers.
    fn scratch_len(&self) -> usize;
    /// The capability a model with this layer needs (format v3).
    fn capability(&self) -> Capabilities;
    /// Checks its own dimensions (each within `1..=MAX_WIDTH`).
    fn validate(&self, field: &'static str) -> Result<(), Error>;
    /// One sample: `y = layer(x)`.
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]);
    /// Floats of the buffer its output goes to: its output, and any scratch it keeps after it
    /// (by default [`LayerOp::outputs`] plus [`LayerOp::scratch_len`]; an int8 map packs four
    /// values to a float).
    fn buffer_len(&self) -> usize {
        self.outputs().saturating_add(self.scratch_len())
    }
    /// Checks its tensor at `at` in the weights section (by default: every value finite).
    fn check_tensor(&self, weights: &[f32], at: usize) -> Result<(), Error> {
        crate::format::check_finite(weights, at, self.param_count(), false)
    }
    /// One sample from the start of buffer `x` into the start of buffer `y` (each at least as
    /// long as the layer reads or writes: [`LayerOp::buffer_len`]); an error only when a
    /// buffer is too short.
    fn run_buffers(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        let bug = Error::internal("layer::run_buffers");
        let x = x.get(..self.inputs()).ok_or(bug)?;
        let y = y.get_mut(..self.outputs()).ok_or(bug)?;
        self.forward(w, b, x, y);
        Ok(())
    }
    /// Every sample of a batch: `xs` rows of [`LayerOp::inputs`], `ys` rows of
    /// [`LayerOp::outputs`] (by default one [`LayerOp::forward`] per sample).
    fn forward_batch(&self, w: &[f32], b: &[f32], xs: &[f32], ys: &mut [f32]) {
        let (ni, no) = (self.inputs().max(1), self.outputs().max(1));
        for (x, y) in xs.chunks_exact(ni).zip(ys.chunks_exact_mut(no)) {
            self.forward(w, b, x, y);
        }
    }
}

/// The inner loop's part of a layer: its backward pass and parameter update.
pub(crate) trait LayerTrain: LayerOp {
    /// The inner loop's step through this layer (see [`Backward`]).
    fn backward(&self, step: Backward<'_>) -> Result<(), Error>;
}

/// One layer's part of an inner-loop step: on entry `deltas` holds the loss's gradient with
/// respect to the layer's pre-activations (`k` rows); its parameters move by their clipped
/// gradients; with `back`, `inputs` is replaced by the gradient with respect to the previous
/// layer's pre-activations (whose activation `back` is).
pub(crate) struct Backward<'a> {
    /// The weights: adapted (in the state, updated) or frozen (backpropagated through only).
    pub weights: Weights<'a>,
    /// The biases (always adapted).
    pub bias: &'a mut [f32],
    /// Step sizes of the weights and of the biases.
    pub rates: (Rate<'a>, Rate<'a>),
    /// Elementwise gradient clip.
    pub clip: f32,
    /// Samples.
    pub k: usize,
    /// The layer's inputs, `[k][inputs]`.
    pub inputs: &'a mut [f32],
    /// The deltas of its outputs, `[k][outputs]`.
    pub deltas: &'a [f32],
    /// `8 k` floats of scratch for backpropagated blocks.
    pub block: &'a mut [f32],
    /// The previous layer's activation, when the deltas continue backwards.
    pub back: Option<Activation>,
}

/// The dispatch: one variant per kind of layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// A dense f32 layer.
    Dense(Dense),
}

impl Layer {
    /// The layer a header entry describes.
    #[inline(always)]
    pub fn of(spec: &LayerSpec) -> Layer {
        Layer::Dense(Dense::of(spec))
    }
}

impl LayerOp for Layer {
    #[inline(always)]
    fn inputs(&self) -> usize {
        match self {
            Layer::Dense(l) => l.inputs(),
        }
    }
    #[inline(always)]
    fn outputs(&self) -> usize {
        match self {
            Layer::Dense(l) => l.outputs(),
        }
    }
    #[inline(always)]
    fn activation(&self) -> Activation {
        match self {
            Layer::Dense(l) => l.activation(),
        }
    }
    #[inline(always)]
    fn weight_count(&self) -> usize {
        match self {
            Layer::Dense(l) => l.weight_count(),
        }
    }
    #[inline(always)]
    fn param_count(&self) -> usize {
        match self {
            Layer::Dense(l) => l.param_count(),
        }
    }
    #[inline(always)]
    fn macs(&self) -> usize {
        match self {
            Layer::Dense(l) => l.macs(),
        }
    }
    #[inline(always)]
    fn scratch_len(&self) -> usize {
        match self {
            Layer::Dense(l) => l.scratch_len(),
        }
    }
    #[inline(always)]
    fn capability(&self) -> Capabilities {
        match self {
            Layer::Dense(l) => l.capability(),
        }
    }
    fn validate(&self, field: &'static str) -> Result<(), Error> {
        match self {
            Layer::Dense(l) => l.validate(field),
        }
    }
    #[inline(always)]
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        match self {
            Layer::Dense(l) => l.forward(w, b, x, y),
        }
    }
    #[inline(always)]
    fn forward_batch(&self, w: &[f32], b: &[f32], xs: &[f32], ys: &mut [f32]) {
        match self {
            Layer::Dense(l) => l.forward_batch(w, b, xs, ys),
        }
    }
}

impl LayerTrain for Layer {
    #[inline(always)]
    fn backward(&self, step: Backward<'_>) -> Result<(), Error> {
        match self {
            Layer::Dense(l) => l.backward(step),
        }
    }
}

/// The geometry of a header's layer entry, through the dispatch.
impl LayerSpec {
    /// Number of weights.
    pub fn weight_count(&self) -> usize {
        Layer::of(self).weight_count()
    }
    /// Number of parameters (weights and biases).
    pub fn param_count(&self) -> usize {
        Layer::of(self).param_count()
    }
    /// Multiply-accumulates per sample.
    pub fn macs(&self) -> usize {
        Layer::of(self).macs()
    }
}

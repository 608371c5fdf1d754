//! The int8 fully connected layer of the stem ([`StemLayer::Int8Dense`]): it reads its input
//! map flat, whatever its shape, and writes a flat map (`outputs x 1 x 1`), with the
//! arithmetic of [`crate::math::int8::dense`].
//!
//! ```
//! use fewshot_runtime::format::int8::pack_tensor;
//! use fewshot_runtime::format::spec::{Int8DenseSpec, Int8Params};
//! use fewshot_runtime::ops::layer::{LayerOp, QDense};
//! use fewshot_runtime::Activation;
//! let p = Int8Params { scale: 1.0, zero_point: 2 };
//! let spec = Int8DenseSpec { inputs: 2, outputs: 1, activation: Activation::Relu, input: p, output: p, offset: 0 };
//! let layer = QDense::of(&spec);
//! let tensor = pack_tensor(&[-9], &[1 << 30], &[1], &[1.0], &[1, 1]);
//! let x = [f32::from_bits(u32::from_le_bytes([5, 6, 0, 0]))];
//! let mut y = vec![0.0f32; layer.buffer_len()];
//! layer.run_buffers(&tensor, &[], &x, &mut y).unwrap();
//! assert_eq!(y[0].to_bits().to_le_bytes()[0], 2); // -9 + 3 + 4 = -2, + 2, the ReLU clamps at 2
//! ```
//!
//! [`StemLayer::Int8Dense`]: crate::format::spec::StemLayer::Int8Dense

use super::super::LayerOp;
use super::{check_io, input, output, requant, words};
use crate::format::int8::{tensor_words, Int8Tensor};
use crate::format::spec::{Int8DenseSpec, Map};
use crate::format::{check_width, Capabilities};
use crate::math::int8::{dense, packed_words, QuantDense};
use crate::{Activation, Error};

/// An int8 fully connected layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QDense {
    spec: Int8DenseSpec,
}

impl QDense {
    /// The layer of a stem entry.
    pub fn of(spec: &Int8DenseSpec) -> QDense {
        QDense { spec: *spec }
    }
    /// Its input, as a flat map (it reads any map of that many values).
    pub fn input_map(&self) -> Map {
        Map {
            channels: self.spec.inputs,
            height: 1,
            width: 1,
        }
    }
    /// Its output, a flat map.
    pub fn output_map(&self) -> Option<Map> {
        Some(Map {
            channels: self.spec.outputs,
            height: 1,
            width: 1,
        })
    }
    /// The kernel's view of the layer, its tensor read from `w`.
    fn layer<'a>(&self, w: &'a [f32]) -> Result<QuantDense<'a>, Error> {
        let t = Int8Tensor::of(w, self.outputs(), self.inputs() * self.outputs())?;
        Ok(QuantDense {
            inputs: self.inputs(),
            outputs: self.outputs(),
            in_zp: i32::from(self.spec.input.zero_point),
            weights: t.weights,
            bias: t.bias,
            requant: requant(&t, self.spec.activation, self.spec.output),
        })
    }
}

impl LayerOp for QDense {
    fn inputs(&self) -> usize {
        usize::from(self.spec.inputs)
    }
    fn outputs(&self) -> usize {
        usize::from(self.spec.outputs)
    }
    fn activation(&self) -> Activation {
        self.spec.activation
    }
    /// Words of its tensor.
    fn weight_count(&self) -> usize {
        tensor_words(self.outputs(), self.inputs() * self.outputs()).unwrap_or(usize::MAX)
    }
    fn param_count(&self) -> usize {
        self.weight_count()
    }
    fn macs(&self) -> usize {
        self.inputs() * self.outputs()
    }
    /// The packed int16 input.
    fn scratch_len(&self) -> usize {
        packed_words(self.inputs(), 1)
    }
    fn buffer_len(&self) -> usize {
        words(self.outputs()).saturating_add(self.scratch_len())
    }
    fn capability(&self) -> Capabilities {
        Capabilities::CONV.with(Capabilities::INT8)
    }
    fn validate(&self, field: &'static str) -> Result<(), Error> {
        check_width(self.spec.inputs, field)?;
        check_width(self.spec.outputs, field)?;
        check_io(self.activation(), self.spec.input, self.spec.output, field)
    }
    fn check_tensor(&self, weights: &[f32], at: usize) -> Result<(), Error> {
        Int8Tensor::check(weights, at, self.outputs(), self.inputs() * self.outputs())
    }
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        // Only after validation, where it cannot fail; the stem runs `run_buffers`.
        let _ = self.run_buffers(w, b, x, y);
    }
    fn run_buffers(&self, w: &[f32], _b: &[f32], x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        let l = self.layer(w)?;
        let (out, scratch) = output(y, self.outputs(), l.scratch_words())?;
        dense(&l, input(x, self.inputs())?, out, scratch)
    }
}

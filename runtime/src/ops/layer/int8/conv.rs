//! The int8 convolution of the stem ([`StemLayer::Int8Conv`]): the geometry of the f32
//! [`Conv`] (full or depthwise), the arithmetic of [`crate::math::int8::conv`] (the SMLAD
//! kernels on the Cortex-M4F, the same integers everywhere).
//!
//! ```
//! use fewshot_runtime::format::int8::pack_tensor;
//! use fewshot_runtime::format::spec::{ConvSpec, Int8ConvSpec, Int8Params, Map};
//! use fewshot_runtime::ops::layer::{LayerOp, QConv};
//! use fewshot_runtime::Activation;
//! let p = Int8Params { scale: 1.0, zero_point: 0 };
//! let conv = ConvSpec { input: Map { channels: 1, height: 1, width: 4 }, channels: 1,
//!     kernel: [1, 2], stride: 2, padding: [0, 0], activation: Activation::Identity, offset: 0 };
//! let layer = QConv::of(&Int8ConvSpec { conv, depthwise: false, input: p, output: p });
//! // Weights [1, -1], bias 3, a factor of 1 (2^30 / 2^31 * 2^1).
//! let tensor = pack_tensor(&[3], &[1 << 30], &[1], &[1.0], &[1, -1]);
//! let x = [f32::from_bits(u32::from_le_bytes([5, 2, 7, 9]))];
//! let mut y = vec![0.0f32; layer.buffer_len()];
//! layer.run_buffers(&tensor, &[], &x, &mut y).unwrap();
//! assert_eq!(y[0].to_bits().to_le_bytes()[..2], [6, 1]); // 3 + 5 - 2, 3 + 7 - 9
//! ```
//!
//! [`StemLayer::Int8Conv`]: crate::format::spec::StemLayer::Int8Conv

use super::super::{Conv, LayerOp};
use super::{check_io, input, output, requant, words};
use crate::format::int8::{tensor_words, Int8Tensor};
use crate::format::spec::{Int8ConvSpec, Map};
use crate::format::Capabilities;
use crate::math::int8::{conv, conv_scratch_words, ConvGeom, QuantConv};
use crate::{Activation, Error};

/// An int8 convolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QConv {
    spec: Int8ConvSpec,
    geometry: Conv,
}

impl QConv {
    /// The layer of a stem entry.
    pub fn of(spec: &Int8ConvSpec) -> QConv {
        QConv {
            spec: *spec,
            geometry: Conv::of(&spec.conv, spec.depthwise),
        }
    }
    /// The input map.
    pub fn input_map(&self) -> Map {
        self.spec.conv.input
    }
    /// The output map, `None` when the geometry is invalid.
    pub fn output_map(&self) -> Option<Map> {
        self.geometry.output_map()
    }
    fn channels(&self) -> usize {
        usize::from(self.spec.conv.channels)
    }
    /// The kernel's shapes.
    fn geom(&self) -> ConvGeom {
        let s = &self.spec.conv;
        ConvGeom {
            in_channels: usize::from(s.input.channels),
            height: usize::from(s.input.height),
            width: usize::from(s.input.width),
            out_channels: self.channels(),
            kernel: s.kernel.map(usize::from),
            stride: usize::from(s.stride),
            padding: s.padding.map(usize::from),
            depthwise: self.spec.depthwise,
        }
    }
    /// The kernel's view of the layer, its tensor read from `w`.
    fn layer<'a>(&self, w: &'a [f32]) -> Result<QuantConv<'a>, Error> {
        let s = &self.spec.conv;
        let t = Int8Tensor::of(w, self.channels(), self.geometry.weight_count())?;
        let geom = self.geom();
        Ok(QuantConv {
            geom,
            in_zp: i32::from(self.spec.input.zero_point),
            weights: t.weights,
            bias: t.bias,
            requant: requant(&t, s.activation, self.spec.output),
        })
    }
}

impl LayerOp for QConv {
    fn inputs(&self) -> usize {
        self.geometry.inputs()
    }
    fn outputs(&self) -> usize {
        self.geometry.outputs()
    }
    fn activation(&self) -> Activation {
        self.spec.conv.activation
    }
    /// Words of its tensor.
    fn weight_count(&self) -> usize {
        tensor_words(self.channels(), self.geometry.weight_count()).unwrap_or(usize::MAX)
    }
    fn param_count(&self) -> usize {
        self.weight_count()
    }
    fn macs(&self) -> usize {
        self.geometry.macs()
    }
    /// The packed int16 input of four output positions, one window, the padded input.
    fn scratch_len(&self) -> usize {
        conv_scratch_words(&self.geom())
    }
    fn buffer_len(&self) -> usize {
        words(self.outputs()).saturating_add(self.scratch_len())
    }
    fn capability(&self) -> Capabilities {
        Capabilities::CONV.with(Capabilities::INT8)
    }
    fn validate(&self, field: &'static str) -> Result<(), Error> {
        self.geometry.validate(field)?;
        check_io(self.activation(), self.spec.input, self.spec.output, field)
    }
    fn check_tensor(&self, weights: &[f32], at: usize) -> Result<(), Error> {
        Int8Tensor::check(weights, at, self.channels(), self.geometry.weight_count())
    }
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        // Only after validation, where it cannot fail; the stem runs `run_buffers`.
        let _ = self.run_buffers(w, b, x, y);
    }
    fn run_buffers(&self, w: &[f32], _b: &[f32], x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        let l = self.layer(w)?;
        let (out, scratch) = output(y, self.outputs(), l.scratch_words())?;
        conv(&l, input(x, self.inputs())?, out, scratch)
    }
}

//! Where the stem changes between f32 and int8: [`StemLayer::Quantise`] and
//! [`StemLayer::Dequantise`] of one map ([`crate::math::int8::quantize`] and
//! [`crate::math::int8::dequantize`], the same bits on every target).
//!
//! ```
//! use fewshot_runtime::format::spec::{Int8Boundary, Int8Params, Map};
//! use fewshot_runtime::ops::layer::{Boundary, LayerOp};
//! let b = Int8Boundary { map: Map { channels: 1, height: 1, width: 2 }, params: Int8Params { scale: 0.5, zero_point: 1 } };
//! let (mut q, mut x) = ([0.0f32; 1], [0.0f32; 2]);
//! Boundary::quantise(&b).run_buffers(&[], &[], &[1.0, -0.75], &mut q).unwrap();
//! Boundary::dequantise(&b).run_buffers(&[], &[], &q, &mut x).unwrap();
//! assert_eq!(x, [1.0, -1.0]); // -0.75 / 0.5 = -1.5 rounds away from zero
//! ```
//!
//! [`StemLayer::Quantise`]: crate::format::spec::StemLayer::Quantise
//! [`StemLayer::Dequantise`]: crate::format::spec::StemLayer::Dequantise

use super::super::conv::map_len;
use super::super::LayerOp;
use super::{input, output, words};
use crate::format::spec::{Int8Boundary, Map};
use crate::format::{invalid, Capabilities};
use crate::math::int8::{dequantize, quantize, QuantParams};
use crate::{Activation, Error};

/// f32 -> int8 (`quantise`) or int8 -> f32 of one map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Boundary {
    spec: Int8Boundary,
    quantise: bool,
}

impl Boundary {
    /// f32 -> int8.
    pub fn quantise(spec: &Int8Boundary) -> Boundary {
        Boundary {
            spec: *spec,
            quantise: true,
        }
    }
    /// int8 -> f32.
    pub fn dequantise(spec: &Int8Boundary) -> Boundary {
        Boundary {
            spec: *spec,
            quantise: false,
        }
    }
    /// The map (both sides).
    pub fn input_map(&self) -> Map {
        self.spec.map
    }
    /// The map (both sides).
    pub fn output_map(&self) -> Option<Map> {
        map_len(&self.spec.map).map(|_| self.spec.map)
    }
    fn params(&self) -> QuantParams {
        QuantParams {
            scale: self.spec.params.scale,
            zero_point: i32::from(self.spec.params.zero_point),
        }
    }
}

impl LayerOp for Boundary {
    fn inputs(&self) -> usize {
        map_len(&self.spec.map).unwrap_or(0)
    }
    fn outputs(&self) -> usize {
        self.inputs()
    }
    fn activation(&self) -> Activation {
        Activation::Identity
    }
    fn weight_count(&self) -> usize {
        0
    }
    fn param_count(&self) -> usize {
        0
    }
    /// One per value.
    fn macs(&self) -> usize {
        self.inputs()
    }
    fn scratch_len(&self) -> usize {
        0
    }
    fn buffer_len(&self) -> usize {
        if self.quantise {
            words(self.outputs())
        } else {
            self.outputs()
        }
    }
    fn capability(&self) -> Capabilities {
        Capabilities::CONV.with(Capabilities::INT8)
    }
    fn validate(&self, field: &'static str) -> Result<(), Error> {
        map_len(&self.spec.map).ok_or(invalid(field))?;
        self.spec.params.check(field)
    }
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        // Only after validation, where it cannot fail; the stem runs `run_buffers`.
        let _ = self.run_buffers(w, b, x, y);
    }
    fn run_buffers(&self, _w: &[f32], _b: &[f32], x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        let n = self.inputs();
        let bug = Error::internal("int8 boundary");
        if self.quantise {
            let (q, _) = output(y, n, 0)?;
            quantize(x.get(..n).ok_or(bug)?, self.params(), q)
        } else {
            dequantize(input(x, n)?, self.params(), y.get_mut(..n).ok_or(bug)?)
        }
    }
}

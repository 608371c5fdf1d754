//! int8 pooling of the stem ([`StemLayer::Int8MaxPool`], [`StemLayer::Int8AvgPool`]): the
//! geometry of the f32 [`Pool`], the arithmetic of [`crate::math::int8::max_pool`] and
//! [`crate::math::int8::avg_pool`]; the scale and zero point are kept.
//!
//! ```
//! use fewshot_runtime::format::spec::{Map, PoolSpec};
//! use fewshot_runtime::ops::layer::{LayerOp, QPool};
//! let spec = PoolSpec { input: Map { channels: 1, height: 1, width: 4 }, size: [1, 2], stride: 2 };
//! let x = [f32::from_bits(u32::from_le_bytes([1, 0xfd, 7, 2]))]; // 1, -3, 7, 2
//! let mut y = [0.0f32; 1];
//! QPool::max(&spec).run_buffers(&[], &[], &x, &mut y).unwrap();
//! assert_eq!(y[0].to_bits().to_le_bytes()[..2], [1, 7]);
//! ```
//!
//! [`StemLayer::Int8MaxPool`]: crate::format::spec::StemLayer::Int8MaxPool
//! [`StemLayer::Int8AvgPool`]: crate::format::spec::StemLayer::Int8AvgPool

use super::super::{LayerOp, Pool};
use super::{input, output, words};
use crate::format::spec::{Map, PoolSpec};
use crate::format::Capabilities;
use crate::math::int8::{avg_pool, max_pool, PoolGeom};
use crate::{Activation, Error};

/// An int8 max or average pooling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QPool {
    spec: PoolSpec,
    geometry: Pool,
    max: bool,
}

impl QPool {
    /// Max pooling.
    pub fn max(spec: &PoolSpec) -> QPool {
        QPool {
            spec: *spec,
            geometry: Pool::max(spec),
            max: true,
        }
    }
    /// Average pooling.
    pub fn mean(spec: &PoolSpec) -> QPool {
        QPool {
            spec: *spec,
            geometry: Pool::mean(spec),
            max: false,
        }
    }
    /// The input map.
    pub fn input_map(&self) -> Map {
        self.spec.input
    }
    /// The output map, `None` when the geometry is invalid.
    pub fn output_map(&self) -> Option<Map> {
        self.geometry.output_map()
    }
}

impl LayerOp for QPool {
    fn inputs(&self) -> usize {
        self.geometry.inputs()
    }
    fn outputs(&self) -> usize {
        self.geometry.outputs()
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
    fn macs(&self) -> usize {
        self.geometry.macs()
    }
    fn scratch_len(&self) -> usize {
        0
    }
    fn buffer_len(&self) -> usize {
        words(self.outputs())
    }
    fn capability(&self) -> Capabilities {
        Capabilities::CONV.with(Capabilities::INT8)
    }
    fn validate(&self, field: &'static str) -> Result<(), Error> {
        self.geometry.validate(field)
    }
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        // Only after validation, where it cannot fail; the stem runs `run_buffers`.
        let _ = self.run_buffers(w, b, x, y);
    }
    fn run_buffers(&self, _w: &[f32], _b: &[f32], x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        let s = &self.spec;
        let g = PoolGeom {
            channels: usize::from(s.input.channels),
            height: usize::from(s.input.height),
            width: usize::from(s.input.width),
            kernel: s.size.map(usize::from),
            stride: usize::from(s.stride),
        };
        let (out, _) = output(y, self.outputs(), 0)?;
        let x = input(x, self.inputs())?;
        if self.max {
            max_pool(&g, x, out)
        } else {
            avg_pool(&g, x, out)
        }
    }
}

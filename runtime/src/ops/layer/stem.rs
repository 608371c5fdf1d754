//! The stem's dispatch (format v4): the frozen convolution and pooling layers run on the
//! normalised input before the dense trunk, one variant per kind of stem layer: f32
//! convolutions and poolings, and (cargo feature `int8`) the int8 stem's layers
//! ([`super::int8`]). Without the cargo feature `conv` there is none: a model with a stem is
//! refused at load (its `conv` capability); without `int8`, one with int8 layers (its `int8`
//! capability).
//!
//! ```
//! use fewshot_runtime::format::spec::{Map, StemLayer};
//! use fewshot_runtime::ops::layer::{LayerOp, Stem};
//! let pool = StemLayer::GlobalAvgPool(Map { channels: 2, height: 1, width: 3 });
//! # #[cfg(feature = "conv")] {
//! let stem = Stem::of(&pool).unwrap();
//! assert_eq!((stem.inputs(), stem.outputs()), (6, 2));
//! # }
//! ```

#![cfg_attr(not(feature = "conv"), allow(unused_variables, unreachable_code))]

use super::LayerOp;
#[cfg(all(feature = "conv", feature = "int8"))]
use super::{Boundary, QConv, QDense, QPool};
#[cfg(feature = "conv")]
use super::{Conv, Pool};
use crate::format::spec::{Map, StemLayer};
use crate::format::Capabilities;
use crate::{Activation, Error};

/// One stem layer, by kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stem {
    /// A (depthwise) convolution.
    #[cfg(feature = "conv")]
    Conv(Conv),
    /// A max, average or global average pooling.
    #[cfg(feature = "conv")]
    Pool(Pool),
    /// Quantisation or dequantisation of a map.
    #[cfg(all(feature = "conv", feature = "int8"))]
    Boundary(Boundary),
    /// An int8 (depthwise) convolution.
    #[cfg(all(feature = "conv", feature = "int8"))]
    Int8Conv(QConv),
    /// An int8 fully connected layer.
    #[cfg(all(feature = "conv", feature = "int8"))]
    Int8Dense(QDense),
    /// An int8 max or average pooling.
    #[cfg(all(feature = "conv", feature = "int8"))]
    Int8Pool(QPool),
}

/// Delegates to the variant's [`LayerOp`].
macro_rules! each {
    ($self:ident, $l:ident => $e:expr) => {
        match *$self {
            #[cfg(feature = "conv")]
            Stem::Conv($l) => $e,
            #[cfg(feature = "conv")]
            Stem::Pool($l) => $e,
            #[cfg(all(feature = "conv", feature = "int8"))]
            Stem::Boundary($l) => $e,
            #[cfg(all(feature = "conv", feature = "int8"))]
            Stem::Int8Conv($l) => $e,
            #[cfg(all(feature = "conv", feature = "int8"))]
            Stem::Int8Dense($l) => $e,
            #[cfg(all(feature = "conv", feature = "int8"))]
            Stem::Int8Pool($l) => $e,
        }
    };
}

impl Stem {
    /// The layer a stem entry describes; [`Error::FeatureDisabled`] in a build without it.
    pub fn of(spec: &StemLayer) -> Result<Stem, Error> {
        #[cfg(feature = "conv")]
        return Ok(match spec {
            StemLayer::Conv(c) => Stem::Conv(Conv::of(c, false)),
            StemLayer::Depthwise(c) => Stem::Conv(Conv::of(c, true)),
            StemLayer::MaxPool(p) => Stem::Pool(Pool::max(p)),
            StemLayer::AvgPool(p) => Stem::Pool(Pool::mean(p)),
            StemLayer::GlobalAvgPool(m) => Stem::Pool(Pool::global(m)),
            _ => return Self::int8(spec),
        });
        #[cfg(not(feature = "conv"))]
        {
            let _ = spec;
            Err(Error::FeatureDisabled { feature: "conv" })
        }
    }

    /// An int8 layer; [`Error::FeatureDisabled`] in a build without `int8`.
    #[cfg(feature = "conv")]
    fn int8(spec: &StemLayer) -> Result<Stem, Error> {
        #[cfg(feature = "int8")]
        return Ok(match spec {
            StemLayer::Quantise(b) => Stem::Boundary(Boundary::quantise(b)),
            StemLayer::Dequantise(b) => Stem::Boundary(Boundary::dequantise(b)),
            StemLayer::Int8Conv(c) => Stem::Int8Conv(QConv::of(c)),
            StemLayer::Int8Dense(d) => Stem::Int8Dense(QDense::of(d)),
            StemLayer::Int8MaxPool(p) => Stem::Int8Pool(QPool::max(p)),
            StemLayer::Int8AvgPool(p) => Stem::Int8Pool(QPool::mean(p)),
            _ => return Err(Error::internal("stem::int8")),
        });
        #[cfg(not(feature = "int8"))]
        {
            let _ = spec;
            Err(Error::FeatureDisabled { feature: "int8" })
        }
    }

    /// Its input map; `None` for a dense layer, which reads any map flat.
    pub fn input_map(&self) -> Option<Map> {
        match self {
            #[cfg(all(feature = "conv", feature = "int8"))]
            Stem::Int8Dense(_) => None,
            _ => Some(each!(self, l => l.input_map())),
        }
    }

    /// Its output map, `None` when the geometry is invalid.
    pub fn output_map(&self) -> Option<Map> {
        each!(self, l => l.output_map())
    }

    /// Floats [`Stem::run`] needs in its output buffer beyond the output map: a convolution's
    /// zero-padded input map (0 when it has no padding or is a pooling).
    pub fn work_len(&self) -> usize {
        match *self {
            #[cfg(feature = "conv")]
            Stem::Conv(c) => c.work_len(),
            _ => 0,
        }
    }

    /// The stem's forward pass between two buffers: `src` holds the input map; returns true
    /// when the output map is at the start of `dst`, false when at the start of `src` (a padded
    /// convolution: [`Conv::run`]). Buffers shorter than the layer needs (the wider of its
    /// maps and [`Stem::work_len`], or [`LayerOp::buffer_len`]) are an internal error.
    pub fn run(
        &self,
        w: &[f32],
        b: &[f32],
        src: &mut [f32],
        dst: &mut [f32],
    ) -> Result<bool, Error> {
        match *self {
            #[cfg(feature = "conv")]
            Stem::Conv(c) => c.run(w, b, src, dst),
            _ => self.run_buffers(w, b, src, dst).map(|()| true),
        }
    }
}

/// What a stem entry needs, whatever the build.
impl StemLayer {
    /// The capabilities a model with this layer needs: `conv` (the stem), and `int8` for the
    /// int8 stem's layers.
    pub fn capability(&self) -> Capabilities {
        if self.is_int8() {
            Capabilities::CONV.with(Capabilities::INT8)
        } else {
            Capabilities::CONV
        }
    }
    /// Offset of its tensor, in f32, if it has one.
    pub fn offset(&self) -> Option<u32> {
        match self {
            StemLayer::Conv(c) | StemLayer::Depthwise(c) => Some(c.offset),
            StemLayer::Int8Conv(c) => Some(c.conv.offset),
            StemLayer::Int8Dense(d) => Some(d.offset),
            _ => None,
        }
    }
}

impl LayerOp for Stem {
    fn inputs(&self) -> usize {
        each!(self, l => l.inputs())
    }
    fn outputs(&self) -> usize {
        each!(self, l => l.outputs())
    }
    fn activation(&self) -> Activation {
        each!(self, l => l.activation())
    }
    fn weight_count(&self) -> usize {
        each!(self, l => l.weight_count())
    }
    fn param_count(&self) -> usize {
        each!(self, l => l.param_count())
    }
    fn macs(&self) -> usize {
        each!(self, l => l.macs())
    }
    fn scratch_len(&self) -> usize {
        each!(self, l => l.scratch_len())
    }
    fn capability(&self) -> Capabilities {
        each!(self, l => l.capability())
    }
    fn validate(&self, field: &'static str) -> Result<(), Error> {
        each!(self, l => l.validate(field))
    }
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        each!(self, l => l.forward(w, b, x, y))
    }
    fn buffer_len(&self) -> usize {
        each!(self, l => l.buffer_len())
    }
    fn check_tensor(&self, weights: &[f32], at: usize) -> Result<(), Error> {
        each!(self, l => l.check_tensor(weights, at))
    }
    fn run_buffers(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        each!(self, l => l.run_buffers(w, b, x, y))
    }
}

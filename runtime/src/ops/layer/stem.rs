//! The stem's dispatch (format v4): the frozen convolution and pooling layers run on the
//! normalised input before the dense trunk, one variant per kind of stem layer (an int8
//! convolution would be one more file and one more variant here). Without the cargo feature
//! `conv` there is none: a model with a stem is refused at load (its `conv` capability).
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

#![cfg_attr(not(feature = "conv"), allow(unused_variables))]

use super::LayerOp;
#[cfg(feature = "conv")]
use super::{Conv, Pool};
use crate::format::spec::{Map, StemLayer};
use crate::format::Capabilities;
use crate::{Activation, Error};

/// One stem layer, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stem {
    /// A (depthwise) convolution.
    #[cfg(feature = "conv")]
    Conv(Conv),
    /// A max, average or global average pooling.
    #[cfg(feature = "conv")]
    Pool(Pool),
}

/// Delegates to the variant's [`LayerOp`].
macro_rules! each {
    ($self:ident, $l:ident => $e:expr) => {
        match *$self {
            #[cfg(feature = "conv")]
            Stem::Conv($l) => $e,
            #[cfg(feature = "conv")]
            Stem::Pool($l) => $e,
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
        });
        #[cfg(not(feature = "conv"))]
        {
            let _ = spec;
            Err(Error::FeatureDisabled { feature: "conv" })
        }
    }

    /// Its input map.
    pub fn input_map(&self) -> Map {
        each!(self, l => l.input_map())
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
            #[cfg(feature = "conv")]
            Stem::Pool(_) => 0,
        }
    }

    /// The stem's forward pass between two buffers (each at least the wider of its input and
    /// output maps and [`Stem::work_len`]): `src` holds the input map; returns true when the
    /// output map is at the start of `dst`, false when at the start of `src` (a padded
    /// convolution: [`Conv::run`]). Short buffers write nothing.
    pub fn run(&self, w: &[f32], b: &[f32], src: &mut [f32], dst: &mut [f32]) -> bool {
        match *self {
            #[cfg(feature = "conv")]
            Stem::Conv(c) => c.run(w, b, src, dst),
            #[cfg(feature = "conv")]
            Stem::Pool(p) => {
                if let (Some(x), Some(y)) = (src.get(..p.inputs()), dst.get_mut(..p.outputs())) {
                    p.forward(w, b, x, y);
                }
                true
            }
        }
    }
}

/// What a stem entry needs, whatever the build.
impl StemLayer {
    /// The capability a model with this layer needs.
    pub fn capability(&self) -> Capabilities {
        Capabilities::CONV
    }
    /// Offset of its weights, in f32, if it has any.
    pub fn offset(&self) -> Option<u32> {
        match self {
            StemLayer::Conv(c) | StemLayer::Depthwise(c) => Some(c.offset),
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
}

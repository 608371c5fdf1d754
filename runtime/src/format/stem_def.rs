//! The writer's stem layers (feature `std`): a [`StemLayer`] with its values.

use std::vec::Vec;

use super::spec::{ConvSpec, Map, PoolSpec, StemLayer};
use crate::ops::layer::{LayerOp, Stem};
use crate::Error;

/// A stem layer with its values (format v4): a convolution's weights (row-major `[output
/// channel][input channel][kernel row][kernel column]`) and biases (one per output channel);
/// none for a pooling.
#[derive(Debug, Clone, PartialEq)]
pub struct StemDef {
    /// The layer (its offset is set by the writer).
    pub layer: StemLayer,
    /// The weights.
    pub weights: Vec<f32>,
    /// The biases.
    pub bias: Vec<f32>,
}

impl StemDef {
    /// A full convolution.
    pub fn conv(spec: ConvSpec, weights: Vec<f32>, bias: Vec<f32>) -> Self {
        StemDef {
            layer: StemLayer::Conv(spec),
            weights,
            bias,
        }
    }
    /// A depthwise convolution (`spec.channels` = its input's channels).
    pub fn depthwise(spec: ConvSpec, weights: Vec<f32>, bias: Vec<f32>) -> Self {
        StemDef {
            layer: StemLayer::Depthwise(spec),
            weights,
            bias,
        }
    }
    /// A parameter-free layer.
    fn fixed(layer: StemLayer) -> Self {
        StemDef {
            layer,
            weights: Vec::new(),
            bias: Vec::new(),
        }
    }
    /// Max pooling.
    pub fn max_pool(spec: PoolSpec) -> Self {
        Self::fixed(StemLayer::MaxPool(spec))
    }
    /// Average pooling.
    pub fn avg_pool(spec: PoolSpec) -> Self {
        Self::fixed(StemLayer::AvgPool(spec))
    }
    /// Global average pooling of `input`.
    pub fn global_avg_pool(input: Map) -> Self {
        Self::fixed(StemLayer::GlobalAvgPool(input))
    }

    /// The layer placed at `offset` with its values appended to `weights`; checks their counts.
    pub(crate) fn place(&self, offset: u32, weights: &mut Vec<f32>) -> Result<StemLayer, Error> {
        let layer = Stem::of(&self.layer)?;
        let mut placed = self.layer;
        if let StemLayer::Conv(c) | StemLayer::Depthwise(c) = &mut placed {
            c.offset = offset;
        }
        for (values, expected, what) in [
            (&self.weights, layer.weight_count(), "stem weights"),
            (
                &self.bias,
                layer.param_count() - layer.weight_count(),
                "stem bias",
            ),
        ] {
            if values.len() != expected {
                return Err(Error::LengthMismatch {
                    what,
                    expected,
                    found: values.len(),
                });
            }
            weights.extend_from_slice(values);
        }
        Ok(placed)
    }
}

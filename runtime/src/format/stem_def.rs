//! The writer's stem layers (feature `std`): a [`StemLayer`] with its values.

use std::vec::Vec;

use super::int8::pack_tensor;
use super::spec::{
    ConvSpec, Int8Boundary, Int8ConvSpec, Int8DenseSpec, Int8Params, Map, PoolSpec, StemLayer,
};
use crate::ops::layer::{LayerOp, Stem};
use crate::Error;

/// A stem layer with its values (format v4): a convolution's weights (row-major `[output
/// channel][input channel][kernel row][kernel column]`) and biases (one per output channel);
/// none for a pooling; an int8 layer's whole tensor as its weights (see [`Int8Values`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StemDef {
    /// The layer (its offset is set by the writer).
    pub layer: StemLayer,
    /// The weights.
    pub weights: Vec<f32>,
    /// The biases.
    pub bias: Vec<f32>,
}

/// The values of an int8 convolution or dense layer (format v4, capability `int8`; laid out as
/// [`Int8ConvSpec`] documents): per output channel its int32 bias, Q31 multiplier, shift and
/// weight scale, and the int8 weights row-major.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Int8Values {
    /// The int8 weights, `[output channel][fan-in]`.
    pub weights: Vec<i8>,
    /// Per output channel: the bias.
    pub bias: Vec<i32>,
    /// Per output channel: the Q31 multiplier.
    pub multiplier: Vec<i32>,
    /// Per output channel: the shift.
    pub shift: Vec<i32>,
    /// Per output channel: the weights' scale.
    pub scale: Vec<f32>,
}

impl Int8Values {
    /// The tensor's words, after checking that each per-channel list has `channels` values.
    fn words(&self, channels: u16) -> Result<Vec<f32>, Error> {
        let expected = usize::from(channels);
        for (found, what) in [
            (self.bias.len(), "int8 bias"),
            (self.multiplier.len(), "int8 multipliers"),
            (self.shift.len(), "int8 shifts"),
            (self.scale.len(), "int8 weight scales"),
        ] {
            if found != expected {
                return Err(Error::LengthMismatch {
                    what,
                    expected,
                    found,
                });
            }
        }
        Ok(pack_tensor(
            &self.bias,
            &self.multiplier,
            &self.shift,
            &self.scale,
            &self.weights,
        ))
    }
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

    /// f32 -> int8 of `map` with `params`.
    pub fn quantise(map: Map, params: Int8Params) -> Self {
        Self::fixed(StemLayer::Quantise(Int8Boundary { map, params }))
    }
    /// int8 -> f32 of `map` with `params`.
    pub fn dequantise(map: Map, params: Int8Params) -> Self {
        Self::fixed(StemLayer::Dequantise(Int8Boundary { map, params }))
    }
    /// An int8 convolution; `values` has one entry per output channel in each list.
    pub fn int8_conv(spec: Int8ConvSpec, values: &Int8Values) -> Result<Self, Error> {
        Ok(StemDef {
            layer: StemLayer::Int8Conv(spec),
            weights: values.words(spec.conv.channels)?,
            bias: Vec::new(),
        })
    }
    /// An int8 fully connected layer; `values` has one entry per output in each list.
    pub fn int8_dense(spec: Int8DenseSpec, values: &Int8Values) -> Result<Self, Error> {
        Ok(StemDef {
            layer: StemLayer::Int8Dense(spec),
            weights: values.words(spec.outputs)?,
            bias: Vec::new(),
        })
    }
    /// int8 max pooling.
    pub fn int8_max_pool(spec: PoolSpec) -> Self {
        Self::fixed(StemLayer::Int8MaxPool(spec))
    }
    /// int8 average pooling (a window the size of the map: global).
    pub fn int8_avg_pool(spec: PoolSpec) -> Self {
        Self::fixed(StemLayer::Int8AvgPool(spec))
    }

    /// The layer placed at `offset` with its values appended to `weights`; checks their counts.
    pub(crate) fn place(&self, offset: u32, weights: &mut Vec<f32>) -> Result<StemLayer, Error> {
        let layer = Stem::of(&self.layer)?;
        let mut placed = self.layer;
        match &mut placed {
            StemLayer::Conv(c) | StemLayer::Depthwise(c) => c.offset = offset,
            StemLayer::Int8Conv(c) => c.conv.offset = offset,
            StemLayer::Int8Dense(d) => d.offset = offset,
            _ => {}
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

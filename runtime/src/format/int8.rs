//! The int8 stem's layout (format v4, capability `int8`): the tensor of an int8 convolution or
//! dense layer in the f32 words of the weights section ([`Int8Tensor`], laid out as
//! [`Int8ConvSpec`](super::spec::Int8ConvSpec) documents), and which maps are int8 along the
//! stem ([`StemLayer::next_domain`]).
//!
//! ```
//! use fewshot_runtime::format::int8::{pack_tensor, tensor_words, Int8Tensor};
//! // 2 channels of 3 weights: 4 x 2 words of per-channel values, then 2 words of weights.
//! let words = pack_tensor(&[5, -5], &[1 << 30; 2], &[0, -1], &[0.5, 0.25], &[1, 2, 3, -1, -2, -3]);
//! assert_eq!(words.len(), tensor_words(2, 6).unwrap());
//! let t = Int8Tensor::of(&words, 2, 6).unwrap();
//! assert_eq!((t.bias, t.shift, t.weights), (&[5, -5][..], &[0, -1][..], &[1i8, 2, 3, -1, -2, -3][..]));
//! ```

use super::invalid;
use super::spec::{Int8Params, StemLayer};
#[cfg(all(feature = "conv", feature = "int8"))]
use crate::math::int8::{MAX_SHIFT, MIN_SHIFT};
use crate::Error;

/// The int8 tensor of an int8 convolution or dense layer, viewed in place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Int8Tensor<'a> {
    /// Per output channel: the int32 bias.
    pub bias: &'a [i32],
    /// Per output channel: the Q31 multiplier.
    pub multiplier: &'a [i32],
    /// Per output channel: the shift.
    pub shift: &'a [i32],
    /// Per output channel: the weights' scale.
    pub scale: &'a [f32],
    /// The int8 weights, row-major `[output channel][fan-in]`.
    pub weights: &'a [i8],
}

/// Words of the tensor of `channels` output channels and `weights` int8 weights (`None` on
/// overflow).
pub fn tensor_words(channels: usize, weights: usize) -> Option<usize> {
    channels.checked_mul(4)?.checked_add(weights.div_ceil(4))
}

impl<'a> Int8Tensor<'a> {
    /// The tensor of `channels` output channels and `weights` weights in `words` (exactly
    /// [`tensor_words`] long).
    pub fn of(words: &'a [f32], channels: usize, weights: usize) -> Result<Self, Error> {
        let bad = invalid("stem.int8 tensor");
        if Some(words.len()) != tensor_words(channels, weights) {
            return Err(bad);
        }
        let (per, rest) = words.split_at(4 * channels);
        let ints: &[i32] = bytemuck::cast_slice(per);
        let (bias, rest_i) = ints.split_at(channels);
        let (multiplier, rest_i) = rest_i.split_at(channels);
        let (shift, _) = rest_i.split_at(channels);
        let scale = per.get(3 * channels..).ok_or(bad)?;
        let bytes: &[i8] = bytemuck::cast_slice(rest);
        let weights = bytes.get(..weights).ok_or(bad)?;
        Ok(Int8Tensor {
            bias,
            multiplier,
            shift,
            scale,
            weights,
        })
    }

    /// Validates the tensor at word `at` of `section`: multipliers non-negative, shifts in
    /// range, weight scales finite and positive (else [`Error::BadWeight`] at the word), and
    /// the last word's unused bytes zero.
    #[cfg(all(feature = "conv", feature = "int8"))]
    pub(crate) fn check(
        section: &[f32],
        at: usize,
        channels: usize,
        weights: usize,
    ) -> Result<(), Error> {
        let len = tensor_words(channels, weights).ok_or(invalid("stem.int8 tensor"))?;
        let end = at.checked_add(len).ok_or(invalid("weights_len"))?;
        let words = section.get(at..end).ok_or(invalid("weights_len"))?;
        let t = Int8Tensor::of(words, channels, weights)?;
        let bad = |block: usize, i: usize| Error::BadWeight {
            index: at + block * channels + i,
        };
        if let Some(i) = t.multiplier.iter().position(|&m| m < 0) {
            return Err(bad(1, i));
        }
        if let Some(i) = t
            .shift
            .iter()
            .position(|s| !(MIN_SHIFT..=MAX_SHIFT).contains(s))
        {
            return Err(bad(2, i));
        }
        if let Some(i) = t.scale.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(bad(3, i));
        }
        let bytes: &[u8] = bytemuck::cast_slice(words.get(4 * channels..).unwrap_or_default());
        if bytes
            .get(weights..)
            .unwrap_or_default()
            .iter()
            .any(|&b| b != 0)
        {
            return Err(Error::BadWeight { index: end - 1 });
        }
        Ok(())
    }
}

/// The tensor's words (feature `std`, for the writer): the per-channel values, then the
/// weights four to a word, zero-padded.
#[cfg(feature = "std")]
pub fn pack_tensor(
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    scale: &[f32],
    weights: &[i8],
) -> std::vec::Vec<f32> {
    let ints = bias.iter().chain(multiplier).chain(shift);
    let mut words: std::vec::Vec<f32> = ints.map(|&v| f32::from_bits(v as u32)).collect();
    words.extend_from_slice(scale);
    words.extend(weights.chunks(4).map(|c| {
        let mut b = [0u8; 4];
        for (o, &v) in b.iter_mut().zip(c) {
            *o = v as u8;
        }
        f32::from_bits(u32::from_le_bytes(b))
    }));
    words
}

impl Int8Params {
    /// [`Error::InvalidHeader`] unless the scale is finite and positive.
    pub fn check(&self, field: &'static str) -> Result<(), Error> {
        if self.scale.is_finite() && self.scale > 0.0 {
            Ok(())
        } else {
            Err(invalid(field))
        }
    }
}

impl StemLayer {
    /// The parameters of the map after this layer, given those of the map before it (`None`:
    /// an f32 map); `None` when the layer cannot read that map (an int8 layer on f32 values,
    /// an f32 layer on int8 ones, or parameters that differ from the layer's own).
    pub fn next_domain(&self, map: Option<Int8Params>) -> Option<Option<Int8Params>> {
        match (self, map) {
            (StemLayer::Quantise(b), None) => Some(Some(b.params)),
            (StemLayer::Dequantise(b), Some(p)) if p == b.params => Some(None),
            (StemLayer::Int8Conv(c), Some(p)) if p == c.input => Some(Some(c.output)),
            (StemLayer::Int8Dense(d), Some(p)) if p == d.input => Some(Some(d.output)),
            (StemLayer::Int8MaxPool(_) | StemLayer::Int8AvgPool(_), Some(p)) => Some(Some(p)),
            (
                StemLayer::Conv(_)
                | StemLayer::Depthwise(_)
                | StemLayer::MaxPool(_)
                | StemLayer::AvgPool(_)
                | StemLayer::GlobalAvgPool(_),
                None,
            ) => Some(None),
            _ => None,
        }
    }

    /// True for the layers of the int8 stem (capability `int8`).
    pub fn is_int8(&self) -> bool {
        !matches!(
            self,
            StemLayer::Conv(_)
                | StemLayer::Depthwise(_)
                | StemLayer::MaxPool(_)
                | StemLayer::AvgPool(_)
                | StemLayer::GlobalAvgPool(_)
        )
    }
}

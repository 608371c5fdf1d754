//! [`Decode`] for the stem's layers (format v4; called only with the feature `conv`).

use super::{decode_struct, Decode, Reader};
use crate::format::spec::*;

decode_struct!(Map {
    channels,
    height,
    width
});
decode_struct!(ConvSpec {
    input,
    channels,
    kernel,
    stride,
    padding,
    activation,
    offset
});
decode_struct!(PoolSpec {
    input,
    size,
    stride
});
decode_struct!(Int8Params { scale, zero_point });
decode_struct!(Int8Boundary { map, params });
decode_struct!(Int8ConvSpec {
    conv,
    depthwise,
    input,
    output
});
decode_struct!(Int8DenseSpec {
    inputs,
    outputs,
    activation,
    input,
    output,
    offset
});

impl Decode<'_> for StemLayer {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        Some(match r.variant()? {
            0 => StemLayer::Conv(Decode::decode(r)?),
            1 => StemLayer::Depthwise(Decode::decode(r)?),
            2 => StemLayer::MaxPool(Decode::decode(r)?),
            3 => StemLayer::AvgPool(Decode::decode(r)?),
            4 => StemLayer::GlobalAvgPool(Decode::decode(r)?),
            5 => StemLayer::Quantise(Decode::decode(r)?),
            6 => StemLayer::Dequantise(Decode::decode(r)?),
            7 => StemLayer::Int8Conv(Decode::decode(r)?),
            8 => StemLayer::Int8Dense(Decode::decode(r)?),
            9 => StemLayer::Int8MaxPool(Decode::decode(r)?),
            10 => StemLayer::Int8AvgPool(Decode::decode(r)?),
            _ => return None,
        })
    }
}

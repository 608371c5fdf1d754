//! A trunk written as a list of layers (`kind = "conv1d"`, ...), as a configuration holds it,
//! checked against the input's shape and turned into the network's layers.
//!
//! Shapes: a series of `channels x length` is a map of height 1, an image a 1-channel map of
//! `height x width`, a plain vector `n` channels of one position. Convolutions and pooling need a
//! map (`conv1d` and the 1-d pools a map of height 1); `dense` and `flatten` take anything and
//! give a vector.

use super::avg_pool::AvgPool;
use super::conv::Conv;
use super::layer::{Op, Shape};
use super::max_pool::MaxPool;
use super::window::Window;
use super::{Activation, LayerSpec};
use serde::{Deserialize, Serialize};

fn one() -> usize {
    1
}
fn relu() -> Activation {
    Activation::Relu
}

/// One layer of a configured trunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TrunkLayer {
    /// `units` outputs from every input value.
    Dense {
        units: usize,
        #[serde(default = "relu")]
        activation: Activation,
    },
    /// `channels` filters of `kernel` taps over a series (stride, zero padding at both ends).
    Conv1d {
        channels: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default = "relu")]
        activation: Activation,
    },
    /// `channels` filters of `kernel x kernel` over an image (stride, zero padding all round).
    Conv2d {
        channels: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default = "relu")]
        activation: Activation,
    },
    /// One filter per channel over a series.
    DepthwiseConv1d {
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default = "relu")]
        activation: Activation,
    },
    /// One `kernel x kernel` filter per channel over an image.
    DepthwiseConv2d {
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default = "relu")]
        activation: Activation,
    },
    /// The maximum of `size` (series) or `size x size` (image) windows, every `stride`
    /// (default: `size`).
    MaxPool { size: usize, stride: Option<usize> },
    /// The mean of the same windows.
    AvgPool { size: usize, stride: Option<usize> },
    /// The mean of each channel: one value per channel.
    GlobalAvgPool,
    /// The map's values as one vector (channel-major).
    Flatten,
}

impl TrunkLayer {
    /// The key naming the layer's kind in a configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            TrunkLayer::Dense { .. } => "dense",
            TrunkLayer::Conv1d { .. } => "conv1d",
            TrunkLayer::Conv2d { .. } => "conv2d",
            TrunkLayer::DepthwiseConv1d { .. } => "depthwise_conv1d",
            TrunkLayer::DepthwiseConv2d { .. } => "depthwise_conv2d",
            TrunkLayer::MaxPool { .. } => "max_pool",
            TrunkLayer::AvgPool { .. } => "avg_pool",
            TrunkLayer::GlobalAvgPool => "global_avg_pool",
            TrunkLayer::Flatten => "flatten",
        }
    }

    /// The network layer this one is on an input of shape `input` (whether it is a map: `map`),
    /// or why it cannot be.
    fn layer(&self, input: Shape, map: bool) -> Result<(LayerSpec, Shape, bool), String> {
        let n = input.len();
        let series = map && input.height == 1;
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "`{}` needs {what}; its input is {}",
                    self.kind(),
                    describe(input, map)
                ))
            }
        };
        let conv = |out_channels, kernel: [usize; 2], stride, padding: [usize; 2], depthwise| {
            let c = Conv {
                input,
                out_channels,
                kernel,
                stride,
                padding,
                depthwise,
            };
            let out = c.output_checked().ok_or_else(|| {
                format!(
                    "`{}`: a kernel of {} x {} with padding {} x {} and stride {stride} does not fit its input, {} (an output size would be below 1)",
                    self.kind(), kernel[0], kernel[1], padding[0], padding[1], describe(input, map)
                )
            })?;
            Ok::<_, String>((Op::Conv(c), out))
        };
        let window = |size: usize, stride: Option<usize>| {
            let kernel = if series { [1, size] } else { [size, size] };
            let w = Window {
                input,
                kernel,
                stride: stride.unwrap_or(size),
            };
            let out = w.output_checked().ok_or_else(|| {
                format!(
                    "`{}`: a window of {} x {} with stride {} does not fit its input, {} (an output size would be below 1)",
                    self.kind(), kernel[0], kernel[1], w.stride, describe(input, map)
                )
            })?;
            Ok::<_, String>((w, out))
        };
        let (op, out, act, map) = match *self {
            TrunkLayer::Dense { units, activation } => {
                need(units >= 1, "units >= 1")?;
                let l = LayerSpec::dense(n, units, activation);
                return Ok((l, Shape::flat(units), false));
            }
            TrunkLayer::Conv1d {
                channels,
                kernel,
                stride,
                padding,
                activation,
            } => {
                need(series, "a series (`input.kind = \"series\"`)")?;
                let (op, out) = conv(channels, [1, kernel], stride, [0, padding], false)?;
                (op, out, activation, true)
            }
            TrunkLayer::Conv2d {
                channels,
                kernel,
                stride,
                padding,
                activation,
            } => {
                need(map && !series, "an image (`input.kind = \"image\"`)")?;
                let (op, out) = conv(
                    channels,
                    [kernel, kernel],
                    stride,
                    [padding, padding],
                    false,
                )?;
                (op, out, activation, true)
            }
            TrunkLayer::DepthwiseConv1d {
                kernel,
                stride,
                padding,
                activation,
            } => {
                need(series, "a series (`input.kind = \"series\"`)")?;
                let c = input.channels;
                let (op, out) = conv(c, [1, kernel], stride, [0, padding], true)?;
                (op, out, activation, true)
            }
            TrunkLayer::DepthwiseConv2d {
                kernel,
                stride,
                padding,
                activation,
            } => {
                need(map && !series, "an image (`input.kind = \"image\"`)")?;
                let c = input.channels;
                let (op, out) = conv(c, [kernel, kernel], stride, [padding, padding], true)?;
                (op, out, activation, true)
            }
            TrunkLayer::MaxPool { size, stride } => {
                need(map, "a series or an image")?;
                let (w, out) = window(size, stride)?;
                (Op::MaxPool(MaxPool(w)), out, Activation::Identity, true)
            }
            TrunkLayer::AvgPool { size, stride } => {
                need(map, "a series or an image")?;
                let (w, out) = window(size, stride)?;
                (Op::AvgPool(AvgPool(w)), out, Activation::Identity, true)
            }
            TrunkLayer::GlobalAvgPool => {
                need(map, "a series or an image")?;
                let w = Window {
                    input,
                    kernel: [input.height, input.width],
                    stride: 1,
                };
                let out = Shape::flat(input.channels);
                (Op::AvgPool(AvgPool(w)), out, Activation::Identity, false)
            }
            TrunkLayer::Flatten => (Op::Flatten, Shape::flat(n), Activation::Identity, false),
        };
        Ok((LayerSpec::with_op(n, op, act), out, map))
    }
}

fn describe(s: Shape, map: bool) -> String {
    match (map, s.height) {
        (false, _) => format!("a vector of {}", s.len()),
        (true, 1) => format!("a series of {} channels x {}", s.channels, s.width),
        (true, _) => format!(
            "a map of {} channels x {} x {}",
            s.channels, s.height, s.width
        ),
    }
}

/// The network layers of `trunk` on an input of shape `input` (`map`: a series or an image, else
/// a plain vector), or the index of the first layer that does not fit and why.
pub fn build(
    input: Shape,
    map: bool,
    trunk: &[TrunkLayer],
) -> Result<Vec<LayerSpec>, (usize, String)> {
    let (mut shape, mut map) = (input, map);
    let mut layers = Vec::with_capacity(trunk.len());
    for (i, t) in trunk.iter().enumerate() {
        let (l, out, m) = t.layer(shape, map).map_err(|e| (i, e))?;
        layers.push(l);
        (shape, map) = (out, m);
    }
    Ok(layers)
}

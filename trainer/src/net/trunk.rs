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

    /// The network layer this one is on an input of shape `input` laid out as `layout`, the
    /// layout of its output, or why it cannot be.
    fn layer(&self, input: Shape, layout: Layout) -> Result<(LayerSpec, Shape, Layout), String> {
        let n = input.len();
        // What the input was declared as, whatever its size: an image pooled to one row is
        // still an image.
        let series = layout == Layout::Series;
        let map = layout != Layout::Vector;
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "`{}` needs {what}; its input is {}",
                    self.kind(),
                    describe(input, layout)
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
                    self.kind(), kernel[0], kernel[1], padding[0], padding[1], describe(input, layout)
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
                    self.kind(), kernel[0], kernel[1], w.stride, describe(input, layout)
                )
            })?;
            Ok::<_, String>((w, out))
        };
        let (op, out, act, keeps_map) = match *self {
            TrunkLayer::Dense { units, activation } => {
                need(units >= 1, "units >= 1")?;
                let l = LayerSpec::dense(n, units, activation);
                return Ok((l, Shape::flat(units), Layout::Vector));
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
        let out_layout = if keeps_map { layout } else { Layout::Vector };
        Ok((LayerSpec::with_op(n, op, act), out, out_layout))
    }
}

fn describe(s: Shape, layout: Layout) -> String {
    match layout {
        // The input's width is not known where the configuration is checked (1 stands in).
        Layout::Vector if s.len() > 1 => format!(
            "a vector of {} (after `flatten`, `global_avg_pool` or `dense`, or an input without an `[input]` table)",
            s.len()
        ),
        Layout::Vector => {
            "a vector (an input without an `[input]` table declaring its shape, or after `flatten`, `global_avg_pool` or `dense`)".into()
        }
        Layout::Series => format!("a series of {} channels x {}", s.channels, s.width),
        Layout::Image => format!(
            "a map of {} channels x {} x {}",
            s.channels, s.height, s.width
        ),
    }
}

/// How a layer's input is laid out: what the configuration's `input.kind` declared, until a
/// layer makes it a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Features without positions.
    Vector,
    /// Channels x length.
    Series,
    /// Channels x height x width.
    Image,
}

impl Layout {
    /// A map of `shape`'s size read by its height: a series when it has one row, else an image.
    pub fn of_map(shape: Shape) -> Layout {
        match shape.height {
            1 => Layout::Series,
            _ => Layout::Image,
        }
    }
}

/// The network layers of `trunk` on an input of shape `input` laid out as `layout`, or the
/// index of the first layer that does not fit and why.
pub fn build(
    input: Shape,
    layout: Layout,
    trunk: &[TrunkLayer],
) -> Result<Vec<LayerSpec>, (usize, String)> {
    let (mut shape, mut layout) = (input, layout);
    let mut layers = Vec::with_capacity(trunk.len());
    for (i, t) in trunk.iter().enumerate() {
        let (l, out, m) = t.layer(shape, layout).map_err(|e| (i, e))?;
        layers.push(l);
        (shape, layout) = (out, m);
    }
    Ok(layers)
}

//! One quantised layer: its int8 tensors and how it runs through the runtime's kernels.

use crate::net::{Activation, LayerSpec, Op};
use anyhow::{bail, Context, Result};
use runtime::math::int8::{
    self, quantize_multiplier, ConvGeom, PoolGeom, QuantConv, QuantDense, QuantParams, Requant,
};

/// The int8 tensors of a dense or convolution layer.
#[derive(Clone, Debug)]
pub struct QWeights {
    pub weights: Vec<i8>,
    /// Per output channel: the weights' scale (for dequantising them).
    pub w_scale: Vec<f32>,
    pub bias: Vec<i32>,
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
    pub in_zp: i32,
    pub out: QuantParams,
    pub act_min: i8,
}

/// A quantised layer.
#[derive(Clone, Debug)]
pub enum QLayer {
    Dense {
        inputs: usize,
        outputs: usize,
        q: QWeights,
    },
    Conv {
        geom: ConvGeom,
        q: QWeights,
    },
    MaxPool {
        geom: PoolGeom,
        io: QuantParams,
    },
    AvgPool {
        geom: PoolGeom,
        io: QuantParams,
    },
    Flatten {
        io: QuantParams,
    },
}

impl QWeights {
    /// Quantises `channels` rows of `w` (then `channels` biases in `p`) for input `inp` and
    /// output `out` with activation `act`.
    fn new(
        l: usize,
        p: &[f64],
        channels: usize,
        inp: QuantParams,
        out: QuantParams,
        act: Activation,
    ) -> Result<Self> {
        let act_min = match act {
            Activation::Relu => out.zero_point.max(-128) as i8,
            Activation::Identity => -128,
            other => bail!("layer {l}: activation {other:?} cannot be quantised (int8 trunks take ReLU or identity layers)"),
        };
        let (w, b) = p.split_at(p.len() - channels);
        let fan = w.len() / channels;
        let mut q = QWeights {
            weights: Vec::with_capacity(w.len()),
            w_scale: Vec::new(),
            bias: Vec::new(),
            multiplier: Vec::new(),
            shift: Vec::new(),
            in_zp: inp.zero_point,
            out,
            act_min,
        };
        let s_in = f64::from(inp.scale);
        for (row, &bias) in w.chunks_exact(fan).zip(b) {
            let max = row.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let s_w = if max > 0.0 { max / 127.0 } else { 1.0 };
            q.weights.extend(
                row.iter()
                    .map(|v| (v / s_w).round().clamp(-127.0, 127.0) as i8),
            );
            q.w_scale.push(s_w as f32);
            let bq = (bias / (s_in * s_w)).round();
            q.bias
                .push(bq.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32);
            let real = s_in * s_w / f64::from(out.scale);
            let (m, s) = quantize_multiplier(real)
                .with_context(|| format!("layer {l}: multiplier {real}"))?;
            q.multiplier.push(m);
            q.shift.push(s);
        }
        Ok(q)
    }
    fn requant(&self) -> Requant<'_> {
        Requant {
            multiplier: &self.multiplier,
            shift: &self.shift,
            out_zp: self.out.zero_point,
            act_min: self.act_min,
            act_max: 127,
        }
    }
    /// The dequantised weights (`s_w[c] q`), row-major.
    pub fn dequantised(&self) -> Vec<f64> {
        let fan = self.weights.len() / self.w_scale.len().max(1);
        self.weights
            .iter()
            .enumerate()
            .map(|(i, &v)| f64::from(self.w_scale[i / fan]) * f64::from(v))
            .collect()
    }
    /// Bytes of its tensors as the model file stores them: the int8 weights four to a word,
    /// and per output channel an int32 bias, multiplier and shift and an f32 weight scale.
    fn bytes(&self) -> usize {
        let per_channel = self.bias.len() + self.multiplier.len() + self.shift.len();
        self.weights.len().next_multiple_of(4) + 4 * (per_channel + self.w_scale.len())
    }
}

fn conv_geom(c: &crate::net::conv::Conv) -> ConvGeom {
    ConvGeom {
        in_channels: c.input.channels,
        height: c.input.height,
        width: c.input.width,
        out_channels: c.out_channels,
        kernel: c.kernel,
        stride: c.stride,
        padding: c.padding,
        depthwise: c.depthwise,
    }
}

fn pool_geom(w: &crate::net::window::Window) -> PoolGeom {
    PoolGeom {
        channels: w.input.channels,
        height: w.input.height,
        width: w.input.width,
        kernel: w.kernel,
        stride: w.stride,
    }
}

impl QLayer {
    /// Layer `l` of spec `s` with parameters `p` (weights then biases), input `inp`, the
    /// calibrated output `out` (pools and flatten keep `inp`).
    pub fn new(
        l: usize,
        s: &LayerSpec,
        p: &[f64],
        inp: QuantParams,
        out: QuantParams,
    ) -> Result<Self> {
        let keep = |act: Activation| -> Result<()> {
            if !matches!(act, Activation::Identity | Activation::Relu) {
                bail!(
                    "layer {l}: activation {act:?} after a {} cannot be quantised",
                    s.op.name()
                );
            }
            Ok(())
        };
        Ok(match &s.op {
            Op::Dense => QLayer::Dense {
                inputs: s.inputs,
                outputs: s.outputs,
                q: QWeights::new(l, p, s.outputs, inp, out, s.act)?,
            },
            Op::Conv(c) => QLayer::Conv {
                geom: conv_geom(c),
                q: QWeights::new(l, p, c.out_channels, inp, out, s.act)?,
            },
            Op::MaxPool(w) => {
                keep(s.act)?;
                QLayer::MaxPool {
                    geom: pool_geom(&w.0),
                    io: inp,
                }
            }
            Op::AvgPool(w) => {
                keep(s.act)?;
                QLayer::AvgPool {
                    geom: pool_geom(&w.0),
                    io: inp,
                }
            }
            Op::Flatten => {
                keep(s.act)?;
                QLayer::Flatten { io: inp }
            }
        })
    }

    /// The output's scale and zero point.
    pub fn output(&self) -> QuantParams {
        match self {
            QLayer::Dense { q, .. } | QLayer::Conv { q, .. } => q.out,
            QLayer::MaxPool { io, .. } | QLayer::AvgPool { io, .. } | QLayer::Flatten { io } => *io,
        }
    }

    /// Runs the layer on one sample with the runtime's kernels.
    pub fn run(&self, x: &[i8], scratch: &mut Vec<u32>) -> Result<Vec<i8>> {
        Ok(match self {
            QLayer::Dense { inputs, outputs, q } => {
                let l = QuantDense {
                    inputs: *inputs,
                    outputs: *outputs,
                    in_zp: q.in_zp,
                    weights: &q.weights,
                    bias: &q.bias,
                    requant: q.requant(),
                };
                scratch.resize(l.scratch_words(), 0);
                let mut y = vec![0; *outputs];
                int8::dense(&l, x, &mut y, scratch)?;
                y
            }
            QLayer::Conv { geom, q } => {
                let l = QuantConv {
                    geom: *geom,
                    in_zp: q.in_zp,
                    weights: &q.weights,
                    bias: &q.bias,
                    requant: q.requant(),
                };
                let [c, h, w] = geom.output()?;
                scratch.resize(l.scratch_words(), 0);
                let mut y = vec![0; c * h * w];
                int8::conv(&l, x, &mut y, scratch)?;
                y
            }
            QLayer::MaxPool { geom, .. } | QLayer::AvgPool { geom, .. } => {
                let [c, h, w] = geom.output()?;
                let mut y = vec![0; c * h * w];
                if matches!(self, QLayer::MaxPool { .. }) {
                    int8::max_pool(geom, x, &mut y)?;
                } else {
                    int8::avg_pool(geom, x, &mut y)?;
                }
                y
            }
            QLayer::Flatten { .. } => x.to_vec(),
        })
    }

    /// Bytes of its tensors.
    pub fn bytes(&self) -> usize {
        match self {
            QLayer::Dense { q, .. } | QLayer::Conv { q, .. } => q.bytes(),
            _ => 0,
        }
    }
}

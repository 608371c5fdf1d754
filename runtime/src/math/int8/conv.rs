//! The int8 convolution (1-D as height 1, 2-D, depthwise) with the trainer's geometry
//! (`trainer/src/net/conv.rs`): weights int8 `[out channel][input channel of its group][kernel
//! row][kernel column]`, one stride for both directions, zero padding, which reads the input's
//! zero point (real 0) as TFLM does; output channel-major `[channel][row][column]`.
//!
//! The input is unrolled four output positions at a time into the packed int16 scratch
//! (im2col, see [`super::pack`]), so every weight word widened once feeds four columns.
//!
//! ```
//! use fewshot_runtime::math::int8::{conv, ConvGeom, QuantConv, Requant};
//! // conv1d: 1 channel of 4 values -> 1 channel, kernel 3, padding 1: [x0+x1, x0+x1+x2, ...]
//! let geom = ConvGeom { in_channels: 1, height: 1, width: 4, out_channels: 1, kernel: [1, 3],
//!                       stride: 1, padding: [0, 1], depthwise: false };
//! let layer = QuantConv {
//!     geom,
//!     in_zp: 5,
//!     weights: &[1, 1, 1],
//!     bias: &[0],
//!     requant: Requant { multiplier: &[1 << 30], shift: &[1], out_zp: 0, act_min: -128, act_max: 127 },
//! };
//! let mut scratch = vec![0u32; layer.scratch_words()];
//! let mut y = [0i8; 4];
//! conv(&layer, &[6, 7, 8, 9], &mut y, &mut scratch).unwrap();
//! assert_eq!(y, [3, 6, 9, 7]); // x - 5 = [1, 2, 3, 4]; the padding adds 0
//! ```

use super::{bias, check_len, put, split_row, tail_dot, Kernels, Native, Packer, Requant};
use crate::Error;

/// A convolution's shapes (a series is a map of height 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input channels.
    pub in_channels: usize,
    /// Input rows (1 for a series).
    pub height: usize,
    /// Input columns.
    pub width: usize,
    /// Output channels (`in_channels` when depthwise).
    pub out_channels: usize,
    /// Kernel rows and columns.
    pub kernel: [usize; 2],
    /// Step between windows, in both directions (>= 1).
    pub stride: usize,
    /// Zero padding above/below and left/right.
    pub padding: [usize; 2],
    /// Each output channel sees its own input channel only.
    pub depthwise: bool,
}

impl ConvGeom {
    /// `[channels, rows, columns]` of the output, or `Error::InvalidHeader` when the kernel
    /// does not fit the padded input, a size is zero, or a depthwise layer changes the channels.
    pub fn output(&self) -> Result<[usize; 3], Error> {
        let bad = Error::InvalidHeader {
            field: "int8 conv geometry",
        };
        let side = |len: usize, k: usize, p: usize| {
            let padded = p.checked_mul(2)?.checked_add(len)?;
            (k >= 1 && len >= 1 && padded >= k && self.stride >= 1)
                .then(|| (padded - k) / self.stride + 1)
        };
        let ok = self.out_channels >= 1
            && self.in_channels >= 1
            && (!self.depthwise || self.out_channels == self.in_channels);
        let oh = side(self.height, self.kernel[0], self.padding[0]).ok_or(bad)?;
        let ow = side(self.width, self.kernel[1], self.padding[1]).ok_or(bad)?;
        let n = [self.out_channels, oh, ow];
        let fits = self.fan_in().is_some()
            && n.iter()
                .try_fold(1usize, |a, &v| a.checked_mul(v))
                .is_some();
        (ok && fits).then_some(n).ok_or(bad)
    }
    /// Input channels each output channel sees.
    pub fn group_in(&self) -> usize {
        if self.depthwise {
            1
        } else {
            self.in_channels
        }
    }
    /// Inputs that reach one output (`None` on overflow).
    pub fn fan_in(&self) -> Option<usize> {
        self.group_in()
            .checked_mul(self.kernel[0])?
            .checked_mul(self.kernel[1])
    }
    /// Input values per sample.
    pub fn input_len(&self) -> usize {
        self.in_channels
            .saturating_mul(self.height)
            .saturating_mul(self.width)
    }
}

/// A quantised convolution as the runtime reads it (every slice borrowed, e.g. from flash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantConv<'a> {
    /// Shapes.
    pub geom: ConvGeom,
    /// The input's zero point, in `-128..=127` (what the padding reads).
    pub in_zp: i32,
    /// `out_channels x fan_in` int8 weights (per-channel symmetric).
    pub weights: &'a [i8],
    /// `out_channels` int32 biases (in units of `s_in * s_w[c]`).
    pub bias: &'a [i32],
    /// Per-channel requantisation.
    pub requant: Requant<'a>,
}

impl QuantConv<'_> {
    /// Checks the geometry, every length and parameter; the output shape.
    pub fn check(&self) -> Result<[usize; 3], Error> {
        let out = self.geom.output()?;
        let fan = self.geom.fan_in().unwrap_or(usize::MAX);
        let n = fan.saturating_mul(self.geom.out_channels);
        check_len("int8 conv weights", n, self.weights.len())?;
        check_len("int8 conv bias", self.geom.out_channels, self.bias.len())?;
        super::check_zp(self.in_zp)?;
        self.requant.check(self.geom.out_channels)?;
        Ok(out)
    }
    /// Words of scratch [`conv`] needs.
    pub fn scratch_words(&self) -> usize {
        super::packed_words(self.geom.fan_in().unwrap_or(0), 4)
    }
}

/// Runs the layer on one sample with the target's kernels.
pub fn conv(l: &QuantConv, x: &[i8], y: &mut [i8], scratch: &mut [u32]) -> Result<(), Error> {
    conv_with::<Native>(l, x, y, scratch)
}

/// [`conv`] with the kernels `K` (the on-target tests compare them).
pub fn conv_with<K: Kernels>(
    l: &QuantConv,
    x: &[i8],
    y: &mut [i8],
    scratch: &mut [u32],
) -> Result<(), Error> {
    let [oc_n, oh, ow] = l.check()?;
    let g = &l.geom;
    check_len("int8 conv input", g.input_len(), x.len())?;
    let positions = oh * ow;
    check_len("int8 conv output", oc_n * positions, y.len())?;
    let fan = g.fan_in().unwrap_or(0);
    let packed = super::scratch(scratch, l.scratch_words())?;
    let (groups, per_group) = if g.depthwise {
        (g.in_channels, 1)
    } else {
        (1, oc_n)
    };
    let tl = fan % 4;
    for grp in 0..groups {
        for p0 in (0..positions).step_by(4) {
            let cols = (positions - p0).min(4);
            for c in 0..4 {
                let at = (c < cols).then(|| ((p0 + c) / ow, (p0 + c) % ow));
                unroll(l, x, grp, at, Packer::new(packed, fan, 4, c));
            }
            let (blocks, tail) = packed.split_at(fan / 4 * 8);
            for oc in grp * per_group..(grp + 1) * per_group {
                let (h, t) = split_row(l.weights, fan, oc);
                let acc = K::dot_c4(h, blocks, [bias(l.bias, oc); 4]);
                for (c, a) in acc.into_iter().enumerate().take(cols) {
                    let xt = tail.get(c * tl..(c + 1) * tl).unwrap_or_default();
                    let v = l.requant.apply(oc, tail_dot(t, xt, a));
                    put(y, oc * positions + p0 + c, v);
                }
            }
        }
    }
    Ok(())
}

/// Packs the window of output position `at` (row, column) of group `grp`, each value minus the
/// zero point (padding: 0); no position (a block's unused column): zeros.
fn unroll(l: &QuantConv, x: &[i8], grp: usize, at: Option<(usize, usize)>, mut p: Packer) {
    let g = &l.geom;
    let (c0, cn) = if g.depthwise {
        (grp, 1)
    } else {
        (0, g.in_channels)
    };
    let [kh, kw] = g.kernel;
    let Some((oy, ox)) = at else {
        (0..cn * kh * kw).for_each(|_| p.push(0));
        return;
    };
    for ic in c0..c0 + cn {
        for a in 0..kh {
            let iy = (oy * g.stride + a)
                .checked_sub(g.padding[0])
                .filter(|&v| v < g.height);
            for b in 0..kw {
                let ix = (ox * g.stride + b)
                    .checked_sub(g.padding[1])
                    .filter(|&v| v < g.width);
                let v = match (iy, ix) {
                    (Some(iy), Some(ix)) => x.get((ic * g.height + iy) * g.width + ix),
                    _ => None,
                };
                p.push(v.map_or(0, |&v| (i32::from(v) - l.in_zp) as i16));
            }
        }
    }
}

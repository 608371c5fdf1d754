//! The int8 convolution (1-D as height 1, 2-D, depthwise) with the trainer's geometry
//! (`trainer/src/net/conv.rs`): weights int8 `[out channel][input channel of its group][kernel
//! row][kernel column]`, one stride for both directions, zero padding, which reads the input's
//! zero point (real 0) as TFLM does; output channel-major `[channel][row][column]`.
//!
//! The input is first copied into the scratch zero-padded (with its zero point). Layers whose
//! outputs each see one input plane (depthwise, or one input channel) through a kernel of one
//! or three rows of up to eight columns then run from it directly ([`super::direct`]). The
//! others are unrolled four output positions at a time into the packed int16 scratch (im2col,
//! [`super::im2col`], [`super::pack`]), so every weight word widened once feeds four columns;
//! then every output channel of the four columns is one dot product over them and one
//! requantisation, all the channels in one kernel call where their requantisations have the
//! short form ([`super::Kernels::dot_c4_channels`]).
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

use super::im2col::{bytes, Windows};
use super::pack::pack_planes;
use super::{check_len, direct, packed_words, Kernels, Native, Requant, ShortRun};
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
    /// Words of scratch [`conv`] needs ([`conv_scratch_words`] of its geometry).
    pub fn scratch_words(&self) -> usize {
        conv_scratch_words(&self.geom)
    }
}

/// Words of scratch a convolution needs: four packed columns, one window of bytes and the
/// input zero-padded as bytes (each with a word to spare for the four-byte copies).
pub fn conv_scratch_words(g: &ConvGeom) -> usize {
    let fan = g.fan_in().unwrap_or(0);
    let [h, w] = padded(g);
    let padded = g.in_channels.saturating_mul(h).saturating_mul(w);
    packed_words(fan, 4)
        .saturating_add(fan.div_ceil(4) + 1)
        .saturating_add(padded.div_ceil(4) + 1)
}

/// Rows and columns of the zero-padded input.
fn padded(g: &ConvGeom) -> [usize; 2] {
    [0, 1].map(|i| {
        let side = if i == 0 { g.height } else { g.width };
        g.padding[i].saturating_mul(2).saturating_add(side)
    })
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
    let s = super::scratch(scratch, l.scratch_words())?;
    let (packed, rest) = s.split_at_mut(packed_words(fan, 4));
    let (window, input) = rest.split_at_mut(fan.div_ceil(4) + 1);
    let padded_input = bytes(input);
    let direct = direct::applies(g.depthwise, g.in_channels, g.kernel);
    // Without padding the padded layout is the input's own: the im2col gather reads it in
    // place (the direct kernels read whole words, and need the spare bytes after a copy).
    let input: &[i8] = if g.padding == [0, 0] && !direct {
        x
    } else {
        pad(l, x, padded_input);
        padded_input
    };
    if direct {
        let planes = direct::Planes {
            weights: l.weights,
            bias: l.bias,
            requant: &l.requant,
            zp: l.in_zp,
            padded: padded(g),
            out: [oh, ow],
            stride: g.stride,
            shared: !g.depthwise,
        };
        direct::direct::<K>(&planes, g.kernel, input, y);
        return Ok(());
    }
    // A group of output channels sees the same input channels: all of them, or (depthwise)
    // its own.
    let groups = if g.depthwise { g.in_channels } else { 1 };
    for grp in 0..groups {
        group::<K>(l, grp, (input, [oh, ow]), (packed, window), y);
    }
    Ok(())
}

/// The output channels of group `grp` (all of them, or a depthwise layer's channel `grp`)
/// through im2col: four positions at a time packed from `input` (the padded input, or the
/// input itself without padding) into `packed` through `window`, then every channel's dot
/// products and requantisation ([`block`]) into its planes of `y`.
fn group<K: Kernels>(
    l: &QuantConv,
    grp: usize,
    (input, [oh, ow]): (&[i8], [usize; 2]),
    (packed, window): (&mut [u32], &mut [u32]),
    y: &mut [i8],
) {
    let g = &l.geom;
    let positions = oh * ow;
    let fan = g.fan_in().unwrap_or(0);
    let (per_group, channels) = if g.depthwise {
        (1, (grp, 1))
    } else {
        (g.out_channels, (0, g.in_channels))
    };
    let part = |n: usize| grp * per_group * n..(grp + 1) * per_group * n;
    let rows = Rows {
        weights: l.weights.get(part(fan)).unwrap_or_default(),
        bias: l.bias.get(part(1)).unwrap_or_default(),
        multiplier: l.requant.multiplier.get(part(1)).unwrap_or_default(),
        shift: l.requant.shift.get(part(1)).unwrap_or_default(),
    };
    let per_channel = [rows.bias, rows.multiplier, rows.shift];
    let short = ShortRun::new(rows.weights, fan, per_channel, &l.requant);
    let yg = y.get_mut(part(positions)).unwrap_or_default();
    // A 1 x 1 window with stride 1 and no padding is one value of every input plane at the
    // output's own position: packed from the planes directly (`pack_planes`).
    let planes = !g.depthwise && g.kernel == [1, 1] && g.stride == 1 && g.padding == [0, 0];
    let windows = Windows::of(g, input, channels, (padded(g), ow), l.in_zp);
    windows.prime(window);
    for p0 in (0..positions).step_by(4) {
        let cols = (positions - p0).min(4);
        if planes {
            let shape = (g.in_channels, positions);
            pack_planes(input, shape, (p0, cols), l.in_zp, packed);
        } else {
            windows.pack((p0, cols), window, packed);
        }
        let run = (&rows, short.as_ref());
        block::<K>(run, &l.requant, packed, (yg, positions), (p0, cols));
    }
}

/// The weights and per-channel parameters of one group's output channels.
struct Rows<'a> {
    weights: &'a [i8],
    bias: &'a [i32],
    multiplier: &'a [i32],
    shift: &'a [i32],
}

/// Every output channel of `rows` at the `cols` positions from `p0` (the packed columns):
/// `y` holds the group's outputs, `positions` per channel. Four columns of channels whose
/// requantisations have the short form (`short`, the same channels) go through
/// [`Kernels::dot_c4_channels`], all of them in one call (a channel it hands back is
/// requantised here, and the next call starts after it).
#[inline(never)]
fn block<K: Kernels>(
    (rows, short): (&Rows, Option<&ShortRun>),
    rq: &Requant,
    packed: &[u32],
    (y, positions): (&mut [i8], usize),
    (p0, cols): (usize, usize),
) {
    let n = rows.bias.len();
    let fan = rows.weights.len() / n.max(1);
    if let (4, Some(short)) = (cols, short) {
        let mut k = 0;
        while k < n {
            let out = y.get_mut(k * positions + p0..).unwrap_or_default();
            let mut acc = [0; 4];
            k += K::dot_c4_channels(&short.from(k), packed, (out, positions), &mut acc);
            if k < n {
                let o = y.get_mut(k * positions + p0..).unwrap_or_default();
                let at = |v: &[i32]| v.get(k).copied().unwrap_or(0);
                rq.with(at(rows.multiplier), at(rows.shift))
                    .apply_each(&acc, o);
                k += 1;
            }
        }
        return;
    }
    let params = rows.bias.iter().zip(rows.multiplier).zip(rows.shift);
    let outs = y.chunks_exact_mut(positions.max(1));
    for ((w, ((&b, &m), &s)), out) in rows.weights.chunks_exact(fan.max(1)).zip(params).zip(outs) {
        let ch = rq.with(m, s);
        let Some(o) = out.get_mut(p0..p0 + cols) else {
            continue;
        };
        let acc = K::dot_c4(w, packed, [b; 4]);
        match o.first_chunk_mut::<4>() {
            // Four columns (all but a row's last block): a fixed length, no per-output test.
            Some(o4) => ch.apply_each(&acc, o4),
            None => ch.apply_each(&acc, o),
        }
    }
}

/// Writes the input, zero-padded with its zero point, as bytes into `xp` (then the zero point
/// to its end): `pad::pad_planes`.
fn pad(l: &QuantConv, x: &[i8], xp: &mut [i8]) {
    let g = &l.geom;
    super::pad::pad_planes(x, [g.height, g.width], g.padding, l.in_zp as i8, xp);
}

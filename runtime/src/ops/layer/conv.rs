//! Convolution of the stem (cargo feature `conv`): `channels` filters over a zero-padded
//! `channels x height x width` map (a series is a map of height 1), full (every filter sees
//! every input channel) or depthwise (filter `c` sees input channel `c`), then an activation.
//!
//! Each output is its channel's bias plus the terms `w x` of its filter added sequentially in
//! (input channel, kernel row, kernel column) order, a tap in the zero padding adding `w x 0`:
//! every target computes the same bits. (Adding `w x 0` instead of skipping the tap changes a
//! sum only when it is a zero of the other sign: it lets the padded map be computed as a map
//! without padding, below.)
//!
//! [`Conv::run`] is the stem's path: it copies the input into its zero-padded map (in the
//! buffer that receives the output otherwise) and convolves that map with no bounds to check,
//! back into the input's buffer. On the Cortex-M4F, blocks of output channels x 8 (or 4)
//! consecutive outputs of a row at stride 1 or 2 go through the kernels of `math::arm_conv` (one
//! `vldmia` of the inputs per tap; a row's last block overlapping the one before it); what they
//! do not take (other strides, maps narrower than a block, other targets) goes through
//! a portable loop, one kernel row over one output row at a time. [`LayerOp::forward`]
//! gives the same values without the padded copy (slower).
//!
//! ```
//! use fewshot_runtime::format::spec::{ConvSpec, Map};
//! use fewshot_runtime::ops::layer::{Conv, LayerOp};
//! use fewshot_runtime::Activation;
//! // A 2-tap difference over a series of 4, padded by one column on each side.
//! let spec = ConvSpec {
//!     input: Map { channels: 1, height: 1, width: 4 },
//!     channels: 1,
//!     kernel: [1, 2],
//!     stride: 1,
//!     padding: [0, 1],
//!     activation: Activation::Identity,
//!     offset: 0,
//! };
//! let conv = Conv::of(&spec, false);
//! let mut y = [0.0; 5];
//! conv.forward(&[-1.0, 1.0], &[0.5], &[1.0, 2.0, 4.0, 8.0], &mut y);
//! assert_eq!(y, [1.5, 1.5, 2.5, 4.5, -7.5]);
//! ```

use super::LayerOp;
use crate::format::spec::{ConvSpec, Map};
use crate::format::{invalid, Capabilities};
use crate::math::{activate, dot_from};
use crate::{Activation, Error};

/// A convolution's geometry and nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv {
    spec: ConvSpec,
    depthwise: bool,
    /// [`Conv::output_map`] and [`Conv::padded_map`], found once (a layer asks for them at
    /// every step of its forward pass).
    output: Option<Map>,
    padded: Option<Map>,
}

/// The output length of one side: `(len + 2 pad - k) / stride + 1`, `None` when the kernel does
/// not fit the padded side or a size is zero.
pub(crate) fn side(len: u16, k: u16, pad: u16, stride: u16) -> Option<u16> {
    let padded = u32::from(len) + 2 * u32::from(pad);
    let k = u32::from(k);
    if len == 0 || k == 0 || stride == 0 || padded < k {
        return None;
    }
    u16::try_from((padded - k) / u32::from(stride) + 1).ok()
}

/// Adds to each output `row[i]` the terms `t[k] x[i s + k]` of one kernel row `t` over one
/// input row `x` at stride `s`, in order: unrolled for the usual kernel widths, whose lengths
/// are then known to the compiler.
fn add_row_terms(row: &mut [f32], t: &[f32], x: &[f32], s: usize) {
    fn fixed<const K: usize>(row: &mut [f32], t: &[f32], x: &[f32], s: usize) {
        let Ok(t) = <&[f32; K]>::try_from(t) else {
            return;
        };
        for (i, o) in row.iter_mut().enumerate() {
            let at = i * s;
            let Some(Ok(xs)) = x.get(at..at + K).map(<&[f32; K]>::try_from) else {
                return;
            };
            let mut acc = *o;
            for k in 0..K {
                acc += t[k] * xs[k];
            }
            *o = acc;
        }
    }
    match t.len() {
        1 => fixed::<1>(row, t, x, s),
        3 => fixed::<3>(row, t, x, s),
        5 => fixed::<5>(row, t, x, s),
        7 => fixed::<7>(row, t, x, s),
        n => {
            for (i, o) in row.iter_mut().enumerate() {
                let at = i * s;
                let Some(xs) = x.get(at..at + n) else {
                    return;
                };
                *o = dot_from(*o, t, xs);
            }
        }
    }
}

/// Values in `map`, `None` above [`MAX_MAP_LEN`](crate::format::spec::MAX_MAP_LEN) or when
/// a size is zero.
pub(crate) fn map_len(map: &Map) -> Option<usize> {
    let n = usize::from(map.channels)
        .checked_mul(usize::from(map.height))?
        .checked_mul(usize::from(map.width))?;
    (1..=crate::format::spec::MAX_MAP_LEN)
        .contains(&n)
        .then_some(n)
}

/// The output map of `s`, `None` when the geometry is invalid (the caller has checked the
/// padded map).
fn output_map(s: &ConvSpec, depthwise: bool) -> Option<Map> {
    if s.channels == 0 || (depthwise && s.channels != s.input.channels) {
        return None;
    }
    let map = Map {
        channels: s.channels,
        height: side(s.input.height, s.kernel[0], s.padding[0], s.stride)?,
        width: side(s.input.width, s.kernel[1], s.padding[1], s.stride)?,
    };
    map_len(&s.input)?;
    map_len(&map)?;
    Some(map)
}

/// The input map of `s` with its zero padding; `None` above
/// [`MAX_MAP_LEN`](crate::format::spec::MAX_MAP_LEN).
fn padded_map(s: &ConvSpec) -> Option<Map> {
    let grow = |len: u16, pad: u16| len.checked_add(pad.checked_mul(2)?);
    let map = Map {
        channels: s.input.channels,
        height: grow(s.input.height, s.padding[0])?,
        width: grow(s.input.width, s.padding[1])?,
    };
    map_len(&map).map(|_| map)
}

impl Conv {
    /// The convolution of a stem entry (`depthwise`: one input channel per filter).
    pub fn of(spec: &ConvSpec, depthwise: bool) -> Conv {
        let padded = padded_map(spec);
        let output = padded.and_then(|_| output_map(spec, depthwise));
        Conv {
            spec: *spec,
            depthwise,
            output,
            padded,
        }
    }

    /// Input channels each filter sees.
    fn group_in(&self) -> usize {
        if self.depthwise {
            1
        } else {
            usize::from(self.spec.input.channels)
        }
    }

    /// Taps of one filter.
    fn fan_in(&self) -> usize {
        let [kh, kw] = self.spec.kernel;
        self.group_in()
            .saturating_mul(usize::from(kh))
            .saturating_mul(usize::from(kw))
    }

    /// The output map, `None` when the geometry is invalid.
    pub fn output_map(&self) -> Option<Map> {
        self.output
    }

    /// The input map.
    pub fn input_map(&self) -> Map {
        self.spec.input
    }

    /// The input map with its zero padding (the input map without padding); `None` above
    /// [`MAX_MAP_LEN`](crate::format::spec::MAX_MAP_LEN).
    fn padded_map(&self) -> Option<Map> {
        self.padded
    }

    /// Floats of the buffer [`Conv::run`] writes the padded input map to (0 without padding).
    pub fn work_len(&self) -> usize {
        if self.spec.padding == [0, 0] {
            return 0;
        }
        self.padded_map().and_then(|m| map_len(&m)).unwrap_or(0)
    }

    /// The stem's forward pass: `src` holds the input map; returns true when the output map is
    /// at the start of `dst`, false when it is at the start of `src` (with padding: the padded
    /// input is written to `dst` and convolved into `src`). Buffers shorter than the wider of
    /// the input, output and padded maps are an internal error ([`Stem::run`](super::Stem::run)
    /// sizes them).
    pub fn run(
        &self,
        w: &[f32],
        b: &[f32],
        src: &mut [f32],
        dst: &mut [f32],
    ) -> Result<bool, Error> {
        let (n_in, n_out, work) = (self.inputs(), self.outputs(), self.work_len());
        let need = n_in.max(n_out).max(work);
        if src.len() < need || dst.len() < need {
            return Err(Error::internal("conv::run"));
        }
        if work == 0 {
            if let (Some(x), Some(y)) = (src.get(..n_in), dst.get_mut(..n_out)) {
                self.forward(w, b, x, y);
            }
            return Ok(true);
        }
        let (Some(map), Some(p), Some(y)) = (
            self.padded_map(),
            dst.get_mut(..work),
            src.get_mut(..n_out.max(n_in)),
        ) else {
            return Err(Error::internal("conv::run"));
        };
        // The input map only: `y` is as long as the larger of the input and output maps.
        self.pad_into(y.get(..n_in).unwrap_or_default(), p);
        if let Some(y) = y.get_mut(..n_out) {
            self.convolve(w, b, p, &map, [0, 0], y);
        }
        Ok(false)
    }

    /// Copies the input map `x` into the zero-padded map `p`.
    fn pad_into(&self, x: &[f32], p: &mut [f32]) {
        let s = &self.spec;
        let (map, pad) = (
            [s.input.height, s.input.width].map(usize::from),
            s.padding.map(usize::from),
        );
        #[cfg(m4f_kernels)]
        if crate::math::arm_conv::pad(x, map, pad, p) {
            return;
        }
        crate::math::pad_planes(x, map, pad, 0.0, p);
    }

    /// Output `(oc, oy, ox)` over the map `x` (of `xm`, zero-padded by `pad`): the bias, then
    /// every tap in order, `w x 0` for a tap in the padding.
    #[allow(clippy::too_many_arguments)]
    fn one(
        &self,
        oc: usize,
        oy: usize,
        ox: usize,
        w: &[f32],
        bias: f32,
        x: &[f32],
        xm: &Map,
        pad: [usize; 2],
    ) -> f32 {
        let s = &self.spec;
        let (h, wd) = (usize::from(xm.height), usize::from(xm.width));
        let [kh, kw] = [usize::from(s.kernel[0]), usize::from(s.kernel[1])];
        let [ph, pw] = pad;
        let st = usize::from(s.stride);
        let mut acc = bias;
        let zeros = |acc: f32, taps: &[f32]| taps.iter().fold(acc, |acc, &t| acc + t * 0.0);
        for gi in 0..self.group_in() {
            let ic = if self.depthwise { oc } else { gi };
            for a in 0..kh {
                let at = ((oc * self.group_in() + gi) * kh + a) * kw;
                let taps = w.get(at..at + kw).unwrap_or(&[]);
                let iy = (oy * st + a).checked_sub(ph).filter(|&r| r < h);
                let Some(iy) = iy else {
                    acc = zeros(acc, taps);
                    continue;
                };
                // Kernel columns b with 0 <= ox s + b - pw < width.
                let lo = pw.saturating_sub(ox * st).min(taps.len());
                let hi = kw
                    .min((wd + pw).saturating_sub(ox * st))
                    .clamp(lo, taps.len());
                acc = zeros(acc, taps.get(..lo).unwrap_or(&[]));
                let ix = (ic * h + iy) * wd + (ox * st + lo).saturating_sub(pw);
                if let (Some(wr), Some(xr)) = (taps.get(lo..hi), x.get(ix..ix + hi - lo)) {
                    acc = dot_from(acc, wr, xr);
                }
                acc = zeros(acc, taps.get(hi..).unwrap_or(&[]));
            }
        }
        acc
    }

    /// The convolution of the map `x` (of `xm`, zero-padded by `pad`) into `y`, each output
    /// through the activation.
    fn convolve(&self, w: &[f32], b: &[f32], x: &[f32], xm: &Map, pad: [usize; 2], y: &mut [f32]) {
        let Some(out) = self.output_map() else {
            return;
        };
        // Every output by the block kernels, or none.
        if self.blocks(&out, xm, pad, w, b, x, y) {
            return;
        }
        if pad == [0, 0] {
            self.rows(&out, w, b, x, xm, y);
            return;
        }
        let (oh, ow) = (usize::from(out.height), usize::from(out.width));
        let (co, per) = (usize::from(out.channels), oh * ow);
        let act = self.spec.activation;
        for oc in 0..co {
            let bias = b.get(oc).copied().unwrap_or(0.0);
            for oy in 0..oh {
                for ox in 0..ow {
                    let v = activate(act, self.one(oc, oy, ox, w, bias, x, xm, pad));
                    if let Some(o) = y.get_mut(oc * per + oy * ow + ox) {
                        *o = v;
                    }
                }
            }
        }
    }

    /// Every output (of the map `out`) over the map `x` (of `xm`) without padding, a kernel row
    /// over an output row at a time: each output its bias, then its terms in (group, kernel
    /// row, column) order, as [`Conv::one`] adds them.
    fn rows(&self, out: &Map, w: &[f32], b: &[f32], x: &[f32], xm: &Map, y: &mut [f32]) {
        let (oh, ow) = (usize::from(out.height), usize::from(out.width));
        let (h, wd) = (usize::from(xm.height), usize::from(xm.width));
        let [kh, kw] = self.spec.kernel.map(usize::from);
        let (st, fan, groups) = (
            usize::from(self.spec.stride),
            self.fan_in(),
            self.group_in(),
        );
        let act = self.spec.activation;
        for oc in 0..usize::from(out.channels) {
            let Some(filter) = w.get(oc * fan..oc * fan + fan) else {
                continue;
            };
            let bias = b.get(oc).copied().unwrap_or(0.0);
            let ic0 = if self.depthwise { oc } else { 0 };
            for oy in 0..oh {
                let at = (oc * oh + oy) * ow;
                let Some(row) = y.get_mut(at..at + ow) else {
                    continue;
                };
                // The row's accumulators live in the output row: each output gets its bias,
                // then its terms kernel row by kernel row in (group, kernel row, column) order.
                row.fill(bias);
                for (r, t) in filter.chunks_exact(kw.max(1)).take(groups * kh).enumerate() {
                    let (g, a) = (r / kh, r % kh);
                    let start = ((ic0 + g) * h + oy * st + a) * wd;
                    let Some(xr) = x.get(start..start + wd) else {
                        continue;
                    };
                    add_row_terms(row, t, xr, st);
                }
                for o in row.iter_mut() {
                    *o = activate(act, *o);
                }
            }
        }
    }

    /// The Cortex-M4F's block kernels on a map without padding (ReLU or identity): true when
    /// they computed every output, false when none (see `arm_conv::layer`).
    #[cfg(m4f_kernels)]
    #[allow(clippy::too_many_arguments)]
    fn blocks(
        &self,
        out: &Map,
        xm: &Map,
        pad: [usize; 2],
        w: &[f32],
        b: &[f32],
        x: &[f32],
        y: &mut [f32],
    ) -> bool {
        use crate::math::arm_conv::{layer, Block, Shape};
        let relu = match self.spec.activation {
            Activation::Relu => true,
            Activation::Identity => false,
            _ => return false,
        };
        let (ow, stride) = (usize::from(out.width), usize::from(self.spec.stride));
        let kernel = self.spec.kernel.map(usize::from);
        if pad != [0, 0] {
            return false;
        }
        let mut shape = Shape {
            stride,
            kw: usize::from(self.spec.kernel[1]),
            kh: usize::from(self.spec.kernel[0]),
            groups: self.group_in(),
            depthwise: self.depthwise,
            h: usize::from(xm.height),
            row: usize::from(xm.width),
            co: usize::from(out.channels),
            oh: usize::from(out.height),
            ow,
        };
        let pointwise = kernel == [1, 1] && stride == 1;
        if pointwise {
            // A pointwise layer's output plane is its input plane, position for position: one
            // row of every position, so the blocks run along the whole plane, not row by row.
            (shape.h, shape.row, shape.oh, shape.ow) = (1, shape.h * shape.row, 1, shape.oh * ow);
        }
        let (d, s) = (self.depthwise, &shape);
        Block::for_row(d, stride, s.ow, kernel, s.groups, s.co)
            .is_some_and(|kind| layer(kind, &shape, relu, w, b, x, y))
    }

    /// No block kernels off the Cortex-M4F.
    #[cfg(not(m4f_kernels))]
    #[allow(clippy::too_many_arguments)]
    fn blocks(
        &self,
        _: &Map,
        _: &Map,
        _: [usize; 2],
        _: &[f32],
        _: &[f32],
        _: &[f32],
        _: &mut [f32],
    ) -> bool {
        false
    }
}

impl LayerOp for Conv {
    fn inputs(&self) -> usize {
        map_len(&self.spec.input).unwrap_or(0)
    }
    fn outputs(&self) -> usize {
        self.output_map().and_then(|m| map_len(&m)).unwrap_or(0)
    }
    fn activation(&self) -> Activation {
        self.spec.activation
    }
    fn weight_count(&self) -> usize {
        usize::from(self.spec.channels).saturating_mul(self.fan_in())
    }
    fn param_count(&self) -> usize {
        self.weight_count()
            .saturating_add(usize::from(self.spec.channels))
    }
    /// Nominal: every tap of every output, padding included.
    fn macs(&self) -> usize {
        self.outputs().saturating_mul(self.fan_in())
    }
    /// None: it reads its input map and writes its output map.
    fn scratch_len(&self) -> usize {
        0
    }
    fn capability(&self) -> Capabilities {
        Capabilities::CONV
    }
    fn validate(&self, field: &'static str) -> Result<(), Error> {
        self.output_map().map(|_| ()).ok_or(invalid(field))
    }
    /// Without a work buffer: the taps in the padding are found by bounds (the values of
    /// [`Conv::run`], slower).
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        let pad = self.spec.padding.map(usize::from);
        self.convolve(w, b, x, &self.spec.input, pad, y);
    }
}

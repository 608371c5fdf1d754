//! Convolution of the stem (cargo feature `conv`): `channels` filters over a zero-padded
//! `channels x height x width` map (a series is a map of height 1), full (every filter sees
//! every input channel) or depthwise (filter `c` sees input channel `c`), then an activation.
//!
//! Each output is its channel's bias plus the terms `w x` of its filter added sequentially in
//! (input channel, kernel row, kernel column) order, the taps that fall in the padding skipped:
//! the trainer's forward pass adds them in that order too, and every target computes the same
//! bits. The taps of one kernel row are contiguous in the input, so each row is one
//! [`dot_from`].
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
use crate::math::{activate_all, dot_from};
use crate::{Activation, Error};

/// A convolution's geometry and nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv {
    spec: ConvSpec,
    depthwise: bool,
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

impl Conv {
    /// The convolution of a stem entry (`depthwise`: one input channel per filter).
    pub fn of(spec: &ConvSpec, depthwise: bool) -> Conv {
        Conv {
            spec: *spec,
            depthwise,
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
        let s = &self.spec;
        if s.channels == 0 || (self.depthwise && s.channels != s.input.channels) {
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

    /// The input map.
    pub fn input_map(&self) -> Map {
        self.spec.input
    }

    /// One output channel's values (`y`: its `oh x ow` outputs) from the input `x`.
    fn channel(&self, oc: usize, w: &[f32], bias: f32, x: &[f32], y: &mut [f32], out: Map) {
        let s = &self.spec;
        let (h, wd) = (usize::from(s.input.height), usize::from(s.input.width));
        let [kh, kw] = [usize::from(s.kernel[0]), usize::from(s.kernel[1])];
        let [ph, pw] = [usize::from(s.padding[0]), usize::from(s.padding[1])];
        let (st, ow) = (usize::from(s.stride), usize::from(out.width));
        for (oy, row) in y.chunks_exact_mut(ow).enumerate() {
            // Kernel rows a with 0 <= oy s + a - ph < h.
            let a0 = ph.saturating_sub(oy * st);
            let a1 = kh.min((h + ph).saturating_sub(oy * st));
            for (ox, out) in row.iter_mut().enumerate() {
                // Kernel columns b with 0 <= ox s + b - pw < width.
                let b0 = pw.saturating_sub(ox * st);
                let b1 = kw.min((wd + pw).saturating_sub(ox * st));
                let mut acc = bias;
                if b0 < b1 {
                    let ix = ox * st + b0 - pw;
                    for gi in 0..self.group_in() {
                        let ic = if self.depthwise { oc } else { gi };
                        for a in a0..a1 {
                            let taps = ((oc * self.group_in() + gi) * kh + a) * kw;
                            let at = (ic * h + oy * st + a - ph) * wd + ix;
                            let (Some(wr), Some(xr)) =
                                (w.get(taps + b0..taps + b1), x.get(at..at + b1 - b0))
                            else {
                                continue;
                            };
                            acc = dot_from(acc, wr, xr);
                        }
                    }
                }
                *out = acc;
            }
        }
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
    fn forward(&self, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
        let Some(out) = self.output_map() else {
            return;
        };
        let per = usize::from(out.height) * usize::from(out.width);
        for (oc, (ys, &bias)) in y.chunks_exact_mut(per.max(1)).zip(b).enumerate() {
            self.channel(oc, w, bias, x, ys, out);
        }
        activate_all(self.spec.activation, y);
    }
}

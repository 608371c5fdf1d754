//! Convolution over `channels x height x width` maps (a series is a map of height 1), stride
//! `stride` in both directions, zero padding, either full (every output channel sees every
//! input channel) or depthwise (output channel `c` sees input channel `c` only). Weights are
//! row-major `[out channel][input channel of its group][kernel row][kernel column]`.
//!
//! The three primitives walk the same runs: for one output channel, one input channel, one
//! kernel tap and one output row, the output columns whose input lies inside the map (the rest
//! read zero padding), so no index is checked in the inner loops.

use super::layer::Shape;
use crate::real::Real;
use serde::{Deserialize, Serialize};

/// A convolution's geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    pub input: Shape,
    pub out_channels: usize,
    /// Kernel height and width (height 1 for a series).
    pub kernel: [usize; 2],
    pub stride: usize,
    /// Zero padding above/below and left/right.
    pub padding: [usize; 2],
    /// Each output channel sees its own input channel (`out_channels = input.channels`).
    pub depthwise: bool,
}

/// One run: `n` outputs at `out, out + 1, ..` paired with inputs at `inp, inp + stride, ..`
/// through weight `w`.
#[derive(Clone, Copy)]
struct Run {
    w: usize,
    out: usize,
    inp: usize,
    n: usize,
}

impl Conv {
    /// The output map (`None`: the kernel does not fit the padded input, or a size is zero).
    pub fn output_checked(&self) -> Option<Shape> {
        let side = |len: usize, k: usize, p: usize| {
            let padded = len + 2 * p;
            (k >= 1 && padded >= k && self.stride >= 1).then(|| (padded - k) / self.stride + 1)
        };
        let ok = self.out_channels >= 1
            && !self.input.is_empty()
            && (!self.depthwise || self.out_channels == self.input.channels);
        Some(Shape {
            channels: self.out_channels,
            height: side(self.input.height, self.kernel[0], self.padding[0])?,
            width: side(self.input.width, self.kernel[1], self.padding[1])?,
        })
        .filter(|_| ok)
    }
    /// The output map (a checked geometry).
    pub fn output(&self) -> Shape {
        self.output_checked().unwrap_or(Shape::flat(0))
    }
    fn group_in(&self) -> usize {
        if self.depthwise {
            1
        } else {
            self.input.channels
        }
    }
    /// Inputs that reach one output.
    pub fn fan_in(&self) -> usize {
        self.group_in() * self.kernel[0] * self.kernel[1]
    }
    /// Weights of the layer.
    pub fn n_weights(&self) -> usize {
        self.out_channels * self.fan_in()
    }

    /// Every run of one sample, in a fixed order.
    fn runs(&self, mut f: impl FnMut(Run)) {
        let o = self.output();
        let (h, w, s) = (self.input.height, self.input.width, self.stride);
        let [kh, kw] = self.kernel;
        let [ph, pw] = self.padding;
        for oc in 0..o.channels {
            for gi in 0..self.group_in() {
                let ic = if self.depthwise { oc } else { gi };
                for a in 0..kh {
                    for y in 0..o.height {
                        let Some(iy) = (y * s + a).checked_sub(ph).filter(|&iy| iy < h) else {
                            continue;
                        };
                        for b in 0..kw {
                            // Columns x with 0 <= x s + b - pw < w.
                            let x0 = pw.saturating_sub(b).div_ceil(s);
                            let x1 = ((w + pw).saturating_sub(b)).div_ceil(s).min(o.width);
                            if x0 >= x1 {
                                continue;
                            }
                            f(Run {
                                w: ((oc * self.group_in() + gi) * kh + a) * kw + b,
                                out: (oc * o.height + y) * o.width + x0,
                                inp: (ic * h + iy) * w + x0 * s + b - pw,
                                n: x1 - x0,
                            });
                        }
                    }
                }
            }
        }
    }

    /// `out (+)= conv(v, w)` for `k` rows.
    pub fn linear<T: Real>(&self, k: usize, v: &[T], w: &[T], acc: bool, out: &mut [T]) {
        let (ni, no, s) = (self.input.len(), self.output().len(), self.stride);
        if !acc {
            out[..k * no].fill(T::zero());
        }
        for (vr, or) in v.chunks_exact(ni).zip(out.chunks_exact_mut(no)).take(k) {
            self.runs(|r| {
                let wv = w[r.w];
                let src = vr[r.inp..].iter().step_by(s);
                for (o, x) in or[r.out..r.out + r.n].iter_mut().zip(src) {
                    *o += wv * *x;
                }
            });
        }
    }

    /// `gx (+)= conv^T(g, w)` for `k` rows.
    pub fn linear_t<T: Real>(&self, k: usize, g: &[T], w: &[T], acc: bool, gx: &mut [T]) {
        let (ni, no, s) = (self.input.len(), self.output().len(), self.stride);
        if !acc {
            gx[..k * ni].fill(T::zero());
        }
        for (gr, xr) in g.chunks_exact(no).zip(gx.chunks_exact_mut(ni)).take(k) {
            self.runs(|r| {
                let wv = w[r.w];
                let dst = xr[r.inp..].iter_mut().step_by(s);
                for (x, o) in dst.zip(&gr[r.out..r.out + r.n]) {
                    *x += wv * *o;
                }
            });
        }
    }

    /// `gw (+)= d <g, conv(v, w)> / dw` for `k` rows.
    pub fn weight_grad<T: Real>(&self, k: usize, v: &[T], g: &[T], acc: bool, gw: &mut [T]) {
        let (ni, no, s) = (self.input.len(), self.output().len(), self.stride);
        if !acc {
            gw.fill(T::zero());
        }
        for (vr, gr) in v.chunks_exact(ni).zip(g.chunks_exact(no)).take(k) {
            self.runs(|r| {
                let src = vr[r.inp..].iter().step_by(s);
                let dot: T = gr[r.out..r.out + r.n]
                    .iter()
                    .zip(src)
                    .map(|(a, b)| *a * *b)
                    .sum();
                gw[r.w] += dot;
            });
        }
    }
}

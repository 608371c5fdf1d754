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
    fn runs(&self, f: impl FnMut(Run)) {
        self.runs_in(0..self.out_channels, f);
    }

    /// The runs of output channels `channels`, in a fixed order.
    fn runs_in(&self, channels: core::ops::Range<usize>, mut f: impl FnMut(Run)) {
        let o = self.output();
        let (h, w, s) = (self.input.height, self.input.width, self.stride);
        let [kh, kw] = self.kernel;
        let [ph, pw] = self.padding;
        for oc in channels {
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

    /// Positions of one output channel.
    fn positions(&self) -> usize {
        let o = self.output();
        o.height * o.width
    }

    /// A full convolution whose im2col matrix is its input: 1 x 1 kernel, stride 1, no padding.
    fn is_pointwise(&self) -> bool {
        !self.depthwise && self.kernel == [1, 1] && self.stride == 1 && self.padding == [0, 0]
    }

    /// The im2col matrix of one input `v` into `cols` (`fan_in x positions`, row-major): row
    /// `(ic, a, b)`, column `(y, x)` holds the input at `(ic, y s + a - ph, x s + b - pw)`, zero
    /// in the padding.
    fn im2col<T: Real>(&self, v: &[T], cols: &mut [T]) {
        let p = self.positions();
        cols.fill(T::zero());
        self.im2col_runs(|r, row| {
            let dst = &mut cols[row * p + r.out..row * p + r.out + r.n];
            axpy_gather(T::one(), &v[r.inp..], self.stride, dst);
        });
    }

    /// The buffer [`Conv::columns`] writes into (empty for a pointwise convolution).
    fn columns_buffer<T: Real>(&self) -> Vec<T> {
        let n = if self.is_pointwise() {
            0
        } else {
            self.fan_in() * self.positions()
        };
        vec![T::zero(); n]
    }

    /// The im2col matrix of one input `v`: `v` itself for a pointwise convolution, else
    /// written into `cols`.
    fn columns<'a, T: Real>(&self, v: &'a [T], cols: &'a mut [T]) -> &'a [T] {
        if self.is_pointwise() {
            return v;
        }
        self.im2col(v, cols);
        cols
    }

    /// Adds the im2col matrix `cols` back onto the input it came from: `gx += col2im(cols)`.
    fn col2im_add<T: Real>(&self, cols: &[T], gx: &mut [T]) {
        let p = self.positions();
        self.im2col_runs(|r, row| {
            let src = &cols[row * p + r.out..row * p + r.out + r.n];
            axpy_scatter(T::one(), src, &mut gx[r.inp..], self.stride);
        });
    }

    /// The runs of output channel 0 with each run's im2col row (its weight index): every
    /// output channel of a full convolution reads the same runs.
    fn im2col_runs(&self, mut f: impl FnMut(Run, usize)) {
        self.runs_in(0..1, |r| f(r, r.w));
    }

    /// `out (+)= conv(v, w)` for `k` rows. A full convolution is one matrix product per row,
    /// `W (out channels x fan_in) * im2col(v) (fan_in x positions)`; a depthwise one walks its
    /// runs.
    pub fn linear<T: Real>(&self, k: usize, v: &[T], w: &[T], acc: bool, out: &mut [T]) {
        let (ni, no, s) = (self.input.len(), self.output().len(), self.stride);
        let beta = if acc { T::one() } else { T::zero() };
        if !self.depthwise {
            let (f, p, oc) = (self.fan_in(), self.positions(), self.out_channels);
            let mut cols = self.columns_buffer();
            for (vr, or) in v.chunks_exact(ni).zip(out.chunks_exact_mut(no)).take(k) {
                let b = self.columns(vr, &mut cols);
                product((oc, f, p), (w, false), (b, false), beta, or);
            }
            return;
        }
        if !acc {
            out[..k * no].fill(T::zero());
        }
        for (vr, or) in v.chunks_exact(ni).zip(out.chunks_exact_mut(no)).take(k) {
            self.runs(|r| {
                axpy_gather(w[r.w], &vr[r.inp..], s, &mut or[r.out..r.out + r.n]);
            });
        }
    }

    /// `gx (+)= conv^T(g, w)` for `k` rows: for a full convolution
    /// `col2im(W^T (fan_in x out channels) * g (out channels x positions))`.
    pub fn linear_t<T: Real>(&self, k: usize, g: &[T], w: &[T], acc: bool, gx: &mut [T]) {
        let (ni, no, s) = (self.input.len(), self.output().len(), self.stride);
        if !self.depthwise {
            let (f, p, oc) = (self.fan_in(), self.positions(), self.out_channels);
            if self.is_pointwise() {
                let beta = if acc { T::one() } else { T::zero() };
                for (gr, xr) in g.chunks_exact(no).zip(gx.chunks_exact_mut(ni)).take(k) {
                    product((f, oc, p), (w, true), (gr, false), beta, xr);
                }
                return;
            }
            if !acc {
                gx[..k * ni].fill(T::zero());
            }
            let mut cols = vec![T::zero(); f * p];
            for (gr, xr) in g.chunks_exact(no).zip(gx.chunks_exact_mut(ni)).take(k) {
                product((f, oc, p), (w, true), (gr, false), T::zero(), &mut cols);
                self.col2im_add(&cols, xr);
            }
            return;
        }
        if !acc {
            gx[..k * ni].fill(T::zero());
        }
        for (gr, xr) in g.chunks_exact(no).zip(gx.chunks_exact_mut(ni)).take(k) {
            self.runs(|r| {
                axpy_scatter(w[r.w], &gr[r.out..r.out + r.n], &mut xr[r.inp..], s);
            });
        }
    }

    /// `gw (+)= d <g, conv(v, w)> / dw` for `k` rows: for a full convolution
    /// `g (out channels x positions) * im2col(v)^T`, summed over the rows.
    pub fn weight_grad<T: Real>(&self, k: usize, v: &[T], g: &[T], acc: bool, gw: &mut [T]) {
        let (ni, no, s) = (self.input.len(), self.output().len(), self.stride);
        if !acc {
            gw.fill(T::zero());
        }
        if !self.depthwise {
            let (f, p, oc) = (self.fan_in(), self.positions(), self.out_channels);
            let mut cols = self.columns_buffer();
            for (vr, gr) in v.chunks_exact(ni).zip(g.chunks_exact(no)).take(k) {
                let b = self.columns(vr, &mut cols);
                product((oc, p, f), (gr, false), (b, true), T::one(), gw);
            }
            return;
        }
        for (vr, gr) in v.chunks_exact(ni).zip(g.chunks_exact(no)).take(k) {
            self.runs(|r| {
                gw[r.w] += dot_gather(&gr[r.out..r.out + r.n], &vr[r.inp..], s);
            });
        }
    }
}

/// `c (m x n) = a (m x k) * b (k x n) + beta c`, every matrix row-major and dense; `a` or `b`
/// given transposed (stored `k x m`, `n x k`) when its flag says so.
fn product<T: Real>(
    (m, k, n): (usize, usize, usize),
    (a, a_t): (&[T], bool),
    (b, b_t): (&[T], bool),
    beta: T,
    c: &mut [T],
) {
    let (rsa, csa) = if a_t {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (rsb, csb) = if b_t {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    T::gemm(
        m,
        k,
        n,
        T::one(),
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        beta,
        c,
        n as isize,
        1,
    );
}

/// `dst[i] += a * src[i * stride]` for every `i < dst.len()` (contiguous, so vectorised, at
/// stride 1; the same operations either way).
fn axpy_gather<T: Real>(a: T, src: &[T], stride: usize, dst: &mut [T]) {
    if stride == 1 {
        let n = dst.len();
        for (d, x) in dst.iter_mut().zip(&src[..n]) {
            *d += a * *x;
        }
    } else {
        for (d, x) in dst.iter_mut().zip(src.iter().step_by(stride)) {
            *d += a * *x;
        }
    }
}

/// `dst[i * stride] += a * src[i]` for every `i < src.len()`.
fn axpy_scatter<T: Real>(a: T, src: &[T], dst: &mut [T], stride: usize) {
    if stride == 1 {
        for (d, x) in dst[..src.len()].iter_mut().zip(src) {
            *d += a * *x;
        }
    } else {
        for (d, x) in dst.iter_mut().step_by(stride).zip(src) {
            *d += a * *x;
        }
    }
}

/// `sum_i g[i] * src[i * stride]`, in order.
fn dot_gather<T: Real>(g: &[T], src: &[T], stride: usize) -> T {
    if stride == 1 {
        g.iter().zip(&src[..g.len()]).map(|(a, b)| *a * *b).sum()
    } else {
        g.iter()
            .zip(src.iter().step_by(stride))
            .map(|(a, b)| *a * *b)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input index and weight index of every (output, tap) pair, from the definition.
    fn taps(c: &Conv, mut f: impl FnMut(usize, usize, usize)) {
        let o = c.output();
        let (h, w) = (c.input.height as isize, c.input.width as isize);
        for oc in 0..o.channels {
            for gi in 0..c.group_in() {
                let ic = if c.depthwise { oc } else { gi };
                for y in 0..o.height {
                    for x in 0..o.width {
                        for a in 0..c.kernel[0] {
                            for b in 0..c.kernel[1] {
                                let iy = (y * c.stride + a) as isize - c.padding[0] as isize;
                                let ix = (x * c.stride + b) as isize - c.padding[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h || ix >= w {
                                    continue;
                                }
                                let inp = (ic * c.input.height + iy as usize) * c.input.width
                                    + ix as usize;
                                let wi =
                                    ((oc * c.group_in() + gi) * c.kernel[0] + a) * c.kernel[1] + b;
                                f((oc * o.height + y) * o.width + x, inp, wi);
                            }
                        }
                    }
                }
            }
        }
    }

    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f64 / (1u64 << 31) as f64) - 0.5
            })
            .collect()
    }

    /// The matrix-product paths (pointwise, padded, strided, rectangular kernels) and the
    /// depthwise runs agree with the definition for the forward pass and both gradients.
    #[test]
    fn every_path_matches_the_definition() {
        let shape = |channels, height, width| Shape {
            channels,
            height,
            width,
        };
        let cases = [
            (shape(3, 5, 6), 4, [1, 1], 1, [0, 0], false),
            (shape(3, 5, 6), 4, [3, 3], 1, [1, 1], false),
            (shape(2, 7, 9), 3, [3, 2], 2, [1, 0], false),
            (shape(1, 1, 17), 5, [1, 5], 2, [0, 2], false),
            (shape(4, 6, 5), 4, [3, 3], 2, [1, 1], true),
        ];
        let k = 2;
        for (input, out_channels, kernel, stride, padding, depthwise) in cases {
            let c = Conv {
                input,
                out_channels,
                kernel,
                stride,
                padding,
                depthwise,
            };
            let (ni, no) = (input.len(), c.output().len());
            let v = values(k * ni, 1);
            let w = values(c.n_weights(), 2);
            let g = values(k * no, 3);
            let (mut out, mut want_out) = (vec![0.5; k * no], vec![0.5; k * no]);
            let (mut gx, mut want_gx) = (vec![0.25; k * ni], vec![0.25; k * ni]);
            let (mut gw, mut want_gw) = (vec![0.125; w.len()], vec![0.125; w.len()]);
            for r in 0..k {
                taps(&c, |o, i, wi| {
                    want_out[r * no + o] += w[wi] * v[r * ni + i];
                    want_gx[r * ni + i] += w[wi] * g[r * no + o];
                    want_gw[wi] += g[r * no + o] * v[r * ni + i];
                });
            }
            c.linear(k, &v, &w, true, &mut out);
            c.linear_t(k, &g, &w, true, &mut gx);
            c.weight_grad(k, &v, &g, true, &mut gw);
            for (got, want) in [(&out, &want_out), (&gx, &want_gx), (&gw, &want_gw)] {
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!((a - b).abs() < 1e-12, "{c:?}: {a} vs {b}");
                }
            }
            // Without accumulation the outputs are overwritten.
            let mut fresh = vec![9.0; k * no];
            c.linear(k, &v, &w, false, &mut fresh);
            for (a, b) in fresh.iter().zip(&want_out) {
                assert!((a - (b - 0.5)).abs() < 1e-12);
            }
        }
    }
}

//! Convolutions whose outputs each read a single input plane, run straight from the zero-padded
//! input: depthwise layers (output channel `c` reads plane `c`) and layers over one input
//! channel (every output channel reads plane 0, e.g. a first layer over a log-mel image or a
//! series). An output's few taps (9 for 3 x 3) are multiply-accumulated from the padded bytes,
//! a run of outputs of a row at a time, then that run is requantised in one pass
//! ([`super::Channel::apply_all`]); the im2col copy and packing of [`super::conv`], which pays
//! off when many input channels feed each output, is skipped. The outputs of as many whole rows
//! as the accumulators hold are one run (one call of the kernel and of the requantisation per
//! block of rows, not per row: a small map's per-row set-up was about a quarter of the layer's work);
//! a row longer than that is run in pieces. Kernels of one or three rows of
//! up to eight columns are held in registers as int16 pairs; a window row of up to four
//! columns is one word load, two `SXTB16` and two `SMLAD` ([`super::dsp`]), up to eight two.
//!
//! The integers are the packed kernels' exactly: `bias + sum w (x - zp)` is computed as
//! `(bias - zp sum w) + sum w x` in wrapping int32 arithmetic, equal modulo 2^32 (the padding
//! holds the zero point, so it adds `w zp - w zp = 0` either way).

use super::dsp::{smlad, sxtb16, sxtb16_ror8};
use super::pack::pair;
use super::{Kernels, Requant};

/// Outputs accumulated before they are requantised together.
const RUN: usize = 64;

/// The channels' kernels, biases and requantisation, and the geometry of the padded planes.
pub(super) struct Planes<'a> {
    /// `channels x kh x kw` weights.
    pub weights: &'a [i8],
    /// One bias per channel.
    pub bias: &'a [i32],
    /// Per-channel requantisation.
    pub requant: &'a Requant<'a>,
    /// The input's zero point (the padding's value).
    pub zp: i32,
    /// Rows and columns of a padded plane.
    pub padded: [usize; 2],
    /// Rows and columns of an output plane.
    pub out: [usize; 2],
    /// Step between windows.
    pub stride: usize,
    /// Every output channel reads plane 0 (one input channel), else its own (depthwise).
    pub shared: bool,
}

/// Whether [`direct`] runs a layer: depthwise or over one input channel, with a kernel of one
/// or three rows of at most eight columns (the others run through im2col).
pub(super) fn applies(depthwise: bool, in_channels: usize, [kh, kw]: [usize; 2]) -> bool {
    (depthwise || in_channels == 1) && matches!(kh, 1 | 3) && (1..=8).contains(&kw)
}

/// Every output channel of the layer ([`applies`]): `xp` holds the padded planes (and at least
/// three bytes after them), `y` the output planes.
#[inline(never)]
pub(super) fn direct<K: Kernels>(p: &Planes, [kh, kw]: [usize; 2], xp: &[i8], y: &mut [i8]) {
    match (kh, kw > 4) {
        (1, false) => channels::<K, 1, 1>(p, kw, xp, y),
        (1, true) => channels::<K, 1, 2>(p, kw, xp, y),
        (_, false) => channels::<K, 3, 1>(p, kw, xp, y),
        (_, true) => channels::<K, 3, 2>(p, kw, xp, y),
    }
}

/// The input plane of output channel `c`, and whatever follows it.
fn plane<'a>(p: &Planes, xp: &'a [i8], c: usize) -> &'a [i8] {
    let [hp, wp] = p.padded;
    let at = if p.shared { 0 } else { c * hp * wp };
    xp.get(at..).unwrap_or_default()
}

/// Every channel, with kernels of `KH` rows of `kw <= 4 W` columns.
fn channels<K: Kernels, const KH: usize, const W: usize>(
    p: &Planes,
    kw: usize,
    xp: &[i8],
    y: &mut [i8],
) {
    let [oh, ow] = p.out;
    let wp = p.padded[1];
    let mut acc = [0i32; RUN];
    let fan = (KH * kw).max(1);
    let per_channel = p.weights.chunks_exact(fan).zip(p.bias);
    let outs = y.chunks_exact_mut((oh * ow).max(1));
    for (c, ((w, &b), out)) in per_channel.zip(outs).enumerate() {
        // The weights' sum and the sum of their magnitudes in one pass (at most 24 weights of
        // at most 128: the second fits a `u32`).
        let (sum, abs) = w.iter().fold((0i32, 0u32), |(s, a), &v| {
            (
                s.wrapping_add(i32::from(v)),
                a + u32::from(v.unsigned_abs()),
            )
        });
        let base = b.wrapping_sub(p.zp.wrapping_mul(sum));
        // Every accumulator is `base` plus at most `128 sum |w|` either way: when that stays
        // below 2^30, the requantisation need not test them.
        let small = u64::from(base.unsigned_abs()) + u64::from(abs) * 128 < 1 << 30;
        let k = Packed::<KH, W>::of(w, kw);
        let ch = p.requant.channel(c);
        let plane = plane(p, xp, c);
        // Blocks of whole output rows that fit the accumulators (one row when none does).
        let per_block = (RUN / ow.max(1)).max(1);
        let row_step = p.stride * wp;
        for (b, block) in out.chunks_mut(per_block * ow.max(1)).enumerate() {
            let rows = plane.get(b * per_block * row_step..).unwrap_or_default();
            for (r, o) in block.chunks_mut(RUN).enumerate() {
                let acc = acc.get_mut(..o.len()).unwrap_or_default();
                let run = Run {
                    base,
                    rows,
                    wp,
                    x0: r * RUN * p.stride,
                    stride: p.stride,
                    per_row: if ow <= RUN { ow } else { o.len() },
                    row_step,
                };
                k.taps::<K>(run, acc);
                match small {
                    true => ch.apply_all_small(acc, o),
                    false => ch.apply_all(acc, o),
                }
            }
        }
    }
}

/// Where a run of outputs reads: output rows of `per_row` outputs, the first one's windows
/// from `rows` (rows of `wp` padded bytes, then whatever follows), each next one `row_step`
/// bytes further; a row's first window at column `x0`, the next ones `stride` apart; every
/// accumulator starts at `base`.
struct Run<'r> {
    base: i32,
    rows: &'r [i8],
    wp: usize,
    x0: usize,
    stride: usize,
    per_row: usize,
    row_step: usize,
}

impl Run<'_> {
    /// Whether the windows of `n` outputs (whole output rows of `per_row`), each `rows` high
    /// and reading `width` bytes of a row, lie inside `rows` (checked once per run, so the
    /// loops read without bounds checks).
    fn holds(&self, n: usize, rows: usize, width: usize) -> bool {
        let per_row = self.per_row.max(1);
        let out_rows = n.div_ceil(per_row);
        out_rows
            .saturating_sub(1)
            .checked_mul(self.row_step)
            .and_then(|v| v.checked_add(per_row.min(n).saturating_sub(1).checked_mul(self.stride)?))
            .and_then(|v| v.checked_add(self.x0)?.checked_add(width))
            .and_then(|end| {
                rows.saturating_sub(1)
                    .checked_mul(self.wp)?
                    .checked_add(end)
            })
            .is_some_and(|end| end <= self.rows.len())
    }
    /// Byte `i` of the rows, 0 past them.
    fn at(&self, i: usize) -> i32 {
        i32::from(self.rows.get(i).copied().unwrap_or(0))
    }
}

/// A kernel of `KH` rows of up to `4 W` columns, held in registers: each block of four columns
/// `d..d + 4` of a row as the int16 pairs `([w_d, w_d+2], [w_d+1, w_d+3])`, zeros past the
/// kernel's width.
struct Packed<'a, const KH: usize, const W: usize> {
    k: [[(u32, u32); W]; KH],
    w: &'a [i8],
    kw: usize,
}

impl<'a, const KH: usize, const W: usize> Packed<'a, KH, W> {
    /// The kernel of channel weights `w` (`KH x kw`).
    fn of(w: &'a [i8], kw: usize) -> Self {
        let mut k = [[(0, 0); W]; KH];
        for (kr, r) in k.iter_mut().zip(w.chunks_exact(kw.max(1))) {
            for (d, block) in kr.iter_mut().enumerate() {
                let v = |i: usize| i16::from(r.get(4 * d + i).copied().unwrap_or(0));
                *block = (pair(v(0), v(2)), pair(v(1), v(3)));
            }
        }
        Packed { k, w, kw }
    }
    /// The accumulators of `acc.len()` consecutive outputs of `run`. Each block of a window
    /// row is one (unaligned) word load of four bytes; `SXTB16` splits it into `[x0, x2]` and
    /// `[x1, x3]`, and two `SMLAD` add its products (bytes past the kernel's width meet zero
    /// weights). Its own function: the kernel in registers.
    #[inline(never)]
    fn taps<K: Kernels>(&self, run: Run, acc: &mut [i32]) {
        // Three rows of one block: the target's kernel, when it has one for this run.
        if let (3, 1, [a, b, c]) = (KH, W, self.k.as_slice()) {
            if let (Some(a), Some(b), Some(c)) = (a.first(), b.first(), c.first()) {
                let run = super::Taps3 {
                    rows: run.rows,
                    wp: run.wp,
                    x0: run.x0,
                    stride: run.stride,
                    per_row: run.per_row,
                    row_step: run.row_step,
                    k: [a.0, a.1, b.0, b.1, c.0, c.1],
                    base: run.base,
                };
                if K::taps3(&run, acc) {
                    return;
                }
            }
        }
        if !run.holds(acc.len(), KH, 4 * W) {
            return taps_checked(&run, self.w, [KH, self.kw], acc);
        }
        let origin = run.rows.as_ptr();
        for (r, row) in acc.chunks_mut(run.per_row.max(1)).enumerate() {
            for (j, a) in row.iter_mut().enumerate() {
                let at = r * run.row_step + run.x0 + j * run.stride;
                let mut v = run.base;
                for (ky, kr) in self.k.iter().enumerate() {
                    for (d, &(w02, w13)) in kr.iter().enumerate() {
                        // SAFETY: `ky * wp + at + 4 d + 4 <= (KH - 1) * wp + (rows - 1) *
                        // row_step + x0 + (per_row - 1) * stride + 4 W <= rows.len()`
                        // (`holds`); an unaligned read of four bytes.
                        let x = unsafe {
                            let p = origin.add(ky * run.wp + at + 4 * d);
                            core::ptr::read_unaligned(p.cast::<u32>())
                        };
                        v = smlad(sxtb16(x), w02, smlad(sxtb16_ror8(x), w13, v));
                    }
                }
                *a = v;
            }
        }
    }
}

/// The accumulators of a run whose windows do not all lie inside its rows (which the callers'
/// geometry rules out): `base` plus the products of the `kh x kw` weights `w` with the window,
/// every read checked (a byte past the rows reads 0).
fn taps_checked(run: &Run, w: &[i8], [kh, kw]: [usize; 2], acc: &mut [i32]) {
    for (r, row) in acc.chunks_mut(run.per_row.max(1)).enumerate() {
        for (j, a) in row.iter_mut().enumerate() {
            let at = r * run.row_step + run.x0 + j * run.stride;
            *a = run.base;
            for (ky, wr) in w.chunks_exact(kw.max(1)).take(kh).enumerate() {
                for (kx, &wv) in wr.iter().enumerate() {
                    *a = a.wrapping_add(i32::from(wv) * run.at(ky * run.wp + at + kx));
                }
            }
        }
    }
}

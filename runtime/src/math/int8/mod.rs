//! int8 kernels with TFLite Micro / CMSIS-NN semantics, for a quantised trunk: per-output-channel
//! symmetric int8 weights, int8 activations with a per-tensor scale and zero point, int32
//! biases and accumulation, and requantisation by a Q31 multiplier and shift per output channel
//! ([`Requant`]); a ReLU is the clamp at the output zero point. The cargo feature `int8` (on by
//! default).
//!
//! - [`quantize`] / [`dequantize`]: f32 <-> int8 at the trunk's ends,
//! - [`dense`] ([`QuantDense`]), [`conv`] ([`QuantConv`]: 1-D, 2-D, depthwise; layers whose
//!   outputs see one input plane through a kernel three columns wide run straight from the
//!   padded input, `direct`, with the [`dsp`] instructions),
//!   [`max_pool`] / [`avg_pool`] ([`PoolGeom`]),
//! - [`multiply_by_quantized_multiplier`] and [`quantize_multiplier`]: the fixed-point
//!   arithmetic.
//!
//! Every layer function takes its description (slices borrowed from wherever the model lives),
//! its input, its output and a scratch of `u32` words (`scratch_words()`), checks every length
//! and parameter, and returns an [`Error`] instead of panicking. On the Cortex-M4F
//! (`cfg(m4f_kernels)`) the multiply-accumulate loops use the DSP extension's `SMLAD` (`arm`),
//! with exactly the portable kernels' integers; [`dense_with`] and [`conv_with`] pick the
//! kernels explicitly ([`Portable`], and `M4f` on that target).
//!
//! ```
//! use fewshot_runtime::math::int8::{dequantize, quantize, QuantParams};
//! let p = QuantParams { scale: 0.1, zero_point: 0 };
//! let mut q = [0i8; 2];
//! quantize(&[0.5, -0.26], p, &mut q).unwrap();
//! assert_eq!(q, [5, -3]);
//! let mut x = [0.0f32; 2];
//! dequantize(&q, p, &mut x).unwrap();
//! assert!((x[0] - 0.5).abs() < 1e-6);
//! ```

#[cfg(m4f_kernels)]
pub mod arm;
mod conv;
mod dense;
mod direct;
pub mod dsp;
mod im2col;
pub mod kernel;
mod pack;
mod pad;
mod pool;
mod quant;
mod requant;

pub use conv::{conv, conv_scratch_words, conv_with, ConvGeom, QuantConv};
pub use dense::{dense, dense_with, QuantDense};
pub use pack::{pack_column, packed_words};
pub use pool::{avg_pool, max_pool, PoolGeom};
pub use quant::{dequantize, quantize, round_half_away, QuantParams};
pub use requant::{
    multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul, short_offset, Channel, Requant, Short, MAX_SHIFT,
    MAX_SHORT_RIGHT, MIN_SHIFT,
};

use crate::Error;

/// The multiply-accumulate kernels over packed columns (see [`packed_words`]'s layout): each
/// adds `sum_d w[d] x[d]` over the whole blocks of four (`w.len() / 4`), wrapping on overflow.
pub trait Kernels {
    /// One weight row, one packed column.
    fn dot_c1(w: &[i8], x: &[u32], acc: i32) -> i32;
    /// Two weight rows, one packed column.
    fn dot_r2c1(w0: &[i8], w1: &[i8], x: &[u32], acc: [i32; 2]) -> [i32; 2];
    /// One weight row, four interleaved packed columns.
    fn dot_c4(w: &[i8], x: &[u32], acc: [i32; 4]) -> [i32; 4];
    /// For each output channel of `run` in turn, [`Kernels::dot_c4`] from its bias over the
    /// four columns of `x`, then its short requantisation ([`Short`]) into `out[c * step..]
    /// [..4]`; stops at the first channel with an accumulator of 2^30 or more in magnitude (the
    /// short form is not exact there), its accumulators in `acc`. Returns the channels done
    /// (`run.len()` when every one was).
    #[inline(always)]
    fn dot_c4_channels(
        run: &ShortRun,
        x: &[u32],
        (out, step): (&mut [i8], usize),
        acc: &mut [i32; 4],
    ) -> usize {
        for c in 0..run.len() {
            *acc = Self::dot_c4(run.weights(c), x, [run.bias(c); 4]);
            let o = out
                .get_mut(c * step..)
                .and_then(|o| o.first_chunk_mut::<4>());
            if !o.is_some_and(|o| run.short(c).apply4(acc, o)) {
                return c;
            }
        }
        run.len()
    }
    /// The accumulators of the `acc.len()` outputs of `run` (`acc.len() / run.per_row` output
    /// rows of `run.per_row`, one after the other); false, with nothing written, when these
    /// kernels do not take the run (the caller's loop then does).
    fn taps3(run: &Taps3, acc: &mut [i32]) -> bool;
}

/// A run of outputs of a kernel of three rows of up to four columns ([`Kernels::taps3`]): one
/// or more output rows of `per_row` outputs each.
#[derive(Clone, Copy, Debug)]
pub struct Taps3<'a> {
    /// Rows of `wp` bytes, from the first row the first output row's windows read.
    pub rows: &'a [i8],
    /// Bytes per row.
    pub wp: usize,
    /// The first window's first column.
    pub x0: usize,
    /// Columns between windows.
    pub stride: usize,
    /// Outputs per output row.
    pub per_row: usize,
    /// Bytes between the first rows of successive output rows (`stride * wp`).
    pub row_step: usize,
    /// The kernel's int16 pairs, row by row: `[w0 w2]`, `[w1 w3]` (zeros past its width).
    pub k: [u32; 6],
    /// Where every accumulator starts.
    pub base: i32,
}

/// Output channels whose requantisations all have the short form ([`Channel::short`]: no left
/// shift, a right shift of 1 to [`MAX_SHORT_RIGHT`], the whole int8 range), for
/// [`Kernels::dot_c4_channels`]: channel `c`'s weights are `weights[c * fan..][..fan]`. Built
/// by [`ShortRun::new`], which checks it once for every call.
#[derive(Clone, Copy, Debug)]
pub struct ShortRun<'a> {
    weights: &'a [i8],
    fan: usize,
    bias: &'a [i32],
    multiplier: &'a [i32],
    shift: &'a [i32],
    out_zp: i32,
    bounded: bool,
}

impl<'a> ShortRun<'a> {
    /// The channels of `bias`, `multiplier` and `shift` (one each per channel) and `weights`
    /// (`fan` per channel) with `rq`'s zero point, when every shift is a right shift of at most
    /// [`MAX_SHORT_RIGHT`], the zero point is in int8 range, `rq`'s clamp is the whole int8
    /// range and the lengths agree; else `None`.
    pub fn new(
        weights: &'a [i8],
        fan: usize,
        [bias, multiplier, shift]: [&'a [i32]; 3],
        rq: &Requant,
    ) -> Option<Self> {
        let n = bias.len();
        let rights = -(MAX_SHORT_RIGHT as i32)..=-1;
        let ok = (rq.act_min, rq.act_max) == (-128, 127)
            && (-128..=127).contains(&rq.out_zp)
            && shift.iter().all(|s| rights.contains(s))
            && multiplier.len() == n
            && shift.len() == n
            && n.checked_mul(fan) == Some(weights.len());
        // Every accumulator is a bias plus `fan` products of a weight (|w| <= 128) and a
        // widened input minus its zero point (|x - zp| <= 255).
        let largest = bias.iter().fold(0, |m, b| m.max(b.unsigned_abs()));
        let reach = (fan as u64).saturating_mul(128 * 255);
        let bounded = reach.saturating_add(u64::from(largest)) < 1 << 30;
        ok.then_some(ShortRun {
            weights,
            fan,
            bias,
            multiplier,
            shift,
            out_zp: rq.out_zp,
            bounded,
        })
    }
    /// The channels from `k` on.
    pub fn from(&self, k: usize) -> Self {
        let part = |v: &'a [i32]| v.get(k..).unwrap_or_default();
        ShortRun {
            weights: self
                .weights
                .get(k.saturating_mul(self.fan)..)
                .unwrap_or_default(),
            bias: part(self.bias),
            multiplier: part(self.multiplier),
            shift: part(self.shift),
            ..*self
        }
    }
    /// The channels.
    pub fn len(&self) -> usize {
        self.bias.len()
    }
    /// Whether there is no channel.
    pub fn is_empty(&self) -> bool {
        self.bias.is_empty()
    }
    /// Weights per channel.
    pub fn fan(&self) -> usize {
        self.fan
    }
    /// Channel `c`'s weights (empty past the end).
    pub fn weights(&self, c: usize) -> &'a [i8] {
        let at = c.saturating_mul(self.fan);
        self.weights
            .get(at..at.saturating_add(self.fan))
            .unwrap_or_default()
    }
    /// Channel `c`'s bias (0 past the end).
    pub fn bias(&self, c: usize) -> i32 {
        self.bias.get(c).copied().unwrap_or(0)
    }
    /// Channel `c`'s short requantisation (a right shift of 1 past the end).
    pub fn short(&self, c: usize) -> Short {
        let m = self.multiplier.get(c).copied().unwrap_or(0);
        let right = self.shift.get(c).map_or(1, |&s| {
            s.clamp(-(MAX_SHORT_RIGHT as i32), -1).unsigned_abs()
        });
        Short {
            multiplier: m,
            right,
            offset: short_offset(right, self.out_zp),
        }
    }
    /// The output's zero point.
    pub fn out_zp(&self) -> i32 {
        self.out_zp
    }
    /// Whether no channel's accumulator can reach 2^30 in magnitude (`|bias| + 128 x 255 x
    /// fan` below it for every channel), so the kernels need not test them.
    pub fn bounded(&self) -> bool {
        self.bounded
    }
    /// The slices the Cortex-M4F kernel reads: weights, biases, multipliers, shifts.
    #[cfg(m4f_kernels)]
    fn parts(&self) -> (&'a [i8], [&'a [i32]; 3]) {
        (self.weights, [self.bias, self.multiplier, self.shift])
    }
}

/// The portable kernels ([`kernel`]), on every target.
pub struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    fn dot_c1(w: &[i8], x: &[u32], acc: i32) -> i32 {
        kernel::dot_c1(w, x, acc)
    }
    #[inline(always)]
    fn dot_r2c1(w0: &[i8], w1: &[i8], x: &[u32], acc: [i32; 2]) -> [i32; 2] {
        kernel::dot_r2c1(w0, w1, x, acc)
    }
    #[inline(always)]
    fn dot_c4(w: &[i8], x: &[u32], acc: [i32; 4]) -> [i32; 4] {
        kernel::dot_c4(w, x, acc)
    }
    #[inline(always)]
    fn taps3(_: &Taps3, _: &mut [i32]) -> bool {
        false
    }
}

/// The Cortex-M4F `SMLAD` kernels ([`arm`]).
#[cfg(m4f_kernels)]
pub struct M4f;

#[cfg(m4f_kernels)]
impl Kernels for M4f {
    #[inline(always)]
    fn dot_c1(w: &[i8], x: &[u32], acc: i32) -> i32 {
        arm::dot_c1(w, x, acc)
    }
    #[inline(always)]
    fn dot_r2c1(w0: &[i8], w1: &[i8], x: &[u32], acc: [i32; 2]) -> [i32; 2] {
        arm::dot_r2c1(w0, w1, x, acc)
    }
    #[inline(always)]
    fn dot_c4(w: &[i8], x: &[u32], acc: [i32; 4]) -> [i32; 4] {
        arm::dot_c4(w, x, acc)
    }
    #[inline(always)]
    fn dot_c4_channels(
        run: &ShortRun,
        x: &[u32],
        out: (&mut [i8], usize),
        acc: &mut [i32; 4],
    ) -> usize {
        arm::dot_c4_channels(run, x, out, acc)
    }
    #[inline(always)]
    fn taps3(run: &Taps3, acc: &mut [i32]) -> bool {
        arm::taps3(run, acc)
    }
}

/// The kernels [`dense`] and [`conv`] use on this target.
#[cfg(m4f_kernels)]
pub type Native = M4f;
/// The kernels [`dense`] and [`conv`] use on this target.
#[cfg(not(m4f_kernels))]
pub type Native = Portable;

fn check_len(what: &'static str, expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            found,
        })
    }
}

fn check_zp(zp: i32) -> Result<(), Error> {
    if (-128..=127).contains(&zp) {
        Ok(())
    } else {
        Err(Error::InvalidHeader {
            field: "int8 input zero point",
        })
    }
}

/// The first `words` of the caller's scratch (`Error::BufferTooSmall` if it is shorter).
fn scratch(s: &mut [u32], words: usize) -> Result<&mut [u32], Error> {
    let provided = s.len();
    s.get_mut(..words).ok_or(Error::BufferTooSmall {
        what: "int8 scratch",
        needed: words,
        provided,
    })
}

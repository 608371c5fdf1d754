//! Requantisation of an int32 accumulator to int8: TFLite Micro's
//! `MultiplyByQuantizedMultiplier` (a Q31 multiplier and a power-of-two shift per output
//! channel, gemmlowp's `SaturatingRoundingDoublingHighMul` then `RoundingDivideByPOT`, the
//! "double rounding" of TFLM's default build), the output zero point, then the clamp to the
//! activation range (a ReLU is folded into that clamp).
//!
//! ```
//! use fewshot_runtime::math::int8::{multiply_by_quantized_multiplier, quantize_multiplier};
//! let (m, shift) = quantize_multiplier(0.25).unwrap();
//! assert_eq!((m, shift), (1 << 30, -1));
//! assert_eq!(multiply_by_quantized_multiplier(1000, m, shift), 250);
//! assert_eq!(multiply_by_quantized_multiplier(-6, m, shift), -2); // -1.5: half away from zero
//! ```

use crate::Error;

/// The largest left shift a multiplier may carry (`shift <= 30`).
pub const MAX_SHIFT: i32 = 30;
/// The largest right shift a multiplier may carry (`shift >= -31`).
pub const MIN_SHIFT: i32 = -31;
/// The largest right shift of the short form ([`Short`]): its offset, `2^(right - 1)` plus the
/// output zero point times `2^right`, then fits beside any product below 2^30 in an `i32`.
pub const MAX_SHORT_RIGHT: u32 = 22;

/// `round(a * b / 2^31)` (ties towards +infinity), saturated: the only overflow,
/// `i32::MIN * i32::MIN`, gives `i32::MAX`. gemmlowp's `SaturatingRoundingDoublingHighMul`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    // gemmlowp adds 2^30 (or 1 - 2^30 below zero) and divides truncating towards zero; both
    // are floor((ab + 2^30) / 2^31): for ab = -n < 0, -floor((n - 1 + 2^30) / 2^31) =
    // floor((2^30 - n) / 2^31). An arithmetic shift is that floor, and it fits an i32 except
    // for the case handled above.
    ((i64::from(a) * i64::from(b) + (1 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (gemmlowp's `RoundingDivideByPOT`);
/// `exponent` above 31 is taken as 31.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    let e = exponent.min(31);
    let mask = ((1i64 << e) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> e) + i32::from(remainder > threshold)
}

/// `x * multiplier * 2^shift / 2^31` as TFLM computes it: `x` shifted left by `max(shift, 0)`
/// (saturating where TFLM's C would overflow), the doubling high multiply, then the rounding
/// right shift by `max(-shift, 0)`. `shift` is clamped to `MIN_SHIFT..=MAX_SHIFT`.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let (left, right) = shifts(shift);
    let y = saturating_rounding_doubling_high_mul(x.saturating_mul(1 << left), multiplier);
    rounding_divide_by_pot(y, right)
}

/// The left and right shifts of a multiplier's `shift`, clamped to `MIN_SHIFT..=MAX_SHIFT`.
#[inline(always)]
fn shifts(shift: i32) -> (u32, u32) {
    let shift = shift.clamp(MIN_SHIFT, MAX_SHIFT);
    (shift.max(0) as u32, (-shift).max(0) as u32)
}

/// The Q31 multiplier and shift of a positive real factor (TFLite's `QuantizeMultiplier`):
/// `real = multiplier / 2^31 * 2^shift` with `multiplier` in `[2^30, 2^31)`, or `(0, 0)` for
/// zero and factors too small to represent. `None` for a negative or non-finite factor; a factor
/// of `2^31` or more saturates to the largest multiplier at `MAX_SHIFT`.
pub fn quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !real.is_finite() || real < 0.0 {
        return None;
    }
    let bits = real.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        return Some((0, 0)); // zero or subnormal
    }
    // frexp: real = q * 2^shift with q in [0.5, 1).
    let q = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    let mut shift = exp - 1022;
    let scaled = q * (1u64 << 31) as f64; // exact: a power-of-two scaling
    let t = scaled as i64;
    let mut fixed = t + i64::from(scaled - t as f64 >= 0.5);
    if fixed == 1 << 31 {
        fixed /= 2;
        shift += 1;
    }
    if shift < MIN_SHIFT {
        return Some((0, 0));
    }
    if shift > MAX_SHIFT {
        return Some((i32::MAX, MAX_SHIFT));
    }
    Some((fixed as i32, shift))
}

/// How one layer's int32 accumulators become int8 outputs: per output channel a Q31
/// multiplier and shift (`multiplier[c] / 2^31 * 2^shift[c] = s_in * s_w[c] / s_out`), then
/// the output zero point and the clamp to `act_min..=act_max` (for a ReLU,
/// `act_min = out_zp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant<'a> {
    /// Q31 multipliers, one per output channel (non-negative).
    pub multiplier: &'a [i32],
    /// Shifts, one per output channel, in `MIN_SHIFT..=MAX_SHIFT` (positive: left).
    pub shift: &'a [i32],
    /// The output's zero point, in `-128..=127`.
    pub out_zp: i32,
    /// The smallest output (the activation's clamp).
    pub act_min: i8,
    /// The largest output.
    pub act_max: i8,
}

impl Requant<'_> {
    /// Checks that there are `channels` multipliers and shifts, each in range, a zero point in
    /// int8 range and `act_min <= act_max` (`Error::LengthMismatch`, `Error::InvalidHeader`).
    pub fn check(&self, channels: usize) -> Result<(), Error> {
        super::check_len("int8 multipliers", channels, self.multiplier.len())?;
        super::check_len("int8 shifts", channels, self.shift.len())?;
        let bad = |field| Err(Error::InvalidHeader { field });
        // One pass, no branch per channel (it runs on every layer call): a negative
        // multiplier, or a shift outside `MIN_SHIFT..=MAX_SHIFT` (either difference negative,
        // wrapping ones included), sets the sign bit.
        let signs = self
            .multiplier
            .iter()
            .zip(self.shift)
            .fold(0, |a, (&m, &s)| {
                a | m | s.wrapping_sub(MIN_SHIFT) | MAX_SHIFT.wrapping_sub(s)
            });
        if signs < 0 {
            let m_bad = self.multiplier.iter().any(|&m| m < 0);
            return bad(if m_bad {
                "int8 multiplier"
            } else {
                "int8 shift"
            });
        }
        if !(-128..=127).contains(&self.out_zp) {
            return bad("int8 output zero point");
        }
        if self.act_min > self.act_max {
            return bad("int8 activation range");
        }
        Ok(())
    }

    /// The int8 output of channel `c`'s accumulator: `multiply_by_quantized_multiplier`, the
    /// output zero point added (saturating), the clamp, for parameters [`Requant::check`]
    /// accepted (channels beyond the slices give the zero point).
    #[inline(always)]
    pub fn apply(&self, c: usize, acc: i32) -> i8 {
        self.channel(c).apply(acc)
    }

    /// Channel `c`'s parameters, read once for all its outputs.
    #[inline(always)]
    pub fn channel(&self, c: usize) -> Channel {
        let (m, s) = match (self.multiplier.get(c), self.shift.get(c)) {
            (Some(&m), Some(&s)) => (m, s),
            _ => (0, 0),
        };
        self.with(m, s)
    }

    /// The requantisation of a channel whose multiplier is `m` and shift `s`.
    #[inline(always)]
    pub fn with(&self, m: i32, s: i32) -> Channel {
        let (left, right) = shifts(s);
        Channel {
            multiplier: m,
            left,
            right,
            out_zp: self.out_zp,
            min: i32::from(self.act_min),
            max: i32::from(self.act_max),
        }
    }
}

/// One output channel's requantisation ([`Requant::channel`], [`Requant::with`]), its
/// parameters in registers across the channel's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    multiplier: i32,
    left: u32,
    right: u32,
    out_zp: i32,
    min: i32,
    max: i32,
}

impl Channel {
    /// [`Channel::apply`] to each accumulator of `acc`, into `out` (as many as both hold): its
    /// own function, so the parameters stay in registers, and the left shift tested once.
    #[inline(never)]
    pub fn apply_all(&self, acc: &[i32], out: &mut [i8]) {
        self.apply_each(acc, out);
    }

    /// [`Channel::apply_all`] for accumulators the caller has bounded below 2^30 in magnitude
    /// (so the test of [`Channel::apply_each`] is skipped); the same outputs when they are.
    #[inline(never)]
    pub(crate) fn apply_all_small(&self, acc: &[i32], out: &mut [i8]) {
        self.apply_known(acc, out, true);
    }

    /// [`Channel::apply_all`] inlined where it is called (a few accumulators at a time). When
    /// every `|a|` is below 2^30 (`a ^ (a >> 31)` is `|a|` or `|a| - 1`), there is no left
    /// shift and the right shift is at least 1, a shorter exact form (`apply_small`).
    #[inline(always)]
    pub fn apply_each(&self, acc: &[i32], out: &mut [i8]) {
        self.apply_known(acc, out, false);
    }

    /// [`Channel::apply_each`], its accumulators known to be small when `small` is true.
    #[inline(always)]
    fn apply_known(&self, acc: &[i32], out: &mut [i8], small: bool) {
        let small = small || below_2_30(acc);
        if let (Some(offset), true) = (self.offset(), small) {
            if (self.min, self.max) == (-128, 127) {
                // The whole int8 range (a ReLU whose zero point is -128, or no activation): the
                // clamp is one saturation (`SSAT` on the Cortex-M4F).
                for (o, &a) in out.iter_mut().zip(acc) {
                    *o = short_form(a, self.multiplier, offset, self.right).clamp(-128, 127) as i8;
                }
            } else {
                for (o, &a) in out.iter_mut().zip(acc) {
                    *o = self.apply_small(a, offset);
                }
            }
        } else if self.left == 0 {
            let ch = Channel { left: 0, ..*self };
            for (o, &a) in out.iter_mut().zip(acc) {
                *o = ch.apply(a);
            }
        } else {
            for (o, &a) in out.iter_mut().zip(acc) {
                *o = self.apply(a);
            }
        }
    }

    /// The short form's parameters ([`Short`]) when this channel has no left shift, a right
    /// shift of 1 to [`MAX_SHORT_RIGHT`] and the whole int8 range as its clamp.
    #[inline(always)]
    pub fn short(&self) -> Option<Short> {
        let offset = self.offset()?;
        ((self.min, self.max) == (-128, 127)).then_some(Short {
            multiplier: self.multiplier,
            right: self.right,
            offset,
        })
    }

    /// The short form's offset, `2^(right - 1) + out_zp 2^right`, when the short form applies
    /// (no left shift, a right shift of 1 to [`MAX_SHORT_RIGHT`], a zero point in int8 range).
    #[inline(always)]
    fn offset(&self) -> Option<i32> {
        let ok = self.left == 0
            && (1..=MAX_SHORT_RIGHT).contains(&self.right)
            && (-128..=127).contains(&self.out_zp);
        ok.then(|| short_offset(self.right, self.out_zp))
    }

    /// [`Channel::apply`] in the short form ([`short_form`], `offset` from
    /// [`Channel::offset`]), for `|acc| < 2^30`; then the clamp.
    #[inline(always)]
    fn apply_small(&self, acc: i32, offset: i32) -> i8 {
        let v = short_form(acc, self.multiplier, offset, self.right);
        v.clamp(self.min, self.max) as i8
    }

    /// The int8 output of an accumulator.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i8 {
        let x = if self.left == 0 {
            acc
        } else {
            acc.saturating_mul(1 << self.left)
        };
        // `saturating_rounding_doubling_high_mul` but for its saturating case, both operands
        // `i32::MIN`, which checked (non-negative) multipliers rule out.
        let y = ((i64::from(x) * i64::from(self.multiplier) + (1 << 30)) >> 31) as i32;
        let v = rounding_divide_by_pot(y, self.right).saturating_add(self.out_zp);
        v.clamp(self.min, self.max) as i8
    }
}

/// The requantisation of a channel in its short form ([`Channel::short`]: no left shift, a right
/// shift of 1 to [`MAX_SHORT_RIGHT`], the whole int8 range), exact for accumulators below 2^30
/// in magnitude; one channel of a [`super::ShortRun`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Short {
    /// The Q31 multiplier.
    pub multiplier: i32,
    /// The right shift (1 to [`MAX_SHORT_RIGHT`]).
    pub right: u32,
    /// `2^(right - 1) + out_zp 2^right` ([`short_offset`]).
    pub offset: i32,
}

impl Short {
    /// The outputs of four accumulators into `out`, or false (nothing written) when one is
    /// 2^30 or more in magnitude.
    #[inline(always)]
    pub fn apply4(&self, acc: &[i32; 4], out: &mut [i8; 4]) -> bool {
        if !below_2_30(acc) {
            return false;
        }
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = short_form(a, self.multiplier, self.offset, self.right).clamp(-128, 127) as i8;
        }
        true
    }
}

/// Whether every accumulator is below 2^30 in magnitude (`a ^ (a >> 31)` is `|a|` or
/// `|a| - 1`), where the short form is exact.
#[inline(always)]
fn below_2_30(acc: &[i32]) -> bool {
    acc.iter().fold(0u32, |o, &a| o | (a ^ (a >> 31)) as u32) < 1 << 30
}

/// The offset of the short form for a right shift `right` (1 to [`MAX_SHORT_RIGHT`]) and an
/// output zero point `out_zp` (int8): `2^(right - 1) + out_zp 2^right`.
#[inline(always)]
pub fn short_offset(right: u32, out_zp: i32) -> i32 {
    (1 << (right - 1)) + (out_zp << right)
}

/// The requantisation before the clamp, in the short form: for `|acc| < 2^30`, no left shift,
/// `right` in `1..=MAX_SHORT_RIGHT`, `multiplier >= 0` and `offset` from [`short_offset`], the
/// general form's value plus the zero point ([`Channel::apply`] before its clamp), in fewer
/// operations:
/// - `(x m + 2^30) >> 31 = (2x m + 2^31) >> 32 = y` (the rounding high multiply: `2x` fits and
///   nothing saturates, `m < 2^31`);
/// - rounding half away from zero by `2^right` is `(y + 2^(right - 1) - [y < 0]) >> right`, and
///   `[acc < 0]` may stand for `[y < 0]`: they differ only when `acc < 0` and `y = 0`, where
///   both sums shift to 0;
/// - the zero point added before the shift as `out_zp 2^right` adds exactly `out_zp` after it.
///
/// `|y| <= 2^30`, `|offset| < 2^29 + 2^21`: the sums fit. `offset + y` is one rounding
/// multiply-accumulate of the high word (`SMMLAR` on the Cortex-M4F).
#[inline(always)]
fn short_form(acc: i32, multiplier: i32, offset: i32, right: u32) -> i32 {
    let y = ((i64::from(acc << 1) * i64::from(multiplier) + (1 << 31)) >> 32) as i32;
    (y + offset + (acc >> 31)) >> right
}

//! The boundaries of an int8 trunk: f32 -> int8 where it starts, int8 -> f32 where the
//! adaptable f32 head starts. A tensor's real value is `scale * (q - zero_point)`.
//!
//! ```
//! use fewshot_runtime::math::int8::{dequantize, quantize, QuantParams};
//! let p = QuantParams { scale: 0.5, zero_point: -10 };
//! let mut q = [0i8; 4];
//! quantize(&[0.0, 1.25, -100.0, 1e9], p, &mut q).unwrap();
//! assert_eq!(q, [-10, -7, -128, 127]); // 1.25 / 0.5 = 2.5 rounds away from zero
//! let mut x = [0.0f32; 4];
//! dequantize(&q, p, &mut x).unwrap();
//! assert_eq!(x, [0.0, 1.5, -59.0, 68.5]);
//! ```

use crate::Error;

/// The scale and zero point of an int8 tensor (per tensor, asymmetric).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    /// Real value of one step (finite, > 0).
    pub scale: f32,
    /// The int8 value of real zero, in `-128..=127`.
    pub zero_point: i32,
}

impl QuantParams {
    /// `Error::InvalidHeader` unless the scale is finite and positive and the zero point an int8.
    pub fn check(&self) -> Result<(), Error> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(Error::InvalidHeader {
                field: "int8 scale",
            });
        }
        if !(-128..=127).contains(&self.zero_point) {
            return Err(Error::InvalidHeader {
                field: "int8 zero point",
            });
        }
        Ok(())
    }
}

/// `v` rounded to the nearest integer, ties away from zero, saturated to `i32` (NaN gives 0):
/// the same on every target (no libm), and without a comparison: the truncation `t` plus the
/// truncation of twice the fraction `v - t`, which is exact below 2^23 in magnitude (and 0
/// from there on, `v` an integer; beyond `i32` the saturating addition keeps the saturated
/// `t`): `2 (v - t)` is in (-2, 2) and truncates to 1 exactly when the fraction is at least
/// 0.5, to -1 when it is at most -0.5.
#[inline]
pub fn round_half_away(v: f32) -> i32 {
    let t = v as i32; // truncation towards zero, saturating; NaN gives 0
    let frac = v - t as f32;
    t.saturating_add((2.0 * frac) as i32)
}

/// `q = clamp(round(x / scale) + zero_point, -128, 127)` for every value (TFLM's `Quantize`).
/// A NaN quantises to the zero point.
pub fn quantize(x: &[f32], p: QuantParams, q: &mut [i8]) -> Result<(), Error> {
    p.check()?;
    super::check_len("int8 quantize output", x.len(), q.len())?;
    for (o, &v) in q.iter_mut().zip(x) {
        let r = round_half_away(v / p.scale).saturating_add(p.zero_point);
        *o = r.clamp(-128, 127) as i8;
    }
    Ok(())
}

/// `x = scale * (q - zero_point)` for every value.
pub fn dequantize(q: &[i8], p: QuantParams, x: &mut [f32]) -> Result<(), Error> {
    p.check()?;
    super::check_len("int8 dequantize output", q.len(), x.len())?;
    for (o, &v) in x.iter_mut().zip(q) {
        *o = p.scale * (i32::from(v) - p.zero_point) as f32;
    }
    Ok(())
}

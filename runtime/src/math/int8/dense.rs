//! The int8 fully connected layer: `y[o] = requant_o(bias[o] + sum_i w[o][i] (x[i] - in_zp))`,
//! weights int8 row-major `[outputs][inputs]` (per-row symmetric: zero point 0), biases int32.
//!
//! ```
//! use fewshot_runtime::math::int8::{dense, packed_words, QuantDense, Requant};
//! let (w, b) = ([1i8, 2, -3, 4], [10i32, -20]); // 2 x 2
//! let (m, s) = ([1 << 30; 2], [0; 2]); // a factor of 1/2 per output channel
//! let layer = QuantDense {
//!     inputs: 2,
//!     outputs: 2,
//!     in_zp: -1,
//!     weights: &w,
//!     bias: &b,
//!     requant: Requant { multiplier: &m, shift: &s, out_zp: 3, act_min: 3, act_max: 127 },
//! };
//! let mut scratch = [0u32; packed_words(2, 1)];
//! let mut y = [0i8; 2];
//! dense(&layer, &[1, 3], &mut y, &mut scratch).unwrap();
//! // x - in_zp = [2, 4]: (10 + 2 + 8) / 2 + 3 = 13; (-20 - 6 + 16) / 2 + 3 = -2, clamped to 3
//! assert_eq!(y, [13, 3]);
//! ```

use super::{check_len, pack_column, Kernels, Native, Requant};
use crate::Error;

/// A quantised dense layer as the runtime reads it (every slice borrowed, e.g. from flash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantDense<'a> {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// The input's zero point, in `-128..=127`.
    pub in_zp: i32,
    /// `outputs x inputs` int8 weights, row-major.
    pub weights: &'a [i8],
    /// `outputs` int32 biases (in units of `s_in * s_w[o]`).
    pub bias: &'a [i32],
    /// Per-output requantisation.
    pub requant: Requant<'a>,
}

impl QuantDense<'_> {
    /// Checks every length and parameter (`Error::LengthMismatch`, `Error::InvalidHeader`).
    pub fn check(&self) -> Result<(), Error> {
        let n = self.inputs.checked_mul(self.outputs);
        let n = n.ok_or(Error::InvalidHeader {
            field: "int8 dense size",
        })?;
        check_len("int8 dense weights", n, self.weights.len())?;
        check_len("int8 dense bias", self.outputs, self.bias.len())?;
        super::check_zp(self.in_zp)?;
        self.requant.check(self.outputs)
    }
    /// Words of scratch [`dense`] needs.
    pub fn scratch_words(&self) -> usize {
        super::packed_words(self.inputs, 1)
    }
}

/// Runs the layer on one sample with the target's kernels.
pub fn dense(l: &QuantDense, x: &[i8], y: &mut [i8], scratch: &mut [u32]) -> Result<(), Error> {
    dense_with::<Native>(l, x, y, scratch)
}

/// [`dense`] with the kernels `K` (the on-target tests compare them).
pub fn dense_with<K: Kernels>(
    l: &QuantDense,
    x: &[i8],
    y: &mut [i8],
    scratch: &mut [u32],
) -> Result<(), Error> {
    l.check()?;
    check_len("int8 dense input", l.inputs, x.len())?;
    check_len("int8 dense output", l.outputs, y.len())?;
    let packed = super::scratch(scratch, l.scratch_words())?;
    pack_column(x, l.in_zp, packed, 1, 0);
    let rq = &l.requant;
    let n = l.inputs.max(1);
    let params = l.bias.iter().zip(rq.multiplier).zip(rq.shift);
    let mut rows = l.weights.chunks_exact(n).zip(params).zip(y.iter_mut());
    loop {
        match (rows.next(), rows.next()) {
            (Some(((w0, ((&b0, &m0), &s0)), y0)), Some(((w1, ((&b1, &m1), &s1)), y1))) => {
                let [a0, a1] = K::dot_r2c1(w0, w1, packed, [b0, b1]);
                // `apply_each` takes the short form where it is exact (no left shift,
                // accumulators below 2^30): about half the general form's instructions.
                rq.with(m0, s0).apply_each(&[a0], core::slice::from_mut(y0));
                rq.with(m1, s1).apply_each(&[a1], core::slice::from_mut(y1));
            }
            (Some(((w, ((&b, &m), &s)), y0)), None) => {
                let a = K::dot_c1(w, packed, b);
                rq.with(m, s).apply_each(&[a], core::slice::from_mut(y0));
                break;
            }
            _ => break,
        }
    }
    Ok(())
}

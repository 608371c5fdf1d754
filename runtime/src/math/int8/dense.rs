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

use super::{bias, check_len, put, split_row, tail_dot, Kernels, Native, Packer, Requant};
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
    let words = l.scratch_words();
    let packed = super::scratch(scratch, words)?;
    let mut p = Packer::new(packed, l.inputs, 1, 0);
    for &v in x {
        p.push((i32::from(v) - l.in_zp) as i16);
    }
    let (blocks, tail) = packed.split_at(l.inputs / 4 * 2);
    let row = |o: usize| split_row(l.weights, l.inputs, o);
    let mut o = 0;
    while o + 1 < l.outputs {
        let ((h0, t0), (h1, t1)) = (row(o), row(o + 1));
        let b = [bias(l.bias, o), bias(l.bias, o + 1)];
        let [a0, a1] = K::dot_r2c1(h0, h1, blocks, b);
        put(y, o, l.requant.apply(o, tail_dot(t0, tail, a0)));
        put(y, o + 1, l.requant.apply(o + 1, tail_dot(t1, tail, a1)));
        o += 2;
    }
    if o < l.outputs {
        let (h0, t0) = row(o);
        let a0 = K::dot_c1(h0, blocks, bias(l.bias, o));
        put(y, o, l.requant.apply(o, tail_dot(t0, tail, a0)));
    }
    Ok(())
}

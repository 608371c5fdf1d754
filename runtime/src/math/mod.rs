//! The numeric kernels every other module uses: dense layers, activations, softmax and losses.
//!
//! Transcendentals go through micromath, called explicitly (`micromath::F32Ext::exp(x)`), so a
//! host build (where `x.exp()` would resolve to std) and a device build agree bit for bit.
//!
//! On the Cortex-M4F/M7 (bare-metal ARM with hardware float: `thumbv7em-none-eabihf`) the hot
//! loops go through hand-written kernels (`arm`, `arm_block`) with the same results bit for bit.
//! Their condition has one name, `cfg(m4f_kernels)`, set by the crate's `build.rs` when
//! `target_arch = "arm"`, `target_abi = "eabihf"` and `target_os = "none"` (and the
//! `portable-kernels` feature is off); every other build (`cfg(not(m4f_kernels))`) runs the
//! portable code.
//!
//! ```
//! use fewshot_runtime::math::{dense, softmax};
//! use fewshot_runtime::Activation;
//! let w = [1.0, 2.0, 3.0, 4.0]; // 2x2, row-major
//! let b = [0.5, -10.0];
//! let mut y = [0.0; 2];
//! dense(&w, &b, &[1.0, 1.0], &mut y, Activation::Relu);
//! assert_eq!(y, [3.5, 0.0]);
//! let mut p = [1.0, 1.0];
//! softmax(&mut p);
//! assert_eq!(p, [0.5, 0.5]);
//! ```

use crate::Activation;
use micromath::F32Ext;

#[cfg(m4f_kernels)]
#[macro_use]
mod asm;
#[cfg(m4f_kernels)]
mod arm;
#[cfg(m4f_kernels)]
mod arm_block;
#[cfg(all(m4f_kernels, feature = "conv"))]
pub(crate) mod arm_conv;
pub mod block;
#[cfg(feature = "int8")]
pub mod int8;
#[cfg(any(feature = "conv", feature = "int8"))]
pub(crate) mod tiles;

pub use block::Rate;

/// `acc + sum_j w_j x_j` over the common length, accumulated sequentially (`j` ascending, one
/// rounded multiply and one rounded add per term): the same bits on every target.
#[inline(always)]
pub fn dot_from(acc: f32, w: &[f32], x: &[f32]) -> f32 {
    #[allow(unused_mut, unused_assignments)]
    let mut done = 0;
    #[allow(unused_mut)]
    let mut acc = acc;
    #[cfg(m4f_kernels)]
    {
        let chunks = w.len().min(x.len()) / 8;
        acc = arm::dot1(acc, w, x, chunks);
        done = 8 * chunks;
    }
    for (a, b) in w.iter().zip(x).skip(done) {
        acc += a * b;
    }
    acc
}

/// [`dot_from`] for two rows sharing `x` (each loaded once).
#[inline(always)]
pub fn dot2_from(acc: [f32; 2], w0: &[f32], w1: &[f32], x: &[f32]) -> [f32; 2] {
    #[allow(unused_mut, unused_assignments)]
    let mut done = 0;
    #[allow(unused_mut)]
    let mut acc = acc;
    #[cfg(m4f_kernels)]
    {
        let chunks = w0.len().min(w1.len()).min(x.len()) / 8;
        acc = arm::dot2(acc, w0, w1, x, chunks);
        done = 8 * chunks;
    }
    for ((a, b), c) in w0.iter().zip(w1).zip(x).skip(done) {
        acc[0] += a * c;
        acc[1] += b * c;
    }
    acc
}

/// `acc[c] += sum_t s[t * ss] * v[t * vs + c]` for every `c < acc.len()` (at most 8) and
/// `t < n`, accumulated sequentially in `t`: the kernel of the inner loop's gradient (`s` a
/// column of deltas, `v` a block of input activations) and of its backpropagation.
#[inline(always)]
pub fn axpy_strided(acc: &mut [f32], s: &[f32], ss: usize, v: &[f32], vs: usize, n: usize) {
    #[cfg(m4f_kernels)]
    {
        if let Ok(acc8) = <&mut [f32; 8]>::try_from(&mut *acc) {
            if arm::axpy8(acc8, s, ss, v, vs, n) {
                return;
            }
        }
    }
    let w = acc.len();
    for (t, sv) in s.iter().step_by(ss.max(1)).take(n).enumerate() {
        let Some(row) = v.get(t * vs..t * vs + w) else {
            return;
        };
        for (a, x) in acc.iter_mut().zip(row) {
            *a += sv * x;
        }
    }
}

/// `sum_j a_j b_j`, sequentially (see [`dot_from`]).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_from(0.0, a, b)
}

/// The larger of `a` and `b` by comparison (`b` when either is NaN). `f32::max` would call
/// `fmaxf` on a Cortex-M (about 20 instructions); this is a compare and a select.
#[inline(always)]
pub fn max(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// `g` clamped to `[-c, c]` by comparisons (NaN passes through).
#[inline(always)]
pub fn clamp(g: f32, c: f32) -> f32 {
    if g > c {
        c
    } else if g < -c {
        -c
    } else {
        g
    }
}

/// Copies `src` into `dst`, which must be as long ([`Error::Internal`] at `at` otherwise: the
/// callers size both). `copy_from_slice` would panic instead, and its panic message would link
/// `core::fmt` into every firmware.
#[inline]
pub(crate) fn copy(dst: &mut [f32], src: &[f32], at: &'static str) -> Result<(), crate::Error> {
    if dst.len() != src.len() {
        return Err(crate::Error::internal(at));
    }
    // Equal lengths: the loop is a `memcpy`, without a length check that could panic.
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
    Ok(())
}

/// `to = from` (the same length), four values at a time: rows of a small map are too short for
/// `memcpy`'s call and alignment checks to pay (57 instructions for 8 floats on the
/// Cortex-M4F), as the padded copies of the convolutions' inputs are.
#[cfg(feature = "conv")]
#[inline(always)]
pub(crate) fn copy_fours<T: Copy>(to: &mut [T], from: &[T]) {
    let (mut t, mut f) = (to.chunks_exact_mut(4), from.chunks_exact(4));
    for (a, b) in (&mut t).zip(&mut f) {
        a.copy_from_slice(b);
    }
    // The last one to three values one by one (a loop here became a `memcpy` call, which
    // costs more than the copy for a short row).
    let (t, f) = (t.into_remainder(), f.remainder());
    for i in 0..3 {
        if let (Some(a), Some(b)) = (t.get_mut(i), f.get(i)) {
            *a = *b;
        }
    }
}

/// Writes the planes of `x` (of `[rows, columns]` each) into `xp` with `padding` (rows above
/// and below, columns left and right) of `fill` around each, then `fill` to the end of `xp`:
/// the rows above and below a plane and each row's columns left and right of it are written
/// once, not the whole plane before the input over it, and the rows are copied four values
/// at a time (a small map's rows are too short for `memcpy` and `memset` calls to pay).
/// Planes that do not fit `xp` are left out.
#[cfg(feature = "conv")]
#[inline(never)]
pub(crate) fn pad_planes<T: Copy>(
    x: &[T],
    [h, w]: [usize; 2],
    [py, px]: [usize; 2],
    fill: T,
    xp: &mut [T],
) {
    let (h, w) = (h.max(1), w.max(1));
    let (hp, wp) = (h + 2 * py, w + 2 * px);
    let planes = xp.chunks_mut(hp * wp);
    let mut filled = 0;
    for (plane, to) in x.chunks_exact(h * w).zip(planes) {
        let (top, rest) = to.split_at_mut((py * wp).min(to.len()));
        top.fill(fill);
        let (body, bottom) = rest.split_at_mut((h * wp).min(rest.len()));
        bottom.fill(fill);
        for (row, from) in body.chunks_exact_mut(wp).zip(plane.chunks_exact(w)) {
            let (left, rest) = row.split_at_mut(px.min(row.len()));
            fill_few(left, fill);
            let (mid, right) = rest.split_at_mut(w.min(rest.len()));
            copy_fours(mid, from);
            fill_few(right, fill);
        }
        filled += hp * wp;
    }
    if let Some(rest) = xp.get_mut(filled..) {
        rest.fill(fill);
    }
}

/// `s` filled with `v`: a padding of a few columns, one store each (a `memset` call costs
/// more than that).
#[cfg(feature = "conv")]
#[inline(always)]
fn fill_few<T: Copy>(s: &mut [T], v: T) {
    match s {
        [] => {}
        [a] => *a = v,
        [a, b] => (*a, *b) = (v, v),
        _ => s.fill(v),
    }
}

/// `e^x` (micromath), with the ends of the range handled here: micromath returns NaN for
/// finite `x` in about [88.72, 89.42] (where `e^x` overflows f32) and asserts on NaN in debug
/// builds. Above 88 the result is `+inf` (the true value is within a factor 2 of `f32::MAX`),
/// below -88 it is 0 (below the smallest normal float), NaN stays NaN.
#[inline]
pub fn exp(x: f32) -> f32 {
    if x > 88.0 {
        f32::INFINITY
    } else if x < -88.0 {
        0.0
    } else if x.is_nan() {
        x
    } else {
        F32Ext::exp(x)
    }
}

/// `1 / sqrt(x)` for finite `x > 0`: a bit-level first estimate, then three Newton steps
/// (relative error below 1e-6). IEEE multiply and subtract only, so every target computes the
/// same bits. `+inf` for 0, NaN for negative or NaN `x`.
#[inline]
pub fn inv_sqrt(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::INFINITY;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let mut y = f32::from_bits(0x5f37_5a86_u32.wrapping_sub(x.to_bits() >> 1));
    let half = 0.5 * x;
    for _ in 0..3 {
        y *= 1.5 - half * y * y;
    }
    y
}

/// Writes `x` standardised by its own mean and variance into `out`:
/// `(x - mean) * inv_sqrt(var + eps)` (two passes, f32).
pub fn standardise(x: &[f32], out: &mut [f32], eps: f32) {
    let n = x.len().max(1) as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = inv_sqrt(var + eps);
    for (o, v) in out.iter_mut().zip(x) {
        *o = (v - mean) * inv;
    }
}

/// `ln x` (micromath).
#[inline]
pub fn ln(x: f32) -> f32 {
    F32Ext::ln(x)
}

/// Applies `act` to `z`.
#[inline]
pub fn activate(act: Activation, z: f32) -> f32 {
    match act {
        Activation::Identity => z,
        // Clears every value whose sign bit is set (two integer instructions on a Cortex-M, where
        // a float compare costs four): max(0, z) for every non-NaN z, -0 included.
        Activation::Relu => {
            let bits = z.to_bits();
            f32::from_bits(bits & !(((bits as i32) >> 31) as u32))
        }
        Activation::Tanh => 1.0 - 2.0 / (exp(2.0 * z) + 1.0),
        Activation::Sigmoid => 1.0 / (1.0 + exp(-z)),
    }
}

/// The derivative of `act` expressed through its output `y`.
#[inline]
pub fn derivative(act: Activation, y: f32) -> f32 {
    match act {
        Activation::Identity => 1.0,
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
    }
}

/// Applies `act` to every value of `y` (the activation chosen once, outside the loop). Not
/// inlined: its four loops (two with `exp`) would be copied into every caller.
#[inline(never)]
pub fn activate_all(act: Activation, y: &mut [f32]) {
    match act {
        Activation::Identity => {}
        Activation::Relu => y
            .iter_mut()
            .for_each(|v| *v = activate(Activation::Relu, *v)),
        Activation::Tanh => y
            .iter_mut()
            .for_each(|v| *v = activate(Activation::Tanh, *v)),
        Activation::Sigmoid => y
            .iter_mut()
            .for_each(|v| *v = activate(Activation::Sigmoid, *v)),
    }
}

/// `y = act(W x + b)` with `W` row-major `[y.len()][x.len()]`; each output is `b_i` plus the
/// terms `W_ij x_j` added sequentially (`j` ascending), on every target.
#[inline]
pub fn dense(w: &[f32], b: &[f32], x: &[f32], y: &mut [f32], act: Activation) {
    if let ([x0], Activation::Relu) = (x, act) {
        // Fused (one pass over W, b and y) for the narrow first layer of a 1-D regressor.
        // On the Cortex-M4F the rows in fours go through a kernel, the rest here.
        #[cfg(m4f_kernels)]
        let done = arm::column_relu(w, b, *x0, y);
        #[cfg(not(m4f_kernels))]
        let done = 0;
        let rest = y.iter_mut().zip(w).zip(b).skip(done);
        for ((yi, wi), bi) in rest {
            *yi = activate(Activation::Relu, bi + wi * x0);
        }
        return;
    }
    #[cfg(m4f_kernels)]
    {
        // The ReLU is applied by the kernels as they store each row (four, two or one at a time).
        let relu = act == Activation::Relu;
        if arm::dense_linear(w, b, x, y, relu) {
            if !matches!(act, Activation::Relu | Activation::Identity) {
                activate_all(act, y);
            }
            return;
        }
    }
    dense_linear(w, b, x, y);
    activate_all(act, y);
}

/// [`dense`] for every sample: `ys[s] = act(W xs[s] + b)`, with `xs` rows of `ni` floats and
/// `ys` rows of `no` (the inner loop's forward pass over its support set).
#[inline]
pub fn dense_batch(
    w: &[f32],
    b: &[f32],
    xs: &[f32],
    ys: &mut [f32],
    (ni, no): (usize, usize),
    act: Activation,
) {
    #[cfg(m4f_kernels)]
    {
        // The bounds checks once for all samples, then the activation (elementwise) once.
        if arm::dense_linear_batch(w, b, xs, ys, ni, no) {
            activate_all(act, ys);
            return;
        }
    }
    for (x, y) in xs
        .chunks_exact(ni.max(1))
        .zip(ys.chunks_exact_mut(no.max(1)))
    {
        dense(w, b, x, y, act);
    }
}

/// `y = W x + b`, accumulated as [`dense`] does.
#[inline]
pub fn dense_linear(w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
    #[cfg(m4f_kernels)]
    {
        if arm::dense_linear(w, b, x, y, false) {
            return;
        }
    }
    match x {
        [] => y.iter_mut().zip(b).for_each(|(yi, bi)| *yi = *bi),
        // One input (a 1-D regressor's first layer): W is a column.
        [x0] => {
            for ((yi, wi), bi) in y.iter_mut().zip(w).zip(b) {
                *yi = bi + wi * x0;
            }
        }
        _ => {
            let n = x.len();
            let mut rows = w.chunks_exact(n).zip(b).zip(y.iter_mut());
            while let Some(((r0, b0), y0)) = rows.next() {
                match rows.next() {
                    Some(((r1, b1), y1)) => {
                        [*y0, *y1] = dot2_from([*b0, *b1], r0, r1, x);
                    }
                    None => *y0 = dot_from(*b0, r0, x),
                }
            }
        }
    }
}

/// Softmax in place (max-subtracted).
pub fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, self::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in z.iter_mut() {
        *v *= inv;
    }
}

/// `(m, sum_i exp(v_i - m))` with `m = max_i v_i`: the stable parts of a log-sum-exp.
pub fn max_and_sum_exp(v: &[f32]) -> (f32, f32) {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, max);
    let mut sum = 0.0;
    for &x in v {
        sum += exp(x - m);
    }
    (m, sum)
}

/// `log sum_i exp(v_i)`, computed stably.
pub fn log_sum_exp(v: &[f32]) -> f32 {
    let (m, sum) = max_and_sum_exp(v);
    m + ln(sum)
}

/// Cross-entropy of logits `z` for class `label`: `ln sum_c e^{z_c} - z_label`, computed
/// max-subtracted. Leaves `z` holding the softmax probabilities.
pub fn cross_entropy_in_place(z: &mut [f32], label: usize) -> f32 {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, self::max);
    let z_label = z.get(label).copied().unwrap_or(max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in z.iter_mut() {
        *v *= inv;
    }
    ln(sum) + (max - z_label)
}

//! The numeric kernels every other module uses: dense layers, activations, softmax and losses.
//!
//! Transcendentals go through micromath, called explicitly (`micromath::F32Ext::exp(x)`), so a
//! host build (where `x.exp()` would resolve to std) and a device build agree bit for bit.
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

/// `sum_j a_j b_j` over the common length, with four partial sums (a fixed order: the same
/// result on every target).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `e^x` (micromath).
#[inline]
pub fn exp(x: f32) -> f32 {
    F32Ext::exp(x)
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
        Activation::Relu => {
            if z > 0.0 {
                z
            } else {
                0.0
            }
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

/// `y = act(W x + b)` with `W` row-major `[y.len()][x.len()]`.
#[inline]
pub fn dense(w: &[f32], b: &[f32], x: &[f32], y: &mut [f32], act: Activation) {
    let n = x.len().max(1);
    for ((yi, row), bi) in y.iter_mut().zip(w.chunks_exact(n)).zip(b) {
        *yi = activate(act, bi + dot(row, x));
    }
}

/// Softmax in place (max-subtracted).
pub fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
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

/// Cross-entropy of logits `z` for class `label`: `ln sum_c e^{z_c} - z_label`, computed
/// max-subtracted. Leaves `z` holding the softmax probabilities.
pub fn cross_entropy_in_place(z: &mut [f32], label: usize) -> f32 {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
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

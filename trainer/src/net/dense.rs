//! The dense layer's primitives: `z = x W^T + b` on `k x inputs` rows, `W` row-major
//! `[outputs][inputs]`, through the trainer's matrix kernels.

use crate::real::{mm_gtx, mm_gw, mm_xwt, Real};

fn beta<T: Real>(acc: bool) -> T {
    if acc {
        T::one()
    } else {
        T::zero()
    }
}

/// `out (+)= v W^T`.
#[inline]
pub fn linear<T: Real>(
    k: usize,
    inputs: usize,
    outputs: usize,
    v: &[T],
    w: &[T],
    acc: bool,
    out: &mut [T],
) {
    mm_xwt(k, inputs, outputs, v, w, beta(acc), out);
}

/// `gx (+)= g W`.
#[inline]
pub fn linear_t<T: Real>(
    k: usize,
    inputs: usize,
    outputs: usize,
    g: &[T],
    w: &[T],
    acc: bool,
    gx: &mut [T],
) {
    mm_gw(k, outputs, inputs, g, w, beta(acc), gx);
}

/// `gw (+)= g^T v`.
#[inline]
pub fn weight_grad<T: Real>(
    k: usize,
    inputs: usize,
    outputs: usize,
    v: &[T],
    g: &[T],
    acc: bool,
    gw: &mut [T],
) {
    mm_gtx(k, outputs, inputs, g, v, beta(acc), gw);
}

//! Max pooling: the largest value of each window of each channel. Piecewise linear: at a given
//! input it routes each output to its window's (first) largest input, and its derivatives
//! follow that routing (the second derivative is zero wherever the routing is unique).

use super::window::Window;
use crate::real::Real;
use serde::{Deserialize, Serialize};

/// A max-pooling layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPool(pub Window);

impl MaxPool {
    /// For every output of one input row `x`: `f(output index, input index of its maximum)`.
    fn route<T: Real>(&self, x: &[T], mut f: impl FnMut(usize, usize)) {
        self.0.each(|j, win| {
            let first = win.next().unwrap_or(0);
            let arg = win.fold(first, |a, i| if x[i] > x[a] { i } else { a });
            f(j, arg);
        });
    }

    /// `out (+)= v routed by the maxima of x_ref` for `k` rows (`v = x_ref`: the max pool).
    pub fn linear<T: Real>(&self, k: usize, x_ref: &[T], v: &[T], acc: bool, out: &mut [T]) {
        let (ni, no) = (self.0.input.len(), self.0.output().len());
        let rows = x_ref.chunks_exact(ni).zip(v.chunks_exact(ni));
        for ((xr, vr), or) in rows.zip(out.chunks_exact_mut(no)).take(k) {
            self.route(xr, |j, i| or[j] = if acc { or[j] + vr[i] } else { vr[i] });
        }
    }

    /// `gx (+)= each output's gradient sent to its window's maximum in x_ref`.
    pub fn linear_t<T: Real>(&self, k: usize, x_ref: &[T], g: &[T], acc: bool, gx: &mut [T]) {
        let (ni, no) = (self.0.input.len(), self.0.output().len());
        if !acc {
            gx[..k * ni].fill(T::zero());
        }
        let rows = x_ref.chunks_exact(ni).zip(g.chunks_exact(no));
        for ((xr, gr), dr) in rows.zip(gx.chunks_exact_mut(ni)).take(k) {
            self.route(xr, |j, i| dr[i] += gr[j]);
        }
    }
}

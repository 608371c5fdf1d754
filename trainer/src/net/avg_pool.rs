//! Average pooling: the mean of each window of each channel (a window the size of the map is
//! global average pooling). Linear, without parameters.

use super::window::Window;
use crate::real::Real;
use serde::{Deserialize, Serialize};

/// An average-pooling layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvgPool(pub Window);

impl AvgPool {
    /// `out (+)= mean of each window of v` for `k` rows.
    pub fn linear<T: Real>(&self, k: usize, v: &[T], acc: bool, out: &mut [T]) {
        let (ni, no) = (self.0.input.len(), self.0.output().len());
        let inv = T::one() / T::from_f64(self.0.size() as f64);
        for (vr, or) in v.chunks_exact(ni).zip(out.chunks_exact_mut(no)).take(k) {
            self.0.each(|j, win| {
                let m = win.map(|i| vr[i]).sum::<T>() * inv;
                or[j] = if acc { or[j] + m } else { m };
            });
        }
    }

    /// `gx (+)= the transpose: each output's gradient spread evenly over its window`.
    pub fn linear_t<T: Real>(&self, k: usize, g: &[T], acc: bool, gx: &mut [T]) {
        let (ni, no) = (self.0.input.len(), self.0.output().len());
        let inv = T::one() / T::from_f64(self.0.size() as f64);
        if !acc {
            gx[..k * ni].fill(T::zero());
        }
        for (gr, xr) in g.chunks_exact(no).zip(gx.chunks_exact_mut(ni)).take(k) {
            self.0.each(|j, win| {
                for i in win {
                    xr[i] += gr[j] * inv;
                }
            });
        }
    }
}

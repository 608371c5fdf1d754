//! int8 pooling without padding (the trainer's `max_pool` / `avg_pool` / `global_avg_pool`):
//! the output keeps the input's scale and zero point, so no requantisation. The average rounds
//! half away from zero, as TFLM's int8 average pool does.
//!
//! ```
//! use fewshot_runtime::math::int8::{avg_pool, max_pool, PoolGeom};
//! let g = PoolGeom { channels: 1, height: 1, width: 4, kernel: [1, 2], stride: 2 };
//! let mut y = [0i8; 2];
//! max_pool(&g, &[1, -3, 7, 2], &mut y).unwrap();
//! assert_eq!(y, [1, 7]);
//! avg_pool(&g, &[1, -4, 7, 2], &mut y).unwrap();
//! assert_eq!(y, [-2, 5]); // -1.5 and 4.5 round away from zero
//! ```

use super::check_len;
use crate::math::tiles::tiled;
use crate::Error;

/// A pooling window's shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Channels (kept).
    pub channels: usize,
    /// Input rows (1 for a series).
    pub height: usize,
    /// Input columns.
    pub width: usize,
    /// Window rows and columns.
    pub kernel: [usize; 2],
    /// Step between windows (>= 1).
    pub stride: usize,
}

impl PoolGeom {
    /// `[channels, rows, columns]` of the output (`Error::InvalidHeader` if the window does not
    /// fit or a size is zero).
    pub fn output(&self) -> Result<[usize; 3], Error> {
        let side = |len: usize, k: usize| {
            (k >= 1 && len >= k && self.stride >= 1).then(|| (len - k) / self.stride + 1)
        };
        let bad = Error::InvalidHeader {
            field: "int8 pool geometry",
        };
        let oh = side(self.height, self.kernel[0]).ok_or(bad)?;
        let ow = side(self.width, self.kernel[1]).ok_or(bad)?;
        let n = self
            .channels
            .checked_mul(self.height)
            .and_then(|v| v.checked_mul(self.width));
        (self.channels >= 1 && n.is_some())
            .then_some([self.channels, oh, ow])
            .ok_or(bad)
    }

    /// For every output, `finish` of the window's values folded by `step` from `init`, after
    /// the lengths are checked (monomorphised: a window row is a slice, read without
    /// per-value dispatch).
    fn each(
        &self,
        x: &[i8],
        y: &mut [i8],
        init: i32,
        step: impl Fn(i32, i8) -> i32,
        finish: impl Fn(i32) -> i8,
    ) -> Result<(), Error> {
        let [c, oh, ow] = self.output()?;
        check_len("int8 pool input", c * self.height * self.width, x.len())?;
        check_len("int8 pool output", c * oh * ow, y.len())?;
        let [kh, kw] = self.kernel;
        let plane = self.height * self.width;
        let fold = |w: &[i8], acc: i32| w.iter().fold(acc, |a, &v| step(a, v));
        let one = |w: &[i8]| finish(fold(w, init));
        let (wd, st) = (self.width, self.stride);
        // Windows two columns wide on one or two rows of an even width at a stride of 2 (max
        // pool 2 and 2 x 2) are read as pairs of those rows (`tiled`: the same values in the
        // same order as the general loop), the whole map at once where its planes are whole
        // row pairs (an even number of rows) or one row each (a series), plane by plane over
        // an odd number of rows read in pairs.
        let pairs = matches!((kh, kw, st), (1 | 2, 2, 2)) && wd % 2 == 0;
        let (run, band) = match self.height {
            1 if pairs => (x.len(), Some(1)),
            h if pairs && h % 2 == 0 => (x.len(), Some(2)),
            _ if pairs && kh == 2 => (plane, Some(2)),
            _ => (plane, None),
        };
        // A window the size of the plane (global pooling): one value per plane.
        if [kh, kw] == [self.height, wd] {
            for (xc, o) in x.chunks_exact(plane.max(1)).zip(y.iter_mut()) {
                *o = one(xc);
            }
            return Ok(());
        }
        let outs = y.chunks_exact_mut((run / plane.max(1) * oh * ow).max(1));
        for (xc, yc) in x.chunks_exact(run.max(1)).zip(outs) {
            match band {
                Some(b) => tiled(xc, yc, [wd, ow, kh, b], one),
                _ => {
                    for (oy, yr) in yc.chunks_exact_mut(ow.max(1)).enumerate() {
                        let band = xc.get(oy * st * wd..).unwrap_or_default();
                        for (ox, o) in yr.iter_mut().enumerate() {
                            let mut acc = init;
                            for a in 0..kh {
                                let at = a * wd + ox * st;
                                acc = fold(band.get(at..at + kw).unwrap_or_default(), acc);
                            }
                            *o = finish(acc);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The maximum of every window.
pub fn max_pool(g: &PoolGeom, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    let empty = i32::MIN;
    let finish = |m: i32| if m == empty { 0 } else { m as i8 };
    g.each(x, y, empty, |m, v| m.max(i32::from(v)), finish)
}

/// The mean of every window, rounded half away from zero.
pub fn avg_pool(g: &PoolGeom, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    let n = g.kernel[0]
        .saturating_mul(g.kernel[1])
        .min(i32::MAX as usize) as i32;
    let step = |a: i32, v: i8| a.saturating_add(i32::from(v));
    g.each(x, y, 0, step, |s| {
        let r = if s > 0 {
            s.saturating_add(n / 2)
        } else {
            s.saturating_sub(n / 2)
        };
        let r = r / n.max(1);
        r.clamp(-128, 127) as i8
    })
}

//! The fast path of the poolings (f32 and int8): windows of `W` columns and one or two rows
//! that tile their rows, the stride `W` in both directions, read as fixed-size chunks of those
//! rows (`as_chunks::<W>`), so each window costs a few instructions instead of a general
//! window loop's bounds and index arithmetic. The values reach the fold in the general loop's
//! order (the first row left to right, then the second), so the results are the same bits.

use core::iter::Chain;
use core::slice::Iter;

/// A window's values in row-major order.
pub(crate) type Window<'a, T> = Chain<Iter<'a, T>, Iter<'a, T>>;

/// One channel's plane `xs` (rows of `wd`) into its outputs `ys` (rows of `ow`): output row
/// `oy` reads input rows `W oy` and, when `kh` is 2, `W oy + 1`; `f` reduces a window.
#[inline]
pub(crate) fn tiled<'a, T, const W: usize>(
    xs: &'a [T],
    ys: &mut [T],
    [wd, ow, kh]: [usize; 3],
    f: impl Fn(Window<'a, T>) -> T,
) {
    for (yr, band) in ys.chunks_exact_mut(ow.max(1)).zip(xs.chunks(W * wd.max(1))) {
        let (top, rest) = band.split_at(wd.min(band.len()));
        let below = if kh == 2 {
            rest.get(..wd).unwrap_or_default()
        } else {
            &[]
        };
        let (a, b) = (top.as_chunks::<W>().0, below.as_chunks::<W>().0);
        if b.is_empty() {
            for (v, a) in yr.iter_mut().zip(a) {
                *v = f(a.iter().chain([].iter()));
            }
        } else {
            for (v, (a, b)) in yr.iter_mut().zip(a.iter().zip(b)) {
                *v = f(a.iter().chain(b.iter()));
            }
        }
    }
}

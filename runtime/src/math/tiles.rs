//! The fast path of the poolings (f32 and int8): windows two columns wide on one or two rows
//! that tile rows of an even width, the stride 2 in both directions (max and average pool 2
//! and 2 x 2), read as pairs of those rows (`as_chunks::<2>`) and handed to the reduction as a fixed-size
//! array, so each window costs a few instructions instead of a general window loop's bounds and
//! index arithmetic (or an iterator chain's). The values reach the fold in the general loop's
//! order (the first row left to right, then the second), so the results are the same bits.

/// One channel's plane `xs` (rows of `wd`, an even number) into its outputs `ys` (rows of `ow`):
/// output row `oy` reads input rows `2 oy` and, when `kh` is 2, `2 oy + 1`; `f` reduces a
/// window's values (`[top left, top right, bottom left, bottom right]`, or the first two for
/// one row). Every row starts on a pair: the plane is one array of pairs, output row `oy`'s
/// windows at pair `oy wd` (row `2 oy`) and `wd / 2` pairs further (the row below).
#[inline]
pub(crate) fn tiled<T: Copy>(
    xs: &[T],
    ys: &mut [T],
    [wd, ow, kh]: [usize; 3],
    f: impl Fn(&[T]) -> T,
) {
    let pairs = xs.as_chunks::<2>().0;
    for (oy, yr) in ys.chunks_exact_mut(ow.max(1)).enumerate() {
        let top = pairs.get(oy * wd..).unwrap_or_default();
        if kh == 2 {
            let below = pairs.get(oy * wd + wd / 2..).unwrap_or_default();
            for (v, (&[p, q], &[r, s])) in yr.iter_mut().zip(top.iter().zip(below)) {
                *v = f(&[p, q, r, s]);
            }
        } else {
            for (v, &[p, q]) in yr.iter_mut().zip(top) {
                *v = f(&[p, q]);
            }
        }
    }
}

//! The fast path of the poolings (f32 and int8): windows two columns wide on one or two rows
//! that tile rows of an even width, the stride 2 in both directions (max and average pool 2
//! and 2 x 2), read as pairs of those rows (`as_chunks::<2>`) and handed to the reduction as a
//! fixed-size array, so each window costs a few instructions instead of a general window loop's
//! bounds and index arithmetic (or an iterator chain's). The values reach the fold in the
//! general loop's order (the first row left to right, then the second), so the results are the
//! same bits.
//!
//! A map whose planes have an even number of rows is one run of row pairs across its planes
//! (output row `r` of the map reads input rows `2 r` and `2 r + 1`), and a series (planes of one
//! row) one run of single rows, so a caller hands the whole map to [`tiled`] at once: a small
//! plane's rows cost no per-plane set-up (a max pool 2 x 2 of 32 planes of 4 x 4 on the
//! Cortex-M4F: 63 instructions per output plane by plane, 38 at once).

/// Rows `xs` (each `wd` values, an even number) into output rows `ys` (each `ow`), in bands of
/// `band` input rows (2: a plane's row pairs, output row `r` reading input rows `2 r` and, when
/// `kh` is 2, `2 r + 1`; 1: the one row of each plane of a series): `f` reduces a window's
/// values (`[top left, top right, bottom left, bottom right]`, or the first two for one row).
/// Rows left over after the last whole band are no output's (a plane of odd height with `kh`
/// 2; a caller runs `kh` 1 over such planes by the general loop).
#[inline]
pub(crate) fn tiled<T: Copy>(
    xs: &[T],
    ys: &mut [T],
    [wd, ow, kh, band]: [usize; 4],
    f: impl Fn(&[T]) -> T,
) {
    let per = (wd / 2).max(1);
    let bands = xs.as_chunks::<2>().0.chunks_exact(band.max(1) * per);
    for (rows, yr) in bands.zip(ys.chunks_exact_mut(ow.max(1))) {
        let (top, below) = rows.split_at_checked(per).unwrap_or((rows, &[]));
        if kh == 2 {
            for ((v, &[p, q]), &[r, s]) in yr.iter_mut().zip(top).zip(below) {
                *v = f(&[p, q, r, s]);
            }
        } else {
            for (v, &[p, q]) in yr.iter_mut().zip(top) {
                *v = f(&[p, q]);
            }
        }
    }
}

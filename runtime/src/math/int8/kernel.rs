//! The portable dot products of int8 weight rows with packed columns (the layout of
//! [`super::packed_words`]): exact int32 arithmetic, wrapping on overflow like the Cortex-M4's
//! `SMLAD`, so the `arm` kernels (`cfg(m4f_kernels)`) give the same integers on the device.

use super::pack::lanes;

/// The four products of one block: weights `w[0..4]` with the two words of a packed block.
#[inline(always)]
fn block(w: &[i8], x02: u32, x13: u32) -> i32 {
    let [w0, w1, w2, w3] = match w {
        [a, b, c, d, ..] => [*a, *b, *c, *d].map(i32::from),
        _ => [0; 4],
    };
    let ((x0, x2), (x1, x3)) = (lanes(x02), lanes(x13));
    (w0 * x0 + w2 * x2).wrapping_add(w1 * x1 + w3 * x3)
}

/// `acc + sum_d w[d] x[d]` over the whole blocks of one packed column (`x`: two words per
/// block), `w.len() / 4` blocks.
#[inline(always)]
pub fn dot_c1(w: &[i8], x: &[u32], acc: i32) -> i32 {
    w.chunks_exact(4)
        .zip(x.chunks_exact(2))
        .fold(acc, |a, (wb, xb)| a.wrapping_add(block(wb, xb[0], xb[1])))
}

/// [`dot_c1`] for two weight rows sharing one packed column.
#[inline(always)]
pub fn dot_r2c1(w0: &[i8], w1: &[i8], x: &[u32], acc: [i32; 2]) -> [i32; 2] {
    [dot_c1(w0, x, acc[0]), dot_c1(w1, x, acc[1])]
}

/// [`dot_c1`] for four interleaved packed columns (eight words per block).
#[inline(always)]
pub fn dot_c4(w: &[i8], x: &[u32], acc: [i32; 4]) -> [i32; 4] {
    w.chunks_exact(4)
        .zip(x.chunks_exact(8))
        .fold(acc, |mut a, (wb, xb)| {
            for (c, ac) in a.iter_mut().enumerate() {
                *ac = ac.wrapping_add(block(wb, xb[2 * c], xb[2 * c + 1]));
            }
            a
        })
}

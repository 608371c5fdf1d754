//! The portable dot products of int8 weight rows with packed columns (the layout of
//! [`super::packed_words`]): exact int32 arithmetic, wrapping on overflow like the Cortex-M4's
//! `SMLAD`, so the `arm` kernels (`cfg(m4f_kernels)`) give the same integers on the device.
//! A row runs over `w.len().div_ceil(4)` blocks, its last partial word padded with zeros
//! (the `arm` kernels read them byte by byte).

use super::pack::{lanes, word_or};

/// The four products of one block: the weight word `w` with the two words of a packed block.
#[inline(always)]
fn block(w: u32, x02: u32, x13: u32) -> i32 {
    let [w0, w1, w2, w3] = w.to_le_bytes().map(|v| i32::from(v as i8));
    let ((x0, x2), (x1, x3)) = (lanes(x02), lanes(x13));
    (w0 * x0 + w2 * x2).wrapping_add(w1 * x1 + w3 * x3)
}

/// Four weights as one little-endian word.
#[inline(always)]
fn word(w: &[i8]) -> u32 {
    word_or(w, 0)
}

/// `w` split after its whole blocks of four.
#[inline(always)]
fn whole(w: &[i8]) -> (&[i8], &[i8]) {
    w.split_at(w.len() / 4 * 4)
}

/// `acc + sum_d w[d] x[d]` over one packed column (`x`: two words per block).
#[inline(always)]
pub fn dot_c1(w: &[i8], x: &[u32], acc: i32) -> i32 {
    let (h, t) = whole(w);
    let a = h
        .chunks_exact(4)
        .zip(x.chunks_exact(2))
        .fold(acc, |a, (wb, xb)| {
            a.wrapping_add(block(word(wb), xb[0], xb[1]))
        });
    tail_c1(t, x.get(h.len() / 2..).unwrap_or_default(), a)
}

/// [`dot_c1`] for two weight rows sharing one packed column.
#[inline(always)]
pub fn dot_r2c1(w0: &[i8], w1: &[i8], x: &[u32], acc: [i32; 2]) -> [i32; 2] {
    [dot_c1(w0, x, acc[0]), dot_c1(w1, x, acc[1])]
}

/// [`dot_c1`] for four interleaved packed columns (eight words per block).
#[inline(always)]
pub fn dot_c4(w: &[i8], x: &[u32], acc: [i32; 4]) -> [i32; 4] {
    let (h, t) = whole(w);
    let a = h
        .chunks_exact(4)
        .zip(x.chunks_exact(8))
        .fold(acc, |a, (wb, xb)| c4(word(wb), xb, a));
    tail_c4(t, x.get(h.len() * 2..).unwrap_or_default(), a)
}

/// One weight word against a block of four columns.
#[inline(always)]
fn c4(w: u32, xb: &[u32], mut acc: [i32; 4]) -> [i32; 4] {
    for (c, a) in acc.iter_mut().enumerate() {
        let (x02, x13) = match xb.get(2 * c..2 * c + 2) {
            Some(&[p, q]) => (p, q),
            _ => (0, 0),
        };
        *a = a.wrapping_add(block(w, x02, x13));
    }
    acc
}

/// The last block of one column: fewer than four weights `t` (none: `acc`), zeros after them.
#[inline(always)]
fn tail_c1(t: &[i8], x: &[u32], acc: i32) -> i32 {
    match (t.is_empty(), x.first_chunk::<2>()) {
        (false, Some(&[p, q])) => acc.wrapping_add(block(word(t), p, q)),
        _ => acc,
    }
}

/// [`tail_c1`] for four interleaved columns.
#[inline(always)]
fn tail_c4(t: &[i8], x: &[u32], acc: [i32; 4]) -> [i32; 4] {
    match (t.is_empty(), x.first_chunk::<8>()) {
        (false, Some(xb)) => c4(word(t), xb, acc),
        _ => acc,
    }
}

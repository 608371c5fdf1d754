//! The portable dot products of int8 weight rows with packed columns (the layout of
//! [`super::packed_words`]): exact int32 arithmetic, wrapping on overflow like the Cortex-M4's
//! `SMLAD`, so the `arm` kernels (`cfg(m4f_kernels)`) give the same integers on the device.
//! A row runs over `w.len().div_ceil(4)` blocks, its last partial word padded with zeros
//! (the `arm` kernels read them byte by byte).

use super::pack::{lanes, word_or};

/// The four products of one block: the weight word `w` with the two words of a packed block.
#[inline(always)]
fn block(w: u32, x02: u32, x13: u32) -> i32 {
    block_lanes(w, [lanes(x02), lanes(x13)])
}

/// [`block`] with the packed block's lanes already split: `[(x0, x2), (x1, x3)]`.
#[inline(always)]
fn block_lanes(w: u32, [(x0, x2), (x1, x3)]: [(i32, i32); 2]) -> i32 {
    let [w0, w1, w2, w3] = w.to_le_bytes().map(|v| i32::from(v as i8));
    (w0 * x0 + w2 * x2).wrapping_add(w1 * x1 + w3 * x3)
}

/// Four weights as one little-endian word.
#[inline(always)]
fn word(w: &[i8]) -> u32 {
    word_or(w, 0)
}

/// `w` as its whole blocks of four (fixed-size arrays: the block size is a type, so the
/// compiler needs no length check whether or not it inlines the loop) and the rest.
#[inline(always)]
fn whole(w: &[i8]) -> (&[[i8; 4]], &[i8]) {
    w.as_chunks::<4>()
}

/// Four weights as one little-endian word.
#[inline(always)]
fn block_word(w: &[i8; 4]) -> u32 {
    u32::from_le_bytes(w.map(|v| v as u8))
}

/// `acc + sum_d w[d] x[d]` over one packed column (`x`: two words per block).
#[inline(always)]
pub fn dot_c1(w: &[i8], x: &[u32], acc: i32) -> i32 {
    let (h, t) = whole(w);
    let a = h
        .iter()
        .zip(x.as_chunks::<2>().0)
        .fold(acc, |a, (wb, &[p, q])| {
            a.wrapping_add(block(block_word(wb), p, q))
        });
    tail_c1(t, x.get(h.len() * 2..).unwrap_or_default(), a)
}

/// [`dot_c1`] for two weight rows sharing one packed column: each block of the column is
/// loaded and split into its lanes once for both rows (the same sums in the same order).
#[inline(always)]
pub fn dot_r2c1(w0: &[i8], w1: &[i8], x: &[u32], acc: [i32; 2]) -> [i32; 2] {
    let ((h0, t0), (h1, t1)) = (whole(w0), whole(w1));
    if h0.len() != h1.len() {
        return [dot_c1(w0, x, acc[0]), dot_c1(w1, x, acc[1])];
    }
    let [a0, a1] =
        h0.iter()
            .zip(h1)
            .zip(x.as_chunks::<2>().0)
            .fold(acc, |[a0, a1], ((b0, b1), &[p, q])| {
                let l = [lanes(p), lanes(q)];
                [
                    a0.wrapping_add(block_lanes(block_word(b0), l)),
                    a1.wrapping_add(block_lanes(block_word(b1), l)),
                ]
            });
    let rest = x.get(h0.len() * 2..).unwrap_or_default();
    [tail_c1(t0, rest, a0), tail_c1(t1, rest, a1)]
}

/// [`dot_c1`] for four interleaved packed columns (eight words per block). Its blocks stay
/// `chunks_exact` slices: as fixed-size arrays (as in [`dot_c1`]) the Cortex-M3, where this
/// is the native kernel, ran the benchmark's convolutions 8-10 % slower.
#[inline(always)]
pub fn dot_c4(w: &[i8], x: &[u32], acc: [i32; 4]) -> [i32; 4] {
    let (h, t) = w.split_at(w.len() / 4 * 4);
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

//! The packed operand of the int8 kernels: activations minus their zero point as int16, two per
//! 32-bit word, in the order the Cortex-M4 `SMLAD` consumes them next to int8 weights widened by
//! `SXTB16` (CMSIS-NN's "reordered" q15 layout).
//!
//! For `cols` columns of `depth` values: every block of four depths `d..d + 4` of column `c`
//! is two words, `[x_d, x_{d+2}]` then `[x_{d+1}, x_{d+3}]` (low lane first), the blocks of the
//! columns interleaved (block `b` of column `c` at word `(b * cols + c) * 2`). A depth that is
//! not a multiple of four ends with a block padded with zeros, so every kernel runs whole
//! blocks. `SXTB16` of four weights gives `[w_d, w_{d+2}]`, and rotated by 8
//! `[w_{d+1}, w_{d+3}]`, so one `SMLAD` per word adds two products.
//!
//! A column is packed from its int8 values four at a time ([`pack_column`]): the word of four
//! bytes minus the zero point in each lane is what the Cortex-M4's `SXTAB16` computes.
//!
//! ```
//! use fewshot_runtime::math::int8::{pack_column, packed_words};
//! assert_eq!(packed_words(5, 1), 4);
//! let mut buf = [0u32; 4];
//! pack_column(&[1, 2, 3, 4, 5], 0, &mut buf, 1, 0);
//! assert_eq!(buf, [1 | 3 << 16, 2 | 4 << 16, 5, 0]);
//! ```

/// Words that `cols` packed columns of `depth` values take.
pub const fn packed_words(depth: usize, cols: usize) -> usize {
    cols * depth.div_ceil(4) * 2
}

/// Packs column `col` of `cols` from its values `x` (each minus `zp`; past the end of `x`, up
/// to the next multiple of four: 0). Blocks whose words lie outside `buf` are dropped (callers
/// size it with [`packed_words`]).
#[inline(always)]
pub fn pack_column(x: &[i8], zp: i32, buf: &mut [u32], cols: usize, col: usize) {
    let step = cols * 2;
    let (h, t) = x.split_at(x.len() / 4 * 4);
    let blocks = buf.get_mut(col * 2..).unwrap_or_default();
    let mut out = blocks.chunks_mut(step);
    for (b, o) in h.chunks_exact(4).zip(&mut out) {
        put(o, widen(word_or(b, 0), zp));
    }
    if let (false, Some(o)) = (t.is_empty(), out.next()) {
        put(o, widen(word_or(t, zp as i8), zp));
    }
}

/// Widens the words of a column's values (four int8 each, the last padded with the zero point)
/// minus `zp` into column `col` (0 to 3) of four interleaved columns in `packed`: block `b` from
/// `words[b]` (blocks outside `packed` are dropped).
#[inline(always)]
pub(crate) fn widen_into(words: &[u32], zp: i32, packed: &mut [u32], col: usize) {
    for (block, &w) in packed.as_chunks_mut::<8>().0.iter_mut().zip(words) {
        let (lo, hi) = widen(u32::from_le(w), zp);
        block.as_chunks_mut::<2>().0[col & 3] = [lo, hi];
    }
}

/// Packs the four columns of positions `p0..p0 + 4` (`cols` of them real, the others packed
/// from the zero point, so 0) of a 1 x 1 convolution with stride 1 and no padding, straight
/// from its channel-major input `x` (`channels` planes of `positions` values): the window of a
/// position is one value of every plane, so every block of four channels is four words read
/// once (four positions of four planes) and transposed, instead of gathering each byte.
/// Blocks whose words lie outside `buf` are dropped (callers size it with
/// [`packed_words`]`(channels, 4)`).
#[inline(never)]
pub(crate) fn pack_planes(
    x: &[i8],
    (channels, positions): (usize, usize),
    (p0, cols): (usize, usize),
    zp: i32,
    buf: &mut [u32],
) {
    let fill = zp as i8;
    // Four real positions inside every plane, and every plane inside `x`: the blocks of four
    // whole channels read their four words without a check each.
    let inside = cols >= 4
        && p0.checked_add(4).is_some_and(|e| e <= positions)
        && channels
            .checked_mul(positions)
            .is_some_and(|n| n <= x.len());
    for (b, block) in buf
        .chunks_exact_mut(8)
        .take(channels.div_ceil(4))
        .enumerate()
    {
        if let (true, true, Some(block)) = (inside, 4 * b + 4 <= channels, block.first_chunk_mut())
        {
            // SAFETY: planes `4b..4b + 4` are below `channels`, positions `p0..p0 + 4` below
            // `positions`, and `channels positions <= x.len()` (`inside`).
            let rows = unsafe { four_rows(x, 4 * b, positions, p0) };
            *block = transpose_widened(rows, zp);
            continue;
        }
        // Four positions of planes 4b..4b + 4, the zero point past the planes or the positions.
        let mut r = [[fill; 4]; 4];
        for (i, ri) in r
            .iter_mut()
            .enumerate()
            .take(channels.saturating_sub(4 * b))
        {
            let at = (4 * b + i) * positions + p0;
            match x.get(at..).and_then(|s| s.first_chunk::<4>()) {
                Some(v) if cols >= 4 => *ri = *v,
                _ => {
                    for (j, o) in ri.iter_mut().enumerate().take(cols) {
                        *o = x.get(at + j).copied().unwrap_or(fill);
                    }
                }
            }
        }
        for (j, o) in block.chunks_exact_mut(2).enumerate() {
            let w = u32::from_le_bytes(r.map(|v| v.get(j).copied().unwrap_or(fill) as u8));
            put(o, widen(w, zp));
        }
    }
}

/// Positions `p0..p0 + 4` of planes `c..c + 4` (of `positions` values each) as four words.
///
/// # Safety
/// `(c + 4) positions <= x.len()` and `p0 + 4 <= positions`.
#[inline(always)]
unsafe fn four_rows(x: &[i8], c: usize, positions: usize, p0: usize) -> [u32; 4] {
    let at = x.as_ptr().add(c * positions + p0);
    [0, 1, 2, 3].map(|i| u32::from_le(at.add(i * positions).cast::<u32>().read_unaligned()))
}

/// The block of four positions of four channels (`rows[i]`: channel `i`'s four values), widened
/// minus `zp`: each channel's word widened once (`[v0, v2]`, `[v1, v3]`), then position `j`'s
/// two words `[ch0, ch2]`, `[ch1, ch3]` put together from the halves (`PKHBT` / `PKHTB` on the
/// Cortex-M4F): 4 widenings of two instructions and 8 half-word packs for 16 values (a byte
/// transpose before the widening is about 45).
#[inline(always)]
fn transpose_widened(rows: [u32; 4], zp: i32) -> [u32; 8] {
    let [a, b, c, d] = rows.map(|r| widen(r, zp));
    let low = |x: u32, y: u32| (x & 0xffff) | (y << 16);
    let high = |x: u32, y: u32| (y & 0xffff_0000) | (x >> 16);
    [
        low(a.0, c.0),
        low(b.0, d.0),
        low(a.1, c.1),
        low(b.1, d.1),
        high(a.0, c.0),
        high(b.0, d.0),
        high(a.1, c.1),
        high(b.1, d.1),
    ]
}

/// The two words of a block at the start of `o` (dropped if it is shorter).
#[inline(always)]
fn put(o: &mut [u32], (lo, hi): (u32, u32)) {
    if let Some([w0, w1]) = o.first_chunk_mut() {
        *w0 = lo;
        *w1 = hi;
    }
}

/// Four values as one little-endian word, `fill` past the end of `b`.
#[inline(always)]
pub(crate) fn word_or(b: &[i8], fill: i8) -> u32 {
    let v = |i: usize| b.get(i).copied().unwrap_or(fill) as u8;
    match b.first_chunk::<4>() {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a as u8, b as u8, c as u8, d as u8]),
        None => u32::from_le_bytes([v(0), v(1), v(2), v(3)]),
    }
}

/// Bytes 0 and 2 of `w` minus `zp` in the low and high int16 lanes, and bytes 1 and 3 likewise
/// (`SXTAB16` of `-zp` in both lanes: `x - zp` is in -255..=255, so no lane wraps).
#[inline(always)]
fn widen(w: u32, zp: i32) -> (u32, u32) {
    let minus = pair(zp.wrapping_neg() as i16, zp.wrapping_neg() as i16);
    (
        super::dsp::sxtab16(minus, w),
        super::dsp::sxtab16_ror8(minus, w),
    )
}

/// Two int16 lanes in one word, `lo` in the low half.
#[inline(always)]
pub(crate) fn pair(lo: i16, hi: i16) -> u32 {
    u32::from(lo as u16) | u32::from(hi as u16) << 16
}

/// The low and high int16 lanes of a word, widened.
#[inline(always)]
pub(crate) fn lanes(x: u32) -> (i32, i32) {
    (
        i32::from(x as u16 as i16),
        i32::from((x >> 16) as u16 as i16),
    )
}

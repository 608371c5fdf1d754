//! The packed operand of the int8 kernels: activations minus their zero point as int16, two per
//! 32-bit word, in the order the Cortex-M4 `SMLAD` consumes them next to int8 weights widened by
//! `SXTB16` (CMSIS-NN's "reordered" q15 layout).
//!
//! For `cols` columns of `depth` values: every block of four depths `d..d + 4` of column `c`
//! is two words, `[x_d, x_{d+2}]` then `[x_{d+1}, x_{d+3}]` (low lane first), the blocks of the
//! columns interleaved (block `b` of column `c` at word `(b * cols + c) * 2`); the last
//! `depth % 4` values of each column follow, one word each (low lane), column after column.
//! `SXTB16` of four weights gives `[w_d, w_{d+2}]`, and rotated by 8 `[w_{d+1}, w_{d+3}]`, so
//! one `SMLAD` per word adds two products.
//!
//! ```
//! use fewshot_runtime::math::int8::{packed_words, Packer};
//! let mut buf = [0u32; 3];
//! assert_eq!(packed_words(5, 1), 3);
//! let mut p = Packer::new(&mut buf, 5, 1, 0);
//! for v in [1, 2, 3, 4, 5] {
//!     p.push(v);
//! }
//! assert_eq!(buf, [1 | 3 << 16, 2 | 4 << 16, 5]);
//! ```

/// Words that `cols` packed columns of `depth` values take.
pub const fn packed_words(depth: usize, cols: usize) -> usize {
    cols * (depth / 4 * 2 + depth % 4)
}

/// Writes one column's values, in depth order, into a packed buffer. Values past `depth`, and
/// values whose word lies outside the buffer, are dropped (callers size the buffer with
/// [`packed_words`]).
pub struct Packer<'a> {
    buf: &'a mut [u32],
    cols: usize,
    col: usize,
    blocks: usize,
    depth: usize,
    d: usize,
    pend: [i16; 4],
}

impl<'a> Packer<'a> {
    /// A packer for column `col` of `cols` columns of `depth` values.
    pub fn new(buf: &'a mut [u32], depth: usize, cols: usize, col: usize) -> Self {
        Packer {
            buf,
            cols,
            col,
            blocks: depth / 4,
            depth,
            d: 0,
            pend: [0; 4],
        }
    }

    /// Appends the next value of the column.
    #[inline(always)]
    pub fn push(&mut self, v: i16) {
        let d = self.d;
        self.d += 1;
        let b = d / 4;
        if b < self.blocks {
            let r = d % 4;
            if let Some(slot) = self.pend.get_mut(r) {
                *slot = v;
            }
            if r == 3 {
                let [x0, x1, x2, x3] = self.pend;
                let at = (b * self.cols + self.col) * 2;
                if let Some(w) = self.buf.get_mut(at..at + 2) {
                    w[0] = pair(x0, x2);
                    w[1] = pair(x1, x3);
                }
            }
        } else if d < self.depth {
            let tail = self.depth - self.blocks * 4;
            let at = self.blocks * 2 * self.cols + self.col * tail + (d - self.blocks * 4);
            if let Some(w) = self.buf.get_mut(at) {
                *w = u32::from(v as u16);
            }
        }
    }
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

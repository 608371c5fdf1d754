//! The zero-padded copy of an int8 layer's input: its planes with the input's zero point
//! around them, the layout of the f32 stem's padded copy (`math::pad_planes`), in fewer
//! instructions for bytes: the whole buffer filled with the zero point first (`memset`'s word
//! stores), then each row's values copied over it a word at a time.

use core::sync::atomic::{compiler_fence, Ordering};

/// Writes the planes of `x` (of `[rows, columns]` each) into `xp` with `padding` (rows above
/// and below, columns left and right) of `fill` around each, then `fill` to the end of `xp`;
/// planes that do not fit `xp` are left out.
pub(super) fn pad_planes(
    x: &[i8],
    [h, w]: [usize; 2],
    [py, px]: [usize; 2],
    fill: i8,
    xp: &mut [i8],
) {
    let (h, w) = (h.max(1), w.max(1));
    let (hp, wp) = (h + 2 * py, w + 2 * px);
    xp.fill(fill);
    let planes = (x.len() / (h * w)).min(xp.len() / (hp * wp));
    let (words, tail) = (w / 4, w % 4);
    let (mut s, mut d) = (x.as_ptr(), xp.as_mut_ptr().wrapping_add(py * wp + px));
    for _ in 0..planes {
        for _ in 0..h {
            // SAFETY: the row's `w` bytes from `s` lie in `x` and from `d` in `xp`: plane `p`
            // (below `planes`, so inside both) row `r` starts at `(p h + r) w` in `x` and at
            // `p hp wp + (py + r) wp + px` in `xp`, and `px + w <= wp`. Unaligned word
            // accesses are allowed on every target (`read_unaligned`).
            unsafe {
                for i in 0..words {
                    let v = s.add(4 * i).cast::<u32>().read_unaligned();
                    d.add(4 * i).cast::<u32>().write_unaligned(v);
                    // No instruction: it only keeps LLVM from making the loop a `memcpy` call,
                    // which costs more than a row of a small map.
                    compiler_fence(Ordering::SeqCst);
                }
                let (s, d) = (s.add(4 * words), d.add(4 * words));
                match tail {
                    1 => *d = *s,
                    2 => d
                        .cast::<u16>()
                        .write_unaligned(s.cast::<u16>().read_unaligned()),
                    3 => {
                        d.cast::<u16>()
                            .write_unaligned(s.cast::<u16>().read_unaligned());
                        *d.add(2) = *s.add(2);
                    }
                    _ => {}
                }
            }
            s = s.wrapping_add(w);
            d = d.wrapping_add(wp);
        }
        d = d.wrapping_add(2 * py * wp);
    }
}

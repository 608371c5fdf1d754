//! The im2col step of the int8 convolutions that are not direct: the window of an output
//! position gathered from the zero-padded input as int8 bytes (its kernel rows copied whole,
//! the usual widths as fixed-size copies), then widened four values at a time into its column
//! of the packed operand ([`super::pack`]).
//!
//! The window lives in a few scratch words; its bytes past the fan-in hold the input's zero
//! point, so its last word widens to zeros after the last real value.

use super::pack::widen_into;
use super::ConvGeom;

/// Where one group of output channels reads its windows: the zero-padded input (`xp`, planes
/// of `[hp, wp]`) and the geometry of a window in it.
pub(super) struct Windows<'a> {
    /// The zero-padded input of every channel.
    xp: &'a [i8],
    /// The group's first input channel and how many it sees.
    channels: (usize, usize),
    /// Kernel rows and columns.
    kernel: [usize; 2],
    /// Rows and columns of a padded plane.
    padded: [usize; 2],
    /// The convolution's stride.
    stride: usize,
    /// Output columns (a position `p` is row `p / ow`, column `p % ow`).
    ow: usize,
    /// The input's zero point.
    zp: i32,
}

impl<'a> Windows<'a> {
    /// The windows of layer `g` over input channels `channels` (first, count) of the padded
    /// input `xp` (planes of `padded`), `ow` output columns, the input's zero point `zp`.
    pub fn of(
        g: &ConvGeom,
        xp: &'a [i8],
        channels: (usize, usize),
        (padded, ow): ([usize; 2], usize),
        zp: i32,
    ) -> Self {
        Windows {
            xp,
            channels,
            kernel: g.kernel,
            padded,
            stride: g.stride,
            ow,
            zp,
        }
    }

    /// Values in a window (the fan-in).
    fn fan(&self) -> usize {
        self.channels.1 * self.kernel[0] * self.kernel[1]
    }

    /// Fills `window` (at least [`Windows::fan`] bytes) with the zero point: done once, before
    /// the first [`Windows::pack`], which writes only the window's first `fan` bytes.
    pub fn prime(&self, window: &mut [u32]) {
        let b = self.zp as i8 as u8;
        window.fill(u32::from_le_bytes([b; 4]));
    }

    /// Packs the windows of output positions `p0..p0 + cols` (`cols` at most 4) into columns
    /// `0..cols` of `packed` (blocks outside it are dropped), through the primed `window`
    /// (`fan.div_ceil(4)` words or more).
    #[inline(never)]
    pub fn pack(&self, (p0, cols): (usize, usize), window: &mut [u32], packed: &mut [u32]) {
        // The usual kernel widths' rows as fixed-size copies (a few loads and stores each),
        // inlined into their own loop; the others through one loop for any width.
        match self.kernel[1] {
            3 => self.pack_with(p0, cols, window, packed, Rows::copy::<3>),
            5 => self.pack_with(p0, cols, window, packed, Rows::copy::<5>),
            _ => self.pack_with(p0, cols, window, packed, Rows::copy_any),
        }
    }

    /// [`Windows::pack`] with `copy` gathering a window's rows.
    #[inline(always)]
    fn pack_with(
        &self,
        p0: usize,
        cols: usize,
        window: &mut [u32],
        packed: &mut [u32],
        copy: impl Fn(&Rows<'a>, &mut [i8]),
    ) {
        let [hp, wp] = self.padded;
        let fan = self.fan();
        let ow = self.ow.max(1);
        let (mut oy, mut ox) = (p0 / ow, p0 % ow);
        let first = self.channels.0 * hp * wp;
        let room = window.len() * 4;
        let [kh, kw] = self.kernel.map(|k| k.max(1));
        // A window's rows, and the bytes it reads from its first value (the last row starts at
        // `(channels - 1) plane + (kh - 1) wp`): the same for every window of the layer.
        let (rows, plane) = (self.channels.1 * kh, hp * wp);
        let span = self.channels.1.checked_sub(1).and_then(|c| {
            c.checked_mul(plane)?
                .checked_add((kh - 1).checked_mul(wp)?)?
                .checked_add(kw)
        });
        for col in 0..cols.min(4) {
            let from = first + (oy * wp + ox) * self.stride;
            let rows = Rows {
                xp: self.xp.get(from..).unwrap_or_default(),
                kernel: self.kernel,
                plane,
                wp,
                rows,
                span,
            };
            copy(
                &rows,
                bytes(window).get_mut(..fan.min(room)).unwrap_or_default(),
            );
            let words = window.get(..fan.div_ceil(4)).unwrap_or_default();
            widen_into(words, self.zp, packed, col);
            ox += 1;
            if ox == ow {
                (oy, ox) = (oy + 1, 0);
            }
        }
    }
}

/// The kernel rows of one window: `kernel[0]` rows of `kernel[1]` values in each plane (of
/// `plane` bytes, rows of `wp`), from the window's first value `xp[0]`, as many planes as the
/// output has rows for.
struct Rows<'a> {
    xp: &'a [i8],
    kernel: [usize; 2],
    plane: usize,
    wp: usize,
    /// Rows of a whole window (`kernel[0]` a plane).
    rows: usize,
    /// Bytes a whole window reads from `xp[0]` (None: more than a `usize`).
    span: Option<usize>,
}

impl Rows<'_> {
    /// Every row as a copy of `KW` bytes (a few loads and stores) into `out`, one after the
    /// other: the window's span checked once, then the rows read without a check each (the
    /// check and its stepping cost about as much as the copy of a row of 3); a window of one
    /// row a plane (a conv1d's) steps a plane a row.
    #[inline(always)]
    fn copy<const KW: usize>(&self, out: &mut [i8]) {
        let rows = out.as_chunks_mut::<KW>().0;
        let (kh, wp, plane) = (self.kernel[0].max(1), self.wp, self.plane);
        // Whole windows whose last row lies inside `xp` (the layer's span, checked once here).
        if rows.len() != self.rows
            || self.kernel[1] != KW
            || self.span.is_none_or(|e| e > self.xp.len())
        {
            return self.each(rows.iter_mut(), |s, d| {
                if let Some(s) = s.first_chunk::<KW>() {
                    *d = *s;
                }
            });
        }
        // As `each` steps: `wp` between the rows of a plane, `skip` to the next plane's first.
        let skip = (plane + wp).saturating_sub(kh * wp);
        let (mut s, mut left) = (self.xp.as_ptr(), kh);
        if kh == 1 {
            // One row a plane (a conv1d's window: a row of each channel): every row a plane on.
            for d in rows {
                // SAFETY: as below, with `kh = 1`: row `p` reads the `KW` bytes from `p plane`,
                // at most `(rows - 1) plane + KW = span <= xp.len()`.
                *d = unsafe { s.cast::<[i8; KW]>().read() };
                s = s.wrapping_add(plane);
            }
            return;
        }
        for d in rows {
            // SAFETY: row `r` of plane `p` (`p` below the window's planes: `rows = planes kh`,
            // checked above) reads the `KW` bytes from `p plane + r wp` (where `s` points), at
            // most `(planes - 1) plane + (kh - 1) wp + KW = span <= xp.len()` (checked above;
            // `KW` is the kernel's width); `[i8; KW]` has no alignment requirement.
            *d = unsafe { s.cast::<[i8; KW]>().read() };
            left -= 1;
            if left == 0 {
                left = kh;
                s = s.wrapping_add(skip);
            } else {
                s = s.wrapping_add(wp);
            }
        }
    }

    /// [`Rows::copy`] for rows of any width.
    fn copy_any(&self, out: &mut [i8]) {
        let kw = self.kernel[1].max(1);
        self.each(out.chunks_exact_mut(kw), |s, d| {
            if let Some(s) = s.get(..kw) {
                d.copy_from_slice(s);
            }
        });
    }

    /// `copy(xp from the row's first value, d)` for each row and its destination `d`, in
    /// depth order: one loop over all the rows, `wp` between the rows of a plane and `skip`
    /// from a plane's last row to the next plane's first.
    #[inline(always)]
    fn each<D>(&self, dst: impl Iterator<Item = D>, mut copy: impl FnMut(&[i8], D)) {
        let (kh, wp) = (self.kernel[0].max(1), self.wp);
        let skip = (self.plane + wp).saturating_sub(kh * wp);
        let (mut at, mut left) = (0, kh);
        for d in dst {
            copy(self.xp.get(at..).unwrap_or_default(), d);
            left -= 1;
            if left == 0 {
                left = kh;
                at += skip;
            } else {
                at += wp;
            }
        }
    }
}

/// The scratch words as bytes.
pub(super) fn bytes(w: &mut [u32]) -> &mut [i8] {
    // SAFETY: the same memory, borrowed mutably for the same lifetime; `i8` has no alignment
    // requirement and every bit pattern is valid for both types.
    unsafe { core::slice::from_raw_parts_mut(w.as_mut_ptr().cast::<i8>(), w.len() * 4) }
}

//! Cortex-M4F/M7 (hard-float) kernels of the stem's convolution (`ops::layer::conv`): a block of
//! `C` output channels x `N` consecutive output positions of one output row, stride 1, over a map
//! without padding (the padded copy). For each tap, one `vldmia` loads the `N` inputs it meets,
//! and `C x N` `vmla.f32` add it to every output of the block: about 1.4 (C = 2, N = 8), 1.5
//! (4 x 4) and 1.6 (1 x 8, depthwise) instructions per multiply-accumulate in the inner loop.
//! Kernels of 3 columns (the common 3 x 3 and 1 x 3) run unrolled rows instead: one `vldmia` of
//! the `N + 2` inputs the row's 3 taps meet, the filters' 3 weights of the row in one `vldmia`
//! each (two of the four channels of a 4 x 4 block; the others tap by tap), then the `3 C N`
//! `vmla.f32` with each tap's register window one column on: 1.06 (2 x 8), 1.19 (4 x 4) and
//! 1.08 (1 x 8, depthwise) instructions per multiply-accumulate per kernel row. Kernels of five
//! columns (1 x 5 series filters, full convolutions) load the `N + 4` inputs once a row and the
//! weights tap by tap: 1.14 (2 x 8) and 1.26 (4 x 4).
//!
//! Filters whose weights all fit in registers run every output plane of a layer in one call
//! (plane kernels): depthwise 3 x 3 filters at stride 1 and 2 (rows of 8 or more in blocks of
//! 8, rows of 4 to 7 in blocks of 4), depthwise 1 x 5 filters at stride 1, and one-row 7-tap
//! filters over one input channel at stride 2 (a series stem's first layer, one `vldmia` of 16
//! inputs for an even and an odd tap). Each filter is loaded once, its bias stays in a core
//! register and starts each block's accumulators two at a time. 1 x 1 filters (pointwise
//! layers, their plane taken as one row) have block kernels of their own: one loop over the
//! input channels.
//!
//! Where the block does not divide a row (or the output channels), the last block starts a
//! block before the end and overlaps the one before it: its outputs are computed twice, the
//! same bits each time.
//!
//! Each output is its bias plus its terms in (input channel, kernel row, kernel column) order,
//! one `vmla.f32` (multiply, round, add, round: not fused) per term: the portable loop's
//! operations in its order, so the results are the same bits.
//!
//! A ReLU layer's kernel clears the negative outputs as it stores them (the integer `bic` of
//! `math::activate`: the same bits as the activation applied afterwards).
//!
//! Plain AAPCS-VFP functions (`global_asm!`): r0 = the first channel's filter, r1 = the block's
//! first input (input channel 0, kernel row 0), r2 = its first output, r3 = the [`Geometry`];
//! callee-saved registers saved and restored.

// The block kernels' macros are shared by the plane kernels: `block` comes first.
#[macro_use]
mod block;
mod pad;
mod plane;

use block::*;
pub use pad::pad;
use plane::*;

/// A block kernel: output channels x output positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// 2 channels (full convolution: both read the same inputs) x 8 positions.
    C2N8,
    /// 4 channels x 4 positions (rows of 4 to 7 outputs).
    C4N4,
    /// 1 channel x 8 positions (depthwise: each channel reads its own input channel).
    C1N8,
    /// 1 channel x 8 positions 2 apart (stride 2; depthwise or not): one `vldmia` of the 15
    /// inputs per tap.
    C1N8S2,
    /// Whole planes of 8-position blocks of a one-row 7-tap filter over one input channel at
    /// stride 2 (the series stem's 1 x 7 / 2 first layer): the weights stay in registers.
    Plane1x7S2,
    /// Whole planes of a 3 x 3 filter over one input plane (depthwise, or a single input
    /// channel) at stride 1, its weights in registers.
    PlaneDw3x3,
    /// Whole planes of a 1 x 5 filter over one input plane at stride 1, its weights in registers.
    PlaneDw1x5,
    /// Whole planes of a 3 x 3 filter over one input plane at stride 2, its weights in
    /// registers.
    PlaneDw3x3S2,
    /// [`Block::PlaneDw3x3`] in blocks of 4 outputs (rows of 4 to 7).
    PlaneDw3x3N4,
    /// [`Block::PlaneDw3x3S2`] in blocks of 4 outputs (rows of 4 to 7).
    PlaneDw3x3S2N4,
}

impl Block {
    /// The kernel for `channels` output channels in rows of `ow` outputs at `stride` of a
    /// `kernel` (rows, columns) over `groups` input channels a filter, if any: a plane kernel
    /// for the shapes that have one, 8 positions from 8 outputs; for full convolutions at
    /// stride 1, 2 channels x 8 positions or 4 x 4 (rows of 4 to 7, or where the blocks of 4
    /// compute fewer outputs twice).
    pub fn for_row(
        depthwise: bool,
        stride: usize,
        ow: usize,
        kernel: [usize; 2],
        groups: usize,
        channels: usize,
    ) -> Option<Block> {
        // The outputs blocks of `c` channels x `n` positions compute, the overlapping last
        // blocks included (none fit a layer with fewer channels or columns).
        let cover = |c: usize, n: usize| {
            (channels >= c && ow >= n).then(|| channels.div_ceil(c) * c * ow.div_ceil(n) * n)
        };
        // A filter over one input plane: a depthwise one, or any over a single input channel
        // (each output plane is that channel through its own filter, the terms in the same
        // order), which the plane kernels take.
        let plane = depthwise || groups == 1;
        match (plane, stride, ow) {
            (true, 2, 8..) if kernel == [1, 7] => Some(Block::Plane1x7S2),
            (true, 2, 8..) if kernel == [3, 3] => Some(Block::PlaneDw3x3S2),
            (true, 2, 4..=7) if kernel == [3, 3] => Some(Block::PlaneDw3x3S2N4),
            (true, 1, 4..=7) if kernel == [3, 3] => Some(Block::PlaneDw3x3N4),
            (_, 2, 8..) => Some(Block::C1N8S2),
            (true, 1, 8..) if kernel == [3, 3] => Some(Block::PlaneDw3x3),
            (true, 1, 8..) if kernel == [1, 5] => Some(Block::PlaneDw1x5),
            (true, 1, 8..) if depthwise => Some(Block::C1N8),
            (_, 1, 4..) if !depthwise => match (cover(2, 8), cover(4, 4)) {
                // The 4 x 4 kernels take about 1.1 times the 2 x 8 kernels' instructions per
                // term: a row of 10 costs 12 outputs in blocks of 4, 16 in blocks of 8.
                (Some(c2n8), Some(c4n4)) if c4n4 * 11 < c2n8 * 10 => Some(Block::C4N4),
                (Some(_), _) => Some(Block::C2N8),
                (None, _) => Some(Block::C4N4),
            },
            _ => None,
        }
    }

    /// Output channels and positions of one block.
    pub fn size(self) -> (usize, usize) {
        match self {
            Block::C2N8 => (2, 8),
            Block::C4N4 => (4, 4),
            Block::PlaneDw3x3N4 | Block::PlaneDw3x3S2N4 => (1, 4),
            _ => (1, 8),
        }
    }

    /// The plane kernel of a plane kind.
    fn plane_fn(self) -> Option<PlaneFn> {
        match self {
            Block::Plane1x7S2 => Some(fewshot_conv_plane1x7s2_f32),
            Block::PlaneDw3x3 => Some(fewshot_dw_plane3x3_f32),
            Block::PlaneDw1x5 => Some(fewshot_dw_plane1x5_f32),
            Block::PlaneDw3x3S2 => Some(fewshot_dw_plane3x3s2_f32),
            Block::PlaneDw3x3N4 => Some(fewshot_dw_plane3x3n4_f32),
            Block::PlaneDw3x3S2N4 => Some(fewshot_dw_plane3x3s2n4_f32),
            _ => None,
        }
    }

    /// The block kernel of a block kind for a kernel of `kh x kw` (unrolled rows for the
    /// widths that have one).
    fn block_fn(self, kh: usize, kw: usize) -> Option<BlockFn> {
        Some(match (self, kw) {
            (Block::C2N8, 1) if kh == 1 => fewshot_conv_c2n8k1_f32,
            (Block::C4N4, 1) if kh == 1 => fewshot_conv_c4n4k1_f32,
            (Block::C2N8, 3) => fewshot_conv_c2n8k3_f32,
            (Block::C4N4, 3) => fewshot_conv_c4n4k3_f32,
            (Block::C2N8, 5) => fewshot_conv_c2n8k5_f32,
            (Block::C4N4, 5) => fewshot_conv_c4n4k5_f32,
            (Block::C2N8, _) => fewshot_conv_c2n8_f32,
            (Block::C4N4, _) => fewshot_conv_c4n4_f32,
            (Block::C1N8, 3) => fewshot_conv_c1n8k3_f32,
            (Block::C1N8, _) => fewshot_conv_c1n8_f32,
            (Block::C1N8S2, _) => fewshot_conv_c1n8s2_f32,
            _ => return None,
        })
    }

    /// A plane kernel's stride and kernel (rows, columns); its filters read one input plane
    /// each (a depthwise layer's, or the single input channel of a full convolution).
    fn plane(self) -> Option<(usize, [usize; 2])> {
        match self {
            Block::Plane1x7S2 => Some((2, [1, 7])),
            Block::PlaneDw3x3 => Some((1, [3, 3])),
            Block::PlaneDw1x5 => Some((1, [1, 5])),
            Block::PlaneDw3x3S2 | Block::PlaneDw3x3S2N4 => Some((2, [3, 3])),
            Block::PlaneDw3x3N4 => Some((1, [3, 3])),
            _ => None,
        }
    }
}

/// A convolution over a map without padding, in floats: the stride, kernel columns and rows,
/// input channels of a filter (1 when depthwise), the input map's rows and row length, the
/// output map's channels, rows and row length.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub stride: usize,
    pub kw: usize,
    pub kh: usize,
    pub groups: usize,
    pub depthwise: bool,
    pub h: usize,
    pub row: usize,
    pub co: usize,
    pub oh: usize,
    pub ow: usize,
}

/// The layer in blocks: every output `(c, oy, ox)` is `b[c]` plus the terms
/// `w[c][g][a][k] x[g'][oy s + a][ox s + k]` (`s` the stride) in `(g, a, k)` order (`g' = c`
/// when depthwise, else `g`), then ReLU when `relu` (the last block of a row or of the
/// channels overlapping the one before it where the block size does not divide the layer's):
/// true. False, nothing written (the caller computes every output), when the layer has fewer
/// channels or columns than a block, a slice is too short, the kernel does not fit the
/// convolution or a size does not fit 32 bits.
pub fn layer(
    kind: Block,
    s: &Shape,
    relu: bool,
    w: &[f32],
    b: &[f32],
    x: &[f32],
    y: &mut [f32],
) -> bool {
    let (c, n) = kind.size();
    // Blocks covering every channel and column when there are at least as many as a block
    // holds: the last one overlaps its neighbour where the block does not divide the layer (its
    // outputs are computed twice, the same bits each time).
    if !fits(kind, s, w, b, x, y) || s.co < c || s.ow < n {
        return false;
    }
    if let Some(pf) = kind.plane_fn() {
        // Every row's whole blocks, then its last block (overlapping) in a second call.
        return planes(pf, n, s, relu, w, b, x, y, 0) == s.ow / n
            && (s.ow.is_multiple_of(n) || planes(pf, n, s, relu, w, b, x, y, s.ow - n) == 1);
    }
    let (Some(f), Some(g)) = (kind.block_fn(s.kh, s.kw), Geometry::of(s, b, relu)) else {
        return false;
    };
    blocks(f, g, (c, n), s, w, b, x, y);
    true
}

/// Whether the kernel of `kind` fits the convolution `s` and the slices hold what it reads
/// and writes (the conditions every kernel's safety rests on).
fn fits(kind: Block, s: &Shape, w: &[f32], b: &[f32], x: &[f32], y: &[f32]) -> bool {
    let (c, _) = kind.size();
    let fan = s.groups * s.kh * s.kw;
    let (plane, per) = (s.h * s.row, s.oh * s.ow);
    let in_channels = if s.depthwise { s.co } else { s.groups };
    fan > 0
        && per > 0
        && (c == 1 || !s.depthwise)
        && (kind != Block::C1N8 || s.depthwise)
        && (!s.depthwise || s.groups == 1)
        && match kind.plane() {
            // One input plane a filter: depthwise, or a single input channel.
            Some((stride, kernel)) => (s.stride, [s.kh, s.kw], s.groups) == (stride, kernel, 1),
            None => s.stride == if kind == Block::C1N8S2 { 2 } else { 1 },
        }
        && (s.oh - 1) * s.stride + s.kh <= s.h
        && (s.ow - 1) * s.stride + s.kw <= s.row
        && in_channels.checked_mul(plane).is_some_and(|v| v <= x.len())
        && s.co.checked_mul(fan).is_some_and(|v| v <= w.len())
        && s.co.checked_mul(per).is_some_and(|v| v <= y.len())
        && s.co <= b.len()
}

//! The plane kernels (see [`super`]): every output plane of a layer in one call, for filters
//! whose weights fit in registers.

use super::Shape;
use core::arch::global_asm;

/// What a plane kernel reads besides its pointers (`#[repr(C)]`, offsets fixed in the asm).
#[repr(C)]
pub(super) struct PlaneGeometry {
    /// Output rows, > 0.
    rows: u32,
    /// Blocks of 8 outputs in a row, > 0.
    blocks: u32,
    /// Bytes from one input row to the next (a filter's kernel rows).
    in_row: u32,
    /// Bytes from the input after a row's last block to the next output row's first input
    /// (`stride` input rows on from the row's first, less what the blocks advanced).
    in_skip: u32,
    /// Bytes from the output after a row's last block to the next row's first output.
    out_skip: u32,
    /// The first filter's bias (the others follow it).
    bias: *const f32,
    /// Non-zero: ReLU as the outputs are stored.
    relu: u32,
    /// Filters (output planes), > 0.
    planes: u32,
    /// Bytes (wrapping) from the input after a plane's last row to the next plane's first
    /// input: the next input channel's when depthwise, back to the same one's otherwise.
    in_next: u32,
}

/// One output row's blocks of 8 or 4 outputs (r0 of them, from the geometry at r3): `$splat`
/// starts the accumulators from the bias's bits in lr, `$body` adds the block's terms from r1
/// (which it leaves at the next block's first input), `$store` stores them (r2
/// post-incremented); then the steps to the next row's first input and output (r9, r10). r8
/// counts the rows; labels `$row`/`$block`.
macro_rules! plane_rows {
    ($row:literal, $block:literal, $splat:expr, $body:expr, $store:expr) => {
        concat!(
            $row,
            ":\n    ldr r0, [r3, #4]\n",
            $block,
            ":\n",
            $splat,
            $body,
            $store,
            "    subs r0, r0, #1\n    bne ",
            $block,
            "b\n    add r1, r1, r9\n    add r2, r2, r10\n    subs r8, r8, #1\n    bne ",
            $row,
            "b\n"
        )
    };
}

/// A plane kernel `$name`: every output plane of a layer (every row's blocks of 8 outputs), one
/// filter after another; each filter's weights loaded once by `$weights` (from r0) into
/// registers the `$body` reads, its bias kept in lr; filters `$fan` bytes apart. r0 = the
/// first filter, r1 = the first plane's first input, r2 = its first output, r3 = the
/// [`PlaneGeometry`]; r11 holds `in_row` for the body; the next filter, the next bias and the
/// filters left live on the stack. A call saves what a block kernel's call per block costs
/// (its registers, geometry and filter reloaded for each 8 outputs) and a call per plane.
macro_rules! plane_kernel {
    ($name:literal, $fan:literal, $weights:expr, $body:expr) => {
        plane_kernel!(
            $name,
            $fan,
            $weights,
            $body,
            splat!("lr"; "s0" "s1", "s2" "s3", "s4" "s5", "s6" "s7"),
            "    vstmia r2!, {{s0-s7}}\n",
            concat!(
                relu_store!("s0", "s1", "s2", "s3"),
                relu_store!("s4", "s5", "s6", "s7")
            )
        );
    };
    // Blocks of 4 outputs (rows of 4 to 7): s0-s3.
    (4; $name:literal, $fan:literal, $weights:expr, $body:expr) => {
        plane_kernel!(
            $name,
            $fan,
            $weights,
            $body,
            splat!("lr"; "s0" "s1", "s2" "s3"),
            "    vstmia r2!, {{s0-s3}}\n",
            relu_store!("s0", "s1", "s2", "s3")
        );
    };
    ($name:literal, $fan:literal, $weights:expr, $body:expr, $splat:expr, $store:expr, $relu:expr) => {
        global_asm!(concat!(
            asm_fn_start!($name),
            "    push {{r4, r5, r6, r7, r8, r9, r10, r11, lr}}
    vpush {{s16-s31}}
    sub sp, sp, #16
    ldr r12, [r3, #20]
    strd r0, r12, [sp]
    ldr r12, [r3, #28]
    str r12, [sp, #8]
    ldr r11, [r3, #8]
    ldr r9, [r3, #12]
    ldr r10, [r3, #16]
0:
    ldr r0, [sp]
",
            $weights,
            "    adds r0, r0, #",
            $fan,
            "
    ldr r12, [sp, #4]
    ldr lr, [r12], #4
    strd r0, r12, [sp]
    ldr r8, [r3, #0]
    ldr r12, [r3, #24]
    cmp r12, #0
    bne 5f
",
            plane_rows!("1", "2", $splat, $body, $store),
            "    b 6f\n",
            plane_rows!("5", "4", $splat, $body, $relu),
            "6:
    ldr r12, [r3, #32]
    add r1, r1, r12
    ldr r12, [sp, #8]
    subs r12, r12, #1
    str r12, [sp, #8]
    bne 0b
    add sp, sp, #16
    vpop {{s16-s31}}
    pop {{r4, r5, r6, r7, r8, r9, r10, r11, pc}}
",
            asm_fn_end!($name)
        ));
    };
}

/// Two taps of the 7-tap stride-2 body from one load of 16 inputs (r1 at the first tap's,
/// then two columns on): the even tap `$w0` over s16, s18, .., s30, the odd one `$w1` over
/// s17, .., s31.
macro_rules! taps_s2 {
    ($w0:literal, $w1:literal) => {
        concat!(
            "    vldmia r1, {{s16-s31}}\n    adds r1, r1, #8\n",
            mla_1x8!($w0; "s16" "s18" "s20" "s22" "s24" "s26" "s28" "s30"),
            mla_1x8!($w1; "s17" "s19" "s21" "s23" "s25" "s27" "s29" "s31")
        )
    };
}

// A one-row, 7-tap filter over one input channel at stride 2 (the series stem's first layer,
// 1 x 7 / 2): the 7 weights in s8-s14, one `vldmia` of 16 inputs serving two taps (the last
// tap's 15), so a block costs its 56 `vmla`, 4 loads and their steps, the bias and the store
// (about 80 instructions, against 168 for a call of the general 1 x 8 stride-2 kernel per
// block). Each output is its bias plus its 7 terms in tap order, as the portable loop adds them.
plane_kernel!(
    "fewshot_conv_plane1x7s2_f32",
    "28",
    "    vldmia r0, {{s8-s14}}\n",
    concat!(
        taps_s2!("s8", "s9"),
        taps_s2!("s10", "s11"),
        taps_s2!("s12", "s13"),
        // The last tap reads 15 inputs: its window ends at the block's last input.
        "    vldmia r1, {{s16-s30}}\n",
        mla_1x8!("s14"; "s16" "s18" "s20" "s22" "s24" "s26" "s28" "s30"),
        // The next block's inputs: 8 outputs at stride 2 on from this block's first, 6 taps back.
        "    adds r1, r1, #40\n"
    )
);

/// A depthwise 3 x 3 filter's 9 weights (from r0) into s8-s15 and s26.
macro_rules! weights_3x3 {
    () => {
        "    vldmia r0, {{s8-s15}}\n    vldr s26, [r0, #32]\n"
    };
}
/// A block's three kernel rows at stride 1 through `$row` (weights s8-s10, s11-s13, s14 s15
/// s26), each row's `$inputs` in one `vldmia` (r12 steps the rows by r11); r1 then steps
/// `$step` bytes to the next block.
macro_rules! rows3_s1 {
    ($row:ident, $inputs:literal, $step:literal) => {
        concat!(
            "    vldmia r1, {{",
            $inputs,
            "}}\n",
            $row!("s8", "s9", "s10"),
            "    add r12, r1, r11\n    vldmia r12, {{",
            $inputs,
            "}}\n",
            $row!("s11", "s12", "s13"),
            "    add r12, r12, r11\n    vldmia r12, {{",
            $inputs,
            "}}\n",
            $row!("s14", "s15", "s26"),
            "    adds r1, r1, #",
            $step,
            "\n"
        )
    };
}

// A depthwise 3 x 3 filter at stride 1: the 9 weights in s8-s15 and s26, each kernel row's 10
// inputs in one `vldmia` (r12 steps the rows by r11): 72 `vmla`, 3 loads, 2 row steps, the bias
// (4) and the store per block of 8 (about 85 instructions, 98 through ReLU).
plane_kernel!(
    "fewshot_dw_plane3x3_f32",
    "36",
    weights_3x3!(),
    rows3_s1!(row3, "s16-s25", "32")
);

/// One kernel row of a depthwise 3 x 3 filter at stride 2 for 4 outputs (weights `$w0 $w1
/// $w2`) over the 9 inputs s16-s24 the row's `vldmia` loaded; `$a` the first accumulator:
/// output j reads inputs 2j, 2j + 1, 2j + 2.
macro_rules! row3_s2 {
    ($a0:literal $a1:literal $a2:literal $a3:literal; $w0:literal, $w1:literal, $w2:literal) => {
        concat!(
            vmla_w!($w0; $a0 "s16", $a1 "s18", $a2 "s20", $a3 "s22"),
            vmla_w!($w1; $a0 "s17", $a1 "s19", $a2 "s21", $a3 "s23"),
            vmla_w!($w2; $a0 "s18", $a1 "s20", $a2 "s22", $a3 "s24")
        )
    };
}
/// The three kernel rows of one half (4 outputs) of a stride-2 3 x 3 block from r12 (its first
/// input), stepping r12 a row (r11) between them.
macro_rules! half3_s2 {
    ($a0:literal $a1:literal $a2:literal $a3:literal) => {
        concat!(
            "    vldmia r12, {{s16-s24}}\n",
            row3_s2!($a0 $a1 $a2 $a3; "s8", "s9", "s10"),
            "    add r12, r12, r11\n    vldmia r12, {{s16-s24}}\n",
            row3_s2!($a0 $a1 $a2 $a3; "s11", "s12", "s13"),
            "    add r12, r12, r11\n    vldmia r12, {{s16-s24}}\n",
            row3_s2!($a0 $a1 $a2 $a3; "s14", "s15", "s26")
        )
    };
}

// A depthwise 3 x 3 filter at stride 2 (a DS-CNN's downsampling layers): the 9 weights in
// s8-s15 and s26; a block of 8 outputs reads 17 columns, too many registers at once, so it
// runs as two halves of 4 outputs, each kernel row's 9 inputs in one `vldmia`: 72 `vmla`, 6
// loads, 5 row steps, the bias (4) and the store per block (about 90 instructions, 103 through
// ReLU).
plane_kernel!(
    "fewshot_dw_plane3x3s2_f32",
    "36",
    weights_3x3!(),
    concat!(
        "    mov r12, r1\n",
        half3_s2!("s0" "s1" "s2" "s3"),
        "    add r12, r1, #32\n",
        half3_s2!("s4" "s5" "s6" "s7"),
        "    adds r1, r1, #64\n"
    )
);

/// One kernel row of a depthwise 3 x 3 filter at stride 1 for 4 outputs (weights `$w0 $w1
/// $w2`) over the 6 inputs s16-s21.
macro_rules! row3_n4 {
    ($w0:literal, $w1:literal, $w2:literal) => {
        concat!(
            vmla_w!($w0; "s0" "s16", "s1" "s17", "s2" "s18", "s3" "s19"),
            vmla_w!($w1; "s0" "s17", "s1" "s18", "s2" "s19", "s3" "s20"),
            vmla_w!($w2; "s0" "s18", "s1" "s19", "s2" "s20", "s3" "s21")
        )
    };
}

// The depthwise 3 x 3 plane kernels for rows of 4 to 7 outputs (a small map, as after a
// DS-CNN's downsampling layers): blocks of 4 (the last overlapping), the weights in
// registers as in the kernels of 8. At stride 1 each kernel row's 6 inputs in one `vldmia`, at
// stride 2 its 9; 36 `vmla` per block.
plane_kernel!(4;
    "fewshot_dw_plane3x3n4_f32",
    "36",
    weights_3x3!(),
    rows3_s1!(row3_n4, "s16-s21", "16")
);
plane_kernel!(4;
    "fewshot_dw_plane3x3s2n4_f32",
    "36",
    weights_3x3!(),
    concat!(
        "    mov r12, r1\n",
        half3_s2!("s0" "s1" "s2" "s3"),
        "    adds r1, r1, #32\n"
    )
);

// A depthwise 1 x 5 filter at stride 1 (a series filter): the 5 weights in s8-s12, the block's
// 12 inputs in one `vldmia`: 40 `vmla` per block of 8.
plane_kernel!(
    "fewshot_dw_plane1x5_f32",
    "20",
    "    vldmia r0, {{s8-s12}}\n",
    concat!(
        "    vldmia r1, {{s16-s27}}\n",
        mla_1x8!("s8"; "s16" "s17" "s18" "s19" "s20" "s21" "s22" "s23"),
        mla_1x8!("s9"; "s17" "s18" "s19" "s20" "s21" "s22" "s23" "s24"),
        mla_1x8!("s10"; "s18" "s19" "s20" "s21" "s22" "s23" "s24" "s25"),
        mla_1x8!("s11"; "s19" "s20" "s21" "s22" "s23" "s24" "s25" "s26"),
        mla_1x8!("s12"; "s20" "s21" "s22" "s23" "s24" "s25" "s26" "s27"),
        "    adds r1, r1, #32\n"
    )
);
extern "C" {
    pub(super) fn fewshot_conv_plane1x7s2_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
    pub(super) fn fewshot_dw_plane3x3_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
    pub(super) fn fewshot_dw_plane1x5_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
    pub(super) fn fewshot_dw_plane3x3s2_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
    pub(super) fn fewshot_dw_plane3x3n4_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
    pub(super) fn fewshot_dw_plane3x3s2n4_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
}

/// A plane kernel (see `plane_kernel!`).
pub(super) type PlaneFn =
    unsafe extern "C" fn(*const f32, *const f32, *mut f32, *const PlaneGeometry);

/// [`layer`] for the plane kernels (blocks of `n` outputs): one call for every output channel,
/// outside `layer`'s block loop, for the whole blocks of every row from column 0 (`from == 0`),
/// or for one block of every row from column `from` (a row's last, overlapping block); returns the blocks of a
/// row it computed (0: none, nothing written). The caller has checked the slices and sizes as
/// for the block kernels, and the kernel's shape ([`Block::plane`]).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(super) fn planes(
    f: PlaneFn,
    n: usize,
    s: &Shape,
    relu: bool,
    w: &[f32],
    b: &[f32],
    x: &[f32],
    y: &mut [f32],
    from: usize,
) -> usize {
    let blocks = if from == 0 { s.ow / n } else { 1 };
    let end = from + n * blocks;
    let bytes = |v: usize| v.checked_mul(4).and_then(|v| u32::try_from(v).ok());
    // After a plane's rows r1 is `oh` strides of rows on from its first input.
    let next = if s.depthwise { s.h * s.row } else { 0 };
    // No block, row or channel: nothing written (the kernel runs at least one of each).
    let g = (|| {
        Some(PlaneGeometry {
            rows: u32::try_from(s.oh).ok().filter(|&r| r > 0)?,
            blocks: u32::try_from(blocks)
                .ok()
                .filter(|&n| n > 0 && end <= s.ow)?,
            in_row: bytes(s.row)?,
            // The blocks advance `n` strides each.
            in_skip: bytes(s.stride.checked_mul(s.row.checked_sub(n * blocks)?)?)?,
            out_skip: bytes(s.ow - n * blocks)?,
            bias: b.as_ptr(),
            relu: u32::from(relu),
            planes: u32::try_from(s.co).ok().filter(|&n| n > 0)?,
            in_next: bytes(next)?.wrapping_sub(bytes(s.oh.checked_mul(s.stride * s.row)?)?),
        })
    })();
    let Some(g) = g else {
        return 0;
    };
    // SAFETY: as for the block kernels in [`layer`], for every block of every plane: filter oc
    // (`fan` weights from oc fan, `co * fan <= w.len()`), its bias (`oc < co <= b.len()`),
    // inputs of channel oc (depthwise; else 0) from its plane's start, rows oy s..oy s + kh
    // (`(oh - 1) s + kh <= h`) of every output row oy, columns from `from s` up to (end - 1) s +
    // kw - 1 (`end <= ow`, so `<= (ow - 1) s + kw - 1 < row`: each block's loads end at its last
    // output's last tap; with stride 2 the 7-tap body's last load of 15 ends there too);
    // outputs of channel oc (from oc per), every row, columns from..end (`<= ow`). The kernel
    // steps its input pointer by `in_next` after a plane's rows, to the next plane's first
    // block (`oh` row strides on). AAPCS-VFP, memory only through these pointers and its stack.
    unsafe {
        f(
            w.as_ptr(),
            x.as_ptr().add(from * s.stride),
            y.as_mut_ptr().add(from),
            &g,
        )
    };
    blocks
}

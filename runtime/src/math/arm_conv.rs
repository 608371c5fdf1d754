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

use core::arch::global_asm;

/// What a block kernel reads besides its pointers (`#[repr(C)]`, offsets fixed in the asm).
#[repr(C)]
struct Geometry {
    /// Kernel columns (taps per row), > 0.
    kw: u32,
    /// Kernel rows, > 0.
    kh: u32,
    /// Input channels each filter sees, > 0.
    groups: u32,
    /// Bytes from one input row to the next.
    row_step: u32,
    /// Bytes from the row after a channel's `kh` rows to the next channel's first row.
    plane_skip: u32,
    /// Bytes from one filter to the next.
    filter_step: u32,
    /// Bytes from one output channel to the next.
    channel_step: u32,
    /// The block's first bias (one per channel).
    bias: *const f32,
    /// Non-zero: ReLU as the outputs are stored (every value whose sign bit is set becomes +0,
    /// as `math::activate` does).
    relu: u32,
}

/// A block kernel (see the module's documentation): `$name`, then the assembly that broadcasts
/// the biases into the accumulators, finds the other filters, adds one kernel row's terms (r1
/// its first input; [`tap_loop!`], or a row unrolled for a kernel width), stores the outputs,
/// and stores them through ReLU.
macro_rules! conv_kernel {
    ($name:literal, $bias:expr, $filters:expr, $row:expr, $store:expr, $relu:expr) => {
        block_kernel!(
            $name,
            $bias,
            $filters,
            concat!(
                "3:
    mov r3, r5
2:
",
                $row,
                "    add r1, r1, r7
    subs r3, r3, #1
    bne 2b
    add r1, r1, r8
    subs r6, r6, #1
    bne 3b
"
            ),
            $store,
            $relu
        );
    };
}

/// [`conv_kernel!`] for 1 x 1 filters: one loop over the input channels (r6), each `$group`
/// adding one channel's terms from r1, which then steps a whole plane (r7: the row step plus
/// the plane skip).
macro_rules! pointwise_kernel {
    ($name:literal, $bias:expr, $filters:expr, $group:expr, $store:expr, $relu:expr) => {
        block_kernel!(
            $name,
            $bias,
            $filters,
            concat!(
                "    add r7, r7, r8\n3:\n",
                $group,
                "    add r1, r1, r7\n    subs r6, r6, #1\n    bne 3b\n"
            ),
            $store,
            $relu
        );
    };
}

/// What every block kernel shares: the registers saved, the biases (r12 = the bias pointer),
/// the geometry in r4-r9 (`kw`, `kh`, `groups`, `row_step`, `plane_skip`, `filter_step`),
/// the other filters, `$loops` adding every term, then the plain or ReLU store.
macro_rules! block_kernel {
    ($name:literal, $bias:expr, $filters:expr, $loops:expr, $store:expr, $relu:expr) => {
        global_asm!(concat!(
            asm_fn_start!($name),
            "    push {{r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, lr}}
    vpush {{s16-s31}}
    ldr r12, [r3, #28]
",
            $bias,
            "    ldm r3, {{r4, r5, r6, r7, r8, r9}}\n",
            $filters,
            $loops,
            "    ldr r2, [sp, #64]
    ldr r3, [sp, #68]
    ldr r12, [r3, #24]
    ldr r4, [r3, #32]
    cbnz r4, 5f
",
            $store,
            "    b 6f\n5:\n",
            $relu,
            "6:
    vpop {{s16-s31}}
    pop {{r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, pc}}
",
            asm_fn_end!($name)
        ));
    };
}

/// One kernel row of any width (r4 taps): per tap, the assembly that loads the inputs it meets
/// (from r2, which then steps one column) and the one that loads its weights and adds its terms.
macro_rules! tap_loop {
    ($load:expr, $taps:expr) => {
        concat!(
            "    mov r2, r1
    mov r12, r4
1:
",
            $load,
            "    adds r2, r2, #4\n",
            $taps,
            "    subs r12, r12, #1
    bne 1b
"
        )
    };
}

/// Copies the bits of core register `$r` into every register of the pairs `$a $b` (one `vmov`
/// of two single-precision registers from two core registers per pair: half the instructions
/// of a `vmov.f32` per register, the same bits).
macro_rules! splat {
    ($r:literal; $($a:literal $b:literal),+) => {
        concat!($("    vmov ", $a, ", ", $b, ", ", $r, ", ", $r, "\n",)+)
    };
}
/// Loads the bias at byte `$at` from r12 into r4, then [`splat!`]s it into the pairs (r4 is free
/// until the kernels load their geometry).
macro_rules! broadcast {
    ($at:literal; $($a:literal $b:literal),+) => {
        concat!("    ldr r4, [r12, #", $at, "]\n", splat!("r4"; $($a $b),+))
    };
}
/// Stores four consecutive registers through ReLU (the integer `bic` of `math::activate`) at
/// r2, advancing it: two `vmov` of register pairs into r4-r7, four `bic`, one `stmia` (7
/// instructions for 4 outputs; r4-r11 are free once the block's terms are added).
macro_rules! relu_store {
    ($a:literal, $b:literal, $c:literal, $d:literal) => {
        concat!(
            "    vmov r4, r5, ",
            $a,
            ", ",
            $b,
            "\n    vmov r6, r7, ",
            $c,
            ", ",
            $d,
            "\n",
            "    bic r4, r4, r4, asr #31\n    bic r5, r5, r5, asr #31\n",
            "    bic r6, r6, r6, asr #31\n    bic r7, r7, r7, asr #31\n",
            "    stmia r2!, {{r4-r7}}\n"
        )
    };
}
/// One output channel of 8 positions: its bias broadcast, its plain and ReLU stores.
macro_rules! bias_1x8 {
    () => {
        broadcast!(0; "s0" "s1", "s2" "s3", "s4" "s5", "s6" "s7")
    };
}
macro_rules! store_1x8 {
    () => {
        "    vstmia r2, {{s0-s7}}
"
    };
}
macro_rules! relu_1x8 {
    () => {
        concat!(
            "    sub r12, r12, #32\n",
            relu_store!("s0", "s1", "s2", "s3"),
            relu_store!("s4", "s5", "s6", "s7")
        )
    };
}
/// One input channel's values at the block's positions (`$regs`, from r1).
macro_rules! load_1 {
    ($regs:literal) => {
        concat!("    vldmia r1, {{", $regs, "}}\n")
    };
}
/// The inputs of 8 consecutive positions.
macro_rules! load_8 {
    () => {
        "    vldmia r2, {{s16-s23}}
"
    };
}

/// 2 output channels of 8 positions: biases, the second filter (r9), plain and ReLU stores.
macro_rules! bias_2x8 {
    () => {
        concat!(
            bias_1x8!(),
            broadcast!(4; "s8" "s9", "s10" "s11", "s12" "s13", "s14" "s15")
        )
    };
}
macro_rules! filters_2 {
    () => {
        "    add r9, r0, r9
"
    };
}
macro_rules! store_2x8 {
    () => {
        "    vstmia r2, {{s0-s7}}
    add r2, r2, r12
    vstmia r2, {{s8-s15}}
"
    };
}
macro_rules! relu_2x8 {
    () => {
        concat!(
            relu_1x8!(),
            "    add r2, r2, r12\n",
            relu_store!("s8", "s9", "s10", "s11"),
            relu_store!("s12", "s13", "s14", "s15")
        )
    };
}
/// 4 output channels of 4 positions: biases, the other filters (r9, r10, r11), plain and ReLU
/// stores.
macro_rules! bias_4x4 {
    () => {
        concat!(
            broadcast!(0; "s0" "s1", "s2" "s3"),
            broadcast!(4; "s4" "s5", "s6" "s7"),
            broadcast!(8; "s8" "s9", "s10" "s11"),
            broadcast!(12; "s12" "s13", "s14" "s15")
        )
    };
}
macro_rules! filters_4 {
    () => {
        "    add r10, r0, r9, lsl #1
    add r11, r10, r9
    add r9, r0, r9
"
    };
}
macro_rules! store_4x4 {
    () => {
        "    vstmia r2, {{s0-s3}}
    add r2, r2, r12
    vstmia r2, {{s4-s7}}
    add r2, r2, r12
    vstmia r2, {{s8-s11}}
    add r2, r2, r12
    vstmia r2, {{s12-s15}}
"
    };
}
macro_rules! relu_4x4 {
    () => {
        concat!(
            "    sub r12, r12, #16\n",
            relu_store!("s0", "s1", "s2", "s3"),
            "    add r2, r2, r12\n",
            relu_store!("s4", "s5", "s6", "s7"),
            "    add r2, r2, r12\n",
            relu_store!("s8", "s9", "s10", "s11"),
            "    add r2, r2, r12\n",
            relu_store!("s12", "s13", "s14", "s15")
        )
    };
}

/// One weight register's terms over inputs `$x0..$x7`, into the accumulators s0-s7 of a block
/// of 8 outputs (one filter tap over the block).
macro_rules! mla_1x8 {
    ($w:literal; $x0:literal $x1:literal $x2:literal $x3:literal $x4:literal $x5:literal $x6:literal $x7:literal) => {
        vmla_w!($w; "s0" $x0, "s1" $x1, "s2" $x2, "s3" $x3, "s4" $x4, "s5" $x5, "s6" $x6, "s7" $x7)
    };
}
/// One kernel row of 3 taps (weights `$w0 $w1 $w2`) over the 10 inputs s16-s25 of 8 outputs.
macro_rules! row3 {
    ($w0:literal, $w1:literal, $w2:literal) => {
        concat!(
            mla_1x8!($w0; "s16" "s17" "s18" "s19" "s20" "s21" "s22" "s23"),
            mla_1x8!($w1; "s17" "s18" "s19" "s20" "s21" "s22" "s23" "s24"),
            mla_1x8!($w2; "s18" "s19" "s20" "s21" "s22" "s23" "s24" "s25")
        )
    };
}
/// One weight register per filter, each filter's terms over inputs `$x0..$x7`: the 2 x 8
/// block's accumulators s0-s7 (the filter in `$w0`) and s8-s15 (`$w1`).
macro_rules! mla_2x8 {
    ($w0:literal, $w1:literal; $x0:literal $x1:literal $x2:literal $x3:literal $x4:literal $x5:literal $x6:literal $x7:literal) => {
        concat!(
            mla_1x8!($w0; $x0 $x1 $x2 $x3 $x4 $x5 $x6 $x7),
            vmla_w!($w1; "s8" $x0, "s9" $x1, "s10" $x2, "s11" $x3, "s12" $x4, "s13" $x5, "s14" $x6, "s15" $x7)
        )
    };
}
/// [`mla_2x8!`] for the 4 x 4 block: accumulators s0-s3, s4-s7, s8-s11, s12-s15.
macro_rules! mla_4x4 {
    ($w0:literal, $w1:literal, $w2:literal, $w3:literal; $x0:literal $x1:literal $x2:literal $x3:literal) => {
        concat!(
            vmla_w!($w0; "s0" $x0, "s1" $x1, "s2" $x2, "s3" $x3),
            vmla_w!($w1; "s4" $x0, "s5" $x1, "s6" $x2, "s7" $x3),
            vmla_w!($w2; "s8" $x0, "s9" $x1, "s10" $x2, "s11" $x3),
            vmla_w!($w3; "s12" $x0, "s13" $x1, "s14" $x2, "s15" $x3)
        )
    };
}
/// One tap of the 2 x 8 block: the two filters' next weights (r0, r9) into `$w0`, `$w1`, then
/// their terms over the inputs.
macro_rules! tap_2x8 {
    ($w0:literal, $w1:literal; $($x:literal)+) => {
        concat!(
            "    vldmia r0!, {{", $w0, "}}\n    vldmia r9!, {{", $w1, "}}\n",
            mla_2x8!($w0, $w1; $($x)+)
        )
    };
}
/// One tap of the 4 x 4 block: the four filters' next weights (r0, r9, r10, r11), their terms.
macro_rules! tap_4x4 {
    ($w0:literal, $w1:literal, $w2:literal, $w3:literal; $($x:literal)+) => {
        concat!(
            "    vldmia r0!, {{", $w0, "}}\n    vldmia r9!, {{", $w1,
            "}}\n    vldmia r10!, {{", $w2, "}}\n    vldmia r11!, {{", $w3, "}}\n",
            mla_4x4!($w0, $w1, $w2, $w3; $($x)+)
        )
    };
}

conv_kernel!(
    "fewshot_conv_c2n8_f32",
    bias_2x8!(),
    filters_2!(),
    tap_loop!(
        load_8!(),
        tap_2x8!("s24", "s25"; "s16" "s17" "s18" "s19" "s20" "s21" "s22" "s23")
    ),
    store_2x8!(),
    relu_2x8!()
);
// 1 x 1 filters (pointwise layers, whose blocks run along the whole plane): per input
// channel one `vldmia` of the 8 (or 4) inputs, one weight per filter, 16 `vmla` and the
// channel step (22 instructions per 16 terms, where the tap loop of any width takes 29).
pointwise_kernel!(
    "fewshot_conv_c2n8k1_f32",
    bias_2x8!(),
    filters_2!(),
    concat!(
        load_1!("s16-s23"),
        tap_2x8!("s24", "s25"; "s16" "s17" "s18" "s19" "s20" "s21" "s22" "s23")
    ),
    store_2x8!(),
    relu_2x8!()
);
pointwise_kernel!(
    "fewshot_conv_c4n4k1_f32",
    bias_4x4!(),
    filters_4!(),
    concat!(
        load_1!("s16-s19"),
        tap_4x4!("s24", "s25", "s26", "s27"; "s16" "s17" "s18" "s19")
    ),
    store_4x4!(),
    relu_4x4!()
);
conv_kernel!(
    "fewshot_conv_c4n4_f32",
    bias_4x4!(),
    filters_4!(),
    tap_loop!(
        "    vldmia r2, {{s16-s19}}
",
        tap_4x4!("s24", "s25", "s26", "s27"; "s16" "s17" "s18" "s19")
    ),
    store_4x4!(),
    relu_4x4!()
);
conv_kernel!(
    "fewshot_conv_c1n8_f32",
    bias_1x8!(),
    "",
    tap_loop!(
        load_8!(),
        concat!(
            "    vldmia r0!, {{s8}}
",
            mla_1x8!("s8"; "s16" "s17" "s18" "s19" "s20" "s21" "s22" "s23")
        )
    ),
    store_1x8!(),
    relu_1x8!()
);
// Stride 2: the 15 inputs from the tap's, every other one to an output.
conv_kernel!(
    "fewshot_conv_c1n8s2_f32",
    bias_1x8!(),
    "",
    tap_loop!(
        "    vldmia r2, {{s16-s30}}
",
        concat!(
            "    vldmia r0!, {{s8}}
",
            mla_1x8!("s8"; "s16" "s18" "s20" "s22" "s24" "s26" "s28" "s30")
        )
    ),
    store_1x8!(),
    relu_1x8!()
);

// Kernel rows of 3 taps, unrolled: one `vldmia` of the row's inputs (n + 2) for its 3 taps,
// each output register window one column on; the filters' 3 weights of the row in one
// `vldmia` each where registers allow (4 x 4: two of the four channels).
conv_kernel!(
    "fewshot_conv_c2n8k3_f32",
    bias_2x8!(),
    filters_2!(),
    concat!(
        "    vldmia r1, {{s16-s25}}
    vldmia r0!, {{s26-s28}}
    vldmia r9!, {{s29-s31}}
",
        mla_2x8!("s26", "s29"; "s16" "s17" "s18" "s19" "s20" "s21" "s22" "s23"),
        mla_2x8!("s27", "s30"; "s17" "s18" "s19" "s20" "s21" "s22" "s23" "s24"),
        mla_2x8!("s28", "s31"; "s18" "s19" "s20" "s21" "s22" "s23" "s24" "s25")
    ),
    store_2x8!(),
    relu_2x8!()
);
conv_kernel!(
    "fewshot_conv_c4n4k3_f32",
    bias_4x4!(),
    filters_4!(),
    concat!(
        "    vldmia r1, {{s16-s21}}
    vldmia r0!, {{s22-s24}}
    vldmia r9!, {{s25-s27}}
    vldmia r10!, {{s28}}
    vldmia r11!, {{s29}}
",
        mla_4x4!("s22", "s25", "s28", "s29"; "s16" "s17" "s18" "s19"),
        "    vldmia r10!, {{s28}}
    vldmia r11!, {{s29}}
",
        mla_4x4!("s23", "s26", "s28", "s29"; "s17" "s18" "s19" "s20"),
        "    vldmia r10!, {{s28}}
    vldmia r11!, {{s29}}
",
        mla_4x4!("s24", "s27", "s28", "s29"; "s18" "s19" "s20" "s21")
    ),
    store_4x4!(),
    relu_4x4!()
);

conv_kernel!(
    "fewshot_conv_c1n8k3_f32",
    bias_1x8!(),
    "",
    concat!(
        "    vldmia r1, {{s16-s25}}
    vldmia r0!, {{s26-s28}}
",
        row3!("s26", "s27", "s28")
    ),
    store_1x8!(),
    relu_1x8!()
);

// Kernel rows of 5 taps (1 x 5 series filters), unrolled: one `vldmia` of the row's n + 4
// inputs, the weights tap by tap (the registers hold no more).
conv_kernel!(
    "fewshot_conv_c2n8k5_f32",
    bias_2x8!(),
    filters_2!(),
    concat!(
        "    vldmia r1, {{s16-s27}}
",
        tap_2x8!("s28", "s29"; "s16" "s17" "s18" "s19" "s20" "s21" "s22" "s23"),
        tap_2x8!("s28", "s29"; "s17" "s18" "s19" "s20" "s21" "s22" "s23" "s24"),
        tap_2x8!("s28", "s29"; "s18" "s19" "s20" "s21" "s22" "s23" "s24" "s25"),
        tap_2x8!("s28", "s29"; "s19" "s20" "s21" "s22" "s23" "s24" "s25" "s26"),
        tap_2x8!("s28", "s29"; "s20" "s21" "s22" "s23" "s24" "s25" "s26" "s27")
    ),
    store_2x8!(),
    relu_2x8!()
);
conv_kernel!(
    "fewshot_conv_c4n4k5_f32",
    bias_4x4!(),
    filters_4!(),
    concat!(
        "    vldmia r1, {{s16-s23}}
",
        tap_4x4!("s24", "s25", "s26", "s27"; "s16" "s17" "s18" "s19"),
        tap_4x4!("s24", "s25", "s26", "s27"; "s17" "s18" "s19" "s20"),
        tap_4x4!("s24", "s25", "s26", "s27"; "s18" "s19" "s20" "s21"),
        tap_4x4!("s24", "s25", "s26", "s27"; "s19" "s20" "s21" "s22"),
        tap_4x4!("s24", "s25", "s26", "s27"; "s20" "s21" "s22" "s23")
    ),
    store_4x4!(),
    relu_4x4!()
);

/// What a plane kernel reads besides its pointers (`#[repr(C)]`, offsets fixed in the asm).
#[repr(C)]
struct PlaneGeometry {
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
    fn fewshot_conv_plane1x7s2_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
    fn fewshot_dw_plane3x3_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const PlaneGeometry);
    fn fewshot_dw_plane1x5_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const PlaneGeometry);
    fn fewshot_dw_plane3x3s2_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
    fn fewshot_dw_plane3x3n4_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
    fn fewshot_dw_plane3x3s2n4_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const PlaneGeometry,
    );
    fn fewshot_conv_c2n8_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c4n4_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c2n8k1_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c4n4k1_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c2n8k3_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c4n4k3_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c1n8k3_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c2n8k5_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c4n4k5_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c1n8_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c1n8s2_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
}

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

impl Geometry {
    /// The block kernels' geometry of `s` (the first bias `b`'s), `None` when a size does not
    /// fit 32 bits.
    fn of(s: &Shape, b: &[f32], relu: bool) -> Option<Geometry> {
        let bytes = |v: usize| v.checked_mul(4).and_then(|v| u32::try_from(v).ok());
        Some(Geometry {
            kw: u32::try_from(s.kw).ok()?,
            kh: u32::try_from(s.kh).ok()?,
            groups: u32::try_from(s.groups).ok()?,
            row_step: bytes(s.row)?,
            plane_skip: bytes(s.h * s.row - s.kh * s.row)?,
            filter_step: bytes(s.groups * s.kh * s.kw)?,
            channel_step: bytes(s.oh * s.ow)?,
            bias: b.as_ptr(),
            relu: u32::from(relu),
        })
    }
}

/// Every block of the layer (`c` channels x `n` positions each) through the block kernel `f`:
/// the whole blocks of each row, then its last block where `n` does not divide the row (at
/// `ow - n`, overlapping the one before it); the channels likewise. The caller has checked
/// [`fits`] and that the layer has at least `c` channels and `n` columns.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn blocks(
    f: BlockFn,
    mut g: Geometry,
    (c, n): (usize, usize),
    s: &Shape,
    w: &[f32],
    b: &[f32],
    x: &[f32],
    y: &mut [f32],
) {
    let (fan, plane, per) = (s.groups * s.kh * s.kw, s.h * s.row, s.oh * s.ow);
    let tail = (!s.ow.is_multiple_of(n)).then(|| s.ow - n);
    let last = (!s.co.is_multiple_of(c)).then(|| s.co - c);
    for oc0 in (0..s.co / c).map(|i| i * c).chain(last) {
        let x0 = if s.depthwise { oc0 * plane } else { 0 };
        g.bias = b.as_ptr().wrapping_add(oc0);
        let filter = w.as_ptr().wrapping_add(oc0 * fan);
        for oy in 0..s.oh {
            let (xi, yi) = (x0 + oy * s.stride * s.row, oc0 * per + oy * s.ow);
            let mut block = |ox0: usize| {
                // SAFETY: the block reads filters oc0..oc0 + c (`oc0 + c <= co`, `co * fan <=
                // w.len()`), biases oc0..oc0 + c (`co <= b.len()`), inputs of channels x0 /
                // plane.. + groups (below in_channels), rows oy s..oy s + kh (`<= h`) and
                // columns ox0 s..(ox0 + n - 1) s + kw (`ox0 + n <= ow`, so `<= row`; with
                // stride 2 its `vldmia` reads the 15 columns from the tap's, the last at (ox0 +
                // 7) 2 + tap): within `in_channels * plane <= x.len()`; it writes channels
                // oc0..oc0 + c, row oy, columns ox0..ox0 + n: within `co * per <= y.len()`
                // ([`fits`]). The kernels follow the AAPCS-VFP and touch memory only through
                // these pointers.
                unsafe {
                    f(
                        filter,
                        x.as_ptr().add(xi + ox0 * s.stride),
                        y.as_mut_ptr().add(yi + ox0),
                        &g,
                    )
                }
            };
            for i in 0..s.ow / n {
                block(i * n);
            }
            if let Some(t) = tail {
                block(t);
            }
        }
    }
}

/// A block kernel (see `conv_kernel!`).
type BlockFn = unsafe extern "C" fn(*const f32, *const f32, *mut f32, *const Geometry);

/// A plane kernel (see `plane_kernel!`).
type PlaneFn = unsafe extern "C" fn(*const f32, *const f32, *mut f32, *const PlaneGeometry);

/// [`layer`] for the plane kernels (blocks of `n` outputs): one call for every output channel,
/// outside `layer`'s block loop, for the whole blocks of every row from column 0 (`from == 0`),
/// or for one block of every row from column `from` (a row's last, overlapping block); returns the blocks of a
/// row it computed (0: none, nothing written). The caller has checked the slices and sizes as
/// for the block kernels, and the kernel's shape ([`Block::plane`]).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn planes(
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

/// What the padded copy reads besides its pointers (`#[repr(C)]`, offsets fixed in the asm).
#[repr(C)]
struct PadGeometry {
    /// Planes (channels), > 0.
    planes: u32,
    /// Rows of a plane, > 0.
    rows: u32,
    /// Values of a row.
    width: u32,
    /// Zero columns left and right of each row.
    left: u32,
    /// Zero values above (and below) each plane: padded rows x padded row length.
    top: u32,
}

/// r12 values (clobbered) of r0's words (post-incremented) to r1: sixteen at a time through
/// s0-s15 (caller-saved) while as many are left (the count's low four bits survive the
/// subtractions of 16), then eight, four, two and one by the bits of what is left (`lsls #29`:
/// carry = bit 3, negative = bit 2; `lsls #31`: bits 1 and 0), without a loop: a row of 8 costs
/// 9 instructions. Labels 1-5 (local); lr clobbered.
macro_rules! copy_run {
    () => {
        "    subs r12, r12, #16
    blo 2f
1:
    vldmia r0!, {{s0-s15}}
    vstmia r1!, {{s0-s15}}
    subs r12, r12, #16
    bhs 1b
2:
    lsls lr, r12, #29
    bcc 3f
    vldmia r0!, {{s0-s7}}
    vstmia r1!, {{s0-s7}}
3:
    bpl 4f
    vldmia r0!, {{s0-s3}}
    vstmia r1!, {{s0-s3}}
4:
    ands lr, r12, #3
    beq 5f
    lsls lr, r12, #31
    itt cs
    vldmiacs r0!, {{s0-s1}}
    vstmiacs r1!, {{s0-s1}}
    itt mi
    vldmiami r0!, {{s0}}
    vstmiami r1!, {{s0}}
5:
"
    };
}
/// r12 zeros (clobbered) to r1 (post-incremented): four at a time from r8-r11, then the last
/// two and one by the bits of what is left (`lsls #31`: carry = bit 1, negative = bit 0),
/// without a loop: a gap of two zeros between rows costs 7 instructions. Labels 1-2 (local).
macro_rules! zero_run {
    () => {
        "1:
    cmp r12, #4
    blo 2f
    stmia r1!, {{r8, r9, r10, r11}}
    subs r12, r12, #4
    b 1b
2:
    lsls r12, r12, #31
    it cs
    strdcs r8, r9, [r1], #8
    it mi
    strmi r8, [r1], #4
"
    };
}

/// A padded copy of a map of floats, `$name`: each plane's rows above, its rows with their zero
/// columns, its rows below, every value written once (the zeros between two rows, and below
/// one plane and above the next, in one run each), sixteen values at a time by
/// `vldmia`/`vstmia`; `$gap` writes the zeros between two rows, `$row` copies a row (r4 values).
/// r0 = the map, r1 = the padded map, r2 = the [`PadGeometry`]; r5 = the zeros between two
/// rows, r6 = those above a plane's first value (and below its last).
macro_rules! pad_kernel {
    ($name:literal, $gap:expr) => {
        pad_kernel!($name, $gap, concat!("    mov r12, r4\n", copy_run!()));
    };
    ($name:literal, $gap:expr, $row:expr) => {
        global_asm!(concat!(
            asm_fn_start!($name),
            "    push {{r4, r5, r6, r7, r8, r9, r10, r11, lr}}
    ldr r6, [r2, #16]
    ldm r2, {{r2, r3, r4, r5}}
    movs r8, #0
    movs r9, #0
    movs r10, #0
    movs r11, #0
    add r6, r6, r5
    lsl r5, r5, #1
7:
    mov r12, r6
",
            zero_run!(),
            "    mov r7, r3
    b 8f
0:
",
            $gap,
            "8:
",
            $row,
            "    subs r7, r7, #1
    bne 0b
    mov r12, r6
",
            zero_run!(),
            "    subs r2, r2, #1
    bne 7b
    pop {{r4, r5, r6, r7, r8, r9, r10, r11, pc}}
",
            asm_fn_end!($name)
        ));
    };
}

// Any padding: a row of 8 costs its copy (9 instructions), its run of zeros (7 for two, 12
// for four) and the loop (3), where the portable loop (`math::pad_planes`) took 68 and a
// `memclr` of the whole map.
pad_kernel!("fewshot_pad_f32", concat!("    mov r12, r5\n", zero_run!()));
// One zero column either side (padding 1, the usual): the two zeros between rows are one
// `strd`, 13 instructions for a row of 8.
pad_kernel!("fewshot_pad1_f32", "    strd r8, r9, [r1], #8\n");
// Padding 1 around rows of 16 or 8 (the usual maps of small images): a row is one `vldmia` and
// one `vstmia`, 5 instructions with its gap and the loop.
pad_kernel!(
    "fewshot_pad1w16_f32",
    "    strd r8, r9, [r1], #8\n",
    "    vldmia r0!, {{s0-s15}}\n    vstmia r1!, {{s0-s15}}\n"
);
pad_kernel!(
    "fewshot_pad1w8_f32",
    "    strd r8, r9, [r1], #8\n",
    "    vldmia r0!, {{s0-s7}}\n    vstmia r1!, {{s0-s7}}\n"
);

extern "C" {
    fn fewshot_pad_f32(x: *const f32, p: *mut f32, g: *const PadGeometry);
    fn fewshot_pad1_f32(x: *const f32, p: *mut f32, g: *const PadGeometry);
    fn fewshot_pad1w16_f32(x: *const f32, p: *mut f32, g: *const PadGeometry);
    fn fewshot_pad1w8_f32(x: *const f32, p: *mut f32, g: *const PadGeometry);
}

/// Writes the planes of `x` (`[rows, columns]` each) into `p` with `padding` zeros around each
/// (`math::pad_planes`' values): true; false, with nothing written, unless `p` holds exactly
/// the padded planes and `x` the planes (then the caller's portable copy runs).
pub fn pad(x: &[f32], [h, w]: [usize; 2], [py, px]: [usize; 2], p: &mut [f32]) -> bool {
    let (hp, wp) = (h + 2 * py, w + 2 * px);
    let planes = x.len().checked_div(h * w).unwrap_or(0);
    let fits =
        planes > 0 && planes * h * w == x.len() && Some(p.len()) == planes.checked_mul(hp * wp);
    let g = (|| {
        Some(PadGeometry {
            planes: u32::try_from(planes).ok()?,
            rows: u32::try_from(h).ok().filter(|&r| r > 0)?,
            width: u32::try_from(w).ok()?,
            left: u32::try_from(px).ok()?,
            top: u32::try_from(py.checked_mul(wp)?).ok()?,
        })
    })();
    let (true, Some(g)) = (fits, g) else {
        return false;
    };
    // SAFETY: reads the `planes * h * w == x.len()` values of `x` and writes
    // `planes * (2 top + h (2 px + w)) = planes * hp * wp == p.len()` values of `p`, each
    // once, through r0 and r1 only (AAPCS-VFP; s0-s15 are caller-saved).
    unsafe {
        match (px, w) {
            (1, 16) => fewshot_pad1w16_f32(x.as_ptr(), p.as_mut_ptr(), &g),
            (1, 8) => fewshot_pad1w8_f32(x.as_ptr(), p.as_mut_ptr(), &g),
            (1, _) => fewshot_pad1_f32(x.as_ptr(), p.as_mut_ptr(), &g),
            _ => fewshot_pad_f32(x.as_ptr(), p.as_mut_ptr(), &g),
        }
    };
    true
}

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
//! weights tap by tap: 1.14 (2 x 8) and 1.26 (4 x 4). One-row 7-tap filters over one input
//! channel at stride 2 (a series stem's first layer) run a whole output row per call, the
//! weights and bias in registers, one `vldmia` of 16 inputs for an even and an odd tap.
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
        global_asm!(concat!(
            asm_fn_start!($name),
            "    push {{r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, lr}}
    vpush {{s16-s31}}
    ldr r12, [r3, #28]
",
            $bias,
            "    ldm r3, {{r4, r5, r6, r7, r8, r9}}\n",
            $filters,
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
    ldr r2, [sp, #64]
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

/// Loads the bias at byte `$at` from r12 into the first register, then copies it into the others.
macro_rules! broadcast {
    ($at:literal, $first:literal $(, $rest:literal)*) => {
        concat!(
            "    vldr ", $first, ", [r12, #", $at, "]\n",
            $("    vmov.f32 ", $rest, ", ", $first, "\n",)*
        )
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
        broadcast!(0, "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7")
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
            broadcast!(4, "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15")
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
            broadcast!(0, "s0", "s1", "s2", "s3"),
            broadcast!(4, "s4", "s5", "s6", "s7"),
            broadcast!(8, "s8", "s9", "s10", "s11"),
            broadcast!(12, "s12", "s13", "s14", "s15")
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

/// One weight register per filter, each filter's terms over inputs `$x0..$x7`: the 2 x 8
/// block's accumulators s0-s7 (the filter in `$w0`) and s8-s15 (`$w1`).
macro_rules! mla_2x8 {
    ($w0:literal, $w1:literal; $x0:literal $x1:literal $x2:literal $x3:literal $x4:literal $x5:literal $x6:literal $x7:literal) => {
        concat!(
            vmla_w!($w0; "s0" $x0, "s1" $x1, "s2" $x2, "s3" $x3, "s4" $x4, "s5" $x5, "s6" $x6, "s7" $x7),
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
            vmla_w!("s8"; "s0" "s16", "s1" "s17", "s2" "s18", "s3" "s19", "s4" "s20", "s5" "s21", "s6" "s22", "s7" "s23")
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
            vmla_w!("s8"; "s0" "s16", "s1" "s18", "s2" "s20", "s3" "s22", "s4" "s24", "s5" "s26", "s6" "s28", "s7" "s30")
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
        vmla_w!("s26"; "s0" "s16", "s1" "s17", "s2" "s18", "s3" "s19", "s4" "s20", "s5" "s21", "s6" "s22", "s7" "s23"),
        vmla_w!("s27"; "s0" "s17", "s1" "s18", "s2" "s19", "s3" "s20", "s4" "s21", "s5" "s22", "s6" "s23", "s7" "s24"),
        vmla_w!("s28"; "s0" "s18", "s1" "s19", "s2" "s20", "s3" "s21", "s4" "s22", "s5" "s23", "s6" "s24", "s7" "s25")
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

/// What the row kernel reads besides its pointers (`#[repr(C)]`, offsets fixed in the asm).
#[repr(C)]
struct RowGeometry {
    /// Blocks of 8 outputs in the row, > 0.
    blocks: u32,
    /// The filter's bias.
    bias: *const f32,
    /// Non-zero: ReLU as the outputs are stored.
    relu: u32,
}

/// Two taps of the 7-tap stride-2 row kernel from one load of 16 inputs (r1 at the first tap's,
/// then two columns on): the even tap `$w0` over s16, s18, .., s30, the odd one `$w1` over
/// s17, .., s31.
macro_rules! taps_s2 {
    ($w0:literal, $w1:literal) => {
        concat!(
            "    vldmia r1, {{s16-s31}}\n    adds r1, r1, #8\n",
            vmla_w!($w0; "s0" "s16", "s1" "s18", "s2" "s20", "s3" "s22", "s4" "s24", "s5" "s26", "s6" "s28", "s7" "s30"),
            vmla_w!($w1; "s0" "s17", "s1" "s19", "s2" "s21", "s3" "s23", "s4" "s25", "s5" "s27", "s6" "s29", "s7" "s31")
        )
    };
}

// A whole output row of a one-row, 7-tap filter over one input channel at stride 2 (the
// series stem's first layer, 1 x 7 / 2): the 7 weights stay in s8-s14 (and the bias's address
// in r12, the block count in r0) for every block of 8 outputs, and one `vldmia` of 16 inputs serves two taps (the last tap's
// 15), so a block costs its 56 `vmla`, 4 loads and their steps, the bias broadcast and the
// store (about 89 instructions, against 168 for a call of the general 1 x 8 stride-2 kernel
// per block). Each output is its bias plus its 7 terms in tap order, as the portable loop
// adds them. r0 = the filter, r1 = the row's first input, r2 = its first output, r3 = the
// [`RowGeometry`].
global_asm!(concat!(
    asm_fn_start!("fewshot_conv_c1n8s2k7_row_f32"),
    "    push {{r4, r5, r6, r7, lr}}
    vpush {{s16-s31}}
    vldmia r0, {{s8-s14}}
    ldr r0, [r3, #0]
    ldr r12, [r3, #4]
    ldr r3, [r3, #8]
1:
",
    bias_1x8!(),
    taps_s2!("s8", "s9"),
    taps_s2!("s10", "s11"),
    taps_s2!("s12", "s13"),
    // The last tap reads 15 inputs: its window ends at the block's last input.
    "    vldmia r1, {{s16-s30}}\n",
    vmla_w!("s14"; "s0" "s16", "s1" "s18", "s2" "s20", "s3" "s22", "s4" "s24", "s5" "s26", "s6" "s28", "s7" "s30"),
    // The next block's inputs: 8 outputs at stride 2 on from this block's first, 6 taps back.
    "    adds r1, r1, #40
    cbnz r3, 2f
    vstmia r2!, {{s0-s7}}
    b 3f
2:
",
    relu_store!("s0", "s1", "s2", "s3"),
    relu_store!("s4", "s5", "s6", "s7"),
    "3:
    subs r0, r0, #1
    bne 1b
    vpop {{s16-s31}}
    pop {{r4, r5, r6, r7, pc}}
",
    asm_fn_end!("fewshot_conv_c1n8s2k7_row_f32")
));

extern "C" {
    fn fewshot_conv_c1n8s2k7_row_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const RowGeometry,
    );
    fn fewshot_conv_c2n8_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
    fn fewshot_conv_c4n4_f32(w: *const f32, x: *const f32, y: *mut f32, g: *const Geometry);
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
    /// Whole rows of 8-position blocks of a one-row 7-tap filter over one input channel at
    /// stride 2 (the series stem's 1 x 7 / 2 first layer): the weights stay in registers.
    Rows1x7S2,
}

impl Block {
    /// The kernel for rows of `ow` outputs at `stride` of a `kernel` (rows, columns) over
    /// `groups` input channels a filter, if any: 8 positions from 8 outputs, 4 channels x 4
    /// positions for rows of 4 to 7 (full convolutions at stride 1 only).
    pub fn for_row(
        depthwise: bool,
        stride: usize,
        ow: usize,
        kernel: [usize; 2],
        groups: usize,
    ) -> Option<Block> {
        match (depthwise, stride, ow) {
            (_, 2, 8..) if kernel == [1, 7] && groups == 1 => Some(Block::Rows1x7S2),
            (_, 2, 8..) => Some(Block::C1N8S2),
            (true, 1, 8..) => Some(Block::C1N8),
            (false, 1, 8..) => Some(Block::C2N8),
            (false, 1, 4..) => Some(Block::C4N4),
            _ => None,
        }
    }

    /// Output channels and positions of one call.
    pub fn size(self) -> (usize, usize) {
        match self {
            Block::C2N8 => (2, 8),
            Block::C4N4 => (4, 4),
            Block::C1N8 | Block::C1N8S2 | Block::Rows1x7S2 => (1, 8),
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

/// Every whole block of the layer: output `(c, oy, ox)` is `b[c]` plus the terms
/// `w[c][g][a][k] x[g'][oy s + a][ox s + k]` (`s` the stride) in `(g, a, k)` order (`g' = c` when depthwise, else
/// `g`), then ReLU when `relu`, for `c` below the first value returned and `ox` below the second
/// (the rest is the caller's). `(0, 0)` (nothing written) when a slice is too short, the kernel
/// does not fit the convolution or a size does not fit 32 bits.
pub fn layer(
    kind: Block,
    s: &Shape,
    relu: bool,
    w: &[f32],
    b: &[f32],
    x: &[f32],
    y: &mut [f32],
) -> (usize, usize) {
    let (c, n) = kind.size();
    let fan = s.groups * s.kh * s.kw;
    let (plane, per) = (s.h * s.row, s.oh * s.ow);
    let in_channels = if s.depthwise { s.co } else { s.groups };
    let ok = fan > 0
        && per > 0
        && (c == 1 || !s.depthwise)
        && (kind != Block::C1N8 || s.depthwise)
        && (!s.depthwise || s.groups == 1)
        && s.stride
            == if matches!(kind, Block::C1N8S2 | Block::Rows1x7S2) {
                2
            } else {
                1
            }
        && (kind != Block::Rows1x7S2 || (s.kw, s.kh, s.groups) == (7, 1, 1))
        && (s.oh - 1) * s.stride + s.kh <= s.h
        && (s.ow - 1) * s.stride + s.kw <= s.row
        && in_channels.checked_mul(plane).is_some_and(|v| v <= x.len())
        && s.co.checked_mul(fan).is_some_and(|v| v <= w.len())
        && s.co.checked_mul(per).is_some_and(|v| v <= y.len())
        && s.co <= b.len();
    let bytes = |v: usize| v.checked_mul(4).and_then(|v| u32::try_from(v).ok());
    let g = (|| {
        Some(Geometry {
            kw: u32::try_from(s.kw).ok()?,
            kh: u32::try_from(s.kh).ok()?,
            groups: u32::try_from(s.groups).ok()?,
            row_step: bytes(s.row)?,
            plane_skip: bytes(plane - s.kh * s.row)?,
            filter_step: bytes(fan)?,
            channel_step: bytes(per)?,
            bias: b.as_ptr(),
            relu: u32::from(relu),
        })
    })();
    let (true, Some(mut g)) = (ok, g) else {
        return (0, 0);
    };
    let f = match (kind, s.kw) {
        (Block::C2N8, 3) => fewshot_conv_c2n8k3_f32,
        (Block::C4N4, 3) => fewshot_conv_c4n4k3_f32,
        (Block::C2N8, 5) => fewshot_conv_c2n8k5_f32,
        (Block::C4N4, 5) => fewshot_conv_c4n4k5_f32,
        (Block::C2N8, _) => fewshot_conv_c2n8_f32,
        (Block::C4N4, _) => fewshot_conv_c4n4_f32,
        (Block::C1N8, 3) => fewshot_conv_c1n8k3_f32,
        (Block::C1N8, _) => fewshot_conv_c1n8_f32,
        (Block::C1N8S2, _) => fewshot_conv_c1n8s2_f32,
        (Block::Rows1x7S2, _) => return rows_k7s2(s, relu, w, b, x, y),
    };
    let (cdone, xdone) = (s.co - s.co % c, s.ow - s.ow % n);
    for oc0 in (0..cdone).step_by(c) {
        let x0 = if s.depthwise { oc0 * plane } else { 0 };
        for oy in 0..s.oh {
            for ox0 in (0..xdone).step_by(n) {
                // SAFETY: the block reads filters oc0..oc0 + c (below co, `co * fan <= w.len()`),
                // biases oc0..oc0 + c (`co <= b.len()`), inputs of channels x0 / plane.. +
                // groups (below in_channels), rows oy s..oy s + kh (`<= h`) and columns
                // ox0 s..(ox0 + n - 1) s + kw (`<= row`; with stride 2 its `vldmia` reads the 15
                // columns from the tap's, the last at (ox0 + 7) 2 + tap): within
                // `in_channels * plane <= x.len()`; it writes
                // channels oc0..oc0 + c, row oy, columns ox0..ox0 + n (`<= ow`): within
                // `co * per <= y.len()`. The kernels follow the AAPCS-VFP and touch memory only
                // through these pointers.
                unsafe {
                    g.bias = b.as_ptr().add(oc0);
                    f(
                        w.as_ptr().add(oc0 * fan),
                        x.as_ptr().add(x0 + oy * s.stride * s.row + ox0 * s.stride),
                        y.as_mut_ptr().add(oc0 * per + oy * s.ow + ox0),
                        &g,
                    );
                }
            }
        }
    }
    (cdone, xdone)
}

/// [`layer`] for one-row 7-tap filters over one input channel at stride 2: a call of the row
/// kernel per output row, outside `layer`'s block loop. The
/// caller has checked the slices and sizes as for the block kernels.
#[inline(never)]
fn rows_k7s2(
    s: &Shape,
    relu: bool,
    w: &[f32],
    b: &[f32],
    x: &[f32],
    y: &mut [f32],
) -> (usize, usize) {
    let (plane, per, fan) = (s.h * s.row, s.oh * s.ow, 7);
    let xdone = s.ow - s.ow % 8;
    // No block: nothing written (the kernel runs at least one).
    let Ok(blocks @ 1..) = u32::try_from(xdone / 8) else {
        return (0, 0);
    };
    for oc in 0..s.co {
        let x0 = if s.depthwise { oc * plane } else { 0 };
        for oy in 0..s.oh {
            let row = RowGeometry {
                blocks,
                // SAFETY: `oc < co <= b.len()`.
                bias: unsafe { b.as_ptr().add(oc) },
                relu: u32::from(relu),
            };
            // SAFETY: as for the block kernels in [`layer`], for every block of the row at
            // once: filter oc (7 weights, `co * fan <= w.len()`), its bias, inputs of channel
            // x0 / plane, row oy * 2, columns up to (xdone - 1) 2 + 6 (`< row`: each block's
            // loads end at its last output's last tap, the last block's at column
            // (xdone - 8) 2 + 20); outputs of channel oc, row oy, columns 0..xdone (`<= ow`).
            // AAPCS-VFP, memory only through these pointers.
            unsafe {
                fewshot_conv_c1n8s2k7_row_f32(
                    w.as_ptr().add(oc * fan),
                    x.as_ptr().add(x0 + oy * s.stride * s.row),
                    y.as_mut_ptr().add(oc * per + oy * s.ow),
                    &row,
                );
            }
        }
    }
    (s.co, xdone)
}

//! The block kernels (see [`super`]): `C` output channels x `N` consecutive output positions of
//! one output row, and the macros they share with the plane kernels.

use super::Shape;
use core::arch::global_asm;

/// What a block kernel reads besides its pointers (`#[repr(C)]`, offsets fixed in the asm).
#[repr(C)]
pub(super) struct Geometry {
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

extern "C" {
    pub(super) fn fewshot_conv_c2n8_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c4n4_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c2n8k1_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c4n4k1_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c2n8k3_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c4n4k3_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c1n8k3_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c2n8k5_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c4n4k5_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c1n8_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
    pub(super) fn fewshot_conv_c1n8s2_f32(
        w: *const f32,
        x: *const f32,
        y: *mut f32,
        g: *const Geometry,
    );
}

impl Geometry {
    /// The block kernels' geometry of `s` (the first bias `b`'s), `None` when a size does not
    /// fit 32 bits.
    pub(super) fn of(s: &Shape, b: &[f32], relu: bool) -> Option<Geometry> {
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
pub(super) fn blocks(
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
pub(super) type BlockFn = unsafe extern "C" fn(*const f32, *const f32, *mut f32, *const Geometry);

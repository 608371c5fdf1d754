//! Cortex-M4F kernels of [`super::kernel`]: the DSP extension's `SMLAD` (two 16 x 16-bit
//! products added to a 32-bit accumulator in one instruction) on weights widened by `SXTB16`
//! (bytes 0 and 2, or rotated by 8 bytes 1 and 3, sign-extended into two int16 lanes), as
//! CMSIS-NN's `arm_nn_mat_mult_kernel_s8_s16` does.
//!
//! The loops are plain AAPCS functions (`global_asm!`): LLVM's own code for them kept the
//! accumulators of several columns on the stack. Four columns take every core register: one
//! `LDR` of four weights, two `SXTB16`, two `LDM` of the four columns' eight words and eight
//! `SMLAD`, 13 instructions per 16 multiply-accumulates; two rows over one column (dense layers
//! at batch 1, where each weight is used once) 11 per 8. A row's last 1-3 weights are read
//! byte by byte, with zeros above them, as the portable code pads them. The convolutions' run
//! of output channels over four columns (`fewshot_dot_c4n_rq_s8`) loops over the channels in
//! one call, each channel's four accumulators requantised in the short form (`SMMLAR` adding
//! the rounding and the zero point, the sign, the shift, `SSAT`: 6 instructions an output)
//! before the next channel's blocks.
//!
//! The sums are the portable kernels' exactly: every product fits 32 bits and `SMLAD` keeps
//! the low 32 bits of the exact sum (it only sets the Q flag on overflow), which is the
//! portable code's wrapping addition; integer addition does not depend on the order.

use super::kernel;
use core::arch::global_asm;

/// One block of four weights (in r12) against four interleaved packed columns (r1
/// post-incremented): accumulators r4, r5, r8, r9; r6, r7, r10, r11 and lr are scratch.
macro_rules! widened_c4 {
    () => {
        "    sxtb16 lr, r12, ror #8
    sxtb16 r12, r12
    ldm r1!, {{r6, r7, r10, r11}}
    smlad r4, r12, r6, r4
    smlad r4, lr, r7, r4
    smlad r5, r12, r10, r5
    smlad r5, lr, r11, r5
    ldm r1!, {{r6, r7, r10, r11}}
    smlad r8, r12, r6, r8
    smlad r8, lr, r7, r8
    smlad r9, r12, r10, r9
    smlad r9, lr, r11, r9
"
    };
}

/// [`widened_c4`] with its four weights loaded from r0 (post-incremented).
macro_rules! block_c4 {
    () => {
        concat!("    ldr r12, [r0], #4\n", widened_c4!())
    };
}

/// The blocks of one weight row (r0 = weights, r2 = how many) against four packed columns
/// (r1), added to the accumulators r4, r5, r8, r9: in pairs (an odd one first), then the last
/// 1-3 weights with zeros above them; ends at label 4. r3 and r6-r12, lr are scratch.
macro_rules! blocks_c4 {
    () => {
        concat!(
            "    lsrs r3, r2, #3
    tst r2, #4
    beq 1f
",
            block_c4!(),
            "1:
    cbz r3, 3f
2:
",
            block_c4!(),
            block_c4!(),
            "    subs r3, r3, #1
    bne 2b
3:
    ands r2, r2, #3
    beq 4f
    ldrb r12, [r0]
    cmp r2, #2
    blo 5f
    ldrb lr, [r0, #1]
    orr r12, r12, lr, lsl #8
    beq 5f
    ldrb lr, [r0, #2]
    orr r12, r12, lr, lsl #16
5:
",
            widened_c4!(),
            "4:
"
        )
    };
}

/// The body of the four-column kernels (r0 = weights, r1 = packed columns, r2 = weights in
/// the row, r3 = the four accumulators' start): r3 pushed, the accumulators in r4, r5, r8, r9,
/// [`blocks_c4`]; ends at label 4 with r3 still pushed.
macro_rules! dot_c4_body {
    () => {
        concat!(
            "    push {{r3, r4, r5, r6, r7, r8, r9, r10, r11, lr}}
    ldm r3, {{r4, r5, r8, r9}}
",
            blocks_c4!()
        )
    };
}

/// The short requantisation (`Short::apply4`) of accumulator `$a` into byte `$o` of r7, with
/// the multiplier in r0, the right shift in r1 and the offset (`2^(right - 1) + zp 2^right`)
/// in r2: `SMMLAR` of `2a` is the offset plus the rounding high multiply, the rounding shift
/// subtracts `[a < 0]`, `SSAT` clamps to int8. r10 is scratch.
macro_rules! short_rq {
    ($a:literal, $o:literal) => {
        concat!(
            "    lsl r10, ",
            $a,
            ", #1
    smmlar r10, r10, r0, r2
    add r10, r10, ",
            $a,
            ", asr #31
    asr r10, r10, r1
    ssat r10, #8, r10
    strb r10, [r7, #",
            $o,
            "]
"
        )
    };
}

/// Branches to 18 when one of the accumulators r4, r5, r8, r9 is 2^30 or more in magnitude
/// (`a ^ (a >> 31)` is `|a|` or `|a| - 1`); r6 and r7 are scratch.
macro_rules! check_2_30 {
    () => {
        "    eor r6, r4, r4, asr #31
    eor r7, r5, r5, asr #31
    orr r6, r6, r7
    eor r7, r8, r8, asr #31
    orr r6, r6, r7
    eor r7, r9, r9, asr #31
    orr r6, r6, r7
    cmp r6, #0x40000000
    bhs 18f
"
    };
}

/// The channel kernel `$name`: r0 = the `RunArgs`. For each channel until `bias` reaches
/// `bias_end`: the accumulators from `*bias`, the blocks of `fewshot_dot_c4_s8` over the `fan`
/// weights at `w` (advanced by `fan` first), then `$check` (empty, or [`check_2_30`]: a
/// channel with an accumulator of 2^30 or more is handed back, its accumulators stored in
/// `acc` and `bias` left at it), then the short requantisation of the four into `out` (advanced
/// by `step`) with the multiplier and shift at `bias + multiplier_off` and `bias + shift_off`
/// and the offset `((2 zp + 1) << right) >> 1 = 2^(right - 1) + zp 2^right`, and `bias`
/// advanced. [sp] = the arguments.
macro_rules! dot_c4n_rq {
    ($name:literal, $check:expr) => {
        concat!(
            asm_fn_start!($name),
            "    push {{r4, r5, r6, r7, r8, r9, r10, r11, lr}}
    sub sp, #4
    str r0, [sp]
10:
    ldr r3, [sp]
    ldrd r1, r2, [r3, #12]
    cmp r2, r1
    beq 19f
    ldr r4, [r2]
    mov r5, r4
    mov r8, r4
    mov r9, r4
    ldm r3, {{r0, r1, r2}}
    add r12, r0, r2
    str r12, [r3]
",
            blocks_c4!(),
            $check,
            "    ldr r3, [sp]
    ldrd r11, r12, [r3, #16]
    ldr lr, [r3, #24]
    ldr r0, [r11, r12]
    ldr r1, [r11, lr]
    add r11, r11, #4
    str r11, [r3, #16]
    rsbs r1, r1, #0
    ldrd r7, r12, [r3, #28]
    ldr r6, [r3, #36]
    lsl r2, r6, r1
    asr r2, r2, #1
    add r12, r12, r7
    str r12, [r3, #28]
",
            short_rq!("r4", "0"),
            short_rq!("r5", "1"),
            short_rq!("r8", "2"),
            short_rq!("r9", "3"),
            "    b 10b
18:
    ldr r3, [sp]
    add r3, r3, #40
    stm r3, {{r4, r5, r8, r9}}
19:
    add sp, #4
    pop {{r4, r5, r6, r7, r8, r9, r10, r11, pc}}
",
            asm_fn_end!($name)
        )
    };
}

/// One block of two rows (in r8 and r10) against one packed column (r2 post-incremented):
/// accumulators r4, r5; r6, r7, r9 and r11 are scratch.
macro_rules! widened_r2 {
    () => {
        "    ldrd r6, r7, [r2], #8
    sxtb16 r9, r8, ror #8
    sxtb16 r8, r8
    sxtb16 r11, r10, ror #8
    sxtb16 r10, r10
    smlad r4, r8, r6, r4
    smlad r4, r9, r7, r4
    smlad r5, r10, r6, r5
    smlad r5, r11, r7, r5
"
    };
}

/// [`widened_r2`] with its weights loaded from r0 and r1 (post-incremented).
macro_rules! block_r2 {
    () => {
        concat!(
            "    ldr r8, [r0], #4\n",
            "    ldr r10, [r1], #4\n",
            widened_r2!()
        )
    };
}

global_asm!(
    ".syntax unified",
    ".thumb",
    ".section .text.fewshot_dot_c4_s8,\"ax\",%progbits",
    ".global fewshot_dot_c4_s8",
    ".type fewshot_dot_c4_s8,%function",
    ".thumb_func",
    ".p2align 2",
    // r0 = weights, r1 = packed columns, r2 = weights in the row, r3 = the four accumulators.
    // Blocks in pairs (an odd one first), then the last 1-3 weights with zeros above them.
    "fewshot_dot_c4_s8:",
    dot_c4_body!(),
    "    pop {{r3}}",
    "    stm r3, {{r4, r5, r8, r9}}",
    "    pop {{r4, r5, r6, r7, r8, r9, r10, r11, pc}}",
    ".size fewshot_dot_c4_s8, . - fewshot_dot_c4_s8",
    "",
    dot_c4n_rq!("fewshot_dot_c4n_rq_s8", check_2_30!()),
    dot_c4n_rq!("fewshot_dot_c4n_rqb_s8", ""),
    "",
    ".section .text.fewshot_dot_r2_s8,\"ax\",%progbits",
    ".global fewshot_dot_r2_s8",
    ".type fewshot_dot_r2_s8,%function",
    ".thumb_func",
    ".p2align 2",
    // r0, r1 = the two weight rows, r2 = the packed column, r3 = weights in a row,
    // [sp] = the two accumulators. Blocks as in `fewshot_dot_c4_s8`.
    "fewshot_dot_r2_s8:",
    "    push {{r4, r5, r6, r7, r8, r9, r10, r11, lr}}",
    "    ldr r12, [sp, #36]",
    "    ldm r12, {{r4, r5}}",
    "    lsrs lr, r3, #3",
    "    tst r3, #4",
    "    beq 1f",
    block_r2!(),
    "1:",
    "    cmp lr, #0",
    "    beq 3f",
    "2:",
    block_r2!(),
    block_r2!(),
    "    subs lr, lr, #1",
    "    bne 2b",
    "3:",
    "    ands r3, r3, #3",
    "    beq 4f",
    "    ldrb r8, [r0]",
    "    ldrb r10, [r1]",
    "    cmp r3, #2",
    "    blo 5f",
    "    ldrb r9, [r0, #1]",
    "    ldrb r11, [r1, #1]",
    "    orr r8, r8, r9, lsl #8",
    "    orr r10, r10, r11, lsl #8",
    "    beq 5f",
    "    ldrb r9, [r0, #2]",
    "    ldrb r11, [r1, #2]",
    "    orr r8, r8, r9, lsl #16",
    "    orr r10, r10, r11, lsl #16",
    "5:",
    widened_r2!(),
    "4:",
    "    stm r12, {{r4, r5}}",
    "    pop {{r4, r5, r6, r7, r8, r9, r10, r11, pc}}",
    ".size fewshot_dot_r2_s8, . - fewshot_dot_r2_s8",
);

/// The end of the three-row kernels' loop (which keep the row's first window at [sp] and its
/// count at [sp + 4] below their saved registers, the rows left at [sp + 52] and the bytes
/// between rows' first windows at [sp + 56]): the next output (or pair) of the row at label 1
/// while r3 counts down; then the next row, r0 = its first window and r3 = the count (r2
/// scratch), 9 instructions; after the last row the return.
macro_rules! taps3_loop_end {
    () => {
        "    subs r3, r3, #1
    bne 1b
    ldr r2, [sp, #52]
    subs r2, r2, #1
    beq 9f
    str r2, [sp, #52]
    ldrd r0, r3, [sp]
    ldr r2, [sp, #56]
    add r0, r0, r2
    str r0, [sp]
    b 1b
9:
    add sp, #8
    pop {{r4, r5, r6, r7, r8, r9, r10, r11, pc}}
"
    };
}

/// The direct taps of a kernel of three rows of up to four columns, `$stride` bytes between
/// windows: r0 = the first window's first row (post-incremented by the stride), r1 = bytes per
/// padded row, r2 = outputs per row (> 0), r3 = the six int16 pairs `[w0 w2], [w1 w3]` of the
/// three rows; [sp] = the accumulators' start, [sp + 4] = where they go (one row's after the
/// other's), [sp + 8] = output rows (> 0), [sp + 12] = bytes between their first windows. Per
/// output three `LDR`, six `SXTB16` and six `SMLAD`, the first adding to the start value: 19
/// instructions for up to 12 multiply-accumulates; 9 more a row ([`taps3_loop_end`]). Every
/// weight stays in a register (r4-r9).
macro_rules! taps3 {
    ($name:literal, $stride:literal) => {
        concat!(
            asm_fn_start!($name),
            "    push {{r4, r5, r6, r7, r8, r9, r10, r11, lr}}
    ldm r3, {{r4, r5, r6, r7, r8, r9}}
    ldr r10, [sp, #36]
    ldr r11, [sp, #40]
    sub sp, #8
    str r0, [sp]
    str r2, [sp, #4]
    mov r3, r2
1:
    ldr lr, [r0]
    sxtb16 r2, lr, ror #8
    sxtb16 lr, lr
    smlad r12, lr, r4, r10
    smlad r12, r2, r5, r12
    ldr lr, [r0, r1]
    sxtb16 r2, lr, ror #8
    sxtb16 lr, lr
    smlad r12, lr, r6, r12
    smlad r12, r2, r7, r12
    ldr lr, [r0, r1, lsl #1]
    sxtb16 r2, lr, ror #8
    sxtb16 lr, lr
    smlad r12, lr, r8, r12
    smlad r12, r2, r9, r12
    str r12, [r11], #4
    add r0, r0, #",
            $stride,
            "
",
            taps3_loop_end!(),
            asm_fn_end!($name)
        )
    };
}

/// One kernel row of two neighbouring outputs at stride 1 (`$load` its window word into lr,
/// `$w02` / `$w13` its weight pairs, the second's high lane 0: at most three columns): the
/// word's `SXTB16` halves give the first output's `[x0, x2]` and `[x1, x3]`, the second's
/// `[x1, x3]` (the same) and, rotated by 16, `[x2, x0]` against `[w1, 0]`. Accumulators r12
/// (first) and r10; r2 and lr scratch.
macro_rules! taps_pair_row {
    ($load:literal, $w02:literal, $w13:literal) => {
        concat!(
            "    ",
            $load,
            "
    sxtb16 r2, lr
    smlad r12, r2, ",
            $w02,
            ", r12
    sxtb16 r2, lr, ror #8
    smlad r12, r2, ",
            $w13,
            ", r12
    smlad r10, r2, ",
            $w02,
            ", r10
    sxtb16 r2, lr, ror #16
    smlad r10, r2, ",
            $w13,
            ", r10
"
        )
    };
}

global_asm!(
    ".syntax unified",
    ".thumb",
    taps3!("fewshot_taps3_s1_s8", "1"),
    taps3!("fewshot_taps3_s2_s8", "2"),
    // The stride-1 taps of a kernel of three rows of at most three columns, two outputs at a
    // time (`taps3!`'s arguments; n even, > 0): a window's word serves both outputs (see
    // `taps_pair_row!`), 29 instructions per two outputs instead of 38.
    asm_fn_start!("fewshot_taps3_s1p_s8"),
    "    push {{r4, r5, r6, r7, r8, r9, r10, r11, lr}}
    ldm r3, {{r4, r5, r6, r7, r8, r9}}
    ldr r11, [sp, #40]
    sub sp, #8
    lsrs r3, r2, #1
    str r0, [sp]
    str r3, [sp, #4]
1:
    ldr r12, [sp, #44]
    mov r10, r12
",
    taps_pair_row!("ldr lr, [r0]", "r4", "r5"),
    taps_pair_row!("ldr lr, [r0, r1]", "r6", "r7"),
    taps_pair_row!("ldr lr, [r0, r1, lsl #1]", "r8", "r9"),
    "    strd r12, r10, [r11], #8
    adds r0, r0, #2
",
    taps3_loop_end!(),
    asm_fn_end!("fewshot_taps3_s1p_s8"),
);

/// Declares the three-row kernels `taps3!` defines, with their one signature.
macro_rules! taps3_extern {
    ($($name:ident),*) => {
        extern "C" {
            $(fn $name(
                x: *const i8,
                wp: usize,
                n: usize,
                k: *const [u32; 6],
                base: i32,
                out: *mut i32,
                rows: usize,
                row_step: usize,
            );)*
        }
    };
}

taps3_extern!(
    fewshot_taps3_s1_s8,
    fewshot_taps3_s2_s8,
    fewshot_taps3_s1p_s8
);

/// The argument block of the channel kernels (`dot_c4n_rq!`; the offsets their code reads).
#[repr(C)]
struct RunArgs {
    w: *const i8,
    x: *const u32,
    fan: usize,
    bias_end: *const i32,
    bias: *const i32,
    /// Bytes from a channel's bias to its multiplier (wrapping).
    multiplier_off: usize,
    /// Bytes from a channel's bias to its shift (wrapping).
    shift_off: usize,
    out: *mut i8,
    step: usize,
    /// `2 out_zp + 1`.
    zp2: i32,
    acc: [i32; 4],
}

extern "C" {
    fn fewshot_dot_c4_s8(w: *const i8, x: *const u32, n: usize, acc: *mut [i32; 4]);
    fn fewshot_dot_c4n_rq_s8(args: *mut RunArgs);
    fn fewshot_dot_c4n_rqb_s8(args: *mut RunArgs);
    fn fewshot_dot_r2_s8(w0: *const i8, w1: *const i8, x: *const u32, n: usize, acc: *mut [i32; 2]);
}

/// See [`super::kernel::dot_c1`].
#[inline(always)]
pub fn dot_c1(w: &[i8], x: &[u32], acc: i32) -> i32 {
    kernel::dot_c1(w, x, acc)
}

/// See [`super::kernel::dot_r2c1`]: the portable code unless both rows have the same length
/// and `x` all their blocks.
#[inline(always)]
pub fn dot_r2c1(w0: &[i8], w1: &[i8], x: &[u32], acc: [i32; 2]) -> [i32; 2] {
    let n = w0.len();
    if n != w1.len() || x.len() < n.div_ceil(4) * 2 {
        return kernel::dot_r2c1(w0, w1, x, acc);
    }
    let mut a = acc;
    // SAFETY: `w0` and `w1` hold `n` bytes and `x` the `2 ceil(n / 4)` words the function
    // reads; it writes only `a` and follows the AAPCS.
    unsafe { fewshot_dot_r2_s8(w0.as_ptr(), w1.as_ptr(), x.as_ptr(), n, &mut a) };
    a
}

/// See [`super::kernel::dot_c4`]: the portable code unless `x` holds all the row's blocks.
#[inline(always)]
pub fn dot_c4(w: &[i8], x: &[u32], acc: [i32; 4]) -> [i32; 4] {
    if x.len() < w.len().div_ceil(4) * 8 {
        return kernel::dot_c4(w, x, acc);
    }
    let mut a = acc;
    // SAFETY: `w` holds the `n` bytes and `x` the `8 ceil(n / 4)` words the function reads;
    // it writes only `a` and follows the AAPCS.
    unsafe { fewshot_dot_c4_s8(w.as_ptr(), x.as_ptr(), w.len(), &mut a) };
    a
}

/// See [`super::Kernels::dot_c4_channels`]: the portable code unless `x` holds every block of
/// a row, `run` every channel's weights and `out` every channel's four outputs.
#[inline(always)]
pub fn dot_c4_channels(
    run: &super::ShortRun,
    x: &[u32],
    (out, step): (&mut [i8], usize),
    acc: &mut [i32; 4],
) -> usize {
    let n = run.len();
    let fan = run.fan();
    let (weights, [bias, multiplier, shift]) = run.parts();
    // `ShortRun::new` checked `n fan` weights and `n` of each per-channel slice, and every
    // shift; what remains is `x` and `out`.
    let fits = x.len() >= fan.div_ceil(4) * 8
        && n.checked_sub(1)
            .and_then(|l| l.checked_mul(step)?.checked_add(4))
            .is_some_and(|o| o <= out.len());
    if !fits || n == 0 {
        return kernel_channels(run, x, (out, step), acc);
    }
    let at = |p: *const i32| (p as usize).wrapping_sub(bias.as_ptr() as usize);
    let mut args = RunArgs {
        w: weights.as_ptr(),
        x: x.as_ptr(),
        fan,
        bias_end: bias.as_ptr_range().end,
        bias: bias.as_ptr(),
        multiplier_off: at(multiplier.as_ptr()),
        shift_off: at(shift.as_ptr()),
        out: out.as_mut_ptr(),
        step,
        zp2: 2 * run.out_zp() + 1,
        acc: *acc,
    };
    // SAFETY: `run` holds the `n fan` weights and the `n` biases, multipliers and shifts the
    // function reads (`ShortRun::new`), `x` the `8 ceil(fan / 4)` words of every channel's
    // blocks and `out` the `(n - 1) step + 4` bytes it writes (`fits` above); it writes only
    // those and `args`, and follows the AAPCS. Every shift is a right shift of 1 to
    // `MAX_SHORT_RIGHT` bits and the zero point is in int8 range (`ShortRun::new`); the kernel
    // without the 2^30 test runs only when `ShortRun::bounded` says no accumulator reaches it.
    unsafe {
        if run.bounded() {
            fewshot_dot_c4n_rqb_s8(&mut args);
        } else {
            fewshot_dot_c4n_rq_s8(&mut args);
        }
    }
    *acc = args.acc;
    (args.bias as usize).wrapping_sub(bias.as_ptr() as usize) / 4
}

/// [`super::Kernels::dot_c4_channels`]'s portable loop.
fn kernel_channels(
    run: &super::ShortRun,
    x: &[u32],
    out: (&mut [i8], usize),
    acc: &mut [i32; 4],
) -> usize {
    <super::Portable as super::Kernels>::dot_c4_channels(run, x, out, acc)
}

/// See [`super::Kernels::taps3`]: the `fewshot_taps3_*` kernels for strides 1 and 2, one
/// call per output row.
#[inline(always)]
pub fn taps3(run: &super::Taps3, acc: &mut [i32]) -> bool {
    let n = run.per_row;
    if n == 0 || !acc.len().is_multiple_of(n) || !matches!(run.stride, 1 | 2) {
        return false;
    }
    // The last output row's last window's third row ends `(rows - 1) row_step + 2 wp + x0 +
    // (n - 1) stride + 4` bytes in.
    let end = (acc.len() / n)
        .checked_sub(1)
        .and_then(|r| r.checked_mul(run.row_step))
        .and_then(|v| v.checked_add((n - 1).checked_mul(run.stride)?))
        .and_then(|v| {
            v.checked_add(run.x0)?
                .checked_add(4)?
                .checked_add(run.wp.checked_mul(2)?)
        });
    if !matches!(end, Some(e) if e <= run.rows.len()) {
        return false;
    }
    let kernel = match run.stride {
        1 => fewshot_taps3_s1_s8,
        _ => fewshot_taps3_s2_s8,
    };
    // At stride 1 a kernel of at most three columns (every `[w1, w3]` pair's high lane 0) runs
    // two outputs per window word; an odd row's last output through the one-output kernel.
    let pairs = run.stride == 1 && [1, 3, 5].iter().all(|&i| run.k[i] >> 16 == 0);
    let even = if pairs { n & !1 } else { 0 };
    let rows = acc.len() / n;
    let x = run.rows.as_ptr().wrapping_add(run.x0);
    // SAFETY: every word the kernels read lies in `rows` (`end` above: each output row's
    // windows end at most where the last row's do; the pair kernel reads output j's window
    // word for outputs j and j + 1), they write the `n > 0` accumulators of each of the
    // `rows > 0` rows of `acc` (`even` of each by the pair kernel, the rest after them), and
    // follow the AAPCS.
    unsafe {
        if even == 0 || even == n {
            // Whole rows through one kernel, every row in one call.
            let kernel = if even == n {
                fewshot_taps3_s1p_s8
            } else {
                kernel
            };
            kernel(
                x,
                run.wp,
                n,
                &run.k,
                run.base,
                acc.as_mut_ptr(),
                rows,
                run.row_step,
            );
        } else {
            let mut x = x;
            for row in acc.chunks_exact_mut(n) {
                let out = row.as_mut_ptr();
                fewshot_taps3_s1p_s8(x, run.wp, even, &run.k, run.base, out, 1, 0);
                let (xt, ot) = (x.wrapping_add(even), out.wrapping_add(even));
                kernel(xt, run.wp, n - even, &run.k, run.base, ot, 1, 0);
                x = x.wrapping_add(run.row_step);
            }
        }
    }
    true
}

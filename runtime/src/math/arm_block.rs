//! Cortex-M4F/M7 (hard-float) kernels of the inner loop's backward pass (see [`super::block`]),
//! one call per layer:
//!
//! - `fewshot_columns8_f32`: every block of 8 columns of a dense layer, every row, every sample.
//!   Per row `i` it keeps the row's 8 old weights and 8 gradient accumulators in registers and,
//!   per sample `s`, adds `delta[s][i] a[s][j0..j0 + 8]` to the gradient and
//!   `delta[s][i] W[i][j0..j0 + 8]` to the sample's backpropagation accumulators (in memory);
//!   then the row is updated, `W -= rate * clip(g)`, and stored; then the previous layer's
//!   deltas (ReLU or identity derivative) replace the block's inputs. Without backpropagation
//!   rows go in pairs, sharing each load of the inputs.
//! - `fewshot_column1_f32`: the same for a one-column layer without backpropagation.
//! - `fewshot_bias8_f32`: biases 8 at a time, `b -= rate * clip(-0.0 + sum_s delta[s][i])`.
//!
//! The portable code computes the same terms in the same order (a block's backpropagation is a
//! sum over rows, ascending; a gradient a sum over samples, ascending, from `+0.0`, `-0.0` for
//! a bias): one `vmla.f32` (multiply, round, add, round: not fused) per term, `vmls.f32` for the
//! update, so the bits are the same. `firmware/tests/kernels.rs` checks it on the target.
//!
//! The clip `clamp(g, c)` costs 4 instructions when `|g| <= c` (or unordered), which keeps `g`;
//! otherwise `g > 0` picks `c`, else `-c`: what [`super::clamp`] returns when `c >= 0` (the
//! kernels are not used for a negative clip).

use super::block::{Backprop, Columns, Rate};
use crate::Activation;
use core::arch::global_asm;

global_asm!(
    ".syntax unified",
    ".thumb",
    ".fpu fpv4-sp-d16",
    // w -= r * clamp(g, c), with s31 = c >= 0, s30 = -c; s24 is clobbered. Beyond the clip,
    // `g > 0` picks `c`, else `-c`: the same as `g > c` then `g < -c` when `c >= 0`.
    ".macro fewshot_clip_step w, g, r",
    "    vabs.f32 s24, \\g",
    "    vcmp.f32 s24, s31",
    "    vmrs APSR_nzcv, fpscr",
    "    ble 7f",
    "    vcmp.f32 \\g, #0",
    "    vmrs APSR_nzcv, fpscr",
    "    ite gt",
    "    vmovgt.f32 \\g, s31",
    "    vmovle.f32 \\g, s30",
    "7:",
    "    vmls.f32 \\w, \\r, \\g",
    ".endm",
    // a = t * (a > 0 ? 1.0 : 0.0), with s26 = 1.0, s25 = +0.0 (ReLU's derivative).
    ".macro fewshot_relu_back a, t",
    "    vcmp.f32 \\a, #0",
    "    vmrs APSR_nzcv, fpscr",
    "    ite gt",
    "    vmulgt.f32 \\a, \\t, s26",
    "    vmulle.f32 \\a, \\t, s25",
    ".endm",
    "",
    // r0 = &ColumnsArgs (see the struct below).
    ".section .text.fewshot_columns8_f32,\"ax\",%progbits",
    ".global fewshot_columns8_f32",
    ".type fewshot_columns8_f32,%function",
    ".thumb_func",
    ".p2align 2",
    "fewshot_columns8_f32:",
    "    push {{r4, r5, r6, r7, r8, r9, r10, r11, lr}}",
    "    vpush {{s16-s31}}",
    // [sp, #0..32): eight +0.0; [sp, #32]: the activation mode; [sp, #36]: the byte stride
    // between rows of rates; [sp, #40..72): eight copies of the one rate; [sp, #72]: `W` and
    // [sp, #76]: the rates at the block's first row; [sp, #80]: the rates' step from one block
    // to the next (32 or 0); [sp, #84]: blocks left; [sp, #88]: `delta[0][0]`; [sp, #92]: rows;
    // [sp, #96..128): the second row's gradient of a pair (waiting while r8 = 1).
    "    sub sp, sp, #128",
    "    movs r6, #0",
    "    movs r7, #0",
    "    strd r6, r7, [sp]",
    "    strd r6, r7, [sp, #8]",
    "    strd r6, r7, [sp, #16]",
    "    strd r6, r7, [sp, #24]",
    "    vmov s25, r6",
    "    vmov.f32 s26, #1.0",
    "    ldr r12, [r0, #44]",
    "    str r12, [sp, #32]",
    "    ldr r1, [r0, #0]",
    "    ldr r11, [r0, #4]",
    "    ldr r2, [r0, #8]",
    "    ldr r9, [r0, #12]",
    "    ldr r3, [r0, #16]",
    "    ldr r10, [r0, #20]",
    "    ldr r4, [r0, #24]",
    "    ldr r5, [r0, #28]",
    "    str r1, [sp, #72]",
    "    movs r8, #0",
    "    str r2, [sp, #88]",
    "    ldr r12, [r0, #40]",
    "    str r12, [sp, #92]",
    "    ldr r12, [r0, #52]",
    "    str r12, [sp, #84]",
    "    movs r12, #32",
    "    str r12, [sp, #80]",
    "    str r11, [sp, #36]",
    "    cmp r5, #0",
    "    bne .Lfewshot_cols_rates",
    // One rate: eight copies on the stack, read with a zero stride.
    "    ldr r12, [r0, #32]",
    "    str r12, [sp, #40]",
    "    str r12, [sp, #44]",
    "    str r12, [sp, #48]",
    "    str r12, [sp, #52]",
    "    str r12, [sp, #56]",
    "    str r12, [sp, #60]",
    "    str r12, [sp, #64]",
    "    str r12, [sp, #68]",
    "    add r5, sp, #40",
    "    movs r12, #0",
    "    str r12, [sp, #36]",
    "    str r12, [sp, #80]",
    ".Lfewshot_cols_rates:",
    "    str r5, [sp, #76]",
    "    vldr s31, [r0, #36]",
    "    vneg.f32 s30, s31",
    "    ldr r0, [r0, #48]",
    // One block of 8 columns: r3 its inputs; r1, r2, r5 its row pointers.
    ".Lfewshot_cols_block:",
    "    ldr r1, [sp, #72]",
    "    ldr r2, [sp, #88]",
    "    ldr r5, [sp, #76]",
    "    ldr lr, [sp, #92]",
    // Backpropagation accumulators start at +0.0.
    "    cmp r4, #0",
    "    beq .Lfewshot_cols_row",
    "    vldmia sp, {{s16-s23}}",
    "    mov r8, r4",
    "    mov r12, r0",
    ".Lfewshot_cols_zero:",
    "    vstmia r8!, {{s16-s23}}",
    "    subs r12, r12, #1",
    "    bne .Lfewshot_cols_zero",
    // One row: s0-s7 its old weights, s8-s15 its gradient, s24 the delta.
    ".Lfewshot_cols_row:",
    "    vldmia sp, {{s8-s15}}",
    "    mov r6, r2",
    "    mov r7, r3",
    "    mov r12, r0",
    "    cmp r4, #0",
    "    bne .Lfewshot_cols_back0",
    // Without backpropagation, rows go in pairs while two are left.
    "    cmp lr, #2",
    "    bhs .Lfewshot_cols_pair",
    "    vldmia r1, {{s0-s7}}",
    "    b .Lfewshot_cols_grad",
    ".Lfewshot_cols_back0:",
    "    vldmia r1, {{s0-s7}}",
    "    mov r8, r4",
    ".Lfewshot_cols_back:",
    "    vldr s24, [r6]",
    "    add r6, r6, r9",
    "    vldmia r7, {{s16-s23}}",
    "    add r7, r7, r10",
    "    vmla.f32 s8, s24, s16",
    "    vmla.f32 s9, s24, s17",
    "    vmla.f32 s10, s24, s18",
    "    vmla.f32 s11, s24, s19",
    "    vmla.f32 s12, s24, s20",
    "    vmla.f32 s13, s24, s21",
    "    vmla.f32 s14, s24, s22",
    "    vmla.f32 s15, s24, s23",
    "    vldmia r8, {{s16-s23}}",
    "    vmla.f32 s16, s24, s0",
    "    vmla.f32 s17, s24, s1",
    "    vmla.f32 s18, s24, s2",
    "    vmla.f32 s19, s24, s3",
    "    vmla.f32 s20, s24, s4",
    "    vmla.f32 s21, s24, s5",
    "    vmla.f32 s22, s24, s6",
    "    vmla.f32 s23, s24, s7",
    "    vstmia r8!, {{s16-s23}}",
    "    subs r12, r12, #1",
    "    bne .Lfewshot_cols_back",
    "    b .Lfewshot_cols_update",
    ".Lfewshot_cols_grad:",
    "    vldr s24, [r6]",
    "    add r6, r6, r9",
    "    vldmia r7, {{s16-s23}}",
    "    add r7, r7, r10",
    "    vmla.f32 s8, s24, s16",
    "    vmla.f32 s9, s24, s17",
    "    vmla.f32 s10, s24, s18",
    "    vmla.f32 s11, s24, s19",
    "    vmla.f32 s12, s24, s20",
    "    vmla.f32 s13, s24, s21",
    "    vmla.f32 s14, s24, s22",
    "    vmla.f32 s15, s24, s23",
    "    subs r12, r12, #1",
    "    bne .Lfewshot_cols_grad",
    ".Lfewshot_cols_update:",
    "    vldmia r5, {{s16-s23}}",
    "    ldr r12, [sp, #36]",
    "    add r5, r5, r12",
    "    fewshot_clip_step s0, s8, s16",
    "    fewshot_clip_step s1, s9, s17",
    "    fewshot_clip_step s2, s10, s18",
    "    fewshot_clip_step s3, s11, s19",
    "    fewshot_clip_step s4, s12, s20",
    "    fewshot_clip_step s5, s13, s21",
    "    fewshot_clip_step s6, s14, s22",
    "    fewshot_clip_step s7, s15, s23",
    ".Lfewshot_cols_store:",
    "    vstmia r1, {{s0-s7}}",
    "    add r1, r1, r11",
    "    add r2, r2, #4",
    // r8 = 1: a pair's second row is next (else r8 is 0, or an address).
    "    cmp r8, #1",
    "    beq .Lfewshot_cols_second",
    "    subs lr, lr, #1",
    "    bne .Lfewshot_cols_row",
    "    b .Lfewshot_cols_rows_done",
    // The pair's second row: its gradient from the stack.
    ".Lfewshot_cols_second:",
    "    sub lr, lr, #1",
    "    movs r8, #0",
    "    add r12, sp, #96",
    "    vldmia r12, {{s8-s15}}",
    "    vldmia r1, {{s0-s7}}",
    "    b .Lfewshot_cols_update",
    // Rows i and i + 1 (gradients in s8-s15 and s0-s7; deltas s27, s28): one load of the
    // sample's inputs for 16 multiply-accumulates.
    ".Lfewshot_cols_pair:",
    "    vldmia sp, {{s0-s7}}",
    ".Lfewshot_cols_pair_grad:",
    "    vldmia r6, {{s27-s28}}",
    "    add r6, r6, r9",
    "    vldmia r7, {{s16-s23}}",
    "    add r7, r7, r10",
    "    vmla.f32 s8, s27, s16",
    "    vmla.f32 s9, s27, s17",
    "    vmla.f32 s10, s27, s18",
    "    vmla.f32 s11, s27, s19",
    "    vmla.f32 s12, s27, s20",
    "    vmla.f32 s13, s27, s21",
    "    vmla.f32 s14, s27, s22",
    "    vmla.f32 s15, s27, s23",
    "    vmla.f32 s0, s28, s16",
    "    vmla.f32 s1, s28, s17",
    "    vmla.f32 s2, s28, s18",
    "    vmla.f32 s3, s28, s19",
    "    vmla.f32 s4, s28, s20",
    "    vmla.f32 s5, s28, s21",
    "    vmla.f32 s6, s28, s22",
    "    vmla.f32 s7, s28, s23",
    "    subs r12, r12, #1",
    "    bne .Lfewshot_cols_pair_grad",
    "    add r12, sp, #96",
    "    vstmia r12, {{s0-s7}}",
    "    movs r8, #1",
    "    vldmia r1, {{s0-s7}}",
    "    b .Lfewshot_cols_update",
    ".Lfewshot_cols_rows_done:",
    // The previous layer's deltas replace the inputs' block: mode 1 identity, 2 ReLU.
    "    ldr r12, [sp, #32]",
    "    cmp r12, #0",
    "    beq .Lfewshot_cols_next",
    "    mov r7, r3",
    "    mov r8, r4",
    "    mov r6, r0",
    "    cmp r12, #1",
    "    beq .Lfewshot_cols_copy",
    ".Lfewshot_cols_relu:",
    "    vldmia r7, {{s8-s15}}",
    "    vldmia r8!, {{s16-s23}}",
    "    fewshot_relu_back s8, s16",
    "    fewshot_relu_back s9, s17",
    "    fewshot_relu_back s10, s18",
    "    fewshot_relu_back s11, s19",
    "    fewshot_relu_back s12, s20",
    "    fewshot_relu_back s13, s21",
    "    fewshot_relu_back s14, s22",
    "    fewshot_relu_back s15, s23",
    "    vstmia r7, {{s8-s15}}",
    "    add r7, r7, r10",
    "    subs r6, r6, #1",
    "    bne .Lfewshot_cols_relu",
    "    b .Lfewshot_cols_next",
    ".Lfewshot_cols_copy:",
    "    vldmia r8!, {{s16-s23}}",
    "    vstmia r7, {{s16-s23}}",
    "    add r7, r7, r10",
    "    subs r6, r6, #1",
    "    bne .Lfewshot_cols_copy",
    // The next block: 8 columns on.
    ".Lfewshot_cols_next:",
    "    add r3, r3, #32",
    "    ldr r12, [sp, #72]",
    "    add r12, r12, #32",
    "    str r12, [sp, #72]",
    "    ldr r12, [sp, #76]",
    "    ldr r6, [sp, #80]",
    "    add r12, r12, r6",
    "    str r12, [sp, #76]",
    "    ldr r12, [sp, #84]",
    "    subs r12, r12, #1",
    "    str r12, [sp, #84]",
    "    bne .Lfewshot_cols_block",
    "    add sp, sp, #128",
    "    vpop {{s16-s31}}",
    "    pop {{r4, r5, r6, r7, r8, r9, r10, r11, pc}}",
    ".size fewshot_columns8_f32, . - fewshot_columns8_f32",
    "",
    // A block of one column without backpropagation (a 1-D regressor's first layer): per row,
    // g = sum_s delta[s][i] a[s][j0] in s0, then the same clip and update. r0 = &ColumnsArgs.
    ".section .text.fewshot_column1_f32,\"ax\",%progbits",
    ".global fewshot_column1_f32",
    ".type fewshot_column1_f32,%function",
    ".thumb_func",
    ".p2align 2",
    "fewshot_column1_f32:",
    "    push {{r4, r5, r6, r7, r8, r9, r10, r11, lr}}",
    "    vpush {{s24-s31}}",
    "    ldr r1, [r0, #0]",
    "    ldr r11, [r0, #4]",
    "    ldr r2, [r0, #8]",
    "    ldr r9, [r0, #12]",
    "    ldr r3, [r0, #16]",
    "    ldr r10, [r0, #20]",
    "    ldr r5, [r0, #28]",
    "    ldr lr, [r0, #40]",
    "    ldr r4, [r0, #48]",
    "    vldr s31, [r0, #36]",
    "    vneg.f32 s30, s31",
    // Rates: per weight (rows `w_stride` apart), or the one rate (`args.rate`, stride 0).
    "    mov r8, r11",
    "    cmp r5, #0",
    "    bne .Lfewshot_col1_row0",
    "    add r5, r0, #32",
    "    movs r8, #0",
    ".Lfewshot_col1_row0:",
    "    movs r6, #0",
    "    vmov s1, r6",
    ".Lfewshot_col1_row:",
    "    vmov.f32 s0, s1",
    "    mov r6, r2",
    "    mov r7, r3",
    "    mov r12, r4",
    ".Lfewshot_col1_grad:",
    "    vldr s2, [r6]",
    "    add r6, r6, r9",
    "    vldr s3, [r7]",
    "    add r7, r7, r10",
    "    vmla.f32 s0, s2, s3",
    "    subs r12, r12, #1",
    "    bne .Lfewshot_col1_grad",
    "    vldr s4, [r1]",
    "    vldr s5, [r5]",
    "    add r5, r5, r8",
    "    fewshot_clip_step s4, s0, s5",
    "    vstr s4, [r1]",
    "    add r1, r1, r11",
    "    add r2, r2, #4",
    "    subs lr, lr, #1",
    "    bne .Lfewshot_col1_row",
    "    vpop {{s24-s31}}",
    "    pop {{r4, r5, r6, r7, r8, r9, r10, r11, pc}}",
    ".size fewshot_column1_f32, . - fewshot_column1_f32",
    "",
    // Biases in groups of 8: g = -0.0 + delta[0][i] + ... + delta[k-1][i] (as `Iterator::sum`),
    // then b -= rate * clamp(g, c). r0 = &BiasArgs.
    ".section .text.fewshot_bias8_f32,\"ax\",%progbits",
    ".global fewshot_bias8_f32",
    ".type fewshot_bias8_f32,%function",
    ".thumb_func",
    ".p2align 2",
    "fewshot_bias8_f32:",
    "    push {{r4, r5, r6, lr}}",
    "    vpush {{s16-s31}}",
    "    ldr r1, [r0, #0]",
    "    ldr r2, [r0, #4]",
    "    ldr r3, [r0, #8]",
    "    ldr r4, [r0, #12]",
    "    ldr r5, [r0, #16]",
    "    vldr s31, [r0, #20]",
    "    vneg.f32 s30, s31",
    "    ldr lr, [r0, #24]",
    "    ldr r0, [r0, #28]",
    "    mov r6, #0x80000000",
    "    vmov s25, r6",
    ".Lfewshot_bias_group:",
    "    vmov.f32 s8, s25",
    "    vmov.f32 s9, s25",
    "    vmov.f32 s10, s25",
    "    vmov.f32 s11, s25",
    "    vmov.f32 s12, s25",
    "    vmov.f32 s13, s25",
    "    vmov.f32 s14, s25",
    "    vmov.f32 s15, s25",
    "    mov r6, r2",
    "    mov r12, r0",
    ".Lfewshot_bias_sum:",
    "    vldmia r6, {{s16-s23}}",
    "    add r6, r6, r3",
    "    vadd.f32 s8, s8, s16",
    "    vadd.f32 s9, s9, s17",
    "    vadd.f32 s10, s10, s18",
    "    vadd.f32 s11, s11, s19",
    "    vadd.f32 s12, s12, s20",
    "    vadd.f32 s13, s13, s21",
    "    vadd.f32 s14, s14, s22",
    "    vadd.f32 s15, s15, s23",
    "    subs r12, r12, #1",
    "    bne .Lfewshot_bias_sum",
    "    vldmia r1, {{s0-s7}}",
    "    vldmia r4, {{s16-s23}}",
    "    add r4, r4, r5",
    "    fewshot_clip_step s0, s8, s16",
    "    fewshot_clip_step s1, s9, s17",
    "    fewshot_clip_step s2, s10, s18",
    "    fewshot_clip_step s3, s11, s19",
    "    fewshot_clip_step s4, s12, s20",
    "    fewshot_clip_step s5, s13, s21",
    "    fewshot_clip_step s6, s14, s22",
    "    fewshot_clip_step s7, s15, s23",
    "    vstmia r1!, {{s0-s7}}",
    "    add r2, r2, #32",
    "    subs lr, lr, #1",
    "    bne .Lfewshot_bias_group",
    "    vpop {{s16-s31}}",
    "    pop {{r4, r5, r6, pc}}",
    ".size fewshot_bias8_f32, . - fewshot_bias8_f32",
);

/// The bias kernel's arguments (offsets fixed by `repr(C)`).
#[repr(C)]
struct BiasArgs {
    /// The biases, and the deltas `[k][no]` with their byte stride between samples.
    b: *mut f32,
    d: *const f32,
    d_stride: usize,
    /// The rates of the biases, and the byte step from one group of 8 to the next (0: one rate
    /// in 8 copies).
    rates: *const f32,
    rates_step: usize,
    clip: f32,
    groups: usize,
    k: usize,
}

/// The kernel's arguments (offsets fixed by `repr(C)`: every field is 4 bytes).
#[repr(C)]
struct ColumnsArgs {
    /// `W[0][j0]`, and the byte stride between rows.
    w: *mut f32,
    w_stride: usize,
    /// `delta[0][0]`, and the byte stride between samples.
    d: *const f32,
    d_stride: usize,
    /// `a[0][j0]`, and the byte stride between samples.
    a: *mut f32,
    a_stride: usize,
    /// `8 k` backpropagation accumulators, or null (no backpropagation).
    block: *mut f32,
    /// The rate of `W[0][j0]` (rows `w_stride` apart), or null: `rate` for every weight.
    rates: *const f32,
    rate: f32,
    clip: f32,
    rows: usize,
    /// 0: no backpropagation, 1: identity, 2: ReLU.
    act: usize,
    k: usize,
    /// Blocks of 8 columns (`fewshot_columns8_f32`; 1 for `fewshot_column1_f32`).
    blocks: usize,
}

extern "C" {
    fn fewshot_columns8_f32(args: *const ColumnsArgs);
    fn fewshot_column1_f32(args: *const ColumnsArgs);
    fn fewshot_bias8_f32(args: *const BiasArgs);
}

/// Whether `len` floats hold `count` runs of `run` floats `stride` apart, from `start` (in u64:
/// no product or sum of 32-bit values overflows).
fn fits(len: usize, start: usize, count: usize, stride: usize, run: usize) -> bool {
    let last = (count as u64).wrapping_sub(1);
    count > 0 && last * stride as u64 + start as u64 + run as u64 <= len as u64
}

/// Runs [`super::block::columns_step`] with a kernel where one applies (blocks of 8 columns,
/// the previous activation, if any, the identity or ReLU; or 1 column without
/// backpropagation) and every slice holds what the kernel reads and writes. Returns what is
/// left for the portable code: nothing, the columns after the last full block, or everything.
#[allow(clippy::type_complexity)]
pub fn columns<'a, 'b>(
    c: Columns<'a>,
    mut back: Option<Backprop<'b>>,
) -> Option<(Columns<'a>, Option<Backprop<'b>>)> {
    let (ni, no, k, j0) = (c.ni, c.no, c.k, c.j0);
    let act = match &back {
        None => 0,
        Some(b) if b.act == Activation::Identity => 1,
        Some(b) if b.act == Activation::Relu => 2,
        Some(_) => return Some((c, back)),
    };
    // The columns the kernel does, in `blocks`.
    let (width, blocks) = match (c.width, &back) {
        (1, None) => (1, 1),
        (w, _) if w >= 8 => (w - w % 8, w / 8),
        _ => return Some((c, back)),
    };
    let rates_ok = match c.rate {
        Rate::Same(_) => true,
        Rate::Each(r) => fits(r.len(), j0, no, ni, width),
    };
    // `fits` also requires `no > 0` and `k > 0`. A NaN clip passes, as in the portable code.
    let ok = c.clip.partial_cmp(&0.0) != Some(core::cmp::Ordering::Less)
        && ni.max(no) <= usize::MAX / 4
        && fits(c.w.len(), j0, no, ni, width)
        && fits(c.inputs.len(), j0, k, ni, width)
        && fits(c.deltas.len(), 0, k, no, no)
        && rates_ok
        && back
            .as_ref()
            .is_none_or(|b| fits(b.block.len(), 0, k, 8, 8));
    if !ok {
        return Some((c, back));
    }
    let (rates, rate) = match c.rate {
        Rate::Same(a) => (core::ptr::null(), a),
        // In range: `fits` above.
        Rate::Each(r) => (r.as_ptr().wrapping_add(j0), 0.0),
    };
    let block = match &mut back {
        Some(b) => b.block.as_mut_ptr(),
        None => core::ptr::null_mut(),
    };
    let args = ColumnsArgs {
        w: c.w.as_mut_ptr().wrapping_add(j0),
        w_stride: 4 * ni,
        d: c.deltas.as_ptr(),
        d_stride: 4 * no,
        a: c.inputs.as_mut_ptr().wrapping_add(j0),
        a_stride: 4 * ni,
        block,
        rates,
        rate,
        clip: c.clip,
        rows: no,
        act,
        k,
        blocks,
    };
    // SAFETY: `fits` checked every access: rows `i < no` of `W` and of the rates at
    // `j0 + i ni .. + width`, samples `s < k` of the inputs at `j0 + s ni .. + width`, deltas
    // `s no + i`, and `8 k` accumulators; the pointers come from distinct borrows (the
    // mutable ones exclusive), and the functions follow the AAPCS-VFP.
    unsafe {
        match width {
            1 => fewshot_column1_f32(&args),
            _ => fewshot_columns8_f32(&args),
        }
    };
    (c.width > width).then_some((
        Columns {
            j0: j0 + width,
            width: c.width - width,
            ..c
        },
        back,
    ))
}

/// The first `8 * (bias.len() / 8)` biases of [`super::block::bias_step`] with the kernel, when
/// the slices agree (`bias` and a per-bias rate table `no` long, `k > 0` rows of deltas);
/// returns how many it did (0: none).
pub fn bias8(bias: &mut [f32], rate: Rate<'_>, clip: f32, deltas: &[f32], no: usize) -> usize {
    let k = deltas.len() / no.max(1);
    let groups = bias.len() / 8;
    let same;
    let (rates, rates_step) = match rate {
        Rate::Same(a) => {
            same = [a; 8];
            (same.as_ptr(), 0)
        }
        Rate::Each(r) if r.len() >= no => (r.as_ptr(), 32),
        Rate::Each(_) => return 0,
    };
    let ok = groups > 0
        && clip.partial_cmp(&0.0) != Some(core::cmp::Ordering::Less)
        && bias.len() == no
        && no <= usize::MAX / 4
        && k > 0
        && deltas.len() == k * no;
    if !ok {
        return 0;
    }
    let args = BiasArgs {
        b: bias.as_mut_ptr(),
        d: deltas.as_ptr(),
        d_stride: 4 * no,
        rates,
        rates_step,
        clip,
        groups,
        k,
    };
    // SAFETY: the kernel reads deltas `s no + i` and rates `i` (or the 8 copies, step 0) and
    // writes biases `i`, for `s < k` and `i < 8 groups <= no`, all within the slices (checked
    // above); it follows the AAPCS-VFP.
    unsafe { fewshot_bias8_f32(&args) };
    8 * groups
}
